//! The dashboard's JSON API (`pulso serve`) against the real ClickHouse. Every endpoint returns
//! what `sum(count)` queries over `page_counts` return for the same range. That holds for counts
//! the real pipeline stored and for hand-written rows whose totals the test works out. Bad
//! parameters get a 400 naming the parameter, a missing schema a 503, and every response
//! matches the OpenAPI document the server publishes.

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use common::*;

const CLICK_TYPES_SQL: &str = "('page_view', 'click')";
const API_PATHS: [&str; 5] = ["/api/v1/top-pages", "/api/v1/series", "/api/v1/windows", "/api/v1/status", "/api/v1/openapi.json"];

/// A `pulso serve` child process, stopped with SIGTERM when dropped.
struct Server {
    child: Option<Child>,
    base: String,
    log: std::path::PathBuf,
}

impl Server {
    /// Starts `pulso serve` on a free loopback port for `pipeline`'s database.
    fn start(pipeline: &TestPipeline) -> Server {
        let address = free_address();
        let log = pipeline.dir.join(format!("serve-{}.log", address.replace(':', "_")));
        let mut command = pipeline.pulso(&["serve", "--listen", &address]);
        Server::spawn(&mut command, &address, log)
    }

    /// Starts `pulso serve` for a database that has no schema.
    fn start_without_schema(database: &str) -> Server {
        let address = free_address();
        let log = std::env::temp_dir().join(format!("pulso-serve-{database}.log"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_pulso"));
        command
            .args(["serve", "--listen", &address, "--clickhouse-url", &clickhouse_url(), "--database", database])
            .env("PULSO_LOG", "info")
            .stdin(Stdio::null());
        Server::spawn(&mut command, &address, log)
    }

    fn spawn(command: &mut Command, address: &str, log: std::path::PathBuf) -> Server {
        let file = std::fs::File::create(&log).unwrap();
        let child = command.stdout(file.try_clone().unwrap()).stderr(file).spawn().expect("failed to start pulso serve");
        let server = Server { child: Some(child), base: format!("http://{address}"), log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while ureq::get(&format!("{}/healthz", server.base)).timeout(Duration::from_secs(2)).call().is_err() {
            assert!(Instant::now() < deadline, "pulso serve did not answer /healthz within 30 s; log in {}", server.log.display());
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// GETs `path` and returns the status and the body parsed as JSON.
    fn get(&self, path: &str) -> (u16, Value) {
        let (status, _, body) = self.get_text(path);
        let value = serde_json::from_str(&body).unwrap_or_else(|error| panic!("GET {path} returned invalid JSON ({error}): {body}"));
        (status, value)
    }

    /// GETs `path` and returns the status, the Content-Type and the body.
    fn get_text(&self, path: &str) -> (u16, String, String) {
        let url = format!("{}{path}", self.base);
        let response = match ureq::get(&url).timeout(Duration::from_secs(30)).call() {
            Ok(response) => response,
            Err(ureq::Error::Status(_, response)) => response,
            Err(error) => panic!("GET {url} failed: {error}; log in {}", self.log.display()),
        };
        let status = response.status();
        let content_type = response.header("content-type").unwrap_or_default().to_string();
        (status, content_type, response.into_string().unwrap())
    }

    /// GETs `path`, asserts a 200 and returns the JSON body.
    fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path} returned {status}: {body}");
        body
    }

    /// Sends SIGTERM and returns the exit status.
    fn stop(mut self) -> ExitStatus {
        terminate(self.child.as_mut().unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            if child.try_wait().ok().flatten().is_none() {
                terminate(child);
            }
        }
    }
}

/// Returns a loopback address whose port was free a moment ago.
fn free_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

fn seconds(ms: i64) -> i64 {
    assert_eq!(ms % 1000, 0, "range bound {ms} is not a whole second");
    ms / 1000
}

fn field(value: &Value, name: &str) -> i64 {
    value[name].as_i64().unwrap_or_else(|| panic!("{name} missing or not an integer in {value}"))
}

fn count(value: &Value, name: &str) -> u64 {
    value[name].as_u64().unwrap_or_else(|| panic!("{name} missing or not a count in {value}"))
}

/// Queries ClickHouse's clicks per page for window starts in `[from_ms, to_ms)`.
fn stored_clicks_per_page(pipeline: &TestPipeline, from_ms: i64, to_ms: i64, filter_sql: &str) -> BTreeMap<String, u64> {
    let text = pipeline.query(&format!(
        "SELECT page, sum(count) FROM {{db}}.page_counts \
         WHERE kind = 'count' AND event_type IN {CLICK_TYPES_SQL} \
         AND window_start >= toDateTime({}) AND window_start < toDateTime({}) {filter_sql} \
         GROUP BY page FORMAT TabSeparated",
        seconds(from_ms),
        seconds(to_ms)
    ));
    text.lines()
        .map(|line| {
            let (page, total) = line.rsplit_once('\t').unwrap();
            (page.to_string(), total.parse().unwrap())
        })
        .collect()
}

/// Queries ClickHouse's per-window (events, clicks, invalid, late, duplicate) for `[from_ms, to_ms)`.
fn stored_windows(pipeline: &TestPipeline, from_ms: i64, to_ms: i64) -> BTreeMap<i64, [u64; 5]> {
    let text = pipeline.query(&format!(
        "SELECT toUInt32(window_start) * 1000, \
             sumIf(count, kind = 'count'), \
             sumIf(count, kind = 'count' AND event_type IN {CLICK_TYPES_SQL}), \
             sumIf(count, kind = 'rejected' AND reason NOT IN ('late', 'duplicate')), \
             sumIf(count, kind = 'rejected' AND reason = 'late'), \
             sumIf(count, kind = 'rejected' AND reason = 'duplicate') \
         FROM {{db}}.page_counts \
         WHERE kind IN ('count', 'rejected') AND window_start >= toDateTime({}) AND window_start < toDateTime({}) \
         GROUP BY window_start FORMAT TabSeparated",
        seconds(from_ms),
        seconds(to_ms)
    ));
    text.lines()
        .map(|line| {
            let numbers: Vec<u64> = line.split('\t').map(|field| field.parse().unwrap()).collect();
            (numbers[0] as i64, [numbers[1], numbers[2], numbers[3], numbers[4], numbers[5]])
        })
        .collect()
}

/// Queries ClickHouse's minimum over partitions of the newest checkpoint's watermark.
fn stored_final_before(pipeline: &TestPipeline) -> Option<i64> {
    let text = pipeline.query("SELECT min(watermark_ms) FROM {db}.partition_checkpoints HAVING count() > 0 FORMAT TabSeparated");
    text.lines().next().map(|line| line.parse().unwrap())
}

/// Checks `value` against `schema` from the OpenAPI `document` and returns every mismatch.
fn schema_errors(document: &Value, schema: &Value, value: &Value, path: &str) -> Vec<String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let target = reference.trim_start_matches("#/").split('/').fold(document, |node, key| &node[key]);
        assert!(!target.is_null(), "unresolved reference {reference}");
        return schema_errors(document, target, value, path);
    }
    if value.is_null() {
        return if schema["nullable"] == json!(true) { vec![] } else { vec![format!("{path} is null but not nullable")] };
    }
    let mut errors = Vec::new();
    let kind = schema["type"].as_str().unwrap_or("");
    let type_ok = match kind {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        _ => true,
    };
    if !type_ok {
        return vec![format!("{path} should be {kind}: {value}")];
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            errors.push(format!("{path} = {value} is not one of {allowed:?}"));
        }
    }
    if let (Some(object), Some(properties)) = (value.as_object(), schema["properties"].as_object()) {
        for required in schema["required"].as_array().into_iter().flatten() {
            if !object.contains_key(required.as_str().unwrap()) {
                errors.push(format!("{path} lacks required property {required}"));
            }
        }
        for (name, item) in object {
            match properties.get(name) {
                Some(property) => errors.extend(schema_errors(document, property, item, &format!("{path}.{name}"))),
                None if schema["additionalProperties"] == json!(false) => errors.push(format!("{path}.{name} is not in the schema")),
                None => {}
            }
        }
    }
    if let Some(items) = value.as_array() {
        for (index, item) in items.iter().enumerate() {
            errors.extend(schema_errors(document, &schema["items"], item, &format!("{path}[{index}]")));
        }
    }
    errors
}

/// Asserts that `body`, returned by GET `endpoint` with status `status`, matches the document.
fn assert_matches_document(document: &Value, endpoint: &str, status: &str, body: &Value) {
    let schema = &document["paths"][endpoint]["get"]["responses"][status]["content"]["application/json"]["schema"];
    assert!(!schema.is_null(), "openapi.json has no {status} schema for {endpoint}");
    let errors = schema_errors(document, schema, body, endpoint);
    assert!(errors.is_empty(), "{endpoint} response does not match openapi.json:\n{}", errors.join("\n"));
}

#[test]
fn api_matches_pipeline_counts() {
    let pipeline = TestPipeline::new("dash_api", 2);
    let oracle = pipeline.generate(&[
        "--count", "1500", "--max-speed", "--seed", "11", "--malformed", "0.03", "--late", "0.02", "--duplicates", "0.02",
    ]);
    pipeline.process_until_idle("a", "5s");
    assert_counts_equal(&oracle.counts, &pipeline.stored_counts());
    let server = Server::start(&pipeline);
    let document = server.ok("/api/v1/openapi.json");

    // Top pages over 24 h hold every page, since the generator dated all events in the last minutes.
    let top = server.ok("/api/v1/top-pages?range=24h&limit=500");
    assert_matches_document(&document, "/api/v1/top-pages", "200", &top);
    let (from_ms, to_ms) = (field(&top, "from_ms"), field(&top, "to_ms"));
    assert_eq!(to_ms - from_ms, 24 * 3_600_000);
    let stored = stored_clicks_per_page(&pipeline, from_ms, to_ms, "");
    let from_api: BTreeMap<String, u64> =
        top["pages"].as_array().unwrap().iter().map(|page| (page["page"].as_str().unwrap().to_string(), count(page, "clicks"))).collect();
    assert!(stored.len() > 5, "expected more than 5 pages, ClickHouse has {}", stored.len());
    assert!(stored.len() <= 500, "expected at most 500 pages (the largest limit), ClickHouse has {}", stored.len());
    assert_eq!(from_api, stored, "top-pages clicks differ from ClickHouse");
    let oracle_clicks: u64 = oracle.counts.iter().filter(|((_, _, kind), _)| kind == "page_view" || kind == "click").map(|(_, n)| n).sum();
    assert_eq!(from_api.values().sum::<u64>(), oracle_clicks, "top-pages clicks differ from the generator's oracle");
    let clicks: Vec<u64> = top["pages"].as_array().unwrap().iter().map(|page| count(page, "clicks")).collect();
    assert!(clicks.windows(2).all(|pair| pair[0] >= pair[1]), "top pages not sorted by clicks: {clicks:?}");
    let previous = stored_clicks_per_page(&pipeline, field(&top, "previous_from_ms"), from_ms, "");
    for page in top["pages"].as_array().unwrap() {
        let name = page["page"].as_str().unwrap();
        assert_eq!(count(page, "previous_clicks"), previous.get(name).copied().unwrap_or(0), "previous clicks of {name}");
        assert_eq!(field(page, "change"), count(page, "clicks") as i64 - count(page, "previous_clicks") as i64, "change of {name}");
    }

    // The limit keeps the first pages; the filter ignores ASCII case.
    let limited = server.ok("/api/v1/top-pages?range=24h&limit=3");
    assert_eq!(limited["pages"].as_array().unwrap().as_slice(), &top["pages"].as_array().unwrap()[..3]);
    let filtered = server.ok("/api/v1/top-pages?range=24h&limit=500&page=PRODUTO");
    let filtered_pages: BTreeMap<String, u64> =
        filtered["pages"].as_array().unwrap().iter().map(|page| (page["page"].as_str().unwrap().to_string(), count(page, "clicks"))).collect();
    let expected: BTreeMap<String, u64> = stored.iter().filter(|(page, _)| page.to_lowercase().contains("produto")).map(|(p, n)| (p.clone(), *n)).collect();
    assert!(!expected.is_empty(), "no generated page contains \"produto\"; pick another filter");
    assert_eq!(filtered_pages, expected, "filtered top pages");
    assert_eq!(filtered["page_filter"], json!("PRODUTO"));

    // Series: every window of the range, with ClickHouse's events and the chosen pages' clicks.
    let chosen: Vec<&String> = stored.keys().take(2).collect();
    let series_path = format!("/api/v1/series?range=24h&page={}&page={}", percent_encode(chosen[0]), percent_encode(chosen[1]));
    let series = server.ok(&series_path);
    assert_matches_document(&document, "/api/v1/series", "200", &series);
    let starts = series["window_starts_ms"].as_array().unwrap();
    assert_eq!(starts.len(), 1440, "a 24 h series of 1-minute windows");
    let windows = stored_windows(&pipeline, field(&series, "from_ms"), field(&series, "to_ms"));
    for (index, start) in starts.iter().enumerate() {
        let start = start.as_i64().unwrap();
        let expected = windows.get(&start).copied().unwrap_or_default();
        assert_eq!(series["events"][index].as_u64(), Some(expected[0]), "series events of window {start}");
        assert_eq!(series["clicks"][index].as_u64(), Some(expected[1]), "series clicks of window {start}");
    }
    for (position, page) in chosen.iter().enumerate() {
        let entry = &series["pages"][position];
        assert_eq!(entry["page"].as_str(), Some(page.as_str()));
        let per_window: u64 = entry["clicks"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).sum();
        assert_eq!(per_window, stored[*page], "series clicks of {page}");
        assert_eq!(count(entry, "total_clicks"), stored[*page]);
    }

    // Windows: totals per window; every window is final after the end-of-input markers.
    let answer = server.ok("/api/v1/windows?range=24h");
    assert_matches_document(&document, "/api/v1/windows", "200", &answer);
    let stored = stored_windows(&pipeline, field(&answer, "from_ms"), field(&answer, "to_ms"));
    let from_api: BTreeMap<i64, [u64; 5]> = answer["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (field(w, "window_start_ms"), [count(w, "events"), count(w, "clicks"), count(w, "invalid"), count(w, "late"), count(w, "duplicate")]))
        .collect();
    assert_eq!(from_api, stored, "window totals differ from ClickHouse");
    assert!(answer["windows"].as_array().unwrap().iter().all(|w| w["is_final"] == json!(true)), "a window is still partial: {answer}");
    let totals = &answer["totals"];
    let rejected_total = count(totals, "invalid") + count(totals, "late") + count(totals, "duplicate");
    assert_eq!(rejected_total as usize, oracle.rejections.len(), "rejections differ from the oracle");
    assert!(count(totals, "late") > 0, "expected late events: {totals}");
    assert!(count(totals, "invalid") > 0, "expected invalid events: {totals}");
    let received = count(totals, "received") as f64;
    assert_eq!(totals["invalid_share"].as_f64(), Some(count(totals, "invalid") as f64 / received));
    assert_eq!(totals["late_share"].as_f64(), Some(count(totals, "late") as f64 / received));

    // Status: final_before is ClickHouse's minimum newest watermark.
    let status = server.ok("/api/v1/status");
    assert_matches_document(&document, "/api/v1/status", "200", &status);
    assert_eq!(status["final_before_ms"].as_i64(), stored_final_before(&pipeline));
    assert_eq!(answer["final_before_ms"], status["final_before_ms"]);
    assert_eq!(status["store"], json!("clickhouse"));
    assert_eq!(status["window_ms"], json!(60_000));
    assert_eq!(status["click_event_types"], json!(["page_view", "click"]));

    assert!(server.stop().success(), "pulso serve did not exit 0 after SIGTERM");
}



/// Sleeps until at least 15 s remain in the current minute, so that a test that places rows
/// relative to the current window finishes before the window changes.
fn wait_for_fresh_minute() -> i64 {
    loop {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
        if now_ms % 60_000 < 45_000 {
            return now_ms;
        }
        std::thread::sleep(Duration::from_millis((60_000 - now_ms % 60_000 + 500) as u64));
    }
}

fn insert_rows(pipeline: &TestPipeline, rows: &[Value]) {
    let body: Vec<String> = rows.iter().map(Value::to_string).collect();
    let url = format!("{}/?query={}", clickhouse_url(), percent_encode(&format!("INSERT INTO {}.page_counts FORMAT JSONEachRow", pipeline.database)));
    if let Err(error) = ureq::post(&url).send_string(&body.join("\n")) {
        panic!("insert into {} failed: {error}", pipeline.database);
    }
}

#[test]
fn api_values_from_inserted_rows() {
    let pipeline = TestPipeline::new("dash_rows", 1);
    let now_ms = wait_for_fresh_minute();
    let w0 = now_ms / 60_000 * 60; // current window start, seconds
    let minute = |offset: i64| w0 + offset * 60;
    let tenis = "https://loja.exemplo.com.br/produto/T%C3%AAnis-Corrida";
    let row = |window: i64, page: &str, event_type: &str, n: u64| {
        json!({"kind": "count", "window_start": window, "window_seconds": 60, "page": page, "event_type": event_type, "count": n, "committed_at": w0})
    };
    let rejected = |window: i64, reason: &str, n: u64| {
        json!({"kind": "rejected", "window_start": window, "window_seconds": 60, "reason": reason, "count": n, "committed_at": w0})
    };
    let checkpoint = |partition: i32, sequence: u64, watermark_ms: i64| {
        json!({"kind": "checkpoint", "window_start": 0, "window_seconds": 60, "topic": "t", "source_partition": partition,
               "checkpoint_sequence": sequence, "watermark_ms": watermark_ms, "count": 1, "committed_at": w0})
    };
    insert_rows(
        &pipeline,
        &[
            row(minute(-2), tenis, "page_view", 10),
            row(minute(-2), tenis, "click", 3),
            row(minute(-2), tenis, "purchase", 3),
            row(minute(-5), tenis, "click", 7),
            row(minute(-5), "/busca?q=tenis", "page_view", 4),
            row(minute(-5), "/carrinho", "click", 2),
            row(minute(-20), tenis, "page_view", 6),
            row(minute(-20), "/carrinho", "click", 8),
            row(minute(0), "/carrinho", "click", 1),
            row(minute(-90), "/busca?q=tenis", "click", 50),
            rejected(minute(-2), "malformed_json", 3),
            rejected(minute(-2), "late", 2),
            rejected(minute(-2), "duplicate", 1),
            rejected(minute(-5), "invalid_timestamp", 4),
            checkpoint(0, 1, minute(-3) * 1000 + 30_000),
            // Partition 1's newest checkpoint (sequence 2) counts, not its higher older watermark.
            checkpoint(1, 1, minute(0) * 1000),
            checkpoint(1, 2, minute(-1) * 1000),
        ],
    );
    // Counts are deltas: a second insert adds 2 clicks to the same key, for 5 in all.
    insert_rows(&pipeline, &[row(minute(-2), tenis, "click", 2)]);
    let server = Server::start(&pipeline);
    let final_before_ms = minute(-3) * 1000 + 30_000;

    let top = server.ok("/api/v1/top-pages?range=15m");
    assert_eq!(field(&top, "to_ms"), minute(1) * 1000);
    assert_eq!(field(&top, "from_ms"), minute(-14) * 1000);
    assert_eq!(field(&top, "current_window_start_ms"), minute(0) * 1000);
    let expected = json!([
        {"page": tenis, "clicks": 22, "previous_clicks": 6, "change": 16, "change_ratio": 16.0 / 6.0, "current_window_clicks": 0},
        {"page": "/busca?q=tenis", "clicks": 4, "previous_clicks": 0, "change": 4, "change_ratio": null, "current_window_clicks": 0},
        {"page": "/carrinho", "clicks": 3, "previous_clicks": 8, "change": -5, "change_ratio": -0.625, "current_window_clicks": 1},
    ]);
    assert_eq!(top["pages"], expected);

    let hour = server.ok("/api/v1/top-pages?range=1h&page=busca");
    assert_eq!(hour["pages"], json!([{"page": "/busca?q=tenis", "clicks": 4, "previous_clicks": 50, "change": -46, "change_ratio": -0.92, "current_window_clicks": 0}]));

    // A non-ASCII filter is compared in the stored, percent-encoded spelling, ignoring ASCII case.
    let accented = server.ok(&format!("/api/v1/top-pages?range=15m&page={}", percent_encode("tênis-CORRIDA")));
    assert_eq!(accented["page_filter"], json!("t%C3%AAnis-CORRIDA"));
    assert_eq!(accented["pages"].as_array().unwrap().len(), 1, "{accented}");
    assert_eq!(accented["pages"][0]["page"], json!(tenis));
    let nothing = server.ok("/api/v1/top-pages?range=15m&page=nada-aqui");
    assert_eq!(nothing["pages"], json!([]));

    let windows = server.ok("/api/v1/windows?range=15m");
    assert_eq!(windows["final_before_ms"], json!(final_before_ms));
    assert_eq!(
        windows["windows"],
        json!([
            {"window_start_ms": minute(-5) * 1000, "window_end_ms": minute(-4) * 1000, "events": 13, "clicks": 13, "invalid": 4, "late": 0, "duplicate": 0, "is_final": true},
            {"window_start_ms": minute(-2) * 1000, "window_end_ms": minute(-1) * 1000, "events": 18, "clicks": 15, "invalid": 3, "late": 2, "duplicate": 1, "is_final": false},
            {"window_start_ms": minute(0) * 1000, "window_end_ms": minute(1) * 1000, "events": 1, "clicks": 1, "invalid": 0, "late": 0, "duplicate": 0, "is_final": false},
        ])
    );
    assert_eq!(
        windows["totals"],
        json!({"events": 32, "clicks": 29, "invalid": 7, "late": 2, "duplicate": 1, "received": 42,
               "invalid_share": 7.0 / 42.0, "late_share": 2.0 / 42.0, "duplicate_share": 1.0 / 42.0})
    );
    let day = server.ok("/api/v1/windows?range=24h");
    let day_windows = day["windows"].as_array().unwrap();
    assert_eq!(day_windows.len(), 5, "{day}");
    assert_eq!(day_windows[0]["window_start_ms"], json!(minute(-90) * 1000));
    assert_eq!(day_windows[0]["is_final"], json!(true));
    assert_eq!(day_windows[1]["events"], json!(14));

    let series = server.ok(&format!("/api/v1/series?range=15m&page={}&page=%2Fcarrinho", percent_encode(tenis)));
    let zeros_except = |values: &[(usize, u64)]| {
        let mut all = vec![0u64; 15];
        for (index, value) in values {
            all[*index] = *value;
        }
        json!(all)
    };
    assert_eq!(series["window_starts_ms"][0], json!(minute(-14) * 1000));
    assert_eq!(series["window_starts_ms"][14], json!(minute(0) * 1000));
    assert_eq!(series["events"], zeros_except(&[(9, 13), (12, 18), (14, 1)]));
    assert_eq!(series["clicks"], zeros_except(&[(9, 13), (12, 15), (14, 1)]));
    assert_eq!(series["pages"][0]["clicks"], zeros_except(&[(9, 7), (12, 15)]));
    assert_eq!(series["pages"][0]["total_clicks"], json!(22));
    assert_eq!(series["pages"][1]["page"], json!("/carrinho"));
    assert_eq!(series["pages"][1]["clicks"], zeros_except(&[(9, 2), (14, 1)]));
    let no_pages = server.ok("/api/v1/series?range=15m");
    assert_eq!(no_pages["pages"], json!([]));

    let status = server.ok("/api/v1/status");
    assert_eq!(status["final_before_ms"], json!(final_before_ms));
    assert_eq!(status["current_window_start_ms"], json!(minute(0) * 1000));
    assert_eq!(status["ranges"], json!(["15m", "1h", "24h"]));
}

#[test]
fn bad_parameters_rejected_with_400() {
    let pipeline = TestPipeline::new("dash_params", 1);
    let server = Server::start(&pipeline);
    let long_page = "a".repeat(2049);
    let eleven_pages: String = (0..11).map(|i| format!("page=%2F{i}")).collect::<Vec<_>>().join("&");
    let cases: Vec<(String, &str)> = vec![
        ("/api/v1/top-pages?range=2h".into(), "range"),
        ("/api/v1/top-pages?range=".into(), "range"),
        ("/api/v1/top-pages?range=1h&range=24h".into(), "range"),
        ("/api/v1/top-pages?limit=0".into(), "limit"),
        ("/api/v1/top-pages?limit=501".into(), "limit"),
        ("/api/v1/top-pages?limit=ten".into(), "limit"),
        (format!("/api/v1/top-pages?page={long_page}"), "page"),
        ("/api/v1/top-pages?sort=clicks".into(), "sort"),
        ("/api/v1/series?range=7d".into(), "range"),
        ("/api/v1/series?page=".into(), "page"),
        (format!("/api/v1/series?{eleven_pages}"), "page"),
        ("/api/v1/series?limit=5".into(), "limit"),
        ("/api/v1/windows?range=1d".into(), "range"),
        ("/api/v1/windows?page=%2F".into(), "page"),
        ("/api/v1/status?verbose=1".into(), "verbose"),
    ];
    for (path, parameter) in &cases {
        let (status, body) = server.get(path);
        assert_eq!(status, 400, "GET {path} returned {status}: {body}");
        assert_eq!(body["parameter"].as_str(), Some(*parameter), "GET {path}: {body}");
        let message = body["error"].as_str().unwrap_or_else(|| panic!("GET {path}: no error message in {body}"));
        assert!(message.contains(parameter), "GET {path}: message does not name {parameter}: {message}");
    }

    let (_, body) = server.get("/api/v1/windows?range=2h");
    assert_eq!(body["allowed"], json!(["15m", "1h", "24h"]));
    assert!(body["error"].as_str().unwrap().contains("15m, 1h, 24h"), "{body}");
    let (_, body) = server.get("/api/v1/top-pages?limit=0");
    assert!(body["error"].as_str().unwrap().contains("from 1 to 500"), "{body}");

    let (status, body) = server.get("/api/v1/no-such-endpoint");
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("openapi.json"), "{body}");
}

#[test]
fn missing_schema_returns_503() {
    let database = format!("test_dash_missing_{}", std::process::id());
    let server = Server::start_without_schema(&database);
    for path in ["/api/v1/top-pages", "/api/v1/series", "/api/v1/windows", "/api/v1/status"] {
        let (status, body) = server.get(path);
        assert_eq!(status, 503, "GET {path} returned {status}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains("pulso migrate --database"), "GET {path}: message does not say how to fix it: {message}");
    }
    let (status, body) = server.get("/readyz");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["ready"], json!(false));
    let (status, _, _) = server.get_text("/healthz");
    assert_eq!(status, 200, "/healthz is up while the store is not");
}

#[test]
fn openapi_lists_every_route() {
    let pipeline = TestPipeline::new("dash_openapi", 1);
    let server = Server::start(&pipeline);
    let document = server.ok("/api/v1/openapi.json");
    assert_eq!(document["openapi"].as_str().map(|v| v.starts_with("3.0")), Some(true), "{document}");
    let documented: Vec<&str> = document["paths"].as_object().unwrap().keys().map(String::as_str).collect();
    for path in API_PATHS {
        assert!(documented.contains(&path), "openapi.json does not list {path}; it lists {documented:?}");
    }
    // Every documented path responds with a 200 and a body that matches its own schema.
    for path in &documented {
        let body = server.ok(path);
        if *path != "/api/v1/openapi.json" {
            assert_matches_document(&document, path, "200", &body);
        }
    }
    let (_, error) = server.get("/api/v1/top-pages?range=2h");
    assert_matches_document(&document, "/api/v1/top-pages", "400", &error);
    for (name, parameter) in [("/api/v1/top-pages", "limit"), ("/api/v1/top-pages", "page"), ("/api/v1/series", "page")] {
        let parameters = document["paths"][name]["get"]["parameters"].as_array().unwrap();
        assert!(parameters.iter().any(|p| p["name"] == json!(parameter)), "{name} does not document parameter {parameter}");
    }

    let (status, content_type, page) = server.get_text("/");
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(page.contains("Páginas mais clicadas"), "the page's default text is not Portuguese");
    for asset in ["/assets/app.js", "/assets/app.css", "/assets/vendor/uplot/uPlot.iife.min.js", "/assets/vendor/uplot/uPlot.min.css", "/assets/favicon.svg"] {
        let (status, _, body) = server.get_text(asset);
        assert_eq!(status, 200, "GET {asset}");
        assert!(!body.is_empty(), "{asset} is empty");
    }

    let (status, _, metrics) = server.get_text("/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("pulso_dashboard_requests_total{route=\"/api/v1/openapi.json\",status=\"200\"}"), "{metrics}");
    let (status, ready) = server.get("/readyz");
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["ready"], json!(true));
    assert!(server.stop().success(), "pulso serve did not exit 0 after SIGTERM");
}
