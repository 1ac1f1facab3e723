//! HTTPS GET for feeds: the TLS, address and CA rules of the security.txt fetch
//! ([`crate::securitytxt`]: public addresses only unless `evidence_allow_private`, the system's
//! CAs or `evidence_ca_file`), with a size bound per request, a time bound, no redirects, and
//! conditional requests (`If-None-Match`, `If-Modified-Since`) so unchanged files cost a 304.

use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt};
use tokio_util::compat::TokioAsyncReadCompatExt;

use crate::securitytxt::{FetchError, FetchPolicy, parse_url, resolve, tls_config};

/// Each request (resolve, connect, handshake, send, receive) must finish within this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Response headers larger than this are refused.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The validators of a previous answer, sent back to ask "only if changed".
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Validators {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

/// What a GET returned.
#[derive(Debug)]
pub enum Got {
    /// 200: the body and its validators.
    Body(Vec<u8>, Validators),
    /// 304: unchanged since the validators sent.
    NotModified,
}

/// Why a feed request failed, in words for the report.
pub fn describe(e: &FetchError) -> String {
    match e {
        FetchError::NotPublic(ip) => {
            format!(
                "{ip} is not a public address; the node fetches feeds only from public addresses unless evidence_allow_private is set"
            )
        }
        FetchError::Timeout => "no complete answer within the time allowed".to_string(),
        FetchError::TooLarge(n) => format!("larger than the limit of {n} bytes"),
        FetchError::Redirect(to) => format!("redirected to {to}; feeds are not followed across redirects"),
        other => other.to_string(),
    }
}

/// How a GET is made beyond the defaults: the media type asked for, a bearer token, the time
/// bound, and which response headers the caller wants back.
#[derive(Clone, Copy, Debug)]
pub struct Options<'a> {
    /// `Accept` (default `*/*`).
    pub accept: &'a str,
    /// `Authorization: Bearer …`, when the source needs one.
    pub bearer: Option<&'a str>,
    /// The whole request must finish within this.
    pub timeout: Duration,
    /// Response headers (lower case) returned with the body.
    pub headers: &'a [&'a str],
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options { accept: "*/*", bearer: None, timeout: REQUEST_TIMEOUT, headers: &[] }
    }
}

/// GET `url` (https only) under `policy`, refusing a body over `limit` bytes.
pub async fn get(url: &str, policy: &FetchPolicy, limit: usize, since: &Validators) -> Result<Got, FetchError> {
    get_with(url, policy, limit, since, &Options::default()).await.map(|(g, _)| g)
}

/// [`get`] with [`Options`]; also returns the response headers `opts.headers` names, as found.
pub async fn get_with(
    url: &str,
    policy: &FetchPolicy,
    limit: usize,
    since: &Validators,
    opts: &Options<'_>,
) -> Result<(Got, Vec<(String, String)>), FetchError> {
    let u = parse_url(url)?;
    // Header values sent come from the user or a server: only printable ASCII is sent.
    let clean = |v: &str| v.bytes().all(|b| (0x20..0x7f).contains(&b)) && v.len() <= 256;
    if !clean(opts.accept) || opts.bearer.is_some_and(|b| !clean(b)) {
        return Err(FetchError::BadUrl("a request header holds characters HTTP cannot carry".into()));
    }
    tokio::time::timeout(opts.timeout, async {
        let addrs = resolve(&u, policy).await?;
        let config = tls_config(policy)?;
        let tcp =
            tokio::net::TcpStream::connect(addrs.as_slice()).await.map_err(|e| FetchError::Connect(e.to_string()))?;
        let name = rustls::pki_types::ServerName::try_from(u.host.clone())
            .map_err(|e| FetchError::BadUrl(format!("{}: {e}", u.host)))?;
        let mut stream = futures_rustls::TlsConnector::from(config)
            .connect(name, tcp.compat())
            .await
            .map_err(|e| FetchError::Tls(e.to_string()))?;
        let host = if u.host.contains(':') { format!("[{}]", u.host) } else { u.host.clone() };
        let mut req = format!(
            "GET {} HTTP/1.0\r\nHost: {host}:{}\r\nUser-Agent: trellisd/{}\r\nAccept: {}\r\nConnection: close\r\n",
            u.path,
            u.port,
            env!("CARGO_PKG_VERSION"),
            opts.accept
        );
        if let Some(token) = opts.bearer {
            req.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if let Some(e) = since.etag.as_deref().filter(|v| clean(v)) {
            req.push_str(&format!("If-None-Match: {e}\r\n"));
        }
        if let Some(m) = since.last_modified.as_deref().filter(|v| clean(v)) {
            req.push_str(&format!("If-Modified-Since: {m}\r\n"));
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes()).await.map_err(|e| FetchError::Connect(e.to_string()))?;
        stream.flush().await.map_err(|e| FetchError::Connect(e.to_string()))?;
        let max = MAX_HEADER_BYTES + limit;
        let mut buf = Vec::with_capacity(8192.min(max));
        let mut reader = (&mut stream).take(max as u64 + 1);
        match reader.read_to_end(&mut buf).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => {}
            Err(e) => return Err(FetchError::Connect(e.to_string())),
        }
        if buf.len() > max {
            return Err(FetchError::TooLarge(limit));
        }
        let r = crate::securitytxt::split_response(&buf)?;
        let got = judge_response(&r, limit)?;
        let headers = opts.headers.iter().filter_map(|h| r.header(h).map(|v| (h.to_string(), v))).collect();
        Ok((got, headers))
    })
    .await
    .map_err(|_| FetchError::Timeout)?
}

#[cfg(test)]
fn parse_response(buf: &[u8], limit: usize) -> Result<Got, FetchError> {
    judge_response(&crate::securitytxt::split_response(buf)?, limit)
}

/// What a split response means for a feed: its body and validators, not modified, a redirect
/// (not followed), or a failure.
fn judge_response(r: &crate::securitytxt::RawResponse<'_>, limit: usize) -> Result<Got, FetchError> {
    match r.code {
        "200" => {}
        "304" => return Ok(Got::NotModified),
        "301" | "302" | "303" | "307" | "308" => {
            return Err(FetchError::Redirect(
                r.header("location").unwrap_or_else(|| "?".into()).chars().take(200).collect(),
            ));
        }
        _ => return Err(FetchError::Status(r.status_line.chars().take(80).collect())),
    }
    if r.body.len() > limit {
        return Err(FetchError::TooLarge(limit));
    }
    let validators = Validators { etag: r.header("etag"), last_modified: r.header("last-modified") };
    Ok(Got::Body(r.body.to_vec(), validators))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses() {
        let ok = b"HTTP/1.1 200 OK\r\nETag: \"abc\"\r\nContent-Length: 5\r\n\r\nhello world";
        match parse_response(ok, 100).unwrap() {
            Got::Body(b, v) => {
                assert_eq!(b, b"hello");
                assert_eq!(v.etag.as_deref(), Some("\"abc\""));
            }
            Got::NotModified => panic!(),
        }
        assert!(matches!(parse_response(b"HTTP/1.1 304 Not Modified\r\n\r\n", 10), Ok(Got::NotModified)));
        assert!(matches!(parse_response(b"HTTP/1.1 200 OK\r\n\r\n0123456789ab", 10), Err(FetchError::TooLarge(10))));
        assert!(matches!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort", 100),
            Err(FetchError::Malformed(_))
        ));
        assert!(matches!(parse_response(b"HTTP/1.1 404 Not Found\r\n\r\n", 10), Err(FetchError::Status(_))));
    }
}
