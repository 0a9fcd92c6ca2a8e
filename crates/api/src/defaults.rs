//! Defaulting of built-in kinds as kube-apiserver applies it before validation and storage
//! (`pkg/apis/*/v1/defaults.go`), and, in [`admit`], what the pod admission plugins that always run add:
//! `priority`, `preemptionPolicy`, the service account and the not-ready/unreachable
//! tolerations.
//!
//! Defaulting only fills absent fields, so it is idempotent and never changes what a client
//! set. Allocation (cluster IPs, node ports, generated names, a Job's controller-uid selector)
//! is the server's, not done here.

use serde_json::{Map, Value, json};

/// Fills the defaults of a `group`/`kind` object in place.
/// What the admission plugins that always run add to a new object after defaulting
/// (Priority, ServiceAccount, DefaultTolerationSeconds for Pods). Kept apart from [`apply`]
/// because kube-apiserver records managed fields between the two: these fields belong to no
/// client.
pub fn admit(group: &str, kind: &str, obj: &mut Value) {
    if (group, kind) != ("", "Pod") {
        return;
    }
    let Some(o) = obj.as_object_mut() else {
        return;
    };
    let spec = obj_at(o, "spec");
    let priority = match spec.get("priorityClassName").and_then(Value::as_str) {
        None | Some("") => Some(0),
        Some("system-node-critical") => Some(2_000_001_000),
        Some("system-cluster-critical") => Some(2_000_000_000),
        // Other classes are PriorityClass objects the server resolves.
        Some(_) => None,
    };
    if let Some(p) = priority {
        set(spec, "priority", json!(p));
    }
    set(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    let sa = spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .or_else(|| {
            spec.get("serviceAccount")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        })
        .unwrap_or("default")
        .to_string();
    set_str(spec, "serviceAccountName", &sa);
    set_str(spec, "serviceAccount", &sa);
    let tolerations = spec
        .entry("tolerations".to_string())
        .or_insert_with(|| json!([]));
    if let Value::Array(ts) = tolerations {
        for key in [
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
        ] {
            let present = ts.iter().any(|t| {
                t.get("key").and_then(Value::as_str) == Some(key)
                    || (t.get("operator").and_then(Value::as_str) == Some("Exists")
                        && t.get("key").is_none_or(|k| k.as_str() == Some("")))
            });
            if !present {
                ts.push(json!({
                    "key": key,
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300
                }));
            }
        }
    }
}

pub fn apply(group: &str, kind: &str, obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else {
        return;
    };
    match (group, kind) {
        ("", "Pod") => pod(o),
        ("", "PodTemplate") => {
            if let Some(t) = o.get_mut("template") {
                pod_template(t);
            }
        }
        ("", "ReplicationController") => {
            let spec = obj_at(o, "spec");
            set(spec, "replicas", json!(1));
            template_of(spec);
        }
        ("apps", "Deployment") => deployment(o),
        ("apps", "ReplicaSet") => {
            let spec = obj_at(o, "spec");
            set(spec, "replicas", json!(1));
            template_of(spec);
        }
        ("apps", "StatefulSet") => statefulset(o),
        ("apps", "DaemonSet") => daemonset(o),
        ("batch", "Job") => job(o),
        ("batch", "CronJob") => cronjob(o),
        ("", "Service") => service(o),
        ("", "Secret") => set(o, "type", json!("Opaque")),
        ("", "Namespace") => namespace(o),
        ("", "Node") => node(o),
        ("", "PersistentVolume") => {
            let spec = obj_at(o, "spec");
            set(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
            set(spec, "volumeMode", json!("Filesystem"));
            if let Some(hp) = spec.get_mut("hostPath").and_then(Value::as_object_mut) {
                set(hp, "type", json!(""));
            }
            set(obj_at(o, "status"), "phase", json!("Pending"));
        }
        ("", "PersistentVolumeClaim") => pvc(o),
        ("", "Endpoints") => {
            for ss in arr_mut(o, "subsets") {
                if let Some(ss) = ss.as_object_mut() {
                    for p in arr_mut(ss, "ports") {
                        if let Some(p) = p.as_object_mut() {
                            set(p, "protocol", json!("TCP"));
                        }
                    }
                }
            }
        }
        ("discovery.k8s.io", "EndpointSlice") => {
            for p in arr_mut(o, "ports") {
                if let Some(p) = p.as_object_mut() {
                    set(p, "name", json!(""));
                    set(p, "protocol", json!("TCP"));
                }
            }
        }
        ("", "LimitRange") => limit_range(o),
        ("autoscaling", "HorizontalPodAutoscaler") => hpa(o),
        ("networking.k8s.io", "NetworkPolicy") => network_policy(o),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            for s in arr_mut(o, "subjects") {
                if let Some(s) = s.as_object_mut() {
                    let group = match s.get("kind").and_then(Value::as_str) {
                        Some("User" | "Group") => "rbac.authorization.k8s.io",
                        _ => "",
                    };
                    if !group.is_empty() {
                        set(s, "apiGroup", json!(group));
                    }
                }
            }
        }
        ("storage.k8s.io", "StorageClass") => {
            set(o, "reclaimPolicy", json!("Delete"));
            set(o, "volumeBindingMode", json!("Immediate"));
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let spec = obj_at(o, "spec");
            set(spec, "conversion", json!({"strategy": "None"}));
        }
        _ => {}
    }
}

// ---- helpers ----

/// Sets `key` to `v` when it is absent or `null`.
fn set(o: &mut Map<String, Value>, key: &str, v: Value) {
    match o.get(key) {
        None | Some(Value::Null) => {
            o.insert(key.to_string(), v);
        }
        _ => {}
    }
}

/// Sets `key` to `v` when it is absent, `null` or the empty string (Go's zero string).
fn set_str(o: &mut Map<String, Value>, key: &str, v: &str) {
    match o.get(key) {
        None | Some(Value::Null) => {
            o.insert(key.to_string(), json!(v));
        }
        Some(Value::String(s)) if s.is_empty() => {
            o.insert(key.to_string(), json!(v));
        }
        _ => {}
    }
}

/// The object at `key`, created empty when absent or not an object.
fn obj_at<'a>(o: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    if !o.get(key).is_some_and(Value::is_object) {
        o.insert(key.to_string(), Value::Object(Map::new()));
    }
    match o.get_mut(key) {
        Some(Value::Object(m)) => m,
        // Inserted just above; a map keeps what was inserted.
        _ => unreachable!("{key} was just made an object"),
    }
}

/// The array at `key`, or nothing.
fn arr_mut<'a>(o: &'a mut Map<String, Value>, key: &str) -> std::slice::IterMut<'a, Value> {
    match o.get_mut(key) {
        Some(Value::Array(a)) => a.iter_mut(),
        _ => [].iter_mut(),
    }
}

fn template_of(spec: &mut Map<String, Value>) {
    if let Some(t) = spec.get_mut("template") {
        pod_template(t);
    }
}

fn pod_template(t: &mut Value) {
    if let Some(t) = t.as_object_mut() {
        pod_spec(obj_at(t, "spec"));
    }
}

// ---- pods ----

fn pod(o: &mut Map<String, Value>) {
    let spec = obj_at(o, "spec");
    // Requests default to limits on Pods (not on templates).
    for key in ["containers", "initContainers"] {
        for c in arr_mut(spec, key) {
            if let Some(c) = c.as_object_mut() {
                requests_from_limits(c);
            }
        }
    }
    set(spec, "enableServiceLinks", json!(true));
    pod_spec(spec);
}

fn requests_from_limits(c: &mut Map<String, Value>) {
    let Some(limits) = c
        .get("resources")
        .and_then(|r| r.get("limits"))
        .and_then(Value::as_object)
        .cloned()
    else {
        return;
    };
    let resources = obj_at(c, "resources");
    let requests = obj_at(resources, "requests");
    for (k, v) in limits {
        requests.entry(k).or_insert(v);
    }
}

fn pod_spec(spec: &mut Map<String, Value>) {
    set_str(spec, "dnsPolicy", "ClusterFirst");
    set_str(spec, "restartPolicy", "Always");
    set(spec, "securityContext", json!({}));
    set(spec, "terminationGracePeriodSeconds", json!(30));
    set_str(spec, "schedulerName", "default-scheduler");
    for key in ["containers", "initContainers", "ephemeralContainers"] {
        for c in arr_mut(spec, key) {
            if let Some(c) = c.as_object_mut() {
                container(c);
            }
        }
    }
    for v in arr_mut(spec, "volumes") {
        if let Some(v) = v.as_object_mut() {
            volume(v);
        }
    }
}

/// `IfNotPresent`, or `Always` for `:latest` and untagged, undigested images.
fn pull_policy(image: &str) -> &'static str {
    if image.is_empty() {
        return "IfNotPresent";
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let tag = name[last_slash..].rsplit_once(':').map(|(_, t)| t);
    match (tag, digest) {
        (Some("latest"), _) | (None, None) => "Always",
        _ => "IfNotPresent",
    }
}

fn container(c: &mut Map<String, Value>) {
    let image = c
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    set_str(c, "imagePullPolicy", pull_policy(&image));
    set_str(c, "terminationMessagePath", "/dev/termination-log");
    set_str(c, "terminationMessagePolicy", "File");
    set(c, "resources", json!({}));
    for p in arr_mut(c, "ports") {
        if let Some(p) = p.as_object_mut() {
            set_str(p, "protocol", "TCP");
        }
    }
    for e in arr_mut(c, "env") {
        if let Some(fr) = e
            .pointer_mut("/valueFrom/fieldRef")
            .and_then(Value::as_object_mut)
        {
            set_str(fr, "apiVersion", "v1");
        }
    }
    for key in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(key).and_then(Value::as_object_mut) {
            probe(p);
        }
    }
    if let Some(l) = c.get_mut("lifecycle").and_then(Value::as_object_mut) {
        for key in ["postStart", "preStop"] {
            if let Some(h) = l.get_mut(key).and_then(Value::as_object_mut) {
                handler(h);
            }
        }
    }
}

fn handler(h: &mut Map<String, Value>) {
    if let Some(g) = h.get_mut("httpGet").and_then(Value::as_object_mut) {
        set_str(g, "path", "/");
        set_str(g, "scheme", "HTTP");
    }
}

fn probe(p: &mut Map<String, Value>) {
    for (k, v) in [
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ] {
        match p.get(k) {
            None | Some(Value::Null) => {
                p.insert(k.to_string(), json!(v));
            }
            Some(Value::Number(n)) if n.as_i64() == Some(0) => {
                p.insert(k.to_string(), json!(v));
            }
            _ => {}
        }
    }
    handler(p);
}

fn volume(v: &mut Map<String, Value>) {
    const SOURCES: &[&str] = &[
        "hostPath",
        "emptyDir",
        "gcePersistentDisk",
        "awsElasticBlockStore",
        "gitRepo",
        "secret",
        "nfs",
        "iscsi",
        "glusterfs",
        "persistentVolumeClaim",
        "rbd",
        "flexVolume",
        "cinder",
        "cephfs",
        "flocker",
        "downwardAPI",
        "fc",
        "azureFile",
        "configMap",
        "vsphereVolume",
        "quobyte",
        "azureDisk",
        "photonPersistentDisk",
        "projected",
        "portworxVolume",
        "scaleIO",
        "storageos",
        "csi",
        "ephemeral",
        "image",
    ];
    if !SOURCES
        .iter()
        .any(|s| v.get(*s).is_some_and(|x| !x.is_null()))
    {
        v.insert("emptyDir".to_string(), json!({}));
    }
    for key in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(src) = v.get_mut(key).and_then(Value::as_object_mut) {
            set(src, "defaultMode", json!(420));
        }
    }
    if let Some(d) = v.get_mut("downwardAPI").and_then(Value::as_object_mut) {
        for item in arr_mut(d, "items") {
            if let Some(fr) = item.get_mut("fieldRef").and_then(Value::as_object_mut) {
                set_str(fr, "apiVersion", "v1");
            }
        }
    }
    if let Some(p) = v.get_mut("projected").and_then(Value::as_object_mut) {
        for src in arr_mut(p, "sources") {
            if let Some(t) = src
                .get_mut("serviceAccountToken")
                .and_then(Value::as_object_mut)
            {
                set(t, "expirationSeconds", json!(3600));
            }
            if let Some(d) = src.get_mut("downwardAPI").and_then(Value::as_object_mut) {
                for item in arr_mut(d, "items") {
                    if let Some(fr) = item.get_mut("fieldRef").and_then(Value::as_object_mut) {
                        set_str(fr, "apiVersion", "v1");
                    }
                }
            }
        }
    }
    if let Some(hp) = v.get_mut("hostPath").and_then(Value::as_object_mut) {
        set(hp, "type", json!(""));
    }
    if let Some(is) = v.get_mut("iscsi").and_then(Value::as_object_mut) {
        set_str(is, "iscsiInterface", "default");
    }
    if let Some(spec) = v
        .get_mut("ephemeral")
        .and_then(|e| e.pointer_mut("/volumeClaimTemplate/spec"))
        .and_then(Value::as_object_mut)
    {
        set_str(spec, "volumeMode", "Filesystem");
    }
}

// ---- workloads ----

fn deployment(o: &mut Map<String, Value>) {
    let spec = obj_at(o, "spec");
    set(spec, "replicas", json!(1));
    let strategy = obj_at(spec, "strategy");
    set_str(strategy, "type", "RollingUpdate");
    if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
        let ru = obj_at(strategy, "rollingUpdate");
        set(ru, "maxUnavailable", json!("25%"));
        set(ru, "maxSurge", json!("25%"));
    }
    set(spec, "revisionHistoryLimit", json!(10));
    set(spec, "progressDeadlineSeconds", json!(600));
    template_of(spec);
}

fn statefulset(o: &mut Map<String, Value>) {
    let spec = obj_at(o, "spec");
    set_str(spec, "podManagementPolicy", "OrderedReady");
    let strategy = obj_at(spec, "updateStrategy");
    set_str(strategy, "type", "RollingUpdate");
    if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
        let ru = obj_at(strategy, "rollingUpdate");
        set(ru, "partition", json!(0));
    }
    let retention = obj_at(spec, "persistentVolumeClaimRetentionPolicy");
    set_str(retention, "whenDeleted", "Retain");
    set_str(retention, "whenScaled", "Retain");
    set(spec, "replicas", json!(1));
    set(spec, "revisionHistoryLimit", json!(10));
    for t in arr_mut(spec, "volumeClaimTemplates") {
        if let Some(t) = t.as_object_mut() {
            set(t, "apiVersion", json!("v1"));
            set(t, "kind", json!("PersistentVolumeClaim"));
            pvc(t);
        }
    }
    template_of(spec);
}

fn daemonset(o: &mut Map<String, Value>) {
    let spec = obj_at(o, "spec");
    let strategy = obj_at(spec, "updateStrategy");
    set_str(strategy, "type", "RollingUpdate");
    if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
        let ru = obj_at(strategy, "rollingUpdate");
        set(ru, "maxUnavailable", json!(1));
        set(ru, "maxSurge", json!(0));
    }
    set(spec, "revisionHistoryLimit", json!(10));
    template_of(spec);
}

fn job(o: &mut Map<String, Value>) {
    let template_labels = o
        .get("spec")
        .and_then(|s| s.pointer("/template/metadata/labels"))
        .filter(|l| l.as_object().is_some_and(|m| !m.is_empty()))
        .cloned();
    if let Some(labels) = template_labels {
        let meta = obj_at(o, "metadata");
        let empty = meta
            .get("labels")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty);
        if empty {
            meta.insert("labels".to_string(), labels);
        }
    }
    let spec = obj_at(o, "spec");
    let absent = |s: &Map<String, Value>, k: &str| s.get(k).is_none_or(Value::is_null);
    if absent(spec, "completions") && absent(spec, "parallelism") {
        spec.insert("completions".to_string(), json!(1));
        spec.insert("parallelism".to_string(), json!(1));
    }
    set(spec, "parallelism", json!(1));
    let backoff = if absent(spec, "backoffLimitPerIndex") {
        6
    } else {
        i64::from(i32::MAX)
    };
    set(spec, "backoffLimit", json!(backoff));
    set_str(spec, "completionMode", "NonIndexed");
    set(spec, "suspend", json!(false));
    let has_failure_policy = !absent(spec, "podFailurePolicy");
    if let Some(pfp) = spec
        .get_mut("podFailurePolicy")
        .and_then(Value::as_object_mut)
    {
        for rule in arr_mut(pfp, "rules") {
            if let Some(rule) = rule.as_object_mut() {
                for c in arr_mut(rule, "onPodConditions") {
                    if let Some(c) = c.as_object_mut() {
                        set_str(c, "status", "True");
                    }
                }
            }
        }
    }
    set_str(
        spec,
        "podReplacementPolicy",
        if has_failure_policy {
            "Failed"
        } else {
            "TerminatingOrFailed"
        },
    );
    template_of(spec);
}

fn cronjob(o: &mut Map<String, Value>) {
    let spec = obj_at(o, "spec");
    set_str(spec, "concurrencyPolicy", "Allow");
    set(spec, "suspend", json!(false));
    set(spec, "successfulJobsHistoryLimit", json!(3));
    set(spec, "failedJobsHistoryLimit", json!(1));
    if let Some(js) = spec
        .get_mut("jobTemplate")
        .and_then(|t| t.get_mut("spec"))
        .and_then(Value::as_object_mut)
    {
        template_of(js);
    }
}

// ---- services and the rest ----

fn service(o: &mut Map<String, Value>) {
    let spec = obj_at(o, "spec");
    set_str(spec, "sessionAffinity", "None");
    if spec.get("sessionAffinity").and_then(Value::as_str) == Some("ClientIP") {
        set(
            spec,
            "sessionAffinityConfig",
            json!({"clientIP": {"timeoutSeconds": 10800}}),
        );
    }
    set_str(spec, "type", "ClusterIP");
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    for p in arr_mut(spec, "ports") {
        if let Some(p) = p.as_object_mut() {
            set_str(p, "protocol", "TCP");
            let zero = match p.get("targetPort") {
                None | Some(Value::Null) => true,
                Some(Value::Number(n)) => n.as_i64() == Some(0),
                Some(Value::String(s)) => s.is_empty(),
                _ => false,
            };
            if zero && let Some(port) = p.get("port").cloned() {
                p.insert("targetPort".to_string(), port);
            }
        }
    }
    if ty == "NodePort" || ty == "LoadBalancer" {
        set_str(spec, "externalTrafficPolicy", "Cluster");
    }
    if ty == "LoadBalancer" {
        set(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    if ty != "ExternalName" {
        set_str(spec, "internalTrafficPolicy", "Cluster");
        let headless_without_selector = spec.get("clusterIP").and_then(Value::as_str)
            == Some("None")
            && spec
                .get("selector")
                .and_then(Value::as_object)
                .is_none_or(Map::is_empty);
        set_str(
            spec,
            "ipFamilyPolicy",
            if headless_without_selector {
                "RequireDualStack"
            } else {
                "SingleStack"
            },
        );
        set(spec, "ipFamilies", json!(["IPv4"]));
    }
}

fn namespace(o: &mut Map<String, Value>) {
    let name = o
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        let labels = obj_at(obj_at(o, "metadata"), "labels");
        set(labels, "kubernetes.io/metadata.name", json!(name));
    }
    set(obj_at(o, "spec"), "finalizers", json!(["kubernetes"]));
    set_str(obj_at(o, "status"), "phase", "Active");
}

fn node(o: &mut Map<String, Value>) {
    let status = obj_at(o, "status");
    if let Some(cap) = status.get("capacity").cloned() {
        set(status, "allocatable", cap);
    }
}

fn pvc(o: &mut Map<String, Value>) {
    set_str(obj_at(o, "spec"), "volumeMode", "Filesystem");
    set_str(obj_at(o, "status"), "phase", "Pending");
}

fn limit_range(o: &mut Map<String, Value>) {
    let spec = obj_at(o, "spec");
    for item in arr_mut(spec, "limits") {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        if item.get("type").and_then(Value::as_str) != Some("Container") {
            continue;
        }
        let max = item.get("max").and_then(Value::as_object).cloned();
        if let Some(max) = max {
            let default = obj_at(item, "default");
            for (k, v) in max {
                default.entry(k).or_insert(v);
            }
        }
        let default = item.get("default").and_then(Value::as_object).cloned();
        let min = item.get("min").and_then(Value::as_object).cloned();
        let request = obj_at(item, "defaultRequest");
        for (k, v) in default.into_iter().flatten() {
            request.entry(k).or_insert(v);
        }
        for (k, v) in min.into_iter().flatten() {
            request.entry(k).or_insert(v);
        }
    }
}

fn hpa(o: &mut Map<String, Value>) {
    let spec = obj_at(o, "spec");
    set(spec, "minReplicas", json!(1));
    let empty = spec
        .get("metrics")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if empty {
        spec.insert(
            "metrics".to_string(),
            json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]),
        );
    }
}

fn network_policy(o: &mut Map<String, Value>) {
    let spec = obj_at(o, "spec");
    for key in ["ingress", "egress"] {
        for rule in arr_mut(spec, key) {
            if let Some(rule) = rule.as_object_mut() {
                for p in arr_mut(rule, "ports") {
                    if let Some(p) = p.as_object_mut() {
                        set_str(p, "protocol", "TCP");
                    }
                }
            }
        }
    }
    let has_egress = spec
        .get("egress")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let mut types = vec![json!("Ingress")];
    if has_egress {
        types.push(json!("Egress"));
    }
    let empty = spec
        .get("policyTypes")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if empty {
        spec.insert("policyTypes".to_string(), Value::Array(types));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaulted(group: &str, kind: &str, mut v: Value) -> Value {
        apply(group, kind, &mut v);
        let once = v.clone();
        apply(group, kind, &mut v);
        assert_eq!(once, v, "defaulting {kind} twice changed it");
        v
    }

    #[test]
    fn pods() {
        let mut p = defaulted(
            "",
            "Pod",
            json!({"metadata": {"name": "p"}, "spec": {"containers": [
                {"name": "a", "image": "nginx", "ports": [{"containerPort": 80}],
                 "resources": {"limits": {"cpu": "1"}},
                 "readinessProbe": {"httpGet": {"port": 80}}},
                {"name": "b", "image": "nginx:1.25", "imagePullPolicy": "Never"},
                {"name": "c", "image": "registry:5000/x@sha256:abc"}
            ], "volumes": [{"name": "v", "configMap": {"name": "cm"}}, {"name": "e"}]}}),
        );
        assert!(
            p["spec"].get("priority").is_none(),
            "admission adds priority, not defaulting"
        );
        admit("", "Pod", &mut p);
        let once = p.clone();
        admit("", "Pod", &mut p);
        assert_eq!(once, p, "admitting twice changed the pod");
        let s = &p["spec"];
        assert_eq!(s["restartPolicy"], "Always");
        assert_eq!(s["terminationGracePeriodSeconds"], 30);
        assert_eq!(s["dnsPolicy"], "ClusterFirst");
        assert_eq!(s["schedulerName"], "default-scheduler");
        assert_eq!(s["securityContext"], json!({}));
        assert_eq!(s["enableServiceLinks"], true);
        assert_eq!(s["priority"], 0);
        assert_eq!(s["preemptionPolicy"], "PreemptLowerPriority");
        assert_eq!(s["serviceAccountName"], "default");
        assert_eq!(s["tolerations"].as_array().map(Vec::len), Some(2));
        let a = &s["containers"][0];
        assert_eq!(a["imagePullPolicy"], "Always");
        assert_eq!(a["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(a["terminationMessagePolicy"], "File");
        assert_eq!(a["ports"][0]["protocol"], "TCP");
        assert_eq!(a["resources"]["requests"]["cpu"], "1");
        assert_eq!(
            a["readinessProbe"],
            json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                   "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
        );
        assert_eq!(s["containers"][1]["imagePullPolicy"], "Never");
        assert_eq!(s["containers"][1]["resources"], json!({}));
        assert_eq!(s["containers"][2]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(s["volumes"][0]["configMap"]["defaultMode"], 420);
        assert_eq!(s["volumes"][1]["emptyDir"], json!({}));
        assert_eq!(pull_policy("nginx:latest"), "Always");
        assert_eq!(pull_policy("localhost:5000/nginx"), "Always");
        assert_eq!(pull_policy("localhost:5000/nginx:1"), "IfNotPresent");
    }

    #[test]
    fn workloads() {
        let d = defaulted(
            "apps",
            "Deployment",
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x:1"}]}}}}),
        );
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
        let t = &d["spec"]["template"]["spec"];
        assert_eq!(t["restartPolicy"], "Always");
        assert!(t.get("enableServiceLinks").is_none() && t.get("priority").is_none());
        let recreate = defaulted(
            "apps",
            "Deployment",
            json!({"spec": {"replicas": 0, "strategy": {"type": "Recreate"}}}),
        );
        assert_eq!(recreate["spec"]["replicas"], 0);
        assert!(recreate["spec"]["strategy"].get("rollingUpdate").is_none());
        let sts = defaulted(
            "apps",
            "StatefulSet",
            json!({"spec": {"volumeClaimTemplates": [{"metadata": {"name": "d"}, "spec": {}}]}}),
        );
        assert_eq!(sts["spec"]["podManagementPolicy"], "OrderedReady");
        assert_eq!(
            sts["spec"]["updateStrategy"]["rollingUpdate"]["partition"],
            0
        );
        assert_eq!(
            sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"],
            "Retain"
        );
        assert_eq!(
            sts["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"],
            "Filesystem"
        );
        let ds = defaulted("apps", "DaemonSet", json!({}));
        assert_eq!(
            ds["spec"]["updateStrategy"]["rollingUpdate"],
            json!({"maxUnavailable": 1, "maxSurge": 0})
        );
        let job = defaulted(
            "batch",
            "Job",
            json!({"spec": {"template": {"metadata": {"labels": {"a": "b"}}, "spec": {"restartPolicy": "Never"}}}}),
        );
        assert_eq!(job["metadata"]["labels"], json!({"a": "b"}));
        assert_eq!(job["spec"]["completions"], 1);
        assert_eq!(job["spec"]["parallelism"], 1);
        assert_eq!(job["spec"]["backoffLimit"], 6);
        assert_eq!(job["spec"]["completionMode"], "NonIndexed");
        assert_eq!(job["spec"]["suspend"], false);
        assert_eq!(job["spec"]["podReplacementPolicy"], "TerminatingOrFailed");
        assert_eq!(job["spec"]["template"]["spec"]["restartPolicy"], "Never");
        let par = defaulted("batch", "Job", json!({"spec": {"parallelism": 3}}));
        assert!(par["spec"].get("completions").is_none());
        let cj = defaulted(
            "batch",
            "CronJob",
            json!({"spec": {"schedule": "* * * * *"}}),
        );
        assert_eq!(cj["spec"]["concurrencyPolicy"], "Allow");
        assert_eq!(cj["spec"]["successfulJobsHistoryLimit"], 3);
        assert_eq!(cj["spec"]["failedJobsHistoryLimit"], 1);
    }

    #[test]
    fn services_and_core() {
        let svc = defaulted(
            "",
            "Service",
            json!({"spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 81, "targetPort": "http"}]}}),
        );
        let s = &svc["spec"];
        assert_eq!(s["sessionAffinity"], "None");
        assert_eq!(
            s["ports"][0],
            json!({"port": 80, "protocol": "TCP", "targetPort": 80})
        );
        assert_eq!(s["ports"][1]["targetPort"], "http");
        assert_eq!(s["externalTrafficPolicy"], "Cluster");
        assert_eq!(s["internalTrafficPolicy"], "Cluster");
        assert_eq!(s["ipFamilyPolicy"], "SingleStack");
        assert_eq!(s["ipFamilies"], json!(["IPv4"]));
        assert!(s.get("clusterIP").is_none());
        let cip = defaulted("", "Service", json!({"spec": {"ports": [{"port": 80}]}}));
        assert_eq!(cip["spec"]["type"], "ClusterIP");
        assert!(cip["spec"].get("externalTrafficPolicy").is_none());
        let en = defaulted(
            "",
            "Service",
            json!({"spec": {"type": "ExternalName", "externalName": "a.b"}}),
        );
        assert!(en["spec"].get("ipFamilies").is_none());
        assert_eq!(defaulted("", "Secret", json!({}))["type"], "Opaque");
        assert_eq!(
            defaulted("", "Secret", json!({"type": "kubernetes.io/tls"}))["type"],
            "kubernetes.io/tls"
        );
        let ns = defaulted("", "Namespace", json!({"metadata": {"name": "dev"}}));
        assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
        assert_eq!(ns["status"]["phase"], "Active");
        assert_eq!(
            ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
            "dev"
        );
        let pv = defaulted("", "PersistentVolume", json!({"spec": {}}));
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(pv["spec"]["volumeMode"], "Filesystem");
        let pvc = defaulted("", "PersistentVolumeClaim", json!({"spec": {}}));
        assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
        let sc = defaulted(
            "storage.k8s.io",
            "StorageClass",
            json!({"provisioner": "x"}),
        );
        assert_eq!(sc["reclaimPolicy"], "Delete");
        let hpa = defaulted(
            "autoscaling",
            "HorizontalPodAutoscaler",
            json!({"spec": {"maxReplicas": 3}}),
        );
        assert_eq!(hpa["spec"]["minReplicas"], 1);
        assert_eq!(
            hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            80
        );
        let rb = defaulted(
            "rbac.authorization.k8s.io",
            "RoleBinding",
            json!({"subjects": [{"kind": "User", "name": "u"}, {"kind": "ServiceAccount", "name": "s"}]}),
        );
        assert_eq!(rb["subjects"][0]["apiGroup"], "rbac.authorization.k8s.io");
        assert!(rb["subjects"][1].get("apiGroup").is_none());
    }
}
