//! Layers: safe extraction of tar layers into an overlayfs snapshotter, and diffs back to layers.
