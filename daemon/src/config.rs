//! Node configuration: defaults < `config.toml` in the home < `TRELLIS_*` environment < flags.
//! Secrets never come from here.

use std::path::{Path, PathBuf};

use libp2p::Multiaddr;
use serde::Deserialize;

/// The fixed default TCP port (documented in the README and the example config).
pub const DEFAULT_PORT: u16 = 7420;

/// The effective configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub home: PathBuf,
    pub listen: Vec<Multiaddr>,
    pub bootstrap: Vec<Multiaddr>,
    pub mdns: bool,
    /// Find peers of our groups through the DHT (default on).
    pub discovery: bool,
    /// Organization name used when the identity is created on first start.
    pub name: Option<String>,
    /// Serve the read-only TAXII 2.1 API on this TCP address (off when None).
    pub taxii_listen: Option<std::net::SocketAddr>,
    /// Serve Prometheus metrics on this loopback address (off when None).
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Let security.txt evidence checks fetch from loopback, private and link-local addresses.
    pub evidence_allow_private: bool,
    /// CA certificates (PEM) trusted by security.txt evidence checks; None: the system's.
    pub evidence_ca_file: Option<PathBuf>,
    /// The file holding the passphrase of a protected identity key, with the setting that named
    /// it (`--passphrase-file`, `TRELLIS_PASSPHRASE_FILE` or `passphrase_file`). The path, not
    /// the secret: the passphrase itself never sits in the configuration.
    pub passphrase_file: Option<(PathBuf, &'static str)>,
    /// Serve the web console on this TCP address (off when None): loopback, or any address
    /// with `web_tls` set.
    pub web_listen: Option<std::net::SocketAddr>,
    /// The console's TLS certificate chain and private key (PEM files), when it serves HTTPS.
    pub web_tls: Option<WebTls>,
}

/// The web console's TLS certificate chain and key, both PEM files.
#[derive(Clone, Debug)]
pub struct WebTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `config.toml` in the home. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<Vec<String>>,
    pub bootstrap: Option<Vec<String>>,
    pub mdns: Option<bool>,
    pub discovery: Option<bool>,
    pub name: Option<String>,
    pub taxii_listen: Option<String>,
    pub metrics_listen: Option<String>,
    pub evidence_allow_private: Option<bool>,
    pub evidence_ca_file: Option<PathBuf>,
    /// A relative path is taken from the home.
    pub passphrase_file: Option<PathBuf>,
    pub web_listen: Option<String>,
    pub web_tls_cert: Option<PathBuf>,
    pub web_tls_key: Option<PathBuf>,
}

/// Settings given on the command line (None = not given).
#[derive(Debug, Default)]
pub struct Overrides {
    pub listen: Vec<String>,
    pub bootstrap: Vec<String>,
    pub mdns: Option<bool>,
    pub discovery: Option<bool>,
    pub name: Option<String>,
    pub taxii_listen: Option<String>,
    pub metrics_listen: Option<String>,
    pub passphrase_file: Option<PathBuf>,
    pub web_listen: Option<String>,
}

/// Parse a list of multiaddrs, naming the setting in errors.
fn addrs(setting: &str, list: &[String]) -> anyhow::Result<Vec<Multiaddr>> {
    list.iter()
        .map(|a| {
            a.trim().parse::<Multiaddr>().map_err(|e| {
                anyhow::anyhow!("{setting}: {a:?} is not a multiaddr ({e}); example: /ip4/127.0.0.1/tcp/{DEFAULT_PORT}")
            })
        })
        .collect()
}

fn env_list(name: &str) -> Option<Vec<String>> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
}

impl Config {
    /// Load for `home`, applying the file, the environment and `flags`, in that order.
    pub fn load(home: &Path, flags: Overrides) -> anyhow::Result<Config> {
        let path = home.join(crate::home::CONFIG_FILE);
        let file: FileConfig = if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        } else {
            FileConfig::default()
        };
        let mut listen = file.listen.unwrap_or_else(|| vec![format!("/ip4/0.0.0.0/tcp/{DEFAULT_PORT}")]);
        let mut bootstrap = file.bootstrap.unwrap_or_default();
        let mut mdns = file.mdns.unwrap_or(false);
        let mut name = file.name;
        let mut discovery = file.discovery.unwrap_or(true);
        if let Ok(v) = std::env::var("TRELLIS_DISCOVERY") {
            discovery = !matches!(v.trim(), "0" | "false" | "no" | "off");
        }
        if let Some(d) = flags.discovery {
            discovery = d;
        }
        if let Some(l) = env_list("TRELLIS_LISTEN") {
            listen = l;
        }
        if let Some(b) = env_list("TRELLIS_BOOTSTRAP") {
            bootstrap = b;
        }
        if let Ok(v) = std::env::var("TRELLIS_MDNS") {
            mdns = matches!(v.trim(), "1" | "true" | "yes" | "on");
        }
        if let Ok(v) = std::env::var("TRELLIS_NAME") {
            name = Some(v);
        }
        if !flags.listen.is_empty() {
            listen = flags.listen;
        }
        if !flags.bootstrap.is_empty() {
            bootstrap = flags.bootstrap;
        }
        if let Some(m) = flags.mdns {
            mdns = m;
        }
        if flags.name.is_some() {
            name = flags.name;
        }
        let mut taxii = file.taxii_listen;
        if let Ok(v) = std::env::var("TRELLIS_TAXII_LISTEN") {
            taxii = Some(v).filter(|v| !v.trim().is_empty());
        }
        if flags.taxii_listen.is_some() {
            taxii = flags.taxii_listen;
        }
        let taxii_listen = taxii
            .map(|a| {
                a.trim().parse::<std::net::SocketAddr>().map_err(|e| {
                    anyhow::anyhow!("taxii_listen: {a:?} is not a TCP address ({e}); example: 127.0.0.1:9443")
                })
            })
            .transpose()?;
        let mut metrics = file.metrics_listen;
        if let Ok(v) = std::env::var("TRELLIS_METRICS_LISTEN")
            && !v.trim().is_empty()
        {
            metrics = Some(v);
        }
        if flags.metrics_listen.is_some() {
            metrics = flags.metrics_listen;
        }
        let metrics_listen = match metrics {
            None => None,
            Some(text) => {
                let addr: std::net::SocketAddr = text.trim().parse().map_err(|e| {
                    anyhow::anyhow!("metrics_listen: {text:?} is not an address like 127.0.0.1:9464 ({e})")
                })?;
                if !addr.ip().is_loopback() {
                    anyhow::bail!(
                        "metrics_listen: {addr} is not a loopback address; metrics are served without authentication, so bind 127.0.0.1 or [::1] and put a proxy in front if needed"
                    );
                }
                Some(addr)
            }
        };
        let mut passphrase_file = file.passphrase_file.map(|p| (home.join(p), "passphrase_file in config.toml"));
        if let Some(v) = std::env::var_os("TRELLIS_PASSPHRASE_FILE").filter(|v| !v.is_empty()) {
            passphrase_file = Some((PathBuf::from(v), "TRELLIS_PASSPHRASE_FILE"));
        }
        if let Some(p) = flags.passphrase_file {
            passphrase_file = Some((p, "--passphrase-file"));
        }
        let mut web = file.web_listen;
        if let Ok(v) = std::env::var("TRELLIS_WEB_LISTEN")
            && !v.trim().is_empty()
        {
            web = Some(v);
        }
        if flags.web_listen.is_some() {
            web = flags.web_listen;
        }
        let env_path = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let tls_cert = env_path("TRELLIS_WEB_TLS_CERT").or(file.web_tls_cert);
        let tls_key = env_path("TRELLIS_WEB_TLS_KEY").or(file.web_tls_key);
        let web_tls = match (tls_cert, tls_key) {
            (Some(cert), Some(key)) => Some(WebTls { cert, key }),
            (None, None) => None,
            (Some(_), None) => {
                anyhow::bail!("web_tls_cert is set but web_tls_key is not: the console's TLS needs both")
            }
            (None, Some(_)) => {
                anyhow::bail!("web_tls_key is set but web_tls_cert is not: the console's TLS needs both")
            }
        };
        let web_listen = web.map(|text| check_web_listen(&text, web_tls.is_some())).transpose()?;
        Ok(Config {
            passphrase_file,
            home: home.to_path_buf(),
            listen: addrs("listen", &listen)?,
            bootstrap: addrs("bootstrap", &bootstrap)?,
            mdns,
            discovery,
            name,
            taxii_listen,
            metrics_listen,
            evidence_allow_private: file.evidence_allow_private.unwrap_or(false),
            evidence_ca_file: file.evidence_ca_file,
            web_listen,
            web_tls,
        })
    }
}

/// The console's address: a TCP address, and a loopback one unless the console serves TLS. The
/// console holds this organization's keys' powers (publish, invite), so it is never offered in
/// plain HTTP beyond this machine.
fn check_web_listen(text: &str, tls: bool) -> anyhow::Result<std::net::SocketAddr> {
    let addr: std::net::SocketAddr = text
        .trim()
        .parse()
        .map_err(|e| anyhow::anyhow!("web_listen: {text:?} is not an address like 127.0.0.1:7423 ({e})"))?;
    if !addr.ip().is_loopback() && !tls {
        anyhow::bail!(
            "web_listen: {addr} is not a loopback address, and the web console is served beyond this machine only \
             over TLS: set web_tls_cert and web_tls_key (PEM files) in config.toml (or TRELLIS_WEB_TLS_CERT and \
             TRELLIS_WEB_TLS_KEY), or listen on 127.0.0.1 or [::1]"
        );
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::check_web_listen;

    #[test]
    fn the_console_leaves_loopback_only_with_tls() {
        assert!(check_web_listen("127.0.0.1:7423", false).is_ok());
        assert!(check_web_listen("[::1]:0", false).is_ok());
        let e = check_web_listen("0.0.0.0:7423", false).unwrap_err().to_string();
        assert!(e.contains("only over TLS"), "{e}");
        assert!(check_web_listen("192.0.2.1:7423", true).is_ok());
        assert!(check_web_listen("localhost", false).is_err());
    }
}
