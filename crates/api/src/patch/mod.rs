//! Patching objects the four ways kube-apiserver accepts, and the field ownership that
//! server-side apply keeps in `metadata.managedFields`.
//!
//! - [`merge_patch`]: JSON merge patch (RFC 7386, `application/merge-patch+json`).
//! - [`json_patch`]: JSON patch (RFC 6902, `application/json-patch+json`).
//! - [`strategic_merge`]: strategic merge patch (`application/strategic-merge-patch+json`), with
//!   per-field merge keys and strategies read from the OpenAPI extensions of the object's
//!   schema and the `$patch`, `$retainKeys`, `$setElementOrder/…` and
//!   `$deleteFromPrimitiveList/…` directives.
//! - [`apply()`]: server-side apply (`application/apply-patch+yaml`), structured-merge-diff's
//!   semantics: associative lists merged by their keys, fields a manager stops applying
//!   removed unless someone else owns them, conflicts with other managers.
//! - [`track_update`]: the managedFields bookkeeping of every other write (create, update,
//!   patch).
//! - [`FieldSet`]: a set of field paths and its `FieldsV1` encoding.
//!
//! Everything here is a pure function on `serde_json::Value`. A schema argument is an
//! OpenAPI v3 schema looked up in [`Schemas`](crate::schema::Schemas); `None` means the type
//! is unknown: lists are then atomic and maps merge key by key.
//!
//! Errors carry the texts kube-apiserver's patch handler produces, and map to the status the
//! server answers with ([`PatchError::to_api_error`], [`ApplyError::to_api_error`]).

mod apply;
mod fieldset;
mod json;
mod merge;
mod strategic;

pub use apply::{
    ApplyError, Conflict, apply, client_side_apply_unchanged, conflict_message, track_update,
};
pub use fieldset::{FieldSet, PathElement, fields_of};
pub use json::{MAX_JSON_PATCH_OPERATIONS, json_patch};
pub use merge::merge_patch;
pub use strategic::strategic_merge;

use serde_json::Value;

use crate::error::ApiError;
use crate::schema::{Schemas, ext};

/// Why a patch could not be applied. Each kind answers with the status kube-apiserver gives.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    /// The JSON patch document is not a list of operations (400, the decoder's text).
    #[error("{0}")]
    InvalidJsonPatch(String),
    /// More operations than kube-apiserver accepts in one JSON patch (413).
    #[error("The allowed maximum operations in a JSON patch is {max}, got {got}")]
    TooManyOperations {
        /// The limit, 10000.
        max: usize,
        /// Operations in the patch.
        got: usize,
    },
    /// A JSON patch operation does not apply to the object (422; the server hides this text
    /// behind "the server rejected our request due to an error in our request").
    #[error("{0}")]
    JsonPatchFailed(String),
    /// A strategic merge patch in a format the server rejects as a bad request (400, this
    /// text): a malformed `$retainKeys`, `$setElementOrder` or `$deleteFromPrimitiveList`.
    #[error("{0}")]
    BadStrategicPatch(String),
    /// A strategic merge patch that is well-formed but cannot be applied (422, hidden text):
    /// lists of lists, content outside `$retainKeys`.
    #[error("{0}")]
    StrategicUnprocessable(String),
    /// Any other strategic merge failure — a list item without its merge key, an unknown
    /// `$patch` directive — which kube-apiserver reports as a 500 internal error.
    #[error("{0}")]
    StrategicFailed(String),
}

/// The message kube-apiserver puts in a 422 it builds with `NewGenericServerResponse`.
pub const REJECTED_MESSAGE: &str = "the server rejected our request due to an error in our request";

impl PatchError {
    /// The API error kube-apiserver answers with for this failure.
    pub fn to_api_error(&self) -> ApiError {
        match self {
            PatchError::InvalidJsonPatch(m) | PatchError::BadStrategicPatch(m) => {
                ApiError::bad_request(m.clone())
            }
            PatchError::TooManyOperations { .. } => ApiError::new(
                413,
                "RequestEntityTooLarge",
                format!("Request entity too large: {self}"),
            ),
            PatchError::JsonPatchFailed(_) | PatchError::StrategicUnprocessable(_) => ApiError {
                code: 422,
                reason: "Invalid",
                message: REJECTED_MESSAGE.to_string(),
                details: Some(serde_json::json!({})),
            },
            PatchError::StrategicFailed(m) => ApiError::internal(m),
        }
    }
}

impl From<PatchError> for ApiError {
    fn from(e: PatchError) -> Self {
        e.to_api_error()
    }
}

/// The schema of a field (or map value) `key` of the object schema `parent`: the raw
/// property (which may carry extensions beside a `$ref`) and its resolved form.
#[derive(Clone, Copy)]
pub(crate) struct FieldSchema<'a> {
    raw: &'a Value,
    resolved: &'a Value,
    /// Whether `key` is a declared property (a struct field) rather than a map entry.
    pub(crate) declared: bool,
}

impl<'a> FieldSchema<'a> {
    /// The schema to descend with.
    pub(crate) fn schema(&self) -> &'a Value {
        self.resolved
    }

    /// An extension set on the property or on the type it refers to.
    pub(crate) fn ext(&self, key: &str) -> Option<&'a str> {
        ext(self.raw, key).or_else(|| ext(self.resolved, key))
    }

    /// A keyword (e.g. `x-kubernetes-list-map-keys`) set on the property or its type.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.raw.get(key).or_else(|| self.resolved.get(key))
    }
}

/// The schema of `key` in objects of schema `parent`; `None` when unknown.
pub(crate) fn field_schema<'a>(
    schemas: &'a Schemas,
    parent: Option<&'a Value>,
    key: &str,
) -> Option<FieldSchema<'a>> {
    let parent = schemas.resolve(parent?);
    if let Some(raw) = parent.get("properties").and_then(|p| p.get(key)) {
        return Some(FieldSchema {
            raw,
            resolved: schemas.resolve(raw),
            declared: true,
        });
    }
    let raw = parent
        .get("additionalProperties")
        .filter(|a| a.is_object())?;
    Some(FieldSchema {
        raw,
        resolved: schemas.resolve(raw),
        declared: false,
    })
}

/// The resolved schema of the items of the list schema `list`.
pub(crate) fn items_schema<'a>(schemas: &'a Schemas, list: Option<&'a Value>) -> Option<&'a Value> {
    schemas.items(list?)
}

/// Whether the (resolved) object schema declares its fields (a struct) rather than being a
/// free-form map.
pub(crate) fn has_properties(schemas: &Schemas, schema: Option<&Value>) -> bool {
    schema
        .map(|s| schemas.resolve(s))
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty())
}
