//! HTTPS for a console served beyond loopback: a certificate chain and key from PEM files
//! (`web_tls_cert`, `web_tls_key`), rustls with the ring provider already in the tree.

use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt, TokioAsyncReadCompatExt};

/// Load the certificate chain and private key; errors name the file and what is wrong.
pub fn server_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| anyhow::anyhow!("web_tls_cert {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("web_tls_cert {}: {e}", cert.display()))?;
    if chain.is_empty() {
        anyhow::bail!("web_tls_cert {}: no certificate in it (a PEM file was expected)", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("web_tls_key {}: no private key read from it ({e})", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| anyhow::anyhow!("web_tls_cert and web_tls_key do not make a usable pair: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

pub fn acceptor(config: Arc<rustls::ServerConfig>) -> futures_rustls::TlsAcceptor {
    futures_rustls::TlsAcceptor::from(config)
}

/// The TLS handshake of one connection.
pub async fn accept(
    acceptor: futures_rustls::TlsAcceptor,
    tcp: TcpStream,
) -> std::io::Result<Compat<futures_rustls::server::TlsStream<Compat<TcpStream>>>> {
    Ok(acceptor.accept(tcp.compat()).await?.compat())
}
