//! `trellis keys …`: rotate this organization's encryption key, or revoke a key; protect the
//! identity key with a passphrase, back it up and restore it (`keys_care.rs`).

use clap::Subcommand;
use trellis_api::types::{CreatedMany, RevokeRequest};

use crate::Ctx;
use crate::keys_care::{self, ExportArgs, ImportArgs, ProtectArgs};
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
    /// Encrypt identity.key with a passphrase (argon2id + XChaCha20-Poly1305); trellisd then
    /// needs the passphrase to start. Run it with the node stopped
    #[command(after_help = concat!(
        "Examples:\n",
        "  trellis keys protect                                  # asks for the passphrase twice\n",
        "  trellis keys protect --passphrase-file /etc/trellis/passphrase\n",
        "Then start the node with the same file (or the systemd credential trellis-passphrase):\n",
        "  trellisd --passphrase-file /etc/trellis/passphrase"
    ))]
    Protect(ProtectArgs),
    /// Write identity.key in clear again (asks for the current passphrase). Run it with the
    /// node stopped
    #[command(after_help = "Example:\n  trellis keys unprotect --passphrase-file /etc/trellis/passphrase")]
    Unprotect(ProtectArgs),
    /// Write an encrypted backup of this organization: its keys, its groups and its peers, so a
    /// new machine can take over with `trellis keys import` (the node must be running)
    #[command(after_help = concat!(
        "Examples:\n",
        "  trellis keys export --out /media/usb/acme-trellis.backup     # asks for a passphrase twice\n",
        "  trellis keys export --out acme.backup --passphrase-file backup-passphrase.txt\n",
        "Keep the file and its passphrase apart: together they are your organization."
    ))]
    Export(ExportArgs),
    /// Restore a backup into a fresh home; the node rejoins its groups and catches up their
    /// history from its peers when it starts (the node must be stopped)
    #[command(after_help = concat!(
        "Example:\n",
        "  trellis --home /srv/trellis keys import /media/usb/acme-trellis.backup\n",
        "  trellisd --home /srv/trellis\n",
        "A backup of a protected key is restored protected, with the backup's passphrase.\n",
        "The home must be empty (no identity.key, no store.redb). The import writes identity.key and\n",
        "restore.pending (the groups, their keys and the peers); trellisd writes restore.pending into\n",
        "its store when it starts and deletes it. If the import was interrupted, run it again."
    ))]
    Import(ImportArgs),
}

pub async fn run(ctx: &Ctx, cmd: KeysCommand) -> anyhow::Result<()> {
    let (res, what): (CreatedMany, &str) = match cmd {
        KeysCommand::Protect(a) => return keys_care::protect(ctx, a),
        KeysCommand::Unprotect(a) => return keys_care::unprotect(ctx, a),
        KeysCommand::Export(a) => return keys_care::export(ctx, a).await,
        KeysCommand::Import(a) => return keys_care::import(ctx, a),
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
