//! Small readers of JSON values that every part of the API needs.

use serde_json::Value;

/// The strings of a JSON array (non-strings skipped); empty when `v` is absent or not an array.
pub fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}
