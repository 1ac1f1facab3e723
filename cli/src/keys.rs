//! `trellis keys …`: rotate this organization's encryption key, or revoke a key.

use clap::Subcommand;
use trellis_api::types::{CreatedMany, RevokeRequest};

use crate::Ctx;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Replace this organization's encryption key; every group is told and reseals its key to it
    #[command(after_help = "Example:\n  trellis keys rotate")]
    Rotate,
    /// Publish a revocation: nodes stop accepting the key from the given time
    #[command(after_help = concat!(
        "Examples:\n",
        "  trellis keys revoke --reason \"old laptop lost\"            # the previous encryption key\n",
        "  trellis keys revoke --signing --reason \"key stolen\"       # the identity itself"
    ))]
    Revoke {
        /// Revoke the signing key (the organization's identity) instead of the previous encryption key
        #[arg(long)]
        signing: bool,
        /// From when, in Unix milliseconds (default: now)
        #[arg(long, value_name = "UNIX_MS")]
        from: Option<u64>,
        /// Why, in a few words (shown to other organizations)
        #[arg(long)]
        reason: String,
    },
}

pub async fn run(ctx: &Ctx, cmd: KeysCommand) -> anyhow::Result<()> {
    let (res, what): (CreatedMany, &str) = match cmd {
        KeysCommand::Rotate => (ctx.client.rotate_keys().await?, "key rotation announced"),
        KeysCommand::Revoke { signing, from, reason } => {
            (ctx.client.revoke_key(&RevokeRequest { signing, from_ms: from, reason }).await?, "revocation published")
        }
    };
    if ctx.json {
        return output::print_json(&res);
    }
    println!("{what} in {} group(s)", res.ids.len());
    Ok(())
}
