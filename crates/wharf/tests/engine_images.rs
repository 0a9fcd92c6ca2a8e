//! Images through the real docker CLI against `wharf daemon`: save/rmi/load round trip,
//! malformed archives refused without losing what is stored, escaping layers refused, and the
//! saved archive validated by skopeo. Needs root; skips with a message when the docker CLI is
//! missing (and the skopeo part when skopeo is).

mod engine_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use engine_support::{Daemon, ok, output_within, stderr, stdout};

/// `docker images` as sorted `repo:tag id` lines.
fn images(d: &Daemon) -> Vec<String> {
    let mut v: Vec<String> = d
        .docker_ok(&[
            "images",
            "-a",
            "--format",
            "{{.Repository}}:{{.Tag}} {{.ID}}",
        ])
        .lines()
        .map(String::from)
        .collect();
    v.sort();
    v
}

/// Makes a tar at `path` with python's tarfile from `spec`: lines `file NAME CONTENT`,
/// `dir NAME`, `symlink NAME TARGET`, `hardlink NAME TARGET`.
fn make_tar(path: &Path, spec: &str) {
    let script = r#"
import sys, tarfile, io
out, spec = sys.argv[1], sys.argv[2]
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    for line in spec.strip().splitlines():
        kind, name, *rest = line.split(" ", 2)
        ti = tarfile.TarInfo(name)
        ti.mode = 0o755
        if kind == "file":
            data = rest[0].encode() if rest else b""
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        elif kind == "dir":
            ti.type = tarfile.DIRTYPE
            t.addfile(ti)
        elif kind == "symlink":
            ti.type = tarfile.SYMTYPE
            ti.linkname = rest[0]
            t.addfile(ti)
        elif kind == "hardlink":
            ti.type = tarfile.LNKTYPE
            ti.linkname = rest[0]
            t.addfile(ti)
"#;
    let out = output_within(
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(path)
            .arg(spec),
        None,
        Duration::from_secs(30),
    );
    ok("making a tar with python", &out);
}

/// Every path under `dir` whose file name is `name`.
fn find_named(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_name().to_string_lossy() == name {
                found.push(p.clone());
            }
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(p);
            }
        }
    }
    found
}

#[test]
fn save_rmi_load_round_trip() {
    let d = daemon_or_skip!("save_load");
    let id = d.inspect("busybox")["Id"]
        .as_str()
        .expect("image Id")
        .to_string();
    let tar = d.work.join("f.tar");
    let tar_s = tar.to_str().expect("utf-8").to_string();
    d.docker_ok(&["save", "busybox", "-o", &tar_s]);
    let list = stdout(&output_within(
        Command::new("tar").arg("-tf").arg(&tar),
        None,
        Duration::from_secs(30),
    ));
    assert!(
        list.lines().any(|l| l == "manifest.json"),
        "archive: {list}"
    );

    let out = d.docker_ok(&["rmi", "busybox"]);
    assert!(out.contains("Untagged: busybox:latest"), "rmi: {out}");
    assert!(out.contains(&format!("Deleted: {id}")), "rmi: {out}");
    assert!(images(&d).is_empty(), "images after rmi: {:?}", images(&d));

    let out = d.docker_ok(&["load", "-i", &tar_s]);
    assert!(out.contains("Loaded image: busybox:latest"), "load: {out}");
    assert_eq!(
        d.inspect("busybox")["Id"],
        id.as_str(),
        "same image id after the round trip"
    );
    assert_eq!(
        d.docker_ok(&["run", "--rm", "busybox", "echo", "back"]),
        "back\n"
    );

    // Loading the same archive again is harmless; loading from stdin works too.
    let bytes = std::fs::read(&tar).expect("read archive");
    let out = d.docker_in(&["load"], &bytes);
    assert!(out.status.success(), "load from stdin: {}", stderr(&out));
    assert_eq!(images(&d).len(), 1, "{:?}", images(&d));

    // `save` of several names and an unknown one.
    d.docker_ok(&["tag", "busybox", "second:2"]);
    let two = d.work.join("two.tar");
    d.docker_ok(&[
        "save",
        "-o",
        two.to_str().expect("utf-8"),
        "busybox",
        "second:2",
    ]);
    d.docker_ok(&["rmi", "second:2"]);
    let out = d.docker_ok(&["load", "-i", two.to_str().expect("utf-8")]);
    assert!(out.contains("Loaded image: second:2"), "load: {out}");
    let none = d.work.join("none.tar");
    let out = d.docker(&["save", "-o", none.to_str().expect("utf-8"), "nosuchimage"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("nosuchimage"), "{}", stderr(&out));
}

#[test]
fn saved_archive_is_valid_for_skopeo() {
    let d = daemon_or_skip!("skopeo");
    if !Path::new("/usr/bin/skopeo").exists() {
        eprintln!("SKIP skopeo: /usr/bin/skopeo is not installed (apt-get install -y skopeo)");
        return;
    }
    let tar = d.work.join("f.tar");
    let tar_s = tar.to_str().expect("utf-8").to_string();
    d.docker_ok(&["save", "busybox", "-o", &tar_s]);
    let id = d.inspect("busybox")["Id"].as_str().expect("Id").to_string();
    let out = output_within(
        Command::new("skopeo").args(["inspect", "--config", &format!("docker-archive:{tar_s}")]),
        None,
        Duration::from_secs(60),
    );
    let config: serde_json::Value =
        serde_json::from_str(&ok("skopeo inspect --config docker-archive:", &out)).expect("json");
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["/bin/sh"]),
        "{config}"
    );
    let out = output_within(
        Command::new("skopeo").args(["inspect", &format!("docker-archive:{tar_s}")]),
        None,
        Duration::from_secs(60),
    );
    let v: serde_json::Value =
        serde_json::from_str(&ok("skopeo inspect docker-archive:", &out)).expect("json");
    assert_eq!(v["Layers"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["Os"], "linux");

    // What docker 25+ writes is also an OCI layout.
    let list = stdout(&output_within(
        Command::new("tar").arg("-tf").arg(&tar),
        None,
        Duration::from_secs(30),
    ));
    if list.lines().any(|l| l == "oci-layout") {
        let out = output_within(
            Command::new("skopeo").args(["inspect", &format!("oci-archive:{tar_s}")]),
            None,
            Duration::from_secs(60),
        );
        ok("skopeo inspect oci-archive:", &out);
    }

    // An archive written by skopeo (another producer) loads into wharf.
    let other = d.work.join("other.tar");
    let out = output_within(
        Command::new("skopeo").args([
            "copy",
            &format!("docker-archive:{tar_s}"),
            &format!("docker-archive:{}:fromskopeo:1", other.display()),
        ]),
        None,
        Duration::from_secs(60),
    );
    ok("skopeo copy", &out);
    let out = d.docker_ok(&["load", "-i", other.to_str().expect("utf-8")]);
    assert!(
        out.contains("fromskopeo:1"),
        "load of skopeo's archive: {out}"
    );
    assert_eq!(d.inspect("fromskopeo:1")["Id"], id.as_str());
    assert_eq!(
        d.docker_ok(&["run", "--rm", "fromskopeo:1", "echo", "ok"]),
        "ok\n"
    );
}

#[test]
fn malformed_archives_are_refused_and_nothing_is_lost() {
    let d = daemon_or_skip!("bad_load");
    let before = images(&d);
    assert_eq!(before.len(), 1, "{before:?}");

    // Random bytes.
    let junk = d.work.join("junk.tar");
    let bytes: Vec<u8> = (0u32..40_000)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&junk, &bytes).expect("write junk");
    let out = d.docker(&["load", "-i", junk.to_str().expect("utf-8")]);
    assert!(
        !out.status.success(),
        "load of random bytes: {}",
        stdout(&out)
    );
    assert!(
        !stderr(&out).trim().is_empty(),
        "no message for random bytes"
    );

    // An empty archive.
    let empty = d.work.join("empty.tar");
    make_tar(&empty, "dir emptydir");
    let out = d.docker(&["load", "-i", empty.to_str().expect("utf-8")]);
    assert!(!out.status.success(), "load of a tar without manifest.json");
    assert!(!stderr(&out).trim().is_empty());

    // A manifest pointing at a layer that is not in the archive.
    let tar = d.work.join("f.tar");
    let tar_s = tar.to_str().expect("utf-8").to_string();
    d.docker_ok(&["save", "busybox", "-o", &tar_s]);
    let unpacked = d.work.join("unpacked");
    std::fs::create_dir_all(&unpacked).expect("mkdir");
    ok(
        "tar -x",
        &output_within(
            Command::new("tar")
                .arg("-C")
                .arg(&unpacked)
                .arg("-xf")
                .arg(&tar),
            None,
            Duration::from_secs(30),
        ),
    );
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(unpacked.join("manifest.json")).expect("manifest.json"),
    )
    .expect("manifest json");
    let config = manifest[0]["Config"].as_str().expect("Config").to_string();
    let missing = "blobs/sha256/0000000000000000000000000000000000000000000000000000000000000000";
    let broken = serde_json::json!([{
        "Config": config,
        "RepoTags": ["broken:1"],
        "Layers": [missing],
    }]);
    let dir2 = d.work.join("broken");
    std::fs::create_dir_all(dir2.join("blobs/sha256")).expect("mkdir");
    std::fs::write(dir2.join("manifest.json"), broken.to_string()).expect("write manifest");
    std::fs::copy(unpacked.join(&config), dir2.join(&config)).expect("copy config");
    let broken_tar = d.work.join("broken.tar");
    ok(
        "tar -c",
        &output_within(
            Command::new("tar")
                .arg("-C")
                .arg(&dir2)
                .arg("-cf")
                .arg(&broken_tar)
                .args(["manifest.json", "blobs"]),
            None,
            Duration::from_secs(30),
        ),
    );
    let out = d.docker(&["load", "-i", broken_tar.to_str().expect("utf-8")]);
    assert!(
        !out.status.success(),
        "load with a missing layer: {}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("0000000000000000"),
        "the message names the missing layer: {}",
        stderr(&out)
    );

    // A truncated archive.
    let all = std::fs::read(&tar).expect("read archive");
    let cut = d.work.join("cut.tar");
    std::fs::write(&cut, &all[..all.len() / 2]).expect("write cut");
    let out = d.docker(&["load", "-i", cut.to_str().expect("utf-8")]);
    assert!(!out.status.success(), "load of a truncated archive");
    assert!(!stderr(&out).trim().is_empty());

    // A layer whose content does not match the digest the manifest names.
    let layer = manifest[0]["Layers"][0]
        .as_str()
        .expect("Layers[0]")
        .to_string();
    let mut bytes = std::fs::read(unpacked.join(&layer)).expect("layer");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(unpacked.join(&layer), &bytes).expect("corrupt layer");
    let corrupt = d.work.join("corrupt.tar");
    ok(
        "tar -c",
        &output_within(
            Command::new("tar")
                .arg("-C")
                .arg(&unpacked)
                .arg("-cf")
                .arg(&corrupt)
                .arg("."),
            None,
            Duration::from_secs(30),
        ),
    );
    let out = d.docker(&["load", "-i", corrupt.to_str().expect("utf-8")]);
    if out.status.success() {
        // Accepting it is only right if nothing changed: the stored image was already there.
        assert_eq!(images(&d), before, "a corrupt layer changed the store");
    }

    assert_eq!(images(&d), before, "the store changed after failed loads");
    assert_eq!(
        d.docker_ok(&["run", "--rm", "busybox", "echo", "intact"]),
        "intact\n"
    );
}

#[test]
fn escaping_layers_are_refused_by_import() {
    let d = daemon_or_skip!("escape");
    let before = images(&d);
    let marker = format!("we-escape-{}", std::process::id());
    let cases = [
        (
            "dotdot",
            format!("dir a\nfile ../../../../../../../../tmp/{marker} x\n"),
        ),
        ("dotdot-inner", format!("dir a\nfile a/../../{marker} x\n")),
        (
            "symlink-out",
            format!("symlink evil ../../../../../../../../tmp\nfile evil/{marker} x\n"),
        ),
        (
            "hardlink-out",
            format!("hardlink h ../../../../../../../../etc/hostname\nfile {marker} x\n"),
        ),
    ];
    for (name, spec) in &cases {
        let tar = d.work.join(format!("{name}.tar"));
        make_tar(&tar, spec);
        let out = d.docker(&[
            "import",
            tar.to_str().expect("utf-8"),
            &format!("esc:{name}"),
        ]);
        assert!(
            !out.status.success(),
            "import of {name} was accepted: {}",
            stdout(&out)
        );
        assert!(
            !stderr(&out).trim().is_empty(),
            "import of {name} failed without a message"
        );
        assert_eq!(images(&d), before, "import of {name} left an image");
    }
    for place in [Path::new("/tmp"), Path::new("/")] {
        assert!(
            !place.join(&marker).exists(),
            "{marker} was written into {}",
            place.display()
        );
    }
    let found = find_named(&d.base, &marker);
    assert!(found.is_empty(), "escaping layers left files: {found:?}");
    let _ = std::fs::remove_file(Path::new("/tmp").join(&marker));
    assert_eq!(
        d.docker_ok(&["run", "--rm", "busybox", "echo", "intact"]),
        "intact\n"
    );
}

/// The sha256 of every blob under the daemon's content store that does not match its name.
fn corrupt_blobs(d: &Daemon) -> Vec<String> {
    let dir = d.data_root.join("content/blobs/sha256");
    let mut bad = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return bad;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let out = output_within(
            Command::new("sha256sum").arg(e.path()),
            None,
            Duration::from_secs(120),
        );
        let sum = stdout(&out);
        if sum.split_whitespace().next() != Some(name.as_str()) {
            bad.push(format!("{name}: {sum}"));
        }
    }
    bad
}

#[test]
fn sigkill_during_load_leaves_no_partial_image() {
    let mut d = daemon_or_skip!("kill_load");
    // A large image: busybox plus 48 MiB of incompressible data, saved, then removed.
    let root = d.work.join("bigroot");
    std::fs::create_dir_all(&root).expect("mkdir");
    let mut data = vec![0u8; 48 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id());
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(root.join("big.bin"), &data).expect("write big.bin");
    drop(data);
    let layer = d.work.join("big-layer.tar");
    std::fs::copy(d.busybox_tar(), &layer).expect("copy busybox.tar");
    ok(
        "tar big layer",
        &output_within(
            Command::new("tar")
                .arg("-C")
                .arg(&root)
                .arg("-rf")
                .arg(&layer)
                .arg("./big.bin"),
            None,
            Duration::from_secs(60),
        ),
    );
    std::fs::remove_dir_all(&root).expect("rm bigroot");
    d.docker_ok(&["import", layer.to_str().expect("utf-8"), "big:1"]);
    std::fs::remove_file(&layer).expect("rm layer");
    let archive = d.work.join("big.tar");
    d.docker_ok(&["save", "-o", archive.to_str().expect("utf-8"), "big:1"]);
    d.docker_ok(&["rmi", "big:1"]);
    let before = images(&d);
    assert_eq!(before.len(), 1, "{before:?}");
    assert!(corrupt_blobs(&d).is_empty());

    // Feed most of the archive to `docker load` on stdin, then SIGKILL the daemon.
    let bytes = std::fs::read(&archive).expect("read archive");
    let mut load = d
        .docker_cmd()
        .arg("load")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn docker load");
    let mut stdin = load.stdin.take().expect("piped stdin");
    let part = bytes.len() * 3 / 4;
    std::io::Write::write_all(&mut stdin, &bytes[..part]).expect("feed docker load");
    d.kill9();
    drop(stdin);
    let _ = load.kill();
    let _ = load.wait();

    d.restart();
    assert_eq!(
        images(&d),
        before,
        "a partial image is listed after the restart"
    );
    let bad = corrupt_blobs(&d);
    assert!(bad.is_empty(), "blobs that do not verify: {bad:?}");
    // The store still works: the full archive loads and runs.
    let out = d.docker_ok(&["load", "-i", archive.to_str().expect("utf-8")]);
    assert!(out.contains("Loaded image: big:1"), "{out}");
    assert!(corrupt_blobs(&d).is_empty());
    let out = d.docker_ok(&["run", "--rm", "big:1", "sh", "-c", "wc -c < /big.bin"]);
    assert_eq!(out.trim(), (48u64 << 20).to_string());
}
