use crate::{cli::ProcessArgs, config::Config, shutdown::Stop};
pub fn run(_config: &Config, _args: &ProcessArgs, _stop: &Stop) -> anyhow::Result<()> { anyhow::bail!("todo") }
