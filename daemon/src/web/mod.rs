//! The web console: server-rendered pages for people who would rather look than type, served by
//! the node itself on `web_listen` (off by default; loopback only unless TLS is configured).
//!
//! Every page calls the same engine functions as the local API's handlers (`api::server`), so a
//! rule (what TLP allows, how a severity is scored, who may invite) is decided in one place.
//!
//! Security: a browser gets in only through a one-time login link from `trellis web` (which
//! only the node's user can ask for, over the API socket); then a session cookie (HttpOnly,
//! SameSite=Strict, Secure under TLS) and a per-session CSRF token on every form, checked on
//! every POST. Without a session a page redirects to the login page and anything else answers
//! 401. Every response carries a strict Content-Security-Policy (scripts and styles from the
//! console only, no inline script), and every asset is in the binary: nothing is fetched from
//! elsewhere, so the console works offline. A request whose Host is not the console's own
//! address is refused (DNS rebinding), and a POST whose Origin is another site's too.

pub mod auth;
pub mod forms;
mod pages;
mod templates;
pub mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited, combinators::UnsyncBoxBody};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, LOCATION};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;

use crate::engine::Engine;
use auth::{Listening, Session};

pub(crate) type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Connections served at once.
const MAX_CONNECTIONS: usize = 64;
/// Largest form body, except SBOM uploads.
const MAX_FORM: usize = 2 * 1024 * 1024;

/// The policy every response carries: nothing but the console's own scripts, styles and
/// images, no inline script, no framing, forms only to the console.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `POST /v1/web/login` (the local API, which only the node's user can reach): a one-time
/// sign-in link to the console, for `trellis web`.
pub fn login_link(engine: &Engine) -> Result<crate::api::types::WebLogin, crate::engine::ActionError> {
    let Some(l) = engine.console().listening() else {
        return Err(crate::engine::ActionError::Conflict(
            "the web console is off on this node: start trellisd with --web-listen 127.0.0.1:7423 (or set \
             web_listen = \"127.0.0.1:7423\" in config.toml, or TRELLIS_WEB_LISTEN), then run `trellis web` again"
                .into(),
        ));
    };
    let (token, expires_ms) = engine.console().issue_login();
    let console = l.base_url();
    Ok(crate::api::types::WebLogin { url: format!("{console}/login?token={token}"), console, expires_ms })
}

/// Bind the console's listener.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("cannot listen for the web console on {addr}: {e}"))
}

/// Serve the console until `shutdown`, over TLS when `tls` is given.
pub async fn serve(
    listener: TcpListener,
    engine: Arc<Engine>,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let limits = crate::http::Limits {
        header_timeout: crate::http::HEADER_TIMEOUT,
        max_connections: MAX_CONNECTIONS,
        max_body: trellis_proto::formats::cyclonedx::MAX_SBOM_BYTES as u64 + 1024 * 1024,
    };
    let handler = move |req| handle(Arc::clone(&engine), req);
    match tls {
        None => crate::http::serve(listener, limits, shutdown, handler).await,
        Some(cfg) => {
            let acceptor = tls::acceptor(cfg);
            crate::http::serve_wrapped(listener, limits, shutdown, move |s| tls::accept(acceptor.clone(), s), handler)
                .await
        }
    }
}

/// Every request: answer it, then add the security headers.
async fn handle(engine: Arc<Engine>, req: Request<Incoming>) -> Response<Body> {
    let mut resp = route(engine, req).await;
    let h = resp.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    if !h.contains_key("cache-control") {
        h.insert("cache-control", HeaderValue::from_static("no-store"));
    }
    resp
}

pub(crate) fn text(status: StatusCode, msg: impl Into<String>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(msg.into())).boxed_unsync())
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed_unsync()))
}

pub(crate) fn html(status: StatusCode, page: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/html; charset=utf-8")
        .body(Full::new(Bytes::from(page)).boxed_unsync())
        .unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "response"))
}

pub(crate) fn redirect(location: &str) -> Response<Body> {
    let mut r = text(StatusCode::SEE_OTHER, format!("see {location}\n"));
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(LOCATION, v);
    }
    r
}

fn asset(content_type: &'static str, bytes: &'static [u8]) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", content_type)
        .header("cache-control", "no-cache")
        .body(Full::new(Bytes::from_static(bytes)).boxed_unsync())
        .unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "asset"))
}

/// The name of the session cookie: with the port, since a browser sends a host's cookies to
/// every port on it and two nodes on one machine must not sign each other's console out.
pub fn cookie_name(listening: &Listening) -> String {
    format!("trellis_session_{}", listening.addr.port())
}

/// The value of cookie `name` in the request.
fn cookie<B>(req: &Request<B>, name: &str) -> Option<String> {
    req.headers().get_all(hyper::header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|line| {
        line.split(';').find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then(|| v.trim().to_string())
        })
    })
}

/// Whether the request's Host is one the console answers to: under plain HTTP (loopback), the
/// bound address or `localhost` with the bound port; under TLS, any name (the certificate
/// decides what a browser accepts).
fn host_ok<B>(req: &Request<B>, listening: &Listening) -> bool {
    if listening.tls {
        return true;
    }
    let Some(host) = req.headers().get(hyper::header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let port = listening.addr.port();
    let allowed = [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        listening.base_url().split("://").nth(1).unwrap_or_default().to_string(),
    ];
    allowed.iter().any(|a| a.eq_ignore_ascii_case(host.trim()))
}

/// Whether a POST's Origin (when the browser sends one) is the console itself.
fn origin_ok<B>(req: &Request<B>) -> bool {
    let Some(origin) = req.headers().get(hyper::header::ORIGIN).and_then(|h| h.to_str().ok()) else {
        return true;
    };
    let host = req.headers().get(hyper::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

/// What a handler gets: the engine, the session, the query and (for a POST) the form.
pub(crate) struct Ctx {
    pub engine: Arc<Engine>,
    pub session: Session,
    pub session_id: String,
    pub listening: Listening,
    pub query: forms::Form,
    pub form: forms::Form,
}

fn query(req: &Request<Incoming>) -> forms::Form {
    forms::urlencoded(req.uri().query().unwrap_or("").as_bytes())
}

async fn route(engine: Arc<Engine>, req: Request<Incoming>) -> Response<Body> {
    let Some(listening) = engine.console().listening() else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "the console is starting");
    };
    if !host_ok(&req, &listening) {
        return text(
            StatusCode::MISDIRECTED_REQUEST,
            format!("this console answers only as {}; open the link `trellis web` prints\n", listening.base_url()),
        );
    }
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    match (&method, path.as_str()) {
        (&Method::GET, "/static/app.css") => return asset("text/css; charset=utf-8", templates::APP_CSS.as_bytes()),
        (&Method::GET, "/static/app.js") => {
            return asset("text/javascript; charset=utf-8", templates::APP_JS.as_bytes());
        }
        (&Method::GET, "/static/logo.svg") => return asset("image/svg+xml", templates::LOGO_SVG.as_bytes()),
        (&Method::GET, "/favicon.ico") => return asset("image/svg+xml", templates::LOGO_SVG.as_bytes()),
        (&Method::GET, "/login") => return pages::login(&engine, &listening, &query(&req)),
        _ => {}
    }
    let session = cookie(&req, &cookie_name(&listening)).and_then(|id| engine.console().session(&id).map(|s| (id, s)));
    let Some((session_id, session)) = session else {
        if method == Method::GET && path != "/events" && path != "/cvss" {
            return redirect("/login");
        }
        return text(StatusCode::UNAUTHORIZED, "not signed in: open the console with the link `trellis web` prints\n");
    };
    let q = query(&req);
    let form = if method == Method::POST {
        if !origin_ok(&req) {
            return text(StatusCode::FORBIDDEN, "a form from another site was refused\n");
        }
        let ct = req.headers().get(hyper::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let max = if path == "/affected" {
            trellis_proto::formats::cyclonedx::MAX_SBOM_BYTES + 1024 * 1024
        } else {
            MAX_FORM
        };
        let bytes = match Limited::new(req.into_body(), max).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return text(StatusCode::PAYLOAD_TOO_LARGE, format!("the form is larger than {max} bytes\n")),
        };
        let form = match forms::Form::parse(&ct, &bytes) {
            Ok(f) => f,
            Err(e) => return text(StatusCode::BAD_REQUEST, format!("{e}\n")),
        };
        if !auth::ct_eq(form.get("csrf").as_bytes(), session.csrf.as_bytes()) {
            return text(
                StatusCode::FORBIDDEN,
                "the form's CSRF token is missing or wrong: reload the page and submit it again\n",
            );
        }
        form
    } else {
        forms::Form::default()
    };
    let ctx = Ctx { engine, session, session_id, listening, query: q, form };
    pages::route(ctx, &method, &path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(host: &str, origin: Option<&str>) -> Request<()> {
        let mut b = Request::builder().uri("/").header("host", host);
        if let Some(o) = origin {
            b = b.header("origin", o);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn hosts_and_origins() {
        let l = Listening { addr: "127.0.0.1:7423".parse().unwrap(), tls: false };
        assert!(host_ok(&req("127.0.0.1:7423", None), &l));
        assert!(host_ok(&req("localhost:7423", None), &l));
        assert!(!host_ok(&req("evil.example:7423", None), &l));
        assert!(!host_ok(&req("127.0.0.1:7424", None), &l));
        assert!(origin_ok(&req("127.0.0.1:7423", Some("http://127.0.0.1:7423"))));
        assert!(!origin_ok(&req("127.0.0.1:7423", Some("http://evil.example"))));
        assert!(origin_ok(&req("127.0.0.1:7423", None)));
    }

    #[test]
    fn cookies_by_name() {
        let r = Request::builder().header("cookie", "a=1; trellis_session_7423=xyz; b=2").body(()).unwrap();
        assert_eq!(cookie(&r, "trellis_session_7423").as_deref(), Some("xyz"));
        assert_eq!(cookie(&r, "trellis_session_7424"), None);
    }
}
