//! Issue 16.7: security.txt evidence is fetched over HTTPS (rustls, ring provider) and checked
//! against the CAs the node trusts, and a URL that names a private, loopback or link-local
//! address is refused unless the operator allows it. The server is a local TLS server with a
//! certificate from a CA made for the test (rcgen); the node trusts that CA through
//! `FetchPolicy::ca_file`, as an operator would with `evidence_ca_file`.

use std::sync::Arc;

use futures::{AsyncReadExt, AsyncWriteExt};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use tokio_util::compat::TokioAsyncReadCompatExt;
use trellis_daemon::home::now_ms;
use trellis_daemon::securitytxt::{FetchPolicy, check_evidence};

const BODY: &str = "Contact: mailto:security@example.com\r\nExpires: 2099-01-01T00:00:00.000Z\r\n";

/// A CA, and a server certificate for `localhost` and 127.0.0.1 signed by it: (CA PEM, chain,
/// key).
fn pki() -> (String, rustls::pki_types::CertificateDer<'static>, rustls::pki_types::PrivateKeyDer<'static>) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca_cert, &ca_key)
        .unwrap();
    let der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    (ca_cert.pem(), cert.der().clone(), der)
}

/// An HTTPS server on 127.0.0.1 answering every request with `BODY` as text/plain.
async fn server(
    chain: rustls::pki_types::CertificateDer<'static>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![chain], key)
        .unwrap();
    let acceptor = futures_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp.compat()).await else { return };
                let mut req = Vec::new();
                let mut buf = [0u8; 512];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let reply = format!(
                    "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{BODY}",
                    BODY.len()
                );
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.close().await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_txt_is_checked_over_https_and_private_addresses_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, chain, key) = pki();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let port = server(chain, key).await;
    let url = format!("https://127.0.0.1:{port}/.well-known/security.txt");
    let allowed = FetchPolicy { allow_private: true, ca_file: Some(ca_file.clone()) };

    // Trusted CA, private addresses allowed (as in a lab): verified, contact matched.
    let c = check_evidence(&url, Some("security@example.com"), now_ms(), &allowed).await;
    assert_eq!(c.status, "verified", "{}", c.detail);
    let by_name = format!("https://localhost:{port}/.well-known/security.txt");
    let c = check_evidence(&by_name, None, now_ms(), &allowed).await;
    assert_eq!(c.status, "verified", "{}", c.detail);

    // The default policy refuses the loopback address, by literal and by name, before connecting.
    let strict = FetchPolicy { allow_private: false, ca_file: Some(ca_file.clone()) };
    for u in [&url, &by_name] {
        let c = check_evidence(u, None, now_ms(), &strict).await;
        assert_eq!(c.status, "failed");
        assert!(c.detail.contains("not a public address"), "{}", c.detail);
    }
    for u in ["https://169.254.169.254/security.txt", "https://10.0.0.1/security.txt", "https://[::1]/security.txt"] {
        let c = check_evidence(u, None, now_ms(), &strict).await;
        assert!(c.detail.contains("not a public address"), "{u}: {}", c.detail);
    }

    // A CA the node does not trust: the handshake fails, nothing is read.
    let (other_ca, _, _) = pki();
    let other_file = dir.path().join("other.pem");
    std::fs::write(&other_file, other_ca).unwrap();
    let untrusting = FetchPolicy { allow_private: true, ca_file: Some(other_file) };
    let c = check_evidence(&url, None, now_ms(), &untrusting).await;
    assert_eq!(c.status, "failed");
    assert!(c.detail.contains("TLS"), "{}", c.detail);

    // Plain http is not fetched at all (RFC 9116 requires https).
    let c = check_evidence(&format!("http://127.0.0.1:{port}/security.txt"), None, now_ms(), &allowed).await;
    assert_eq!(c.status, "unchecked");
}
