//! Acceptance for issue 6 with the real Python `kubernetes` client (32.0.1, the one matching
//! kubectl 1.32): create, list with label selectors and pages, watch (the client sends
//! `watch=True`), the three patch types, delete and the 404 that follows, a Deployment and its
//! `scale` subresource, and the DynamicClient over legacy discovery — all over HTTPS with the
//! admin client certificate from the kubeconfig `wharf server` writes.
//!
//! The client lives in a virtualenv at /opt/wharf-pyk8s (scripts/install-deps.sh makes it).

mod server_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use server_support::{ApiServer, Options, output_within};

/// The virtualenv's interpreter, with `kubernetes==32.0.1` installed.
const PYTHON: &str = "/opt/wharf-pyk8s/bin/python";

/// The line the script prints when every check passed.
const OK_LINE: &str = "PYTHON-KUBERNETES-OK";

/// The client-side script: `python script.py KUBECONFIG WORKDIR`. Every check raises with what
/// it expected and what it got; each step is printed first so a failure shows where it was.
const SCRIPT: &str = r#"
import json
import os
import sys
import threading
import time
import traceback

import kubernetes
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from kubernetes.dynamic import DynamicClient

KUBECONFIG, WORKDIR = sys.argv[1], sys.argv[2]


def step(msg):
    print("step:", msg, flush=True)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def expect_api_error(fn, status, reason, what):
    try:
        fn()
    except ApiException as e:
        body = json.loads(e.body)
        check(e.status == status, f"{what}: status {e.status}, expected {status}; body {e.body}")
        check(body.get("kind") == "Status", f"{what}: error body is not a Status: {e.body}")
        check(body.get("reason") == reason, f"{what}: reason {body.get('reason')!r}, expected {reason!r}")
        check(body.get("code") == status, f"{what}: code {body.get('code')} in the Status")
        return body
    raise AssertionError(f"{what}: succeeded, expected {status} {reason}")


step(f"kubernetes client {kubernetes.__version__}")
check(kubernetes.__version__ == "32.0.1", f"client version {kubernetes.__version__}, expected 32.0.1")

# Two independent clients from the kubeconfig: one writes, one watches.
api = config.new_client_from_config(config_file=KUBECONFIG)
check(api.configuration.host.startswith("https://"), f"kubeconfig server {api.configuration.host} is not HTTPS")
check(api.configuration.cert_file and api.configuration.key_file, "kubeconfig has no client certificate")
v1 = client.CoreV1Api(api)
apps = client.AppsV1Api(api)

step("version (GET /version/)")
ver = client.VersionApi(api).get_code()
check(ver.major == "1" and ver.minor.startswith("3"), f"version {ver.major}.{ver.minor}")

NS = "py-client"
step(f"create namespace {NS}")
created_ns = v1.create_namespace(client.V1Namespace(api_version="v1", kind="Namespace", metadata=client.V1ObjectMeta(name=NS)))
check(created_ns.metadata.uid, "the created namespace has no uid")
check(created_ns.status.phase == "Active", f"namespace phase {created_ns.status.phase}")
expect_api_error(
    lambda: v1.create_namespace(client.V1Namespace(api_version="v1", kind="Namespace", metadata=client.V1ObjectMeta(name=NS))),
    409, "AlreadyExists", "creating the namespace twice")

step("create ConfigMaps")
for i in range(6):
    cm = client.V1ConfigMap(api_version="v1", kind="ConfigMap",
        metadata=client.V1ObjectMeta(name=f"cm-{i}", labels={"app": "demo", "tier": "a" if i % 2 == 0 else "b"}),
        data={"k": str(i)})
    out = v1.create_namespaced_config_map(NS, cm)
    check(out.metadata.name == f"cm-{i}" and out.metadata.namespace == NS, f"created {out.metadata}")
    check(out.metadata.resource_version, "created ConfigMap has no resourceVersion")
    check(out.metadata.creation_timestamp is not None, "created ConfigMap has no creationTimestamp")
v1.create_namespaced_config_map(NS, client.V1ConfigMap(api_version="v1", kind="ConfigMap",
    metadata=client.V1ObjectMeta(name="other", labels={"app": "other"}), data={}))
bad = client.V1ConfigMap(api_version="v1", kind="ConfigMap", metadata=client.V1ObjectMeta(name="Bad_Name"), data={})
st = expect_api_error(lambda: v1.create_namespaced_config_map(NS, bad), 422, "Invalid", "a ConfigMap named Bad_Name")
check("Bad_Name" in st.get("message", ""), f"the Invalid message does not name the object: {st}")

step("list with label selectors")
lst = v1.list_namespaced_config_map(NS, label_selector="app=demo,tier=a")
names = sorted(i.metadata.name for i in lst.items)
check(names == ["cm-0", "cm-2", "cm-4"], f"app=demo,tier=a listed {names}")
check(lst.metadata.resource_version, "the list has no resourceVersion")
lst = v1.list_namespaced_config_map(NS, label_selector="tier in (b),app!=other")
names = sorted(i.metadata.name for i in lst.items)
check(names == ["cm-1", "cm-3", "cm-5"], f"tier in (b),app!=other listed {names}")
lst = v1.list_namespaced_config_map(NS, label_selector="!tier")
names = sorted(i.metadata.name for i in lst.items)
check(names == ["kube-root-ca.crt", "other"] or names == ["other"], f"!tier listed {names}")
lst = v1.list_config_map_for_all_namespaces(label_selector="app=demo")
check(len(lst.items) == 6, f"all-namespaces app=demo listed {len(lst.items)}")

step("list in pages (limit/continue)")
seen, cont, pages = [], None, 0
while True:
    page = v1.list_namespaced_config_map(NS, label_selector="app=demo", limit=4, _continue=cont)
    pages += 1
    seen += [i.metadata.name for i in page.items]
    cont = page.metadata._continue
    if not cont:
        break
    check(len(page.items) == 4, f"a non-final page had {len(page.items)} items")
check(pages == 2 and sorted(seen) == [f"cm-{i}" for i in range(6)], f"{pages} pages with {seen}")

step("watch=True: ADDED, MODIFIED, DELETED in order")
start_rv = v1.list_namespaced_pod(NS).metadata.resource_version
events, errors = [], []
def watcher():
    try:
        wv1 = client.CoreV1Api(config.new_client_from_config(config_file=KUBECONFIG))
        w = watch.Watch()
        for ev in w.stream(wv1.list_namespaced_pod, NS, resource_version=start_rv, timeout_seconds=60):
            obj = ev["object"]
            events.append((ev["type"], obj.metadata.name, dict(obj.metadata.labels or {}), obj.metadata.resource_version))
            if ev["type"] == "DELETED" and obj.metadata.name == "watched":
                w.stop()
    except Exception:
        errors.append(traceback.format_exc())
t = threading.Thread(target=watcher, daemon=True)
t.start()
time.sleep(0.5)
pod = client.V1Pod(api_version="v1", kind="Pod",
    metadata=client.V1ObjectMeta(name="watched", labels={"stage": "one"}),
    spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1.36")]))
p = v1.create_namespaced_pod(NS, pod)
check(p.spec.restart_policy == "Always", f"pod restartPolicy defaulted to {p.spec.restart_policy}")
check(p.spec.containers[0].image_pull_policy == "IfNotPresent", f"imagePullPolicy {p.spec.containers[0].image_pull_policy}")
check(p.status.phase == "Pending", f"new pod phase {p.status.phase}")
p2 = v1.patch_namespaced_pod("watched", NS, {"metadata": {"labels": {"stage": "two"}}})
check(p2.metadata.labels == {"stage": "two"}, f"patched labels {p2.metadata.labels}")
v1.delete_namespaced_pod("watched", NS)
t.join(60)
check(not t.is_alive(), f"the watch did not see the pod's deletion within 60 s; events so far: {events}")
check(not errors, f"the watch failed: {errors}")
mine = [(e[0], e[2].get("stage")) for e in events if e[1] == "watched"]
check(mine == [("ADDED", "one"), ("MODIFIED", "two"), ("DELETED", "two")], f"watch events {mine}")
rvs = [int(e[3]) for e in events if e[1] == "watched"]
check(rvs == sorted(rvs) and len(set(rvs)) == len(rvs), f"event resourceVersions not increasing: {rvs}")
expect_api_error(lambda: v1.read_namespaced_pod("watched", NS), 404, "NotFound", "reading the deleted pod")

step("watch from now with timeout_seconds ends on time and starts with ADDED for what exists")
began = time.monotonic()
initial = [(ev["type"], ev["object"].metadata.name)
           for ev in watch.Watch().stream(v1.list_namespaced_config_map, NS, label_selector="app=demo", timeout_seconds=2)]
took = time.monotonic() - began
check(sorted(initial) == [("ADDED", f"cm-{i}") for i in range(6)], f"initial watch events {initial}")
check(took < 15, f"a watch with timeout_seconds=2 lasted {took:.1f} s")

step("strategic merge patch (dict body)")
cm = v1.patch_namespaced_config_map("cm-0", NS, {"metadata": {"labels": {"patched": "smp"}}, "data": {"new": "v"}})
check(cm.data == {"k": "0", "new": "v"}, f"data after strategic merge {cm.data}")
check(cm.metadata.labels.get("patched") == "smp" and cm.metadata.labels.get("app") == "demo", f"labels {cm.metadata.labels}")

step("JSON merge patch (the DynamicClient, over legacy discovery: 32.0.1's typed API cannot choose the type)")
dyn = DynamicClient(api, cache_file=os.path.join(WORKDIR, "dynamic-discovery.json"))
cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
check(cms.namespaced and cms.name == "configmaps", f"ConfigMap resource {cms.name} namespaced={cms.namespaced}")
cms.patch(name="cm-0", namespace=NS, body={"data": {"k": None, "merged": "yes"}},
          content_type="application/merge-patch+json")
cm = v1.read_namespaced_config_map("cm-0", NS)
check(cm.data == {"new": "v", "merged": "yes"}, f"data after merge patch {cm.data}")

step("JSON patch (list body)")
cm = v1.patch_namespaced_config_map("cm-0", NS, [{"op": "add", "path": "/data/jp", "value": "1"},
                                                 {"op": "remove", "path": "/data/new"}])
check(cm.data == {"merged": "yes", "jp": "1"}, f"data after JSON patch {cm.data}")

step("strategic merge on a pod's containers by merge key name")
v1.create_namespaced_pod(NS, client.V1Pod(api_version="v1", kind="Pod",
    metadata=client.V1ObjectMeta(name="two-containers"),
    spec=client.V1PodSpec(containers=[client.V1Container(name="a", image="busybox:1.36"),
                                      client.V1Container(name="b", image="busybox:1.36")])))
p = v1.patch_namespaced_pod("two-containers", NS, {"spec": {"containers": [{"name": "b", "image": "busybox:1.37"}]}})
check([(c.name, c.image) for c in p.spec.containers] == [("a", "busybox:1.36"), ("b", "busybox:1.37")],
      f"containers after patch {[(c.name, c.image) for c in p.spec.containers]}")

step("update with a stale resourceVersion is a 409 Conflict")
stale = v1.read_namespaced_config_map("cm-2", NS)
fresh = v1.read_namespaced_config_map("cm-2", NS)
fresh.data["x"] = "1"
v1.replace_namespaced_config_map("cm-2", NS, fresh)
stale.data["x"] = "2"
expect_api_error(lambda: v1.replace_namespaced_config_map("cm-2", NS, stale), 409, "Conflict", "a stale update")

step("delete, then 404 NotFound")
v1.delete_namespaced_config_map("cm-1", NS)
st = expect_api_error(lambda: v1.read_namespaced_config_map("cm-1", NS), 404, "NotFound", "reading a deleted ConfigMap")
check(st.get("message") == 'configmaps "cm-1" not found', f"NotFound message {st.get('message')!r}")
check(st.get("details", {}).get("name") == "cm-1", f"NotFound details {st.get('details')}")
expect_api_error(lambda: v1.delete_namespaced_config_map("cm-1", NS), 404, "NotFound", "deleting it again")
expect_api_error(lambda: v1.patch_namespaced_config_map("cm-1", NS, {"data": {"a": "b"}}), 404, "NotFound", "patching it")

step("Deployment and its scale subresource")
labels = {"app": "web"}
dep = client.V1Deployment(api_version="apps/v1", kind="Deployment",
    metadata=client.V1ObjectMeta(name="web", labels=labels),
    spec=client.V1DeploymentSpec(
        replicas=1,
        selector=client.V1LabelSelector(match_labels=labels),
        template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels=labels),
            spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="nginx:1.27")]))))
d = apps.create_namespaced_deployment(NS, dep)
check(d.metadata.generation == 1, f"new deployment generation {d.metadata.generation}")
check(d.spec.strategy.type == "RollingUpdate", f"strategy defaulted to {d.spec.strategy}")
check(d.spec.revision_history_limit == 10, f"revisionHistoryLimit defaulted to {d.spec.revision_history_limit}")
sc = apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 3}})
check(sc.spec.replicas == 3, f"scale after patch {sc.spec.replicas}")
check(sc.kind == "Scale" and sc.api_version == "autoscaling/v1", f"scale is {sc.api_version} {sc.kind}")
d = apps.read_namespaced_deployment("web", NS)
check(d.spec.replicas == 3, f"deployment replicas {d.spec.replicas} after scaling")
check(d.metadata.generation == 2, f"generation {d.metadata.generation} after scaling")
sc = apps.read_namespaced_deployment_scale("web", NS)
check(sc.spec.replicas == 3 and sc.status.selector == "app=web", f"scale read {sc.spec} {sc.status}")
names = [x.metadata.name for x in apps.list_namespaced_deployment(NS).items]
check(names == ["web"], f"deployments {names}")

step("DynamicClient: list, create, get")
got = cms.get(namespace=NS, label_selector="app=demo")
check(sorted(i.metadata.name for i in got.items) == ["cm-0", "cm-2", "cm-3", "cm-4", "cm-5"],
      f"dynamic list {[i.metadata.name for i in got.items]}")
made = cms.create(body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dyn"}, "data": {"d": "1"}}, namespace=NS)
check(made.metadata.name == "dyn" and made.data.d == "1", f"dynamic create {made}")
deps = dyn.resources.get(api_version="apps/v1", kind="Deployment")
check(deps.namespaced and "scale" in deps.subresources, f"Deployment subresources {list(deps.subresources)}")
check(dyn.resources.get(api_version="apps/v1", kind="Deployment").get(name="web", namespace=NS).spec.replicas == 3,
      "dynamic get of the deployment")
nodes = dyn.resources.get(api_version="v1", kind="Node")
check(not nodes.namespaced, "Node is namespaced in discovery")

step("typed models without apiVersion/kind, as the client's own examples write them")
# kube-apiserver decodes a body with the endpoint's group/version/kind as defaults, so these
# are accepted there; the response always carries both.
out = v1.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="kindless"), data={"a": "b"}))
check(out.kind == "ConfigMap" and out.api_version == "v1", f"kindless create answered {out.api_version} {out.kind}")
out.data["a"] = "c"
out.kind = out.api_version = None
out = v1.replace_namespaced_config_map("kindless", NS, out)
check(out.data == {"a": "c"}, f"kindless replace gave {out.data}")
out = apps.create_namespaced_deployment(NS, client.V1Deployment(
    metadata=client.V1ObjectMeta(name="kindless"),
    spec=client.V1DeploymentSpec(
        selector=client.V1LabelSelector(match_labels={"app": "kindless"}),
        template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels={"app": "kindless"}),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1.36")])))))
check(out.kind == "Deployment" and out.api_version == "apps/v1", f"kindless deployment answered {out.api_version} {out.kind}")
check(out.spec.replicas == 1, f"replicas defaulted to {out.spec.replicas}")

step("delete the namespace: its contents go, then the namespace")
v1.delete_namespace(NS)
deadline = time.monotonic() + 60
while True:
    try:
        phase = v1.read_namespace(NS).status.phase
        check(phase == "Terminating", f"deleted namespace phase {phase}")
    except ApiException as e:
        check(e.status == 404, f"reading the deleted namespace: {e.status} {e.body}")
        break
    check(time.monotonic() < deadline, "the namespace was not gone 60 s after its deletion")
    time.sleep(0.2)
left = v1.list_namespaced_config_map(NS).items
check(not left, f"ConfigMaps left in the deleted namespace: {[i.metadata.name for i in left]}")

print("PYTHON-KUBERNETES-OK", flush=True)
"#;

#[test]
fn python_kubernetes_client_over_https() {
    assert!(
        Path::new(PYTHON).exists(),
        "{PYTHON} is missing: the Python `kubernetes` 32.0.1 client lives in a virtualenv there; \
         run scripts/install-deps.sh to create it"
    );
    let server = ApiServer::start("python", Options::default());
    let script = server.base.join("client.py");
    std::fs::write(&script, SCRIPT).expect("writing the client script");
    let mut cmd = Command::new(PYTHON);
    cmd.arg(&script)
        .arg(&server.kubeconfig)
        .arg(&server.base)
        .env("HOME", &server.home)
        .env("PYTHONUNBUFFERED", "1")
        .env_remove("KUBECONFIG");
    let out = output_within(&mut cmd, None, Duration::from_secs(240));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || !stdout.lines().any(|l| l == OK_LINE) {
        let log = server.log();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "the Python client script failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver log tail:\n{}",
            out.status,
            tail.join("\n")
        );
    }
}
