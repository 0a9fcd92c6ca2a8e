//! Docker's shell-word lexer: quote removal, `$VAR`/`${VAR…}` substitution and word splitting,
//! with the exact rules (and quirks) of buildkit's `shell.Lex` that Docker 28 uses.
//!
//! Nested `${…}` substitutions recurse; the depth is bounded by [`MAX_DEPTH`] so hostile input
//! cannot exhaust the stack.

/// How deeply `${…}` substitutions and quotes inside them may nest.
const MAX_DEPTH: usize = 200;

/// The options of one lexer run (buildkit's `Lex` fields).
#[derive(Clone, Copy)]
pub(crate) struct LexOptions {
    pub escape: char,
    /// Keep quote characters in the output.
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Treat quotes as ordinary characters.
    pub skip_process_quotes: bool,
    /// Leave references to unset variables as written.
    pub skip_unset_env: bool,
}

impl LexOptions {
    /// Plain word processing with `escape` (what instructions use).
    pub fn new(escape: char) -> Self {
        LexOptions {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
        }
    }
}

/// Processes `word`: returns the expanded word and its split into words, or Docker's error text
/// (`failed to process "…": …`).
pub(crate) fn process(
    opts: LexOptions,
    word: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, Vec<String>), String> {
    let mut chars: Vec<char> = word.chars().collect();
    // Go's text/scanner drops a byte-order mark at the very start of its input.
    if chars.first() == Some(&'\u{FEFF}') {
        chars.remove(0);
    }
    let mut lexer = Lexer {
        opts,
        lookup,
        chars,
        pos: 0,
        words_buf: String::new(),
        depth: 0,
    };
    lexer
        .process_stop_on(None, opts.raw_escapes)
        .map_err(|e| format!("failed to process {}: {}", go_quote(word), e))
}

struct Lexer<'a> {
    opts: LexOptions,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    chars: Vec<char>,
    pos: usize,
    /// The word being built. Shared by nested calls exactly as buildkit shares its
    /// `wordsBuffer`: a nested `${…}` resets it, which affects word splitting of
    /// `prefix${VAR:-x}` in `ProcessWords` the same way Docker does.
    words_buf: String,
    depth: usize,
}

/// Words collected by one `process_stop_on` call (the buffer lives in the lexer).
struct Words {
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, buf: &mut String, ch: char) {
        if ch.is_whitespace() && self.in_word {
            if !buf.is_empty() {
                self.words.push(std::mem::take(buf));
                self.in_word = false;
            }
        } else if !ch.is_whitespace() {
            self.add_raw_char(buf, ch);
        }
    }

    fn add_raw_char(&mut self, buf: &mut String, ch: char) {
        buf.push(ch);
        self.in_word = true;
    }

    fn add_string(&mut self, buf: &mut String, s: &str) {
        for ch in s.chars() {
            self.add_char(buf, ch);
        }
    }

    fn add_raw_string(&mut self, buf: &mut String, s: &str) {
        buf.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self, buf: &mut String) -> Vec<String> {
        if !buf.is_empty() {
            self.words.push(std::mem::take(buf));
            self.in_word = false;
        }
        self.words
    }
}

/// The text Go prints for a rune, with `EOF` (-1) shown as U+FFFD as `string(rune(-1))` does.
fn rune_str(ch: Option<char>) -> String {
    ch.unwrap_or('\u{FFFD}').to_string()
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let ch = self.chars.get(self.pos).copied();
        if ch.is_some() {
            self.pos += 1;
        }
        ch
    }

    fn at_eof(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn get_env(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), String> {
        self.depth += 1;
        let r = if self.depth > MAX_DEPTH {
            Err("syntax error: substitutions nested too deeply".to_string())
        } else {
            self.process_stop_on_inner(stop, raw_escapes)
        };
        self.depth -= 1;
        r
    }

    fn process_stop_on_inner(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        self.words_buf.clear();
        let mut words = Words {
            words: Vec::new(),
            in_word: false,
        };
        while let Some(ch) = self.peek() {
            if stop == Some(ch) {
                self.next();
                let w = words.finish(&mut self.words_buf);
                return Ok((result, w));
            }
            let special = match ch {
                '$' => Some(self.process_dollar()?),
                '<' => Some(self.process_possible_heredoc()),
                '\'' if !self.opts.skip_process_quotes => Some(self.process_single_quote()?),
                '"' if !self.opts.skip_process_quotes => {
                    Some(self.process_double_quote(raw_escapes)?)
                }
                _ => None,
            };
            if let Some(tmp) = special {
                result.push_str(&tmp);
                if ch == '$' {
                    words.add_string(&mut self.words_buf, &tmp);
                } else {
                    words.add_raw_string(&mut self.words_buf, &tmp);
                }
                continue;
            }
            self.next();
            if ch == self.opts.escape {
                if raw_escapes {
                    words.add_raw_char(&mut self.words_buf, ch);
                    result.push(ch);
                }
                // The escape character escapes the next one, except at the end.
                match self.next() {
                    None => break,
                    Some(c) => {
                        words.add_raw_char(&mut self.words_buf, c);
                        result.push(c);
                    }
                }
            } else {
                words.add_char(&mut self.words_buf, ch);
                result.push(ch);
            }
        }
        if let Some(s) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {s}"
            ));
        }
        let w = words.finish(&mut self.words_buf);
        Ok((result, w))
    }

    fn process_single_quote(&mut self) -> Result<String, String> {
        let mut result = String::new();
        let open = self.next();
        if self.opts.raw_quotes {
            result.push_str(&rune_str(open));
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    );
                }
                Some('\'') => {
                    if self.opts.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn process_double_quote(&mut self, raw_escapes: bool) -> Result<String, String> {
        let mut result = String::new();
        let open = self.next();
        if self.opts.raw_quotes {
            result.push_str(&rune_str(open));
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    );
                }
                Some('"') => {
                    self.next();
                    if self.opts.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let v = self.process_dollar()?;
                    result.push_str(&v);
                }
                Some(_) => {
                    let mut ch = self.next().unwrap_or('\u{FFFD}');
                    if ch == self.opts.escape {
                        if raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.opts.escape => {
                                self.next();
                                ch = c;
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn process_dollar(&mut self) -> Result<String, String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.opts.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.process_name();
        let first = self.next();
        let mut chs = rune_str(first);
        match first {
            Some('}') => Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.opts.skip_unset_env => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(':' | '+' | '-' | '?' | '#' | '%') => {
                let mut ch = first;
                let null_is_unset = ch == Some(':');
                if null_is_unset {
                    ch = self.next();
                    chs.push_str(&rune_str(ch));
                }
                let raw = matches!(ch, Some('#' | '%'));
                if null_is_unset && raw {
                    return Err(format!("unsupported modifier ({chs}) in substitution"));
                }
                let word = match self.process_stop_on(Some('}'), raw) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.at_eof() {
                            return Err("syntax error: missing '}'".into());
                        }
                        return Err(e);
                    }
                };
                let value = self.get_env(&name);
                if self.opts.skip_unset_env && value.is_none() {
                    return Ok(format!("${{{name}{chs}{word}}}"));
                }
                let unset_or_null =
                    value.is_none() || (null_is_unset && value.as_deref() == Some(""));
                match ch {
                    Some('-') => Ok(if unset_or_null {
                        word
                    } else {
                        value.unwrap_or_default()
                    }),
                    Some('+') => Ok(if unset_or_null { String::new() } else { word }),
                    Some('?') => match value {
                        None => {
                            let msg = if word.is_empty() {
                                "is not allowed to be unset".to_string()
                            } else {
                                word
                            };
                            Err(format!("{name}: {msg}"))
                        }
                        Some(v) if null_is_unset && v.is_empty() => {
                            let msg = if word.is_empty() {
                                "is not allowed to be empty".to_string()
                            } else {
                                word
                            };
                            Err(format!("{name}: {msg}"))
                        }
                        Some(v) => Ok(v),
                    },
                    Some(c @ ('%' | '#')) => {
                        // `%`/`#` remove the shortest match, `%%`/`##` the longest.
                        let mut pattern = word.as_str();
                        let mut greedy = false;
                        if pattern.starts_with(c) {
                            greedy = true;
                            pattern = &pattern[c.len_utf8()..];
                        }
                        let value = value.unwrap_or_default();
                        if c == '%' {
                            trim_suffix(pattern, &value, greedy)
                        } else {
                            trim_prefix(pattern, &value, greedy)
                        }
                    }
                    _ => Err(format!("unsupported modifier ({chs}) in substitution")),
                }
            }
            Some('/') => {
                let replace_all = self.peek() == Some('/');
                if replace_all {
                    self.next();
                }
                let pattern = match self.process_stop_on(Some('/'), true) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.at_eof() {
                            return Err("syntax error: missing '/' in ${}".into());
                        }
                        return Err(e);
                    }
                };
                let replacement = match self.process_stop_on(Some('}'), true) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.at_eof() {
                            return Err("syntax error: missing '}'".into());
                        }
                        return Err(e);
                    }
                };
                let value = self.get_env(&name);
                if self.opts.skip_unset_env && value.is_none() {
                    return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
                }
                let value: Vec<char> = value.unwrap_or_default().chars().collect();
                let prog = Pattern::compile(&pattern, true)
                    .map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
                if replace_all {
                    Ok(prog.replace_all(&value, &replacement))
                } else {
                    Ok(match prog.find_at(&value, 0, false) {
                        Some((s, e)) => {
                            let mut out: String = value[..s].iter().collect();
                            out.push_str(&replacement);
                            out.extend(&value[e..]);
                            out
                        }
                        None => value.iter().collect(),
                    })
                }
            }
            _ => Err(format!("unsupported modifier ({chs}) in substitution")),
        }
    }

    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && is_go_digit(ch) {
                while let Some(c) = self.peek() {
                    if !is_go_digit(c) {
                        break;
                    }
                    self.next();
                    name.push(c);
                }
                return name;
            }
            if name.is_empty() && is_special_param(ch) {
                self.next();
                return ch.to_string();
            }
            if !is_go_letter(ch) && !is_go_digit(ch) && ch != '_' {
                break;
            }
            self.next();
            name.push(ch);
        }
        name
    }

    fn process_possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.next();
        let mut result = String::from("<<");
        while let Some(c @ ('\t' | '\r' | ' ')) = self.peek() {
            result.push(c);
            self.next();
        }
        result
    }
}

/// POSIX special parameters (`$@`, `$*`, …), never set in a Dockerfile.
fn is_special_param(c: char) -> bool {
    matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}

/// Go's `unicode.IsLetter` (approximated: alphabetic characters that are not numbers).
pub(crate) fn is_go_letter(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphabetic()
    } else {
        c.is_alphabetic() && !c.is_numeric()
    }
}

/// Go's `unicode.IsDigit` (approximated: numeric characters that are not letters).
pub(crate) fn is_go_digit(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_digit()
    } else {
        c.is_numeric() && !c.is_alphabetic()
    }
}

/// Go's `strconv.Quote` (what `%q` prints).
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.IsPrint` (approximated for the format and separator characters).
fn is_go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c as u32,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
        | 0xD800..=0xDFFF | 0xE000..=0xF8FF | 0xF0000..=0x10FFFF | 0xE0000..=0xE007F)
}

// ---- shell patterns (`${VAR#pat}`, `${VAR%pat}`, `${VAR/pat/repl}`) ----

#[derive(Debug, Clone, Copy)]
enum Inst {
    Char(char),
    /// Any character but a newline (Go's `.`).
    Any,
    /// Try the first target, then the second.
    Split(usize, usize),
    Jmp(usize),
    Match,
}

/// A compiled shell wildcard pattern (`*`, `?`, literals; `\` escapes `*`, `?`, `\`), matched
/// with leftmost-first priority like the Go regexp buildkit builds from it, in time linear in
/// the pattern times the text (a Pike VM: no backtracking blowups).
struct Pattern {
    prog: Vec<Inst>,
}

impl Pattern {
    fn compile(pattern: &str, greedy: bool) -> Result<Pattern, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut prog = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let tok = chars[i];
            i += 1;
            match tok {
                '*' => {
                    let l = prog.len();
                    if greedy {
                        prog.push(Inst::Split(l + 1, l + 3));
                    } else {
                        prog.push(Inst::Split(l + 3, l + 1));
                    }
                    prog.push(Inst::Any);
                    prog.push(Inst::Jmp(l));
                }
                '?' => prog.push(Inst::Any),
                '\\' => {
                    // `}` and `/` are escaped inside `${}`; the escape is not part of the pattern.
                    if matches!(chars.get(i), Some('}' | '/')) {
                        continue;
                    }
                    let next = chars.get(i).copied();
                    i += 1;
                    match next {
                        Some(c @ ('*' | '?' | '\\')) => prog.push(Inst::Char(c)),
                        other => return Err(format!("invalid escape '\\{}'", rune_str(other))),
                    }
                }
                c => prog.push(Inst::Char(c)),
            }
        }
        prog.push(Inst::Match);
        Ok(Pattern { prog })
    }

    /// Adds the thread at `pc` (and everything reachable without consuming input) to `list`,
    /// in priority order.
    fn add_thread(
        &self,
        list: &mut Vec<(usize, usize)>,
        seen: &mut [usize],
        generation: usize,
        pc: usize,
        start: usize,
        stack: &mut Vec<usize>,
    ) {
        stack.clear();
        stack.push(pc);
        while let Some(pc) = stack.pop() {
            if seen[pc] == generation {
                continue;
            }
            seen[pc] = generation;
            match self.prog[pc] {
                Inst::Jmp(t) => stack.push(t),
                Inst::Split(a, b) => {
                    stack.push(b);
                    stack.push(a);
                }
                _ => list.push((pc, start)),
            }
        }
    }

    /// The leftmost-first match starting at or after `from` (exactly at `from` if `anchored`).
    fn find_at(&self, text: &[char], from: usize, anchored: bool) -> Option<(usize, usize)> {
        let mut seen = vec![usize::MAX; self.prog.len()];
        let mut stack = Vec::new();
        let mut clist: Vec<(usize, usize)> = Vec::new();
        let mut nlist: Vec<(usize, usize)> = Vec::new();
        let mut matched = None;
        let mut i = from;
        loop {
            if matched.is_none() && (i == from || !anchored) {
                self.add_thread(&mut clist, &mut seen, i, 0, i, &mut stack);
            }
            if clist.is_empty() {
                break;
            }
            nlist.clear();
            let ch = text.get(i).copied();
            for &(pc, start) in &clist {
                match self.prog[pc] {
                    Inst::Match => {
                        matched = Some((start, i));
                        break;
                    }
                    Inst::Char(c) if ch == Some(c) => {
                        self.add_thread(&mut nlist, &mut seen, i + 1, pc + 1, start, &mut stack);
                    }
                    Inst::Any if ch.is_some() && ch != Some('\n') => {
                        self.add_thread(&mut nlist, &mut seen, i + 1, pc + 1, start, &mut stack);
                    }
                    _ => {}
                }
            }
            if i >= text.len() {
                break;
            }
            std::mem::swap(&mut clist, &mut nlist);
            i += 1;
        }
        matched
    }

    /// Go's `Regexp.ReplaceAllString` (the replacement is a template: `$0` is the match,
    /// `$$` a dollar, other group references are empty).
    fn replace_all(&self, src: &[char], repl: &str) -> String {
        let mut out = String::new();
        let mut last_end = 0;
        let mut search = 0;
        while search <= src.len() {
            let Some((s, e)) = self.find_at(src, search, false) else {
                break;
            };
            out.extend(&src[last_end..s]);
            if e > last_end || s == 0 {
                let m: String = src[s..e].iter().collect();
                expand_template(&mut out, repl, &m);
            }
            last_end = e;
            if search + 1 > e {
                search += 1;
            } else {
                search = e;
            }
        }
        if last_end < src.len() {
            out.extend(&src[last_end..]);
        }
        out
    }
}

/// Go's regexp template expansion for a pattern without groups.
fn expand_template(out: &mut String, template: &str, matched: &str) {
    let mut t = template;
    while let Some(idx) = t.find('$') {
        out.push_str(&t[..idx]);
        t = &t[idx + 1..];
        if let Some(rest) = t.strip_prefix('$') {
            out.push('$');
            t = rest;
            continue;
        }
        let (brace, body) = match t.strip_prefix('{') {
            Some(b) => (true, b),
            None => (false, t),
        };
        let name_len: usize = body
            .chars()
            .take_while(|&c| is_go_letter(c) || is_go_digit(c) || c == '_')
            .map(char::len_utf8)
            .sum();
        if name_len == 0 || (brace && !body[name_len..].starts_with('}')) {
            out.push('$');
            continue;
        }
        let name = &body[..name_len];
        t = &body[name_len + usize::from(brace)..];
        if name == "0" {
            out.push_str(matched);
        }
    }
    out.push_str(t);
}

fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Result<String, String> {
    let prog = Pattern::compile(pattern, greedy)
        .map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
    let chars: Vec<char> = value.chars().collect();
    Ok(match prog.find_at(&chars, 0, true) {
        Some((_, e)) => chars[e..].iter().collect(),
        None => value.to_string(),
    })
}

/// Reverses a pattern keeping escapes before the character they escape (`a\*c` → `c\*a`).
fn reverse_pattern(pattern: &str) -> String {
    let p: Vec<char> = pattern.chars().collect();
    let mut out = vec!['\0'; p.len()];
    let last = p.len().wrapping_sub(1);
    let mut i = 0;
    while i < p.len() {
        let out_idx = last - i;
        if p[i] == '\\' && i != last {
            out[out_idx - 1] = p[i];
            out[out_idx] = p[i + 1];
            i += 2;
        } else {
            out[out_idx] = p[i];
            i += 1;
        }
    }
    out.into_iter().collect()
}

fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Result<String, String> {
    // The shortest rightmost match is the shortest leftmost match of the reversed pattern in
    // the reversed value.
    let rp = reverse_pattern(pattern);
    let rv: String = value.chars().rev().collect();
    let prog = Pattern::compile(&rp, greedy)
        .map_err(|e| format!("invalid pattern ({rp}) in substitution: {e}"))?;
    let chars: Vec<char> = rv.chars().collect();
    let trimmed: Vec<char> = match prog.find_at(&chars, 0, true) {
        Some((_, e)) => chars[e..].to_vec(),
        None => chars,
    };
    Ok(trimmed.into_iter().rev().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_pattern_keeps_escapes() {
        for (p, want) in [
            ("a\\*c", "c\\*a"),
            ("\\\\\\ab", "b\\a\\\\"),
            ("ab\\", "\\ba"),
            ("👽\\🚀🖖", "🖖\\🚀👽"),
            ("\\\\b", "b\\\\"),
        ] {
            assert_eq!(reverse_pattern(p), want, "{p}");
        }
    }

    #[test]
    fn invalid_patterns() {
        for p in ["\\", "\\x", "\\\\\\"] {
            assert!(Pattern::compile(p, true).is_err(), "{p}");
        }
    }

    #[test]
    fn pike_vm_leftmost_first() {
        let text: Vec<char> = "xxyy".chars().collect();
        let p = Pattern::compile("x*", true).expect("valid");
        assert_eq!(p.find_at(&text, 0, false), Some((0, 4)));
        let p = Pattern::compile("x*", false).expect("valid");
        assert_eq!(p.find_at(&text, 0, false), Some((0, 1)));
        let p = Pattern::compile("y", true).expect("valid");
        assert_eq!(p.find_at(&text, 0, false), Some((2, 3)));
        assert_eq!(p.find_at(&text, 0, true), None);
        let p = Pattern::compile("", true).expect("valid");
        assert_eq!(p.replace_all(&text, "-"), "-x-x-y-y-");
        let p = Pattern::compile("x", true).expect("valid");
        assert_eq!(p.replace_all(&text, "[$0$$]"), "[x$][x$]yy");
    }

    #[test]
    fn go_quote_escapes() {
        assert_eq!(go_quote("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\x01é\"");
    }
}
