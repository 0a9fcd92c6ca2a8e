//! The content store: immutable blobs addressed by their sha256 digest.
//!
//! Layout under the store's root:
//!
//! ```text
//! blobs/sha256/<hex>   committed blobs; the file's bytes hash to <hex>
//! ingest/<random>      writes in progress (never read as blobs; removed by clean_ingest)
//! ```
//!
//! A blob becomes visible only by `rename(2)` of a fully written, fsynced, verified temporary
//! file, so a crash mid-write leaves at worst a stray file under `ingest/`, never a corrupt
//! blob. Two ingests of the same content race harmlessly: each writes its own temporary file
//! and the renames replace identical bytes atomically.
//!
//! [`ContentStore::gc`] deletes blobs outside a keep set; blobs protected by a live [`Lease`]
//! (taken by whoever is ingesting content it has not yet recorded anywhere) are kept too.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::ErrorKind;
use crate::digest::{Digest, HashingWriter, SHA256};

/// Errors from the content store.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// No blob with this digest.
    #[error("content {0} not found")]
    NotFound(Digest),
    /// Ingested bytes did not hash to the expected digest.
    #[error("content digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest the caller announced.
        expected: Digest,
        /// The digest of the bytes received.
        actual: Digest,
    },
    /// Ingested bytes were not the expected length.
    #[error("content size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The digest of the bytes received.
        digest: Digest,
        /// The announced size.
        expected: u64,
        /// The size received.
        actual: u64,
    },
    /// A committed blob no longer hashes to its name.
    #[error("content {expected} is corrupt: its bytes hash to {actual}")]
    Corrupt {
        /// The blob's name.
        expected: Digest,
        /// What its bytes hash to now.
        actual: Digest,
    },
    /// A file-system error, with the path it concerned.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The reader supplying content failed.
    #[error("reading content to ingest: {0}")]
    Source(#[source] io::Error),
}

impl ContentError {
    /// The class of this error, for mapping to API status codes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ContentError::NotFound(_) => ErrorKind::NotFound,
            ContentError::DigestMismatch { .. } | ContentError::SizeMismatch { .. } => {
                ErrorKind::InvalidArgument
            }
            ContentError::Source(_) => ErrorKind::InvalidArgument,
            ContentError::Corrupt { .. } => ErrorKind::Corrupt,
            ContentError::Io { .. } => ErrorKind::Io,
        }
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ContentError + 'a {
    move |source| ContentError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// What [`ContentStore::check`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Blobs that verified.
    pub ok: usize,
    /// Blobs whose bytes no longer hash to their name (name, actual digest).
    pub corrupt: Vec<(Digest, Digest)>,
    /// Files under `blobs/` that are not named by a digest.
    pub stray: Vec<PathBuf>,
    /// Leftover temporary files under `ingest/` (an interrupted write).
    pub leftover_ingest: Vec<PathBuf>,
}

impl CheckReport {
    /// True when every blob verified (leftover ingest files are harmless and not counted).
    pub fn is_clean(&self) -> bool {
        self.corrupt.is_empty() && self.stray.is_empty()
    }
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    blobs: PathBuf,
    ingest: PathBuf,
    leases: Mutex<HashMap<Digest, usize>>,
}

/// Blobs by digest on disk. Cheap to clone; safe to share between threads.
#[derive(Debug, Clone)]
pub struct ContentStore {
    inner: Arc<Inner>,
}

/// Keeps blobs from [`ContentStore::gc`] while alive; whoever ingests content that nothing
/// references yet (a `load` in progress) holds one until the content is recorded.
#[derive(Debug)]
pub struct Lease {
    store: ContentStore,
    digests: HashSet<Digest>,
}

impl Lease {
    /// Protects `digest` for the life of this lease.
    pub fn add(&mut self, digest: &Digest) {
        if self.digests.insert(digest.clone()) {
            let mut leases = lock(&self.store.inner.leases);
            *leases.entry(digest.clone()).or_default() += 1;
        }
    }

    /// The protected digests.
    pub fn digests(&self) -> &HashSet<Digest> {
        &self.digests
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut leases = lock(&self.store.inner.leases);
        for d in self.digests.drain() {
            if let Some(n) = leases.get_mut(&d) {
                *n -= 1;
                if *n == 0 {
                    leases.remove(&d);
                }
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Removes a temporary ingest file unless disarmed.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

impl ContentStore {
    /// Opens (creating if needed) a content store rooted at `root`.
    pub fn open(root: &Path) -> Result<ContentStore, ContentError> {
        let blobs = root.join("blobs").join(SHA256);
        let ingest = root.join("ingest");
        fs::create_dir_all(&blobs).map_err(io_err("creating", &blobs))?;
        fs::create_dir_all(&ingest).map_err(io_err("creating", &ingest))?;
        Ok(ContentStore {
            inner: Arc::new(Inner {
                root: root.to_path_buf(),
                blobs,
                ingest,
                leases: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// A new, empty lease.
    pub fn lease(&self) -> Lease {
        Lease {
            store: self.clone(),
            digests: HashSet::new(),
        }
    }

    /// Where the blob `digest` lives (whether or not it exists).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.inner.blobs.join(digest.hex())
    }

    /// True when the blob exists.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Streams `reader` into the store, hashing as it goes; verifies `expected` digest and
    /// `expected_size` when given; the blob becomes visible only once verified and fsynced.
    /// Returns the digest and size.
    pub fn ingest(
        &self,
        reader: impl Read,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
    ) -> Result<(Digest, u64), ContentError> {
        self.ingest_inner(reader, expected, expected_size, None)
    }

    /// [`ContentStore::ingest`], adding the blob to `lease` before it becomes visible, so a
    /// concurrent [`ContentStore::gc`] can never collect it.
    pub fn ingest_leased(
        &self,
        reader: impl Read,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
        lease: &mut Lease,
    ) -> Result<(Digest, u64), ContentError> {
        self.ingest_inner(reader, expected, expected_size, Some(lease))
    }

    fn ingest_inner(
        &self,
        reader: impl Read,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
        lease: Option<&mut Lease>,
    ) -> Result<(Digest, u64), ContentError> {
        let (tmp_path, file) = self.temp_file()?;
        let mut guard = TempGuard(Some(tmp_path.clone()));
        let mut w = HashingWriter::new(BufWriter::with_capacity(256 * 1024, file));
        copy_from_source(reader, &mut w, &tmp_path)?;
        let (buf, digest, size) = w.finish();
        let file = buf.into_inner().map_err(|e| ContentError::Io {
            op: "writing",
            path: tmp_path.clone(),
            source: e.into_error(),
        })?;
        if let Some(exp) = expected {
            if *exp != digest {
                return Err(ContentError::DigestMismatch {
                    expected: exp.clone(),
                    actual: digest,
                });
            }
        }
        if let Some(exp) = expected_size {
            if exp != size {
                return Err(ContentError::SizeMismatch {
                    digest,
                    expected: exp,
                    actual: size,
                });
            }
        }
        if let Some(lease) = lease {
            lease.add(&digest);
        }
        let dest = self.path(&digest);
        if dest.is_file() {
            // Someone committed it already; the temporary file goes with the guard.
            return Ok((digest, size));
        }
        file.sync_all().map_err(io_err("syncing", &tmp_path))?;
        drop(file);
        fs::rename(&tmp_path, &dest).map_err(io_err("committing", &dest))?;
        guard.0 = None;
        sync_dir(&self.inner.blobs)?;
        tracing::debug!(%digest, size, "blob committed");
        Ok((digest, size))
    }

    /// Stores `bytes`, returning their digest.
    pub fn ingest_bytes(&self, bytes: &[u8]) -> Result<Digest, ContentError> {
        let expected = Digest::of(bytes);
        if self.contains(&expected) {
            return Ok(expected);
        }
        self.ingest(bytes, Some(&expected), Some(bytes.len() as u64))
            .map(|(d, _)| d)
    }

    /// Opens the blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File, ContentError> {
        let p = self.path(digest);
        File::open(&p).map_err(|e| not_found_or(e, digest, "opening", &p))
    }

    /// Reads the whole blob.
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>, ContentError> {
        let p = self.path(digest);
        fs::read(&p).map_err(|e| not_found_or(e, digest, "reading", &p))
    }

    /// The blob's size in bytes.
    pub fn size(&self, digest: &Digest) -> Result<u64, ContentError> {
        let p = self.path(digest);
        fs::metadata(&p)
            .map(|m| m.len())
            .map_err(|e| not_found_or(e, digest, "stat", &p))
    }

    /// Deletes the blob; deleting a missing blob is not an error.
    pub fn delete(&self, digest: &Digest) -> Result<(), ContentError> {
        let p = self.path(digest);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ContentError::Io {
                op: "deleting",
                path: p,
                source: e,
            }),
        }
    }

    /// Every committed blob, sorted.
    pub fn list(&self) -> Result<Vec<Digest>, ContentError> {
        Ok(self.scan()?.0)
    }

    /// Blobs plus files under `blobs/sha256` that are not digest-named.
    fn scan(&self) -> Result<(Vec<Digest>, Vec<PathBuf>), ContentError> {
        let dir = &self.inner.blobs;
        let mut out = Vec::new();
        let mut stray = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err("listing", dir))? {
            let entry = entry.map_err(io_err("listing", dir))?;
            let name = entry.file_name();
            match name.to_str().map(Digest::from_hex) {
                Some(Ok(d)) => out.push(d),
                _ => stray.push(entry.path()),
            }
        }
        out.sort();
        stray.sort();
        Ok((out, stray))
    }

    /// Re-hashes the blob and fails with [`ContentError::Corrupt`] if it changed.
    pub fn verify(&self, digest: &Digest) -> Result<(), ContentError> {
        let p = self.path(digest);
        let f = self.open_blob(digest)?;
        let (actual, _) = crate::digest::digest_reader(f).map_err(io_err("reading", &p))?;
        if actual != *digest {
            return Err(ContentError::Corrupt {
                expected: digest.clone(),
                actual,
            });
        }
        Ok(())
    }

    /// Verifies every blob and lists leftovers of interrupted writes.
    pub fn check(&self) -> Result<CheckReport, ContentError> {
        let (blobs, stray) = self.scan()?;
        let mut report = CheckReport {
            stray,
            ..CheckReport::default()
        };
        for d in blobs {
            match self.verify(&d) {
                Ok(()) => report.ok += 1,
                Err(ContentError::Corrupt { expected, actual }) => {
                    report.corrupt.push((expected, actual))
                }
                // Deleted while we were looking: not corruption.
                Err(ContentError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        report.leftover_ingest = self.ingest_files()?;
        Ok(report)
    }

    fn ingest_files(&self) -> Result<Vec<PathBuf>, ContentError> {
        let dir = &self.inner.ingest;
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err("listing", dir))? {
            out.push(entry.map_err(io_err("listing", dir))?.path());
        }
        out.sort();
        Ok(out)
    }

    /// Removes leftover temporary files of interrupted ingests; call it only when no ingest
    /// is running (at daemon start). Returns how many were removed.
    pub fn clean_ingest(&self) -> Result<usize, ContentError> {
        let files = self.ingest_files()?;
        for f in &files {
            let r = if f.is_dir() {
                fs::remove_dir_all(f)
            } else {
                fs::remove_file(f)
            };
            match r {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(ContentError::Io {
                        op: "removing",
                        path: f.clone(),
                        source: e,
                    });
                }
            }
        }
        Ok(files.len())
    }

    /// Deletes every blob that is neither in `keep` nor under a live [`Lease`]. Returns how
    /// many blobs were deleted and the bytes freed.
    pub fn gc(&self, keep: &HashSet<Digest>) -> Result<(usize, u64), ContentError> {
        let mut count = 0;
        let mut bytes = 0;
        for d in self.list()? {
            if keep.contains(&d) || lock(&self.inner.leases).contains_key(&d) {
                continue;
            }
            let size = self.size(&d).unwrap_or(0);
            self.delete(&d)?;
            tracing::debug!(digest = %d, size, "blob collected");
            count += 1;
            bytes += size;
        }
        Ok((count, bytes))
    }

    fn temp_file(&self) -> Result<(PathBuf, File), ContentError> {
        for _ in 0..16 {
            let name = format!("{:016x}{:08x}", rand::random::<u64>(), std::process::id());
            let p = self.inner.ingest.join(name);
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&p)
            {
                Ok(f) => return Ok((p, f)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(ContentError::Io {
                        op: "creating",
                        path: p,
                        source: e,
                    });
                }
            }
        }
        Err(ContentError::Io {
            op: "creating a temporary file in",
            path: self.inner.ingest.clone(),
            source: io::Error::from(io::ErrorKind::AlreadyExists),
        })
    }
}

/// Copies, telling apart failures of the source (bad input) from failures of the sink (disk).
fn copy_from_source(
    mut reader: impl Read,
    w: &mut impl Write,
    dest: &Path,
) -> Result<u64, ContentError> {
    let mut buf = vec![0u8; 128 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ContentError::Source(e)),
        };
        w.write_all(&buf[..n]).map_err(io_err("writing", dest))?;
        total += n as u64;
    }
    Ok(total)
}

fn not_found_or(e: io::Error, digest: &Digest, op: &'static str, p: &Path) -> ContentError {
    if e.kind() == io::ErrorKind::NotFound {
        ContentError::NotFound(digest.clone())
    } else {
        ContentError::Io {
            op,
            path: p.to_path_buf(),
            source: e,
        }
    }
}

/// fsyncs a directory so a rename inside it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), ContentError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ContentStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let cs = ContentStore::open(dir.path()).expect("open store");
        (dir, cs)
    }

    #[test]
    fn ingest_read_verify_delete() {
        let (_d, cs) = store();
        let data = b"hello blob".to_vec();
        let want = Digest::of(&data);
        let (got, size) = cs
            .ingest(&data[..], Some(&want), Some(data.len() as u64))
            .expect("ingest");
        assert_eq!((got.clone(), size), (want.clone(), data.len() as u64));
        assert!(cs.contains(&want));
        assert_eq!(cs.read(&want).expect("read"), data);
        assert_eq!(cs.size(&want).expect("size"), data.len() as u64);
        cs.verify(&want).expect("verify");
        assert_eq!(cs.list().expect("list"), vec![want.clone()]);
        // Ingesting again is a no-op.
        assert_eq!(cs.ingest_bytes(&data).expect("again"), want);
        cs.delete(&want).expect("delete");
        assert!(!cs.contains(&want));
        assert!(matches!(
            cs.open_blob(&want),
            Err(ContentError::NotFound(_))
        ));
        let e = cs.read(&want).expect_err("gone");
        assert!(e.to_string().contains(want.as_str()), "{e}");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        cs.delete(&want).expect("deleting twice is fine");
    }

    #[test]
    fn wrong_digest_or_size_leaves_nothing_visible() {
        let (_d, cs) = store();
        let wrong = Digest::of(b"something else");
        let e = cs
            .ingest(&b"data"[..], Some(&wrong), None)
            .expect_err("mismatch");
        assert!(matches!(e, ContentError::DigestMismatch { .. }));
        assert!(e.to_string().contains(wrong.as_str()));
        assert!(e.to_string().contains(Digest::of(b"data").as_str()));
        let e = cs.ingest(&b"data"[..], None, Some(5)).expect_err("size");
        assert!(matches!(
            e,
            ContentError::SizeMismatch {
                expected: 5,
                actual: 4,
                ..
            }
        ));
        assert!(cs.list().expect("list").is_empty());
        let report = cs.check().expect("check");
        assert!(report.leftover_ingest.is_empty(), "{report:?}");
    }

    #[test]
    fn failing_reader_leaves_nothing() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("connection reset"));
                }
                self.0 -= 1;
                buf[0] = 1;
                Ok(1)
            }
        }
        let (_d, cs) = store();
        let e = cs
            .ingest(Failing(10), None, None)
            .expect_err("source fails");
        assert!(matches!(e, ContentError::Source(_)));
        assert!(cs.list().expect("list").is_empty());
        assert!(cs.check().expect("check").leftover_ingest.is_empty());
    }

    #[test]
    fn concurrent_ingest_of_same_digest() {
        let (_d, cs) = store();
        let data: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
        let want = Digest::of(&data);
        let data = Arc::new(data);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let cs = cs.clone();
                let data = Arc::clone(&data);
                let want = want.clone();
                std::thread::spawn(move || {
                    for _ in 0..3 {
                        let (d, _) = cs.ingest(&data[..], Some(&want), None).expect("ingest");
                        assert_eq!(d, want);
                        // Readers never observe a partial blob.
                        assert_eq!(cs.size(&want).expect("size"), data.len() as u64);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        cs.verify(&want).expect("verify");
        let report = cs.check().expect("check");
        assert_eq!(report.ok, 1);
        assert!(
            report.is_clean() && report.leftover_ingest.is_empty(),
            "{report:?}"
        );
    }

    #[test]
    fn check_finds_corruption_and_leftovers_and_clean_ingest_removes_them() {
        let (dir, cs) = store();
        let d = cs.ingest_bytes(b"good").expect("ingest");
        let bad = cs.ingest_bytes(b"to be corrupted").expect("ingest");
        fs::write(cs.path(&bad), b"tampered").expect("tamper");
        fs::write(dir.path().join("ingest").join("interrupted"), b"half").expect("leftover");
        let report = cs.check().expect("check");
        assert_eq!(report.ok, 1);
        assert_eq!(report.corrupt, vec![(bad.clone(), Digest::of(b"tampered"))]);
        assert_eq!(report.leftover_ingest.len(), 1);
        assert!(!report.is_clean());
        assert!(matches!(cs.verify(&bad), Err(ContentError::Corrupt { .. })));
        cs.verify(&d).expect("good verifies");
        assert_eq!(cs.clean_ingest().expect("clean"), 1);
        assert!(cs.check().expect("check").leftover_ingest.is_empty());
    }

    #[test]
    fn gc_deletes_unreferenced_but_not_leased() {
        let (_d, cs) = store();
        let a = cs.ingest_bytes(b"a").expect("a");
        let b = cs.ingest_bytes(b"bb").expect("b");
        let c = cs.ingest_bytes(b"ccc").expect("c");
        let mut lease = cs.lease();
        lease.add(&c);
        let keep: HashSet<_> = [a.clone()].into_iter().collect();
        assert_eq!(cs.gc(&keep).expect("gc"), (1, 2));
        assert!(cs.contains(&a) && !cs.contains(&b) && cs.contains(&c));
        drop(lease);
        assert_eq!(cs.gc(&keep).expect("gc"), (1, 3));
        assert_eq!(cs.list().expect("list"), vec![a]);
    }
}
