//! `wharf daemon`: dockerd's flags, the engine behind the Engine API.

#[derive(Debug, clap::Args)]
pub struct DaemonArgs {}

pub fn main(_hosts: Vec<String>, _args: DaemonArgs) -> anyhow::Result<i32> {
    anyhow::bail!("the daemon is not built yet")
}
