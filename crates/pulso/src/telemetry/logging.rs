//! Logging setup. Per-event detail is only logged at trace; lifecycle at info; recovered
//! failures at warn; data loss or operator action at error.

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

pub fn init_logging(format: LogFormat, filter: Option<&str>) {
    let filter = EnvFilter::try_new(filter.unwrap_or("info,rdkafka=warn,librdkafka=warn")).unwrap_or_else(|error| {
        eprintln!("warning: invalid log filter ({error}); using \"info\"");
        EnvFilter::new("info")
    });
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
