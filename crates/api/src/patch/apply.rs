//! Server-side apply and the managedFields bookkeeping of other writes, after
//! structured-merge-diff's `merge.Updater` and apimachinery's field manager.
//!
//! Each `metadata.managedFields` entry is one manager's set of fields: a manager is identified
//! by its name, operation (`Apply` or `Update`), subresource and — for `Update` only — its
//! apiVersion. An apply sets the applier's `Apply` entry to exactly the fields of its
//! configuration; fields it applied before and no longer does are removed from the object
//! unless another manager owns them; changing a field another manager owns is a conflict
//! unless forced, in which case that manager loses it. Any other write records an `Update`
//! entry owning what it changed and takes those fields from everyone else.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::fieldset::{
    Comparison, FieldSet, ListKind, PathElement, compare, fields_of, item_element, list_kind,
    map_is_atomic, path_string,
};
use super::{FieldSchema, field_schema, items_schema};
use crate::error::ApiError;
use crate::schema::Schemas;

/// One field an apply would change that another manager owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The owning manager's name.
    pub manager: String,
    /// The owner's operation, `Apply` or `Update`.
    pub operation: String,
    /// The apiVersion the owner wrote with.
    pub api_version: String,
    /// The subresource the owner wrote through, if any.
    pub subresource: Option<String>,
    /// The field, as structured-merge-diff prints it (`.spec.replicas`).
    pub field: String,
}

impl Conflict {
    /// The manager as the conflict message names it: `"kubectl"`, `"kubectl-edit" using
    /// apps/v1`, `"x" with subresource "status" using v1`.
    pub fn manager_display(&self) -> String {
        let mut s = go_quote(&self.manager);
        if let Some(sub) = &self.subresource {
            s = format!("{s} with subresource {}", go_quote(sub));
        }
        if self.operation == "Update" {
            s = format!("{s} using {}", self.api_version);
        }
        s
    }

    /// The manager identifier upstream sorts conflicts by (the JSON of the entry without time
    /// and fields, and without apiVersion for appliers).
    fn identifier(&self) -> String {
        let mut s = format!(
            "{{\"manager\":{},\"operation\":{}",
            Value::String(self.manager.clone()),
            Value::String(self.operation.clone())
        );
        if self.operation != "Apply" && !self.api_version.is_empty() {
            s.push_str(&format!(
                ",\"apiVersion\":{}",
                Value::String(self.api_version.clone())
            ));
        }
        if let Some(sub) = &self.subresource {
            s.push_str(&format!(",\"subresource\":{}", Value::String(sub.clone())));
        }
        s.push('}');
        s
    }
}

/// A string as Go's `%q` prints it (close enough: JSON quoting).
fn go_quote(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// kube-apiserver's 409 message for apply conflicts:
/// `Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: .spec.replicas`,
/// or for several, grouped by manager (sorted by manager identifier):
/// `Apply failed with 2 conflicts: conflicts with "a":\n- .x\n- .y`.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [one] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            one.manager_display(),
            one.field
        );
    }
    let mut by_manager: BTreeMap<String, (String, Vec<&str>)> = BTreeMap::new();
    for c in conflicts {
        by_manager
            .entry(c.identifier())
            .or_insert_with(|| (c.manager_display(), Vec::new()))
            .1
            .push(&c.field);
    }
    let mut lines = Vec::new();
    for (display, fields) in by_manager.values() {
        lines.push(format!("conflicts with {display}:"));
        lines.extend(fields.iter().map(|f| format!("- {f}")));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// Why an apply was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    /// Fields the apply would change are owned by other managers (409 Conflict).
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The apply configuration itself is unacceptable (400 BadRequest).
    #[error("{0}")]
    BadRequest(String),
}

impl ApplyError {
    /// The API error kube-apiserver answers with: 409 with one `FieldManagerConflict` cause
    /// per conflict, or 400.
    pub fn to_api_error(&self) -> ApiError {
        match self {
            ApplyError::Conflicts(conflicts) => {
                let causes: Vec<Value> = conflicts
                    .iter()
                    .map(|c| {
                        json!({
                            "reason": "FieldManagerConflict",
                            "message": format!("conflict with {}", c.manager_display()),
                            "field": c.field,
                        })
                    })
                    .collect();
                ApiError {
                    code: 409,
                    reason: "Conflict",
                    message: conflict_message(conflicts),
                    details: Some(json!({ "causes": causes })),
                }
            }
            ApplyError::BadRequest(m) => ApiError::bad_request(m.clone()),
        }
    }
}

impl From<ApplyError> for ApiError {
    fn from(e: ApplyError) -> Self {
        e.to_api_error()
    }
}

/// One decoded managedFields entry.
#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: Option<Value>,
    subresource: Option<String>,
    fields: FieldSet,
}

impl Entry {
    /// The manager identity: name, operation, subresource, and apiVersion for updates.
    fn id(&self) -> (String, String, String, Option<String>) {
        identity(
            &self.manager,
            &self.operation,
            &self.api_version,
            self.subresource.as_deref(),
        )
    }

    fn encode(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), json!(self.manager));
        m.insert("operation".into(), json!(self.operation));
        m.insert("apiVersion".into(), json!(self.api_version));
        if let Some(t) = &self.time {
            m.insert("time".into(), t.clone());
        }
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if let Some(s) = &self.subresource {
            m.insert("subresource".into(), json!(s));
        }
        Value::Object(m)
    }

    fn conflict(&self, path: &[PathElement]) -> Conflict {
        Conflict {
            manager: self.manager.clone(),
            operation: self.operation.clone(),
            api_version: self.api_version.clone(),
            subresource: self.subresource.clone(),
            field: path_string(path),
        }
    }
}

fn identity(
    manager: &str,
    operation: &str,
    api_version: &str,
    subresource: Option<&str>,
) -> (String, String, String, Option<String>) {
    let version = if operation == "Apply" {
        ""
    } else {
        api_version
    };
    (
        manager.to_string(),
        operation.to_string(),
        version.to_string(),
        subresource.filter(|s| !s.is_empty()).map(String::from),
    )
}

/// Decodes `managedFields`; `None` when it is absent or not valid (upstream then falls back
/// to the live object's or to none).
fn decode_entries(v: Option<&Value>) -> Option<Vec<Entry>> {
    let list = v?.as_array()?;
    let mut out: Vec<Entry> = Vec::new();
    for e in list {
        let s = |k: &str| e.get(k).and_then(Value::as_str).map(String::from);
        let operation = s("operation").filter(|o| o == "Apply" || o == "Update")?;
        let api_version = s("apiVersion").filter(|v| !v.is_empty())?;
        if s("fieldsType").as_deref() != Some("FieldsV1") {
            return None;
        }
        let fields = match e.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::new(),
            Some(f) => FieldSet::from_fields_v1(f).ok()?,
        };
        let entry = Entry {
            manager: s("manager").unwrap_or_default(),
            operation,
            api_version,
            time: e.get("time").filter(|t| !t.is_null()).cloned(),
            subresource: s("subresource").filter(|s| !s.is_empty()),
            fields,
        };
        // Entries of one manager identity are one set.
        match out.iter_mut().find(|o| o.id() == entry.id()) {
            Some(o) => o.fields = o.fields.union(&entry.fields),
            None => out.push(entry),
        }
    }
    Some(out)
}

/// Writes `entries` (without empty ones, sorted as upstream sorts) into `obj`.
fn encode_entries(obj: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.fields.is_empty());
    entries.sort_by(|a, b| {
        let time = |e: &Entry| {
            e.time
                .as_ref()
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        (
            &a.operation,
            time(a),
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                &b.operation,
                time(b),
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
    let Value::Object(o) = obj else { return };
    if entries.is_empty() {
        if let Some(Value::Object(meta)) = o.get_mut("metadata") {
            meta.remove("managedFields");
        }
        return;
    }
    let meta = o
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(meta) = meta {
        meta.insert(
            "managedFields".into(),
            Value::Array(entries.iter().map(Entry::encode).collect()),
        );
    }
}

fn managed_fields(obj: Option<&Value>) -> Option<&Value> {
    obj?.get("metadata")?.get("managedFields")
}

/// `obj` without `metadata.managedFields` (`{}` for no object).
fn without_managed_fields(obj: Option<&Value>) -> Value {
    let mut v = obj.cloned().unwrap_or_else(|| Value::Object(Map::new()));
    if let Some(Value::Object(meta)) = v.get_mut("metadata") {
        meta.remove("managedFields");
    }
    v
}

/// Server-side apply: `applied` (the configuration of `manager`, sent as
/// `application/apply-patch+yaml`) merged into `live` (`None`: the object does not exist and is
/// created), with `metadata.managedFields` updated. `api_version` is the group-version the
/// request is served at (`apps/v1`); `now` the RFC 3339 time recorded on changed entries.
///
/// With `force` false, changing a field another manager owns fails with
/// [`ApplyError::Conflicts`]; with `force` the applier takes such fields.
#[allow(clippy::too_many_arguments)]
pub fn apply(
    schemas: &Schemas,
    schema: Option<&Value>,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    api_version: &str,
    force: bool,
    now: &str,
) -> Result<Value, ApplyError> {
    if !applied.is_object() {
        return Err(ApplyError::BadRequest(
            "apply configuration must be an object".into(),
        ));
    }
    if managed_fields(Some(applied)).is_some_and(|m| !m.is_null()) {
        return Err(ApplyError::BadRequest(
            "metadata.managedFields must be nil".into(),
        ));
    }
    let patch_version = applied
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    if patch_version != api_version {
        return Err(ApplyError::BadRequest(format!(
            "Incorrect version specified in apply patch. Specified patch version: {patch_version}, expected: {api_version}"
        )));
    }

    let mut entries = decode_entries(managed_fields(live)).unwrap_or_default();
    let live_clean = without_managed_fields(live);
    let mut merged = merge_values(schemas, schema, None, Some(&live_clean), applied);

    let me = identity(manager, "Apply", api_version, None);
    let mine = entries.iter().position(|e| e.id() == me);
    let last_set = mine.map(|i| entries[i].fields.clone()).unwrap_or_default();
    let new_set = fields_of(schemas, schema, applied);

    // Fields this manager stopped applying go unless someone else holds them.
    let others = entries
        .iter()
        .filter(|e| e.id() != me)
        .fold(FieldSet::new(), |acc, e| acc.union(&e.fields));
    let mut dropped = last_set.difference(&new_set).paths();
    dropped.sort_by_key(Vec::len);
    for path in dropped {
        if !others.contains_prefix(&path) {
            remove_path(schemas, schema, None, &mut merged, &path);
        }
    }

    let cmp = compare(schemas, schema, &live_clean, &merged);
    let changed = cmp.modified.union(&cmp.added);
    let mut conflicts = Vec::new();
    for e in entries.iter().filter(|e| e.id() != me) {
        for path in e.fields.intersection(&changed).paths() {
            conflicts.push(e.conflict(&path));
        }
    }
    if !force && !conflicts.is_empty() {
        conflicts.sort_by_key(Conflict::identifier);
        return Err(ApplyError::Conflicts(conflicts));
    }
    for e in entries.iter_mut().filter(|e| e.id() != me) {
        e.fields = e.fields.difference(&changed).difference(&cmp.removed);
    }

    let object_changed = merged != live_clean;
    match mine {
        Some(i) => {
            let e = &mut entries[i];
            if object_changed || e.fields != new_set || e.api_version != api_version {
                e.time = Some(json!(now));
            }
            e.fields = new_set;
            e.api_version = api_version.to_string();
        }
        None => entries.push(Entry {
            manager: manager.to_string(),
            operation: "Apply".into(),
            api_version: api_version.to_string(),
            time: Some(json!(now)),
            subresource: None,
            fields: new_set,
        }),
    }
    encode_entries(&mut merged, entries);
    Ok(merged)
}

/// Records in `new.metadata.managedFields` what a create, update or patch by `manager` did:
/// an `Update` entry (per manager, apiVersion and subresource) owning the fields it changed or
/// added — on create, everything — and those fields taken from every other manager; fields
/// the write removed are no one's any more.
///
/// The managed fields start from `new`'s own when the client sent some (an empty list or a
/// single empty entry resets them), else from `old`'s; writes through a subresource always
/// start from `old`'s.
#[allow(clippy::too_many_arguments)]
pub fn track_update(
    schemas: &Schemas,
    schema: Option<&Value>,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    subresource: Option<&str>,
    now: &str,
) {
    let from_new = managed_fields(Some(new));
    let reset = match from_new.and_then(Value::as_array).map(Vec::as_slice) {
        Some([]) => true,
        Some([one]) => one.as_object().is_some_and(Map::is_empty),
        _ => false,
    };
    let mut entries = if subresource.is_some() {
        decode_entries(managed_fields(old)).unwrap_or_default()
    } else if reset {
        Vec::new()
    } else {
        match decode_entries(from_new) {
            Some(e) if !e.is_empty() => e,
            _ => decode_entries(managed_fields(old)).unwrap_or_default(),
        }
    };
    let old_clean = without_managed_fields(old);
    let new_clean = without_managed_fields(Some(new));
    let Comparison {
        modified,
        added,
        removed,
    } = compare(schemas, schema, &old_clean, &new_clean);
    let changed = modified.union(&added);
    for e in &mut entries {
        e.fields = e.fields.difference(&changed).difference(&removed);
    }
    let owned = changed.without_system_fields();
    if !owned.is_empty() {
        let me = identity(manager, "Update", api_version, subresource);
        match entries.iter_mut().find(|e| e.id() == me) {
            Some(e) => {
                e.fields = e.fields.union(&owned);
                e.time = Some(json!(now));
            }
            None => entries.push(Entry {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version: api_version.to_string(),
                time: Some(json!(now)),
                subresource: subresource.filter(|s| !s.is_empty()).map(String::from),
                fields: owned,
            }),
        }
    }
    encode_entries(new, entries);
}

/// structured-merge-diff's merge of an apply configuration `rhs` into `lhs`: maps merge key
/// by key (`null` removes), associative lists and sets merge item by item, everything else —
/// atomic lists and maps, scalars — is replaced.
fn merge_values(
    schemas: &Schemas,
    schema: Option<&Value>,
    field: Option<FieldSchema<'_>>,
    lhs: Option<&Value>,
    rhs: &Value,
) -> Value {
    match (lhs, rhs) {
        (Some(Value::Object(l)), Value::Object(r)) if !map_is_atomic(field) => {
            let mut out = l.clone();
            for (k, v) in r {
                if v.is_null() {
                    out.remove(k);
                    continue;
                }
                let child = field_schema(schemas, schema, k);
                let merged = merge_values(schemas, child.map(|c| c.schema()), child, l.get(k), v);
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Some(Value::Array(l)), Value::Array(r)) => {
            let kind = list_kind(field);
            if kind == ListKind::Atomic {
                return rhs.clone();
            }
            let item_schema = items_schema(schemas, schema);
            Value::Array(merge_lists(schemas, &kind, item_schema, l, r))
        }
        _ => rhs.clone(),
    }
}

/// Merges associative lists or sets: items of `r` merged into their match in `l`; items only
/// in `l` keep their place; items of `r` take `r`'s order.
fn merge_lists(
    schemas: &Schemas,
    kind: &ListKind,
    item_schema: Option<&Value>,
    l: &[Value],
    r: &[Value],
) -> Vec<Value> {
    let pe = |v: &Value, i: usize| item_element(schemas, kind, item_schema, v, i);
    let lkeys: Vec<PathElement> = l.iter().enumerate().map(|(i, v)| pe(v, i)).collect();
    let rkeys: Vec<PathElement> = r.iter().enumerate().map(|(i, v)| pe(v, i)).collect();
    let merged_item = |ri: usize| -> Value {
        let old = lkeys.iter().position(|k| *k == rkeys[ri]).map(|i| &l[i]);
        merge_values(schemas, item_schema, None, old, &r[ri])
    };
    let mut out = Vec::with_capacity(l.len() + r.len());
    let mut next_r = 0;
    for (li, item) in l.iter().enumerate() {
        if !rkeys.contains(&lkeys[li]) {
            out.push(item.clone());
            continue;
        }
        // A shared slot: emit the applied items up to the next shared one.
        while next_r < r.len() {
            let shared = lkeys.contains(&rkeys[next_r]);
            out.push(merged_item(next_r));
            next_r += 1;
            if shared {
                break;
            }
        }
    }
    while next_r < r.len() {
        out.push(merged_item(next_r));
        next_r += 1;
    }
    out
}

/// Removes the value at `path` from `value`, if there is one.
fn remove_path(
    schemas: &Schemas,
    schema: Option<&Value>,
    field: Option<FieldSchema<'_>>,
    value: &mut Value,
    path: &[PathElement],
) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    match (first, value) {
        (PathElement::Field(k), Value::Object(m)) => {
            if rest.is_empty() {
                m.remove(k);
            } else if let Some(child_value) = m.get_mut(k) {
                let child = field_schema(schemas, schema, k);
                remove_path(schemas, child.map(|c| c.schema()), child, child_value, rest);
            }
        }
        (pe, Value::Array(items)) => {
            let kind = list_kind(field);
            let item_schema = items_schema(schemas, schema);
            let at = items
                .iter()
                .enumerate()
                .position(|(i, v)| item_element(schemas, &kind, item_schema, v, i) == *pe);
            if let Some(i) = at {
                if rest.is_empty() {
                    items.remove(i);
                } else {
                    remove_path(schemas, item_schema, None, &mut items[i], rest);
                }
            }
        }
        _ => {}
    }
}

/// Whether an apply's conflicts may be resolved in its favour as the move from client-side to
/// server-side apply: every conflict is with kubectl's client-side apply and the live object
/// still holds what its last-applied configuration says (kube-apiserver's last-applied
/// manager). The caller then applies again with force.
pub fn client_side_apply_unchanged(live: &Value, conflicts: &[Conflict]) -> bool {
    const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
    if !conflicts
        .iter()
        .all(|c| c.manager == "kubectl-client-side-apply" || c.manager == "kubectl")
    {
        return false;
    }
    let Some(last) = live["metadata"]["annotations"][LAST_APPLIED]
        .as_str()
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
    else {
        return false;
    };
    // Values under the configuration's paths, compared with the live object's.
    fn contained(cfg: &Value, live: &Value) -> bool {
        match (cfg, live) {
            (Value::Object(c), Value::Object(l)) => c
                .iter()
                .all(|(k, v)| l.get(k).is_some_and(|lv| contained(v, lv)) || v.is_null()),
            (c, l) => c == l,
        }
    }
    let mut cfg = last;
    if let Some(m) = cfg.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("annotations");
    }
    contained(&cfg, live)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn schemas() -> Schemas {
        let mut m = BTreeMap::new();
        m.insert(
            "t.Deployment".into(),
            json!({"type":"object","properties":{
                "apiVersion":{"type":"string"},"kind":{"type":"string"},
                "metadata":{"$ref":"#/components/schemas/t.Meta"},
                "spec":{"$ref":"#/components/schemas/t.Spec"}}}),
        );
        m.insert(
            "t.ConfigMap".into(),
            json!({"type":"object","properties":{
                "apiVersion":{"type":"string"},"kind":{"type":"string"},
                "metadata":{"$ref":"#/components/schemas/t.Meta"},
                "data":{"type":"object","additionalProperties":{"type":"string"}}}}),
        );
        m.insert(
            "t.Meta".into(),
            json!({"type":"object","properties":{
                "name":{"type":"string"},"namespace":{"type":"string"},"resourceVersion":{"type":"string"},
                "labels":{"type":"object","additionalProperties":{"type":"string"}},
                "managedFields":{"type":"array","items":{"type":"object"}}}}),
        );
        m.insert(
            "t.Spec".into(),
            json!({"type":"object","properties":{
                "replicas":{"type":"integer"},
                "paused":{"type":"boolean"},
                "selector":{"type":"object","x-kubernetes-map-type":"atomic","properties":{
                    "matchLabels":{"type":"object","additionalProperties":{"type":"string"}}}},
                "containers":{"type":"array","items":{"$ref":"#/components/schemas/t.Container"},
                              "x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["name"]},
                "args":{"type":"array","items":{"type":"string"},"x-kubernetes-list-type":"atomic"},
                "ports":{"type":"array","items":{"type":"object","properties":{"port":{"type":"integer"},"protocol":{"type":"string"}}},
                         "x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["port","protocol"]},
                "finalizers":{"type":"array","items":{"type":"string"},"x-kubernetes-list-type":"set"}}}),
        );
        m.insert(
            "t.Container".into(),
            json!({"type":"object","properties":{"name":{"type":"string"},"image":{"type":"string"},
                   "resources":{"type":"object","properties":{"limits":{"type":"object","additionalProperties":{"type":"string"}}}}}}),
        );
        Schemas::new(m)
    }

    const T1: &str = "2025-01-01T00:00:00Z";
    const T2: &str = "2025-01-01T00:01:00Z";

    fn ssa(
        live: Option<&Value>,
        applied: Value,
        manager: &str,
        force: bool,
    ) -> Result<Value, ApplyError> {
        let s = schemas();
        let kind = applied["kind"].as_str().unwrap_or("Deployment").to_string();
        let schema = s.get(&format!("t.{kind}")).cloned();
        let version = applied["apiVersion"].as_str().unwrap_or("").to_string();
        apply(
            &s,
            schema.as_ref(),
            live,
            &applied,
            manager,
            &version,
            force,
            T1,
        )
    }

    fn entry<'a>(obj: &'a Value, manager: &str, operation: &str) -> Option<&'a Value> {
        obj["metadata"]["managedFields"]
            .as_array()?
            .iter()
            .find(|e| e["manager"] == manager && e["operation"] == operation)
    }

    fn deploy(spec: Value) -> Value {
        json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"ns"},"spec": spec})
    }

    #[test]
    fn server_side_apply_creates_then_updates_a_configmap() {
        let cm = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"a":"1","b":"2"}});
        let created = ssa(None, cm, "kubectl", false).expect("create");
        assert_eq!(created["data"], json!({"a":"1","b":"2"}));
        let e = entry(&created, "kubectl", "Apply").expect("apply entry");
        assert_eq!(
            e,
            &json!({"manager":"kubectl","operation":"Apply","apiVersion":"v1","time":T1,
                    "fieldsType":"FieldsV1","fieldsV1":{"f:data":{"f:a":{},"f:b":{}}}})
        );
        // The second apply changes a and drops b: b goes, since no one else owns it.
        let again = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"a":"9"}});
        let updated = ssa(Some(&created), again, "kubectl", false).expect("update");
        assert_eq!(updated["data"], json!({"a":"9"}));
        assert_eq!(
            entry(&updated, "kubectl", "Apply").expect("entry")["fieldsV1"],
            json!({"f:data":{"f:a":{}}})
        );
        assert_eq!(
            updated["metadata"]["managedFields"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
    }

    #[test]
    fn another_managers_change_conflicts_until_forced() {
        let s = schemas();
        let schema = s.get("t.Deployment");
        let created = ssa(
            None,
            deploy(json!({"replicas":2,"paused":false})),
            "kubectl",
            false,
        )
        .expect("create");
        // `kubectl scale` (an update by another manager) sets replicas to 5.
        let mut scaled = created.clone();
        scaled["spec"]["replicas"] = json!(5);
        track_update(
            &s,
            schema,
            Some(&created),
            &mut scaled,
            "kubectl-scale",
            "apps/v1",
            Some("scale"),
            T2,
        );
        assert_eq!(
            entry(&scaled, "kubectl-scale", "Update").expect("update entry"),
            &json!({"manager":"kubectl-scale","operation":"Update","apiVersion":"apps/v1","time":T2,
                    "fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:replicas":{}}},"subresource":"scale"})
        );
        // The applier lost replicas to the scaler.
        assert_eq!(
            entry(&scaled, "kubectl", "Apply").expect("apply entry")["fieldsV1"],
            json!({"f:spec":{"f:paused":{}}})
        );
        // Re-applying the same replicas value the applier had is a conflict now: the value
        // differs from the live one, which the scaler owns.
        let err = ssa(
            Some(&scaled),
            deploy(json!({"replicas":3,"paused":false})),
            "kubectl",
            false,
        )
        .expect_err("conflict");
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"kubectl-scale\" with subresource \"scale\" using apps/v1: .spec.replicas"
        );
        let api = err.to_api_error();
        assert_eq!((api.code, api.reason), (409, "Conflict"));
        assert_eq!(
            api.details.expect("details")["causes"][0],
            json!({"reason":"FieldManagerConflict","field":".spec.replicas",
                   "message":"conflict with \"kubectl-scale\" with subresource \"scale\" using apps/v1"})
        );
        // Applying the live value is no conflict: both own it.
        let shared = ssa(
            Some(&scaled),
            deploy(json!({"replicas":5,"paused":false})),
            "kubectl",
            false,
        )
        .expect("same value");
        assert!(entry(&shared, "kubectl-scale", "Update").is_some());
        // Forcing takes the field.
        let forced = ssa(
            Some(&scaled),
            deploy(json!({"replicas":3,"paused":false})),
            "kubectl",
            true,
        )
        .expect("forced");
        assert_eq!(forced["spec"]["replicas"], json!(3));
        assert!(entry(&forced, "kubectl-scale", "Update").is_none());
        assert_eq!(
            entry(&forced, "kubectl", "Apply").expect("apply")["fieldsV1"],
            json!({"f:spec":{"f:paused":{},"f:replicas":{}}})
        );
    }

    #[test]
    fn dropped_fields_owned_by_others_stay() {
        let a = ssa(
            None,
            deploy(json!({"replicas":1,"paused":true})),
            "a",
            false,
        )
        .expect("a");
        let b = ssa(Some(&a), deploy(json!({"paused":true})), "b", false).expect("b co-owns");
        // a stops applying both: replicas goes, paused stays (b owns it).
        let out = ssa(Some(&b), deploy(json!({})), "a", false).expect("a again");
        assert_eq!(out["spec"], json!({"paused":true}));
        // An empty struct in a configuration is owned as such.
        assert_eq!(
            entry(&out, "a", "Apply").expect("a")["fieldsV1"],
            json!({"f:spec":{}})
        );
        assert_eq!(
            entry(&out, "b", "Apply").expect("b")["fieldsV1"],
            json!({"f:spec":{"f:paused":{}}})
        );
    }

    #[test]
    fn associative_lists_merge_by_key_and_atomic_values_are_replaced() {
        let a = ssa(
            None,
            deploy(
                json!({"selector":{"matchLabels":{"app":"web","tier":"x"}},"args":["1","2"],
                          "containers":[{"name":"web","image":"web:1"}]}),
            ),
            "a",
            false,
        )
        .expect("a");
        let b = ssa(
            Some(&a),
            deploy(json!({"containers":[{"name":"sidecar","image":"side:1"}]})),
            "b",
            false,
        )
        .expect("b adds a container");
        assert_eq!(
            b["spec"]["containers"],
            json!([{"name":"web","image":"web:1"},{"name":"sidecar","image":"side:1"}])
        );
        assert_eq!(
            entry(&b, "b", "Apply").expect("b")["fieldsV1"],
            json!({"f:spec":{"f:containers":{"k:{\"name\":\"sidecar\"}":{".":{},"f:name":{},"f:image":{}}}}})
        );
        let a2 = ssa(
            Some(&b),
            deploy(
                json!({"selector":{"matchLabels":{"app":"web"}},"args":["3"],
                          "containers":[{"name":"web","image":"web:2"}]}),
            ),
            "a",
            false,
        )
        .expect("a again");
        assert_eq!(a2["spec"]["selector"], json!({"matchLabels":{"app":"web"}}));
        assert_eq!(a2["spec"]["args"], json!(["3"]));
        assert_eq!(
            a2["spec"]["containers"],
            json!([{"name":"web","image":"web:2"},{"name":"sidecar","image":"side:1"}])
        );
        // a drops its container: b's stays, a's goes.
        let a3 = ssa(Some(&a2), deploy(json!({"args":["3"]})), "a", false).expect("drop");
        assert_eq!(
            a3["spec"]["containers"],
            json!([{"name":"sidecar","image":"side:1"}])
        );
        assert!(a3["spec"].get("selector").is_none());
    }

    #[test]
    fn multiple_conflicts_are_grouped_by_manager() {
        let s = schemas();
        let schema = s.get("t.Deployment");
        let base = ssa(
            None,
            deploy(json!({"replicas":1,"paused":false})),
            "a",
            false,
        )
        .expect("a");
        let mut edited = base.clone();
        edited["spec"]["replicas"] = json!(2);
        edited["spec"]["paused"] = json!(true);
        track_update(
            &s,
            schema,
            Some(&base),
            &mut edited,
            "kubectl-edit",
            "apps/v1",
            None,
            T2,
        );
        let err = ssa(
            Some(&edited),
            deploy(json!({"replicas":3,"paused":false})),
            "b",
            false,
        )
        .expect_err("conflicts");
        assert_eq!(
            err.to_string(),
            "Apply failed with 2 conflicts: conflicts with \"kubectl-edit\" using apps/v1:\n- .spec.paused\n- .spec.replicas"
        );
        let a_and_edit = conflict_message(&[
            Conflict {
                manager: "z".into(),
                operation: "Apply".into(),
                api_version: "v1".into(),
                subresource: None,
                field: ".a".into(),
            },
            Conflict {
                manager: "m".into(),
                operation: "Update".into(),
                api_version: "v1".into(),
                subresource: None,
                field: ".b".into(),
            },
        ]);
        assert_eq!(
            a_and_edit,
            "Apply failed with 2 conflicts: conflicts with \"m\" using v1:\n- .b\nconflicts with \"z\":\n- .a"
        );
    }

    #[test]
    fn apply_rejects_managed_fields_and_wrong_versions() {
        let with_mf = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","managedFields":[]}});
        let e = ssa(None, with_mf, "m", false).expect_err("managedFields");
        assert_eq!(e.to_string(), "metadata.managedFields must be nil");
        assert_eq!(e.to_api_error().code, 400);
        let s = schemas();
        let e = apply(
            &s,
            None,
            None,
            &json!({"apiVersion":"apps/v1beta1","kind":"Deployment"}),
            "m",
            "apps/v1",
            false,
            T1,
        )
        .expect_err("version");
        assert_eq!(
            e.to_string(),
            "Incorrect version specified in apply patch. Specified patch version: apps/v1beta1, expected: apps/v1"
        );
    }

    #[test]
    fn track_update_records_creates_updates_and_keeps_old_entries() {
        let s = schemas();
        let schema = s.get("t.ConfigMap");
        let mut created = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","labels":{"app":"x"}},"data":{"a":"1"}});
        track_update(
            &s,
            schema,
            None,
            &mut created,
            "kubectl-create",
            "v1",
            None,
            T1,
        );
        assert_eq!(
            created["metadata"]["managedFields"],
            json!([{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":T1,"fieldsType":"FieldsV1",
                    "fieldsV1":{"f:data":{".":{},"f:a":{}},"f:metadata":{"f:labels":{".":{},"f:app":{}}}}}])
        );
        // An update that sends no managedFields keeps the old ones and takes what it changed.
        let mut updated = created.clone();
        updated["metadata"]
            .as_object_mut()
            .expect("meta")
            .remove("managedFields");
        updated["data"]["a"] = json!("2");
        updated["data"]["b"] = json!("3");
        track_update(
            &s,
            schema,
            Some(&created),
            &mut updated,
            "kubectl-edit",
            "v1",
            None,
            T2,
        );
        let mf = updated["metadata"]["managedFields"]
            .as_array()
            .expect("entries");
        assert_eq!(mf.len(), 2);
        assert_eq!(mf[0]["manager"], "kubectl-create");
        assert_eq!(
            mf[0]["fieldsV1"],
            json!({"f:data":{},"f:metadata":{"f:labels":{".":{},"f:app":{}}}})
        );
        assert_eq!(mf[1]["fieldsV1"], json!({"f:data":{"f:a":{},"f:b":{}}}));
        // A no-op update by the same manager changes nothing, not even the time.
        let mut same = updated.clone();
        track_update(
            &s,
            schema,
            Some(&updated),
            &mut same,
            "kubectl-edit",
            "v1",
            None,
            "2030-01-01T00:00:00Z",
        );
        assert_eq!(same, updated);
        // Another change by the same manager merges into its entry.
        let mut more = updated.clone();
        more["data"]["c"] = json!("4");
        track_update(
            &s,
            schema,
            Some(&updated),
            &mut more,
            "kubectl-edit",
            "v1",
            None,
            T2,
        );
        let mf = more["metadata"]["managedFields"]
            .as_array()
            .expect("entries");
        assert_eq!(
            mf[1]["fieldsV1"],
            json!({"f:data":{"f:a":{},"f:b":{},"f:c":{}}})
        );
        // An empty list resets them; the write then records only what it changed.
        let mut reset = more.clone();
        reset["metadata"]["managedFields"] = json!([]);
        track_update(&s, schema, Some(&more), &mut reset, "x", "v1", None, T2);
        assert!(reset["metadata"].get("managedFields").is_none());
    }

    #[test]
    fn removed_fields_leave_their_owners() {
        let s = schemas();
        let schema = s.get("t.ConfigMap");
        let created = ssa(
            None,
            json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1","b":"2"}}),
            "applier",
            false,
        )
        .expect("apply");
        let mut edited = created.clone();
        edited["data"].as_object_mut().expect("data").remove("b");
        track_update(
            &s,
            schema,
            Some(&created),
            &mut edited,
            "editor",
            "v1",
            None,
            T2,
        );
        assert_eq!(
            entry(&edited, "applier", "Apply").expect("applier")["fieldsV1"],
            json!({"f:data":{"f:a":{}}})
        );
        assert!(entry(&edited, "editor", "Update").is_none());
    }

    #[test]
    fn defaulted_protocol_key_matches_items_applied_without_it() {
        let a = ssa(None, deploy(json!({"ports":[{"port":80}]})), "a", false).expect("a");
        // The server defaulted the protocol; the next apply still omits it.
        let mut live = a.clone();
        live["spec"]["ports"][0]["protocol"] = json!("TCP");
        let again = ssa(
            Some(&live),
            deploy(json!({"ports":[{"port":80},{"port":443}]})),
            "a",
            false,
        )
        .expect("again");
        assert_eq!(
            again["spec"]["ports"],
            json!([{"port":80,"protocol":"TCP"},{"port":443}])
        );
    }

    #[test]
    fn sets_merge_by_value() {
        let a = ssa(None, deploy(json!({"finalizers":["x","y"]})), "a", false).expect("a");
        let b = ssa(Some(&a), deploy(json!({"finalizers":["z"]})), "b", false).expect("b");
        assert_eq!(b["spec"]["finalizers"], json!(["x", "y", "z"]));
        let a2 = ssa(Some(&b), deploy(json!({"finalizers":["y"]})), "a", false).expect("a2");
        assert_eq!(a2["spec"]["finalizers"], json!(["y", "z"]));
    }
}

#[cfg(test)]
mod last_applied_tests {
    use super::*;
    use serde_json::json;

    fn conflict(manager: &str) -> Conflict {
        Conflict {
            manager: manager.to_string(),
            operation: "Update".to_string(),
            api_version: "v1".to_string(),
            subresource: None,
            field: ".data.a".to_string(),
        }
    }

    #[test]
    fn client_side_apply_hands_over_only_what_it_still_holds() {
        let live = |a: &str| {
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m", "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration":
                    r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"annotations":{},"name":"m"},"data":{"a":"1"}}"#}},
                "data": {"a": a}})
        };
        let csa = [conflict("kubectl-client-side-apply")];
        assert!(client_side_apply_unchanged(&live("1"), &csa));
        assert!(
            !client_side_apply_unchanged(&live("9"), &csa),
            "changed since"
        );
        assert!(!client_side_apply_unchanged(
            &live("1"),
            &[conflict("kubectl-patch")]
        ));
        let mut bare = live("1");
        bare["metadata"]["annotations"] = json!({});
        assert!(
            !client_side_apply_unchanged(&bare, &csa),
            "no last-applied configuration"
        );
    }
}
