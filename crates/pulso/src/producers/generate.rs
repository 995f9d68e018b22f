//! `pulso generate`: realistic Brazilian e-commerce clickstream sent to Kafka, with an oracle of
//! the exact counts and dead letters the processor must produce for it.
//!
//! Sessions walk a shopping funnel over a Zipf-popular catalogue (see `session` and `catalog`).
//! On request the generator mixes in malformed messages, late events, duplicates and pages
//! spelled in non-canonical ways, tags every message with its expected outcome, and writes the
//! oracle from those tags (see `oracle`).
//!
//! NOTE: the oracle assumes that the processor reads this run's messages with fresh partition
//! state (or after older events only), and that it never stalls one partition for its idle
//! timeout while others advance, which would close windows early.

mod catalog;
pub mod generator;
pub mod malformed;
mod oracle;
mod page;
mod session;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::bail;
use clap::Args;

use self::generator::{Fractions, Generator, Settings};
use self::malformed::Limits;
use self::oracle::{Oracle, RunInfo};
use crate::config::{duration_ms, Config};
use crate::producers::sender::Sender;
use crate::shutdown::Stop;

/// Highest accepted `--rate`, in messages per second.
const MAX_RATE: f64 = 10_000_000.0;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Messages per second. Sending is paced on the wall clock (unless --max-speed), and the
    /// simulated clock that dates the events advances 1/rate seconds per message.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Number of messages to send, counting malformed, late and duplicate ones but not the
    /// end-of-input markers [default: until SIGINT or SIGTERM].
    #[arg(long, conflicts_with = "duration")]
    pub count: Option<u64>,
    /// Simulated time to cover, such as `5m`: sends duration x rate messages.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Send as fast as possible. The simulated clock then starts at the current time minus the
    /// simulated span, so that no event is in the future; needs --count or --duration.
    #[arg(long)]
    pub max_speed: bool,
    /// Seed of the random generator. The same seed and --start give byte-identical messages
    /// [default: derived from the current time and logged].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Start of the simulated clock, RFC 3339 such as `2024-05-01T12:00:00-03:00`
    /// [default: now, or now minus the simulated span with --max-speed].
    #[arg(long, value_parser = parse_start)]
    pub start: Option<i64>,
    /// Fraction of messages that are malformed, from 0 to 1. They rotate through every kind of
    /// invalid message, each with its expected rejection reason.
    #[arg(long, default_value_t = 0.0)]
    pub malformed: f64,
    /// Fraction of messages that are late events, from 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    pub late: f64,
    /// Fraction of messages that repeat a recent event byte for byte, from 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    pub duplicates: f64,
    /// Fraction of valid events whose page is written in a non-canonical but equivalent way
    /// (trailing slash, upper-case host, UTM query, fragment, escapes, dot segments), from 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    pub variants: f64,
    /// Fraction of valid events dated up to 2 s (and under half the allowed lateness) before
    /// the simulated clock, as clocks and network delays do, from 0 to 1.
    #[arg(long, default_value_t = 0.05)]
    pub jitter: f64,
    /// Oracle CSV of the expected counts to write. PATH.rejections.csv and PATH.summary.json
    /// are written next to it.
    #[arg(long)]
    pub oracle: Option<PathBuf>,
    /// Do not send the end-of-input marker to every partition after the last event.
    #[arg(long)]
    pub no_end_marker: bool,
}

/// When and how fast the simulated clock runs, and how many messages to send.
#[derive(Debug, Clone, PartialEq)]
struct Plan {
    seed: u64,
    start_ms: i64,
    rate: f64,
    message_count: Option<u64>,
    paced: bool,
}

impl Plan {
    fn new(args: &GenerateArgs, now_ms: i64) -> anyhow::Result<Plan> {
        let rate = args.rate;
        if !(rate > 0.0 && rate <= MAX_RATE) {
            bail!("--rate {rate} is invalid; use a number of events per second above 0 and at most {MAX_RATE}");
        }
        let message_count = match (args.count, args.duration) {
            (Some(count), _) => Some(count),
            (None, Some(duration)) => Some((duration.as_secs_f64() * rate).ceil() as u64),
            (None, None) => None,
        };
        if args.max_speed && message_count.is_none() {
            bail!("--max-speed needs --count or --duration, because the simulated clock must end at the current time");
        }
        let span_ms = message_count.map_or(0, |count| (count as f64 * 1000.0 / rate) as i64);
        let start_ms = match args.start {
            Some(start_ms) => start_ms,
            None if args.max_speed => now_ms - span_ms,
            None => now_ms,
        };
        let last_event_ms = if args.max_speed { start_ms + span_ms } else { start_ms };
        if last_event_ms > now_ms {
            bail!(
                "--start puts events up to {} ms after the current time, so the processor would \
                 reject them as future_timestamp; use an earlier --start or leave it out",
                last_event_ms - now_ms
            );
        }
        let seed = args.seed.unwrap_or_else(seed_from_clock);
        Ok(Plan { seed, start_ms, rate, message_count, paced: !args.max_speed })
    }
}

impl GenerateArgs {
    fn fractions(&self) -> anyhow::Result<Fractions> {
        let named = [
            ("--malformed", self.malformed),
            ("--late", self.late),
            ("--duplicates", self.duplicates),
            ("--variants", self.variants),
            ("--jitter", self.jitter),
        ];
        for (flag, value) in named {
            if !(0.0..=1.0).contains(&value) {
                bail!("{flag} {value} is invalid; use a fraction from 0 to 1");
            }
        }
        let special = self.malformed + self.late + self.duplicates;
        if special > 1.0 {
            bail!("--malformed, --late and --duplicates add up to {special}; their sum must be at most 1");
        }
        Ok(Fractions {
            malformed: self.malformed,
            late: self.late,
            duplicates: self.duplicates,
            variants: self.variants,
            jitter: self.jitter,
        })
    }
}

pub fn run(config: &Config, args: &GenerateArgs, stop: &Stop) -> anyhow::Result<()> {
    let fractions = args.fractions()?;
    let plan = Plan::new(args, now_ms())?;
    crate::producers::serve_telemetry(config)?;
    let mut sender = Sender::connect(&config.kafka, "generate")?;
    let settings = settings(config, &plan, fractions, sender.partitions());
    tracing::info!(
        topic = sender.topic(),
        partitions = sender.partitions(),
        seed = plan.seed,
        start_ms = plan.start_ms,
        rate = plan.rate,
        count = plan.message_count,
        paced = plan.paced,
        "generate started; pass the same --seed and --start to repeat this run"
    );
    let started = Instant::now();
    let mut generator = Generator::new(settings);
    let mut oracle = Oracle::new(duration_ms(config.processor.window));
    let stopped_early = send_all(&mut sender, &mut generator, &mut oracle, &plan, stop)?;
    finish(config, args, &plan, sender, &oracle, stopped_early)?;
    tracing::info!(
        produced = oracle.produced(),
        counted = oracle.counted(),
        rejected_by_design = oracle.rejected(),
        elapsed_s = started.elapsed().as_secs_f64(),
        stopped_early,
        "generate finished"
    );
    Ok(())
}

fn settings(config: &Config, plan: &Plan, fractions: Fractions, partitions: i32) -> Settings {
    Settings {
        seed: plan.seed,
        start_ms: plan.start_ms,
        rate: plan.rate,
        partitions,
        window_ms: duration_ms(config.processor.window),
        allowed_lateness_ms: duration_ms(config.processor.allowed_lateness),
        watermark_confirm_events: config.processor.watermark_confirm_events,
        dedup_horizon_ms: duration_ms(config.processor.dedup_horizon),
        limits: Limits {
            max_message_bytes: config.validation.max_message_bytes,
            page_max_length: config.validation.page_max_length,
        },
        query_allowlist: config.validation.query_allowlist.clone(),
        fractions,
    }
}

/// Sends messages until the plan's count or a stop request. Returns whether it stopped early.
fn send_all(
    sender: &mut Sender,
    generator: &mut Generator,
    oracle: &mut Oracle,
    plan: &Plan,
    stop: &Stop,
) -> anyhow::Result<bool> {
    let started = Instant::now();
    let mut index: u64 = 0;
    loop {
        if plan.message_count.is_some_and(|count| index >= count) {
            return Ok(false);
        }
        if plan.paced {
            sender.wait_until(started + Duration::from_secs_f64(index as f64 / plan.rate), stop);
        }
        if stop.requested() {
            tracing::info!(sent = index, "stop requested; finishing with what was sent");
            return Ok(true);
        }
        let message = generator.next_message();
        let tracking = oracle.record(&message);
        sender.send(message.partition, message.key.as_bytes(), message.value.as_deref(), tracking)?;
        index += 1;
        if let Some(progress) = sender.progress_due() {
            tracing::info!(
                sent = progress.sent,
                events_per_second = progress.per_second.round(),
                rejected_by_design = oracle.rejected(),
                queue_depth = progress.queue_depth,
                "generate progress"
            );
        }
    }
}

/// Sends the end markers, waits for every delivery report and writes the oracle.
fn finish(
    config: &Config,
    args: &GenerateArgs,
    plan: &Plan,
    mut sender: Sender,
    oracle: &Oracle,
    stopped_early: bool,
) -> anyhow::Result<()> {
    if !args.no_end_marker {
        sender.send_end_markers()?;
    }
    let topic = sender.topic().to_string();
    let deliveries = sender.finish()?;
    let Some(path) = &args.oracle else {
        return Ok(());
    };
    let run = RunInfo {
        topic,
        seed: plan.seed,
        start_ms: plan.start_ms,
        rate: plan.rate,
        allowed_lateness_ms: duration_ms(config.processor.allowed_lateness),
        end_markers: !args.no_end_marker,
        stopped_early,
    };
    oracle.write_files(path, &run, &deliveries)?;
    tracing::info!(oracle = %path.display(), "wrote oracle");
    Ok(())
}

fn parse_start(text: &str) -> Result<i64, String> {
    let start = chrono::DateTime::parse_from_rfc3339(text)
        .map_err(|error| format!("{text:?} is not RFC 3339 ({error}); use for example 2024-05-01T12:00:00-03:00"))?;
    let start_ms = start.timestamp_millis();
    if start_ms < pulso_core::timestamp::MIN_EPOCH_MS {
        return Err(format!("{text:?} is before 1973-03-03, where epoch milliseconds look like seconds and are rejected; use a later time"));
    }
    Ok(start_ms)
}

fn now_ms() -> i64 {
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).expect("system clock after 1970");
    duration_ms(elapsed)
}

fn seed_from_clock() -> u64 {
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).expect("system clock after 1970");
    elapsed.as_nanos() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Command {
        #[command(flatten)]
        args: GenerateArgs,
    }

    const NOW: i64 = 1_714_575_600_000;

    fn args(flags: &[&str]) -> GenerateArgs {
        let mut argv = vec!["generate"];
        argv.extend_from_slice(flags);
        Command::try_parse_from(argv).unwrap().args
    }

    #[test]
    fn max_speed_ends_at_now() {
        let plan = Plan::new(&args(&["--max-speed", "--count", "6000", "--rate", "100", "--seed", "1"]), NOW).unwrap();
        assert_eq!(plan.start_ms, NOW - 60_000);
        assert!(!plan.paced);
    }

    #[test]
    fn duration_sets_count() {
        let plan = Plan::new(&args(&["--duration", "5m", "--rate", "10"]), NOW).unwrap();
        assert_eq!(plan.message_count, Some(3000));
        assert_eq!(plan.start_ms, NOW);
    }

    #[test]
    fn max_speed_needs_bound() {
        let error = Plan::new(&args(&["--max-speed"]), NOW).unwrap_err().to_string();
        assert!(error.contains("--count or --duration"), "{error}");
    }

    #[test]
    fn future_start_rejected() {
        let error = Plan::new(&args(&["--start", "2030-01-01T00:00:00Z"]), NOW).unwrap_err().to_string();
        assert!(error.contains("future_timestamp"), "{error}");
    }

    #[test]
    fn explicit_start_parsed_with_offset() {
        let plan = Plan::new(&args(&["--start", "2024-05-01T09:00:00-03:00", "--count", "1"]), NOW).unwrap();
        assert_eq!(plan.start_ms, NOW - 3 * 3600 * 1000);
    }

    #[test]
    fn start_before_1973_rejected() {
        let error = Command::try_parse_from(["generate", "--start", "1970-01-02T00:00:00Z"]).unwrap_err().to_string();
        assert!(error.contains("1973"), "{error}");
    }

    #[test]
    fn invalid_rate_rejected() {
        for rate in ["--rate=0", "--rate=-5", "--rate=NaN"] {
            let error = Plan::new(&args(&[rate]), NOW).unwrap_err().to_string();
            assert!(error.contains("--rate"), "{error}");
        }
    }

    #[test]
    fn fractions_validated() {
        assert!(args(&["--late", "1.5"]).fractions().unwrap_err().to_string().contains("--late 1.5"));
        let error = args(&["--malformed", "0.5", "--late", "0.4", "--duplicates", "0.2"]).fractions().unwrap_err();
        assert!(error.to_string().contains("at most 1"), "{error}");
        assert!(args(&["--variants", "1"]).fractions().is_ok());
    }
}
