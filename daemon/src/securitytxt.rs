//! Fetching a security.txt named as evidence of an observed posture answer, so the node that
//! *receives* an attestation can check it rather than take it on trust. The rules are judged
//! by `trellis_proto::posture::security_txt`; this file only does the I/O.
//!
//! HTTPS only, as RFC 9116 requires: rustls with the `ring` provider, the server's certificate
//! checked against the system's CA bundle (or the file `evidence_ca_file` names), then one
//! HTTP/1.0 GET with `Connection: close`, read to EOF. HTTP/1.0 means the server must not answer
//! chunked, so the body is the bytes after the headers. A plain `http://` URL is reported
//! "unchecked" with that reason.
//!
//! A peer chooses the URL this node fetches, so the fetch is kept harmless: only a path ending
//! in `security.txt` is fetched (the RFC's locations); the host name is resolved once and every
//! address it resolves to must be a public one — loopback, private, link-local, shared, multicast
//! and other special ranges are refused unless the operator allows them (`evidence_allow_private`),
//! and the connection goes to the address that was checked, so a second resolution cannot
//! change it; the whole exchange is bounded in time ([`FETCH_TIMEOUT`]) and size; redirects are
//! not followed; and the fetch runs only when a user asks to see the attestation
//! (`trellis posture show`), never on receipt.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt};
use tokio_util::compat::TokioAsyncReadCompatExt;
use trellis_proto::posture::security_txt::{self, MAX_SECURITY_TXT_BYTES};

use crate::api::types::EvidenceCheck;

/// The whole fetch — resolve, connect, handshake, send, receive — must finish within this.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// Response headers larger than this are refused.
const MAX_HEADER_BYTES: usize = 8 * 1024;

/// CA bundles tried, in order, when none is configured.
const SYSTEM_CA_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// What the fetch may reach and whom it trusts.
#[derive(Clone, Debug, Default)]
pub struct FetchPolicy {
    /// Fetch from loopback, private, link-local and other non-public addresses (a lab, tests).
    pub allow_private: bool,
    /// PEM file of the CA certificates to trust; `None`: the system's bundle.
    pub ca_file: Option<PathBuf>,
}

/// Why a fetch did not produce a body.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    #[error("not an https:// URL: {0}")]
    BadUrl(String),
    #[error("{0} is not a public address; the node refuses to fetch it (set evidence_allow_private to allow)")]
    NotPublic(IpAddr),
    #[error("cannot resolve {0}")]
    Resolve(String),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("TLS: {0}")]
    Tls(String),
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
pub(crate) struct HttpsUrl {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) path: String,
}

pub(crate) fn parse_url(url: &str) -> Result<HttpsUrl, FetchError> {
    let bad = || FetchError::BadUrl(url.chars().take(200).collect());
    let rest = url.trim().strip_prefix("https://").ok_or_else(bad)?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') || path.contains(['\r', '\n', ' ']) {
        return Err(bad());
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, p.parse::<u16>().map_err(|_| bad())?),
        _ => (authority, 443),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    if host.is_empty() {
        return Err(bad());
    }
    Ok(HttpsUrl { host, port, path: path.split('#').next().unwrap_or("/").to_string() })
}

/// Whether `ip` is an address on the public internet: not loopback, private (RFC 1918, unique
/// local), link-local, shared (RFC 6598), unspecified, broadcast, multicast, documentation,
/// benchmarking or reserved, including the IPv4-mapped and NAT64 forms of those.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            if s[0] == 0x64 && s[1] == 0xff9b {
                let v4 = std::net::Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
                return is_public(IpAddr::V4(v4));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || s[0] == 0x0100
                || (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0))
        }
    }
}

/// The addresses `host` resolves to, every one of them allowed by `policy`.
pub(crate) async fn resolve(u: &HttpsUrl, policy: &FetchPolicy) -> Result<Vec<SocketAddr>, FetchError> {
    let addrs: Vec<SocketAddr> = match u.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, u.port)],
        Err(_) => tokio::net::lookup_host((u.host.as_str(), u.port))
            .await
            .map_err(|e| FetchError::Resolve(format!("{}: {e}", u.host)))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(FetchError::Resolve(u.host.clone()));
    }
    if !policy.allow_private
        && let Some(a) = addrs.iter().find(|a| !is_public(a.ip()))
    {
        return Err(FetchError::NotPublic(a.ip()));
    }
    Ok(addrs)
}

/// The TLS client configuration: the ring provider, safe default protocol versions, the CAs of
/// `policy` (or the system's).
pub(crate) fn tls_config(policy: &FetchPolicy) -> Result<Arc<rustls::ClientConfig>, FetchError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let file = match &policy.ca_file {
        Some(f) => f.clone(),
        None => SYSTEM_CA_FILES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .ok_or_else(|| FetchError::Tls("no CA bundle found; set evidence_ca_file".into()))?,
    };
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(&file)
        .map_err(|e| FetchError::Tls(format!("{}: {e}", file.display())))?
        .filter_map(Result::ok);
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(FetchError::Tls(format!("{}: no CA certificate in it", file.display())));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| FetchError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// GET `url` (https only) under `policy` and return the body of a 200 text/plain answer.
pub async fn fetch(url: &str, policy: &FetchPolicy) -> Result<String, FetchError> {
    let u = parse_url(url)?;
    tokio::time::timeout(FETCH_TIMEOUT, get(&u, policy)).await.map_err(|_| FetchError::Timeout)?
}

async fn get(u: &HttpsUrl, policy: &FetchPolicy) -> Result<String, FetchError> {
    let addrs = resolve(u, policy).await?;
    let config = tls_config(policy)?;
    let tcp = tokio::net::TcpStream::connect(addrs.as_slice()).await.map_err(|e| FetchError::Connect(e.to_string()))?;
    let name = rustls::pki_types::ServerName::try_from(u.host.clone())
        .map_err(|e| FetchError::BadUrl(format!("{}: {e}", u.host)))?;
    let mut stream = futures_rustls::TlsConnector::from(config)
        .connect(name, tcp.compat())
        .await
        .map_err(|e| FetchError::Tls(e.to_string()))?;
    let host = if u.host.contains(':') { format!("[{}]", u.host) } else { u.host.clone() };
    let req = format!(
        "GET {} HTTP/1.0\r\nHost: {host}:{}\r\nUser-Agent: trellisd/{}\r\nAccept: text/plain\r\nConnection: close\r\n\r\n",
        u.path,
        u.port,
        env!("CARGO_PKG_VERSION")
    );
    stream.write_all(req.as_bytes()).await.map_err(|e| FetchError::Connect(e.to_string()))?;
    stream.flush().await.map_err(|e| FetchError::Connect(e.to_string()))?;
    let limit = MAX_HEADER_BYTES + MAX_SECURITY_TXT_BYTES;
    let mut buf = Vec::with_capacity(4096);
    // Read one byte past the limit to tell "exactly at the limit" from "over it". A server that
    // closes without TLS close_notify ends the body too (HTTP/1.0 ends at EOF).
    let mut reader = (&mut stream).take(limit as u64 + 1);
    match reader.read_to_end(&mut buf).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => {}
        Err(e) => return Err(FetchError::Connect(e.to_string())),
    }
    if buf.len() > limit {
        return Err(FetchError::TooLarge(limit));
    }
    parse_response(&buf)
}

/// An HTTP/1.x response read whole: its status code and line, headers and body (cut to its
/// Content-Length). Shared by every HTTPS client of the node (security.txt evidence, feeds).
pub(crate) struct RawResponse<'a> {
    pub code: &'a str,
    pub status_line: &'a str,
    head: &'a str,
    pub body: &'a [u8],
}

impl RawResponse<'_> {
    /// The value of header `name` (case-insensitive), trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// Split a response read to its end: headers of at most [`MAX_HEADER_BYTES`], an `HTTP/1.x`
/// status line, no chunked body (requests are HTTP/1.0), and a body no shorter than its
/// Content-Length.
pub(crate) fn split_response(buf: &[u8]) -> Result<RawResponse<'_>, FetchError> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").ok_or(FetchError::Malformed("no end of headers"))?;
    if end > MAX_HEADER_BYTES {
        return Err(FetchError::TooLarge(MAX_HEADER_BYTES));
    }
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| FetchError::Malformed("headers are not text"))?;
    let status_line = head.split("\r\n").next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    if !version.starts_with("HTTP/1.") {
        return Err(FetchError::Malformed("no HTTP status line"));
    }
    let mut r = RawResponse { code, status_line, head, body: &buf[end + 4..] };
    if r.header("transfer-encoding").is_some_and(|t| t.to_ascii_lowercase().contains("chunked")) {
        return Err(FetchError::Malformed("chunked body in an answer to HTTP/1.0"));
    }
    if let Some(n) = r.header("content-length").and_then(|n| n.parse::<usize>().ok()) {
        if n > r.body.len() {
            return Err(FetchError::Malformed("the body is shorter than its Content-Length"));
        }
        r.body = &r.body[..n];
    }
    Ok(r)
}

fn parse_response(buf: &[u8]) -> Result<String, FetchError> {
    let r = split_response(buf)?;
    match r.code {
        "200" => {}
        "301" | "302" | "303" | "307" | "308" => {
            return Err(FetchError::Redirect(r.header("location").unwrap_or_else(|| "?".into())));
        }
        _ => return Err(FetchError::Status(r.status_line.chars().take(80).collect())),
    }
    if let Some(ct) = r.header("content-type")
        && !ct.to_ascii_lowercase().starts_with("text/plain")
    {
        return Err(FetchError::ContentType(ct));
    }
    if r.body.len() > MAX_SECURITY_TXT_BYTES {
        return Err(FetchError::TooLarge(MAX_SECURITY_TXT_BYTES));
    }
    String::from_utf8(r.body.to_vec()).map_err(|_| FetchError::NotText)
}

fn unchecked(detail: impl Into<String>) -> EvidenceCheck {
    EvidenceCheck { status: "unchecked".into(), detail: detail.into() }
}

fn failed(detail: impl Into<String>) -> EvidenceCheck {
    EvidenceCheck { status: "failed".into(), detail: detail.into() }
}

/// Check the evidence URL of an observed answer at `now_ms` under `policy`. `contact` is the
/// answer's stated contact, which the file must list when given.
pub async fn check_evidence(url: &str, contact: Option<&str>, now_ms: u64, policy: &FetchPolicy) -> EvidenceCheck {
    let u = url.trim();
    let path = u.split(['?', '#']).next().unwrap_or(u);
    if !path.ends_with("/security.txt") {
        return unchecked("only security.txt evidence is checked automatically; verify this link by hand");
    }
    if u.starts_with("http://") {
        return unchecked("RFC 9116 requires https; a security.txt over plain http is not fetched");
    }
    let text = match fetch(u, policy).await {
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
            parse_url("https://127.0.0.1:8443/.well-known/security.txt").unwrap(),
            HttpsUrl { host: "127.0.0.1".into(), port: 8443, path: "/.well-known/security.txt".into() }
        );
        assert_eq!(parse_url("https://[::1]/security.txt").unwrap().host, "::1");
        assert_eq!(parse_url("https://[::1]/security.txt").unwrap().port, 443);
        assert_eq!(parse_url("https://[::1]:81/security.txt").unwrap().port, 81);
        assert!(parse_url("http://example.com/").is_err());
        assert!(parse_url("https://user@host/").is_err());
        assert!(parse_url("https://host/a b").is_err());
        assert!(parse_url("https://:443/").is_err());
    }

    #[test]
    fn public_addresses() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "2001:db8::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["1.1.1.1", "93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
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
