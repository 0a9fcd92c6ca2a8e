//! The document served on `/openapi/v2`: Swagger 2.0, as JSON and as the gnostic
//! `openapi.v2.Document` protobuf message kubectl asks for.
//!
//! kubectl 1.32/1.33 validates client-side against OpenAPI **v2** whenever its v3 check
//! cannot say that the server validates a kind itself: always for a `v1/List` (its v3
//! query-parameter verifier refuses `List`), and for kinds missing from v3. It fetches
//! `GET /openapi/v2` with `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`
//! and decodes the body as gnostic's `openapi_v2.Document` (google/gnostic-models,
//! `openapiv2/OpenAPIv2.proto`), whatever the response's content type.
//!
//! [`document_json`] builds the Swagger 2.0 document from the same [`Schemas`] and
//! [`Resource`]s the v3 documents come from: its `paths` are the v3 documents' operations
//! rewritten for v2 (query and path parameters carry their type inline, a request body is an
//! `in: body` parameter, media types move to `consumes`/`produces`), and its `definitions` are
//! every schema converted to what v2 and kube-openapi's v2 parser accept (see [`schema_v2`]).
//! [`document_protobuf`] encodes that JSON as the protobuf message; vendor extensions become
//! `NamedAny`s whose `Any.yaml` is the value written as JSON (which is YAML).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::openapi;
use super::{REF_PREFIX, Schemas};
use crate::resource::Resource;

/// The Kubernetes version the document describes.
const KUBE_VERSION: &str = "v1.33.0";

/// The `Content-Type` to answer `/openapi/v2` with when sending [`document_protobuf`]'s
/// bytes — kube-apiserver's. kubectl asks with
/// `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`, but `@` is not a
/// MIME token character: client-go parses the response's content type with Go's
/// `mime.ParseMediaType`, and echoing the `@` form fails every validation with "mime:
/// unexpected content after media subtype".
pub const PROTOBUF_CONTENT_TYPE: &str =
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// Where v2 documents keep their named schemas.
const DEFINITIONS_PREFIX: &str = "#/definitions/";

/// The Swagger 2.0 document kube-apiserver serves on `/openapi/v2`: `swagger`, `info`
/// (`Kubernetes`, `v1.33.0`), the bearer-token security definition, `paths` with every
/// resource's operations (list/create/deletecollection on the collection, read/replace/patch/
/// delete on the item, the `status` and `scale` subresources; `fieldValidation` on create,
/// replace and patch; `x-kubernetes-action` and `x-kubernetes-group-version-kind` on each), and
/// `definitions` holding every schema of `schemas` converted by [`schema_v2`].
/// Deterministic: the same input gives the same document.
pub fn document_json(schemas: &Schemas, resources: &[Resource]) -> Value {
    let group_versions: BTreeSet<(&str, &str)> = resources
        .iter()
        .map(|r| (r.group.as_str(), r.version.as_str()))
        .collect();
    let mut paths = Map::new();
    for (group, version) in group_versions {
        let v3 = openapi::document(schemas, group, version, resources);
        if let Some(v3_paths) = v3.get("paths").and_then(Value::as_object) {
            for (path, item) in v3_paths {
                paths.insert(path.clone(), path_item_v2(item));
            }
        }
    }
    let definitions: Map<String, Value> = schemas
        .all()
        .iter()
        .map(|(name, schema)| (name.clone(), schema_v2(schema)))
        .collect();
    json!({
        "swagger": "2.0",
        "info": { "title": "Kubernetes", "version": KUBE_VERSION },
        "paths": paths,
        "definitions": definitions,
        "securityDefinitions": {
            "BearerToken": {
                "description": "Bearer Token authentication",
                "in": "header",
                "name": "authorization",
                "type": "apiKey",
            },
        },
        "security": [{ "BearerToken": [] }],
    })
}

/// A v3 `$ref` (`#/components/schemas/X`) as a v2 one (`#/definitions/X`); other references
/// are kept as they are.
fn ref_v2(reference: &str) -> String {
    match reference.strip_prefix(REF_PREFIX) {
        Some(name) => format!("{DEFINITIONS_PREFIX}{name}"),
        None => reference.to_string(),
    }
}

/// Keywords an OpenAPI v3 schema and a Swagger 2.0 schema share with the same meaning, copied
/// as they are (the others are rewritten or dropped by [`schema_v2`]).
const SHARED_KEYWORDS: &[&str] = &[
    "format",
    "title",
    "description",
    "default",
    "multipleOf",
    "maximum",
    "minimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
    "required",
    "enum",
    "readOnly",
    "example",
    "externalDocs",
];

/// Copies `description`, `default` and the vendor extensions of `from`: what a v2 schema
/// keeps beside a `$ref` or a replaced type.
fn copy_annotations(from: &Map<String, Value>, to: &mut Map<String, Value>) {
    for (k, v) in from {
        if k == "description" || k == "default" || k.starts_with("x-") {
            to.insert(k.clone(), v.clone());
        }
    }
}

/// The single type of a v3 `type` (a string, or in 3.1 an array with `null`).
fn single_type(t: &Value) -> Option<&str> {
    match t {
        Value::String(s) if s != "null" => Some(s),
        Value::Array(types) => {
            let mut non_null = types
                .iter()
                .filter_map(Value::as_str)
                .filter(|s| *s != "null");
            let first = non_null.next()?;
            non_null.next().is_none().then_some(first)
        }
        _ => None,
    }
}

/// The type a v2 schema gets for a v3 `oneOf`/`anyOf` of alternatives: their one type when
/// they agree, `string` when one of them is a string (upstream's v2 `Quantity`), none (any
/// value) otherwise.
fn alternatives_type(alternatives: &[Value]) -> Option<&'static str> {
    let mut types = BTreeSet::new();
    for a in alternatives {
        types.insert(a.get("type").and_then(single_type)?);
    }
    let pick = match types.len() {
        1 => types.into_iter().next()?,
        _ if types.contains("string") => "string",
        _ => return None,
    };
    ["string", "integer", "number", "boolean", "object", "array"]
        .into_iter()
        .find(|t| *t == pick)
}

/// One OpenAPI v3 schema as Swagger 2.0 allows it and kube-openapi's v2 parser (kubectl's)
/// reads it:
///
/// - `$ref: #/components/schemas/X` (alone, beside a `description`, or as a single-element
///   `allOf`) becomes `$ref: #/definitions/X` with only `description`, `default` and vendor
///   extensions beside it (a v2 reference may carry neither a type nor properties);
/// - `x-kubernetes-int-or-string` becomes `type: string, format: int-or-string`;
/// - `oneOf`/`anyOf` become the alternatives' common type (`string` when one is a string, as
///   upstream's v2 `Quantity`), or nothing (any value);
/// - `nullable`, `not`, `writeOnly`, `deprecated`, an `allOf` of several schemas and other
///   v3-only keywords are dropped; `exclusiveMaximum`/`exclusiveMinimum` stay (booleans in
///   both); a v3 `discriminator` object becomes its `propertyName`;
/// - as apiextensions-apiserver publishes CRD schemas in v2 (`ToStructuralOpenAPIV2`): a
///   `nullable` schema loses its type, items and properties (any value), and its property
///   name leaves the parent's `required`; a schema with
///   `x-kubernetes-preserve-unknown-fields` loses its items and properties (kubectl would
///   report the unknown fields); an array left without `items` loses its type (kubectl's
///   parser wants exactly one item schema);
/// - vendor extensions (`x-kubernetes-*`, including `x-kubernetes-group-version-kind`) are
///   kept.
pub fn schema_v2(schema: &Value) -> Value {
    let Some(obj) = schema.as_object() else {
        // `true`/`false` schemas (not v3, but harmless): any value.
        return json!({});
    };
    let reference = obj.get("$ref").and_then(Value::as_str).or_else(|| {
        match obj
            .get("allOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            Some([one]) => one.get("$ref").and_then(Value::as_str),
            _ => None,
        }
    });
    let mut out = Map::new();
    if let Some(r) = reference {
        out.insert("$ref".into(), Value::String(ref_v2(r)));
        copy_annotations(obj, &mut out);
        return Value::Object(out);
    }
    if obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        out.insert("type".into(), json!("string"));
        out.insert("format".into(), json!("int-or-string"));
        copy_annotations(obj, &mut out);
        return Value::Object(out);
    }
    for (k, v) in obj {
        match k.as_str() {
            "type" => {
                if let Some(t) = single_type(v) {
                    out.insert(k.clone(), json!(t));
                }
            }
            "properties" => {
                let props: Map<String, Value> = v
                    .as_object()
                    .map(|p| p.iter().map(|(n, s)| (n.clone(), schema_v2(s))).collect())
                    .unwrap_or_default();
                out.insert(k.clone(), Value::Object(props));
            }
            "additionalProperties" => {
                let ap = match v {
                    Value::Bool(b) => Value::Bool(*b),
                    other => schema_v2(other),
                };
                out.insert(k.clone(), ap);
            }
            "items" => {
                let items = match v {
                    Value::Array(a) => a.first().map(schema_v2).unwrap_or_else(|| json!({})),
                    other => schema_v2(other),
                };
                out.insert(k.clone(), items);
            }
            "discriminator" => {
                let name = v
                    .as_str()
                    .or_else(|| v.get("propertyName").and_then(Value::as_str));
                if let Some(name) = name {
                    out.insert(k.clone(), json!(name));
                }
            }
            "exclusiveMaximum" | "exclusiveMinimum" if v.is_boolean() => {
                out.insert(k.clone(), v.clone());
            }
            _ if k.starts_with("x-") || SHARED_KEYWORDS.contains(&k.as_str()) => {
                out.insert(k.clone(), v.clone());
            }
            // oneOf/anyOf are handled below; nullable, not, writeOnly, deprecated, …: no v2
            // counterpart.
            _ => {}
        }
    }
    if !out.contains_key("type") {
        let alternatives = obj
            .get("oneOf")
            .or_else(|| obj.get("anyOf"))
            .and_then(Value::as_array);
        if let Some(t) = alternatives.and_then(|a| alternatives_type(a)) {
            out.insert("type".into(), json!(t));
        }
    }
    // What apiextensions-apiserver does publishing CRD schemas in v2, for kubectl's sake:
    // a nullable value, or one keeping unknown fields, is any value of its kind (kubectl would
    // otherwise reject `null` or the unknown fields); a nullable property is not required.
    let nullable = obj.get("nullable") == Some(&Value::Bool(true));
    if nullable {
        out.remove("type");
    }
    if nullable || obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        out.remove("items");
        out.remove("properties");
    }
    // kubectl's parser wants exactly one item schema on an array.
    if out.get("type").and_then(Value::as_str) == Some("array") && !out.contains_key("items") {
        out.remove("type");
    }
    let nullable_props: Vec<&String> = obj
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(_, p)| p.get("nullable") == Some(&Value::Bool(true)))
        .map(|(n, _)| n)
        .collect();
    let nullable_values = obj
        .get("additionalProperties")
        .and_then(|a| a.get("nullable"))
        == Some(&Value::Bool(true));
    if nullable_values {
        out.remove("required");
    } else if !nullable_props.is_empty()
        && let Some(Value::Array(required)) = out.get_mut("required")
    {
        required.retain(|r| {
            !r.as_str()
                .is_some_and(|r| nullable_props.iter().any(|n| *n == r))
        });
        if required.is_empty() {
            out.remove("required");
        }
    }
    Value::Object(out)
}

/// A v3 parameter (`schema: {type: …}`) as a v2 one (`type: …` inline).
fn parameter_v2(p: &Value) -> Value {
    let mut out = Map::new();
    let Some(obj) = p.as_object() else {
        return p.clone();
    };
    for (k, v) in obj {
        match k.as_str() {
            "schema" => {
                if let Some(s) = v.as_object() {
                    for (sk, sv) in s {
                        if matches!(
                            sk.as_str(),
                            "type" | "format" | "uniqueItems" | "enum" | "default" | "items"
                        ) {
                            out.insert(sk.clone(), sv.clone());
                        }
                    }
                }
            }
            "name" | "in" | "description" | "required" => {
                out.insert(k.clone(), v.clone());
            }
            _ if k.starts_with("x-") => {
                out.insert(k.clone(), v.clone());
            }
            _ => {}
        }
    }
    Value::Object(out)
}

/// The schema of the first media type of a v3 `content` map.
fn content_schema(content: Option<&Value>) -> Option<&Value> {
    content
        .and_then(Value::as_object)
        .and_then(|c| c.values().find_map(|m| m.get("schema")))
}

/// A v3 operation as a v2 one.
fn operation_v2(op: &Value) -> Value {
    let mut out = Map::new();
    let Some(obj) = op.as_object() else {
        return op.clone();
    };
    let mut consumes: Vec<Value> = Vec::new();
    let mut parameters: Vec<Value> = Vec::new();
    if let Some(body) = obj.get("requestBody") {
        if let Some(c) = body.get("content").and_then(Value::as_object) {
            consumes.extend(c.keys().map(|k| json!(k)));
        }
        let mut param = json!({ "name": "body", "in": "body" });
        if let Some(required) = body.get("required") {
            param["required"] = required.clone();
        }
        param["schema"] = content_schema(body.get("content"))
            .map(schema_v2)
            .unwrap_or_else(|| json!({}));
        parameters.push(param);
    }
    if let Some(ps) = obj.get("parameters").and_then(Value::as_array) {
        parameters.extend(ps.iter().map(parameter_v2));
    }
    let mut produces: Vec<Value> = Vec::new();
    let mut responses = Map::new();
    if let Some(rs) = obj.get("responses").and_then(Value::as_object) {
        for (code, r) in rs {
            let mut resp = Map::new();
            resp.insert(
                "description".into(),
                r.get("description").cloned().unwrap_or_else(|| json!("")),
            );
            if let Some(c) = r.get("content").and_then(Value::as_object) {
                for t in c.keys() {
                    let t = json!(t);
                    if !produces.contains(&t) {
                        produces.push(t);
                    }
                }
            }
            if let Some(s) = content_schema(r.get("content")) {
                resp.insert("schema".into(), schema_v2(s));
            }
            responses.insert(code.clone(), Value::Object(resp));
        }
    }
    for (k, v) in obj {
        match k.as_str() {
            "tags" | "summary" | "description" | "operationId" | "deprecated" => {
                out.insert(k.clone(), v.clone());
            }
            _ if k.starts_with("x-") => {
                out.insert(k.clone(), v.clone());
            }
            _ => {}
        }
    }
    if !consumes.is_empty() {
        out.insert("consumes".into(), Value::Array(consumes));
    }
    if !produces.is_empty() {
        out.insert("produces".into(), Value::Array(produces));
    }
    out.insert("schemes".into(), json!(["https"]));
    out.insert("parameters".into(), Value::Array(parameters));
    out.insert("responses".into(), Value::Object(responses));
    Value::Object(out)
}

/// A v3 path item as a v2 one.
fn path_item_v2(item: &Value) -> Value {
    let mut out = Map::new();
    if let Some(obj) = item.as_object() {
        for (k, v) in obj {
            match k.as_str() {
                "get" | "put" | "post" | "delete" | "options" | "head" | "patch" => {
                    out.insert(k.clone(), operation_v2(v));
                }
                "parameters" => {
                    let ps = v
                        .as_array()
                        .map(|a| a.iter().map(parameter_v2).collect())
                        .unwrap_or_default();
                    out.insert(k.clone(), Value::Array(ps));
                }
                _ if k.starts_with("x-") => {
                    out.insert(k.clone(), v.clone());
                }
                _ => {}
            }
        }
    }
    Value::Object(out)
}

// ---------------------------------------------------------------------------------------------
// Protobuf encoding of gnostic's `openapi.v2` messages.
// ---------------------------------------------------------------------------------------------

/// A protobuf message being written: fields appended in order, nested messages written into
/// their own buffer and appended with their length.
#[derive(Default)]
struct Pb {
    buf: Vec<u8>,
}

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;

impl Pb {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u64) {
        self.varint((u64::from(field) << 3) | wire);
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, LEN);
        self.varint(b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    /// A `string` field; proto3 leaves out empty strings.
    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }

    /// A `bool` field; proto3 leaves out `false`.
    fn boolean(&mut self, field: u32, b: bool) {
        if b {
            self.key(field, VARINT);
            self.varint(1);
        }
    }

    /// An `int64` field (negative values as ten-byte two's complement varints).
    fn int64(&mut self, field: u32, v: i64) {
        if v != 0 {
            self.key(field, VARINT);
            self.varint(v as u64);
        }
    }

    /// A `double` field.
    fn double(&mut self, field: u32, v: f64) {
        if v != 0.0 {
            self.key(field, FIXED64);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// A nested message field, always present (an empty message still says "set").
    fn message(&mut self, field: u32, write: impl FnOnce(&mut Pb)) {
        let mut inner = Pb::default();
        write(&mut inner);
        self.bytes(field, &inner.buf);
    }

    // JSON-driven helpers: each reads one key of a JSON object.

    fn str_of(&mut self, field: u32, obj: &Map<String, Value>, key: &str) {
        if let Some(s) = obj.get(key).and_then(Value::as_str) {
            self.string(field, s);
        }
    }

    fn bool_of(&mut self, field: u32, obj: &Map<String, Value>, key: &str) {
        if let Some(b) = obj.get(key).and_then(Value::as_bool) {
            self.boolean(field, b);
        }
    }

    fn int_of(&mut self, field: u32, obj: &Map<String, Value>, key: &str) {
        if let Some(n) = obj.get(key).and_then(Value::as_i64) {
            self.int64(field, n);
        }
    }

    fn double_of(&mut self, field: u32, obj: &Map<String, Value>, key: &str) {
        if let Some(n) = obj.get(key).and_then(Value::as_f64) {
            self.double(field, n);
        }
    }

    /// A `repeated string` field from a JSON array of strings (or a single string).
    fn strings_of(&mut self, field: u32, obj: &Map<String, Value>, key: &str) {
        match obj.get(key) {
            Some(Value::Array(a)) => {
                for s in a.iter().filter_map(Value::as_str) {
                    self.bytes(field, s.as_bytes());
                }
            }
            Some(Value::String(s)) => self.bytes(field, s.as_bytes()),
            _ => {}
        }
    }

    /// An `Any` field holding `value` as YAML (JSON text, which YAML reads the same).
    fn any(&mut self, field: u32, value: &Value) {
        self.message(field, |m| {
            m.bytes(2, value.to_string().as_bytes());
        });
    }

    fn any_of(&mut self, field: u32, obj: &Map<String, Value>, key: &str) {
        if let Some(v) = obj.get(key) {
            self.any(field, v);
        }
    }

    /// `repeated Any enum` from a JSON array.
    fn enum_of(&mut self, field: u32, obj: &Map<String, Value>) {
        if let Some(values) = obj.get("enum").and_then(Value::as_array) {
            for v in values {
                self.any(field, v);
            }
        }
    }

    /// `repeated NamedAny vendor_extension`: every `x-` key of `obj`, in key order.
    fn extensions(&mut self, field: u32, obj: &Map<String, Value>) {
        for (name, value) in obj.iter().filter(|(k, _)| k.starts_with("x-")) {
            self.message(field, |m| {
                m.string(1, name);
                m.any(2, value);
            });
        }
    }

    fn external_docs_of(&mut self, field: u32, obj: &Map<String, Value>) {
        if let Some(d) = obj.get("externalDocs").and_then(Value::as_object) {
            self.message(field, |m| {
                m.str_of(1, d, "description");
                m.str_of(2, d, "url");
                m.extensions(3, d);
            });
        }
    }
}

fn as_map(v: &Value) -> Option<&Map<String, Value>> {
    v.as_object()
}

/// `Schema`.
fn schema_pb(m: &mut Pb, s: &Map<String, Value>) {
    m.str_of(1, s, "$ref");
    m.str_of(2, s, "format");
    m.str_of(3, s, "title");
    m.str_of(4, s, "description");
    m.any_of(5, s, "default");
    m.double_of(6, s, "multipleOf");
    m.double_of(7, s, "maximum");
    m.bool_of(8, s, "exclusiveMaximum");
    m.double_of(9, s, "minimum");
    m.bool_of(10, s, "exclusiveMinimum");
    m.int_of(11, s, "maxLength");
    m.int_of(12, s, "minLength");
    m.str_of(13, s, "pattern");
    m.int_of(14, s, "maxItems");
    m.int_of(15, s, "minItems");
    m.bool_of(16, s, "uniqueItems");
    m.int_of(17, s, "maxProperties");
    m.int_of(18, s, "minProperties");
    m.strings_of(19, s, "required");
    m.enum_of(20, s);
    match s.get("additionalProperties") {
        // AdditionalPropertiesItem: oneof { Schema schema = 1; bool boolean = 2; }
        Some(Value::Bool(b)) => m.message(21, |a| {
            a.key(2, VARINT);
            a.varint(u64::from(*b));
        }),
        Some(Value::Object(ap)) => m.message(21, |a| a.message(1, |x| schema_pb(x, ap))),
        _ => {}
    }
    if s.contains_key("type") {
        // TypeItem { repeated string value = 1; }
        m.message(22, |t| t.strings_of(1, s, "type"));
    }
    match s.get("items") {
        // ItemsItem { repeated Schema schema = 1; }
        Some(Value::Object(i)) => m.message(23, |it| it.message(1, |x| schema_pb(x, i))),
        Some(Value::Array(a)) => m.message(23, |it| {
            for i in a.iter().filter_map(as_map) {
                it.message(1, |x| schema_pb(x, i));
            }
        }),
        _ => {}
    }
    if let Some(parts) = s.get("allOf").and_then(Value::as_array) {
        for p in parts.iter().filter_map(as_map) {
            m.message(24, |x| schema_pb(x, p));
        }
    }
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        // Properties { repeated NamedSchema additional_properties = 1; }
        m.message(25, |p| named_schemas(p, props));
    }
    m.str_of(26, s, "discriminator");
    m.bool_of(27, s, "readOnly");
    if let Some(x) = s.get("xml").and_then(Value::as_object) {
        m.message(28, |xm| {
            xm.str_of(1, x, "name");
            xm.str_of(2, x, "namespace");
            xm.str_of(3, x, "prefix");
            xm.bool_of(4, x, "attribute");
            xm.bool_of(5, x, "wrapped");
            xm.extensions(6, x);
        });
    }
    m.external_docs_of(29, s);
    m.any_of(30, s, "example");
    m.extensions(31, s);
}

/// `repeated NamedSchema` (field 1) from a JSON object of schemas.
fn named_schemas(m: &mut Pb, schemas: &Map<String, Value>) {
    for (name, schema) in schemas {
        m.message(1, |n| {
            n.string(1, name);
            let empty = Map::new();
            let s = schema.as_object().unwrap_or(&empty);
            n.message(2, |x| schema_pb(x, s));
        });
    }
}

/// `PrimitivesItems` (the items of an array parameter).
fn primitives_items_pb(m: &mut Pb, p: &Map<String, Value>) {
    m.str_of(1, p, "type");
    m.str_of(2, p, "format");
    if let Some(i) = p.get("items").and_then(Value::as_object) {
        m.message(3, |x| primitives_items_pb(x, i));
    }
    m.str_of(4, p, "collectionFormat");
    m.any_of(5, p, "default");
    m.double_of(6, p, "maximum");
    m.bool_of(7, p, "exclusiveMaximum");
    m.double_of(8, p, "minimum");
    m.bool_of(9, p, "exclusiveMinimum");
    m.int_of(10, p, "maxLength");
    m.int_of(11, p, "minLength");
    m.str_of(12, p, "pattern");
    m.int_of(13, p, "maxItems");
    m.int_of(14, p, "minItems");
    m.bool_of(15, p, "uniqueItems");
    m.enum_of(16, p);
    m.double_of(17, p, "multipleOf");
    m.extensions(18, p);
}

/// The `*ParameterSubSchema` messages. Header and path parameters number their fields from
/// `type = 5`; query and form-data parameters put `allow_empty_value` at 5 and shift the rest
/// by one.
fn non_body_parameter_pb(m: &mut Pb, p: &Map<String, Value>, allow_empty: bool) {
    m.bool_of(1, p, "required");
    m.str_of(2, p, "in");
    m.str_of(3, p, "description");
    m.str_of(4, p, "name");
    let shift = if allow_empty {
        m.bool_of(5, p, "allowEmptyValue");
        1
    } else {
        0
    };
    m.str_of(5 + shift, p, "type");
    m.str_of(6 + shift, p, "format");
    if let Some(i) = p.get("items").and_then(Value::as_object) {
        m.message(7 + shift, |x| primitives_items_pb(x, i));
    }
    m.str_of(8 + shift, p, "collectionFormat");
    m.any_of(9 + shift, p, "default");
    m.double_of(10 + shift, p, "maximum");
    m.bool_of(11 + shift, p, "exclusiveMaximum");
    m.double_of(12 + shift, p, "minimum");
    m.bool_of(13 + shift, p, "exclusiveMinimum");
    m.int_of(14 + shift, p, "maxLength");
    m.int_of(15 + shift, p, "minLength");
    m.str_of(16 + shift, p, "pattern");
    m.int_of(17 + shift, p, "maxItems");
    m.int_of(18 + shift, p, "minItems");
    m.bool_of(19 + shift, p, "uniqueItems");
    m.enum_of(20 + shift, p);
    m.double_of(21 + shift, p, "multipleOf");
    m.extensions(22 + shift, p);
}

/// `ParametersItem` → `Parameter` → `BodyParameter` | `NonBodyParameter` (by `in`), or a
/// `JsonReference` for a `$ref`.
fn parameters_item_pb(m: &mut Pb, p: &Map<String, Value>) {
    if let Some(r) = p.get("$ref").and_then(Value::as_str) {
        m.message(2, |j| {
            j.string(1, r);
            j.str_of(2, p, "description");
        });
        return;
    }
    m.message(1, |param| match p.get("in").and_then(Value::as_str) {
        Some("body") => param.message(1, |b| {
            b.str_of(1, p, "description");
            b.str_of(2, p, "name");
            b.str_of(3, p, "in");
            b.bool_of(4, p, "required");
            if let Some(s) = p.get("schema").and_then(Value::as_object) {
                b.message(5, |x| schema_pb(x, s));
            }
            b.extensions(6, p);
        }),
        location => param.message(2, |nb| {
            let (field, allow_empty) = match location {
                Some("header") => (1, false),
                Some("formData") => (2, true),
                Some("path") => (4, false),
                _ => (3, true),
            };
            nb.message(field, |x| non_body_parameter_pb(x, p, allow_empty));
        }),
    });
}

fn parameters_pb(m: &mut Pb, field: u32, obj: &Map<String, Value>) {
    if let Some(ps) = obj.get("parameters").and_then(Value::as_array) {
        for p in ps.iter().filter_map(as_map) {
            m.message(field, |x| parameters_item_pb(x, p));
        }
    }
}

/// `Responses { repeated NamedResponseValue response_code = 1; vendor_extension = 2; }`.
fn responses_pb(m: &mut Pb, rs: &Map<String, Value>) {
    for (code, r) in rs.iter().filter(|(k, _)| !k.starts_with("x-")) {
        let Some(r) = r.as_object() else { continue };
        m.message(1, |named| {
            named.string(1, code);
            named.message(2, |value| {
                if let Some(reference) = r.get("$ref").and_then(Value::as_str) {
                    value.message(2, |j| j.string(1, reference));
                    return;
                }
                value.message(1, |resp| {
                    resp.str_of(1, r, "description");
                    if let Some(s) = r.get("schema").and_then(Value::as_object) {
                        // SchemaItem: oneof { Schema schema = 1; FileSchema file_schema = 2; }
                        resp.message(2, |si| si.message(1, |x| schema_pb(x, s)));
                    }
                    resp.extensions(5, r);
                });
            });
        });
    }
    m.extensions(2, rs);
}

/// `Operation`.
fn operation_pb(m: &mut Pb, op: &Map<String, Value>) {
    m.strings_of(1, op, "tags");
    m.str_of(2, op, "summary");
    m.str_of(3, op, "description");
    m.external_docs_of(4, op);
    m.str_of(5, op, "operationId");
    m.strings_of(6, op, "produces");
    m.strings_of(7, op, "consumes");
    parameters_pb(m, 8, op);
    if let Some(rs) = op.get("responses").and_then(Value::as_object) {
        m.message(9, |x| responses_pb(x, rs));
    }
    m.strings_of(10, op, "schemes");
    m.bool_of(11, op, "deprecated");
    if let Some(sec) = op.get("security").and_then(Value::as_array) {
        security_requirements(m, 12, sec);
    }
    m.extensions(13, op);
}

/// `PathItem`.
fn path_item_pb(m: &mut Pb, item: &Map<String, Value>) {
    m.str_of(1, item, "$ref");
    for (field, method) in [
        (2, "get"),
        (3, "put"),
        (4, "post"),
        (5, "delete"),
        (6, "options"),
        (7, "head"),
        (8, "patch"),
    ] {
        if let Some(op) = item.get(method).and_then(Value::as_object) {
            m.message(field, |x| operation_pb(x, op));
        }
    }
    parameters_pb(m, 9, item);
    m.extensions(10, item);
}

/// `repeated SecurityRequirement` from `[{"BearerToken": []}]`.
fn security_requirements(m: &mut Pb, field: u32, reqs: &[Value]) {
    for req in reqs.iter().filter_map(as_map) {
        m.message(field, |r| {
            for (name, scopes) in req {
                // NamedStringArray { name = 1; StringArray value = 2 { repeated string value = 1; } }
                r.message(1, |n| {
                    n.string(1, name);
                    n.message(2, |a| {
                        for s in scopes.as_array().into_iter().flatten() {
                            if let Some(s) = s.as_str() {
                                a.bytes(1, s.as_bytes());
                            }
                        }
                    });
                });
            }
        });
    }
}

/// `SecurityDefinitions { repeated NamedSecurityDefinitionsItem additional_properties = 1; }`;
/// API-key and basic schemes (the ones kube-apiserver describes).
fn security_definitions_pb(m: &mut Pb, defs: &Map<String, Value>) {
    for (name, def) in defs {
        let Some(d) = def.as_object() else { continue };
        m.message(1, |n| {
            n.string(1, name);
            n.message(2, |item| match d.get("type").and_then(Value::as_str) {
                Some("basic") => item.message(1, |b| {
                    b.str_of(1, d, "type");
                    b.str_of(2, d, "description");
                    b.extensions(3, d);
                }),
                _ => item.message(2, |k| {
                    k.str_of(1, d, "type");
                    k.str_of(2, d, "name");
                    k.str_of(3, d, "in");
                    k.str_of(4, d, "description");
                    k.extensions(5, d);
                }),
            });
        });
    }
}

/// The Swagger 2.0 document `doc` (as [`document_json`] builds it) encoded as gnostic's
/// `openapi.v2.Document` protobuf message — the body of `GET /openapi/v2` for
/// `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`.
///
/// Encoded: `swagger`, `info`, `host`, `basePath`, `schemes`, `consumes`, `produces`,
/// `paths` (every operation with its parameters and responses), `definitions`,
/// `securityDefinitions` (apiKey/basic), `security`, and every vendor extension (`x-…`) as a
/// `NamedAny` whose YAML is the value's JSON text. Keys outside Swagger 2.0 are left out;
/// map-shaped parts keep the JSON object's key order (sorted).
pub fn document_protobuf(doc: &Value) -> Vec<u8> {
    let empty = Map::new();
    let d = doc.as_object().unwrap_or(&empty);
    let mut m = Pb::default();
    m.str_of(1, d, "swagger");
    if let Some(info) = d.get("info").and_then(Value::as_object) {
        m.message(2, |i| {
            i.str_of(1, info, "title");
            i.str_of(2, info, "version");
            i.str_of(3, info, "description");
            i.str_of(4, info, "termsOfService");
            i.extensions(7, info);
        });
    }
    m.str_of(3, d, "host");
    m.str_of(4, d, "basePath");
    m.strings_of(5, d, "schemes");
    m.strings_of(6, d, "consumes");
    m.strings_of(7, d, "produces");
    if let Some(paths) = d.get("paths").and_then(Value::as_object) {
        // Paths { repeated NamedAny vendor_extension = 1; repeated NamedPathItem path = 2; }
        m.message(8, |p| {
            p.extensions(1, paths);
            for (name, item) in paths.iter().filter(|(k, _)| !k.starts_with("x-")) {
                let Some(item) = item.as_object() else {
                    continue;
                };
                p.message(2, |n| {
                    n.string(1, name);
                    n.message(2, |x| path_item_pb(x, item));
                });
            }
        });
    }
    if let Some(defs) = d.get("definitions").and_then(Value::as_object) {
        // Definitions { repeated NamedSchema additional_properties = 1; }
        m.message(9, |x| named_schemas(x, defs));
    }
    if let Some(sec) = d.get("security").and_then(Value::as_array) {
        security_requirements(&mut m, 12, sec);
    }
    if let Some(defs) = d.get("securityDefinitions").and_then(Value::as_object) {
        m.message(13, |x| security_definitions_pb(x, defs));
    }
    m.external_docs_of(15, d);
    m.extensions(16, d);
    m.buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource;
    use crate::schema::builtin;

    fn built() -> Value {
        document_json(builtin::builtin(), &resource::builtin())
    }

    /// Every `$ref` string anywhere under `v`.
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if k == "$ref"
                        && let Some(s) = x.as_str()
                    {
                        out.push(s);
                    }
                    refs(x, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }

    #[test]
    fn every_ref_points_into_definitions_and_resolves() {
        let doc = built();
        let text = doc.to_string();
        assert!(!text.contains("#/components"), "a v3 reference is left");
        let defs = doc["definitions"].as_object().expect("definitions");
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(all.len() > 100, "only {} refs", all.len());
        for r in all {
            let name = r
                .strip_prefix(DEFINITIONS_PREFIX)
                .unwrap_or_else(|| panic!("{r} is not a definitions reference"));
            assert!(defs.contains_key(name), "{r} does not resolve");
        }
        assert_eq!(defs.len(), builtin::builtin().all().len());
    }

    /// What kube-openapi's v2 parser (`pkg/util/proto`, used by kubectl) rejects: a `$ref`
    /// beside a type or properties, several types, unknown primitive types, arrays without
    /// exactly one item schema. Plus v3-only keywords that must be gone.
    fn check_parseable(path: &str, s: &Value, problems: &mut Vec<String>) {
        let Some(o) = s.as_object() else {
            problems.push(format!("{path}: not an object"));
            return;
        };
        for k in ["oneOf", "anyOf", "nullable", "not", "writeOnly"] {
            if o.contains_key(k) {
                problems.push(format!("{path}: v3 keyword {k}"));
            }
        }
        if o.contains_key("$ref") {
            if o.contains_key("type") || o.contains_key("properties") {
                problems.push(format!("{path}: $ref with a type or properties"));
            }
            return;
        }
        match o.get("type") {
            None => {}
            Some(Value::String(t)) => match t.as_str() {
                "array" => match o.get("items") {
                    Some(i @ Value::Object(_)) => {
                        check_parseable(&format!("{path}[]"), i, problems)
                    }
                    _ => problems.push(format!("{path}: array without one item schema")),
                },
                "object" | "string" | "integer" | "number" | "boolean" => {}
                other => problems.push(format!("{path}: unknown type {other}")),
            },
            Some(other) => problems.push(format!("{path}: type {other}")),
        }
        if let Some(props) = o.get("properties").and_then(Value::as_object) {
            for (n, p) in props {
                check_parseable(&format!("{path}.{n}"), p, problems);
            }
        }
        if let Some(ap @ Value::Object(_)) = o.get("additionalProperties") {
            check_parseable(&format!("{path}{{}}"), ap, problems);
        }
    }

    #[test]
    fn definitions_are_what_kubectls_v2_parser_accepts() {
        let doc = built();
        let mut problems = Vec::new();
        for (name, s) in doc["definitions"].as_object().expect("definitions") {
            check_parseable(name, s, &mut problems);
        }
        assert!(problems.is_empty(), "{problems:#?}");
        let defs = &doc["definitions"];
        assert_eq!(
            defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["type"],
            "string"
        );
        assert_eq!(
            defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"],
            "int-or-string"
        );
        assert_eq!(
            defs["io.k8s.apimachinery.pkg.api.resource.Quantity"]["type"],
            "string"
        );
        let cm = &defs["io.k8s.api.core.v1.ConfigMap"];
        assert_eq!(
            cm["x-kubernetes-group-version-kind"],
            json!([{"group": "", "version": "v1", "kind": "ConfigMap"}])
        );
        assert_eq!(
            cm["properties"]["metadata"]["$ref"],
            "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        let containers = &defs["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(
            containers["items"]["$ref"],
            "#/definitions/io.k8s.api.core.v1.Container"
        );
    }

    #[test]
    fn schema_conversion_rewrites_v3_shapes() {
        let v3 = json!({
            "type": "object",
                        "properties": {
                "a": {"allOf": [{"$ref": "#/components/schemas/x.A"}], "description": "d", "default": {}},
                "b": {"oneOf": [{"type": "string"}, {"type": "number"}]},
                "c": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                "d": {"type": "array"},
                "h": {"type": "object", "nullable": true, "properties": {"x": {"type": "string"}}},
                "i": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                      "properties": {"x": {"type": "string"}}},
                "j": {"allOf": [{"type": "object"}, {"required": ["x"]}], "type": "object"},
                "e": {"x-kubernetes-preserve-unknown-fields": true},
                "f": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/x.F", "type": "object"}},
                "g": {"type": "string", "enum": ["x", "y"], "not": {"enum": ["z"]}},
            },
            "discriminator": {"propertyName": "kind"},
            "required": ["a", "h"],
        });
        let v2 = schema_v2(&v3);
        assert_eq!(
            v2,
            json!({
                "type": "object",
                "properties": {
                    "a": {"$ref": "#/definitions/x.A", "description": "d", "default": {}},
                    "b": {"type": "string"},
                    "c": {"type": "string", "format": "int-or-string", "x-kubernetes-int-or-string": true},
                    "d": {},
                    "h": {},
                    "i": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "j": {"type": "object"},
                    "e": {"x-kubernetes-preserve-unknown-fields": true},
                    "f": {"type": "object", "additionalProperties": {"$ref": "#/definitions/x.F"}},
                    "g": {"type": "string", "enum": ["x", "y"]},
                },
                "discriminator": "kind",
                "required": ["a"],
            })
        );
    }

    #[test]
    fn paths_carry_v2_operations_with_field_validation() {
        let doc = built();
        let item = &doc["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"];
        let patch = &item["patch"];
        assert_eq!(patch["x-kubernetes-action"], "patch");
        assert_eq!(
            patch["x-kubernetes-group-version-kind"],
            json!({"group": "", "version": "v1", "kind": "ConfigMap"})
        );
        let params = patch["parameters"].as_array().expect("parameters");
        let fv = params
            .iter()
            .find(|p| p["name"] == "fieldValidation")
            .expect("fieldValidation");
        assert_eq!(fv["in"], "query");
        assert_eq!(fv["type"], "string");
        assert!(fv.get("schema").is_none());
        let body = params.iter().find(|p| p["in"] == "body").expect("body");
        assert_eq!(
            body["schema"]["$ref"],
            "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
        );
        let consumes = patch["consumes"].as_array().expect("consumes");
        assert!(consumes.contains(&json!("application/strategic-merge-patch+json")));
        assert_eq!(
            patch["responses"]["200"]["schema"]["$ref"],
            "#/definitions/io.k8s.api.core.v1.ConfigMap"
        );
        assert!(
            item["parameters"]
                .as_array()
                .expect("path params")
                .iter()
                .any(|p| p["name"] == "namespace" && p["in"] == "path")
        );
        for method in ["get", "put", "delete"] {
            assert!(item.get(method).is_some(), "{method} missing");
        }
        assert!(
            doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]
                .get("post")
                .is_some()
        );
        assert!(
            doc["paths"]["/api/v1/nodes/{name}/status"]
                .get("patch")
                .is_some()
        );
    }

    // --- a tiny protobuf reader for the round trip --------------------------------------

    #[derive(Debug, Clone)]
    enum Field<'a> {
        Varint(u64),
        Fixed64(u64),
        Bytes(&'a [u8]),
    }

    fn read_varint(b: &[u8], pos: &mut usize) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let byte = b[*pos];
            *pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return v;
            }
            shift += 7;
        }
    }

    fn decode(b: &[u8]) -> Vec<(u32, Field<'_>)> {
        let mut pos = 0;
        let mut out = Vec::new();
        while pos < b.len() {
            let key = read_varint(b, &mut pos);
            let field = u32::try_from(key >> 3).expect("field number");
            let f = match key & 7 {
                0 => Field::Varint(read_varint(b, &mut pos)),
                1 => {
                    let v = u64::from_le_bytes(b[pos..pos + 8].try_into().expect("8 bytes"));
                    pos += 8;
                    Field::Fixed64(v)
                }
                2 => {
                    let len = usize::try_from(read_varint(b, &mut pos)).expect("length");
                    let s = &b[pos..pos + len];
                    pos += len;
                    Field::Bytes(s)
                }
                w => panic!("unexpected wire type {w} at {pos}"),
            };
            out.push((field, f));
        }
        assert_eq!(pos, b.len(), "trailing bytes");
        out
    }

    fn bytes_of<'a>(msg: &[(u32, Field<'a>)], field: u32) -> Vec<&'a [u8]> {
        msg.iter()
            .filter(|(f, _)| *f == field)
            .map(|(_, v)| match v {
                Field::Bytes(b) => *b,
                other => panic!("field {field} is {other:?}"),
            })
            .collect()
    }

    fn one<'a>(msg: &[(u32, Field<'a>)], field: u32) -> &'a [u8] {
        let all = bytes_of(msg, field);
        assert_eq!(all.len(), 1, "field {field} occurs {} times", all.len());
        all[0]
    }

    fn text(b: &[u8]) -> &str {
        std::str::from_utf8(b).expect("utf-8")
    }

    /// Name → value of a `repeated Named*` field.
    fn named<'a>(msg: &[(u32, Field<'a>)], field: u32) -> Vec<(String, &'a [u8])> {
        bytes_of(msg, field)
            .into_iter()
            .map(|n| {
                let d = decode(n);
                (text(one(&d, 1)).to_string(), one(&d, 2))
            })
            .collect()
    }

    #[test]
    fn protobuf_round_trip_keeps_definitions_paths_and_extensions() {
        let doc = built();
        let pb = document_protobuf(&doc);
        let d = decode(&pb);
        assert_eq!(text(one(&d, 1)), "2.0");
        let info = decode(one(&d, 2));
        assert_eq!(text(one(&info, 1)), "Kubernetes");
        assert_eq!(text(one(&info, 2)), "v1.33.0");

        // Definitions → NamedSchema → Schema
        let defs = named(&decode(one(&d, 9)), 1);
        assert_eq!(
            defs.len(),
            doc["definitions"].as_object().expect("defs").len()
        );
        let (_, cm) = defs
            .iter()
            .find(|(n, _)| n == "io.k8s.api.core.v1.ConfigMap")
            .expect("ConfigMap");
        let cm = decode(cm);
        let types: Vec<&str> = bytes_of(&decode(one(&cm, 22)), 1)
            .into_iter()
            .map(text)
            .collect();
        assert_eq!(types, ["object"]);
        let props = named(&decode(one(&cm, 25)), 1);
        let names: Vec<&str> = props.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "apiVersion",
                "binaryData",
                "data",
                "immutable",
                "kind",
                "metadata"
            ]
        );
        let (_, metadata) = &props[5];
        assert_eq!(
            text(one(&decode(metadata), 1)),
            "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        // data: a map of strings (AdditionalPropertiesItem.schema)
        let (_, data) = &props[2];
        let ap = decode(one(&decode(one(&decode(data), 21)), 1));
        assert_eq!(bytes_of(&decode(one(&ap, 22)), 1), [b"string".as_slice()]);
        // x-kubernetes-group-version-kind: NamedAny { name, Any { yaml } }
        let ext = named(&cm, 31);
        let (_, gvk) = ext
            .iter()
            .find(|(n, _)| n == "x-kubernetes-group-version-kind")
            .expect("gvk extension");
        let yaml: Value = serde_json::from_str(text(one(&decode(gvk), 2))).expect("yaml is json");
        assert_eq!(
            yaml,
            json!([{"group": "", "version": "v1", "kind": "ConfigMap"}])
        );

        // Paths → NamedPathItem → PathItem.patch → Operation.parameters
        let paths = named(&decode(one(&d, 8)), 2);
        assert_eq!(paths.len(), doc["paths"].as_object().expect("paths").len());
        let (_, item) = paths
            .iter()
            .find(|(n, _)| n == "/api/v1/namespaces/{namespace}/configmaps/{name}")
            .expect("configmap item path");
        let item = decode(item);
        let patch = decode(one(&item, 8));
        assert_eq!(text(one(&patch, 5)), "patchCoreV1NamespacedConfigMap");
        let mut query_names = Vec::new();
        let mut body_ref = None;
        for p in bytes_of(&patch, 8) {
            let param = decode(one(&decode(p), 1));
            if let [(1, Field::Bytes(body))] = param.as_slice() {
                let body = decode(body);
                let schema = decode(one(&body, 5));
                body_ref = Some(text(one(&schema, 1)).to_string());
            } else {
                let nb = decode(one(&param, 2));
                let q = decode(one(&nb, 3));
                assert_eq!(text(one(&q, 2)), "query");
                query_names.push(text(one(&q, 4)).to_string());
            }
        }
        assert!(
            query_names.contains(&"fieldValidation".to_string()),
            "{query_names:?}"
        );
        assert_eq!(
            body_ref.as_deref(),
            Some("#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch")
        );
        // path-level parameters: name and namespace as PathParameterSubSchema (oneof 4)
        let path_params: Vec<String> = bytes_of(&item, 9)
            .into_iter()
            .map(|p| {
                let nb = decode(one(&decode(one(&decode(p), 1)), 2));
                let pp = decode(one(&nb, 4));
                assert!(
                    matches!(pp.first(), Some((1, Field::Varint(1)))),
                    "required"
                );
                text(one(&pp, 4)).to_string()
            })
            .collect();
        assert_eq!(path_params, ["name", "namespace"]);
    }

    #[test]
    fn scalars_use_their_wire_types() {
        let s = json!({"maximum": 2.5, "minLength": 3, "exclusiveMinimum": true, "additionalProperties": false});
        let mut m = Pb::default();
        schema_pb(&mut m, s.as_object().expect("object"));
        let d = decode(&m.buf);
        assert!(
            matches!(d.iter().find(|(f, _)| *f == 7), Some((_, Field::Fixed64(v))) if f64::from_bits(*v) == 2.5)
        );
        assert!(matches!(
            d.iter().find(|(f, _)| *f == 12),
            Some((_, Field::Varint(3)))
        ));
        assert!(matches!(
            d.iter().find(|(f, _)| *f == 10),
            Some((_, Field::Varint(1)))
        ));
        let ap = decode(one(&d, 21));
        assert!(matches!(ap.as_slice(), [(2, Field::Varint(0))]));
    }
}
