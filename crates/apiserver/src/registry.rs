//! The resources being served: the built-in ones and those of established
//! CustomResourceDefinitions, with their schemas, and the discovery documents built from them.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use api::resource::Resource;
use api::schema::Schemas;
use api::schema::crd::CrdVersion;
use serde_json::{Value, json};

/// One served resource.
#[derive(Debug, Clone)]
pub struct Served {
    /// The resource.
    pub resource: Resource,
    /// Its kind's schema name in [`Registry::schemas`], when known.
    pub schema_name: Option<String>,
    /// For a custom resource: its definition's version.
    pub custom: Option<Arc<CrdVersion>>,
}

impl Served {
    /// Whether this is a custom resource.
    pub fn is_custom(&self) -> bool {
        self.custom.is_some()
    }
}

#[derive(Debug)]
struct Inner {
    by_path: BTreeMap<(String, String, String), Arc<Served>>,
    schemas: Schemas,
    /// CRD name → its served versions.
    crds: BTreeMap<String, Vec<Arc<CrdVersion>>>,
    generation: u64,
}

/// The set of served resources; cheap to clone, updated when CRDs change.
#[derive(Debug, Clone)]
pub struct Registry {
    inner: Arc<RwLock<Inner>>,
}

impl Registry {
    /// The built-in resources.
    pub fn new() -> Registry {
        let schemas = api::schema::builtin::builtin().clone();
        let mut by_path = BTreeMap::new();
        for r in api::resource::builtin() {
            let schema_name = schemas
                .name_for_gvk(&r.group, &r.version, &r.kind)
                .map(str::to_string);
            by_path.insert(
                (r.group.clone(), r.version.clone(), r.plural.clone()),
                Arc::new(Served {
                    resource: r,
                    schema_name,
                    custom: None,
                }),
            );
        }
        Registry {
            inner: Arc::new(RwLock::new(Inner {
                by_path,
                schemas,
                crds: BTreeMap::new(),
                generation: 0,
            })),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The resource at `group`/`version`/`plural`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<Arc<Served>> {
        self.read()
            .by_path
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// The resource serving `group`/`version` `kind`.
    pub fn find_kind(&self, group: &str, version: &str, kind: &str) -> Option<Arc<Served>> {
        self.read()
            .by_path
            .values()
            .find(|s| {
                s.resource.group == group
                    && s.resource.version == version
                    && s.resource.kind == kind
            })
            .cloned()
    }

    /// Every served resource.
    pub fn all(&self) -> Vec<Arc<Served>> {
        self.read().by_path.values().cloned().collect()
    }

    /// Every schema (built-in and custom).
    pub fn schemas(&self) -> Schemas {
        self.read().schemas.clone()
    }

    /// A number that changes whenever the set of resources changes (for OpenAPI hashes).
    pub fn generation(&self) -> u64 {
        self.read().generation
    }

    /// Serves the versions of a CRD (or stops serving them when `versions` is empty).
    pub fn set_crd(&self, name: &str, versions: Vec<CrdVersion>) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        // Unchanged (the CRD controller resyncs): keep the generation, so OpenAPI hashes and
        // the documents cached under them stay valid.
        let same = match inner.crds.get(name) {
            Some(old) => {
                old.len() == versions.len() && old.iter().zip(&versions).all(|(a, b)| **a == *b)
            }
            None => versions.is_empty(),
        };
        if same {
            return;
        }
        if let Some(old) = inner.crds.remove(name) {
            for v in old {
                let r = &v.resource;
                inner
                    .by_path
                    .remove(&(r.group.clone(), r.version.clone(), r.plural.clone()));
            }
        }
        let versions: Vec<Arc<CrdVersion>> = versions.into_iter().map(Arc::new).collect();
        for v in &versions {
            if !v.served {
                continue;
            }
            let r = v.resource.clone();
            inner.by_path.insert(
                (r.group.clone(), r.version.clone(), r.plural.clone()),
                Arc::new(Served {
                    resource: r,
                    schema_name: Some(v.schema_name.clone()),
                    custom: Some(v.clone()),
                }),
            );
        }
        if !versions.is_empty() {
            inner.crds.insert(name.to_string(), versions);
        }
        let custom: Vec<(String, Value)> = inner
            .crds
            .values()
            .flatten()
            .map(|v| (v.schema_name.clone(), v.schema.clone()))
            .collect();
        inner.schemas = api::schema::builtin::builtin().with(custom);
        inner.generation += 1;
    }

    /// Group-versions in discovery order: core first, then groups by name.
    pub fn group_versions(&self) -> Vec<(String, String)> {
        let mut gvs: Vec<(String, String)> = self
            .read()
            .by_path
            .keys()
            .map(|(g, v, _)| (g.clone(), v.clone()))
            .collect();
        gvs.sort();
        gvs.dedup();
        gvs
    }

    /// Resources of one group-version.
    pub fn resources_of(&self, group: &str, version: &str) -> Vec<Arc<Served>> {
        self.read()
            .by_path
            .iter()
            .filter(|((g, v, _), _)| g == group && v == version)
            .map(|(_, s)| s.clone())
            .collect()
    }

    /// `/api` as `APIVersions`.
    pub fn legacy_core(&self, address: &str) -> Value {
        json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
        })
    }

    fn group_entry(group: &str, versions: &[String]) -> Value {
        let vs: Vec<Value> = versions
            .iter()
            .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
            .collect();
        json!({
            "name": group,
            "versions": vs,
            "preferredVersion": vs.first().cloned().unwrap_or(Value::Null),
        })
    }

    fn groups(&self) -> BTreeMap<String, Vec<String>> {
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (g, v) in self.group_versions() {
            if !g.is_empty() {
                groups.entry(g).or_default().push(v);
            }
        }
        groups
    }

    /// `/apis` as `APIGroupList`.
    pub fn legacy_groups(&self) -> Value {
        let groups: Vec<Value> = self
            .groups()
            .iter()
            .map(|(g, vs)| Self::group_entry(g, vs))
            .collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    /// `/apis/<group>` as `APIGroup`, if served.
    pub fn legacy_group(&self, group: &str) -> Option<Value> {
        let groups = self.groups();
        let vs = groups.get(group)?;
        let mut g = Self::group_entry(group, vs);
        g["kind"] = json!("APIGroup");
        g["apiVersion"] = json!("v1");
        Some(g)
    }

    /// `/api/v1` or `/apis/<g>/<v>` as `APIResourceList`, if served.
    pub fn legacy_resources(&self, group: &str, version: &str) -> Option<Value> {
        let served = self.resources_of(group, version);
        if served.is_empty() {
            return None;
        }
        let mut resources = Vec::new();
        for s in &served {
            let r = &s.resource;
            let mut e = json!({
                "name": r.plural,
                "singularName": r.singular,
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": r.verbs,
            });
            if !r.short_names.is_empty() {
                e["shortNames"] = json!(r.short_names);
            }
            if !r.categories.is_empty() {
                e["categories"] = json!(r.categories);
            }
            resources.push(e);
            for sub in &r.subresources {
                let mut e = json!({
                    "name": format!("{}/{}", r.plural, sub.name),
                    "singularName": "",
                    "namespaced": r.namespaced,
                    "kind": sub.kind,
                    "verbs": sub.verbs,
                });
                if sub.group != r.group || sub.version != r.version {
                    e["group"] = json!(sub.group);
                    e["version"] = json!(sub.version);
                }
                resources.push(e);
            }
        }
        let gv = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        Some(json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": gv,
            "resources": resources,
        }))
    }

    /// Aggregated discovery (`APIGroupDiscoveryList`) for `/api` (`core`) or `/apis`, in
    /// `apidiscovery.k8s.io/<version>`.
    pub fn aggregated(&self, core: bool, version: &str) -> Value {
        let mut by_group: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for (g, v) in self.group_versions() {
            if g.is_empty() != core {
                continue;
            }
            let resources: Vec<Value> = self
                .resources_of(&g, &v)
                .iter()
                .map(|s| {
                    let r = &s.resource;
                    let mut e = json!({
                        "resource": r.plural,
                        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                        "singularResource": r.singular,
                        "verbs": r.verbs,
                    });
                    if !r.short_names.is_empty() {
                        e["shortNames"] = json!(r.short_names);
                    }
                    if !r.categories.is_empty() {
                        e["categories"] = json!(r.categories);
                    }
                    if !r.subresources.is_empty() {
                        e["subresources"] = r
                            .subresources
                            .iter()
                            .map(|sub| {
                                json!({
                                    "subresource": sub.name,
                                    "responseKind": {"group": sub.group, "version": sub.version, "kind": sub.kind},
                                    "verbs": sub.verbs,
                                })
                            })
                            .collect();
                    }
                    e
                })
                .collect();
            by_group
                .entry(g.clone())
                .or_default()
                .push(json!({"version": v, "resources": resources, "freshness": "Current"}));
        }
        let items: Vec<Value> = by_group
            .into_iter()
            .map(|(g, versions)| json!({"metadata": {"name": g}, "versions": versions}))
            .collect();
        json!({
            "kind": "APIGroupDiscoveryList",
            "apiVersion": format!("apidiscovery.k8s.io/{version}"),
            "metadata": {},
            "items": items,
        })
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}
