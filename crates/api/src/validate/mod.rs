//! Per-kind validation as kube-apiserver does on create and update
//! (`pkg/apis/*/validation`), with its field paths and messages.
//!
//! The server runs [`validate_create`] / [`validate_update`] after defaulting
//! ([`crate::defaults::apply`]) and answers a non-empty list with
//! [`crate::error::ApiError::invalid`] (422). `uid`, `creationTimestamp` and allocated
//! fields (cluster IPs, node ports, a Job's generated selector) are the server's to set before
//! calling these.

pub mod names;
pub mod pod;

use serde_json::{Map, Value};

use crate::error::{FieldError, FieldErrorKind};
use crate::selector::LabelSelector;

/// The largest total size of an object's annotations (keys plus values).
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;
/// The largest total size of a ConfigMap's or Secret's data.
pub const MAX_DATA_SIZE: usize = 1024 * 1024;

fn s<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

fn items<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Which name syntax a kind's objects must have.
fn name_check(group: &str, kind: &str) -> fn(&str) -> Vec<String> {
    match (group, kind) {
        ("", "Namespace") => names::dns1123_label,
        ("", "Service") => names::dns1035_label,
        ("", "PersistentVolume" | "PersistentVolumeClaim")
        | (
            "rbac.authorization.k8s.io",
            "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding",
        ) => names::path_segment_name,
        _ => names::dns1123_subdomain,
    }
}

/// `ValidateObjectMeta`: name/generateName, namespace scoping, labels, annotations,
/// finalizers.
fn validate_meta(group: &str, kind: &str, namespaced: bool, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let check = name_check(group, kind);
    let name = s(obj, "/metadata/name").unwrap_or("");
    let generate = s(obj, "/metadata/generateName").unwrap_or("");
    if !generate.is_empty() {
        // The generated suffix makes a trailing '-' fine.
        let masked = match generate.strip_suffix('-') {
            Some(m) => format!("{m}a"),
            None => generate.to_string(),
        };
        for msg in check(&masked) {
            errs.push(FieldError::invalid(
                "metadata.generateName",
                Value::from(generate),
                msg,
            ));
        }
    }
    if name.is_empty() {
        if generate.is_empty() {
            errs.push(FieldError::required(
                "metadata.name",
                "name or generateName is required",
            ));
        }
    } else {
        for msg in check(name) {
            errs.push(FieldError::invalid("metadata.name", Value::from(name), msg));
        }
    }
    let ns = s(obj, "/metadata/namespace").unwrap_or("");
    if namespaced {
        if ns.is_empty() {
            errs.push(FieldError::required("metadata.namespace", ""));
        } else {
            for msg in names::dns1123_label(ns) {
                errs.push(FieldError::invalid(
                    "metadata.namespace",
                    Value::from(ns),
                    msg,
                ));
            }
        }
    } else if !ns.is_empty() {
        errs.push(FieldError::forbidden(
            "metadata.namespace",
            "not allowed on this type",
        ));
    }
    errs.extend(validate_labels(
        obj.pointer("/metadata/labels"),
        "metadata.labels",
    ));
    if let Some(ann) = obj
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    {
        let mut total = 0;
        for (k, v) in ann {
            for msg in names::qualified_name(&k.to_ascii_lowercase()) {
                errs.push(FieldError::invalid(
                    "metadata.annotations",
                    Value::from(k.as_str()),
                    msg,
                ));
            }
            total += k.len() + v.as_str().map_or(0, str::len);
        }
        if total > TOTAL_ANNOTATION_SIZE_LIMIT {
            errs.push(FieldError::new(
                FieldErrorKind::TooLong,
                "metadata.annotations",
                None,
                format!("may not be more than {TOTAL_ANNOTATION_SIZE_LIMIT} bytes"),
            ));
        }
    }
    for (i, f) in items(obj, "/metadata/finalizers").iter().enumerate() {
        let f = f.as_str().unwrap_or("");
        for msg in names::qualified_name(f) {
            errs.push(FieldError::invalid(
                format!("metadata.finalizers[{i}]"),
                Value::from(f),
                msg,
            ));
        }
    }
    errs
}

/// `ValidateLabels`: keys are qualified names, values label values; both reported at `path`.
fn validate_labels(labels: Option<&Value>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(m) = labels.and_then(Value::as_object) {
        for (k, v) in m {
            for msg in names::qualified_name(k) {
                errs.push(FieldError::invalid(path, Value::from(k.as_str()), msg));
            }
            let v = v.as_str().unwrap_or("");
            for msg in names::label_value(v) {
                errs.push(FieldError::invalid(path, Value::from(v), msg));
            }
        }
    }
    errs
}

/// Validates an object of `group`/`kind` on create: its metadata and the kind's own rules.
pub fn validate_create(group: &str, kind: &str, namespaced: bool, obj: &Value) -> Vec<FieldError> {
    let mut errs = validate_meta(group, kind, namespaced, obj);
    errs.extend(validate_kind(group, kind, obj));
    errs
}

/// Validates an update of `old` to `new`: everything [`validate_create`] checks, plus the
/// fields that may not change.
pub fn validate_update(
    group: &str,
    kind: &str,
    namespaced: bool,
    old: &Value,
    new: &Value,
) -> Vec<FieldError> {
    let mut errs = validate_meta(group, kind, namespaced, new);
    for (field, ptr) in [
        ("metadata.name", "/metadata/name"),
        ("metadata.namespace", "/metadata/namespace"),
    ] {
        let (o, n) = (s(old, ptr).unwrap_or(""), s(new, ptr).unwrap_or(""));
        if o != n {
            errs.push(FieldError::immutable(field, Value::from(n)));
        }
    }
    errs.extend(validate_kind(group, kind, new));
    errs.extend(validate_immutable(group, kind, old, new));
    errs
}

fn validate_kind(group: &str, kind: &str, obj: &Value) -> Vec<FieldError> {
    match (group, kind) {
        ("", "Pod") => obj
            .get("spec")
            .map(|sp| pod::validate_spec(sp, "spec", None))
            .unwrap_or_else(|| vec![FieldError::required("spec.containers", "")]),
        ("apps", "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet") => workload(kind, obj),
        ("", "ReplicationController") => {
            let mut errs = Vec::new();
            nonnegative(&mut errs, obj, "/spec/replicas", "spec.replicas");
            template(
                &mut errs,
                obj,
                "/spec/template",
                "spec.template",
                Some(&["Always"]),
            );
            errs
        }
        ("batch", "Job") => job(obj, "/spec", "spec"),
        ("batch", "CronJob") => cronjob(obj),
        ("", "Service") => service(obj),
        ("", "ConfigMap") => data_keys(obj, true),
        ("", "Secret") => secret(obj),
        _ => vec![],
    }
}

fn nonnegative(errs: &mut Vec<FieldError>, obj: &Value, ptr: &str, path: &str) {
    if let Some(n) = obj.pointer(ptr).and_then(Value::as_i64)
        && n < 0
    {
        errs.push(FieldError::invalid(
            path,
            Value::from(n),
            "must be greater than or equal to 0",
        ));
    }
}

fn template(
    errs: &mut Vec<FieldError>,
    obj: &Value,
    ptr: &str,
    path: &str,
    restart: Option<&[&str]>,
) {
    match obj.pointer(ptr) {
        None | Some(Value::Null) => errs.push(FieldError::required(path, "")),
        Some(t) => {
            errs.extend(validate_labels(
                t.pointer("/metadata/labels"),
                &format!("{path}.metadata.labels"),
            ));
            match t.get("spec") {
                Some(sp) => errs.extend(pod::validate_spec(sp, &format!("{path}.spec"), restart)),
                None => errs.push(FieldError::required(format!("{path}.spec.containers"), "")),
            }
        }
    }
}

/// The selector rules of workloads: required, non-empty, valid, matching the template.
fn selector(
    errs: &mut Vec<FieldError>,
    obj: &Value,
    spec_ptr: &str,
    spec_path: &str,
    kind: &str,
    required: bool,
) {
    let sel = obj
        .pointer(&format!("{spec_ptr}/selector"))
        .filter(|v| !v.is_null());
    let Some(sel) = sel else {
        if required {
            errs.push(FieldError::required(format!("{spec_path}.selector"), ""));
        }
        return;
    };
    let parsed = match LabelSelector::from_api(sel) {
        Ok(p) => p,
        Err(e) => {
            errs.push(FieldError::invalid(
                format!("{spec_path}.selector"),
                sel.clone(),
                e,
            ));
            return;
        }
    };
    if parsed.is_empty() {
        errs.push(FieldError::invalid(
            format!("{spec_path}.selector"),
            sel.clone(),
            format!(
                "empty selector is invalid for {}",
                kind.to_ascii_lowercase()
            ),
        ));
        return;
    }
    let labels = obj.pointer(&format!("{spec_ptr}/template/metadata/labels"));
    if !parsed.matches(labels.and_then(Value::as_object)) {
        errs.push(FieldError::invalid(
            format!("{spec_path}.template.metadata.labels"),
            labels.cloned().unwrap_or(Value::Null),
            "`selector` does not match template `labels`",
        ));
    }
}

fn workload(kind: &str, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    selector(&mut errs, obj, "/spec", "spec", kind, true);
    nonnegative(&mut errs, obj, "/spec/replicas", "spec.replicas");
    nonnegative(
        &mut errs,
        obj,
        "/spec/minReadySeconds",
        "spec.minReadySeconds",
    );
    nonnegative(
        &mut errs,
        obj,
        "/spec/revisionHistoryLimit",
        "spec.revisionHistoryLimit",
    );
    template(
        &mut errs,
        obj,
        "/spec/template",
        "spec.template",
        Some(&["Always"]),
    );
    match kind {
        "Deployment" => {
            match s(obj, "/spec/strategy/type") {
                Some("Recreate") => {
                    if obj
                        .pointer("/spec/strategy/rollingUpdate")
                        .is_some_and(|v| !v.is_null())
                    {
                        errs.push(FieldError::forbidden(
                            "spec.strategy.rollingUpdate",
                            "may not be specified when strategy `type` is 'Recreate'",
                        ));
                    }
                }
                Some("RollingUpdate") | None => {
                    let zero = |p: &str| match obj.pointer(p) {
                        Some(Value::Number(n)) => n.as_i64() == Some(0),
                        Some(Value::String(s)) => s == "0%" || s == "0",
                        _ => false,
                    };
                    if zero("/spec/strategy/rollingUpdate/maxUnavailable")
                        && zero("/spec/strategy/rollingUpdate/maxSurge")
                    {
                        errs.push(FieldError::invalid(
                            "spec.strategy.rollingUpdate.maxUnavailable",
                            obj.pointer("/spec/strategy/rollingUpdate/maxUnavailable")
                                .cloned()
                                .unwrap_or(Value::Null),
                            "may not be 0 when `maxSurge` is 0",
                        ));
                    }
                }
                Some(other) => errs.push(FieldError::not_supported(
                    "spec.strategy.type",
                    Value::from(other),
                    &["Recreate", "RollingUpdate"],
                )),
            }
            if let (Some(pd), min) = (
                obj.pointer("/spec/progressDeadlineSeconds")
                    .and_then(Value::as_i64),
                obj.pointer("/spec/minReadySeconds")
                    .and_then(Value::as_i64)
                    .unwrap_or(0),
            ) && pd <= min
            {
                errs.push(FieldError::invalid(
                    "spec.progressDeadlineSeconds",
                    Value::from(pd),
                    "must be greater than minReadySeconds",
                ));
            }
        }
        "StatefulSet" => {
            if let Some(p) = s(obj, "/spec/podManagementPolicy")
                && !["OrderedReady", "Parallel"].contains(&p)
            {
                errs.push(FieldError::not_supported(
                    "spec.podManagementPolicy",
                    Value::from(p),
                    &["OrderedReady", "Parallel"],
                ));
            }
            if let Some(t) = s(obj, "/spec/updateStrategy/type")
                && !["OnDelete", "RollingUpdate"].contains(&t)
            {
                errs.push(FieldError::not_supported(
                    "spec.updateStrategy.type",
                    Value::from(t),
                    &["OnDelete", "RollingUpdate"],
                ));
            }
        }
        "DaemonSet" => {
            if let Some(t) = s(obj, "/spec/updateStrategy/type")
                && !["OnDelete", "RollingUpdate"].contains(&t)
            {
                errs.push(FieldError::not_supported(
                    "spec.updateStrategy.type",
                    Value::from(t),
                    &["OnDelete", "RollingUpdate"],
                ));
            }
        }
        _ => {}
    }
    errs
}

fn job(obj: &Value, spec_ptr: &str, spec_path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    // The server generates the selector unless manualSelector is set, so it is checked only
    // when present.
    selector(&mut errs, obj, spec_ptr, spec_path, "Job", false);
    for f in [
        "parallelism",
        "completions",
        "backoffLimit",
        "activeDeadlineSeconds",
        "ttlSecondsAfterFinished",
    ] {
        nonnegative(
            &mut errs,
            obj,
            &format!("{spec_ptr}/{f}"),
            &format!("{spec_path}.{f}"),
        );
    }
    if let Some(m) = s(obj, &format!("{spec_ptr}/completionMode"))
        && !["Indexed", "NonIndexed"].contains(&m)
    {
        errs.push(FieldError::not_supported(
            format!("{spec_path}.completionMode"),
            Value::from(m),
            &["NonIndexed", "Indexed"],
        ));
    }
    template(
        &mut errs,
        obj,
        &format!("{spec_ptr}/template"),
        &format!("{spec_path}.template"),
        Some(&["OnFailure", "Never"]),
    );
    errs
}

fn cronjob(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match s(obj, "/spec/schedule") {
        None | Some("") => errs.push(FieldError::required("spec.schedule", "")),
        Some(sched) => {
            let fields = sched.split_whitespace().count();
            if !sched.starts_with('@')
                && fields != 5
                && !sched.starts_with("TZ=")
                && !sched.starts_with("CRON_TZ=")
            {
                errs.push(FieldError::invalid(
                    "spec.schedule",
                    Value::from(sched),
                    format!("expected exactly 5 fields, found {fields}: {sched}"),
                ));
            }
        }
    }
    if let Some(p) = s(obj, "/spec/concurrencyPolicy")
        && !["Allow", "Forbid", "Replace"].contains(&p)
    {
        errs.push(FieldError::not_supported(
            "spec.concurrencyPolicy",
            Value::from(p),
            &["Allow", "Forbid", "Replace"],
        ));
    }
    if let Some(n) = s(obj, "/metadata/name")
        && n.len() > 52
    {
        errs.push(FieldError::invalid(
            "metadata.name",
            Value::from(n),
            names::max_len_error(52),
        ));
    }
    errs.extend(job(obj, "/spec/jobTemplate/spec", "spec.jobTemplate.spec"));
    errs
}

const SERVICE_TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];

fn service(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ty = s(obj, "/spec/type").unwrap_or("ClusterIP");
    if !SERVICE_TYPES.contains(&ty) {
        errs.push(FieldError::not_supported(
            "spec.type",
            Value::from(ty),
            SERVICE_TYPES,
        ));
    }
    let cluster_ip = s(obj, "/spec/clusterIP").unwrap_or("");
    let headless = cluster_ip == "None";
    let ports = items(obj, "/spec/ports");
    if ports.is_empty() && !headless && ty != "ExternalName" {
        errs.push(FieldError::required("spec.ports", ""));
    }
    if ty == "ExternalName" {
        match s(obj, "/spec/externalName") {
            None | Some("") => errs.push(FieldError::required("spec.externalName", "")),
            Some(n) => {
                for msg in names::dns1123_subdomain(n.trim_end_matches('.')) {
                    errs.push(FieldError::invalid(
                        "spec.externalName",
                        Value::from(n),
                        msg,
                    ));
                }
            }
        }
    }
    let mut ips: Vec<&str> = items(obj, "/spec/clusterIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if ips.is_empty() && !cluster_ip.is_empty() {
        ips.push(cluster_ip);
    }
    for (i, ip) in ips.iter().enumerate() {
        if *ip == "None" {
            if i > 0 || ips.len() > 1 {
                errs.push(FieldError::invalid(
                    format!("spec.clusterIPs[{i}]"),
                    Value::from(*ip),
                    "'None' must be the first and only value",
                ));
            }
        } else if !ip.is_empty() && !names::is_ip(ip) {
            errs.push(FieldError::invalid(
                format!("spec.clusterIPs[{i}]"),
                Value::from(*ip),
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ));
        }
    }
    if let Some(aff) = s(obj, "/spec/sessionAffinity")
        && !["ClientIP", "None"].contains(&aff)
    {
        errs.push(FieldError::not_supported(
            "spec.sessionAffinity",
            Value::from(aff),
            &["ClientIP", "None"],
        ));
    }
    let mut port_names = std::collections::HashSet::new();
    let mut seen_ports = std::collections::HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let path = format!("spec.ports[{i}]");
        match p.get("name").and_then(Value::as_str).unwrap_or("") {
            "" if ports.len() > 1 => errs.push(FieldError::required(format!("{path}.name"), "")),
            "" => {}
            n => {
                for msg in names::dns1123_label(n) {
                    errs.push(FieldError::invalid(
                        format!("{path}.name"),
                        Value::from(n),
                        msg,
                    ));
                }
                if !port_names.insert(n.to_string()) {
                    errs.push(FieldError::duplicate(
                        format!("{path}.name"),
                        Value::from(n),
                    ));
                }
            }
        }
        pod::port_number(&mut errs, &format!("{path}.port"), p.get("port"), true);
        pod::protocol(&mut errs, &format!("{path}.protocol"), p.get("protocol"));
        let key = (
            p.get("port").and_then(Value::as_i64),
            p.get("protocol")
                .and_then(Value::as_str)
                .map(str::to_string),
        );
        if !seen_ports.insert(key) {
            errs.push(FieldError::duplicate(
                path.clone(),
                serde_json::json!({"port": p.get("port"), "protocol": p.get("protocol")}),
            ));
        }
        match p.get("targetPort") {
            Some(Value::Number(n)) => {
                let n = n.as_i64().unwrap_or(-1);
                if !(1..=65535).contains(&n) {
                    errs.push(FieldError::invalid(
                        format!("{path}.targetPort"),
                        Value::from(n),
                        "must be between 1 and 65535, inclusive",
                    ));
                }
            }
            Some(Value::String(name)) => {
                for msg in names::port_name(name) {
                    errs.push(FieldError::invalid(
                        format!("{path}.targetPort"),
                        Value::from(name.as_str()),
                        msg,
                    ));
                }
            }
            _ => {}
        }
        if let Some(np) = p
            .get("nodePort")
            .and_then(Value::as_i64)
            .filter(|n| *n != 0)
        {
            if ty == "ClusterIP" || ty == "ExternalName" {
                errs.push(FieldError::forbidden(
                    format!("{path}.nodePort"),
                    format!("may not be used when `type` is '{ty}'"),
                ));
            } else if !(30000..=32767).contains(&np) {
                errs.push(FieldError::invalid(
                    format!("{path}.nodePort"),
                    Value::from(np),
                    "provided port is not in the valid range. The range of valid ports is 30000-32767",
                ));
            }
        }
    }
    if let Some(sel) = obj.pointer("/spec/selector") {
        errs.extend(validate_labels(Some(sel), "spec.selector"));
    }
    for (i, ip) in items(obj, "/spec/externalIPs").iter().enumerate() {
        let ip = ip.as_str().unwrap_or("");
        if !names::is_ip(ip) {
            errs.push(FieldError::invalid(
                format!("spec.externalIPs[{i}]"),
                Value::from(ip),
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ));
        }
    }
    for (field, allowed) in [
        ("externalTrafficPolicy", &["Cluster", "Local"][..]),
        ("internalTrafficPolicy", &["Cluster", "Local"][..]),
        (
            "ipFamilyPolicy",
            &["PreferDualStack", "RequireDualStack", "SingleStack"][..],
        ),
    ] {
        if let Some(v) = s(obj, &format!("/spec/{field}"))
            && !allowed.contains(&v)
        {
            errs.push(FieldError::not_supported(
                format!("spec.{field}"),
                Value::from(v),
                allowed,
            ));
        }
    }
    if (ty == "ClusterIP" || ty == "ExternalName")
        && let Some(p) = s(obj, "/spec/externalTrafficPolicy")
    {
        errs.push(FieldError::invalid(
            "spec.externalTrafficPolicy",
            Value::from(p),
            "may only be set for externally-accessible services",
        ));
    }
    errs
}

fn data_keys(obj: &Value, binary: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0;
    let data = obj.get("data").and_then(Value::as_object);
    for (k, v) in data.into_iter().flatten() {
        for msg in names::config_map_key(k) {
            errs.push(FieldError::invalid(
                format!("data[{k}]"),
                Value::from(k.as_str()),
                msg,
            ));
        }
        total += v.as_str().map_or(0, str::len);
    }
    if binary {
        for (k, v) in obj
            .get("binaryData")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            for msg in names::config_map_key(k) {
                errs.push(FieldError::invalid(
                    format!("binaryData[{k}]"),
                    Value::from(k.as_str()),
                    msg,
                ));
            }
            if data.is_some_and(|d| d.contains_key(k)) {
                errs.push(FieldError::invalid(
                    format!("data[{k}]"),
                    Value::from(k.as_str()),
                    "duplicate of key present in binaryData",
                ));
            }
            total += v.as_str().map_or(0, |b| b.len() * 3 / 4);
        }
    }
    if total > MAX_DATA_SIZE {
        errs.push(FieldError::new(
            FieldErrorKind::TooLong,
            "",
            None,
            format!("may not be more than {MAX_DATA_SIZE} bytes"),
        ));
    }
    errs
}

fn secret(obj: &Value) -> Vec<FieldError> {
    let mut errs = data_keys(obj, false);
    for (k, _) in obj
        .get("stringData")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for msg in names::config_map_key(k) {
            errs.push(FieldError::invalid(
                format!("stringData[{k}]"),
                Value::from(k.as_str()),
                msg,
            ));
        }
    }
    let has = |k: &str| {
        obj.get("data").and_then(|d| d.get(k)).is_some()
            || obj.get("stringData").and_then(|d| d.get(k)).is_some()
    };
    let required: &[&str] = match s(obj, "/type").unwrap_or("Opaque") {
        "kubernetes.io/tls" => &["tls.crt", "tls.key"],
        "kubernetes.io/dockerconfigjson" => &[".dockerconfigjson"],
        "kubernetes.io/dockercfg" => &[".dockercfg"],
        "kubernetes.io/ssh-auth" => &["ssh-privatekey"],
        _ => &[],
    };
    for k in required {
        if !has(k) {
            errs.push(FieldError::required(format!("data[{k}]"), ""));
        }
    }
    match s(obj, "/type") {
        Some("kubernetes.io/service-account-token")
            if s(
                obj,
                "/metadata/annotations/kubernetes.io~1service-account.name",
            )
            .is_none_or(str::is_empty) =>
        {
            errs.push(FieldError::required(
                "metadata.annotations[kubernetes.io/service-account.name]",
                "",
            ));
        }
        Some("kubernetes.io/basic-auth") if !has("username") && !has("password") => {
            errs.push(FieldError::required("data[username]", ""));
            errs.push(FieldError::required("data[password]", ""));
        }
        _ => {}
    }
    errs
}

// ---- updates ----

fn changed(old: &Value, new: &Value, ptr: &str) -> bool {
    let norm = |v: Option<&Value>| v.filter(|x| !x.is_null()).cloned();
    norm(old.pointer(ptr)) != norm(new.pointer(ptr))
}

fn immutable(errs: &mut Vec<FieldError>, old: &Value, new: &Value, ptr: &str, path: &str) {
    if changed(old, new, ptr) {
        errs.push(FieldError::immutable(
            path,
            new.pointer(ptr).cloned().unwrap_or(Value::Null),
        ));
    }
}

fn validate_immutable(group: &str, kind: &str, old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match (group, kind) {
        ("", "Pod") => errs.extend(pod::validate_spec_update(old, new)),
        ("apps", "Deployment" | "ReplicaSet" | "DaemonSet") => {
            immutable(&mut errs, old, new, "/spec/selector", "spec.selector")
        }
        ("apps", "StatefulSet") => {
            let mut o = old.get("spec").cloned().unwrap_or(Value::Null);
            let n = new.get("spec").cloned().unwrap_or(Value::Null);
            if let (Some(om), Some(nm)) = (o.as_object_mut(), n.as_object()) {
                for k in [
                    "replicas",
                    "ordinals",
                    "template",
                    "updateStrategy",
                    "persistentVolumeClaimRetentionPolicy",
                    "minReadySeconds",
                ] {
                    match nm.get(k) {
                        Some(v) => {
                            om.insert(k.to_string(), v.clone());
                        }
                        None => {
                            om.remove(k);
                        }
                    }
                }
            }
            if o != n {
                errs.push(FieldError::forbidden(
                    "spec",
                    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
                ));
            }
        }
        ("batch", "Job") => {
            immutable(&mut errs, old, new, "/spec/selector", "spec.selector");
            immutable(
                &mut errs,
                old,
                new,
                "/spec/completionMode",
                "spec.completionMode",
            );
            let indexed = s(new, "/spec/completionMode") == Some("Indexed");
            if !indexed {
                immutable(&mut errs, old, new, "/spec/completions", "spec.completions");
            }
            // A suspended Job that never started may change its template's scheduling
            // directives; the rest of the template stays.
            let mut ot = old
                .pointer("/spec/template")
                .cloned()
                .unwrap_or(Value::Null);
            let nt = new
                .pointer("/spec/template")
                .cloned()
                .unwrap_or(Value::Null);
            let suspended = new.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true)
                && old.pointer("/status/startTime").is_none_or(Value::is_null);
            if suspended
                && let (Some(os), Some(ns)) = (
                    ot.get_mut("spec").and_then(Value::as_object_mut),
                    nt.get("spec"),
                )
            {
                for k in ["nodeSelector", "tolerations", "affinity", "schedulingGates"] {
                    match ns.get(k) {
                        Some(v) => {
                            os.insert(k.to_string(), v.clone());
                        }
                        None => {
                            os.remove(k);
                        }
                    }
                }
                if let (Some(om), Some(nm)) = (
                    ot.get_mut("metadata").and_then(Value::as_object_mut),
                    nt.get("metadata").and_then(Value::as_object),
                ) {
                    for k in ["labels", "annotations"] {
                        if let Some(v) = nm.get(k) {
                            om.insert(k.to_string(), v.clone());
                        }
                    }
                }
            }
            if ot != nt {
                errs.push(FieldError::immutable("spec.template", nt));
            }
        }
        ("", "Service") => {
            let old_ty = s(old, "/spec/type").unwrap_or("ClusterIP");
            let new_ty = s(new, "/spec/type").unwrap_or("ClusterIP");
            let primary = |v: &Value| {
                s(v, "/spec/clusterIPs/0")
                    .or_else(|| s(v, "/spec/clusterIP"))
                    .unwrap_or("")
                    .to_string()
            };
            let (op, np) = (primary(old), primary(new));
            if old_ty != "ExternalName" && new_ty != "ExternalName" && !op.is_empty() && op != np {
                let value = new
                    .pointer("/spec/clusterIPs")
                    .cloned()
                    .unwrap_or_else(|| Value::Array(vec![Value::from(np.clone())]));
                errs.push(FieldError::invalid(
                    "spec.clusterIPs[0]",
                    value,
                    "may not change once set",
                ));
            }
        }
        ("", "ConfigMap" | "Secret") => {
            if old.get("immutable").and_then(Value::as_bool) == Some(true) {
                if new.get("immutable").and_then(Value::as_bool) != Some(true) {
                    errs.push(FieldError::forbidden(
                        "immutable",
                        "field is immutable when `immutable` is set",
                    ));
                }
                for k in ["data", "binaryData"] {
                    let norm = |v: &Value| {
                        v.get(k)
                            .and_then(Value::as_object)
                            .cloned()
                            .unwrap_or_else(Map::new)
                    };
                    if kind == "Secret" && k == "binaryData" {
                        continue;
                    }
                    if norm(old) != norm(new) {
                        errs.push(FieldError::forbidden(
                            k,
                            "field is immutable when `immutable` is set",
                        ));
                    }
                }
            }
            if kind == "Secret" {
                immutable(&mut errs, old, new, "/type", "type");
            }
        }
        ("", "PersistentVolumeClaim") => {
            let mut o = old.get("spec").cloned().unwrap_or(Value::Null);
            let n = new.get("spec").cloned().unwrap_or(Value::Null);
            if let (Some(om), Some(nm)) = (o.as_object_mut(), n.as_object()) {
                for k in ["resources", "volumeName", "volumeAttributesClassName"] {
                    match nm.get(k) {
                        Some(v) => {
                            om.insert(k.to_string(), v.clone());
                        }
                        None => {
                            om.remove(k);
                        }
                    }
                }
            }
            if o != n {
                errs.push(FieldError::forbidden(
                    "spec",
                    "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
                ));
            }
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding")
            if changed(old, new, "/roleRef") =>
        {
            errs.push(FieldError::invalid(
                "roleRef",
                new.get("roleRef").cloned().unwrap_or(Value::Null),
                "cannot change roleRef",
            ));
        }
        ("storage.k8s.io", "StorageClass") => {
            for f in [
                "parameters",
                "provisioner",
                "reclaimPolicy",
                "volumeBindingMode",
            ] {
                if changed(old, new, &format!("/{f}")) {
                    errs.push(FieldError::forbidden(
                        f,
                        "updates to {f} are forbidden.".replace("{f}", f),
                    ));
                }
            }
        }
        _ => {}
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use serde_json::json;

    fn deployment() -> Value {
        let mut d = json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "nginx", "image": "nginx:1"}]}}}
        });
        crate::defaults::apply("apps", "Deployment", &mut d);
        d
    }

    fn msgs(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn metadata_rules() {
        let errs = validate_create(
            "",
            "ConfigMap",
            true,
            &json!({"metadata": {"namespace": "d"}}),
        );
        assert_eq!(
            msgs(&errs),
            ["metadata.name: Required value: name or generateName is required"]
        );
        let errs = validate_create(
            "",
            "ConfigMap",
            true,
            &json!({"metadata": {"name": "Bad_Name", "namespace": "d"}}),
        );
        assert_eq!(
            msgs(&errs),
            [
                "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ]
        );
        assert!(
            validate_create(
                "",
                "ConfigMap",
                true,
                &json!({"metadata": {"generateName": "cm-", "namespace": "d"}})
            )
            .is_empty()
        );
        let errs = validate_create(
            "",
            "Namespace",
            false,
            &json!({"metadata": {"name": "a.b"}}),
        );
        assert!(msgs(&errs)[0].contains("RFC 1123 label"));
        let errs = validate_create(
            "",
            "Namespace",
            false,
            &json!({"metadata": {"name": "a", "namespace": "x"}}),
        );
        assert_eq!(
            msgs(&errs),
            ["metadata.namespace: Forbidden: not allowed on this type"]
        );
        let errs = validate_create(
            "",
            "Service",
            true,
            &json!({"metadata": {"name": "1web", "namespace": "d"}, "spec": {"clusterIP": "None"}}),
        );
        assert!(msgs(&errs)[0].contains("DNS-1035 label"), "{errs:?}");
        assert!(
            validate_create(
                "rbac.authorization.k8s.io",
                "ClusterRole",
                false,
                &json!({"metadata": {"name": "system:admin"}})
            )
            .is_empty()
        );
        let errs = validate_create(
            "",
            "ConfigMap",
            true,
            &json!({"metadata": {"name": "c", "namespace": "d", "labels": {"a b": "x", "ok": "-bad"}}}),
        );
        assert_eq!(errs.len(), 2);
        assert!(errs.iter().all(|e| e.field == "metadata.labels"));
        let big = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
        let errs = validate_create(
            "",
            "ConfigMap",
            true,
            &json!({"metadata": {"name": "c", "namespace": "d", "annotations": {"a": big}}}),
        );
        assert_eq!(
            msgs(&errs),
            ["metadata.annotations: Too long: may not be more than 262144 bytes"]
        );
    }

    #[test]
    fn pods() {
        let mut p = json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"containers": [
            {"name": "a", "image": "x", "ports": [{"containerPort": 70000}], "volumeMounts": [{"name": "nope", "mountPath": "/x"}]},
            {"name": "a", "image": ""}
        ], "restartPolicy": "Sometimes"}});
        crate::defaults::apply("", "Pod", &mut p);
        let m = msgs(&validate_create("", "Pod", true, &p));
        assert!(m.contains(&"spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive".to_string()), "{m:?}");
        assert!(
            m.contains(&"spec.containers[0].volumeMounts[0].name: Not found: \"nope\"".to_string()),
            "{m:?}"
        );
        assert!(
            m.contains(&"spec.containers[1].name: Duplicate value: \"a\"".to_string()),
            "{m:?}"
        );
        assert!(
            m.contains(&"spec.containers[1].image: Required value".to_string()),
            "{m:?}"
        );
        assert!(m.contains(&"spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"Never\", \"OnFailure\"".to_string()), "{m:?}");
        let mut empty =
            json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"containers": []}});
        crate::defaults::apply("", "Pod", &mut empty);
        assert_eq!(
            msgs(&validate_create("", "Pod", true, &empty)),
            ["spec.containers: Required value"]
        );

        let mut ok = json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"containers": [{"name": "a", "image": "x:1"}]}});
        crate::defaults::apply("", "Pod", &mut ok);
        assert!(validate_create("", "Pod", true, &ok).is_empty());
        let mut img = ok.clone();
        img["spec"]["containers"][0]["image"] = json!("x:2");
        assert!(validate_update("", "Pod", true, &ok, &img).is_empty());
        let mut bad = ok.clone();
        bad["spec"]["restartPolicy"] = json!("Never");
        let errs = validate_update("", "Pod", true, &ok, &bad);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].to_string().starts_with("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`"));
    }

    #[test]
    fn workloads() {
        let d = deployment();
        assert!(
            validate_create("apps", "Deployment", true, &d).is_empty(),
            "{:?}",
            validate_create("apps", "Deployment", true, &d)
        );
        let mut mismatch = d.clone();
        mismatch["spec"]["template"]["metadata"]["labels"] = json!({"app": "other"});
        let errs = validate_create("apps", "Deployment", true, &mismatch);
        assert_eq!(
            msgs(&errs),
            [
                "spec.template.metadata.labels: Invalid value: {\"app\":\"other\"}: `selector` does not match template `labels`"
            ]
        );
        let e = ApiError::invalid("apps", "Deployment", "web", &errs);
        assert!(
            e.message
                .starts_with("Deployment.apps \"web\" is invalid: spec.template.metadata.labels")
        );
        let mut nosel = d.clone();
        nosel["spec"]
            .as_object_mut()
            .expect("spec")
            .remove("selector");
        assert!(
            msgs(&validate_create("apps", "Deployment", true, &nosel))
                .contains(&"spec.selector: Required value".to_string())
        );
        let mut neg = d.clone();
        neg["spec"]["replicas"] = json!(-1);
        assert_eq!(
            msgs(&validate_create("apps", "Deployment", true, &neg)),
            ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]
        );
        let mut never = d.clone();
        never["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        assert_eq!(
            msgs(&validate_create("apps", "Deployment", true, &never)),
            [
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""
            ]
        );
        let mut resel = d.clone();
        resel["spec"]["selector"] = json!({"matchLabels": {"app": "web", "x": "y"}});
        resel["spec"]["template"]["metadata"]["labels"]["x"] = json!("y");
        let errs = validate_update("apps", "Deployment", true, &d, &resel);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec.selector");
        assert!(errs[0].to_string().ends_with("field is immutable"));
        let mut scaled = d.clone();
        scaled["spec"]["replicas"] = json!(5);
        assert!(validate_update("apps", "Deployment", true, &d, &scaled).is_empty());
        let mut renamed = d.clone();
        renamed["metadata"]["name"] = json!("other");
        assert!(
            msgs(&validate_update("apps", "Deployment", true, &d, &renamed)).contains(
                &"metadata.name: Invalid value: \"other\": field is immutable".to_string()
            )
        );
    }

    #[test]
    fn statefulsets_and_jobs() {
        let mut sts = deployment();
        sts["spec"]
            .as_object_mut()
            .expect("spec")
            .remove("strategy");
        crate::defaults::apply("apps", "StatefulSet", &mut sts);
        let mut changed_svc = sts.clone();
        changed_svc["spec"]["serviceName"] = json!("other");
        let errs = validate_update("apps", "StatefulSet", true, &sts, &changed_svc);
        assert_eq!(
            msgs(&errs),
            [
                "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
            ]
        );
        let mut scaled = sts.clone();
        scaled["spec"]["replicas"] = json!(3);
        assert!(validate_update("apps", "StatefulSet", true, &sts, &scaled).is_empty());
        let mut job = json!({"metadata": {"name": "j", "namespace": "d"},
                             "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}});
        crate::defaults::apply("batch", "Job", &mut job);
        let m = msgs(&validate_create("batch", "Job", true, &job));
        assert_eq!(
            m,
            [
                "spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""
            ]
        );
        job["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        assert!(validate_create("batch", "Job", true, &job).is_empty());
        let mut new_img = job.clone();
        new_img["spec"]["template"]["spec"]["containers"][0]["image"] = json!("y");
        assert_eq!(
            validate_update("batch", "Job", true, &job, &new_img)[0].field,
            "spec.template"
        );
    }

    #[test]
    fn services() {
        let svc = |spec: Value| {
            let mut v = json!({"metadata": {"name": "web", "namespace": "d"}, "spec": spec});
            crate::defaults::apply("", "Service", &mut v);
            v
        };
        assert_eq!(
            msgs(&validate_create("", "Service", true, &svc(json!({})))),
            ["spec.ports: Required value"]
        );
        assert!(
            validate_create("", "Service", true, &svc(json!({"clusterIP": "None"}))).is_empty()
        );
        assert!(
            validate_create(
                "",
                "Service",
                true,
                &svc(json!({"type": "ExternalName", "externalName": "example.com"}))
            )
            .is_empty()
        );
        let m = msgs(&validate_create(
            "",
            "Service",
            true,
            &svc(json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]})),
        ));
        assert_eq!(
            m,
            [
                "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767"
            ]
        );
        let m = msgs(&validate_create(
            "",
            "Service",
            true,
            &svc(json!({"ports": [{"port": 80}, {"port": 81}], "type": "Bogus"})),
        ));
        assert!(
            m.contains(&"spec.ports[0].name: Required value".to_string()),
            "{m:?}"
        );
        assert!(m.contains(&"spec.type: Unsupported value: \"Bogus\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"".to_string()), "{m:?}");
        let m = msgs(&validate_create(
            "",
            "Service",
            true,
            &svc(json!({"ports": [{"port": 80, "nodePort": 30080}]})),
        ));
        assert_eq!(
            m,
            ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
        );
        let old = svc(
            json!({"ports": [{"port": 80}], "clusterIP": "10.96.0.5", "clusterIPs": ["10.96.0.5"]}),
        );
        let mut new = old.clone();
        new["spec"]["clusterIP"] = json!("10.96.0.6");
        new["spec"]["clusterIPs"] = json!(["10.96.0.6"]);
        assert_eq!(
            msgs(&validate_update("", "Service", true, &old, &new)),
            ["spec.clusterIPs[0]: Invalid value: [\"10.96.0.6\"]: may not change once set"]
        );
    }

    #[test]
    fn config_and_secrets() {
        let cm = json!({"metadata": {"name": "c", "namespace": "d"}, "data": {"a/b": "x", "ok.key": "y"}});
        assert_eq!(
            msgs(&validate_create("", "ConfigMap", true, &cm)),
            [
                "data[a/b]: Invalid value: \"a/b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
            ]
        );
        let old = json!({"metadata": {"name": "c", "namespace": "d"}, "data": {"a": "1"}, "immutable": true});
        let mut new = old.clone();
        new["data"]["a"] = json!("2");
        assert_eq!(
            msgs(&validate_update("", "ConfigMap", true, &old, &new)),
            ["data: Forbidden: field is immutable when `immutable` is set"]
        );
        let tls = json!({"metadata": {"name": "s", "namespace": "d"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}});
        assert_eq!(
            msgs(&validate_create("", "Secret", true, &tls)),
            ["data[tls.key]: Required value"]
        );
        let mut retyped = tls.clone();
        retyped["type"] = json!("Opaque");
        assert!(
            msgs(&validate_update("", "Secret", true, &tls, &retyped))
                .contains(&"type: Invalid value: \"Opaque\": field is immutable".to_string())
        );
    }
}
