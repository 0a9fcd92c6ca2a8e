//! `wharf server` driven by the real kubectl: the dispatcher on PATH (which runs the kubectl
//! matching the server's minor, 1.33) and kubectl 1.32 itself.

mod server_support;

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use server_support::{ApiServer, KUBECTL, KUBECTL_132, Options};

const MANIFESTS: &str = r#"apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: shop}
data: {color: blue}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: shop}
stringData: {password: hunter2}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: busybox:1.36
        ports: [{containerPort: 80}]
        env: [{name: A, value: "1"}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
"#;

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    additionalPrinterColumns:
    - {name: Size, type: string, jsonPath: .spec.size}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: string, enum: [small, large]}
              replicas: {type: integer, minimum: 0}
          status:
            type: object
            properties:
              replicas: {type: integer}
"#;

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn write(server: &ApiServer, name: &str, text: &str) -> String {
    let p = server.base.join(name);
    std::fs::write(&p, text).expect("writing a manifest");
    p.to_string_lossy().into_owned()
}

#[test]
fn kubectl_apply_edit_patch_scale_explain_and_delete() {
    let s = ApiServer::start("kubectl", Options::default());
    let all = write(&s, "all.yaml", MANIFESTS);

    // Client-side apply creates, then a second apply of an edited Deployment patches it
    // (strategic merge) and keeps the last-applied annotation.
    let out = s.ok(&["apply", "-f", &all]);
    for line in [
        "namespace/shop created",
        "configmap/cfg created",
        "secret/creds created",
        "deployment.apps/web created",
        "service/web created",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    let edited = MANIFESTS
        .replace("busybox:1.36", "busybox:1.37")
        .replace("replicas: 2", "replicas: 3");
    let all2 = write(&s, "all2.yaml", &edited);
    let out = s.ok(&["apply", "-f", &all2]);
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    assert!(out.contains("configmap/cfg unchanged"), "{out}");
    let d = json(&s.ok(&["get", "deploy", "web", "-n", "shop", "-o", "json"]));
    assert_eq!(d["spec"]["replicas"], 3);
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "busybox:1.37");
    assert_eq!(c["env"][0]["name"], "A", "env kept by the merge: {c}");
    assert_eq!(
        c["imagePullPolicy"], "IfNotPresent",
        "defaulted from the tag"
    );
    assert_eq!(d["metadata"]["generation"], 2);
    let last = d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
        .as_str()
        .expect("last-applied annotation");
    assert!(last.contains("busybox:1.37"));
    let secret = json(&s.ok(&["get", "secret", "creds", "-n", "shop", "-o", "json"]));
    assert_eq!(
        secret["data"]["password"], "aHVudGVyMg==",
        "stringData lands in data"
    );

    // A CRD, established, then a custom resource validated by its schema.
    let crd = write(&s, "crd.yaml", CRD);
    s.ok(&["apply", "-f", &crd]);
    s.ok(&[
        "wait",
        "--for",
        "condition=established",
        "crd/widgets.example.com",
        "--timeout=30s",
    ]);
    let w = write(
        &s,
        "w.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1, namespace: shop}\nspec: {size: small, replicas: 1}\n",
    );
    assert!(
        s.ok(&["apply", "-f", &w])
            .contains("widget.example.com/w1 created")
    );
    let table = s.ok(&["get", "wd", "-n", "shop"]);
    assert!(
        table.starts_with("NAME   SIZE    AGE"),
        "printer columns: {table}"
    );
    let bad = s.fails(
        &["apply", "-f", "-"],
        Some(br#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"bad","namespace":"shop"},"spec":{"size":"huge"}}"#),
    );
    assert!(
        bad.contains(r#"spec.size: Unsupported value: "huge": supported values: "small", "large""#),
        "{bad}"
    );

    // Server-side apply.
    let cm2 = write(
        &s,
        "cm2.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg2, namespace: shop}\ndata: {a: \"1\"}\n",
    );
    assert!(
        s.ok(&["apply", "--server-side", "-f", &cm2])
            .contains("configmap/cfg2 serverside-applied")
    );
    let cm = json(&s.ok(&[
        "get",
        "cm",
        "cfg2",
        "-n",
        "shop",
        "-o",
        "json",
        "--show-managed-fields",
    ]));
    let mf = &cm["metadata"]["managedFields"][0];
    assert_eq!(
        (mf["manager"].as_str(), mf["operation"].as_str()),
        (Some("kubectl"), Some("Apply"))
    );

    // Moving an object from client-side to server-side apply takes over the fields
    // client-side apply set; a field another client changed since is still a conflict.
    let mig = write(
        &s,
        "mig.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: mig, namespace: shop}\ndata: {a: \"1\"}\n",
    );
    s.ok(&["apply", "-f", &mig]);
    let mig2 = write(
        &s,
        "mig2.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: mig, namespace: shop}\ndata: {a: \"2\"}\n",
    );
    assert!(
        s.ok(&["apply", "--server-side", "-f", &mig2])
            .contains("serverside-applied")
    );
    s.ok(&[
        "patch",
        "cm",
        "mig",
        "-n",
        "shop",
        "-p",
        r#"{"data":{"a":"9"}}"#,
    ]);
    let mig3 = write(
        &s,
        "mig3.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: mig, namespace: shop}\ndata: {a: \"3\"}\n",
    );
    let e = s.fails(&["apply", "--server-side", "-f", &mig3], None);
    assert!(
        e.contains(
            r#"Apply failed with 1 conflict: conflict with "kubectl-patch" using v1: .data.a"#
        ),
        "{e}"
    );

    // get all: the real columns, from server-side Tables.
    let all_out = s.ok(&["get", "all", "-n", "shop"]);
    assert!(
        all_out.contains("NAME          TYPE        CLUSTER-IP"),
        "{all_out}"
    );
    assert!(all_out.contains("EXTERNAL-IP   PORT(S)   AGE"), "{all_out}");
    assert!(
        all_out.contains("NAME                  READY   UP-TO-DATE   AVAILABLE   AGE"),
        "{all_out}"
    );
    assert!(all_out.contains("deployment.apps/web   0/3"), "{all_out}");

    // get -o yaml round-trips through replace.
    let y = s.ok(&["get", "deploy", "web", "-n", "shop", "-o", "yaml"]);
    let yf = write(&s, "got.yaml", &y);
    assert!(
        s.ok(&["replace", "-f", &yf])
            .contains("deployment.apps/web replaced")
    );
    let again = json(&s.ok(&["get", "deploy", "web", "-n", "shop", "-o", "json"]));
    assert_eq!(
        again["spec"], d["spec"],
        "replace with what get printed changes nothing"
    );

    // explain prints the field docs from OpenAPI v3 (with both kubectl versions).
    for bin in [KUBECTL, KUBECTL_132] {
        let ex = s.ok_with(bin, &["explain", "deployment.spec.strategy"], None);
        assert!(ex.contains("FIELD: strategy <DeploymentStrategy>"), "{ex}");
        assert!(ex.contains("rollingUpdate"), "{ex}");
        assert!(
            ex.contains("The deployment strategy to use to replace existing pods with new ones."),
            "{ex}"
        );
    }

    // label, annotate, the three patch types, scale (subresource), edit.
    s.ok(&["label", "deploy", "web", "-n", "shop", "tier=front"]);
    s.ok(&["annotate", "deploy", "web", "-n", "shop", "note=x"]);
    s.ok(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "shop",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"minReadySeconds":5}}"#,
    ]);
    s.ok(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "shop",
        "--type",
        "json",
        "-p",
        r#"[{"op":"replace","path":"/spec/revisionHistoryLimit","value":4}]"#,
    ]);
    s.ok(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "shop",
        "--type",
        "strategic",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox"}]}}}}"#,
    ]);
    let d = json(&s.ok(&["get", "deploy", "web", "-n", "shop", "-o", "json"]));
    assert_eq!(d["metadata"]["labels"]["tier"], "front");
    assert_eq!(d["metadata"]["annotations"]["note"], "x");
    assert_eq!(d["spec"]["minReadySeconds"], 5);
    assert_eq!(d["spec"]["revisionHistoryLimit"], 4);
    let names: Vec<&str> = d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names.len(), 2, "merged by name, not replaced: {names:?}");
    assert!(names.contains(&"web") && names.contains(&"side"));
    assert_eq!(
        d["metadata"]["generation"], 5,
        "label and annotate do not bump the generation"
    );
    s.ok_with(
        KUBECTL_132,
        &["scale", "deploy", "web", "-n", "shop", "--replicas=5"],
        None,
    );
    assert_eq!(
        s.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "5"
    );
    s.ok(&["scale", "widget", "w1", "-n", "shop", "--replicas=3"]);
    assert_eq!(
        s.ok(&[
            "get",
            "widget",
            "w1",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "3"
    );
    let editor = write(
        &s,
        "editor.sh",
        "#!/bin/sh\nsed -i 's/color: blue/color: green/' \"$1\"\n",
    );
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let out = s.kubectl_with_env(&["edit", "cm", "cfg", "-n", "shop"], &[("EDITOR", &editor)]);
    assert!(out.contains("configmap/cfg edited"), "{out}");
    assert_eq!(
        s.ok(&[
            "get",
            "cm",
            "cfg",
            "-n",
            "shop",
            "-o",
            "jsonpath={.data.color}"
        ]),
        "green"
    );

    // delete waits for a graceful deletion: a finalizer holds the object until another
    // client removes it.
    let held = write(
        &s,
        "held.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, namespace: shop, finalizers: [example.com/hold]}\n",
    );
    s.ok(&["apply", "-f", &held]);
    let mut del = s
        .kubectl_cmd(KUBECTL)
        .args(["delete", "cm", "held", "-n", "shop", "--timeout=60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl delete");
    s.eventually("the deletionTimestamp", Duration::from_secs(30), || {
        let o = s.kubectl(&[
            "get",
            "cm",
            "held",
            "-n",
            "shop",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
        ]);
        (!o.stdout.is_empty()).then_some(())
    });
    assert!(
        del.try_wait().expect("try_wait").is_none(),
        "kubectl delete returned while the finalizer held the object"
    );
    s.ok(&[
        "patch",
        "cm",
        "held",
        "-n",
        "shop",
        "--type",
        "json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
    let status = del.wait().expect("kubectl delete ends");
    assert!(
        status.success(),
        "kubectl delete failed after the finalizer went"
    );
    s.fails(&["get", "cm", "held", "-n", "shop"], None);

    // Deleting the namespace deletes what is in it, custom resources included.
    let out = s.ok(&["delete", "ns", "shop"]);
    assert!(out.contains("namespace \"shop\" deleted"), "{out}");
    let err = s.fails(&["get", "ns", "shop"], None);
    assert!(
        err.contains("Error from server (NotFound): namespaces \"shop\" not found"),
        "{err}"
    );
    for kind in ["deploy", "cm", "svc", "widgets", "secrets"] {
        let out = s.ok(&["get", kind, "-A", "-o", "name"]);
        assert!(
            !out.contains("web")
                && !out.contains("w1")
                && !out.contains("creds")
                && !out.contains("cfg"),
            "{kind} left: {out}"
        );
    }
}

#[test]
fn kubectl_get_watch_streams_changes_from_another_client() {
    let s = ApiServer::start("watch", Options::default());
    let mut w = s
        .kubectl_cmd(KUBECTL_132)
        .args(["get", "pods", "-w", "-n", "default"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w");
    let stdout = w.stdout.take().expect("stdout");
    let rx = server_support::lines_of(stdout);
    // The header appears once the watch is set up (there are no pods yet: kubectl prints
    // "No resources found" to stderr and waits).
    std::thread::sleep(Duration::from_millis(1500));
    s.ok(&["run", "p1", "--image=busybox", "-n", "default"]);
    s.ok(&["label", "pod", "p1", "stage=two", "-n", "default"]);
    s.ok(&["delete", "pod", "p1", "-n", "default"]);
    let mut lines = Vec::new();
    while lines
        .iter()
        .filter(|l: &&String| l.starts_with("p1 "))
        .count()
        < 3
    {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => lines.push(l),
            Err(_) => break,
        }
    }
    let _ = w.kill();
    let _ = w.wait();
    let rows: Vec<&String> = lines.iter().filter(|l| l.starts_with("p1 ")).collect();
    assert_eq!(rows.len(), 3, "added, modified, deleted: {lines:?}");
    assert!(lines[0].starts_with("NAME"), "header first: {lines:?}");
    assert!(rows[0].contains("Pending"), "{rows:?}");
}
