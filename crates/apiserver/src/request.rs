//! What a request asks for: its path parsed into a target, its query into parameters, its
//! Accept header into an output form.

use std::collections::HashMap;

use api::error::ApiError;

/// Query parameters (`?&a=1&b=2`, repeated keys keep the last; empty pairs ignored, as kube-rs
/// sends them).
#[derive(Debug, Default, Clone)]
pub struct Query(HashMap<String, String>);

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Query {
        let mut map = HashMap::new();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(decode(k), decode(v));
        }
        Query(map)
    }

    /// A parameter's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A non-empty parameter's value.
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// A boolean parameter, parsed like Go's `strconv.ParseBool` (Python sends `True`).
    pub fn flag(&self, key: &str) -> Result<bool, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(false),
            Some(v) => parse_bool(v).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "invalid value for {key}: strconv.ParseBool: parsing {v:?}: invalid syntax"
                ))
            }),
        }
    }

    /// An integer parameter.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.non_empty(key) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid value for {key}: strconv.ParseInt: parsing {v:?}: invalid syntax"
                ))
            }),
        }
    }
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Percent-decoding of a query component (`+` is a space).
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The target of a request under `/api` or `/apis`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/api` (core versions) or `/apis` (all groups).
    Root {
        /// `true` for `/api`.
        core: bool,
    },
    /// `/apis/<group>`.
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`.
    GroupVersion(String, String),
    /// A resource path.
    Resource(ResourcePath),
}

/// `/apis/<g>/<v>/[namespaces/<ns>/]<plural>[/<name>[/<sub>]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    /// Group.
    pub group: String,
    /// Version.
    pub version: String,
    /// The namespace in the path.
    pub namespace: Option<String>,
    /// The resource's plural.
    pub plural: String,
    /// The object's name.
    pub name: Option<String>,
    /// The subresource.
    pub sub: Option<String>,
}

/// Parses a path under `/api` or `/apis`; `None` for anything else.
pub fn parse_path(path: &str) -> Option<Target> {
    let segs: Vec<String> = path
        .trim_end_matches('/')
        .split('/')
        .skip(1)
        .map(decode_path)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api"] => return Some(Target::Root { core: true }),
        ["apis"] => return Some(Target::Root { core: false }),
        ["apis", g] => return Some(Target::Group(g.to_string())),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let gv = || Target::GroupVersion(group.to_string(), version.to_string());
    let rp = |namespace: Option<&str>, plural: &str, name: Option<&str>, sub: Option<&str>| {
        Target::Resource(ResourcePath {
            group: group.to_string(),
            version: version.to_string(),
            namespace: namespace.map(str::to_string),
            plural: plural.to_string(),
            name: name.map(str::to_string),
            sub: sub.map(str::to_string),
        })
    };
    Some(match rest {
        [] => gv(),
        // `/api/v1/namespaces/<ns>/<x>`: a namespace's own subresource when <x> is one,
        // otherwise a collection in the namespace.
        ["namespaces", ns, sub @ ("status" | "finalize")] if group.is_empty() => {
            rp(None, "namespaces", Some(ns), Some(sub))
        }
        ["namespaces", ns, plural] => rp(Some(ns), plural, None, None),
        ["namespaces", ns, plural, name] => rp(Some(ns), plural, Some(name), None),
        ["namespaces", ns, plural, name, sub, ..] => rp(Some(ns), plural, Some(name), Some(sub)),
        [plural] => rp(None, plural, None, None),
        [plural, name] => rp(None, plural, Some(name), None),
        [plural, name, sub, ..] => rp(None, plural, Some(name), Some(sub)),
    })
}

fn decode_path(s: &str) -> String {
    if s.contains('%') {
        decode(&s.replace('+', "%2B"))
    } else {
        s.to_string()
    }
}

/// The form a response takes, from the Accept header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The objects as JSON.
    Json,
    /// The objects as YAML.
    Yaml,
    /// A `meta.k8s.io/v1` Table.
    Table,
    /// `PartialObjectMetadata` (metadata only).
    Metadata,
}

/// Chooses the output form from an Accept header: the first media type the server can
/// produce wins (kubectl lists Table first, then plain JSON).
pub fn negotiate(accept: Option<&str>) -> Result<Output, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(Output::Json);
    };
    for item in accept.split(',') {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        let params: HashMap<&str, &str> = parts.filter_map(|p| p.split_once('=')).collect();
        match media {
            "application/json" | "application/*" | "*/*" | "application/yaml" => {
                let yaml = media == "application/yaml";
                match params.get("as").copied() {
                    None => return Ok(if yaml { Output::Yaml } else { Output::Json }),
                    Some("Table") if params.get("g").copied() == Some("meta.k8s.io") => {
                        return Ok(Output::Table);
                    }
                    Some("PartialObjectMetadata" | "PartialObjectMetadataList")
                        if params.get("g").copied() == Some("meta.k8s.io") =>
                    {
                        return Ok(Output::Metadata);
                    }
                    _ => continue,
                }
            }
            _ => continue,
        }
    }
    Err(ApiError::new(
        406,
        "NotAcceptable",
        format!(
            "only the following media types are accepted: application/json, application/yaml, application/json;as=Table;v=v1;g=meta.k8s.io (got {accept:?})"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(parse_path("/api"), Some(Target::Root { core: true }));
        assert_eq!(
            parse_path("/apis/apps/v1"),
            Some(Target::GroupVersion("apps".into(), "v1".into()))
        );
        let Some(Target::Resource(r)) = parse_path("/api/v1/namespaces/default/pods/p1/log") else {
            panic!("resource")
        };
        assert_eq!(
            (
                r.namespace.as_deref(),
                r.plural.as_str(),
                r.name.as_deref(),
                r.sub.as_deref()
            ),
            (Some("default"), "pods", Some("p1"), Some("log"))
        );
        let Some(Target::Resource(r)) = parse_path("/api/v1/namespaces/ns1/finalize") else {
            panic!("resource")
        };
        assert_eq!(
            (r.plural.as_str(), r.name.as_deref()),
            ("namespaces", Some("ns1"))
        );
        let Some(Target::Resource(r)) = parse_path("/api/v1/namespaces/ns1") else {
            panic!("resource")
        };
        assert_eq!(
            (r.namespace, r.plural.as_str(), r.name.as_deref()),
            (None, "namespaces", Some("ns1"))
        );
        assert_eq!(parse_path("/version"), None);
    }

    #[test]
    fn queries_and_accept() {
        let q = Query::parse(Some(
            "&watch=True&labelSelector=app%3Dweb%2Ctier+in+(a)&limit=500",
        ));
        assert!(q.flag("watch").expect("bool"));
        assert_eq!(q.get("labelSelector"), Some("app=web,tier in (a)"));
        assert_eq!(q.int("limit").expect("int"), Some(500));
        assert!(Query::parse(Some("watch=maybe")).flag("watch").is_err());
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(negotiate(Some(kubectl)).expect("table"), Output::Table);
        assert_eq!(negotiate(None).expect("json"), Output::Json);
        assert_eq!(
            negotiate(Some("application/vnd.kubernetes.protobuf,application/json")).expect("json"),
            Output::Json
        );
        assert!(negotiate(Some("text/html")).is_err());
    }
}
