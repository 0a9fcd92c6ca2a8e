//! JSON patch, RFC 6902, with JSON pointers (RFC 6901).
//!
//! kube-apiserver applies JSON patches with evanphx/json-patch: a document that is not a list
//! of operations is a 400 with the decoder's text; an operation that does not apply is a 422
//! whose message hides the detail ("the server rejected our request due to an error in our
//! request"); more than 10000 operations is a 413. The texts of [`PatchError::JsonPatchFailed`]
//! follow json-patch's for logs and tests.

use serde_json::Value;

use super::PatchError;

/// The most operations kube-apiserver accepts in one JSON patch.
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10000;

/// `target` with the RFC 6902 patch `ops` (a JSON array of operations) applied. The patch is
/// atomic: on any error nothing is returned but the error.
pub fn json_patch(target: &Value, ops: &Value) -> Result<Value, PatchError> {
    let ops = decode(ops)?;
    let mut doc = target.clone();
    for op in &ops {
        apply_op(&mut doc, op)?;
    }
    Ok(doc)
}

/// One decoded operation.
struct Op<'a> {
    kind: &'a str,
    path: &'a str,
    from: Option<&'a str>,
    value: Option<&'a Value>,
}

fn decode(ops: &Value) -> Result<Vec<Op<'_>>, PatchError> {
    let list = ops.as_array().ok_or_else(|| {
        PatchError::InvalidJsonPatch(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
            go_kind(ops)
        ))
    })?;
    if list.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooManyOperations {
            max: MAX_JSON_PATCH_OPERATIONS,
            got: list.len(),
        });
    }
    list.iter()
        .map(|op| {
            let obj = op.as_object().ok_or_else(|| {
                PatchError::InvalidJsonPatch(format!(
                    "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
                    go_kind(op)
                ))
            })?;
            let text = |k: &str| -> Result<Option<&str>, PatchError> {
                match obj.get(k) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s.as_str())),
                    Some(other) => Err(PatchError::InvalidJsonPatch(format!(
                        "json: cannot unmarshal {} into Go value of type string",
                        go_kind(other)
                    ))),
                }
            };
            Ok(Op {
                kind: text("op")?.unwrap_or("unknown"),
                path: text("path")?.ok_or_else(|| {
                    PatchError::JsonPatchFailed(format!("operation missing path field: {op}"))
                })?,
                from: text("from")?,
                value: obj.get("value"),
            })
        })
        .collect()
}

/// The name Go's JSON decoder gives a value's type in its errors.
fn go_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn failed(msg: String) -> PatchError {
    PatchError::JsonPatchFailed(msg)
}

fn apply_op(doc: &mut Value, op: &Op<'_>) -> Result<(), PatchError> {
    let null = Value::Null;
    match op.kind {
        "add" => add(doc, op.path, op.value.unwrap_or(&null).clone())
            .map_err(|e| failed(format!("add operation does not apply: {e}"))),
        "remove" => remove(doc, op.path)
            .map(drop)
            .map_err(|e| failed(format!("remove operation does not apply: {e}"))),
        "replace" => replace(doc, op.path, op.value.unwrap_or(&null).clone())
            .map_err(|e| failed(format!("replace operation does not apply: {e}"))),
        "move" => {
            let from = op
                .from
                .ok_or_else(|| failed(format!("move operation missing from field: {}", op.path)))?;
            if op.path != from && is_prefix(from, op.path) {
                return Err(failed(format!(
                    "move operation does not apply: cannot move {from:?} into its own child {:?}",
                    op.path
                )));
            }
            let value = remove(doc, from)
                .map_err(|e| failed(format!("move operation does not apply: from path: {e}")))?;
            add(doc, op.path, value)
                .map_err(|e| failed(format!("move operation does not apply: {e}")))
        }
        "copy" => {
            let from = op
                .from
                .ok_or_else(|| failed(format!("copy operation missing from field: {}", op.path)))?;
            let value = get(doc, from)
                .map_err(|e| failed(format!("copy operation does not apply: from path: {e}")))?
                .clone();
            add(doc, op.path, value)
                .map_err(|e| failed(format!("copy operation does not apply: {e}")))
        }
        "test" => {
            let want = op.value.unwrap_or(&null);
            match get(doc, op.path) {
                Ok(have) if have == want => Ok(()),
                Err(_) if want.is_null() => Ok(()),
                _ => Err(failed(format!(
                    "testing value {} failed: test failed",
                    op.path
                ))),
            }
        }
        other => Err(failed(format!("Unexpected kind: {other}"))),
    }
}

/// Whether pointer `parent` is a proper or equal prefix of pointer `child`.
fn is_prefix(parent: &str, child: &str) -> bool {
    child == parent || child.starts_with(&format!("{parent}/"))
}

/// The reference tokens of a JSON pointer, unescaped (`~1` → `/`, then `~0` → `~`).
fn tokens(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| format!("JSON pointer {pointer:?} must start with '/'"))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

/// An array index token: decimal digits without leading zeros.
fn index(token: &str, len: usize, path: &str) -> Result<usize, String> {
    let valid = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    let i: usize = if valid {
        token
            .parse()
            .map_err(|_| format!("Unable to access invalid index: {token}: {path:?}"))?
    } else {
        return Err(format!("Unable to access invalid index: {token}: {path:?}"));
    };
    if i >= len {
        return Err(format!("Unable to access invalid index: {i}: {path:?}"));
    }
    Ok(i)
}

/// The container holding the last token of `path`, and that token.
fn parent<'a>(doc: &'a mut Value, path: &str) -> Result<(&'a mut Value, String), String> {
    let mut toks = tokens(path)?;
    let last = toks
        .pop()
        .ok_or_else(|| format!("doc is missing path: {path:?}"))?;
    let mut cur = doc;
    for t in &toks {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(t)
                .ok_or_else(|| format!("doc is missing path: {path:?}: missing value"))?,
            Value::Array(a) => {
                let i = index(t, a.len(), path)?;
                &mut a[i]
            }
            _ => return Err(format!("doc is missing path: {path:?}: missing value")),
        };
    }
    Ok((cur, last))
}

fn get<'a>(doc: &'a Value, path: &str) -> Result<&'a Value, String> {
    let mut cur = doc;
    for t in tokens(path)? {
        cur = match cur {
            Value::Object(m) => m
                .get(&t)
                .ok_or_else(|| format!("doc is missing path: {path:?}: missing value"))?,
            Value::Array(a) => &a[index(&t, a.len(), path)?],
            _ => return Err(format!("doc is missing path: {path:?}: missing value")),
        };
    }
    Ok(cur)
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (container, last) = parent(doc, path)?;
    match container {
        Value::Object(m) => {
            m.insert(last, value);
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
            } else {
                // Inserting at len appends.
                let i = index(&last, a.len() + 1, path)?;
                a.insert(i, value);
            }
            Ok(())
        }
        _ => Err(format!("doc is missing path: {path:?}: missing value")),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    if path.is_empty() {
        return Ok(std::mem::take(doc));
    }
    let (container, last) = parent(doc, path)?;
    match container {
        Value::Object(m) => m
            .remove(&last)
            .ok_or_else(|| format!("doc is missing path: {path:?}: missing value")),
        Value::Array(a) => {
            let i = index(&last, a.len(), path)?;
            Ok(a.remove(i))
        }
        _ => Err(format!("doc is missing path: {path:?}: missing value")),
    }
}

fn replace(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (container, last) = parent(doc, path)?;
    match container {
        Value::Object(m) => match m.get_mut(&last) {
            Some(slot) => {
                *slot = value;
                Ok(())
            }
            None => Err(format!("doc is missing key: {path}: missing value")),
        },
        Value::Array(a) => {
            let i = index(&last, a.len(), path)?;
            a[i] = value;
            Ok(())
        }
        _ => Err(format!("doc is missing path: {path:?}: missing value")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(doc: Value, ops: Value, want: Value) {
        assert_eq!(
            json_patch(&doc, &ops).expect("patch applies"),
            want,
            "{ops}"
        );
    }

    fn fails(doc: Value, ops: Value) -> PatchError {
        json_patch(&doc, &ops).expect_err("patch must fail")
    }

    /// RFC 6902 appendix A examples.
    #[test]
    fn rfc6902_appendix_a() {
        ok(
            json!({"foo":"bar"}),
            json!([{"op":"add","path":"/baz","value":"qux"}]),
            json!({"baz":"qux","foo":"bar"}),
        );
        ok(
            json!({"foo":["bar","baz"]}),
            json!([{"op":"add","path":"/foo/1","value":"qux"}]),
            json!({"foo":["bar","qux","baz"]}),
        );
        ok(
            json!({"baz":"qux","foo":"bar"}),
            json!([{"op":"remove","path":"/baz"}]),
            json!({"foo":"bar"}),
        );
        ok(
            json!({"foo":["bar","qux","baz"]}),
            json!([{"op":"remove","path":"/foo/1"}]),
            json!({"foo":["bar","baz"]}),
        );
        ok(
            json!({"baz":"qux","foo":"bar"}),
            json!([{"op":"replace","path":"/baz","value":"boo"}]),
            json!({"baz":"boo","foo":"bar"}),
        );
        ok(
            json!({"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}),
            json!([{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]),
            json!({"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}),
        );
        ok(
            json!({"foo":["all","grass","cows","eat"]}),
            json!([{"op":"move","from":"/foo/1","path":"/foo/3"}]),
            json!({"foo":["all","cows","eat","grass"]}),
        );
        ok(
            json!({"baz":"qux","foo":["a",2,"c"]}),
            json!([{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]),
            json!({"baz":"qux","foo":["a",2,"c"]}),
        );
        ok(
            json!({"foo":"bar"}),
            json!([{"op":"add","path":"/child","value":{"grandchild":{}}}]),
            json!({"foo":"bar","child":{"grandchild":{}}}),
        );
        ok(
            json!({"foo":["bar"]}),
            json!([{"op":"add","path":"/foo/-","value":["abc","def"]}]),
            json!({"foo":["bar",["abc","def"]]}),
        );
        ok(
            json!({"/":9,"~1":10}),
            json!([{"op":"test","path":"/~01","value":10}]),
            json!({"/":9,"~1":10}),
        );
        ok(
            json!({"a/b":1,"m~n":2}),
            json!([{"op":"copy","from":"/a~1b","path":"/m~0n"}]),
            json!({"a/b":1,"m~n":1}),
        );
    }

    #[test]
    fn failures_are_422_with_the_generic_message() {
        // A.9 test failure, A.12 add to a nonexistent target, A.15 comparing strings and numbers.
        let e = fails(
            json!({"baz":"qux"}),
            json!([{"op":"test","path":"/baz","value":"bar"}]),
        );
        assert_eq!(e.to_string(), "testing value /baz failed: test failed");
        let api = e.to_api_error();
        assert_eq!((api.code, api.reason), (422, "Invalid"));
        assert_eq!(api.message, super::super::REJECTED_MESSAGE);
        let e = fails(
            json!({"foo":"bar"}),
            json!([{"op":"add","path":"/baz/bat","value":"qux"}]),
        );
        assert!(
            matches!(e, PatchError::JsonPatchFailed(ref m) if m.starts_with("add operation does not apply: doc is missing path")),
            "{e}"
        );
        fails(
            json!({"/":9,"~1":10}),
            json!([{"op":"test","path":"/~01","value":"10"}]),
        );
        fails(json!({"a":1}), json!([{"op":"remove","path":"/b"}]));
        fails(
            json!({"a":1}),
            json!([{"op":"replace","path":"/b","value":2}]),
        );
        fails(
            json!({"a":[1]}),
            json!([{"op":"add","path":"/a/2","value":2}]),
        );
        fails(json!({"a":[1]}), json!([{"op":"remove","path":"/a/01"}]));
        fails(json!({"a":1}), json!([{"op":"frob","path":"/a"}]));
        fails(
            json!({"a":{"b":1}}),
            json!([{"op":"move","from":"/a","path":"/a/b/c"}]),
        );
    }

    #[test]
    fn malformed_patches_are_bad_requests() {
        let e = fails(json!({}), json!({"op":"add"}));
        assert_eq!(e.to_api_error().code, 400);
        assert_eq!(
            e.to_string(),
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
        );
        let many: Vec<Value> = (0..=MAX_JSON_PATCH_OPERATIONS)
            .map(|_| json!({"op":"test","path":"/a","value":null}))
            .collect();
        let e = fails(json!({}), Value::Array(many));
        assert_eq!(e.to_api_error().code, 413);
    }

    #[test]
    fn patch_is_atomic_and_root_is_replaceable() {
        let doc = json!({"a":1});
        assert!(
            json_patch(
                &doc,
                &json!([{"op":"add","path":"/b","value":2},{"op":"remove","path":"/zz"}])
            )
            .is_err()
        );
        ok(
            doc,
            json!([{"op":"replace","path":"","value":[1]}]),
            json!([1]),
        );
    }

    #[test]
    fn rollout_undo_shape() {
        let deploy = json!({"metadata":{"annotations":{"a":"1"}},"spec":{"template":{"spec":{"containers":[{"name":"c","image":"v2"}]}}}});
        let ops = json!([
            {"op":"replace","path":"/spec/template","value":{"spec":{"containers":[{"name":"c","image":"v1"}]}}},
            {"op":"replace","path":"/metadata/annotations","value":{"deployment.kubernetes.io/revision":"1"}}
        ]);
        ok(
            deploy,
            ops,
            json!({"metadata":{"annotations":{"deployment.kubernetes.io/revision":"1"}},"spec":{"template":{"spec":{"containers":[{"name":"c","image":"v1"}]}}}}),
        );
    }
}
