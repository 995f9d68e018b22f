use crate::{cli::MigrateArgs, config::Config};
pub fn run(_config: &Config, _args: &MigrateArgs) -> anyhow::Result<()> { anyhow::bail!("todo") }
