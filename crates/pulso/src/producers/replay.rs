//! `pulso replay FILE`: sends recorded clickstream (REES46 CSV or OTTO JSONL) to Kafka, keyed by
//! session id, with the same delivery guarantees as `pulso generate`.
//!
//! Rows are read and sent one at a time, so files of any size replay in constant memory. A
//! row that cannot be mapped stops the replay with an error naming the file, line and problem.

mod otto;
mod rees46;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use pulso_core::EventType;
use serde_json::{Map, Value};
use uuid::Uuid;

use self::otto::OttoReader;
use self::rees46::Rees46Reader;
use crate::config::{duration_ms, Config};
use crate::kafka;
use crate::producers::sender::Sender;
use crate::producers::wire::{Timestamp, UserId, WireEvent};
use crate::shutdown::Stop;

/// Namespace of the UUID v5 event ids of replayed rows. Changing it changes every replayed
/// event id, so a file replayed before and after the change would count twice.
const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f0c_5a8e_2d41_4b7f_9a3e_51c2_d8e7_0b94);
const MINUTE_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// From the extension (.csv, .jsonl, .ndjson, .json) or else the first line.
    Auto,
    /// REES46 e-commerce CSV.
    Rees46,
    /// OTTO sessions JSONL.
    Otto,
}

/// The replay speed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// As fast as the broker accepts.
    Max,
    /// This many times real time.
    Factor(f64),
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Recorded clickstream: a REES46 CSV or an OTTO JSONL file.
    pub file: PathBuf,
    /// Input format.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
    /// `max` sends as fast as possible; a number N sends at N times real time, waiting for the
    /// event-time gaps divided by N.
    #[arg(long, default_value = "max", value_parser = parse_speed)]
    pub speed: Speed,
    /// Shift every timestamp by a whole number of minutes (and windows) so that the first event
    /// lands in the current minute. Events that end up more than validation.max_future ahead of
    /// the processor's clock are rejected, so combine with `--speed 1` for long files.
    #[arg(long)]
    pub shift_to_now: bool,
    /// Send at most this many events.
    #[arg(long)]
    pub limit: Option<u64>,
    /// Do not send the end-of-input marker to every partition after the last event.
    #[arg(long)]
    pub no_end_marker: bool,
}

/// One recorded event, mapped to the event format.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayEvent {
    pub event_id: Uuid,
    pub event_type: EventType,
    pub page: String,
    pub user_id: UserId,
    pub session_id: String,
    pub timestamp_ms: i64,
    pub properties: Map<String, Value>,
}

impl ReplayEvent {
    pub fn to_json(&self) -> Vec<u8> {
        WireEvent {
            event_id: self.event_id,
            event_type: self.event_type.as_str(),
            page: &self.page,
            user_id: &self.user_id,
            session_id: &self.session_id,
            timestamp: Timestamp::Millis(self.timestamp_ms),
            referrer: None,
            user_agent: None,
            properties: &self.properties,
        }
        .to_json()
    }
}

/// Derives the event id of a replayed row: the UUID v5 of `name` in the Pulso namespace.
pub fn event_id(name: &str) -> Uuid {
    Uuid::new_v5(&EVENT_ID_NAMESPACE, name.as_bytes())
}

/// An open input file of either format.
pub enum Source {
    Rees46(Rees46Reader<BufReader<File>>),
    Otto(OttoReader<BufReader<File>>),
}

impl Source {
    pub fn open(path: &Path, format: Format) -> anyhow::Result<Source> {
        let name = path.display().to_string();
        let file = File::open(path).with_context(|| format!("failed to open {name}; check the path"))?;
        let input = BufReader::new(file);
        match format {
            Format::Rees46 => Ok(Source::Rees46(Rees46Reader::new(input, &name)?)),
            Format::Otto => Ok(Source::Otto(OttoReader::new(input, &name))),
            Format::Auto => unreachable!("the format is resolved before opening"),
        }
    }

    pub fn next_event(&mut self) -> anyhow::Result<Option<ReplayEvent>> {
        match self {
            Source::Rees46(reader) => reader.next_event(),
            Source::Otto(reader) => reader.next_event(),
        }
    }

    fn rows_read(&self) -> u64 {
        match self {
            Source::Rees46(reader) => reader.rows_read(),
            Source::Otto(reader) => reader.rows_read(),
        }
    }
}

/// Picks the format from the extension, or else from the first line of the file.
pub fn resolve_format(path: &Path, format: Format) -> anyhow::Result<Format> {
    if format != Format::Auto {
        return Ok(format);
    }
    let extension = path.extension().and_then(|extension| extension.to_str()).unwrap_or("");
    match extension.to_ascii_lowercase().as_str() {
        "csv" => return Ok(Format::Rees46),
        "jsonl" | "ndjson" | "json" => return Ok(Format::Otto),
        _ => {}
    }
    let file = File::open(path).with_context(|| format!("failed to open {}; check the path", path.display()))?;
    let mut first_line = String::new();
    BufReader::new(file.take(64 * 1024))
        .read_line(&mut first_line)
        .with_context(|| format!("failed to read {}", path.display()))?;
    sniff_format(&first_line)
        .with_context(|| format!("cannot tell the format of {}; pass --format rees46 or --format otto", path.display()))
}

fn sniff_format(first_line: &str) -> anyhow::Result<Format> {
    if first_line.trim_start().starts_with('{') {
        Ok(Format::Otto)
    } else if first_line.starts_with("event_time,") {
        Ok(Format::Rees46)
    } else {
        bail!("the first line is neither a REES46 header nor a JSON object")
    }
}

fn parse_speed(text: &str) -> Result<Speed, String> {
    if text == "max" {
        return Ok(Speed::Max);
    }
    match text.parse::<f64>() {
        Ok(factor) if factor > 0.0 && factor.is_finite() => Ok(Speed::Factor(factor)),
        _ => Err(format!("{text:?} is not a speed; use `max` or a positive factor such as 1 or 10")),
    }
}

/// Computes the shift, a multiple of `step_ms`, that moves `first_ms` into the step that
/// contains `now_ms`.
fn shift_to_now_ms(first_ms: i64, now_ms: i64, step_ms: i64) -> i64 {
    let floor = |time_ms: i64| time_ms - time_ms.rem_euclid(step_ms);
    floor(now_ms) - floor(first_ms)
}

/// Computes the unit of `--shift-to-now`: whole minutes that are also whole windows, so every
/// event keeps its position within its minute and its window.
fn shift_step_ms(window_ms: i64) -> i64 {
    let (mut a, mut b) = (MINUTE_MS, window_ms.max(1));
    while b != 0 {
        (a, b) = (b, a % b);
    }
    MINUTE_MS / a * window_ms.max(1)
}

/// Waits so that event time advances `factor` times faster than the wall clock. The deadline
/// follows the largest event time so far, so a jump back in time sends at once instead of
/// waiting again for time already waited.
struct Pacer {
    factor: Option<f64>,
    anchor: Option<(Instant, i64)>,
    max_event_ms: i64,
}

impl Pacer {
    fn new(speed: Speed) -> Pacer {
        let factor = match speed {
            Speed::Max => None,
            Speed::Factor(factor) => Some(factor),
        };
        Pacer { factor, anchor: None, max_event_ms: i64::MIN }
    }

    /// When the event at `timestamp_ms` is due, or `None` to send at once.
    fn deadline(&mut self, timestamp_ms: i64, now: Instant) -> Option<Instant> {
        let factor = self.factor?;
        let (started, first_ms) = *self.anchor.get_or_insert((now, timestamp_ms));
        self.max_event_ms = self.max_event_ms.max(timestamp_ms);
        let event_elapsed_ms = (self.max_event_ms - first_ms) as f64;
        Some(started + Duration::from_secs_f64(event_elapsed_ms / factor / 1000.0))
    }
}

/// Totals of a replay, for the summary.
#[derive(Debug)]
struct ReplayStats {
    sent: u64,
    time_range: Option<(i64, i64)>,
    allowed_lateness_ms: i64,
    partition_max_ms: Vec<i64>,
    behind_partition_max: u64,
}

impl ReplayStats {
    fn new(partitions: i32, allowed_lateness_ms: i64) -> ReplayStats {
        ReplayStats {
            sent: 0,
            time_range: None,
            allowed_lateness_ms,
            partition_max_ms: vec![i64::MIN; partitions as usize],
            behind_partition_max: 0,
        }
    }

    fn record(&mut self, partition: i32, timestamp_ms: i64) {
        self.sent += 1;
        let (first, last) = self.time_range.unwrap_or((timestamp_ms, timestamp_ms));
        self.time_range = Some((first.min(timestamp_ms), last.max(timestamp_ms)));
        let max = &mut self.partition_max_ms[partition as usize];
        if timestamp_ms < max.saturating_sub(self.allowed_lateness_ms) {
            self.behind_partition_max += 1;
        }
        *max = (*max).max(timestamp_ms);
    }
}

pub fn run(config: &Config, args: &ReplayArgs, stop: &Stop) -> anyhow::Result<()> {
    let format = resolve_format(&args.file, args.format)?;
    let mut source = Source::open(&args.file, format)?;
    crate::producers::serve_telemetry(config)?;
    let mut sender = Sender::connect(&config.kafka, "replay")?;
    let allowed_lateness_ms = duration_ms(config.processor.allowed_lateness);
    let mut stats = ReplayStats::new(sender.partitions(), allowed_lateness_ms);
    tracing::info!(file = %args.file.display(), ?format, topic = sender.topic(), partitions = sender.partitions(), "replay started");
    let step_ms = args.shift_to_now.then(|| shift_step_ms(duration_ms(config.processor.window)));
    if let Err(error) = send_all(&mut source, &mut sender, &mut stats, args, step_ms, stop) {
        // Deliver what was queued, so the topic contains exactly the events before the failure.
        if let Err(delivery_error) = sender.finish() {
            tracing::error!(
                error = format!("{delivery_error:#}"),
                "failed to deliver the events sent before the replay failed"
            );
        }
        return Err(
            error.context(format!("replay stopped after sending {} events without end-of-input markers", stats.sent))
        );
    }
    if !args.no_end_marker {
        sender.send_end_markers()?;
    }
    sender.finish()?;
    log_summary(&source, &stats);
    Ok(())
}

fn send_all(
    source: &mut Source,
    sender: &mut Sender,
    stats: &mut ReplayStats,
    args: &ReplayArgs,
    step_ms: Option<i64>,
    stop: &Stop,
) -> anyhow::Result<()> {
    let mut pacer = Pacer::new(args.speed);
    let mut shift_ms: Option<i64> = None;
    while !stop.requested() && args.limit.map_or(true, |limit| stats.sent < limit) {
        let Some(mut event) = source.next_event()? else { break };
        let shift = *shift_ms
            .get_or_insert_with(|| step_ms.map_or(0, |step| shift_to_now_ms(event.timestamp_ms, now_ms(), step)));
        event.timestamp_ms += shift;
        if let Some(deadline) = pacer.deadline(event.timestamp_ms, Instant::now()) {
            sender.wait_until(deadline, stop);
            if stop.requested() {
                break;
            }
        }
        let partition = kafka::partition_for_key(event.session_id.as_bytes(), sender.partitions());
        sender.send(partition, event.session_id.as_bytes(), Some(&event.to_json()), None)?;
        stats.record(partition, event.timestamp_ms);
        if let Some(progress) = sender.progress_due() {
            tracing::info!(
                rows_read = source.rows_read(),
                sent = progress.sent,
                events_per_second = progress.per_second.round(),
                queue_depth = progress.queue_depth,
                "replay progress"
            );
        }
    }
    if stop.requested() {
        tracing::info!(sent = stats.sent, "stop requested; finishing with what was sent");
    }
    Ok(())
}

fn log_summary(source: &Source, stats: &ReplayStats) {
    let (first, last) =
        stats.time_range.map_or((String::new(), String::new()), |(first, last)| (format_ms(first), format_ms(last)));
    tracing::info!(
        rows_read = source.rows_read(),
        sent = stats.sent,
        first_event_time = first,
        last_event_time = last,
        "replay finished"
    );
    if stats.behind_partition_max > 0 {
        tracing::info!(
            events = stats.behind_partition_max,
            "events were more than the allowed lateness older than an earlier event of their partition; \
             expect the processor to reject many of them as late (OTTO sessions jump back in time by design)"
        );
    }
}

fn format_ms(timestamp_ms: i64) -> String {
    match Timestamp::rfc3339_at_offset(timestamp_ms, 0) {
        Timestamp::Text(text) => text,
        Timestamp::Millis(ms) => ms.to_string(),
    }
}

fn now_ms() -> i64 {
    duration_ms(SystemTime::now().duration_since(UNIX_EPOCH).expect("system clock after 1970"))
}

#[cfg(test)]
mod tests;
