//! The resources Wharf serves: one [`Resource`] per group/version/resource.
//!
//! Discovery, routing, storage keys, Table output and OpenAPI are all derived from this one
//! table. Custom resources are described by the same type, built at run time from their
//! CustomResourceDefinition ([`Resource`] is owned for that reason).

/// A subresource of a resource (`pods/status`, `deployments/scale`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subresource {
    /// The path segment: `status`, `scale`, `log`, …
    pub name: String,
    /// The kind served on it, as `group`, `version`, `kind` (status: the resource's own kind;
    /// scale: `autoscaling/v1` `Scale`).
    pub group: String,
    /// See `group`.
    pub version: String,
    /// See `group`.
    pub kind: String,
    /// Verbs the subresource supports (`get`, `update`, `patch`; `create` for `binding`).
    pub verbs: Vec<String>,
}

/// One resource of one group-version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// API group (`""` for core).
    pub group: String,
    /// Version (`v1`).
    pub version: String,
    /// Kind (`Deployment`).
    pub kind: String,
    /// The list kind (`DeploymentList`).
    pub list_kind: String,
    /// Plural, the URL segment (`deployments`).
    pub plural: String,
    /// Singular (`deployment`).
    pub singular: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names (`deploy`).
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Verbs on the resource itself.
    pub verbs: Vec<String>,
    /// Subresources.
    pub subresources: Vec<Subresource>,
}

impl Resource {
    /// `apps/v1` or `v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The storage key prefix of all objects of this resource, ending in `/`:
    /// `/registry/<group>/<plural>/` (core: `/registry/<plural>/`). Objects live at
    /// `<prefix><namespace>/<name>` or `<prefix><name>`.
    pub fn key_prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/registry/{}/", self.plural)
        } else {
            format!("/registry/{}/{}/", self.group, self.plural)
        }
    }

    /// The storage key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}{ns}/{name}", self.key_prefix()),
            _ => format!("{}{name}", self.key_prefix()),
        }
    }

    /// The subresource called `name`.
    pub fn subresource(&self, name: &str) -> Option<&Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }

    /// Whether this resource has a `status` subresource (then the main resource ignores
    /// status changes and `/status` ignores everything else).
    pub fn has_status(&self) -> bool {
        self.subresource("status").is_some()
    }
}

const RW: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Subresources a built-in kind has beyond `status` and `scale`.
#[derive(Clone, Copy)]
enum Extra {
    None,
    Status,
    StatusScale,
    Pod,
    Namespace,
    Node,
    Service,
    ServiceAccount,
    Crd,
}

struct Row {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    all: bool,
    extra: Extra,
}

#[allow(clippy::too_many_arguments)] // one row of a table, positional on purpose
const fn row(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    all: bool,
    extra: Extra,
) -> Row {
    Row {
        group,
        version,
        kind,
        plural,
        namespaced,
        short,
        all,
        extra,
    }
}

const NS: bool = true;
const CL: bool = false;

/// The built-in resources, in the order discovery lists them.
const BUILTIN: &[Row] = &[
    row(
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        NS,
        &["cm"],
        false,
        Extra::None,
    ),
    row(
        "",
        "v1",
        "Endpoints",
        "endpoints",
        NS,
        &["ep"],
        false,
        Extra::None,
    ),
    row("", "v1", "Event", "events", NS, &["ev"], false, Extra::None),
    row(
        "",
        "v1",
        "LimitRange",
        "limitranges",
        NS,
        &["limits"],
        false,
        Extra::None,
    ),
    row(
        "",
        "v1",
        "Namespace",
        "namespaces",
        CL,
        &["ns"],
        false,
        Extra::Namespace,
    ),
    row("", "v1", "Node", "nodes", CL, &["no"], false, Extra::Node),
    row(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        NS,
        &["pvc"],
        false,
        Extra::Status,
    ),
    row(
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        CL,
        &["pv"],
        false,
        Extra::Status,
    ),
    row("", "v1", "Pod", "pods", NS, &["po"], true, Extra::Pod),
    row(
        "",
        "v1",
        "ResourceQuota",
        "resourcequotas",
        NS,
        &["quota"],
        false,
        Extra::Status,
    ),
    row("", "v1", "Secret", "secrets", NS, &[], false, Extra::None),
    row(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        NS,
        &["sa"],
        false,
        Extra::ServiceAccount,
    ),
    row(
        "",
        "v1",
        "Service",
        "services",
        NS,
        &["svc"],
        true,
        Extra::Service,
    ),
    row(
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        NS,
        &[],
        false,
        Extra::None,
    ),
    row(
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        NS,
        &["ds"],
        true,
        Extra::Status,
    ),
    row(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        NS,
        &["deploy"],
        true,
        Extra::StatusScale,
    ),
    row(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        NS,
        &["rs"],
        true,
        Extra::StatusScale,
    ),
    row(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        NS,
        &["sts"],
        true,
        Extra::StatusScale,
    ),
    row(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        NS,
        &["hpa"],
        true,
        Extra::Status,
    ),
    row(
        "batch",
        "v1",
        "CronJob",
        "cronjobs",
        NS,
        &["cj"],
        true,
        Extra::Status,
    ),
    row("batch", "v1", "Job", "jobs", NS, &[], true, Extra::Status),
    row(
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
        CL,
        &[],
        false,
        Extra::None,
    ),
    row(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        NS,
        &["ing"],
        false,
        Extra::Status,
    ),
    row(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        NS,
        &["netpol"],
        false,
        Extra::None,
    ),
    row(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        NS,
        &["pdb"],
        false,
        Extra::Status,
    ),
    row(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        CL,
        &[],
        false,
        Extra::None,
    ),
    row(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        CL,
        &[],
        false,
        Extra::None,
    ),
    row(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        NS,
        &[],
        false,
        Extra::None,
    ),
    row(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        NS,
        &[],
        false,
        Extra::None,
    ),
    row(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        CL,
        &["sc"],
        false,
        Extra::None,
    ),
    row(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        NS,
        &[],
        false,
        Extra::None,
    ),
    row(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        NS,
        &[],
        false,
        Extra::None,
    ),
    row(
        "events.k8s.io",
        "v1",
        "Event",
        "events",
        NS,
        &["ev"],
        false,
        Extra::None,
    ),
    row(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        CL,
        &["crd", "crds"],
        false,
        Extra::Crd,
    ),
];

fn sub(name: &str, group: &str, version: &str, kind: &str, verbs: &[&str]) -> Subresource {
    Subresource {
        name: name.to_string(),
        group: group.to_string(),
        version: version.to_string(),
        kind: kind.to_string(),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
    }
}

const GUP: &[&str] = &["get", "patch", "update"];

impl Row {
    fn resource(&self) -> Resource {
        let own = |name: &str| sub(name, self.group, self.version, self.kind, GUP);
        let scale = || sub("scale", "autoscaling", "v1", "Scale", GUP);
        let subresources = match self.extra {
            Extra::None => vec![],
            Extra::Status => vec![own("status")],
            Extra::StatusScale => vec![scale(), own("status")],
            Extra::Pod => vec![
                sub("attach", "", "v1", "PodAttachOptions", &["create", "get"]),
                sub("binding", "", "v1", "Binding", &["create"]),
                sub("eviction", "policy", "v1", "Eviction", &["create"]),
                sub("exec", "", "v1", "PodExecOptions", &["create", "get"]),
                sub("log", "", "v1", "Pod", &["get"]),
                sub(
                    "portforward",
                    "",
                    "v1",
                    "PodPortForwardOptions",
                    &["create", "get"],
                ),
                own("status"),
            ],
            Extra::Namespace => vec![
                sub("finalize", "", "v1", "Namespace", &["update"]),
                own("status"),
            ],
            Extra::Node => vec![
                sub(
                    "proxy",
                    "",
                    "v1",
                    "NodeProxyOptions",
                    &["create", "delete", "get", "patch", "update"],
                ),
                own("status"),
            ],
            Extra::Service => vec![
                sub(
                    "proxy",
                    "",
                    "v1",
                    "ServiceProxyOptions",
                    &["create", "delete", "get", "patch", "update"],
                ),
                own("status"),
            ],
            Extra::ServiceAccount => {
                vec![sub(
                    "token",
                    "authentication.k8s.io",
                    "v1",
                    "TokenRequest",
                    &["create"],
                )]
            }
            Extra::Crd => vec![own("status")],
        };
        let singular = self.kind.to_ascii_lowercase();
        Resource {
            group: self.group.to_string(),
            version: self.version.to_string(),
            kind: self.kind.to_string(),
            list_kind: format!("{}List", self.kind),
            plural: self.plural.to_string(),
            singular,
            namespaced: self.namespaced,
            short_names: self.short.iter().map(|s| s.to_string()).collect(),
            categories: if self.all {
                vec!["all".to_string()]
            } else {
                vec![]
            },
            verbs: RW.iter().map(|v| v.to_string()).collect(),
            subresources,
        }
    }
}

/// All built-in resources.
pub fn builtin() -> Vec<Resource> {
    BUILTIN.iter().map(Row::resource).collect()
}

/// The built-in resource of `group`/`version` called `plural`.
pub fn find_builtin(group: &str, version: &str, plural: &str) -> Option<Resource> {
    BUILTIN
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
        .map(Row::resource)
}

/// The built-in resource serving `group`/`version` `kind`.
pub fn find_builtin_kind(group: &str, version: &str, kind: &str) -> Option<Resource> {
    BUILTIN
        .iter()
        .find(|r| r.group == group && r.version == version && r.kind == kind)
        .map(Row::resource)
}

/// Splits `apps/v1` into (`apps`, `v1`) and `v1` into (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_lookups() {
        let d = find_builtin("apps", "v1", "deployments").expect("deployments");
        assert_eq!(d.kind, "Deployment");
        assert_eq!(
            d.key(Some("ns"), "web"),
            "/registry/apps/deployments/ns/web"
        );
        assert_eq!(
            d.subresource("scale").map(|s| s.kind.as_str()),
            Some("Scale")
        );
        let ns = find_builtin_kind("", "v1", "Namespace").expect("namespaces");
        assert_eq!(ns.key(None, "default"), "/registry/namespaces/default");
        assert!(!ns.namespaced);
        assert_eq!(split_api_version("apps/v1"), ("apps", "v1"));
        assert_eq!(split_api_version("v1"), ("", "v1"));
        let all: Vec<_> = builtin()
            .into_iter()
            .filter(|r| r.categories.iter().any(|c| c == "all"))
            .map(|r| r.plural)
            .collect();
        assert!(all.contains(&"pods".to_string()) && all.contains(&"deployments".to_string()));
    }
}
