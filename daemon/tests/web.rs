//! The web console's server, in process: over TLS on a non-loopback-capable configuration (the
//! certificate and key from PEM files), the one-time login link the API issues, the session
//! cookie's attributes (Secure under TLS), and the refusal to start a console beyond loopback
//! without TLS. The browser-driven flow is `tests/tests/web_console.rs`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt};
use tokio_util::compat::TokioAsyncReadCompatExt;
use trellis_daemon::api::client::Client;
use trellis_daemon::api::types::WebLogin;
use trellis_daemon::config::{Config, Overrides};

/// A CA, and a certificate for 127.0.0.1 signed by it, written as PEM files; returns the CA's
/// PEM.
fn certificate(dir: &Path) -> String {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca_cert, &ca_key)
        .unwrap();
    std::fs::write(dir.join("console.crt"), cert.pem()).unwrap();
    std::fs::write(dir.join("console.key"), key.serialize_pem()).unwrap();
    ca_cert.pem()
}

/// One HTTPS GET; returns the reply's head.
async fn https_get(addr: std::net::SocketAddr, ca_pem: &str, path: &str) -> String {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut s = futures_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp.compat()).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf).to_string();
    text.split("\r\n\r\n").next().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_serves_https_with_a_one_time_link_and_a_secure_cookie() {
    let dir = tempfile::Builder::new().prefix("trl-webtls").tempdir_in("/tmp").unwrap();
    let home = dir.path().join("a");
    std::fs::create_dir_all(&home).unwrap();
    let ca = certificate(dir.path());
    std::fs::write(
        home.join("config.toml"),
        format!(
            "web_listen = \"127.0.0.1:0\"\nweb_tls_cert = \"{}\"\nweb_tls_key = \"{}\"\n",
            dir.path().join("console.crt").display(),
            dir.path().join("console.key").display()
        ),
    )
    .unwrap();
    let overrides = Overrides { listen: vec!["/ip4/127.0.0.1/tcp/0".into()], ..Default::default() };
    let config = Config::load(&home, overrides).unwrap();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(trellis_daemon::run(
        config,
        async {
            let _ = stop_rx.await;
        },
        move |r| {
            let _ = tx.send(r.web);
        },
    ));
    let addr = tokio::time::timeout(Duration::from_secs(20), rx).await.unwrap().unwrap().expect("console address");

    let client = Client::new(&home);
    let login: WebLogin = client.post("/v1/web/login", &serde_json::json!({})).await.unwrap();
    assert!(login.url.starts_with(&format!("https://127.0.0.1:{}/login?token=", addr.port())), "{}", login.url);
    let path = &login.url[login.url.find("/login").unwrap()..];

    // Without a session: the login page, 401.
    let head = https_get(addr, &ca, "/").await;
    assert!(head.starts_with("HTTP/1.1 303"), "{head}");
    // The link signs in once, with an HttpOnly, SameSite=Strict, Secure cookie.
    let head = https_get(addr, &ca, path).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let cookie = head.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).unwrap_or_default();
    for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(cookie.contains(attr), "{attr} missing: {cookie}");
    }
    assert!(head.to_ascii_lowercase().contains("content-security-policy: default-src 'none'"), "{head}");
    let again = https_get(addr, &ca, path).await;
    assert!(again.starts_with("HTTP/1.1 401"), "{again}");

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), task).await.unwrap().unwrap().unwrap();
}

#[test]
fn a_console_beyond_loopback_needs_tls() {
    let dir = tempfile::tempdir().unwrap();
    let bad = Overrides { web_listen: Some("0.0.0.0:7423".into()), ..Default::default() };
    let e = Config::load(dir.path(), bad).unwrap_err().to_string();
    assert!(e.contains("only over TLS") && e.contains("web_tls_cert"), "{e}");
    std::fs::write(dir.path().join("config.toml"), "web_tls_cert = \"/x.pem\"\n").unwrap();
    let e = Config::load(dir.path(), Overrides::default()).unwrap_err().to_string();
    assert!(e.contains("web_tls_key is not"), "{e}");
}

#[tokio::test]
async fn the_login_link_says_how_to_turn_the_console_on() {
    let dir = tempfile::Builder::new().prefix("trl-weboff").tempdir_in("/tmp").unwrap();
    let home = dir.path().join("a");
    let overrides = Overrides { listen: vec!["/ip4/127.0.0.1/tcp/0".into()], ..Default::default() };
    let config = Config::load(&home, overrides).unwrap();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(trellis_daemon::run(
        config,
        async {
            let _ = stop_rx.await;
        },
        move |_| {
            let _ = tx.send(());
        },
    ));
    tokio::time::timeout(Duration::from_secs(20), rx).await.unwrap().unwrap();
    let e = Client::new(&home).post::<_, WebLogin>("/v1/web/login", &serde_json::json!({})).await.unwrap_err();
    assert!(e.to_string().contains("--web-listen"), "{e}");
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), task).await.unwrap().unwrap().unwrap();
}
