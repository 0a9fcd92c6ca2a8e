//! Dockerfile syntax: the parser, the typed instructions and variable expansion.
//!
//! [`parse`] turns a Dockerfile into [`Dockerfile`] (stages of [`Instruction`]s, words kept as
//! written); [`Kind::expand`] applies Docker's variable expansion to the fields Docker expands
//! once the build knows the values; [`expand_word`] and [`expand_words`] are the shell-word
//! rules themselves (for `FROM` bases, `--platform`, …). Errors carry Docker 28's texts.

mod ast;
mod expand;
mod lex;
mod parser;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;

pub use ast::*;
pub use expand::{expand_word, expand_words};
pub use parser::{parse, parse_go_duration, parse_named, parse_trigger};

/// A Dockerfile that Docker would refuse; the text is Docker's (for example
/// `dockerfile parse error on line 3: unknown instruction: FOO`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// The 1-based line the error is about (0 when it concerns the whole file).
    pub line: usize,
    /// Docker's message, complete.
    pub message: String,
}

/// A word whose variable expansion fails, with Docker's text (for example
/// `failed to process "${A:?}": A: is not allowed to be unset`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExpandError {
    /// Docker's message, complete.
    pub message: String,
}
