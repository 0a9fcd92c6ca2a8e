//! Wharf's overlayfs snapshotter: layers unpacked once per chain ID and shared by every image
//! that uses them, container snapshots (the writable layer) on top, and diffs back to layers.
//! This is what docker's `overlay2` graph driver and containerd's overlayfs snapshotter do.
//!
//! # Layout
//!
//! ```text
//! <root>/layers/<chain-hex>/diff/        the layer's own files (overlay lowerdir)
//! <root>/layers/<chain-hex>/meta.json    LayerInfo: chain ID, diff ID, parent, size
//! <root>/containers/<key>/upper/         the container's writable layer
//! <root>/containers/<key>/work/          overlay's work directory
//! <root>/containers/<key>/merged/        the mounted root filesystem
//! <root>/containers/<key>/snapshot.json  SnapshotInfo: key, parent chain ID
//! <root>/empty/                          the lower directory of a snapshot without parent
//! <root>/tmp/                            unfinished applies and removals
//! ```
//!
//! A layer is unpacked into `tmp/apply-<random>/diff`, hashed as it is read, verified, synced
//! and only then renamed into `layers/` in one step, so a crash never leaves a visible partial
//! layer; [`LayerStore::clean_tmp`] removes what a crash left in `tmp/` (call it at daemon
//! start). Removing a layer or a snapshot is also one rename into `tmp/` before deletion.
//!
//! # Mounting
//!
//! Overlays are mounted with the new mount API (`fsopen("overlay")`, one
//! `fsconfig(FSCONFIG_SET_STRING, "lowerdir+", dir)` per layer, then `fsmount` and
//! `move_mount`), so the number of layers is not bounded by the one-page limit of a classic
//! `mount(2)` option string and nothing depends on the daemon's working directory (safe in a
//! multi-threaded process). On kernels before 6.8 it falls back to classic `mount(2)` when the
//! options fit in a page. `index=off`, as docker's overlay2 driver. Mounts are made in the
//! daemon's mount namespace and outlive it: after a restart, [`LayerStore::mount`] on an
//! already mounted snapshot is a no-op.
//!
//! # Extraction safety
//!
//! A layer (and an archive copied into a container) is refused as a whole, naming the entry,
//! and leaves nothing behind when an entry
//! - has a `..` component or an absolute path;
//! - would be written through a symlink: parents are opened one component at a time with
//!   `O_DIRECTORY | O_NOFOLLOW` from the layer root's descriptor, so a symlink met on the way
//!   (one the same tar created before) stops the extraction; the entry itself is created
//!   with `O_EXCL | O_NOFOLLOW` / `*at` calls and never followed;
//! - is a hard link whose target is absolute, has `..`, passes through a symlink, is a
//!   directory or does not exist in the layer;
//! - is a character or block device (OCI whiteouts are regular `.wh.` files, not devices).
//!
//! Symlink entries themselves may point anywhere (`/bin/sh -> busybox` is normal). Mode
//! (with set-id bits: owner is set first), owner, mtime, xattrs (`SCHILY.xattr.*`, except
//! `trusted.overlay.*`, which a layer may not forge), fifos, hard links and empty
//! directories are preserved. OCI whiteouts `.wh.<name>` become overlay whiteouts (a
//! character device 0:0 named `<name>`), `.wh..wh..opq` sets `trusted.overlay.opaque=y` on
//! its directory, other `.wh..wh.*` names are skipped. [`LayerStore::diff`] does the reverse.
//!
//! All functions block; call them from a blocking thread in async code.

mod copy;
mod error;
mod extract;
mod store;
mod stream;
mod sys;
mod tree;
mod walk;

pub use copy::{PathStat, archive_path, extract_into, resolve_in_root, stat_path};
pub use error::{Error, ErrorKind, Result};
pub use store::{Change, ChangeKind, LayerInfo, LayerStore, SnapshotInfo, StackError, chain_id};

#[cfg(test)]
mod tests;
