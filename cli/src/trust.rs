//! `trellis trust …`: how much this organization trusts others, and why. Trust weights what the
//! node relays, how fast it accepts a publisher's items, and the confidence of advisories.

use clap::Subcommand;
use trellis_api::types::{Created, SetTrust, TrustExplain, TrustView, Vouch};

use crate::Ctx;
use crate::output::{self, Table, or_dash};

#[derive(Subcommand, Debug)]
pub enum TrustCommand {
    /// Set this node's trust in an organization (0.0 = none, 1.0 = full); final for that org
    #[command(
        after_help = "Examples:\n  trellis trust set k3vq-2mfa-x8rt-pq4z 0.9\n  trellis trust set k3vq-2mfa-x8rt-pq4z --clear"
    )]
    Set {
        /// Fingerprint or full id
        org: String,
        /// Level from 0.0 to 1.0
        #[arg(required_unless_present = "clear")]
        level: Option<f64>,
        /// Forget the level set before (fall back to group defaults and statements)
        #[arg(long, conflicts_with = "level")]
        clear: bool,
    },
    /// List organizations with their trust, its source, quota and whether items are relayed
    #[command(after_help = "Example:\n  trellis trust list")]
    List,
    /// Explain an organization's trust, or an advisory's confidence, with the path that produced it
    #[command(after_help = "Examples:\n  trellis trust explain k3vq-2mfa-x8rt-pq4z\n  trellis trust explain 5fq3k2xa")]
    Explain {
        /// An organization (fingerprint or id) or an advisory id
        what: String,
    },
    /// Publish a signed statement in a group: "we vouch for ORG at LEVEL"; members who trust
    /// you extend part of that trust to it
    #[command(after_help = "Example:\n  trellis trust vouch water k3vq-2mfa-x8rt-pq4z 0.8 --comment \"audited 2026\"")]
    Vouch {
        /// Group name or id
        group: String,
        /// The member vouched for
        org: String,
        /// Level from 0.0 to 1.0
        level: f64,
        #[arg(long)]
        comment: Option<String>,
    },
}

pub async fn run(ctx: &Ctx, cmd: TrustCommand) -> anyhow::Result<()> {
    match cmd {
        TrustCommand::Set { org, level, clear } => {
            let v: TrustView = ctx.client.set_trust(&SetTrust { org, level: if clear { None } else { level } }).await?;
            if ctx.json {
                return output::print_json(&v);
            }
            println!("{}: trust {:.2} ({})", v.fingerprint, v.level, v.source);
            Ok(())
        }
        TrustCommand::List => {
            let list: Vec<TrustView> = ctx.client.trust().await?;
            if ctx.json {
                return output::print_json(&list);
            }
            if list.is_empty() {
                println!("no organizations known yet");
                return Ok(());
            }
            let mut t = Table::new(&["ORG", "NAME", "TRUST", "SOURCE", "QUOTA/S", "VIOLATIONS", "RELAYED"]);
            for v in &list {
                t.row(vec![
                    v.fingerprint.clone(),
                    or_dash(v.name.as_deref()),
                    format!("{:.2}", v.level),
                    v.source.clone(),
                    format!("{:.0}", v.quota_per_s),
                    v.violations.to_string(),
                    if v.relayed { "yes".into() } else { "no (below threshold)".into() },
                ]);
            }
            t.print()
        }
        TrustCommand::Explain { what } => {
            let e: TrustExplain = ctx.client.trust_explain(&what).await?;
            if ctx.json {
                return output::print_json(&e);
            }
            if let Some(c) = e.confidence {
                println!("confidence of {}: {c:.3}", output::safe(&output::short(&e.subject)));
            }
            for l in &e.lines {
                println!("  {}", output::safe(l));
            }
            Ok(())
        }
        TrustCommand::Vouch { group, org, level, comment } => {
            let c: Created = ctx.client.vouch(&Vouch { group, org, level, comment }).await?;
            if ctx.json {
                return output::print_json(&c);
            }
            output::print_line(&c.id)
        }
    }
}
