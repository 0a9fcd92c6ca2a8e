//! The daemon killed mid-write, and images moving between Wharf and a real Docker.
//!
//! - `docker load` of a large image with the daemon SIGKILLed part-way: after a restart no
//!   partial image is listed, what was stored before is intact, and `wharf system check`
//!   verifies every blob.
//! - `docker save` from Debian's dockerd loads into Wharf and runs; Wharf's `save` loads into
//!   dockerd and runs there; skopeo reads Wharf's archive as `docker-archive:` and
//!   `oci-archive:`. Skipped (with a message) when dockerd or skopeo is not installed.

mod engine_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use engine_support::{COMMAND_LIMIT, DOCKER, Daemon, WHARF, ok, output_within, stdout};

/// A directory tree with busybox and one large incompressible file, as a tar.
fn big_rootfs_tar(d: &Daemon, mb: usize) -> PathBuf {
    let root = d.work.join("big-rootfs");
    let out = output_within(
        Command::new("sh")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../scripts/busybox-rootfs.sh"
            ))
            .arg(&root),
        None,
        COMMAND_LIMIT,
    );
    ok("busybox-rootfs.sh", &out);
    let out = output_within(
        Command::new("dd")
            .arg("if=/dev/urandom")
            .arg(format!("of={}", root.join("big.bin").display()))
            .arg("bs=1M")
            .arg(format!("count={mb}")),
        None,
        COMMAND_LIMIT,
    );
    ok("dd", &out);
    let tar = d.work.join("big.tar");
    let out = output_within(
        Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
        None,
        COMMAND_LIMIT,
    );
    ok("tar", &out);
    let _ = fs::remove_dir_all(&root);
    tar
}

fn files_under(dir: &Path) -> Vec<(PathBuf, u64)> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok().map(|m| (e.path(), m.len())))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn sigkill_during_load_leaves_no_partial_image_and_every_blob_verifies() {
    let Some(mut d) = Daemon::start("crashload") else {
        return;
    };
    // A large image, saved, then removed so that loading it writes everything again.
    let rootfs = big_rootfs_tar(&d, 300);
    d.docker_ok(&["import", rootfs.to_str().expect("utf-8"), "big:1"]);
    let archive = d.work.join("big-image.tar");
    d.docker_ok(&["save", "-o", archive.to_str().expect("utf-8"), "big:1"]);
    d.docker_ok(&["rmi", "big:1"]);
    fs::remove_file(&rootfs).expect("remove rootfs tar");
    let before = stdout(&d.docker(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]));
    assert!(!before.contains("big:1"), "the image was removed: {before}");

    // Load it, and SIGKILL the daemon while the blobs are being written.
    let mut load: Child = d
        .docker_cmd()
        .args(["load", "-i", archive.to_str().expect("utf-8")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn docker load");
    let ingest = d.data_root.join("content").join("ingest");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if files_under(&ingest).iter().any(|(_, len)| *len > 1 << 20) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the load never started writing a blob\n{}",
            d.log()
        );
        assert!(
            load.try_wait().expect("poll docker load").is_none(),
            "the load finished before it could be interrupted; make the image larger"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    d.kill9();
    let _ = load.kill();
    let _ = load.wait();

    // Offline, before the daemon cleans up: the interrupted write is only an ingest file.
    let check = output_within(
        Command::new(WHARF)
            .args(["system", "check", "--json", "--data-root"])
            .arg(&d.data_root),
        None,
        COMMAND_LIMIT,
    );
    let report: serde_json::Value =
        serde_json::from_slice(&check.stdout).expect("system check prints JSON");
    assert!(check.status.success(), "system check failed: {report:#}");
    assert_eq!(report["problems"], serde_json::json!([]), "{report:#}");

    d.restart();
    let after = stdout(&d.docker(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]));
    assert!(!after.contains("big"), "a partial image is listed: {after}");
    assert_eq!(
        before, after,
        "what was stored before the load is listed as it was"
    );
    assert!(
        files_under(&ingest).is_empty(),
        "the daemon removes interrupted writes at start"
    );
    let out = d.docker_ok(&["run", "--rm", "busybox", "echo", "intact"]);
    assert_eq!(out.trim(), "intact");
    // Every blob still verifies, and a new load of the same archive completes.
    let check = output_within(
        Command::new(WHARF)
            .args(["system", "check", "--data-root"])
            .arg(&d.data_root),
        None,
        COMMAND_LIMIT,
    );
    assert!(check.status.success(), "{}", stdout(&check));
    d.docker_ok(&["load", "-i", archive.to_str().expect("utf-8")]);
    let out = d.docker_ok(&["run", "--rm", "big:1", "sh", "-c", "wc -c < /big.bin"]);
    assert_eq!(out.trim(), (300u64 << 20).to_string());
}

/// Debian's dockerd on its own roots and socket, touching nothing of the host's network.
struct Dockerd {
    base: PathBuf,
    child: Child,
    config: PathBuf,
}

impl Dockerd {
    fn start(base: &Path) -> Option<Dockerd> {
        let exe = ["/usr/sbin/dockerd", "/usr/bin/dockerd"]
            .into_iter()
            .find(|p| Path::new(p).exists());
        let Some(exe) = exe else {
            eprintln!("SKIP: dockerd (Debian's docker.io) is not installed");
            return None;
        };
        fs::create_dir_all(base).expect("dockerd base");
        let config = base.join("docker-config");
        fs::create_dir_all(&config).expect("docker config");
        let log = fs::File::create(base.join("dockerd.log")).expect("dockerd log");
        let ns = format!("wt{}", std::process::id());
        let child = Command::new(exe)
            .arg("--data-root")
            .arg(base.join("data"))
            .arg("--exec-root")
            .arg(base.join("exec"))
            .arg("-H")
            .arg(format!("unix://{}", base.join("d.sock").display()))
            .arg("--pidfile")
            .arg(base.join("d.pid"))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--userland-proxy=false",
                "--containerd-namespace",
                &ns,
                "--containerd-plugins-namespace",
                &format!("{ns}p"),
            ])
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .spawn()
            .expect("spawn dockerd");
        let d = Dockerd {
            base: base.to_path_buf(),
            child,
            config,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !d.docker(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "dockerd did not start: {}",
                fs::read_to_string(base.join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(d)
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        output_within(
            Command::new(DOCKER)
                .env(
                    "DOCKER_HOST",
                    format!("unix://{}", self.base.join("d.sock").display()),
                )
                .env("DOCKER_CONFIG", &self.config)
                .args(args),
            None,
            COMMAND_LIMIT,
        )
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if let Ok(ids) = String::from_utf8(self.docker(&["ps", "-aq"]).stdout) {
            for id in ids.split_whitespace() {
                let _ = self.docker(&["rm", "-f", id]);
            }
        }
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for m in engine_support::mounts_under(&self.base) {
            let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = fs::remove_dir_all(&self.base);
    }
}

#[test]
fn images_move_between_wharf_and_a_real_docker() {
    let Some(d) = Daemon::start("interop") else {
        return;
    };
    let Some(real) = Dockerd::start(&d.base.join("dockerd")) else {
        return;
    };
    let tar = d.busybox_tar();
    let out = real.docker(&[
        "import",
        "-c",
        "CMD [\"/bin/sh\"]",
        tar.to_str().expect("utf-8"),
        "fromdocker:1",
    ]);
    ok("import into dockerd", &out);

    // Docker → Wharf.
    let from_docker = d.work.join("from-docker.tar");
    ok(
        "docker save (dockerd)",
        &real.docker(&[
            "save",
            "-o",
            from_docker.to_str().expect("utf-8"),
            "fromdocker:1",
        ]),
    );
    let out = d.docker_ok(&["load", "-i", from_docker.to_str().expect("utf-8")]);
    assert!(out.contains("Loaded image: fromdocker:1"), "{out}");
    assert_eq!(
        d.docker_ok(&["run", "--rm", "fromdocker:1", "echo", "docker-to-wharf"])
            .trim(),
        "docker-to-wharf"
    );
    // The same image id on both sides: the config bytes were kept as they were.
    let id_real = stdout(&real.docker(&["image", "inspect", "-f", "{{.Id}}", "fromdocker:1"]));
    let id_wharf = d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", "fromdocker:1"]);
    assert_eq!(id_real.trim(), id_wharf.trim());

    // Wharf → Docker.
    let from_wharf = d.work.join("from-wharf.tar");
    d.docker_ok(&["save", "-o", from_wharf.to_str().expect("utf-8"), "busybox"]);
    let out = real.docker(&["load", "-i", from_wharf.to_str().expect("utf-8")]);
    ok("docker load (dockerd) of wharf's save", &out);
    let out = real.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "echo",
        "wharf-to-docker",
    ]);
    assert_eq!(ok("run in dockerd", &out).trim(), "wharf-to-docker");

    // skopeo reads Wharf's archive in both of its forms.
    if Path::new("/usr/bin/skopeo").exists() {
        for transport in ["docker-archive", "oci-archive"] {
            let out = output_within(
                Command::new("skopeo")
                    .arg("inspect")
                    .arg(format!("{transport}:{}", from_wharf.display())),
                None,
                COMMAND_LIMIT,
            );
            let text = ok(&format!("skopeo inspect {transport}:"), &out);
            let v: serde_json::Value = serde_json::from_str(&text).expect("skopeo prints JSON");
            assert_eq!(v["Layers"].as_array().map(Vec::len), Some(1), "{text}");
        }
    } else {
        eprintln!("skopeo not installed: its check is skipped");
    }
}
