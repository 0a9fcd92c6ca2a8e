//! The documents served on `/openapi/v3`: the index of group-versions and one OpenAPI 3.0
//! document per group-version, shaped as kube-apiserver's.
//!
//! kubectl reads them twice (client-compat.md A2): `apply`/`create` look for a path whose
//! `patch` operation has the object's `x-kubernetes-group-version-kind` and a `fieldValidation`
//! parameter (then they leave validation to the server), and client-side apply computes a
//! strategic merge patch only when that operation accepts
//! `application/strategic-merge-patch+json` — which is why custom resources' patch operations
//! leave it out (kubectl then sends a JSON merge patch, as against kube-apiserver).
//! `kubectl explain` finds the kind's schema in `components.schemas` by its
//! `x-kubernetes-group-version-kind` and follows the `$ref`s from there.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::{REF_PREFIX, Schemas, builtin};
use crate::resource::{self, Resource};

/// The Kubernetes version the documents describe.
const KUBE_VERSION: &str = "v1.33.0";

/// `api/v1` or `apis/<group>/<version>`: the key of a group-version in the index, and its URL
/// path below `/openapi/v3/`.
pub fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The `/openapi/v3` index: `{"paths": {"api/v1": {"serverRelativeURL":
/// "/openapi/v3/api/v1?hash=H"}, "apis/apps/v1": …}}`, every group-version with the same hash.
pub fn index(group_versions: &[(String, String)], hash: &str) -> Value {
    let entries: Vec<(String, String, String)> = group_versions
        .iter()
        .map(|(g, v)| (g.clone(), v.clone(), hash.to_string()))
        .collect();
    index_hashed(&entries)
}

/// The `/openapi/v3` index with one hash per group-version: `(group, version, hash)`.
pub fn index_hashed(entries: &[(String, String, String)]) -> Value {
    let mut paths = Map::new();
    for (g, v, h) in entries {
        let p = gv_path(g, v);
        paths.insert(
            p.clone(),
            json!({ "serverRelativeURL": format!("/openapi/v3/{p}?hash={h}") }),
        );
    }
    json!({ "paths": paths })
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("{REF_PREFIX}{name}") })
}

/// `apps` → `Apps`, `rbac.authorization.k8s.io` → `RbacAuthorization`, `` → `Core`,
/// `stable.example.com` → `StableExampleCom`: the group part of upstream's operation ids.
fn group_camel(group: &str) -> String {
    if group.is_empty() {
        return "Core".to_string();
    }
    group
        .trim_end_matches(".k8s.io")
        .split(['.', '-'])
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(first) => first.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

fn version_camel(version: &str) -> String {
    let mut c = version.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn query(name: &str, ty: &str, description: &str) -> Value {
    json!({
        "name": name, "in": "query", "description": description,
        "schema": { "type": ty, "uniqueItems": true },
    })
}

fn path_param(name: &str, description: &str) -> Value {
    json!({
        "name": name, "in": "path", "required": true, "description": description,
        "schema": { "type": "string", "uniqueItems": true },
    })
}

fn pretty() -> Value {
    query(
        "pretty",
        "string",
        "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).",
    )
}

fn dry_run() -> Value {
    query(
        "dryRun",
        "string",
        "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed",
    )
}

fn field_manager() -> Value {
    query(
        "fieldManager",
        "string",
        "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.",
    )
}

fn field_validation() -> Value {
    query(
        "fieldValidation",
        "string",
        "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.",
    )
}

fn force() -> Value {
    query(
        "force",
        "boolean",
        "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.",
    )
}

fn list_params() -> Vec<Value> {
    vec![
        query(
            "allowWatchBookmarks",
            "boolean",
            "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion.",
        ),
        query(
            "continue",
            "string",
            "The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue).",
        ),
        query(
            "fieldSelector",
            "string",
            "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
        ),
        query(
            "labelSelector",
            "string",
            "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
        ),
        query(
            "limit",
            "integer",
            "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results.",
        ),
        query(
            "resourceVersion",
            "string",
            "resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset",
        ),
        query(
            "resourceVersionMatch",
            "string",
            "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended that resourceVersionMatch be set for list calls where resourceVersion is set See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset",
        ),
        query(
            "sendInitialEvents",
            "boolean",
            "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection.",
        ),
        query(
            "timeoutSeconds",
            "integer",
            "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.",
        ),
        query(
            "watch",
            "boolean",
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion.",
        ),
    ]
}

fn delete_params() -> Vec<Value> {
    vec![
        dry_run(),
        query(
            "gracePeriodSeconds",
            "integer",
            "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately.",
        ),
        query(
            "ignoreStoreReadErrorWithClusterBreakingPotential",
            "boolean",
            "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error.",
        ),
        query(
            "orphanDependents",
            "boolean",
            "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned. If true/false, the \"orphan\" finalizer will be added to/removed from the object's finalizers list. Either this field or PropagationPolicy may be set, but not both.",
        ),
        query(
            "propagationPolicy",
            "string",
            "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground.",
        ),
    ]
}

/// Response bodies in the media types kube-apiserver serves.
fn content(schema: &Value, watch: bool) -> Value {
    let mut c = Map::new();
    let mut types = vec![
        "application/json",
        "application/vnd.kubernetes.protobuf",
        "application/yaml",
    ];
    if watch {
        types.extend([
            "application/json;stream=watch",
            "application/vnd.kubernetes.protobuf;stream=watch",
        ]);
    }
    for t in types {
        c.insert(t.to_string(), json!({ "schema": schema }));
    }
    Value::Object(c)
}

fn responses(codes: &[(&str, &str)], schema: &Value, watch: bool) -> Value {
    let mut r = Map::new();
    for (code, description) in codes {
        r.insert(
            (*code).to_string(),
            json!({ "description": description, "content": content(schema, watch) }),
        );
    }
    r.insert("401".into(), json!({ "description": "Unauthorized" }));
    Value::Object(r)
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({ "group": group, "version": version, "kind": kind })
}

/// What one path's operations are about.
struct Target<'a> {
    /// Operation id suffix: `NamespacedDeployment`, `NamespacedDeploymentStatus`.
    id: String,
    /// `GroupVersion` part of operation ids: `AppsV1`.
    gv: String,
    /// The kind the operations take and return.
    gvk: Value,
    /// Its schema name.
    schema: &'a str,
    /// The tag upstream groups operations by: `apps_v1`.
    tag: String,
    custom: bool,
}

impl Target<'_> {
    fn op(&self, action: &str, verb: &str, description: &str, mut params: Vec<Value>) -> Value {
        params.push(pretty());
        let mut o = json!({
            "tags": [self.tag],
            "description": description,
            "operationId": format!("{verb}{}{}", self.gv, self.id),
            "parameters": params,
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": self.gvk,
        });
        let kind = reference(self.schema);
        let (codes, body): (&[(&str, &str)], Option<Value>) = match action {
            "get" => (&[("200", "OK")], None),
            "put" => (
                &[("200", "OK"), ("201", "Created")],
                Some(json!({ "content": { "*/*": { "schema": kind } }, "required": true })),
            ),
            "post" => (
                &[("200", "OK"), ("201", "Created"), ("202", "Accepted")],
                Some(json!({ "content": { "*/*": { "schema": kind } }, "required": true })),
            ),
            "patch" => {
                let patch = reference("io.k8s.apimachinery.pkg.apis.meta.v1.Patch");
                let mut types = vec![
                    "application/apply-patch+yaml",
                    "application/json-patch+json",
                    "application/merge-patch+json",
                ];
                if !self.custom {
                    types.push("application/strategic-merge-patch+json");
                }
                let c: Map<String, Value> = types
                    .into_iter()
                    .map(|t| (t.to_string(), json!({ "schema": patch })))
                    .collect();
                (
                    &[("200", "OK"), ("201", "Created")],
                    Some(json!({ "content": c, "required": true })),
                )
            }
            _ => (&[("200", "OK")], None),
        };
        o["responses"] = responses(codes, &kind, false);
        if let Some(b) = body {
            o["requestBody"] = b;
        }
        o
    }

    fn delete(&self) -> Value {
        let mut o = json!({
            "tags": [self.tag],
            "description": "delete a resource",
            "operationId": format!("delete{}{}", self.gv, self.id),
            "parameters": ([delete_params(), vec![pretty()]].concat()),
            "requestBody": { "content": { "*/*": { "schema": reference(builtin::DELETE_OPTIONS) } } },
            "x-kubernetes-action": "delete",
            "x-kubernetes-group-version-kind": self.gvk,
        });
        let status = reference(builtin::STATUS);
        o["responses"] = responses(&[("200", "OK"), ("202", "Accepted")], &status, false);
        o
    }

    fn list(&self, id: &str, list_schema: &Value) -> Value {
        json!({
            "tags": [self.tag],
            "description": "list or watch objects of the kind",
            "operationId": format!("list{}{}", self.gv, id),
            "parameters": ([list_params(), vec![pretty()]].concat()),
            "responses": responses(&[("200", "OK")], list_schema, true),
            "x-kubernetes-action": "list",
            "x-kubernetes-group-version-kind": self.gvk,
        })
    }

    fn delete_collection(&self, list_id: &str) -> Value {
        let mut params = delete_params();
        params.extend(list_params().into_iter().filter(|p| {
            !matches!(
                p["name"].as_str(),
                Some("watch" | "allowWatchBookmarks" | "sendInitialEvents")
            )
        }));
        params.push(pretty());
        json!({
            "tags": [self.tag],
            "description": "delete collection of the kind",
            "operationId": format!("delete{}Collection{}", self.gv, list_id),
            "parameters": params,
            "requestBody": { "content": { "*/*": { "schema": reference(builtin::DELETE_OPTIONS) } } },
            "responses": responses(&[("200", "OK")], &reference(builtin::STATUS), false),
            "x-kubernetes-action": "deletecollection",
            "x-kubernetes-group-version-kind": self.gvk,
        })
    }
}

fn has(r: &Resource, verb: &str) -> bool {
    r.verbs.iter().any(|v| v == verb)
}

/// The OpenAPI 3.0 document of one group-version: every resource's paths and operations
/// (collection: list, create, deletecollection; item: read, replace, patch, delete; the
/// `status` and `scale` subresources: read, replace, patch) and every schema they reference,
/// transitively, from `schemas`. Resources whose kind has no schema in `schemas` get paths
/// whose bodies are free-form objects. Deterministic: the same input gives the same bytes.
pub fn document(schemas: &Schemas, group: &str, version: &str, resources: &[Resource]) -> Value {
    let base = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let gv = format!("{}{}", group_camel(group), version_camel(version));
    let tag = format!(
        "{}_{version}",
        if group.is_empty() {
            "core".to_string()
        } else {
            group.trim_end_matches(".k8s.io").replace('.', "_")
        }
    );
    let mut paths: BTreeMap<String, Value> = BTreeMap::new();
    let mut roots: BTreeSet<String> = [
        builtin::STATUS.to_string(),
        builtin::DELETE_OPTIONS.to_string(),
        "io.k8s.apimachinery.pkg.apis.meta.v1.Patch".to_string(),
    ]
    .into();
    for r in resources
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let custom = resource::find_builtin(&r.group, &r.version, &r.plural).is_none();
        let Some(schema_name) = schemas.name_for_gvk(&r.group, &r.version, &r.kind) else {
            continue;
        };
        // Custom resources' lists have no named schema: an inline one of their items.
        let list_schema = match schemas.name_for_gvk(&r.group, &r.version, &r.list_kind) {
            Some(n) => {
                roots.insert(n.to_string());
                reference(n)
            }
            None => json!({
                "type": "object",
                "required": ["items"],
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "metadata": reference(builtin::LIST_META),
                    "items": {"type": "array", "items": reference(schema_name)},
                },
                "x-kubernetes-group-version-kind": [gvk(&r.group, &r.version, &r.list_kind)],
            }),
        };
        roots.insert(builtin::LIST_META.to_string());
        roots.insert(schema_name.to_string());
        let scope = if r.namespaced { "Namespaced" } else { "" };
        let target = Target {
            id: format!("{scope}{}", r.kind),
            gv: gv.clone(),
            gvk: gvk(&r.group, &r.version, &r.kind),
            schema: schema_name,
            tag: tag.clone(),
            custom,
        };
        let collection = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("{base}/{}", r.plural)
        };
        let item = format!("{collection}/{{name}}");
        let ns_param = || {
            path_param(
                "namespace",
                "object name and auth scope, such as for teams and projects",
            )
        };
        let name_param = |what: &str| path_param("name", &format!("name of the {what}"));

        let mut coll = Map::new();
        if has(r, "list") {
            coll.insert("get".into(), target.list(&target.id, &list_schema));
        }
        if has(r, "create") {
            coll.insert(
                "post".into(),
                target.op(
                    "post",
                    "create",
                    &format!("create {}", r.kind),
                    vec![dry_run(), field_manager(), field_validation()],
                ),
            );
        }
        if has(r, "deletecollection") {
            coll.insert("delete".into(), target.delete_collection(&target.id));
        }
        if !coll.is_empty() {
            if r.namespaced {
                coll.insert("parameters".into(), json!([ns_param()]));
            }
            paths.insert(collection.clone(), Value::Object(coll));
        }
        if r.namespaced && has(r, "list") {
            let all = format!("{base}/{}", r.plural);
            paths.insert(
                all,
                json!({ "get": target.list(&format!("{}ForAllNamespaces", r.kind), &list_schema) }),
            );
        }

        let mut one = Map::new();
        if has(r, "get") {
            one.insert(
                "get".into(),
                target.op(
                    "get",
                    "read",
                    &format!("read the specified {}", r.kind),
                    vec![],
                ),
            );
        }
        if has(r, "update") {
            one.insert(
                "put".into(),
                target.op(
                    "put",
                    "replace",
                    &format!("replace the specified {}", r.kind),
                    vec![dry_run(), field_manager(), field_validation()],
                ),
            );
        }
        if has(r, "patch") {
            one.insert(
                "patch".into(),
                target.op(
                    "patch",
                    "patch",
                    &format!("partially update the specified {}", r.kind),
                    vec![dry_run(), field_manager(), field_validation(), force()],
                ),
            );
        }
        if has(r, "delete") {
            one.insert("delete".into(), target.delete());
        }
        let mut item_params = vec![name_param(&r.kind)];
        if r.namespaced {
            item_params.push(ns_param());
        }
        if !one.is_empty() {
            one.insert("parameters".into(), Value::Array(item_params.clone()));
            paths.insert(item.clone(), Value::Object(one));
        }

        for sub in &r.subresources {
            let (sub_schema, sub_id) = match sub.name.as_str() {
                "status" => (schema_name.to_string(), format!("{}Status", target.id)),
                "scale" => (builtin::SCALE.to_string(), format!("{}Scale", target.id)),
                _ => continue,
            };
            if schemas.get(&sub_schema).is_none() {
                continue;
            }
            roots.insert(sub_schema.clone());
            let st = Target {
                id: sub_id,
                gv: gv.clone(),
                gvk: gvk(&sub.group, &sub.version, &sub.kind),
                schema: &sub_schema,
                tag: tag.clone(),
                custom,
            };
            let what = format!("{} of the specified {}", sub.name, r.kind);
            let mut ops = Map::new();
            let sub_has = |v: &str| sub.verbs.iter().any(|x| x == v);
            if sub_has("get") {
                ops.insert(
                    "get".into(),
                    st.op("get", "read", &format!("read {what}"), vec![]),
                );
            }
            if sub_has("update") {
                ops.insert(
                    "put".into(),
                    st.op(
                        "put",
                        "replace",
                        &format!("replace {what}"),
                        vec![dry_run(), field_manager(), field_validation()],
                    ),
                );
            }
            if sub_has("patch") {
                ops.insert(
                    "patch".into(),
                    st.op(
                        "patch",
                        "patch",
                        &format!("partially update {what}"),
                        vec![dry_run(), field_manager(), field_validation(), force()],
                    ),
                );
            }
            ops.insert("parameters".into(), Value::Array(item_params.clone()));
            paths.insert(format!("{item}/{}", sub.name), Value::Object(ops));
        }
    }

    json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": KUBE_VERSION },
        "paths": paths,
        "components": { "schemas": closure(schemas, roots) },
    })
}

/// The schemas named in `roots` and every schema they reference, transitively.
pub fn closure(schemas: &Schemas, roots: BTreeSet<String>) -> Map<String, Value> {
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    let mut todo: Vec<String> = roots.into_iter().collect();
    while let Some(name) = todo.pop() {
        if out.contains_key(&name) {
            continue;
        }
        let Some(schema) = schemas.get(&name) else {
            continue;
        };
        collect_refs(schema, &mut todo);
        out.insert(name, schema.clone());
    }
    out.into_iter().collect()
}

fn collect_refs(v: &Value, into: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(REF_PREFIX))
            {
                into.push(r.to_string());
            }
            m.values().for_each(|x| collect_refs(x, into));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, into)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::builtin::builtin;

    #[test]
    fn index_lists_group_versions() {
        let i = index(
            &[
                ("".to_string(), "v1".to_string()),
                ("apps".to_string(), "v1".to_string()),
            ],
            "ABC",
        );
        assert_eq!(
            i["paths"]["api/v1"]["serverRelativeURL"],
            "/openapi/v3/api/v1?hash=ABC"
        );
        assert_eq!(
            i["paths"]["apis/apps/v1"]["serverRelativeURL"],
            "/openapi/v3/apis/apps/v1?hash=ABC"
        );
    }

    #[test]
    fn apps_v1_document_has_what_kubectl_looks_for() {
        let rs = resource::builtin();
        let doc = document(builtin(), "apps", "v1", &rs);
        assert_eq!(doc["openapi"], "3.0.0");
        let item = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
        let patch = &item["patch"];
        assert_eq!(patch["operationId"], "patchAppsV1NamespacedDeployment");
        assert_eq!(
            patch["x-kubernetes-group-version-kind"],
            json!({"group": "apps", "version": "v1", "kind": "Deployment"})
        );
        let params: Vec<&str> = patch["parameters"]
            .as_array()
            .expect("params")
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert!(params.contains(&"fieldValidation") && params.contains(&"force"));
        assert!(
            patch["requestBody"]["content"]
                .get("application/strategic-merge-patch+json")
                .is_some()
        );
        let list = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]["get"];
        assert_eq!(list["x-kubernetes-action"], "list");
        assert!(
            doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"]
                ["x-kubernetes-group-version-kind"]["kind"]
                == "Scale"
        );
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        let d = &schemas["io.k8s.api.apps.v1.Deployment"];
        assert!(d["description"].is_string());
        assert!(schemas.contains_key("io.k8s.api.apps.v1.DeploymentStrategy"));
        assert!(schemas.contains_key("io.k8s.api.core.v1.Container"));
        assert!(schemas.contains_key("io.k8s.api.autoscaling.v1.Scale"));
        assert!(!schemas.contains_key("io.k8s.api.batch.v1.Job"));
        // Every reference in the document resolves inside it.
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        for r in refs {
            assert!(schemas.contains_key(&r), "dangling {r}");
        }
        assert_eq!(
            serde_json::to_string(&doc).expect("json"),
            serde_json::to_string(&document(builtin(), "apps", "v1", &rs)).expect("json")
        );
    }

    #[test]
    fn core_and_cluster_scoped_paths() {
        let rs = resource::builtin();
        let doc = document(builtin(), "", "v1", &rs);
        assert!(doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"].is_object());
        assert_eq!(
            doc["paths"]["/api/v1/namespaces/{name}"]["get"]["operationId"],
            "readCoreV1Namespace"
        );
        assert!(doc["paths"]["/api/v1/pods"]["get"].is_object());
    }

    #[test]
    fn custom_resources_get_no_strategic_merge() {
        let mut m = BTreeMap::new();
        m.insert(
            "com.example.v1.Widget".to_string(),
            json!({"type": "object", "x-kubernetes-group-version-kind": [{"group": "example.com", "version": "v1", "kind": "Widget"}]}),
        );
        let schemas = builtin().with(m);
        let r = Resource {
            group: "example.com".into(),
            version: "v1".into(),
            kind: "Widget".into(),
            list_kind: "WidgetList".into(),
            plural: "widgets".into(),
            singular: "widget".into(),
            namespaced: true,
            short_names: vec![],
            categories: vec![],
            verbs: vec!["get".into(), "patch".into(), "list".into()],
            subresources: vec![],
        };
        let doc = document(&schemas, "example.com", "v1", &[r]);
        let patch =
            &doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"];
        assert_eq!(patch["operationId"], "patchExampleComV1NamespacedWidget");
        let content = patch["requestBody"]["content"]
            .as_object()
            .expect("content");
        assert!(content.contains_key("application/merge-patch+json"));
        assert!(!content.contains_key("application/strategic-merge-patch+json"));
    }
}
