//! OpenAPI v3 schemas: the built-in kinds' (generated from `k8s-openapi`), the documents
//! served on `/openapi/v3`, and validation of objects against a schema.
//!
//! A schema here is plain OpenAPI v3 JSON (`serde_json::Value`), named as upstream names it
//! (`io.k8s.api.apps.v1.Deployment`) and referenced with `{"$ref": "#/components/schemas/<name>"}`.
//! Kubernetes' extensions carry what patching needs:
//! `x-kubernetes-patch-strategy` (`merge`, `retainKeys`, `merge,retainKeys`),
//! `x-kubernetes-patch-merge-key`, `x-kubernetes-list-type` (`atomic`, `set`, `map`),
//! `x-kubernetes-list-map-keys`, `x-kubernetes-map-type`, `x-kubernetes-int-or-string`,
//! `x-kubernetes-preserve-unknown-fields`, `x-kubernetes-embedded-resource`, and on top-level
//! kinds `x-kubernetes-group-version-kind`.
//!
//! [`Schemas`] is the lookup every user of schemas shares (patching, validation, OpenAPI).

pub mod builtin;
pub mod crd;
pub mod openapi;
pub mod openapi_v2;
pub mod validate;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

/// A set of named schemas and the lookups over them. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Schemas {
    by_name: Arc<BTreeMap<String, Value>>,
    /// (group, version, kind) → schema name.
    by_gvk: Arc<BTreeMap<(String, String, String), String>>,
}

const REF_PREFIX: &str = "#/components/schemas/";

impl Schemas {
    /// Schemas from a name → schema map; top-level kinds are indexed by their
    /// `x-kubernetes-group-version-kind` extension.
    pub fn new(by_name: BTreeMap<String, Value>) -> Self {
        let mut by_gvk = BTreeMap::new();
        for (name, schema) in &by_name {
            if let Some(gvks) = schema
                .get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array)
            {
                for gvk in gvks {
                    let field =
                        |k: &str| gvk.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                    by_gvk.insert(
                        (field("group"), field("version"), field("kind")),
                        name.clone(),
                    );
                }
            }
        }
        Schemas {
            by_name: Arc::new(by_name),
            by_gvk: Arc::new(by_gvk),
        }
    }

    /// All schemas by name.
    pub fn all(&self) -> &BTreeMap<String, Value> {
        &self.by_name
    }

    /// The schema called `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.by_name.get(name)
    }

    /// The schema name of a top-level kind.
    pub fn name_for_gvk(&self, group: &str, version: &str, kind: &str) -> Option<&str> {
        self.by_gvk
            .get(&(group.to_string(), version.to_string(), kind.to_string()))
            .map(String::as_str)
    }

    /// The schema of a top-level kind.
    pub fn for_gvk(&self, group: &str, version: &str, kind: &str) -> Option<&Value> {
        self.name_for_gvk(group, version, kind)
            .and_then(|n| self.get(n))
    }

    /// `schema` with references followed: a `$ref` (possibly beside a `description`, as
    /// generated schemas write it) or an `allOf` of a single `$ref` resolves to the named
    /// schema. An unknown reference resolves to `schema` itself.
    pub fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        let mut s = schema;
        for _ in 0..16 {
            let target = s.get("$ref").and_then(Value::as_str).or_else(|| {
                match s.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
                    Some([one]) => one.get("$ref").and_then(Value::as_str),
                    _ => None,
                }
            });
            match target
                .and_then(|r| r.strip_prefix(REF_PREFIX))
                .and_then(|n| self.by_name.get(n))
            {
                Some(next) => s = next,
                None => return s,
            }
        }
        s
    }

    /// The resolved schema of property `name` of the object schema `schema`.
    pub fn property<'a>(&'a self, schema: &'a Value, name: &str) -> Option<&'a Value> {
        self.resolve(schema)
            .get("properties")
            .and_then(|p| p.get(name))
            .map(|p| self.resolve(p))
    }

    /// The resolved schema of the items of the array schema `schema`.
    pub fn items<'a>(&'a self, schema: &'a Value) -> Option<&'a Value> {
        self.resolve(schema).get("items").map(|i| self.resolve(i))
    }

    /// The resolved schema of the values of the map schema `schema` (`additionalProperties`).
    pub fn additional_properties<'a>(&'a self, schema: &'a Value) -> Option<&'a Value> {
        self.resolve(schema)
            .get("additionalProperties")
            .filter(|a| a.is_object())
            .map(|a| self.resolve(a))
    }

    /// A copy of these schemas with `more` added (custom resources' schemas).
    pub fn with(&self, more: impl IntoIterator<Item = (String, Value)>) -> Self {
        let mut by_name = (*self.by_name).clone();
        by_name.extend(more);
        Self::new(by_name)
    }
}

/// An extension or keyword of a (resolved) schema as a string.
pub fn ext<'a>(schema: &'a Value, key: &str) -> Option<&'a str> {
    schema.get(key).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolves_refs_beside_descriptions_and_single_allof() {
        let mut m = BTreeMap::new();
        m.insert(
            "a.Thing".to_string(),
            json!({"type": "object", "x-kubernetes-group-version-kind": [{"group": "g", "version": "v1", "kind": "Thing"}],
                   "properties": {"spec": {"$ref": "#/components/schemas/a.Spec", "description": "d"},
                                  "list": {"type": "array", "items": {"allOf": [{"$ref": "#/components/schemas/a.Spec"}]}}}}),
        );
        m.insert(
            "a.Spec".to_string(),
            json!({"type": "object", "properties": {"x": {"type": "string"}}}),
        );
        let s = Schemas::new(m);
        let thing = s.for_gvk("g", "v1", "Thing").expect("by gvk");
        let spec = s.property(thing, "spec").expect("spec");
        assert_eq!(s.property(spec, "x"), Some(&json!({"type": "string"})));
        let list = s.property(thing, "list").expect("list");
        assert!(s.items(list).expect("items").get("properties").is_some());
    }
}
