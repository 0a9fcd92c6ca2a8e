//! Strategic merge patch, as apimachinery's `strategicpatch.StrategicMergeMapPatch` applies it
//! on the server (kubernetes/community `strategic-merge-patch.md`).
//!
//! Per field, the schema's `x-kubernetes-patch-strategy` and `x-kubernetes-patch-merge-key`
//! decide how a list merges: strategy `merge` with a merge key merges list items by that key,
//! `merge` on a list of primitives makes it a set, anything else replaces the list. Maps merge
//! key by key unless their strategy is `replace`; `null` deletes a key. Directives:
//! `$patch: replace|delete` in a map, `$patch: replace|delete` items in a merging list,
//! `$retainKeys`, `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>`.

use serde_json::{Map, Value};

use super::{FieldSchema, PatchError, field_schema, items_schema};
use crate::schema::Schemas;

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER_PREFIX: &str = "$setElementOrder/";
const DELETE_PRIMITIVE_PREFIX: &str = "$deleteFromPrimitiveList/";

/// `original` with the strategic merge patch `patch` applied, reading merge keys and
/// strategies from `schema` (the object's OpenAPI schema in `schemas`; `None` when unknown:
/// then every list is replaced and maps merge).
pub fn strategic_merge(
    schemas: &Schemas,
    schema: Option<&Value>,
    original: &Value,
    patch: &Value,
) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::BadStrategicPatch(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            go_kind(patch)
        )));
    };
    let original = match original {
        Value::Object(o) => o.clone(),
        _ => Map::new(),
    };
    let merger = Merger { schemas };
    Ok(Value::Object(merger.merge_map(
        schema,
        original,
        patch.clone(),
    )?))
}

fn go_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value as Go's `%v` prints the decoded `interface{}` (`map[a:1 b:[x y]]`), for messages
/// that quote patch content the way apimachinery does.
fn go_fmt(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_fmt).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", go_fmt(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

fn no_merge_key(item: &Map<String, Value>, key: &str) -> PatchError {
    PatchError::StrategicFailed(format!(
        "map: {} does not contain declared merge key: {key}",
        go_fmt(&Value::Object(item.clone()))
    ))
}

fn bad_patch_type(t: &Value, m: &Map<String, Value>) -> PatchError {
    PatchError::StrategicFailed(format!(
        "unknown patch type: {} in map: {}",
        go_fmt(t),
        go_fmt(&Value::Object(m.clone()))
    ))
}

/// How a field merges, from its schema.
#[derive(Clone, Copy)]
struct FieldMeta<'a> {
    schema: Option<&'a Value>,
    merge: bool,
    replace: bool,
    merge_key: Option<&'a str>,
}

impl<'a> FieldMeta<'a> {
    fn of(field: Option<FieldSchema<'a>>) -> Self {
        let strategies: Vec<&str> = field
            .and_then(|f| f.ext("x-kubernetes-patch-strategy"))
            .map(|s| s.split(',').map(str::trim).collect())
            .unwrap_or_default();
        FieldMeta {
            schema: field.map(|f| f.schema()),
            merge: strategies.contains(&"merge"),
            replace: strategies.contains(&"replace"),
            merge_key: field.and_then(|f| f.ext("x-kubernetes-patch-merge-key")),
        }
    }
}

struct Merger<'s> {
    schemas: &'s Schemas,
}

/// Whether a list holds maps (merged by key) or primitives.
#[derive(Clone, Copy, PartialEq)]
enum ElementKind {
    Map,
    Primitive,
}

impl<'s> Merger<'s> {
    fn merge_map(
        &self,
        schema: Option<&'s Value>,
        mut original: Map<String, Value>,
        mut patch: Map<String, Value>,
    ) -> Result<Map<String, Value>, PatchError> {
        if let Some(directive) = patch.get(DIRECTIVE) {
            return match directive.as_str() {
                Some("replace") => {
                    patch.remove(DIRECTIVE);
                    Ok(patch)
                }
                Some("delete") => Ok(Map::new()),
                _ => Err(bad_patch_type(directive, &patch)),
            };
        }
        self.retain_keys(&mut original, &mut patch)?;
        self.set_element_orders(schema, &mut original, &mut patch)?;

        for (key, patch_value) in patch {
            let (key, delete_list) = match key.strip_prefix(DELETE_PRIMITIVE_PREFIX) {
                Some("") => {
                    return Err(PatchError::BadStrategicPatch(
                        "invalid patch format of primitive list".into(),
                    ));
                }
                Some(k) => (k.to_string(), true),
                None => (key, false),
            };
            if patch_value.is_null() {
                original.remove(&key);
                continue;
            }
            let meta = FieldMeta::of(field_schema(self.schemas, schema, &key));
            let current = match original.remove(&key) {
                Some(v) => v,
                None if delete_list => continue,
                // Absent: merge into an empty value of the patch's type, which drops nulls
                // and directives from the new value.
                None => match &patch_value {
                    Value::Object(_) => Value::Object(Map::new()),
                    Value::Array(_) => Value::Array(Vec::new()),
                    _ => Value::Null,
                },
            };
            let merged = match (current, patch_value) {
                (Value::Object(o), Value::Object(p)) => {
                    if meta.replace {
                        Value::Object(p)
                    } else {
                        Value::Object(self.merge_map(meta.schema, o, p)?)
                    }
                }
                (Value::Array(o), Value::Array(p)) => {
                    Value::Array(self.merge_list(&key, meta, o, p, delete_list)?)
                }
                (current, _) if delete_list => current,
                (_, p) => p,
            };
            original.insert(key, merged);
        }
        Ok(original)
    }

    /// `$retainKeys`: keys of `original` not listed are cleared; every key the patch sets must
    /// be listed.
    fn retain_keys(
        &self,
        original: &mut Map<String, Value>,
        patch: &mut Map<String, Value>,
    ) -> Result<(), PatchError> {
        let Some(retain) = patch.remove(RETAIN_KEYS) else {
            return Ok(());
        };
        let Value::Array(retain) = retain else {
            return Err(PatchError::BadStrategicPatch(
                "invalid patch format of retainKeys".into(),
            ));
        };
        let listed = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
        for (k, v) in patch.iter() {
            if v.is_null()
                || k.starts_with(DELETE_PRIMITIVE_PREFIX)
                || k.starts_with(SET_ORDER_PREFIX)
            {
                continue;
            }
            if !listed(k) {
                return Err(PatchError::StrategicUnprocessable(
                    "patch content doesn't match retainKeys list".into(),
                ));
            }
        }
        original.retain(|k, _| listed(k));
        Ok(())
    }

    /// `$setElementOrder/<list>`: merge the list (if patched) and order it as listed, keeping
    /// items only the server has near their old neighbours.
    fn set_element_orders(
        &self,
        schema: Option<&'s Value>,
        original: &mut Map<String, Value>,
        patch: &mut Map<String, Value>,
    ) -> Result<(), PatchError> {
        let keys: Vec<String> = patch
            .keys()
            .filter(|k| k.starts_with(SET_ORDER_PREFIX))
            .cloned()
            .collect();
        for directive_key in keys {
            let Some(Value::Array(order)) = patch.remove(&directive_key) else {
                return Err(PatchError::BadStrategicPatch(
                    "invalid patch format of setElementOrder list".into(),
                ));
            };
            let key = directive_key[SET_ORDER_PREFIX.len()..].to_string();
            let meta = FieldMeta::of(field_schema(self.schemas, schema, &key));
            let original_list = match original.get(&key) {
                None => None,
                Some(Value::Array(a)) => Some(a.clone()),
                Some(other) => {
                    return Err(PatchError::StrategicFailed(format!(
                        "expected a []interface {{}}, but received a {}",
                        go_type(other)
                    )));
                }
            };
            let patch_list = match patch.remove(&key) {
                None => None,
                Some(Value::Array(a)) => Some(a),
                Some(other) => {
                    return Err(PatchError::StrategicFailed(format!(
                        "expected a []interface {{}}, but received a {}",
                        go_type(&other)
                    )));
                }
            };
            let merge_key = meta.merge_key.unwrap_or("");
            validate_order(patch_list.as_deref().unwrap_or(&[]), &order, merge_key)?;
            let merged = match (&original_list, patch_list) {
                (None, None) => continue,
                (Some(o), None) => o.clone(),
                (o, Some(p)) => {
                    self.merge_list(&key, meta, o.clone().unwrap_or_default(), p, false)?
                }
            };
            let (in_order, server_only): (Vec<Value>, Vec<Value>) = merged
                .into_iter()
                .partition(|item| position(&order, item, merge_key).is_some());
            let server_order = original_list.unwrap_or_default();
            original.insert(
                key,
                Value::Array(normalize_order(
                    in_order,
                    server_only,
                    &order,
                    &server_order,
                    merge_key,
                )),
            );
        }
        Ok(())
    }

    fn merge_list(
        &self,
        field: &str,
        meta: FieldMeta<'s>,
        original: Vec<Value>,
        patch: Vec<Value>,
        delete_list: bool,
    ) -> Result<Vec<Value>, PatchError> {
        if delete_list {
            // `$deleteFromPrimitiveList/<list>`: remove every listed value.
            return Ok(original
                .into_iter()
                .filter(|v| !patch.contains(v))
                .collect());
        }
        if !meta.merge {
            return Ok(patch);
        }
        if original.is_empty() && patch.is_empty() {
            return Ok(original);
        }
        let kind = element_kind(&original, &patch)?;
        let item_schema = items_schema(self.schemas, meta.schema);
        match kind {
            ElementKind::Primitive => {
                let mut merged: Vec<Value> = Vec::new();
                for v in original.iter().chain(patch.iter()) {
                    if !merged.contains(v) {
                        merged.push(v.clone());
                    }
                }
                let (in_patch, server_only): (Vec<Value>, Vec<Value>) =
                    merged.into_iter().partition(|v| patch.contains(v));
                Ok(normalize_order(
                    in_patch,
                    server_only,
                    &patch,
                    &original,
                    "",
                ))
            }
            ElementKind::Map => {
                let key = meta.merge_key.ok_or_else(|| {
                    PatchError::StrategicFailed(format!(
                        "cannot merge lists without merge key for {field}"
                    ))
                })?;
                let mut original = original;
                let mut plain = Vec::new();
                let mut replace = false;
                for item in &patch {
                    let Value::Object(m) = item else { continue };
                    match m.get(DIRECTIVE) {
                        None => plain.push(m.clone()),
                        Some(Value::String(d)) if d == "delete" => {
                            let k = m.get(key).ok_or_else(|| no_merge_key(m, key))?;
                            original.retain(|o| o.get(key) != Some(k));
                        }
                        Some(Value::String(d)) if d == "replace" => replace = true,
                        Some(Value::String(d)) if d == "merge" => {
                            return Err(PatchError::StrategicFailed(
                                "merging lists cannot yet be specified in the patch".into(),
                            ));
                        }
                        Some(other) => return Err(bad_patch_type(other, m)),
                    }
                }
                let mut merged: Vec<Value> = if replace {
                    Vec::new()
                } else {
                    original.clone()
                };
                for item in plain {
                    let k = item
                        .get(key)
                        .ok_or_else(|| no_merge_key(&item, key))?
                        .clone();
                    match merged.iter().position(|o| o.get(key) == Some(&k)) {
                        Some(i) => {
                            let base = match std::mem::take(&mut merged[i]) {
                                Value::Object(o) => o,
                                _ => Map::new(),
                            };
                            merged[i] = Value::Object(self.merge_map(item_schema, base, item)?);
                        }
                        None => merged.push(Value::Object(self.merge_map(
                            item_schema,
                            Map::new(),
                            item,
                        )?)),
                    }
                }
                let (in_patch, server_only): (Vec<Value>, Vec<Value>) = merged
                    .into_iter()
                    .partition(|v| position(&patch, v, key).is_some());
                let server_order = if replace { Vec::new() } else { original };
                Ok(normalize_order(
                    in_patch,
                    server_only,
                    &patch,
                    &server_order,
                    key,
                ))
            }
        }
    }
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// The element kind shared by both lists; lists of lists are refused.
fn element_kind(original: &[Value], patch: &[Value]) -> Result<ElementKind, PatchError> {
    let mut kind = None;
    for v in patch.iter().chain(original.iter()) {
        let k = match v {
            Value::Array(_) => {
                return Err(PatchError::StrategicUnprocessable(
                    "lists of lists are not supported".into(),
                ));
            }
            Value::Object(_) => ElementKind::Map,
            _ => ElementKind::Primitive,
        };
        match kind {
            None => kind = Some(k),
            Some(prev) if prev != k => {
                return Err(PatchError::StrategicFailed(format!(
                    "the list elements are of different kinds: {} and {}",
                    go_fmt(&Value::Array(patch.to_vec())),
                    go_fmt(&Value::Array(original.to_vec()))
                )));
            }
            Some(_) => {}
        }
    }
    Ok(kind.unwrap_or(ElementKind::Primitive))
}

/// The index in `list` of the element that is `item` (primitives) or has `item`'s merge-key
/// value (maps; `merge_key` non-empty).
fn position(list: &[Value], item: &Value, merge_key: &str) -> Option<usize> {
    if merge_key.is_empty() {
        return list.iter().position(|v| v == item);
    }
    let k = item.get(merge_key)?;
    list.iter()
        .position(|v| v.get(merge_key) == Some(k) && v.get(DIRECTIVE).is_none())
}

/// Checks that the patch list's items come in the order `$setElementOrder` lists them.
fn validate_order(patch: &[Value], order: &[Value], merge_key: &str) -> Result<(), PatchError> {
    let mut last = None;
    for item in patch {
        if item.get(DIRECTIVE).is_some() {
            continue;
        }
        let at = position(order, item, merge_key);
        match (at, last) {
            (Some(i), Some(prev)) if i < prev => {}
            (Some(i), _) => {
                last = Some(i);
                continue;
            }
            (None, _) => {}
        }
        return Err(PatchError::StrategicFailed(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ORDER_PREFIX} list:\n{}\n",
            go_fmt(&Value::Array(patch.to_vec())),
            go_fmt(&Value::Array(order.to_vec()))
        )));
    }
    Ok(())
}

/// The final order of a merged list: `in_patch` items sorted as in `patch_order`,
/// `server_only` items sorted as in `server_order`, then interleaved so that a server-only
/// item goes before a patch item it preceded in the live list.
fn normalize_order(
    mut in_patch: Vec<Value>,
    mut server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
) -> Vec<Value> {
    in_patch.sort_by_key(|v| position(patch_order, v, merge_key).unwrap_or(usize::MAX));
    server_only.sort_by_key(|v| position(server_order, v, merge_key).unwrap_or(usize::MAX));
    let mut out = Vec::with_capacity(in_patch.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = in_patch.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!(
                (position(server_order, l, merge_key), position(server_order, r, merge_key)),
                (Some(li), Some(ri)) if li < ri
            ),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    /// A Deployment-like schema with the patch extensions the built-in types carry.
    fn schemas() -> Schemas {
        let mut m = BTreeMap::new();
        m.insert(
            "t.Deployment".into(),
            json!({"type":"object","properties":{
                "metadata":{"$ref":"#/components/schemas/t.Meta"},
                "spec":{"allOf":[{"$ref":"#/components/schemas/t.DeploymentSpec"}]}}}),
        );
        m.insert(
            "t.Meta".into(),
            json!({"type":"object","properties":{
                "annotations":{"type":"object","additionalProperties":{"type":"string"}},
                "finalizers":{"type":"array","items":{"type":"string"},"x-kubernetes-patch-strategy":"merge"}}}),
        );
        m.insert(
            "t.DeploymentSpec".into(),
            json!({"type":"object","properties":{
                "replicas":{"type":"integer"},
                "strategy":{"$ref":"#/components/schemas/t.Strategy"},
                "template":{"type":"object","properties":{"spec":{"$ref":"#/components/schemas/t.PodSpec"}}}}}),
        );
        m.insert(
            "t.Strategy".into(),
            json!({"type":"object","properties":{"type":{"type":"string"},"rollingUpdate":{"type":"object"}}}),
        );
        m.insert(
            "t.PodSpec".into(),
            json!({"type":"object","properties":{
                "containers":{"type":"array","items":{"$ref":"#/components/schemas/t.Container"},
                              "x-kubernetes-patch-merge-key":"name","x-kubernetes-patch-strategy":"merge"},
                "volumes":{"type":"array","items":{"$ref":"#/components/schemas/t.Volume"},
                           "x-kubernetes-patch-merge-key":"name","x-kubernetes-patch-strategy":"merge,retainKeys"},
                "nodeSelector":{"type":"object","additionalProperties":{"type":"string"},"x-kubernetes-map-type":"atomic"},
                "tolerations":{"type":"array","items":{"type":"object"}},
                "hostAliases":{"type":"array","items":{"type":"object"},"x-kubernetes-patch-merge-key":"ip","x-kubernetes-patch-strategy":"replace"}}}),
        );
        m.insert(
            "t.Container".into(),
            json!({"type":"object","properties":{
                "name":{"type":"string"},"image":{"type":"string"},
                "args":{"type":"array","items":{"type":"string"}},
                "env":{"type":"array","items":{"type":"object"},"x-kubernetes-patch-merge-key":"name","x-kubernetes-patch-strategy":"merge"},
                "ports":{"type":"array","items":{"type":"object"},"x-kubernetes-patch-merge-key":"containerPort","x-kubernetes-patch-strategy":"merge"}}}),
        );
        m.insert(
            "t.Volume".into(),
            json!({"type":"object","properties":{"name":{"type":"string"},"emptyDir":{"type":"object"},"hostPath":{"type":"object"}}}),
        );
        Schemas::new(m)
    }

    fn smp(original: Value, patch: Value) -> Result<Value, PatchError> {
        let s = schemas();
        let schema = s.get("t.Deployment").cloned();
        strategic_merge(&s, schema.as_ref(), &original, &patch)
    }

    fn pod(spec: Value) -> Value {
        json!({"spec":{"template":{"spec": spec}}})
    }

    #[test]
    fn kubectl_second_apply_patch() {
        let live = json!({
            "metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"old"}},
            "spec":{"replicas":1,"strategy":{"type":"RollingUpdate"},"template":{"spec":{"containers":[
                {"name":"nginx","image":"nginx:1.27","imagePullPolicy":"IfNotPresent"}]}}}});
        let patch = json!({"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"new"}},
            "spec":{"replicas":3,"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"}],
            "containers":[{"image":"nginx:1.28","name":"nginx"}]}}}});
        let out = smp(live, patch).expect("applies");
        assert_eq!(
            out,
            json!({
            "metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"new"}},
            "spec":{"replicas":3,"strategy":{"type":"RollingUpdate"},"template":{"spec":{"containers":[
                {"name":"nginx","image":"nginx:1.28","imagePullPolicy":"IfNotPresent"}]}}}})
        );
    }

    #[test]
    fn lists_merge_by_key_and_new_items_append() {
        let live = pod(
            json!({"containers":[{"name":"a","image":"a:1"},{"name":"b","image":"b:1","args":["x"]}]}),
        );
        let out = smp(
            live,
            pod(json!({"containers":[{"name":"b","args":["y"]},{"name":"c","image":"c:1"}]})),
        )
        .expect("applies");
        // Items in the patch come in the patch's order after a server-only item that preceded
        // them; the atomic `args` list is replaced.
        assert_eq!(
            out,
            pod(
                json!({"containers":[{"name":"a","image":"a:1"},{"name":"b","image":"b:1","args":["y"]},{"name":"c","image":"c:1"}]})
            )
        );
    }

    #[test]
    fn lists_without_merge_strategy_are_replaced() {
        let live = pod(json!({"tolerations":[{"key":"a"}],"hostAliases":[{"ip":"1"}]}));
        let out = smp(
            live,
            pod(json!({"tolerations":[{"key":"b"}],"hostAliases":[{"ip":"2"}]})),
        )
        .expect("applies");
        assert_eq!(
            out,
            pod(json!({"tolerations":[{"key":"b"}],"hostAliases":[{"ip":"2"}]}))
        );
    }

    #[test]
    fn null_deletes_and_unmatched_nulls_are_dropped() {
        let live = json!({"spec":{"replicas":2,"strategy":{"type":"Recreate"}}});
        let out = smp(
            live,
            json!({"spec":{"strategy":null,"template":{"spec":{"containers":[{"name":"a","image":null}]}}}}),
        )
        .expect("applies");
        assert_eq!(
            out,
            json!({"spec":{"replicas":2,"template":{"spec":{"containers":[{"name":"a"}]}}}})
        );
    }

    #[test]
    fn patch_directives_in_maps() {
        let live = json!({"spec":{"replicas":2,"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}}}});
        let out = smp(
            live.clone(),
            json!({"spec":{"strategy":{"$patch":"replace","type":"Recreate"}}}),
        )
        .expect("replace");
        assert_eq!(
            out,
            json!({"spec":{"replicas":2,"strategy":{"type":"Recreate"}}})
        );
        let out = smp(
            live.clone(),
            json!({"spec":{"strategy":{"$patch":"delete"}}}),
        )
        .expect("delete");
        assert_eq!(out, json!({"spec":{"replicas":2,"strategy":{}}}));
        let e = smp(live, json!({"spec":{"$patch":"frob"}})).expect_err("unknown directive");
        assert_eq!(e.to_api_error().code, 500);
        assert!(
            e.to_string()
                .starts_with("unknown patch type: frob in map: map["),
            "{e}"
        );
    }

    #[test]
    fn patch_directives_in_lists() {
        let live = pod(json!({"containers":[{"name":"a","image":"a"},{"name":"b","image":"b"}]}));
        let out = smp(
            live.clone(),
            pod(json!({"containers":[{"name":"a","$patch":"delete"}]})),
        )
        .expect("delete item");
        assert_eq!(out, pod(json!({"containers":[{"name":"b","image":"b"}]})));
        let out = smp(
            live.clone(),
            pod(json!({"containers":[{"name":"c","image":"c"},{"$patch":"replace"}]})),
        )
        .expect("replace list");
        assert_eq!(out, pod(json!({"containers":[{"name":"c","image":"c"}]})));
        let e = smp(live.clone(), pod(json!({"containers":[{"image":"x"}]})))
            .expect_err("missing merge key");
        assert_eq!(
            e.to_string(),
            "map: map[image:x] does not contain declared merge key: name"
        );
        let e = smp(
            live,
            pod(json!({"containers":[{"name":"a","$patch":"merge"}]})),
        )
        .expect_err("merge directive in a list");
        assert_eq!(
            e.to_string(),
            "merging lists cannot yet be specified in the patch"
        );
    }

    #[test]
    fn primitive_merge_lists_are_sets_with_delete_from_primitive_list() {
        let live = json!({"metadata":{"finalizers":["a","b"]}});
        let out = smp(live.clone(), json!({"metadata":{"finalizers":["c","a"]}})).expect("merge");
        assert_eq!(out, json!({"metadata":{"finalizers":["c","a","b"]}}));
        let out = smp(
            live,
            json!({"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}}),
        )
        .expect("delete");
        assert_eq!(out, json!({"metadata":{"finalizers":["b"]}}));
    }

    #[test]
    fn set_element_order_reorders_and_keeps_server_only_items() {
        let live = pod(json!({"containers":[{"name":"a"},{"name":"s"},{"name":"b"}]}));
        let out = smp(
            live.clone(),
            pod(json!({"$setElementOrder/containers":[{"name":"b"},{"name":"a"}]})),
        )
        .expect("order only");
        // A server-only item goes before a listed item it preceded on the server.
        assert_eq!(
            out,
            pod(json!({"containers":[{"name":"s"},{"name":"b"},{"name":"a"}]}))
        );
        let out = smp(
            live.clone(),
            pod(
                json!({"$setElementOrder/containers":[{"name":"c"},{"name":"a"},{"name":"b"}],
                   "containers":[{"name":"c","image":"c"}]}),
            ),
        )
        .expect("new item first");
        assert_eq!(
            out,
            pod(
                json!({"containers":[{"name":"c","image":"c"},{"name":"a"},{"name":"s"},{"name":"b"}]})
            )
        );
        let e = smp(
            live,
            pod(
                json!({"$setElementOrder/containers":[{"name":"a"},{"name":"b"}],
                   "containers":[{"name":"b","image":"1"},{"name":"a","image":"2"}]}),
            ),
        )
        .expect_err("patch order contradicts the directive");
        assert!(e.to_string().starts_with("The order in patch list:"), "{e}");
        let primitive = smp(
            json!({"metadata":{"finalizers":["a","b"]}}),
            json!({"metadata":{"$setElementOrder/finalizers":["b","a"]}}),
        )
        .expect("primitive order");
        assert_eq!(primitive, json!({"metadata":{"finalizers":["b","a"]}}));
    }

    #[test]
    fn retain_keys_clears_unlisted_fields() {
        let live = pod(
            json!({"volumes":[{"name":"v","hostPath":{"path":"/x"}}],"containers":[{"name":"a"}]}),
        );
        let out = smp(
            live.clone(),
            pod(json!({"volumes":[{"name":"v","emptyDir":{},"$retainKeys":["emptyDir","name"]}]})),
        )
        .expect("retain");
        assert_eq!(
            out,
            pod(json!({"volumes":[{"name":"v","emptyDir":{}}],"containers":[{"name":"a"}]}))
        );
        let e = smp(
            live.clone(),
            pod(json!({"volumes":[{"name":"v","emptyDir":{},"$retainKeys":["name"]}]})),
        )
        .expect_err("content outside retainKeys");
        assert_eq!(e.to_api_error().code, 422);
        let e = smp(
            live,
            pod(json!({"volumes":[{"name":"v","$retainKeys":"name"}]})),
        )
        .expect_err("retainKeys not a list");
        assert_eq!(e.to_api_error().code, 400);
        assert_eq!(e.to_string(), "invalid patch format of retainKeys");
    }

    #[test]
    fn maps_merge_and_atomic_extension_is_not_an_smp_strategy() {
        let live = pod(json!({"nodeSelector":{"a":"1","b":"2"}}));
        let out = smp(live, pod(json!({"nodeSelector":{"b":null,"c":"3"}}))).expect("merge");
        assert_eq!(out, pod(json!({"nodeSelector":{"a":"1","c":"3"}})));
    }

    #[test]
    fn unknown_schema_replaces_lists_and_merges_maps() {
        let s = Schemas::default();
        let out = strategic_merge(
            &s,
            None,
            &json!({"a":{"b":1,"c":[1,2]},"d":1}),
            &json!({"a":{"c":[3],"e":{"f":null,"g":1}}}),
        )
        .expect("applies");
        assert_eq!(out, json!({"a":{"b":1,"c":[3],"e":{"g":1}},"d":1}));
    }

    #[test]
    fn lists_of_lists_and_non_object_patches_are_refused() {
        let s = Schemas::default();
        let e = strategic_merge(&s, None, &json!({}), &json!([1])).expect_err("array patch");
        assert_eq!(e.to_api_error().code, 400);
        let e = smp(
            json!({"metadata":{"finalizers":[["a"]]}}),
            json!({"metadata":{"finalizers":[["b"]]}}),
        )
        .expect_err("list of lists");
        assert_eq!(e.to_string(), "lists of lists are not supported");
    }
}
