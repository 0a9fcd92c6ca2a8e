//! Pod spec validation (`ValidatePodSpec` and `ValidatePodUpdate`), shared by Pods and the
//! pod templates of workloads.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::names;
use crate::error::{FieldError, FieldErrorKind};

const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const RESTART_POLICIES: &[&str] = &["Always", "Never", "OnFailure"];
const DNS_POLICIES: &[&str] = &["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const PORT_RANGE: &str = "must be between 1 and 65535, inclusive";

fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn items<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Checks a port number field (`containerPort`, `hostPort`, `port`).
pub(super) fn port_number(
    errs: &mut Vec<FieldError>,
    path: &str,
    v: Option<&Value>,
    required: bool,
) {
    match v.and_then(Value::as_i64) {
        None | Some(0) if required => errs.push(FieldError::required(path, "")),
        None | Some(0) => {}
        Some(n) if !(1..=65535).contains(&n) => {
            errs.push(FieldError::invalid(path, Value::from(n), PORT_RANGE))
        }
        _ => {}
    }
}

/// Checks a protocol field.
pub(super) fn protocol(errs: &mut Vec<FieldError>, path: &str, v: Option<&Value>) {
    match v.and_then(Value::as_str) {
        None | Some("") => errs.push(FieldError::required(path, "")),
        Some(p) if !PROTOCOLS.contains(&p) => {
            errs.push(FieldError::not_supported(path, Value::from(p), PROTOCOLS))
        }
        _ => {}
    }
}

fn enum_field(errs: &mut Vec<FieldError>, path: &str, v: Option<&str>, allowed: &[&str]) {
    match v {
        None | Some("") => errs.push(FieldError::required(path, "")),
        Some(x) if !allowed.contains(&x) => {
            errs.push(FieldError::not_supported(path, Value::from(x), allowed))
        }
        _ => {}
    }
}

/// Validates a PodSpec at `path` (`spec`, `spec.template.spec`). `restart_policies` narrows
/// what `restartPolicy` may be (workloads: `Always`; Jobs: `OnFailure`, `Never`).
pub fn validate_spec(
    spec: &Value,
    path: &str,
    restart_policies: Option<&[&str]>,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let volumes = validate_volumes(spec, path, &mut errs);
    let containers = items(spec, "containers");
    if containers.is_empty() {
        errs.push(FieldError::required(format!("{path}.containers"), ""));
    }
    let mut names_seen: HashSet<String> = HashSet::new();
    for (key, list) in [
        ("initContainers", items(spec, "initContainers")),
        ("containers", containers),
    ] {
        for (i, c) in list.iter().enumerate() {
            validate_container(
                c,
                &format!("{path}.{key}[{i}]"),
                &volumes,
                &mut names_seen,
                &mut errs,
            );
        }
    }
    match restart_policies {
        Some(allowed) => match s(spec, "restartPolicy") {
            Some(r) if allowed.contains(&r) => {}
            None | Some("") => errs.push(FieldError::required(format!("{path}.restartPolicy"), "")),
            Some(r) => errs.push(FieldError::not_supported(
                format!("{path}.restartPolicy"),
                Value::from(r),
                allowed,
            )),
        },
        None => enum_field(
            &mut errs,
            &format!("{path}.restartPolicy"),
            s(spec, "restartPolicy"),
            RESTART_POLICIES,
        ),
    }
    enum_field(
        &mut errs,
        &format!("{path}.dnsPolicy"),
        s(spec, "dnsPolicy"),
        DNS_POLICIES,
    );
    if let Some(n) = spec
        .get("terminationGracePeriodSeconds")
        .and_then(Value::as_i64)
        && n < 0
    {
        errs.push(FieldError::invalid(
            format!("{path}.terminationGracePeriodSeconds"),
            Value::from(n),
            "must be greater than or equal to 0",
        ));
    }
    if let Some(n) = spec.get("activeDeadlineSeconds").and_then(Value::as_i64)
        && !(1..=i64::from(i32::MAX)).contains(&n)
    {
        errs.push(FieldError::invalid(
            format!("{path}.activeDeadlineSeconds"),
            Value::from(n),
            "must be between 1 and 2147483647, inclusive",
        ));
    }
    if let Some(sa) = s(spec, "serviceAccountName").filter(|x| !x.is_empty()) {
        for msg in names::dns1123_subdomain(sa) {
            errs.push(FieldError::invalid(
                format!("{path}.serviceAccountName"),
                Value::from(sa),
                msg,
            ));
        }
    }
    if let Some(node) = s(spec, "nodeName").filter(|x| !x.is_empty()) {
        for msg in names::dns1123_subdomain(node) {
            errs.push(FieldError::invalid(
                format!("{path}.nodeName"),
                Value::from(node),
                msg,
            ));
        }
    }
    errs
}

fn validate_volumes(spec: &Value, path: &str, errs: &mut Vec<FieldError>) -> HashSet<String> {
    let mut seen = HashSet::new();
    for (i, v) in items(spec, "volumes").iter().enumerate() {
        let vpath = format!("{path}.volumes[{i}]");
        match s(v, "name") {
            None | Some("") => errs.push(FieldError::required(format!("{vpath}.name"), "")),
            Some(n) => {
                for msg in names::dns1123_label(n) {
                    errs.push(FieldError::invalid(
                        format!("{vpath}.name"),
                        Value::from(n),
                        msg,
                    ));
                }
                if !seen.insert(n.to_string()) {
                    errs.push(FieldError::duplicate(
                        format!("{vpath}.name"),
                        Value::from(n),
                    ));
                }
            }
        }
        let sources: Vec<&String> = v
            .as_object()
            .map(|o| {
                o.iter()
                    .filter(|(k, x)| *k != "name" && !x.is_null())
                    .map(|(k, _)| k)
                    .collect()
            })
            .unwrap_or_default();
        if sources.is_empty() {
            errs.push(FieldError::required(
                vpath.clone(),
                "must specify a volume type",
            ));
        } else if sources.len() > 1 {
            errs.push(FieldError::forbidden(
                format!("{vpath}.{}", sources[1]),
                "may not specify more than 1 volume type",
            ));
        }
        for (src, key) in [
            ("configMap", "name"),
            ("persistentVolumeClaim", "claimName"),
            ("secret", "secretName"),
        ] {
            if let Some(x) = v.get(src).filter(|x| x.is_object())
                && s(x, key).is_none_or(str::is_empty)
            {
                errs.push(FieldError::required(format!("{vpath}.{src}.{key}"), ""));
            }
        }
        if let Some(hp) = v.get("hostPath")
            && s(hp, "path").is_none_or(str::is_empty)
        {
            errs.push(FieldError::required(format!("{vpath}.hostPath.path"), ""));
        }
    }
    seen
}

fn validate_container(
    c: &Value,
    path: &str,
    volumes: &HashSet<String>,
    seen: &mut HashSet<String>,
    errs: &mut Vec<FieldError>,
) {
    match s(c, "name") {
        None | Some("") => errs.push(FieldError::required(format!("{path}.name"), "")),
        Some(n) => {
            for msg in names::dns1123_label(n) {
                errs.push(FieldError::invalid(
                    format!("{path}.name"),
                    Value::from(n),
                    msg,
                ));
            }
            if !seen.insert(n.to_string()) {
                errs.push(FieldError::duplicate(
                    format!("{path}.name"),
                    Value::from(n),
                ));
            }
        }
    }
    match s(c, "image") {
        None | Some("") => errs.push(FieldError::required(format!("{path}.image"), "")),
        Some(img) if img.trim() != img => errs.push(FieldError::invalid(
            format!("{path}.image"),
            Value::from(img),
            "must not have leading or trailing whitespace",
        )),
        _ => {}
    }
    enum_field(
        errs,
        &format!("{path}.imagePullPolicy"),
        s(c, "imagePullPolicy"),
        PULL_POLICIES,
    );
    if let Some(p) = s(c, "terminationMessagePolicy")
        && !["File", "FallbackToLogsOnError"].contains(&p)
    {
        errs.push(FieldError::not_supported(
            format!("{path}.terminationMessagePolicy"),
            Value::from(p),
            &["File", "FallbackToLogsOnError"],
        ));
    }
    let mut port_names = HashSet::new();
    for (i, p) in items(c, "ports").iter().enumerate() {
        let ppath = format!("{path}.ports[{i}]");
        if let Some(n) = s(p, "name").filter(|n| !n.is_empty()) {
            for msg in names::port_name(n) {
                errs.push(FieldError::invalid(
                    format!("{ppath}.name"),
                    Value::from(n),
                    msg,
                ));
            }
            if !port_names.insert(n.to_string()) {
                errs.push(FieldError::duplicate(
                    format!("{ppath}.name"),
                    Value::from(n),
                ));
            }
        }
        port_number(
            errs,
            &format!("{ppath}.containerPort"),
            p.get("containerPort"),
            true,
        );
        port_number(errs, &format!("{ppath}.hostPort"), p.get("hostPort"), false);
        protocol(errs, &format!("{ppath}.protocol"), p.get("protocol"));
    }
    for (i, e) in items(c, "env").iter().enumerate() {
        let epath = format!("{path}.env[{i}].name");
        match s(e, "name") {
            None | Some("") => errs.push(FieldError::required(epath, "")),
            Some(n) => {
                for msg in names::env_var_name(n) {
                    errs.push(FieldError::invalid(epath.clone(), Value::from(n), msg));
                }
            }
        }
    }
    let mut mount_paths = HashSet::new();
    for (i, m) in items(c, "volumeMounts").iter().enumerate() {
        let mpath = format!("{path}.volumeMounts[{i}]");
        match s(m, "name") {
            None | Some("") => errs.push(FieldError::required(format!("{mpath}.name"), "")),
            Some(n) if !volumes.contains(n) => errs.push(FieldError::new(
                FieldErrorKind::NotFound,
                format!("{mpath}.name"),
                Some(Value::from(n)),
                "",
            )),
            _ => {}
        }
        match s(m, "mountPath") {
            None | Some("") => errs.push(FieldError::required(format!("{mpath}.mountPath"), "")),
            Some(p) => {
                if !mount_paths.insert(p.to_string()) {
                    errs.push(FieldError::invalid(
                        format!("{mpath}.mountPath"),
                        Value::from(p),
                        "must be unique",
                    ));
                }
            }
        }
    }
}

const POD_UPDATE_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// `ValidatePodUpdate`'s spec rule: only images, `activeDeadlineSeconds`, added tolerations,
/// removed scheduling gates and a set `nodeName` may change.
pub fn validate_spec_update(old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let (Some(old_spec), Some(new_spec)) = (old.get("spec"), new.get("spec")) else {
        return errs;
    };
    if let (Some(o), Some(n)) = (
        old_spec
            .get("activeDeadlineSeconds")
            .and_then(Value::as_i64),
        new_spec.get("activeDeadlineSeconds"),
    ) {
        match n.as_i64() {
            Some(n) if n <= o => {}
            _ => errs.push(FieldError::invalid(
                "spec.activeDeadlineSeconds",
                n.clone(),
                "must be less than or equal to previous value",
            )),
        }
    }
    // Start from the new spec and put back what may change, then compare.
    let mut relaxed = new_spec.clone();
    if let Some(r) = relaxed.as_object_mut() {
        for key in ["containers", "initContainers"] {
            let old_list = items(old_spec, key);
            if let Some(Value::Array(list)) = r.get_mut(key)
                && list.len() == old_list.len()
            {
                for (c, oc) in list.iter_mut().zip(old_list) {
                    if let (Some(c), Some(img)) = (c.as_object_mut(), oc.get("image")) {
                        c.insert("image".to_string(), img.clone());
                    }
                }
            }
        }
        copy_key(r, old_spec, "activeDeadlineSeconds");
        let old_tol = items(old_spec, "tolerations");
        let new_tol = items(new_spec, "tolerations");
        if old_tol.iter().all(|t| new_tol.contains(t)) {
            copy_key(r, old_spec, "tolerations");
        }
        let old_gates = items(old_spec, "schedulingGates");
        if items(new_spec, "schedulingGates")
            .iter()
            .all(|g| old_gates.contains(g))
        {
            copy_key(r, old_spec, "schedulingGates");
        }
        if s(old_spec, "nodeName").is_none_or(str::is_empty) {
            copy_key(r, old_spec, "nodeName");
        }
        if old_spec
            .get("terminationGracePeriodSeconds")
            .and_then(Value::as_i64)
            .is_some_and(|g| g < 0)
            && new_spec
                .get("terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
                == Some(1)
        {
            copy_key(r, old_spec, "terminationGracePeriodSeconds");
        }
    }
    if &relaxed != old_spec {
        errs.push(FieldError::forbidden(
            "spec",
            format!(
                "pod updates may not change fields other than {POD_UPDATE_FIELDS}\n{}",
                spec_diff(old_spec, &relaxed)
            ),
        ));
    }
    errs
}

fn copy_key(r: &mut Map<String, Value>, from: &Value, key: &str) {
    match from.get(key) {
        Some(v) => {
            r.insert(key.to_string(), v.clone());
        }
        None => {
            r.remove(key);
        }
    }
}

/// A short description of which spec fields differ, in the spirit of upstream's diff.
fn spec_diff(old: &Value, new: &Value) -> String {
    let empty = Map::new();
    let o = old.as_object().unwrap_or(&empty);
    let n = new.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut lines = vec!["  core.PodSpec{".to_string()];
    for k in keys {
        if o.get(k) != n.get(k) {
            if let Some(v) = o.get(k) {
                lines.push(format!("- \t{k}: {v},"));
            }
            if let Some(v) = n.get(k) {
                lines.push(format!("+ \t{k}: {v},"));
            }
        }
    }
    lines.push("  }".to_string());
    lines.join("\n")
}
