//! A small client for ClickHouse's HTTP interface, which every server version since well
//! before 18.16 speaks the same way.
//!
//! Errors are classified in one place, [`ClickHouseError::kind`]. A transient failure is retried
//! with backoff. Bad data and schema errors are not, because sending the same bytes again cannot
//! succeed. A failure after the request was sent leaves the outcome unknown.

use std::io::Read;
use std::time::Duration;

use thiserror::Error;

use crate::config::ClickHouseConfig;

/// The handling a failed request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The server did not get the request or rejected it for a reason that can pass, such as
    /// overload; retrying can help.
    Transient,
    /// The request may or may not have taken effect, for example a timeout after the body was
    /// sent. The caller must find out before retrying.
    Unknown,
    /// The data or the query is wrong; retrying cannot help.
    Permanent,
}

#[derive(Debug, Error)]
pub enum ClickHouseError {
    #[error("ClickHouse at {url} is unreachable: {message}")]
    Unreachable { url: String, message: String },
    #[error("ClickHouse request to {url} failed after it was sent: {message}")]
    Interrupted { url: String, message: String },
    #[error("ClickHouse rejected {query}: code {code}: {message}")]
    Server { query: String, code: u32, status: u16, message: String },
    #[error("unexpected ClickHouse response to {query}: {message}")]
    Response { query: String, message: String },
}

/// Server error codes after which a retry can succeed (from ClickHouse's ErrorCodes.cpp).
const TRANSIENT_CODES: &[u32] = &[
    3,   // UNEXPECTED_END_OF_FILE: connection cut mid-request
    159, // TIMEOUT_EXCEEDED
    164, // READONLY: a replica in read-only mode
    202, // TOO_MANY_SIMULTANEOUS_QUERIES
    203, // NO_FREE_CONNECTION
    209, // SOCKET_TIMEOUT
    210, // NETWORK_ERROR
    241, // MEMORY_LIMIT_EXCEEDED
    242, // TABLE_IS_READ_ONLY
    252, // TOO_MANY_PARTS
    286, // UNKNOWN_STATUS_OF_INSERT
    319, // UNKNOWN_STATUS_OF_INSERT (older numbering)
    394, // QUERY_WAS_CANCELLED
    425, // SYSTEM_ERROR
    999, // KEEPER_EXCEPTION
];

impl ClickHouseError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ClickHouseError::Unreachable { .. } => ErrorKind::Transient,
            ClickHouseError::Interrupted { .. } => ErrorKind::Unknown,
            ClickHouseError::Server { code, status, .. } => {
                if TRANSIENT_CODES.contains(code) || *status == 503 {
                    ErrorKind::Transient
                } else {
                    ErrorKind::Permanent
                }
            }
            ClickHouseError::Response { .. } => ErrorKind::Permanent,
        }
    }
}

/// A ClickHouse HTTP client. Cloning shares the connection pool.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    url: String,
    user: String,
    password: String,
}

impl Client {
    pub fn new(config: &ClickHouseConfig) -> Client {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .timeout(config.request_timeout)
            .build();
        Client {
            agent,
            url: config.url.trim_end_matches('/').to_string(),
            user: config.user.clone(),
            password: config.password.clone(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs a statement that returns text, such as a SELECT with a FORMAT clause or DDL.
    pub fn query(&self, sql: &str) -> Result<String, ClickHouseError> {
        self.send(sql, &[], None)
    }

    /// Runs a statement with extra settings passed as URL parameters.
    pub fn query_with(&self, sql: &str, settings: &[(&str, &str)]) -> Result<String, ClickHouseError> {
        self.send(sql, settings, None)
    }

    /// Runs `INSERT ... FORMAT ...` with `body` as the data.
    pub fn insert(&self, sql: &str, body: &[u8], settings: &[(&str, &str)]) -> Result<(), ClickHouseError> {
        self.send(sql, settings, Some(body)).map(|_| ())
    }

    /// The server's version as (major, minor), for gating newer features.
    pub fn version(&self) -> Result<ServerVersion, ClickHouseError> {
        let text = self.query("SELECT version()")?;
        ServerVersion::parse(text.trim()).ok_or_else(|| ClickHouseError::Response {
            query: "SELECT version()".into(),
            message: format!("cannot parse version {:?}", text.trim()),
        })
    }

    fn send(&self, sql: &str, settings: &[(&str, &str)], body: Option<&[u8]>) -> Result<String, ClickHouseError> {
        let mut request = self.agent.post(&format!("{}/", self.url)).set("X-ClickHouse-User", &self.user);
        if !self.password.is_empty() {
            request = request.set("X-ClickHouse-Key", &self.password);
        }
        for (name, value) in settings {
            request = request.query(name, value);
        }
        let result = match body {
            Some(body) => request.query("query", sql).send_bytes(body),
            None => request.send_string(sql),
        };
        match result {
            Ok(response) => response.into_string().map_err(|error| ClickHouseError::Interrupted {
                url: self.url.clone(),
                message: error.to_string(),
            }),
            Err(ureq::Error::Status(status, response)) => Err(server_error(sql, status, response)),
            Err(ureq::Error::Transport(transport)) => Err(self.transport_error(&transport)),
        }
    }

    fn transport_error(&self, transport: &ureq::Transport) -> ClickHouseError {
        let message = transport.to_string();
        match transport.kind() {
            ureq::ErrorKind::ConnectionFailed | ureq::ErrorKind::Dns => {
                ClickHouseError::Unreachable { url: self.url.clone(), message }
            }
            _ => ClickHouseError::Interrupted { url: self.url.clone(), message },
        }
    }
}

fn server_error(sql: &str, status: u16, response: ureq::Response) -> ClickHouseError {
    let mut text = String::new();
    let _ = response.into_reader().take(64 * 1024).read_to_string(&mut text);
    ClickHouseError::Server { query: shorten(sql), code: parse_error_code(&text).unwrap_or(0), status, message: text.trim().to_string() }
}

/// Extracts `N` from ClickHouse's "Code: N. DB::Exception: ..." text.
fn parse_error_code(text: &str) -> Option<u32> {
    let rest = &text[text.find("Code: ")? + 6..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn shorten(sql: &str) -> String {
    let single_line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match single_line.char_indices().nth(300) {
        Some((end, _)) => format!("{}...", &single_line[..end]),
        None => single_line,
    }
}

/// A server version, compared by (major, minor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerVersion {
    pub major: u32,
    pub minor: u32,
}

impl ServerVersion {
    pub fn parse(text: &str) -> Option<ServerVersion> {
        let mut parts = text.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(ServerVersion { major, minor })
    }

    pub fn at_least(self, major: u32, minor: u32) -> bool {
        self >= ServerVersion { major, minor }
    }
}

/// Quotes a string literal for ClickHouse SQL.
pub fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('\'');
    for c in text.chars() {
        match c {
            '\'' => quoted.push_str("\\'"),
            '\\' => quoted.push_str("\\\\"),
            _ => quoted.push(c),
        }
    }
    quoted.push('\'');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_code_parsed() {
        let text = "Code: 252, e.displayText() = DB::Exception: Too many parts";
        assert_eq!(parse_error_code(text), Some(252));
        assert_eq!(parse_error_code("Code: 27. DB::Exception: Cannot parse input"), Some(27));
        assert_eq!(parse_error_code("no code"), None);
    }

    #[test]
    fn errors_classified() {
        let server = |code| ClickHouseError::Server { query: "q".into(), code, status: 500, message: String::new() };
        assert_eq!(server(252).kind(), ErrorKind::Transient);
        assert_eq!(server(27).kind(), ErrorKind::Permanent);
        assert_eq!(server(60).kind(), ErrorKind::Permanent);
        let refused = ClickHouseError::Unreachable { url: "u".into(), message: "refused".into() };
        assert_eq!(refused.kind(), ErrorKind::Transient);
        let cut = ClickHouseError::Interrupted { url: "u".into(), message: "timed out".into() };
        assert_eq!(cut.kind(), ErrorKind::Unknown);
    }

    #[test]
    fn versions_compare() {
        let old = ServerVersion::parse("18.16.1").unwrap();
        let new = ServerVersion::parse("24.8.4.13").unwrap();
        assert!(new.at_least(20, 1));
        assert!(!old.at_least(20, 1));
        assert_eq!(ServerVersion::parse("garbage"), None);
    }

    #[test]
    fn quoting_escapes() {
        assert_eq!(quote("it's a\\b"), "'it\\'s a\\\\b'");
    }
}
