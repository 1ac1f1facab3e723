//! The web console's server, in process: over TLS on a non-loopback-capable configuration (the
//! certificate and key from PEM files), the one-time login link the API issues, the session
//! cookie's attributes (Secure under TLS), and the refusal to start a console beyond loopback
//! without TLS. The browser-driven flow is `tests/tests/web_console.rs`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt};
use tokio_util::compat::TokioAsyncReadCompatExt;
use trellis_api::client::Client;
use trellis_api::types::WebLogin;
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

/// One plain HTTP request (Connection: close); returns status, head and body.
async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// A multipart/form-data body of text fields and one file.
fn multipart(fields: &[(&str, &str)], file: (&str, &str, &[u8])) -> Vec<u8> {
    let mut b = Vec::new();
    for (k, v) in fields {
        b.extend_from_slice(format!("--XyZ\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes());
    }
    let (name, filename, bytes) = file;
    b.extend_from_slice(
        format!("--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/json\r\n\r\n")
            .as_bytes(),
    );
    b.extend_from_slice(bytes);
    b.extend_from_slice(b"\r\n--XyZ--\r\n");
    b
}

/// The forms refuse what the CLI refuses, with the engine's message, and accept a CSAF document
/// and an SBOM uploaded as files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forms_use_the_engines_rules_and_take_uploads() {
    let dir = tempfile::Builder::new().prefix("trl-webform").tempdir_in("/tmp").unwrap();
    let home = dir.path().join("a");
    let overrides = Overrides {
        listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
        web_listen: Some("127.0.0.1:0".into()),
        name: Some("Alpha".into()),
        ..Default::default()
    };
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
    let _: trellis_api::types::Created = client
        .post(
            "/v1/groups",
            &trellis_api::types::CreateGroup { name: "water".into(), kind: trellis_api::types::GroupKind::Sector },
        )
        .await
        .unwrap();

    // Sign in.
    let login: WebLogin = client.post("/v1/web/login", &serde_json::json!({})).await.unwrap();
    let path = &login.url[login.url.find("/login").unwrap()..];
    let (status, head, _) = request(addr, "GET", path, &[], b"").await;
    assert_eq!(status, 200, "{head}");
    let set = head.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).unwrap();
    let cookie = set.split_once(':').unwrap().1.trim().split(';').next().unwrap().to_string();
    let (_, _, page) = request(addr, "GET", "/publish", &[("Cookie", &cookie)], b"").await;
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let form = "application/x-www-form-urlencoded";

    // A severity that is not one: refused with the engine's words, the form kept.
    let body = format!("csrf={csrf}&group=water&tlp=green&title=T&summary=S&severity=high");
    let (status, _, page) =
        request(addr, "POST", "/publish", &[("Cookie", &cookie), ("Content-Type", form)], body.as_bytes()).await;
    assert_eq!(status, 422);
    assert!(page.contains("is neither a CVSS vector"), "{page}");
    assert!(page.contains("value=\"high\""), "the form keeps what was typed");
    // No summary: refused, as `advisory publish` refuses it.
    let body = format!("csrf={csrf}&group=water&tlp=green&title=T&summary=");
    let (status, _, page) =
        request(addr, "POST", "/publish", &[("Cookie", &cookie), ("Content-Type", form)], body.as_bytes()).await;
    assert_eq!(status, 422);
    assert!(page.contains("needs a summary"), "{page}");
    // The score the form shows as a vector is typed is the node's.
    let (status, _, score) = request(
        addr,
        "GET",
        "/cvss?vector=CVSS%3A3.1%2FAV%3AN%2FAC%3AL%2FPR%3AN%2FUI%3AN%2FS%3AU%2FC%3AH%2FI%3AH%2FA%3AH",
        &[("Cookie", &cookie)],
        b"",
    )
    .await;
    assert_eq!(status, 200);
    assert!(score.contains("\"score\":\"9.8\""), "{score}");

    // A CSAF document uploaded whole.
    let csaf =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto/tests/fixtures/csaf-informational.json"))
            .unwrap();
    let body = multipart(&[("csrf", &csrf), ("group", "water"), ("tlp", "clear")], ("document", "csaf.json", &csaf));
    let (status, head, _) = request(
        addr,
        "POST",
        "/publish",
        &[("Cookie", &cookie), ("Content-Type", "multipart/form-data; boundary=XyZ")],
        &body,
    )
    .await;
    assert_eq!(status, 303, "{head}");
    let list: Vec<trellis_api::types::AdvisoryView> = client.get("/v1/advisories").await.unwrap();
    assert_eq!(list.len(), 1);
    assert!(list[0].source_id.is_some(), "the CSAF document keeps its id");

    // An SBOM uploaded on the Affected page.
    let sbom =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto/tests/fixtures/cyclonedx-npm-app.json"))
            .unwrap();
    let body = multipart(&[("csrf", &csrf), ("name", "")], ("sbom", "app.cdx.json", &sbom));
    let (status, _, page) = request(
        addr,
        "POST",
        "/affected",
        &[("Cookie", &cookie), ("Content-Type", "multipart/form-data; boundary=XyZ")],
        &body,
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("Added app.cdx.json"), "{page}");
    let sboms: Vec<trellis_api::types::SbomInfo> = client.get("/v1/sbom").await.unwrap();
    assert_eq!(sboms.len(), 1);

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), task).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn a_bad_certificate_file_stops_the_node_at_start_naming_it() {
    let dir = tempfile::Builder::new().prefix("trl-webbad").tempdir_in("/tmp").unwrap();
    let home = dir.path().join("a");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(dir.path().join("c.pem"), "not a certificate\n").unwrap();
    std::fs::write(dir.path().join("k.pem"), "not a key\n").unwrap();
    std::fs::write(
        home.join("config.toml"),
        format!(
            "web_listen = \"127.0.0.1:0\"\nweb_tls_cert = \"{}\"\nweb_tls_key = \"{}\"\n",
            dir.path().join("c.pem").display(),
            dir.path().join("k.pem").display()
        ),
    )
    .unwrap();
    let overrides = Overrides { listen: vec!["/ip4/127.0.0.1/tcp/0".into()], ..Default::default() };
    let config = Config::load(&home, overrides).unwrap();
    let r = tokio::time::timeout(Duration::from_secs(20), trellis_daemon::run(config, std::future::pending(), |_| {}))
        .await
        .expect("run returns at once");
    let e = format!("{:#}", r.unwrap_err());
    assert!(e.contains("web_tls_cert") && e.contains("c.pem"), "{e}");
}
