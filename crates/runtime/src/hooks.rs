//! OCI hooks see the user's bundle.
//!
//! libcontainer reads the effective configuration from a directory of Wharf's (see
//! [`crate::bundle`]) and tells hooks that directory is the bundle. The OCI spec says hooks
//! get the container's state with the real bundle path, and hooks use it (to find
//! `config.json`, or files beside it). So the effective configuration runs every hook through
//! Wharf's hook runner (`wharf oci hook --bundle B -- PATH ARGV…`), which puts the user's
//! bundle into the state it reads on stdin and then runs the real hook with it, passing its
//! exit status back. startContainer hooks are left alone: they run inside the container,
//! after pivot_root, where the runner's host path does not exist.
//!
//! The runner also carries out the spec's rule for poststart and poststop hooks: a failure is
//! logged as a warning and the remaining hooks and the lifecycle continue (libcontainer would
//! stop at the first failing hook and fail the whole operation).

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use oci_spec::runtime::{Hook, Hooks, Spec};

use crate::error::{Error, Result};

/// Replaces every hook of `spec` that runs in the runtime's mount namespace (all but
/// startContainer) by a call to `runner` that runs the original one.
pub fn wrap(spec: &mut Spec, runner: &Path, bundle: &Path) {
    let Some(hooks) = spec.hooks().clone() else {
        return;
    };
    let wrap_list = |list: &Option<Vec<Hook>>, warn_only: Option<&str>| -> Option<Vec<Hook>> {
        list.as_ref().map(|hooks| {
            hooks
                .iter()
                .map(|h| wrap_one(h, runner, bundle, warn_only))
                .collect()
        })
    };
    let mut wrapped = Hooks::default();
    #[allow(deprecated)]
    wrapped.set_prestart(wrap_list(hooks.prestart(), None));
    wrapped.set_create_runtime(wrap_list(hooks.create_runtime(), None));
    wrapped.set_create_container(wrap_list(hooks.create_container(), None));
    wrapped.set_start_container(hooks.start_container().clone());
    wrapped.set_poststart(wrap_list(hooks.poststart(), Some("poststart")));
    wrapped.set_poststop(wrap_list(hooks.poststop(), Some("poststop")));
    spec.set_hooks(Some(wrapped));
}

/// `warn_only` names the hook kind whose failures are only warnings (poststart, poststop).
fn wrap_one(hook: &Hook, runner: &Path, bundle: &Path, warn_only: Option<&str>) -> Hook {
    let path = hook.path().to_string_lossy().into_owned();
    let argv = hook.args().clone().unwrap_or_else(|| vec![path.clone()]);
    let mut args = vec![
        "wharf".to_string(),
        "oci".into(),
        "hook".into(),
        "--bundle".into(),
        bundle.to_string_lossy().into_owned(),
    ];
    if let Some(kind) = warn_only {
        args.extend(["--warn-only".to_string(), kind.to_string()]);
    }
    args.extend(["--".to_string(), path]);
    args.extend(argv);
    let mut h = hook.clone();
    h.set_path(runner.to_path_buf());
    h.set_args(Some(args));
    h
}

/// The hook runner: reads the state from stdin, sets its `bundle`, runs `path` with `argv`
/// (argv[0] first) and the fixed state on its stdin; returns its exit code (128+n when killed
/// by signal n). The hook dies with the runner, so a hook timeout still ends it. With
/// `warn_only` (the hook kind), a failure is logged as a warning and 0 is returned.
pub fn run(bundle: &Path, path: &Path, argv: &[String], warn_only: Option<&str>) -> Result<i32> {
    let code = run_hook(bundle, path, argv);
    match (warn_only, code) {
        (Some(kind), Ok(code)) if code != 0 => {
            tracing::warn!(hook = %path.display(), "{kind} hook exited with status {code}");
            Ok(0)
        }
        (Some(kind), Err(e)) => {
            tracing::warn!(hook = %path.display(), "{kind} hook failed: {e}");
            Ok(0)
        }
        (_, result) => result,
    }
}

fn run_hook(bundle: &Path, path: &Path, argv: &[String]) -> Result<i32> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| Error::io("read hook state from", "stdin", e))?;
    let state = match serde_json::from_slice::<serde_json::Value>(&input) {
        Ok(mut v) => {
            v["bundle"] = bundle.to_string_lossy().into_owned().into();
            serde_json::to_vec(&v).unwrap_or(input)
        }
        Err(_) => input,
    };
    let mut cmd = Command::new(path);
    if let Some((arg0, rest)) = argv.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.stdin(Stdio::piped());
    // SAFETY: prctl and signal are async-signal-safe and touch no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            // The runner ignores SIGPIPE (as every Rust program starts); the hook must not
            // inherit that. signal(2) is async-signal-safe.
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| Error::io("run hook", path, e))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin closes the pipe; that is its business.
        let _ = stdin.write_all(&state);
    }
    let status = child
        .wait()
        .map_err(|e| Error::io("wait for hook", path, e))?;
    use std::os::unix::process::ExitStatusExt;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::HookBuilder;
    use std::path::PathBuf;

    #[test]
    fn every_hook_goes_through_the_runner_keeping_its_argv_env_and_timeout() {
        let mut spec = Spec::default();
        let mut hooks = Hooks::default();
        hooks.set_poststart(Some(vec![
            HookBuilder::default()
                .path("/bin/hook")
                .args(vec!["hook".to_string(), "-x".into()])
                .env(vec!["A=1".to_string()])
                .timeout(5)
                .build()
                .expect("hook"),
        ]));
        hooks.set_create_runtime(Some(vec![
            HookBuilder::default()
                .path("/bin/bare")
                .build()
                .expect("hook"),
        ]));
        let inside = HookBuilder::default()
            .path("/in/container")
            .build()
            .expect("hook");
        hooks.set_start_container(Some(vec![inside.clone()]));
        spec.set_hooks(Some(hooks));
        wrap(&mut spec, Path::new("/usr/bin/wharf"), Path::new("/b"));
        let h = spec.hooks().as_ref().expect("hooks");
        let p = &h.poststart().as_ref().expect("poststart")[0];
        assert_eq!(p.path(), &PathBuf::from("/usr/bin/wharf"));
        assert_eq!(
            p.args().as_ref().expect("args"),
            &[
                "wharf",
                "oci",
                "hook",
                "--bundle",
                "/b",
                "--warn-only",
                "poststart",
                "--",
                "/bin/hook",
                "hook",
                "-x"
            ]
        );
        assert_eq!(p.env().as_ref().expect("env"), &["A=1"]);
        assert_eq!(p.timeout(), Some(5));
        let c = &h.create_runtime().as_ref().expect("createRuntime")[0];
        assert_eq!(
            c.args().as_ref().expect("args")[5..],
            [
                "--".to_string(),
                "/bin/bare".to_string(),
                "/bin/bare".to_string()
            ]
        );
        assert!(h.prestart().is_none());
        assert_eq!(
            h.start_container().as_ref().expect("startContainer"),
            &[inside]
        );
    }
}
