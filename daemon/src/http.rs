//! The accept loop shared by the node's HTTP servers (the local API on its unix socket, TAXII
//! and metrics on TCP): one task per connection, HTTP/1.1, until `shutdown` resolves.
//!
//! Every server runs under [`Limits`]: a client must send its request headers within
//! `header_timeout` (hyper enforces it only when given a timer, which is set here) or the
//! connection is closed; at most `max_connections` connections are served at once (further
//! ones wait in the listen backlog until one ends); a request whose declared body is larger than
//! `max_body` is answered 413 before its handler runs, and on servers that take no body at all
//! (`max_body == 0`) so is any request with a body, declared or chunked. Handlers that read a
//! body cap what they read as well (the API reads through `http_body_util::Limited`).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};

/// Bounds of one server.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Time a client has to send a request's headers (also the idle time between requests).
    pub header_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Largest request body, in bytes; 0: the server takes no request body.
    pub max_body: u64,
}

impl Limits {
    /// Servers that only answer GET (TAXII, metrics).
    pub const fn no_body(max_connections: usize) -> Limits {
        Limits { header_timeout: HEADER_TIMEOUT, max_connections, max_body: 0 }
    }
}

/// Time to send request headers, on every server.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// A listening socket the servers accept connections from.
pub trait Listener {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn accept_stream(&self) -> impl Future<Output = std::io::Result<Self::Stream>> + Send;
}

impl Listener for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;
    async fn accept_stream(&self) -> std::io::Result<Self::Stream> {
        self.accept().await.map(|(s, _)| s)
    }
}

impl Listener for tokio::net::UnixListener {
    type Stream = tokio::net::UnixStream;
    async fn accept_stream(&self) -> std::io::Result<Self::Stream> {
        self.accept().await.map(|(s, _)| s)
    }
}

/// Whether a request carries a body larger than `max` (declared), or any body when `max` is 0.
fn body_too_large<B>(req: &Request<B>, max: u64) -> bool {
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .map(|v| v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(u64::MAX));
    let chunked = req.headers().contains_key(hyper::header::TRANSFER_ENCODING);
    match declared {
        Some(n) => n > max,
        None => max == 0 && chunked,
    }
}

/// Answer every request on `listener` with `handler` until `shutdown`, under `limits`. A failed
/// accept (a client that went away, a descriptor limit) skips that connection; the server keeps
/// running.
pub async fn serve<L, H, F, B>(listener: L, limits: Limits, shutdown: impl Future<Output = ()>, handler: H)
where
    L: Listener,
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    serve_wrapped(listener, limits, shutdown, |s| std::future::ready(Ok(s)), handler).await
}

/// [`serve`], with each accepted stream first passed through `wrap` (a TLS handshake) in the
/// connection's own task, so a slow handshake holds up only its connection. `wrap` must finish
/// within the header timeout or the connection is dropped.
pub async fn serve_wrapped<L, W, WF, S, H, F, B>(
    listener: L,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
    wrap: W,
    handler: H,
) where
    L: Listener,
    W: Fn(L::Stream) -> WF + Clone + Send + Sync + 'static,
    WF: Future<Output = std::io::Result<S>> + Send + 'static,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = Arc::clone(&slots).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept_stream() => match accepted {
                Ok(s) => s,
                Err(_) => continue,
            },
        };
        let handler = handler.clone();
        let wrap = wrap.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let stream = match tokio::time::timeout(limits.header_timeout, wrap(stream)).await {
                Ok(Ok(s)) => s,
                _ => return,
            };
            let svc = service_fn(move |req: Request<Incoming>| {
                let reply = (!body_too_large(&req, limits.max_body)).then(|| handler(req));
                async move {
                    let response = match reply {
                        Some(r) => r.await.map(Either::Left),
                        None => Response::builder()
                            .status(StatusCode::PAYLOAD_TOO_LARGE)
                            .header(hyper::header::CONNECTION, "close")
                            .body(Either::Right(Full::new(Bytes::from(format!(
                                "request body over {} bytes\n",
                                limits.max_body
                            )))))
                            .unwrap_or_else(|_| Response::new(Either::Right(Full::new(Bytes::new())))),
                    };
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_buf_size(64 * 1024)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// The segments of a request path, each percent-decoded (`water%20utilities` is one segment
/// `water utilities`; `a%2Fb` is one segment `a/b`). Invalid escapes stay as written; bytes
/// that are not UTF-8 become U+FFFD.
pub fn path_segments(path: &str) -> Vec<String> {
    path.trim_matches('/')
        .split('/')
        .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect()
}

/// The query parameters of a request, decoded as HTML forms encode them (`+` is a space,
/// `%2B` a plus), in order. The local API, TAXII and the console all read queries this way.
pub fn query_pairs<B>(req: &Request<B>) -> Vec<(String, String)> {
    form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()).into_owned().collect()
}

/// The first value of query parameter `name`.
pub fn query_param<B>(req: &Request<B>, name: &str) -> Option<String> {
    query_pairs(req).into_iter().find_map(|(k, v)| (k == name).then_some(v))
}

#[cfg(test)]
mod decode_tests {
    use super::*;

    #[test]
    fn segments_and_queries_decode_once() {
        assert_eq!(path_segments("/v1/groups/water%20utilities"), ["v1", "groups", "water utilities"]);
        assert_eq!(path_segments("/a%2Fb/100%/%zz"), ["a/b", "100%", "%zz"]);
        let req =
            Request::builder().uri("/x?group=a+b%2Bc&added_after=2026-01-01T00%3A00%3A00Z&group=2").body(()).unwrap();
        assert_eq!(query_param(&req, "group").as_deref(), Some("a b+c"));
        assert_eq!(query_param(&req, "added_after").as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(query_param(&req, "missing"), None);
    }
}
