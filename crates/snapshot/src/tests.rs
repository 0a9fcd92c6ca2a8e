//! Tests of the snapshotter. They need root (ownership, trusted xattrs, whiteout device
//! nodes, overlay mounts); each uses its own temporary root, and guards unmount and remove
//! snapshots even when a test fails.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use crate::{ChangeKind, ErrorKind, LayerStore, chain_id};

// ---- building tars ----

/// Builds tars entry by entry, writing names raw so malicious paths can be expressed.
struct Tar {
    b: tar::Builder<Vec<u8>>,
}

impl Tar {
    fn new() -> Self {
        Tar {
            b: tar::Builder::new(Vec::new()),
        }
    }

    fn raw(
        &mut self,
        kind: EntryType,
        path: &str,
        link: &str,
        data: &[u8],
        mode: u32,
    ) -> &mut Self {
        let mut h = Header::new_gnu();
        assert!(
            path.len() < 100 && link.len() < 100,
            "test names fit the header"
        );
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.b.append(&h, data).expect("append to a Vec");
        self
    }

    fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
        self.raw(EntryType::Regular, path, "", data, 0o644)
    }

    fn dir(&mut self, path: &str) -> &mut Self {
        self.raw(EntryType::Directory, path, "", b"", 0o755)
    }

    fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.raw(EntryType::Symlink, path, target, b"", 0o777)
    }

    fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.raw(EntryType::Link, path, target, b"", 0o644)
    }

    fn bytes(&mut self) -> Vec<u8> {
        self.b.finish().expect("finish a Vec tar");
        self.b.get_ref().clone()
    }
}

fn sha(data: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip into a Vec");
    e.finish().expect("gzip into a Vec")
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 3).expect("zstd into a Vec")
}

/// (path, type, size, link target) of each entry of a tar.
fn entries(data: &[u8]) -> Vec<(String, EntryType, u64, String)> {
    let mut a = tar::Archive::new(data);
    let mut out = Vec::new();
    for e in a.entries().expect("tar entries") {
        let e = e.expect("tar entry");
        let link = e
            .link_name()
            .expect("link name")
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push((
            e.path().expect("path").to_string_lossy().into_owned(),
            e.header().entry_type(),
            e.size(),
            link,
        ));
    }
    out
}

fn names(data: &[u8]) -> Vec<String> {
    entries(data).into_iter().map(|e| e.0).collect()
}

// ---- fixtures ----

struct Fixture {
    store: LayerStore,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("wharf-snapshot-test")
            .tempdir()
            .expect("temp dir");
        let store = LayerStore::open(&dir.path().join("store")).expect("open store");
        Fixture { store, _dir: dir }
    }

    fn assert_nothing_left(&self) {
        assert!(
            self.store.list().expect("list").is_empty(),
            "no layer stored"
        );
        let tmp: Vec<_> = std::fs::read_dir(self.store.root().join("tmp"))
            .expect("read tmp")
            .collect();
        assert!(tmp.is_empty(), "no temp dir left: {tmp:?}");
        let layers: Vec<_> = std::fs::read_dir(self.store.root().join("layers"))
            .expect("read layers")
            .collect();
        assert!(layers.is_empty(), "no layer dir left: {layers:?}");
    }
}

/// Removes (unmounting) a snapshot when dropped, so a failing test leaves no mount.
struct SnapshotGuard {
    store: LayerStore,
    key: String,
}

impl Drop for SnapshotGuard {
    fn drop(&mut self) {
        if let Err(e) = self.store.remove(&self.key) {
            eprintln!("cleanup of snapshot {}: {e}", self.key);
            let _ = crate::sys::umount2(&self.store.merged(&self.key), libc::MNT_DETACH);
        }
    }
}

fn guard(store: &LayerStore, key: &str) -> SnapshotGuard {
    SnapshotGuard {
        store: store.clone(),
        key: key.to_string(),
    }
}

fn lstat(p: &Path) -> std::fs::Metadata {
    std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("lstat {}: {e}", p.display()))
}

fn is_whiteout(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_char_device() && m.rdev() == 0)
}

fn opaque(p: &Path) -> bool {
    crate::sys::lget_xattr(p, b"trusted.overlay.opaque")
        .expect("getxattr")
        .as_deref()
        == Some(b"y")
}

// ---- chain IDs ----

#[test]
fn chain_id_follows_the_oci_definition() {
    let d0 = sha(b"zero");
    let d1 = sha(b"one");
    assert_eq!(chain_id(None, &d0), d0);
    assert_eq!(
        chain_id(Some(&d0), &d1),
        sha(format!("{d0} {d1}").as_bytes())
    );
}

// ---- apply ----

fn rich_layer() -> Vec<u8> {
    let mut t = Tar::new();
    t.dir("./")
        .dir("bin/")
        .raw(EntryType::Regular, "bin/busybox", "", b"#!busybox", 0o4755)
        .symlink("bin/sh", "/bin/busybox")
        .hardlink("bin/ls", "bin/busybox")
        .dir("empty/")
        .raw(EntryType::Fifo, "run/fifo", "", b"", 0o640)
        .file("etc/hostname", b"wharf\n")
        .file(".wh.gone", b"")
        .dir("opq/")
        .file("opq/.wh..wh..opq", b"")
        .file("opq/kept", b"k")
        .file(".wh..wh.plnk", b"");
    // Owner, mtime and an xattr through PAX.
    t.b.append_pax_extensions([("SCHILY.xattr.user.wharf", b"yes".as_slice())])
        .expect("pax");
    let mut h = Header::new_gnu();
    h.set_entry_type(EntryType::Regular);
    h.set_mode(0o600);
    h.set_uid(1000);
    h.set_gid(1001);
    h.set_mtime(1_234_567_890);
    h.set_size(4);
    t.b.append_data(&mut h, "home/user/secret", b"abcd".as_slice())
        .expect("append");
    t.bytes()
}

#[test]
fn apply_preserves_files_links_metadata_and_whiteouts() {
    let f = Fixture::new();
    let tar = rich_layer();
    let info = f.store.apply(None, tar.as_slice(), None).expect("apply");
    assert_eq!(info.diff_id, sha(&tar));
    assert_eq!(info.chain_id, info.diff_id);
    assert_eq!(info.parent, None);
    assert_eq!(info.size, 9 + 6 + 1 + 4);
    assert_eq!(f.store.get(&info.chain_id).expect("get"), info);
    assert!(f.store.exists(&info.chain_id));

    let d = f.store.diff_dir(&info.chain_id);
    let bb = lstat(&d.join("bin/busybox"));
    assert_eq!(bb.permissions().mode() & 0o7777, 0o4755, "setuid kept");
    assert_eq!(bb.mtime(), 1_600_000_000);
    assert_eq!(
        std::fs::read_link(d.join("bin/sh")).expect("readlink"),
        Path::new("/bin/busybox")
    );
    assert_eq!(
        lstat(&d.join("bin/ls")).ino(),
        bb.ino(),
        "hard link shares the inode"
    );
    assert!(lstat(&d.join("empty")).is_dir());
    let fifo = lstat(&d.join("run/fifo"));
    assert!(fifo.file_type().is_fifo());
    assert_eq!(fifo.permissions().mode() & 0o7777, 0o640);
    assert!(
        is_whiteout(&d.join("gone")),
        "OCI whiteout became an overlay whiteout"
    );
    assert!(!d.join(".wh.gone").exists());
    assert!(opaque(&d.join("opq")));
    assert!(!d.join("opq/.wh..wh..opq").exists());
    assert!(d.join("opq/kept").exists());
    assert!(!d.join(".wh..wh.plnk").exists());
    let secret = lstat(&d.join("home/user/secret"));
    assert_eq!((secret.uid(), secret.gid()), (1000, 1001));
    assert_eq!(secret.mtime(), 1_234_567_890);
    assert_eq!(
        crate::sys::lget_xattr(&d.join("home/user/secret"), b"user.wharf").expect("xattr"),
        Some(b"yes".to_vec())
    );
    // Directory mtimes are set after their contents.
    assert_eq!(lstat(&d.join("bin")).mtime(), 1_600_000_000);
    assert_eq!(lstat(&d.join("empty")).mtime(), 1_600_000_000);
}

#[test]
fn gzip_and_zstd_layers_have_the_plain_diff_id() {
    let tar = Tar::new().file("a", b"hello").dir("d/").bytes();
    for (name, data) in [("gzip", gzip(&tar)), ("zstd", zstd(&tar))] {
        let f = Fixture::new();
        let info = f
            .store
            .apply(None, data.as_slice(), Some(&sha(&tar)))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(info.diff_id, sha(&tar), "{name}");
        assert_eq!(
            std::fs::read(f.store.diff_dir(&info.chain_id).join("a")).expect("read"),
            b"hello"
        );
    }
}

#[test]
fn diff_id_includes_trailing_padding() {
    let mut tar = Tar::new().file("a", b"x").bytes();
    tar.extend_from_slice(&[0u8; 4096]);
    let f = Fixture::new();
    let info = f.store.apply(None, tar.as_slice(), None).expect("apply");
    assert_eq!(info.diff_id, sha(&tar));
}

fn refused(tar: Vec<u8>, entry: &str, reason: &str) {
    let f = Fixture::new();
    let err = f
        .store
        .apply(None, tar.as_slice(), None)
        .expect_err("malicious layer refused");
    assert_eq!(err.kind(), ErrorKind::InvalidLayer, "{err}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("invalid layer: entry {entry:?}: ")) && msg.contains(reason),
        "message {msg:?} names {entry:?} and says {reason:?}"
    );
    f.assert_nothing_left();
}

#[test]
fn parent_dir_components_are_refused() {
    refused(
        Tar::new()
            .file("ok", b"")
            .file("../../etc/passwd", b"x")
            .bytes(),
        "../../etc/passwd",
        "path escapes the layer directory",
    );
    refused(
        Tar::new().file("a/../../b", b"x").bytes(),
        "a/../../b",
        "path escapes the layer directory",
    );
}

#[test]
fn absolute_paths_are_refused() {
    refused(
        Tar::new().file("/etc/passwd", b"x").bytes(),
        "/etc/passwd",
        "absolute",
    );
}

#[test]
fn writing_through_a_symlink_is_refused() {
    let outside = tempfile::tempdir().expect("temp dir");
    let target = outside.path().to_string_lossy().into_owned();
    refused(
        Tar::new()
            .symlink("escape", &target)
            .file("escape/pwned", b"x")
            .bytes(),
        "escape/pwned",
        "parent \"escape\" is a symlink",
    );
    assert!(
        !outside.path().join("pwned").exists(),
        "nothing written outside"
    );
    // A relative symlink, then a directory entry through it.
    refused(
        Tar::new()
            .dir("d/")
            .symlink("d/up", "../..")
            .dir("d/up/x/")
            .bytes(),
        "d/up/x/",
        "parent \"d/up\" is a symlink",
    );
    // A symlink in place of an intermediate directory later in the stream.
    refused(
        Tar::new()
            .symlink("etc", "/etc")
            .file("etc/shadow", b"x")
            .bytes(),
        "etc/shadow",
        "symlink",
    );
}

#[test]
fn hard_links_leaving_the_layer_are_refused() {
    refused(
        Tar::new().hardlink("h", "../../etc/passwd").bytes(),
        "h",
        "path escapes the layer directory",
    );
    refused(
        Tar::new().hardlink("h", "/etc/passwd").bytes(),
        "h",
        "absolute",
    );
    refused(
        Tar::new()
            .symlink("s", "/etc")
            .hardlink("h", "s/passwd")
            .bytes(),
        "h",
        "symlink",
    );
    refused(
        Tar::new().hardlink("h", "missing").bytes(),
        "h",
        "does not exist in the layer",
    );
}

#[test]
fn device_nodes_are_refused() {
    refused(
        Tar::new()
            .raw(EntryType::Char, "dev/null", "", b"", 0o666)
            .bytes(),
        "dev/null",
        "device nodes are not allowed",
    );
    refused(
        Tar::new()
            .raw(EntryType::Block, "dev/sda", "", b"", 0o660)
            .bytes(),
        "dev/sda",
        "device nodes are not allowed",
    );
}

#[test]
fn whiteouts_naming_dot_dot_are_refused() {
    refused(
        Tar::new().file("a/.wh...", b"").bytes(),
        "a/.wh...",
        "invalid whiteout name",
    );
}

#[test]
fn corrupt_streams_are_invalid_layers_and_failing_sources_are_io() {
    let f = Fixture::new();
    let mut gz = gzip(&Tar::new().file("a", &[7u8; 10000]).bytes());
    let len = gz.len();
    gz.truncate(len / 2);
    let err = f
        .store
        .apply(None, gz.as_slice(), None)
        .expect_err("truncated");
    assert_eq!(err.kind(), ErrorKind::InvalidLayer, "{err}");

    /// Serves a valid tar prefix, then fails as a dropped connection would.
    struct Failing(Vec<u8>, usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.1 >= 1024 {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "peer went away",
                ));
            }
            let n = buf.len().min(1024 - self.1);
            buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
    }
    let tar = Tar::new().file("big", &[7u8; 10000]).bytes();
    let err = f
        .store
        .apply(None, Failing(tar, 0), None)
        .expect_err("failing source");
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    f.assert_nothing_left();
}

#[test]
fn diff_id_mismatch_is_refused_and_names_both() {
    let f = Fixture::new();
    let tar = Tar::new().file("a", b"x").bytes();
    let wrong = sha(b"something else");
    let err = f
        .store
        .apply(None, tar.as_slice(), Some(&wrong))
        .expect_err("mismatch");
    assert_eq!(err.kind(), ErrorKind::InvalidLayer);
    let msg = err.to_string();
    assert!(msg.contains(&wrong) && msg.contains(&sha(&tar)), "{msg}");
    f.assert_nothing_left();
}

/// A reader that must never be read.
struct Untouchable;
impl Read for Untouchable {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::other("the layer was read although it is stored"))
    }
}

#[test]
fn applying_a_stored_layer_again_does_not_read_it() {
    let f = Fixture::new();
    let tar = Tar::new().file("a", b"x").bytes();
    let first = f
        .store
        .apply(None, tar.as_slice(), Some(&sha(&tar)))
        .expect("apply");
    let again = f
        .store
        .apply(None, Untouchable, Some(&sha(&tar)))
        .expect("apply again");
    assert_eq!(first, again);
    // Without the expected ID it is read and ends as the same single layer.
    let third = f
        .store
        .apply(None, tar.as_slice(), None)
        .expect("apply unverified");
    assert_eq!(first, third);
    assert_eq!(f.store.list().expect("list").len(), 1);
    assert_eq!(
        std::fs::read_dir(f.store.root().join("tmp"))
            .expect("tmp")
            .count(),
        0
    );
}

#[test]
fn concurrent_applies_of_one_layer_agree() {
    let f = Fixture::new();
    let tar = Tar::new()
        .file("a", &[1u8; 100_000])
        .file("b", b"y")
        .bytes();
    let diff_id = sha(&tar);
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let (store, tar, diff_id) = (f.store.clone(), &tar, &diff_id);
                s.spawn(move || {
                    let expected = (i % 2 == 0).then_some(diff_id.as_str());
                    store.apply(None, tar.as_slice(), expected)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    for r in &results {
        assert_eq!(r.as_ref().expect("apply").chain_id, diff_id);
    }
    assert_eq!(f.store.list().expect("list").len(), 1);
    assert_eq!(
        std::fs::read_dir(f.store.root().join("tmp"))
            .expect("tmp")
            .count(),
        0
    );
}

#[test]
fn invalid_ids_are_invalid_arguments() {
    let f = Fixture::new();
    let err = f.store.get("sha256:../../etc").expect_err("bad id");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(!f.store.exists("sha256:../x"));
    assert!(
        !f.store
            .diff_dir("../../x")
            .starts_with(f.store.root().join("layers/.."))
    );
    let err = f.store.prepare("../evil", None).expect_err("bad key");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = f.store.get(&sha(b"nope")).expect_err("missing");
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

// ---- layer chains, removal, gc ----

#[test]
fn chains_remove_and_gc() {
    let f = Fixture::new();
    let t0 = Tar::new().file("a", b"0").bytes();
    let t1 = Tar::new().file("b", b"1").bytes();
    let t2 = Tar::new().file("c", b"2").bytes();
    let l0 = f.store.apply(None, t0.as_slice(), None).expect("l0");
    let l1 = f
        .store
        .apply(Some(&l0.chain_id), t1.as_slice(), None)
        .expect("l1");
    assert_eq!(l1.chain_id, chain_id(Some(&l0.chain_id), &sha(&t1)));
    assert_eq!(l1.parent.as_deref(), Some(l0.chain_id.as_str()));
    assert_eq!(
        f.store.lowerdirs(&l1.chain_id).expect("lowerdirs"),
        vec![
            f.store.diff_dir(&l1.chain_id),
            f.store.diff_dir(&l0.chain_id)
        ]
    );
    let other = f.store.apply(None, t2.as_slice(), None).expect("other");

    let err = f
        .store
        .remove_layer(&l0.chain_id)
        .expect_err("parent in use");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");

    let _g = guard(&f.store, "c1");
    f.store.prepare("c1", Some(&l1.chain_id)).expect("prepare");
    let err = f
        .store
        .remove_layer(&l1.chain_id)
        .expect_err("snapshot uses it");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().contains("snapshot c1"), "{err}");

    // Nothing kept explicitly: the snapshot keeps l1 and l0; `other` goes.
    let removed = f.store.gc(&HashSet::new()).expect("gc");
    assert_eq!(removed, vec![other.chain_id.clone()]);
    assert!(!f.store.exists(&other.chain_id));
    f.store.remove("c1").expect("remove snapshot");
    let keep: HashSet<String> = [l0.chain_id.clone()].into();
    assert_eq!(f.store.gc(&keep).expect("gc"), vec![l1.chain_id.clone()]);
    f.store
        .remove_layer(&l0.chain_id)
        .expect("remove unused layer");
    f.assert_nothing_left();
}

// ---- snapshots ----

/// Lower: a, b, dir/{x,y}, keep/k. Upper layer: whiteout a, opaque dir with z.
fn two_layers(store: &LayerStore) -> String {
    let t0 = Tar::new()
        .file("a", b"a")
        .file("b", b"b")
        .file("dir/x", b"x")
        .file("dir/y", b"y")
        .file("keep/k", b"k")
        .file("gone-later", b"g")
        .bytes();
    let t1 = Tar::new()
        .file(".wh.a", b"")
        .dir("dir/")
        .file("dir/.wh..wh..opq", b"")
        .file("dir/z", b"z")
        .bytes();
    let l0 = store.apply(None, t0.as_slice(), None).expect("l0");
    store
        .apply(Some(&l0.chain_id), t1.as_slice(), None)
        .expect("l1")
        .chain_id
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn mounted_stack_hides_whiteouts_and_opaque_dirs() {
    let f = Fixture::new();
    let top = two_layers(&f.store);
    let _g = guard(&f.store, "ctr");
    let merged = f.store.prepare("ctr", Some(&top)).expect("prepare");
    assert_eq!(merged, f.store.merged("ctr"));
    assert!(f.store.is_mounted("ctr"));
    assert_eq!(listing(&merged), ["b", "dir", "gone-later", "keep"]);
    assert_eq!(listing(&merged.join("dir")), ["z"]);
    // Idempotent prepare and mount; a different parent conflicts.
    f.store.prepare("ctr", Some(&top)).expect("prepare again");
    f.store.mount("ctr").expect("mount again");
    let err = f.store.prepare("ctr", None).expect_err("other parent");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let count = mounts
        .lines()
        .filter(|l| l.contains(&*merged.to_string_lossy()))
        .count();
    assert_eq!(count, 1, "mounted once");
}

#[test]
fn snapshot_without_parent_is_empty_and_writable() {
    let f = Fixture::new();
    let _g = guard(&f.store, "scratch");
    let merged = f.store.prepare("scratch", None).expect("prepare");
    assert!(listing(&merged).is_empty());
    std::fs::write(merged.join("hello"), b"hi").expect("write");
    assert_eq!(
        std::fs::read(f.store.upper("scratch").join("hello")).expect("upper"),
        b"hi"
    );
    assert_eq!(f.store.usage("scratch").expect("usage"), 2);
}

#[test]
fn diff_changes_export_and_roundtrip() {
    let f = Fixture::new();
    let top = two_layers(&f.store);
    let _g = guard(&f.store, "work");
    let merged = f.store.prepare("work", Some(&top)).expect("prepare");
    std::fs::remove_file(merged.join("b")).expect("delete lower file");
    std::fs::write(merged.join("keep/k"), b"changed").expect("modify lower file");
    std::fs::create_dir_all(merged.join("new/sub")).expect("mkdir");
    std::fs::write(merged.join("new/sub/f"), b"new").expect("write");
    std::os::unix::fs::symlink("/new/sub/f", merged.join("link")).expect("symlink");
    std::fs::hard_link(merged.join("new/sub/f"), merged.join("new/hl")).expect("hard link");
    std::fs::remove_dir_all(merged.join("dir")).expect("rm dir");
    std::fs::create_dir(merged.join("dir")).expect("recreate dir as opaque");
    std::fs::write(merged.join("dir/fresh"), b"f").expect("write");

    let mut out = Vec::new();
    let diff_id = f.store.diff("work", &mut out).expect("diff");
    assert_eq!(diff_id, sha(&out));
    let e = entries(&out);
    let got_names: Vec<&str> = e.iter().map(|x| x.0.as_str()).collect();
    assert_eq!(
        got_names,
        [
            ".wh.b",
            "dir/",
            "dir/.wh..wh..opq",
            "dir/fresh",
            "keep/",
            "keep/k",
            "link",
            "new/",
            "new/hl",
            "new/sub/",
            "new/sub/f",
        ]
    );
    let get = |n: &str| e.iter().find(|x| x.0 == n).expect("entry present");
    assert_eq!(get(".wh.b").1, EntryType::Regular);
    assert_eq!(get("link").1, EntryType::Symlink);
    assert_eq!(get("link").3, "/new/sub/f");
    assert_eq!(get("new/hl").1, EntryType::Regular);
    assert_eq!(get("new/sub/f").1, EntryType::Link);
    assert_eq!(get("new/sub/f").3, "new/hl");
    // Deterministic.
    let mut again = Vec::new();
    assert_eq!(
        f.store.diff("work", &mut again).expect("diff again"),
        diff_id
    );

    let changes = f.store.changes("work").expect("changes");
    let got: Vec<(ChangeKind, &str)> = changes.iter().map(|c| (c.kind, c.path.as_str())).collect();
    assert_eq!(
        got,
        [
            (ChangeKind::Deleted, "/b"),
            (ChangeKind::Modified, "/dir"),
            (ChangeKind::Added, "/dir/fresh"),
            (ChangeKind::Deleted, "/dir/z"),
            (ChangeKind::Modified, "/keep"),
            (ChangeKind::Modified, "/keep/k"),
            (ChangeKind::Added, "/link"),
            (ChangeKind::Added, "/new"),
            (ChangeKind::Added, "/new/hl"),
            (ChangeKind::Added, "/new/sub"),
            (ChangeKind::Added, "/new/sub/f"),
        ]
    );
    // keep/k, new/sub/f once for its two links, dir/fresh, the symlink; whiteouts are empty.
    assert_eq!(
        f.store.usage("work").expect("usage"),
        7 + 3 + 1 + "/new/sub/f".len() as u64
    );

    let mut exported = Vec::new();
    f.store.export("work", &mut exported).expect("export");
    let exported = names(&exported);
    for want in [
        "dir/",
        "dir/fresh",
        "gone-later",
        "keep/k",
        "link",
        "new/sub/f",
    ] {
        assert!(exported.iter().any(|n| n == want), "{want} in {exported:?}");
    }
    for absent in ["a", "b", "dir/x", "dir/z"] {
        assert!(
            !exported.iter().any(|n| n == absent),
            "{absent} not in export"
        );
    }

    // The diff applied as a layer on the same parent gives the same view.
    let committed = f
        .store
        .apply(Some(&top), out.as_slice(), Some(&diff_id))
        .expect("commit");
    let _g2 = guard(&f.store, "check");
    let view = f
        .store
        .prepare("check", Some(&committed.chain_id))
        .expect("prepare commit");
    assert_eq!(listing(&view), ["dir", "gone-later", "keep", "link", "new"]);
    assert_eq!(listing(&view.join("dir")), ["fresh"]);
    assert_eq!(
        std::fs::read(view.join("keep/k")).expect("read"),
        b"changed"
    );
    assert_eq!(
        lstat(&view.join("new/hl")).ino(),
        lstat(&view.join("new/sub/f")).ino()
    );
}

#[test]
fn export_mounts_temporarily_and_remove_cleans_up() {
    let f = Fixture::new();
    let top = two_layers(&f.store);
    let g = guard(&f.store, "gone");
    let merged = f.store.prepare("gone", Some(&top)).expect("prepare");
    f.store.unmount("gone").expect("unmount");
    assert!(!f.store.is_mounted("gone"));
    f.store.unmount("gone").expect("unmount twice");
    let mut out = Vec::new();
    f.store
        .export("gone", &mut out)
        .expect("export while unmounted");
    assert!(names(&out).contains(&"b".to_string()));
    assert!(
        !f.store.is_mounted("gone"),
        "export restored the unmounted state"
    );
    f.store.mount("gone").expect("mount");
    // A process holding the mount busy: remove still succeeds (lazy unmount).
    let busy = std::fs::File::open(merged.join("b")).expect("open in merged");
    f.store.remove("gone").expect("remove");
    drop(busy);
    assert!(!f.store.is_mounted("gone"));
    assert!(!f.store.root().join("containers/gone").exists());
    assert_eq!(
        f.store.snapshot("gone").expect_err("removed").kind(),
        ErrorKind::NotFound
    );
    f.store.remove("gone").expect("remove twice");
    drop(g);
    // Half-created state: only the directory.
    std::fs::create_dir_all(f.store.root().join("containers/half/upper")).expect("mkdir");
    f.store.remove("half").expect("remove half-created");
    assert!(!f.store.root().join("containers/half").exists());
}

#[test]
fn many_layers_mount_beyond_the_page_limit() {
    let f = Fixture::new();
    let mut parent: Option<String> = None;
    // 80 layers × ~75-byte paths is over 4096 bytes of lowerdir= options.
    for i in 0..80 {
        let t = Tar::new().file(&format!("f{i}"), b"x").bytes();
        parent = Some(
            f.store
                .apply(parent.as_deref(), t.as_slice(), None)
                .expect("apply")
                .chain_id,
        );
    }
    let _g = guard(&f.store, "deep");
    let merged = f.store.prepare("deep", parent.as_deref()).expect("prepare");
    assert_eq!(listing(&merged).len(), 80);
}

// ---- docker cp ----

fn rootfs() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("temp dir");
    let r = d.path();
    std::fs::create_dir_all(r.join("etc")).expect("mkdir");
    std::fs::write(r.join("etc/hostname"), b"box").expect("write");
    std::os::unix::fs::symlink("/etc", r.join("abs")).expect("symlink");
    std::os::unix::fs::symlink("../../../../etc", r.join("rel")).expect("symlink");
    std::os::unix::fs::symlink("/", r.join("up")).expect("symlink");
    std::os::unix::fs::symlink("loop2", r.join("loop1")).expect("symlink");
    std::os::unix::fs::symlink("loop1", r.join("loop2")).expect("symlink");
    d
}

#[test]
fn resolve_in_root_never_leaves_the_root() {
    let d = rootfs();
    let r = d.path();
    let res = |p: &str| crate::resolve_in_root(r, p).expect("resolve");
    assert_eq!(res("/abs/hostname"), r.join("etc/hostname"));
    assert_eq!(res("rel/hostname"), r.join("etc/hostname"));
    assert_eq!(res("/../../etc/hostname"), r.join("etc/hostname"));
    assert_eq!(res("/up/up/up/etc"), r.join("etc"));
    assert_eq!(res("/missing/file"), r.join("missing/file"));
    assert_eq!(res("/"), r.to_path_buf());
    let err = crate::resolve_in_root(r, "/loop1/x").expect_err("loop");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn archive_path_names_entries_by_base_name() {
    let d = rootfs();
    let r = d.path();
    let mut out = Vec::new();
    crate::archive_path(r, "/abs/", &mut out).expect("archive dir through a symlink");
    assert_eq!(names(&out), ["etc/", "etc/hostname"]);
    let mut out = Vec::new();
    crate::archive_path(r, "/abs", &mut out).expect("archive the symlink itself");
    let e = entries(&out);
    assert_eq!(
        (e[0].0.as_str(), e[0].1, e[0].3.as_str()),
        ("abs", EntryType::Symlink, "/etc")
    );
    let mut out = Vec::new();
    crate::archive_path(r, "/rel/hostname", &mut out).expect("archive a file");
    assert_eq!(names(&out), ["hostname"]);
    let err = crate::archive_path(r, "/nope", Vec::new()).expect_err("missing");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let st = crate::stat_path(r, "/abs").expect("stat");
    assert_eq!((st.name.as_str(), st.link_target.as_str()), ("abs", "/etc"));
}

#[test]
fn extract_into_follows_the_layer_rules() {
    let d = rootfs();
    let r = d.path();
    let tar = Tar::new()
        .dir("new/")
        .file("new/f", b"data")
        .hardlink("new/h", "new/f")
        .bytes();
    crate::extract_into(r, "/abs", gzip(&tar).as_slice()).expect("extract into /etc via symlink");
    assert_eq!(std::fs::read(r.join("etc/new/h")).expect("read"), b"data");
    // A host path as resolve_in_root returns it works the same.
    let resolved = crate::resolve_in_root(r, "/abs/new").expect("resolve");
    let more = Tar::new().file("g", b"more").bytes();
    crate::extract_into(r, &resolved, more.as_slice()).expect("extract into a resolved path");
    assert_eq!(std::fs::read(r.join("etc/new/g")).expect("read"), b"more");

    let outside = tempfile::tempdir().expect("temp dir");
    std::os::unix::fs::symlink(outside.path(), r.join("etc/out")).expect("symlink");
    for (tar, entry) in [
        (Tar::new().file("../x", b"x").bytes(), "../x"),
        (Tar::new().file("out/x", b"x").bytes(), "out/x"),
        (Tar::new().hardlink("h", "/etc/passwd").bytes(), "h"),
        (
            Tar::new()
                .raw(EntryType::Char, "null", "", b"", 0o666)
                .bytes(),
            "null",
        ),
    ] {
        let err = crate::extract_into(r, "/etc", tar.as_slice()).expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::InvalidLayer, "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("invalid archive: entry {entry:?}")),
            "{err}"
        );
    }
    assert_eq!(listing(outside.path()), Vec::<String>::new());
    let err = crate::extract_into(r, "/etc/hostname", Tar::new().bytes().as_slice())
        .expect_err("not a dir");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = crate::extract_into(r, "/etc", Tar::new().file("new", b"x").bytes().as_slice())
        .expect_err("dir replaced by file");
    assert!(
        err.to_string().contains("cannot overwrite a directory"),
        "{err}"
    );
}

#[test]
fn clean_tmp_removes_leftovers() {
    let f = Fixture::new();
    let left = f.store.root().join("tmp/apply-dead/diff");
    std::fs::create_dir_all(&left).expect("mkdir");
    f.store.clean_tmp().expect("clean");
    assert_eq!(
        std::fs::read_dir(f.store.root().join("tmp"))
            .expect("tmp")
            .count(),
        0
    );
    let _: PathBuf = f.store.diff_dir(&sha(b"x"));
}

#[test]
fn long_names_xattrs_and_fifos_survive_a_diff_roundtrip() {
    let f = Fixture::new();
    let _g = guard(&f.store, "long");
    let merged = f.store.prepare("long", None).expect("prepare");
    let deep = format!("{}/{}", "d".repeat(80), "f".repeat(90));
    std::fs::create_dir_all(merged.join("d".repeat(80))).expect("mkdir");
    std::fs::write(merged.join(&deep), b"deep").expect("write");
    let long_target = format!("/{}", "t".repeat(150));
    std::os::unix::fs::symlink(&long_target, merged.join("longlink")).expect("symlink");
    crate::sys::lsetxattr(&merged.join(&deep), b"user.note", b"kept").expect("setxattr");
    let fifo =
        std::ffi::CString::new(merged.join("pipe").as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o620) }, 0, "mkfifo");
    std::fs::set_permissions(merged.join("pipe"), std::fs::Permissions::from_mode(0o620))
        .expect("chmod");

    let mut out = Vec::new();
    let diff_id = f.store.diff("long", &mut out).expect("diff");
    let layer = f
        .store
        .apply(None, out.as_slice(), Some(&diff_id))
        .expect("apply the diff");
    let d = f.store.diff_dir(&layer.chain_id);
    assert_eq!(std::fs::read(d.join(&deep)).expect("read"), b"deep");
    assert_eq!(
        crate::sys::lget_xattr(&d.join(&deep), b"user.note").expect("getxattr"),
        Some(b"kept".to_vec())
    );
    assert_eq!(
        std::fs::read_link(d.join("longlink")).expect("readlink"),
        Path::new(&long_target)
    );
    let p = lstat(&d.join("pipe"));
    assert!(p.file_type().is_fifo());
    assert_eq!(p.permissions().mode() & 0o7777, 0o620);
}
