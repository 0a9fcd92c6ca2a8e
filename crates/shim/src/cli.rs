//! `wharf shim`: the command line of the supervisor process.

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn main(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("the shim is not built yet")
}
