//! Table-driven tests of the parser and of expansion against Docker's behaviour and texts.

use super::*;

fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name: &str| {
        vars.iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

fn parse_ok(text: &str) -> Dockerfile {
    match parse(text) {
        Ok(d) => d,
        Err(e) => panic!("parse of {text:?} failed: {e}"),
    }
}

fn parse_err(text: &str) -> String {
    match parse(text) {
        Ok(d) => panic!("parse of {text:?} succeeded: {d:?}"),
        Err(e) => e.to_string(),
    }
}

/// The kinds of the first stage's instructions.
fn kinds(text: &str) -> Vec<Kind> {
    parse_ok(text).stages[0]
        .instructions
        .iter()
        .map(|i| i.kind.clone())
        .collect()
}

fn one(text: &str) -> Kind {
    let k = kinds(text);
    assert_eq!(k.len(), 1, "{text:?}: {k:?}");
    k.into_iter().next().expect("one instruction")
}

fn shell(s: &str) -> Command {
    Command::Shell(s.to_string())
}

fn exec(v: &[&str]) -> Command {
    Command::Exec(v.iter().map(|s| s.to_string()).collect())
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn run(command: Command) -> Kind {
    Kind::Run(Run {
        command,
        heredocs: vec![],
        mounts: vec![],
        network: None,
        security: None,
    })
}

fn copy(sources: &[&str], dest: &str) -> Copy {
    Copy {
        sources: strings(sources),
        heredocs: vec![],
        dest: dest.to_string(),
        from: None,
        chown: None,
        chmod: None,
        link: false,
        parents: false,
        exclude: vec![],
        checksum: None,
        keep_git_dir: false,
        json: false,
    }
}

fn heredoc(name: &str, content: &str, expand: bool) -> Heredoc {
    Heredoc {
        name: name.to_string(),
        content: content.to_string(),
        expand,
    }
}

// ---- expansion ----

/// Cases of Docker's `envVarTest` (Unix and all-platform lines) and more; `None` is an error.
const WORD_CASES: &[(&str, Option<&str>)] = &[
    ("hello", Some("hello")),
    ("he'll'o", Some("hello")),
    ("he'llo", None),
    (r"he\'llo", Some("he'llo")),
    (r"he\\'llo", None),
    (r"abc\tdef", Some("abctdef")),
    (r#""abc\tdef""#, Some(r"abc\tdef")),
    (r#""abc\\tdef""#, Some(r"abc\tdef")),
    (r"'abc\tdef'", Some(r"abc\tdef")),
    (r"hello\", Some("hello")),
    (r"hello\\", Some(r"hello\")),
    (r#""hello"#, None),
    (r#""hello\""#, None),
    (r#""hel'lo""#, Some("hel'lo")),
    ("'hello", None),
    (r"'hello\'", Some(r"hello\")),
    (r"'hello\there'", Some(r"hello\there")),
    (r"'hello\\there'", Some(r"hello\\there")),
    (r#""''""#, Some("''")),
    ("$.", Some("$.")),
    ("he$1x", Some("hex")),
    ("he$.x", Some("he$.x")),
    ("he$pwd.", Some("he.")),
    ("he$PWD", Some("he/home")),
    (r"he\$PWD", Some("he$PWD")),
    (r"he\\$PWD", Some(r"he\/home")),
    (r#""he\$PWD""#, Some("he$PWD")),
    (r#""he\\$PWD""#, Some(r"he\/home")),
    (r"\${}", Some("${}")),
    (r"\${}aaa", Some("${}aaa")),
    (r"he\${}", Some("he${}")),
    (r"he\${}xx", Some("he${}xx")),
    ("${}", None),
    ("${}aaa", None),
    ("he${}", None),
    ("he${}xx", None),
    ("he${hi}", Some("he")),
    ("he${hi}xx", Some("hexx")),
    ("he${PWD}", Some("he/home")),
    ("he${.}", None),
    ("he${XXX:-000}xx", Some("he000xx")),
    ("he${PWD:-000}xx", Some("he/homexx")),
    ("he${XXX:-$PWD}xx", Some("he/homexx")),
    ("he${XXX:-${PWD:-yyy}}xx", Some("he/homexx")),
    ("he${XXX:-${YYY:-yyy}}xx", Some("heyyyxx")),
    ("he${XXX:YYY}", None),
    ("he${XXX?}", None),
    ("he${XXX:?}", None),
    ("he${PWD?}", Some("he/home")),
    ("he${PWD:?}", Some("he/home")),
    ("he${NULL?}", Some("he")),
    ("he${NULL:?}", None),
    ("he${XXX:+${PWD}}xx", Some("hexx")),
    ("he${PWD:+${XXX}}xx", Some("hexx")),
    ("he${PWD:+${SHELL}}xx", Some("hebashxx")),
    ("he${XXX:+000}xx", Some("hexx")),
    ("he${PWD:+000}xx", Some("he000xx")),
    ("'he${XX}'", Some("he${XX}")),
    (r#""he${PWD}""#, Some("he/home")),
    (r#""he'$PWD'""#, Some("he'/home'")),
    (r#""$PWD""#, Some("/home")),
    ("'$PWD'", Some("$PWD")),
    (r"'\$PWD'", Some(r"\$PWD")),
    (r#"'"hello"'"#, Some(r#""hello""#)),
    (r"'he\$PWD'", Some(r"he\$PWD")),
    ("he${PWD", None),
    ("he${PWD:=000}xx", None),
    ("he${PWD:+${PWD}:}xx", Some("he/home:xx")),
    (r"he${XXX:-\$PWD:}xx", Some("he$PWD:xx")),
    (r"he${XXX:-\${PWD}z}xx", Some("he${PWDz}xx")),
    ("안녕하세요", Some("안녕하세요")),
    ("안'녕'하세요", Some("안녕하세요")),
    ("안'녕하세요", None),
    (r"안녕\'하세요", Some("안녕'하세요")),
    (r#""안녕\t하세요""#, Some(r"안녕\t하세요")),
    ("안녕$1x", Some("안녕x")),
    ("안녕${XXX:-${YYY:-yyy}}xx", Some("안녕yyyxx")),
    ("$KOREAN", Some("한국어")),
    ("안녕$KOREAN", Some("안녕한국어")),
    ("${{aaa}", None),
    ("${aaa}}", Some("}")),
    ("${aaa", None),
    ("${{aaa:-bbb}", None),
    ("${aaa:-bbb}}", Some("bbb}")),
    ("${aaa:-bbb", None),
    ("${aaa:-bbb}", Some("bbb")),
    ("${aaa:-${bbb:-ccc}}", Some("ccc")),
    ("${aaa:-bbb ${foo}", None),
    ("${aaa:-bbb {foo}", Some("bbb {foo")),
    ("${:}", None),
    ("${:-bbb}", None),
    ("${:+bbb}", None),
    ("$1", Some("")),
    ("${1}", Some("")),
    ("${1:+bbb}", Some("")),
    ("${1:-bbb}", Some("bbb")),
    ("$999aaa", Some("aaa")),
    ("${999:-bbb}aaa", Some("bbbaaa")),
    ("$001aaa", Some("aaa")),
    ("$@", Some("")),
    ("${@:-bbb}", Some("bbb")),
    ("$@@@", Some("@@")),
    ("$@aaa", Some("aaa")),
    ("${*:+bbb}", Some("")),
    ("$#", Some("")),
    ("${#:-bbb}", Some("bbb")),
    ("${?}", Some("")),
    ("${-:-bbb}", Some("bbb")),
    ("$$", Some("")),
    ("${$:-bbb}", Some("bbb")),
    ("$!", Some("")),
    ("$0", Some("")),
    ("${0:-bbb}", Some("bbb")),
    // Substitution modifiers without a colon treat the empty value as set.
    ("${NULL-x}", Some("")),
    ("${NULL:-x}", Some("x")),
    ("${NULL+x}", Some("x")),
    ("${NULL:+x}", Some("")),
    ("${UNSET-x}", Some("x")),
    ("${UNSET+x}", Some("")),
];

#[test]
fn expand_word_table() {
    let vars = [
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
    ];
    let lookup = env(&vars);
    for (src, want) in WORD_CASES {
        let got = expand_word(src, '\\', &lookup);
        match want {
            Some(w) => assert_eq!(got.as_deref(), Ok(*w), "{src}"),
            None => assert!(got.is_err(), "{src}: {got:?}"),
        }
    }
}

/// An input, its variables and the expected output.
type Case<'a, T> = (&'a str, &'a [(&'a str, &'a str)], T);

/// Cases of Docker's pattern-removal and replacement tests.
#[test]
fn expand_patterns() {
    let cases: &[Case<Option<&str>>] = &[
        (
            r"${FOO#()[]{\}^$.\*\?|\\}",
            &[("FOO", r"()[]{}^$.*?|\x")],
            Some("x"),
        ),
        (r"${FOO%%\**}", &[("FOO", "xx**")], Some("xx")),
        ("${FOO#*x*y}", &[("FOO", "xxyy")], Some("y")),
        ("${FOO#*}", &[("FOO", "xxyy")], Some("xxyy")),
        ("${FOO#$BAR}", &[("FOO", "xxyy"), ("BAR", "x")], Some("xyy")),
        ("${FOO#$BAR}", &[("FOO", "xxyy"), ("BAR", "")], Some("xxyy")),
        ("${FOO#}", &[("FOO", "xxyy")], Some("xxyy")),
        ("${FOO##*x}", &[("FOO", "xxyy")], Some("yy")),
        ("${FOO##}", &[("FOO", "xxyy")], Some("xxyy")),
        (r"${FOO#?\?}", &[("FOO", "???y")], Some("?y")),
        (
            "${ABC:-.}${FOO%x}${ABC:-.}",
            &[("FOO", "xxyy")],
            Some(".xxyy."),
        ),
        (r"${FOO%%\**\*}", &[("FOO", "a***yy*")], Some("a")),
        ("${FOO%}", &[("FOO", "xxyy")], Some("xxyy")),
        (
            "${FOO%%$BAR}",
            &[("FOO", "xxyy"), ("BAR", "")],
            Some("xxyy"),
        ),
        ("${FOO%y*}", &[("FOO", "xxyy")], Some("xxy")),
        ("${FOO%%y*}", &[("FOO", "xxyy")], Some("xx")),
        ("${FOO:#}", &[], None),
        ("${FOO:##}", &[], None),
        ("${FOO:%}", &[], None),
        ("${FOO:%%}", &[], None),
        ("${FOO=aaa}", &[("FOO", "xxx")], None),
        ("${FOO=}", &[], None),
        (
            "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
            &[("FOO", "/foo*/*/*.txt"), ("NEEDLE", r"\*/")],
            Some("/foo.*/*.txt - /foo..*.txt"),
        ),
        (
            "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
            &[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")],
            Some("/tmp/bar.txt - /bar.txt"),
        ),
        (
            "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
            &[
                ("FOO", "/a/foo/b/c.txt"),
                ("NEEDLE", "/?/"),
                ("REPLACEMENT", "/"),
            ],
            Some("/foo/b/c.txt - /foo/c.txt"),
        ),
        ("${FOO//o/0}", &[("FOO", "foo")], Some("f00")),
        ("${FOO/o*/0}", &[("FOO", "foo")], Some("f0")),
        ("${FOO/x", &[("FOO", "foo")], None),
        ("${FOO/x/y", &[("FOO", "foo")], None),
    ];
    for (src, vars, want) in cases {
        let got = expand_word(src, '\\', &env(vars));
        match want {
            Some(w) => assert_eq!(got.as_deref(), Ok(*w), "{src}"),
            None => assert!(got.is_err(), "{src}: {got:?}"),
        }
    }
}

#[test]
fn expand_error_texts() {
    let cases: &[Case<&str>] = &[
        (
            "${A:?}",
            &[],
            r#"failed to process "${A:?}": A: is not allowed to be unset"#,
        ),
        (
            "${A:?}",
            &[("A", "")],
            r#"failed to process "${A:?}": A: is not allowed to be empty"#,
        ),
        (
            "x${A?need $B}",
            &[("B", "b")],
            r#"failed to process "x${A?need $B}": A: need b"#,
        ),
        (
            "${}",
            &[],
            r#"failed to process "${}": syntax error: bad substitution"#,
        ),
        (
            "${a:-b",
            &[],
            r#"failed to process "${a:-b": syntax error: missing '}'"#,
        ),
        (
            "${a",
            &[],
            "failed to process \"${a\": unsupported modifier (\u{fffd}) in substitution",
        ),
        (
            "${a:=b}",
            &[],
            r#"failed to process "${a:=b}": unsupported modifier (:=) in substitution"#,
        ),
        (
            "${a:#b}",
            &[],
            r#"failed to process "${a:#b}": unsupported modifier (:#) in substitution"#,
        ),
        (
            "'abc",
            &[],
            r#"failed to process "'abc": unexpected end of statement while looking for matching single-quote"#,
        ),
        (
            "\"abc",
            &[],
            r#"failed to process "\"abc": unexpected end of statement while looking for matching double-quote"#,
        ),
        (
            r"${a#\x}",
            &[("a", "b")],
            r#"failed to process "${a#\\x}": invalid pattern (\x) in substitution: invalid escape '\x'"#,
        ),
        (
            "${a/b",
            &[],
            r#"failed to process "${a/b": syntax error: missing '/' in ${}"#,
        ),
    ];
    for (src, vars, want) in cases {
        let got = expand_word(src, '\\', &env(vars));
        assert_eq!(
            got,
            Err(ExpandError {
                message: want.to_string()
            }),
            "{src}"
        );
    }
}

/// Cases of Docker's `wordsTest`: `ProcessWords` splits on unquoted whitespace, including
/// whitespace coming from variable values.
#[test]
fn expand_words_table() {
    let vars = [
        ("hi", "hi"),
        ("space", "abc  def"),
        ("leading", "  ab c"),
        ("trailing", "ab c   "),
    ];
    let lookup = env(&vars);
    let cases: &[(&str, Option<&[&str]>)] = &[
        ("hello", Some(&["hello"])),
        ("hello${hi}bye", Some(&["hellohibye"])),
        ("hello${space}bye", Some(&["helloabc", "defbye"])),
        (r#"hello"${space}"bye"#, Some(&["helloabc  defbye"])),
        (r#"hello "${space}"bye"#, Some(&["hello", "abc  defbye"])),
        ("hello${leading}def", Some(&["hello", "ab", "cdef"])),
        (r#"hello"${leading}" def"#, Some(&["hello  ab c", "def"])),
        (r#"hello"${leading}""#, Some(&["hello  ab c"])),
        ("hello${leading}", Some(&["hello", "ab", "c"])),
        ("hello${trailing}", Some(&["helloab", "c"])),
        ("hello${trailing}d", Some(&["helloab", "c", "d"])),
        (r#"hello"${trailing}"d"#, Some(&["helloab c   d"])),
        (r#"hel"lo${trailing}""#, Some(&["helloab c   "])),
        (r#"hello" there  ""#, Some(&["hello there  "])),
        ("hello there     ", Some(&["hello", "there"])),
        (r"hello\ there", Some(&["hello there"])),
        (r#"hello" there"#, None),
        (r#"hello\" there"#, Some(&["hello\"", "there"])),
        (r#"hello"\\there""#, Some(&[r"hello\there"])),
        (r#"hello"\there""#, Some(&[r"hello\there"])),
        (r"hello'\\there'", Some(&[r"hello\\there"])),
        (r"hello'\there'", Some(&[r"hello\there"])),
        ("hello'$there'", Some(&["hello$there"])),
        (r#""""#, Some(&[])),
        ("a << b", Some(&["a", "<< b"])),
        // Docker's lexer shares its word buffer with nested `${…}` words: the text before a
        // substitution with a modifier is dropped from the split (ProcessWord keeps it).
        ("hello${hi:-x}bye", Some(&["hibye"])),
        ("hello ${hi:+x}", Some(&["hello", "x"])),
    ];
    for (src, want) in cases {
        let got = expand_words(src, '\\', &lookup);
        match want {
            Some(w) => assert_eq!(got, Ok(strings(w)), "{src}"),
            None => assert!(got.is_err(), "{src}: {got:?}"),
        }
    }
    assert_eq!(
        expand_word("hello${hi:-x}bye", '\\', &lookup).as_deref(),
        Ok("hellohibye")
    );
}

#[test]
fn backtick_escape() {
    let lookup = env(&[("A", "a")]);
    assert_eq!(
        expand_word(r"C:\dir`$A", '`', &lookup).as_deref(),
        Ok(r"C:\dir$A")
    );
    assert_eq!(
        expand_word(r"C:\dir\$A", '`', &lookup).as_deref(),
        Ok(r"C:\dir\a")
    );
    assert_eq!(
        expand_word("\"a`\"b\"", '`', &lookup).as_deref(),
        Ok("a\"b")
    );
}

// ---- parser: structure ----

#[test]
fn basic_stage() {
    let d = parse_ok("FROM busybox\nRUN echo hi\n");
    assert_eq!(d.escape, '\\');
    assert_eq!(d.syntax, None);
    assert!(d.meta_args.is_empty());
    assert_eq!(d.stages.len(), 1);
    let s = &d.stages[0];
    assert_eq!(s.base, "busybox");
    assert_eq!(s.name, None);
    assert_eq!(s.platform, None);
    assert_eq!(s.line, 1);
    assert_eq!(s.original, "FROM busybox");
    assert_eq!(
        s.instructions,
        vec![Instruction {
            line: 2,
            original: "RUN echo hi".into(),
            kind: run(shell("echo hi")),
        }]
    );
}

#[test]
fn directives() {
    let d = parse_ok("# syntax=docker/dockerfile:1\n# escape=`\nFROM busybox\nRUN echo a `\n  b\n");
    assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(d.escape, '`');
    assert_eq!(d.stages[0].instructions[0].kind, run(shell("echo a   b")));
    assert_eq!(d.stages[0].instructions[0].original, "RUN echo a   b");
    assert_eq!(d.stages[0].instructions[0].line, 4);

    // Directive keys are case-insensitive and may have spaces around `=`.
    let d = parse_ok("#ESCAPE = `\nFROM a\n");
    assert_eq!(d.escape, '`');

    // Only at the very top: after a comment, an empty line or an instruction they are comments.
    for text in [
        "# comment\n# escape=`\nFROM a\n",
        "\n# escape=`\nFROM a\n",
        "FROM a\n# escape=`\n",
        "# unknown=1\n# escape=`\nFROM a\n",
    ] {
        assert_eq!(parse_ok(text).escape, '\\', "{text:?}");
    }
    // `# check=` is a directive too (and is skipped).
    assert_eq!(
        parse_ok("# check=skip=all\n# escape=`\nFROM a\n").escape,
        '`'
    );

    assert_eq!(
        parse_err("# escape=x\nFROM a\n"),
        "failed to parse Dockerfile: invalid escape token 'x' does not match ` or \\"
    );
    assert_eq!(
        parse_err("# escape=\\\n# escape=`\nFROM a\n"),
        "failed to parse Dockerfile: only one escape parser directive can be used"
    );
    assert_eq!(
        parse_err("# syntax=a\n# syntax=b\nFROM a\n"),
        "failed to parse Dockerfile: only one syntax parser directive can be used"
    );
}

#[test]
fn comments_continuations_and_whitespace() {
    let text = "FROM busybox\n\
                # a comment\n\
                \x20  run   echo a \\\n\
                # comment inside\n\
                \n\
                \\\n\
                \x20 && echo b\n\
                RUN echo \\\\\n\
                RUN echo c # not a comment\n";
    let d = parse_ok(text);
    let ins = &d.stages[0].instructions;
    assert_eq!(ins.len(), 3);
    assert_eq!(ins[0].kind, run(shell("echo a   && echo b")));
    assert_eq!(ins[0].original, "run   echo a   && echo b");
    assert_eq!(ins[0].line, 3);
    // An escaped escape at the end is not a continuation.
    assert_eq!(ins[1].kind, run(shell("echo \\\\")));
    assert_eq!(ins[1].line, 8);
    assert_eq!(ins[2].kind, run(shell("echo c # not a comment")));
    assert_eq!(ins[2].line, 9);

    // CRLF line endings, a byte-order mark, a continuation at the end of the file.
    let d = parse_ok("\u{FEFF}FROM a\r\nRUN echo hi\r\nRUN x \\");
    assert_eq!(d.stages[0].base, "a");
    assert_eq!(d.stages[0].instructions[0].kind, run(shell("echo hi")));
    assert_eq!(d.stages[0].instructions[1].kind, run(shell("x")));
}

#[test]
fn original_is_the_joined_trimmed_line() {
    let d = parse_ok("  FROM busybox  AS  Base \nCOPY --chown=1:1 \\\n    a /b   \n");
    assert_eq!(d.stages[0].original, "FROM busybox  AS  Base");
    assert_eq!(d.stages[0].name.as_deref(), Some("base"));
    assert_eq!(
        d.stages[0].instructions[0].original,
        "COPY --chown=1:1     a /b"
    );
}

#[test]
fn exec_and_shell_forms() {
    let cases: &[(&str, Kind)] = &[
        (r#"CMD ["a", "b c"]"#, Kind::Cmd(exec(&["a", "b c"]))),
        (r#"CMD [ "a" "#, Kind::Cmd(shell(r#"[ "a""#))),
        ("CMD ['a']", Kind::Cmd(shell("['a']"))),
        ("CMD []", Kind::Cmd(exec(&[]))),
        ("CMD", Kind::Cmd(shell(""))),
        (r#"CMD ["a"] x"#, Kind::Cmd(shell(r#"["a"] x"#))),
        (
            r#"ENTRYPOINT ["/bin/sh", "-c"]"#,
            Kind::Entrypoint(exec(&["/bin/sh", "-c"])),
        ),
        ("ENTRYPOINT top -b", Kind::Entrypoint(shell("top -b"))),
        (r#"RUN ["echo", "\u00e9\n"]"#, run(exec(&["echo", "é\n"]))),
        (
            r#"SHELL ["/bin/bash", "-c"]"#,
            Kind::Shell(strings(&["/bin/bash", "-c"])),
        ),
        ("VOLUME /a  /b", Kind::Volume(strings(&["/a", "/b"]))),
        (
            r#"VOLUME ["/c", " /d "]"#,
            Kind::Volume(strings(&["/c", "/d"])),
        ),
        (
            r#"COPY ["a b", "/c d/"]"#,
            Kind::Copy(Copy {
                json: true,
                ..copy(&["a b"], "/c d/")
            }),
        ),
        ("COPY a b /c/", Kind::Copy(copy(&["a", "b"], "/c/"))),
        (
            r#"ADD [ "x" , "/y" ]"#,
            Kind::Add(Copy {
                json: true,
                ..copy(&["x"], "/y")
            }),
        ),
        (
            "EXPOSE 8080 80/udp $P",
            Kind::Expose(strings(&["$P", "80/udp", "8080"])),
        ),
        ("USER app:app", Kind::User("app:app".into())),
        ("USER a b", Kind::User("a b".into())),
        ("WORKDIR /a b", Kind::Workdir("/a b".into())),
        ("STOPSIGNAL SIGKILL", Kind::StopSignal("SIGKILL".into())),
        ("STOPSIGNAL --x SIGTERM", Kind::StopSignal("SIGTERM".into())),
        (
            "MAINTAINER Jane <j@x.org>",
            Kind::Maintainer("Jane <j@x.org>".into()),
        ),
        ("RUN -- --foo", run(shell("--foo"))),
    ];
    for (line, want) in cases {
        let got = one(&format!("FROM a\n{line}\n"));
        assert_eq!(&got, want, "{line}");
    }
}

#[test]
fn env_label_arg() {
    assert_eq!(
        one("FROM a\nENV a=1 b=\"x y\" c=z\\ w d=\n"),
        Kind::Env(pairs(&[
            ("a", "1"),
            ("b", "\"x y\""),
            ("c", "z\\ w"),
            ("d", "")
        ]))
    );
    assert_eq!(
        one("FROM a\nENV k v  w\n"),
        Kind::Env(pairs(&[("k", "v  w")]))
    );
    assert_eq!(
        one("FROM a\nENV k \"v w\"\n"),
        Kind::Env(pairs(&[("k", "\"v w\"")]))
    );
    assert_eq!(
        one("FROM a\nLABEL \"com.x\"=\"a b\" version=1\n"),
        Kind::Label(pairs(&[("\"com.x\"", "\"a b\""), ("version", "1")]))
    );
    assert_eq!(
        one("FROM a\nLABEL k v\n"),
        Kind::Label(pairs(&[("k", "v")]))
    );
    assert_eq!(
        one("FROM a\nARG a b=1 c=\"x y\"\n"),
        Kind::Arg(vec![
            ArgDecl {
                name: "a".into(),
                default: None
            },
            ArgDecl {
                name: "b".into(),
                default: Some("1".into())
            },
            ArgDecl {
                name: "c".into(),
                default: Some("\"x y\"".into())
            },
        ])
    );
    // ARG ignores flags as Docker does.
    assert_eq!(
        one("FROM a\nARG --x=1 v\n"),
        Kind::Arg(vec![ArgDecl {
            name: "v".into(),
            default: None
        }])
    );
}

#[test]
fn meta_args_and_stages() {
    let d = parse_ok(
        "ARG BASE=busybox\nARG V\nFROM --platform=linux/amd64 ${BASE}:${V} AS Build\nRUN a\nFROM build as final\nCOPY --from=build /x /y\n",
    );
    assert_eq!(d.meta_args.len(), 2);
    assert_eq!(d.meta_args[0].line, 1);
    assert_eq!(
        d.meta_args[0].kind,
        Kind::Arg(vec![ArgDecl {
            name: "BASE".into(),
            default: Some("busybox".into())
        }])
    );
    assert_eq!(d.stages.len(), 2);
    assert_eq!(d.stages[0].base, "${BASE}:${V}");
    assert_eq!(d.stages[0].name.as_deref(), Some("build"));
    assert_eq!(d.stages[0].platform.as_deref(), Some("linux/amd64"));
    assert_eq!(d.stages[0].line, 3);
    assert_eq!(d.stages[1].base, "build");
    assert_eq!(d.stages[1].name.as_deref(), Some("final"));
    assert_eq!(d.stages[1].instructions.len(), 1);
    assert_eq!(
        d.stages[1].instructions[0].kind,
        Kind::Copy(Copy {
            from: Some("build".into()),
            ..copy(&["/x"], "/y")
        })
    );
}

#[test]
fn flags() {
    assert_eq!(
        one(
            "FROM a\nRUN --network=none --mount=type=cache,target=/c --mount=type=tmpfs,target=/t --security=insecure make\n"
        ),
        Kind::Run(Run {
            command: shell("make"),
            heredocs: vec![],
            mounts: strings(&["type=cache,target=/c", "type=tmpfs,target=/t"]),
            network: Some("none".into()),
            security: Some("insecure".into()),
        })
    );
    assert_eq!(
        one(
            "FROM a\nCOPY --from=build --chown=1:2 --chmod=755 --link --parents --exclude=*.md --exclude='x y' a b /d/\n"
        ),
        Kind::Copy(Copy {
            from: Some("build".into()),
            chown: Some("1:2".into()),
            chmod: Some("755".into()),
            link: true,
            parents: true,
            exclude: strings(&["*.md", "x y"]),
            ..copy(&["a", "b"], "/d/")
        })
    );
    assert_eq!(
        one(
            "FROM a\nADD --checksum=sha256:abc --keep-git-dir=true --link=false --chown=$U https://x/y.git /d\n"
        ),
        Kind::Add(Copy {
            checksum: Some("sha256:abc".into()),
            keep_git_dir: true,
            chown: Some("$U".into()),
            ..copy(&["https://x/y.git"], "/d")
        })
    );
    assert_eq!(
        one(
            "FROM a\nHEALTHCHECK --interval=30s --timeout=1m30s --start-period=500ms --start-interval=1.5s --retries=3 CMD curl -f http://x/ || exit 1\n"
        ),
        Kind::Healthcheck(Healthcheck::Cmd {
            test: strings(&["CMD-SHELL", "curl -f http://x/ || exit 1"]),
            interval: 30_000_000_000,
            timeout: 90_000_000_000,
            start_period: 500_000_000,
            start_interval: 1_500_000_000,
            retries: 3,
        })
    );
    assert_eq!(
        one("FROM a\nHEALTHCHECK cmd [\"a\", \"b\"]\n"),
        Kind::Healthcheck(Healthcheck::Cmd {
            test: strings(&["CMD", "a", "b"]),
            interval: 0,
            timeout: 0,
            start_period: 0,
            start_interval: 0,
            retries: 0,
        })
    );
    assert_eq!(
        one("FROM a\nHEALTHCHECK NONE\n"),
        Kind::Healthcheck(Healthcheck::None)
    );
    assert_eq!(
        one("FROM a\nHEALTHCHECK --interval=0s --retries= CMD x\n"),
        Kind::Healthcheck(Healthcheck::Cmd {
            test: strings(&["CMD-SHELL", "x"]),
            interval: 0,
            timeout: 0,
            start_period: 0,
            start_interval: 0,
            retries: 0,
        })
    );
}

#[test]
fn heredocs() {
    let text = "FROM busybox\n\
RUN <<EOF\n\
echo hi\n\
EOF\n\
RUN <<-EOT cat\n\
\tindented\n\
\tEOT\n\
RUN cat <<A && cat <<\"B\"\n\
a $X\n\
A\n\
b $X\n\
B\n\
COPY <<EOF /etc/x\n\
hello $NAME\n\
EOF\n\
COPY <<'EOF' <<EOF2 /d/\n\
raw $X\n\
EOF\n\
two\n\
EOF2\n\
RUN [\"cat\", \"<<EOF\"]\n\
ADD <<-EOF /f\n\
\t\tx\n\
EOF\n";
    let d = parse_ok(text);
    let ins = &d.stages[0].instructions;
    assert_eq!(ins.len(), 7);
    assert_eq!(
        ins[0].kind,
        Kind::Run(Run {
            command: shell("echo hi\n"),
            heredocs: vec![heredoc("EOF", "echo hi\n", true)],
            ..run_fields()
        })
    );
    assert_eq!(ins[0].original, "RUN <<EOF");
    assert_eq!(ins[0].line, 2);
    assert_eq!(
        ins[1].kind,
        Kind::Run(Run {
            command: shell("<<-EOT cat\n\tindented\nEOT"),
            heredocs: vec![heredoc("EOT", "indented\n", true)],
            ..run_fields()
        })
    );
    assert_eq!(ins[1].line, 5);
    assert_eq!(
        ins[2].kind,
        Kind::Run(Run {
            command: shell("cat <<A && cat <<\"B\"\na $X\nA\nb $X\nB"),
            heredocs: vec![heredoc("A", "a $X\n", true), heredoc("B", "b $X\n", false)],
            ..run_fields()
        })
    );
    assert_eq!(ins[2].line, 8);
    assert_eq!(
        ins[3].kind,
        Kind::Copy(Copy {
            heredocs: vec![heredoc("EOF", "hello $NAME\n", true)],
            ..copy(&[], "/etc/x")
        })
    );
    assert_eq!(ins[3].line, 13);
    assert_eq!(
        ins[4].kind,
        Kind::Copy(Copy {
            heredocs: vec![
                heredoc("EOF", "raw $X\n", false),
                heredoc("EOF2", "two\n", true)
            ],
            ..copy(&[], "/d/")
        })
    );
    assert_eq!(ins[5].kind, run(exec(&["cat", "<<EOF"])));
    assert_eq!(ins[5].line, 21);
    assert_eq!(
        ins[6].kind,
        Kind::Add(Copy {
            heredocs: vec![heredoc("EOF", "x\n", true)],
            ..copy(&[], "/f")
        })
    );
    assert_eq!(ins[6].line, 22);

    // Expansion of heredoc bodies: only where the delimiter was not quoted, quotes kept.
    let lookup = env(&[("NAME", "w"), ("X", "x")]);
    assert_eq!(
        ins[3].kind.expand('\\', &lookup),
        Ok(Kind::Copy(Copy {
            heredocs: vec![heredoc("EOF", "hello w\n", true)],
            ..copy(&[], "/etc/x")
        }))
    );
    assert_eq!(
        ins[4].kind.expand('\\', &lookup),
        Ok(Kind::Copy(Copy {
            heredocs: vec![
                heredoc("EOF", "raw $X\n", false),
                heredoc("EOF2", "two\n", true)
            ],
            ..copy(&[], "/d/")
        }))
    );
    let k = one("FROM a\nCOPY <<EOF /f\n'$X' \"$X\" \\$X\nEOF\n");
    assert_eq!(
        k.expand('\\', &lookup),
        Ok(Kind::Copy(Copy {
            heredocs: vec![heredoc("EOF", "'x' \"x\" $X\n", true)],
            ..copy(&[], "/f")
        }))
    );
}

fn run_fields() -> Run {
    Run {
        command: shell(""),
        heredocs: vec![],
        mounts: vec![],
        network: None,
        security: None,
    }
}

#[test]
fn onbuild() {
    let d = parse_ok(
        "FROM a\nONBUILD RUN echo hi\nonbuild COPY --from=x a /b\nONBUILD RUN <<EOF\necho hi\nEOF\n",
    );
    let ins = &d.stages[0].instructions;
    assert_eq!(
        ins[0].kind,
        Kind::OnBuild(
            "RUN echo hi".into(),
            Box::new(Instruction {
                line: 2,
                original: "RUN echo hi".into(),
                kind: run(shell("echo hi")),
            })
        )
    );
    assert_eq!(ins[0].original, "ONBUILD RUN echo hi");
    let Kind::OnBuild(expr, trigger) = &ins[1].kind else {
        panic!("not ONBUILD: {:?}", ins[1].kind)
    };
    assert_eq!(expr, "COPY --from=x a /b");
    assert_eq!(
        trigger.kind,
        Kind::Copy(Copy {
            from: Some("x".into()),
            ..copy(&["a"], "/b")
        })
    );
    let Kind::OnBuild(expr, trigger) = &ins[2].kind else {
        panic!("not ONBUILD: {:?}", ins[2].kind)
    };
    assert_eq!(expr, "RUN <<EOF\necho hi\nEOF");
    assert_eq!(
        trigger.kind,
        Kind::Run(Run {
            command: shell("echo hi\n"),
            heredocs: vec![heredoc("EOF", "echo hi\n", true)],
            ..run_fields()
        })
    );
    // The stored trigger text parses back to the same instruction.
    assert_eq!(
        parse_trigger(expr, '\\').map(|i| i.kind),
        Ok(trigger.kind.clone())
    );
}

#[test]
fn triggers() {
    assert_eq!(
        parse_trigger("RUN echo hi", '\\'),
        Ok(Instruction {
            line: 1,
            original: "RUN echo hi".into(),
            kind: run(shell("echo hi")),
        })
    );
    let err = |t: &str| parse_trigger(t, '\\').map_err(|e| e.message).expect_err(t);
    assert_eq!(err(""), "file with no instructions");
    assert_eq!(
        err("RUN a\nRUN b"),
        "onbuild trigger should be a single expression"
    );
    assert_eq!(
        err("FOO x"),
        "unknown instruction: FOO (did you mean FROM?)"
    );
    assert_eq!(
        err("COPY a"),
        "COPY requires at least two arguments, but only one was provided. Destination could not be determined"
    );
    assert_eq!(err("FROM x"), "*instructions.Stage is not a command type");
}

// ---- parser: errors ----

#[test]
fn error_texts() {
    let pe = |line: usize, msg: &str| format!("dockerfile parse error on line {line}: {msg}");
    let fp = |msg: &str| format!("failed to parse Dockerfile: {msg}");
    let cases: Vec<(&str, String)> = vec![
        ("", "the Dockerfile (Dockerfile) cannot be empty".into()),
        ("\n\n", fp("file with no instructions")),
        ("# only a comment\n", fp("file with no instructions")),
        (
            "ARG a\n",
            "No image was generated. Is your Dockerfile empty?".into(),
        ),
        (
            "RUN x\nFROM a\n",
            "no build stage in current context".into(),
        ),
        (
            "ARG a\nENV b=c\nFROM a\n",
            "no build stage in current context".into(),
        ),
        (
            "FROM a\n\nFOO bar\n",
            pe(3, "unknown instruction: FOO (did you mean FROM?)"),
        ),
        (
            "FROM a\nfoo bar\n",
            pe(2, "unknown instruction: foo (did you mean from?)"),
        ),
        ("FROM a\nBOGUS bar\n", pe(2, "unknown instruction: BOGUS")),
        (
            "FROM a\nRUNN x\n",
            pe(2, "unknown instruction: RUNN (did you mean RUN?)"),
        ),
        (
            "FROM a\ncopyy x y\n",
            pe(2, "unknown instruction: copyy (did you mean copy?)"),
        ),
        (
            "FROM a\nRUN <<EOF\nx\nEOF\nBLAH\n",
            pe(5, "unknown instruction: BLAH"),
        ),
        (
            "FOO\n",
            pe(1, "unknown instruction: FOO (did you mean FROM?)"),
        ),
        (
            "FROM\n",
            pe(1, "FROM requires either one or three arguments"),
        ),
        (
            "FROM a b\n",
            pe(1, "FROM requires either one or three arguments"),
        ),
        (
            "FROM a AS b c\n",
            pe(1, "FROM requires either one or three arguments"),
        ),
        (
            "FROM a AS 1x\n",
            pe(
                1,
                "invalid name for build stage: \"1x\", name can't start with a number or contain symbols",
            ),
        ),
        (
            "FROM a AS b$c\n",
            pe(
                1,
                "invalid name for build stage: \"b$c\", name can't start with a number or contain symbols",
            ),
        ),
        (
            "FROM --platfrom=x a\n",
            pe(1, "unknown flag: --platfrom (did you mean platform?)"),
        ),
        ("FROM --plat=x a\n", pe(1, "unknown flag: --plat")),
        ("FROM a\nENV k\n", fp("ENV must have two arguments")),
        ("FROM a\nLABEL k\n", fp("LABEL must have two arguments")),
        ("FROM a\nENV\n", pe(2, "ENV requires at least one argument")),
        ("FROM a\nENV =x\n", pe(2, "ENV names can not be blank")),
        ("FROM a\nLABEL =x\n", pe(2, "LABEL names can not be blank")),
        (
            "FROM a\nENV a=1 b\n",
            fp("Syntax error - can't find = in \"b\". Must be of the form: name=value"),
        ),
        ("FROM a\nENV --x=1 a=b\n", pe(2, "unknown flag: --x")),
        ("FROM a\nARG\n", pe(2, "ARG requires at least one argument")),
        ("FROM a\nARG =x\n", pe(2, "ARG names can not be blank")),
        (
            "FROM a\nCMD [\"a\", 1]\n",
            fp("when using JSON array syntax, arrays must be comprised of strings only"),
        ),
        (
            "FROM a\nCOPY a\n",
            pe(
                2,
                "COPY requires at least two arguments, but only one was provided. Destination could not be determined",
            ),
        ),
        (
            "FROM a\nADD\n",
            pe(
                2,
                "ADD requires at least two arguments, but only one was provided. Destination could not be determined",
            ),
        ),
        (
            "FROM a\nCOPY --foo=bar a b\n",
            pe(2, "unknown flag: --foo (did you mean from?)"),
        ),
        (
            "FROM a\nCOPY --checksum=x a b\n",
            pe(2, "unknown flag: --checksum"),
        ),
        ("FROM a\nADD --from=x a b\n", pe(2, "unknown flag: --from")),
        (
            "FROM a\nCOPY --link=maybe a b\n",
            pe(2, "expecting boolean value for flag --link, not: maybe"),
        ),
        (
            "FROM a\nCOPY --link= a b\n",
            pe(2, "missing a value on flag: --link"),
        ),
        (
            "FROM a\nCOPY --from a b\n",
            pe(2, "missing a value on flag: --from"),
        ),
        (
            "FROM a\nCOPY --from=a --from=b a b\n",
            pe(2, "duplicate flag specified: --from"),
        ),
        (
            "FROM a\nCOPY a <<EOF\nx\nEOF\n",
            pe(2, "COPY cannot accept a heredoc as a destination"),
        ),
        ("FROM a\nRUN <<EOF\necho\n", fp("unterminated heredoc")),
        (
            "FROM a\nRUN --network=foo x\n",
            pe(2, "invalid network mode \"foo\""),
        ),
        (
            "FROM a\nRUN --security=x y\n",
            pe(2, "security \"x\" is not valid"),
        ),
        (
            "FROM a\nRUN --netwrk=none x\n",
            pe(2, "unknown flag: --netwrk (did you mean network?)"),
        ),
        (
            "FROM a\nWORKDIR\n",
            pe(2, "WORKDIR requires exactly one argument"),
        ),
        (
            "FROM a\nUSER\n",
            pe(2, "USER requires exactly one argument"),
        ),
        (
            "FROM a\nMAINTAINER\n",
            pe(2, "MAINTAINER requires exactly one argument"),
        ),
        (
            "FROM a\nMAINTAINER --boo=x a\n",
            pe(2, "unknown flag: --boo"),
        ),
        (
            "FROM a\nSTOPSIGNAL\n",
            pe(2, "STOPSIGNAL requires exactly one argument"),
        ),
        (
            "FROM a\nEXPOSE\n",
            pe(2, "EXPOSE requires at least one argument"),
        ),
        (
            "FROM a\nVOLUME\n",
            pe(2, "VOLUME requires at least one argument"),
        ),
        (
            "FROM a\nVOLUME [\"\"]\n",
            pe(2, "VOLUME specified can not be an empty string"),
        ),
        (
            "FROM a\nSHELL /bin/sh -c\n",
            pe(2, "SHELL requires the arguments to be in JSON form"),
        ),
        (
            "FROM a\nSHELL []\n",
            pe(2, "SHELL requires at least one argument"),
        ),
        (
            "FROM a\nONBUILD\n",
            pe(2, "ONBUILD requires at least one argument"),
        ),
        (
            "FROM a\nONBUILD ONBUILD RUN x\n",
            pe(2, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ),
        (
            "FROM a\nONBUILD FROM x\n",
            pe(2, "FROM isn't allowed as an ONBUILD trigger"),
        ),
        (
            "FROM a\nONBUILD maintainer x\n",
            pe(2, "MAINTAINER isn't allowed as an ONBUILD trigger"),
        ),
        ("FROM a\nONBUILD ENV k\n", fp("ENV must have two arguments")),
        (
            "FROM a\nHEALTHCHECK\n",
            pe(2, "HEALTHCHECK requires at least one argument"),
        ),
        (
            "FROM a\nHEALTHCHECK NONE x\n",
            pe(2, "HEALTHCHECK NONE takes no arguments"),
        ),
        (
            "FROM a\nHEALTHCHECK CMD\n",
            pe(2, "Missing command after HEALTHCHECK CMD"),
        ),
        (
            "FROM a\nHEALTHCHECK CMD []\n",
            pe(2, "Missing command after HEALTHCHECK CMD"),
        ),
        (
            "FROM a\nHEALTHCHECK FOO x\n",
            pe(2, "Unknown type \"FOO\" in HEALTHCHECK (try CMD)"),
        ),
        (
            "FROM a\nHEALTHCHECK --foo=1 CMD x\n",
            pe(2, "unknown flag: --foo"),
        ),
        (
            "FROM a\nHEALTHCHECK --interval=1us CMD x\n",
            pe(2, "Interval \"interval\" cannot be less than 1ms"),
        ),
        (
            "FROM a\nHEALTHCHECK --timeout=-5s CMD x\n",
            pe(2, "Interval \"timeout\" cannot be less than 1ms"),
        ),
        (
            "FROM a\nHEALTHCHECK --interval=abc CMD x\n",
            pe(2, "time: invalid duration \"abc\""),
        ),
        (
            "FROM a\nHEALTHCHECK --interval=10 CMD x\n",
            pe(2, "time: missing unit in duration \"10\""),
        ),
        (
            "FROM a\nHEALTHCHECK --interval=10d CMD x\n",
            pe(2, "time: unknown unit \"d\" in duration \"10d\""),
        ),
        (
            "FROM a\nHEALTHCHECK --retries=-1 CMD x\n",
            pe(2, "--retries cannot be negative (-1)"),
        ),
        (
            "FROM a\nHEALTHCHECK --retries=x CMD x\n",
            pe(2, "strconv.ParseInt: parsing \"x\": invalid syntax"),
        ),
        (
            "FROM a\nHEALTHCHECK --retries=3000000000 CMD x\n",
            pe(
                2,
                "strconv.ParseInt: parsing \"3000000000\": value out of range",
            ),
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse_err(text), want, "{text:?}");
    }
}

#[test]
fn error_lines() {
    let e = parse("FROM a\nRUN a \\\n  b\n# c\nFOO\n").expect_err("unknown instruction");
    assert_eq!(e.line, 5);
    let e = parse("FROM a\nRUN <<EOF\nx\n").expect_err("unterminated");
    assert_eq!(e.line, 2);
    let e = parse("FROM a\n\nENV k\n").expect_err("env");
    assert_eq!(e.line, 3);
    let e = parse("ARG a\nRUN x\n").expect_err("no stage");
    assert_eq!(e.line, 2);
}

#[test]
fn long_lines() {
    let long = format!("FROM a\nRUN {}\n", "x".repeat(70_000));
    assert_eq!(
        parse_err(&long),
        "failed to parse Dockerfile: dockerfile line greater than max allowed size of 65535"
    );
    // Just below the limit is fine, and continuation lines may add up to more.
    let ok = format!("FROM a\nRUN {}\n", "x".repeat(65_535 - 4));
    assert_eq!(parse_ok(&ok).stages[0].instructions.len(), 1);
    let joined = format!(
        "FROM a\nRUN {}",
        format!("{} \\\n", "y".repeat(60_000)).repeat(4)
    );
    assert_eq!(parse_ok(&joined).stages[0].instructions.len(), 1);
}

#[test]
fn parse_named_uses_the_name() {
    assert_eq!(
        parse_named("", "sub/Dockerfile.dev").map_err(|e| e.message),
        Err("the Dockerfile (sub/Dockerfile.dev) cannot be empty".into())
    );
    assert_eq!(
        parse_named("\n", "x").map_err(|e| e.message),
        Err("failed to parse x: file with no instructions".into())
    );
}

// ---- expansion per instruction ----

#[test]
fn kind_expand() {
    let lookup = env(&[
        ("A", "a"),
        ("U", "1000"),
        ("P", "80 443/udp"),
        ("D", "/data"),
        ("S", "build"),
    ]);
    let expanded = |line: &str| -> Kind {
        one(&format!("FROM x\n{line}\n"))
            .expand('\\', &lookup)
            .unwrap_or_else(|e| panic!("{line}: {e}"))
    };
    assert_eq!(
        expanded("COPY --from=$S --chown=$U:$U --chmod=${M:-644} $A \"b\"c /dst/$A/"),
        Kind::Copy(Copy {
            from: Some("build".into()),
            chown: Some("1000:1000".into()),
            chmod: Some("644".into()),
            ..copy(&["a", "bc"], "/dst/a/")
        })
    );
    assert_eq!(
        expanded("ADD --checksum=$A $A /x"),
        Kind::Add(Copy {
            checksum: Some("a".into()),
            ..copy(&["a"], "/x")
        })
    );
    assert_eq!(
        expanded("ENV $A=\"x $A\" k=${D}/bin"),
        Kind::Env(pairs(&[("a", "x a"), ("k", "/data/bin")]))
    );
    assert_eq!(
        expanded("ENV k v $A 'q $A'"),
        Kind::Env(pairs(&[("k", "v a q $A")]))
    );
    assert_eq!(
        expanded("LABEL \"x.$A\"=\"$U\""),
        Kind::Label(pairs(&[("x.a", "1000")]))
    );
    assert_eq!(
        expanded("EXPOSE $P 8080"),
        Kind::Expose(strings(&["80", "443/udp", "8080"]))
    );
    assert_eq!(
        expanded("STOPSIGNAL SIG$A"),
        Kind::StopSignal("SIGa".into())
    );
    assert_eq!(expanded("USER $U:$U"), Kind::User("1000:1000".into()));
    assert_eq!(
        expanded("VOLUME $D /b"),
        Kind::Volume(strings(&["/data", "/b"]))
    );
    assert_eq!(
        expanded("VOLUME [\"$D\"]"),
        Kind::Volume(strings(&["/data"]))
    );
    assert_eq!(expanded("WORKDIR ${D}/w"), Kind::Workdir("/data/w".into()));
    assert_eq!(
        expanded("ARG x=$A y"),
        Kind::Arg(vec![
            ArgDecl {
                name: "x".into(),
                default: Some("a".into())
            },
            ArgDecl {
                name: "y".into(),
                default: None
            },
        ])
    );
    // Never expanded.
    for line in [
        "RUN echo $A",
        "CMD echo $A",
        "ENTRYPOINT [\"$A\"]",
        "SHELL [\"$A\"]",
        "HEALTHCHECK CMD $A",
        "ONBUILD RUN $A",
        "MAINTAINER $A",
        "RUN --mount=type=cache,target=$D x",
    ] {
        let k = one(&format!("FROM x\n{line}\n"));
        assert_eq!(k.expand('\\', &lookup), Ok(k.clone()), "{line}");
    }
    // Errors come back with Docker's text.
    assert_eq!(
        one("FROM x\nWORKDIR ${NOPE:?must be set}\n")
            .expand('\\', &lookup)
            .map_err(|e| e.message),
        Err("failed to process \"${NOPE:?must be set}\": NOPE: must be set".into())
    );
    // The Dockerfile's escape character is used.
    let d = parse_ok("# escape=`\nFROM x\nWORKDIR C:\\`$A\\$A\n");
    assert_eq!(
        d.stages[0].instructions[0].kind.expand(d.escape, &lookup),
        Ok(Kind::Workdir("C:\\$A\\a".into()))
    );
}

#[test]
fn keywords() {
    let d = parse_ok(
        "FROM a\nRUN x\nCOPY a b\nADD a b\nWORKDIR /\nENV a=b\nARG x\nLABEL a=b\nEXPOSE 1\nUSER u\nVOLUME /v\nENTRYPOINT x\nCMD x\nHEALTHCHECK NONE\nSHELL [\"sh\"]\nSTOPSIGNAL 9\nONBUILD RUN x\nMAINTAINER m\n",
    );
    let got: Vec<&str> = d.stages[0]
        .instructions
        .iter()
        .map(|i| i.kind.keyword())
        .collect();
    assert_eq!(
        got,
        [
            "RUN",
            "COPY",
            "ADD",
            "WORKDIR",
            "ENV",
            "ARG",
            "LABEL",
            "EXPOSE",
            "USER",
            "VOLUME",
            "ENTRYPOINT",
            "CMD",
            "HEALTHCHECK",
            "SHELL",
            "STOPSIGNAL",
            "ONBUILD",
            "MAINTAINER"
        ]
    );
}

// ---- robustness ----

#[test]
fn deep_and_long_inputs_are_handled() {
    // Nested substitutions deeper than any real Dockerfile: an error, not a stack overflow.
    let deep = format!("{}x{}", "${a:-".repeat(100_000), "}".repeat(100_000));
    assert!(expand_word(&deep, '\\', &|_| None).is_err());
    let ok = format!("{}x{}", "${a:-".repeat(50), "}".repeat(50));
    assert_eq!(expand_word(&ok, '\\', &|_| None).as_deref(), Ok("x"));
    // Endless ONBUILD chains over continuation lines: Docker's error, quickly.
    let chain = format!("FROM a\n{}RUN x\n", "ONBUILD \\\n".repeat(200_000));
    assert_eq!(
        parse_err(&chain),
        "dockerfile parse error on line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    );
    // A long logical line of substitutions and quotes.
    let line = format!("FROM a\nENV {}\n", "k=\"$A${B:-c}\" \\\n".repeat(100_000));
    let start = std::time::Instant::now();
    let d = parse_ok(&line);
    let kind = d.stages[0].instructions[0].kind.clone();
    kind.expand('\\', &|_| Some("v".into())).expect("expands");
    assert!(start.elapsed().as_secs() < 20, "took {:?}", start.elapsed());
}
