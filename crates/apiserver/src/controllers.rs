//! The controllers that live inside the API server, because the API's own semantics depend
//! on them: the garbage collector (ownerReferences, orphan and foreground deletion), the
//! namespace controller (deleting a namespace deletes its contents), and the CRD controller
//! (serving established CustomResourceDefinitions, removing their objects on deletion).
//!
//! Event handlers only enqueue keys; `reconcile` reads the cache and is idempotent, and a
//! periodic resync enqueues everything still pending, so a missed event only delays work.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cache::Change;
use crate::handler::Server;
use crate::object;
use crate::registry::Served;
use crate::rest::{WriteOpts, spec_finalizers};

const CRD_CLEANUP: &str = "customresourcecleanup.apiextensions.k8s.io";
const CRD_PREFIX: &str = "/registry/apiextensions.k8s.io/customresourcedefinitions/";

#[derive(Debug, Default)]
struct Index {
    /// uid → key.
    by_uid: HashMap<String, String>,
    /// owner uid → dependents' keys.
    dependents: HashMap<String, BTreeSet<String>>,
}

impl Index {
    fn add(&mut self, key: &str, obj: &Value) {
        let uid = object::uid(obj);
        if !uid.is_empty() {
            self.by_uid.insert(uid.to_string(), key.to_string());
        }
        for r in object::owner_refs(obj) {
            if let Some(o) = r["uid"].as_str() {
                self.dependents
                    .entry(o.to_string())
                    .or_default()
                    .insert(key.to_string());
            }
        }
    }

    fn remove(&mut self, key: &str, obj: &Value) {
        let uid = object::uid(obj);
        if self.by_uid.get(uid).is_some_and(|k| k == key) {
            self.by_uid.remove(uid);
        }
        for r in object::owner_refs(obj) {
            if let Some(o) = r["uid"].as_str()
                && let Some(set) = self.dependents.get_mut(o)
            {
                set.remove(key);
                if set.is_empty() {
                    self.dependents.remove(o);
                }
            }
        }
    }
}

/// Runs the controllers until the process ends.
pub async fn run(server: Arc<Server>) {
    let mut rx = server.api.cache.subscribe();
    let mut index = Index::default();
    let mut queue: BTreeSet<String> = BTreeSet::new();
    for (k, e) in server.api.cache.all() {
        index.add(&k, &e.obj);
        queue.insert(k);
    }
    let mut resync = tokio::time::interval(Duration::from_secs(10));
    loop {
        while let Some(key) = queue.pop_first() {
            // Take whatever arrived meanwhile first, so the index is current.
            drain(&mut rx, &mut index, &mut queue);
            reconcile(&server, &index, &key).await;
        }
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(e) => on_event(&e, &mut index, &mut queue),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    index = Index::default();
                    for (k, e) in server.api.cache.all() {
                        index.add(&k, &e.obj);
                        queue.insert(k);
                    }
                }
                Err(_) => return,
            },
            _ = resync.tick() => {
                for (k, e) in server.api.cache.all() {
                    if object::deleting(&e.obj) || !object::owner_refs(&e.obj).is_empty() || k.starts_with(CRD_PREFIX) {
                        queue.insert(k);
                    }
                }
            }
        }
    }
}

fn drain(
    rx: &mut tokio::sync::broadcast::Receiver<Arc<crate::cache::Event>>,
    index: &mut Index,
    queue: &mut BTreeSet<String>,
) {
    while let Ok(e) = rx.try_recv() {
        on_event(&e, index, queue);
    }
}

fn on_event(e: &crate::cache::Event, index: &mut Index, queue: &mut BTreeSet<String>) {
    if let Some(prev) = &e.prev {
        index.remove(&e.key, prev);
    }
    match e.change {
        Change::Deleted => {
            // Dependents may now be orphans; the namespace may now be empty.
            if let Some(deps) = index.dependents.get(object::uid(&e.obj)) {
                queue.extend(deps.iter().cloned());
            }
            for r in object::owner_refs(&e.obj) {
                if let Some(k) = r["uid"].as_str().and_then(|u| index.by_uid.get(u)) {
                    queue.insert(k.clone());
                }
            }
            if let Some(ns) = object::namespace(&e.obj) {
                queue.insert(format!("/registry/namespaces/{ns}"));
            }
            if e.key.starts_with(CRD_PREFIX) {
                queue.insert(e.key.clone());
            }
            // A custom resource went: its definition may be waiting for that.
            queue.insert(e.key.clone());
        }
        _ => {
            index.add(&e.key, &e.obj);
            queue.insert(e.key.clone());
            if object::deleting(&e.obj)
                && let Some(deps) = index.dependents.get(object::uid(&e.obj))
            {
                queue.extend(deps.iter().cloned());
            }
        }
    }
}

fn served_for(server: &Server, obj: &Value) -> Option<Arc<Served>> {
    let av = obj["apiVersion"].as_str()?;
    let kind = obj["kind"].as_str()?;
    let (g, v) = api::resource::split_api_version(av);
    server.api.registry.find_kind(g, v, kind)
}

async fn reconcile(server: &Arc<Server>, index: &Index, key: &str) {
    if key.starts_with(CRD_PREFIX) {
        reconcile_crd(server, key).await;
        return;
    }
    let Some(entry) = server.api.cache.get(key) else {
        // A deleted object: if it was a custom resource, its definition may be waiting.
        let mut segs = key.trim_start_matches("/registry/").split('/');
        if let (Some(group), Some(plural)) = (segs.next(), segs.next())
            && group.contains('.')
        {
            let crd = format!("{CRD_PREFIX}{plural}.{group}");
            if server
                .api
                .cache
                .get(&crd)
                .is_some_and(|c| object::deleting(&c.obj))
            {
                Box::pin(reconcile_crd(server, &crd)).await;
            }
        }
        return;
    };
    let obj = entry.obj;
    let Some(served) = served_for(server, &obj) else {
        return;
    };
    if served.resource.group.is_empty()
        && served.resource.kind == "Namespace"
        && object::deleting(&obj)
    {
        reconcile_namespace(server, &served, &obj).await;
    }
    if object::deleting(&obj) {
        let fins = object::finalizers(&obj);
        if fins.iter().any(|f| f == "orphan") {
            orphan_dependents(server, index, &served, &obj).await;
        }
        if fins.iter().any(|f| f == "foregroundDeletion") {
            foreground(server, index, &served, &obj).await;
        }
    }
    // Owners gone → collect.
    let refs = object::owner_refs(&obj);
    if !refs.is_empty() && !object::deleting(&obj) {
        let mut any_alive = false;
        let mut waiting_foreground = false;
        for r in refs {
            let Some(uid) = r["uid"].as_str() else {
                continue;
            };
            match index.by_uid.get(uid).and_then(|k| server.api.cache.get(k)) {
                Some(owner) if object::uid(&owner.obj) == uid => {
                    if object::deleting(&owner.obj)
                        && object::finalizers(&owner.obj)
                            .iter()
                            .any(|f| f == "foregroundDeletion")
                    {
                        waiting_foreground = true;
                    } else {
                        any_alive = true;
                    }
                }
                _ => {}
            }
        }
        if !any_alive {
            let policy = if waiting_foreground {
                "Foreground"
            } else {
                "Background"
            };
            let opts = WriteOpts::system("garbage-collector");
            let options =
                json!({"propagationPolicy": policy, "preconditions": {"uid": object::uid(&obj)}});
            if let Err(e) = server
                .api
                .delete(
                    &served,
                    object::namespace(&obj),
                    object::name(&obj),
                    &options,
                    &opts,
                )
                .await
                && e.code != 404
                && e.code != 409
            {
                tracing::warn!(key, "garbage collector: {e}");
            }
        }
    }
}

async fn remove_finalizer(server: &Server, served: &Served, obj: &Value, fin: &str) {
    let opts = WriteOpts::system("garbage-collector");
    let fin = fin.to_string();
    let uid = object::uid(obj).to_string();
    let r = server
        .api
        .update_with(
            served,
            object::namespace(obj),
            object::name(obj),
            None,
            &opts,
            |cur| {
                let Some(cur) = cur else {
                    return Err(api::error::ApiError::not_found("", "", ""));
                };
                if object::uid(cur) != uid {
                    return Err(api::error::ApiError::not_found("", "", ""));
                }
                let mut v = cur.clone();
                let fins: Vec<String> = object::finalizers(cur)
                    .into_iter()
                    .filter(|f| *f != fin)
                    .collect();
                object::set_finalizers(&mut v, &fins);
                object::meta_mut(&mut v).remove("resourceVersion");
                Ok(v)
            },
        )
        .await;
    if let Err(e) = r
        && e.code != 404
    {
        tracing::warn!(name = object::name(obj), "removing finalizer: {e}");
    }
}

async fn orphan_dependents(server: &Server, index: &Index, served: &Served, owner: &Value) {
    let owner_uid = object::uid(owner).to_string();
    let deps: Vec<String> = index
        .dependents
        .get(&owner_uid)
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default();
    let opts = WriteOpts::system("garbage-collector");
    for k in deps {
        let Some(e) = server.api.cache.get(&k) else {
            continue;
        };
        let Some(ds) = served_for(server, &e.obj) else {
            continue;
        };
        let uid = owner_uid.clone();
        let r = server
            .api
            .update_with(
                &ds,
                object::namespace(&e.obj),
                object::name(&e.obj),
                None,
                &opts,
                |cur| {
                    let Some(cur) = cur else {
                        return Err(api::error::ApiError::not_found("", "", ""));
                    };
                    let mut v = cur.clone();
                    let refs: Vec<Value> = object::owner_refs(cur)
                        .iter()
                        .filter(|r| r["uid"].as_str() != Some(uid.as_str()))
                        .cloned()
                        .collect();
                    let m = object::meta_mut(&mut v);
                    if refs.is_empty() {
                        m.remove("ownerReferences");
                    } else {
                        m.insert("ownerReferences".into(), json!(refs));
                    }
                    m.remove("resourceVersion");
                    Ok(v)
                },
            )
            .await;
        if let Err(e) = r
            && e.code != 404
        {
            tracing::warn!(key = k, "orphaning: {e}");
            return;
        }
    }
    remove_finalizer(server, served, owner, "orphan").await;
}

async fn foreground(server: &Server, index: &Index, served: &Served, owner: &Value) {
    let owner_uid = object::uid(owner);
    let deps: Vec<String> = index
        .dependents
        .get(owner_uid)
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default();
    let mut blocking = 0;
    let opts = WriteOpts::system("garbage-collector");
    for k in &deps {
        let Some(e) = server.api.cache.get(k) else {
            continue;
        };
        let blocks = object::owner_refs(&e.obj).iter().any(|r| {
            r["uid"].as_str() == Some(owner_uid) && r["blockOwnerDeletion"].as_bool() == Some(true)
        });
        if blocks {
            blocking += 1;
        }
        if !object::deleting(&e.obj)
            && let Some(ds) = served_for(server, &e.obj)
        {
            let options = json!({"propagationPolicy": "Foreground"});
            let _ = server
                .api
                .delete(
                    &ds,
                    object::namespace(&e.obj),
                    object::name(&e.obj),
                    &options,
                    &opts,
                )
                .await;
        }
    }
    if blocking == 0 {
        remove_finalizer(server, served, owner, "foregroundDeletion").await;
    }
}

async fn reconcile_namespace(server: &Server, served: &Served, ns_obj: &Value) {
    let ns = object::name(ns_obj).to_string();
    let opts = WriteOpts::system("namespace-controller");
    let mut remaining = 0;
    for s in server.api.registry.all() {
        if !s.resource.namespaced || !s.resource.verbs.iter().any(|v| v == "delete") {
            continue;
        }
        let prefix = format!("{}{ns}/", s.resource.key_prefix());
        let (snap, _) = server.api.cache.list(&prefix, None, 0, |_| true);
        let mut seen = HashSet::new();
        for (_, e) in snap.items {
            remaining += 1;
            if !seen.insert(object::uid(&e.obj).to_string()) || object::deleting(&e.obj) {
                continue;
            }
            let options = json!({"propagationPolicy": "Background"});
            if let Err(err) = server
                .api
                .delete(&s, Some(&ns), object::name(&e.obj), &options, &opts)
                .await
                && err.code != 404
            {
                tracing::warn!(namespace = %ns, "deleting {}: {err}", object::name(&e.obj));
            }
        }
    }
    if remaining > 0 {
        return;
    }
    // Empty: drop the `kubernetes` finalizer; the namespace then goes.
    if spec_finalizers(ns_obj).iter().any(|f| f == "kubernetes") {
        let r = server
            .api
            .update_with(served, None, &ns, Some("finalize"), &opts, |cur| {
                let Some(cur) = cur else {
                    return Err(api::error::ApiError::not_found("", "namespaces", &ns));
                };
                let mut v = cur.clone();
                let fins: Vec<String> = spec_finalizers(cur)
                    .into_iter()
                    .filter(|f| f != "kubernetes")
                    .collect();
                v["spec"]["finalizers"] = json!(fins);
                object::meta_mut(&mut v).remove("resourceVersion");
                Ok(v)
            })
            .await;
        if let Err(e) = r
            && e.code != 404
        {
            tracing::warn!(namespace = %ns, "finalizing: {e}");
        }
    }
}

async fn reconcile_crd(server: &Arc<Server>, key: &str) {
    let name = key.trim_start_matches(CRD_PREFIX).to_string();
    let Some(entry) = server.api.cache.get(key) else {
        server.api.registry.set_crd(&name, vec![]);
        return;
    };
    let crd = entry.obj;
    let versions = api::schema::crd::served_versions(&crd);
    let Some(crd_served) =
        server
            .api
            .registry
            .find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    else {
        return;
    };
    let opts = WriteOpts::system("apiextensions-controller");
    if object::deleting(&crd) {
        // Delete every object of the definition, then let it go.
        let mut remaining = 0;
        for v in &versions {
            if let Some(s) =
                server
                    .api
                    .registry
                    .find(&v.resource.group, &v.resource.version, &v.resource.plural)
            {
                let (snap, _) = server
                    .api
                    .cache
                    .list(&s.resource.key_prefix(), None, 0, |_| true);
                for (_, e) in snap.items {
                    remaining += 1;
                    if !object::deleting(&e.obj) {
                        let _ = server
                            .api
                            .delete(
                                &s,
                                object::namespace(&e.obj),
                                object::name(&e.obj),
                                &json!({}),
                                &opts,
                            )
                            .await;
                    }
                }
                break;
            }
        }
        if remaining == 0 {
            server.api.registry.set_crd(&name, vec![]);
            remove_finalizer(server, &crd_served, &crd, CRD_CLEANUP).await;
        }
        return;
    }
    server.api.registry.set_crd(&name, versions);
    // Status: names accepted, established; and the cleanup finalizer.
    let established = crd["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
    });
    let has_fin = object::finalizers(&crd).iter().any(|f| f == CRD_CLEANUP);
    if !has_fin {
        let _ = server
            .api
            .update_with(&crd_served, None, &name, None, &opts, |cur| {
                let Some(cur) = cur else {
                    return Err(api::error::ApiError::not_found("", "", ""));
                };
                let mut v = cur.clone();
                let mut fins = object::finalizers(cur);
                if !fins.iter().any(|f| f == CRD_CLEANUP) {
                    fins.push(CRD_CLEANUP.into());
                }
                object::set_finalizers(&mut v, &fins);
                object::meta_mut(&mut v).remove("resourceVersion");
                Ok(v)
            })
            .await;
    }
    let accepted = crd["spec"]["names"].clone();
    if !established || crd["status"]["acceptedNames"] != accepted {
        let now = object::now();
        let stored: Vec<Value> = crd["spec"]["versions"]
            .as_array()
            .map(|vs| {
                vs.iter()
                    .filter(|v| v["storage"] == true)
                    .map(|v| v["name"].clone())
                    .collect()
            })
            .unwrap_or_default();
        let _ = server
            .api
            .update_with(&crd_served, None, &name, Some("status"), &opts, |cur| {
                let Some(cur) = cur else { return Err(api::error::ApiError::not_found("", "", "")) };
                let mut v = cur.clone();
                v["status"] = json!({
                    "acceptedNames": accepted,
                    "conditions": [
                        {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
                        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now},
                    ],
                    "storedVersions": stored,
                });
                object::meta_mut(&mut v).remove("resourceVersion");
                Ok(v)
            })
            .await;
    }
}
