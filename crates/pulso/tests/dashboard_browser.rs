//! The dashboard page in headless Chromium against a running pipeline: a generator keeps
//! producing, a processor counts, `pulso serve` serves the page, and Chromium's `--dump-dom`
//! output is read through the page's data-* attributes. The counts shown grow while traffic
//! flows, never exceed what ClickHouse stores, and equal it once traffic stops. The page is in
//! Brazilian Portuguese by default and in English on request, with numbers and dates in each
//! locale. Screenshots go to target/screenshots/.
//!
//! Needs Debian's `chromium` package at /usr/bin/chromium (or the path in PULSO_TEST_CHROMIUM).
//! The flags below keep Chromium from contacting any host but the test server on 127.0.0.1.

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::*;

const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--run-all-compositor-stages-before-draw",
    "--hide-scrollbars",
    // Virtual time: the page's 2 s polling runs twice or more before the DOM is read.
    "--virtual-time-budget=6000",
];

/// A headless Chromium that starts each run with a fresh profile.
struct Browser {
    binary: PathBuf,
    profiles: PathBuf,
}

impl Browser {
    /// Finds Chromium, or fails the test with how to install it. Call it before starting anything.
    fn new() -> Browser {
        let binary = PathBuf::from(std::env::var("PULSO_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
        assert!(
            binary.exists(),
            "Chromium not found at {}; install Debian's chromium package (apt-get install chromium), which CI installs, \
             or set PULSO_TEST_CHROMIUM to its path",
            binary.display()
        );
        let profiles = std::env::temp_dir().join("pulso-tests").join(format!("chromium-{}", std::process::id()));
        Browser { binary, profiles }
    }

    /// Loads `url` and returns the DOM after the page's scripts ran.
    fn dump_dom(&self, url: &str, accept_language: &str) -> String {
        let output = self.run(&["--dump-dom", &format!("--accept-lang={accept_language}"), "--window-size=1280,900", url]);
        String::from_utf8(output.stdout).expect("DOM is UTF-8")
    }

    /// Saves a screenshot of `url` at `width`x`height` to `path`.
    fn screenshot(&self, url: &str, accept_language: &str, (width, height): (u32, u32), path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let _ = std::fs::remove_file(path);
        self.run(&[
            &format!("--screenshot={}", path.display()),
            &format!("--window-size={width},{height}"),
            &format!("--accept-lang={accept_language}"),
            url,
        ]);
        let bytes = std::fs::read(path).unwrap_or_else(|error| panic!("no screenshot at {}: {error}", path.display()));
        assert!(bytes.starts_with(b"\x89PNG"), "{} is not a PNG", path.display());
    }

    fn run(&self, args: &[&str]) -> Output {
        static RUNS: AtomicU32 = AtomicU32::new(0);
        let profile = self.profiles.join(format!("chromium-profile-{}", RUNS.fetch_add(1, Ordering::Relaxed)));
        let _ = std::fs::remove_dir_all(&profile);
        let child = Command::new(&self.binary)
            .args(CHROMIUM_FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("failed to start {}: {error}", self.binary.display()));
        let output = wait_for_output(child, Duration::from_secs(120));
        assert!(output.status.success(), "chromium {args:?} exited with {}:\n{}", output.status, String::from_utf8_lossy(&output.stderr));
        let _ = std::fs::remove_dir_all(&profile);
        output
    }
}

/// Waits for a child with piped output, killing it after `timeout`.
fn wait_for_output(mut child: Child, timeout: Duration) -> Output {
    let deadline = Instant::now() + timeout;
    // Read the pipes on threads so that a large DOM cannot fill a pipe and stall the child.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut buffer = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut buffer).map(|_| buffer)
    });
    let err = std::thread::spawn(move || {
        let mut buffer = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut buffer).map(|_| buffer)
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output { status, stdout: out.join().unwrap().unwrap(), stderr: err.join().unwrap().unwrap() }
}

/// A `pulso serve` child process, stopped with SIGTERM when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts `pulso serve` for `pipeline`'s database, or for `database` instead when given.
    fn start(pipeline: &TestPipeline, database: Option<&str>) -> Server {
        let address = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
        let log_path = pipeline.dir.join(format!("serve-{}.log", database.unwrap_or("main")));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut command = match database {
            None => pipeline.pulso(&["serve", "--listen", &address]),
            Some(database) => {
                let mut command = Command::new(env!("CARGO_BIN_EXE_pulso"));
                command.args(["serve", "--listen", &address, "--clickhouse-url", &clickhouse_url(), "--database", database]);
                command
            }
        };
        let child = command.stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log).spawn().expect("failed to start pulso serve");
        let server = Server { child, base: format!("http://{address}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        while ureq::get(&format!("{}/healthz", server.base)).call().is_err() {
            assert!(Instant::now() < deadline, "pulso serve did not answer within 30 s; log in {}", log_path.display());
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn json(&self, path: &str) -> serde_json::Value {
        let body = ureq::get(&format!("{}{path}", self.base)).call().unwrap().into_string().unwrap();
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            terminate(&mut self.child);
        }
    }
}

/// One HTML element from a DOM dump: its attributes and the markup inside it.
struct Element {
    attributes: BTreeMap<String, String>,
    inner: String,
}

impl Element {
    fn attribute(&self, name: &str) -> &str {
        self.attributes.get(name).unwrap_or_else(|| panic!("element has no {name}: {:?}", self.attributes))
    }

    fn number(&self, name: &str) -> i64 {
        self.attribute(name).parse().unwrap_or_else(|_| panic!("{name}={:?} is not a number", self.attribute(name)))
    }

    /// Returns the text of the first `tag` inside this element whose class list contains `class`.
    fn text_of(&self, tag: &str, class: &str) -> String {
        let element = elements(&self.inner, tag)
            .into_iter()
            .find(|e| e.attributes.get("class").is_some_and(|c| c.split(' ').any(|part| part == class)))
            .unwrap_or_else(|| panic!("no <{tag} class={class}> in {}", self.inner));
        text(&element.inner)
    }
}

/// Finds every `<tag ...>...</tag>` in `html`. That is enough for the dashboard's markup, because
/// the tags read this way (tr, td, main, table, div.kpi) do not nest in themselves.
fn elements(html: &str, tag: &str) -> Vec<Element> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        if !after.starts_with([' ', '>']) {
            rest = after;
            continue;
        }
        let end = after.find('>').unwrap();
        let attributes = parse_attributes(&after[..end]);
        let body = &after[end + 1..];
        let inner_end = body.find(&close).unwrap_or(body.len());
        found.push(Element { attributes, inner: body[..inner_end].to_string() });
        rest = &body[inner_end..];
    }
    found
}

fn parse_attributes(text: &str) -> BTreeMap<String, String> {
    let mut attributes = BTreeMap::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let name_end = rest.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(rest.len());
        let name = rest[..name_end].to_string();
        rest = &rest[name_end..];
        if let Some(value_start) = rest.strip_prefix("=\"") {
            let value_end = value_start.find('"').unwrap();
            attributes.insert(name, unescape(&value_start[..value_end]));
            rest = value_start[value_end + 1..].trim_start();
        } else {
            attributes.insert(name, String::new());
            rest = rest.trim_start();
        }
    }
    attributes
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&nbsp;", "\u{a0}").replace("&amp;", "&")
}

/// Returns the text of some markup, with tags removed and entities decoded.
fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape(&out)
}

/// What the dashboard showed in one DOM dump.
struct View {
    dom: String,
    lang: String,
    state: String,
    html_lang: String,
    from_ms: i64,
    to_ms: i64,
    previous_from_ms: i64,
    rows: Vec<Element>,
    windows_from_ms: i64,
    windows_to_ms: i64,
    windows: Vec<Element>,
    kpis: BTreeMap<String, Element>,
}

impl View {
    fn parse(dom: String) -> View {
        let main = elements(&dom, "main").into_iter().next().expect("no <main> in the DOM");
        let html_lang = elements(&dom, "html").first().map(|html| html.attribute("lang").to_string()).unwrap_or_default();
        let tables = elements(&dom, "table");
        let table = |id: &str| tables.iter().find(|t| t.attributes.get("id").map(String::as_str) == Some(id)).unwrap_or_else(|| panic!("no table #{id}"));
        let (top, windows) = (table("top-pages"), table("windows"));
        assert_eq!(top.attribute("data-state"), "ready", "top-pages table is not ready; main: {:?}", main.attributes);
        let rows: Vec<Element> = elements(&top.inner, "tr").into_iter().filter(|row| row.attributes.contains_key("data-page")).collect();
        let window_rows: Vec<Element> = elements(&windows.inner, "tr").into_iter().filter(|row| row.attributes.contains_key("data-window-start-ms")).collect();
        let kpis = elements(&dom, "div")
            .into_iter()
            .filter(|div| div.attributes.get("class").map(String::as_str) == Some("kpi"))
            .map(|div| (div.attribute("id").to_string(), div))
            .collect();
        let range_ms = top.number("data-to-ms") - top.number("data-from-ms");
        View {
            lang: main.attribute("data-lang").to_string(),
            state: main.attribute("data-state").to_string(),
            html_lang,
            from_ms: top.number("data-from-ms"),
            to_ms: top.number("data-to-ms"),
            previous_from_ms: top.number("data-from-ms") - range_ms,
            rows,
            windows_from_ms: windows.number("data-from-ms"),
            windows_to_ms: windows.number("data-to-ms"),
            windows: window_rows,
            kpis,
            dom,
        }
    }

    fn clicks(&self) -> BTreeMap<String, u64> {
        self.rows.iter().map(|row| (row.attribute("data-page").to_string(), row.number("data-clicks") as u64)).collect()
    }

    fn kpi(&self, id: &str) -> &Element {
        self.kpis.get(id).unwrap_or_else(|| panic!("no KPI #{id}"))
    }
}

/// Queries ClickHouse's clicks per page for window starts in `[from_ms, to_ms)`.
fn stored_clicks(pipeline: &TestPipeline, from_ms: i64, to_ms: i64) -> BTreeMap<String, u64> {
    pipeline
        .query(&format!(
            "SELECT page, sum(count) FROM {{db}}.page_counts WHERE kind = 'count' AND event_type IN ('page_view', 'click') \
             AND window_start >= toDateTime({}) AND window_start < toDateTime({}) GROUP BY page FORMAT TabSeparated",
            from_ms / 1000,
            to_ms / 1000
        ))
        .lines()
        .map(|line| {
            let (page, total) = line.rsplit_once('\t').unwrap();
            (page.to_string(), total.parse().unwrap())
        })
        .collect()
}

/// Queries ClickHouse's per-window (events, invalid, late) for window starts in `[from_ms, to_ms)`.
fn stored_windows(pipeline: &TestPipeline, from_ms: i64, to_ms: i64) -> BTreeMap<i64, [u64; 3]> {
    pipeline
        .query(&format!(
            "SELECT toUInt32(window_start) * 1000, sumIf(count, kind = 'count'), \
                 sumIf(count, kind = 'rejected' AND reason NOT IN ('late', 'duplicate')), sumIf(count, kind = 'rejected' AND reason = 'late') \
             FROM {{db}}.page_counts WHERE kind IN ('count', 'rejected') \
             AND window_start >= toDateTime({}) AND window_start < toDateTime({}) GROUP BY window_start FORMAT TabSeparated",
            from_ms / 1000,
            to_ms / 1000
        ))
        .lines()
        .map(|line| {
            let numbers: Vec<u64> = line.split('\t').map(|n| n.parse().unwrap()).collect();
            (numbers[0] as i64, [numbers[1], numbers[2], numbers[3]])
        })
        .collect()
}

/// `n` with a thousands separator, as Intl.NumberFormat writes integers in pt-BR (`.`) and en (`,`).
fn grouped(n: u64, separator: char) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(separator);
        }
        out.push(digit);
    }
    out
}

/// Checks whether `text` reads as dd/mm/yyyy HH:mm, allowing the comma after the year that some
/// ICU versions write.
fn is_brazilian_date_time(text: &str) -> bool {
    let shape: String = text.chars().map(|c| if c.is_ascii_digit() { '9' } else { c }).collect();
    shape == "99/99/9999 99:99" || shape == "99/99/9999, 99:99"
}

/// Waits until ClickHouse's counts stop changing for three seconds in a row.
fn wait_until_counts_settle(pipeline: &TestPipeline) {
    let totals = || pipeline.query("SELECT kind, sum(count) FROM {db}.page_counts WHERE kind != 'checkpoint' GROUP BY kind ORDER BY kind");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut previous = totals();
    let mut unchanged_since = Instant::now();
    while unchanged_since.elapsed() < Duration::from_secs(3) {
        assert!(Instant::now() < deadline, "counts in ClickHouse still changing after 120 s");
        std::thread::sleep(Duration::from_millis(500));
        let current = totals();
        if current != previous {
            previous = current;
            unchanged_since = Instant::now();
        }
    }
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target"));
    target.join("screenshots")
}

#[test]
fn dashboard_shows_live_counts() {
    let browser = Browser::new();
    let pipeline = TestPipeline::new("dash_browser", 2);
    let mut processor = pipeline.spawn_processor("a", &[]);
    let oracle_path = pipeline.dir.join("oracle.csv");
    let generator_log = std::fs::File::create(pipeline.dir.join("generate.log")).unwrap();
    let mut generator = pipeline
        .pulso(&[
            "generate", "--oracle", oracle_path.to_str().unwrap(), "--rate", "40", "--seed", "17", "--malformed", "0.03", "--late",
            "0.02", "--duplicates", "0.01",
        ])
        .stdout(generator_log.try_clone().unwrap())
        .stderr(generator_log)
        .spawn()
        .expect("failed to start pulso generate");
    let server = Server::start(&pipeline, None);
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.json("/api/v1/top-pages")["pages"].as_array().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no counts reached the API within 60 s; logs in {}", pipeline.dir.display());
        std::thread::sleep(Duration::from_millis(500));
    }
    let url = format!("{}/?range=15m", server.base);

    // While traffic flows: the counts shown grow, and never exceed what ClickHouse stores.
    let first = View::parse(browser.dump_dom(&url, "pt-BR,pt"));
    let stored = stored_clicks(&pipeline, first.from_ms, first.to_ms);
    assert!(!first.rows.is_empty(), "no page rows shown");
    for (page, displayed) in first.clicks() {
        let in_store = stored.get(&page).copied().unwrap_or(0);
        assert!(displayed <= in_store, "page {page} shows {displayed} clicks, more than the {in_store} ClickHouse stores");
    }
    std::thread::sleep(Duration::from_secs(6));
    let second = View::parse(browser.dump_dom(&url, "pt-BR,pt"));
    let first_total: u64 = first.kpi("kpi-clicks").number("data-value") as u64;
    let second_total: u64 = second.kpi("kpi-clicks").number("data-value") as u64;
    assert!(second_total > first_total, "clicks shown did not grow while traffic flowed: {first_total} then {second_total}");
    assert_ne!(first.clicks(), second.clicks(), "the top-pages table did not change while traffic flowed");

    // Screenshots for people to look at, taken while traffic flows. Two pages on the chart show
    // their own series.
    let top_pages: Vec<&str> = second.rows.iter().take(2).map(|row| row.attribute("data-page")).collect();
    let chart_query: String = top_pages.iter().map(|page| format!("&chart={}", percent_encode(page))).collect();
    let shots = screenshot_dir();
    browser.screenshot(&url, "pt-BR,pt", (1280, 900), &shots.join("dashboard-desktop-pt-BR.png"));
    browser.screenshot(&url, "pt-BR,pt", (390, 844), &shots.join("dashboard-phone-pt-BR.png"));
    browser.screenshot(&url, "pt-BR,pt", (390, 2400), &shots.join("dashboard-phone-pt-BR-full.png"));
    browser.screenshot(&format!("{url}&lang=en{chart_query}"), "en-US", (1280, 900), &shots.join("dashboard-desktop-en-chart.png"));
    browser.screenshot(&format!("{url}&lang=en"), "en-US", (390, 844), &shots.join("dashboard-phone-en.png"));

    // Once traffic stops and the processor has stored everything, the page equals ClickHouse.
    let status = terminate(&mut generator);
    assert!(status.success(), "generator exited with {status}");
    wait_until_counts_settle(&pipeline);
    let settled = View::parse(browser.dump_dom(&url, "pt-BR,pt"));
    assert_eq!(settled.state, "ready");
    let stored = stored_clicks(&pipeline, settled.from_ms, settled.to_ms);
    let previous = stored_clicks(&pipeline, settled.previous_from_ms, settled.from_ms);
    let mut expected_order: Vec<u64> = stored.values().copied().collect();
    expected_order.sort_unstable_by(|a, b| b.cmp(a));
    expected_order.truncate(20);
    let displayed_order: Vec<u64> = settled.rows.iter().map(|row| row.number("data-clicks") as u64).collect();
    assert_eq!(displayed_order, expected_order, "the clicks of the top 20 pages differ from ClickHouse's");
    for row in &settled.rows {
        let page = row.attribute("data-page");
        assert_eq!(row.number("data-clicks") as u64, stored[page], "clicks of {page}");
        assert_eq!(row.number("data-previous-clicks") as u64, previous.get(page).copied().unwrap_or(0), "previous clicks of {page}");
        assert_eq!(row.text_of("td", "col-clicks"), grouped(stored[page], '.'), "clicks cell of {page}");
    }
    let windows = stored_windows(&pipeline, settled.windows_from_ms, settled.windows_to_ms);
    assert_eq!(settled.windows.len(), windows.len(), "window rows shown");
    let final_before = settled.kpi("kpi-final").number("data-value");
    for row in &settled.windows {
        let start = row.number("data-window-start-ms");
        let [events, invalid, late] = windows[&start];
        assert_eq!(row.number("data-events") as u64, events, "events of window {start}");
        assert_eq!(row.number("data-invalid") as u64, invalid, "invalid events of window {start}");
        assert_eq!(row.number("data-late") as u64, late, "late events of window {start}");
        assert_eq!(row.attribute("data-final") == "true", start + 60_000 <= final_before, "final badge of window {start}");
    }
    let total_events: u64 = windows.values().map(|[events, _, _]| events).sum();
    assert_eq!(settled.kpi("kpi-events").number("data-value") as u64, total_events);

    // Brazilian Portuguese by default, with pt-BR numbers and dates.
    assert_eq!(settled.lang, "pt-BR");
    assert_eq!(settled.html_lang, "pt-BR");
    assert!(settled.dom.contains("Páginas mais clicadas"), "no Portuguese heading in the page");
    assert_eq!(settled.kpi("kpi-events").text_of("strong", "kpi-value"), grouped(total_events, '.'));
    let final_text = settled.kpi("kpi-final").text_of("span", "kpi-note");
    assert!(is_brazilian_date_time(&final_text), "final-before date {final_text:?} is not dd/mm/aaaa HH:mm");
    let invalid_share = settled.kpi("kpi-invalid").text_of("strong", "kpi-value");
    assert!(invalid_share.contains(','), "invalid share {invalid_share:?} has no decimal comma");
    assert!(invalid_share.ends_with('%'), "invalid share {invalid_share:?} has no percent sign");
    let undecided = View::parse(browser.dump_dom(&url, "de-DE,fr"));
    assert_eq!(undecided.lang, "pt-BR", "a browser that prefers neither language gets Portuguese");

    // English with ?lang=en, or when the browser prefers English.
    let english = View::parse(browser.dump_dom(&format!("{url}&lang=en"), "pt-BR,pt"));
    assert_eq!(english.lang, "en");
    assert_eq!(english.html_lang, "en");
    assert!(english.dom.contains("Top pages by clicks"), "no English heading with ?lang=en");
    assert_eq!(english.kpi("kpi-events").text_of("strong", "kpi-value"), grouped(total_events, ','));
    let from_browser = View::parse(browser.dump_dom(&url, "en-US,en"));
    assert_eq!(from_browser.lang, "en", "a browser that prefers English gets English");

    assert!(terminate(&mut processor).success(), "processor did not exit 0 after SIGTERM");
}

#[test]
fn dashboard_empty_and_error_states() {
    let browser = Browser::new();
    let pipeline = TestPipeline::new("dash_states", 1);
    let shots = screenshot_dir();

    // An empty database: the tables show an empty-state message instead of a blank.
    let empty = Server::start(&pipeline, None);
    let dom = browser.dump_dom(&format!("{}/", empty.base), "pt-BR,pt");
    let main = elements(&dom, "main").into_iter().next().unwrap();
    assert_eq!(main.attribute("data-state"), "ready");
    let tables = elements(&dom, "table");
    let top = tables.iter().find(|t| t.attributes.get("id").map(String::as_str) == Some("top-pages")).unwrap();
    assert_eq!(top.attribute("data-state"), "empty");
    assert!(dom.contains("Nenhum clique nos últimos 15 minutos."), "no empty-state message in the page");
    browser.screenshot(&format!("{}/", empty.base), "pt-BR,pt", (1280, 900), &shots.join("dashboard-empty-pt-BR.png"));

    // A store that fails: an error banner with the store's message, in the page's language.
    let database = format!("test_dash_no_schema_{}", std::process::id());
    let failing = Server::start(&pipeline, Some(&database));
    let dom = browser.dump_dom(&format!("{}/?lang=en", failing.base), "pt-BR,pt");
    let main = elements(&dom, "main").into_iter().next().unwrap();
    assert_eq!(main.attribute("data-state"), "error");
    let banner = elements(&dom, "div").into_iter().find(|div| div.attributes.get("id").map(String::as_str) == Some("error")).unwrap();
    assert!(!banner.attributes.contains_key("hidden"), "the error banner is hidden");
    let message = text(&banner.inner);
    assert!(message.starts_with("Could not refresh the data:"), "{message}");
    assert!(message.contains("pulso migrate"), "the banner does not carry the store's message: {message}");
    browser.screenshot(&format!("{}/", failing.base), "pt-BR,pt", (390, 844), &shots.join("dashboard-error-phone-pt-BR.png"));
}


