//! The OpenAPI 3.0 document served at `/api/v1/openapi.json`.
//!
//! It is written by hand next to the handlers in `api.rs`. Every schema object sets
//! `additionalProperties: false` and lists every field as required, so a test that checks the
//! live responses against the document catches a field added to one and not the other.

use serde_json::{json, Value};

use super::params::{RangeChoice, DEFAULT_LIMIT, MAX_LIMIT, MAX_PAGE_BYTES, MAX_SERIES_PAGES};
use super::ServeOptions;

/// Builds the document for a server with `options`.
pub fn document(options: &ServeOptions) -> Value {
    let ranges: Vec<&str> = RangeChoice::ALL.iter().map(|choice| choice.as_str()).collect();
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Pulso dashboard API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!(
                "Read-only access to Pulso's per-page window counts. Times are epoch milliseconds, \
                 ranges are half-open [from_ms, to_ms) and end at the end of the window that contains \
                 the server's current time, so the newest window is still partial. Clicks are the \
                 event types {clicks:?}. The dashboard page at / polls these endpoints every {refresh} ms. \
                 Every error is a JSON object with an `error` message; a 400 also names the `parameter`.",
                clicks = options.click_event_types,
                refresh = options.refresh_interval.as_millis(),
            ),
        },
        "paths": {
            "/api/v1/top-pages": {
                "get": {
                    "operationId": "topPages",
                    "summary": "Pages with the most clicks in a range, with the change against the previous range of the same length.",
                    "parameters": [
                        { "$ref": "#/components/parameters/Range" },
                        {
                            "name": "page",
                            "in": "query",
                            "required": false,
                            "description": "Only pages that contain this text, ignoring ASCII case. Non-ASCII characters and spaces are percent-encoded first, as in stored pages. Empty means no filter.",
                            "schema": { "type": "string", "maxLength": MAX_PAGE_BYTES }
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "required": false,
                            "description": "Most pages to return.",
                            "schema": { "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT }
                        }
                    ],
                    "responses": responses("TopPages"),
                }
            },
            "/api/v1/series": {
                "get": {
                    "operationId": "series",
                    "summary": "Events and clicks per window over a range, and the clicks per window of chosen pages. Every window of the range is present, with zeros where nothing was counted.",
                    "parameters": [
                        { "$ref": "#/components/parameters/Range" },
                        {
                            "name": "page",
                            "in": "query",
                            "required": false,
                            "description": format!("A page to chart, exactly as stored. Repeat the parameter for several pages, at most {MAX_SERIES_PAGES}."),
                            "style": "form",
                            "explode": true,
                            "schema": {
                                "type": "array",
                                "maxItems": MAX_SERIES_PAGES,
                                "items": { "type": "string", "minLength": 1, "maxLength": MAX_PAGE_BYTES }
                            }
                        }
                    ],
                    "responses": responses("Series"),
                }
            },
            "/api/v1/windows": {
                "get": {
                    "operationId": "windows",
                    "summary": "Totals of every window in a range that has counts or rejections, oldest first, with whether each window is final, and the shares of invalid, late and duplicate events.",
                    "parameters": [{ "$ref": "#/components/parameters/Range" }],
                    "responses": responses("Windows"),
                }
            },
            "/api/v1/status": {
                "get": {
                    "operationId": "status",
                    "summary": "The time before which every window is final, the server's time and the store in use.",
                    "responses": responses("Status"),
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document.",
                    "responses": {
                        "200": { "description": "The OpenAPI 3.0 document.", "content": { "application/json": { "schema": { "type": "object" } } } },
                        "400": error_response("An unknown parameter was given."),
                    }
                }
            }
        },
        "components": {
            "parameters": {
                "Range": {
                    "name": "range",
                    "in": "query",
                    "required": false,
                    "description": "Length of the time range, ending at the end of the current window.",
                    "schema": { "type": "string", "enum": ranges, "default": RangeChoice::DEFAULT.as_str() }
                }
            },
            "schemas": schemas(&ranges),
        }
    })
}

fn responses(schema: &str) -> Value {
    json!({
        "200": {
            "description": "OK",
            "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
        },
        "400": error_response("A parameter is invalid, repeated or unknown; `parameter` names it and `allowed` lists the accepted values where there is a fixed set."),
        "503": error_response("The count store failed to answer; `error` contains its message."),
    })
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

/// Builds an object schema whose every property is required and which allows no other property.
fn object(description: &str, properties: Value) -> Value {
    let required: Vec<String> = properties.as_object().map(|map| map.keys().cloned().collect()).unwrap_or_default();
    json!({
        "type": "object",
        "description": description,
        "additionalProperties": false,
        "required": required,
        "properties": properties,
    })
}

fn integer(description: &str) -> Value {
    json!({ "type": "integer", "format": "int64", "description": description })
}

fn count(description: &str) -> Value {
    json!({ "type": "integer", "format": "int64", "minimum": 0, "description": description })
}

fn nullable_share(description: &str) -> Value {
    json!({ "type": "number", "minimum": 0, "maximum": 1, "nullable": true, "description": description })
}

fn count_array(description: &str) -> Value {
    json!({ "type": "array", "description": description, "items": { "type": "integer", "format": "int64", "minimum": 0 } })
}

fn schemas(ranges: &[&str]) -> Value {
    let range = json!({ "type": "string", "enum": ranges, "description": "The range parameter that was applied." });
    json!({
        "Error": {
            "type": "object",
            "additionalProperties": false,
            "required": ["error"],
            "properties": {
                "error": { "type": "string", "description": "What failed and what to do." },
                "parameter": { "type": "string", "description": "The parameter at fault (400 only)." },
                "allowed": { "type": "array", "items": { "type": "string" }, "description": "The values or parameter names accepted, where there is a fixed set." }
            }
        },
        "TopPages": object("Top pages of a range.", json!({
            "range": range,
            "from_ms": integer("Start of the range (inclusive)."),
            "to_ms": integer("End of the range (exclusive): the end of the current window."),
            "previous_from_ms": integer("Start of the previous range, which ends at from_ms."),
            "window_ms": integer("Window size."),
            "current_window_start_ms": integer("Start of the current, still partial window."),
            "page_filter": { "type": "string", "nullable": true, "description": "The filter applied, in stored spelling; null when none." },
            "limit": { "type": "integer", "description": "The limit applied." },
            "pages": { "type": "array", "items": { "$ref": "#/components/schemas/TopPage" }, "description": "Most clicks first, then by page." }
        })),
        "TopPage": object("Clicks of one page.", json!({
            "page": { "type": "string", "description": "The normalised page." },
            "clicks": count("Clicks in the range."),
            "previous_clicks": count("Clicks in the previous range of the same length."),
            "change": integer("clicks - previous_clicks."),
            "change_ratio": { "type": "number", "nullable": true, "description": "change / previous_clicks; null when previous_clicks is 0." },
            "current_window_clicks": count("Clicks in the current window. Read in a second query, so under live traffic it can include events stored after `clicks` was read.")
        })),
        "Series": object("Per-window series of a range. Every array has one element per entry of window_starts_ms.", json!({
            "range": range,
            "from_ms": integer("Start of the range (inclusive)."),
            "to_ms": integer("End of the range (exclusive)."),
            "window_ms": integer("Window size."),
            "window_starts_ms": { "type": "array", "items": { "type": "integer", "format": "int64" }, "description": "Start of every window of the range, oldest first." },
            "events": count_array("Counted events of every type per window."),
            "clicks": count_array("Clicks per window, all pages."),
            "pages": { "type": "array", "items": { "$ref": "#/components/schemas/PageSeries" }, "description": "One entry per requested page, in request order." }
        })),
        "PageSeries": object("Clicks per window of one page.", json!({
            "page": { "type": "string", "description": "The requested page." },
            "clicks": count_array("Clicks per window."),
            "total_clicks": count("Sum of clicks.")
        })),
        "Windows": object("Window totals of a range.", json!({
            "range": range,
            "from_ms": integer("Start of the range (inclusive)."),
            "to_ms": integer("End of the range (exclusive)."),
            "window_ms": integer("Window size."),
            "final_before_ms": { "type": "integer", "format": "int64", "nullable": true, "description": "Every window that ends at or before this time is final; null when no partition has a checkpoint." },
            "totals": { "$ref": "#/components/schemas/RangeTotals" },
            "windows": { "type": "array", "items": { "$ref": "#/components/schemas/Window" }, "description": "Windows with counts or rejections, oldest first; windows with neither are absent." }
        })),
        "Window": object("Totals of one window. Counts are by event time; rejections are by the processing-time window in which they were rejected.", json!({
            "window_start_ms": integer("Start of the window."),
            "window_end_ms": integer("End of the window (exclusive)."),
            "events": count("Counted events of every type."),
            "clicks": count("Counted events of the click types."),
            "invalid": count("Events rejected by validation (every reason except late and duplicate)."),
            "late": count("Valid events rejected because their window had closed."),
            "duplicate": count("Events rejected as repeats of an event_id."),
            "is_final": { "type": "boolean", "description": "Whether every partition's watermark has passed the window's end, so its counts no longer change." }
        })),
        "RangeTotals": object("Sums over the windows of the range. Shares are of all events received (counted plus rejected) and are null when nothing was received.", json!({
            "events": count("Counted events."),
            "clicks": count("Counted clicks."),
            "invalid": count("Invalid events."),
            "late": count("Late events."),
            "duplicate": count("Duplicate events."),
            "received": count("events + invalid + late + duplicate."),
            "invalid_share": nullable_share("invalid / received."),
            "late_share": nullable_share("late / received."),
            "duplicate_share": nullable_share("duplicate / received.")
        })),
        "Status": object("Server and store status.", json!({
            "final_before_ms": { "type": "integer", "format": "int64", "nullable": true, "description": "Every window that ends at or before this time is final; null when no partition has a checkpoint." },
            "server_time_ms": integer("The server's clock."),
            "server_time": { "type": "string", "format": "date-time", "description": "The server's clock in RFC 3339, UTC." },
            "store": { "type": "string", "description": "The count store that answers, such as clickhouse." },
            "window_ms": integer("Window size."),
            "current_window_start_ms": integer("Start of the window that contains server_time_ms."),
            "click_event_types": { "type": "array", "items": { "type": "string" }, "description": "Event types counted as clicks." },
            "refresh_interval_ms": { "type": "integer", "description": "How often the dashboard polls the API." },
            "ranges": { "type": "array", "items": { "type": "string", "enum": ranges }, "description": "Accepted values of the range parameter." },
            "version": { "type": "string", "description": "Pulso's version." }
        }))
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn document_lists_every_route() {
        let document = document(&ServeOptions::default());
        let documented: BTreeSet<&str> = document["paths"].as_object().unwrap().keys().map(String::as_str).collect();
        let routed: BTreeSet<&str> = super::super::api::routes().into_iter().map(|(path, _)| path).collect();
        assert_eq!(documented, routed);
    }

    #[test]
    fn every_reference_resolves() {
        let document = document(&ServeOptions::default());
        let text = document.to_string();
        for reference in text.split("\"$ref\":\"#/").skip(1) {
            let path = &reference[..reference.find('"').unwrap()];
            let target = path.split('/').fold(&document, |node, key| &node[key]);
            assert!(!target.is_null(), "unresolved reference #/{path}");
        }
    }
}
