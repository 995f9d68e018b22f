//! The JSON API under `/api/v1/`.
//!
//! Every time range ends at the end of the window that contains the server's current time, so
//! the newest window is the current, still partial one. Each response repeats the range it
//! covers (`from_ms`, `to_ms`, epoch milliseconds, half-open) so that a client can compare it
//! with the store. Store calls block, so they run on Tokio's blocking thread pool.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Json;
use serde::Serialize;

use super::params::{current_window_start, ApiError, Params};
use super::ServeOptions;
use crate::query::{CountsQuery, PageClicks, PagePoint, TimeRange, WindowTotals};

type QueryPairs = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// State shared by every handler: the store, the options and the OpenAPI document.
pub struct AppState {
    pub query: Arc<dyn CountsQuery>,
    pub options: ServeOptions,
    pub openapi: serde_json::Value,
    store_errors: ErrorLog,
}

impl AppState {
    pub fn new(query: Arc<dyn CountsQuery>, options: ServeOptions) -> AppState {
        let openapi = super::openapi::document(&options);
        AppState { query, options, openapi, store_errors: ErrorLog::default() }
    }
}

/// Lists the API routes as (path, handler). The OpenAPI document must describe each of them, and
/// a unit test in `openapi.rs` checks that.
pub fn routes() -> Vec<(&'static str, MethodRouter<Arc<AppState>>)> {
    vec![
        ("/api/v1/top-pages", get(top_pages)),
        ("/api/v1/series", get(series)),
        ("/api/v1/windows", get(windows)),
        ("/api/v1/status", get(status)),
        ("/api/v1/openapi.json", get(openapi)),
    ]
}

/// `Cache-Control: no-store`, because every API response is live data.
pub fn no_store() -> [(header::HeaderName, &'static str); 1] {
    [(header::CACHE_CONTROL, "no-store")]
}

fn json_response<T: Serialize>(body: T) -> Response {
    (no_store(), Json(body)).into_response()
}

#[derive(Debug, Serialize)]
struct TopPagesResponse {
    range: &'static str,
    from_ms: i64,
    to_ms: i64,
    previous_from_ms: i64,
    window_ms: i64,
    current_window_start_ms: i64,
    page_filter: Option<String>,
    limit: usize,
    pages: Vec<TopPage>,
}

#[derive(Debug, Serialize)]
struct TopPage {
    page: String,
    clicks: u64,
    previous_clicks: u64,
    /// `clicks - previous_clicks`.
    change: i64,
    /// `change / previous_clicks`, or null when the previous range had no clicks.
    change_ratio: Option<f64>,
    current_window_clicks: u64,
}

async fn top_pages(State(state): State<Arc<AppState>>, query: QueryPairs) -> Result<Response, ApiError> {
    let params = Params::parse(query, &["range", "page", "limit"])?;
    let choice = params.range()?;
    let page_filter = params.page_filter()?;
    let limit = params.limit()?;

    let window_ms = state.options.window_ms;
    let range = choice.time_range(now_ms(), window_ms);
    let current_window = TimeRange { from_ms: range.to_ms - window_ms, to_ms: range.to_ms };
    let filter = page_filter.clone();
    // NOTE: the current window's clicks come from a second query, so under live traffic they
    // can include events stored after `clicks` was read.
    let (pages, current_points) = call_store(&state, move |query| {
        let pages = query.top_pages(range, filter.as_deref(), limit)?;
        let names: Vec<String> = pages.iter().map(|page| page.page.clone()).collect();
        let current_points = query.page_series(current_window, &names)?;
        Ok((pages, current_points))
    })
    .await?;

    let pages = pages.into_iter().map(|page| top_page(page, &current_points)).collect();
    Ok(json_response(TopPagesResponse {
        range: choice.as_str(),
        from_ms: range.from_ms,
        to_ms: range.to_ms,
        previous_from_ms: range.previous().from_ms,
        window_ms,
        current_window_start_ms: current_window.from_ms,
        page_filter,
        limit,
        pages,
    }))
}

fn top_page(page: PageClicks, current_points: &[PagePoint]) -> TopPage {
    let current_window_clicks = current_points.iter().filter(|point| point.page == page.page).map(|point| point.clicks).sum();
    let change = page.clicks as i64 - page.previous_clicks as i64;
    let change_ratio = (page.previous_clicks > 0).then(|| change as f64 / page.previous_clicks as f64);
    TopPage { page: page.page, clicks: page.clicks, previous_clicks: page.previous_clicks, change, change_ratio, current_window_clicks }
}

#[derive(Debug, Serialize)]
struct SeriesResponse {
    range: &'static str,
    from_ms: i64,
    to_ms: i64,
    window_ms: i64,
    /// Start of every window in the range, oldest first. The arrays below align with it.
    window_starts_ms: Vec<i64>,
    events: Vec<u64>,
    clicks: Vec<u64>,
    pages: Vec<PageSeries>,
}

#[derive(Debug, Serialize)]
struct PageSeries {
    page: String,
    clicks: Vec<u64>,
    total_clicks: u64,
}

async fn series(State(state): State<Arc<AppState>>, query: QueryPairs) -> Result<Response, ApiError> {
    let params = Params::parse(query, &["range", "page"])?;
    let choice = params.range()?;
    let pages = params.pages()?;

    let window_ms = state.options.window_ms;
    let range = choice.time_range(now_ms(), window_ms);
    let requested = pages.clone();
    let (totals, points) = call_store(&state, move |query| Ok((query.windows(range)?, query.page_series(range, &requested)?))).await?;

    let slots = WindowSlots::new(range, window_ms);
    let mut events = vec![0; slots.len()];
    let mut clicks = vec![0; slots.len()];
    for window in &totals {
        if let Some(slot) = slots.index(window.window_start_ms) {
            events[slot] += window.events;
            clicks[slot] += window.clicks;
        }
    }
    let pages = pages
        .into_iter()
        .map(|page| {
            let mut page_clicks = vec![0; slots.len()];
            for point in points.iter().filter(|point| point.page == page) {
                if let Some(slot) = slots.index(point.window_start_ms) {
                    page_clicks[slot] += point.clicks;
                }
            }
            let total_clicks = page_clicks.iter().sum();
            PageSeries { page, clicks: page_clicks, total_clicks }
        })
        .collect();
    Ok(json_response(SeriesResponse {
        range: choice.as_str(),
        from_ms: range.from_ms,
        to_ms: range.to_ms,
        window_ms,
        window_starts_ms: slots.starts(),
        events,
        clicks,
        pages,
    }))
}

/// The windows of a range as array positions, so that windows without counts become zeros.
struct WindowSlots {
    first_ms: i64,
    window_ms: i64,
    count: usize,
}

impl WindowSlots {
    fn new(range: TimeRange, window_ms: i64) -> WindowSlots {
        let first_ms = current_window_start(range.from_ms + window_ms - 1, window_ms);
        let count = if range.to_ms > first_ms { ((range.to_ms - first_ms + window_ms - 1) / window_ms) as usize } else { 0 };
        WindowSlots { first_ms, window_ms, count }
    }

    fn len(&self) -> usize {
        self.count
    }

    /// Returns the slot of a window start. A start that is not on this window grid (stored under
    /// an earlier window size) goes to the slot that contains it.
    fn index(&self, window_start_ms: i64) -> Option<usize> {
        if window_start_ms < self.first_ms {
            return None;
        }
        let index = ((window_start_ms - self.first_ms) / self.window_ms) as usize;
        (index < self.count).then_some(index)
    }

    fn starts(&self) -> Vec<i64> {
        (0..self.count).map(|index| self.first_ms + index as i64 * self.window_ms).collect()
    }
}

#[derive(Debug, Serialize)]
struct WindowsResponse {
    range: &'static str,
    from_ms: i64,
    to_ms: i64,
    window_ms: i64,
    final_before_ms: Option<i64>,
    totals: RangeTotals,
    windows: Vec<WindowEntry>,
}

#[derive(Debug, Serialize)]
struct WindowEntry {
    window_start_ms: i64,
    window_end_ms: i64,
    events: u64,
    clicks: u64,
    invalid: u64,
    late: u64,
    duplicate: u64,
    is_final: bool,
}

/// Sums over the windows of a range, with each rejection reason's share of all events received
/// (counted plus rejected).
#[derive(Debug, Default, Serialize)]
struct RangeTotals {
    events: u64,
    clicks: u64,
    invalid: u64,
    late: u64,
    duplicate: u64,
    received: u64,
    invalid_share: Option<f64>,
    late_share: Option<f64>,
    duplicate_share: Option<f64>,
}

impl RangeTotals {
    fn sum(windows: &[WindowTotals]) -> RangeTotals {
        let mut totals = RangeTotals::default();
        for window in windows {
            totals.events += window.events;
            totals.clicks += window.clicks;
            totals.invalid += window.invalid;
            totals.late += window.late;
            totals.duplicate += window.duplicate;
        }
        totals.received = totals.events + totals.invalid + totals.late + totals.duplicate;
        let share = |part: u64| (totals.received > 0).then(|| part as f64 / totals.received as f64);
        totals.invalid_share = share(totals.invalid);
        totals.late_share = share(totals.late);
        totals.duplicate_share = share(totals.duplicate);
        totals
    }
}

async fn windows(State(state): State<Arc<AppState>>, query: QueryPairs) -> Result<Response, ApiError> {
    let params = Params::parse(query, &["range"])?;
    let choice = params.range()?;

    let window_ms = state.options.window_ms;
    let range = choice.time_range(now_ms(), window_ms);
    let (final_before_ms, windows) = call_store(&state, move |query| Ok((query.final_before_ms()?, query.windows(range)?))).await?;

    let totals = RangeTotals::sum(&windows);
    let windows = windows
        .into_iter()
        .map(|window| WindowEntry {
            window_start_ms: window.window_start_ms,
            window_end_ms: window.window_start_ms + window_ms,
            events: window.events,
            clicks: window.clicks,
            invalid: window.invalid,
            late: window.late,
            duplicate: window.duplicate,
            is_final: window.is_final,
        })
        .collect();
    Ok(json_response(WindowsResponse {
        range: choice.as_str(),
        from_ms: range.from_ms,
        to_ms: range.to_ms,
        window_ms,
        final_before_ms,
        totals,
        windows,
    }))
}

#[derive(Debug, Serialize)]
struct StatusResponse {
    final_before_ms: Option<i64>,
    server_time_ms: i64,
    server_time: String,
    store: String,
    window_ms: i64,
    current_window_start_ms: i64,
    click_event_types: Vec<String>,
    refresh_interval_ms: u64,
    ranges: Vec<&'static str>,
    version: &'static str,
}

async fn status(State(state): State<Arc<AppState>>, query: QueryPairs) -> Result<Response, ApiError> {
    Params::parse(query, &[])?;
    let final_before_ms = call_store(&state, |query| query.final_before_ms()).await?;
    let now = now_ms();
    let options = &state.options;
    Ok(json_response(StatusResponse {
        final_before_ms,
        server_time_ms: now,
        server_time: chrono::DateTime::from_timestamp_millis(now).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        store: options.store.clone(),
        window_ms: options.window_ms,
        current_window_start_ms: current_window_start(now, options.window_ms),
        click_event_types: options.click_event_types.clone(),
        refresh_interval_ms: options.refresh_interval.as_millis() as u64,
        ranges: super::params::RangeChoice::ALL.iter().map(|choice| choice.as_str()).collect(),
        version: env!("CARGO_PKG_VERSION"),
    }))
}

async fn openapi(State(state): State<Arc<AppState>>, query: QueryPairs) -> Result<Response, ApiError> {
    Params::parse(query, &[])?;
    Ok(json_response(&state.openapi))
}

/// Returns a JSON 404 for any other path under `/api/v1/`.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no API endpoint at {}; see /api/v1/openapi.json for the endpoints", uri.path()))
}

/// Runs `work` against the store on the blocking thread pool and turns its error into a 503.
async fn call_store<T, F>(state: &Arc<AppState>, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn CountsQuery) -> anyhow::Result<T> + Send + 'static,
{
    let query = state.query.clone();
    let error = match tokio::task::spawn_blocking(move || work(query.as_ref())).await {
        Ok(Ok(value)) => return Ok(value),
        Ok(Err(error)) => format!("{error:#}"),
        Err(join_error) => format!("the store query stopped unexpectedly: {join_error}"),
    };
    state.store_errors.record(&error);
    Err(ApiError::unavailable(format!("the count store ({}) is unavailable: {error}", state.options.store)))
}

/// Logs store errors at most once per [`ErrorLog::INTERVAL`], with the number left out since
/// the previous log line, because every open dashboard repeats its failing requests.
#[derive(Default)]
struct ErrorLog {
    state: Mutex<ErrorLogState>,
}

#[derive(Default)]
struct ErrorLogState {
    last_logged: Option<Instant>,
    suppressed: u64,
}

impl ErrorLog {
    const INTERVAL: Duration = Duration::from_secs(10);

    fn record(&self, error: &str) {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let due = state.last_logged.map_or(true, |last| last.elapsed() >= Self::INTERVAL);
        if due {
            tracing::warn!(error, suppressed = state.suppressed, "count store query failed; API requests return 503");
            state.last_logged = Some(Instant::now());
            state.suppressed = 0;
        } else {
            state.suppressed += 1;
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_cover_range_with_zeros() {
        let slots = WindowSlots::new(TimeRange { from_ms: 60_000, to_ms: 240_000 }, 60_000);
        assert_eq!(slots.starts(), [60_000, 120_000, 180_000]);
        assert_eq!(slots.index(120_000), Some(1));
        assert_eq!(slots.index(130_000), Some(1));
        assert_eq!(slots.index(0), None);
        assert_eq!(slots.index(240_000), None);
    }

    #[test]
    fn slots_start_at_first_whole_window() {
        let slots = WindowSlots::new(TimeRange { from_ms: 10_000, to_ms: 60_000 }, 7_000);
        assert_eq!(slots.starts().first(), Some(&14_000));
        assert_eq!(slots.starts().last(), Some(&56_000));
    }

    #[test]
    fn shares_of_received_events() {
        let window = WindowTotals { window_start_ms: 0, events: 90, clicks: 50, invalid: 6, late: 3, duplicate: 1, is_final: true };
        let totals = RangeTotals::sum(&[window]);
        assert_eq!(totals.received, 100);
        assert_eq!(totals.invalid_share, Some(0.06));
        assert_eq!(totals.late_share, Some(0.03));
        assert_eq!(RangeTotals::sum(&[]).invalid_share, None);
    }

    #[test]
    fn change_ratio_null_without_previous_clicks() {
        let fresh = top_page(PageClicks { page: "/a".into(), clicks: 5, previous_clicks: 0 }, &[]);
        assert_eq!(fresh.change, 5);
        assert_eq!(fresh.change_ratio, None);
        let point = PagePoint { window_start_ms: 0, page: "/a".into(), clicks: 2 };
        let grown = top_page(PageClicks { page: "/a".into(), clicks: 6, previous_clicks: 4 }, &[point]);
        assert_eq!(grown.change_ratio, Some(0.5));
        assert_eq!(grown.current_window_clicks, 2);
    }
}
