//! Shared harness for integration tests against the real Kafka and ClickHouse that
//! `scripts/services.sh` starts. Addresses come from `PULSO_TEST_BROKERS` and
//! `PULSO_TEST_CLICKHOUSE_URL`, defaulting to 127.0.0.1. Each test gets its own topics, consumer
//! group and ClickHouse database, so tests never see each other's data.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// (window start in epoch ms, page, event type).
pub type CountKey = (i64, String, String);

pub fn brokers() -> String {
    std::env::var("PULSO_TEST_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

pub fn clickhouse_url() -> String {
    std::env::var("PULSO_TEST_CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

/// Returns the repository root, where `scripts/` and `testdata/` live.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

/// A private set of topics, a consumer group and a database for one test.
pub struct TestPipeline {
    pub name: String,
    pub topic: String,
    pub dead_letter_topic: String,
    pub database: String,
    pub group: String,
    pub dir: PathBuf,
    config_path: PathBuf,
}

impl TestPipeline {
    /// Creates the topics with `partitions` partitions, the database and its schema.
    pub fn new(prefix: &str, partitions: i32) -> TestPipeline {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let unique = format!(
            "{prefix}_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() % 1_000_000
        );
        let dir = std::env::temp_dir().join("pulso-tests").join(&unique);
        std::fs::create_dir_all(&dir).unwrap();
        let config_path = dir.join("pulso.toml");
        std::fs::write(
            &config_path,
            "[kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"500\"\n",
        )
        .unwrap();
        let pipeline = TestPipeline {
            topic: format!("test.{unique}.events"),
            dead_letter_topic: format!("test.{unique}.dead-letter"),
            database: format!("test_{unique}"),
            group: format!("test-{unique}"),
            name: unique,
            dir,
            config_path,
        };
        pipeline.pulso(&["topics", "--partitions", &partitions.to_string()]).run_ok();
        pipeline.pulso(&["migrate"]).run_ok();
        pipeline
    }

    /// Builds a `pulso` command pointed at this test's topics and database.
    pub fn pulso(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pulso"));
        command
            .args(args)
            .arg("--config")
            .arg(&self.config_path)
            .args(["--brokers", &brokers(), "--clickhouse-url", &clickhouse_url()])
            .args(["--topic", &self.topic, "--dead-letter-topic", &self.dead_letter_topic, "--database", &self.database])
            .env("PULSO_LOG", "info,rdkafka=warn")
            .env("PULSO_TELEMETRY__METRICS_ADDRESS", "127.0.0.1:0")
            .env("PULSO_TELEMETRY__PRODUCER_METRICS_ADDRESS", "127.0.0.1:0")
            .stdin(Stdio::null());
        command
    }

    /// Starts a processor in this test's group. Its log goes to a file in the test folder. The
    /// processor is killed when the guard drops, so a failing test leaves none behind.
    pub fn spawn_processor(&self, instance: &str, extra: &[&str]) -> ChildGuard {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join(format!("processor-{instance}.log"))).unwrap();
        let mut args = vec!["process", "--group", &self.group, "--instance-id", instance, "--progress-every", "2s"];
        args.extend_from_slice(extra);
        ChildGuard(self.pulso(&args).stdout(log.try_clone().unwrap()).stderr(log).spawn().expect("failed to start pulso process"))
    }

    /// Runs a processor until it has seen no message for `idle`, and checks it exits 0.
    pub fn process_until_idle(&self, instance: &str, idle: &str) {
        let mut child = self.spawn_processor(instance, &["--exit-when-idle", idle]);
        let status = wait_with_timeout(&mut child, Duration::from_secs(600));
        assert!(status.success(), "processor exited with {status}; log in {}", self.dir.display());
    }

    /// Runs `pulso generate` with an oracle in the test folder.
    pub fn generate(&self, args: &[&str]) -> Oracle {
        let oracle = self.dir.join("oracle.csv");
        let mut all = vec!["generate", "--oracle", oracle.to_str().unwrap()];
        all.extend_from_slice(args);
        self.pulso(&all).run_ok();
        Oracle::read(&oracle)
    }

    /// Runs a ClickHouse query in this test's database and returns the text output.
    pub fn query(&self, sql: &str) -> String {
        clickhouse_query(&sql.replace("{db}", &self.database))
    }

    /// Counts stored in ClickHouse, summed per key.
    pub fn stored_counts(&self) -> BTreeMap<CountKey, u64> {
        let text = self.query(
            "SELECT toUInt32(window_start) * 1000, page, event_type, sum(count) FROM {db}.page_counts \
             WHERE kind = 'count' GROUP BY window_start, page, event_type FORMAT TabSeparated",
        );
        parse_counts(&text, '\t')
    }

    /// Reads every message of the dead-letter topic as (source partition, source offset, reason).
    pub fn dead_letters(&self) -> Vec<(i32, i64, String)> {
        read_topic(&self.dead_letter_topic)
            .into_iter()
            .map(|headers| {
                let get = |name: &str| headers.get(name).cloned().unwrap_or_else(|| panic!("dead letter without header {name}"));
                (get("pulso-source-partition").parse().unwrap(), get("pulso-source-offset").parse().unwrap(), get("pulso-reason"))
            })
            .collect()
    }

    /// Number of windows that are not final yet.
    pub fn open_windows(&self) -> u64 {
        self.query("SELECT count() FROM {db}.window_counts WHERE is_final = 0").trim().parse().unwrap()
    }
}

/// A child process that is killed on drop unless it has exited.
pub struct ChildGuard(pub Child);

impl std::ops::Deref for ChildGuard {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl From<Child> for ChildGuard {
    fn from(child: Child) -> ChildGuard {
        ChildGuard(child)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// What `pulso generate` expects: the counts and the dead letters with their reasons.
pub struct Oracle {
    pub counts: BTreeMap<CountKey, u64>,
    pub rejections: Vec<(i32, i64, String)>,
    pub summary: serde_json::Value,
}

impl Oracle {
    pub fn read(path: &Path) -> Oracle {
        let counts = parse_counts(&std::fs::read_to_string(path).unwrap(), ',');
        let rejections_path = PathBuf::from(format!("{}.rejections.csv", path.display()));
        let rejections = std::fs::read_to_string(&rejections_path)
            .unwrap()
            .lines()
            .skip(1)
            .map(|line| {
                let mut fields = line.split(',');
                let partition = fields.next().unwrap().parse().unwrap();
                let offset = fields.next().unwrap().parse().unwrap();
                (partition, offset, fields.next().unwrap().to_string())
            })
            .collect();
        let summary_path = PathBuf::from(format!("{}.summary.json", path.display()));
        let summary = serde_json::from_str(&std::fs::read_to_string(summary_path).unwrap()).unwrap();
        Oracle { counts, rejections, summary }
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}

/// Parses `window_start_ms<sep>page<sep>event_type<sep>count` lines, skipping a header.
/// The page is taken as everything between the first and the last two separators, so a page
/// that contains the separator still parses.
pub fn parse_counts(text: &str, separator: char) -> BTreeMap<CountKey, u64> {
    let mut counts = BTreeMap::new();
    for line in text.lines().filter(|line| !line.is_empty() && !line.starts_with("window_start")) {
        let (window, rest) = line.split_once(separator).unwrap();
        let (rest, count) = rest.rsplit_once(separator).unwrap();
        let (page, event_type) = rest.rsplit_once(separator).unwrap();
        let key = (window.parse().unwrap(), page.to_string(), event_type.to_string());
        *counts.entry(key).or_insert(0) += count.parse::<u64>().unwrap();
    }
    counts
}

/// Asserts two count maps are equal and prints the first differences when they are not.
pub fn assert_counts_equal(expected: &BTreeMap<CountKey, u64>, actual: &BTreeMap<CountKey, u64>) {
    let keys: BTreeSet<&CountKey> = expected.keys().chain(actual.keys()).collect();
    let differences: Vec<String> = keys
        .into_iter()
        .filter(|key| expected.get(*key) != actual.get(*key))
        .take(10)
        .map(|key| format!("{key:?}: expected {:?}, stored {:?}", expected.get(key), actual.get(key)))
        .collect();
    let expected_total: u64 = expected.values().sum();
    let actual_total: u64 = actual.values().sum();
    assert!(
        differences.is_empty(),
        "counts differ (expected total {expected_total}, stored total {actual_total}); first differences:\n{}",
        differences.join("\n")
    );
}

/// Percent-encodes a URL query parameter value (RFC 3986 unreserved characters stay).
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

pub fn clickhouse_query(sql: &str) -> String {
    let response = ureq::post(&format!("{}/", clickhouse_url())).send_string(sql);
    match response {
        Ok(response) => response.into_string().unwrap(),
        Err(ureq::Error::Status(status, response)) => panic!("ClickHouse returned {status} for {sql}: {}", response.into_string().unwrap_or_default()),
        Err(error) => panic!("ClickHouse query {sql} failed: {error}"),
    }
}

/// Reads a whole topic from the beginning to its current end and returns each message's headers.
pub fn read_topic(topic: &str) -> Vec<BTreeMap<String, String>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", "pulso-test-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
    let partitions: Vec<i32> = metadata.topics()[0].partitions().iter().map(|p| p.id()).collect();
    let mut list = TopicPartitionList::new();
    let mut remaining = 0;
    let mut ends = BTreeMap::new();
    for partition in &partitions {
        let (low, high) = consumer.fetch_watermarks(topic, *partition, Duration::from_secs(10)).unwrap();
        ends.insert(*partition, high);
        remaining += high - low;
        list.add_partition_offset(topic, *partition, Offset::Beginning).unwrap();
    }
    consumer.assign(&list).unwrap();
    let mut messages = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while remaining > 0 && Instant::now() < deadline {
        let Some(result) = consumer.poll(Duration::from_millis(500)) else { continue };
        let message = result.unwrap();
        if message.offset() >= ends[&message.partition()] {
            continue;
        }
        remaining -= 1;
        let mut headers = BTreeMap::new();
        if let Some(list) = message.headers() {
            for header in list.iter() {
                headers.insert(header.key.to_string(), String::from_utf8_lossy(header.value.unwrap_or_default()).into_owned());
            }
        }
        messages.push(headers);
    }
    assert_eq!(remaining, 0, "timed out reading topic {topic}");
    messages
}

pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process {} did not finish within {timeout:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends SIGTERM to a child and waits for it.
pub fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    wait_with_timeout(child, Duration::from_secs(60))
}

pub trait RunOk {
    fn run_ok(&mut self) -> String;
}

impl RunOk for Command {
    /// Runs the command, asserts it exits 0 and returns its standard output.
    fn run_ok(&mut self) -> String {
        let output = self.output().expect("failed to start command");
        assert!(
            output.status.success(),
            "{self:?} exited with {}\nstdout:\n{}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}
