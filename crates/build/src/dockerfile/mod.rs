//! Dockerfile syntax: the parser, the typed instructions and variable expansion.

mod ast;

pub use ast::*;
