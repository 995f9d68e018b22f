//! Query parameters of the JSON API, and the JSON error every endpoint returns for bad input
//! or an unavailable store.
//!
//! Parameters are read as an ordered list of pairs so that `page` may repeat in `series`, and so
//! that an unknown or repeated parameter is rejected with a message naming it instead of being
//! ignored.

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::query::TimeRange;

/// Default number of pages in `top-pages`.
pub const DEFAULT_LIMIT: usize = 20;
/// Largest `limit` of `top-pages`.
pub const MAX_LIMIT: usize = 500;
/// Most pages one `series` request may chart.
pub const MAX_SERIES_PAGES: usize = 10;
/// Longest accepted page or page filter, in bytes: the default `validation.page_max_length`,
/// since no stored page is longer.
pub const MAX_PAGE_BYTES: usize = 2048;

/// A time range the dashboard offers, ending at the end of the current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeChoice {
    Minutes15,
    Hour1,
    Hours24,
}

impl RangeChoice {
    pub const ALL: [RangeChoice; 3] = [RangeChoice::Minutes15, RangeChoice::Hour1, RangeChoice::Hours24];
    pub const DEFAULT: RangeChoice = RangeChoice::Minutes15;

    pub fn parse(text: &str) -> Option<RangeChoice> {
        RangeChoice::ALL.into_iter().find(|choice| choice.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RangeChoice::Minutes15 => "15m",
            RangeChoice::Hour1 => "1h",
            RangeChoice::Hours24 => "24h",
        }
    }

    pub fn length_ms(self) -> i64 {
        match self {
            RangeChoice::Minutes15 => 15 * 60_000,
            RangeChoice::Hour1 => 60 * 60_000,
            RangeChoice::Hours24 => 24 * 60 * 60_000,
        }
    }

    /// Returns the range of this length that ends at the end of the window containing `now_ms`,
    /// so the current, still partial window is its newest.
    pub fn time_range(self, now_ms: i64, window_ms: i64) -> TimeRange {
        let to_ms = current_window_start(now_ms, window_ms) + window_ms;
        TimeRange { from_ms: to_ms - self.length_ms(), to_ms }
    }

    fn allowed_values() -> Vec<String> {
        RangeChoice::ALL.iter().map(|choice| choice.as_str().to_string()).collect()
    }
}

/// Start of the window (aligned to the Unix epoch) that contains `now_ms`.
pub fn current_window_start(now_ms: i64, window_ms: i64) -> i64 {
    now_ms - now_ms.rem_euclid(window_ms)
}

/// An API error: its status and a JSON body `{"error": ..., "parameter": ..., "allowed": [...]}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

#[derive(Debug, Serialize)]
struct ErrorBody {
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed: Option<Vec<String>>,
}

impl ApiError {
    /// Builds a 400 for parameter `name`, listing the values it accepts.
    pub fn invalid(name: &str, message: String, allowed: Option<Vec<String>>) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, body: ErrorBody { error: message, parameter: Some(name.to_string()), allowed } }
    }

    /// Builds a 503 for a store that failed to respond.
    pub fn unavailable(message: String) -> ApiError {
        ApiError { status: StatusCode::SERVICE_UNAVAILABLE, body: ErrorBody { error: message, parameter: None, allowed: None } }
    }

    pub fn not_found(message: String) -> ApiError {
        ApiError { status: StatusCode::NOT_FOUND, body: ErrorBody { error: message, parameter: None, allowed: None } }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.body.error
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, super::api::no_store(), Json(self.body)).into_response()
    }
}

/// The query parameters of one request, in the order given.
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Reads the parameters and rejects any whose name is not in `allowed`.
    pub fn parse(query: Result<Query<Vec<(String, String)>>, QueryRejection>, allowed: &[&str]) -> Result<Params, ApiError> {
        let Query(pairs) = query.map_err(|rejection| {
            ApiError::invalid("query", format!("invalid query string: {}", rejection.body_text()), None)
        })?;
        if let Some((name, _)) = pairs.iter().find(|(name, _)| !allowed.contains(&name.as_str())) {
            let allowed_list = if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") };
            return Err(ApiError::invalid(
                name,
                format!("unknown parameter {name:?}; this endpoint accepts: {allowed_list}"),
                Some(allowed.iter().map(|name| name.to_string()).collect()),
            ));
        }
        Ok(Params { pairs })
    }

    /// Returns the value of a parameter that may appear at most once, and rejects a repeat.
    fn single(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut values = self.pairs.iter().filter(|(key, _)| key == name).map(|(_, value)| value.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::invalid(name, format!("parameter {name} is given more than once; give it at most once"), None));
        }
        Ok(first)
    }

    /// Reads `range`: one of 15m, 1h, 24h, or 15m when absent.
    pub fn range(&self) -> Result<RangeChoice, ApiError> {
        match self.single("range")? {
            None => Ok(RangeChoice::DEFAULT),
            Some(text) => RangeChoice::parse(text).ok_or_else(|| {
                let allowed = RangeChoice::allowed_values();
                ApiError::invalid("range", format!("invalid range {text:?}; use one of {}", allowed.join(", ")), Some(allowed))
            }),
        }
    }

    /// Reads `limit`: an integer from 1 to [`MAX_LIMIT`], or [`DEFAULT_LIMIT`] when absent.
    pub fn limit(&self) -> Result<usize, ApiError> {
        let Some(text) = self.single("limit")? else { return Ok(DEFAULT_LIMIT) };
        match text.parse::<usize>() {
            Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
            _ => Err(ApiError::invalid(
                "limit",
                format!("invalid limit {text:?}; use an integer from 1 to {MAX_LIMIT}"),
                Some(vec![format!("1..{MAX_LIMIT}")]),
            )),
        }
    }

    /// Reads `page` as a filter: text that pages must contain, ignoring ASCII case. Empty means no
    /// filter. The result is in the stored spelling (see [`stored_spelling`]).
    pub fn page_filter(&self) -> Result<Option<String>, ApiError> {
        let Some(text) = self.single("page")? else { return Ok(None) };
        let text = text.trim();
        check_page_length("page", text)?;
        Ok(if text.is_empty() { None } else { Some(stored_spelling(text)) })
    }

    /// Reads `page`, repeated: the exact pages to chart, at most [`MAX_SERIES_PAGES`], with
    /// duplicates removed in order.
    pub fn pages(&self) -> Result<Vec<String>, ApiError> {
        let mut pages: Vec<String> = Vec::new();
        for (_, page) in self.pairs.iter().filter(|(key, _)| key == "page") {
            if page.is_empty() {
                return Err(ApiError::invalid("page", "parameter page is empty; give a page as stored, such as /produto/123".into(), None));
            }
            check_page_length("page", page)?;
            if !pages.contains(page) {
                pages.push(page.clone());
            }
        }
        if pages.len() > MAX_SERIES_PAGES {
            return Err(ApiError::invalid(
                "page",
                format!("{} pages requested; give at most {MAX_SERIES_PAGES} page parameters", pages.len()),
                None,
            ));
        }
        Ok(pages)
    }
}

fn check_page_length(name: &str, text: &str) -> Result<(), ApiError> {
    if text.len() > MAX_PAGE_BYTES {
        return Err(ApiError::invalid(name, format!("parameter {name} is {} bytes long; give at most {MAX_PAGE_BYTES} bytes", text.len()), None));
    }
    Ok(())
}

/// Percent-encodes what page normalisation encodes in stored pages (non-ASCII, spaces, control
/// characters and the other bytes not allowed in a URL), with upper-case hex. So a filter typed
/// as `tênis` finds the stored `/T%C3%AAnis`. Escapes the user typed stay as they are.
pub fn stored_spelling(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        let allowed = byte.is_ascii_graphic() && !matches!(byte, b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}');
        if allowed {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str, allowed: &[&str]) -> Result<Params, ApiError> {
        let uri: axum::http::Uri = format!("/api?{query}").parse().unwrap();
        Params::parse(Query::try_from_uri(&uri), allowed)
    }

    #[test]
    fn range_ends_at_current_window_end() {
        let range = RangeChoice::Minutes15.time_range(1_000_000_030_500, 60_000);
        assert_eq!(range.to_ms, 1_000_000_080_000);
        assert_eq!(range.to_ms - range.from_ms, 15 * 60_000);
        let on_boundary = RangeChoice::Hour1.time_range(1_000_000_020_000, 60_000);
        assert_eq!(on_boundary.to_ms, 1_000_000_080_000);
    }

    #[test]
    fn range_parsed_or_rejected() {
        assert_eq!(params("range=24h", &["range"]).unwrap().range().unwrap(), RangeChoice::Hours24);
        assert_eq!(params("", &["range"]).unwrap().range().unwrap(), RangeChoice::Minutes15);
        let error = params("range=2h", &["range"]).unwrap().range().unwrap_err();
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert!(error.message().contains("15m, 1h, 24h"), "{}", error.message());
    }

    #[test]
    fn unknown_parameter_rejected() {
        let error = params("range=1h&colour=red", &["range"]).err().unwrap();
        assert!(error.message().contains("\"colour\""), "{}", error.message());
    }

    #[test]
    fn repeated_range_rejected() {
        let error = params("range=1h&range=24h", &["range"]).unwrap().range().unwrap_err();
        assert!(error.message().contains("more than once"), "{}", error.message());
    }

    #[test]
    fn limit_bounds_checked() {
        assert_eq!(params("limit=5", &["limit"]).unwrap().limit().unwrap(), 5);
        assert_eq!(params("", &["limit"]).unwrap().limit().unwrap(), DEFAULT_LIMIT);
        for bad in ["0", "501", "-1", "ten"] {
            let error = params(&format!("limit={bad}"), &["limit"]).unwrap().limit().unwrap_err();
            assert!(error.message().contains("from 1 to 500"), "{}", error.message());
        }
    }

    #[test]
    fn series_pages_deduplicated_and_capped() {
        let pages = params("page=%2Fa&page=%2Fb&page=%2Fa", &["page"]).unwrap().pages().unwrap();
        assert_eq!(pages, ["/a", "/b"]);
        let many: Vec<String> = (0..11).map(|i| format!("page=%2F{i}")).collect();
        assert!(params(&many.join("&"), &["page"]).unwrap().pages().is_err());
    }

    #[test]
    fn filter_uses_stored_spelling() {
        assert_eq!(stored_spelling("tênis de corrida"), "t%C3%AAnis%20de%20corrida");
        assert_eq!(stored_spelling("/produto/123?q=a"), "/produto/123?q=a");
        let filter = params("page=+T%C3%AAnis+", &["page"]).unwrap().page_filter().unwrap();
        assert_eq!(filter.as_deref(), Some("T%C3%AAnis"));
        assert_eq!(params("page=", &["page"]).unwrap().page_filter().unwrap(), None);
    }
}
