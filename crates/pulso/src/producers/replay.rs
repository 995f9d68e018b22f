//! `pulso replay`. TODO: being written.
use clap::Args;
use crate::{config::Config, shutdown::Stop};

#[derive(Debug, Args)]
pub struct ReplayArgs {}

pub fn run(_config: &Config, _args: &ReplayArgs, _stop: &Stop) -> anyhow::Result<()> {
    anyhow::bail!("not yet implemented")
}
