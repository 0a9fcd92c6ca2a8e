//! Label and field selectors as kube-apiserver parses and evaluates them.
//!
//! [`LabelSelector`] reads the string syntax of `?labelSelector=` (apimachinery
//! `labels.Parse`: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, `a>1`,
//! `a<1`) and the `metav1.LabelSelector` objects of workload specs. [`FieldSelector`] reads
//! `?fieldSelector=` (`fields.ParseSelector`), and [`field_value`] gives the fields each kind
//! lets clients select on, so the server can answer `field label not supported: <f>` for the
//! others.

use serde_json::{Map, Value};

use crate::validate::names;

/// The operator of one label requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelOp {
    /// `a=b`, `a==b`, `a in (b,c)`: the label is set to one of the values.
    In,
    /// `a!=b`, `a notin (b,c)`: the label is unset or set to none of the values.
    NotIn,
    /// `a`: the label is set.
    Exists,
    /// `!a`: the label is unset.
    DoesNotExist,
    /// `a>1`: the label is an integer greater than the value.
    GreaterThan,
    /// `a<1`: the label is an integer less than the value.
    LessThan,
}

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The label key.
    pub key: String,
    /// How the label's value is compared.
    pub op: LabelOp,
    /// The values compared with (empty for `Exists`/`DoesNotExist`).
    pub values: Vec<String>,
}

impl Requirement {
    fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let value = labels.and_then(|l| l.get(&self.key)).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        match self.op {
            LabelOp::In => value.is_some_and(|v| self.values.contains(&v)),
            LabelOp::NotIn => value.is_none_or(|v| !self.values.contains(&v)),
            LabelOp::Exists => value.is_some(),
            LabelOp::DoesNotExist => value.is_none(),
            LabelOp::GreaterThan | LabelOp::LessThan => {
                let (Some(v), [want]) = (value, self.values.as_slice()) else {
                    return false;
                };
                match (v.parse::<i64>(), want.parse::<i64>()) {
                    (Ok(have), Ok(want)) => {
                        if self.op == LabelOp::GreaterThan {
                            have > want
                        } else {
                            have < want
                        }
                    }
                    _ => false,
                }
            }
        }
    }
}

/// A label selector: all requirements must hold. A selector built from a `null`
/// `metav1.LabelSelector` matches nothing; an empty one matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    /// The requirements, sorted by key.
    pub requirements: Vec<Requirement>,
    nothing: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    End,
    ClosedPar,
    Comma,
    Not,
    DoubleEquals,
    Equals,
    Greater,
    Identifier,
    In,
    Less,
    NotEquals,
    NotIn,
    OpenPar,
    Error,
}

fn is_special(c: u8) -> bool {
    matches!(c, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn symbol(s: &str) -> Option<Token> {
    Some(match s {
        ")" => Token::ClosedPar,
        "," => Token::Comma,
        "!" => Token::Not,
        "==" => Token::DoubleEquals,
        "=" => Token::Equals,
        ">" => Token::Greater,
        "in" => Token::In,
        "<" => Token::Less,
        "!=" => Token::NotEquals,
        "notin" => Token::NotIn,
        "(" => Token::OpenPar,
        _ => return None,
    })
}

/// Splits a selector string into tokens as apimachinery's lexer does.
fn lex(s: &str) -> Vec<(Token, String)> {
    let b = s.as_bytes();
    let mut pos = 0;
    let mut out = Vec::new();
    loop {
        while pos < b.len() && is_space(b[pos]) {
            pos += 1;
        }
        if pos >= b.len() {
            out.push((Token::End, String::new()));
            return out;
        }
        if is_special(b[pos]) {
            let start = pos;
            let mut last: Option<(Token, usize)> = None;
            while pos < b.len() && is_special(b[pos]) {
                let cand = &s[start..=pos];
                if let Some(t) = symbol(cand) {
                    last = Some((t, pos + 1));
                } else if last.is_some() {
                    break;
                }
                pos += 1;
            }
            match last {
                Some((t, end)) => {
                    out.push((t, s[start..end].to_string()));
                    pos = end;
                }
                None => out.push((
                    Token::Error,
                    format!("error expected: keyword found '{}'", &s[start..pos]),
                )),
            }
        } else {
            let start = pos;
            while pos < b.len() && !is_special(b[pos]) && !is_space(b[pos]) {
                pos += 1;
            }
            let word = &s[start..pos];
            let tok = match symbol(word) {
                Some(t @ (Token::In | Token::NotIn)) => t,
                _ => Token::Identifier,
            };
            out.push((tok, word.to_string()));
        }
    }
}

/// In value position `in` and `notin` are plain identifiers.
fn as_value(t: &Token) -> Token {
    match t {
        Token::In | Token::NotIn => Token::Identifier,
        other => other.clone(),
    }
}

struct Parser {
    items: Vec<(Token, String)>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> (Token, String) {
        let (t, l) = &self.items[self.pos.min(self.items.len() - 1)];
        (as_value(t), l.clone())
    }

    fn next_raw(&mut self) -> (Token, String) {
        let item = self.items[self.pos.min(self.items.len() - 1)].clone();
        self.pos += 1;
        item
    }

    fn next(&mut self) -> (Token, String) {
        let (t, l) = self.next_raw();
        (as_value(&t), l)
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut reqs = Vec::new();
        loop {
            let (tok, lit) = self.peek();
            match tok {
                Token::Identifier | Token::Not => {
                    let r = self
                        .requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    reqs.push(r);
                    let (t, l) = self.next();
                    match t {
                        Token::End => return Ok(reqs),
                        Token::Comma => {
                            let (t2, l2) = self.peek();
                            if t2 != Token::Identifier && t2 != Token::Not {
                                return Err(format!(
                                    "found '{l2}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => return Err(format!("found '{l}', expected: ',' or 'end of string'")),
                    }
                }
                Token::End => return Ok(reqs),
                _ => {
                    return Err(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        let (mut tok, mut lit) = self.next();
        let mut op = None;
        if tok == Token::Not {
            op = Some(LabelOp::DoesNotExist);
            (tok, lit) = self.next();
        }
        if tok != Token::Identifier {
            return Err(format!("found '{lit}', expected: identifier"));
        }
        let key = lit;
        let errs = names::qualified_name(&key);
        if !errs.is_empty() {
            return Err(format!(
                "<nil>: Invalid value: {key:?}: {}",
                errs.join("; ")
            ));
        }
        let (t, _) = self.peek();
        if op.is_some() || t == Token::End || t == Token::Comma {
            // `!a` takes no operator; whatever follows is the parser's to reject.
            return Ok(Requirement {
                key,
                op: op.unwrap_or(LabelOp::Exists),
                values: vec![],
            });
        }
        let (t, l) = self.next_raw();
        let (op, set) = match t {
            Token::In => (LabelOp::In, true),
            Token::NotIn => (LabelOp::NotIn, true),
            Token::Equals | Token::DoubleEquals => (LabelOp::In, false),
            Token::NotEquals => (LabelOp::NotIn, false),
            Token::Greater => (LabelOp::GreaterThan, false),
            Token::Less => (LabelOp::LessThan, false),
            _ => {
                return Err(format!(
                    "found '{l}', expected: in, notin, =, ==, !=, gt, lt"
                ));
            }
        };
        let mut values = if set {
            self.values()?
        } else {
            self.exact_value()?
        };
        values.sort();
        values.dedup();
        let req = Requirement { key, op, values };
        check_requirement(&req)?;
        Ok(req)
    }

    fn values(&mut self) -> Result<Vec<String>, String> {
        let (t, l) = self.next();
        if t != Token::OpenPar {
            return Err(format!("found '{l}' expected: '('"));
        }
        let (t, l) = self.peek();
        match t {
            Token::Identifier | Token::Comma => {
                let s = self.identifiers()?;
                let (t2, _) = self.next();
                if t2 != Token::ClosedPar {
                    return Err(format!("found '{l}', expected: ')'"));
                }
                Ok(s)
            }
            Token::ClosedPar => {
                self.next();
                Ok(vec![String::new()])
            }
            _ => Err(format!("found '{l}', expected: ',', ')' or identifier")),
        }
    }

    fn identifiers(&mut self) -> Result<Vec<String>, String> {
        let mut s: Vec<String> = Vec::new();
        loop {
            let (t, l) = self.next();
            match t {
                Token::Identifier => {
                    s.push(l);
                    let (t2, l2) = self.peek();
                    match t2 {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(s),
                        _ => return Err(format!("found '{l2}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    if s.is_empty() {
                        s.push(String::new());
                    }
                    let (t2, _) = self.peek();
                    if t2 == Token::ClosedPar {
                        s.push(String::new());
                        return Ok(s);
                    }
                    if t2 == Token::Comma {
                        self.next();
                        s.push(String::new());
                    }
                }
                _ => return Err(format!("found '{l}', expected: ',', or identifier")),
            }
        }
    }

    fn exact_value(&mut self) -> Result<Vec<String>, String> {
        let (t, _) = self.peek();
        if t == Token::End || t == Token::Comma {
            return Ok(vec![String::new()]);
        }
        let (t, l) = self.next();
        if t == Token::Identifier {
            Ok(vec![l])
        } else {
            Err(format!("found '{l}', expected: identifier"))
        }
    }
}

/// A list of strings as Go's `%#v` prints a `[]string`.
fn go_strings(v: &[String]) -> String {
    if v.is_empty() {
        return "[]string(nil)".to_string();
    }
    let items: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
    format!("[]string{{{}}}", items.join(", "))
}

/// The checks of apimachinery's `NewRequirement` on the values.
fn check_requirement(r: &Requirement) -> Result<(), String> {
    let mut errs = Vec::new();
    match r.op {
        LabelOp::In | LabelOp::NotIn if r.values.is_empty() => errs.push(format!(
            "values: Invalid value: {}: for 'in', 'notin' operators, values set can't be empty",
            go_strings(&r.values)
        )),
        LabelOp::GreaterThan | LabelOp::LessThan => {
            if r.values.len() != 1 {
                errs.push(
                    "values: Invalid value: for 'Gt', 'Lt' operators, exactly one value is required"
                        .to_string(),
                );
            }
            for (i, v) in r.values.iter().enumerate() {
                if v.parse::<i64>().is_err() {
                    errs.push(format!(
                        "values[{i}]: Invalid value: {v:?}: for 'Gt', 'Lt' operators, the value must be an integer"
                    ));
                }
            }
        }
        _ => {}
    }
    for (i, v) in r.values.iter().enumerate() {
        let e = names::label_value(v);
        if !e.is_empty() {
            errs.push(format!(
                "values[{i}][{}]: Invalid value: {v:?}: {}",
                r.key,
                e.join("; ")
            ));
        }
    }
    match errs.len() {
        0 => Ok(()),
        1 => Err(errs.remove(0)),
        _ => Err(format!("[{}]", errs.join(", "))),
    }
}

impl LabelSelector {
    /// Parses the string syntax of `?labelSelector=`. An empty string selects everything.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut p = Parser {
            items: lex(s),
            pos: 0,
        };
        let mut requirements = p.parse()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements,
            nothing: false,
        })
    }

    /// Converts a `metav1.LabelSelector` (`matchLabels`, `matchExpressions`). `null` selects
    /// nothing, `{}` everything (`LabelSelectorAsSelector`).
    pub fn from_api(v: &Value) -> Result<Self, String> {
        if v.is_null() {
            return Ok(LabelSelector {
                requirements: vec![],
                nothing: true,
            });
        }
        let mut requirements = Vec::new();
        if let Some(ml) = v.get("matchLabels").and_then(Value::as_object) {
            for (k, val) in ml {
                let value = val.as_str().unwrap_or_default().to_string();
                let key_errs = names::qualified_name(k);
                if !key_errs.is_empty() {
                    return Err(format!(
                        "key: Invalid value: {k:?}: {}",
                        key_errs.join("; ")
                    ));
                }
                let r = Requirement {
                    key: k.clone(),
                    op: LabelOp::In,
                    values: vec![value],
                };
                check_requirement(&r)?;
                requirements.push(r);
            }
        }
        if let Some(exprs) = v.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
                let op_s = e
                    .get("operator")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let mut values = crate::value::strings(e.get("values"));
                let op = match op_s {
                    "In" => LabelOp::In,
                    "NotIn" => LabelOp::NotIn,
                    "Exists" => LabelOp::Exists,
                    "DoesNotExist" => LabelOp::DoesNotExist,
                    other => {
                        return Err(format!("{other:?} is not a valid label selector operator"));
                    }
                };
                let key_errs = names::qualified_name(key);
                if !key_errs.is_empty() {
                    return Err(format!(
                        "key: Invalid value: {key:?}: {}",
                        key_errs.join("; ")
                    ));
                }
                if matches!(op, LabelOp::Exists | LabelOp::DoesNotExist) && !values.is_empty() {
                    return Err(format!(
                        "values: Invalid value: {}: values set must be empty for exists and does not exist",
                        go_strings(&values)
                    ));
                }
                values.sort();
                values.dedup();
                let r = Requirement {
                    key: key.to_string(),
                    op,
                    values,
                };
                check_requirement(&r)?;
                requirements.push(r);
            }
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements,
            nothing: false,
        })
    }

    /// Whether an object with these labels (`metadata.labels`, absent = none) is selected.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether the selector selects everything (no requirements).
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// The value a requirement pins `key` to (`key=v` or `key in (v)`), if any.
    pub fn requires_exact(&self, key: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == key)?;
        match (r.op, r.values.as_slice()) {
            (LabelOp::In, [v]) => Some(v),
            _ => None,
        }
    }
}

impl std::fmt::Display for LabelSelector {
    /// The canonical string form (`a=b,c in (d,e),!f`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(|r| {
                let vals = r.values.join(",");
                match (r.op, r.values.len()) {
                    (LabelOp::Exists, _) => r.key.clone(),
                    (LabelOp::DoesNotExist, _) => format!("!{}", r.key),
                    (LabelOp::In, 1) => format!("{}={vals}", r.key),
                    (LabelOp::NotIn, 1) => format!("{}!={vals}", r.key),
                    (LabelOp::In, _) => format!("{} in ({vals})", r.key),
                    (LabelOp::NotIn, _) => format!("{} notin ({vals})", r.key),
                    (LabelOp::GreaterThan, _) => format!("{}>{vals}", r.key),
                    (LabelOp::LessThan, _) => format!("{}<{vals}", r.key),
                }
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// One term of a field selector: `field=value` or `field!=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldTerm {
    /// The field path (`metadata.name`).
    pub field: String,
    /// The value compared with (unescaped).
    pub value: String,
    /// `!=` rather than `=`/`==`.
    pub negated: bool,
}

/// A field selector: all terms must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    /// The terms, sorted as upstream sorts them (by their text).
    pub terms: Vec<FieldTerm>,
}

/// Splits on commas not preceded by an escaping backslash.
fn split_terms(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            out.push(&s[start..i]);
            start = i + 1;
        }
    }
    out.push(&s[start..]);
    out
}

/// Finds the first unescaped operator (`!=`, `==`, `=`) in a term.
fn split_term(term: &str) -> Option<(&str, &str, &str)> {
    let mut escaped = false;
    for (i, c) in term.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
            continue;
        }
        for op in ["!=", "==", "="] {
            if term[i..].starts_with(op) {
                return Some((&term[..i], op, &term[i + op.len()..]));
            }
        }
    }
    None
}

/// Undoes `\\`, `\,` and `\=` escaping, refusing other escapes and bare `,`/`=`.
fn unescape(s: &str) -> Result<String, String> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_string());
    }
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                Some(e) => {
                    return Err(format!(
                        "invalid field selector: invalid escape sequence: \\{e}"
                    ));
                }
                None => return Err("invalid field selector: invalid escape sequence: \\".into()),
            },
            ',' | '=' => {
                return Err(format!(
                    "invalid field selector: unescaped character in value: {c}"
                ));
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

impl FieldSelector {
    /// Parses `?fieldSelector=` (`a=b,c!=d`; `\`-escaping of `\`, `,` and `=` in values).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut parts = split_terms(s);
        parts.sort();
        let mut terms = Vec::new();
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let Some((lhs, op, rhs)) = split_term(part) else {
                return Err(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                ));
            };
            let value = unescape(rhs)?;
            terms.push(FieldTerm {
                field: lhs.to_string(),
                value,
                negated: op == "!=",
            });
        }
        Ok(FieldSelector { terms })
    }

    /// Whether the object whose field values `get` returns is selected (a field `get` has no
    /// value for compares as the empty string, as upstream's `fields.Set`).
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.terms.iter().all(|t| {
            let v = get(&t.field).unwrap_or_default();
            (v == t.value) != t.negated
        })
    }

    /// The fields the selector names.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.terms.iter().map(|t| t.field.as_str())
    }

    /// Whether the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The value a term pins `field` to (`field=v`), if any.
    pub fn requires_exact(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == field && !t.negated)
            .map(|t| t.value.as_str())
    }
}

fn string_at(obj: &Value, path: &[&str]) -> String {
    let mut v = obj;
    for p in path {
        match v.get(p) {
            Some(next) => v = next,
            None => return String::new(),
        }
    }
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The value of a selectable `field` of `obj`, a `group`/`kind` object, as the field selector
/// compares it; `None` when the kind does not support selecting on `field` (the server then
/// answers 400 `field label not supported: <field>`).
pub fn field_value(group: &str, kind: &str, obj: &Value, field: &str) -> Option<String> {
    let s = |path: &[&str]| Some(string_at(obj, path));
    match field {
        "metadata.name" => return s(&["metadata", "name"]),
        "metadata.namespace" => return s(&["metadata", "namespace"]),
        _ => {}
    }
    match (group, kind, field) {
        ("", "Pod", "spec.nodeName") => s(&["spec", "nodeName"]),
        ("", "Pod", "spec.restartPolicy") => s(&["spec", "restartPolicy"]),
        ("", "Pod", "spec.schedulerName") => s(&["spec", "schedulerName"]),
        ("", "Pod", "spec.serviceAccountName") => s(&["spec", "serviceAccountName"]),
        ("", "Pod", "spec.hostNetwork") => Some(
            obj.pointer("/spec/hostNetwork")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .to_string(),
        ),
        ("", "Pod", "status.phase") => s(&["status", "phase"]),
        ("", "Pod", "status.podIP") => Some(
            obj.pointer("/status/podIPs/0/ip")
                .or_else(|| obj.pointer("/status/podIP"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        ),
        ("", "Pod", "status.nominatedNodeName") => s(&["status", "nominatedNodeName"]),
        ("", "Event", f) => core_event_field(obj, f),
        ("events.k8s.io", "Event", f) => new_event_field(obj, f),
        ("", "Secret", "type") => s(&["type"]),
        ("", "Namespace", "status.phase") => s(&["status", "phase"]),
        ("", "Node", "spec.unschedulable") => Some(
            obj.pointer("/spec/unschedulable")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .to_string(),
        ),
        ("", "Service", "spec.clusterIP") => s(&["spec", "clusterIP"]),
        ("", "Service", "spec.type") => s(&["spec", "type"]),
        ("", "ReplicationController", "status.replicas") => Some(int_at(obj, "/status/replicas")),
        ("apps", "ReplicaSet", "status.replicas") => Some(int_at(obj, "/status/replicas")),
        ("batch", "Job", "status.successful") => Some(int_at(obj, "/status/succeeded")),
        ("certificates.k8s.io", "CertificateSigningRequest", "spec.signerName") => {
            s(&["spec", "signerName"])
        }
        _ => None,
    }
}

fn int_at(obj: &Value, ptr: &str) -> String {
    obj.pointer(ptr)
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .to_string()
}

/// core/v1 Event's selectable fields (`involvedObject.*`, `reason`, `source`, `type`, …).
fn core_event_field(obj: &Value, f: &str) -> Option<String> {
    let st = |p: &str| {
        Some(
            obj.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        )
    };
    match f {
        "involvedObject.kind" => st("/involvedObject/kind"),
        "involvedObject.namespace" => st("/involvedObject/namespace"),
        "involvedObject.name" => st("/involvedObject/name"),
        "involvedObject.uid" => st("/involvedObject/uid"),
        "involvedObject.apiVersion" => st("/involvedObject/apiVersion"),
        "involvedObject.resourceVersion" => st("/involvedObject/resourceVersion"),
        "involvedObject.fieldPath" => st("/involvedObject/fieldPath"),
        "reason" => st("/reason"),
        "reportingComponent" => st("/reportingComponent"),
        "type" => st("/type"),
        "source" => {
            let c = obj
                .pointer("/source/component")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if c.is_empty() {
                st("/reportingComponent")
            } else {
                Some(c.to_string())
            }
        }
        _ => None,
    }
}

/// events.k8s.io/v1 Event: the same storage as core Events, selected on by the core field
/// names (`regarding` is `involvedObject`, `reportingController` is `reportingComponent`).
fn new_event_field(obj: &Value, f: &str) -> Option<String> {
    let st = |p: &str| {
        Some(
            obj.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        )
    };
    if let Some(sub) = f
        .strip_prefix("involvedObject.")
        .or_else(|| f.strip_prefix("regarding."))
    {
        return match sub {
            "kind" | "namespace" | "name" | "uid" | "apiVersion" | "resourceVersion"
            | "fieldPath" => st(&format!("/regarding/{sub}")),
            _ => None,
        };
    }
    match f {
        "reason" => st("/reason"),
        "reportingComponent" | "reportingController" => st("/reportingController"),
        "type" => st("/type"),
        "source" => {
            let c = obj
                .pointer("/deprecatedSource/component")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if c.is_empty() {
                st("/reportingController")
            } else {
                Some(c.to_string())
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().expect("labels object").clone()
    }

    #[test]
    fn parses_every_operator() {
        let l = labels(json!({"app": "web", "tier": "front", "n": "5"}));
        let yes = [
            "",
            "app=web",
            "app==web",
            "app!=db",
            "app in (web,db)",
            "app notin (db)",
            "app",
            "!missing",
            "app=web, tier in (front)",
            "n>3",
            "n<6",
            "missing notin (x)",
            "missing!=x",
        ];
        for s in yes {
            let sel = LabelSelector::parse(s).expect(s);
            assert!(sel.matches(Some(&l)), "{s} should match");
        }
        let no = [
            "app=db",
            "app in (db)",
            "app notin (web)",
            "!app",
            "missing",
            "n>5",
            "x>1",
        ];
        for s in no {
            let sel = LabelSelector::parse(s).expect(s);
            assert!(!sel.matches(Some(&l)), "{s} should not match");
            assert!(!sel.matches(None) || s.contains("notin") || s.starts_with('!'));
        }
        assert!(LabelSelector::parse("").expect("empty").is_empty());
    }

    #[test]
    fn parse_errors_read_as_upstream() {
        assert_eq!(
            LabelSelector::parse("app=web,").expect_err("trailing comma"),
            "found '', expected: identifier after ','"
        );
        assert_eq!(
            LabelSelector::parse("app in web").expect_err("no parens"),
            "unable to parse requirement: found 'web' expected: '('"
        );
        assert_eq!(
            LabelSelector::parse("app=a b").expect_err("space"),
            "found 'b', expected: ',' or 'end of string'"
        );
        let e = LabelSelector::parse("a b=c").expect_err("two words");
        assert_eq!(
            e,
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        let e = LabelSelector::parse("x=-bad").expect_err("bad value");
        assert!(e.starts_with("unable to parse requirement: values[0][x]: Invalid value: \"-bad\": a valid label must be"), "{e}");
        let e = LabelSelector::parse("-k=v").expect_err("bad key");
        assert!(
            e.starts_with(
                "unable to parse requirement: <nil>: Invalid value: \"-k\": name part must consist"
            ),
            "{e}"
        );
        assert_eq!(
            LabelSelector::parse("!a=b").expect_err("negated with value"),
            "found '=', expected: ',' or 'end of string'"
        );
        assert!(LabelSelector::parse("in in (in)").is_ok());
        assert!(LabelSelector::parse("x in (in,notin)").is_ok());
    }

    #[test]
    fn api_selectors() {
        let sel = LabelSelector::from_api(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "back"]},
                {"key": "canary", "operator": "DoesNotExist"}
            ]
        }))
        .expect("valid selector");
        assert!(sel.matches(Some(&labels(json!({"app": "web", "tier": "back"})))));
        assert!(!sel.matches(Some(&labels(
            json!({"app": "web", "tier": "back", "canary": "1"})
        ))));
        assert_eq!(sel.to_string(), "app=web,!canary,tier in (back,front)");
        let nothing = LabelSelector::from_api(&Value::Null).expect("null");
        assert!(!nothing.matches(None) && !nothing.is_empty());
        let everything = LabelSelector::from_api(&json!({})).expect("empty");
        assert!(everything.matches(None) && everything.is_empty());
        assert_eq!(
            LabelSelector::from_api(
                &json!({"matchExpressions": [{"key": "a", "operator": "Foo"}]})
            )
            .expect_err("bad op"),
            "\"Foo\" is not a valid label selector operator"
        );
    }

    #[test]
    fn field_selectors() {
        let sel = FieldSelector::parse("metadata.name=p1,status.phase!=Failed").expect("valid");
        assert_eq!(
            sel.fields().collect::<Vec<_>>(),
            ["metadata.name", "status.phase"]
        );
        let pod = json!({"metadata": {"name": "p1", "namespace": "d"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        let get = |f: &str| field_value("", "Pod", &pod, f);
        assert!(sel.matches(get));
        assert!(
            FieldSelector::parse("spec.nodeName==n1")
                .expect("ok")
                .matches(get)
        );
        assert!(
            !FieldSelector::parse("spec.nodeName=")
                .expect("ok")
                .matches(get)
        );
        assert!(
            FieldSelector::parse("spec.hostNetwork=false")
                .expect("ok")
                .matches(get)
        );
        assert_eq!(sel.requires_exact("metadata.name"), Some("p1"));
        let esc = FieldSelector::parse(r"metadata.name=a\,b\=c").expect("escaped");
        assert_eq!(esc.terms[0].value, "a,b=c");
        assert_eq!(
            FieldSelector::parse("abc").expect_err("no op"),
            "invalid selector: 'abc'; can't understand 'abc'"
        );
        assert_eq!(
            FieldSelector::parse(r"a=\x").expect_err("bad escape"),
            r"invalid field selector: invalid escape sequence: \x"
        );
        assert!(FieldSelector::parse("").expect("empty").is_empty());
    }

    #[test]
    fn selectable_fields_per_kind() {
        let ev = json!({"involvedObject": {"kind": "Pod", "name": "p1", "uid": "u"}, "source": {"component": "kubelet"}, "type": "Normal"});
        assert_eq!(
            field_value("", "Event", &ev, "involvedObject.name").as_deref(),
            Some("p1")
        );
        assert_eq!(
            field_value("", "Event", &ev, "source").as_deref(),
            Some("kubelet")
        );
        assert_eq!(
            field_value("", "Event", &ev, "involvedObject.fieldPath").as_deref(),
            Some("")
        );
        assert_eq!(field_value("", "Event", &ev, "spec.x"), None);
        let secret = json!({"type": "Opaque"});
        assert_eq!(
            field_value("", "Secret", &secret, "type").as_deref(),
            Some("Opaque")
        );
        assert_eq!(field_value("", "ConfigMap", &secret, "type"), None);
        assert_eq!(
            field_value("apps", "Deployment", &secret, "metadata.name").as_deref(),
            Some("")
        );
        assert_eq!(
            field_value(
                "",
                "Node",
                &json!({"spec": {"unschedulable": true}}),
                "spec.unschedulable"
            )
            .as_deref(),
            Some("true")
        );
        assert_eq!(
            field_value(
                "batch",
                "Job",
                &json!({"status": {"succeeded": 2}}),
                "status.successful"
            )
            .as_deref(),
            Some("2")
        );
    }
}
