//! `.dockerignore` patterns, matched as Docker matches them.
//!
//! [`parse_dockerignore`] reads the file as docker/cli's `ignorefile.ReadAll` does, and
//! [`Matcher`] follows moby/patternmatcher: each pattern becomes an anchored expression in
//! which `*` is any run of characters but `/`, `?` one character but `/`, `**` any number of
//! directories, `[...]` a character class and `\` escapes the next character; patterns apply
//! in order, the last one that matches a path (or one of its parent directories) wins, and a
//! leading `!` turns a pattern into an exception.
//!
//! [`go_match`] is Go's `filepath.Match`, which COPY uses for its source globs and which
//! patternmatcher uses to validate patterns.

use std::collections::HashSet;

/// Why a pattern was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IgnoreError {
    /// A lone `!`, as patternmatcher refuses it.
    #[error("illegal exclusion pattern: \"!\"")]
    LoneExclamation,
    /// A pattern that is not valid syntax (Go's `filepath.ErrBadPattern`).
    #[error("invalid pattern {pattern:?}: syntax error in pattern ({reason})")]
    BadPattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Go's `path/filepath.Clean` on a `/`-separated path: the shortest equivalent lexical path.
pub fn clean_path(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|c| *c != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Reads a `.dockerignore` as docker/cli does: a UTF-8 BOM is dropped; a line whose first
/// character is `#` is a comment; every other line is trimmed, skipped when empty, cleaned
/// (`filepath.Clean`), and loses one leading `/`; a leading `!` is kept (the rest after it
/// trimmed and cleaned the same way).
pub fn parse_dockerignore(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            cleaned = clean_path(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        if invert {
            cleaned.insert(0, '!');
        }
        out.push(cleaned);
    }
    out
}

/// One element of a compiled pattern (the pieces of patternmatcher's regular expression).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// One literal character.
    Lit(char),
    /// `*`: `[^/]*`.
    Star,
    /// `?`: `[^/]`.
    One,
    /// `**` followed by more: `(.*/)?`.
    AnyDirs,
    /// `**` at the end: `.*`.
    AnyRest,
    /// A `^` outside a class: the regexp anchor, true only at the start of the text.
    Begin,
    /// `[...]`.
    Class(Class),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Class {
    negated: bool,
    items: Vec<ClassItem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ClassItem {
    Range(char, char),
    Perl(Perl, bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Perl {
    Digit,
    Space,
    Word,
}

impl Perl {
    fn matches(self, c: char) -> bool {
        match self {
            Perl::Digit => c.is_ascii_digit(),
            Perl::Space => matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c'),
            Perl::Word => c.is_ascii_alphanumeric() || c == '_',
        }
    }
}

impl Class {
    fn matches(&self, c: char) -> bool {
        let hit = self.items.iter().any(|item| match item {
            ClassItem::Range(lo, hi) => *lo <= c && c <= *hi,
            ClassItem::Perl(p, neg) => p.matches(c) != *neg,
        });
        hit != self.negated
    }
}

/// How a pattern is matched (patternmatcher's `matchType`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// The path equals the pattern.
    Exact,
    /// The path starts with the pattern less its trailing `**`.
    Prefix(String),
    /// The path ends with the pattern less its leading `**` (or, for `**/x`, is `x`).
    Suffix(String),
    /// The general case.
    Expr(Vec<Tok>),
}

/// One compiled pattern.
#[derive(Debug, Clone)]
struct Pattern {
    cleaned: String,
    exclusion: bool,
    kind: Kind,
}

/// The escape that follows `\` in patternmatcher's regular expression, as Go's regexp reads
/// it: punctuation is literal, a few letters are control characters or Perl classes, any
/// other letter or digit is a syntax error there.
enum Escaped {
    Char(char),
    Perl(Perl, bool),
}

fn regexp_escape(c: char) -> Result<Escaped, String> {
    Ok(match c {
        'a' => Escaped::Char('\x07'),
        'f' => Escaped::Char('\x0c'),
        't' => Escaped::Char('\t'),
        'n' => Escaped::Char('\n'),
        'r' => Escaped::Char('\r'),
        'v' => Escaped::Char('\x0b'),
        'd' => Escaped::Perl(Perl::Digit, false),
        'D' => Escaped::Perl(Perl::Digit, true),
        's' => Escaped::Perl(Perl::Space, false),
        'S' => Escaped::Perl(Perl::Space, true),
        'w' => Escaped::Perl(Perl::Word, false),
        'W' => Escaped::Perl(Perl::Word, true),
        c if c.is_alphanumeric() => {
            return Err(format!("unsupported escape \\{c}"));
        }
        c => Escaped::Char(c),
    })
}

/// Parses a character class after its `[` (in `chars[i..]`), as Go's regexp reads the text
/// patternmatcher hands it. Returns the class and the index after its `]`.
fn parse_class(chars: &[char], mut i: usize) -> Result<(Class, usize), String> {
    let mut class = Class {
        negated: false,
        items: Vec::new(),
    };
    if chars.get(i) == Some(&'^') {
        class.negated = true;
        i += 1;
    }
    let mut first = true;
    loop {
        let Some(&c) = chars.get(i) else {
            return Err("missing closing ]".into());
        };
        if c == ']' && !first {
            return Ok((class, i + 1));
        }
        first = false;
        let lo = if c == '\\' {
            let Some(&e) = chars.get(i + 1) else {
                return Err("trailing backslash".into());
            };
            i += 2;
            match regexp_escape(e)? {
                Escaped::Char(c) => c,
                Escaped::Perl(p, neg) => {
                    class.items.push(ClassItem::Perl(p, neg));
                    continue;
                }
            }
        } else {
            i += 1;
            c
        };
        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|c| *c != ']') {
            let hc = chars[i + 1];
            let hi = if hc == '\\' {
                let Some(&e) = chars.get(i + 2) else {
                    return Err("trailing backslash".into());
                };
                i += 3;
                match regexp_escape(e)? {
                    Escaped::Char(c) => c,
                    Escaped::Perl(..) => return Err("invalid character class range".into()),
                }
            } else {
                i += 2;
                hc
            };
            if hi < lo {
                return Err(format!("invalid character class range {lo}-{hi}"));
            }
            class.items.push(ClassItem::Range(lo, hi));
        } else {
            class.items.push(ClassItem::Range(lo, lo));
        }
    }
}

impl Pattern {
    /// patternmatcher's `compile`: the match kind, and the expression when one is needed.
    fn compile(cleaned: &str, exclusion: bool) -> Result<Pattern, String> {
        let chars: Vec<char> = cleaned.chars().collect();
        let mut toks = Vec::new();
        let mut kind = 0u8; // 0 exact, 1 prefix, 2 suffix, 3 expr
        let mut i = 0;
        let mut iteration = 0;
        while i < chars.len() {
            let ch = chars[i];
            i += 1;
            match ch {
                '*' if chars.get(i) == Some(&'*') => {
                    i += 1;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    if i >= chars.len() {
                        if kind == 0 {
                            kind = 1;
                        } else {
                            toks.push(Tok::AnyRest);
                            kind = 3;
                        }
                    } else {
                        toks.push(Tok::AnyDirs);
                        kind = 3;
                    }
                    if iteration == 0 {
                        kind = 2;
                    }
                }
                '*' => {
                    toks.push(Tok::Star);
                    kind = 3;
                }
                '?' => {
                    toks.push(Tok::One);
                    kind = 3;
                }
                '\\' => {
                    if let Some(&next) = chars.get(i) {
                        i += 1;
                        match regexp_escape(next)? {
                            Escaped::Char(c) => toks.push(Tok::Lit(c)),
                            Escaped::Perl(p, neg) => toks.push(Tok::Class(Class {
                                negated: false,
                                items: vec![ClassItem::Perl(p, neg)],
                            })),
                        }
                        kind = 3;
                    } else {
                        toks.push(Tok::Lit('\\'));
                    }
                }
                '[' => {
                    let (class, next) = parse_class(&chars, i)?;
                    i = next;
                    toks.push(Tok::Class(class));
                    kind = 3;
                }
                ']' => {
                    toks.push(Tok::Lit(']'));
                    kind = 3;
                }
                '^' => toks.push(Tok::Begin),
                c => toks.push(Tok::Lit(c)),
            }
            iteration += 1;
        }
        let kind = match kind {
            0 => Kind::Exact,
            1 => Kind::Prefix(cleaned[..cleaned.len() - 2].to_string()),
            2 => Kind::Suffix(cleaned[2..].to_string()),
            _ => Kind::Expr(toks),
        };
        Ok(Pattern {
            cleaned: cleaned.to_string(),
            exclusion,
            kind,
        })
    }

    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.cleaned,
            Kind::Prefix(p) => path.starts_with(p.as_str()),
            Kind::Suffix(s) => {
                path.ends_with(s.as_str()) || s.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            Kind::Expr(toks) => {
                let chars: Vec<char> = path.chars().collect();
                let mut failed = HashSet::new();
                expr_match(toks, 0, &chars, 0, &mut failed)
            }
        }
    }
}

/// Whether `toks[ti..]` matches exactly `s[si..]`; `failed` memoises the positions already
/// known not to match, so the search stays polynomial.
fn expr_match(
    toks: &[Tok],
    ti: usize,
    s: &[char],
    si: usize,
    failed: &mut HashSet<(usize, usize)>,
) -> bool {
    if failed.contains(&(ti, si)) {
        return false;
    }
    let ok = match toks.get(ti) {
        None => si == s.len(),
        Some(Tok::Lit(c)) => s.get(si) == Some(c) && expr_match(toks, ti + 1, s, si + 1, failed),
        Some(Tok::One) => {
            s.get(si).is_some_and(|c| *c != '/') && expr_match(toks, ti + 1, s, si + 1, failed)
        }
        Some(Tok::Class(class)) => {
            s.get(si).is_some_and(|c| class.matches(*c))
                && expr_match(toks, ti + 1, s, si + 1, failed)
        }
        Some(Tok::Begin) => si == 0 && expr_match(toks, ti + 1, s, si, failed),
        Some(Tok::Star) => {
            let mut j = si;
            loop {
                if expr_match(toks, ti + 1, s, j, failed) {
                    break true;
                }
                if j >= s.len() || s[j] == '/' {
                    break false;
                }
                j += 1;
            }
        }
        Some(Tok::AnyRest) => {
            let mut j = si;
            loop {
                if expr_match(toks, ti + 1, s, j, failed) {
                    break true;
                }
                if j >= s.len() || s[j] == '\n' {
                    break false;
                }
                j += 1;
            }
        }
        Some(Tok::AnyDirs) => {
            if expr_match(toks, ti + 1, s, si, failed) {
                true
            } else {
                // `.*/`: any run without a newline, then a `/`.
                let mut j = si;
                let mut found = false;
                while j < s.len() && s[j] != '\n' {
                    if s[j] == '/' && expr_match(toks, ti + 1, s, j + 1, failed) {
                        found = true;
                        break;
                    }
                    j += 1;
                }
                found
            }
        }
    };
    if !ok {
        failed.insert((ti, si));
    }
    ok
}

/// A compiled `.dockerignore` (or `COPY --exclude`) pattern list.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

impl Matcher {
    /// Compiles `patterns` as patternmatcher's `New` does: each is trimmed (empty ones
    /// dropped) and cleaned; a leading `!` makes an exception; a pattern Go's
    /// `filepath.Match` rejects, or one whose expression Go's regexp would reject, is an error
    /// naming it.
    pub fn new(patterns: &[String]) -> Result<Matcher, IgnoreError> {
        let mut m = Matcher::default();
        for raw in patterns {
            let p = raw.trim();
            if p.is_empty() {
                continue;
            }
            let p = clean_path(p);
            let (exclusion, body) = match p.strip_prefix('!') {
                Some("") => return Err(IgnoreError::LoneExclamation),
                Some(rest) => (true, rest.to_string()),
                None => (false, p.clone()),
            };
            m.exclusions |= exclusion;
            let bad = |reason: String| IgnoreError::BadPattern {
                pattern: raw.clone(),
                reason,
            };
            go_match(&body, ".").map_err(|e| bad(e.to_string()))?;
            m.patterns
                .push(Pattern::compile(&body, exclusion).map_err(bad)?);
        }
        Ok(m)
    }

    /// Whether the matcher has no patterns at all.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether any pattern is an exception (`!`).
    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    /// Whether the relative, '/'-separated path is excluded (patterns apply in order, the
    /// last match wins; a pattern matching a parent directory excludes what is under it —
    /// patternmatcher's `MatchesOrParentMatches`). The context root (`""` or `.`) is never
    /// excluded.
    pub fn is_excluded(&self, path: &str) -> bool {
        if path.is_empty() || path == "." {
            return false;
        }
        let parent = match path.rfind('/') {
            Some(i) => &path[..i],
            None => ".",
        };
        let mut matched = false;
        for pattern in &self.patterns {
            if pattern.exclusion != matched {
                continue;
            }
            let mut hit = pattern.matches(path);
            if !hit && parent != "." {
                let mut end = 0;
                for comp in parent.split('/') {
                    end += comp.len();
                    if pattern.matches(&parent[..end]) {
                        hit = true;
                        break;
                    }
                    end += 1;
                }
            }
            if hit {
                matched = !pattern.exclusion;
            }
        }
        matched
    }

    /// Whether a walker must still descend into the excluded directory `dir` because an
    /// exception could re-include something under it: as moby's archiver decides it, some
    /// `!` pattern must start with `dir/`.
    pub fn must_descend(&self, dir: &str) -> bool {
        if !self.exclusions {
            return false;
        }
        let dir_slash = format!("{dir}/");
        self.patterns
            .iter()
            .filter(|p| p.exclusion)
            .any(|p| format!("{}/", p.cleaned).starts_with(&dir_slash))
    }
}

/// Go's `filepath.ErrBadPattern`, with what was wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("syntax error in pattern")]
pub struct BadPattern;

/// Splits off the next chunk of a Go glob: leading stars, then text up to the next star
/// outside a class.
fn scan_chunk(p: &[char]) -> (bool, &[char], &[char]) {
    let mut p = p;
    let mut star = false;
    while p.first() == Some(&'*') {
        p = &p[1..];
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' if i + 1 < p.len() => i += 1,
            '[' => in_range = true,
            ']' => in_range = false,
            '*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, &p[..i], &p[i..])
}

/// One class bound: a character, possibly escaped.
fn class_char(chunk: &[char]) -> Result<(char, &[char]), BadPattern> {
    let mut chunk = chunk;
    match chunk.first() {
        None | Some('-') | Some(']') => return Err(BadPattern),
        Some('\\') => {
            chunk = &chunk[1..];
            if chunk.is_empty() {
                return Err(BadPattern);
            }
        }
        _ => {}
    }
    let c = chunk[0];
    let rest = &chunk[1..];
    if rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((c, rest))
}

/// Matches `chunk` at the start of `s`; returns what is left of `s` on a match. Keeps
/// checking the chunk's syntax after a mismatch, as Go does.
fn match_chunk<'a>(chunk: &[char], s: &'a [char]) -> Result<Option<&'a [char]>, BadPattern> {
    let mut chunk = chunk;
    let mut s = s;
    let mut failed = false;
    while let Some(&c) = chunk.first() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match c {
            '[' => {
                let mut r = '\0';
                if !failed {
                    r = s[0];
                    s = &s[1..];
                }
                chunk = &chunk[1..];
                let mut negated = false;
                if chunk.first() == Some(&'^') {
                    negated = true;
                    chunk = &chunk[1..];
                }
                let mut hit = false;
                let mut nrange = 0;
                loop {
                    if chunk.first() == Some(&']') && nrange > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = class_char(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if chunk[0] == '-' {
                        let (h, rest) = class_char(&chunk[1..])?;
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        hit = true;
                    }
                    nrange += 1;
                }
                if hit == negated {
                    failed = true;
                }
            }
            '?' => {
                if !failed {
                    if s[0] == '/' {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
            _ => {
                if c == '\\' {
                    chunk = &chunk[1..];
                    if chunk.is_empty() {
                        return Err(BadPattern);
                    }
                }
                if !failed {
                    if chunk[0] != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    Ok(if failed { None } else { Some(s) })
}

/// Go's `filepath.Match` on Unix: `*` matches any run of characters but `/`, `?` one
/// character but `/`, `[...]` a class (`^` negates), `\` escapes. A malformed pattern is an
/// error even when the match fails early.
pub fn go_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let pat: Vec<char> = pattern.chars().collect();
    let name_chars: Vec<char> = name.chars().collect();
    let mut pattern = pat.as_slice();
    let mut name = name_chars.as_slice();
    'outer: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            return Ok(!name.contains(&'/'));
        }
        let first = match_chunk(chunk, name);
        if let Ok(Some(t)) = first {
            if t.is_empty() || !pattern.is_empty() {
                name = t;
                continue;
            }
        }
        first?;
        if star {
            let mut i = 0;
            while i < name.len() && name[i] != '/' {
                if let Some(t) = match_chunk(chunk, &name[i + 1..])? {
                    if !pattern.is_empty() || t.is_empty() {
                        name = t;
                        continue 'outer;
                    }
                }
                i += 1;
            }
        }
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, &[])?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Whether `name` holds a glob character (`*`, `?`, `[`) not escaped by `\`, as moby's
/// `containsWildcards`.
pub fn has_wildcards(name: &str) -> bool {
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(patterns: &[&str]) -> Matcher {
        let v: Vec<String> = patterns.iter().map(|s| s.to_string()).collect();
        Matcher::new(&v).expect("valid patterns")
    }

    /// (pattern, path, excluded), from the behaviour patternmatcher's tests pin down.
    const SINGLE: &[(&str, &str, bool)] = &[
        ("**", "file", true),
        ("**", "file/", true),
        ("**/", "file", true),
        ("**/", "file/", true),
        ("**", "/", true),
        ("**/", "/", true),
        ("**", "dir/file", true),
        ("**/", "dir/file", true),
        ("**/**", "dir/file", true),
        ("**/**", "dir/file/", true),
        ("dir/**", "dir/file", true),
        ("dir/**", "dir/file/", true),
        ("dir/**", "dir/dir2/file", true),
        ("**/dir", "dir", true),
        ("**/dir", "dir/file", true),
        ("**/dir2/*", "dir/dir2/file", true),
        ("**/dir2/**", "dir/dir2/dir3/file", true),
        ("**file", "file", true),
        ("**file", "dir/file", true),
        ("**file", "dir/xfile", true),
        ("**/file", "dir/dir/file", true),
        ("**/file*", "dir/dir/file.txt", true),
        ("**/file*txt", "dir/dir/file.txt", true),
        ("**/file*.txt*", "dir/dir/file.txt", true),
        ("**/**/*.txt", "dir/dir/file.txt", true),
        ("**/**/*.txt2", "dir/dir/file.txt", false),
        ("**/*.txt", "file.txt", true),
        ("**/**/*.txt", "file.txt", true),
        ("a**/*.txt", "a/file.txt", true),
        ("a**/*.txt", "a/dir/file.txt", true),
        ("a**/*.txt", "a/dir/dir/file.txt", true),
        ("a/*.txt", "a/dir/file.txt", false),
        ("a/*.txt", "a/file.txt", true),
        ("a/*.txt**", "a/file.txt", true),
        ("a[b-d]e", "ae", false),
        ("a[b-d]e", "ace", true),
        ("a[b-d]e", "aae", false),
        ("a[^b-d]e", "aze", true),
        (".*", ".foo", true),
        (".*", "foo", false),
        ("abc.def", "abcdef", false),
        ("abc.def", "abc.def", true),
        ("abc.def", "abcZdef", false),
        ("abc?def", "abcZdef", true),
        ("abc?def", "abcdef", false),
        ("a\\\\", "a\\", true),
        ("**/foo/bar", "foo/bar", true),
        ("**/foo/bar", "dir/foo/bar", true),
        ("**/foo/bar", "dir/dir2/foo/bar", true),
        ("abc/**", "abc", false),
        ("abc/**", "abc/def", true),
        ("abc/**", "abc/def/ghi", true),
        ("**/.foo", ".foo", true),
        ("**/.foo", "bar.foo", false),
        ("a(b)c/def", "a(b)c/def", true),
        ("a(b)c/def", "a(b)c/xyz", false),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
        (
            "dist/*.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        ("a\\*b", "a*b", true),
        ("a\\*b", "ab", false),
        // From Go's filepath.Match table, through the parent-directory rule.
        ("abc", "abc", true),
        ("*", "abc", true),
        ("*c", "abc", true),
        ("a*", "a", true),
        ("a*", "ab/c", true),
        ("a*/b", "abc/b", true),
        ("a*/b", "a/c/b", false),
        ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
        ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
        ("a*b?c*x", "abxbbxdbxebxczzx", true),
        ("a*b?c*x", "abxbbxdbxebxczzy", false),
        ("ab[^c]", "abc", false),
        ("ab[^e-g]", "abc", true),
        ("a?b", "a☺b", true),
        ("a???b", "a☺b", false),
        ("[a-ζ]*", "α", true),
        ("*[a-ζ]", "A", false),
        ("a?b", "a/b", false),
        ("a*b", "a/b", false),
        ("[\\]a]", "]", true),
        ("[x\\-]", "-", true),
        ("[\\-x]", "a", false),
        ("*x", "xxx", true),
        // Parent directories: a pattern naming a directory excludes what is under it.
        ("docs", "docs/README.md", true),
        ("docs/", "docs/README.md", true),
        ("foo", "a/foo", false),
        // `Matcher::new` keeps a leading `/` (only the file reader drops it).
        ("/abs", "abs/x", false),
        ("./dot", "dot", true),
        ("a/../b", "b/c", true),
    ];

    #[test]
    fn single_pattern_table() {
        assert!(SINGLE.len() >= 40);
        for (pattern, path, want) in SINGLE {
            let matcher = m(&[pattern]);
            assert_eq!(
                matcher.is_excluded(path),
                *want,
                "pattern {pattern:?} path {path:?}"
            );
        }
    }

    #[test]
    fn multi_pattern_table() {
        let cases: &[(&[&str], &str, bool)] = &[
            (&["**", "!util/docker/web"], "util/docker/web/foo", false),
            (
                &["**", "!util/docker/web", "util/docker/web/foo"],
                "util/docker/web/foo",
                true,
            ),
            (&["**", "!dist/*.whl"], "dist/a-1.whl", false),
            (&["*.go", "!fileutils.go"], "fileutils.go", false),
            (&["!fileutils.go", "*.go"], "fileutils.go", true),
            (&["docs", "!docs/README.md"], "docs/README.md", false),
            (&["docs/", "!docs/README.md"], "docs/README.md", false),
            (&["docs/*", "!docs/README.md"], "docs/README.md", false),
            (&["docs", "!docs/README.md"], "docs/other.md", true),
            (
                &["*.md", "!README*.md", "README-secret.md"],
                "README-secret.md",
                true,
            ),
            (
                &["*.md", "!README*.md", "README-secret.md"],
                "README-x.md",
                false,
            ),
            (
                &["*.md", "!README*.md", "README-secret.md"],
                "CHANGES.md",
                true,
            ),
        ];
        for (patterns, path, want) in cases {
            assert_eq!(
                m(patterns).is_excluded(path),
                *want,
                "patterns {patterns:?} path {path:?}"
            );
        }
    }

    #[test]
    fn root_never_excluded() {
        assert!(!m(&["*.go"]).is_excluded("."));
        assert!(!m(&["**"]).is_excluded(""));
    }

    #[test]
    fn bad_patterns() {
        for bad in [
            "[", "[^", "[^bc", "a[", "\\", "[]a]", "[-]", "[x-]", "[-x]", "[a-b-c]",
        ] {
            let err = Matcher::new(&[bad.to_string()]).expect_err(bad);
            assert!(err.to_string().contains(bad), "{err}");
        }
        assert_eq!(
            Matcher::new(&["!".to_string()]).expect_err("lone !"),
            IgnoreError::LoneExclamation
        );
        assert_eq!(
            IgnoreError::LoneExclamation.to_string(),
            "illegal exclusion pattern: \"!\""
        );
        // Valid for filepath.Match, refused by Go's regexp (a reversed range).
        assert!(Matcher::new(&["[Local-Only]/".to_string()]).is_err());
    }

    #[test]
    fn empty_and_blank_patterns_are_dropped() {
        let matcher = m(&["docs", "config", "", "   "]);
        assert_eq!(matcher.patterns.len(), 2);
        assert!(!matcher.has_exclusions());
        assert!(m(&["docs", "  !docs/README.md"]).has_exclusions());
    }

    #[test]
    fn match_kinds() {
        let kind = |p: &str| Pattern::compile(p, false).expect("compiles").kind;
        assert_eq!(kind("abc.def"), Kind::Exact);
        assert_eq!(kind("dir/**"), Kind::Prefix("dir/".into()));
        assert_eq!(kind("**"), Kind::Suffix(String::new()));
        assert_eq!(kind("**/dir"), Kind::Suffix("/dir".into()));
        assert!(matches!(kind("**/**"), Kind::Expr(_)));
        assert!(matches!(kind("a*/b"), Kind::Expr(_)));
    }

    #[test]
    fn descend_rule() {
        let matcher = m(&["docs", "!docs/keep/x.md", "vendor"]);
        assert!(matcher.must_descend("docs"));
        assert!(matcher.must_descend("docs/keep"));
        assert!(!matcher.must_descend("vendor"));
        assert!(!m(&["docs"]).must_descend("docs"));
        // Wildcard exceptions do not make moby descend.
        assert!(!m(&["docs", "!*/x.md"]).must_descend("docs"));
    }

    #[test]
    fn dockerignore_file() {
        let text = "\u{feff}test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! \n  # not a comment\nx/../y/\n";
        assert_eq!(
            parse_dockerignore(text),
            vec![
                "test1",
                "test2",
                "a/file/here",
                "lastfile",
                "!inverted/abs/path",
                "!",
                "!",
                "# not a comment",
                "y",
            ]
        );
        assert_eq!(parse_dockerignore("/\n"), vec!["/"]);
    }

    #[test]
    fn go_filepath_match() {
        let cases: &[(&str, &str, Result<bool, BadPattern>)] = &[
            ("abc", "abc", Ok(true)),
            ("*", "abc", Ok(true)),
            ("a*", "ab/c", Ok(false)),
            ("a*/b", "abc/b", Ok(true)),
            ("ab[c]", "abc", Ok(true)),
            ("ab[b-d]", "abc", Ok(true)),
            ("ab[e-g]", "abc", Ok(false)),
            ("ab[^c]", "abc", Ok(false)),
            ("a\\*b", "a*b", Ok(true)),
            ("a[^a]b", "a☺b", Ok(true)),
            ("[\\-]", "-", Ok(true)),
            ("[]a]", "]", Err(BadPattern)),
            ("[x-]", "x", Err(BadPattern)),
            ("\\", "a", Err(BadPattern)),
            ("a[", "x", Err(BadPattern)),
            ("*x", "xxx", Ok(true)),
            ("*.txt", "dir/a.txt", Ok(false)),
            ("*/*.txt", "dir/a.txt", Ok(true)),
        ];
        for (p, s, want) in cases {
            assert_eq!(&go_match(p, s), want, "Match({p:?}, {s:?})");
        }
    }

    #[test]
    fn clean() {
        for (input, want) in [
            ("", "."),
            ("a/b/../c", "a/c"),
            ("/../a", "/a"),
            ("../a", "../a"),
            ("a/..", "."),
            ("//a//b/", "/a/b"),
            ("./x/.", "x"),
        ] {
            assert_eq!(clean_path(input), want, "{input:?}");
        }
        assert!(has_wildcards("a*"));
        assert!(!has_wildcards("a\\*"));
    }
}
