//! Output and input formats shared by the client commands: docker's human durations and sizes
//! (go-units), its tab-aligned tables (Go's `tabwriter` with docker's settings), Go-duration and
//! memory-size parsing, `json.Indent`-style indentation, and a small Go-template evaluator for
//! `--format` / `inspect -f`.

use std::fmt::Write as _;

use serde_json::Value;

/// A value on the command line or a template that could not be understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    /// A size such as `-m 32x` that is not a number with an optional b/k/m/g/t/p suffix.
    #[error("invalid size: '{0}'")]
    Size(String),
    /// A duration such as `--health-interval 3q` that is not a Go duration.
    #[error("time: invalid duration \"{0}\"")]
    Duration(String),
    /// A template that does not parse, or an action this evaluator does not know.
    #[error("template parsing error: {0}")]
    Template(String),
}

/// docker's `units.HumanDuration`: "Less than a second", "1 second", "About a minute", "3 hours",
/// "2 weeks", …
pub fn human_duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    if seconds < 1 {
        return "Less than a second".into();
    }
    if seconds == 1 {
        return "1 second".into();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = seconds / 60;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (seconds as f64 / 3600.0).round() as i64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", seconds / 3600 / 24 / 365)
}

/// "N units ago" for a Unix timestamp, as the CREATED columns print it.
pub fn ago(unix_seconds: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    format!("{} ago", human_duration(now - unix_seconds))
}

/// Go's `strconv.FormatFloat(v, 'g', precision, 64)`: `precision` significant digits, trailing
/// zeros dropped, scientific notation when the exponent is < -4 or >= precision.
pub fn format_g(value: f64, precision: usize) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let precision = precision.max(1);
    // Round to `precision` significant digits through Rust's scientific formatting, which
    // also tells us the exponent after rounding.
    let sci = format!("{:.*e}", precision - 1, value);
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if exponent < -4 || exponent >= precision as i32 {
        let mantissa = strip_zeros(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.abs());
    }
    let decimals = (precision as i32 - 1 - exponent).max(0) as usize;
    strip_zeros(&format!("{value:.decimals$}")).to_string()
}

fn strip_zeros(number: &str) -> &str {
    if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        number
    }
}

/// docker's `units.HumanSizeWithPrecision(size, 3)`: decimal units (kB, MB, GB, …).
pub fn human_size(bytes: f64) -> String {
    decimal_size(bytes, 3)
}

/// docker's `units.HumanSize`: decimal units with four significant digits, as `system df`
/// and the prune reports print sizes.
pub fn human_size_4(bytes: f64) -> String {
    decimal_size(bytes, 4)
}

fn decimal_size(bytes: f64, precision: usize) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let (value, unit) = scale(bytes, 1000.0, &UNITS);
    format!("{}{unit}", format_g(value, precision))
}

/// docker's `units.BytesSize`: binary units with four significant digits ("1.5MiB"), as
/// `stats` prints memory.
pub fn bytes_size(bytes: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let (value, unit) = scale(bytes, 1024.0, &UNITS);
    format!("{}{unit}", format_g(value, 4))
}

fn scale<'a>(mut value: f64, base: f64, units: &[&'a str]) -> (f64, &'a str) {
    let mut index = 0;
    while value >= base && index + 1 < units.len() {
        value /= base;
        index += 1;
    }
    (value, units[index])
}

/// docker's `units.RAMInBytes` (`-m`, `--memory-swap`, `--shm-size`): a number with an
/// optional binary suffix b, k, m, g, t or p (optionally followed by "b"), case-insensitive.
pub fn parse_ram(text: &str) -> Result<i64, FormatError> {
    let bad = || FormatError::Size(text.to_string());
    let lower = text.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, suffix) = lower.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let multiplier: f64 = match suffix.trim() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024f64.powi(4),
        "p" | "pb" | "pib" => 1024f64.powi(5),
        _ => return Err(bad()),
    };
    if number < 0.0 {
        return Err(bad());
    }
    Ok((number * multiplier) as i64)
}

/// Go's `time.ParseDuration` ("30s", "1m30s", "1.5h", "500ms") in nanoseconds.
pub fn parse_go_duration(text: &str) -> Result<i64, FormatError> {
    let bad = || FormatError::Duration(text.to_string());
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let number: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit: f64 = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += number * nanos_per_unit;
    }
    let total = total.round() as i64;
    Ok(if negative { -total } else { total })
}

/// Twelve hex digits of an ID, without its `sha256:` prefix.
pub fn truncate_id(id: &str) -> String {
    let id = id.split_once(':').map_or(id, |(_, hex)| hex);
    id.chars().take(12).collect()
}

/// docker's `formatter.Ellipsis`: at most `max` characters, the last one "…" when cut.
pub fn ellipsis(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max || max == 0 {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Aligns tab-separated cells as docker's tables do (Go `tabwriter` with minwidth 10, padding
/// 3, space padding): each column is as wide as its widest cell plus three, at least ten; the
/// last cell of a line is not padded.
pub fn tabulate(lines: &[String]) -> String {
    tabulate_with(lines, 10)
}

/// [`tabulate`] with another minimum column width (`top` uses 20).
pub fn tabulate_with(lines: &[String], min_width: usize) -> String {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in &rows {
        // The last cell is not tab-terminated, so it takes no part in alignment.
        for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let width = (widths[i] + 3).max(min_width);
                let pad = width - cell.chars().count();
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Go's `json.Indent(raw, "", "    ")` on raw JSON text: keeps the key order the daemon chose,
/// `[]` and `{}` stay compact. docker prints `inspect` this way.
pub fn indent_json(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = raw.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("    ");
        }
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            ' ' | '\t' | '\n' | '\r' => {}
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                // Skip whitespace to see whether the container is empty.
                while chars.peek().is_some_and(|n| n.is_ascii_whitespace()) {
                    chars.next();
                }
                let close = if c == '{' { '}' } else { ']' };
                if chars.peek() == Some(&close) {
                    chars.next();
                    out.push(close);
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            _ => out.push(c),
        }
    }
    out
}

/// docker's `\t` and `\n` escapes in a `--format` string, and its `table` prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFormat {
    /// Whether the format started with `table`: a header line, and cells aligned.
    pub table: bool,
    /// The template, with its escapes resolved.
    pub template: String,
}

impl OutputFormat {
    /// Reads a `--format` value.
    pub fn parse(format: &str) -> Self {
        let (table, rest) = match format.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start_matches(' ')),
            None => (false, format),
        };
        let template = rest.replace("\\t", "\t").replace("\\n", "\n");
        OutputFormat { table, template }
    }

    /// Renders one line per row (and a header line from `headers` in table mode).
    pub fn render(&self, headers: &Value, rows: &[Value]) -> Result<String, FormatError> {
        let template = Template::parse(&self.template)?;
        let mut lines = Vec::with_capacity(rows.len() + 1);
        if self.table {
            lines.push(template.render(headers)?);
        }
        for row in rows {
            lines.push(template.render(row)?);
        }
        if self.table {
            Ok(tabulate(&lines))
        } else {
            Ok(lines.into_iter().fold(String::new(), |mut out, line| {
                out.push_str(&line);
                out.push('\n');
                out
            }))
        }
    }
}

/// A parsed Go template: text, `{{pipeline}}`, `{{if}}…{{else}}…{{end}}` and
/// `{{range}}…{{else}}…{{end}}`. Pipelines are terms (`.A.B`, `.`, `"string"`, numbers) and the
/// functions `json`, `index`, `join`, `upper`, `lower`, `len`, `println`, `print`, chained with `|`.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
}

type Pipeline = Vec<Vec<Term>>;

#[derive(Debug, Clone, PartialEq)]
enum Term {
    Path(Vec<String>),
    Str(String),
    Number(f64),
    Bool(bool),
    Func(String),
}

/// What a path lookup found: Go prints a missing map key as "<no value>" and a nil as "<nil>".
#[derive(Debug, Clone, PartialEq)]
enum Found {
    Missing,
    Value(Value),
}

impl Template {
    /// Parses a template.
    pub fn parse(text: &str) -> Result<Self, FormatError> {
        let tokens = lex(text)?;
        let mut position = 0;
        let (nodes, end) = parse_nodes(&tokens, &mut position)?;
        if let Some(end) = end {
            return Err(FormatError::Template(format!("unexpected {{{{{end}}}}}")));
        }
        Ok(Template { nodes })
    }

    /// Evaluates the template against `data` (`.`).
    pub fn render(&self, data: &Value) -> Result<String, FormatError> {
        let mut out = String::new();
        render_nodes(&self.nodes, data, &mut out)?;
        Ok(out)
    }
}

enum Token {
    Text(String),
    Action(String),
}

fn lex(text: &str) -> Result<Vec<Token>, FormatError> {
    let mut tokens = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let mut before = rest[..start].to_string();
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| FormatError::Template("unclosed action".into()))?;
        let mut inner = &after[..end];
        if let Some(trimmed) = inner.strip_prefix('-') {
            before = before.trim_end().to_string();
            inner = trimmed;
        }
        let mut trim_after = false;
        if let Some(trimmed) = inner.strip_suffix('-') {
            trim_after = true;
            inner = trimmed;
        }
        if !before.is_empty() {
            tokens.push(Token::Text(before));
        }
        tokens.push(Token::Action(inner.trim().to_string()));
        rest = &after[end + 2..];
        if trim_after {
            rest = rest.trim_start();
        }
    }
    if !rest.is_empty() {
        tokens.push(Token::Text(rest.to_string()));
    }
    Ok(tokens)
}

/// Parses nodes until `{{end}}` or `{{else}}` (returned as the second element) or the end.
fn parse_nodes(
    tokens: &[Token],
    position: &mut usize,
) -> Result<(Vec<Node>, Option<String>), FormatError> {
    let mut nodes = Vec::new();
    while *position < tokens.len() {
        let token = &tokens[*position];
        *position += 1;
        match token {
            Token::Text(text) => nodes.push(Node::Text(text.clone())),
            Token::Action(action) => {
                let word = action.split_whitespace().next().unwrap_or("");
                match word {
                    "end" | "else" => return Ok((nodes, Some(word.to_string()))),
                    "if" | "range" => {
                        let pipeline = parse_pipeline(action[word.len()..].trim())?;
                        let (body, end) = parse_nodes(tokens, position)?;
                        let otherwise = match end.as_deref() {
                            Some("else") => {
                                let (otherwise, end) = parse_nodes(tokens, position)?;
                                if end.as_deref() != Some("end") {
                                    return Err(FormatError::Template(format!(
                                        "missing {{{{end}}}} for {word}"
                                    )));
                                }
                                otherwise
                            }
                            Some("end") => Vec::new(),
                            _ => {
                                return Err(FormatError::Template(format!(
                                    "missing {{{{end}}}} for {word}"
                                )));
                            }
                        };
                        nodes.push(if word == "if" {
                            Node::If(pipeline, body, otherwise)
                        } else {
                            Node::Range(pipeline, body, otherwise)
                        });
                    }
                    _ => nodes.push(Node::Action(parse_pipeline(action)?)),
                }
            }
        }
    }
    Ok((nodes, None))
}

fn parse_pipeline(text: &str) -> Result<Pipeline, FormatError> {
    let words = split_words(text)?;
    let mut pipeline = vec![Vec::new()];
    for word in words {
        if word == "|" {
            pipeline.push(Vec::new());
            continue;
        }
        let term = if let Some(s) = word.strip_prefix('"') {
            Term::Str(unquote(s)?)
        } else if word == "." {
            Term::Path(Vec::new())
        } else if let Some(path) = word.strip_prefix('.') {
            Term::Path(path.split('.').map(str::to_string).collect())
        } else if word == "true" || word == "false" {
            Term::Bool(word == "true")
        } else if let Ok(n) = word.parse::<f64>() {
            Term::Number(n)
        } else if KNOWN_FUNCTIONS.contains(&word.as_str()) {
            Term::Func(word)
        } else {
            return Err(FormatError::Template(format!(
                "function \"{word}\" not defined"
            )));
        };
        if let Some(command) = pipeline.last_mut() {
            command.push(term);
        }
    }
    if pipeline.iter().any(Vec::is_empty) {
        return Err(FormatError::Template(format!(
            "empty command in \"{text}\""
        )));
    }
    Ok(pipeline)
}

const KNOWN_FUNCTIONS: [&str; 8] = [
    "json", "index", "join", "upper", "lower", "len", "println", "print",
];

fn split_words(text: &str) -> Result<Vec<String>, FormatError> {
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            let mut word = String::from('"');
            chars.next();
            let mut escaped = false;
            let mut closed = false;
            for c in chars.by_ref() {
                word.push(c);
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    closed = true;
                    break;
                }
            }
            if !closed {
                return Err(FormatError::Template("unterminated quoted string".into()));
            }
            words.push(word);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '"' {
                    break;
                }
                word.push(c);
                chars.next();
            }
            words.push(word);
        }
    }
    Ok(words)
}

fn unquote(body_with_quote: &str) -> Result<String, FormatError> {
    let quoted = format!("\"{body_with_quote}");
    serde_json::from_str(&quoted)
        .map_err(|_| FormatError::Template(format!("bad string literal {quoted}")))
}

fn render_nodes(nodes: &[Node], data: &Value, out: &mut String) -> Result<(), FormatError> {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Action(pipeline) => out.push_str(&display(&eval_pipeline(pipeline, data)?)),
            Node::If(pipeline, body, otherwise) => {
                let chosen = if truthy(&eval_pipeline(pipeline, data)?) {
                    body
                } else {
                    otherwise
                };
                render_nodes(chosen, data, out)?;
            }
            Node::Range(pipeline, body, otherwise) => {
                let items: Vec<Value> = match eval_pipeline(pipeline, data)? {
                    Found::Value(Value::Array(items)) => items,
                    Found::Value(Value::Object(map)) => map.into_iter().map(|(_, v)| v).collect(),
                    Found::Value(Value::Null) | Found::Missing => Vec::new(),
                    Found::Value(other) => {
                        return Err(FormatError::Template(format!(
                            "range can't iterate over {}",
                            display(&Found::Value(other))
                        )));
                    }
                };
                if items.is_empty() {
                    render_nodes(otherwise, data, out)?;
                }
                for item in &items {
                    render_nodes(body, item, out)?;
                }
            }
        }
    }
    Ok(())
}

fn eval_pipeline(pipeline: &Pipeline, data: &Value) -> Result<Found, FormatError> {
    let mut piped: Option<Found> = None;
    for command in pipeline {
        piped = Some(eval_command(command, data, piped)?);
    }
    Ok(piped.unwrap_or(Found::Missing))
}

fn eval_term(term: &Term, data: &Value) -> Found {
    match term {
        Term::Path(path) => lookup(data, path),
        Term::Str(s) => Found::Value(Value::String(s.clone())),
        Term::Number(n) => {
            Found::Value(serde_json::Number::from_f64(*n).map_or(Value::Null, |n| {
                if n.as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f.abs() < 1e15)
                {
                    Value::from(n.as_f64().unwrap_or(0.0) as i64)
                } else {
                    Value::Number(n)
                }
            }))
        }
        Term::Bool(b) => Found::Value(Value::Bool(*b)),
        Term::Func(_) => Found::Missing,
    }
}

fn eval_command(
    command: &[Term],
    data: &Value,
    piped: Option<Found>,
) -> Result<Found, FormatError> {
    let Some(Term::Func(name)) = command.first() else {
        if command.len() > 1 || piped.is_some() {
            return Err(FormatError::Template(
                "can't give argument to non-function".into(),
            ));
        }
        return Ok(eval_term(&command[0], data));
    };
    let mut args: Vec<Found> = command[1..].iter().map(|t| eval_term(t, data)).collect();
    if let Some(p) = piped {
        args.push(p);
    }
    let value = |f: &Found| match f {
        Found::Missing => Value::Null,
        Found::Value(v) => v.clone(),
    };
    let one = |args: &[Found]| -> Result<Value, FormatError> {
        match args {
            [a] => Ok(value(a)),
            _ => Err(FormatError::Template(format!(
                "wrong number of args for {name}: want 1 got {}",
                args.len()
            ))),
        }
    };
    let result = match name.as_str() {
        "json" => Value::String(serde_json::to_string(&one(&args)?).unwrap_or_default()),
        "upper" => Value::String(display(&Found::Value(one(&args)?)).to_uppercase()),
        "lower" => Value::String(display(&Found::Value(one(&args)?)).to_lowercase()),
        "len" => match one(&args)? {
            Value::Array(a) => Value::from(a.len()),
            Value::Object(o) => Value::from(o.len()),
            Value::String(s) => Value::from(s.len()),
            other => {
                return Err(FormatError::Template(format!(
                    "len of {}",
                    display(&Found::Value(other))
                )));
            }
        },
        "index" => {
            let mut current = args.first().map(value).unwrap_or(Value::Null);
            for key in args.iter().skip(1).map(value) {
                current = match (&current, &key) {
                    (Value::Object(map), Value::String(k)) => {
                        map.get(k).cloned().unwrap_or(Value::Null)
                    }
                    (Value::Array(items), Value::Number(n)) => n
                        .as_u64()
                        .and_then(|i| items.get(i as usize).cloned())
                        .ok_or_else(|| FormatError::Template(format!("index out of range: {n}")))?,
                    _ => Value::Null,
                };
            }
            current
        }
        "join" => match args.as_slice() {
            [list, sep] => {
                let sep = display(sep);
                match value(list) {
                    Value::Array(items) => Value::String(
                        items
                            .into_iter()
                            .map(|v| display(&Found::Value(v)))
                            .collect::<Vec<_>>()
                            .join(&sep),
                    ),
                    other => Value::String(display(&Found::Value(other))),
                }
            }
            _ => {
                return Err(FormatError::Template(
                    "join takes a list and a separator".into(),
                ));
            }
        },
        "print" | "println" => {
            let mut text = args.iter().map(display).collect::<Vec<_>>().join(" ");
            if name == "println" {
                text.push('\n');
            }
            Value::String(text)
        }
        other => {
            return Err(FormatError::Template(format!(
                "function \"{other}\" not defined"
            )));
        }
    };
    Ok(Found::Value(result))
}

fn lookup(data: &Value, path: &[String]) -> Found {
    let mut current = data;
    for key in path {
        match current {
            Value::Object(map) => match map.get(key) {
                Some(v) => current = v,
                None => return Found::Missing,
            },
            _ => return Found::Missing,
        }
    }
    Found::Value(current.clone())
}

fn truthy(found: &Found) -> bool {
    match found {
        Found::Missing => false,
        Found::Value(v) => match v {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
        },
    }
}

/// How Go's `fmt` prints a decoded JSON value: maps as `map[k:v]`, lists as `[a b]`.
fn display(found: &Found) -> String {
    match found {
        Found::Missing => "<no value>".into(),
        Found::Value(value) => {
            let mut out = String::new();
            display_into(value, &mut out);
            out
        }
    }
}

fn display_into(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                display_into(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push_str("map[");
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(key);
                out.push(':');
                display_into(&map[key], out);
            }
            out.push(']');
        }
    }
}

/// `sortorder.NaturalLess` as an ordering: digit runs compare as numbers (fewer leading zeros
/// first on a tie), digits sort before other bytes, other bytes compare bytewise. docker sorts
/// `network ls` and `port` output this way.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (da, db) = (a[i].is_ascii_digit(), b[j].is_ascii_digit());
        if da != db {
            return if da {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        if !da {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
            continue;
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let (start_a, start_b) = (i, j);
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let by_length = (i - start_a).cmp(&(j - start_b));
        if by_length != Ordering::Equal {
            return by_length;
        }
        let by_digits = a[start_a..i].cmp(&b[start_b..j]);
        if by_digits != Ordering::Equal {
            return by_digits;
        }
        if start_a != start_b {
            return start_a.cmp(&start_b);
        }
    }
    a.len().cmp(&b.len())
}

/// Go's `time.Time.String()` for an RFC 3339 timestamp from the API
/// (`2025-03-01 10:20:30.5 +0000 UTC`); the zero time when it does not parse.
pub fn go_time_string(rfc3339: &str) -> String {
    let Ok(time) = chrono::DateTime::parse_from_rfc3339(rfc3339) else {
        return "0001-01-01 00:00:00 +0000 UTC".into();
    };
    let mut out = time.format("%Y-%m-%d %H:%M:%S").to_string();
    let nanos = time.timestamp_subsec_nanos();
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    let offset = time.offset().local_minus_utc();
    if offset == 0 {
        out.push_str(" +0000 UTC");
    } else {
        // Go names a zone it does not know by its offset.
        let zone = time.format("%z").to_string();
        let _ = write!(out, " {zone} {zone}");
    }
    out
}

/// docker's `DisplayablePorts`: the `ps` PORTS column from the list's `Ports` array. Unpublished
/// ports and ports published on the same number are folded into ranges per address and
/// protocol (`0.0.0.0:8000-8002->8000-8002/tcp`); other mappings follow one by one.
pub fn display_ports(ports: &[Value]) -> String {
    struct Port {
        ip: String,
        private: u16,
        public: u16,
        kind: String,
    }
    let number = |v: &Value| u16::try_from(v.as_u64().unwrap_or(0)).unwrap_or(0);
    let mut ports: Vec<Port> = ports
        .iter()
        .map(|p| Port {
            ip: p["IP"].as_str().unwrap_or_default().to_string(),
            private: number(&p["PrivatePort"]),
            public: number(&p["PublicPort"]),
            kind: p["Type"].as_str().unwrap_or_default().to_string(),
        })
        .collect();
    ports.sort_by(|a, b| {
        (a.private, &a.ip, a.public, &a.kind).cmp(&(b.private, &b.ip, b.public, &b.kind))
    });
    let form_group = |key: &str, first: u16, last: u16| {
        let (ip, kind) = match key.split_once('/') {
            Some((ip, kind)) => (ip, kind),
            None => ("", key),
        };
        let mut group = first.to_string();
        if first != last {
            let _ = write!(group, "-{last}");
        }
        if !ip.is_empty() {
            group = format!("{}->{group}", join_host_port(ip, &group));
        }
        format!("{group}/{kind}")
    };
    let mut groups: Vec<(String, u16, u16)> = Vec::new();
    let mut result = Vec::new();
    let mut host_mappings = Vec::new();
    for port in &ports {
        let mut key = port.kind.clone();
        if !port.ip.is_empty() {
            if port.public != port.private {
                host_mappings.push(format!(
                    "{}->{}/{}",
                    join_host_port(&port.ip, &port.public.to_string()),
                    port.private,
                    port.kind
                ));
                continue;
            }
            key = format!("{}/{}", port.ip, port.kind);
        }
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            None => groups.push((key, port.private, port.private)),
            Some(group) if port.private == group.2.wrapping_add(1) => group.2 = port.private,
            Some(group) => {
                result.push(form_group(&key, group.1, group.2));
                (group.1, group.2) = (port.private, port.private);
            }
        }
    }
    result.extend(
        groups
            .iter()
            .map(|(key, first, last)| form_group(key, *first, *last)),
    );
    result.extend(host_mappings);
    result.join(", ")
}

/// Go's `net.JoinHostPort`: `host:port`, an IPv6 host in brackets.
pub fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn human_durations_match_go_units() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(3), "3 seconds");
        assert_eq!(human_duration(59), "59 seconds");
        assert_eq!(human_duration(60), "About a minute");
        assert_eq!(human_duration(119), "About a minute");
        assert_eq!(human_duration(120), "2 minutes");
        assert_eq!(human_duration(3599), "59 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(3 * 3600), "3 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(20 * 86400), "2 weeks");
        assert_eq!(human_duration(90 * 86400), "3 months");
        assert_eq!(human_duration(800 * 86400), "2 years");
    }

    #[test]
    fn sizes_match_go_units() {
        assert_eq!(human_size(0.0), "0B");
        assert_eq!(human_size(999.0), "999B");
        assert_eq!(human_size(1000.0), "1kB");
        assert_eq!(human_size(4_262_400.0), "4.26MB");
        assert_eq!(human_size(1_234_567_890.0), "1.23GB");
        assert_eq!(human_size(120_500.0), "120kB");
        assert_eq!(human_size_4(4_262_400.0), "4.262MB");
        assert_eq!(bytes_size(1024.0 * 1024.0 * 1.5), "1.5MiB");
        assert_eq!(bytes_size(512.0), "512B");
        assert_eq!(bytes_size(7.793 * 1024.0 * 1024.0 * 1024.0), "7.793GiB");
        assert_eq!(format_g(999.9, 3), "1e+03");
        assert_eq!(format_g(0.00001234, 3), "1.23e-05");
    }

    #[test]
    fn memory_sizes_parse_like_ram_in_bytes() {
        assert_eq!(parse_ram("32m"), Ok(32 * 1024 * 1024));
        assert_eq!(parse_ram("32M"), Ok(32 * 1024 * 1024));
        assert_eq!(parse_ram("1g"), Ok(1024 * 1024 * 1024));
        assert_eq!(parse_ram("1gb"), Ok(1024 * 1024 * 1024));
        assert_eq!(parse_ram("1.5k"), Ok(1536));
        assert_eq!(parse_ram("4096"), Ok(4096));
        assert_eq!(parse_ram("10b"), Ok(10));
        assert!(parse_ram("32x").is_err());
        assert!(parse_ram("m").is_err());
        assert!(parse_ram("").is_err());
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("30s"), Ok(30_000_000_000));
        assert_eq!(parse_go_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_go_duration("500ms"), Ok(500_000_000));
        assert_eq!(parse_go_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration("-2s"), Ok(-2_000_000_000));
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("3q").is_err());
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("s").is_err());
    }

    #[test]
    fn tables_align_like_tabwriter() {
        let lines = vec![
            "CONTAINER ID\tIMAGE\tNAMES".to_string(),
            "0123456789ab\tbusybox\tweb".to_string(),
        ];
        assert_eq!(
            tabulate(&lines),
            "CONTAINER ID   IMAGE     NAMES\n0123456789ab   busybox   web\n"
        );
    }

    #[test]
    fn ids_and_ellipsis() {
        assert_eq!(truncate_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(truncate_id("0123456789abcdef"), "0123456789ab");
        assert_eq!(
            ellipsis("sh -c 'while true; do echo'", 20),
            "sh -c 'while true; …"
        );
        assert_eq!(ellipsis("echo hi", 20), "echo hi");
    }

    #[test]
    fn json_is_indented_like_go() {
        let raw = r#"[{"Id":"a","Args":[],"Env":{},"S":"x,{y}:\"z\"","N":[1,2]}]"#;
        let expected = "[\n    {\n        \"Id\": \"a\",\n        \"Args\": [],\n        \"Env\": {},\n        \"S\": \"x,{y}:\\\"z\\\"\",\n        \"N\": [\n            1,\n            2\n        ]\n    }\n]";
        assert_eq!(indent_json(raw), expected);
    }

    fn render(template: &str, data: &Value) -> String {
        Template::parse(template)
            .expect("template parses")
            .render(data)
            .expect("template renders")
    }

    #[test]
    fn template_paths_and_json() {
        let data = json!({
            "Id": "abc",
            "State": {"Status": "exited", "ExitCode": 3, "OOMKilled": false, "Health": null},
            "Config": {"Env": ["A=1"], "Labels": {"b": "2", "a": "1"}},
        });
        assert_eq!(render("{{.State.Status}}", &data), "exited");
        assert_eq!(render("{{.State.ExitCode}}", &data), "3");
        assert_eq!(render("{{.State.OOMKilled}}", &data), "false");
        assert_eq!(render("{{.Id}}", &data), "abc");
        assert_eq!(
            render("{{json .Config}}", &data),
            r#"{"Env":["A=1"],"Labels":{"a":"1","b":"2"}}"#
        );
        assert_eq!(render("{{.State.Health.Status}}", &data), "<no value>");
        assert_eq!(render("{{.State.Health}}", &data), "<nil>");
        assert_eq!(render("{{.Config.Labels}}", &data), "map[a:1 b:2]");
        assert_eq!(render("{{.Config.Env}}", &data), "[A=1]");
        assert_eq!(render("id={{ .Id }}!", &data), "id=abc!");
        assert_eq!(render("{{index .Config.Labels \"b\"}}", &data), "2");
        assert_eq!(render("{{.Id | upper}}", &data), "ABC");
        assert_eq!(render("{{join .Config.Env \",\"}}", &data), "A=1");
    }

    #[test]
    fn template_if_and_range() {
        let data = json!({"Mounts": [{"Source": "/a"}, {"Source": "/b"}], "Tty": false});
        assert_eq!(
            render("{{range .Mounts}}{{.Source}};{{end}}", &data),
            "/a;/b;"
        );
        assert_eq!(render("{{if .Tty}}tty{{else}}no{{end}}", &data), "no");
        assert_eq!(
            render("{{range .None}}x{{else}}empty{{end}}", &data),
            "empty"
        );
        assert_eq!(render("a {{- \" b\" -}} c", &data), "a bc");
    }

    #[test]
    fn template_errors_name_the_problem() {
        assert!(matches!(
            Template::parse("{{.A"),
            Err(FormatError::Template(_))
        ));
        assert!(
            matches!(Template::parse("{{nosuch .A}}"), Err(FormatError::Template(m)) if m.contains("nosuch"))
        );
        assert!(Template::parse("{{if .A}}x").is_err());
        assert!(Template::parse("{{end}}").is_err());
    }

    #[test]
    fn output_format_table_prefix_and_escapes() {
        let format = OutputFormat::parse("table {{.ID}}\\t{{.Names}}");
        assert!(format.table);
        let out = format
            .render(
                &json!({"ID": "CONTAINER ID", "Names": "NAMES"}),
                &[json!({"ID": "abc", "Names": "web"})],
            )
            .expect("renders");
        assert_eq!(out, "CONTAINER ID   NAMES\nabc            web\n");
        let plain = OutputFormat::parse("{{.ID}}");
        assert!(!plain.table);
        assert_eq!(
            plain
                .render(&json!({}), &[json!({"ID": "x"})])
                .expect("renders"),
            "x\n"
        );
    }

    #[test]
    fn natural_order_like_sortorder() {
        use std::cmp::Ordering::{Equal, Greater, Less};
        assert_eq!(natural_cmp("net9", "net10"), Less);
        assert_eq!(natural_cmp("net10", "net9"), Greater);
        assert_eq!(natural_cmp("a", "a"), Equal);
        assert_eq!(natural_cmp("a01", "a1"), Greater);
        assert_eq!(natural_cmp("1a", "aa"), Less);
        assert_eq!(natural_cmp("bridge", "host"), Less);
        assert_eq!(natural_cmp("ab", "abc"), Less);
        let mut lines = [
            "80/tcp -> 0.0.0.0:8080",
            "443/tcp -> 0.0.0.0:8443",
            "8080/tcp -> [::]:32768",
        ];
        lines.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(lines[0], "80/tcp -> 0.0.0.0:8080");
        assert_eq!(lines[1], "443/tcp -> 0.0.0.0:8443");
    }

    #[test]
    fn go_time_strings() {
        assert_eq!(
            go_time_string("2025-03-01T10:20:30.123400Z"),
            "2025-03-01 10:20:30.1234 +0000 UTC"
        );
        assert_eq!(
            go_time_string("2025-03-01T10:20:30+01:00"),
            "2025-03-01 10:20:30 +0100 +0100"
        );
        assert_eq!(go_time_string(""), "0001-01-01 00:00:00 +0000 UTC");
    }

    #[test]
    fn ports_column_like_docker() {
        let port = |ip: &str, private: u16, public: u16, kind: &str| {
            let mut p = serde_json::json!({"PrivatePort": private, "Type": kind});
            if !ip.is_empty() {
                p["IP"] = serde_json::json!(ip);
                p["PublicPort"] = serde_json::json!(public);
            }
            p
        };
        assert_eq!(display_ports(&[]), "");
        assert_eq!(
            display_ports(&[port("0.0.0.0", 80, 8080, "tcp")]),
            "0.0.0.0:8080->80/tcp"
        );
        assert_eq!(
            display_ports(&[
                port("0.0.0.0", 80, 8080, "tcp"),
                port("::", 80, 8080, "tcp"),
                port("", 53, 0, "udp"),
            ]),
            "53/udp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"
        );
        // Same-number publications and exposed ports fold into ranges.
        assert_eq!(
            display_ports(&[
                port("0.0.0.0", 8002, 8002, "tcp"),
                port("0.0.0.0", 8000, 8000, "tcp"),
                port("0.0.0.0", 8001, 8001, "tcp"),
                port("", 90, 0, "tcp"),
                port("", 91, 0, "tcp"),
                port("", 93, 0, "tcp"),
            ]),
            "90-91/tcp, 93/tcp, 0.0.0.0:8000-8002->8000-8002/tcp"
        );
        assert_eq!(
            display_ports(&[port("::", 80, 80, "tcp"), port("::", 81, 81, "tcp")]),
            "[::]:80-81->80-81/tcp"
        );
    }
}
