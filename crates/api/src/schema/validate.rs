//! Validation of an object against an OpenAPI v3 schema, pruning of unknown fields, duplicate
//! JSON keys, and the texts kube-apiserver answers with.
//!
//! Two semantics ([`Mode`]):
//!
//! - **Built-in kinds** are decoded by Go into typed structs: the only schema-level failures are
//!   unknown fields (under `fieldValidation=Strict`/`Warn`) and JSON type mismatches, which the
//!   server reports as a 400 with Go's `json: cannot unmarshal …` text ([`decode_error`]).
//!   Required fields, enums and limits of built-ins come from per-kind validation code, not from
//!   the schema, so they are not checked here.
//! - **Custom resources** are validated by their structural schema: types, `required`, `enum`,
//!   `minimum`/`maximum`, lengths, item counts, `x-kubernetes-list-type` uniqueness; failures are
//!   [`FieldError`]s for the 422 `Invalid` status, worded as apiextensions-apiserver words them.
//!
//! In both, unknown fields are paths such as `spec.template.spec.containers[0].imagePullPolicyy`
//! and are dropped by [`prune`] (Go's decoder drops them for built-ins; apiextensions prunes them
//! for custom resources), except below `x-kubernetes-preserve-unknown-fields`.

use std::collections::BTreeSet;

use serde_json::Value;

use super::Schemas;
use crate::error::{ApiError, FieldError, FieldErrorKind};

/// Which semantics validation follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A built-in kind: report unknown fields and JSON type mismatches only.
    BuiltIn,
    /// A custom resource: full structural-schema validation.
    Custom,
}

/// What validating one object found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Schema violations. Built-in mode: one `TypeInvalid` per type mismatch (its detail is Go's
    /// text). Custom mode: every violation, as the 422 `Invalid` status lists them.
    pub errors: Vec<FieldError>,
    /// Paths of fields the schema does not declare (`spec.foo`, `spec.containers[0].x`).
    pub unknown: Vec<String>,
    /// Built-in mode: Go's decoding error for the first type mismatch
    /// (`json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of
    /// type int32`), which is all the real server reports.
    pub type_error: Option<String>,
}

impl Report {
    /// Whether nothing at all was found.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty() && self.unknown.is_empty()
    }
}

/// Validates `obj` against `schema` (a schema or a `$ref` to one in `schemas`).
pub fn validate(schemas: &Schemas, schema: &Value, obj: &Value, mode: Mode) -> Report {
    let mut w = Walker {
        schemas,
        mode,
        report: Report::default(),
    };
    let root_struct = ref_name(schema)
        .map(short_name)
        .unwrap_or_default()
        .to_string();
    w.walk(schema, obj, &mut Path::default(), &root_struct);
    w.report
}

/// A field path kept two ways: with indices (`spec.containers[0].image`, for field errors and
/// unknown fields) and Go's way, names only (`spec.containers.image`, for decoding errors).
#[derive(Default, Clone)]
struct Path {
    full: String,
    go: String,
}

impl Path {
    fn field(&self, name: &str) -> Path {
        let join = |base: &str| {
            if base.is_empty() {
                name.to_string()
            } else {
                format!("{base}.{name}")
            }
        };
        Path {
            full: join(&self.full),
            go: join(&self.go),
        }
    }

    fn index(&self, i: usize) -> Path {
        Path {
            full: format!("{}[{i}]", self.full),
            go: self.go.clone(),
        }
    }

    fn key(&self, k: &str) -> Path {
        Path {
            full: format!("{}[{k}]", self.full),
            go: self.go.clone(),
        }
    }
}

struct Walker<'a> {
    schemas: &'a Schemas,
    mode: Mode,
    report: Report,
}

/// The JSON type name apimachinery uses (`string`, `integer`, `number`, `boolean`, `array`,
/// `object`, `null`).
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Whether `v` is of OpenAPI type `t`.
fn has_type(v: &Value, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        _ => true,
    }
}

fn ref_name(schema: &Value) -> Option<&str> {
    let r = schema.get("$ref").and_then(Value::as_str).or_else(|| {
        match schema
            .get("allOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            Some([one]) => one.get("$ref").and_then(Value::as_str),
            _ => None,
        }
    })?;
    r.strip_prefix(super::REF_PREFIX)
}

/// `io.k8s.api.apps.v1.DeploymentSpec` → `DeploymentSpec`.
fn short_name(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

fn is_true(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool) == Some(true)
}

impl Walker<'_> {
    /// Go's name of the type `raw` (unresolved) decodes into: `int32`, `[]v1.Container`,
    /// `map[string]string`, `v1.DeploymentSpec`, `intstr.IntOrString`.
    fn go_type(&self, raw: &Value) -> String {
        if let Some(name) = ref_name(raw) {
            let mut parts = name.rsplit('.');
            let ty = parts.next().unwrap_or(name);
            let pkg = parts.next().unwrap_or("");
            let resolved = self.schemas.resolve(raw);
            // Named scalar types decode as their underlying Go type.
            return match resolved.get("type").and_then(Value::as_str) {
                Some("string") if !name.ends_with(".Time") && !name.ends_with(".MicroTime") => {
                    "string".to_string()
                }
                _ => format!("{pkg}.{ty}"),
            };
        }
        match raw.get("type").and_then(Value::as_str) {
            Some("string") => "string".into(),
            Some("boolean") => "bool".into(),
            Some("integer") => match raw.get("format").and_then(Value::as_str) {
                Some("int32") => "int32".into(),
                _ => "int64".into(),
            },
            Some("number") => "float64".into(),
            Some("array") => match raw.get("items") {
                Some(i) => format!("[]{}", self.go_type(i)),
                None => "[]interface {}".into(),
            },
            Some("object") => match raw.get("additionalProperties") {
                Some(a) if a.is_object() => format!("map[string]{}", self.go_type(a)),
                _ => "map[string]interface {}".into(),
            },
            _ => "interface {}".into(),
        }
    }

    fn mismatch(&mut self, raw: &Value, expected: &str, v: &Value, path: &Path, parent: &str) {
        match self.mode {
            Mode::BuiltIn => {
                let go_kind = match v {
                    Value::Bool(_) => "bool".to_string(),
                    Value::Number(n) if expected == "integer" => format!("number {n}"),
                    Value::Number(_) => "number".to_string(),
                    Value::String(_) => "string".to_string(),
                    Value::Array(_) => "array".to_string(),
                    Value::Object(_) => "object".to_string(),
                    Value::Null => "null".to_string(),
                };
                let text = if path.go.is_empty() {
                    format!(
                        "json: cannot unmarshal {go_kind} into Go value of type {}",
                        self.go_type(raw)
                    )
                } else {
                    format!(
                        "json: cannot unmarshal {go_kind} into Go struct field {parent}.{} of type {}",
                        path.go,
                        self.go_type(raw)
                    )
                };
                if self.report.type_error.is_none() {
                    self.report.type_error = Some(text.clone());
                }
                self.report.errors.push(FieldError::new(
                    FieldErrorKind::TypeInvalid,
                    path.full.clone(),
                    Some(v.clone()),
                    text,
                ));
            }
            Mode::Custom => {
                let actual = json_type(v);
                self.report.errors.push(FieldError::new(
                    FieldErrorKind::TypeInvalid,
                    path.full.clone(),
                    Some(Value::String(actual.to_string())),
                    format!(
                        "{} in body must be of type {expected}: \"{actual}\"",
                        path.full
                    ),
                ));
            }
        }
    }

    fn walk(&mut self, raw: &Value, v: &Value, path: &mut Path, parent: &str) {
        let s = self.schemas.resolve(raw);
        if v.is_null() {
            // Go decodes null as the zero value; structural schemas prune nulls of
            // non-nullable fields before validating.
            return;
        }
        if is_true(s, "x-kubernetes-int-or-string") {
            if !(v.is_string() || v.is_i64() || v.is_u64()) {
                self.mismatch(raw, "integer,string", v, path, parent);
            }
            return;
        }
        let struct_name = ref_name(raw).map(short_name).unwrap_or(parent).to_string();
        let ty = s.get("type").and_then(Value::as_str);
        if ty.is_none() {
            if let Some(alts) = s
                .get("oneOf")
                .or_else(|| s.get("anyOf"))
                .and_then(Value::as_array)
            {
                let chosen = alts.iter().find(|a| {
                    let r = self.schemas.resolve(a);
                    match r.get("type").and_then(Value::as_str) {
                        Some(t) => has_type(v, t),
                        None => true,
                    }
                });
                match chosen {
                    Some(a) => self.walk(a, v, path, &struct_name),
                    None => {
                        let expected = alts
                            .iter()
                            .filter_map(|a| self.schemas.resolve(a).get("type"))
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(",");
                        self.mismatch(raw, &expected, v, path, parent);
                    }
                }
                return;
            }
        }
        if let Some(t) = ty
            && !has_type(v, t)
        {
            self.mismatch(raw, t, v, path, parent);
            return;
        }
        if self.mode == Mode::Custom {
            self.constraints(s, v, path);
        }
        match v {
            Value::Object(m) => {
                let preserve = is_true(s, "x-kubernetes-preserve-unknown-fields");
                let embedded = is_true(s, "x-kubernetes-embedded-resource");
                let props = s.get("properties").and_then(Value::as_object);
                let additional = s.get("additionalProperties");
                if props.is_none() && additional.is_none() && (preserve || ty.is_none()) {
                    return;
                }
                for (k, x) in m {
                    let child = path.field(k);
                    if let Some(p) = props.and_then(|p| p.get(k)) {
                        let mut c = child;
                        self.walk(p, x, &mut c, &struct_name);
                    } else if embedded && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                        self.embedded_field(k, x, child);
                    } else if let Some(a) = additional.filter(|a| a.is_object()) {
                        let mut c = path.key(k);
                        c.go = path.go.clone();
                        self.walk(a, x, &mut c, &struct_name);
                    } else if preserve || additional.and_then(Value::as_bool) == Some(true) {
                    } else {
                        self.report.unknown.push(child.full);
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item_schema) = s.get("items") {
                    for (i, x) in items.iter().enumerate() {
                        let mut c = path.index(i);
                        self.walk(item_schema, x, &mut c, &struct_name);
                    }
                }
            }
            _ => {}
        }
    }

    fn embedded_field(&mut self, k: &str, x: &Value, mut child: Path) {
        let schema = if k == "metadata" {
            serde_json::json!({ "$ref": format!("{}{}", super::REF_PREFIX, super::builtin::OBJECT_META) })
        } else {
            serde_json::json!({ "type": "string" })
        };
        self.walk(&schema, x, &mut child, "");
    }

    /// The value constraints of a structural schema (custom resources only).
    fn constraints(&mut self, s: &Value, v: &Value, path: &Path) {
        let at = &path.full;
        let num = |k: &str| s.get(k).and_then(Value::as_f64);
        let uint = |k: &str| s.get(k).and_then(Value::as_u64);
        if let Some(allowed) = s.get("enum").and_then(Value::as_array)
            && !allowed.contains(v)
        {
            let list: Vec<String> = allowed.iter().map(go_literal).collect();
            let list: Vec<&str> = list.iter().map(String::as_str).collect();
            let mut e = FieldError::not_supported(at.clone(), v.clone(), &[]);
            e.detail = format!("supported values: {}", list.join(", "));
            self.report.errors.push(e);
        }
        match v {
            Value::String(text) => {
                let len = text.chars().count() as u64;
                if let Some(max) = uint("maxLength")
                    && len > max
                {
                    self.report.errors.push(FieldError::new(
                        FieldErrorKind::TooLong,
                        at.clone(),
                        Some(v.clone()),
                        format!("may not be more than {max} bytes"),
                    ));
                }
                if let Some(min) = uint("minLength")
                    && len < min
                {
                    self.report.errors.push(FieldError::invalid(
                        at.clone(),
                        v.clone(),
                        format!("{at} in body should be at least {min} chars long"),
                    ));
                }
            }
            Value::Number(n) => {
                let x = n.as_f64().unwrap_or(0.0);
                let excl_max = is_true(s, "exclusiveMaximum");
                let excl_min = is_true(s, "exclusiveMinimum");
                if let Some(max) = num("maximum")
                    && (x > max || (excl_max && x == max))
                {
                    let rel = if excl_max {
                        "less than"
                    } else {
                        "less than or equal to"
                    };
                    self.report.errors.push(FieldError::invalid(
                        at.clone(),
                        v.clone(),
                        format!("{at} in body should be {rel} {}", fmt_num(max)),
                    ));
                }
                if let Some(min) = num("minimum")
                    && (x < min || (excl_min && x == min))
                {
                    let rel = if excl_min {
                        "greater than"
                    } else {
                        "greater than or equal to"
                    };
                    self.report.errors.push(FieldError::invalid(
                        at.clone(),
                        v.clone(),
                        format!("{at} in body should be {rel} {}", fmt_num(min)),
                    ));
                }
                if let Some(m) = num("multipleOf")
                    && m != 0.0
                    && (x / m).fract() != 0.0
                {
                    self.report.errors.push(FieldError::invalid(
                        at.clone(),
                        v.clone(),
                        format!("{at} in body should be a multiple of {}", fmt_num(m)),
                    ));
                }
            }
            Value::Array(items) => {
                if let Some(max) = uint("maxItems")
                    && items.len() as u64 > max
                {
                    self.report.errors.push(FieldError::new(
                        FieldErrorKind::TooMany,
                        at.clone(),
                        Some(Value::from(items.len())),
                        format!("must have at most {max} items"),
                    ));
                }
                if let Some(min) = uint("minItems")
                    && (items.len() as u64) < min
                {
                    self.report.errors.push(FieldError::invalid(
                        at.clone(),
                        v.clone(),
                        format!("{at} in body should have at least {min} items"),
                    ));
                }
                self.list_uniqueness(s, items, path);
            }
            Value::Object(m) => {
                if let Some(req) = s.get("required").and_then(Value::as_array) {
                    for r in req.iter().filter_map(Value::as_str) {
                        if m.get(r).is_none_or(Value::is_null) {
                            self.report
                                .errors
                                .push(FieldError::required(path.field(r).full, ""));
                        }
                    }
                }
                if let Some(max) = uint("maxProperties")
                    && m.len() as u64 > max
                {
                    self.report.errors.push(FieldError::new(
                        FieldErrorKind::TooMany,
                        at.clone(),
                        Some(Value::from(m.len())),
                        format!("must have at most {max} items"),
                    ));
                }
                if let Some(min) = uint("minProperties")
                    && (m.len() as u64) < min
                {
                    self.report.errors.push(FieldError::invalid(
                        at.clone(),
                        v.clone(),
                        format!("{at} in body should have at least {min} properties"),
                    ));
                }
            }
            _ => {}
        }
    }

    /// `x-kubernetes-list-type: set|map` and `uniqueItems`: no two equal items / keys.
    fn list_uniqueness(&mut self, s: &Value, items: &[Value], path: &Path) {
        let list_type = s.get("x-kubernetes-list-type").and_then(Value::as_str);
        let keys: Option<Vec<&str>> = s
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
            .map(|k| k.iter().filter_map(Value::as_str).collect());
        let identity = |x: &Value| -> Value {
            match (list_type, &keys) {
                (Some("map"), Some(keys)) => {
                    let mut id = serde_json::Map::new();
                    for k in keys {
                        if let Some(val) = x.get(*k) {
                            id.insert((*k).to_string(), val.clone());
                        }
                    }
                    Value::Object(id)
                }
                _ => x.clone(),
            }
        };
        if !matches!(list_type, Some("set") | Some("map")) && !is_true(s, "uniqueItems") {
            return;
        }
        let mut seen: Vec<Value> = Vec::new();
        for (i, x) in items.iter().enumerate() {
            let id = identity(x);
            if seen.contains(&id) {
                self.report
                    .errors
                    .push(FieldError::duplicate(path.index(i).full, id));
            } else {
                seen.push(id);
            }
        }
    }
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        x.to_string()
    }
}

fn go_literal(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// Removes from `obj` every field `schema` does not declare (below
/// `x-kubernetes-preserve-unknown-fields` nothing is removed; an
/// `x-kubernetes-embedded-resource` keeps `apiVersion`, `kind` and its metadata's known fields),
/// and null values of fields that are not `nullable` — what Go's decoding does to built-ins and
/// apiextensions' pruning does to custom resources.
pub fn prune(schemas: &Schemas, schema: &Value, obj: &mut Value) {
    let s = schemas.resolve(schema);
    if is_true(s, "x-kubernetes-int-or-string") {
        return;
    }
    if s.get("type").is_none()
        && let Some(alts) = s
            .get("oneOf")
            .or_else(|| s.get("anyOf"))
            .and_then(Value::as_array)
    {
        let chosen =
            alts.iter().find(
                |a| match schemas.resolve(a).get("type").and_then(Value::as_str) {
                    Some(t) => has_type(obj, t),
                    None => true,
                },
            );
        if let Some(a) = chosen {
            prune(schemas, a, obj);
        }
        return;
    }
    match obj {
        Value::Object(m) => {
            let preserve = is_true(s, "x-kubernetes-preserve-unknown-fields");
            let embedded = is_true(s, "x-kubernetes-embedded-resource");
            let props = s.get("properties").and_then(Value::as_object);
            let additional = s.get("additionalProperties");
            if props.is_none() && additional.is_none() && (preserve || s.get("type").is_none()) {
                return;
            }
            m.retain(|k, x| {
                if let Some(p) = props.and_then(|p| p.get(k)) {
                    if x.is_null() {
                        return is_true(schemas.resolve(p), "nullable");
                    }
                    prune(schemas, p, x);
                    true
                } else if embedded && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    if k == "metadata"
                        && let Some(meta) = schemas.get(super::builtin::OBJECT_META)
                    {
                        prune(schemas, meta, x);
                    }
                    true
                } else if let Some(a) = additional.filter(|a| a.is_object()) {
                    prune(schemas, a, x);
                    true
                } else {
                    preserve || additional.and_then(Value::as_bool) == Some(true)
                }
            });
        }
        Value::Array(items) => {
            if let Some(item_schema) = s.get("items") {
                for x in items {
                    prune(schemas, item_schema, x);
                }
            }
        }
        _ => {}
    }
}

/// Paths of keys that occur twice in one JSON object of `raw` (`spec.paused`,
/// `spec.template.spec.containers[0].imagePullPolicy`), in document order. Text that is not
/// JSON (YAML) gives none: its duplicates are the YAML decoder's to report.
pub fn duplicate_fields(raw: &[u8]) -> Vec<String> {
    let mut scanner = Scanner {
        raw,
        pos: 0,
        found: Vec::new(),
    };
    scanner.skip_ws();
    if scanner.value("").is_none() {
        return Vec::new();
    }
    scanner.found
}

struct Scanner<'a> {
    raw: &'a [u8],
    pos: usize,
    found: Vec<String>,
}

impl Scanner<'_> {
    fn skip_ws(&mut self) {
        while self
            .raw
            .get(self.pos)
            .is_some_and(|b| b.is_ascii_whitespace())
        {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.raw.get(self.pos).copied()
    }

    /// One JSON string starting at `pos` (on the quote), decoded.
    fn string(&mut self) -> Option<String> {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek()? {
                b'\\' => self.pos += 2,
                b'"' => {
                    self.pos += 1;
                    break;
                }
                _ => self.pos += 1,
            }
        }
        serde_json::from_slice(self.raw.get(start..self.pos)?).ok()
    }

    fn value(&mut self, path: &str) -> Option<()> {
        match self.peek()? {
            b'{' => {
                self.pos += 1;
                let mut seen = BTreeSet::new();
                self.skip_ws();
                if self.peek()? == b'}' {
                    self.pos += 1;
                    return Some(());
                }
                loop {
                    self.skip_ws();
                    if self.peek()? != b'"' {
                        return None;
                    }
                    let key = self.string()?;
                    let child = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    if !seen.insert(key) {
                        self.found.push(child.clone());
                    }
                    self.skip_ws();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.pos += 1;
                    self.skip_ws();
                    self.value(&child)?;
                    self.skip_ws();
                    match self.peek()? {
                        b',' => self.pos += 1,
                        b'}' => {
                            self.pos += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.pos += 1;
                self.skip_ws();
                if self.peek()? == b']' {
                    self.pos += 1;
                    return Some(());
                }
                let mut i = 0;
                loop {
                    self.skip_ws();
                    self.value(&format!("{path}[{i}]"))?;
                    i += 1;
                    self.skip_ws();
                    match self.peek()? {
                        b',' => self.pos += 1,
                        b']' => {
                            self.pos += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'"' => self.string().map(|_| ()),
            _ => {
                // A number, true, false or null: up to the next delimiter.
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace())
                {
                    self.pos += 1;
                }
                (self.pos > start).then_some(())
            }
        }
    }
}

/// The strict-decoding complaints kube-apiserver lists, duplicates first, then unknown fields:
/// `duplicate field "spec.paused"`, `unknown field "spec.foo"`. Under `fieldValidation=Warn`
/// each is one `Warning` header (code 299); under `Strict` they make [`strict_error`].
pub fn strict_messages(unknown: &[String], duplicates: &[String]) -> Vec<String> {
    duplicates
        .iter()
        .map(|d| format!("duplicate field \"{d}\""))
        .chain(unknown.iter().map(|u| format!("unknown field \"{u}\"")))
        .collect()
}

/// The 400 of `fieldValidation=Strict`: `Deployment in version "v1" cannot be handled as a
/// Deployment: strict decoding error: unknown field "spec.foo", unknown field "spec.bar"`.
/// `None` when there is nothing to complain about.
pub fn strict_error(
    kind: &str,
    version: &str,
    unknown: &[String],
    duplicates: &[String],
) -> Option<ApiError> {
    let messages = strict_messages(unknown, duplicates);
    if messages.is_empty() {
        return None;
    }
    Some(ApiError::bad_request(format!(
        "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
        messages.join(", ")
    )))
}

/// The 400 of a built-in object with a field of the wrong JSON type: `Deployment in version
/// "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field
/// DeploymentSpec.spec.replicas of type int32`. `None` when the report has no type mismatch.
pub fn decode_error(kind: &str, version: &str, report: &Report) -> Option<ApiError> {
    report.type_error.as_ref().map(|t| {
        ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {t}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::builtin::builtin;
    use serde_json::json;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx",
                        "ports": [{"containerPort": 80}],
                        "resources": {"limits": {"cpu": "500m", "memory": 128}}}]}
                }
            }
        })
    }

    fn deployment_schema() -> Value {
        json!({"$ref": "#/components/schemas/io.k8s.api.apps.v1.Deployment"})
    }

    #[test]
    fn a_valid_deployment_is_clean() {
        let r = validate(
            builtin(),
            &deployment_schema(),
            &deployment(),
            Mode::BuiltIn,
        );
        assert!(r.is_clean(), "{r:?}");
    }

    #[test]
    fn unknown_fields_and_wrong_types_of_builtins() {
        let mut d = deployment();
        d["spec"]["foo"] = json!(1);
        d["metadata"]["bogus"] = json!("x");
        d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = json!("Always");
        d["spec"]["replicas"] = json!("x");
        let r = validate(builtin(), &deployment_schema(), &d, Mode::BuiltIn);
        assert_eq!(
            r.unknown,
            vec![
                "metadata.bogus",
                "spec.foo",
                "spec.template.spec.containers[0].imagePullPolicyy"
            ]
        );
        assert_eq!(
            r.type_error.as_deref(),
            Some(
                "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
            )
        );
        assert_eq!(r.errors.len(), 1);
        let e = decode_error("Deployment", "v1", &r).expect("type error");
        assert_eq!(e.code, 400);
        assert_eq!(
            e.message,
            "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
        );
        let strict = strict_error("Deployment", "v1", &r.unknown[1..2], &[]).expect("strict");
        assert_eq!(
            strict.message,
            "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.foo\""
        );
    }

    #[test]
    fn go_type_names_follow_the_go_types() {
        let mut d = deployment();
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!(5);
        let r = validate(builtin(), &deployment_schema(), &d, Mode::BuiltIn);
        assert_eq!(
            r.type_error.as_deref(),
            Some(
                "json: cannot unmarshal number into Go struct field Container.spec.template.spec.containers.image of type string"
            )
        );
        let mut d = deployment();
        d["spec"]["template"]["spec"]["containers"] = json!("x");
        let r = validate(builtin(), &deployment_schema(), &d, Mode::BuiltIn);
        assert_eq!(
            r.type_error.as_deref(),
            Some(
                "json: cannot unmarshal string into Go struct field PodSpec.spec.template.spec.containers of type []v1.Container"
            )
        );
        let mut d = deployment();
        d["metadata"]["labels"] = json!({"a": 1});
        let r = validate(builtin(), &deployment_schema(), &d, Mode::BuiltIn);
        assert_eq!(
            r.type_error.as_deref(),
            Some(
                "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"
            )
        );
    }

    #[test]
    fn prune_drops_unknown_fields_and_keeps_preserved_subtrees() {
        let mut d = deployment();
        d["spec"]["foo"] = json!(1);
        d["spec"]["paused"] = Value::Null;
        prune(builtin(), &deployment_schema(), &mut d);
        assert!(d["spec"].get("foo").is_none());
        assert!(d["spec"].get("paused").is_none());
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 1);

        let schemas = builtin().with([(
            "x.Thing".to_string(),
            json!({"type": "object", "properties": {
                "spec": {"type": "object", "properties": {
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "inner": {"type": "object", "x-kubernetes-embedded-resource": true,
                              "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}
                }}}}),
        )]);
        let schema = json!({"$ref": "#/components/schemas/x.Thing"});
        let mut obj = json!({"spec": {"free": {"a": {"b": 1}}, "gone": 1,
            "inner": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "junk": 1}, "spec": {"x": 1}, "other": 2}}});
        let r = validate(&schemas, &schema, &obj, Mode::Custom);
        assert_eq!(
            r.unknown,
            vec!["spec.gone", "spec.inner.metadata.junk", "spec.inner.other"]
        );
        prune(&schemas, &schema, &mut obj);
        assert_eq!(
            obj,
            json!({"spec": {"free": {"a": {"b": 1}},
                "inner": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": 1}}}})
        );
    }

    #[test]
    fn custom_resource_constraints() {
        let schemas = builtin().with([(
            "x.Thing".to_string(),
            json!({"type": "object", "properties": {
                "spec": {"type": "object", "required": ["size", "mode"], "properties": {
                    "size": {"type": "integer", "minimum": 1, "maximum": 10},
                    "mode": {"type": "string", "enum": ["a", "b"]},
                    "name": {"type": "string", "maxLength": 3},
                    "port": {"x-kubernetes-int-or-string": true},
                    "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"}
                }}}}),
        )]);
        let schema = json!({"$ref": "#/components/schemas/x.Thing"});
        let ok = json!({"spec": {"size": 3, "mode": "a", "port": "http", "tags": ["x", "y"]}});
        assert!(validate(&schemas, &schema, &ok, Mode::Custom).is_clean());
        let bad = json!({"spec": {"size": "3", "mode": "c", "name": "long", "port": true, "tags": ["x", "x"]}});
        let r = validate(&schemas, &schema, &bad, Mode::Custom);
        let texts: Vec<String> = r.errors.iter().map(ToString::to_string).collect();
        assert!(texts.contains(&"spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\"".to_string()), "{texts:?}");
        assert!(
            texts.contains(
                &"spec.mode: Unsupported value: \"c\": supported values: \"a\", \"b\"".to_string()
            ),
            "{texts:?}"
        );
        assert!(
            texts.contains(&"spec.name: Too long: may not be more than 3 bytes".to_string()),
            "{texts:?}"
        );
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with("spec.port: Invalid value: \"boolean\"")),
            "{texts:?}"
        );
        assert!(
            texts.contains(&"spec.tags[1]: Duplicate value: \"x\"".to_string()),
            "{texts:?}"
        );
        let missing = validate(
            &schemas,
            &schema,
            &json!({"spec": {"size": 0}}),
            Mode::Custom,
        );
        let texts: Vec<String> = missing.errors.iter().map(ToString::to_string).collect();
        assert!(
            texts.contains(&"spec.mode: Required value".to_string()),
            "{texts:?}"
        );
        assert!(texts.contains(&"spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1".to_string()), "{texts:?}");
    }

    #[test]
    fn duplicate_keys_in_json_text() {
        let raw = br#"{"spec": {"paused": true, "paused": false, "x": [{"a": 1, "b": "\"a\"", "a": 2}]}, "s": "{\"k\":1,\"k\":2}"}"#;
        assert_eq!(duplicate_fields(raw), vec!["spec.paused", "spec.x[0].a"]);
        assert!(duplicate_fields(b"a: 1\na: 2\n").is_empty());
        assert_eq!(
            strict_messages(&["spec.foo".to_string()], &["spec.paused".to_string()]),
            vec![
                "duplicate field \"spec.paused\"",
                "unknown field \"spec.foo\""
            ]
        );
    }
}
