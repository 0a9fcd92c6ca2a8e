//! Fuzzing: random bytes and mutated valid Dockerfiles through the parser and every expansion
//! must never panic. The quick property test runs in the normal suite; the long run is
//! `WHARF_FUZZ_SECS=180 cargo test -p build dockerfile::fuzz::long_run -- --ignored --nocapture`.

use super::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

/// Valid Dockerfiles covering every instruction and syntax feature.
const CORPUS: &[&str] = &[
    "FROM busybox\nRUN echo hi\n",
    "# syntax=docker/dockerfile:1\n# escape=`\nFROM busybox AS base\nRUN echo a `\n  b\nWORKDIR C:\\x\n",
    "ARG BASE=busybox\nARG TAG\nFROM --platform=$BUILDPLATFORM ${BASE}:${TAG:-latest} AS build\nARG X=1 Y\nENV A=${X} B=\"b c\" C=d\\ e\nENV legacy value with spaces\nLABEL \"com.example\"=\"v\" other=1\nEXPOSE 80 443/udp $PORT\nUSER ${U:-1000}:${G}\nVOLUME [\"/data\", \"$D\"]\nVOLUME /a /b\nSTOPSIGNAL SIG${SIG:-TERM}\nWORKDIR /app/${A%%x*}/${B#?}/${C/d/e}/${C//\\ /_}\n",
    "FROM a\nCOPY --from=build --chown=1:1 --chmod=755 --link --exclude=*.md src/ \"/dst dir/\"\nADD --checksum=sha256:00 --keep-git-dir=true https://example.com/x.tar.gz /x/\nCOPY [\"a b\", \"/c/\"]\n",
    "FROM a\nRUN --mount=type=cache,target=/root/.cache --network=none <<EOF\nset -e\necho $HOME\nEOF\nRUN <<-EOT bash\n\techo indented\n\tEOT\nCOPY <<EOF <<'RAW' /etc/\nhello $NAME\nEOF\nraw $X\nRAW\n",
    "FROM a\nHEALTHCHECK --interval=30s --timeout=1m30s --start-period=5s --start-interval=500ms --retries=3 CMD curl -f http://localhost/ || exit 1\nHEALTHCHECK NONE\nHEALTHCHECK CMD [\"/bin/check\", \"--fast\"]\n",
    "FROM a\nONBUILD RUN echo triggered\nONBUILD COPY . /src\nONBUILD RUN <<EOF\necho heredoc trigger\nEOF\nMAINTAINER someone <a@b.c>\nSHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\nENTRYPOINT [\"/entry\"]\nCMD echo \"$HOME\" 'single' \\\n  # comment in continuation\n\n  && echo done\n",
    "FROM scratch\nCOPY --from=0 / /\nRUN [\"/bin/sh\", \"-c\", \"echo \\\"quoted\\\"\"]\nCMD [ \"unterminated\"\n",
];

/// Fragments that exercise the interesting paths when spliced in.
const TOKENS: &[&str] = &[
    "$",
    "${",
    "}",
    "${A:-",
    "${A:+",
    "${A:?",
    "${A#",
    "${A%%",
    "${A/",
    "${A//x/",
    ":",
    "-",
    "+",
    "?",
    "#",
    "%",
    "/",
    "\\",
    "`",
    "\"",
    "'",
    "<<",
    "<<-",
    "<<EOF",
    "EOF",
    "\n",
    "\r\n",
    "\t",
    " ",
    "[",
    "]",
    "[\"",
    "\",",
    "--",
    "--from=",
    "--mount=",
    "--interval=",
    "=",
    "ONBUILD ",
    "FROM ",
    "RUN ",
    "COPY ",
    "ADD ",
    "ENV ",
    "ARG ",
    "HEALTHCHECK ",
    "SHELL ",
    "# escape=`\n",
    "# syntax=x\n",
    "AS ",
    "\\\n",
    "\u{FEFF}",
    "é",
    "\u{0}",
    "1",
    "0.5ms",
    "NONE",
    "CMD ",
];

/// Variables every fuzzed expansion can see.
fn lookup(name: &str) -> Option<String> {
    match name {
        "A" => Some("a b*c".into()),
        "B" => Some(String::new()),
        "HOME" => Some("/root".into()),
        "NAME" => Some("$A \"q\" \\".into()),
        "PORT" => Some("80 443".into()),
        _ => None,
    }
}

/// Parses and expands everything reachable from `text`; only panics count as failures.
fn exercise(text: &str) {
    for escape in ['\\', '`'] {
        let _ = expand_word(text, escape, &lookup);
        let _ = expand_words(text, escape, &lookup);
    }
    let _ = parse_trigger(text, '\\');
    if let Ok(d) = parse(text) {
        let all = d
            .meta_args
            .iter()
            .chain(d.stages.iter().flat_map(|s| s.instructions.iter()));
        for ins in all {
            let _ = ins.kind.expand(d.escape, &lookup);
            let _ = ins.kind.keyword();
            if let Kind::OnBuild(expr, _) = &ins.kind {
                let _ = parse_trigger(expr, '\\');
            }
        }
        for s in &d.stages {
            let _ = expand_word(&s.base, d.escape, &lookup);
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, usize),
    Delete(usize, usize),
    Duplicate(usize, usize),
    Byte(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(p, t)| Mutation::Insert(p, t)),
        (any::<usize>(), 1usize..20).prop_map(|(p, n)| Mutation::Delete(p, n)),
        (any::<usize>(), 1usize..40).prop_map(|(p, n)| Mutation::Duplicate(p, n)),
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Byte(p, b)),
    ]
}

/// Applies mutations at char boundaries (positions are taken modulo the length).
fn mutate(base: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = base.chars().collect();
    for m in mutations {
        let len = chars.len();
        match *m {
            Mutation::Insert(p, t) => {
                let at = p % (len + 1);
                chars.splice(at..at, TOKENS[t].chars());
            }
            Mutation::Delete(p, n) if len > 0 => {
                let at = p % len;
                let end = (at + n).min(len);
                chars.drain(at..end);
            }
            Mutation::Duplicate(p, n) if len > 0 => {
                let at = p % len;
                let end = (at + n).min(len);
                let piece: Vec<char> = chars[at..end].to_vec();
                chars.splice(at..at, piece);
            }
            Mutation::Byte(p, b) => {
                let at = p % (len + 1);
                chars.insert(at, char::from(b));
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

fn mutated_dockerfile() -> impl Strategy<Value = String> {
    (0..CORPUS.len(), prop::collection::vec(mutation(), 0..12))
        .prop_map(|(i, ms)| mutate(CORPUS[i], &ms))
}

fn random_text() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u8>(), 0..400)
        .prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(0..TOKENS.len(), 0..80)
        .prop_map(|ts| ts.into_iter().map(|t| TOKENS[t]).collect())
}

proptest! {
    #![proptest_config(Config { cases: 192, failure_persistence: None, ..Config::default() })]

    #[test]
    fn random_bytes_never_panic(text in random_text()) {
        exercise(&text);
    }

    #[test]
    fn mutated_dockerfiles_never_panic(text in mutated_dockerfile()) {
        exercise(&text);
    }

    #[test]
    fn token_soup_never_panics(text in token_soup()) {
        exercise(&text);
    }
}

#[test]
fn corpus_parses() {
    for text in CORPUS {
        if let Err(e) = parse(text) {
            panic!("{text:?}: {e}");
        }
        exercise(text);
    }
}

/// The long fuzz run: loops random inputs of all three kinds for `WHARF_FUZZ_SECS` seconds
/// (default 60) and prints how many it tried.
#[test]
#[ignore = "long-running fuzz; set WHARF_FUZZ_SECS"]
fn long_run() {
    let secs: u64 = std::env::var("WHARF_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let mut runner = TestRunner::new(Config {
        failure_persistence: None,
        ..Config::default()
    });
    let strategies = [
        random_text().boxed(),
        mutated_dockerfile().boxed(),
        token_soup().boxed(),
    ];
    let mut count: u64 = 0;
    while std::time::Instant::now() < deadline {
        for s in &strategies {
            let text = s
                .new_tree(&mut runner)
                .expect("strategies always generate")
                .current();
            exercise(&text);
            count += 1;
        }
    }
    println!("fuzzed {count} inputs in {secs}s without a panic");
}
