//! Fetching a security.txt named as evidence of an observed posture answer, so the node that
//! *receives* an attestation can check it rather than take it on trust. The rules are judged
//! by `trellis_proto::posture::security_txt`; this file only does the I/O.
//!
//! Plain HTTP/1.0 over a tokio `TcpStream`, written by hand: one GET, `Connection: close`,
//! read to EOF. HTTP/1.0 means the server must not answer chunked, so the body is the bytes after
//! the headers. There is no TLS client in this build, so an `https://` URL (which RFC 9116 asks
//! for) is reported "unchecked" with that reason rather than failed.
//!
//! A peer chooses the URL this node fetches, so the fetch is kept harmless: only a path ending
//! in `security.txt` is fetched (the RFC's locations), the whole exchange is bounded in time
//! ([`FETCH_TIMEOUT`]) and size, redirects are not followed, and the fetch runs only when a user
//! asks to see the attestation (`trellis posture show`), never on receipt.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use trellis_proto::posture::security_txt::{self, MAX_SECURITY_TXT_BYTES};

use crate::api::types::EvidenceCheck;

/// The whole fetch — connect, send, receive — must finish within this.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// Response headers larger than this are refused.
const MAX_HEADER_BYTES: usize = 8 * 1024;

/// Why a fetch did not produce a body.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    #[error("not an http:// URL: {0}")]
    BadUrl(String),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("no answer within {} s", FETCH_TIMEOUT.as_secs())]
    Timeout,
    #[error("the server answered {0}")]
    Status(String),
    #[error("redirected to {0}; give the final URL as evidence")]
    Redirect(String),
    #[error("Content-Type is {0:?}; RFC 9116 requires text/plain")]
    ContentType(String),
    #[error("the response is larger than {0} bytes")]
    TooLarge(usize),
    #[error("malformed HTTP response: {0}")]
    Malformed(&'static str),
    #[error("the file is not UTF-8 text")]
    NotText,
}

/// Where to connect and what to ask for.
#[derive(Debug, PartialEq, Eq)]
struct HttpUrl {
    host: String,
    port: u16,
    path: String,
}

fn parse_url(url: &str) -> Result<HttpUrl, FetchError> {
    let bad = || FetchError::BadUrl(url.chars().take(200).collect());
    let rest = url.trim().strip_prefix("http://").ok_or_else(bad)?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') || path.contains(['\r', '\n', ' ']) {
        return Err(bad());
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, p.parse::<u16>().map_err(|_| bad())?),
        _ => (authority, 80),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    Ok(HttpUrl { host, port, path: path.split('#').next().unwrap_or("/").to_string() })
}

/// GET `url` (http only) and return the body of a 200 text/plain answer.
pub async fn fetch(url: &str) -> Result<String, FetchError> {
    let u = parse_url(url)?;
    tokio::time::timeout(FETCH_TIMEOUT, get(&u)).await.map_err(|_| FetchError::Timeout)?
}

async fn get(u: &HttpUrl) -> Result<String, FetchError> {
    let mut stream = tokio::net::TcpStream::connect((u.host.as_str(), u.port))
        .await
        .map_err(|e| FetchError::Connect(e.to_string()))?;
    let host = if u.host.contains(':') { format!("[{}]", u.host) } else { u.host.clone() };
    let req = format!(
        "GET {} HTTP/1.0\r\nHost: {host}:{}\r\nUser-Agent: trellisd/{}\r\nAccept: text/plain\r\nConnection: close\r\n\r\n",
        u.path,
        u.port,
        env!("CARGO_PKG_VERSION")
    );
    stream.write_all(req.as_bytes()).await.map_err(|e| FetchError::Connect(e.to_string()))?;
    let limit = MAX_HEADER_BYTES + MAX_SECURITY_TXT_BYTES;
    let mut buf = Vec::with_capacity(4096);
    // Read one byte past the limit to tell "exactly at the limit" from "over it".
    let mut reader = (&mut stream).take(limit as u64 + 1);
    reader.read_to_end(&mut buf).await.map_err(|e| FetchError::Connect(e.to_string()))?;
    if buf.len() > limit {
        return Err(FetchError::TooLarge(limit));
    }
    parse_response(&buf)
}

fn parse_response(buf: &[u8]) -> Result<String, FetchError> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").ok_or(FetchError::Malformed("no end of headers"))?;
    if end > MAX_HEADER_BYTES {
        return Err(FetchError::TooLarge(MAX_HEADER_BYTES));
    }
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| FetchError::Malformed("headers are not text"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    if !version.starts_with("HTTP/1.") {
        return Err(FetchError::Malformed("no HTTP status line"));
    }
    let header = |name: &str| {
        head.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    match code {
        "200" => {}
        "301" | "302" | "303" | "307" | "308" => {
            return Err(FetchError::Redirect(header("location").unwrap_or_else(|| "?".into())));
        }
        _ => return Err(FetchError::Status(status_line.chars().take(80).collect())),
    }
    if let Some(ct) = header("content-type")
        && !ct.to_ascii_lowercase().starts_with("text/plain")
    {
        return Err(FetchError::ContentType(ct));
    }
    if header("transfer-encoding").is_some_and(|t| t.to_ascii_lowercase().contains("chunked")) {
        return Err(FetchError::Malformed("chunked body in an answer to HTTP/1.0"));
    }
    let mut body = &buf[end + 4..];
    if let Some(n) = header("content-length").and_then(|n| n.parse::<usize>().ok()) {
        body = &body[..n.min(body.len())];
    }
    if body.len() > MAX_SECURITY_TXT_BYTES {
        return Err(FetchError::TooLarge(MAX_SECURITY_TXT_BYTES));
    }
    String::from_utf8(body.to_vec()).map_err(|_| FetchError::NotText)
}

fn unchecked(detail: impl Into<String>) -> EvidenceCheck {
    EvidenceCheck { status: "unchecked".into(), detail: detail.into() }
}

fn failed(detail: impl Into<String>) -> EvidenceCheck {
    EvidenceCheck { status: "failed".into(), detail: detail.into() }
}

/// Check the evidence URL of an observed answer at `now_ms`. `contact` is the answer's stated
/// contact, which the file must list when given.
pub async fn check_evidence(url: &str, contact: Option<&str>, now_ms: u64) -> EvidenceCheck {
    let u = url.trim();
    let path = u.split(['?', '#']).next().unwrap_or(u);
    if !path.ends_with("/security.txt") {
        return unchecked("only security.txt evidence is checked automatically; verify this link by hand");
    }
    if u.starts_with("https://") {
        return unchecked("https is not fetched by this build (no TLS client); open the URL to check it by hand");
    }
    let text = match fetch(u).await {
        Ok(t) => t,
        Err(e) => return failed(format!("fetching {u}: {e}")),
    };
    let s = match security_txt::check(&text, now_ms) {
        Ok(s) => s,
        Err(e) => return failed(format!("security.txt at {u}: {e}")),
    };
    if let Some(c) = contact.map(str::trim).filter(|c| !c.is_empty() && !matches!(*c, "yes" | "no")) {
        let want = c.to_ascii_lowercase();
        if !s
            .contacts
            .iter()
            .any(|k| k.to_ascii_lowercase().trim_start_matches("mailto:") == want.trim_start_matches("mailto:"))
        {
            return failed(format!("security.txt at {u} does not list the stated contact {c:?}"));
        }
    }
    let mut detail = format!(
        "security.txt valid until {}; contact {}",
        trellis_proto::formats::time::format_rfc3339_ms(s.expires_ms),
        s.contacts.join(", ")
    );
    if s.signed {
        detail.push_str("; OpenPGP signature present, not verified");
    }
    EvidenceCheck { status: "verified".into(), detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://127.0.0.1:8080/.well-known/security.txt").unwrap(),
            HttpUrl { host: "127.0.0.1".into(), port: 8080, path: "/.well-known/security.txt".into() }
        );
        assert_eq!(parse_url("http://[::1]/security.txt").unwrap().host, "::1");
        assert_eq!(parse_url("http://[::1]:81/security.txt").unwrap().port, 81);
        assert!(parse_url("https://example.com/").is_err());
        assert!(parse_url("http://user@host/").is_err());
        assert!(parse_url("http://host/a b").is_err());
    }

    #[test]
    fn responses() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\nhello world";
        assert_eq!(parse_response(ok).unwrap(), "hello");
        let html = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>";
        assert!(matches!(parse_response(html), Err(FetchError::ContentType(_))));
        let moved = b"HTTP/1.1 301 Moved\r\nLocation: http://x/security.txt\r\n\r\n";
        assert_eq!(parse_response(moved), Err(FetchError::Redirect("http://x/security.txt".into())));
        assert!(matches!(parse_response(b"HTTP/1.1 404 Not Found\r\n\r\n"), Err(FetchError::Status(_))));
        assert!(parse_response(b"garbage").is_err());
    }
}
