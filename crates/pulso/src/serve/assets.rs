//! The dashboard page and its static files, embedded in the binary so that the page needs no
//! network and no JavaScript build step.
//!
//! Responses carry an ETag and `Cache-Control: no-cache`, so a browser revalidates each file
//! and picks up a new build at once. The page's Content-Security-Policy allows this origin only,
//! which also keeps the page from loading anything from the internet.

use std::hash::{Hash, Hasher};

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset { path: "/", content_type: "text/html; charset=utf-8", body: include_bytes!("../../assets/index.html") },
    Asset { path: "/assets/app.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../../assets/app.js") },
    Asset { path: "/assets/app.css", content_type: "text/css; charset=utf-8", body: include_bytes!("../../assets/app.css") },
    Asset { path: "/assets/favicon.svg", content_type: "image/svg+xml", body: include_bytes!("../../assets/favicon.svg") },
    Asset {
        path: "/assets/vendor/uplot/uPlot.iife.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/vendor/uplot/uPlot.iife.min.js"),
    },
    Asset {
        path: "/assets/vendor/uplot/uPlot.min.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/vendor/uplot/uPlot.min.css"),
    },
];

/// `connect-src 'self'` limits the page's fetches to the API of the server that sent it.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Routes for the page at `/` and every file under `/assets/`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new();
    for asset in ASSETS {
        let etag = etag(asset.body);
        router = router.route(asset.path, get(move |headers: HeaderMap| async move { respond(asset, &etag, &headers) }));
    }
    router
}

fn respond(asset: &'static Asset, etag: &str, request_headers: &HeaderMap) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, HeaderValue::from_str(etag).expect("ETag is ASCII")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY)),
    ];
    let matches = request_headers.get(header::IF_NONE_MATCH).is_some_and(|value| value.as_bytes() == etag.as_bytes());
    if matches {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (StatusCode::OK, headers, asset.body).into_response()
}

/// Computes a strong ETag from the file's bytes. The hash is not cryptographic, because it only
/// needs to change when a new build changes the file.
fn etag(body: &[u8]) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    format!("\"{:016x}-{}\"", hasher.finish(), body.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_references_only_embedded_files() {
        let page = std::str::from_utf8(ASSETS[0].body).unwrap();
        for reference in page.split(['"', '\'']).filter(|part| part.starts_with("assets/")) {
            let path = format!("/{reference}");
            assert!(ASSETS.iter().any(|asset| asset.path == path), "index.html refers to {path}, which is not embedded");
        }
        assert!(!page.contains("http://"), "index.html must not load anything from another origin");
        assert!(!page.contains("https://"), "index.html must not load anything from another origin");
    }
}
