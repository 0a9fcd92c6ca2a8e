//! Variable expansion: single words and words lists as Docker's shell lexer does them, and the
//! fields of each instruction Docker expands at build time.

use super::ExpandError;
use super::ast::{ArgDecl, Copy, Kind};
use super::lex::{self, LexOptions};

/// Docker's shell-word expansion of one word: quotes removed, `$VAR`, `${VAR}`,
/// `${VAR:-d}`, `${VAR-d}`, `${VAR:+a}`, `${VAR+a}`, `${VAR:?msg}`, `${VAR?msg}`,
/// `${VAR#pat}`, `${VAR##pat}`, `${VAR%pat}`, `${VAR%%pat}`, `${VAR/pat/repl}`,
/// `${VAR//pat/repl}`, and `escape` escaping the next character (buildkit's
/// `shell.Lex.ProcessWord`). `lookup` gives a variable's value, `None` when unset.
///
/// Errors read as Docker's: `failed to process "${A:?}": A: is not allowed to be unset`.
pub fn expand_word(
    word: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    lex::process(LexOptions::new(escape), word, lookup)
        .map(|(w, _)| w)
        .map_err(|message| ExpandError { message })
}

/// Like [`expand_word`], then split into words on unquoted whitespace, whitespace coming
/// from variable values included (buildkit's `shell.Lex.ProcessWords`, which `EXPOSE` uses).
pub fn expand_words(
    word: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, ExpandError> {
    lex::process(LexOptions::new(escape), word, lookup)
        .map(|(_, w)| w)
        .map_err(|message| ExpandError { message })
}

/// The expansion of a heredoc body: variables only, quotes and escapes left alone, with `\`
/// as the escape character whatever the Dockerfile's (as buildkit expands COPY heredocs).
fn expand_heredoc(
    body: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    let mut opts = LexOptions::new('\\');
    opts.skip_process_quotes = true;
    lex::process(opts, body, lookup)
        .map(|(w, _)| w)
        .map_err(|message| ExpandError { message })
}

impl Kind {
    /// The instruction with Docker's build-time expansion applied to exactly the fields Docker
    /// expands for it: ADD and COPY sources, destination, `--from`, `--chown`, `--chmod`,
    /// `--checksum` and the bodies of heredocs whose delimiter was not quoted; ENV and LABEL
    /// keys and values; EXPOSE (each word may become several); STOPSIGNAL; USER; VOLUME;
    /// WORKDIR; ARG names and defaults. RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD and
    /// MAINTAINER come back unchanged.
    pub fn expand(
        &self,
        escape: char,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Kind, ExpandError> {
        let word = |w: &str| expand_word(w, escape, lookup);
        let opt = |w: &Option<String>| w.as_deref().map(word).transpose();
        let list = |ws: &[String]| ws.iter().map(|w| word(w)).collect::<Result<Vec<_>, _>>();
        let pairs = |kv: &[(String, String)]| {
            kv.iter()
                .map(|(k, v)| Ok((word(k)?, word(v)?)))
                .collect::<Result<Vec<_>, ExpandError>>()
        };
        let copy = |c: &Copy| -> Result<Copy, ExpandError> {
            let from = opt(&c.from)?;
            let chown = opt(&c.chown)?;
            let chmod = opt(&c.chmod)?;
            let checksum = opt(&c.checksum)?;
            let sources = list(&c.sources)?;
            let dest = word(&c.dest)?;
            let mut heredocs = c.heredocs.clone();
            for h in &mut heredocs {
                if h.expand {
                    h.content = expand_heredoc(&h.content, lookup)?;
                }
            }
            Ok(Copy {
                sources,
                heredocs,
                dest,
                from,
                chown,
                chmod,
                checksum,
                ..c.clone()
            })
        };
        Ok(match self {
            Kind::Copy(c) => Kind::Copy(copy(c)?),
            Kind::Add(c) => Kind::Add(copy(c)?),
            Kind::Env(kv) => Kind::Env(pairs(kv)?),
            Kind::Label(kv) => Kind::Label(pairs(kv)?),
            Kind::Expose(ports) => {
                let mut out = Vec::new();
                for p in ports {
                    out.extend(expand_words(p, escape, lookup)?);
                }
                Kind::Expose(out)
            }
            Kind::StopSignal(s) => Kind::StopSignal(word(s)?),
            Kind::User(u) => Kind::User(word(u)?),
            Kind::Volume(v) => Kind::Volume(list(v)?),
            Kind::Workdir(w) => Kind::Workdir(word(w)?),
            Kind::Arg(decls) => Kind::Arg(
                decls
                    .iter()
                    .map(|d| {
                        Ok(ArgDecl {
                            name: word(&d.name)?,
                            default: opt(&d.default)?,
                        })
                    })
                    .collect::<Result<Vec<_>, ExpandError>>()?,
            ),
            Kind::Run(_)
            | Kind::Cmd(_)
            | Kind::Entrypoint(_)
            | Kind::Shell(_)
            | Kind::Healthcheck(_)
            | Kind::OnBuild(..)
            | Kind::Maintainer(_) => self.clone(),
        })
    }

    /// The keyword in upper case (`RUN`, `COPY`, …).
    pub fn keyword(&self) -> &'static str {
        match self {
            Kind::Run(_) => "RUN",
            Kind::Copy(_) => "COPY",
            Kind::Add(_) => "ADD",
            Kind::Workdir(_) => "WORKDIR",
            Kind::Env(_) => "ENV",
            Kind::Arg(_) => "ARG",
            Kind::Label(_) => "LABEL",
            Kind::Expose(_) => "EXPOSE",
            Kind::User(_) => "USER",
            Kind::Volume(_) => "VOLUME",
            Kind::Entrypoint(_) => "ENTRYPOINT",
            Kind::Cmd(_) => "CMD",
            Kind::Healthcheck(_) => "HEALTHCHECK",
            Kind::Shell(_) => "SHELL",
            Kind::StopSignal(_) => "STOPSIGNAL",
            Kind::OnBuild(..) => "ONBUILD",
            Kind::Maintainer(_) => "MAINTAINER",
        }
    }
}
