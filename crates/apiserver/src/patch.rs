//! PATCH in its four media types, and the `scale` subresource.

use api::error::ApiError;
use serde_json::{Value, json};

use crate::object;
use crate::registry::Served;
use crate::request::Query;
use crate::rest::{Api, WriteOpts, parse_body};

/// The patch types the server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

fn patch_type(ct: &str, custom: bool) -> Result<PatchType, ApiError> {
    let media = ct.split(';').next().unwrap_or("").trim();
    match media {
        "application/json-patch+json" => Ok(PatchType::Json),
        "application/merge-patch+json" => Ok(PatchType::Merge),
        "application/strategic-merge-patch+json" if !custom => Ok(PatchType::Strategic),
        "application/apply-patch+yaml" => Ok(PatchType::Apply),
        _ => Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml{}",
                if custom {
                    ""
                } else {
                    ", application/strategic-merge-patch+json"
                }
            ),
        )),
    }
}

fn patch_error(e: api::patch::PatchError) -> ApiError {
    e.to_api_error()
}

/// Applies `patch` of type `pt` to `old`.
fn apply_patch(
    api: &Api,
    s: &Served,
    pt: PatchType,
    old: &Value,
    patch: &Value,
) -> Result<Value, ApiError> {
    match pt {
        PatchType::Json => api::patch::json_patch(old, patch).map_err(patch_error),
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "json: cannot unmarshal array into Go value of type map[string]interface {}",
                ));
            }
            Ok(api::patch::merge_patch(old, patch))
        }
        PatchType::Strategic => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "json: cannot unmarshal array into Go value of type map[string]interface {}",
                ));
            }
            let schemas = api.registry.schemas();
            let schema = s.schema_name.as_deref().and_then(|n| schemas.get(n));
            api::patch::strategic_merge(&schemas, schema, old, patch).map_err(patch_error)
        }
        PatchType::Apply => unreachable!("apply is handled by apply()"),
    }
}

/// PATCH of an object (or its status). Returns the result and whether it was created (a
/// server-side apply of an absent object).
#[allow(clippy::too_many_arguments)]
pub async fn patch(
    api: &Api,
    s: &Served,
    ns: Option<&str>,
    name: &str,
    sub: Option<&str>,
    body: &[u8],
    ct: &str,
    q: &Query,
    opts: &mut WriteOpts,
) -> Result<(Value, bool), ApiError> {
    let r = &s.resource;
    let pt = patch_type(ct, s.is_custom())?;
    let patch = parse_body(
        body,
        if pt == PatchType::Apply {
            "yaml"
        } else {
            "json"
        },
    )?;
    if pt == PatchType::Apply {
        if q.non_empty("fieldManager").is_none() {
            return Err(ApiError::bad_request(
                "PATCH request must include a fieldManager query parameter for apply requests (e.g. ?fieldManager=...)",
            ));
        }
        if !patch.is_object() {
            return Err(ApiError::bad_request("the apply patch must be an object"));
        }
        let force = q.flag("force")?;
        opts.apply = true;
        let schemas = api.registry.schemas();
        let schema = s
            .schema_name
            .as_deref()
            .and_then(|n| schemas.get(n))
            .cloned();
        let api_version = r.api_version();
        let manager = opts.manager.clone();
        let ns_owned = ns.map(str::to_string);
        return api
            .update_with(s, ns, name, sub, opts, |cur| {
                let mut applied = patch.clone();
                let pname = object::name(&applied);
                if !pname.is_empty() && pname != name {
                    return Err(ApiError::bad_request(format!(
                        "the name of the object ({pname}) does not match the name on the URL ({name})"
                    )));
                }
                let m = object::meta_mut(&mut applied);
                m.insert("name".into(), json!(name));
                if let Some(ns) = &ns_owned {
                    m.insert("namespace".into(), json!(ns));
                }
                let run = |force: bool| {
                    api::patch::apply(
                        &schemas,
                        schema.as_ref(),
                        cur,
                        &applied,
                        &manager,
                        &api_version,
                        force,
                        &object::now(),
                    )
                };
                let mut out = match run(force) {
                    Err(api::patch::ApplyError::Conflicts(c))
                        if cur.is_some_and(|live| api::patch::client_side_apply_unchanged(live, &c)) =>
                    {
                        // Moving from client-side to server-side apply: the fields kubectl's
                        // client-side apply set are still as it last applied them, so the
                        // apply takes them over (kube-apiserver's last-applied manager).
                        run(true)
                    }
                    other => other,
                }
                .map_err(|e| apply_error(s, name, e))?;
                if let Some(old) = cur {
                    // The live resourceVersion, unless the apply pinned one.
                    if object::meta_str(&applied, "resourceVersion").is_none()
                        && let Some(rv) = old["metadata"].get("resourceVersion")
                    {
                        object::meta_mut(&mut out).insert("resourceVersion".into(), rv.clone());
                    }
                } else if let Some(m) = out.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.remove("resourceVersion");
                }
                Ok(out)
            })
            .await;
    }
    api.update_with(s, ns, name, sub, opts, |cur| {
        let Some(old) = cur else {
            return Err(ApiError::not_found(&r.group, &r.plural, name));
        };
        let mut patched = apply_patch(api, s, pt, old, &patch)?;
        // A patch that does not name a resourceVersion applies to whatever is current.
        let pinned = match pt {
            PatchType::Json => patch.as_array().is_some_and(|ops| {
                ops.iter().any(|o| {
                    o["path"]
                        .as_str()
                        .is_some_and(|p| p == "/metadata/resourceVersion" || p == "/metadata")
                })
            }),
            _ => patch["metadata"].get("resourceVersion").is_some(),
        };
        if !pinned && let Some(rv) = old["metadata"].get("resourceVersion") {
            object::meta_mut(&mut patched).insert("resourceVersion".into(), rv.clone());
        }
        Ok(patched)
    })
    .await
}

fn apply_error(_s: &Served, _name: &str, e: api::patch::ApplyError) -> ApiError {
    e.to_api_error()
}

/// Field paths of a scalable resource: spec replicas, status replicas, the selector.
type ScalePaths = (Vec<String>, Vec<String>, Option<Vec<String>>);

fn scale_paths(s: &Served) -> Result<ScalePaths, ApiError> {
    let split = |p: &str| -> Vec<String> {
        p.trim_start_matches('.')
            .split('.')
            .map(str::to_string)
            .collect()
    };
    if let Some(c) = &s.custom {
        let sc = c.scale.as_ref().ok_or_else(ApiError::no_such_path)?;
        return Ok((
            split(&sc.spec_replicas_path),
            split(&sc.status_replicas_path),
            sc.label_selector_path.as_deref().map(split),
        ));
    }
    Ok((split("spec.replicas"), split("status.replicas"), None))
}

fn at<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn set_at(v: &mut Value, path: &[String], x: Value) {
    let mut cur = v;
    for (i, k) in path.iter().enumerate() {
        if i == path.len() - 1 {
            cur[k.as_str()] = x;
            return;
        }
        if !cur.get(k).is_some_and(Value::is_object) {
            cur[k.as_str()] = json!({});
        }
        cur = &mut cur[k.as_str()];
    }
}

/// The `autoscaling/v1` Scale of an object.
pub fn to_scale(s: &Served, obj: &Value) -> Result<Value, ApiError> {
    let (spec, status, sel) = scale_paths(s)?;
    let selector = match sel {
        Some(p) => at(obj, &p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        None => label_selector_string(&obj["spec"]["selector"]),
    };
    let m = &obj["metadata"];
    Ok(json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
                     "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]},
        "spec": {"replicas": at(obj, &spec).cloned().unwrap_or(json!(0))},
        "status": {"replicas": at(obj, &status).cloned().unwrap_or(json!(0)), "selector": selector},
    }))
}

fn label_selector_string(sel: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(m) = sel["matchLabels"].as_object() {
        for (k, v) in m {
            parts.push(format!("{k}={}", v.as_str().unwrap_or("")));
        }
    }
    if let Some(exprs) = sel["matchExpressions"].as_array() {
        for e in exprs {
            let key = e["key"].as_str().unwrap_or("");
            let vals: Vec<&str> = e["values"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match e["operator"].as_str().unwrap_or("") {
                "In" => parts.push(format!("{key} in ({})", vals.join(","))),
                "NotIn" => parts.push(format!("{key} notin ({})", vals.join(","))),
                "Exists" => parts.push(key.to_string()),
                "DoesNotExist" => parts.push(format!("!{key}")),
                _ => {}
            }
        }
    }
    parts.join(",")
}

/// PUT or PATCH of `…/scale`: the patch applies to the Scale; its replicas go to the object.
#[allow(clippy::too_many_arguments)]
pub async fn scale(
    api: &Api,
    s: &Served,
    ns: Option<&str>,
    name: &str,
    is_patch: bool,
    body: &[u8],
    ct: &str,
    _q: &Query,
    opts: &mut WriteOpts,
) -> Result<Value, ApiError> {
    let (spec_path, _, _) = scale_paths(s)?;
    let pt = if is_patch {
        Some(patch_type(ct, true).or_else(|_| patch_type(ct, false))?)
    } else {
        None
    };
    let input = parse_body(
        body,
        if pt == Some(PatchType::Apply) {
            "yaml"
        } else {
            ct
        },
    )?;
    let (obj, _) = api
        .update_with(s, ns, name, None, opts, |cur| {
            let Some(old) = cur else {
                return Err(ApiError::not_found(
                    &s.resource.group,
                    &s.resource.plural,
                    name,
                ));
            };
            let scale = to_scale(s, old)?;
            let new_scale = match pt {
                None => input.clone(),
                Some(PatchType::Json) => {
                    api::patch::json_patch(&scale, &input).map_err(patch_error)?
                }
                Some(PatchType::Merge) | Some(PatchType::Strategic) | Some(PatchType::Apply) => {
                    api::patch::merge_patch(&scale, &input)
                }
            };
            let replicas = new_scale["spec"]["replicas"].as_i64().unwrap_or(0);
            if replicas < 0 {
                return Err(ApiError::invalid(
                    "autoscaling",
                    "Scale",
                    name,
                    &[api::error::FieldError::invalid(
                        "spec.replicas",
                        json!(replicas),
                        "must be greater than or equal to 0",
                    )],
                ));
            }
            let mut out = old.clone();
            if let Some(rv) = new_scale["metadata"]["resourceVersion"]
                .as_str()
                .filter(|v| !v.is_empty())
                && Some(rv) != object::meta_str(old, "resourceVersion")
            {
                return Err(ApiError::stale(&s.resource.group, &s.resource.plural, name));
            }
            set_at(&mut out, &spec_path, json!(replicas));
            Ok(out)
        })
        .await?;
    to_scale(s, &obj)
}
