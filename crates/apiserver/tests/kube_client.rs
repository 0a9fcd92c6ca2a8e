//! Acceptance for issue 6 with the real `kube` crate (5.0) as the client: `Api::list` (whole
//! and in pages of a consistent snapshot), a `kube::runtime::watcher` stream that sees another
//! task's apply and delete, server-side apply (create, update, conflicts between managers, force)
//! and discovery, both the per-group walk and aggregated discovery.
//!
//! Each test starts its own server in-process (`apiserver::start`) on 127.0.0.1:0 over HTTPS,
//! with its data in a temporary directory, and connects with the kubeconfig the server wrote —
//! the client certificate path a user of `kube` takes. The server's tasks live on the test's
//! runtime, so they stop with it.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::{Discovery, Scope, verbs};
use kube::runtime::watcher;
use kube::{Client, Error};
use serde_json::json;

/// A server running in this test's runtime and a client for it.
struct Fixture {
    client: Client,
    _running: apiserver::Running,
    _dir: tempfile::TempDir,
}

/// Starts a server with its own data directory and port, and a `kube` client built from the
/// kubeconfig it wrote (HTTPS, admin client certificate).
async fn start() -> Fixture {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let running = apiserver::start(apiserver::Config {
        data_dir: dir.path().join("data"),
        listen: "127.0.0.1:0".parse().expect("a socket address"),
        insecure_http: false,
        etcd_servers: Vec::new(),
        etcd_prefix: String::new(),
        kubeconfig: Some(dir.path().join("kubeconfig")),
        service_cidr: "10.96.0.0/12".to_string(),
        history: Duration::from_secs(300),
    })
    .await
    .expect("starting the API server in-process");
    let kubeconfig =
        Kubeconfig::read_from(&running.kubeconfig).expect("reading the written kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("a kube Config from the kubeconfig");
    assert_eq!(
        config.cluster_url.scheme_str(),
        Some("https"),
        "the kubeconfig's server is {}",
        config.cluster_url
    );
    let client = Client::try_from(config).expect("a kube Client");
    Fixture {
        client,
        _running: running,
        _dir: dir,
    }
}

/// Creates namespace `name`.
async fn namespace(client: &Client, name: &str) {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("creating a namespace");
}

/// A ConfigMap with `labels` and `data`.
fn config_map(name: &str, labels: &[(&str, &str)], data: &[(&str, &str)]) -> ConfigMap {
    let map = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(map(labels)),
            ..Default::default()
        },
        data: Some(map(data)),
        ..Default::default()
    }
}

/// The API error inside `r`, panicking with `what` if it succeeded or failed otherwise.
fn api_error<T: std::fmt::Debug>(r: Result<T, Error>, what: &str) -> Box<kube::core::Status> {
    match r {
        Err(Error::Api(status)) => status,
        Err(e) => panic!("{what}: expected an API error, got {e:?}"),
        Ok(v) => panic!("{what}: expected an API error, got success: {v:?}"),
    }
}

fn names(list: &[ConfigMap]) -> Vec<String> {
    list.iter()
        .map(|c| c.metadata.name.clone().unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_whole_and_in_pages() {
    let fx = start().await;
    let info = fx.client.apiserver_version().await.expect("GET /version");
    assert_eq!(info.major, "1", "version {info:?}");

    namespace(&fx.client, "many").await;
    let api: Api<ConfigMap> = Api::namespaced(fx.client.clone(), "many");
    const N: usize = 520;
    let created: Vec<ConfigMap> = futures_util::stream::iter(0..N)
        .map(|i| {
            let api = api.clone();
            let parity = if i % 2 == 0 { "even" } else { "odd" };
            async move {
                api.create(
                    &PostParams::default(),
                    &config_map(
                        &format!("cm-{i:04}"),
                        &[("set", "many"), ("parity", parity)],
                        &[("i", &i.to_string())],
                    ),
                )
                .await
            }
        })
        .buffer_unordered(8)
        .try_collect()
        .await
        .expect("creating the ConfigMaps");
    assert_eq!(created.len(), N);

    // Api::list without a limit: everything, sorted by name, with the list's resourceVersion.
    let all = api
        .list(&ListParams::default().labels("set=many"))
        .await
        .expect("Api::list");
    assert_eq!(all.items.len(), N, "a whole list");
    let mut want: Vec<String> = (0..N).map(|i| format!("cm-{i:04}")).collect();
    assert_eq!(names(&all.items), want, "a list comes back in name order");
    assert!(
        all.metadata.resource_version.is_some(),
        "the list has no resourceVersion"
    );
    assert!(
        all.metadata.continue_.is_none(),
        "an unlimited list has a continue token"
    );

    let even = api
        .list(&ListParams::default().labels("set=many,parity=even"))
        .await
        .expect("list by labels");
    assert_eq!(even.items.len(), N / 2, "parity=even");
    let odd_set = api
        .list(&ListParams::default().labels("parity in (odd),set"))
        .await
        .expect("list by a set-based selector");
    assert_eq!(odd_set.items.len(), N / 2, "parity in (odd),set");

    // Pages of 500 (the client-go and kube-runtime default): 500 + the rest.
    let first = api
        .list(&ListParams::default().limit(500))
        .await
        .expect("the first page of 500");
    assert_eq!(first.items.len(), 500, "the first page");
    let token = first
        .metadata
        .continue_
        .clone()
        .expect("a continue token after 500 of 520");
    assert!(
        first
            .metadata
            .remaining_item_count
            .is_none_or(|n| n == (N - 500) as i64),
        "remainingItemCount {:?}",
        first.metadata.remaining_item_count
    );
    let second = api
        .list(&ListParams::default().limit(500).continue_token(&token))
        .await
        .expect("the second page");
    assert_eq!(second.items.len(), N - 500, "the last page");
    assert!(
        second
            .metadata
            .continue_
            .as_deref()
            .is_none_or(str::is_empty),
        "the last page has a continue token"
    );

    // Pages of 100 are one consistent snapshot: an object created after the first page does not
    // show up in later pages, and every page reports the first page's resourceVersion.
    let mut pages = 0;
    let mut seen: Vec<String> = Vec::new();
    let mut params = ListParams::default().labels("set=many").limit(100);
    let mut snapshot_rv = None;
    loop {
        let page = api.list(&params).await.expect("a page of 100");
        pages += 1;
        if pages == 1 {
            snapshot_rv = page.metadata.resource_version.clone();
            api.create(
                &PostParams::default(),
                &config_map("cm-9999-late", &[("set", "many")], &[]),
            )
            .await
            .expect("creating an object between pages");
        } else {
            assert_eq!(
                page.metadata.resource_version, snapshot_rv,
                "page {pages}'s resourceVersion"
            );
        }
        seen.extend(names(&page.items));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => {
                assert_eq!(page.items.len(), 100, "a non-final page");
                params = params.continue_token(&c);
            }
            None => break,
        }
    }
    assert_eq!(pages, 6, "520 objects in pages of 100");
    assert_eq!(
        seen, want,
        "the pages together are the snapshot, in order, without duplicates"
    );
    want.push("cm-9999-late".to_string());
    let after = api
        .list(&ListParams::default().labels("set=many"))
        .await
        .expect("a list after the pages");
    assert_eq!(
        names(&after.items),
        want,
        "a fresh list has the late object"
    );

    // Errors as Status objects.
    let missing = api_error(api.get("nope").await, "getting a missing ConfigMap");
    assert!(missing.is_not_found(), "{missing:?}");
    assert_eq!(missing.message, "configmaps \"nope\" not found");
    let dup = api_error(
        api.create(&PostParams::default(), &config_map("cm-0000", &[], &[]))
            .await,
        "creating a ConfigMap twice",
    );
    assert!(dup.is_already_exists(), "{dup:?}");
    assert_eq!(dup.code, 409);
    let opt = api
        .get_opt("nope")
        .await
        .expect("get_opt of a missing object");
    assert!(opt.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_sees_apply_and_delete() {
    let fx = start().await;
    namespace(&fx.client, "watched").await;
    let api: Api<ConfigMap> = Api::namespaced(fx.client.clone(), "watched");
    api.create(
        &PostParams::default(),
        &config_map("before", &[("app", "w")], &[("x", "0")]),
    )
    .await
    .expect("creating an object before the watcher");

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watch_api = api.clone();
    let watching = tokio::spawn(async move {
        let stream = watcher(watch_api, watcher::Config::default().labels("app=w"));
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.next().await {
            if tx.send(ev).is_err() {
                break;
            }
        }
    });
    let mut next = async || -> watcher::Event<ConfigMap> {
        tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("a watcher event within 30 s")
            .expect("the watcher stream ended")
            .expect("the watcher stream failed")
    };

    // The initial list: Init, the existing object, InitDone.
    assert!(
        matches!(next().await, watcher::Event::Init),
        "the stream starts with Init"
    );
    match next().await {
        watcher::Event::InitApply(cm) => assert_eq!(cm.metadata.name.as_deref(), Some("before")),
        other => panic!("expected InitApply(before), got {other:?}"),
    }
    assert!(
        matches!(next().await, watcher::Event::InitDone),
        "the initial list ends with InitDone"
    );

    // Another task applies, updates and deletes; an unlabelled object must not show up.
    let writer_api = api.clone();
    let writer = tokio::spawn(async move {
        let pp = PatchParams::apply("watch-test").force();
        for value in ["1", "2"] {
            let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "w1", "labels": {"app": "w"}}, "data": {"x": value}});
            writer_api
                .patch("w1", &pp, &Patch::Apply(&body))
                .await
                .expect("applying w1");
        }
        writer_api
            .create(&PostParams::default(), &config_map("unlabelled", &[], &[]))
            .await
            .expect("creating an object the watcher does not select");
        writer_api
            .delete("w1", &DeleteParams::default())
            .await
            .expect("deleting w1");
    });

    let mut seen = Vec::new();
    loop {
        let (kind, cm) = match next().await {
            watcher::Event::Apply(cm) => ("Apply", cm),
            watcher::Event::Delete(cm) => ("Delete", cm),
            other => panic!("unexpected event after InitDone: {other:?}"),
        };
        let name = cm.metadata.name.clone().unwrap_or_default();
        let x = cm
            .data
            .as_ref()
            .and_then(|d| d.get("x").cloned())
            .unwrap_or_default();
        seen.push((kind, name.clone(), x));
        if kind == "Delete" && name == "w1" {
            break;
        }
    }
    writer.await.expect("the writer task");
    let want = [
        ("Apply", "w1", "1"),
        ("Apply", "w1", "2"),
        ("Delete", "w1", "2"),
    ];
    let got: Vec<(&str, &str, &str)> = seen
        .iter()
        .map(|(k, n, x)| (*k, n.as_str(), x.as_str()))
        .collect();
    assert_eq!(got, want, "the watcher's events");
    watching.abort();
}

/// Who owns what, by manager, from `metadata.managedFields`.
fn managers(cm: &ConfigMap) -> Vec<(String, String)> {
    let mut m: Vec<(String, String)> = cm
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .map(|e| {
            (
                e.manager.clone().unwrap_or_default(),
                e.operation.clone().unwrap_or_default(),
            )
        })
        .collect();
    m.sort();
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply() {
    let fx = start().await;
    namespace(&fx.client, "ssa").await;
    let api: Api<ConfigMap> = Api::namespaced(fx.client.clone(), "ssa");
    let apply = |data: serde_json::Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "labels": {"owner": "test"}}, "data": data});

    // Create by apply.
    let pp = PatchParams::apply("test").force();
    let cm = api
        .patch(
            "cfg",
            &pp,
            &Patch::Apply(&apply(json!({"a": "1", "b": "2"}))),
        )
        .await
        .expect("creating by server-side apply");
    assert_eq!(cm.data.as_ref().map(|d| d.len()), Some(2), "{cm:?}");
    assert_eq!(
        managers(&cm),
        vec![("test".into(), "Apply".into())],
        "managedFields after create"
    );
    let uid = cm.metadata.uid.clone().expect("a uid");
    let rv1 = cm
        .metadata
        .resource_version
        .clone()
        .expect("a resourceVersion");

    // Update by apply: a changed value and a dropped field (owned only by "test": removed).
    let cm = api
        .patch("cfg", &pp, &Patch::Apply(&apply(json!({"a": "10"}))))
        .await
        .expect("updating by server-side apply");
    let data = cm.data.clone().unwrap_or_default();
    assert_eq!(data.get("a").map(String::as_str), Some("10"));
    assert!(
        !data.contains_key("b"),
        "a field the manager stopped applying stayed: {data:?}"
    );
    assert_eq!(
        cm.metadata.uid.as_deref(),
        Some(uid.as_str()),
        "apply replaced the object"
    );
    assert_ne!(
        cm.metadata.resource_version.as_deref(),
        Some(rv1.as_str()),
        "the resourceVersion did not move"
    );

    // Applying the same again changes nothing.
    let same = api
        .patch("cfg", &pp, &Patch::Apply(&apply(json!({"a": "10"}))))
        .await
        .expect("a no-op apply");
    assert_eq!(
        same.metadata.resource_version, cm.metadata.resource_version,
        "a no-op apply wrote"
    );

    // Another manager setting a different value for a field "test" owns, without force: 409.
    let other = |data: serde_json::Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": data});
    let status = api_error(
        api.patch(
            "cfg",
            &PatchParams::apply("other"),
            &Patch::Apply(&other(json!({"a": "20"}))),
        )
        .await,
        "a conflicting apply without force",
    );
    assert_eq!(status.code, 409, "{status:?}");
    assert!(status.is_conflict(), "{status:?}");
    let causes = status
        .details
        .as_ref()
        .map(|d| d.causes.clone())
        .unwrap_or_default();
    assert!(
        causes.iter().any(|c| c.reason == "FieldManagerConflict"
            && c.field == ".data.a"
            && c.message.contains("\"test\"")),
        "the 409 does not name the conflict on .data.a with manager \"test\": {status:?}"
    );
    let unchanged = api.get("cfg").await.expect("get after the conflict");
    assert_eq!(
        unchanged.metadata.resource_version, cm.metadata.resource_version,
        "a rejected apply changed the object"
    );

    // A field nobody else owns: no conflict, both managers now own parts.
    let cm = api
        .patch(
            "cfg",
            &PatchParams::apply("other"),
            &Patch::Apply(&other(json!({"c": "3"}))),
        )
        .await
        .expect("a non-conflicting apply by another manager");
    assert_eq!(
        cm.data
            .as_ref()
            .and_then(|d| d.get("a"))
            .map(String::as_str),
        Some("10")
    );
    assert_eq!(
        cm.data
            .as_ref()
            .and_then(|d| d.get("c"))
            .map(String::as_str),
        Some("3")
    );
    assert_eq!(
        managers(&cm),
        vec![
            ("other".into(), "Apply".into()),
            ("test".into(), "Apply".into())
        ],
        "managedFields with two appliers"
    );

    // With force the other manager takes the field over.
    let cm = api
        .patch(
            "cfg",
            &PatchParams::apply("other").force(),
            &Patch::Apply(&other(json!({"a": "20", "c": "3"}))),
        )
        .await
        .expect("a forced apply");
    assert_eq!(
        cm.data
            .as_ref()
            .and_then(|d| d.get("a"))
            .map(String::as_str),
        Some("20")
    );
    // "test" no longer owns .data.a: its next apply without it must not remove it.
    let cm = api
        .patch("cfg", &pp, &Patch::Apply(&apply(json!({}))))
        .await
        .expect("the first manager applying less");
    assert_eq!(
        cm.data
            .as_ref()
            .and_then(|d| d.get("a"))
            .map(String::as_str),
        Some("20"),
        "{cm:?}"
    );

    // A typed apply of a Deployment (a nested, keyed list) with the kube types.
    let deployments: Api<Deployment> = Api::namespaced(fx.client.clone(), "ssa");
    let dep = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}});
    let d = deployments
        .patch("web", &pp, &Patch::Apply(&dep))
        .await
        .expect("applying a Deployment");
    assert_eq!(d.spec.as_ref().and_then(|s| s.replicas), Some(2));
    let status = api_error(
        deployments
            .patch(
                "web",
                &PatchParams::apply("other"),
                &Patch::Apply(&json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                    "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}}})),
            )
            .await,
        "a conflicting apply on a container image",
    );
    assert_eq!(status.code, 409, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_legacy_and_aggregated() {
    let fx = start().await;
    let deployment = GroupVersionKind::gvk("apps", "v1", "Deployment");
    let config_map = GroupVersionKind::gvk("", "v1", "ConfigMap");
    let node = GroupVersionKind::gvk("", "v1", "Node");
    let legacy = Discovery::new(fx.client.clone())
        .run()
        .await
        .expect("Discovery::run");
    let aggregated = Discovery::new(fx.client.clone())
        .run_aggregated()
        .await
        .expect("Discovery::run_aggregated");
    for (how, d) in [("run", &legacy), ("run_aggregated", &aggregated)] {
        for group in [
            "",
            "apps",
            "batch",
            "rbac.authorization.k8s.io",
            "apiextensions.k8s.io",
        ] {
            assert!(d.has_group(group), "{how}: group {group:?} is missing");
        }
        let (ar, caps) = d
            .resolve_gvk(&deployment)
            .unwrap_or_else(|| panic!("{how}: no apps/v1 Deployment"));
        assert_eq!(ar.plural, "deployments", "{how}");
        assert_eq!(ar.api_version, "apps/v1", "{how}");
        assert_eq!(caps.scope, Scope::Namespaced, "{how}");
        for verb in [
            verbs::LIST,
            verbs::WATCH,
            verbs::CREATE,
            verbs::PATCH,
            verbs::DELETE,
        ] {
            assert!(
                caps.supports_operation(verb),
                "{how}: deployments lack {verb}: {:?}",
                caps.operations
            );
        }
        let subs: Vec<&str> = caps
            .subresources
            .iter()
            .map(|(r, _)| r.plural.as_str())
            .collect();
        assert!(
            subs.contains(&"scale") && subs.contains(&"status"),
            "{how}: deployment subresources {subs:?}"
        );
        let (ar, caps) = d
            .resolve_gvk(&config_map)
            .unwrap_or_else(|| panic!("{how}: no v1 ConfigMap"));
        assert_eq!(
            (ar.plural.as_str(), caps.scope.clone()),
            ("configmaps", Scope::Namespaced),
            "{how}"
        );
        let (_, caps) = d
            .resolve_gvk(&node)
            .unwrap_or_else(|| panic!("{how}: no v1 Node"));
        assert_eq!(caps.scope, Scope::Cluster, "{how}: nodes");
        let apps = d.get("apps").unwrap_or_else(|| panic!("{how}: apps"));
        assert_eq!(
            apps.preferred_version(),
            Some("v1"),
            "{how}: apps' preferred version"
        );
        let kinds: Vec<String> = apps
            .recommended_resources()
            .into_iter()
            .map(|(ar, _)| ar.kind)
            .collect();
        for k in [
            "Deployment",
            "ReplicaSet",
            "StatefulSet",
            "DaemonSet",
            "ControllerRevision",
        ] {
            assert!(
                kinds.iter().any(|x| x == k),
                "{how}: apps lacks {k}: {kinds:?}"
            );
        }
    }
    // Both walks agree on what is served.
    let summary = |d: &Discovery| -> Vec<(String, String, String)> {
        let mut v: Vec<_> = d
            .groups()
            .flat_map(|g| g.recommended_resources())
            .map(|(ar, caps)| (ar.api_version, ar.plural, format!("{:?}", caps.scope)))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        summary(&legacy),
        summary(&aggregated),
        "legacy and aggregated discovery differ"
    );
}
