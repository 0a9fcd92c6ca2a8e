//! The image builder through the real docker CLI 28 (legacy `POST /build`), `wharf build`
//! and docker-py: the config a Dockerfile gives, multi-stage graphs run in parallel, the
//! cache, reproducible digests, `.dockerignore`, and Docker's errors. Needs root.

mod engine_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use engine_support::{Daemon, WHARF, mounts_under, ok, output_within, stderr, stdout};

const LIMIT: Duration = Duration::from_secs(180);

/// `wharf ARGS` against the test's daemon, in `dir`.
fn wharf(d: &Daemon, dir: &Path, args: &[&str]) -> Output {
    output_within(
        Command::new(WHARF)
            .args(args)
            .env("WHARF_HOST", d.host())
            .env_remove("DOCKER_HOST")
            .current_dir(dir),
        None,
        LIMIT,
    )
}

/// `docker ARGS` in `dir`.
fn docker_in_dir(d: &Daemon, dir: &Path, args: &[&str]) -> Output {
    output_within(d.docker_cmd().args(args).current_dir(dir), None, LIMIT)
}

/// A build context directory under the daemon's work dir, with these files.
fn context(d: &Daemon, name: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let dir = d.work.join(name);
    let _ = fs::remove_dir_all(&dir);
    for (path, data) in files {
        let p = dir.join(path);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(&p, data).expect("write");
    }
    dir
}

/// 50 MB of incompressible bytes (xorshift), the same for every call.
fn big_file() -> Vec<u8> {
    let mut v = Vec::with_capacity(50 << 20);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while v.len() < 50 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v
}

/// Both outputs of a command, for assertions.
fn all(out: &Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

/// Container create events between two times (unix seconds), from `docker events`.
fn creates_between(d: &Daemon, since: i64, until: i64) -> usize {
    let out = d.docker(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until.to_string(),
        "--filter",
        "type=container",
        "--filter",
        "event=create",
        "--format",
        "{{.ID}}",
    ]);
    ok("docker events", &out);
    stdout(&out).lines().filter(|l| !l.is_empty()).count()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

const FULL_DOCKERFILE: &str = r#"# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM ${BASE}
ARG GREETING=hello
ENV APP_HOME=/app \
    GREETING=${GREETING}
WORKDIR $APP_HOME
COPY big.bin data/big.bin
COPY conf/ conf/
RUN md5sum data/big.bin > data/big.md5 \
 && echo 'app:x:1234:1234::/app:/bin/sh' >> /etc/passwd \
 && chown -R app /app \
 && echo built-$GREETING > built.txt
USER app
EXPOSE 8080/tcp 9090
LABEL org.example.name="demo app"
HEALTHCHECK --interval=5s --timeout=3s --retries=2 CMD test -f /app/built.txt
ENTRYPOINT ["/bin/sh", "-c", "echo \"$GREETING from $(whoami) in $(pwd)\"; cat conf/a.txt conf/sub/b.txt built.txt; md5sum -c data/big.md5 >/dev/null && echo md5-ok; echo args: \"$@\"", "entry"]
CMD ["x", "y"]
"#;

#[test]
fn dockerfile_config_matches_docker_with_both_clients() {
    let Some(d) = Daemon::start("build-full") else {
        return;
    };
    let big = big_file();
    let ctx = context(
        &d,
        "full",
        &[
            ("Dockerfile", FULL_DOCKERFILE.as_bytes()),
            ("big.bin", &big),
            ("conf/a.txt", b"A\n"),
            ("conf/sub/b.txt", b"B\n"),
        ],
    );
    // The docker CLI (legacy builder, as on this machine), with a build arg.
    let out = docker_in_dir(
        &d,
        &ctx,
        &[
            "build",
            "-t",
            "full:docker",
            "--build-arg",
            "GREETING=hi",
            ".",
        ],
    );
    let text = all(&out);
    assert!(out.status.success(), "docker build failed:\n{text}");
    for want in [
        "Step 1/14 : ARG BASE=busybox",
        "Step 2/14 : FROM ${BASE}",
        " ---> Running in ",
        " ---> Removed intermediate container ",
        "Successfully built ",
        "Successfully tagged full:docker",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    let run = d.docker(&["run", "--rm", "full:docker"]);
    assert_eq!(
        stdout(&run),
        "hi from app in /app\nA\nB\nbuilt-hi\nmd5-ok\nargs: x y\n",
        "{}",
        all(&run)
    );
    let cfg = &d.inspect("full:docker")["Config"];
    assert_eq!(cfg["WorkingDir"], "/app");
    assert_eq!(cfg["User"], "app");
    assert_eq!(
        cfg["Entrypoint"][0], "/bin/sh",
        "entrypoint: {}",
        cfg["Entrypoint"]
    );
    assert_eq!(cfg["Cmd"], serde_json::json!(["x", "y"]));
    assert_eq!(
        cfg["ExposedPorts"],
        serde_json::json!({"8080/tcp": {}, "9090/tcp": {}})
    );
    assert_eq!(cfg["Labels"]["org.example.name"], "demo app");
    assert_eq!(
        cfg["Healthcheck"],
        serde_json::json!({
            "Test": ["CMD-SHELL", "test -f /app/built.txt"],
            "Interval": 5_000_000_000i64,
            "Timeout": 3_000_000_000i64,
            "Retries": 2,
        })
    );
    let env: Vec<String> = cfg["Env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|v| v.as_str().expect("str").to_string())
        .collect();
    assert!(env.iter().any(|e| e.starts_with("PATH=")), "{env:?}");
    assert!(env.contains(&"APP_HOME=/app".to_string()), "{env:?}");
    assert!(env.contains(&"GREETING=hi".to_string()), "{env:?}");
    // ARG values are not kept in the image.
    assert!(!env.iter().any(|e| e.starts_with("BASE=")), "{env:?}");
    // One history line per instruction after FROM (ARG excluded), layers for the file steps.
    let history = d.docker_ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        "full:docker",
    ]);
    assert!(history.contains("md5sum data/big.bin"), "{history}");
    assert!(history.contains("|1 GREETING=hi"), "{history}");

    // wharf build, default args.
    let out = wharf(
        &d,
        &ctx,
        &["build", "-t", "full:wharf", "--progress=plain", "."],
    );
    let text = all(&out);
    assert!(out.status.success(), "wharf build failed:\n{text}");
    assert!(text.contains("DONE"), "plain progress: {text}");
    let run = d.docker(&["run", "--rm", "full:wharf"]);
    assert_eq!(
        stdout(&run),
        "hello from app in /app\nA\nB\nbuilt-hello\nmd5-ok\nargs: x y\n",
        "{}",
        all(&run)
    );
    // The health check from the image runs.
    let id = d.docker_ok(&["run", "-d", "--entrypoint", "sleep", "full:wharf", "60"]);
    let id = id.trim();
    d.wait_inspect(id, "health status", |v| {
        v["State"]["Health"]["Status"] == "healthy"
    });
    d.docker_ok(&["rm", "-f", id]);

    // docker-py's build: short ID from the stream, then inspect by it.
    let script = format!(
        "import docker\nc = docker.DockerClient(base_url='{}')\nimg, logs = c.images.build(path='{}', tag='full:py')\nprint(img.id)\nprint(''.join(l.get('stream', '') for l in logs))\n",
        d.host(),
        ctx.display()
    );
    let out = d.python(&script);
    assert!(out.status.success(), "docker-py build: {}", all(&out));
    assert!(stdout(&out).starts_with("sha256:"), "{}", stdout(&out));
}

#[test]
fn multi_stage_runs_only_what_the_target_needs_in_parallel() {
    let Some(d) = Daemon::start("build-multi") else {
        return;
    };
    let stage = |name: &str| {
        format!(
            "FROM busybox AS {name}\nRUN echo \"{name} start $(cut -d' ' -f1 /proc/uptime)\"; sleep 1; echo \"{name} end $(cut -d' ' -f1 /proc/uptime)\"; echo from-{name} > /{name}.txt\n"
        )
    };
    let dockerfile = format!(
        "{}{}FROM busybox AS unused\nRUN echo UNUSED-STAGE-RAN; false\nFROM busybox\nCOPY --from=one /one.txt /one.txt\nCOPY --from=two /two.txt /two.txt\nCMD cat /one.txt /two.txt\n",
        stage("one"),
        stage("two")
    );
    let ctx = context(&d, "multi", &[("Dockerfile", dockerfile.as_bytes())]);
    let out = wharf(&d, &ctx, &["build", "-t", "multi", "--progress=plain", "."]);
    let text = all(&out);
    assert!(out.status.success(), "build failed:\n{text}");
    assert!(
        !text.contains("UNUSED-STAGE-RAN"),
        "unused stage ran:\n{text}"
    );
    let time = |what: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.contains(what) && !l.contains("echo"))
            .unwrap_or_else(|| panic!("no {what:?} in:\n{text}"));
        line.rsplit(' ')
            .next()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no time in {line:?}"))
    };
    let (s1, e1, s2, e2) = (
        time("one start"),
        time("one end"),
        time("two start"),
        time("two end"),
    );
    assert!(
        s1 < e2 && s2 < e1,
        "stages one ({s1}..{e1}) and two ({s2}..{e2}) did not overlap:\n{text}"
    );
    let run = d.docker(&["run", "--rm", "multi"]);
    assert_eq!(stdout(&run), "from-one\nfrom-two\n", "{}", all(&run));
    // --target builds that stage only (from the cache now).
    let out = wharf(
        &d,
        &ctx,
        &[
            "build",
            "-t",
            "two-only",
            "--target",
            "two",
            "--progress=plain",
            ".",
        ],
    );
    let text = all(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        !text.contains("[one "),
        "stage one in a --target two build:\n{text}"
    );
    let run = d.docker(&["run", "--rm", "two-only", "cat", "/two.txt"]);
    assert_eq!(stdout(&run), "from-two\n");
}

#[test]
fn cache_hits_create_nothing_and_a_change_reruns_only_later_steps() {
    let Some(mut d) = Daemon::start("build-cache") else {
        return;
    };
    let big = big_file();
    let ctx = context(
        &d,
        "cache",
        &[
            (
                "Dockerfile",
                b"FROM busybox\nCOPY big.bin /data/big.bin\nCOPY app.txt /app/app.txt\nRUN md5sum /data/big.bin > /data/big.md5 && echo built > /built\nCMD [\"cat\", \"/app/app.txt\"]\n",
            ),
            ("big.bin", &big),
            ("app.txt", b"v1\n"),
        ],
    );
    let first = docker_in_dir(&d, &ctx, &["build", "-t", "cached", "."]);
    assert!(first.status.success(), "{}", all(&first));
    assert!(!all(&first).contains("Using cache"), "{}", all(&first));
    let id1 = d.inspect("cached")["Id"].as_str().expect("id").to_string();

    // Nothing changed: every step a hit, no container created, the same image.
    std::thread::sleep(Duration::from_millis(1100));
    let since = now();
    let again = docker_in_dir(&d, &ctx, &["build", "-t", "cached", "."]);
    let text = all(&again);
    assert!(again.status.success(), "{text}");
    assert_eq!(text.matches("Using cache").count(), 4, "{text}");
    assert!(!text.contains("Running in"), "{text}");
    assert_eq!(creates_between(&d, since, now() + 1), 0);
    assert_eq!(d.inspect("cached")["Id"], id1.as_str());
    // Only mtimes changed: still every step a hit.
    let t = filetime_touch(&ctx.join("big.bin"));
    assert!(t, "touch big.bin");
    let again = docker_in_dir(&d, &ctx, &["build", "-t", "cached", "."]);
    assert_eq!(
        all(&again).matches("Using cache").count(),
        4,
        "{}",
        all(&again)
    );

    // The small file changed: its COPY and what follows rerun, the 50 MB COPY is cached.
    fs::write(ctx.join("app.txt"), b"v2\n").expect("write");
    let changed = docker_in_dir(&d, &ctx, &["build", "-t", "cached", "."]);
    let text = all(&changed);
    assert!(changed.status.success(), "{text}");
    assert_eq!(text.matches("Using cache").count(), 1, "{text}");
    let big_step = text.split("Step 3/5").next().expect("steps 1-2");
    assert!(big_step.contains("Using cache"), "{text}");
    assert_eq!(text.matches("Running in").count(), 1, "{text}");
    let run = d.docker(&["run", "--rm", "cached"]);
    assert_eq!(stdout(&run), "v2\n");

    // The cache survives a daemon restart.
    d.stop();
    d.restart();
    let again = docker_in_dir(&d, &ctx, &["build", "-t", "cached", "."]);
    assert_eq!(
        all(&again).matches("Using cache").count(),
        4,
        "{}",
        all(&again)
    );
    // --no-cache reruns everything.
    let nocache = docker_in_dir(&d, &ctx, &["build", "--no-cache", "-t", "cached", "."]);
    assert!(nocache.status.success(), "{}", all(&nocache));
    assert!(!all(&nocache).contains("Using cache"), "{}", all(&nocache));
    // builder prune -a empties it.
    let pruned = d.docker(&["builder", "prune", "-af"]);
    assert!(pruned.status.success(), "{}", all(&pruned));
    assert!(
        stdout(&pruned).contains("Total reclaimed space"),
        "{}",
        all(&pruned)
    );
    let after = docker_in_dir(&d, &ctx, &["build", "-t", "cached", "."]);
    assert!(after.status.success(), "{}", all(&after));
    assert!(!all(&after).contains("Using cache"), "{}", all(&after));
    let run = d.docker(&["run", "--rm", "cached"]);
    assert_eq!(stdout(&run), "v2\n");
}

/// Sets a file's mtime to one hour ago.
fn filetime_touch(p: &Path) -> bool {
    Command::new("touch")
        .arg("-d")
        .arg("1 hour ago")
        .arg(p)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[test]
fn same_context_gives_the_same_digests_on_fresh_roots() {
    let Some(a) = Daemon::start("build-repro-a") else {
        return;
    };
    // The same base image on both: b loads what a imported (an import stamps its own time).
    let b = Daemon::start_bare("build-repro-b");
    let saved = a.work.join("busybox-saved.tar");
    let saved_s = saved.to_str().expect("utf-8 path");
    a.docker_ok(&["save", "-o", saved_s, "busybox"]);
    b.docker_ok(&["load", "-i", saved_s]);
    let files: &[(&str, &[u8])] = &[
        (
            "Dockerfile",
            b"FROM busybox\nCOPY . /src/\nRUN cd /src && find . -type f | sort | xargs md5sum > /sums && mkdir -p /var/made && echo made > /var/made/file && sleep 1\nENV X=1\nCMD [\"cat\", \"/sums\"]\n",
        ),
        ("a.txt", b"alpha\n"),
        ("dir/b.txt", b"beta\n"),
    ];
    let ca = context(&a, "repro", files);
    let cb = context(&b, "repro", files);
    // The same mtimes, as two checkouts of one commit with SOURCE_DATE_EPOCH unset would not
    // have: the builder must not depend on them beyond the clamp.
    for p in ["Dockerfile", "a.txt", "dir/b.txt", "dir", "."] {
        for c in [&ca, &cb] {
            let st = Command::new("touch")
                .args(["-d", "2024-01-02 03:04:05"])
                .arg(c.join(p))
                .status()
                .expect("touch");
            assert!(st.success());
        }
    }
    let build = |d: &Daemon, c: &Path, extra: &[&str]| {
        let mut args = vec!["build", "-q"];
        args.extend_from_slice(extra);
        args.push(".");
        let out = wharf(d, c, &args);
        assert!(out.status.success(), "{}", all(&out));
        stdout(&out).trim().to_string()
    };
    let ia = build(&a, &ca, &[]);
    let ib = build(&b, &cb, &[]);
    assert!(ia.starts_with("sha256:"), "{ia}");
    assert_eq!(ia, ib, "the same build gave different images");
    let layers = |d: &Daemon, id: &str| d.inspect(id)["RootFS"]["Layers"].clone();
    assert_eq!(layers(&a, &ia), layers(&b, &ib));
    // --no-cache rebuilds give the same digest again.
    assert_eq!(build(&a, &ca, &["--no-cache"]), ia);
    // SOURCE_DATE_EPOCH sets the creation time and clamps file times.
    let ie = build(&a, &ca, &["--build-arg", "SOURCE_DATE_EPOCH=86400"]);
    assert_eq!(a.inspect(&ie)["Created"], "1970-01-02T00:00:00Z");
    let ie2 = build(&b, &cb, &["--build-arg", "SOURCE_DATE_EPOCH=86400"]);
    assert_eq!(ie, ie2);

    // --cache-from: with the build cache gone, an image's history and layers serve as cache.
    b.docker_ok(&["tag", &ib, "repro:prev"]);
    let pruned = b.docker(&["builder", "prune", "-af"]);
    assert!(pruned.status.success(), "{}", all(&pruned));
    let out = docker_in_dir(
        &b,
        &cb,
        &[
            "build",
            "--cache-from",
            "repro:prev",
            "-t",
            "repro:next",
            ".",
        ],
    );
    let text = all(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        !text.contains("Running in"),
        "RUN ran despite --cache-from:\n{text}"
    );
    assert!(text.matches("Using cache").count() >= 2, "{text}");
    assert_eq!(
        b.inspect("repro:next")["RootFS"]["Layers"],
        b.inspect("repro:prev")["RootFS"]["Layers"]
    );
}

#[test]
fn dockerignore_excludes_and_reincludes_through_the_docker_cli() {
    let Some(d) = Daemon::start("build-ignore") else {
        return;
    };
    let ctx = context(
        &d,
        "ignore",
        &[
            (
                "Dockerfile",
                b"FROM busybox\nCOPY . /ctx/\nCMD cd /ctx && find . | sort\n",
            ),
            (
                ".dockerignore",
                b"# comment\n*.log\n!keep.log\nsecret/\n**/*.tmp\ndocs\n!docs/README.md\n",
            ),
            ("a.txt", b"a"),
            ("x.log", b"x"),
            ("keep.log", b"k"),
            ("secret/key", b"s"),
            ("deep/er/file.tmp", b"t"),
            ("deep/er/file.txt", b"t"),
            ("docs/README.md", b"r"),
            ("docs/other.md", b"o"),
        ],
    );
    let out = docker_in_dir(&d, &ctx, &["build", "-t", "ignored", "."]);
    assert!(out.status.success(), "{}", all(&out));
    let run = d.docker(&["run", "--rm", "ignored"]);
    let listing = stdout(&run);
    let want = ".\n./.dockerignore\n./Dockerfile\n./a.txt\n./deep\n./deep/er\n./deep/er/file.txt\n./docs\n./docs/README.md\n./keep.log\n";
    assert_eq!(listing, want, "{}", all(&run));
}

#[test]
fn bad_input_gets_dockers_errors_and_leaves_nothing_behind() {
    let Some(d) = Daemon::start("build-bad") else {
        return;
    };
    let case = |name: &str, dockerfile: &str, extra: &[&str]| -> String {
        let ctx = context(
            &d,
            name,
            &[("Dockerfile", dockerfile.as_bytes()), ("ok.txt", b"ok")],
        );
        let mut args = vec!["build"];
        args.extend_from_slice(extra);
        args.push(".");
        let out = docker_in_dir(&d, &ctx, &args);
        assert!(
            !out.status.success(),
            "{name}: the build succeeded:\n{}",
            all(&out)
        );
        all(&out)
    };
    let e = case("unknown", "FROM busybox\nRUN true\nFROBNICATE now\n", &[]);
    assert!(
        e.contains("line 3") && e.contains("unknown instruction"),
        "{e}"
    );
    let e = case("nofrom", "RUN true\n", &[]);
    assert!(e.contains("no build stage in current context"), "{e}");
    let e = case("missing", "FROM busybox\nCOPY nothere.txt /x\n", &[]);
    assert!(e.contains("nothere.txt"), "{e}");
    let e = case("outside", "FROM busybox\nCOPY ../../etc/passwd /x\n", &[]);
    assert!(e.contains("passwd") || e.contains("outside"), "{e}");
    let e = case(
        "target",
        "FROM busybox AS a\nRUN true\n",
        &["--target", "nope"],
    );
    assert!(e.contains("nope"), "{e}");
    let e = case(
        "cycle",
        "FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /x /x\n",
        &[],
    );
    assert!(e.contains("circular dependency detected on stage"), "{e}");
    // A failing RUN: its output shown, its exit code reported, the steps before it cached.
    let e = case(
        "fails",
        "FROM busybox\nCOPY ok.txt /ok.txt\nRUN echo about-to-fail; exit 3\n",
        &[],
    );
    assert!(e.contains("about-to-fail"), "{e}");
    assert!(
        e.contains(
            "The command '/bin/sh -c echo about-to-fail; exit 3' returned a non-zero code: 3"
        ),
        "{e}"
    );
    let again = case(
        "fails",
        "FROM busybox\nCOPY ok.txt /ok.txt\nRUN echo about-to-fail; exit 3\n",
        &[],
    );
    assert!(again.contains("Using cache"), "{again}");
    // No container or mount is left by the failures.
    let ps = d.docker_ok(&["ps", "-aq"]);
    assert_eq!(ps.trim(), "", "containers left: {ps}");
    let left: Vec<PathBuf> = mounts_under(&d.data_root);
    assert!(left.is_empty(), "mounts left: {left:?}");
    // The images the daemon had are intact.
    d.docker_ok(&["run", "--rm", "busybox", "true"]);
}
