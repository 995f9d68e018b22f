//! `pulso generate`. TODO: being written.
use clap::Args;
use crate::{config::Config, shutdown::Stop};

#[derive(Debug, Args)]
pub struct GenerateArgs {}

pub fn run(_config: &Config, _args: &GenerateArgs, _stop: &Stop) -> anyhow::Result<()> {
    anyhow::bail!("not yet implemented")
}
