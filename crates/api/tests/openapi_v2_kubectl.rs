//! The `/openapi/v2` protobuf document against the real kubectl 1.32 and 1.33.
//!
//! kubectl validates a `v1/List` client-side against OpenAPI v2 (its v3 query-parameter
//! verifier refuses `List`). This test serves the document built by
//! `api::schema::openapi_v2` from a small Python HTTP server on 127.0.0.1 (no Wharf server
//! code involved: `/version`, legacy discovery with `configmaps`, `/openapi/v3` → 404, the
//! protobuf on `/openapi/v2`, and a `POST` that echoes the object with 201), then runs
//! `kubectl create -f` with default (strict) validation:
//!
//! - a List of valid ConfigMaps is created;
//! - a List with an unknown field fails client-side with kubectl's `unknown field "spam"`
//!   message and nothing is posted;
//! - the same for a List of custom resources (a CRD's schema with a nullable required field,
//!   int-or-string and a subtree keeping unknown fields, all accepted when valid);
//! - a single ConfigMap (not a List) with an unknown field is left to the server: kubectl
//!   found the `fieldValidation` parameter on the v2 `patch` operation and posts with
//!   `fieldValidation=Strict`.
//!
//! Needs `python3` and `/usr/lib/google-cloud-sdk/bin/kubectl.1.32` (and `.1.33`); fails
//! clearly when they are missing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use api::resource;
use api::schema::{builtin, crd, openapi_v2};
use serde_json::{Value, json};

const KUBECTL_DIR: &str = "/usr/lib/google-cloud-sdk/bin";

const FAKE_SERVER: &str = r#"
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

pb_path, log_path, pb_content_type, routes_path = sys.argv[1:5]
with open(pb_path, "rb") as f:
    OPENAPI_V2 = f.read()
with open(routes_path) as f:
    ROUTES = json.load(f)

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def record(self):
        with open(log_path, "a") as f:
            f.write(f"{self.command} {self.path}\n")

    def send(self, code, body, ctype="application/json"):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.record()
        path = self.path.split("?")[0]
        if path in ("/version", "/version/"):
            self.send(200, {"major": "1", "minor": "33", "gitVersion": "v1.33.0",
                            "platform": "linux/amd64"})
        elif path == "/api":
            self.send(200, {"kind": "APIVersions", "versions": ["v1"],
                            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                            "serverAddress": self.headers["Host"]}]})
        elif path in ROUTES:
            self.send(200, ROUTES[path])
        elif path == "/openapi/v2":
            self.send(200, OPENAPI_V2, pb_content_type)
        else:
            self.send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                            "reason": "NotFound", "code": 404,
                            "message": "the server could not find the requested resource"})

    def do_POST(self):
        self.record()
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        body.setdefault("metadata", {})["namespace"] = "default"
        self.send(201, body)

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// Legacy discovery: `configmaps` in `v1`, `crontabs` in `stable.example.com/v1`.
fn discovery() -> Value {
    let verbs = json!([
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch"
    ]);
    json!({
        "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [{
            "name": "stable.example.com",
            "versions": [{"groupVersion": "stable.example.com/v1", "version": "v1"}],
            "preferredVersion": {"groupVersion": "stable.example.com/v1", "version": "v1"},
        }]},
        "/api/v1": {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": [
            {"name": "configmaps", "singularName": "configmap", "namespaced": true,
             "kind": "ConfigMap", "verbs": verbs, "shortNames": ["cm"]},
        ]},
        "/apis/stable.example.com/v1": {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": "stable.example.com/v1", "resources": [
            {"name": "crontabs", "singularName": "crontab", "namespaced": true,
             "kind": "CronTab", "verbs": verbs},
        ]},
    })
}

/// A CRD whose schema uses what the v2 conversion must adapt: a nullable required field,
/// int-or-string, a subtree keeping unknown fields.
fn crontab_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "crontabs.stable.example.com"},
        "spec": {
            "group": "stable.example.com",
            "scope": "Namespaced",
            "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab",
                      "listKind": "CronTabList"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {"spec": {
                        "type": "object",
                        "required": ["cronSpec", "note"],
                        "properties": {
                            "cronSpec": {"type": "string"},
                            "replicas": {"type": "integer"},
                            "note": {"type": "string", "nullable": true},
                            "port": {"x-kubernetes-int-or-string": true,
                                     "anyOf": [{"type": "integer"}, {"type": "string"}]},
                            "extra": {"type": "object",
                                      "x-kubernetes-preserve-unknown-fields": true},
                        },
                    }},
                }},
            }],
        },
    })
}

/// The v2 protobuf of the built-in kinds plus the CronTab CRD.
fn openapi_v2_bytes() -> Vec<u8> {
    let versions = crd::served_versions(&crontab_crd());
    let schemas = builtin::builtin().with(
        versions
            .iter()
            .map(|v| (v.schema_name.clone(), v.schema.clone())),
    );
    let mut resources = resource::builtin();
    resources.extend(versions.into_iter().map(|v| v.resource));
    let doc = openapi_v2::document_json(&schemas, &resources);
    openapi_v2::document_protobuf(&doc)
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("wharf-oapi2-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The fake server process, killed on drop.
struct FakeServer {
    child: Child,
    port: u16,
}

impl FakeServer {
    fn start(dir: &Path, openapi_v2: &[u8]) -> Self {
        let script = dir.join("fake.py");
        std::fs::write(&script, FAKE_SERVER).expect("write fake server");
        let pb = dir.join("openapi-v2.pb");
        std::fs::write(&pb, openapi_v2).expect("write openapi v2");
        let routes = dir.join("routes.json");
        std::fs::write(&routes, discovery().to_string()).expect("write discovery");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(&pb)
            .arg(dir.join("requests.log"))
            .arg(openapi_v2::PROTOBUF_CONTENT_TYPE)
            .arg(&routes)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 is needed for the fake API server");
        let stdout = child.stdout.take().expect("fake server stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the fake server's port");
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("fake server printed {line:?}, not a port"));
        FakeServer { child, port }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn kubectl(bin: &Path, dir: &Path, kubeconfig: &Path, manifest: &str) -> Run {
    let file = dir.join("manifest.yaml");
    std::fs::write(&file, manifest).expect("write manifest");
    let out = Command::new(bin)
        .env("HOME", dir)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(["create", "--validate=strict", "-f"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn requests(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("requests.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn clear_requests(dir: &Path) {
    let _ = std::fs::remove_file(dir.join("requests.log"));
}

const VALID_LIST: &str = "apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: one}
  data: {a: b}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: two, labels: {app: x}}
  binaryData: {bin: aGVsbG8=}
";

const BAD_LIST: &str = "apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: three}
  spam: eggs
";

const VALID_CRONTABS: &str = "apiVersion: v1
kind: List
items:
- apiVersion: stable.example.com/v1
  kind: CronTab
  metadata: {name: ct1}
  spec:
    cronSpec: '* * * * */5'
    replicas: 3
    note: null
    port: http
    extra: {anything: {goes: [1, two]}}
- apiVersion: stable.example.com/v1
  kind: CronTab
  metadata: {name: ct2}
  spec: {cronSpec: '@daily', note: hi, port: 8080}
";

const BAD_CRONTABS: &str = "apiVersion: v1
kind: List
items:
- apiVersion: stable.example.com/v1
  kind: CronTab
  metadata: {name: ct3}
  spec: {cronSpec: '@daily', note: x, spam: eggs}
";

const BAD_SINGLE: &str = "apiVersion: v1
kind: ConfigMap
metadata: {name: four}
spam: eggs
";

fn check_kubectl(minor: u32, openapi_v2: &[u8]) {
    let bin = PathBuf::from(format!("{KUBECTL_DIR}/kubectl.1.{minor}"));
    assert!(
        bin.exists(),
        "{} is missing: this test needs the real kubectl 1.{minor}",
        bin.display()
    );
    let tmp = TempDir::new(&format!("1{minor}"));
    let dir = &tmp.0;
    let server = FakeServer::start(dir, openapi_v2);
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: {{server: 'http://127.0.0.1:{}'}}
users:
- name: anon
  user: {{}}
contexts:
- name: fake
  context: {{cluster: fake, user: anon, namespace: default}}
current-context: fake
",
            server.port
        ),
    )
    .expect("write kubeconfig");

    let good = kubectl(&bin, dir, &kubeconfig, VALID_LIST);
    assert!(
        good.ok,
        "kubectl 1.{minor} refused a valid List:\nstdout: {}\nstderr: {}",
        good.stdout, good.stderr
    );
    assert!(
        good.stdout.contains("configmap/one created"),
        "{}",
        good.stdout
    );
    assert!(
        good.stdout.contains("configmap/two created"),
        "{}",
        good.stdout
    );
    let log = requests(dir);
    assert!(
        log.iter().any(|l| l.starts_with("GET /openapi/v2")),
        "kubectl 1.{minor} never fetched /openapi/v2: {log:#?}"
    );
    assert_eq!(
        log.iter().filter(|l| l.starts_with("POST ")).count(),
        2,
        "{log:#?}"
    );

    clear_requests(dir);
    let bad = kubectl(&bin, dir, &kubeconfig, BAD_LIST);
    assert!(
        !bad.ok,
        "kubectl 1.{minor} accepted an unknown field: {}",
        bad.stdout
    );
    assert!(
        bad.stderr.contains(r#"unknown field "spam""#)
            && bad.stderr.contains("io.k8s.api.core.v1.ConfigMap"),
        "kubectl 1.{minor} did not report the unknown field client-side:\n{}",
        bad.stderr
    );
    eprintln!(
        "kubectl 1.{minor} on the invalid List: {}",
        bad.stderr.trim()
    );
    let log = requests(dir);
    assert!(
        !log.iter().any(|l| l.starts_with("POST ")),
        "an invalid List was posted: {log:#?}"
    );

    clear_requests(dir);
    let good = kubectl(&bin, dir, &kubeconfig, VALID_CRONTABS);
    assert!(
        good.ok,
        "kubectl 1.{minor} refused a valid List of custom resources:\nstdout: {}\nstderr: {}",
        good.stdout, good.stderr
    );
    assert!(
        good.stdout
            .contains("crontab.stable.example.com/ct1 created"),
        "{}",
        good.stdout
    );
    assert!(
        good.stdout
            .contains("crontab.stable.example.com/ct2 created"),
        "{}",
        good.stdout
    );

    clear_requests(dir);
    let bad = kubectl(&bin, dir, &kubeconfig, BAD_CRONTABS);
    assert!(
        !bad.ok
            && bad
                .stderr
                .contains(r#"unknown field "spam" in com.example.stable.v1.CronTab.spec"#),
        "kubectl 1.{minor} did not report the custom resource's unknown field:\nstdout: {}\nstderr: {}",
        bad.stdout,
        bad.stderr
    );
    eprintln!(
        "kubectl 1.{minor} on the invalid CronTab List: {}",
        bad.stderr.trim()
    );
    assert!(
        !requests(dir).iter().any(|l| l.starts_with("POST ")),
        "an invalid List of custom resources was posted"
    );

    clear_requests(dir);
    let single = kubectl(&bin, dir, &kubeconfig, BAD_SINGLE);
    assert!(
        single.ok,
        "kubectl 1.{minor} (server-side validation expected):\nstdout: {}\nstderr: {}",
        single.stdout, single.stderr
    );
    let log = requests(dir);
    assert!(
        log.iter()
            .any(|l| l.starts_with("POST ") && l.contains("fieldValidation=Strict")),
        "kubectl 1.{minor} did not leave validation to the server: {log:#?}"
    );
}

#[test]
fn kubectl_validates_lists_against_the_v2_protobuf() {
    let pb = openapi_v2_bytes();
    for minor in [32, 33] {
        check_kubectl(minor, &pb);
    }
}
