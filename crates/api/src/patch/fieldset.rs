//! Field paths and sets of them, structured-merge-diff's model of "which fields an object
//! specifies", with its `FieldsV1` encoding in `metadata.managedFields`.
//!
//! A path is a list of [`PathElement`]s: `f:<name>` for a field of a map or struct,
//! `k:{"name":"x"}` for an item of an associative list (the JSON of its key fields, sorted by
//! name), `v:<json>` for an item of a set, `i:<n>` for an item of a list that has neither.
//! In `FieldsV1` a set is a JSON object keyed by path elements; `".": {}` marks a node that is
//! itself a member beside its children.
//!
//! How a value is walked follows the schema: list type from `x-kubernetes-list-type` (or,
//! for built-in types without it, `map` keyed by the patch merge key when the patch strategy
//! is `merge`, `set` for merging primitive lists, `atomic` otherwise); `x-kubernetes-map-type:
//! atomic` maps and atomic lists are single leaves. Without a schema, maps are walked key by
//! key and lists are atomic.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

use super::{FieldSchema, field_schema, has_properties, items_schema};
use crate::schema::Schemas;

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A field of a struct or a key of a map (`f:name`).
    Field(String),
    /// An item of an associative list: the compact JSON object of its key fields, keys sorted
    /// (`k:{"name":"x"}`).
    Key(String),
    /// An item of a set: its compact JSON (`v:"a"`).
    Value(String),
    /// An item of a list by position (`i:0`).
    Index(usize),
}

impl PathElement {
    /// The `FieldsV1` key of this element.
    pub fn encode(&self) -> String {
        match self {
            PathElement::Field(f) => format!("f:{f}"),
            PathElement::Key(k) => format!("k:{k}"),
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a `FieldsV1` key.
    pub fn decode(s: &str) -> Result<Self, String> {
        let (prefix, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("unexpected key in fieldsV1: {s:?}"))?;
        match prefix {
            "f" => Ok(PathElement::Field(rest.to_string())),
            "k" => {
                let v: Value = serde_json::from_str(rest)
                    .map_err(|e| format!("invalid key in fieldsV1 {s:?}: {e}"))?;
                if !v.is_object() {
                    return Err(format!("key in fieldsV1 {s:?} is not an object"));
                }
                Ok(PathElement::Key(canonical(&v)))
            }
            "v" => {
                let v: Value = serde_json::from_str(rest)
                    .map_err(|e| format!("invalid value in fieldsV1 {s:?}: {e}"))?;
                Ok(PathElement::Value(canonical(&v)))
            }
            "i" => rest
                .parse()
                .map(PathElement::Index)
                .map_err(|e| format!("invalid index in fieldsV1 {s:?}: {e}")),
            _ => Err(format!("unexpected key in fieldsV1: {s:?}")),
        }
    }
}

/// Compact JSON with object keys sorted (serde_json's maps are ordered by key).
fn canonical(v: &Value) -> String {
    v.to_string()
}

/// A value as structured-merge-diff prints it inside a path: strings quoted.
fn display_value(v: &Value) -> String {
    v.to_string()
}

impl fmt::Display for PathElement {
    /// structured-merge-diff's path syntax: `.spec`, `[name="x"]`, `[="a"]`, `[0]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(k) => {
                let parsed: Value = serde_json::from_str(k).unwrap_or(Value::Null);
                let parts: Vec<String> = parsed
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| format!("{k}={}", display_value(v)))
                            .collect()
                    })
                    .unwrap_or_default();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => {
                let parsed: Value = serde_json::from_str(v).unwrap_or(Value::Null);
                write!(f, "[={}]", display_value(&parsed))
            }
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A path as structured-merge-diff prints it: `.spec.template.spec.containers[name="a"].image`.
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// A set of field paths: the members at this level and the sets below each child.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether no path is in the set.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// Adds `path` (the empty path is ignored: the root is never a member).
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// Whether `path` itself is in the set.
    pub fn contains(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.contains(rest)),
        }
    }

    /// Whether `path` or any path below it is in the set.
    pub fn contains_prefix(&self, path: &[PathElement]) -> bool {
        match path {
            [] => !self.is_empty(),
            [last] => self.members.contains(last) || self.children.contains_key(last),
            [first, rest @ ..] => self
                .children
                .get(first)
                .is_some_and(|c| c.contains_prefix(rest)),
        }
    }

    /// Every path in the set, in order.
    pub fn paths(&self) -> Vec<Vec<PathElement>> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
        let mut elements: BTreeSet<&PathElement> = self.members.iter().collect();
        elements.extend(self.children.keys());
        for pe in elements {
            prefix.push(pe.clone());
            if self.members.contains(pe) {
                out.push(prefix.clone());
            }
            if let Some(c) = self.children.get(pe) {
                c.collect(prefix, out);
            }
            prefix.pop();
        }
    }

    /// The paths in either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, c) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(c),
                None => c.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    /// The paths of `self` that are not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::new();
        out.members = self.members.difference(&other.members).cloned().collect();
        for (pe, c) in &self.children {
            let rest = match other.children.get(pe) {
                Some(o) => c.difference(o),
                None => c.clone(),
            };
            if !rest.is_empty() {
                out.children.insert(pe.clone(), rest);
            }
        }
        out
    }

    /// The paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::new();
        out.members = self.members.intersection(&other.members).cloned().collect();
        for (pe, c) in &self.children {
            if let Some(o) = other.children.get(pe) {
                let both = c.intersection(o);
                if !both.is_empty() {
                    out.children.insert(pe.clone(), both);
                }
            }
        }
        out
    }

    /// The `FieldsV1` JSON of this set.
    pub fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        for pe in &self.members {
            if !self.children.contains_key(pe) {
                m.insert(pe.encode(), Value::Object(Map::new()));
            }
        }
        for (pe, c) in &self.children {
            let mut inner = match c.to_fields_v1() {
                Value::Object(inner) => inner,
                _ => Map::new(),
            };
            if self.members.contains(pe) {
                inner.insert(".".to_string(), Value::Object(Map::new()));
            }
            m.insert(pe.encode(), Value::Object(inner));
        }
        Value::Object(m)
    }

    /// Parses `FieldsV1` JSON.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
        let m = v
            .as_object()
            .ok_or_else(|| format!("fieldsV1 must be an object, got {v}"))?;
        let mut out = FieldSet::new();
        for (k, inner) in m {
            if k == "." {
                continue;
            }
            let pe = PathElement::decode(k)?;
            let inner_map = inner
                .as_object()
                .ok_or_else(|| format!("fieldsV1 entry {k:?} must be an object"))?;
            if inner_map.is_empty() || inner_map.contains_key(".") {
                out.members.insert(pe.clone());
            }
            let child = FieldSet::from_fields_v1(inner)?;
            if !child.is_empty() {
                out.children.insert(pe, child);
            }
        }
        Ok(out)
    }

    /// The set with the metadata paths upstream never records as owned removed.
    pub(crate) fn without_system_fields(&self) -> FieldSet {
        let mut strip = FieldSet::new();
        let f = |s: &str| PathElement::Field(s.to_string());
        strip.insert(&[f("apiVersion")]);
        strip.insert(&[f("kind")]);
        strip.insert(&[f("metadata")]);
        for name in [
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        ] {
            strip.insert(&[f("metadata"), f(name)]);
        }
        // Only the exact paths go: a managedFields or metadata subtree is not recorded.
        let mut out = self.difference(&strip);
        if let Some(meta) = out.children.get_mut(&f("metadata")) {
            meta.children.remove(&f("managedFields"));
            if meta.is_empty() {
                out.children.remove(&f("metadata"));
            }
        }
        out
    }
}

/// How a list is walked and merged.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ListKind {
    /// One leaf, replaced as a whole.
    Atomic,
    /// Items identified by their value.
    Set,
    /// Items identified by these key fields.
    Map(Vec<String>),
}

/// The list kind of a field, from its schema.
pub(crate) fn list_kind(field: Option<FieldSchema<'_>>) -> ListKind {
    let Some(field) = field else {
        return ListKind::Atomic;
    };
    match field.ext("x-kubernetes-list-type") {
        Some("atomic") => return ListKind::Atomic,
        Some("set") => return ListKind::Set,
        Some("map") => {
            let keys: Vec<String> = field
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            if !keys.is_empty() {
                return ListKind::Map(keys);
            }
        }
        _ => {}
    }
    let merge = field
        .ext("x-kubernetes-patch-strategy")
        .is_some_and(|s| s.split(',').any(|p| p.trim() == "merge"));
    match (merge, field.ext("x-kubernetes-patch-merge-key")) {
        (true, Some(key)) => ListKind::Map(vec![key.to_string()]),
        (true, None) => ListKind::Set,
        _ => ListKind::Atomic,
    }
}

/// Whether a map field is a single leaf (`x-kubernetes-map-type: atomic`).
pub(crate) fn map_is_atomic(field: Option<FieldSchema<'_>>) -> bool {
    field.is_some_and(|f| f.ext("x-kubernetes-map-type") == Some("atomic"))
}

/// The path element of list item `item` at `index`.
pub(crate) fn item_element(
    schemas: &Schemas,
    kind: &ListKind,
    item_schema: Option<&Value>,
    item: &Value,
    index: usize,
) -> PathElement {
    match kind {
        ListKind::Atomic => PathElement::Index(index),
        ListKind::Set => PathElement::Value(canonical(item)),
        ListKind::Map(keys) => {
            let mut key = Map::new();
            for k in keys {
                let v = item
                    .get(k)
                    .cloned()
                    .or_else(|| key_default(schemas, item_schema, k));
                if let Some(v) = v {
                    key.insert(k.clone(), v);
                }
            }
            if key.is_empty() {
                PathElement::Index(index)
            } else {
                PathElement::Key(canonical(&Value::Object(key)))
            }
        }
    }
}

/// The value a missing key field of a list item takes: the schema's `default`, or for
/// `protocol` (which kube-apiserver defaults to TCP, `+default="TCP"`) "TCP".
fn key_default(schemas: &Schemas, item_schema: Option<&Value>, key: &str) -> Option<Value> {
    let from_schema =
        field_schema(schemas, item_schema, key).and_then(|f| f.get("default").cloned());
    from_schema.or_else(|| (key == "protocol").then(|| Value::String("TCP".into())))
}

/// The set of paths `obj` specifies (structured-merge-diff's `ToFieldSet`): every leaf, every
/// list item and map entry, minus the identity and system metadata upstream never records
/// (`apiVersion`, `kind`, `metadata.name`, `.namespace`, `.uid`, `.resourceVersion`,
/// `.generation`, `.creationTimestamp`, `.selfLink`, `.managedFields`).
pub fn fields_of(schemas: &Schemas, schema: Option<&Value>, obj: &Value) -> FieldSet {
    let mut set = FieldSet::new();
    let mut path = Vec::new();
    walk(schemas, schema, None, obj, &mut path, &mut set);
    set.without_system_fields()
}

fn walk(
    schemas: &Schemas,
    schema: Option<&Value>,
    field: Option<FieldSchema<'_>>,
    value: &Value,
    path: &mut Vec<PathElement>,
    set: &mut FieldSet,
) {
    match value {
        Value::Object(m) => {
            if map_is_atomic(field) {
                set.insert(path);
                return;
            }
            for (k, v) in m {
                let child = field_schema(schemas, schema, k);
                path.push(PathElement::Field(k.clone()));
                walk(schemas, child.map(|c| c.schema()), child, v, path, set);
                let declared = child.is_some_and(|c| c.declared);
                let empty = v.is_null() || v.as_object().is_some_and(Map::is_empty);
                if !declared || empty {
                    set.insert(path);
                }
                path.pop();
            }
        }
        Value::Array(items) => {
            let kind = list_kind(field);
            if kind == ListKind::Atomic {
                set.insert(path);
                return;
            }
            let item_schema = items_schema(schemas, schema);
            let mut seen = BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                let pe = item_element(schemas, &kind, item_schema, item, i);
                if !seen.insert(pe.clone()) {
                    continue;
                }
                path.push(pe);
                walk(schemas, item_schema, None, item, path, set);
                set.insert(path);
                path.pop();
            }
        }
        _ => set.insert(path),
    }
}

/// What changed from one object to another, as sets of paths.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Comparison {
    /// Leaves whose value changed.
    pub modified: FieldSet,
    /// Paths present only in the new object.
    pub added: FieldSet,
    /// Paths present only in the old object.
    pub removed: FieldSet,
}

/// Compares `lhs` (old) with `rhs` (new) under `schema`.
pub(crate) fn compare(
    schemas: &Schemas,
    schema: Option<&Value>,
    lhs: &Value,
    rhs: &Value,
) -> Comparison {
    let mut c = Comparison::default();
    let mut path = Vec::new();
    cmp(
        schemas,
        schema,
        None,
        Some(lhs),
        Some(rhs),
        &mut path,
        &mut c,
    );
    c
}

fn is_empty_container(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    }
}

fn cmp(
    schemas: &Schemas,
    schema: Option<&Value>,
    field: Option<FieldSchema<'_>>,
    lhs: Option<&Value>,
    rhs: Option<&Value>,
    path: &mut Vec<PathElement>,
    c: &mut Comparison,
) {
    let leaf = |c: &mut Comparison, path: &[PathElement]| match (lhs, rhs) {
        (None, Some(_)) => c.added.insert(path),
        (Some(_), None) => c.removed.insert(path),
        (Some(l), Some(r)) if l != r => c.modified.insert(path),
        _ => {}
    };
    let is_obj = |v: Option<&Value>| v.is_none_or(Value::is_object);
    let is_arr = |v: Option<&Value>| v.is_none_or(Value::is_array);
    let both_empty = is_empty_container(lhs) && is_empty_container(rhs);
    if is_obj(lhs) && is_obj(rhs) && !map_is_atomic(field) && !both_empty {
        let empty = Map::new();
        let l = lhs.and_then(Value::as_object).unwrap_or(&empty);
        let r = rhs.and_then(Value::as_object).unwrap_or(&empty);
        let keys: BTreeSet<&String> = l.keys().chain(r.keys()).collect();
        for k in keys {
            let child = field_schema(schemas, schema, k);
            path.push(PathElement::Field(k.clone()));
            cmp(
                schemas,
                child.map(|c| c.schema()),
                child,
                l.get(k),
                r.get(k),
                path,
                c,
            );
            path.pop();
        }
        // A map's own node is recorded when it appears or goes; a struct's is not (its
        // fields say it all, as for the zero-valued structs upstream compares against).
        if !path.is_empty() && !has_properties(schemas, schema) {
            match (lhs, rhs) {
                (None, Some(_)) => c.added.insert(path),
                (Some(_), None) => c.removed.insert(path),
                _ => {}
            }
        } else if !path.is_empty() && rhs.is_none() {
            c.removed.insert(path);
        }
        return;
    }
    let kind = if is_arr(lhs) && is_arr(rhs) && !both_empty {
        list_kind(field)
    } else {
        ListKind::Atomic
    };
    if kind == ListKind::Atomic {
        leaf(c, path);
        return;
    }
    let item_schema = items_schema(schemas, schema);
    fn index<'v>(
        schemas: &Schemas,
        kind: &ListKind,
        item_schema: Option<&Value>,
        v: Option<&'v Value>,
    ) -> Vec<(PathElement, &'v Value)> {
        let mut out: Vec<(PathElement, &'v Value)> = Vec::new();
        for (i, item) in v
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let pe = item_element(schemas, kind, item_schema, item, i);
            if !out.iter().any(|(p, _)| *p == pe) {
                out.push((pe, item));
            }
        }
        out
    }
    let l = index(schemas, &kind, item_schema, lhs);
    let r = index(schemas, &kind, item_schema, rhs);
    for (pe, item) in &r {
        let old = l.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);
        path.push(pe.clone());
        cmp_item(schemas, item_schema, old, Some(item), path, c);
        path.pop();
    }
    for (pe, item) in &l {
        if !r.iter().any(|(p, _)| p == pe) {
            path.push(pe.clone());
            cmp_item(schemas, item_schema, Some(item), None, path, c);
            path.pop();
        }
    }
}

/// Compares a list item: its contents, and the item itself as added or removed.
fn cmp_item(
    schemas: &Schemas,
    item_schema: Option<&Value>,
    lhs: Option<&Value>,
    rhs: Option<&Value>,
    path: &mut Vec<PathElement>,
    c: &mut Comparison,
) {
    let composite = lhs.or(rhs).is_some_and(|v| v.is_object());
    if composite {
        cmp(schemas, item_schema, None, lhs, rhs, path, c);
    } else if let (Some(l), Some(r)) = (lhs, rhs)
        && l != r
    {
        c.modified.insert(path);
    }
    match (lhs, rhs) {
        (None, Some(_)) => c.added.insert(path),
        (Some(_), None) => c.removed.insert(path),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn test_schemas() -> Schemas {
        let mut m = BTreeMap::new();
        m.insert(
            "t.Deployment".into(),
            json!({"type":"object","properties":{
                "apiVersion":{"type":"string"},"kind":{"type":"string"},
                "metadata":{"$ref":"#/components/schemas/t.Meta"},
                "spec":{"$ref":"#/components/schemas/t.Spec","description":"spec"}}}),
        );
        m.insert(
            "t.Meta".into(),
            json!({"type":"object","properties":{
                "name":{"type":"string"},"namespace":{"type":"string"},
                "labels":{"type":"object","additionalProperties":{"type":"string"}},
                "finalizers":{"type":"array","items":{"type":"string"},"x-kubernetes-list-type":"set"}}}),
        );
        m.insert(
            "t.Spec".into(),
            json!({"type":"object","properties":{
                "replicas":{"type":"integer"},
                "selector":{"allOf":[{"$ref":"#/components/schemas/t.Selector"}]},
                "args":{"type":"array","items":{"type":"string"}},
                "ports":{"type":"array","items":{"type":"object","properties":{"port":{"type":"integer"},"protocol":{"type":"string"}}},
                         "x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["port","protocol"]},
                "containers":{"type":"array","items":{"$ref":"#/components/schemas/t.Container"},
                              "x-kubernetes-patch-strategy":"merge","x-kubernetes-patch-merge-key":"name"}}}),
        );
        m.insert(
            "t.Selector".into(),
            json!({"type":"object","x-kubernetes-map-type":"atomic","properties":{
                "matchLabels":{"type":"object","additionalProperties":{"type":"string"}}}}),
        );
        m.insert(
            "t.Container".into(),
            json!({"type":"object","properties":{"name":{"type":"string"},"image":{"type":"string"}}}),
        );
        Schemas::new(m)
    }

    #[test]
    fn fields_v1_round_trip_and_display() {
        let v = json!({"f:data":{".":{},"f:a":{}},
                       "f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:image":{}}},
                                 "f:finalizers":{"v:\"x\"":{}},"f:args":{"i:0":{}}}});
        let set = FieldSet::from_fields_v1(&v).expect("parses");
        assert_eq!(set.to_fields_v1(), v);
        let paths: Vec<String> = set.paths().iter().map(|p| path_string(p)).collect();
        assert_eq!(
            paths,
            vec![
                ".data",
                ".data.a",
                ".spec.args[0]",
                ".spec.containers[name=\"c\"]",
                ".spec.containers[name=\"c\"].image",
                ".spec.finalizers[=\"x\"]",
            ]
        );
        assert!(FieldSet::from_fields_v1(&json!({"x:y":{}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!([])).is_err());
    }

    #[test]
    fn set_algebra() {
        let p = |s: &[&str]| -> Vec<PathElement> {
            s.iter()
                .map(|f| PathElement::Field(f.to_string()))
                .collect()
        };
        let mut a = FieldSet::new();
        a.insert(&p(&["spec", "replicas"]));
        a.insert(&p(&["spec", "paused"]));
        let mut b = FieldSet::new();
        b.insert(&p(&["spec", "replicas"]));
        b.insert(&p(&["data", "x"]));
        assert_eq!(a.intersection(&b).paths(), vec![p(&["spec", "replicas"])]);
        assert_eq!(a.difference(&b).paths(), vec![p(&["spec", "paused"])]);
        assert_eq!(a.union(&b).paths().len(), 3);
        assert!(a.contains_prefix(&p(&["spec"])));
        assert!(!a.contains(&p(&["spec"])));
        assert!(a.difference(&a).is_empty());
    }

    #[test]
    fn fields_of_follows_the_schema() {
        let s = test_schemas();
        let schema = s.get("t.Deployment");
        let obj = json!({
            "apiVersion":"apps/v1","kind":"Deployment",
            "metadata":{"name":"web","namespace":"ns","labels":{"app":"web"},"finalizers":["a"]},
            "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"args":["x","y"],
                    "ports":[{"port":80}],
                    "containers":[{"name":"c","image":"i"}]}});
        let set = fields_of(&s, schema, &obj);
        assert_eq!(
            set.to_fields_v1(),
            json!({
                "f:metadata":{"f:labels":{"f:app":{}},"f:finalizers":{"v:\"a\"":{}}},
                "f:spec":{"f:replicas":{},"f:selector":{},"f:args":{},
                          "f:ports":{"k:{\"port\":80,\"protocol\":\"TCP\"}":{".":{},"f:port":{}}},
                          "f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:name":{},"f:image":{}}}}})
        );
    }

    #[test]
    fn fields_of_without_schema_walks_maps_and_keeps_lists_whole() {
        let set = fields_of(
            &Schemas::default(),
            None,
            &json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"a":"1"},"list":[1,2]}),
        );
        assert_eq!(
            set.to_fields_v1(),
            json!({"f:data":{".":{},"f:a":{}},"f:list":{}})
        );
    }

    #[test]
    fn compare_reports_modified_added_removed() {
        let s = test_schemas();
        let schema = s.get("t.Deployment");
        let old = json!({"metadata":{"labels":{"a":"1"}},"spec":{"replicas":1,"containers":[{"name":"c","image":"1"},{"name":"d","image":"1"}]}});
        let new = json!({"metadata":{"labels":{"a":"1","b":"2"}},"spec":{"replicas":2,"containers":[{"name":"c","image":"2"},{"name":"e","image":"1"}]}});
        let c = compare(&s, schema, &old, &new);
        let strs =
            |f: &FieldSet| -> Vec<String> { f.paths().iter().map(|p| path_string(p)).collect() };
        assert_eq!(
            strs(&c.modified),
            vec![".spec.containers[name=\"c\"].image", ".spec.replicas"]
        );
        assert_eq!(
            strs(&c.added),
            vec![
                ".metadata.labels.b",
                ".spec.containers[name=\"e\"]",
                ".spec.containers[name=\"e\"].image",
                ".spec.containers[name=\"e\"].name",
            ]
        );
        assert_eq!(
            strs(&c.removed),
            vec![
                ".spec.containers[name=\"d\"]",
                ".spec.containers[name=\"d\"].image",
                ".spec.containers[name=\"d\"].name",
            ]
        );
    }
}
