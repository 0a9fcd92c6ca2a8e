//! The OpenAPI v3 component schemas of the built-in kinds, generated once from the
//! `k8s-openapi` types' `JsonSchema` impls and completed with what those impls do not carry.
//!
//! `k8s-openapi` gives every type its upstream name (`io.k8s.api.apps.v1.Deployment`) and
//! description, so `kubectl explain` reads the real field docs. On top of that this module adds:
//!
//! - `x-kubernetes-group-version-kind` on every top-level kind and list kind (upstream puts it
//!   there; kubectl finds a kind's schema by it);
//! - the `<Kind>List` schemas (`k8s-openapi` models lists with one generic type);
//! - the strategic-merge and server-side-apply extensions from the upstream Go struct tags
//!   (`patchStrategy`, `patchMergeKey`, `+listType`, `+listMapKey`, `+structType`, `+mapType`),
//!   which `k8s-openapi` drops: [`LIST_EXTENSIONS`], [`ATOMIC_STRUCTS`], and every status's
//!   `conditions` list keyed by `type`;
//! - upstream's v3 shapes for the special types: `IntOrString` (`oneOf` integer/string with
//!   `x-kubernetes-int-or-string`), `Quantity` (`oneOf` string/number), free-form JSON
//!   (`RawExtension`, `FieldsV1`, the CRD schema's `JSON`) with
//!   `x-kubernetes-preserve-unknown-fields`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use k8s_openapi::api::{
    apps::v1 as apps, authentication::v1 as authn, autoscaling::v1 as autoscaling1,
    autoscaling::v2 as autoscaling2, batch::v1 as batch, coordination::v1 as coordination,
    core::v1 as core, discovery::v1 as discovery, events::v1 as events,
    networking::v1 as networking, policy::v1 as policy, rbac::v1 as rbac, storage::v1 as storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::schemars::{JsonSchema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Map, Value, json};

use super::Schemas;

/// The built-in schemas, generated on first use (at server start).
pub fn builtin() -> &'static Schemas {
    static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
    SCHEMAS.get_or_init(|| Schemas::new(generate()))
}

/// The schema name of `ObjectMeta`, which custom resources' schemas refer to.
pub const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
/// The schema name of `ListMeta`.
pub const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
/// The schema name of `Status`.
pub const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
/// The schema name of `DeleteOptions`.
pub const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
/// The schema name of `autoscaling/v1` `Scale`.
pub const SCALE: &str = "io.k8s.api.autoscaling.v1.Scale";
/// The schema name of `WatchEvent`.
pub const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";

/// A top-level kind to register: its schema name and group/version/kind, and whether a
/// `<Kind>List` schema goes with it.
struct Top {
    name: String,
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    list: bool,
}

fn add<T: JsonSchema + k8s_openapi::Resource>(
    generator: &mut SchemaGenerator,
    tops: &mut Vec<Top>,
    list: bool,
) {
    generator.subschema_for::<T>();
    tops.push(Top {
        name: T::schema_name().into_owned(),
        group: T::GROUP,
        version: T::VERSION,
        kind: T::KIND,
        list,
    });
}

/// Generates the full set of schemas (not cached; [`builtin`] caches it).
pub fn generate() -> BTreeMap<String, Value> {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let mut tops = Vec::new();
    macro_rules! kinds {
        ($list:expr; $($t:ty),* $(,)?) => { $( add::<$t>(&mut generator, &mut tops, $list); )* };
    }
    kinds!(true;
        core::ConfigMap, core::Endpoints, core::Event, core::LimitRange, core::Namespace,
        core::Node, core::PersistentVolumeClaim, core::PersistentVolume, core::Pod,
        core::ResourceQuota, core::Secret, core::ServiceAccount, core::Service,
        apps::ControllerRevision, apps::DaemonSet, apps::Deployment, apps::ReplicaSet,
        apps::StatefulSet, autoscaling2::HorizontalPodAutoscaler, batch::CronJob, batch::Job,
        networking::IngressClass, networking::Ingress, networking::NetworkPolicy,
        policy::PodDisruptionBudget, rbac::ClusterRoleBinding, rbac::ClusterRole,
        rbac::RoleBinding, rbac::Role, storage::StorageClass, coordination::Lease,
        discovery::EndpointSlice, events::Event, apiextensions::CustomResourceDefinition,
    );
    kinds!(false; autoscaling1::Scale, core::Binding, policy::Eviction, authn::TokenRequest);
    generator.subschema_for::<meta::Status>();
    generator.subschema_for::<meta::DeleteOptions>();
    generator.subschema_for::<meta::APIResourceList>();
    generator.subschema_for::<meta::Patch>();
    generator.subschema_for::<meta::WatchEvent<()>>();

    let mut defs: BTreeMap<String, Value> = generator.take_definitions(true).into_iter().collect();

    for top in &tops {
        set_gvk(&mut defs, &top.name, top.group, top.version, top.kind);
        if top.list {
            let list_name = format!("{}List", top.name);
            defs.insert(list_name.clone(), list_schema(&top.name, top.kind));
            set_gvk(
                &mut defs,
                &list_name,
                top.group,
                top.version,
                &format!("{}List", top.kind),
            );
        }
    }
    set_gvk(&mut defs, STATUS, "", "v1", "Status");
    // Upstream lists DeleteOptions under every group's version: a DELETE body of any group.
    let mut delete_gvks = vec![json!({"group": "", "version": "v1", "kind": "DeleteOptions"})];
    let mut groups: Vec<(&str, &str)> = tops
        .iter()
        .filter(|t| !t.group.is_empty())
        .map(|t| (t.group, t.version))
        .collect();
    groups.sort_unstable();
    groups.dedup();
    delete_gvks.extend(
        groups
            .into_iter()
            .map(|(g, v)| json!({"group": g, "version": v, "kind": "DeleteOptions"})),
    );
    if let Some(d) = defs.get_mut(DELETE_OPTIONS).and_then(Value::as_object_mut) {
        d.insert(
            "x-kubernetes-group-version-kind".into(),
            Value::Array(delete_gvks),
        );
    }

    special_types(&mut defs);
    for (schema, property, extensions) in LIST_EXTENSIONS {
        let Some(prop) = defs
            .get_mut(*schema)
            .and_then(|s| s.get_mut("properties"))
            .and_then(|p| p.get_mut(*property))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        if let Value::Object(ext) = extensions() {
            prop.extend(ext);
        }
    }
    for name in ATOMIC_STRUCTS {
        if let Some(s) = defs.get_mut(*name).and_then(Value::as_object_mut) {
            s.insert("x-kubernetes-map-type".into(), json!("atomic"));
        }
    }
    conditions(&mut defs);
    defs
}

fn set_gvk(defs: &mut BTreeMap<String, Value>, name: &str, group: &str, version: &str, kind: &str) {
    if let Some(s) = defs.get_mut(name).and_then(Value::as_object_mut) {
        s.insert(
            "x-kubernetes-group-version-kind".into(),
            json!([{"group": group, "version": version, "kind": kind}]),
        );
    }
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("{}{name}", super::REF_PREFIX) })
}

/// `<Kind>List` as upstream writes it.
fn list_schema(item: &str, kind: &str) -> Value {
    json!({
        "description": format!("{kind}List is a list of {kind} objects."),
        "type": "object",
        "properties": {
            "apiVersion": {
                "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
                "type": "string",
            },
            "items": {
                "description": format!("items is the list of {kind} objects."),
                "type": "array",
                "items": reference(item),
            },
            "kind": {
                "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                "type": "string",
            },
            "metadata": {
                "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
                "allOf": [reference(LIST_META)],
            },
        },
        "required": ["items"],
    })
}

/// Upstream's v3 shapes of the types with custom JSON (un)marshalling.
fn special_types(defs: &mut BTreeMap<String, Value>) {
    let mut patch = |name: &str, f: &dyn Fn(&mut Map<String, Value>)| {
        if let Some(s) = defs.get_mut(name).and_then(Value::as_object_mut) {
            f(s);
        }
    };
    patch("io.k8s.apimachinery.pkg.util.intstr.IntOrString", &|s| {
        s.remove("type");
        s.insert("format".into(), json!("int-or-string"));
        s.insert(
            "oneOf".into(),
            json!([{"type": "integer"}, {"type": "string"}]),
        );
        s.insert("x-kubernetes-int-or-string".into(), json!(true));
    });
    patch("io.k8s.apimachinery.pkg.api.resource.Quantity", &|s| {
        s.remove("type");
        s.remove("x-kubernetes-int-or-string");
        s.insert(
            "oneOf".into(),
            json!([{"type": "string"}, {"type": "number"}]),
        );
    });
    for free in [
        "io.k8s.apimachinery.pkg.runtime.RawExtension",
        "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
    ] {
        patch(free, &|s| {
            s.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
        });
    }
    // Any JSON value (a default, an example, an enum member).
    patch(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
        &|s| {
            s.remove("type");
            s.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
        },
    );
}

/// Status `conditions` lists: merged by `type` (upstream: `patchStrategy:"merge"
/// patchMergeKey:"type"` with `+listType=map +listMapKey=type`), except where the table above
/// says otherwise.
fn conditions(defs: &mut BTreeMap<String, Value>) {
    for (name, schema) in defs.iter_mut() {
        if !name.ends_with("Status") {
            continue;
        }
        let Some(c) = schema
            .get_mut("properties")
            .and_then(|p| p.get_mut("conditions"))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        if c.get("type").and_then(Value::as_str) != Some("array")
            || c.contains_key("x-kubernetes-list-type")
        {
            continue;
        }
        c.insert("x-kubernetes-list-type".into(), json!("map"));
        c.insert("x-kubernetes-list-map-keys".into(), json!(["type"]));
        if !name.starts_with("io.k8s.apiextensions-apiserver") {
            c.insert("x-kubernetes-patch-strategy".into(), json!("merge"));
            c.insert("x-kubernetes-patch-merge-key".into(), json!("type"));
        }
    }
}

fn merge_map(key: &str) -> Value {
    json!({
        "x-kubernetes-patch-strategy": "merge",
        "x-kubernetes-patch-merge-key": key,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": [key],
    })
}

fn merge_key(key: &str) -> Value {
    json!({ "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": key })
}

fn atomic() -> Value {
    json!({ "x-kubernetes-list-type": "atomic" })
}

fn set() -> Value {
    json!({ "x-kubernetes-list-type": "set" })
}

fn containers() -> Value {
    merge_map("name")
}

fn ports() -> Value {
    json!({
        "x-kubernetes-patch-strategy": "merge",
        "x-kubernetes-patch-merge-key": "containerPort",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
    })
}

fn env() -> Value {
    merge_map("name")
}

fn volume_mounts() -> Value {
    merge_map("mountPath")
}

fn volume_devices() -> Value {
    merge_map("devicePath")
}

fn volumes() -> Value {
    json!({
        "x-kubernetes-patch-strategy": "merge,retainKeys",
        "x-kubernetes-patch-merge-key": "name",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
    })
}

fn image_pull_secrets() -> Value {
    merge_key("name")
}

fn retain_keys() -> Value {
    json!({ "x-kubernetes-patch-strategy": "retainKeys" })
}

fn ip_list() -> Value {
    merge_map("ip")
}

fn atomic_map() -> Value {
    json!({ "x-kubernetes-map-type": "atomic" })
}

fn pod_resource_claims() -> Value {
    json!({
        "x-kubernetes-patch-strategy": "merge,retainKeys",
        "x-kubernetes-patch-merge-key": "name",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
    })
}

fn topology_spread() -> Value {
    json!({
        "x-kubernetes-patch-strategy": "merge",
        "x-kubernetes-patch-merge-key": "topologyKey",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["topologyKey", "whenUnsatisfiable"],
    })
}

fn service_ports() -> Value {
    json!({
        "x-kubernetes-patch-strategy": "merge",
        "x-kubernetes-patch-merge-key": "port",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["port", "protocol"],
    })
}

fn finalizers() -> Value {
    json!({ "x-kubernetes-patch-strategy": "merge", "x-kubernetes-list-type": "set" })
}

fn owner_references() -> Value {
    merge_map("uid")
}

fn name_map() -> Value {
    json!({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"] })
}

fn job_conditions() -> Value {
    json!({
        "x-kubernetes-patch-strategy": "merge",
        "x-kubernetes-patch-merge-key": "type",
        "x-kubernetes-list-type": "atomic",
    })
}

fn pod_cidrs() -> Value {
    json!({ "x-kubernetes-patch-strategy": "merge", "x-kubernetes-list-type": "set" })
}

fn node_addresses() -> Value {
    merge_map("type")
}

const POD_SPEC: &str = "io.k8s.api.core.v1.PodSpec";
const CONTAINER: &str = "io.k8s.api.core.v1.Container";
const EPHEMERAL: &str = "io.k8s.api.core.v1.EphemeralContainer";

/// One row of [`LIST_EXTENSIONS`]: schema name, property, the extensions to add to it.
pub type ExtensionRow = (&'static str, &'static str, fn() -> Value);

/// Extensions of (schema, property) from the upstream Go struct tags of the built-in types
/// (`k8s.io/api`, `k8s.io/apimachinery`, `k8s.io/apiextensions-apiserver` at 1.33).
/// Status `conditions` lists are handled by a rule instead (see `conditions`).
pub static LIST_EXTENSIONS: &[ExtensionRow] = &[
    // core/v1 PodSpec
    (POD_SPEC, "volumes", volumes),
    (POD_SPEC, "initContainers", containers),
    (POD_SPEC, "containers", containers),
    (POD_SPEC, "ephemeralContainers", containers),
    (POD_SPEC, "imagePullSecrets", image_pull_secrets),
    (POD_SPEC, "tolerations", atomic),
    (POD_SPEC, "hostAliases", ip_list),
    (POD_SPEC, "topologySpreadConstraints", topology_spread),
    (POD_SPEC, "resourceClaims", pod_resource_claims),
    (POD_SPEC, "schedulingGates", containers),
    (POD_SPEC, "readinessGates", atomic),
    (POD_SPEC, "nodeSelector", atomic_map),
    // Containers
    (CONTAINER, "ports", ports),
    (CONTAINER, "env", env),
    (CONTAINER, "envFrom", atomic),
    (CONTAINER, "volumeMounts", volume_mounts),
    (CONTAINER, "volumeDevices", volume_devices),
    (CONTAINER, "command", atomic),
    (CONTAINER, "args", atomic),
    (CONTAINER, "resizePolicy", atomic),
    (EPHEMERAL, "ports", ports),
    (EPHEMERAL, "env", env),
    (EPHEMERAL, "envFrom", atomic),
    (EPHEMERAL, "volumeMounts", volume_mounts),
    (EPHEMERAL, "volumeDevices", volume_devices),
    (EPHEMERAL, "command", atomic),
    (EPHEMERAL, "args", atomic),
    (EPHEMERAL, "resizePolicy", atomic),
    (
        "io.k8s.api.core.v1.ResourceRequirements",
        "claims",
        name_map,
    ),
    ("io.k8s.api.core.v1.PodStatus", "podIPs", ip_list),
    ("io.k8s.api.core.v1.PodStatus", "hostIPs", ip_list),
    ("io.k8s.api.core.v1.PodStatus", "containerStatuses", atomic),
    (
        "io.k8s.api.core.v1.PodStatus",
        "initContainerStatuses",
        atomic,
    ),
    (
        "io.k8s.api.core.v1.PodStatus",
        "ephemeralContainerStatuses",
        atomic,
    ),
    (
        "io.k8s.api.core.v1.PodStatus",
        "resourceClaimStatuses",
        name_map,
    ),
    (
        "io.k8s.api.core.v1.PodSecurityContext",
        "supplementalGroups",
        atomic,
    ),
    ("io.k8s.api.core.v1.PodSecurityContext", "sysctls", atomic),
    (
        "io.k8s.api.core.v1.PodAffinity",
        "requiredDuringSchedulingIgnoredDuringExecution",
        atomic,
    ),
    (
        "io.k8s.api.core.v1.PodAffinity",
        "preferredDuringSchedulingIgnoredDuringExecution",
        atomic,
    ),
    (
        "io.k8s.api.core.v1.PodAntiAffinity",
        "requiredDuringSchedulingIgnoredDuringExecution",
        atomic,
    ),
    (
        "io.k8s.api.core.v1.PodAntiAffinity",
        "preferredDuringSchedulingIgnoredDuringExecution",
        atomic,
    ),
    (
        "io.k8s.api.core.v1.NodeAffinity",
        "preferredDuringSchedulingIgnoredDuringExecution",
        atomic,
    ),
    (
        "io.k8s.api.core.v1.NodeSelector",
        "nodeSelectorTerms",
        atomic,
    ),
    (
        "io.k8s.api.core.v1.NodeSelectorTerm",
        "matchExpressions",
        atomic,
    ),
    ("io.k8s.api.core.v1.NodeSelectorTerm", "matchFields", atomic),
    (
        "io.k8s.api.core.v1.NodeSelectorRequirement",
        "values",
        atomic,
    ),
    ("io.k8s.api.core.v1.Capabilities", "add", atomic),
    ("io.k8s.api.core.v1.Capabilities", "drop", atomic),
    ("io.k8s.api.core.v1.ExecAction", "command", atomic),
    ("io.k8s.api.core.v1.HTTPGetAction", "httpHeaders", atomic),
    ("io.k8s.api.core.v1.ConfigMapVolumeSource", "items", atomic),
    ("io.k8s.api.core.v1.SecretVolumeSource", "items", atomic),
    (
        "io.k8s.api.core.v1.ProjectedVolumeSource",
        "sources",
        atomic,
    ),
    (
        "io.k8s.api.core.v1.DownwardAPIVolumeSource",
        "items",
        atomic,
    ),
    ("io.k8s.api.core.v1.PodDNSConfig", "nameservers", atomic),
    ("io.k8s.api.core.v1.PodDNSConfig", "searches", atomic),
    ("io.k8s.api.core.v1.PodDNSConfig", "options", atomic),
    ("io.k8s.api.core.v1.HostAlias", "hostnames", atomic),
    // Services, endpoints, nodes, volumes, quotas
    ("io.k8s.api.core.v1.ServiceSpec", "ports", service_ports),
    ("io.k8s.api.core.v1.ServiceSpec", "selector", atomic_map),
    ("io.k8s.api.core.v1.ServiceSpec", "clusterIPs", atomic),
    ("io.k8s.api.core.v1.ServiceSpec", "externalIPs", atomic),
    ("io.k8s.api.core.v1.ServiceSpec", "ipFamilies", atomic),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "loadBalancerSourceRanges",
        atomic,
    ),
    ("io.k8s.api.core.v1.LoadBalancerStatus", "ingress", atomic),
    ("io.k8s.api.core.v1.LoadBalancerIngress", "ports", atomic),
    ("io.k8s.api.core.v1.Endpoints", "subsets", atomic),
    ("io.k8s.api.core.v1.EndpointSubset", "addresses", atomic),
    (
        "io.k8s.api.core.v1.EndpointSubset",
        "notReadyAddresses",
        atomic,
    ),
    ("io.k8s.api.core.v1.EndpointSubset", "ports", atomic),
    ("io.k8s.api.core.v1.NodeSpec", "taints", atomic),
    ("io.k8s.api.core.v1.NodeSpec", "podCIDRs", pod_cidrs),
    ("io.k8s.api.core.v1.NodeStatus", "addresses", node_addresses),
    ("io.k8s.api.core.v1.NodeStatus", "images", atomic),
    ("io.k8s.api.core.v1.NodeStatus", "volumesInUse", atomic),
    ("io.k8s.api.core.v1.NodeStatus", "volumesAttached", atomic),
    ("io.k8s.api.core.v1.NamespaceSpec", "finalizers", atomic),
    (
        "io.k8s.api.core.v1.PersistentVolumeSpec",
        "accessModes",
        atomic,
    ),
    (
        "io.k8s.api.core.v1.PersistentVolumeSpec",
        "mountOptions",
        atomic,
    ),
    (
        "io.k8s.api.core.v1.PersistentVolumeClaimSpec",
        "accessModes",
        atomic,
    ),
    (
        "io.k8s.api.core.v1.PersistentVolumeClaimStatus",
        "accessModes",
        atomic,
    ),
    ("io.k8s.api.core.v1.ResourceQuotaSpec", "scopes", atomic),
    (
        "io.k8s.api.core.v1.ScopeSelector",
        "matchExpressions",
        atomic,
    ),
    ("io.k8s.api.core.v1.LimitRangeSpec", "limits", atomic),
    (
        "io.k8s.api.core.v1.ServiceAccount",
        "secrets",
        merge_map_name,
    ),
    (
        "io.k8s.api.core.v1.ServiceAccount",
        "imagePullSecrets",
        atomic,
    ),
    // meta/v1
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "finalizers",
        finalizers,
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "ownerReferences",
        owner_references,
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "managedFields",
        atomic,
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
        "matchExpressions",
        atomic,
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement",
        "values",
        atomic,
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
        "dryRun",
        atomic,
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.StatusDetails",
        "causes",
        atomic,
    ),
    // apps/v1
    ("io.k8s.api.apps.v1.DeploymentSpec", "strategy", retain_keys),
    (
        "io.k8s.api.apps.v1.StatefulSetSpec",
        "volumeClaimTemplates",
        atomic,
    ),
    // batch/v1
    (
        "io.k8s.api.batch.v1.JobStatus",
        "conditions",
        job_conditions,
    ),
    ("io.k8s.api.batch.v1.CronJobStatus", "active", atomic),
    ("io.k8s.api.batch.v1.PodFailurePolicy", "rules", atomic),
    (
        "io.k8s.api.batch.v1.PodFailurePolicyRule",
        "onPodConditions",
        atomic,
    ),
    (
        "io.k8s.api.batch.v1.PodFailurePolicyOnExitCodesRequirement",
        "values",
        set,
    ),
    ("io.k8s.api.batch.v1.SuccessPolicy", "rules", atomic),
    // autoscaling/v2
    (
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerSpec",
        "metrics",
        atomic,
    ),
    (
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus",
        "currentMetrics",
        atomic,
    ),
    (
        "io.k8s.api.autoscaling.v2.HPAScalingRules",
        "policies",
        atomic,
    ),
    // networking/v1
    ("io.k8s.api.networking.v1.IngressSpec", "tls", atomic),
    ("io.k8s.api.networking.v1.IngressSpec", "rules", atomic),
    ("io.k8s.api.networking.v1.IngressTLS", "hosts", atomic),
    (
        "io.k8s.api.networking.v1.HTTPIngressRuleValue",
        "paths",
        atomic,
    ),
    (
        "io.k8s.api.networking.v1.IngressLoadBalancerStatus",
        "ingress",
        atomic,
    ),
    (
        "io.k8s.api.networking.v1.IngressLoadBalancerIngress",
        "ports",
        atomic,
    ),
    (
        "io.k8s.api.networking.v1.NetworkPolicySpec",
        "ingress",
        atomic,
    ),
    (
        "io.k8s.api.networking.v1.NetworkPolicySpec",
        "egress",
        atomic,
    ),
    (
        "io.k8s.api.networking.v1.NetworkPolicySpec",
        "policyTypes",
        atomic,
    ),
    (
        "io.k8s.api.networking.v1.NetworkPolicyIngressRule",
        "ports",
        atomic,
    ),
    (
        "io.k8s.api.networking.v1.NetworkPolicyIngressRule",
        "from",
        atomic,
    ),
    (
        "io.k8s.api.networking.v1.NetworkPolicyEgressRule",
        "ports",
        atomic,
    ),
    (
        "io.k8s.api.networking.v1.NetworkPolicyEgressRule",
        "to",
        atomic,
    ),
    ("io.k8s.api.networking.v1.IPBlock", "except", atomic),
    // rbac/v1
    ("io.k8s.api.rbac.v1.Role", "rules", atomic),
    ("io.k8s.api.rbac.v1.ClusterRole", "rules", atomic),
    (
        "io.k8s.api.rbac.v1.AggregationRule",
        "clusterRoleSelectors",
        atomic,
    ),
    ("io.k8s.api.rbac.v1.RoleBinding", "subjects", atomic),
    ("io.k8s.api.rbac.v1.ClusterRoleBinding", "subjects", atomic),
    ("io.k8s.api.rbac.v1.PolicyRule", "verbs", atomic),
    ("io.k8s.api.rbac.v1.PolicyRule", "apiGroups", atomic),
    ("io.k8s.api.rbac.v1.PolicyRule", "resources", atomic),
    ("io.k8s.api.rbac.v1.PolicyRule", "resourceNames", atomic),
    ("io.k8s.api.rbac.v1.PolicyRule", "nonResourceURLs", atomic),
    // storage, discovery
    ("io.k8s.api.storage.v1.StorageClass", "mountOptions", atomic),
    (
        "io.k8s.api.storage.v1.StorageClass",
        "allowedTopologies",
        atomic,
    ),
    ("io.k8s.api.discovery.v1.EndpointSlice", "endpoints", atomic),
    ("io.k8s.api.discovery.v1.EndpointSlice", "ports", atomic),
    ("io.k8s.api.discovery.v1.Endpoint", "addresses", set),
    // apiextensions/v1
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionSpec",
        "versions",
        atomic,
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionNames",
        "shortNames",
        atomic,
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionNames",
        "categories",
        atomic,
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionStatus",
        "storedVersions",
        atomic,
    ),
];

fn merge_map_name() -> Value {
    merge_map("name")
}

/// Structs upstream marks `+structType=atomic` (`x-kubernetes-map-type: atomic`): replaced
/// whole by a patch or an apply.
pub static ATOMIC_STRUCTS: &[&str] = &[
    "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
    "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference",
    "io.k8s.api.core.v1.LocalObjectReference",
    "io.k8s.api.core.v1.ObjectReference",
    "io.k8s.api.core.v1.ConfigMapKeySelector",
    "io.k8s.api.core.v1.SecretKeySelector",
    "io.k8s.api.core.v1.ObjectFieldSelector",
    "io.k8s.api.core.v1.ResourceFieldSelector",
    "io.k8s.api.core.v1.NodeSelector",
    "io.k8s.api.core.v1.NodeSelectorTerm",
    "io.k8s.api.core.v1.TopologySelectorTerm",
    "io.k8s.api.core.v1.TypedLocalObjectReference",
    "io.k8s.api.core.v1.SecretReference",
    "io.k8s.api.core.v1.ScopeSelector",
    "io.k8s.api.core.v1.ConfigMapNodeConfigSource",
    "io.k8s.api.rbac.v1.RoleRef",
    "io.k8s.api.networking.v1.IngressClassParametersReference",
    "io.k8s.api.discovery.v1.EndpointConditions",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource;

    #[test]
    fn every_builtin_resource_has_a_schema_with_its_gvk() {
        let s = builtin();
        for r in resource::builtin() {
            let schema = s
                .for_gvk(&r.group, &r.version, &r.kind)
                .unwrap_or_else(|| panic!("no schema for {}/{} {}", r.group, r.version, r.kind));
            assert!(
                schema.get("description").is_some(),
                "{} has no description",
                r.kind
            );
            assert!(
                s.for_gvk(&r.group, &r.version, &r.list_kind).is_some(),
                "no list schema for {}",
                r.list_kind
            );
        }
        assert!(s.for_gvk("autoscaling", "v1", "Scale").is_some());
        assert!(s.for_gvk("", "v1", "Status").is_some());
        assert!(s.for_gvk("apps", "v1", "DeleteOptions").is_some());
        assert!(
            s.get("io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList")
                .is_some()
        );
    }

    #[test]
    fn every_reference_resolves() {
        let s = builtin();
        fn walk(v: &Value, s: &Schemas, at: &str) {
            match v {
                Value::Object(m) => {
                    if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                        let name = r.strip_prefix(super::super::REF_PREFIX).expect("prefix");
                        assert!(s.get(name).is_some(), "{at}: dangling {r}");
                    }
                    for (k, x) in m {
                        walk(x, s, &format!("{at}.{k}"));
                    }
                }
                Value::Array(a) => a.iter().for_each(|x| walk(x, s, at)),
                _ => {}
            }
        }
        for (name, schema) in s.all() {
            walk(schema, s, name);
        }
    }

    #[test]
    fn deployment_has_docs_and_patch_extensions() {
        let s = builtin();
        let d = s.for_gvk("apps", "v1", "Deployment").expect("deployment");
        let spec = s.property(d, "spec").expect("spec");
        let strategy_raw = &s.resolve(spec)["properties"]["strategy"];
        assert_eq!(strategy_raw["x-kubernetes-patch-strategy"], "retainKeys");
        assert!(
            strategy_raw["description"]
                .as_str()
                .is_some_and(|d| d.contains("deployment strategy")),
            "{strategy_raw}"
        );
        let strategy = s.property(spec, "strategy").expect("strategy");
        assert!(
            s.property(strategy, "type")
                .and_then(|t| t.get("description"))
                .is_some()
        );
        let template = s.property(spec, "template").expect("template");
        let pod_spec = s.property(template, "spec").expect("pod spec");
        let containers = &s.resolve(pod_spec)["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
        assert_eq!(containers["x-kubernetes-list-map-keys"], json!(["name"]));
        let container = s.items(containers).expect("container");
        assert_eq!(
            container["properties"]["ports"]["x-kubernetes-list-map-keys"],
            json!(["containerPort", "protocol"])
        );
        let status = s.property(d, "status").expect("status");
        assert_eq!(
            s.resolve(status)["properties"]["conditions"]["x-kubernetes-patch-merge-key"],
            "type"
        );
        let meta = s.get(OBJECT_META).expect("meta");
        assert_eq!(
            meta["properties"]["ownerReferences"]["x-kubernetes-patch-merge-key"],
            "uid"
        );
        assert_eq!(
            s.get("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector")
                .expect("selector")["x-kubernetes-map-type"],
            "atomic"
        );
    }

    #[test]
    fn special_types_are_upstream_shaped() {
        let s = builtin();
        let ios = s
            .get("io.k8s.apimachinery.pkg.util.intstr.IntOrString")
            .expect("intorstring");
        assert_eq!(ios["x-kubernetes-int-or-string"], true);
        let q = s
            .get("io.k8s.apimachinery.pkg.api.resource.Quantity")
            .expect("quantity");
        assert!(q.get("x-kubernetes-int-or-string").is_none());
        let t = s
            .get("io.k8s.apimachinery.pkg.apis.meta.v1.Time")
            .expect("time");
        assert_eq!(t["format"], "date-time");
        let props = s
            .get("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps")
            .expect("props");
        assert!(props["properties"]["properties"]["additionalProperties"].is_object());
    }

    #[test]
    fn build_time_and_size() {
        let start = std::time::Instant::now();
        let defs = generate();
        let took = start.elapsed();
        let size = serde_json::to_vec(&defs).expect("serialize").len();
        eprintln!(
            "builtin schemas: {} schemas, {} bytes JSON, generated in {:?}",
            defs.len(),
            size,
            took
        );
        assert!(defs.len() > 300);
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;

    #[test]
    fn every_table_entry_names_a_real_property() {
        let s = builtin();
        let missing: Vec<String> = LIST_EXTENSIONS
            .iter()
            .filter(|(schema, prop, _)| {
                s.get(schema)
                    .and_then(|x| x.get("properties"))
                    .and_then(|p| p.get(*prop))
                    .is_none()
            })
            .map(|(schema, prop, _)| format!("{schema}.{prop}"))
            .chain(
                ATOMIC_STRUCTS
                    .iter()
                    .filter(|n| s.get(n).is_none())
                    .map(|n| n.to_string()),
            )
            .collect();
        assert!(missing.is_empty(), "not in the schemas: {missing:?}");
    }
}
