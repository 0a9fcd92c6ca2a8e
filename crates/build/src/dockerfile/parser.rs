//! The Dockerfile parser, in Docker's two phases: physical lines to instruction nodes
//! (directives, comments, continuations, heredoc bodies, flags, JSON or shell form), then
//! nodes to typed instructions grouped in stages (argument counts, flag values, stage names).
//!
//! Every rule and error text follows buildkit's `frontend/dockerfile/parser` and
//! `frontend/dockerfile/instructions` as vendored by Docker 28, whose legacy builder prefixes
//! first-phase errors with `failed to parse <Dockerfile>: ` and second-phase errors with
//! `dockerfile parse error on line N: `.

use super::ParseError;
use super::ast::{ArgDecl, Command, Copy, Dockerfile, Healthcheck, Heredoc, Instruction, Kind};
use super::ast::{Run, Stage};
use super::lex::{self, LexOptions, go_quote};

/// The longest physical line Docker's scanner accepts (bytes, without the newline).
const MAX_LINE: usize = 64 * 1024 - 1;

/// Parses a Dockerfile named `Dockerfile`; see [`parse_named`].
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    parse_named(text, "Dockerfile")
}

/// Parses a Dockerfile; `name` is the file name Docker puts in some errors
/// (`the Dockerfile (<name>) cannot be empty`, `failed to parse <name>: …`).
pub fn parse_named(text: &str, name: &str) -> Result<Dockerfile, ParseError> {
    if text.is_empty() {
        return Err(ParseError {
            line: 0,
            message: format!("the Dockerfile ({name}) cannot be empty"),
        });
    }
    let parsed = parse_nodes(text, '\\').map_err(|e| ParseError {
        line: e.line,
        message: format!("failed to parse {name}: {}", e.message),
    })?;
    let mut stages: Vec<Stage> = Vec::new();
    let mut meta_args = Vec::new();
    for node in &parsed.nodes {
        let item = convert(node).map_err(|message| ParseError {
            line: node.start_line,
            message: format!(
                "dockerfile parse error on line {}: {message}",
                node.start_line
            ),
        })?;
        match item {
            Item::Stage(stage) => stages.push(stage),
            Item::Instruction(ins) => match stages.last_mut() {
                Some(stage) => stage.instructions.push(ins),
                None if matches!(ins.kind, Kind::Arg(_)) => meta_args.push(ins),
                None => {
                    return Err(ParseError {
                        line: node.start_line,
                        message: "no build stage in current context".into(),
                    });
                }
            },
        }
    }
    if stages.is_empty() {
        // Docker parses such a file and then builds nothing.
        return Err(ParseError {
            line: parsed.last_line,
            message: "No image was generated. Is your Dockerfile empty?".into(),
        });
    }
    Ok(Dockerfile {
        escape: parsed.escape,
        syntax: parsed.syntax,
        meta_args,
        stages,
    })
}

/// Parses one `ONBUILD` trigger as stored in an image's config (`RUN echo hi`, heredoc bodies
/// included) for execution when a later build uses that image as a base. Docker parses
/// triggers with the default escape character `\`; pass another to override. Errors carry
/// Docker's text without a line prefix, as the legacy builder reports them.
pub fn parse_trigger(text: &str, escape: char) -> Result<Instruction, ParseError> {
    let parsed = parse_nodes(text, escape)?;
    if parsed.nodes.len() != 1 {
        return Err(ParseError {
            line: parsed.nodes.get(1).map_or(0, |n| n.start_line),
            message: "onbuild trigger should be a single expression".into(),
        });
    }
    let node = &parsed.nodes[0];
    match convert(node) {
        Ok(Item::Instruction(ins)) => Ok(ins),
        Ok(Item::Stage(_)) => Err(ParseError {
            line: node.start_line,
            message: "*instructions.Stage is not a command type".into(),
        }),
        Err(message) => Err(ParseError {
            line: node.start_line,
            message,
        }),
    }
}

// ---------------------------------------------------------------------------------------
// Phase 1: lines to nodes.
// ---------------------------------------------------------------------------------------

/// One heredoc as read from the file.
#[derive(Debug, Clone)]
struct RawHeredoc {
    name: String,
    /// The body exactly as read (line endings kept).
    content: String,
    expand: bool,
    chomp: bool,
}

/// One logical instruction before typing (buildkit's `parser.Node`).
#[derive(Debug, Clone, Default)]
struct Node {
    /// The keyword as written.
    cmd: String,
    flags: Vec<String>,
    /// The arguments as the line parser of the keyword split them.
    args: Vec<String>,
    /// Arguments given as a JSON array.
    json: bool,
    /// The logical line (continuations joined).
    original: String,
    start_line: usize,
    heredocs: Vec<RawHeredoc>,
    /// `ONBUILD`'s instruction.
    sub: Option<Box<Node>>,
}

struct Parsed {
    nodes: Vec<Node>,
    escape: char,
    syntax: Option<String>,
    last_line: usize,
}

/// Phase-one failures: the message without Docker's `failed to parse …:` prefix.
impl From<PhaseOneError> for ParseError {
    fn from(e: PhaseOneError) -> Self {
        ParseError {
            line: e.line,
            message: e.message,
        }
    }
}

struct PhaseOneError {
    line: usize,
    message: String,
}

/// Physical lines with their endings, as Go's `bufio.Scanner` with a line-keeping split
/// function hands them out (it stops at a line longer than its 64 KiB buffer).
struct Lines<'a> {
    rest: &'a str,
    too_long: bool,
    first: bool,
}

impl<'a> Lines<'a> {
    fn next_line(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() || self.too_long {
            return None;
        }
        let end = self.rest.find('\n').map_or(self.rest.len(), |i| i + 1);
        let line = &self.rest[..end];
        let content = line.strip_suffix('\n').unwrap_or(line);
        if content.len() > MAX_LINE {
            self.too_long = true;
            return None;
        }
        self.rest = &self.rest[end..];
        if self.first {
            self.first = false;
            return Some(line.strip_prefix('\u{FEFF}').unwrap_or(line));
        }
        Some(line)
    }
}

/// `# syntax=`, `# escape=` and `# check=` at the top of the file.
struct Directives {
    done: bool,
    seen: Vec<String>,
    escape: char,
    syntax: Option<String>,
}

impl Directives {
    /// Handles a possible directive line (already trimmed); returns whether it was one.
    fn possible_directive(&mut self, line: &str) -> Result<bool, String> {
        if self.done {
            return Ok(false);
        }
        let Some(rest) = line.strip_prefix('#') else {
            self.done = true;
            return Ok(false);
        };
        let rest = rest.trim_start();
        let Some((key, value)) = match_directive(rest) else {
            self.done = true;
            return Ok(false);
        };
        let key = key.to_ascii_lowercase();
        if !matches!(key.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(false);
        }
        if self.seen.contains(&key) {
            return Err(format!("only one {key} parser directive can be used"));
        }
        self.seen.push(key.clone());
        match key.as_str() {
            "escape" => {
                if value != "`" && value != "\\" {
                    return Err(format!(
                        "invalid escape token '{value}' does not match ` or \\"
                    ));
                }
                self.escape = value.chars().next().unwrap_or('\\');
            }
            "syntax" => self.syntax = Some(value.to_string()),
            _ => {}
        }
        Ok(true)
    }
}

/// Go's `\s`: ASCII whitespace without `\v`.
fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`.
fn match_directive(s: &str) -> Option<(&str, &str)> {
    let key_len = s
        .char_indices()
        .take_while(|&(i, c)| {
            if i == 0 {
                c.is_ascii_alphabetic()
            } else {
                c.is_ascii_alphanumeric()
            }
        })
        .count();
    if key_len == 0 {
        return None;
    }
    let key = &s[..key_len];
    let after = s[key_len..].trim_start_matches(is_re_space);
    let value_part = after.strip_prefix('=')?;
    if value_part.contains('\n') || value_part.is_empty() {
        return None;
    }
    let trimmed = value_part.trim_matches(is_re_space);
    if !trimmed.is_empty() {
        return Some((key, trimmed));
    }
    // All whitespace: the lazy `.+?` takes the last character.
    let last = value_part.char_indices().last()?.0;
    Some((key, &value_part[last..]))
}

fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

fn is_comment(s: &str) -> bool {
    s.trim_start().starts_with('#')
}

/// Removes a line-continuation escape at the end of `line`; returns the line and whether the
/// logical line ends here.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    let Some(before) = t.strip_suffix(escape) else {
        return (line, true);
    };
    if before.is_empty() {
        return ("", false);
    }
    if before.ends_with(escape) {
        return (line, true);
    }
    (before, false)
}

fn parse_nodes(text: &str, escape: char) -> Result<Parsed, PhaseOneError> {
    let mut d = Directives {
        done: false,
        seen: Vec::new(),
        escape,
        syntax: None,
    };
    let mut lines = Lines {
        rest: text,
        too_long: false,
        first: true,
    };
    let mut current = 0usize;
    let mut nodes = Vec::new();
    let err = |line: usize, message: String| PhaseOneError { line, message };

    while let Some(raw) = lines.next_line() {
        let token = trim_newline(raw).trim_start();
        let is_directive = d
            .possible_directive(token)
            .map_err(|m| err(current + 1, m))?;
        let processed = if is_directive || is_comment(token) {
            ""
        } else {
            token
        };
        current += 1;
        let start_line = current;
        let (first, mut end_of_line) = trim_continuation(processed, d.escape);
        if end_of_line && first.is_empty() {
            continue;
        }
        let mut buf = String::from(first);
        while !end_of_line {
            let Some(raw) = lines.next_line() else { break };
            let token = trim_newline(raw);
            d.possible_directive(token)
                .map_err(|m| err(current + 1, m))?;
            current += 1;
            if is_comment(raw) {
                continue;
            }
            if token.trim_start().is_empty() {
                continue;
            }
            let (part, eol) = trim_continuation(token, d.escape);
            end_of_line = eol;
            buf.push_str(part);
        }

        let mut node = node_from_line(&buf, d.escape).map_err(|m| err(start_line, m))?;
        node.original = buf;
        node.start_line = start_line;

        if can_contain_heredoc(&node) && node.original.contains("<<") {
            let heredocs = heredocs_from_line(&node.original).map_err(|m| err(start_line, m))?;
            for mut h in heredocs {
                let mut terminated = false;
                while let Some(raw) = lines.next_line() {
                    current += 1;
                    let mut candidate = trim_newline(raw);
                    if h.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == h.name {
                        terminated = true;
                        break;
                    }
                    h.content.push_str(raw);
                }
                if !terminated {
                    return Err(err(start_line, "unterminated heredoc".into()));
                }
                node.heredocs.push(h);
            }
        }
        nodes.push(node);
    }
    if nodes.is_empty() {
        return Err(err(current, "file with no instructions".into()));
    }
    if lines.too_long {
        return Err(err(
            current + 1,
            format!("dockerfile line greater than max allowed size of {MAX_LINE}"),
        ));
    }
    Ok(Parsed {
        nodes,
        escape: d.escape,
        syntax: d.syntax,
        last_line: current,
    })
}

fn can_contain_heredoc(node: &Node) -> bool {
    let n = match (&node.sub, node.cmd.eq_ignore_ascii_case("onbuild")) {
        (Some(sub), true) => sub,
        _ => node,
    };
    let cmd = n.cmd.to_ascii_lowercase();
    matches!(cmd.as_str(), "add" | "copy" | "run") && !n.json
}

/// Go's `[\t\v\f\r ]`.
fn is_line_space(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Go's `regexp.MustCompile("[\t\v\f\r ]+").Split(s, -1)`.
fn split_whitespace_runs(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if is_line_space(c) {
            let mut end = i + c.len_utf8();
            while let Some(&(j, c2)) = chars.peek() {
                if !is_line_space(c2) {
                    break;
                }
                end = j + c2.len_utf8();
                chars.next();
            }
            out.push(s[start..i].to_string());
            start = end;
        }
    }
    out.push(s[start..].to_string());
    out
}

/// Splits at the first run of `[\t\v\f\r ]` (Go's `Split(s, 2)`).
fn split_first_run(s: &str) -> Option<(&str, &str)> {
    let i = s.find(is_line_space)?;
    let rest = s[i..].trim_start_matches(is_line_space);
    Some((&s[..i], rest))
}

/// A node without its `ONBUILD` child, plus the child's text for `ONBUILD`.
fn leaf_node(line: &str, escape: char) -> Result<(Node, Option<&str>), String> {
    let trimmed = line.trim();
    let (cmd, flags, rest) = match split_first_run(trimmed) {
        Some((cmd, after)) => {
            let (rest, flags) = extract_builder_flags(after, escape);
            (cmd, flags, rest.trim())
        }
        None => (trimmed, Vec::new(), ""),
    };
    let mut node = Node {
        cmd: cmd.to_string(),
        flags,
        ..Node::default()
    };
    if rest.is_empty() {
        // No arguments: every line parser gives none.
        return Ok((node, None));
    }
    let lower = cmd.to_ascii_lowercase();
    match lower.as_str() {
        "add" | "copy" | "volume" => match parse_json(rest)? {
            Some(args) => {
                node.args = args;
                node.json = true;
            }
            None => node.args = split_whitespace_runs(rest),
        },
        "cmd" | "entrypoint" | "run" | "shell" => match parse_json(rest)? {
            Some(args) => {
                node.args = args;
                node.json = true;
            }
            None => node.args = vec![rest.to_string()],
        },
        "arg" => node.args = parse_words(rest, escape),
        "env" => node.args = parse_name_val(rest, "ENV", escape)?,
        "label" => node.args = parse_name_val(rest, "LABEL", escape)?,
        "expose" | "from" => node.args = split_whitespace_runs(rest),
        "healthcheck" => {
            let sep = rest.find(char::is_whitespace).unwrap_or(rest.len());
            if sep > 0 {
                let typ = &rest[..sep];
                let cmd_text = rest[sep..].trim_start();
                node.args.push(typ.to_string());
                if !cmd_text.is_empty() {
                    match parse_json(cmd_text)? {
                        Some(args) => {
                            node.args.extend(args);
                            node.json = true;
                        }
                        None => node.args.push(cmd_text.to_string()),
                    }
                }
            }
        }
        "maintainer" | "stopsignal" | "user" | "workdir" => node.args = vec![rest.to_string()],
        "onbuild" => return Ok((node, Some(rest))),
        _ => {}
    }
    Ok((node, None))
}

/// A node from a logical line. `ONBUILD` keeps its instruction as a child; deeper
/// `ONBUILD ONBUILD …` levels are checked for first-phase errors only (iteratively, so no
/// input can exhaust the stack), as the second phase refuses them anyway.
fn node_from_line(line: &str, escape: char) -> Result<Node, String> {
    let (mut node, sub_text) = leaf_node(line, escape)?;
    if let Some(text) = sub_text {
        let (mut child, mut deeper) = leaf_node(text, escape)?;
        child.original = text.to_string();
        while let Some(t) = deeper {
            deeper = leaf_node(t, escape)?.1;
        }
        node.args = std::iter::once(child.cmd.clone())
            .chain(child.args.iter().cloned())
            .collect();
        node.sub = Some(Box::new(child));
    }
    Ok(node)
}

/// Leading `--flag[=value]` words (buildkit's `extractBuilderFlags`): returns the rest of the
/// line and the flags with quotes and escapes processed. Reads only as far as the flags go.
fn extract_builder_flags(line: &str, escape: char) -> (&str, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let mut it = line.char_indices().peekable();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    loop {
        let Some(&(pos, ch)) = it.peek() else {
            if phase != Phase::Spaces && word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        };
        if phase == Phase::Spaces {
            if ch.is_whitespace() {
                it.next();
                continue;
            }
            let dash2 = ch == '-' && line[pos + 1..].starts_with('-');
            if !dash2 {
                return (&line[pos..], words);
            }
            phase = Phase::Word;
        }
        it.next();
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if word == "--" {
                    return (&line[pos..], words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                continue;
            }
            if ch == escape {
                // An escape at the end of the line is dropped.
                if let Some((_, c)) = it.next() {
                    word.push(c);
                }
                continue;
            }
            word.push(ch);
            continue;
        }
        // In quotes.
        if ch == quote {
            phase = Phase::Word;
            continue;
        }
        if ch == escape {
            match it.next() {
                Some((_, c)) => word.push(c),
                None => phase = Phase::Word,
            }
            continue;
        }
        word.push(ch);
    }
    ("", words)
}

/// Words separated by whitespace with quotes and escapes kept (buildkit's `parseWords`).
fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut word = String::new();
    let mut pos = 0;
    loop {
        let at_end = pos >= chars.len();
        let mut ch = if at_end { '\0' } else { chars[pos] };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if at_end {
            if blank_ok || !word.is_empty() {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if pos + 1 == chars.len() {
                    pos += 1;
                    continue;
                }
                word.push(ch);
                pos += 1;
                ch = chars[pos];
            }
            word.push(ch);
            pos += 1;
            continue;
        }
        // In quotes.
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            if pos + 1 == chars.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            word.push(ch);
            pos += 1;
            ch = chars[pos];
        }
        word.push(ch);
        pos += 1;
    }
    words
}

/// `ENV`/`LABEL` arguments as `[key, value, separator]` triples (separator `=` or empty for
/// the legacy `KEY value` form).
fn parse_name_val(rest: &str, key: &str, escape: char) -> Result<Vec<String>, String> {
    let words = parse_words(rest, escape);
    if words.is_empty() {
        return Ok(Vec::new());
    }
    if !words[0].contains('=') {
        let Some((k, v)) = split_first_run(rest) else {
            return Err(format!("{key} must have two arguments"));
        };
        return Ok(vec![k.to_string(), v.to_string(), String::new()]);
    }
    let mut out = Vec::with_capacity(words.len() * 3);
    for word in words {
        let Some((k, v)) = word.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {}. Must be of the form: name=value",
                go_quote(&word)
            ));
        };
        out.push(k.to_string());
        out.push(v.to_string());
        out.push("=".to_string());
    }
    Ok(out)
}

/// A JSON array of strings (`Ok(Some)`), not a JSON array (`Ok(None)`: shell form), or a JSON
/// array holding something else than strings (Docker's error).
fn parse_json(rest: &str) -> Result<Option<Vec<String>>, String> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(None);
    }
    let Ok(serde_json::Value::Array(items)) = serde_json::from_str::<serde_json::Value>(rest)
    else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            serde_json::Value::String(s) => out.push(s),
            _ => {
                return Err(
                    "when using JSON array syntax, arrays must be comprised of strings only".into(),
                );
            }
        }
    }
    Ok(Some(out))
}

/// A heredoc word (`<<EOF`, `<<-"EOF"`, `3<<EOF`): buildkit's `ParseHeredoc`.
fn parse_heredoc(word: &str) -> Result<Option<RawHeredoc>, String> {
    // ^(\d*)<<(-?)\s*([^<]*)$
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let Some(after) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, after) = match after.strip_prefix('-') {
        Some(a) => (true, a),
        None => (false, after),
    };
    let rest = after.trim_start_matches(is_re_space);
    if rest.contains('<') || rest.is_empty() {
        return Ok(None);
    }
    let no_env = |_: &str| None;
    let mut opts = LexOptions::new('\\');
    opts.skip_unset_env = true;
    let (_, words) = lex::process(opts, rest, &no_env)?;
    if words.len() != 1 {
        return Ok(None);
    }
    opts.raw_quotes = true;
    let (_, raw_words) = lex::process(opts, rest, &no_env)?;
    if raw_words.len() != words.len() {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        ));
    }
    let quotes = |s: &str| s.chars().filter(|&c| c == '\'' || c == '"').count();
    let name = words.into_iter().next().unwrap_or_default();
    let expand = quotes(&name) == quotes(&raw_words[0]);
    Ok(Some(RawHeredoc {
        name,
        content: String::new(),
        expand,
        chomp,
    }))
}

fn heredocs_from_line(line: &str) -> Result<Vec<RawHeredoc>, String> {
    let mut opts = LexOptions::new('\\');
    opts.raw_quotes = true;
    opts.raw_escapes = true;
    opts.skip_unset_env = true;
    let words = lex::process(opts, line, &|_| None)
        .map(|(_, w)| w)
        .unwrap_or_default();
    let mut docs = Vec::new();
    for word in words {
        if let Some(h) = parse_heredoc(&word)? {
            docs.push(h);
        }
    }
    Ok(docs)
}

/// Removes leading tabs from every line (`<<-`).
fn chomp(content: &str) -> String {
    content
        .split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Phase 2: nodes to instructions.
// ---------------------------------------------------------------------------------------

enum Item {
    Stage(Stage),
    Instruction(Instruction),
}

const INSTRUCTIONS: [&str; 18] = [
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

fn at_least_one(cmd: &str) -> String {
    format!("{cmd} requires at least one argument")
}

fn exactly_one(cmd: &str) -> String {
    format!("{cmd} requires exactly one argument")
}

fn no_destination(cmd: &str) -> String {
    format!(
        "{cmd} requires at least two arguments, but only one was provided. Destination could not be determined"
    )
}

fn convert(node: &Node) -> Result<Item, String> {
    let lower = node.cmd.to_ascii_lowercase();
    let args = &node.args;
    let kind = match lower.as_str() {
        "from" => return parse_from(node).map(Item::Stage),
        "env" => {
            Flags::parse(&node.flags, &[])?;
            Kind::Env(parse_kvps(args, "ENV")?)
        }
        "label" => {
            Flags::parse(&node.flags, &[])?;
            Kind::Label(parse_kvps(args, "LABEL")?)
        }
        "maintainer" => {
            if args.len() != 1 {
                return Err(exactly_one("MAINTAINER"));
            }
            Flags::parse(&node.flags, &[])?;
            Kind::Maintainer(args[0].clone())
        }
        "add" => Kind::Add(parse_copy(node, true)?),
        "copy" => Kind::Copy(parse_copy(node, false)?),
        "onbuild" => return parse_onbuild(node).map(Item::Instruction),
        "workdir" => {
            if args.len() != 1 {
                return Err(exactly_one("WORKDIR"));
            }
            Flags::parse(&node.flags, &[])?;
            Kind::Workdir(args[0].clone())
        }
        "run" => Kind::Run(parse_run(node)?),
        "cmd" => {
            Flags::parse(&node.flags, &[])?;
            Kind::Cmd(command(node))
        }
        "entrypoint" => {
            Flags::parse(&node.flags, &[])?;
            Kind::Entrypoint(command(node))
        }
        "healthcheck" => Kind::Healthcheck(parse_healthcheck(node)?),
        "expose" => {
            if args.is_empty() {
                return Err(at_least_one("EXPOSE"));
            }
            Flags::parse(&node.flags, &[])?;
            let mut ports = args.clone();
            ports.sort();
            Kind::Expose(ports)
        }
        "user" => {
            if args.len() != 1 {
                return Err(exactly_one("USER"));
            }
            Flags::parse(&node.flags, &[])?;
            Kind::User(args[0].clone())
        }
        "volume" => {
            if args.is_empty() {
                return Err(at_least_one("VOLUME"));
            }
            Flags::parse(&node.flags, &[])?;
            let mut vols = Vec::with_capacity(args.len());
            for v in args {
                let v = v.trim();
                if v.is_empty() {
                    return Err("VOLUME specified can not be an empty string".into());
                }
                vols.push(v.to_string());
            }
            Kind::Volume(vols)
        }
        "stopsignal" => {
            if args.len() != 1 {
                return Err(exactly_one("STOPSIGNAL"));
            }
            Kind::StopSignal(args[0].clone())
        }
        "arg" => {
            if args.is_empty() {
                return Err(at_least_one("ARG"));
            }
            let mut decls = Vec::with_capacity(args.len());
            for a in args {
                let decl = match a.split_once('=') {
                    Some(("", _)) => return Err("ARG names can not be blank".into()),
                    Some((k, v)) => ArgDecl {
                        name: k.to_string(),
                        default: Some(v.to_string()),
                    },
                    None => ArgDecl {
                        name: a.clone(),
                        default: None,
                    },
                };
                decls.push(decl);
            }
            Kind::Arg(decls)
        }
        "shell" => {
            Flags::parse(&node.flags, &[])?;
            if args.is_empty() {
                return Err(at_least_one("SHELL"));
            }
            if !node.json {
                return Err("SHELL requires the arguments to be in JSON form".into());
            }
            Kind::Shell(args.clone())
        }
        _ => {
            let mut msg = format!("unknown instruction: {}", node.cmd);
            if let Some(s) = suggest(&node.cmd, &INSTRUCTIONS, false) {
                msg.push_str(&format!(" (did you mean {s}?)"));
            }
            return Err(msg);
        }
    };
    Ok(Item::Instruction(Instruction {
        line: node.start_line,
        original: node.original.trim().to_string(),
        kind,
    }))
}

fn parse_kvps(args: &[String], cmd: &str) -> Result<Vec<(String, String)>, String> {
    if args.is_empty() {
        return Err(at_least_one(cmd));
    }
    if args.len() % 3 != 0 {
        return Err(format!("Bad input to {cmd}, too many arguments"));
    }
    let mut out = Vec::with_capacity(args.len() / 3);
    for t in args.chunks(3) {
        if t[0].is_empty() {
            return Err(format!("{cmd} names can not be blank"));
        }
        out.push((t[0].clone(), t[1].clone()));
    }
    Ok(out)
}

fn is_valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

fn parse_from(node: &Node) -> Result<Stage, String> {
    let args = &node.args;
    let name = if args.len() == 3 && args[1].eq_ignore_ascii_case("as") {
        let name = args[2].to_lowercase();
        if !is_valid_stage_name(&name) {
            return Err(format!(
                "invalid name for build stage: {}, name can't start with a number or contain symbols",
                go_quote(&args[2])
            ));
        }
        Some(name)
    } else if args.len() != 1 {
        return Err("FROM requires either one or three arguments".into());
    } else {
        None
    };
    let flags = Flags::parse(&node.flags, &[("platform", FlagKind::Str)])?;
    Ok(Stage {
        base: args[0].clone(),
        name,
        platform: flags.string("platform"),
        line: node.start_line,
        original: node.original.trim().to_string(),
        instructions: Vec::new(),
    })
}

fn parse_onbuild(node: &Node) -> Result<Instruction, String> {
    if node.args.is_empty() {
        return Err(at_least_one("ONBUILD"));
    }
    Flags::parse(&node.flags, &[])?;
    let trigger = node.args[0].trim().to_uppercase();
    match trigger.as_str() {
        "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
        "MAINTAINER" | "FROM" => {
            return Err(format!("{trigger} isn't allowed as an ONBUILD trigger"));
        }
        _ => {}
    }
    // The trigger as stored in the image: the line without `ONBUILD`, then the heredocs.
    let original = &node.original;
    let mut expression = strip_onbuild_prefix(original).to_string();
    for h in &node.heredocs {
        expression.push('\n');
        expression.push_str(&h.content);
        expression.push_str(&h.name);
    }
    let Some(sub) = &node.sub else {
        return Err(at_least_one("ONBUILD"));
    };
    let mut child = (**sub).clone();
    child.start_line = node.start_line;
    child.heredocs = node.heredocs.clone();
    let trigger = match convert(&child)? {
        Item::Instruction(i) => i,
        Item::Stage(_) => return Err("*instructions.Stage is not a command type".into()),
    };
    Ok(Instruction {
        line: node.start_line,
        original: node.original.trim().to_string(),
        kind: Kind::OnBuild(expression, Box::new(trigger)),
    })
}

/// `(?i)^\s*ONBUILD\s*` removed.
fn strip_onbuild_prefix(s: &str) -> &str {
    let t = s.trim_start_matches(is_re_space);
    if t.len() >= 7 && t.is_char_boundary(7) && t[..7].eq_ignore_ascii_case("onbuild") {
        t[7..].trim_start_matches(is_re_space)
    } else {
        s
    }
}

fn command(node: &Node) -> Command {
    if node.json {
        Command::Exec(node.args.clone())
    } else {
        Command::Shell(node.args.join(" "))
    }
}

fn parse_run(node: &Node) -> Result<Run, String> {
    let flags = Flags::parse(
        &node.flags,
        &[
            ("mount", FlagKind::Strs),
            ("network", FlagKind::Str),
            ("security", FlagKind::Str),
        ],
    )?;
    let network = flags.used_string("network");
    if let Some(n) = &network
        && !matches!(n.as_str(), "default" | "none" | "host")
    {
        return Err(format!("invalid network mode {}", go_quote(n)));
    }
    let security = flags.used_string("security");
    if let Some(s) = &security
        && !matches!(s.as_str(), "sandbox" | "insecure")
    {
        return Err(format!("security {} is not valid", go_quote(s)));
    }
    let heredocs: Vec<Heredoc> = node
        .heredocs
        .iter()
        .map(|h| Heredoc {
            name: h.name.clone(),
            content: if h.chomp {
                chomp(&h.content)
            } else {
                h.content.clone()
            },
            expand: h.expand,
        })
        .collect();
    let mut cmd = command(node);
    if let Command::Shell(line) = &cmd
        && !node.heredocs.is_empty()
    {
        cmd = if parse_heredoc(line).ok().flatten().is_some() {
            // Just `RUN <<EOF`: the body is the script.
            Command::Shell(heredocs[0].content.clone())
        } else {
            // The shell reads the heredocs itself.
            let mut full = line.clone();
            for h in &node.heredocs {
                full.push('\n');
                full.push_str(&h.content);
                full.push_str(&h.name);
            }
            Command::Shell(full)
        };
    }
    Ok(Run {
        command: cmd,
        heredocs,
        mounts: flags.strings("mount"),
        network,
        security,
    })
}

fn parse_copy(node: &Node, add: bool) -> Result<Copy, String> {
    let name = if add { "ADD" } else { "COPY" };
    if node.args.len() < 2 {
        return Err(no_destination(name));
    }
    let specs: &[(&str, FlagKind)] = if add {
        &[
            ("chown", FlagKind::Str),
            ("chmod", FlagKind::Str),
            ("link", FlagKind::Bool),
            ("keep-git-dir", FlagKind::Bool),
            ("checksum", FlagKind::Str),
            ("exclude", FlagKind::Strs),
        ]
    } else {
        &[
            ("chown", FlagKind::Str),
            ("from", FlagKind::Str),
            ("chmod", FlagKind::Str),
            ("link", FlagKind::Bool),
            ("exclude", FlagKind::Strs),
            ("parents", FlagKind::Bool),
        ]
    };
    let flags = Flags::parse(&node.flags, specs)?;
    let (srcs, dest) = node.args.split_at(node.args.len() - 1);
    let dest = &dest[0];
    if parse_heredoc(dest).ok().flatten().is_some() {
        return Err(format!("{name} cannot accept a heredoc as a destination"));
    }
    // Bodies by delimiter; a repeated delimiter names the last body, as in Docker's map.
    let bodies: std::collections::HashMap<&str, &str> = node
        .heredocs
        .iter()
        .map(|b| (b.name.as_str(), b.content.as_str()))
        .collect();
    let mut sources = Vec::new();
    let mut heredocs = Vec::new();
    for src in srcs {
        match parse_heredoc(src).ok().flatten() {
            Some(h) => {
                let content = bodies.get(h.name.as_str()).copied().unwrap_or("");
                heredocs.push(Heredoc {
                    content: if h.chomp {
                        chomp(content)
                    } else {
                        content.to_string()
                    },
                    name: h.name,
                    expand: h.expand,
                });
            }
            None => sources.push(src.clone()),
        }
    }
    Ok(Copy {
        sources,
        heredocs,
        dest: dest.clone(),
        from: flags.string("from"),
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        link: flags.bool("link"),
        parents: flags.bool("parents"),
        exclude: flags.strings("exclude"),
        checksum: flags.string("checksum"),
        keep_git_dir: flags.bool("keep-git-dir"),
        json: node.json,
    })
}

fn parse_healthcheck(node: &Node) -> Result<Healthcheck, String> {
    let args = &node.args;
    if args.is_empty() {
        return Err(at_least_one("HEALTHCHECK"));
    }
    let typ = args[0].to_uppercase();
    let rest = &args[1..];
    if typ == "NONE" {
        if !rest.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Healthcheck::None);
    }
    let flags = Flags::parse(
        &node.flags,
        &[
            ("interval", FlagKind::Str),
            ("timeout", FlagKind::Str),
            ("start-period", FlagKind::Str),
            ("start-interval", FlagKind::Str),
            ("retries", FlagKind::Str),
        ],
    )?;
    if typ != "CMD" {
        return Err(format!(
            "Unknown type {} in HEALTHCHECK (try CMD)",
            go_quote(&typ)
        ));
    }
    let test = if node.json {
        rest.to_vec()
    } else if rest.is_empty() {
        Vec::new()
    } else {
        vec![rest.join(" ")]
    };
    if test.is_empty() {
        return Err("Missing command after HEALTHCHECK CMD".into());
    }
    let mut full = vec![if node.json { "CMD" } else { "CMD-SHELL" }.to_string()];
    full.extend(test);
    let interval = opt_interval(&flags, "interval")?;
    let timeout = opt_interval(&flags, "timeout")?;
    let start_period = opt_interval(&flags, "start-period")?;
    let start_interval = opt_interval(&flags, "start-interval")?;
    let retries = match flags.string("retries") {
        None => 0,
        Some(v) => {
            let r = parse_int32(&v)?;
            if r < 0 {
                return Err(format!("--retries cannot be negative ({r})"));
            }
            r
        }
    };
    Ok(Healthcheck::Cmd {
        test: full,
        interval,
        timeout,
        start_period,
        start_interval,
        retries,
    })
}

/// A HEALTHCHECK duration flag in nanoseconds: 0 when absent or zero, at least 1ms otherwise.
fn opt_interval(flags: &Flags, name: &str) -> Result<i64, String> {
    let Some(v) = flags.string(name) else {
        return Ok(0);
    };
    let d = parse_go_duration(&v)?;
    if d == 0 {
        return Ok(0);
    }
    if d < 1_000_000 {
        return Err(format!(
            "Interval {} cannot be less than 1ms",
            go_quote(name)
        ));
    }
    Ok(d)
}

/// Go's `strconv.ParseInt(s, 10, 32)`.
fn parse_int32(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "strconv.ParseInt: parsing {}: invalid syntax",
            go_quote(s)
        ));
    }
    match s.parse::<i32>() {
        Ok(v) => Ok(i64::from(v)),
        Err(_) => Err(format!(
            "strconv.ParseInt: parsing {}: value out of range",
            go_quote(s)
        )),
    }
}

/// Go's `time` package quoting (non-ASCII and control bytes as `\x..`).
fn time_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if (c as u32) >= 0x80 || c < ' ' {
            let mut b = [0u8; 4];
            for byte in c.encode_utf8(&mut b).bytes() {
                out.push_str(&format!("\\x{byte:02x}"));
            }
        } else {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// Go's `time.ParseDuration`, in nanoseconds, with its error texts.
pub fn parse_go_duration(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", time_quote(orig));
    let mut s = orig;
    let mut neg = false;
    if let Some(c) = s.chars().next()
        && (c == '-' || c == '+')
    {
        neg = c == '-';
        s = &s[1..];
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    const LIMIT: u64 = 1 << 63;
    let mut d: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes()[0];
        if !(b == b'.' || b.is_ascii_digit()) {
            return Err(invalid());
        }
        // Integer part.
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let mut v: u64 = 0;
        for &c in &s.as_bytes()[..int_len] {
            if v > LIMIT / 10 {
                return Err(invalid());
            }
            v = v * 10 + u64::from(c - b'0');
            if v > LIMIT {
                return Err(invalid());
            }
        }
        let pre = int_len > 0;
        s = &s[int_len..];
        // Fraction.
        let mut f: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut post = false;
        if let Some(r) = s.strip_prefix('.') {
            s = r;
            let frac_len = s.bytes().take_while(u8::is_ascii_digit).count();
            let mut overflow = false;
            for &c in &s.as_bytes()[..frac_len] {
                if overflow {
                    continue;
                }
                if f > (LIMIT - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let y = f * 10 + u64::from(c - b'0');
                if y > LIMIT {
                    overflow = true;
                    continue;
                }
                f = y;
                scale *= 10.0;
            }
            post = frac_len > 0;
            s = &s[frac_len..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        // Unit.
        let unit_len = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(format!(
                "time: missing unit in duration {}",
                time_quote(orig)
            ));
        }
        let u = &s[..unit_len];
        s = &s[unit_len..];
        let unit: u64 = match u {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    time_quote(u),
                    time_quote(orig)
                ));
            }
        };
        if v > LIMIT / unit {
            return Err(invalid());
        }
        v *= unit;
        if f > 0 {
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > LIMIT {
                return Err(invalid());
            }
        }
        d += v;
        if d > LIMIT {
            return Err(invalid());
        }
    }
    if neg {
        return Ok((d as i128).wrapping_neg() as i64);
    }
    if d > LIMIT - 1 {
        return Err(invalid());
    }
    Ok(d as i64)
}

// ---- flags ----

#[derive(Clone, Copy, PartialEq)]
enum FlagKind {
    Bool,
    Str,
    Strs,
}

/// Parsed `--name=value` flags (buildkit's `BFlags`).
struct Flags {
    values: Vec<(&'static str, FlagValue)>,
}

enum FlagValue {
    Bool(bool),
    Str(String),
    Strs(Vec<String>),
}

impl Flags {
    fn parse(args: &[String], specs: &[(&'static str, FlagKind)]) -> Result<Flags, String> {
        let mut values: Vec<(&'static str, FlagValue)> = Vec::new();
        for a in args {
            if a == "--" {
                break;
            }
            let Some(stripped) = a.strip_prefix("--") else {
                return Err(format!("arg should start with -- : {a}"));
            };
            let (name, value) = match stripped.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (stripped, None),
            };
            let flag_name = format!("--{name}");
            let Some(&(spec, kind)) = specs.iter().find(|(n, _)| *n == name) else {
                let mut msg = format!("unknown flag: {flag_name}");
                let names: Vec<&str> = specs.iter().map(|(n, _)| *n).collect();
                if let Some(s) = suggest(name, &names, true) {
                    msg.push_str(&format!(" (did you mean {s}?)"));
                }
                return Err(msg);
            };
            let existing = values.iter().position(|(n, _)| *n == spec);
            if existing.is_some() && kind != FlagKind::Strs {
                return Err(format!("duplicate flag specified: {flag_name}"));
            }
            match kind {
                FlagKind::Bool => {
                    if value == Some("") {
                        return Err(format!("missing a value on flag: {flag_name}"));
                    }
                    let b = match value.map(str::to_lowercase).as_deref() {
                        None | Some("true") => true,
                        Some("false") => false,
                        Some(_) => {
                            return Err(format!(
                                "expecting boolean value for flag {flag_name}, not: {}",
                                value.unwrap_or_default()
                            ));
                        }
                    };
                    values.push((spec, FlagValue::Bool(b)));
                }
                FlagKind::Str => {
                    let Some(v) = value else {
                        return Err(format!("missing a value on flag: {flag_name}"));
                    };
                    values.push((spec, FlagValue::Str(v.to_string())));
                }
                FlagKind::Strs => {
                    let Some(v) = value else {
                        return Err(format!("missing a value on flag: {flag_name}"));
                    };
                    match existing {
                        Some(i) => {
                            if let FlagValue::Strs(list) = &mut values[i].1 {
                                list.push(v.to_string());
                            }
                        }
                        None => values.push((spec, FlagValue::Strs(vec![v.to_string()]))),
                    }
                }
            }
        }
        Ok(Flags { values })
    }

    fn get(&self, name: &str) -> Option<&FlagValue> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// A string flag's value; `None` when absent or empty (Docker treats both as unset).
    fn string(&self, name: &str) -> Option<String> {
        self.used_string(name).filter(|v| !v.is_empty())
    }

    /// A string flag's value if it was given at all.
    fn used_string(&self, name: &str) -> Option<String> {
        match self.get(name) {
            Some(FlagValue::Str(s)) => Some(s.clone()),
            _ => None,
        }
    }

    fn bool(&self, name: &str) -> bool {
        matches!(self.get(name), Some(FlagValue::Bool(true)))
    }

    fn strings(&self, name: &str) -> Vec<String> {
        match self.get(name) {
            Some(FlagValue::Strs(v)) => v.clone(),
            _ => Vec::new(),
        }
    }
}

/// buildkit's `suggest.Search`: the closest option at Levenshtein distance below 3.
fn suggest(value: &str, options: &[&str], case_sensitive: bool) -> Option<String> {
    let val = if case_sensitive {
        value.to_string()
    } else {
        value.to_lowercase()
    };
    let mut best: Option<String> = None;
    let mut min = 3;
    for opt in options {
        let o = if case_sensitive {
            opt.to_string()
        } else {
            opt.to_lowercase()
        };
        if o == val {
            return None;
        }
        let dist = levenshtein(&val, &o);
        if dist < min {
            min = dist;
            best = Some(if case_sensitive {
                o
            } else if value == value.to_lowercase() {
                o.to_lowercase()
            } else if value == value.to_uppercase() {
                o.to_uppercase()
            } else {
                o
            });
        }
    }
    best
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Early exit keeps this linear for long keywords (only distances below 3 matter).
    if a.len().abs_diff(b.len()) >= 3 {
        return 3;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn go_durations() {
        for (s, want) in [
            ("30s", 30_000_000_000i64),
            ("1m30s", 90_000_000_000),
            ("500ms", 500_000_000),
            ("1.5h", 5_400_000_000_000),
            ("0", 0),
            ("-1s", -1_000_000_000),
            (".5s", 500_000_000),
            ("1µs", 1_000),
        ] {
            assert_eq!(parse_go_duration(s), Ok(want), "{s}");
        }
        for (s, msg) in [
            ("abc", "time: invalid duration \"abc\""),
            ("10", "time: missing unit in duration \"10\""),
            ("10x", "time: unknown unit \"x\" in duration \"10x\""),
            ("", "time: invalid duration \"\""),
            ("9999999999h", "time: invalid duration \"9999999999h\""),
            (
                "1é",
                "time: unknown unit \"\\xc3\\xa9\" in duration \"1\\xc3\\xa9\"",
            ),
        ] {
            assert_eq!(parse_go_duration(s), Err(msg.to_string()), "{s}");
        }
    }

    #[test]
    fn directive_regex() {
        assert_eq!(match_directive("escape=`"), Some(("escape", "`")));
        assert_eq!(match_directive("escape = ` "), Some(("escape", "`")));
        assert_eq!(match_directive("escape=  "), Some(("escape", " ")));
        assert_eq!(match_directive("escape="), None);
        assert_eq!(match_directive("1x=a"), None);
        assert_eq!(
            match_directive("syntax=docker/dockerfile:1 x"),
            Some(("syntax", "docker/dockerfile:1 x"))
        );
    }

    #[test]
    fn continuation() {
        assert_eq!(trim_continuation("a \\", '\\'), ("a ", false));
        assert_eq!(trim_continuation("a \\  \t", '\\'), ("a ", false));
        assert_eq!(trim_continuation("\\", '\\'), ("", false));
        assert_eq!(trim_continuation("a \\\\", '\\'), ("a \\\\", true));
        assert_eq!(trim_continuation("a `", '`'), ("a ", false));
        assert_eq!(trim_continuation("a", '\\'), ("a", true));
    }

    #[test]
    fn whitespace_split() {
        assert_eq!(split_whitespace_runs("a  b\tc"), ["a", "b", "c"]);
        assert_eq!(split_whitespace_runs(" a"), ["", "a"]);
        assert_eq!(split_first_run("a  b c"), Some(("a", "b c")));
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest("RUNN", &INSTRUCTIONS, false).as_deref(),
            Some("RUN")
        );
        assert_eq!(
            suggest("runn", &INSTRUCTIONS, false).as_deref(),
            Some("run")
        );
        // Mixed case gets the lower-case spelling, as buildkit's matchCase does.
        assert_eq!(
            suggest("Copyy", &INSTRUCTIONS, false).as_deref(),
            Some("copy")
        );
        assert_eq!(suggest("BLAH", &INSTRUCTIONS, false), None);
        assert_eq!(
            suggest("form", &["from", "chown"], true).as_deref(),
            Some("from")
        );
    }
}
