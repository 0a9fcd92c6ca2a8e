//! Server-side `Table` output: the columns kube-apiserver prints per kind
//! (`pkg/printers/internalversion/printers.go`) and the cells of one object's row.
//!
//! The server builds rows as upstream does with `Wide: true`: every column, `priority: 1`
//! ones included, has a cell; kubectl hides the wide ones unless `-o wide`. Kinds without
//! their own printer get upstream's default table (Name, Created At). Custom resources use
//! their CRD's `additionalPrinterColumns` ([`custom_columns`], [`custom_cells`]).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::selector::LabelSelector;

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const CONTAINERS_DESC: &str = "Names of each container in the template.";
const IMAGES_DESC: &str = "Images referenced by each container in the template.";

/// `duration.HumanDuration`: `5s`, `3m20s`, `15m`, `5h30m`, `20h`, `2d3h`, `30d`, `2y40d`, `9y`.
pub fn human_duration(d: chrono::Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{h}h", hours / 24);
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{dy}d", hours / 24 / 365);
    }
    format!("{}y", hours / 24 / 365)
}

fn col(name: &str, ty: &str, desc: &str, priority: i64) -> Value {
    json!({"name": name, "type": ty, "format": "", "description": desc, "priority": priority})
}

fn name_col() -> Value {
    json!({"name": "Name", "type": "string", "format": "name", "description": NAME_DESC, "priority": 0})
}

fn s(name: &str) -> Value {
    col(name, "string", "", 0)
}

fn i(name: &str) -> Value {
    col(name, "integer", "", 0)
}

fn wide(name: &str) -> Value {
    col(name, "string", "", 1)
}

fn age() -> Value {
    col("Age", "string", AGE_DESC, 0)
}

fn template_wide(selector: bool) -> Vec<Value> {
    let mut v = vec![
        col("Containers", "string", CONTAINERS_DESC, 1),
        col("Images", "string", IMAGES_DESC, 1),
    ];
    if selector {
        v.push(wide("Selector"));
    }
    v
}

/// The columns of `group`/`kind`'s Table, each `{name, type, format, description, priority}`
/// (`priority: 1` columns are shown only by `kubectl get -o wide`).
pub fn column_definitions(group: &str, kind: &str) -> Vec<Value> {
    let mut c = vec![name_col()];
    match (group, kind) {
        ("", "Pod") => c.extend([
            s("Ready"),
            s("Status"),
            s("Restarts"),
            age(),
            wide("IP"),
            wide("Node"),
            wide("Nominated Node"),
            wide("Readiness Gates"),
        ]),
        ("apps", "Deployment") => {
            c.extend([s("Ready"), s("Up-to-date"), s("Available"), age()]);
            c.extend(template_wide(true));
        }
        ("apps", "ReplicaSet") | ("", "ReplicationController") => {
            c.extend([i("Desired"), i("Current"), i("Ready"), age()]);
            c.extend(template_wide(true));
        }
        ("apps", "StatefulSet") => {
            c.extend([s("Ready"), age()]);
            c.extend(template_wide(false));
        }
        ("apps", "DaemonSet") => {
            c.extend([
                i("Desired"),
                i("Current"),
                i("Ready"),
                i("Up-to-date"),
                i("Available"),
                s("Node Selector"),
                age(),
            ]);
            c.extend(template_wide(true));
        }
        ("apps", "ControllerRevision") => c.extend([s("Controller"), s("Revision"), age()]),
        ("batch", "Job") => {
            c.extend([s("Status"), s("Completions"), s("Duration"), age()]);
            c.extend(template_wide(true));
        }
        ("batch", "CronJob") => {
            c.extend([
                s("Schedule"),
                s("Timezone"),
                col("Suspend", "boolean", "", 0),
                i("Active"),
                s("Last Schedule"),
                age(),
            ]);
            c.extend(template_wide(true));
        }
        ("autoscaling", "HorizontalPodAutoscaler") => c.extend([
            s("Reference"),
            s("Targets"),
            s("MinPods"),
            s("MaxPods"),
            s("Replicas"),
            age(),
        ]),
        ("", "Service") => c.extend([
            s("Type"),
            s("Cluster-IP"),
            s("External-IP"),
            s("Port(s)"),
            age(),
            wide("Selector"),
        ]),
        ("", "Endpoints") => c.extend([s("Endpoints"), age()]),
        ("", "Namespace") => c.extend([s("Status"), age()]),
        ("", "Node") => c.extend([
            s("Status"),
            s("Roles"),
            age(),
            s("Version"),
            wide("Internal-IP"),
            wide("External-IP"),
            wide("OS-Image"),
            wide("Kernel-Version"),
            wide("Container-Runtime"),
        ]),
        ("", "Event") | ("events.k8s.io", "Event") => {
            // Events lead with Last Seen; their Name column is wide-only.
            c = vec![
                s("Last Seen"),
                s("Type"),
                s("Reason"),
                s("Object"),
                wide("Subobject"),
                wide("Source"),
                s("Message"),
                wide("First Seen"),
                wide("Count"),
                json!({"name": "Name", "type": "string", "format": "name", "description": NAME_DESC, "priority": 1}),
            ];
        }
        ("", "ConfigMap") => c.extend([s("Data"), age()]),
        ("", "Secret") => c.extend([s("Type"), s("Data"), age()]),
        ("", "ServiceAccount") => c.extend([s("Secrets"), age()]),
        ("", "PersistentVolume") => c.extend([
            s("Capacity"),
            s("Access Modes"),
            s("Reclaim Policy"),
            s("Status"),
            s("Claim"),
            s("StorageClass"),
            s("VolumeAttributesClass"),
            s("Reason"),
            age(),
            wide("VolumeMode"),
        ]),
        ("", "PersistentVolumeClaim") => c.extend([
            s("Status"),
            s("Volume"),
            s("Capacity"),
            s("Access Modes"),
            s("StorageClass"),
            s("VolumeAttributesClass"),
            age(),
            wide("VolumeMode"),
        ]),
        ("", "ResourceQuota") => c.extend([s("Request"), s("Limit"), age()]),
        ("networking.k8s.io", "Ingress") => {
            c.extend([s("Class"), s("Hosts"), s("Address"), s("Ports"), age()])
        }
        ("networking.k8s.io", "IngressClass") => {
            c.extend([s("Controller"), s("Parameters"), age()])
        }
        ("networking.k8s.io", "NetworkPolicy") => c.extend([s("Pod-Selector"), age()]),
        ("policy", "PodDisruptionBudget") => c.extend([
            s("Min Available"),
            s("Max Unavailable"),
            i("Allowed Disruptions"),
            age(),
        ]),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => c.extend([
            s("Role"),
            age(),
            wide("Users"),
            wide("Groups"),
            wide("ServiceAccounts"),
        ]),
        ("storage.k8s.io", "StorageClass") => c.extend([
            s("Provisioner"),
            s("ReclaimPolicy"),
            s("VolumeBindingMode"),
            s("AllowVolumeExpansion"),
            age(),
        ]),
        ("coordination.k8s.io", "Lease") => c.extend([s("Holder"), age()]),
        ("discovery.k8s.io", "EndpointSlice") => {
            c.extend([s("AddressType"), s("Ports"), s("Endpoints"), age()])
        }
        _ => c.push(col("Created At", "date", AGE_DESC, 0)),
    }
    c
}

// ---- value helpers ----

fn get<'a>(obj: &'a Value, ptr: &str) -> Option<&'a Value> {
    obj.pointer(ptr).filter(|v| !v.is_null())
}

fn st(obj: &Value, ptr: &str) -> String {
    get(obj, ptr)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn int(obj: &Value, ptr: &str) -> i64 {
    get(obj, ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn arr<'a>(obj: &'a Value, ptr: &str) -> &'a [Value] {
    get(obj, ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn len_of(obj: &Value, ptr: &str) -> i64 {
    match get(obj, ptr) {
        Some(Value::Array(a)) => a.len() as i64,
        Some(Value::Object(o)) => o.len() as i64,
        _ => 0,
    }
}

fn or_none(s: String) -> String {
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s
    }
}

fn parse_time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let s = v?.as_str()?;
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `translateTimestampSince`: the age of a timestamp, `<unknown>` when unset.
fn since(v: Option<&Value>, now: DateTime<Utc>) -> String {
    match parse_time(v) {
        Some(t) => human_duration(now - t),
        None => "<unknown>".to_string(),
    }
}

fn age_of(obj: &Value, now: DateTime<Utc>) -> Value {
    json!(since(obj.pointer("/metadata/creationTimestamp"), now))
}

/// `labels.FormatLabels`: `a=b,c=d` sorted by key, `<none>` when empty.
fn format_labels(m: Option<&Value>) -> String {
    let Some(m) = m.and_then(Value::as_object) else {
        return "<none>".to_string();
    };
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    let parts: Vec<String> = keys
        .iter()
        .map(|k| format!("{k}={}", m[*k].as_str().unwrap_or_default()))
        .collect();
    or_none(parts.join(","))
}

/// `metav1.FormatLabelSelector`: `<none>` for an empty selector, `<error>` for an invalid one.
fn format_selector(v: Option<&Value>) -> String {
    let Some(v) = v else {
        return "<none>".to_string();
    };
    match LabelSelector::from_api(v) {
        Ok(sel) => or_none(sel.to_string()),
        Err(_) => "<error>".to_string(),
    }
}

fn containers_and_images(obj: &Value, spec_ptr: &str) -> (String, String) {
    let cs = arr(obj, &format!("{spec_ptr}/containers"));
    let names: Vec<&str> = cs
        .iter()
        .map(|c| c.get("name").and_then(Value::as_str).unwrap_or_default())
        .collect();
    let images: Vec<&str> = cs
        .iter()
        .map(|c| c.get("image").and_then(Value::as_str).unwrap_or_default())
        .collect();
    (names.join(","), images.join(","))
}

fn int_or_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn has_condition(obj: &Value, ty: &str) -> bool {
    arr(obj, "/status/conditions").iter().any(|c| {
        c.get("type").and_then(Value::as_str) == Some(ty)
            && c.get("status").and_then(Value::as_str) == Some("True")
    })
}

/// The cells of `obj`'s row in `group`/`kind`'s Table, matching [`column_definitions`].
pub fn row_cells(group: &str, kind: &str, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let name = json!(st(obj, "/metadata/name"));
    let age = age_of(obj, now);
    match (group, kind) {
        ("", "Pod") => pod_cells(obj, now),
        ("apps", "Deployment") => {
            let (c, im) = containers_and_images(obj, "/spec/template/spec");
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    int(obj, "/status/readyReplicas"),
                    int(obj, "/spec/replicas")
                )),
                json!(int(obj, "/status/updatedReplicas")),
                json!(int(obj, "/status/availableReplicas")),
                age,
                json!(c),
                json!(im),
                json!(format_selector(get(obj, "/spec/selector"))),
            ]
        }
        ("apps", "ReplicaSet") | ("", "ReplicationController") => {
            let (c, im) = containers_and_images(obj, "/spec/template/spec");
            let sel = if kind == "ReplicaSet" {
                format_selector(get(obj, "/spec/selector"))
            } else {
                format_labels(get(obj, "/spec/selector"))
            };
            vec![
                name,
                json!(int(obj, "/spec/replicas")),
                json!(int(obj, "/status/replicas")),
                json!(int(obj, "/status/readyReplicas")),
                age,
                json!(c),
                json!(im),
                json!(sel),
            ]
        }
        ("apps", "StatefulSet") => {
            let (c, im) = containers_and_images(obj, "/spec/template/spec");
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    int(obj, "/status/readyReplicas"),
                    int(obj, "/spec/replicas")
                )),
                age,
                json!(c),
                json!(im),
            ]
        }
        ("apps", "DaemonSet") => {
            let (c, im) = containers_and_images(obj, "/spec/template/spec");
            vec![
                name,
                json!(int(obj, "/status/desiredNumberScheduled")),
                json!(int(obj, "/status/currentNumberScheduled")),
                json!(int(obj, "/status/numberReady")),
                json!(int(obj, "/status/updatedNumberScheduled")),
                json!(int(obj, "/status/numberAvailable")),
                json!(format_labels(get(obj, "/spec/template/spec/nodeSelector"))),
                age,
                json!(c),
                json!(im),
                json!(format_selector(get(obj, "/spec/selector"))),
            ]
        }
        ("apps", "ControllerRevision") => {
            let owner = arr(obj, "/metadata/ownerReferences")
                .iter()
                .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true));
            let controller = match owner {
                Some(o) => {
                    let api_version = o.get("apiVersion").and_then(Value::as_str).unwrap_or("");
                    let group = api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
                    let kind = o
                        .get("kind")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_ascii_lowercase();
                    let n = o.get("name").and_then(Value::as_str).unwrap_or("");
                    if group.is_empty() {
                        format!("{kind}/{n}")
                    } else {
                        format!("{kind}.{group}/{n}")
                    }
                }
                None => "<none>".to_string(),
            };
            vec![name, json!(controller), json!(int(obj, "/revision")), age]
        }
        ("batch", "Job") => job_cells(obj, now),
        ("batch", "CronJob") => {
            let (c, im) = containers_and_images(obj, "/spec/jobTemplate/spec/template/spec");
            let suspend = match get(obj, "/spec/suspend").and_then(Value::as_bool) {
                Some(true) => "True",
                Some(false) => "False",
                None => "<unset>",
            };
            let last = match get(obj, "/status/lastScheduleTime") {
                Some(t) => since(Some(t), now),
                None => "<none>".to_string(),
            };
            vec![
                name,
                json!(st(obj, "/spec/schedule")),
                json!(or_none(st(obj, "/spec/timeZone"))),
                json!(suspend),
                json!(len_of(obj, "/status/active")),
                json!(last),
                age,
                json!(c),
                json!(im),
                json!(format_selector(get(obj, "/spec/jobTemplate/spec/selector"))),
            ]
        }
        ("autoscaling", "HorizontalPodAutoscaler") => {
            let reference = format!(
                "{}/{}",
                st(obj, "/spec/scaleTargetRef/kind"),
                st(obj, "/spec/scaleTargetRef/name")
            );
            let min = match get(obj, "/spec/minReplicas").and_then(Value::as_i64) {
                Some(n) => n.to_string(),
                None => "<unset>".to_string(),
            };
            vec![
                name,
                json!(reference),
                json!(hpa_targets(obj)),
                json!(min),
                json!(int(obj, "/spec/maxReplicas")),
                json!(int(obj, "/status/currentReplicas")),
                age,
            ]
        }
        ("", "Service") => service_cells(obj, now),
        ("", "Endpoints") => vec![name, json!(format_endpoints(obj)), age],
        ("", "Namespace") => vec![name, json!(st(obj, "/status/phase")), age],
        ("", "Node") => node_cells(obj, now),
        ("", "Event") | ("events.k8s.io", "Event") => event_cells(group, obj, now),
        ("", "ConfigMap") => vec![
            name,
            json!(len_of(obj, "/data") + len_of(obj, "/binaryData")),
            age,
        ],
        ("", "Secret") => vec![
            name,
            json!(st(obj, "/type")),
            json!(len_of(obj, "/data")),
            age,
        ],
        ("", "ServiceAccount") => vec![name, json!(len_of(obj, "/secrets")), age],
        ("", "PersistentVolume") => {
            let phase = if get(obj, "/metadata/deletionTimestamp").is_some() {
                "Terminating".to_string()
            } else {
                st(obj, "/status/phase")
            };
            let claim = match get(obj, "/spec/claimRef") {
                Some(c) => format!(
                    "{}/{}",
                    c.get("namespace").and_then(Value::as_str).unwrap_or(""),
                    c.get("name").and_then(Value::as_str).unwrap_or("")
                ),
                None => String::new(),
            };
            vec![
                name,
                json!(st(obj, "/spec/capacity/storage")),
                json!(access_modes(arr(obj, "/spec/accessModes"))),
                json!(st(obj, "/spec/persistentVolumeReclaimPolicy")),
                json!(phase),
                json!(claim),
                json!(storage_class(obj)),
                json!(unset(st(obj, "/spec/volumeAttributesClassName"))),
                json!(st(obj, "/status/reason")),
                age,
                json!(unset(st(obj, "/spec/volumeMode"))),
            ]
        }
        ("", "PersistentVolumeClaim") => {
            let phase = if get(obj, "/metadata/deletionTimestamp").is_some() {
                "Terminating".to_string()
            } else {
                st(obj, "/status/phase")
            };
            let volume = st(obj, "/spec/volumeName");
            let (capacity, modes) = if volume.is_empty() {
                (String::new(), String::new())
            } else {
                (
                    st(obj, "/status/capacity/storage"),
                    access_modes(arr(obj, "/status/accessModes")),
                )
            };
            vec![
                name,
                json!(phase),
                json!(volume),
                json!(capacity),
                json!(modes),
                json!(storage_class(obj)),
                json!(unset(st(obj, "/status/currentVolumeAttributesClassName"))),
                age,
                json!(unset(st(obj, "/spec/volumeMode"))),
            ]
        }
        ("", "ResourceQuota") => {
            let mut request = Vec::new();
            let mut limit = Vec::new();
            if let Some(hard) = get(obj, "/spec/hard").and_then(Value::as_object) {
                let mut keys: Vec<&String> = hard.keys().collect();
                keys.sort();
                for k in keys {
                    let used = obj
                        .pointer(&format!(
                            "/status/used/{}",
                            k.replace('~', "~0").replace('/', "~1")
                        ))
                        .map(quantity)
                        .unwrap_or_else(|| "0".to_string());
                    let msg = format!("{k}: {used}/{}", quantity(&hard[k]));
                    if k.starts_with("limits") {
                        limit.push(msg);
                    } else {
                        request.push(msg);
                    }
                }
            }
            vec![
                name,
                json!(request.join(", ")),
                json!(limit.join(", ")),
                age,
            ]
        }
        ("networking.k8s.io", "Ingress") => {
            let rules = arr(obj, "/spec/rules");
            let mut hosts = Vec::new();
            let mut more = false;
            for r in rules {
                if hosts.len() == 3 {
                    more = true;
                }
                let h = r.get("host").and_then(Value::as_str).unwrap_or("");
                if !more && !h.is_empty() {
                    hosts.push(h);
                }
            }
            let hosts = if hosts.is_empty() {
                "*".to_string()
            } else if more {
                format!("{} + {} more...", hosts.join(","), rules.len() - 3)
            } else {
                hosts.join(",")
            };
            let ports = if arr(obj, "/spec/tls").is_empty() {
                "80"
            } else {
                "80, 443"
            };
            vec![
                name,
                json!(or_none(st(obj, "/spec/ingressClassName"))),
                json!(hosts),
                json!(lb_ingress(obj, true)),
                json!(ports),
                age,
            ]
        }
        ("networking.k8s.io", "IngressClass") => {
            let params = match get(obj, "/spec/parameters") {
                Some(p) => {
                    let kind = p.get("kind").and_then(Value::as_str).unwrap_or("");
                    let n = p.get("name").and_then(Value::as_str).unwrap_or("");
                    match p.get("apiGroup").and_then(Value::as_str) {
                        Some(g) => format!("{kind}.{g}/{n}"),
                        None => format!("{kind}/{n}"),
                    }
                }
                None => "<none>".to_string(),
            };
            vec![name, json!(st(obj, "/spec/controller")), json!(params), age]
        }
        ("networking.k8s.io", "NetworkPolicy") => vec![
            name,
            json!(format_selector(get(obj, "/spec/podSelector"))),
            age,
        ],
        ("policy", "PodDisruptionBudget") => vec![
            name,
            json!(int_or_string(get(obj, "/spec/minAvailable")).unwrap_or_else(|| "N/A".into())),
            json!(int_or_string(get(obj, "/spec/maxUnavailable")).unwrap_or_else(|| "N/A".into())),
            json!(int(obj, "/status/disruptionsAllowed")),
            age,
        ],
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
            for sub in arr(obj, "/subjects") {
                let n = sub.get("name").and_then(Value::as_str).unwrap_or("");
                match sub.get("kind").and_then(Value::as_str) {
                    Some("User") => users.push(n.to_string()),
                    Some("Group") => groups.push(n.to_string()),
                    Some("ServiceAccount") => sas.push(format!(
                        "{}/{n}",
                        sub.get("namespace").and_then(Value::as_str).unwrap_or("")
                    )),
                    _ => {}
                }
            }
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    st(obj, "/roleRef/kind"),
                    st(obj, "/roleRef/name")
                )),
                age,
                json!(users.join(", ")),
                json!(groups.join(", ")),
                json!(sas.join(", ")),
            ]
        }
        ("storage.k8s.io", "StorageClass") => {
            let default = obj
                .pointer("/metadata/annotations/storageclass.kubernetes.io~1is-default-class")
                .or_else(|| {
                    obj.pointer(
                        "/metadata/annotations/storageclass.beta.kubernetes.io~1is-default-class",
                    )
                })
                .and_then(Value::as_str)
                == Some("true");
            let n = st(obj, "/metadata/name");
            let n = if default { format!("{n} (default)") } else { n };
            let reclaim = get(obj, "/reclaimPolicy")
                .and_then(Value::as_str)
                .unwrap_or("Delete");
            let binding = get(obj, "/volumeBindingMode")
                .and_then(Value::as_str)
                .unwrap_or("Immediate");
            let expand = get(obj, "/allowVolumeExpansion")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            vec![
                json!(n),
                json!(st(obj, "/provisioner")),
                json!(reclaim),
                json!(binding),
                json!(expand.to_string()),
                age,
            ]
        }
        ("coordination.k8s.io", "Lease") => {
            vec![name, json!(st(obj, "/spec/holderIdentity")), age]
        }
        ("discovery.k8s.io", "EndpointSlice") => {
            let ports: Vec<String> = arr(obj, "/ports")
                .iter()
                .filter_map(|p| p.get("port").and_then(Value::as_i64))
                .map(|p| p.to_string())
                .collect();
            let ports = if ports.is_empty() {
                "<unset>".to_string()
            } else {
                ports.join(",")
            };
            let mut addrs = Vec::new();
            let mut count = 0;
            for e in arr(obj, "/endpoints") {
                for a in e
                    .get("addresses")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    count += 1;
                    if addrs.len() < 3 {
                        addrs.push(a.as_str().unwrap_or("").to_string());
                    }
                }
            }
            let eps = if addrs.is_empty() {
                "<unset>".to_string()
            } else if count > 3 {
                format!("{} + {} more...", addrs.join(","), count - 3)
            } else {
                addrs.join(",")
            };
            vec![
                name,
                json!(st(obj, "/addressType")),
                json!(ports),
                json!(eps),
                age,
            ]
        }
        _ => vec![
            name,
            obj.pointer("/metadata/creationTimestamp")
                .cloned()
                .unwrap_or(Value::Null),
        ],
    }
}

fn unset(s: String) -> String {
    if s.is_empty() {
        "<unset>".to_string()
    } else {
        s
    }
}

fn quantity(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "0".to_string(),
        other => other.to_string(),
    }
}

fn storage_class(obj: &Value) -> String {
    let a = obj
        .pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class")
        .and_then(Value::as_str);
    match a {
        Some(a) => a.to_string(),
        None => st(obj, "/spec/storageClassName"),
    }
}

fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    let mut out = Vec::new();
    for (full, short) in [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ] {
        if has(full) {
            out.push(short);
        }
    }
    out.join(",")
}

fn lb_ingress(obj: &Value, wide: bool) -> String {
    let list: Vec<&str> = arr(obj, "/status/loadBalancer/ingress")
        .iter()
        .filter_map(|i| {
            i.get("ip")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .or_else(|| i.get("hostname").and_then(Value::as_str))
        })
        .collect();
    let r = list.join(",");
    if !wide && r.len() > 16 {
        return format!("{}...", &r[..13]);
    }
    r
}

/// Adds a container's restarts and notes when it last terminated.
fn note_restart(c: &Value, restarts: &mut i64, last: &mut Option<DateTime<Utc>>) {
    *restarts += c.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
    if let Some(t) = parse_time(c.pointer("/lastState/terminated/finishedAt"))
        && last.is_none_or(|l| l < t)
    {
        *last = Some(t);
    }
}

fn pod_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let spec_containers = arr(obj, "/spec/containers");
    let init_specs = arr(obj, "/spec/initContainers");
    let mut total = spec_containers.len();
    let mut ready = 0;
    let mut restarts = 0;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut reason = st(obj, "/status/phase");
    let status_reason = st(obj, "/status/reason");
    if !status_reason.is_empty() {
        reason = status_reason.clone();
    }
    let restartable = |name: &str| {
        init_specs.iter().any(|s| {
            s.get("name").and_then(Value::as_str) == Some(name)
                && s.get("restartPolicy").and_then(Value::as_str) == Some("Always")
        })
    };
    total += init_specs
        .iter()
        .filter(|s| s.get("restartPolicy").and_then(Value::as_str) == Some("Always"))
        .count();
    let mut initializing = false;
    for (idx, c) in arr(obj, "/status/initContainerStatuses").iter().enumerate() {
        note_restart(c, &mut restarts, &mut last_restart);
        let cname = c.get("name").and_then(Value::as_str).unwrap_or("");
        let is_sidecar = restartable(cname);
        let started = c.get("started").and_then(Value::as_bool) == Some(true);
        if is_sidecar && started && c.get("ready").and_then(Value::as_bool) == Some(true) {
            ready += 1;
        }
        let term = c.pointer("/state/terminated");
        let wait = c.pointer("/state/waiting");
        if let Some(t) = term
            && t.get("exitCode").and_then(Value::as_i64).unwrap_or(0) == 0
        {
            continue;
        }
        if is_sidecar && started {
            continue;
        }
        if let Some(t) = term {
            let r = t.get("reason").and_then(Value::as_str).unwrap_or("");
            reason = if r.is_empty() {
                let sig = t.get("signal").and_then(Value::as_i64).unwrap_or(0);
                if sig != 0 {
                    format!("Init:Signal:{sig}")
                } else {
                    format!(
                        "Init:ExitCode:{}",
                        t.get("exitCode").and_then(Value::as_i64).unwrap_or(0)
                    )
                }
            } else {
                format!("Init:{r}")
            };
        } else if let Some(r) = wait
            .and_then(|w| w.get("reason"))
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            reason = format!("Init:{r}");
        } else {
            reason = format!("Init:{idx}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }
    let initialized = arr(obj, "/status/conditions").iter().any(|c| {
        c.get("type").and_then(Value::as_str) == Some("Initialized")
            && c.get("status").and_then(Value::as_str) == Some("True")
    });
    if !initializing || initialized {
        restarts = 0;
        last_restart = None;
        for c in arr(obj, "/status/initContainerStatuses") {
            if restartable(c.get("name").and_then(Value::as_str).unwrap_or("")) {
                note_restart(c, &mut restarts, &mut last_restart);
            }
        }
        let mut has_running = false;
        for c in arr(obj, "/status/containerStatuses").iter().rev() {
            note_restart(c, &mut restarts, &mut last_restart);
            let waiting = c
                .pointer("/state/waiting/reason")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty());
            let term = c.pointer("/state/terminated").filter(|t| !t.is_null());
            if let Some(r) = waiting {
                reason = r.to_string();
            } else if let Some(t) = term {
                let r = t.get("reason").and_then(Value::as_str).unwrap_or("");
                reason = if !r.is_empty() {
                    r.to_string()
                } else {
                    let sig = t.get("signal").and_then(Value::as_i64).unwrap_or(0);
                    if sig != 0 {
                        format!("Signal:{sig}")
                    } else {
                        format!(
                            "ExitCode:{}",
                            t.get("exitCode").and_then(Value::as_i64).unwrap_or(0)
                        )
                    }
                };
            } else if c.get("ready").and_then(Value::as_bool) == Some(true)
                && c.pointer("/state/running").is_some_and(|r| !r.is_null())
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if has_condition(obj, "Ready") {
                "Running".to_string()
            } else {
                "NotReady".to_string()
            };
        }
    }
    let phase = st(obj, "/status/phase");
    if get(obj, "/metadata/deletionTimestamp").is_some() {
        if status_reason == "NodeLost" {
            reason = "Unknown".to_string();
        } else if phase != "Failed" && phase != "Succeeded" {
            reason = "Terminating".to_string();
        }
    }
    let restarts_s = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", human_duration(now - t)),
        _ => restarts.to_string(),
    };
    let ip = obj
        .pointer("/status/podIPs/0/ip")
        .or_else(|| obj.pointer("/status/podIP"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let gates = arr(obj, "/spec/readinessGates");
    let gates_s = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let true_gates = gates
            .iter()
            .filter(|g| {
                let ty = g.get("conditionType").and_then(Value::as_str).unwrap_or("");
                has_condition(obj, ty)
            })
            .count();
        format!("{true_gates}/{}", gates.len())
    };
    vec![
        json!(st(obj, "/metadata/name")),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_s),
        age_of(obj, now),
        json!(or_none(ip)),
        json!(or_none(st(obj, "/spec/nodeName"))),
        json!(or_none(st(obj, "/status/nominatedNodeName"))),
        json!(gates_s),
    ]
}

fn job_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let succeeded = int(obj, "/status/succeeded");
    let completions = match get(obj, "/spec/completions").and_then(Value::as_i64) {
        Some(c) => format!("{succeeded}/{c}"),
        None => match get(obj, "/spec/parallelism").and_then(Value::as_i64) {
            Some(p) if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let start = parse_time(obj.pointer("/status/startTime"));
    let end = parse_time(obj.pointer("/status/completionTime"));
    let duration = match (start, end) {
        (None, _) => String::new(),
        (Some(s), None) => human_duration(now - s),
        (Some(s), Some(e)) => human_duration(e - s),
    };
    let status = if has_condition(obj, "Complete") {
        "Complete"
    } else if has_condition(obj, "Failed") {
        "Failed"
    } else if get(obj, "/metadata/deletionTimestamp").is_some() {
        "Terminating"
    } else if has_condition(obj, "Suspended") {
        "Suspended"
    } else if has_condition(obj, "FailureTarget") {
        "FailureTarget"
    } else if has_condition(obj, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    };
    let (c, im) = containers_and_images(obj, "/spec/template/spec");
    vec![
        json!(st(obj, "/metadata/name")),
        json!(status),
        json!(completions),
        json!(duration),
        age_of(obj, now),
        json!(c),
        json!(im),
        json!(format_selector(get(obj, "/spec/selector"))),
    ]
}

fn service_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let ty = get(obj, "/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    let external_ips: Vec<&str> = arr(obj, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let external = match ty {
        "LoadBalancer" => {
            let lb = lb_ingress(obj, true);
            if !external_ips.is_empty() {
                let mut all: Vec<&str> = if lb.is_empty() {
                    vec![]
                } else {
                    lb.split(',').collect()
                };
                all.extend(&external_ips);
                all.join(",")
            } else if !lb.is_empty() {
                lb
            } else {
                "<pending>".to_string()
            }
        }
        "ExternalName" => st(obj, "/spec/externalName"),
        _ => or_none(external_ips.join(",")),
    };
    let ports: Vec<String> = arr(obj, "/spec/ports")
        .iter()
        .map(|p| {
            let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64) {
                Some(np) if np != 0 => format!("{port}:{np}/{proto}"),
                _ => format!("{port}/{proto}"),
            }
        })
        .collect();
    vec![
        json!(st(obj, "/metadata/name")),
        json!(ty),
        json!(or_none(st(obj, "/spec/clusterIP"))),
        json!(external),
        json!(or_none(ports.join(","))),
        age_of(obj, now),
        json!(format_labels(get(obj, "/spec/selector"))),
    ]
}

fn format_endpoints(obj: &Value) -> String {
    let subsets = arr(obj, "/subsets");
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    let max = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0;
    for ss in subsets {
        let addrs = ss
            .get("addresses")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let ports = ss
            .get("ports")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let ip = |a: &Value| {
            a.get("ip")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        if ports.is_empty() {
            count += addrs.len();
            for a in addrs {
                if list.len() == max {
                    more = true;
                    break;
                }
                list.push(ip(a));
            }
            continue;
        }
        for p in ports {
            count += addrs.len();
            let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
            for a in addrs {
                if list.len() == max {
                    more = true;
                    break;
                }
                let addr = ip(a);
                if addr.contains(':') {
                    list.push(format!("[{addr}]:{port}"));
                } else {
                    list.push(format!("{addr}:{port}"));
                }
            }
        }
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count - max)
    } else {
        ret
    }
}

fn node_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut status = Vec::new();
    match arr(obj, "/status/conditions")
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
    {
        Some(c) if c.get("status").and_then(Value::as_str) == Some("True") => status.push("Ready"),
        Some(_) => status.push("NotReady"),
        None => status.push("Unknown"),
    }
    if get(obj, "/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled");
    }
    let mut roles = BTreeSet::new();
    if let Some(labels) = get(obj, "/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            if let Some(r) = k.strip_prefix("node-role.kubernetes.io/") {
                if !r.is_empty() {
                    roles.insert(r.to_string());
                }
            } else if k == "kubernetes.io/role"
                && let Some(v) = v.as_str().filter(|v| !v.is_empty())
            {
                roles.insert(v.to_string());
            }
        }
    }
    let roles = or_none(roles.into_iter().collect::<Vec<_>>().join(","));
    let addr = |ty: &str| {
        arr(obj, "/status/addresses")
            .iter()
            .find(|a| a.get("type").and_then(Value::as_str) == Some(ty))
            .and_then(|a| a.get("address").and_then(Value::as_str))
            .unwrap_or("<none>")
            .to_string()
    };
    let unknown = |p: &str| {
        let v = st(obj, p);
        if v.is_empty() {
            "<unknown>".to_string()
        } else {
            v
        }
    };
    vec![
        json!(st(obj, "/metadata/name")),
        json!(status.join(",")),
        json!(roles),
        age_of(obj, now),
        json!(st(obj, "/status/nodeInfo/kubeletVersion")),
        json!(addr("InternalIP")),
        json!(addr("ExternalIP")),
        json!(unknown("/status/nodeInfo/osImage")),
        json!(unknown("/status/nodeInfo/kernelVersion")),
        json!(unknown("/status/nodeInfo/containerRuntimeVersion")),
    ]
}

fn event_cells(group: &str, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // events.k8s.io/v1 names the core fields differently.
    let (regarding, message, first, last, count, source) = if group.is_empty() {
        (
            "/involvedObject",
            "/message",
            "/firstTimestamp",
            "/lastTimestamp",
            "/count",
            "/source",
        )
    } else {
        (
            "/regarding",
            "/note",
            "/deprecatedFirstTimestamp",
            "/deprecatedLastTimestamp",
            "/deprecatedCount",
            "/deprecatedSource",
        )
    };
    let first_seen = if get(obj, first).is_some() {
        since(get(obj, first), now)
    } else {
        since(get(obj, "/eventTime"), now)
    };
    let mut last_seen = if get(obj, last).is_some() {
        since(get(obj, last), now)
    } else {
        first_seen.clone()
    };
    let mut n = int(obj, count);
    if let Some(series) = get(obj, "/series") {
        last_seen = since(series.get("lastObservedTime"), now);
        n = series.get("count").and_then(Value::as_i64).unwrap_or(0);
    } else if n == 0 {
        n = 1;
    }
    let kind = st(obj, &format!("{regarding}/kind")).to_ascii_lowercase();
    let oname = st(obj, &format!("{regarding}/name"));
    let target = if oname.is_empty() {
        kind
    } else {
        format!("{kind}/{oname}")
    };
    let component = st(obj, &format!("{source}/component"));
    let src = if component.is_empty() {
        let ctrl = if group.is_empty() {
            st(obj, "/reportingComponent")
        } else {
            st(obj, "/reportingController")
        };
        let inst = st(obj, "/reportingInstance");
        if ctrl.is_empty() {
            String::new()
        } else if inst.is_empty() {
            ctrl
        } else {
            format!("{ctrl}, {inst}")
        }
    } else {
        let host = st(obj, &format!("{source}/host"));
        if host.is_empty() {
            component
        } else {
            format!("{component}, {host}")
        }
    };
    vec![
        json!(last_seen),
        json!(st(obj, "/type")),
        json!(st(obj, "/reason")),
        json!(target),
        json!(st(obj, &format!("{regarding}/fieldPath"))),
        json!(src),
        json!(st(obj, message).trim()),
        json!(first_seen),
        json!(n),
        json!(st(obj, "/metadata/name")),
    ]
}

fn hpa_targets(obj: &Value) -> String {
    let specs = arr(obj, "/spec/metrics");
    if specs.is_empty() {
        return "<none>".to_string();
    }
    let statuses = arr(obj, "/status/currentMetrics");
    let q = |v: Option<&Value>| v.map(quantity).unwrap_or_else(|| "<unknown>".to_string());
    let mut list = Vec::new();
    for (idx, m) in specs.iter().enumerate() {
        let status = statuses.get(idx);
        let item = match m.get("type").and_then(Value::as_str).unwrap_or("") {
            "Resource" | "ContainerResource" => {
                let key = if m.get("type").and_then(Value::as_str) == Some("Resource") {
                    "resource"
                } else {
                    "containerResource"
                };
                let rname = m
                    .pointer(&format!("/{key}/name"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if let Some(avg) = m.pointer(&format!("/{key}/target/averageValue")) {
                    let cur =
                        q(status.and_then(|s| s.pointer(&format!("/{key}/current/averageValue"))));
                    format!("{rname}: {cur}/{}", quantity(avg))
                } else {
                    let cur = status
                        .and_then(|s| s.pointer(&format!("/{key}/current/averageUtilization")))
                        .and_then(Value::as_i64)
                        .map(|u| format!("{u}%"))
                        .unwrap_or_else(|| "<unknown>".to_string());
                    let target = m
                        .pointer(&format!("/{key}/target/averageUtilization"))
                        .and_then(Value::as_i64)
                        .map(|u| format!("{u}%"))
                        .unwrap_or_else(|| "<auto>".to_string());
                    format!("{rname}: {cur}/{target}")
                }
            }
            "Pods" => {
                let cur = q(status.and_then(|s| s.pointer("/pods/current/averageValue")));
                format!("{cur}/{}", q(m.pointer("/pods/target/averageValue")))
            }
            "Object" | "External" => {
                let key = if m.get("type").and_then(Value::as_str) == Some("Object") {
                    "object"
                } else {
                    "external"
                };
                if let Some(avg) = m.pointer(&format!("/{key}/target/averageValue")) {
                    let cur =
                        q(status.and_then(|s| s.pointer(&format!("/{key}/current/averageValue"))));
                    format!("{cur}/{} (avg)", quantity(avg))
                } else {
                    let cur = q(status.and_then(|s| s.pointer(&format!("/{key}/current/value"))));
                    format!("{cur}/{}", q(m.pointer(&format!("/{key}/target/value"))))
                }
            }
            _ => "<unknown type>".to_string(),
        };
        list.push(item);
    }
    let count = list.len();
    if count > 2 {
        list.truncate(2);
        format!("{} + {} more...", list.join(", "), count - 2)
    } else {
        list.join(", ")
    }
}

// ---- custom resources ----

/// The columns of a custom resource's Table from its CRD version's
/// `additionalPrinterColumns` (`{name, type, format, description, priority, jsonPath}`),
/// after the Name column; `Age` when the CRD declares none, as apiextensions-apiserver does.
pub fn custom_columns(printer_columns: &[Value]) -> Vec<Value> {
    let mut c = vec![name_col()];
    if printer_columns.is_empty() {
        c.push(col("Age", "date", AGE_DESC, 0));
        return c;
    }
    for p in printer_columns {
        c.push(json!({
            "name": p.get("name").and_then(Value::as_str).unwrap_or(""),
            "type": p.get("type").and_then(Value::as_str).unwrap_or("string"),
            "format": p.get("format").and_then(Value::as_str).unwrap_or(""),
            "description": p.get("description").and_then(Value::as_str).unwrap_or(""),
            "priority": p.get("priority").and_then(Value::as_i64).unwrap_or(0),
        }));
    }
    c
}

/// The cells of a custom resource's row, matching [`custom_columns`].
pub fn custom_cells(printer_columns: &[Value], obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut cells = vec![json!(st(obj, "/metadata/name"))];
    if printer_columns.is_empty() {
        cells.push(age_of(obj, now));
        return cells;
    }
    for p in printer_columns {
        let ty = p.get("type").and_then(Value::as_str).unwrap_or("string");
        let path = p.get("jsonPath").and_then(Value::as_str).unwrap_or("");
        let results = json_path(obj, path);
        let cell = match results.as_slice() {
            [] => Value::Null,
            [one] => cell_for(ty, one, now),
            many => json!(many.iter().map(plain).collect::<Vec<_>>().join(" ")),
        };
        cells.push(cell);
    }
    cells
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn cell_for(ty: &str, v: &Value, now: DateTime<Utc>) -> Value {
    match (ty, v) {
        (_, Value::Null) => Value::Null,
        ("integer", Value::Number(n)) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_f64().map(|f| Value::from(f as i64)))
            .unwrap_or(Value::Null),
        ("number", Value::Number(n)) => n.as_f64().map(Value::from).unwrap_or(Value::Null),
        ("boolean", Value::Bool(b)) => Value::Bool(*b),
        ("date", Value::String(s)) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => json!(human_duration(now - t.with_timezone(&Utc))),
            Err(_) => json!("<invalid>"),
        },
        ("string", other) => json!(plain(other)),
        _ => Value::Null,
    }
}

/// Evaluates the JSONPath subset CRD printer columns use: `.a.b`, `.a[0].b`, `.a[*].b`,
/// `.metadata.labels.app\.kubernetes\.io/name` style escaped dots, optionally in `{…}`.
pub fn json_path(obj: &Value, path: &str) -> Vec<Value> {
    let p = path.trim();
    let p = p
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(p);
    let p = p.strip_prefix('$').unwrap_or(p);
    let mut current = vec![obj.clone()];
    for seg in split_path(p) {
        let mut next = Vec::new();
        for v in current {
            match &seg {
                Seg::Field(f) => {
                    if let Some(x) = v.get(f.as_str()) {
                        next.push(x.clone());
                    }
                }
                Seg::Index(i) => {
                    if let Some(a) = v.as_array() {
                        let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                        if let Some(x) = usize::try_from(idx).ok().and_then(|u| a.get(u)) {
                            next.push(x.clone());
                        }
                    }
                }
                Seg::All => match v {
                    Value::Array(a) => next.extend(a),
                    Value::Object(o) => next.extend(o.into_iter().map(|(_, x)| x)),
                    _ => {}
                },
            }
        }
        current = next;
    }
    current
}

enum Seg {
    Field(String),
    Index(i64),
    All,
}

fn split_path(p: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    let mut cur = String::new();
    let mut chars = p.chars().peekable();
    let flush = |cur: &mut String, segs: &mut Vec<Seg>| {
        if !cur.is_empty() {
            segs.push(Seg::Field(std::mem::take(cur)));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '.' => flush(&mut cur, &mut segs),
            '[' => {
                flush(&mut cur, &mut segs);
                let mut inner = String::new();
                for n in chars.by_ref() {
                    if n == ']' {
                        break;
                    }
                    inner.push(n);
                }
                let inner = inner.trim().trim_matches(|c| c == '\'' || c == '"');
                if inner == "*" {
                    segs.push(Seg::All);
                } else if let Ok(i) = inner.parse::<i64>() {
                    segs.push(Seg::Index(i));
                } else {
                    segs.push(Seg::Field(inner.to_string()));
                }
            }
            other => cur.push(other),
        }
    }
    flush(&mut cur, &mut segs);
    segs
}

/// A `meta.k8s.io/v1` `Table` row for `obj` with `cells`, carrying the object (or its
/// `PartialObjectMetadata`, as the server chooses) in `object`.
pub fn row(cells: Vec<Value>, object: Value) -> Value {
    let mut r = Map::new();
    r.insert("cells".to_string(), Value::Array(cells));
    r.insert("object".to_string(), object);
    Value::Object(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 10, 12, 0, 0)
            .single()
            .expect("valid date")
    }

    #[test]
    fn human_durations_match_upstream() {
        let cases = [
            (Duration::seconds(-5), "<invalid>"),
            (Duration::milliseconds(-500), "0s"),
            (Duration::seconds(5), "5s"),
            (Duration::seconds(119), "119s"),
            (Duration::seconds(200), "3m20s"),
            (Duration::seconds(240), "4m"),
            (Duration::minutes(15), "15m"),
            (Duration::minutes(179), "179m"),
            (Duration::minutes(200), "3h20m"),
            (Duration::hours(5), "5h"),
            (Duration::hours(20), "20h"),
            (Duration::hours(51), "2d3h"),
            (Duration::hours(72), "3d"),
            (Duration::days(30), "30d"),
            (Duration::days(800), "2y70d"),
            (Duration::days(365 * 3), "3y"),
            (Duration::days(365 * 9), "9y"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(d), want, "{d:?}");
        }
    }

    #[test]
    fn pod_rows() {
        let cols = column_definitions("", "Pod");
        let names: Vec<&str> = cols.iter().filter_map(|c| c["name"].as_str()).collect();
        assert_eq!(
            names,
            [
                "Name",
                "Ready",
                "Status",
                "Restarts",
                "Age",
                "IP",
                "Node",
                "Nominated Node",
                "Readiness Gates"
            ]
        );
        assert_eq!(cols[0]["format"], "name");
        assert_eq!(cols[5]["priority"], 1);
        let pod = json!({
            "metadata": {"name": "web", "creationTimestamp": "2025-01-10T11:55:00Z"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n1"},
            "status": {"phase": "Running", "podIP": "10.0.0.5", "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}},
                 "lastState": {"terminated": {"finishedAt": "2025-01-10T11:58:00Z"}}},
                {"name": "b", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
            ]}
        });
        let cells = row_cells("", "Pod", &pod, now());
        assert_eq!(
            cells,
            vec![
                json!("web"),
                json!("1/2"),
                json!("CrashLoopBackOff"),
                json!("2 (2m ago)"),
                json!("5m"),
                json!("10.0.0.5"),
                json!("n1"),
                json!("<none>"),
                json!("<none>")
            ]
        );
        let init = json!({
            "metadata": {"name": "i", "creationTimestamp": "2025-01-10T11:59:50Z"},
            "spec": {"initContainers": [{"name": "x"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [{"name": "x", "state": {"running": {}}}]}
        });
        let cells = row_cells("", "Pod", &init, now());
        assert_eq!(cells[2], "Init:0/1");
        assert_eq!(cells[4], "10s");
        let done = json!({
            "metadata": {"name": "d", "deletionTimestamp": "2025-01-10T12:00:00Z"},
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "a", "ready": true, "state": {"running": {}}}]}
        });
        assert_eq!(row_cells("", "Pod", &done, now())[2], "Terminating");
        let completed = json!({
            "metadata": {"name": "c"},
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Succeeded", "containerStatuses": [{"name": "a", "state": {"terminated": {"reason": "Completed", "exitCode": 0}}}]}
        });
        let cells = row_cells("", "Pod", &completed, now());
        assert_eq!(cells[2], "Completed");
        assert_eq!(cells[4], "<unknown>");
    }

    #[test]
    fn workload_rows() {
        let d = json!({
            "metadata": {"name": "web", "creationTimestamp": "2025-01-08T09:00:00Z"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
        });
        let cells = row_cells("apps", "Deployment", &d, now());
        assert_eq!(
            cells,
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("2d3h"),
                json!("nginx"),
                json!("nginx:1"),
                json!("app=web")
            ]
        );
        assert_eq!(column_definitions("apps", "Deployment").len(), cells.len());
        let job = json!({
            "metadata": {"name": "j"},
            "spec": {"completions": 1, "template": {"spec": {"containers": []}}},
            "status": {"succeeded": 1, "startTime": "2025-01-10T11:59:00Z", "completionTime": "2025-01-10T11:59:30Z",
                       "conditions": [{"type": "Complete", "status": "True"}]}
        });
        let cells = row_cells("batch", "Job", &job, now());
        assert_eq!(
            &cells[1..4],
            &[json!("Complete"), json!("1/1"), json!("30s")]
        );
        assert_eq!(cells[7], "<none>");
    }

    #[test]
    fn service_rows() {
        let svc = json!({
            "metadata": {"name": "web"},
            "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "selector": {"app": "web", "a": "b"},
                     "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}, {"port": 53, "protocol": "UDP"}]}
        });
        let cells = row_cells("", "Service", &svc, now());
        assert_eq!(
            &cells[1..5],
            &[
                json!("NodePort"),
                json!("10.96.0.10"),
                json!("<none>"),
                json!("80:30080/TCP,53/UDP")
            ]
        );
        assert_eq!(cells[6], "a=b,app=web");
        let lb = json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "clusterIP": "None"}});
        assert_eq!(row_cells("", "Service", &lb, now())[3], "<pending>");
    }

    #[test]
    fn other_kinds_have_as_many_cells_as_columns() {
        let obj = json!({"metadata": {"name": "x", "creationTimestamp": "2025-01-10T11:00:00Z"}});
        for r in crate::resource::builtin() {
            let cols = column_definitions(&r.group, &r.kind);
            let cells = row_cells(&r.group, &r.kind, &obj, now());
            assert_eq!(cols.len(), cells.len(), "{}/{}", r.group, r.kind);
        }
        let crd = row_cells(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            &obj,
            now(),
        );
        assert_eq!(crd[1], "2025-01-10T11:00:00Z");
        let ev = json!({"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "p"},
                        "type": "Normal", "reason": "Pulled", "message": " done ", "lastTimestamp": "2025-01-10T11:59:00Z"});
        let cells = row_cells("", "Event", &ev, now());
        assert_eq!(
            &cells[..4],
            &[
                json!("60s"),
                json!("Normal"),
                json!("Pulled"),
                json!("pod/p")
            ]
        );
        assert_eq!(cells[6], "done");
        let cm = json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
        assert_eq!(row_cells("", "ConfigMap", &cm, now())[1], 2);
        let node = json!({"metadata": {"name": "n", "labels": {"node-role.kubernetes.io/control-plane": ""}},
                          "spec": {"unschedulable": true},
                          "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.33.0"}}});
        let cells = row_cells("", "Node", &node, now());
        assert_eq!(
            &cells[1..3],
            &[json!("Ready,SchedulingDisabled"), json!("control-plane")]
        );
    }

    #[test]
    fn custom_resource_columns() {
        assert_eq!(custom_columns(&[]).len(), 2);
        let cols = vec![
            json!({"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}),
            json!({"name": "Hosts", "type": "string", "jsonPath": ".spec.rules[*].host"}),
            json!({"name": "First", "type": "string", "jsonPath": ".spec.rules[0].host", "priority": 1}),
            json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}),
            json!({"name": "Missing", "type": "string", "jsonPath": ".status.nothing"}),
        ];
        let obj = json!({"metadata": {"name": "x", "creationTimestamp": "2025-01-10T11:59:00Z"},
                         "spec": {"replicas": 3, "rules": [{"host": "a"}, {"host": "b"}]}});
        let defs = custom_columns(&cols);
        assert_eq!(defs[3]["priority"], 1);
        assert_eq!(
            custom_cells(&cols, &obj, now()),
            vec![
                json!("x"),
                json!(3),
                json!("a b"),
                json!("a"),
                json!("60s"),
                Value::Null
            ]
        );
    }
}
