//! Images: digests, references, the content store, the image store and archive formats.
