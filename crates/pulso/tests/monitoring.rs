//! The monitoring files against the real services: Debian's Prometheus scrapes a processor and a
//! generator under load, every query of the "Pipeline health" dashboard returns data, every
//! alert rule loads, and stopping ClickHouse makes `PulsoClickHouseInsertsFailing` go pending.
//! Every query of the "Clicks per page" dashboard returns rows from a database that a small run
//! filled.
//!
//! Needs `/usr/bin/prometheus` (Debian's package `prometheus`). The ClickHouse outage needs the
//! services folder in `PULSO_TEST_SERVICES_DIR`, as in `tests/faults.rs`, and is skipped, saying
//! so, when the variable is absent.
//!
//! Grafana itself is not run. The tests substitute the Grafana variables and macros that the
//! dashboards use: `$__rate_interval` becomes 30s, `$instance` matches every processor,
//! `${database}` is the test's database, and `$__timeFilter(column)`, `$__fromTime` and
//! `$__toTime` expand as the ClickHouse plugin expands them, for the last hour.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::Value;

/// Serializes the tests of this file, because the ClickHouse outage of one would fail the
/// queries of the other.
static SERVICES: Mutex<()> = Mutex::new(());

const PROMETHEUS_BINARY: &str = "/usr/bin/prometheus";
const RATE_INTERVAL: &str = "30s";

/// Metrics that the processor must export under the load of `pipeline_health_queries_and_alerts`.
/// Counters with labels appear with their first increment, so those that this load does not
/// increment for certain are left out: pulso_events_late_total, pulso_events_duplicate_total,
/// pulso_dead_letter_failures_total and pulso_clickhouse_insert_failures_total.
const PROCESSOR_METRICS: &[&str] = &[
    "pulso_events_consumed_total",
    "pulso_events_valid_total",
    "pulso_events_invalid_total",
    "pulso_dead_letters_written_total",
    "pulso_windows_open",
    "pulso_windows_closed_total",
    "pulso_watermark_delay_seconds",
    "pulso_watermark_timestamp_seconds",
    "pulso_partition_watermark_delay_seconds",
    "pulso_end_to_end_latency_seconds_bucket",
    "pulso_processing_latency_seconds_bucket",
    "pulso_consumer_lag_messages",
    "pulso_partitions_assigned",
    "pulso_clickhouse_insert_duration_seconds_bucket",
    "pulso_clickhouse_insert_rows_total",
    "pulso_clickhouse_insert_bytes_total",
    "pulso_clickhouse_insert_retries_total",
    "pulso_flushes_total",
    "pulso_rebalances_total",
    "pulso_build_info",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
];

/// Metrics that `pulso generate` must export while it sends; pulso_producer_send_errors_total
/// appears only with a failed send.
const PRODUCER_METRICS: &[&str] = &[
    "pulso_producer_messages_sent_total",
    "pulso_producer_queue_depth",
    "pulso_build_info",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
];

#[test]
fn pipeline_health_queries_and_alerts() {
    assert!(
        Path::new(PROMETHEUS_BINARY).exists(),
        "{PROMETHEUS_BINARY} not found; install Debian's package with 'apt-get install -y prometheus'"
    );
    let _guard = SERVICES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let pipeline = TestPipeline::new("monitoring", 4);

    let processor_address = format!("127.0.0.1:{}", free_port());
    let processor_log = pipeline.dir.join("processor-a.log");
    let mut processor = Running::new("pulso process", pipeline.spawn_processor("a", &["--metrics-address", &processor_address]));
    wait_for_metrics(&mut processor, &processor_address, &processor_log);

    let generator_address = format!("127.0.0.1:{}", free_port());
    let generator_log = pipeline.dir.join("generator.log");
    let oracle = pipeline.dir.join("oracle.csv");
    // 1000 events per second for up to 20 minutes: the test stops the generator long before.
    let generator_child = pipeline
        .pulso(&[
            "generate", "--oracle", oracle.to_str().unwrap(), "--count", "1200000", "--rate", "1000", "--seed", "21",
            "--malformed", "0.02", "--late", "0.01", "--duplicates", "0.01", "--metrics-address", &generator_address,
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&generator_log).unwrap())
        .spawn()
        .expect("failed to start pulso generate");
    let mut generator = Running::new("pulso generate", generator_child);
    wait_for_metrics(&mut generator, &generator_address, &generator_log);

    assert_metrics_exported("pulso process", &processor_address, PROCESSOR_METRICS);
    assert_metrics_exported("pulso generate", &generator_address, PRODUCER_METRICS);
    assert_health_endpoints(&processor_address);

    let prometheus = Prometheus::start(&pipeline.dir, &processor_address, &generator_address);
    prometheus.wait_for_targets_up(&["pulso-processor", "pulso-producer"]);
    prometheus.assert_rules_loaded();
    prometheus.assert_dashboard_queries_return_data("pipeline-health.json");

    match services_dir() {
        Some(dir) => {
            let outage = ClickHouseOutage::begin(&dir);
            prometheus.wait_for_alert_while_down("PulsoClickHouseInsertsFailing", &dir, Duration::from_secs(120));
            outage.end();
        }
        None => eprintln!(
            "SKIPPED: ClickHouse outage and PulsoClickHouseInsertsFailing: PULSO_TEST_SERVICES_DIR is not set; run the tests through scripts/test.sh to include it"
        ),
    }

    generator.stop();
    processor.stop();
    prometheus.stop();
}

#[test]
fn clicks_dashboard_queries_return_rows() {
    let _guard = SERVICES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let pipeline = TestPipeline::new("clicks_dashboard", 2);
    // --rate keeps event times at the wall clock, inside the dashboard's last hour and the
    // "last 15 minutes" panel. Malformed events make rejection rows.
    let oracle = pipeline.generate(&["--count", "3000", "--rate", "1000", "--seed", "17", "--malformed", "0.02"]);
    assert!(oracle.total() > 0, "the generator's oracle expects no counted event");
    pipeline.process_until_idle("a", "5s");

    let now = unix_seconds();
    let range = TimeRange { from: now - 3600, to: now };
    let queries = dashboard_queries("clicks-per-page.json");
    assert!(!queries.is_empty(), "clicks-per-page.json has no queries");
    let mut problems = Vec::new();
    for query in queries {
        let Some(sql) = query.target.get("rawSql").and_then(Value::as_str) else {
            problems.push(format!("panel '{}' query {} has no rawSql", query.panel, query.ref_id));
            continue;
        };
        let sql = substitute_sql(sql, &pipeline.database, range);
        match run_clickhouse_query(&sql) {
            Ok(rows) if rows.trim().is_empty() => problems.push(format!("panel '{}' query {} returned no rows:\n{sql}", query.panel, query.ref_id)),
            Ok(_) => {}
            Err(error) => problems.push(format!("panel '{}' query {} failed: {error}\n{sql}", query.panel, query.ref_id)),
        }
    }
    assert!(problems.is_empty(), "Clicks per page dashboard, database {}:\n{}", pipeline.database, problems.join("\n\n"));
}

/// A child process that is stopped with SIGTERM (SIGKILL after 30 s) when dropped, so that a
/// failed assertion leaves nothing running.
struct Running {
    name: &'static str,
    child: ChildGuard,
}

impl Running {
    fn new(name: &'static str, child: impl Into<ChildGuard>) -> Running {
        let child = child.into();
        Running { name, child }
    }

    /// Stops the process unless it has exited already.
    fn stop(&mut self) {
        if self.child.try_wait().unwrap().is_some() {
            return;
        }
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("{} (pid {}) still running 30 s after SIGTERM; sending SIGKILL", self.name, self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Prometheus started by `scripts/prometheus.sh`, scraping one processor and one generator
/// every second and evaluating `monitoring/alerts.yml` every second. Stopped when dropped.
struct Prometheus {
    data_dir: PathBuf,
    port: u16,
    stopped: bool,
}

impl Prometheus {
    fn start(test_dir: &Path, processor_address: &str, generator_address: &str) -> Prometheus {
        let data_dir = test_dir.join("services");
        std::fs::create_dir_all(&data_dir).unwrap();
        let rules = repo_root().join("monitoring").join("alerts.yml");
        let config = test_dir.join("prometheus.yml");
        let lines = [
            "global:".to_string(),
            "  scrape_interval: 1s".to_string(),
            "  scrape_timeout: 1s".to_string(),
            "  evaluation_interval: 1s".to_string(),
            "rule_files:".to_string(),
            format!("  - \"{}\"", rules.display()),
            "scrape_configs:".to_string(),
            "  - job_name: pulso-processor".to_string(),
            "    static_configs:".to_string(),
            format!("      - targets: [\"{processor_address}\"]"),
            "  - job_name: pulso-producer".to_string(),
            "    static_configs:".to_string(),
            format!("      - targets: [\"{generator_address}\"]"),
        ];
        std::fs::write(&config, lines.join("\n") + "\n").unwrap();

        let port = free_port();
        let prometheus = Prometheus { data_dir, port, stopped: false };
        let output = prometheus.script("start").arg(&config).output().expect("failed to run scripts/prometheus.sh");
        assert!(
            output.status.success(),
            "scripts/prometheus.sh start exited with {}:\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        prometheus
    }

    fn script(&self, action: &str) -> Command {
        let mut command = Command::new(repo_root().join("scripts").join("prometheus.sh"));
        command.args([action, self.data_dir.to_str().unwrap()]).env("PULSO_PROMETHEUS_PORT", self.port.to_string());
        command
    }

    fn stop(mut self) {
        self.stop_server();
    }

    fn stop_server(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let status = self.script("stop").stdout(Stdio::null()).status().expect("failed to run scripts/prometheus.sh");
        assert!(status.success(), "scripts/prometheus.sh stop {} exited with {status}", self.data_dir.display());
    }

    /// Calls a GET endpoint of the HTTP API and returns its `data`.
    fn api(&self, path: &str, parameters: &[(&str, &str)]) -> Result<Value, String> {
        let mut request = ureq::get(&format!("http://127.0.0.1:{}{path}", self.port)).timeout(Duration::from_secs(10));
        for (name, value) in parameters {
            request = request.query(name, value);
        }
        let body = match request.call() {
            Ok(response) => response.into_string().map_err(|error| error.to_string())?,
            Err(ureq::Error::Status(status, response)) => {
                return Err(format!("Prometheus returned {status}: {}", response.into_string().unwrap_or_default()))
            }
            Err(error) => return Err(format!("request to Prometheus failed: {error}")),
        };
        let json: Value = serde_json::from_str(&body).map_err(|error| format!("invalid JSON from Prometheus ({error}): {body}"))?;
        if json["status"] != "success" {
            return Err(format!("Prometheus returned an error: {body}"));
        }
        Ok(json["data"].clone())
    }

    /// Evaluates `expr` now and returns its instant vector.
    fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let data = self.api("/api/v1/query", &[("query", expr)])?;
        match data["resultType"].as_str() {
            Some("vector") => Ok(data["result"].as_array().cloned().unwrap_or_default()),
            Some("scalar") => Ok(vec![serde_json::json!({ "metric": {}, "value": data["result"] })]),
            other => Err(format!("expected an instant vector, got result type {other:?}")),
        }
    }

    fn wait_for_targets_up(&self, jobs: &[&str]) {
        for job in jobs {
            let expr = format!("up{{job=\"{job}\"}} == 1");
            wait_until(Duration::from_secs(60), &format!("Prometheus scraping job {job} (query {expr})"), || match self.query(&expr) {
                Ok(result) if !result.is_empty() => Ok(()),
                Ok(_) => Err("no target up".to_string()),
                Err(error) => Err(error),
            });
        }
    }

    /// Asserts that every alerting and recording rule of `monitoring/alerts.yml` is loaded and has
    /// been evaluated without error.
    fn assert_rules_loaded(&self) {
        let text = std::fs::read_to_string(repo_root().join("monitoring").join("alerts.yml")).unwrap();
        let expected_alerts = rule_names(&text, "- alert:");
        let expected_records = rule_names(&text, "- record:");
        assert!(expected_alerts.len() >= 7, "found only {} alerts in monitoring/alerts.yml: {expected_alerts:?}", expected_alerts.len());

        wait_until(Duration::from_secs(30), "every rule of monitoring/alerts.yml loaded and evaluated", || {
            let data = self.api("/api/v1/rules", &[])?;
            let rules: Vec<Value> = data["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|group| group["rules"].as_array().cloned().unwrap_or_default())
                .collect();
            let names_of = |kind: &str| -> Vec<String> {
                rules.iter().filter(|rule| rule["type"] == kind).filter_map(|rule| rule["name"].as_str().map(str::to_string)).collect()
            };
            let alerts = names_of("alerting");
            let records = names_of("recording");
            let missing: Vec<&String> =
                expected_alerts.iter().filter(|name| !alerts.contains(name)).chain(expected_records.iter().filter(|name| !records.contains(name))).collect();
            if !missing.is_empty() {
                return Err(format!("rules not loaded: {missing:?}"));
            }
            let unhealthy: Vec<String> = rules
                .iter()
                .filter(|rule| rule["health"] != "ok")
                .map(|rule| format!("{} (health {}, error {})", rule["name"], rule["health"], rule["lastError"]))
                .collect();
            if !unhealthy.is_empty() {
                return Err(format!("rules not evaluated or failing: {}", unhealthy.join("; ")));
            }
            Ok(())
        });
    }

    /// Evaluates every PromQL query of a dashboard until each returns at least one finite value,
    /// and fails naming the panels whose queries never did.
    fn assert_dashboard_queries_return_data(&self, dashboard: &str) {
        let queries = dashboard_queries(dashboard);
        assert!(!queries.is_empty(), "{dashboard} has no queries");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let problems: Vec<String> = queries.iter().filter_map(|query| self.check_panel_query(query).err()).collect();
            if problems.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                panic!("{} of {} queries of {dashboard} returned no data within 120 s:\n{}", problems.len(), queries.len(), problems.join("\n"));
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    }

    fn check_panel_query(&self, query: &PanelQuery) -> Result<(), String> {
        let location = format!("panel '{}' query {}", query.panel, query.ref_id);
        let Some(expr) = query.target.get("expr").and_then(Value::as_str) else {
            return Err(format!("{location} has no PromQL expr"));
        };
        let expr = substitute_promql(expr);
        let result = self.query(&expr).map_err(|error| format!("{location} failed: {error}\n  {expr}"))?;
        if result.is_empty() {
            return Err(format!("{location} returned no series:\n  {expr}"));
        }
        let finite = result.iter().any(|sample| sample["value"][1].as_str().and_then(|value| value.parse::<f64>().ok()).is_some_and(f64::is_finite));
        if !finite {
            return Err(format!("{location} returned only NaN or infinite values:\n  {expr}"));
        }
        Ok(())
    }

    /// Waits until alert `name` is pending or firing while ClickHouse is stopped. Fails at once
    /// if ClickHouse responds again, which means another process started it.
    fn wait_for_alert_while_down(&self, name: &str, services_dir: &Path, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let states = self.alert_states(name).unwrap_or_else(|error| panic!("reading alert {name} failed: {error}"));
            if states.iter().any(|state| state == "pending" || state == "firing") {
                return;
            }
            assert!(
                run_clickhouse_query("SELECT 1").is_err(),
                "ClickHouse responded during the outage before alert {name} became pending, so another process started it again; rerun when no other test uses the services in {}",
                services_dir.display()
            );
            assert!(
                Instant::now() < deadline,
                "alert {name} was not pending or firing {timeout:?} after ClickHouse stopped (states {states:?}); active alerts: {}",
                self.api("/api/v1/alerts", &[]).map(|data| data["alerts"].to_string()).unwrap_or_else(|error| error)
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// States (pending, firing) of the active alerts named `name`.
    fn alert_states(&self, name: &str) -> Result<Vec<String>, String> {
        let data = self.api("/api/v1/alerts", &[])?;
        Ok(data["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|alert| alert["labels"]["alertname"] == name)
            .filter_map(|alert| alert["state"].as_str().map(str::to_string))
            .collect())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            let _ = self.script("stop").stdout(Stdio::null()).status();
        }
    }
}

/// ClickHouse stopped with `scripts/clickhouse.sh`, and started again when this ends or is
/// dropped, so a failed assertion does not leave it down.
struct ClickHouseOutage {
    services_dir: PathBuf,
    ended: bool,
}

impl ClickHouseOutage {
    fn begin(services_dir: &Path) -> ClickHouseOutage {
        run_clickhouse_script("stop", services_dir);
        ClickHouseOutage { services_dir: services_dir.to_path_buf(), ended: false }
    }

    fn end(mut self) {
        self.ended = true;
        run_clickhouse_script("start", &self.services_dir);
    }
}

impl Drop for ClickHouseOutage {
    fn drop(&mut self) {
        if !self.ended {
            self.ended = true;
            run_clickhouse_script("start", &self.services_dir);
        }
    }
}

fn run_clickhouse_script(action: &str, services_dir: &Path) {
    let status = Command::new(repo_root().join("scripts").join("clickhouse.sh"))
        .args([action, services_dir.to_str().unwrap()])
        .stdout(Stdio::null())
        .status()
        .expect("failed to run scripts/clickhouse.sh");
    assert!(status.success(), "scripts/clickhouse.sh {action} {} exited with {status}", services_dir.display());
}

fn services_dir() -> Option<PathBuf> {
    std::env::var_os("PULSO_TEST_SERVICES_DIR").map(PathBuf::from)
}

/// Finds a port on 127.0.0.1 that is free at the moment. Another process could take it before
/// the caller binds it, which fails the test with an "address in use" error and hides no bug.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn unix_seconds() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Calls `check` every 500 ms until it succeeds, and panics with its last error after `timeout`.
fn wait_until(timeout: Duration, what: &str, mut check: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + timeout;
    loop {
        let error = match check() {
            Ok(()) => return,
            Err(error) => error,
        };
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last result: {error}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn http_get(url: &str) -> Result<(u16, String), String> {
    match ureq::get(url).timeout(Duration::from_secs(5)).call() {
        Ok(response) => Ok((response.status(), response.into_string().map_err(|error| error.to_string())?)),
        Err(ureq::Error::Status(status, response)) => Ok((status, response.into_string().unwrap_or_default())),
        Err(error) => Err(error.to_string()),
    }
}

/// Waits until `address` serves `/metrics`, and fails with the end of the command's log if the
/// command exits first.
fn wait_for_metrics(process: &mut Running, address: &str, log: &Path) {
    let url = format!("http://{address}/metrics");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = process.child.try_wait().unwrap() {
            panic!("{} exited with {status} before serving {url}; is --metrics-address implemented? End of its log:\n{}", process.name, log_tail(log));
        }
        match http_get(&url) {
            Ok((200, _)) => return,
            Ok((status, body)) if Instant::now() > deadline => panic!("{} returned {status} for {url}: {body}", process.name),
            Err(error) if Instant::now() > deadline => {
                panic!(
                    "{} did not serve {url} within 60 s ({error}); does this command start the metrics server? End of its log:\n{}",
                    process.name,
                    log_tail(log)
                )
            }
            _ => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

/// Asserts that `/metrics` at `address` exports every metric in `names`, waiting up to 90 s for
/// metrics that appear with their first event.
fn assert_metrics_exported(command: &str, address: &str, names: &[&str]) {
    let url = format!("http://{address}/metrics");
    wait_until(Duration::from_secs(90), &format!("{command} to export every metric of the contract at {url}"), || {
        let (_, body) = http_get(&url)?;
        let exported: Vec<&str> = body
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .map(|line| line.split(['{', ' ']).next().unwrap_or_default())
            .collect();
        let missing: Vec<&&str> = names.iter().filter(|name| !exported.contains(name)).collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("missing metrics: {missing:?}"))
        }
    });
}

/// Asserts that `/healthz` returns 200 and that `/readyz` returns 200 once the processor has
/// partitions.
fn assert_health_endpoints(address: &str) {
    let healthz = format!("http://{address}/healthz");
    let (status, body) = http_get(&healthz).unwrap_or_else(|error| panic!("GET {healthz} failed: {error}"));
    assert_eq!(status, 200, "GET {healthz} returned {status}: {body}");

    let readyz = format!("http://{address}/readyz");
    wait_until(Duration::from_secs(60), &format!("GET {readyz} to return 200"), || match http_get(&readyz)? {
        (200, _) => Ok(()),
        (status, body) => Err(format!("{status}: {body}")),
    });
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|error| format!("(failed to read {}: {error})", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Names of the rules in an alerts file whose lines start with `prefix` ("- alert:" or
/// "- record:").
fn rule_names(text: &str, prefix: &str) -> Vec<String> {
    text.lines().filter_map(|line| line.trim().strip_prefix(prefix)).map(|name| name.trim().to_string()).collect()
}

/// One query (target) of a dashboard panel.
struct PanelQuery {
    panel: String,
    ref_id: String,
    target: Value,
}

/// Reads every query of every panel of `monitoring/grafana/dashboards/NAME`, including panels
/// nested in collapsed rows.
fn dashboard_queries(name: &str) -> Vec<PanelQuery> {
    let path = repo_root().join("monitoring").join("grafana").join("dashboards").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("failed to read {}: {error}", path.display()));
    let board: Value = serde_json::from_str(&text).unwrap_or_else(|error| panic!("{} is not valid JSON: {error}", path.display()));
    let mut panels: Vec<&Value> = Vec::new();
    for panel in board["panels"].as_array().into_iter().flatten() {
        panels.push(panel);
        panels.extend(panel["panels"].as_array().into_iter().flatten());
    }
    panels
        .into_iter()
        .flat_map(|panel| {
            let title = panel["title"].as_str().unwrap_or("(untitled)").to_string();
            panel["targets"].as_array().cloned().unwrap_or_default().into_iter().map(move |target| PanelQuery {
                panel: title.clone(),
                ref_id: target["refId"].as_str().unwrap_or("?").to_string(),
                target,
            })
        })
        .collect()
}

/// Replaces the Grafana variables of the "Pipeline health" dashboard. Panics on any other
/// variable, so that a new one gets a substitution here instead of a confusing query error.
fn substitute_promql(expr: &str) -> String {
    let substituted = expr.replace("$__rate_interval", RATE_INTERVAL).replace("${instance}", ".*").replace("$instance", ".*");
    assert!(!substituted.contains('$'), "unknown Grafana variable in PromQL query; add its substitution to substitute_promql: {expr}");
    substituted
}

/// Unix seconds of a dashboard's time range.
#[derive(Debug, Clone, Copy)]
struct TimeRange {
    from: i64,
    to: i64,
}

/// Replaces `${database}` and the ClickHouse plugin's time macros with what the plugin would
/// send for `range`. Panics on any other variable or macro.
fn substitute_sql(sql: &str, database: &str, range: TimeRange) -> String {
    let mut substituted = sql.replace("${database}", database);
    let macro_start = "$__timeFilter(";
    while let Some(start) = substituted.find(macro_start) {
        let argument_start = start + macro_start.len();
        let length = substituted[argument_start..].find(')').unwrap_or_else(|| panic!("missing ')' after $__timeFilter( in SQL query: {sql}"));
        let column = substituted[argument_start..argument_start + length].trim().to_string();
        let expansion = format!("{column} >= toDateTime({}) AND {column} <= toDateTime({})", range.from, range.to);
        substituted.replace_range(start..argument_start + length + 1, &expansion);
    }
    substituted = substituted.replace("$__fromTime", &format!("toDateTime({})", range.from)).replace("$__toTime", &format!("toDateTime({})", range.to));
    assert!(!substituted.contains('$'), "unknown Grafana variable or macro in SQL query; add its substitution to substitute_sql: {sql}");
    substituted
}

/// Runs a query on the test ClickHouse and returns its TabSeparated output.
fn run_clickhouse_query(sql: &str) -> Result<String, String> {
    match ureq::post(&format!("{}/", clickhouse_url())).timeout(Duration::from_secs(30)).send_string(sql) {
        Ok(response) => response.into_string().map_err(|error| error.to_string()),
        Err(ureq::Error::Status(status, response)) => Err(format!("ClickHouse returned {status}: {}", response.into_string().unwrap_or_default())),
        Err(error) => Err(format!("request to ClickHouse failed: {error}")),
    }
}
