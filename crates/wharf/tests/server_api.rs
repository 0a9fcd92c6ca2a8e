//! `wharf server`'s API semantics through real clients: bad input gets kube-apiserver's codes
//! and messages and changes nothing, optimistic concurrency, garbage collection by owner
//! references, and durability of acknowledged writes across SIGKILL on both stores.

mod server_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use server_support::{ApiServer, Etcd, Options, output_within};

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn write(server: &ApiServer, name: &str, text: &str) -> String {
    let p = server.base.join(name);
    std::fs::write(&p, text).expect("writing a manifest");
    p.to_string_lossy().into_owned()
}

/// A raw HTTPS request with the admin certificate: (status, body).
fn curl(
    s: &ApiServer,
    method: &str,
    path: &str,
    content_type: &str,
    body: Option<&[u8]>,
) -> (u16, String) {
    let pki = s.data_dir.join("pki");
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-o", "-", "-w", "\n%{http_code}", "-X", method])
        .arg("--cacert")
        .arg(pki.join("ca.crt"))
        .arg("--cert")
        .arg(pki.join("admin.crt"))
        .arg("--key")
        .arg(pki.join("admin.key"))
        .args(["-H", &format!("Content-Type: {content_type}")]);
    if body.is_some() {
        cmd.args(["--data-binary", "@-"]);
    }
    cmd.arg(format!("https://127.0.0.1:{}{path}", s.port));
    let out = output_within(&mut cmd, body, Duration::from_secs(60));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[test]
fn bad_input_gets_kube_apiservers_errors_and_changes_nothing() {
    let s = ApiServer::start(
        "bad",
        Options {
            extra: vec!["--watch-history-seconds".into(), "1".into()],
            ..Default::default()
        },
    );
    let good = write(
        &s,
        "good.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep}\ndata: {a: \"1\"}\n",
    );
    s.ok(&["apply", "-f", &good]);
    let before = s.ok(&["get", "cm", "keep", "-o", "json"]);

    // A bad name.
    let e = s.fails(&["create", "configmap", "Bad_Name"], None);
    assert!(e.contains(r#"ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters"#), "{e}");
    // A missing required field.
    let d = write(
        &s,
        "nosel.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    metadata: {labels: {a: b}}\n    spec: {containers: [{name: c, image: busybox}]}\n",
    );
    let e = s.fails(&["apply", "-f", &d], None);
    assert!(e.contains("spec.selector: Required value"), "{e}");
    // An unknown field under fieldValidation=Strict (kubectl's default).
    let u = write(
        &s,
        "unknown.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: u}\ndata: {a: \"1\"}\nspam: 1\n",
    );
    let e = s.fails(&["apply", "-f", &u], None);
    assert!(e.contains(r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "spam""#), "{e}");
    // …a warning under Warn, and dropped under Ignore.
    let out = s.kubectl(&["apply", "-f", &u, "--validate=warn"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(r#"unknown field "spam""#));
    // A wrong type.
    let t = write(
        &s,
        "type.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: t}\nspec: {replicas: many}\n",
    );
    let e = s.fails(&["apply", "-f", &t], None);
    assert!(e.contains("json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"), "{e}");
    // A stale resourceVersion.
    let mut stale = json(&before);
    stale["data"]["a"] = Value::from("2");
    s.ok(&[
        "patch",
        "cm",
        "keep",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"b":"x"}}"#,
    ]);
    let sf = write(&s, "stale.json", &stale.to_string());
    let e = s.fails(&["replace", "-f", &sf], None);
    assert!(e.contains(r#"Operation cannot be fulfilled on configmaps "keep": the object has been modified; please apply your changes to the latest version and try again"#), "{e}");
    // A patch that does not apply.
    let e = s.fails(
        &[
            "patch",
            "cm",
            "keep",
            "--type",
            "json",
            "-p",
            r#"[{"op":"remove","path":"/data/nope"}]"#,
        ],
        None,
    );
    assert!(
        e.contains("the server rejected our request due to an error in our request"),
        "{e}"
    );
    // A ConfigMap over its own 1 MiB limit, and an object over the store's 1.5 MiB.
    let big = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"big"}},"data":{{"x":"{}"}}}}"#,
        "y".repeat(1_100_000)
    );
    let (code, body) = curl(
        &s,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        Some(big.as_bytes()),
    );
    assert_eq!(
        (code, json(&body)["reason"].as_str()),
        (422, Some("Invalid")),
        "{body}"
    );
    assert!(
        body.contains("Too long: may not be more than 1048576 bytes"),
        "{body}"
    );
    let big = format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"big"}},"spec":{{"containers":[{{"name":"c","image":"busybox","env":[{{"name":"X","value":"{}"}}]}}]}}}}"#,
        "y".repeat(1_700_000)
    );
    let (code, body) = curl(
        &s,
        "POST",
        "/api/v1/namespaces/default/pods",
        "application/json",
        Some(big.as_bytes()),
    );
    assert_eq!(code, 413, "{body}");
    assert_eq!(json(&body)["reason"], "RequestEntityTooLarge");
    // Unknown kinds and resources.
    let (code, body) = curl(
        &s,
        "GET",
        "/api/v1/namespaces/default/frobnicators",
        "application/json",
        None,
    );
    assert_eq!(
        (code, json(&body)["reason"].as_str()),
        (404, Some("NotFound")),
        "{body}"
    );
    let (code, body) = curl(
        &s,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        Some(br#"{"apiVersion":"v1","kind":"Frobnicator","metadata":{"name":"f"}}"#),
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        json(&body)["message"]
            .as_str()
            .unwrap_or("")
            .contains("does not match the expected kind (ConfigMap)"),
        "{body}"
    );
    // Malformed JSON and YAML.
    let (code, body) = curl(
        &s,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        Some(b"{\"apiVersion\": \"v1\", "),
    );
    assert_eq!(
        (code, json(&body)["reason"].as_str()),
        (400, Some("BadRequest")),
        "{body}"
    );
    let (code, body) = curl(
        &s,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "application/yaml",
        Some(b"apiVersion: v1\nkind: [ConfigMap\n"),
    );
    assert_eq!(
        (code, json(&body)["reason"].as_str()),
        (400, Some("BadRequest")),
        "{body}"
    );
    // A watch from a revision older than the kept history (one second here).
    for i in 0..3 {
        s.ok(&["create", "configmap", &format!("churn{i}")]);
    }
    std::thread::sleep(Duration::from_millis(1500));
    s.ok(&["create", "configmap", "churn-last"]);
    let (code, body) = curl(
        &s,
        "GET",
        "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=2",
        "application/json",
        None,
    );
    assert_eq!(code, 410, "{body}");
    assert_eq!(json(&body)["reason"], "Expired");
    assert!(
        json(&body)["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("too old resource version: 2 ("),
        "{body}"
    );

    // Nothing stored changed by any rejected request.
    let after = json(&s.ok(&["get", "cm", "keep", "-o", "json"]));
    assert_eq!(after["data"]["a"], "1");
    assert_eq!(after["data"]["b"], "x");
    let names = s.ok(&["get", "cm", "-o", "name"]);
    // Under Warn the object was stored without the unknown field.
    let u = json(&s.ok(&["get", "cm", "u", "-o", "json"]));
    assert!(u.get("spam").is_none(), "{u}");
    for gone in ["Bad_Name", "configmap/big", "configmap/f\n"] {
        assert!(!names.contains(gone), "{gone} was stored: {names}");
    }
    assert!(s.fails(&["get", "pod", "big"], None).contains("NotFound"));
    assert!(s.fails(&["get", "deploy", "d"], None).contains("NotFound"));
    assert!(s.fails(&["get", "deploy", "t"], None).contains("NotFound"));
}

#[test]
fn stale_concurrent_updates_exactly_one_wins() {
    let s = ApiServer::start("cas", Options::default());
    s.ok(&["create", "configmap", "race", "--from-literal=v=0"]);
    let current = json(&s.ok(&["get", "cm", "race", "-o", "json"]));
    for round in 0..5 {
        let cur = json(&s.ok(&["get", "cm", "race", "-o", "json"]));
        let files: Vec<String> = (0..2)
            .map(|i| {
                let mut o = cur.clone();
                o["data"]["v"] = Value::from(format!("{round}-{i}"));
                write(&s, &format!("race{round}-{i}.json"), &o.to_string())
            })
            .collect();
        let outs: Vec<std::process::Output> = std::thread::scope(|sc| {
            let hs: Vec<_> = files
                .iter()
                .map(|f| sc.spawn(|| s.kubectl(&["replace", "-f", f])))
                .collect();
            hs.into_iter()
                .map(|h| h.join().expect("client thread"))
                .collect()
        });
        let won: Vec<&std::process::Output> = outs.iter().filter(|o| o.status.success()).collect();
        assert_eq!(
            won.len(),
            1,
            "exactly one of two stale writers wins (round {round})"
        );
        let lost = outs.iter().find(|o| !o.status.success()).expect("a loser");
        let e = String::from_utf8_lossy(&lost.stderr);
        assert!(
            e.contains("Error from server (Conflict)")
                && e.contains("the object has been modified"),
            "{e}"
        );
    }
    let last = json(&s.ok(&["get", "cm", "race", "-o", "json"]));
    assert_ne!(
        last["metadata"]["resourceVersion"],
        current["metadata"]["resourceVersion"]
    );
}

fn owner_and_dependents(s: &ApiServer, tag: &str, block: bool) -> String {
    s.ok(&["create", "configmap", &format!("{tag}-owner")]);
    let uid = s.ok(&[
        "get",
        "cm",
        &format!("{tag}-owner"),
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    for i in 0..3 {
        let m = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {tag}-dep{i}\n  ownerReferences:\n  - {{apiVersion: v1, kind: ConfigMap, name: {tag}-owner, uid: {uid}, blockOwnerDeletion: {block}}}\n"
        );
        let f = write(s, &format!("{tag}-dep{i}.yaml"), &m);
        s.ok(&["apply", "-f", &f]);
    }
    uid
}

fn deps_left(s: &ApiServer, tag: &str) -> usize {
    s.ok(&["get", "cm", "-o", "name"])
        .lines()
        .filter(|l| l.starts_with(&format!("configmap/{tag}-dep")))
        .count()
}

#[test]
fn garbage_collection_background_foreground_and_orphan() {
    let s = ApiServer::start("gc", Options::default());
    // Background: the owner goes at once, its dependents after.
    owner_and_dependents(&s, "bg", false);
    s.ok(&["delete", "cm", "bg-owner"]);
    s.eventually("background collection", Duration::from_secs(30), || {
        (deps_left(&s, "bg") == 0).then_some(())
    });

    // Orphan: the dependents stay, without the owner reference.
    owner_and_dependents(&s, "or", false);
    s.ok(&["delete", "cm", "or-owner", "--cascade=orphan"]);
    s.eventually("the orphaned owner to go", Duration::from_secs(30), || {
        (!s.kubectl(&["get", "cm", "or-owner"]).status.success()).then_some(())
    });
    assert_eq!(deps_left(&s, "or"), 3);
    for i in 0..3 {
        let refs = s.ok(&[
            "get",
            "cm",
            &format!("or-dep{i}"),
            "-o",
            "jsonpath={.metadata.ownerReferences}",
        ]);
        assert!(refs.is_empty(), "owner reference left: {refs}");
    }

    // Foreground: kubectl waits; the owner is gone only after its blocking dependents.
    owner_and_dependents(&s, "fg", true);
    let out = s.ok(&["delete", "cm", "fg-owner", "--cascade=foreground"]);
    assert!(out.contains("deleted"), "{out}");
    assert_eq!(
        deps_left(&s, "fg"),
        0,
        "foreground deletion finished before its owner went"
    );
}

/// Creates 1,500 ConfigMaps through kubectl, kills the server with SIGKILL after 1,000 were
/// acknowledged, restarts it and checks every acknowledged one is there.
fn acknowledged_creates_survive_sigkill(mut s: ApiServer) {
    let mut list = String::new();
    for i in 0..1500 {
        list.push_str(&format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: d{i:04}}}\ndata: {{i: \"{i}\"}}\n"));
    }
    let f = write(&s, "list.yaml", &list);
    let mut create = s
        .kubectl_cmd(server_support::KUBECTL_132)
        .args(["create", "-f", &f])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl create");
    let stdout = create.stdout.take().expect("stdout");
    let mut acked = Vec::new();
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    while acked.len() < 1000 && reader.read_line(&mut line).unwrap_or(0) > 0 {
        if let Some(name) = line
            .trim()
            .strip_prefix("configmap/")
            .and_then(|l| l.strip_suffix(" created"))
        {
            acked.push(name.to_string());
        }
        line.clear();
    }
    assert_eq!(
        acked.len(),
        1000,
        "kubectl acknowledged fewer creates than expected"
    );
    s.kill9();
    let _ = create.kill();
    let _ = create.wait();
    s.restart();
    let names: std::collections::HashSet<String> = s
        .ok(&["get", "cm", "-o", "name"])
        .lines()
        .filter_map(|l| l.strip_prefix("configmap/").map(str::to_string))
        .collect();
    let missing: Vec<&String> = acked.iter().filter(|n| !names.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged creates lost after SIGKILL: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    // The server works on: a write after the restart gets a newer resourceVersion.
    let after = write(
        &s,
        "after.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: after-restart}\n",
    );
    s.ok(&["apply", "-f", &after]);
}

#[test]
fn durability_sqlite_acknowledged_writes_survive_sigkill() {
    acknowledged_creates_survive_sigkill(ApiServer::start("dur-sqlite", Options::default()));
}

#[test]
fn durability_etcd_acknowledged_writes_survive_sigkill() {
    let etcd = Etcd::start("dur");
    let s = ApiServer::start(
        "dur-etcd",
        Options {
            etcd: Some(etcd.url.clone()),
            ..Default::default()
        },
    );
    acknowledged_creates_survive_sigkill(s);
    drop(etcd);
}

#[test]
fn endpoints_dry_run_generate_name_collections_and_terminating_namespaces() {
    let s = ApiServer::start("misc", Options::default());
    // /version as the kubectl dispatcher needs it (never cached), health and metrics.
    let pki = s.data_dir.join("pki");
    let out = output_within(
        Command::new("curl")
            .args(["-sS", "-D", "-", "--cacert"])
            .arg(pki.join("ca.crt"))
            .arg(format!("https://127.0.0.1:{}/version", s.port)),
        None,
        Duration::from_secs(30),
    );
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(text.contains("cache-control: no-cache, private"), "{text}");
    assert!(
        text.contains(r#""major":"1""#) && text.contains(r#""minor":"33""#),
        "{text}"
    );
    for path in ["/healthz", "/livez", "/readyz"] {
        assert_eq!(
            curl(&s, "GET", path, "application/json", None),
            (200, "ok".to_string())
        );
    }
    // Without credentials over HTTPS: 401.
    let anon = output_within(
        Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(pki.join("ca.crt"))
            .arg(format!("https://127.0.0.1:{}/api/v1/namespaces", s.port)),
        None,
        Duration::from_secs(30),
    );
    assert_eq!(String::from_utf8_lossy(&anon.stdout), "401");
    // A bearer token works instead of the client certificate.
    let token = std::fs::read_to_string(pki.join("admin.token")).expect("admin token");
    let bearer = output_within(
        Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
            .arg(format!("Authorization: Bearer {}", token.trim()))
            .arg("--cacert")
            .arg(pki.join("ca.crt"))
            .arg(format!("https://127.0.0.1:{}/api/v1/namespaces", s.port)),
        None,
        Duration::from_secs(30),
    );
    assert_eq!(String::from_utf8_lossy(&bearer.stdout), "200");

    // dryRun stores nothing.
    let cm = write(
        &s,
        "dry.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dry}\ndata: {a: \"1\"}\n",
    );
    assert!(
        s.ok(&["apply", "--dry-run=server", "-f", &cm])
            .contains("configmap/dry created (server dry run)")
    );
    assert!(s.fails(&["get", "cm", "dry"], None).contains("NotFound"));

    // generateName.
    let generated = write(
        &s,
        "gen.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: batch-, labels: {set: g}}\n",
    );
    for _ in 0..3 {
        assert!(
            s.ok(&["create", "-f", &generated])
                .starts_with("configmap/batch-")
        );
    }
    let names = s.ok(&["get", "cm", "-l", "set=g", "-o", "name"]);
    assert_eq!(names.lines().count(), 3, "{names}");

    // DELETE on a collection with a label selector.
    let (code, body) = curl(
        &s,
        "DELETE",
        "/api/v1/namespaces/default/configmaps?labelSelector=set%3Dg",
        "application/json",
        None,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["items"].as_array().map(Vec::len), Some(3));
    assert_eq!(s.ok(&["get", "cm", "-l", "set=g", "-o", "name"]), "");

    // A terminating namespace takes no new objects and goes once its last finalizer does.
    s.ok(&["create", "namespace", "closing"]);
    let held = write(
        &s,
        "held.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, namespace: closing, finalizers: [example.com/hold]}\n",
    );
    s.ok(&["apply", "-f", &held]);
    s.ok(&["delete", "ns", "closing", "--wait=false"]);
    assert_eq!(
        s.ok(&["get", "ns", "closing", "-o", "jsonpath={.status.phase}"]),
        "Terminating"
    );
    let e = s.fails(&["create", "configmap", "late", "-n", "closing"], None);
    assert!(
        e.contains(
            "unable to create new content in namespace closing because it is being terminated"
        ),
        "{e}"
    );
    s.ok(&[
        "patch",
        "cm",
        "held",
        "-n",
        "closing",
        "--type",
        "json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
    s.eventually("the namespace to go", Duration::from_secs(30), || {
        (!s.kubectl(&["get", "ns", "closing"]).status.success()).then_some(())
    });

    // Metrics count what was served.
    let (code, metrics) = curl(&s, "GET", "/metrics", "text/plain", None);
    assert_eq!(code, 200);
    assert!(
        metrics.contains(
            "apiserver_request_total{code=\"201\",resource=\"configmaps\",verb=\"CREATE\"}"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("apiserver_storage_objects{resource=\"namespaces\"} 4"),
        "{metrics}"
    );
}

#[test]
fn two_servers_on_one_etcd_see_each_others_writes() {
    let etcd = Etcd::start("ha");
    let a = ApiServer::start(
        "ha-a",
        Options {
            etcd: Some(etcd.url.clone()),
            extra: vec!["--etcd-prefix".into(), "/ha".into()],
            ..Default::default()
        },
    );
    let b = ApiServer::start(
        "ha-b",
        Options {
            etcd: Some(etcd.url.clone()),
            extra: vec!["--etcd-prefix".into(), "/ha".into()],
            ..Default::default()
        },
    );
    // A watch on B sees what is written through A.
    let mut w = b
        .kubectl_cmd(server_support::KUBECTL_132)
        .args(["get", "cm", "-w", "-n", "default", "--output-watch-events"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w on B");
    let out = w.stdout.take().expect("stdout");
    let rx = server_support::lines_of(out);
    std::thread::sleep(Duration::from_millis(1500));
    a.ok(&["create", "configmap", "from-a", "--from-literal=k=v"]);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("from-a")) {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => seen.push(l),
            Err(_) => break,
        }
    }
    let _ = w.kill();
    let _ = w.wait();
    assert!(
        seen.iter()
            .any(|l| l.starts_with("ADDED") && l.contains("from-a")),
        "{seen:?}"
    );
    // B reads it, updates it; A sees B's update; stale writes conflict across servers.
    assert_eq!(
        b.ok(&["get", "cm", "from-a", "-o", "jsonpath={.data.k}"]),
        "v"
    );
    let stale = a.ok(&["get", "cm", "from-a", "-o", "json"]);
    b.ok(&[
        "patch",
        "cm",
        "from-a",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"k":"w"}}"#,
    ]);
    assert_eq!(
        a.ok(&["get", "cm", "from-a", "-o", "jsonpath={.data.k}"]),
        "w"
    );
    let f = write(&a, "stale.json", &stale);
    let e = a.fails(&["replace", "-f", &f], None);
    assert!(e.contains("the object has been modified"), "{e}");
    // Both bootstrapped the same cluster: one kubernetes Service, four namespaces.
    assert_eq!(b.ok(&["get", "ns", "-o", "name"]).lines().count(), 4);
    assert_eq!(a.ok(&["get", "svc", "-A", "-o", "name"]).lines().count(), 1);
    // Services created at once through both servers (six parallel POSTs to each) never
    // share a cluster IP or node port.
    let burst = |srv: &ApiServer, tag: &str| -> Command {
        let pki = srv.data_dir.join("pki");
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sS",
            "--parallel",
            "--parallel-immediate",
            "--parallel-max",
            "6",
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
        ])
        .arg("--cacert")
        .arg(pki.join("ca.crt"))
        .arg("--cert")
        .arg(pki.join("admin.crt"))
        .arg("--key")
        .arg(pki.join("admin.key"))
        .args(["-H", "Content-Type: application/json"]);
        for j in 0..6 {
            let body = format!(
                r#"{{"apiVersion":"v1","kind":"Service","metadata":{{"name":"s{tag}-{j}"}},"spec":{{"type":"NodePort","ports":[{{"port":80}}]}}}}"#
            );
            cmd.args([
                "--data",
                &body,
                &format!(
                    "https://127.0.0.1:{}/api/v1/namespaces/default/services",
                    srv.port
                ),
            ]);
            if j < 5 {
                cmd.arg("--next")
                    .args([
                        "-sS",
                        "-o",
                        "/dev/null",
                        "-H",
                        "Content-Type: application/json",
                    ])
                    .arg("--cacert")
                    .arg(pki.join("ca.crt"))
                    .arg("--cert")
                    .arg(pki.join("admin.crt"))
                    .arg("--key")
                    .arg(pki.join("admin.key"));
            }
        }
        cmd
    };
    let (mut ca, mut cb) = (burst(&a, "a"), burst(&b, "b"));
    let (pa, pb) = (
        ca.spawn().expect("curl to a"),
        cb.spawn().expect("curl to b"),
    );
    let (ra, rb) = (
        pa.wait_with_output().expect("curl a"),
        pb.wait_with_output().expect("curl b"),
    );
    assert!(ra.status.success() && rb.status.success(), "bursts failed");
    let svcs = json(&b.ok(&["get", "svc", "-o", "json"]));
    let items = svcs["items"].as_array().expect("items");
    assert_eq!(items.len(), 13);
    let mut ips: Vec<&str> = items
        .iter()
        .filter_map(|s| s["spec"]["clusterIP"].as_str())
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 13, "duplicate cluster IPs: {svcs}");
    let mut ports: Vec<u64> = items
        .iter()
        .filter_map(|s| s["spec"]["ports"][0]["nodePort"].as_u64())
        .collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 12, "duplicate node ports");
    // The range is full now; asking either server for a taken address says so.
    let taken = ips[1];
    let e = a.fails(
        &[
            "create",
            "service",
            "clusterip",
            "dup",
            "--tcp=80:80",
            "--clusterip",
            taken,
        ],
        None,
    );
    assert!(
        e.contains("provided IP is already allocated") || e.contains("range is full"),
        "{e}"
    );
    // A deleted Service's address is free again, through the other server.
    let freed = items
        .iter()
        .find(|s| s["metadata"]["name"] == "sa-0")
        .expect("sa-0");
    let freed_ip = freed["spec"]["clusterIP"].as_str().expect("ip").to_string();
    a.ok(&["delete", "svc", "sa-0"]);
    b.eventually("the delete to reach b", Duration::from_secs(30), || {
        (!b.kubectl(&["get", "svc", "sa-0"]).status.success()).then_some(())
    });
    b.ok(&[
        "create",
        "service",
        "clusterip",
        "again",
        "--tcp=80:80",
        "--clusterip",
        &freed_ip,
    ]);
    drop(a);
    drop(b);
    drop(etcd);
}
