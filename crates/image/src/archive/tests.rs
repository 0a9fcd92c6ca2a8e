use std::io::Write as _;
use std::process::Command;

use super::*;
use crate::spec::{MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_LAYER_GZIP, MEDIA_TYPE_OCI_LAYER_ZSTD};
use crate::store::ImageStore;

/// A tar of `(name, bytes)` files; names are written raw (so `..` can be tested).
fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, *data).expect("append");
    }
    b.into_inner().expect("finish")
}

fn symlink_entry(b: &mut tar::Builder<Vec<u8>>, name: &str, target: &str) {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, name, target).expect("symlink");
}

/// A rootfs layer tar with a few files.
fn layer(seed: &str) -> Vec<u8> {
    let content = format!("hello from {seed}\n");
    tar_of(&[
        ("etc/", b""),
        ("etc/motd", content.as_bytes()),
        ("bin/tool", b"#!/bin/sh\n"),
    ])
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip finish")
}

fn zstd_of(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 1).expect("zstd")
}

fn config_for(diff_ids: &[Digest], cmd: &str) -> Vec<u8> {
    let ids: Vec<String> = diff_ids.iter().map(|d| format!("\"{d}\"")).collect();
    format!(
        r#"{{"architecture":"amd64","os":"linux","created":"2024-03-04T05:06:07.000000008Z","config":{{"Env":["PATH=/bin"],"Cmd":["{cmd}"]}},"rootfs":{{"type":"layers","diff_ids":[{}]}},"history":[{{"created_by":"test"}}]}}"#,
        ids.join(",")
    )
    .into_bytes()
}

fn stores() -> (tempfile::TempDir, ContentStore, ImageStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let content = ContentStore::open(&dir.path().join("content")).expect("content");
    let images = ImageStore::open(&dir.path().join("image"), content.clone()).expect("images");
    (dir, content, images)
}

/// A legacy (docker ≤ 24) save of two images sharing a base layer, the second's copy of it a
/// symlink as docker writes it.
fn legacy_archive() -> (Vec<u8>, Digest, Digest) {
    let base = layer("base");
    let top = layer("top");
    let (db, dt) = (Digest::of(&base), Digest::of(&top));
    let c1 = config_for(std::slice::from_ref(&db), "sh");
    let c2 = config_for(&[db.clone(), dt.clone()], "top");
    let (d1, d2) = (Digest::of(&c1), Digest::of(&c2));
    let manifest = format!(
        r#"[{{"Config":"{h1}.json","RepoTags":["busybox:latest","busybox:1.36"],"Layers":["aaaa/layer.tar"]}},
            {{"Config":"{h2}.json","RepoTags":null,"Layers":["bbbb/layer.tar","cccc/layer.tar"]}}]"#,
        h1 = d1.hex(),
        h2 = d2.hex()
    );
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in [
        (format!("{}.json", d1.hex()), c1.as_slice()),
        (format!("{}.json", d2.hex()), c2.as_slice()),
        ("aaaa/VERSION".to_string(), b"1.0".as_slice()),
        ("aaaa/layer.tar".to_string(), base.as_slice()),
        ("cccc/layer.tar".to_string(), top.as_slice()),
        ("manifest.json".to_string(), manifest.as_bytes()),
        (
            "repositories".to_string(),
            br#"{"busybox":{"latest":"aaaa"}}"#.as_slice(),
        ),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).expect("append");
    }
    symlink_entry(&mut b, "bbbb/layer.tar", "../aaaa/layer.tar");
    (b.into_inner().expect("tar"), d1, d2)
}

#[test]
fn loads_legacy_docker_save() {
    let (_d, content, _) = stores();
    let (tar, d1, d2) = legacy_archive();
    let imgs = load(&tar[..], &content).expect("load");
    assert_eq!(imgs.len(), 2);
    let a = imgs
        .iter()
        .find(|i| i.config_digest == d1)
        .expect("image 1");
    assert_eq!(
        a.repo_tags,
        vec![
            "docker.io/library/busybox:latest",
            "docker.io/library/busybox:1.36"
        ]
    );
    assert_eq!(a.layers.len(), 1);
    assert_eq!(a.layers[0].media_type, MEDIA_TYPE_OCI_LAYER);
    assert_eq!(a.layers[0].digest, a.diff_ids[0]);
    let b = imgs
        .iter()
        .find(|i| i.config_digest == d2)
        .expect("image 2");
    assert!(b.repo_tags.is_empty());
    assert_eq!(
        b.layers[0].digest, a.layers[0].digest,
        "symlinked layer resolved"
    );
    for l in a.layers.iter().chain(&b.layers) {
        assert!(content.contains(&l.digest));
    }
    // Leased blobs survive gc until the load result is dropped.
    assert_eq!(content.gc(&Default::default()).expect("gc").0, 0);
    drop(imgs);
    assert!(content.gc(&Default::default()).expect("gc").0 > 0);
}

/// Records loaded images as the engine will.
fn record(images: &ImageStore, loaded: &[LoadedImage]) -> Vec<ImageRecord> {
    loaded
        .iter()
        .map(|l| {
            let rec = images
                .create(&l.config_bytes, l.layers.clone(), l.diff_ids.clone())
                .expect("create");
            for t in &l.repo_tags {
                images
                    .tag(&rec.id, &Reference::parse(t).expect("tag"))
                    .expect("tag");
            }
            images.get(&rec.id).expect("get")
        })
        .collect()
}

/// An image whose layers are stored compressed (gzip and zstd), as a registry pull would leave.
fn compressed_image(content: &ContentStore, images: &ImageStore) -> ImageRecord {
    let (l1, l2) = (layer("one"), layer("two"));
    let (g1, z2) = (gzip(&l1), zstd_of(&l2));
    let d1 = content.ingest_bytes(&g1).expect("l1");
    let d2 = content.ingest_bytes(&z2).expect("l2");
    let diff_ids = vec![Digest::of(&l1), Digest::of(&l2)];
    let config = config_for(&diff_ids, "run");
    let layers = vec![
        Descriptor::new(MEDIA_TYPE_OCI_LAYER_GZIP, d1, g1.len() as u64),
        Descriptor::new(MEDIA_TYPE_OCI_LAYER_ZSTD, d2, z2.len() as u64),
    ];
    let rec = images.create(&config, layers, diff_ids).expect("create");
    assert_eq!(
        rec.size,
        (l1.len() + l2.len()) as u64,
        "size is uncompressed"
    );
    images
        .tag(
            &rec.id,
            &Reference::parse("example.com/team/app:2").expect("ref"),
        )
        .expect("tag");
    images.get(&rec.id).expect("get")
}

#[test]
fn save_docker_then_load_round_trips() {
    let (_d, content, images) = stores();
    let rec = compressed_image(&content, &images);
    let mut out = Vec::new();
    let tags = vec!["example.com/team/app:2".to_string(), "mine".to_string()];
    save_docker(&[(rec.clone(), tags)], &content, &mut out).expect("save");

    // Deterministic output.
    let mut again = Vec::new();
    let tags = vec!["example.com/team/app:2".to_string(), "mine".to_string()];
    save_docker(&[(rec.clone(), tags)], &content, &mut again).expect("save again");
    assert_eq!(out, again);

    // The layout docker 25 writes.
    let mut names = Vec::new();
    let mut archive = tar::Archive::new(&out[..]);
    for e in archive.entries().expect("entries") {
        let e = e.expect("entry");
        names.push(e.path().expect("path").to_string_lossy().into_owned());
        assert_eq!(e.header().mtime().expect("mtime"), 0);
    }
    for want in ["index.json", "manifest.json", "oci-layout", "repositories"] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    for d in rec.diff_ids() {
        assert!(
            names.contains(&format!("blobs/sha256/{}", d.hex())),
            "uncompressed layer {d}"
        );
    }

    let (_d2, content2, images2) = stores();
    let loaded = load(&out[..], &content2).expect("load");
    assert_eq!(loaded.len(), 1);
    let l = &loaded[0];
    assert_eq!(l.config_digest, rec.id, "image ID survives save/load");
    assert_eq!(l.diff_ids, rec.diff_ids());
    assert!(
        l.layers
            .iter()
            .all(|d| d.media_type == MEDIA_TYPE_OCI_LAYER)
    );
    assert_eq!(
        l.repo_tags,
        vec!["example.com/team/app:2", "docker.io/library/mine:latest"]
    );
    let recs = record(&images2, &loaded);
    assert_eq!(recs[0].id, rec.id);
    assert_eq!(recs[0].size, rec.size);
    assert_eq!(images2.resolve("mine").expect("resolve").id, rec.id);
    assert!(content2.check().expect("check").is_clean());
}

#[test]
fn save_oci_then_load_keeps_compressed_layers() {
    let (_d, content, images) = stores();
    let rec = compressed_image(&content, &images);
    let mut out = Vec::new();
    save_oci(&[(rec.clone(), rec.repo_tags.clone())], &content, &mut out).expect("save");
    let (_d2, content2, _) = stores();
    let loaded = load(&out[..], &content2).expect("load");
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].config_digest, rec.id);
    assert_eq!(loaded[0].layers, rec.layers);
    assert_eq!(loaded[0].manifest.as_ref(), Some(&rec.manifest));
    assert_eq!(loaded[0].repo_tags, vec!["example.com/team/app:2"]);
}

#[test]
fn loads_oci_layout_with_multi_platform_index() {
    let (_d, content, _) = stores();
    let l = layer("multi");
    let gz = gzip(&l);
    let config = config_for(&[Digest::of(&l)], "x");
    let cd = Digest::of(&config);
    let manifest = ImageManifest::oci(
        Descriptor::new(MEDIA_TYPE_OCI_CONFIG, cd.clone(), config.len() as u64),
        vec![Descriptor::new(
            MEDIA_TYPE_OCI_LAYER_GZIP,
            Digest::of(&gz),
            gz.len() as u64,
        )],
    )
    .to_bytes();
    let md = Digest::of(&manifest);
    let (arch, _) = host_arch();
    let mut mine = Descriptor::new(MEDIA_TYPE_OCI_MANIFEST, md.clone(), manifest.len() as u64);
    mine.platform = Some(Platform {
        architecture: arch.into(),
        os: "linux".into(),
        ..Platform::default()
    });
    let mut other = Descriptor::new(MEDIA_TYPE_OCI_MANIFEST, Digest::of(b"absent"), 6);
    other.platform = Some(Platform {
        architecture: "s390x".into(),
        os: "linux".into(),
        ..Platform::default()
    });
    let nested = ImageIndex::oci(vec![other, mine]).to_bytes();
    let mut top = Descriptor::new(
        MEDIA_TYPE_OCI_INDEX,
        Digest::of(&nested),
        nested.len() as u64,
    );
    top.annotations = Some(
        [(
            ANNOTATION_REF_NAME.to_string(),
            "quay.io/a/b:v1".to_string(),
        )]
        .into(),
    );
    let index = ImageIndex::oci(vec![top]).to_bytes();
    let p = |d: &Digest| format!("blobs/sha256/{}", d.hex());
    let tar = tar_of(&[
        ("oci-layout", OCI_LAYOUT_JSON),
        ("index.json", &index),
        (&p(&Digest::of(&nested)), &nested),
        (&p(&md), &manifest),
        (&p(&cd), &config),
        (&p(&Digest::of(&gz)), &gz),
    ]);
    let loaded = load(&tar[..], &content).expect("load");
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].config_digest, cd);
    assert_eq!(loaded[0].repo_tags, vec!["quay.io/a/b:v1"]);
    assert_eq!(loaded[0].manifest, Some(md));
    assert_eq!(loaded[0].layers[0].media_type, MEDIA_TYPE_OCI_LAYER_GZIP);
}

fn load_err(tar: &[u8]) -> String {
    let (_d, content, _) = stores();
    let e = load(tar, &content).expect_err("malformed archive must fail");
    eprintln!("load error: {e}");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    // Whatever got in is complete and verifies; nothing half-written is visible.
    let report = content.check().expect("check");
    assert!(
        report.is_clean() && report.leftover_ingest.is_empty(),
        "{report:?}"
    );
    e.to_string()
}

#[test]
fn malformed_archives_give_clear_errors() {
    let l = layer("x");
    let dl = Digest::of(&l);
    let config = config_for(std::slice::from_ref(&dl), "sh");
    let cd = Digest::of(&config);
    let cfg_name = format!("{}.json", cd.hex());
    let good_manifest =
        format!(r#"[{{"Config":"{cfg_name}","RepoTags":["t:1"],"Layers":["l/layer.tar"]}}]"#);

    // Sanity: the good one loads.
    let good = tar_of(&[
        (&cfg_name, &config),
        ("l/layer.tar", &l),
        ("manifest.json", good_manifest.as_bytes()),
    ]);
    let (_d, content, _) = stores();
    load(&good[..], &content).expect("good archive loads");

    let e = load_err(&tar_of(&[("hello.txt", b"hi")]));
    assert!(e.contains("neither manifest.json nor index.json"), "{e}");

    let e = load_err(&tar_of(&[("manifest.json", b"[{\"Config\": ")]));
    assert!(e.contains("manifest.json: invalid JSON"), "{e}");

    let e = load_err(&tar_of(&[
        ("manifest.json", good_manifest.as_bytes()),
        ("l/layer.tar", &l),
    ]));
    assert!(e.contains(&format!("config {cfg_name} missing")), "{e}");

    let e = load_err(&tar_of(&[
        (&cfg_name, b"{nope"),
        ("l/layer.tar", &l),
        ("manifest.json", good_manifest.as_bytes()),
    ]));
    assert!(
        e.contains(&format!("config {cfg_name}: invalid JSON")),
        "{e}"
    );

    let e = load_err(&tar_of(&[
        (&cfg_name, &config),
        ("manifest.json", good_manifest.as_bytes()),
    ]));
    assert!(e.contains("layer l/layer.tar missing"), "{e}");

    let other = layer("other");
    let e = load_err(&tar_of(&[
        (&cfg_name, &config),
        ("l/layer.tar", &other),
        ("manifest.json", good_manifest.as_bytes()),
    ]));
    assert!(
        e.contains("layer l/layer.tar: uncompressed content hashes to"),
        "{e}"
    );
    assert!(e.contains(&format!("diff_id is {dl}")), "{e}");

    let two = format!(r#"[{{"Config":"{cfg_name}","Layers":["l/layer.tar","l/layer.tar"]}}]"#);
    let e = load_err(&tar_of(&[
        (&cfg_name, &config),
        ("l/layer.tar", &l),
        ("manifest.json", two.as_bytes()),
    ]));
    assert!(e.contains("2 layers listed but config"), "{e}");

    let e = load_err(&tar_of(&[
        ("../evil", b"x"),
        ("manifest.json", good_manifest.as_bytes()),
    ]));
    assert!(e.contains("\"../evil\" escapes the archive"), "{e}");
    let e = load_err(&tar_of(&[("/etc/evil", b"x")]));
    assert!(e.contains("absolute path"), "{e}");

    let bad_tag = good_manifest.replace("t:1", "Bad:Tag");
    let e = load_err(&tar_of(&[
        (&cfg_name, &config),
        ("l/layer.tar", &l),
        ("manifest.json", bad_tag.as_bytes()),
    ]));
    assert!(e.contains("must be lowercase"), "{e}");

    // A symlink pointing out of the archive.
    let mut b = tar::Builder::new(Vec::new());
    symlink_entry(&mut b, "l/layer.tar", "../../etc/shadow");
    let e = load_err(&b.into_inner().expect("tar"));
    assert!(e.contains("escapes the archive"), "{e}");

    // Truncated in the middle of the layer's data, and in the middle of a header.
    let big = tar_of(&[
        (&cfg_name, &config),
        ("manifest.json", good_manifest.as_bytes()),
        ("l/layer.tar", &l),
    ]);
    let cut = big.len() - 1024 - 700;
    let e = load_err(&big[..cut]);
    assert!(e.contains("truncated") || e.contains("reading tar"), "{e}");
    let e = load_err(&big[..512 + 512 + 100]);
    assert!(!e.is_empty());

    let e = load_err(
        b"this is not a tar file at all, just some text that is long enough to be a header? no",
    );
    assert!(e.contains("invalid archive"), "{e}");
}

#[test]
fn oci_blob_whose_name_lies_is_refused() {
    let l = layer("y");
    let config = config_for(&[Digest::of(&l)], "sh");
    let cd = Digest::of(&config);
    let manifest = ImageManifest::oci(
        Descriptor::new(MEDIA_TYPE_OCI_CONFIG, cd.clone(), config.len() as u64),
        vec![Descriptor::new(
            MEDIA_TYPE_OCI_LAYER,
            Digest::of(&l),
            l.len() as u64,
        )],
    )
    .to_bytes();
    let md = Digest::of(&manifest);
    let index = ImageIndex::oci(vec![Descriptor::new(
        MEDIA_TYPE_OCI_MANIFEST,
        md.clone(),
        manifest.len() as u64,
    )])
    .to_bytes();
    let p = |d: &Digest| format!("blobs/sha256/{}", d.hex());
    let tampered = layer("tampered");
    let tar = tar_of(&[
        ("oci-layout", OCI_LAYOUT_JSON),
        ("index.json", &index),
        (&p(&md), &manifest),
        (&p(&cd), &config),
        (&p(&Digest::of(&l)), &tampered),
    ]);
    let e = load_err(&tar);
    assert!(
        e.contains(&format!("{}: content hashes to", p(&Digest::of(&l)))),
        "{e}"
    );
}

#[test]
fn import_layer_stores_uncompressed_and_refuses_non_tar() {
    let (_d, content, images) = stores();
    let l = layer("rootfs");
    for input in [l.clone(), gzip(&l), zstd_of(&l)] {
        let (desc, diff_id) = import_layer(&input[..], &content).expect("import");
        assert_eq!(diff_id, Digest::of(&l));
        assert_eq!(desc.digest, diff_id);
        assert_eq!(desc.size, l.len() as u64);
        assert_eq!(desc.media_type, MEDIA_TYPE_OCI_LAYER);
    }
    let e = import_layer(&vec![b'x'; 2048][..], &content).expect_err("not a tar");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().contains("not a tar archive"), "{e}");

    // Import then commit on top, as the engine does.
    let (desc, diff_id) = import_layer(&l[..], &content).expect("import");
    let mut opts = NewImageConfig::new(Some(diff_id.clone()));
    opts.comment = Some("Imported from -".into());
    opts.config.cmd = Some(vec!["sh".into()]);
    let cfg = new_image_config(&opts);
    let base = images
        .create(&cfg, vec![desc.clone()], vec![diff_id.clone()])
        .expect("create");
    assert_eq!(base.config.os, "linux");
    assert_eq!(base.config.architecture, host_arch().0);
    assert_eq!(base.config.history.len(), 1);
    assert_eq!(
        base.config.history[0].comment.as_deref(),
        Some("Imported from -")
    );

    let (desc2, diff2) = import_layer(&layer("change")[..], &content).expect("layer 2");
    let mut commit = NewImageConfig::new(Some(diff2.clone()));
    commit.parent = Some(&base.config);
    commit.author = Some("me".into());
    commit.created_by = Some("/bin/sh -c touch x".into());
    let cfg2 = new_image_config(&commit);
    let child = images
        .create(&cfg2, vec![desc, desc2], vec![diff_id, diff2])
        .expect("commit image");
    assert_eq!(child.config.rootfs.diff_ids.len(), 2);
    assert_eq!(child.config.history.len(), 2);
    assert_eq!(child.config.author.as_deref(), Some("me"));
    assert!(child.config.created_time().is_some());
}

#[test]
fn decompressed_detects_formats() {
    let data = b"some layer bytes".to_vec();
    for input in [data.clone(), gzip(&data), zstd_of(&data), Vec::new()] {
        let mut out = Vec::new();
        decompressed(&input[..])
            .expect("open")
            .read_to_end(&mut out)
            .expect("read");
        let want: &[u8] = if input.is_empty() { b"" } else { &data };
        assert_eq!(out, want);
    }
}

/// skopeo (Debian's `skopeo` package) reads what the save functions write. Skipped, with a note,
/// when skopeo is not installed.
#[test]
fn skopeo_accepts_saved_archives() {
    if Command::new("skopeo").arg("--version").output().is_err() {
        eprintln!("note: skopeo not installed; skipping skopeo_accepts_saved_archives");
        return;
    }
    let (dir, content, images) = stores();
    let rec = compressed_image(&content, &images);
    let docker_path = dir.path().join("docker.tar");
    let oci_path = dir.path().join("oci.tar");
    let f = std::fs::File::create(&docker_path).expect("create");
    save_docker(&[(rec.clone(), rec.repo_tags.clone())], &content, f).expect("save docker");
    let f = std::fs::File::create(&oci_path).expect("create");
    save_oci(&[(rec.clone(), rec.repo_tags.clone())], &content, f).expect("save oci");
    for target in [
        format!("docker-archive:{}", docker_path.display()),
        format!("oci-archive:{}", oci_path.display()),
    ] {
        let out = Command::new("skopeo")
            .args(["inspect", "--raw", &target])
            .output()
            .expect("run skopeo");
        assert!(
            out.status.success(),
            "skopeo inspect {target}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = Command::new("skopeo")
            .args(["inspect", "--config", &target])
            .output()
            .expect("run skopeo");
        assert!(
            out.status.success(),
            "skopeo inspect --config {target}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("config json");
        assert_eq!(
            v["rootfs"]["diff_ids"].as_array().map(Vec::len),
            Some(2),
            "{target}"
        );
        // Copy fully: skopeo checks every blob's digest on the way.
        let dest = dir
            .path()
            .join(format!("copy-{}", target.split(':').next().unwrap_or("x")));
        let out = Command::new("skopeo")
            .args([
                "copy",
                "--quiet",
                &target,
                &format!("dir:{}", dest.display()),
            ])
            .output()
            .expect("run skopeo copy");
        assert!(
            out.status.success(),
            "skopeo copy {target}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn loads_compressed_archive() {
    let (tar, d1, _) = legacy_archive();
    for input in [gzip(&tar), zstd_of(&tar)] {
        let (_d, content, _) = stores();
        let imgs = load(&input[..], &content).expect("load compressed archive");
        assert!(imgs.iter().any(|i| i.config_digest == d1));
    }
}

/// The test image path the engine uses: Debian's busybox-static turned into a rootfs by
/// scripts/busybox-rootfs.sh, imported, saved, and read back (and by skopeo when present).
#[test]
fn busybox_rootfs_import_save_load() {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/busybox-rootfs.sh");
    let (dir, content, images) = stores();
    let rootfs = dir.path().join("rootfs");
    let out = Command::new("sh").arg(&script).arg(&rootfs).output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            eprintln!(
                "note: busybox-rootfs.sh failed (busybox-static missing?); skipping: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            return;
        }
        Err(e) => {
            eprintln!("note: cannot run busybox-rootfs.sh ({e}); skipping");
            return;
        }
    }
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.append_dir_all(".", &rootfs).expect("tar rootfs");
    let rootfs_tar = gzip(&b.into_inner().expect("tar"));
    let (desc, diff_id) = import_layer(&rootfs_tar[..], &content).expect("import");
    let mut opts = NewImageConfig::new(Some(diff_id.clone()));
    opts.config.cmd = Some(vec!["sh".into()]);
    let rec = images
        .create(&new_image_config(&opts), vec![desc], vec![diff_id])
        .expect("create");
    images
        .tag(&rec.id, &Reference::parse("busybox").expect("ref"))
        .expect("tag");
    let rec = images.resolve("busybox:latest").expect("resolve");

    let path = dir.path().join("busybox.tar");
    let f = std::fs::File::create(&path).expect("create");
    save_docker(&[(rec.clone(), vec!["busybox".into()])], &content, f).expect("save");
    let (_d2, content2, images2) = stores();
    let loaded = load(std::fs::File::open(&path).expect("open"), &content2).expect("load");
    let recs = record(&images2, &loaded);
    assert_eq!(recs[0].id, rec.id);
    assert_eq!(recs[0].repo_tags, vec!["docker.io/library/busybox:latest"]);

    if Command::new("skopeo").arg("--version").output().is_ok() {
        let target = format!("docker-archive:{}", path.display());
        let out = Command::new("skopeo")
            .args(["inspect", &target])
            .output()
            .expect("skopeo");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(v["Os"], "linux");
        assert_eq!(v["Layers"].as_array().map(Vec::len), Some(1));
    }
}
