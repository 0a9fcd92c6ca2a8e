use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::*;

enum Spec<'a> {
    File(u32, &'a [u8]),
    FileAt(u32, &'a [u8], u64),
    Dir(u32),
    Link(&'a str),
}

fn tar_of(entries: &[(&str, Spec<'_>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, spec) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_uid(1000);
        h.set_gid(1000);
        h.set_mtime(1_600_000_000);
        match spec {
            Spec::File(mode, data) | Spec::FileAt(mode, data, _) => {
                if let Spec::FileAt(_, _, t) = spec {
                    h.set_mtime(*t);
                }
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, name, *data).expect("append file");
            }
            Spec::Dir(mode) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                h.set_size(0);
                b.append_data(&mut h, name, io::empty())
                    .expect("append dir");
            }
            Spec::Link(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, name, target).expect("append link");
            }
        }
    }
    b.into_inner().expect("tar")
}

/// A context and an empty destination rootfs in one temp dir (removed on drop).
struct Fixture {
    tmp: tempfile::TempDir,
    ctx: Context,
}

impl Fixture {
    fn new(entries: &[(&str, Spec<'_>)]) -> Fixture {
        let tmp = tempfile::tempdir().expect("tempdir");
        let ctx =
            Context::receive(tar_of(entries).as_slice(), &tmp.path().join("ctx")).expect("receive");
        fs::create_dir(tmp.path().join("rootfs")).expect("rootfs");
        Fixture { tmp, ctx }
    }

    fn rootfs(&self) -> PathBuf {
        self.tmp.path().join("rootfs")
    }

    fn copy(&self, req: &CopyRequest<'_>) -> Result<Plan, CopyError> {
        let src = Source::Context(&self.ctx);
        let p = plan(&src, req)?;
        apply(&p, &src, &self.rootfs(), req)?;
        Ok(p)
    }

    fn read(&self, path: &str) -> Vec<u8> {
        fs::read(self.rootfs().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    }

    fn exists(&self, path: &str) -> bool {
        fs::symlink_metadata(self.rootfs().join(path)).is_ok()
    }

    fn meta(&self, path: &str) -> fs::Metadata {
        fs::symlink_metadata(self.rootfs().join(path)).expect("stat")
    }
}

fn req<'a>(sources: &'a [String], dest: &'a str) -> CopyRequest<'a> {
    CopyRequest {
        instruction: "COPY",
        sources,
        heredocs: &[],
        dest,
        workdir: "/",
        chown: None,
        chmod: None,
        is_add: false,
        exclude: &[],
        parents: false,
        epoch: None,
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn standard() -> Fixture {
    Fixture::new(&[
        ("a.txt", Spec::File(0o644, b"a")),
        ("b.txt", Spec::File(0o600, b"b")),
        ("run.sh", Spec::File(0o755, b"#!/bin/sh")),
        ("src", Spec::Dir(0o750)),
        ("src/main.rs", Spec::File(0o644, b"fn main() {}")),
        ("src/lib", Spec::Dir(0o755)),
        ("src/lib/x.rs", Spec::File(0o644, b"x")),
        ("src/notes.md", Spec::File(0o644, b"notes")),
        ("src/link", Spec::Link("main.rs")),
        ("sub/c.txt", Spec::File(0o644, b"c")),
        ("tolink", Spec::Link("src")),
    ])
}

#[test]
fn directory_copies_its_contents() {
    let f = standard();
    f.copy(&req(&s(&["src"]), "/dst")).expect("copy");
    assert_eq!(f.read("dst/main.rs"), b"fn main() {}");
    assert_eq!(f.read("dst/lib/x.rs"), b"x");
    assert!(!f.exists("dst/src"));
    assert_eq!(f.meta("dst").mode() & 0o7777, 0o755, "created destination");
    assert_eq!(f.meta("dst/lib").mode() & 0o7777, 0o755);
    let link = f.meta("dst/link");
    assert!(link.file_type().is_symlink());
    assert_eq!(
        fs::read_link(f.rootfs().join("dst/link")).expect("readlink"),
        Path::new("main.rs")
    );
    // Context files belong to root, keep their mode and mtime.
    let m = f.meta("dst/main.rs");
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (0, 0, 0o644));
    assert_eq!(m.mtime(), 1_600_000_000);
    assert_eq!(f.meta("dst/lib").mtime(), 1_600_000_000);
}

#[test]
fn a_symlinked_source_is_followed() {
    let f = standard();
    f.copy(&req(&s(&["tolink"]), "/t/")).expect("copy");
    assert_eq!(f.read("t/main.rs"), b"fn main() {}");
    f.copy(&req(&s(&["src/link"]), "/l/")).expect("copy");
    assert_eq!(f.read("l/link"), b"fn main() {}", "named after the link");
}

#[test]
fn globs_match_like_filepath_match() {
    let f = standard();
    let p = f.copy(&req(&s(&["*.txt"]), "/g/")).expect("copy");
    assert_eq!(f.read("g/a.txt"), b"a");
    assert_eq!(f.read("g/b.txt"), b"b");
    assert!(!f.exists("g/c.txt"));
    assert_eq!(p.len(), 2);
    f.copy(&req(&s(&["s?b/*.txt", "[r]un.sh"]), "/h/"))
        .expect("copy");
    assert_eq!(f.read("h/c.txt"), b"c");
    assert_eq!(f.read("h/run.sh"), b"#!/bin/sh");
    let err = f
        .copy(&req(&s(&["*.nothing"]), "/n/"))
        .expect_err("no match");
    assert_eq!(
        err.to_string(),
        "COPY failed: no source files were specified"
    );
    let err = f
        .copy(&req(&s(&["*.txt"]), "/g2"))
        .expect_err("two files, no slash");
    assert_eq!(
        err.to_string(),
        "When using COPY with more than one source file, the destination must be a directory and end with a /"
    );
}

#[test]
fn destination_file_or_directory() {
    let f = standard();
    f.copy(&req(&s(&["a.txt"]), "/x")).expect("copy");
    assert_eq!(f.read("x"), b"a");
    f.copy(&req(&s(&["a.txt"]), "/d/")).expect("copy");
    assert_eq!(f.read("d/a.txt"), b"a");
    fs::create_dir(f.rootfs().join("existing")).expect("mkdir");
    f.copy(&req(&s(&["a.txt"]), "/existing")).expect("copy");
    assert_eq!(f.read("existing/a.txt"), b"a");
    // A file replaces a file.
    f.copy(&req(&s(&["b.txt"]), "/x")).expect("copy");
    assert_eq!(f.read("x"), b"b");
    assert_eq!(f.meta("x").mode() & 0o7777, 0o600);
    // A file onto a directory named like it inside the destination directory.
    fs::create_dir_all(f.rootfs().join("e/a.txt")).expect("mkdir");
    let err = f
        .copy(&req(&s(&["a.txt"]), "/e/"))
        .expect_err("dir in the way");
    assert_eq!(
        err.to_string(),
        "cannot replace to directory /e/a.txt with file"
    );
    // A directory into a file.
    let err = f
        .copy(&req(&s(&["src"]), "/x"))
        .expect_err("file in the way");
    assert_eq!(err.to_string(), "cannot copy to non-directory: /x");
}

#[test]
fn relative_destination_uses_workdir() {
    let f = standard();
    let mut r = req(&[], "rel/");
    let sources = s(&["a.txt"]);
    r.sources = &sources;
    r.workdir = "/app";
    f.copy(&r).expect("copy");
    assert_eq!(f.read("app/rel/a.txt"), b"a");
    r.dest = ".";
    f.copy(&r).expect("copy");
    assert_eq!(f.read("app/a.txt"), b"a");
    r.dest = "../up.txt";
    f.copy(&r).expect("copy");
    assert_eq!(f.read("up.txt"), b"a");
}

fn with_users(f: &Fixture) {
    fs::create_dir_all(f.rootfs().join("etc")).expect("etc");
    fs::write(
        f.rootfs().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .expect("passwd");
    fs::write(
        f.rootfs().join("etc/group"),
        "root:x:0:\napp:x:1001:\nstaff:x:50:\n",
    )
    .expect("group");
}

#[test]
fn chown_by_name_and_id() {
    let f = standard();
    with_users(&f);
    let sources = s(&["src"]);
    let mut r = req(&sources, "/owned/deep/");
    r.chown = Some("app");
    f.copy(&r).expect("copy");
    let m = f.meta("owned/deep/main.rs");
    assert_eq!((m.uid(), m.gid()), (1000, 1001));
    let parent = f.meta("owned");
    assert_eq!(
        (parent.uid(), parent.gid()),
        (1000, 1001),
        "new parents owned too"
    );
    let link = f.meta("owned/deep/link");
    assert_eq!((link.uid(), link.gid()), (1000, 1001));

    r.chown = Some("1234:staff");
    r.dest = "/ids/";
    f.copy(&r).expect("copy");
    let m = f.meta("ids/lib/x.rs");
    assert_eq!((m.uid(), m.gid()), (1234, 50));

    r.chown = Some("nobody2");
    let err = f.copy(&r).expect_err("unknown user");
    assert_eq!(
        err.to_string(),
        "unable to convert uid/gid chown string to host mapping: can't find uid for user nobody2: no such user: nobody2"
    );
    r.chown = Some("app:nogroup");
    let err = f.copy(&r).expect_err("unknown group");
    assert_eq!(
        err.to_string(),
        "unable to convert uid/gid chown string to host mapping: can't find gid for group nogroup: no such group: nogroup"
    );
    r.chown = Some("a:b:c");
    assert!(
        f.copy(&r)
            .expect_err("format")
            .to_string()
            .contains("invalid chown string format: a:b:c")
    );
}

#[test]
fn chmod_sets_modes() {
    let f = standard();
    let sources = s(&["src"]);
    let mut r = req(&sources, "/m/");
    r.chmod = Some("751");
    f.copy(&r).expect("copy");
    assert_eq!(f.meta("m/main.rs").mode() & 0o7777, 0o751);
    assert_eq!(f.meta("m/lib").mode() & 0o7777, 0o751);
    for bad in ["64a", "10000", "u+x", ""] {
        r.chmod = Some(bad);
        let err = plan(&Source::Context(&f.ctx), &r).expect_err(bad);
        assert_eq!(
            err.to_string(),
            format!(
                "invalid chmod parameter: '{bad}'. it should be octal string and between 0 and 07777"
            )
        );
    }
}

#[test]
fn destination_symlinks_stay_inside_the_root() {
    let f = standard();
    let outside = f.tmp.path().join("outside");
    fs::create_dir(&outside).expect("outside");
    std::os::unix::fs::symlink("../outside", f.rootfs().join("evil")).expect("symlink");
    std::os::unix::fs::symlink(&outside, f.rootfs().join("evil_abs")).expect("symlink");
    f.copy(&req(&s(&["a.txt"]), "/evil/")).expect("copy");
    f.copy(&req(&s(&["b.txt"]), "/evil_abs/")).expect("copy");
    f.copy(&req(&s(&["src"]), "/evil/tree/")).expect("copy");
    assert!(!outside.join("a.txt").exists());
    assert!(!outside.join("b.txt").exists());
    assert!(!outside.join("tree").exists());
    assert_eq!(f.read("outside/a.txt"), b"a");
    assert_eq!(f.read("outside/tree/main.rs"), b"fn main() {}");
    // A symlink to a directory inside the root is followed.
    fs::create_dir(f.rootfs().join("real")).expect("real");
    std::os::unix::fs::symlink("/real", f.rootfs().join("alias")).expect("alias");
    f.copy(&req(&s(&["a.txt"]), "/alias/")).expect("copy");
    assert_eq!(f.read("real/a.txt"), b"a");
}

#[test]
fn dotdot_and_absolute_sources_stay_in_the_context() {
    let f = standard();
    f.copy(&req(&s(&["../../a.txt"]), "/u1")).expect("copy");
    assert_eq!(f.read("u1"), b"a");
    f.copy(&req(&s(&["/src/../b.txt"]), "/u2")).expect("copy");
    assert_eq!(f.read("u2"), b"b");
}

#[test]
fn missing_source_is_dockers_error() {
    let f = standard();
    let err = f.copy(&req(&s(&["./nothere"]), "/")).expect_err("missing");
    assert_eq!(
        err.to_string(),
        "COPY failed: file not found in build context or excluded by .dockerignore: stat nothere: file does not exist"
    );
    let src = f.rootfs();
    let err = plan(&Source::Rootfs(&src), &req(&s(&["/gone"]), "/")).expect_err("missing");
    assert_eq!(
        err.to_string(),
        "COPY failed: stat gone: file does not exist"
    );
}

fn archive_fixture() -> Fixture {
    let inner = tar_of(&[
        ("inner", Spec::Dir(0o755)),
        ("inner/f", Spec::File(0o640, b"payload")),
    ]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&inner).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let zst = zstd::encode_all(inner.as_slice(), 1).expect("zstd");
    Fixture::new(&[
        ("a.tar", Spec::File(0o644, &inner)),
        ("a.tar.gz", Spec::File(0o644, &gz)),
        ("a.tar.zst", Spec::File(0o644, &zst)),
        ("plain.gz", Spec::File(0o644, b"not an archive")),
    ])
}

#[test]
fn add_extracts_local_archives() {
    let f = archive_fixture();
    for (name, dest) in [("a.tar", "/t"), ("a.tar.gz", "/g/"), ("a.tar.zst", "/z")] {
        let sources = s(&[name]);
        let mut r = req(&sources, dest);
        r.instruction = "ADD";
        r.is_add = true;
        f.copy(&r).expect("add");
        let d = dest.trim_matches('/');
        assert_eq!(f.read(&format!("{d}/inner/f")), b"payload", "{name}");
        assert_eq!(f.meta(&format!("{d}/inner/f")).mode() & 0o7777, 0o640);
    }
    // Not an archive: copied as a file. COPY never extracts.
    let sources = s(&["plain.gz"]);
    let mut r = req(&sources, "/p");
    r.instruction = "ADD";
    r.is_add = true;
    f.copy(&r).expect("add");
    assert_eq!(f.read("p"), b"not an archive");
    f.copy(&req(&s(&["a.tar.gz"]), "/c/")).expect("copy");
    assert!(f.meta("c/a.tar.gz").is_file());
    // --chown reaches the extracted files.
    with_users(&f);
    let sources = s(&["a.tar"]);
    let mut r = req(&sources, "/owned/");
    r.instruction = "ADD";
    r.is_add = true;
    r.chown = Some("app");
    f.copy(&r).expect("add");
    let m = f.meta("owned/inner/f");
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (1000, 1001, 0o640));
}

#[test]
fn urls_are_refused() {
    let f = standard();
    let sources = s(&["https://example.com/x.tar.gz"]);
    let mut r = req(&sources, "/");
    r.instruction = "ADD";
    r.is_add = true;
    let err = plan(&Source::Context(&f.ctx), &r).expect_err("url");
    let text = err.to_string();
    assert!(
        text.starts_with("ADD failed: cannot download https://example.com/x.tar.gz"),
        "{text}"
    );
    assert!(text.contains("no network"), "{text}");
    let err = plan(&Source::Context(&f.ctx), &req(&sources, "/")).expect_err("url");
    assert_eq!(
        err.to_string(),
        "COPY failed: source can't be a URL for COPY"
    );
}

#[test]
fn heredoc_sources() {
    let f = standard();
    let docs = vec![
        ("greeting".to_string(), b"hello\n".to_vec()),
        ("other".to_string(), b"x\n".to_vec()),
    ];
    let mut r = req(&[], "/h/");
    r.heredocs = &docs;
    r.epoch = Some(1_000);
    f.copy(&r).expect("copy");
    assert_eq!(f.read("h/greeting"), b"hello\n");
    assert_eq!(f.read("h/other"), b"x\n");
    let m = f.meta("h/greeting");
    assert_eq!((m.mode() & 0o7777, m.uid(), m.mtime()), (0o644, 0, 1_000));
    let one = vec![("script".to_string(), b"echo\n".to_vec())];
    let mut r = req(&[], "/bin-script");
    r.heredocs = &one;
    f.copy(&r).expect("copy");
    assert_eq!(f.read("bin-script"), b"echo\n");
}

#[test]
fn exclude_patterns() {
    let f = standard();
    let sources = s(&["src"]);
    let ex = s(&["*.md", "lib"]);
    let mut r = req(&sources, "/x/");
    r.exclude = &ex;
    let p = f.copy(&r).expect("copy");
    assert!(f.exists("x/main.rs"));
    assert!(!f.exists("x/notes.md"));
    assert!(!f.exists("x/lib"));
    assert!(!f.exists("x/lib/x.rs"));
    assert!(p.units[0].items.iter().all(|i| !i.rel.starts_with("lib")));
    let sources = s(&["*.txt"]);
    let ex = s(&["b.txt"]);
    let mut r = req(&sources, "/y/");
    r.exclude = &ex;
    f.copy(&r).expect("copy");
    assert!(f.exists("y/a.txt") && !f.exists("y/b.txt"));
    let bad = s(&["["]);
    r.exclude = &bad;
    assert!(matches!(
        plan(&Source::Context(&f.ctx), &r),
        Err(CopyError::Exclude(_))
    ));
}

#[test]
fn parents_keep_source_paths() {
    let f = standard();
    let sources = s(&["src/lib/x.rs", "sub/c.txt", "src/./lib"]);
    let mut r = req(&sources, "/p/");
    r.parents = true;
    f.copy(&r).expect("copy");
    assert_eq!(f.read("p/src/lib/x.rs"), b"x");
    assert_eq!(f.read("p/sub/c.txt"), b"c");
    assert_eq!(f.read("p/lib/x.rs"), b"x");
}

#[test]
fn epoch_clamps_mtimes() {
    let f = standard();
    let sources = s(&["src"]);
    let mut r = req(&sources, "/e/");
    r.epoch = Some(1_500_000_000);
    f.copy(&r).expect("copy");
    assert_eq!(f.meta("e/main.rs").mtime(), 1_500_000_000);
    assert_eq!(f.meta("e/lib").mtime(), 1_500_000_000);
    assert_eq!(f.meta("e/link").mtime(), 1_500_000_000);
    r.epoch = Some(2_000_000_000);
    r.dest = "/late/";
    f.copy(&r).expect("copy");
    assert_eq!(
        f.meta("late/main.rs").mtime(),
        1_600_000_000,
        "older times kept"
    );
}

#[test]
fn copy_from_a_rootfs_keeps_owners() {
    let f = standard();
    let other = f.tmp.path().join("stage");
    fs::create_dir_all(other.join("opt/app")).expect("mkdir");
    fs::write(other.join("opt/app/bin"), b"binary").expect("write");
    std::os::unix::fs::chown(other.join("opt/app/bin"), Some(7), Some(8)).expect("chown");
    fs::set_permissions(
        other.join("opt/app/bin"),
        fs::Permissions::from_mode(0o4711),
    )
    .expect("chmod");
    fs::hard_link(other.join("opt/app/bin"), other.join("opt/app/bin2")).expect("link");
    std::os::unix::fs::symlink("bin", other.join("opt/app/ln")).expect("symlink");
    let src = Source::Rootfs(&other);
    let r = req(&[], "/from/");
    let sources = s(&["/opt/app"]);
    let r = CopyRequest {
        sources: &sources,
        ..r
    };
    let p = plan(&src, &r).expect("plan");
    apply(&p, &src, &f.rootfs(), &r).expect("apply");
    let m = f.meta("from/bin");
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (7, 8, 0o4711));
    assert_eq!(f.meta("from/bin2").ino(), m.ino(), "hard link kept");
    assert!(f.meta("from/ln").file_type().is_symlink());
    // Globs over a rootfs.
    let sources = s(&["/opt/*/b?n"]);
    let r = CopyRequest {
        sources: &sources,
        dest: "/g/",
        ..r
    };
    let p = plan(&src, &r).expect("plan");
    apply(&p, &src, &f.rootfs(), &r).expect("apply");
    assert_eq!(f.read("g/bin"), b"binary");
}

#[test]
fn plan_keys() {
    let key = |entries: &[(&str, Spec<'_>)], r: &CopyRequest<'_>| {
        let f = Fixture::new(entries);
        plan(&Source::Context(&f.ctx), r).expect("plan").key
    };
    let sources = s(&["d"]);
    let r = req(&sources, "/x/");
    let base = key(
        &[
            ("d/a", Spec::FileAt(0o644, b"one", 1)),
            ("d/b", Spec::File(0o644, b"two")),
        ],
        &r,
    );
    let other_mtime = key(
        &[
            ("d/a", Spec::FileAt(0o644, b"one", 99)),
            ("d/b", Spec::File(0o644, b"two")),
        ],
        &r,
    );
    assert_eq!(base, other_mtime, "mtimes are not part of the key");
    let other_mode = key(
        &[
            ("d/a", Spec::FileAt(0o755, b"one", 1)),
            ("d/b", Spec::File(0o644, b"two")),
        ],
        &r,
    );
    let other_content = key(
        &[
            ("d/a", Spec::FileAt(0o644, b"ONE", 1)),
            ("d/b", Spec::File(0o644, b"two")),
        ],
        &r,
    );
    let other_name = key(
        &[
            ("d/a2", Spec::FileAt(0o644, b"one", 1)),
            ("d/b", Spec::File(0o644, b"two")),
        ],
        &r,
    );
    let with_extra = key(
        &[
            ("d/a", Spec::FileAt(0o644, b"one", 1)),
            ("d/b", Spec::File(0o644, b"two")),
            ("unrelated", Spec::File(0o644, b"zzz")),
        ],
        &r,
    );
    assert_ne!(base, other_mode);
    assert_ne!(base, other_content);
    assert_ne!(base, other_name);
    assert_eq!(base, with_extra, "only the copied files count");
    let entries = [
        ("d/a", Spec::FileAt(0o644, b"one", 1)),
        ("d/b", Spec::File(0o644, b"two")),
    ];
    let chowned = CopyRequest {
        chown: Some("1:1"),
        ..r
    };
    assert_ne!(base, key(&entries, &chowned));
    let elsewhere = CopyRequest { dest: "/y/", ..r };
    assert_ne!(base, key(&entries, &elsewhere));
    assert_eq!(base.len(), 64);
}

#[test]
fn large_file_copy() {
    let data = vec![7u8; 8 * 1024 * 1024];
    let f = Fixture::new(&[("big", Spec::File(0o644, &data))]);
    f.copy(&req(&s(&["big"]), "/big")).expect("copy");
    assert_eq!(f.meta("big").len(), data.len() as u64);
    assert_eq!(f.read("big"), data);
}
