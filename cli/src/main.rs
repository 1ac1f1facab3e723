//! `trellis`: the command-line client of a Trellis node. It is deliberately thin: every
//! command except `init` and `completions` is one call to `trellisd`'s local API (HTTP+JSON
//! over the unix socket in the node's home), using the request and response types the daemon
//! itself defines, so the two cannot drift apart. This file holds the command tree, the shared
//! context ([`Ctx`]) and the single place where errors become `error: …` and exit code 1.
//! Subcommand groups live in `node.rs`, `group.rs` and `advisory.rs`; formatting in `output.rs`.

mod advisory;
mod by_vulnerability;
mod export;
mod feed;
mod group;
mod help_request;
mod input;
mod invite_link;
mod keys;
mod keys_care;
mod node;
mod output;
mod posture;
mod resource;
mod sbom;
mod service;
mod supply_chain;
mod taxii;
mod trust;
mod web;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use trellis_api::client::Client;

/// Trellis: share signed, end-to-end encrypted security advisories between organizations.
///
/// `trellis` talks to the local node, `trellisd`, through the socket in the node's home.
#[derive(Parser, Debug)]
#[command(
    name = "trellis",
    version,
    propagate_version = true,
    after_help = "Examples:\n  trellis up --name \"Acme Water\"         # start the node in the background\n  trellis up \"$(cat invite-link.txt)\"     # join a group with an invite link\n  trellis status\n  trellis --home /tmp/a --json advisory list\n  trellis down"
)]
struct Cli {
    /// Node home directory [env: TRELLIS_HOME; default: $XDG_DATA_HOME/trellis or ~/.local/share/trellis]
    #[arg(long, global = true, value_name = "DIR")]
    home: Option<PathBuf>,
    /// Print exactly one JSON value (watch: one JSON object per line) instead of text
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create this organization's identity in the home (refuses to overwrite one)
    #[command(after_help = "Example:\n  trellis --home /srv/trellis init --name \"Acme Water\"")]
    Init(node::InitArgs),
    /// Change this organization's name, as other members see it (they learn it when they next
    /// connect; contact cards carry it from now on)
    #[command(after_help = "Example:\n  trellis rename \"Acme Water Utilities\"")]
    Rename {
        /// The new name
        name: String,
    },
    /// Show the node: organization, peer id, listen addresses, peers and groups
    #[command(after_help = "Example:\n  trellis status")]
    Status,
    /// Print this organization's contact card, one line to give a group admin
    #[command(after_help = "Example:\n  trellis id > my-card.txt")]
    Id,
    /// List the connected peers and the organizations behind them
    #[command(after_help = "Example:\n  trellis peers")]
    Peers,
    /// Create, list, join groups and invite organizations
    #[command(
        subcommand,
        after_help = "Examples:\n  trellis group create water --kind sector\n  trellis group invite water \"$(cat partner-card.txt)\""
    )]
    Group(group::GroupCommand),
    /// Publish, list and show advisories
    #[command(
        subcommand,
        after_help = "Examples:\n  trellis advisory publish water --tlp green --title T --summary S\n  trellis advisory list --group water"
    )]
    Advisory(advisory::AdvisoryCommand),
    /// Set, list and explain trust in other organizations
    #[command(subcommand, after_help = "Examples:\n  trellis trust set k3vq-2mfa-x8rt-pq4z 0.9\n  trellis trust list")]
    Trust(trust::TrustCommand),
    /// Rotate or revoke this organization's keys
    #[command(
        subcommand,
        after_help = "Examples:\n  trellis keys rotate\n  trellis keys revoke --reason \"laptop lost\"\n  trellis keys protect\n  trellis keys export --out org.backup"
    )]
    Keys(keys::KeysCommand),
    /// Describe this organization's security posture once; read suppliers' posture
    #[command(
        subcommand,
        after_help = "Examples:\n  trellis posture init\n  trellis posture publish prime-suppliers\n  trellis posture show k3vq-2mfa-x8rt-pq4z"
    )]
    Posture(posture::PostureCommand),
    /// A customer's view across its suppliers: concentration on shared providers
    #[command(subcommand, after_help = "Example:\n  trellis supply-chain concentration prime-suppliers")]
    SupplyChain(supply_chain::SupplyChainCommand),
    /// Export the advisories TLP lets out (CLEAR only) as CSAF, OSV, STIX 2.1 or a MISP feed
    #[command(after_help = concat!(
        "Examples:\n",
        "  trellis export --format csaf --out ./csaf\n",
        "  trellis export --format stix --out ./stix --group water --since 2024-05-01T00:00:00Z\n",
        "  trellis export --format misp --out /var/www/misp-feed"
    ))]
    Export(export::ExportArgs),
    /// Add, list and remove this organization's SBOMs (CycloneDX, with VEX); never published
    #[command(subcommand, after_help = "Examples:\n  trellis sbom add bom.json\n  trellis sbom list")]
    Sbom(sbom::SbomCommand),
    /// List the components of your SBOMs that advisories held by this node affect
    #[command(after_help = "Examples:\n  trellis affected\n  trellis --json affected --all")]
    Affected(sbom::AffectedArgs),
    /// Manage the node's read-only TAXII 2.1 server
    #[command(subcommand, after_help = "Example:\n  trellis taxii token")]
    Taxii(taxii::TaxiiCommand),
    /// Open the node's web console: print a one-time sign-in link (and open it on a desktop)
    #[command(after_help = concat!(
        "The console shows the inbox (live), advisories, groups (join with a pasted invite token,\n",
        "invite with a pasted card), a publish form, affected SBOMs, posture and the node's health.\n",
        "It is served by trellisd only when the daemon has a web address:\n",
        "  trellisd --web-listen 127.0.0.1:7423      # or web_listen in config.toml, or TRELLIS_WEB_LISTEN\n\n",
        "Examples:\n",
        "  trellis web                 # prints http://127.0.0.1:7423/login?token=... and opens it\n",
        "  trellis web --no-open       # only prints the link (to open on this machine, or over ssh -L)\n\n",
        "If trellisd is still starting, it waits for it up to 15 s, so one line starts both:\n",
        "  nohup trellisd --web-listen 127.0.0.1:7423 > trellisd.log 2>&1 & trellis web\n\n",
        "The link works once, within 5 minutes. It signs in one browser; the session lasts until\n",
        "12 hours without use, Sign out, or a restart of trellisd. The console listens on loopback\n",
        "unless web_tls_cert and web_tls_key are set: from another machine, use ssh -L 7423:127.0.0.1:7423."
    ))]
    Web(web::WebArgs),
    /// Print events (advisories, membership changes, rejects) as they happen
    #[command(after_help = "Examples:\n  trellis watch\n  trellis --json watch --group water")]
    Watch(node::WatchArgs),
    /// Share and find resources: playbooks, policy templates, guidance, with a topic and a TLP
    #[command(
        subcommand,
        after_help = "Examples:\n  trellis resource list --topic backups\n  trellis resource publish water --tlp green --topic backups --title T --file plan.pdf\n  trellis resource get k3vq2mfa --out plan.pdf"
    )]
    Resource(resource::ResourceCommand),
    /// Ask for help (in a supply-chain channel: its admins; in a sector group: the members who
    /// offer help on the topic), and follow, answer and resolve requests
    #[command(after_help = concat!(
        "Examples:\n",
        "  trellis help-request acme-suppliers --topic identity-and-access --text \"How should we manage your admin accounts?\"\n",
        "  trellis help-request list\n",
        "  trellis help-request answer k3vq2mfa --text \"Named accounts, MFA, reviewed monthly\"\n",
        "  trellis help-request resolve k3vq2mfa"
    ))]
    HelpRequest(help_request::HelpRequestArgs),
    /// Offer help on topics to the members of your sector groups
    #[command(subcommand, after_help = "Examples:\n  trellis helper on --topic backups\n  trellis helper list")]
    Helper(help_request::HelperCommand),
    /// Follow public sources (CSAF providers) into a group: add, list, remove, run
    #[command(
        subcommand,
        after_help = "Examples:\n  trellis feed add water psirt.example.com --every 6h\n  trellis feed list\n  trellis feed run q3xk2m7a"
    )]
    Feed(feed::FeedCommand),
    /// Print a shell completion script
    #[command(after_help = "Example:\n  trellis completions bash > ~/.local/share/bash-completion/completions/trellis")]
    Completions {
        /// The shell to generate completions for
        shell: clap_complete::Shell,
    },
    /// Start this home's node in the background if it is not running (creating the organization
    /// on first run), join a group with an invite link or token if one is given, and wait until
    /// the group's advisories have arrived
    #[command(after_help = concat!(
        "Examples:\n",
        "  trellis up \"trellis-link1:…\"                    # a supplier joining its customer's channel\n",
        "  trellis up --name \"Beta Pumps\" \"$(cat link.txt)\"\n",
        "  trellis --home /srv/trellis up\n\n",
        "The node runs as a systemd user service where `systemctl --user` works, else as a detached\n",
        "trellisd logging to trellisd.log in the home; either way it reads config.toml in the home and\n",
        "the TRELLIS_* variables, like a trellisd started by hand. trellisd is looked for next to\n",
        "trellis, then on PATH. Stop it with `trellis down`."
    ))]
    Up(service::UpArgs),
    /// Stop this home's node (the one `trellis up` or a hand-started trellisd runs)
    #[command(after_help = "Example:\n  trellis down")]
    Down,
}

/// What every command handler gets: the home, the output mode and an API client.
pub struct Ctx {
    pub home: PathBuf,
    pub json: bool,
    pub client: Client,
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let home = trellis_api::paths::resolve_home(cli.home.as_deref());
    let ctx = Ctx { client: Client::new(&home), home, json: cli.json };
    match cli.command {
        Command::Init(a) => node::init(&ctx, a),
        Command::Status => node::status(&ctx).await,
        Command::Rename { name } => node::rename(&ctx, &name).await,
        Command::Id => node::id(&ctx).await,
        Command::Peers => node::peers(&ctx).await,
        Command::Group(c) => group::run(&ctx, c).await,
        Command::Advisory(c) => advisory::run(&ctx, c).await,
        Command::Keys(c) => keys::run(&ctx, c).await,
        Command::Trust(c) => trust::run(&ctx, c).await,
        Command::Posture(c) => posture::run(&ctx, c).await,
        Command::SupplyChain(c) => supply_chain::run(&ctx, c).await,
        Command::Export(a) => export::run(&ctx, a).await,
        Command::Sbom(c) => sbom::run(&ctx, c).await,
        Command::Affected(a) => sbom::affected(&ctx, a).await,
        Command::Taxii(c) => taxii::run(&ctx, c).await,
        Command::Watch(a) => node::watch(&ctx, a).await,
        Command::Resource(c) => resource::run(&ctx, c).await,
        Command::HelpRequest(a) => help_request::run(&ctx, a).await,
        Command::Helper(c) => help_request::helper(&ctx, c).await,
        Command::Up(a) => service::up(&ctx, a).await,
        Command::Down => service::down(&ctx).await,
        Command::Feed(c) => feed::run(&ctx, c).await,
        Command::Web(a) => web::run(&ctx, a).await,
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "trellis", &mut std::io::stdout());
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    // One thread is plenty for a client making one request at a time.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = cli.json;
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) if json => {
            // `--json` prints exactly one JSON value, errors included: `{"error": {"message": …}}`
            // on stdout, with the exact text, and exit code 1.
            let value = serde_json::json!({ "error": { "message": format!("{e:#}") } });
            match output::print_json(&value) {
                Ok(()) => ExitCode::FAILURE,
                Err(_) => {
                    eprintln!("error: {}", output::safe_block(&format!("{e:#}")));
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            // Error messages can quote remote text (a group's name): printed safe.
            eprintln!("error: {}", output::safe_block(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

/// A command line that does not parse (a mistyped flag, `--tlp purple`). Under `--json` it is
/// one JSON error object on stdout like every other error, exit code 2; otherwise, and for
/// `--help` and `--version`, clap prints it as usual.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let json = std::env::args_os().skip(1).take_while(|a| a != "--").any(|a| a == "--json");
    let shown = matches!(
        e.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if json && !shown {
        let text = e.render().to_string();
        let message = text.trim().strip_prefix("error: ").unwrap_or(text.trim());
        if output::print_json(&serde_json::json!({ "error": { "message": message } })).is_ok() {
            return ExitCode::from(2);
        }
    }
    e.exit()
}

/// The wall clock in Unix milliseconds (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Display a path the way the user would type it back.
pub fn shown(p: &Path) -> String {
    p.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_tree_is_consistent_and_every_subcommand_has_an_example() {
        Cli::command().debug_assert();
        fn walk(cmd: &clap::Command, path: &str) {
            for sub in cmd.get_subcommands() {
                let name = format!("{path} {}", sub.get_name());
                walk(sub, &name);
                assert!(sub.get_about().is_some(), "{name} has no description");
                let after = sub.get_after_help().map(|s| s.to_string()).unwrap_or_default();
                assert!(after.contains("trellis"), "{name} has no example");
            }
        }
        walk(&Cli::command(), "trellis");
    }

    #[test]
    fn tlp_is_required_to_publish() {
        let r = Cli::try_parse_from(["trellis", "advisory", "publish", "water", "--title", "t", "--summary", "s"]);
        assert!(r.is_err());
    }
}
