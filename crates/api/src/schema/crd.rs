//! CustomResourceDefinitions (`apiextensions.k8s.io/v1`): their validation as
//! apiextensions-apiserver does it, and the resources and schemas a CRD's versions serve.

use serde_json::{Value, json};

use super::builtin::OBJECT_META;
use crate::error::FieldError;
use crate::resource::{Resource, Subresource};
use crate::value::strings;

/// The paths of a `scale` subresource (`spec.versions[].subresources.scale`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleSpec {
    /// `.spec.replicas`: where the desired replica count lives.
    pub spec_replicas_path: String,
    /// `.status.replicas`: where the observed replica count lives.
    pub status_replicas_path: String,
    /// `.status.selector`: where the label selector (as a string) lives, if anywhere.
    pub label_selector_path: Option<String>,
}

/// One version of a CRD as served.
#[derive(Debug, Clone, PartialEq)]
pub struct CrdVersion {
    /// The resource (names, scope, verbs, short names, categories, `status`/`scale`).
    pub resource: Resource,
    /// The component schema's name, upstream style: `com.example.stable.v1.CronTab`.
    pub schema_name: String,
    /// The kind's component schema: the version's `openAPIV3Schema` with
    /// `x-kubernetes-group-version-kind` and the `apiVersion`, `kind` and `metadata`
    /// (→ `ObjectMeta`) properties.
    pub schema: Value,
    /// `served`.
    pub served: bool,
    /// `storage`.
    pub storage: bool,
    /// The `scale` subresource, when the version has one.
    pub scale: Option<ScaleSpec>,
    /// `additionalPrinterColumns`, as written.
    pub printer_columns: Vec<Value>,
}

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.get(*k))
        .and_then(Value::as_str)
}

/// Fills what apiextensions' defaulting fills before validation: `names.singular` (the kind
/// in lower case), `names.listKind` (`<kind>List`), `conversion.strategy` (`None`).
pub fn default_crd(crd: &mut Value) {
    let Some(spec) = crd.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(names) = spec.get_mut("names").and_then(Value::as_object_mut)
        && let Some(kind) = names
            .get("kind")
            .and_then(Value::as_str)
            .map(str::to_string)
        && !kind.is_empty()
    {
        if names
            .get("singular")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            names.insert("singular".into(), json!(kind.to_lowercase()));
        }
        if names
            .get("listKind")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            names.insert("listKind".into(), json!(format!("{kind}List")));
        }
    }
    if !spec.contains_key("conversion") {
        spec.insert("conversion".into(), json!({"strategy": "None"}));
    }
}

/// apimachinery's DNS-1035 label check, its messages joined as upstream joins them.
fn dns1035_label(v: &str) -> Option<String> {
    let mut errs = Vec::new();
    if v.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    let ok = v.starts_with(|c: char| c.is_ascii_lowercase())
        && v.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        errs.push("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".to_string());
    }
    (!errs.is_empty()).then(|| errs.join(","))
}

/// The CRD's validation errors, upstream's paths and words (the checks of
/// `ValidateCustomResourceDefinition` that matter for serving: name, group, names, scope,
/// versions, storage version, schemas present and structural). Run [`default_crd`] first.
pub fn validate_crd(crd: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let group = s(crd, &["spec", "group"]).unwrap_or("");
    let plural = s(crd, &["spec", "names", "plural"]).unwrap_or("");
    let name = s(crd, &["metadata", "name"]).unwrap_or("");
    if name != format!("{plural}.{group}") {
        errs.push(FieldError::invalid(
            "metadata.name",
            json!(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if group.is_empty() {
        errs.push(FieldError::required("spec.group", ""));
    } else if !group.contains('.') {
        errs.push(FieldError::invalid(
            "spec.group",
            json!(group),
            "should be a domain with at least one dot",
        ));
    }
    match s(crd, &["spec", "scope"]).unwrap_or("") {
        "Cluster" | "Namespaced" => {}
        "" => errs.push(FieldError::required("spec.scope", "")),
        other => errs.push(FieldError::not_supported(
            "spec.scope",
            json!(other),
            &["Cluster", "Namespaced"],
        )),
    }
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        errs.push(FieldError::required(
            "spec.versions",
            "must have at least one version",
        ));
    }
    let mut storage = 0;
    let mut names_seen = std::collections::BTreeSet::new();
    let mut unique = true;
    for (i, v) in versions.iter().enumerate() {
        let vname = s(v, &["name"]).unwrap_or("");
        if v.get("storage").and_then(Value::as_bool) == Some(true) {
            storage += 1;
        }
        if !names_seen.insert(vname.to_string()) {
            unique = false;
        }
        if let Some(msg) = dns1035_label(vname) {
            errs.push(FieldError::invalid(
                format!("spec.versions[{i}].name"),
                json!(vname),
                msg,
            ));
        }
        let schema_path = format!("spec.versions[{i}].schema.openAPIV3Schema");
        match v.pointer("/schema/openAPIV3Schema") {
            None => errs.push(FieldError::required(schema_path, "schemas are required")),
            Some(schema) => {
                match schema.get("type").and_then(Value::as_str) {
                    Some("object") => {}
                    Some(other) => errs.push(FieldError::invalid(
                        format!("{schema_path}.type"),
                        json!(other),
                        "must be object at the root",
                    )),
                    None => errs.push(FieldError::required(
                        format!("{schema_path}.type"),
                        "must not be empty at the root",
                    )),
                }
                structural(schema, &schema_path, true, &mut errs);
            }
        }
        if let Some(cols) = v.get("additionalPrinterColumns").and_then(Value::as_array) {
            for (j, c) in cols.iter().enumerate() {
                let at = format!("spec.versions[{i}].additionalPrinterColumns[{j}]");
                for req in ["name", "type", "jsonPath"] {
                    if s(c, &[req]).is_none_or(str::is_empty) {
                        errs.push(FieldError::required(format!("{at}.{req}"), ""));
                    }
                }
            }
        }
        if let Some(scale) = v.pointer("/subresources/scale") {
            let at = format!("spec.versions[{i}].subresources.scale");
            for req in ["specReplicasPath", "statusReplicasPath"] {
                match s(scale, &[req]) {
                    None | Some("") => {
                        errs.push(FieldError::required(format!("{at}.{req}"), ""));
                    }
                    Some(p) if !p.starts_with('.') => errs.push(FieldError::invalid(
                        format!("{at}.{req}"),
                        json!(p),
                        "should be a json path under either .spec or .status",
                    )),
                    _ => {}
                }
            }
        }
    }
    if !unique {
        errs.push(FieldError::invalid(
            "spec.versions",
            Value::Array(versions.clone()),
            "must contain unique version names",
        ));
    }
    if storage != 1 {
        errs.push(FieldError::invalid(
            "spec.versions",
            Value::Array(versions.clone()),
            "must have exactly one version marked as storage version",
        ));
    }
    let names = crd.pointer("/spec/names").cloned().unwrap_or(Value::Null);
    for (key, label) in [
        ("plural", true),
        ("singular", true),
        ("kind", false),
        ("listKind", false),
    ] {
        let value = s(&names, &[key]).unwrap_or("");
        let at = format!("spec.names.{key}");
        if value.is_empty() {
            errs.push(FieldError::required(at, ""));
            continue;
        }
        let msg = if label {
            dns1035_label(value)
        } else {
            dns1035_label(&value.to_lowercase()).map(|m| {
                m.replace(
                    "a DNS-1035 label must consist of lower case alphanumeric characters",
                    "may have mixed case, but should otherwise match: a DNS-1035 label must consist of lower case alphanumeric characters",
                )
            })
        };
        if let Some(m) = msg {
            errs.push(FieldError::invalid(at, json!(value), m));
        }
    }
    let kind = s(&names, &["kind"]).unwrap_or("");
    if !kind.is_empty() && s(&names, &["listKind"]) == Some(kind) {
        errs.push(FieldError::invalid(
            "spec.names.listKind",
            json!(kind),
            "kind and listKind cannot be the same (avoid naming a kind FooList)",
        ));
    }
    for (i, v) in strings(names.get("shortNames")).iter().enumerate() {
        if let Some(m) = dns1035_label(v) {
            errs.push(FieldError::invalid(
                format!("spec.names.shortNames[{i}]"),
                json!(v),
                m,
            ));
        }
    }
    errs
}

/// Structural-schema rules: a type at every level (except below
/// `x-kubernetes-int-or-string` and `x-kubernetes-preserve-unknown-fields`), `properties` and
/// `additionalProperties` not both, `items` a single schema.
fn structural(schema: &Value, at: &str, root: bool, errs: &mut Vec<FieldError>) {
    let Some(m) = schema.as_object() else {
        return;
    };
    let int_or_string = m.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true);
    let preserve = m
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true);
    let ty = m.get("type").and_then(Value::as_str);
    if int_or_string {
        if let Some(t) = ty {
            errs.push(FieldError::invalid(
                format!("{at}.type"),
                json!(t),
                "must be empty if x-kubernetes-int-or-string is true",
            ));
        }
    } else if ty.is_none() && !root && !preserve {
        errs.push(FieldError::required(
            format!("{at}.type"),
            "must not be empty for specified object fields",
        ));
    }
    if m.contains_key("properties") && m.get("additionalProperties").is_some_and(|a| a.is_object())
    {
        errs.push(FieldError::forbidden(
            format!("{at}.additionalProperties"),
            "additionalProperties and properties are mutual exclusive",
        ));
    }
    if let Some(props) = m.get("properties").and_then(Value::as_object) {
        for (k, p) in props {
            structural(p, &format!("{at}.properties[{k}]"), false, errs);
        }
    }
    match m.get("items") {
        Some(items @ Value::Object(_)) => {
            let p = format!("{at}.items");
            if items.get("type").is_none()
                && items.get("x-kubernetes-int-or-string").is_none()
                && items.get("x-kubernetes-preserve-unknown-fields").is_none()
            {
                errs.push(FieldError::required(
                    format!("{p}.type"),
                    "must not be empty for specified array items",
                ));
                // Checked here with the array-items wording; do not report it again.
                let mut inner = items.clone();
                inner["type"] = json!("object");
                structural(&inner, &p, false, errs);
            } else {
                structural(items, &p, false, errs);
            }
        }
        Some(Value::Array(_)) => errs.push(FieldError::forbidden(
            format!("{at}.items"),
            "items must be a schema object and not an array",
        )),
        _ => {}
    }
    if ty == Some("array") && !m.contains_key("items") {
        errs.push(FieldError::required(
            format!("{at}.items"),
            "must be specified",
        ));
    }
    if let Some(a @ Value::Object(_)) = m.get("additionalProperties") {
        structural(a, &format!("{at}.additionalProperties"), false, errs);
    }
}

/// `stable.example.com`, `v1`, `CronTab` → `com.example.stable.v1.CronTab`.
pub fn schema_name(group: &str, version: &str, kind: &str) -> String {
    let mut parts: Vec<&str> = group.split('.').collect();
    parts.reverse();
    format!("{}.{version}.{kind}", parts.join("."))
}

/// Every version of the CRD (served or not — see [`CrdVersion::served`]), with its resource,
/// its component schema, scale paths and printer columns. A CRD without the basics (group,
/// plural, kind) gives none; validate it first with [`validate_crd`].
pub fn served_versions(crd: &Value) -> Vec<CrdVersion> {
    let (Some(group), Some(plural), Some(kind)) = (
        s(crd, &["spec", "group"]),
        s(crd, &["spec", "names", "plural"]),
        s(crd, &["spec", "names", "kind"]),
    ) else {
        return Vec::new();
    };
    let names = crd.pointer("/spec/names").cloned().unwrap_or(Value::Null);
    let list_kind = s(&names, &["listKind"])
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("{kind}List"));
    let singular = s(&names, &["singular"])
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_lowercase());
    let namespaced = s(crd, &["spec", "scope"]) != Some("Cluster");
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    versions
        .iter()
        .filter_map(|v| {
            let version = s(v, &["name"])?;
            let gup = ["get", "patch", "update"].map(String::from).to_vec();
            let mut subresources = Vec::new();
            let scale = v.pointer("/subresources/scale").map(|sc| ScaleSpec {
                spec_replicas_path: s(sc, &["specReplicasPath"]).unwrap_or("").to_string(),
                status_replicas_path: s(sc, &["statusReplicasPath"]).unwrap_or("").to_string(),
                label_selector_path: s(sc, &["labelSelectorPath"]).map(str::to_string),
            });
            if scale.is_some() {
                subresources.push(Subresource {
                    name: "scale".into(),
                    group: "autoscaling".into(),
                    version: "v1".into(),
                    kind: "Scale".into(),
                    verbs: gup.clone(),
                });
            }
            if v.pointer("/subresources/status").is_some() {
                subresources.push(Subresource {
                    name: "status".into(),
                    group: group.into(),
                    version: version.into(),
                    kind: kind.into(),
                    verbs: gup,
                });
            }
            let resource = Resource {
                group: group.to_string(),
                version: version.to_string(),
                kind: kind.to_string(),
                list_kind: list_kind.clone(),
                plural: plural.to_string(),
                singular: singular.clone(),
                namespaced,
                short_names: strings(names.get("shortNames")),
                categories: strings(names.get("categories")),
                verbs: [
                    "delete",
                    "deletecollection",
                    "get",
                    "list",
                    "patch",
                    "create",
                    "update",
                    "watch",
                ]
                .map(String::from)
                .to_vec(),
                subresources,
            };
            Some(CrdVersion {
                schema_name: schema_name(group, version, kind),
                schema: kind_schema(v.pointer("/schema/openAPIV3Schema"), group, version, kind),
                served: v.get("served").and_then(Value::as_bool).unwrap_or(false),
                storage: v.get("storage").and_then(Value::as_bool).unwrap_or(false),
                scale,
                printer_columns: v
                    .get("additionalPrinterColumns")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
                resource,
            })
        })
        .collect()
}

/// The kind's component schema from a version's `openAPIV3Schema`.
fn kind_schema(schema: Option<&Value>, group: &str, version: &str, kind: &str) -> Value {
    let mut out = match schema {
        Some(Value::Object(m)) => Value::Object(m.clone()),
        _ => json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
    };
    if out.get("type").is_none() {
        out["type"] = json!("object");
    }
    if !out.get("properties").is_some_and(Value::is_object) {
        out["properties"] = json!({});
    }
    let props = &mut out["properties"];
    props["apiVersion"] = json!({
        "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
        "type": "string",
    });
    props["kind"] = json!({
        "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
        "type": "string",
    });
    props["metadata"] = json!({
        "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
        "allOf": [{"$ref": format!("{}{OBJECT_META}", super::REF_PREFIX)}],
    });
    out["x-kubernetes-group-version-kind"] =
        json!([{"group": group, "version": version, "kind": kind}]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::builtin::builtin;
    use crate::schema::validate::{Mode, prune, validate};

    fn crontab() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "crontabs.stable.example.com"},
            "spec": {
                "group": "stable.example.com",
                "scope": "Namespaced",
                "names": {"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"], "categories": ["all"]},
                "versions": [{
                    "name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "properties": {
                            "cronSpec": {"type": "string"},
                            "replicas": {"type": "integer", "minimum": 0},
                            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                        }},
                        "status": {"type": "object", "properties": {"replicas": {"type": "integer"}, "selector": {"type": "string"}}}
                    }}},
                    "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas", "labelSelectorPath": ".status.selector"}},
                    "additionalPrinterColumns": [{"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"}]
                }]
            }
        })
    }

    #[test]
    fn a_structural_crd_yields_a_served_version() {
        let mut crd = crontab();
        default_crd(&mut crd);
        assert_eq!(validate_crd(&crd), vec![]);
        let vs = served_versions(&crd);
        assert_eq!(vs.len(), 1);
        let v = &vs[0];
        assert!(v.served && v.storage);
        assert_eq!(v.schema_name, "com.example.stable.v1.CronTab");
        assert_eq!(v.resource.list_kind, "CronTabList");
        assert_eq!(v.resource.singular, "crontab");
        assert_eq!(v.resource.short_names, vec!["ct"]);
        assert!(v.resource.has_status());
        assert_eq!(
            v.scale
                .as_ref()
                .and_then(|s| s.label_selector_path.as_deref()),
            Some(".status.selector")
        );
        assert_eq!(v.printer_columns.len(), 1);
        assert_eq!(
            v.schema["x-kubernetes-group-version-kind"][0]["kind"],
            "CronTab"
        );

        let schemas = builtin().with([(v.schema_name.clone(), v.schema.clone())]);
        let schema = schemas
            .for_gvk("stable.example.com", "v1", "CronTab")
            .expect("indexed by gvk")
            .clone();
        let mut obj = json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab",
            "metadata": {"name": "a", "labels": {"x": "y"}},
            "spec": {"cronSpec": "* * * * */5", "replicas": -1, "foo": 1, "extra": {"any": [1]}}});
        let r = validate(&schemas, &schema, &obj, Mode::Custom);
        assert_eq!(r.unknown, vec!["spec.foo"]);
        assert_eq!(
            r.errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec![
                "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0"
            ]
        );
        prune(&schemas, &schema, &mut obj);
        assert!(obj["spec"].get("foo").is_none());
        assert_eq!(obj["spec"]["extra"], json!({"any": [1]}));
        assert_eq!(obj["metadata"]["labels"]["x"], "y");
    }

    #[test]
    fn a_bad_crd_gets_upstreams_errors() {
        let crd = json!({
            "metadata": {"name": "wrong"},
            "spec": {
                "group": "nodot",
                "scope": "Everywhere",
                "names": {"plural": "Things", "kind": "Thing", "listKind": "Thing", "singular": "thing"},
                "versions": [
                    {"name": "v1", "served": true, "storage": false,
                     "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"properties": {"a": {"type": "string"}}}}}}},
                    {"name": "V2", "served": false, "storage": false}
                ]
            }
        });
        let texts: Vec<String> = validate_crd(&crd).iter().map(ToString::to_string).collect();
        let has = |t: &str| texts.iter().any(|x| x == t);
        assert!(
            has(
                "metadata.name: Invalid value: \"wrong\": must be spec.names.plural+\".\"+spec.group"
            ),
            "{texts:#?}"
        );
        assert!(
            has("spec.group: Invalid value: \"nodot\": should be a domain with at least one dot"),
            "{texts:#?}"
        );
        assert!(
            has(
                "spec.scope: Unsupported value: \"Everywhere\": supported values: \"Cluster\", \"Namespaced\""
            ),
            "{texts:#?}"
        );
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with("spec.versions: Invalid value: ")
                    && t.ends_with("must have exactly one version marked as storage version")),
            "{texts:#?}"
        );
        assert!(
            has(
                "spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"
            ),
            "{texts:#?}"
        );
        assert!(
            has("spec.versions[1].schema.openAPIV3Schema: Required value: schemas are required"),
            "{texts:#?}"
        );
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with("spec.versions[1].name: Invalid value: \"V2\"")),
            "{texts:#?}"
        );
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with("spec.names.plural: Invalid value: \"Things\"")),
            "{texts:#?}"
        );
        assert!(
            has(
                "spec.names.listKind: Invalid value: \"Thing\": kind and listKind cannot be the same (avoid naming a kind FooList)"
            ),
            "{texts:#?}"
        );
    }

    #[test]
    fn the_crd_kind_itself_validates_against_its_builtin_schema() {
        let s = builtin();
        let schema = s
            .for_gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition")
            .expect("crd schema")
            .clone();
        let r = validate(s, &schema, &crontab(), Mode::BuiltIn);
        assert!(r.is_clean(), "{r:?}");
        let mut bad = crontab();
        bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["typo"] =
            json!(1);
        let r = validate(s, &schema, &bad, Mode::BuiltIn);
        assert_eq!(
            r.unknown,
            vec!["spec.versions[0].schema.openAPIV3Schema.properties[spec].typo"]
        );
    }
}
