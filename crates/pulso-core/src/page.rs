//! Page normalisation, so that one page is counted under one key however a browser or a
//! producer spelled it.
//!
//! A page is either an absolute `http` or `https` URL or an absolute path. Normalisation:
//! - lowercases the scheme and host, drops user info and the scheme's default port;
//! - drops the fragment, and drops the query string except for allowlisted parameters, which are
//!   kept sorted by name;
//! - makes percent-encoding canonical (RFC 3986 section 6.2.2): unreserved characters are
//!   decoded, other escapes use upper-case hex, and characters not allowed in a URL are encoded;
//! - rejects an escape that is not `%` and two hex digits, and escapes that decode to invalid UTF-8;
//! - removes `.` and `..` segments, empty segments and the trailing slash (except for the root);
//! - rejects a result longer than the maximum length.

use std::borrow::Cow;

use crate::reason::{Reason, Rejection};

/// Options for [`normalize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageOptions {
    /// Query parameters that are part of the page's identity, such as `q` on a search page.
    pub query_allowlist: Vec<String>,
    /// Maximum length of the normalised page, in bytes.
    pub max_length: usize,
}

impl Default for PageOptions {
    fn default() -> Self {
        PageOptions { query_allowlist: Vec::new(), max_length: 2048 }
    }
}

/// Normalises a page. Returns the input unchanged, without allocating, when it is already
/// canonical.
pub fn normalize<'a>(raw: &'a str, options: &PageOptions) -> Result<Cow<'a, str>, Rejection> {
    if raw.is_empty() {
        return Err(invalid(raw, "is empty"));
    }
    let normalized = if raw.starts_with('/') {
        if is_canonical_path(raw) {
            Cow::Borrowed(raw)
        } else {
            let mut out = String::with_capacity(raw.len());
            push_path_and_query(&mut out, raw, raw, options)?;
            Cow::Owned(out)
        }
    } else {
        Cow::Owned(normalize_absolute(raw, options)?)
    };
    if normalized.len() > options.max_length {
        return Err(Rejection::new(
            Reason::PageTooLong,
            format!(
                "page is {} bytes after normalisation, more than the maximum {}; it starts {:?}",
                normalized.len(),
                options.max_length,
                truncate(&normalized, 80)
            ),
        ));
    }
    Ok(normalized)
}

fn normalize_absolute(raw: &str, options: &PageOptions) -> Result<String, Rejection> {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return Err(invalid(raw, "is neither an absolute http(s) URL nor a path starting with /"));
    };
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => "80",
        "https" => "443",
        _ => return Err(invalid(raw, "has a scheme other than http or https")),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(authority_end);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let (host, port) = split_port(host_port);
    if host.is_empty() {
        return Err(invalid(raw, "has no host"));
    }
    if !host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'[' | b']' | b':')) {
        return Err(invalid(raw, "has a host with characters other than letters, digits, '-' and '.'"));
    }
    if port.is_some_and(|port| port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit())) {
        return Err(invalid(raw, "has a port that is not a number"));
    }

    let mut out = String::with_capacity(raw.len());
    out.push_str(&scheme);
    out.push_str("://");
    out.push_str(&host.to_ascii_lowercase());
    if let Some(port) = port.filter(|port| *port != default_port) {
        out.push(':');
        out.push_str(port);
    }
    let path_and_query = if path_and_query.starts_with('/') { path_and_query } else { "/" };
    let path_and_query = if path_and_query == "/" && rest[authority_end..].starts_with(['?', '#']) {
        // "https://host?x" has a query but no path: the path is "/".
        &rest[authority_end..]
    } else {
        path_and_query
    };
    push_path_and_query(&mut out, path_and_query, raw, options)?;
    Ok(out)
}

/// Splits `host:port`, leaving IPv6 literals such as `[::1]` intact.
fn split_port(host_port: &str) -> (&str, Option<&str>) {
    match host_port.rfind(':') {
        Some(colon) if !host_port[colon..].contains(']') => {
            (&host_port[..colon], Some(&host_port[colon + 1..]))
        }
        _ => (host_port, None),
    }
}

/// Appends the normalised path, and the allowlisted part of the query, of `input`.
fn push_path_and_query(
    out: &mut String,
    input: &str,
    raw: &str,
    options: &PageOptions,
) -> Result<(), Rejection> {
    let input = input.split_once('#').map_or(input, |(before, _)| before);
    let (path, query) = match input.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (input, None),
    };
    let path = if path.is_empty() { "/" } else { path };
    push_path(out, path, raw)?;
    if let Some(query) = query {
        push_query(out, query, raw, options)?;
    }
    Ok(())
}

fn push_path(out: &mut String, path: &str, raw: &str) -> Result<(), Rejection> {
    let mut segments: Vec<String> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." | "%2e" | "%2E" => {}
            ".." | "%2e%2e" | "%2E%2E" | "%2e%2E" | "%2E%2e" | ".%2e" | ".%2E" | "%2e." | "%2E." => {
                segments.pop();
            }
            _ => segments.push(canonical_component(segment, raw, is_path_literal)?),
        }
    }
    if segments.is_empty() {
        out.push('/');
    }
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    Ok(())
}

fn push_query(out: &mut String, query: &str, raw: &str, options: &PageOptions) -> Result<(), Rejection> {
    if options.query_allowlist.is_empty() {
        return Ok(());
    }
    let mut kept: Vec<(String, String)> = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = canonical_component(name, raw, is_query_literal)?;
        if options.query_allowlist.iter().any(|allowed| *allowed == name) {
            kept.push((name, canonical_component(value, raw, is_query_literal)?));
        }
    }
    kept.sort();
    for (index, (name, value)) in kept.iter().enumerate() {
        out.push(if index == 0 { '?' } else { '&' });
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    Ok(())
}

/// Re-encodes one path segment or query component canonically.
fn canonical_component(component: &str, raw: &str, is_literal: fn(u8) -> bool) -> Result<String, Rejection> {
    let bytes = component.as_bytes();
    let mut decoded: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut out = String::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'%' {
            let value = bytes
                .get(index + 1..index + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| {
                    invalid(raw, "has a '%' that is not followed by two hex digits; encode '%' as %25")
                })?;
            decoded.push(value);
            if is_unreserved(value) {
                out.push(value as char);
            } else {
                push_escape(&mut out, value);
            }
            index += 3;
        } else {
            decoded.push(byte);
            if is_literal(byte) {
                out.push(byte as char);
            } else {
                push_escape(&mut out, byte);
            }
            index += 1;
        }
    }
    if std::str::from_utf8(&decoded).is_err() {
        return Err(invalid(raw, "has percent-escapes that decode to invalid UTF-8"));
    }
    Ok(out)
}

fn push_escape(out: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(HEX[(byte >> 4) as usize] as char);
    out.push(HEX[(byte & 0xF) as usize] as char);
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn is_path_literal(byte: u8) -> bool {
    is_unreserved(byte) || matches!(byte, b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' | b':' | b'@')
}

fn is_query_literal(byte: u8) -> bool {
    is_path_literal(byte) && !matches!(byte, b'&' | b'=' | b'+') || matches!(byte, b'/' | b'?')
}

/// Tells whether a path is already canonical: only literal characters, no escapes, no query or
/// fragment, no empty or dot segments and no trailing slash.
fn is_canonical_path(path: &str) -> bool {
    let bytes = path.as_bytes();
    if bytes == b"/" {
        return true;
    }
    if bytes.last() == Some(&b'/') {
        return false;
    }
    let mut previous = 0u8;
    for (index, &byte) in bytes.iter().enumerate() {
        if byte == b'/' {
            if previous == b'/' {
                return false;
            }
        } else if byte == b'.' && previous == b'/' {
            let rest = &bytes[index..];
            if rest == b"." || rest == b".." || rest.starts_with(b"./") || rest.starts_with(b"../") {
                return false;
            }
        } else if !is_path_literal(byte) {
            return false;
        }
        previous = byte;
    }
    true
}

fn invalid(raw: &str, problem: &str) -> Rejection {
    Rejection::new(Reason::InvalidPage, format!("page {:?} {problem}", truncate(raw, 200)))
}

fn truncate(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(raw: &str) -> String {
        normalize(raw, &PageOptions::default()).unwrap().into_owned()
    }

    fn norm_with(raw: &str, allow: &[&str]) -> String {
        let options = PageOptions {
            query_allowlist: allow.iter().map(|name| name.to_string()).collect(),
            ..PageOptions::default()
        };
        normalize(raw, &options).unwrap().into_owned()
    }

    fn reject(raw: &str) -> Rejection {
        normalize(raw, &PageOptions::default()).unwrap_err()
    }

    #[test]
    fn canonical_path_is_borrowed() {
        let page = normalize("/produto/tenis-123", &PageOptions::default()).unwrap();
        assert!(matches!(page, Cow::Borrowed(_)));
    }

    #[test]
    fn host_and_scheme_lowercased_default_port_dropped() {
        assert_eq!(norm("HTTPS://Loja.Example.COM:443/Carrinho"), "https://loja.example.com/Carrinho");
        assert_eq!(norm("http://loja.example:8080/a"), "http://loja.example:8080/a");
        assert_eq!(norm("http://user:secret@loja.example/a"), "http://loja.example/a");
        assert_eq!(norm("https://loja.example"), "https://loja.example/");
    }

    #[test]
    fn query_and_fragment_dropped_unless_allowlisted() {
        assert_eq!(norm("/busca?q=tenis&utm_source=x#top"), "/busca");
        assert_eq!(norm_with("/busca?utm_source=x&q=t%c3%aanis&cat=1", &["q", "cat"]), "/busca?cat=1&q=t%C3%AAnis");
        assert_eq!(norm_with("https://loja.example?q=1", &["q"]), "https://loja.example/?q=1");
    }

    #[test]
    fn percent_encoding_made_canonical() {
        assert_eq!(norm("/%7Euser/caf%c3%a9"), "/~user/caf%C3%A9");
        assert_eq!(norm("/a%2Fb"), "/a%2Fb");
        assert_eq!(norm("/promoção de verão"), "/promo%C3%A7%C3%A3o%20de%20ver%C3%A3o");
    }

    #[test]
    fn trailing_empty_and_dot_segments_removed() {
        assert_eq!(norm("/categoria/"), "/categoria");
        assert_eq!(norm("//a//b/"), "/a/b");
        assert_eq!(norm("/a/./b/../c"), "/a/c");
        assert_eq!(norm("/../a"), "/a");
        assert_eq!(norm("/"), "/");
        assert_eq!(norm("/?x=1"), "/");
    }

    #[test]
    fn bad_escape_rejected() {
        let error = reject("/a%zzb");
        assert_eq!(error.reason, Reason::InvalidPage);
        assert!(error.detail.contains("/a%zzb"), "{}", error.detail);
        assert_eq!(reject("/a%2").reason, Reason::InvalidPage);
    }

    #[test]
    fn escapes_decoding_to_invalid_utf8_rejected() {
        let error = reject("/caf%E9");
        assert_eq!(error.reason, Reason::InvalidPage);
        assert!(error.detail.contains("UTF-8"), "{}", error.detail);
    }

    #[test]
    fn relative_and_foreign_scheme_rejected() {
        assert_eq!(reject("produto/1").reason, Reason::InvalidPage);
        assert_eq!(reject("ftp://host/x").reason, Reason::InvalidPage);
        assert_eq!(reject("").reason, Reason::InvalidPage);
        assert_eq!(reject("https:///x").reason, Reason::InvalidPage);
    }

    #[test]
    fn too_long_page_rejected() {
        let options = PageOptions { max_length: 10, ..PageOptions::default() };
        let error = normalize("/abcdefghijk", &options).unwrap_err();
        assert_eq!(error.reason, Reason::PageTooLong);
    }

    #[test]
    fn normalisation_is_idempotent() {
        for raw in ["/A/b/../c/", "HTTP://X.example:80/%7e/%c3%a9?q=1#f", "/a b", "/x/%2F/"] {
            let once = norm(raw);
            assert_eq!(norm(&once), once, "input {raw:?}");
        }
    }
}
