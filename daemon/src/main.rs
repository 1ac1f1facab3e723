//! `trellisd`: the Trellis node. Parses flags, loads the configuration and calls
//! [`trellis_daemon::run`] until SIGINT or SIGTERM.

use std::path::PathBuf;

use clap::Parser;
use trellis_daemon::config::{Config, DEFAULT_PORT, Overrides};

/// The Trellis node: joins your groups' gossip topics, validates, stores and relays signed,
/// encrypted advisories, and serves the `trellis` CLI over a local socket.
#[derive(Parser, Debug)]
#[command(
    name = "trellisd",
    version,
    after_help = concat!(
        "With no arguments it creates (first run) or opens its home: identity, config, store, socket.\n",
        "Settings: flags > TRELLIS_* environment > config.toml in the home > defaults.\n\n",
        "Examples:\n",
        "  trellisd                                        # default home, listens on TCP port 7420\n",
        "  trellisd --home /tmp/a --listen /ip4/127.0.0.1/tcp/0   # pick a free port\n",
        "  trellisd --home /tmp/b --bootstrap /ip4/127.0.0.1/tcp/7420/p2p/12D3Koo...\n",
        "  trellisd --passphrase-file /etc/trellis/passphrase      # identity protected by `trellis keys protect`\n",
        "Logs: RUST_LOG=debug trellisd"
    )
)]
struct Args {
    /// Node home directory [env: TRELLIS_HOME; default: $XDG_DATA_HOME/trellis or ~/.local/share/trellis]
    #[arg(long)]
    home: Option<PathBuf>,
    /// Address to listen on (repeatable) [env: TRELLIS_LISTEN, comma-separated]
    #[arg(long, value_name = "MULTIADDR", help = format!("Address to listen on, repeatable [env: TRELLIS_LISTEN; default: /ip4/0.0.0.0/tcp/{DEFAULT_PORT}]"))]
    listen: Vec<String>,
    /// Peer to connect to at start (repeatable) [env: TRELLIS_BOOTSTRAP, comma-separated]
    #[arg(long, value_name = "MULTIADDR")]
    bootstrap: Vec<String>,
    /// Discover peers on the local network with mDNS (off by default) [env: TRELLIS_MDNS]
    #[arg(long)]
    mdns: bool,
    /// Do not look for group peers in the DHT; talk only to bootstrap and invite addresses and
    /// to peers that connect [env: TRELLIS_DISCOVERY=false]
    #[arg(long)]
    no_discovery: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics, loopback only (off by default) [env: TRELLIS_METRICS_LISTEN]
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,
    /// Organization name, used only when the identity is created on first start [env: TRELLIS_NAME]
    #[arg(long)]
    name: Option<String>,
    /// Serve the read-only TAXII 2.1 API (CLEAR items only, bearer token from `trellis taxii
    /// token`) on this TCP address, e.g. 127.0.0.1:9443 [env: TRELLIS_TAXII_LISTEN; default: off]
    #[arg(long, value_name = "ADDR:PORT")]
    taxii_listen: Option<String>,
    /// File holding the passphrase of a protected identity key (`trellis keys protect`), one
    /// line, mode 0600. Looked for in order: this flag, TRELLIS_PASSPHRASE_FILE,
    /// `passphrase_file` in config.toml, the systemd credential
    /// $CREDENTIALS_DIRECTORY/trellis-passphrase, then a prompt when stdin is a terminal
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Serve the web console on this TCP address, e.g. 127.0.0.1:7423 (loopback only, unless
    /// web_tls_cert and web_tls_key are set); open it with `trellis web`
    /// [env: TRELLIS_WEB_LISTEN; default: off]
    #[arg(long, value_name = "ADDR:PORT")]
    web_listen: Option<String>,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,libp2p=warn,libp2p_kad=error".into()),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let home = trellis_daemon::home::resolve_home(args.home.as_deref());
    let overrides = Overrides {
        listen: args.listen,
        bootstrap: args.bootstrap,
        mdns: args.mdns.then_some(true),
        discovery: args.no_discovery.then_some(false),
        name: args.name,
        taxii_listen: args.taxii_listen,
        metrics_listen: args.metrics_listen,
        passphrase_file: args.passphrase_file,
        web_listen: args.web_listen,
    };
    let config = match Config::load(&home, overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("trellisd: configuration error: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("trellisd: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(trellis_daemon::run(config, shutdown_signal(), |r| {
        println!(
            "trellisd ready org={} peer={} listen={} socket={}",
            r.fingerprint,
            r.peer_id,
            r.listen_addrs.join(","),
            r.socket.display()
        );
    }));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trellisd: {e:#}");
            // A missing or wrong passphrase is, like a configuration error, not fixed by
            // restarting: exit status 2, which the systemd unit does not restart on.
            use trellis_daemon::home::HomeError;
            match e.downcast_ref::<HomeError>() {
                Some(HomeError::WrongPassphrase(_) | HomeError::Sealed { .. }) => std::process::ExitCode::from(2),
                _ => std::process::ExitCode::FAILURE,
            }
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
