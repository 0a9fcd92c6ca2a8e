//! Support for tests that run real containers through `wharf oci`. They need root.
//!
//! Each [`Env`] has its own temporary state root, a busybox rootfs of its own, and a unique
//! name prefix for its containers (so cgroups `/wharf/<prefix>-…` never collide between tests
//! running in parallel). Dropping it force-deletes every container it created, kills any
//! process still in their cgroups (by PID), removes leftover cgroup directories, lazily
//! unmounts anything still mounted under its temporary directory and removes the directory —
//! also when the test failed.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

pub const WHARF: &str = env!("CARGO_BIN_EXE_wharf");

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The v1 controllers and the v2 mount where a container's cgroup may appear.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(entries) = fs::read_dir("/sys/fs/cgroup") {
        for e in entries.flatten() {
            dirs.push(e.path().join("wharf").join(id));
        }
    }
    dirs.push(PathBuf::from("/sys/fs/cgroup/wharf").join(id));
    dirs
}

pub fn existing_cgroup_dirs(id: &str) -> Vec<PathBuf> {
    cgroup_dirs(id).into_iter().filter(|d| d.exists()).collect()
}

/// Lines of /proc/self/mountinfo that mention `needle`.
pub fn mounts_mentioning(needle: &str) -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(String::from)
        .collect()
}

#[derive(Debug)]
pub struct Env {
    pub dir: tempfile::TempDir,
    pub prefix: String,
    created: std::sync::Mutex<Vec<String>>,
}

impl Env {
    pub fn new(tag: &str) -> Env {
        assert!(
            nix::unistd::geteuid().is_root(),
            "these tests run containers and need root"
        );
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("wt{}-{tag}-{n}", std::process::id());
        let dir = tempfile::Builder::new()
            .prefix("wharf-test-")
            .tempdir()
            .expect("tempdir");
        Env {
            dir,
            prefix,
            created: std::sync::Mutex::new(Vec::new()),
        }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A unique container id; remembered for cleanup.
    pub fn id(&self, name: &str) -> String {
        let id = format!("{}-{name}", self.prefix);
        self.created.lock().expect("lock").push(id.clone());
        id
    }

    /// Makes a bundle `name` with a fresh busybox rootfs and the spec of `profile` (`runc` or
    /// `docker`), then lets `edit` change the JSON. The process has no terminal.
    pub fn bundle(
        &self,
        name: &str,
        profile: &str,
        edit: impl FnOnce(&mut serde_json::Value),
    ) -> PathBuf {
        let b = self.dir.path().join(name);
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/busybox-rootfs.sh"
        );
        let out = Command::new("sh")
            .arg(script)
            .arg(b.join("rootfs"))
            .output()
            .expect("run busybox-rootfs.sh");
        assert!(
            out.status.success(),
            "busybox-rootfs.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = Command::new(WHARF)
            .args(["oci", "spec", "--profile", profile, "--bundle"])
            .arg(&b)
            .output()
            .expect("wharf oci spec");
        assert!(
            out.status.success(),
            "spec: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = b.join("config.json");
        let mut v: serde_json::Value =
            serde_json::from_slice(&fs::read(&path).expect("read config")).expect("parse config");
        v["process"]["terminal"] = false.into();
        edit(&mut v);
        fs::write(&path, serde_json::to_vec_pretty(&v).expect("json")).expect("write config");
        b
    }

    /// `wharf oci --root <root> ARGS`, capturing output. Output goes through files, not pipes:
    /// a created container's process inherits the caller's stdio (as with runc) and would hold
    /// a pipe open long after `create` returned.
    pub fn oci(&self, args: &[&str]) -> Output {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let out_path = self.dir.path().join(format!(".out-{n}"));
        let err_path = self.dir.path().join(format!(".err-{n}"));
        let status = self
            .oci_cmd(args)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out_path).expect("stdout file"))
            .stderr(fs::File::create(&err_path).expect("stderr file"))
            .status()
            .expect("run wharf oci");
        let out = Output {
            status,
            stdout: fs::read(&out_path).unwrap_or_default(),
            stderr: fs::read(&err_path).unwrap_or_default(),
        };
        let _ = fs::remove_file(out_path);
        let _ = fs::remove_file(err_path);
        out
    }

    pub fn oci_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(WHARF);
        c.arg("oci").arg("--root").arg(self.root()).args(args);
        c
    }

    /// `wharf oci run` of a bundle whose process is `args`, returning (exit code, stdout, stderr).
    pub fn run(&self, name: &str, profile: &str, args: &[&str]) -> (i32, String, String) {
        self.run_with(name, profile, args, |_| {})
    }

    pub fn run_with(
        &self,
        name: &str,
        profile: &str,
        args: &[&str],
        edit: impl FnOnce(&mut serde_json::Value),
    ) -> (i32, String, String) {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let b = self.bundle(name, profile, |v| {
            v["process"]["args"] = serde_json::json!(args);
            edit(v)
        });
        let id = self.id(name);
        let out = self.oci(&["run", "--bundle", b.to_str().expect("utf8"), &id]);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Makes bundle `name` of `profile` edited by `edit` and starts it detached (`run -d`);
    /// returns the container id.
    pub fn run_detached(
        &self,
        name: &str,
        profile: &str,
        edit: impl FnOnce(&mut serde_json::Value),
    ) -> String {
        let b = self.bundle(name, profile, edit);
        let id = self.id(name);
        let out = self.oci(&["run", "-d", "--bundle", b.to_str().expect("utf8"), &id]);
        assert!(
            out.status.success(),
            "run -d {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        id
    }

    /// How many processes the container's cgroup holds (`ps --format json`).
    pub fn process_count(&self, id: &str) -> usize {
        let out = self.oci(&["ps", "--format", "json", id]);
        serde_json::from_slice::<Vec<i32>>(&out.stdout)
            .map(|p| p.len())
            .unwrap_or(0)
    }

    /// Polls until `cond` holds (10 s at most), failing with `what`.
    pub fn wait_until(&self, what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !cond() {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting: {what}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Polls `state` until the container reports `want` (10 s at most); returns that state.
    pub fn wait_status(&self, id: &str, want: &str) -> serde_json::Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let out = self.oci(&["state", id]);
            if out.status.success() {
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
                if v["status"] == want {
                    return v;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{id} never became {want}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn state(&self, id: &str) -> serde_json::Value {
        let out = self.oci(&["state", id]);
        assert!(
            out.status.success(),
            "state {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("state json")
    }

    /// Asserts nothing of container `id` is left: state, effective config, cgroups, mounts.
    pub fn assert_gone(&self, id: &str) {
        let state = self.root().join(id);
        assert!(!state.exists(), "state dir {} left behind", state.display());
        let eff = self.root().join(".bundles").join(id);
        assert!(
            !eff.exists(),
            "effective config {} left behind",
            eff.display()
        );
        let cg = existing_cgroup_dirs(id);
        assert!(cg.is_empty(), "cgroups left behind: {cg:?}");
        let m = mounts_mentioning(id);
        assert!(m.is_empty(), "mounts left behind: {m:?}");
        let m = mounts_mentioning(&self.dir.path().to_string_lossy());
        assert!(m.is_empty(), "mounts left behind: {m:?}");
    }
}

/// Listens on a unix socket at `path` and, in a thread, takes the one file descriptor a
/// runtime sends there (a console socket's pty master, a pidfd).
pub fn fd_receiver(path: &Path) -> std::thread::JoinHandle<std::os::fd::OwnedFd> {
    use std::os::fd::AsRawFd;
    let listener = std::os::unix::net::UnixListener::bind(path).expect("bind");
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        receive_fd(stream.as_raw_fd())
    })
}

fn receive_fd(sock: std::os::fd::RawFd) -> std::os::fd::OwnedFd {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::FromRawFd;
    let mut buf = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut cmsg), MsgFlags::empty()).expect("recvmsg");
    for c in msg.cmsgs().expect("cmsgs") {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the kernel installed this descriptor for us just now.
            return unsafe { std::os::fd::OwnedFd::from_raw_fd(fds[0]) };
        }
    }
    panic!("no fd received")
}

impl Drop for Env {
    fn drop(&mut self) {
        let ids = self.created.lock().map(|v| v.clone()).unwrap_or_default();
        for id in &ids {
            let _ = Command::new(WHARF)
                .arg("oci")
                .arg("--root")
                .arg(self.root())
                .args(["delete", "--force", id])
                .stderr(Stdio::null())
                .status();
            // Anything still in the container's cgroups is ours: kill it by PID.
            for dir in existing_cgroup_dirs(id) {
                if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
                    for pid in procs.lines().filter_map(|p| p.parse::<i32>().ok()) {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                }
            }
            for dir in existing_cgroup_dirs(id) {
                for _ in 0..50 {
                    if fs::remove_dir(&dir).is_ok() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
        }
        let base = self.dir.path().to_string_lossy().into_owned();
        let mut points: Vec<String> = mounts_mentioning(&base)
            .iter()
            .filter_map(|l| l.split_whitespace().nth(4).map(String::from))
            .filter(|p| p.starts_with(&base))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            let _ = nix::mount::umount2(Path::new(&p), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}
