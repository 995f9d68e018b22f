//! The `pulso` binary: parses the command line, loads configuration and runs one command.

use std::process::ExitCode;

use clap::Parser;

use pulso::cli::{Cli, Command, LogFormat};
use pulso::{config::Config, embedded, process, producers, serve, shutdown, sinks, telemetry, topics};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log_format = cli.global.log_format;
    telemetry::init_logging(log_format, cli.global.log_level.as_deref());
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One report: a log line for log collectors, a plain line for people at a terminal.
            match log_format {
                LogFormat::Json => tracing::error!(error = format!("{error:#}"), "command failed"),
                LogFormat::Text => eprintln!("error: {error:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.global.config.as_deref())?;
    cli.global.apply(&mut config);
    config.validate()?;
    let stop = shutdown::install()?;
    match cli.command.unwrap_or_else(|| Command::Run(embedded::run::RunArgs::default())) {
        Command::Run(args) => embedded::run::run(&config, &args, &stop),
        Command::Migrate(args) => sinks::clickhouse::migrate::run(&config, &args),
        Command::Topics(args) => topics::run(&config, &args),
        Command::Process(args) => process::run(&config, &args, &stop),
        Command::Generate(args) => producers::generate::run(&config, &args, &stop),
        Command::Replay(args) => producers::replay::run(&config, &args, &stop),
        Command::Serve(args) => serve::run(&config, &args, &stop),
    }
}
