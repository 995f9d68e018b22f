//! The deterministic core of `pulso generate`: turns a seed and settings into a sequence of
//! messages, each tagged with what the processor must do with it.
//!
//! The tags follow from how the messages are built, never from running the processor's code:
//! - a valid event's time is the simulated clock, at most `allowed_lateness / 2` earlier, and
//!   the clock never goes back, so the event's window is still open when it arrives;
//! - a late event is dated before the minimum of the partition's last ten observed event times
//!   minus the allowed lateness and one window, so its window closed before it arrives;
//! - a duplicate repeats the bytes of a recent counted event of its partition, well inside the
//!   de-duplication horizon;
//! - a malformed message breaks one rule of the event format (see [`super::malformed`]).

use std::collections::VecDeque;

use pulso_core::{EventType, Reason};
use rand::seq::IteratorRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::catalog::Catalog;
use super::malformed::{self, Limits, MalformedKind};
use super::page::Spelling;
use super::session::{popular_product_view, Session, Step};
use crate::kafka;
use crate::producers::wire::{Timestamp, UserId, WireEvent};

/// Products in the simulated catalogue.
const PRODUCT_COUNT: usize = 2000;
/// Simulated seconds between two events of one session, on average. Sets how many sessions
/// are open at once: rate times this.
const THINK_TIME_SECONDS: f64 = 10.0;
const MAX_OPEN_SESSIONS: usize = 20_000;
/// Event times a partition must have before a late event is injected into it. The late event
/// is older than all of them, so it is late for any `watermark_confirm_events` up to this.
const LATE_BASIS_EVENTS: usize = 10;
/// Counted events kept as candidates to duplicate.
const DUPLICATE_CANDIDATES: usize = 64;
const MAX_JITTER_MS: i64 = 2000;
/// Share of valid events whose timestamp is RFC 3339 text instead of epoch milliseconds.
const TEXT_TIMESTAMP_SHARE: f64 = 0.2;
/// Brasília time, UTC-3, for RFC 3339 timestamps.
const BRASILIA_OFFSET_SECONDS: i32 = -3 * 3600;
const LOGGED_IN_SHARE: f64 = 0.35;
const RETURNING_USER_SHARE: f64 = 0.2;
const RETURNING_USERS_KEPT: usize = 1000;

/// Fractions of messages of each kind, each from 0 to 1.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fractions {
    pub malformed: f64,
    pub late: f64,
    pub duplicates: f64,
    /// Share of valid events whose page is spelled in a non-canonical, equivalent way.
    pub variants: f64,
    /// Share of valid events dated slightly before the simulated clock.
    pub jitter: f64,
}

/// Everything that determines the generated messages.
#[derive(Debug, Clone)]
pub struct Settings {
    pub seed: u64,
    /// Simulated time of the first message, epoch milliseconds.
    pub start_ms: i64,
    /// Messages per simulated second.
    pub rate: f64,
    pub partitions: i32,
    pub window_ms: i64,
    pub allowed_lateness_ms: i64,
    pub watermark_confirm_events: usize,
    pub dedup_horizon_ms: i64,
    pub limits: Limits,
    pub query_allowlist: Vec<String>,
    pub fractions: Fractions,
}

/// The outcome the processor must reach for a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// Count the event under `page` (canonical) in the window of `timestamp_ms`.
    Counted { timestamp_ms: i64, page: String, event_type: EventType },
    /// Reject the message with this reason.
    Rejected(Reason),
}

/// One message to send.
#[derive(Debug, Clone)]
pub struct GeneratedMessage {
    pub partition: i32,
    /// The session id, which is the Kafka key.
    pub key: String,
    /// The message value; `None` is a tombstone.
    pub value: Option<Vec<u8>>,
    pub expected: Expected,
}

/// Event times the processor has observed on one partition, newest last.
#[derive(Debug, Default)]
struct PartitionHistory {
    recent_times: VecDeque<i64>,
}

#[derive(Debug, Clone)]
struct CountedEvent {
    partition: i32,
    key: String,
    value: Vec<u8>,
    timestamp_ms: i64,
}

/// Generates messages one at a time.
pub struct Generator {
    settings: Settings,
    rng: ChaCha8Rng,
    catalog: Catalog,
    sessions: Vec<Session>,
    /// Sessions open at once in the steady state.
    target_open_sessions: usize,
    returning_users: VecDeque<UserId>,
    partitions: Vec<PartitionHistory>,
    late_basis: usize,
    recent_counted: VecDeque<CountedEvent>,
    malformed_kinds: Vec<MalformedKind>,
    malformed_sent: usize,
    index: u64,
}

impl Generator {
    pub fn new(settings: Settings) -> Generator {
        let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
        let catalog = Catalog::build(&mut rng, PRODUCT_COUNT);
        let target_open_sessions = ((settings.rate * THINK_TIME_SECONDS) as usize).clamp(8, MAX_OPEN_SESSIONS);
        Generator {
            partitions: (0..settings.partitions).map(|_| PartitionHistory::default()).collect(),
            late_basis: LATE_BASIS_EVENTS.max(settings.watermark_confirm_events),
            malformed_kinds: settings.limits.applicable_kinds(),
            settings,
            rng,
            catalog,
            sessions: Vec::new(),
            target_open_sessions,
            returning_users: VecDeque::new(),
            recent_counted: VecDeque::new(),
            malformed_sent: 0,
            index: 0,
        }
    }

    /// Simulated time of message `index`: the clock advances 1/rate seconds per message.
    pub fn clock_ms(&self, index: u64) -> i64 {
        self.settings.start_ms + (index as f64 * 1000.0 / self.settings.rate) as i64
    }

    /// Generates the next message. A late event or duplicate that cannot be made yet, because
    /// no partition has enough history, becomes a valid event instead.
    pub fn next_message(&mut self) -> GeneratedMessage {
        let clock_ms = self.clock_ms(self.index);
        self.index += 1;
        let fractions = self.settings.fractions;
        let roll: f64 = self.rng.gen();
        let special = if roll < fractions.malformed {
            Some(self.malformed(clock_ms))
        } else if roll < fractions.malformed + fractions.late {
            self.late(clock_ms)
        } else if roll < fractions.malformed + fractions.late + fractions.duplicates {
            self.duplicate(clock_ms)
        } else {
            None
        };
        special.unwrap_or_else(|| self.valid(clock_ms))
    }

    fn valid(&mut self, clock_ms: i64) -> GeneratedMessage {
        let (session_index, step) = self.next_step();
        let timestamp_ms = clock_ms - self.jitter_ms();
        let spelling = self.spell(&step);
        let timestamp = self.wire_timestamp(timestamp_ms);
        let event_id = self.fresh_event_id();
        let session = &self.sessions[session_index];
        let value = encode(session, &step, &spelling.written, timestamp, event_id);
        let key = session.id.clone();
        let partition = self.partition_of(&key);
        self.observe(partition, timestamp_ms);
        self.remember_counted(CountedEvent { partition, key: key.clone(), value: value.clone(), timestamp_ms });
        let expected = Expected::Counted { timestamp_ms, page: spelling.canonical, event_type: step.event_type };
        GeneratedMessage { partition, key, value: Some(value), expected }
    }

    fn late(&mut self, clock_ms: i64) -> Option<GeneratedMessage> {
        let session_index = self.random_open_session()?;
        let session = &self.sessions[session_index];
        let partition = self.partition_of(&session.id);
        let history = &self.partitions[partition as usize].recent_times;
        if history.len() < self.late_basis {
            return None;
        }
        let oldest_recent = history.iter().copied().min().expect("history is not empty");
        let timestamp_ms = oldest_recent - self.settings.allowed_lateness_ms - self.settings.window_ms - 1000;
        debug_assert!(timestamp_ms < clock_ms);
        let step = popular_product_view(&self.catalog, &mut self.rng);
        let event_id = self.fresh_event_id();
        let session = &self.sessions[session_index];
        let value = encode(session, &step, &step.page.path, Timestamp::Millis(timestamp_ms), event_id);
        let key = session.id.clone();
        self.observe(partition, timestamp_ms);
        Some(GeneratedMessage { partition, key, value: Some(value), expected: Expected::Rejected(Reason::Late) })
    }

    fn duplicate(&mut self, clock_ms: i64) -> Option<GeneratedMessage> {
        // Half the horizon leaves room for the original's jitter and the watermark's lag.
        let max_age_ms = self.settings.dedup_horizon_ms / 2;
        let original = self
            .recent_counted
            .iter()
            .filter(|event| clock_ms - event.timestamp_ms <= max_age_ms)
            .choose(&mut self.rng)?
            .clone();
        Some(GeneratedMessage {
            partition: original.partition,
            key: original.key,
            value: Some(original.value),
            expected: Expected::Rejected(Reason::Duplicate),
        })
    }

    fn malformed(&mut self, clock_ms: i64) -> GeneratedMessage {
        let kind = self.malformed_kinds[self.malformed_sent % self.malformed_kinds.len()];
        let variant = self.malformed_sent / self.malformed_kinds.len();
        self.malformed_sent += 1;
        let session_index = self.random_open_session().unwrap_or_else(|| self.open_session());
        let step = popular_product_view(&self.catalog, &mut self.rng);
        let event_id = self.fresh_event_id();
        let session = &self.sessions[session_index];
        let valid = encode(session, &step, &step.page.path, Timestamp::Millis(clock_ms), event_id);
        let event: Map<String, Value> = serde_json::from_slice(&valid).expect("an encoded event is a JSON object");
        let value = malformed::build(kind, event, clock_ms, variant, self.settings.limits);
        let key = session.id.clone();
        let partition = self.partition_of(&key);
        GeneratedMessage { partition, key, value, expected: Expected::Rejected(kind.reason()) }
    }

    /// Takes the next step of a random session, opening new sessions as others end.
    fn next_step(&mut self) -> (usize, Step) {
        loop {
            let slot = self.rng.gen_range(0..self.target_open_sessions);
            let session_index = if slot < self.sessions.len() { slot } else { self.open_session() };
            if let Some(step) = self.sessions[session_index].next_step(&self.catalog, &mut self.rng) {
                return (session_index, step);
            }
            self.sessions.swap_remove(session_index);
        }
    }

    fn random_open_session(&mut self) -> Option<usize> {
        (!self.sessions.is_empty()).then(|| self.rng.gen_range(0..self.sessions.len()))
    }

    fn open_session(&mut self) -> usize {
        let id = format!("s-{:016x}", self.rng.gen::<u64>());
        let user = self.pick_user();
        let session = Session::start(id, user, &mut self.rng);
        self.sessions.push(session);
        self.sessions.len() - 1
    }

    fn pick_user(&mut self) -> UserId {
        if !self.returning_users.is_empty() && self.rng.gen_bool(RETURNING_USER_SHARE) {
            return self.returning_users.iter().choose(&mut self.rng).expect("not empty").clone();
        }
        let user = if self.rng.gen_bool(LOGGED_IN_SHARE) {
            UserId::Number(self.rng.gen_range(10_000_000..100_000_000))
        } else {
            UserId::Text(format!("anon-{:012x}", self.rng.gen::<u64>() >> 16))
        };
        if self.returning_users.len() == RETURNING_USERS_KEPT {
            self.returning_users.pop_front();
        }
        self.returning_users.push_back(user.clone());
        user
    }

    /// Draws how far before the clock a valid event is dated: mostly 0, sometimes up to
    /// `min(allowed_lateness / 2 - 1 ms, 2 s)`, which keeps it inside an open window.
    fn jitter_ms(&mut self) -> i64 {
        let max_jitter_ms = (self.settings.allowed_lateness_ms / 2 - 1).min(MAX_JITTER_MS);
        let share = self.settings.fractions.jitter;
        if max_jitter_ms <= 0 || share <= 0.0 || !self.rng.gen_bool(share.min(1.0)) {
            return 0;
        }
        self.rng.gen_range(1..=max_jitter_ms)
    }

    fn spell(&mut self, step: &Step) -> Spelling {
        let allowlist = &self.settings.query_allowlist;
        if self.settings.fractions.variants > 0.0 && self.rng.gen_bool(self.settings.fractions.variants) {
            step.page.spell_randomly(allowlist, &mut self.rng)
        } else {
            step.page.plain(allowlist)
        }
    }

    fn wire_timestamp(&mut self, timestamp_ms: i64) -> Timestamp {
        if self.rng.gen_bool(TEXT_TIMESTAMP_SHARE) {
            Timestamp::rfc3339_at_offset(timestamp_ms, BRASILIA_OFFSET_SECONDS)
        } else {
            Timestamp::Millis(timestamp_ms)
        }
    }

    fn fresh_event_id(&mut self) -> Uuid {
        uuid::Builder::from_random_bytes(self.rng.gen()).into_uuid()
    }

    fn partition_of(&self, session_id: &str) -> i32 {
        kafka::partition_for_key(session_id.as_bytes(), self.settings.partitions)
    }

    /// Records an event time the processor's watermark will observe on `partition`.
    fn observe(&mut self, partition: i32, timestamp_ms: i64) {
        let history = &mut self.partitions[partition as usize].recent_times;
        if history.len() == self.late_basis {
            history.pop_front();
        }
        history.push_back(timestamp_ms);
    }

    fn remember_counted(&mut self, event: CountedEvent) {
        if self.recent_counted.len() == DUPLICATE_CANDIDATES {
            self.recent_counted.pop_front();
        }
        self.recent_counted.push_back(event);
    }
}

fn encode(session: &Session, step: &Step, page: &str, timestamp: Timestamp, event_id: Uuid) -> Vec<u8> {
    WireEvent {
        event_id,
        event_type: step.event_type.as_str(),
        page,
        user_id: &session.user,
        session_id: &session.id,
        timestamp,
        referrer: session.referrer,
        user_agent: Some(session.user_agent),
        properties: &step.properties,
    }
    .to_json()
}

#[cfg(test)]
mod tests;
