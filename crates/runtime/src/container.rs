//! The container lifecycle over youki's libcontainer: create → start → (exec, pause, resume,
//! update, kill) → delete, with runc's state layout under one state root.
//!
//! Creating forks (libcontainer clones an intermediate and an init process), so these calls
//! belong in a short-lived, single-threaded process such as `wharf oci` or a per-container
//! supervisor — never inside an async daemon.
//!
//! Layout of a state root:
//! - `<root>/<id>/` — libcontainer's state (`state.json`, the notify socket, the saved config);
//! - `<root>/.bundles/<id>/` — the effective `config.json` (see [`crate::bundle`]) and
//!   `origin`, the path of the user's bundle.

use std::collections::HashMap;
use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use libcgroups::common::{
    CgroupConfig, CgroupManager, ControllerOpt, FreezerState, create_cgroup_manager,
};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container as LcContainer, ContainerStatus};
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::signal::Signal;
use oci_spec::runtime::LinuxResources;
use serde::Serialize;

use crate::bundle::Bundle;
use crate::error::{Error, Result, chain};
use crate::host;
use crate::id::ContainerId;

const BUNDLES: &str = ".bundles";
const ORIGIN: &str = "origin";

/// Standard streams handed to a container's process; `None` inherits the caller's.
#[derive(Debug, Default)]
pub struct Stdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// Options of [`Runtime::create`], named as runc names them.
#[derive(Debug, Default)]
pub struct CreateOptions {
    /// Where to write the init process's host pid.
    pub pid_file: Option<PathBuf>,
    /// A unix socket that receives the pty master when the spec asks for a terminal.
    pub console_socket: Option<PathBuf>,
    /// Use `MS_MOVE` + `chroot` instead of `pivot_root` (chosen automatically on a ramfs root).
    pub no_pivot: bool,
    /// Extra file descriptors (3, 4, …) passed to the process.
    pub preserve_fds: i32,
    pub stdio: Stdio,
    /// The `wharf` executable, which runs hooks so that they see the user's bundle
    /// ([`crate::hooks`]).
    pub hook_runner: Option<PathBuf>,
}

/// Options of [`Container::exec`]. Without `process`, the new process is the container's own
/// `process` from its config with these fields applied on top, as runc builds it: it inherits
/// umask, rlimits, scheduler, capabilities and environment unless told otherwise.
#[derive(Debug, Default)]
pub struct ExecOptions {
    /// The whole process (runc's `--process` file, parsed with
    /// [`crate::bundle::parse_process`]) instead of the fields below.
    pub process: Option<oci_spec::runtime::Process>,
    /// Give the process a terminal (its pty master goes to `console_socket`).
    pub tty: bool,
    pub args: Vec<String>,
    pub env: HashMap<String, String>,
    pub cwd: Option<PathBuf>,
    pub user: Option<u32>,
    pub group: Option<u32>,
    pub additional_gids: Vec<u32>,
    /// Capabilities added to those of the container's process (`CAP_…` names).
    pub capabilities: Vec<String>,
    pub no_new_privs: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: i32,
    pub stdio: Stdio,
    /// Exec into a paused container too (the new process joins the frozen cgroup).
    pub ignore_paused: bool,
}

/// A state root holding containers, like runc's `--root`.
#[derive(Debug, Clone)]
pub struct Runtime {
    root: PathBuf,
}

impl Runtime {
    /// Opens (creating it if needed) the state root.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        let root =
            std::path::absolute(root.into()).map_err(|e| Error::io("resolve", "state root", e))?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(root.join(BUNDLES))
            .map_err(|e| Error::io("create", &root, e))?;
        Ok(Runtime { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A directory of the state root for files that are not containers (effective configs,
    /// process files, console sockets): `list` does not look in it.
    pub fn private_dir(&self) -> PathBuf {
        self.root.join(BUNDLES)
    }

    fn builder(&self, id: &ContainerId) -> Result<ContainerBuilder> {
        ContainerBuilder::new(id.to_string(), SyscallType::Linux)
            .with_root_path(&self.root)
            .map_err(|e| Error::container("state root", e))
    }

    /// Creates a container from the bundle: namespaces, rootfs, mounts and cgroups are set up
    /// and the process waits for [`Container::start`]. On failure nothing is left behind: no
    /// state directory, cgroup or mount.
    pub fn create(
        &self,
        id: &ContainerId,
        bundle: &Path,
        opts: CreateOptions,
    ) -> Result<Container> {
        let _span = tracing::info_span!("create", container = %id).entered();
        let _warmup = host::CgroupAttachWarmup::start();
        if self.root.join(id.as_str()).exists() {
            return Err(Error::AlreadyExists { id: id.to_string() });
        }
        let bundle = Bundle::load(bundle, id.as_str(), opts.hook_runner.as_deref())?;
        check_pid_file(opts.pid_file.as_deref())?;
        if let Some(path) = bundle
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().clone())
        {
            check_cgroup_is_usable(&path)?;
        }
        // Creating the effective directory claims the id: of concurrent creates of one id,
        // exactly one gets past here. A directory without a container is a create under way or
        // one that crashed; `delete --force` clears the latter.
        let effective = self.root.join(BUNDLES).join(id.as_str());
        match fs::create_dir(&effective) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::AlreadyExists { id: id.to_string() });
            }
            Err(e) => return Err(Error::io("create", &effective, e)),
        }
        let write_effective = || -> std::io::Result<()> {
            let json = serde_json::to_vec_pretty(&bundle.spec).map_err(std::io::Error::other)?;
            fs::write(effective.join("config.json"), json)?;
            fs::write(
                effective.join(ORIGIN),
                bundle.dir.as_os_str().as_encoded_bytes(),
            )
        };
        if let Err(e) = write_effective() {
            let _ = fs::remove_dir_all(&effective);
            return Err(Error::io("write effective config", &effective, e));
        }

        let mut builder = self
            .builder(id)?
            .with_pid_file(opts.pid_file.as_ref())
            .map_err(|e| Error::container("pid file", e))?
            .with_console_socket(opts.console_socket.as_ref())
            .with_preserved_fds(opts.preserve_fds);
        if let Some(fd) = opts.stdio.stdin {
            builder = builder.with_stdin(fd);
        }
        if let Some(fd) = opts.stdio.stdout {
            builder = builder.with_stdout(fd);
        }
        if let Some(fd) = opts.stdio.stderr {
            builder = builder.with_stderr(fd);
        }
        let result = builder
            .as_init(&effective)
            .with_systemd(false)
            // libcontainer only uses "detached" to decide whether a terminal needs a console
            // socket; the init process is our child either way.
            .with_detach(opts.console_socket.is_some())
            .with_no_pivot(opts.no_pivot || host::root_is_ramfs())
            .build();
        match result {
            Ok(inner) => Ok(Container {
                inner,
                origin: bundle.dir,
                effective,
            }),
            Err(e) => {
                // libcontainer removes its state directory and cgroup when creation fails
                // part-way; make sure of the directory even if its cleanup failed. Both
                // directories are ours: the claim above excludes any other create of this id.
                let _ = fs::remove_dir_all(self.root.join(id.as_str()));
                let _ = fs::remove_dir_all(&effective);
                Err(Error::container("create", e))
            }
        }
    }

    /// Loads a container by id.
    pub fn load(&self, id: &ContainerId) -> Result<Container> {
        let dir = self.root.join(id.as_str());
        if !dir.join("state.json").exists() {
            return Err(Error::NotFound { id: id.to_string() });
        }
        let inner = LcContainer::load(dir).map_err(|e| Error::container("load", e))?;
        let effective = self.root.join(BUNDLES).join(id.as_str());
        let origin = fs::read(effective.join(ORIGIN))
            .ok()
            .map(|b| PathBuf::from(String::from_utf8_lossy(&b).into_owned()))
            .unwrap_or_else(|| inner.bundle().clone());
        Ok(Container {
            inner,
            origin,
            effective,
        })
    }

    /// Removes what a create that crashed before its container existed left behind (the
    /// effective configuration claiming `id`). Nothing is removed while a container `id`
    /// exists.
    pub fn remove_leftovers(&self, id: &ContainerId) -> Result<()> {
        if self.root.join(id.as_str()).exists() {
            return Err(Error::AlreadyExists { id: id.to_string() });
        }
        let effective = self.root.join(BUNDLES).join(id.as_str());
        match fs::remove_dir_all(&effective) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &effective, e)),
        }
    }

    /// Every container under this root, sorted by id.
    pub fn list(&self) -> Result<Vec<Container>> {
        let mut out = Vec::new();
        let entries = fs::read_dir(&self.root).map_err(|e| Error::io("read", &self.root, e))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(id) = ContainerId::new(name) else {
                continue;
            };
            match self.load(&id) {
                Ok(c) => out.push(c),
                Err(e) => tracing::warn!(container = %id, "skipping unreadable container: {e}"),
            }
        }
        out.sort_by(|a, b| a.id().cmp(b.id()));
        Ok(out)
    }
}

/// A pid file must be writable where asked: libcontainer only warns when it cannot write it,
/// and a caller waiting for the file would wait forever.
fn check_pid_file(pid_file: Option<&Path>) -> Result<()> {
    let Some(parent) = pid_file.map(|p| p.parent().unwrap_or(Path::new("."))) else {
        return Ok(());
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    if parent.is_dir() {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            name: "--pid-file".into(),
            reason: format!("directory {} does not exist", parent.display()),
        })
    }
}

/// A file removed when the value goes, whatever path the function took.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// The home directory of `uid` in the rootfs's /etc/passwd (not followed if it is a symlink),
/// `/` when there is none, as runc sets HOME for a process that has no HOME.
fn home_of(rootfs: &Path, uid: u32) -> String {
    let passwd = rootfs.join("etc/passwd");
    let is_file = fs::symlink_metadata(&passwd).is_ok_and(|m| m.file_type().is_file());
    let text = if is_file {
        fs::read_to_string(&passwd).unwrap_or_default()
    } else {
        String::new()
    };
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 6 && f[2].parse() == Ok(uid)).then(|| f[5].to_string())
        })
        .find(|h| !h.is_empty())
        .unwrap_or_else(|| "/".into())
}

/// Refuses a cgroup that already holds processes or is frozen, as runc does: a new
/// container's init would share limits with strangers, or freeze half-way through its setup.
fn check_cgroup_is_usable(path: &Path) -> Result<()> {
    let unusable = |reason: String| Error::InvalidArgument {
        name: format!("linux.cgroupsPath {}", path.display()),
        reason,
    };
    if host::cgroup_has_processes(path) == Some(true) {
        return Err(unusable("container's cgroup is not empty".into()));
    }
    if host::cgroup_is_frozen(path) {
        return Err(unusable("container's cgroup unexpectedly frozen".into()));
    }
    Ok(())
}

/// The state of a container as `runc state` prints it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: DateTime<Utc>,
    pub owner: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<HashMap<String, String>>,
}

/// A container known to a [`Runtime`].
#[derive(Debug)]
pub struct Container {
    inner: LcContainer,
    origin: PathBuf,
    effective: PathBuf,
}

/// The lower-case status word runc prints.
pub fn status_word(status: ContainerStatus) -> &'static str {
    match status {
        ContainerStatus::Creating => "creating",
        ContainerStatus::Created => "created",
        ContainerStatus::Running => "running",
        ContainerStatus::Stopped => "stopped",
        ContainerStatus::Paused => "paused",
    }
}

impl Container {
    pub fn id(&self) -> &str {
        self.inner.id()
    }

    pub fn status(&self) -> ContainerStatus {
        self.inner.status()
    }

    /// The init process's host pid, while it exists.
    pub fn pid(&self) -> Option<i32> {
        self.inner.pid().map(|p| p.as_raw())
    }

    /// The user's bundle directory.
    pub fn bundle(&self) -> &Path {
        &self.origin
    }

    fn wrong_state(&self, op: &'static str) -> Error {
        Error::WrongState {
            id: self.id().to_string(),
            status: status_word(self.status()).to_string(),
            op,
        }
    }

    /// The state as `runc state` prints it.
    pub fn state(&self) -> State {
        let s = &self.inner.state;
        let stopped = self.status() == ContainerStatus::Stopped;
        // The effective configuration holds the rootfs as an absolute path.
        let rootfs = self
            .effective_spec()
            .ok()
            .and_then(|spec| spec.root().as_ref().map(|r| r.path().clone()))
            .unwrap_or_else(|| self.origin.join("rootfs"));
        State {
            oci_version: crate::spec::OCI_VERSION.to_string(),
            id: s.id.clone(),
            pid: if stopped { 0 } else { s.pid.unwrap_or(0) },
            status: status_word(self.status()).to_string(),
            bundle: self.origin.clone(),
            rootfs,
            created: s.created.unwrap_or_else(Utc::now),
            owner: String::new(),
            annotations: s.annotations.clone().filter(|a| !a.is_empty()),
        }
    }

    /// Runs the user's process in a created container.
    pub fn start(&mut self) -> Result<()> {
        let _span = tracing::info_span!("start", container = %self.id()).entered();
        if self.status() != ContainerStatus::Created {
            return Err(self.wrong_state("start"));
        }
        self.inner.start().map_err(|e| Error::container("start", e))
    }

    /// Sends a signal to the init process, or with `all` to every process of the container
    /// (frozen while it is signalled, so nothing forks past it). A paused container is thawed
    /// after SIGKILL so its processes can die. State is not written: the status follows the
    /// processes (libcontainer's kill records "stopped" after any signal, which both lies
    /// about a created container and races a concurrent delete).
    pub fn kill(&mut self, signal: Signal, all: bool) -> Result<()> {
        // Without a pid namespace of its own, the container's other processes outlive init:
        // SIGKILL goes to all of them (runc does the same).
        let all = all || (signal == Signal::SIGKILL && !self.has_private_pid_namespace());
        let _span = tracing::info_span!("kill", container = %self.id(), ?signal, all).entered();
        let paused = match self.status() {
            ContainerStatus::Created | ContainerStatus::Running => false,
            ContainerStatus::Paused => true,
            ContainerStatus::Stopped if all => false,
            _ => return Err(self.wrong_state("kill (container not running)")),
        };
        let send = |pid: i32| match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal)
        {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
            Err(source) => Err(Error::Sys { op: "kill", source }),
        };
        let cgroup_error = |op| {
            move |e: libcgroups::common::AnyManagerError| Error::Cgroup {
                op,
                message: chain(&e),
            }
        };
        if all {
            let cgroup = self.cgroup()?;
            if !paused {
                if let Err(e) = cgroup.freeze(FreezerState::Frozen) {
                    tracing::warn!("freeze before kill --all: {}", chain(&e));
                }
            }
            let pids = cgroup
                .get_all_pids()
                .map_err(cgroup_error("list processes"))?;
            let result = pids.iter().try_for_each(|p| send(p.as_raw()));
            if !paused || signal == Signal::SIGKILL {
                cgroup
                    .freeze(FreezerState::Thawed)
                    .map_err(cgroup_error("thaw"))?;
            }
            return result;
        }
        let pid = self
            .pid()
            .ok_or_else(|| self.wrong_state("kill (it has no process)"))?;
        send(pid)?;
        if paused && signal == Signal::SIGKILL {
            self.cgroup()?
                .freeze(FreezerState::Thawed)
                .map_err(cgroup_error("thaw"))?;
        }
        Ok(())
    }

    /// Removes the container: its cgroup, state and effective configuration. A running
    /// container needs `force` (it is killed first), as with runc.
    pub fn delete(mut self, force: bool) -> Result<()> {
        let _span = tracing::info_span!("delete", container = %self.id()).entered();
        if matches!(
            self.status(),
            ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Creating
        ) && !force
        {
            return Err(self.wrong_state("delete (it is not stopped; use --force)"));
        }
        let shares_pids = !self.has_private_pid_namespace();
        if (force || shares_pids) && self.cgroup_has_processes() {
            // The init process may be gone while others live on (a container sharing the
            // host's pid namespace): delete ends every process in the cgroup, as runc does,
            // frozen first so that none forks past the kill.
            let cgroup = self.cgroup()?;
            let _ = cgroup.freeze(FreezerState::Frozen);
            for pid in cgroup.get_all_pids().unwrap_or_default() {
                let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            }
            let _ = cgroup.freeze(FreezerState::Thawed);
        }
        match self.inner.delete(force) {
            Ok(()) => {}
            // libcontainer runs the poststop hooks after removing the cgroup and stops there
            // when one fails, leaving a container nobody can delete (its hook runner may even
            // be gone, after an upgrade). The spec makes a poststop failure a warning: finish
            // the removal.
            Err(libcontainer::error::LibcontainerError::Hook(e)) => {
                tracing::warn!(container = %self.id(), "poststop hook failed: {}", chain(&e));
                match fs::remove_dir_all(&self.inner.root) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("remove", &self.inner.root, e)),
                }
            }
            Err(e) => return Err(Error::container("delete", e)),
        }
        match fs::remove_dir_all(&self.effective) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &self.effective, e)),
        }
    }

    pub fn pause(&mut self) -> Result<()> {
        if self.status() != ContainerStatus::Running {
            return Err(self.wrong_state("pause"));
        }
        self.inner.pause().map_err(|e| Error::container("pause", e))
    }

    pub fn resume(&mut self) -> Result<()> {
        if self.status() != ContainerStatus::Paused {
            return Err(self.wrong_state("resume"));
        }
        self.inner
            .resume()
            .map_err(|e| Error::container("resume", e))
    }

    /// Starts another process in the container's namespaces and cgroup; returns its host pid
    /// (a child of the caller, which must wait for it).
    pub fn exec(&self, runtime: &Runtime, opts: ExecOptions) -> Result<i32> {
        let _span = tracing::info_span!("exec", container = %self.id()).entered();
        if self.status() == ContainerStatus::Paused && !opts.ignore_paused {
            return Err(self.wrong_state(
                "exec (cannot exec in a paused container; use --ignore-paused to override)",
            ));
        }
        // runc also lets a process into a created container; libcontainer's tenant builder
        // refuses one, so Wharf does too, before anything is set up.
        if !matches!(
            self.status(),
            ContainerStatus::Running | ContainerStatus::Paused
        ) {
            return Err(self.wrong_state("exec"));
        }
        check_pid_file(opts.pid_file.as_deref())?;
        // The process to run, written as the process.json libcontainer reads: the caller's, or
        // one built from the container's config.
        let process = match &opts.process {
            Some(p) => p.clone(),
            None => self.exec_process(&opts)?,
        };
        let process_file = RemoveOnDrop(self.effective.join(format!(
            "exec-{}-{}.json",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        )));
        let json = serde_json::to_vec(&process).map_err(|e| Error::InvalidArgument {
            name: "process".into(),
            reason: e.to_string(),
        })?;
        fs::write(&process_file.0, json).map_err(|e| Error::io("write", &process_file.0, e))?;
        let _warmup = host::CgroupAttachWarmup::start();
        let id = ContainerId::new(self.id())?;
        let mut builder = runtime
            .builder(&id)?
            .with_pid_file(opts.pid_file.as_ref())
            .map_err(|e| Error::container("pid file", e))?
            .with_console_socket(opts.console_socket.as_ref())
            .with_preserved_fds(opts.preserve_fds);
        if let Some(fd) = opts.stdio.stdin {
            builder = builder.with_stdin(fd);
        }
        if let Some(fd) = opts.stdio.stdout {
            builder = builder.with_stdout(fd);
        }
        if let Some(fd) = opts.stdio.stderr {
            builder = builder.with_stderr(fd);
        }
        let result = builder
            .as_tenant()
            .with_detach(opts.console_socket.is_some())
            .with_ignore_paused(opts.ignore_paused)
            .with_process(Some(&process_file.0))
            .build()
            .map(|pid| pid.as_raw())
            .map_err(|e| Error::container("exec", e));
        drop(process_file);
        result
    }

    /// The container's own process with the exec options applied (runc's `exec` semantics).
    fn exec_process(&self, opts: &ExecOptions) -> Result<oci_spec::runtime::Process> {
        let spec = self.effective_spec()?;
        let mut p = spec.process().clone().unwrap_or_default();
        p.set_args(Some(opts.args.clone()));
        p.set_terminal(Some(opts.tty));
        p.set_console_size(None);
        if let Some(cwd) = &opts.cwd {
            p.set_cwd(cwd.clone());
        }
        let mut user = p.user().clone();
        if let Some(uid) = opts.user {
            user.set_uid(uid);
        }
        if let Some(gid) = opts.group {
            user.set_gid(gid);
        }
        if !opts.additional_gids.is_empty() {
            user.set_additional_gids(Some(opts.additional_gids.clone()));
        }
        let mut env: Vec<String> = p.env().clone().unwrap_or_default();
        for (k, v) in &opts.env {
            env.retain(|e| e.split_once('=').map_or(e.as_str(), |(name, _)| name) != k);
            env.push(format!("{k}={v}"));
        }
        if !env.iter().any(|e| e.starts_with("HOME=")) {
            let rootfs = spec
                .root()
                .as_ref()
                .map(|r| r.path().clone())
                .unwrap_or_default();
            env.push(format!("HOME={}", home_of(&rootfs, user.uid())));
        }
        p.set_env(Some(env));
        p.set_user(user);
        if opts.no_new_privs {
            p.set_no_new_privileges(Some(true));
        }
        if !opts.capabilities.is_empty() {
            let added: Vec<oci_spec::runtime::Capability> = opts
                .capabilities
                .iter()
                .map(|c| {
                    serde_json::from_value(serde_json::Value::String(c.clone())).map_err(|_| {
                        Error::InvalidArgument {
                            name: "--cap".into(),
                            reason: format!("unknown capability {c}"),
                        }
                    })
                })
                .collect::<Result<_>>()?;
            let mut caps = p.capabilities().clone().unwrap_or_default();
            let add = |set: &Option<oci_spec::runtime::Capabilities>| {
                let mut set = set.clone().unwrap_or_default();
                set.extend(added.iter().copied());
                Some(set)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
            p.set_capabilities(Some(caps));
        }
        Ok(p)
    }

    fn cgroup(&self) -> Result<libcgroups::common::AnyCgroupManager> {
        let config = self
            .inner
            .spec()
            .map_err(|e| Error::container("read container config", e))?;
        create_cgroup_manager(CgroupConfig {
            cgroup_path: config.cgroup_path,
            systemd_cgroup: false,
            container_name: self.id().to_string(),
        })
        .map_err(|e| Error::Cgroup {
            op: "open",
            message: chain(&e),
        })
    }

    /// The configuration the container was created with (see [`crate::bundle`]).
    fn effective_spec(&self) -> Result<oci_spec::runtime::Spec> {
        let path = self.effective.join("config.json");
        let text = fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        crate::bundle::parse_spec(&path, &text)
    }

    /// Whether the container has a pid namespace of its own (per its effective config).
    fn has_private_pid_namespace(&self) -> bool {
        let Ok(spec) = self.effective_spec() else {
            return true;
        };
        spec.linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .is_some_and(|nss| {
                nss.iter().any(|ns| {
                    ns.typ() == oci_spec::runtime::LinuxNamespaceType::Pid && ns.path().is_none()
                })
            })
    }

    /// Whether any process is left in the container's cgroup, read straight from
    /// `cgroup.procs` (building a libcgroups manager parses mountinfo once per controller).
    fn cgroup_has_processes(&self) -> bool {
        let Ok(config) = self.inner.spec() else {
            return true;
        };
        host::cgroup_has_processes(&config.cgroup_path).unwrap_or(true)
    }

    /// Host pids of every process in the container's cgroup.
    pub fn processes(&self) -> Result<Vec<i32>> {
        let mut pids: Vec<i32> = self
            .cgroup()?
            .get_all_pids()
            .map_err(|e| Error::Cgroup {
                op: "list processes",
                message: chain(&e),
            })?
            .into_iter()
            .map(|p| p.as_raw())
            .collect();
        pids.sort_unstable();
        Ok(pids)
    }

    /// How many of the container's processes the OOM killer has killed so far.
    pub fn oom_kills(&self) -> Option<u64> {
        let config = self.inner.spec().ok()?;
        host::cgroup_oom_kills(&config.cgroup_path)
    }

    /// Resource usage from the container's cgroup.
    pub fn stats(&self) -> Result<libcgroups::stats::Stats> {
        self.cgroup()?.stats().map_err(|e| Error::Cgroup {
            op: "read stats",
            message: chain(&e),
        })
    }

    /// Changes the resource limits of a created, running or paused container.
    pub fn update(&self, resources: &LinuxResources) -> Result<()> {
        if self.status() == ContainerStatus::Stopped {
            return Err(self.wrong_state("update"));
        }
        crate::bundle::check_resources(resources, host::online_cpus().as_deref()).map_err(
            |(field, reason)| Error::InvalidArgument {
                name: field,
                reason,
            },
        )?;
        self.cgroup()?
            .apply(&ControllerOpt {
                resources,
                disable_oom_killer: false,
                oom_score_adj: None,
                freezer_state: None,
            })
            .map_err(|e| Error::Cgroup {
                op: "update",
                message: chain(&e),
            })
    }
}
