//! The `wharf` client commands (`run`, `ps`, `images`, …): docker's verbs and flags, spoken to
//! `wharf daemon` (or any Docker Engine API) through the Engine API.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the daemon's version
    Version,
}

pub fn main(_hosts: Vec<String>, _command: Command) -> anyhow::Result<i32> {
    anyhow::bail!("client commands are not built yet")
}
