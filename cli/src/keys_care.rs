//! Keys a small team can keep: `trellis keys protect|unprotect|export|import` and the
//! passphrase of `trellis init --passphrase`. Protecting and restoring work on the files of the
//! home with the node stopped (they take the home's lock, so a running `trellisd` cannot
//! overwrite what they write); exporting asks the running node, which holds the keys.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use trellis_api::types::{ExportKeysReply, ExportKeysRequest};
use trellis_home::home::{self, HomeError, Identity};
use trellis_home::keyfile::{Passphrase, stdin_is_terminal};

use crate::{Ctx, output, shown};

#[derive(Args, Debug)]
pub struct ProtectArgs {
    /// Read the passphrase from this file (one line, mode 0600) instead of asking on the terminal
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Where to write the backup (refused if the file exists)
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Read the backup's passphrase from this file (one line, mode 0600) instead of asking
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The backup written by `trellis keys export`
    file: PathBuf,
    /// Read the backup's passphrase from this file (one line, mode 0600) instead of asking
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

/// The passphrase from `file`, else asked on the terminal (twice when `new`), else an error
/// that says how to give one.
pub fn passphrase(file: Option<&Path>, new: bool, what: &str) -> anyhow::Result<Passphrase> {
    if let Some(f) = file {
        return Ok(Passphrase::from_file(f)?);
    }
    if !stdin_is_terminal() {
        bail!("no terminal to ask for the passphrase of {what} on: give it with --passphrase-file FILE");
    }
    Ok(if new { Passphrase::prompt_new(what)? } else { Passphrase::prompt(&format!("Passphrase of {what}: "))? })
}

/// Take the home's lock (no `trellisd` may run while identity.key is rewritten).
fn lock(home: &Path, doing: &str) -> anyhow::Result<home::HomeLock> {
    match home::lock_home(home) {
        Ok(l) => Ok(l),
        Err(HomeError::Locked { who, .. }) => bail!(
            "trellisd ({who}) is running on {}; stop it first: {doing} rewrites identity.key, which the running node \
             holds. Nothing was changed",
            shown(home)
        ),
        Err(e) => Err(e.into()),
    }
}

/// `trellis keys protect`.
pub fn protect(ctx: &Ctx, args: ProtectArgs) -> anyhow::Result<()> {
    let _lock = lock(&ctx.home, "protecting the key")?;
    if Identity::is_protected(&ctx.home)? {
        bail!(
            "the identity key in {} is already protected; to change its passphrase run `trellis keys unprotect`, then \
             `trellis keys protect`",
            shown(&ctx.home)
        );
    }
    let mut identity = Identity::load(&ctx.home)?;
    let pass = passphrase(args.passphrase_file.as_deref(), true, "the identity key")?;
    identity.protect(&ctx.home, &pass)?;
    report(ctx, &identity, true)
}

/// `trellis keys unprotect`.
pub fn unprotect(ctx: &Ctx, args: ProtectArgs) -> anyhow::Result<()> {
    let _lock = lock(&ctx.home, "unprotecting the key")?;
    if !Identity::is_protected(&ctx.home)? {
        bail!("the identity key in {} is not protected; nothing was changed", shown(&ctx.home));
    }
    let file = args.passphrase_file.clone();
    let mut identity = Identity::load_with(&ctx.home, || {
        passphrase(file.as_deref(), false, "the identity key")
            .map_err(|e| trellis_home::keyfile::SealError::Passphrase(format!("{e:#}")))
    })?;
    identity.unprotect(&ctx.home)?;
    report(ctx, &identity, false)
}

fn report(ctx: &Ctx, identity: &Identity, protected: bool) -> anyhow::Result<()> {
    let org = identity.keys.org_id();
    if ctx.json {
        return output::print_json(&serde_json::json!({
            "org": org.to_text(),
            "fingerprint": org.fingerprint(),
            "protected": protected,
            "home": shown(&ctx.home),
        }));
    }
    if protected {
        println!("the identity key of {} is now encrypted with the passphrase", org.fingerprint());
        println!(
            "start the node with: trellisd --home {} --passphrase-file FILE (or the systemd credential \
             trellis-passphrase, or type it when asked)",
            shown(&ctx.home)
        );
    } else {
        println!("the identity key of {} is stored in clear again (mode 0600)", org.fingerprint());
    }
    Ok(())
}

/// `trellis keys export --out FILE`.
pub async fn export(ctx: &Ctx, args: ExportArgs) -> anyhow::Result<()> {
    if args.out.exists() {
        bail!("{} exists; remove it or choose another --out (nothing was written)", shown(&args.out));
    }
    let pass = passphrase(args.passphrase_file.as_deref(), true, "the backup")?;
    let req = ExportKeysRequest { passphrase_b64: trellis_home::keyfile::encode_base64(&pass) };
    drop(pass);
    let reply: ExportKeysReply = ctx.client.export_keys(&req).await?;
    drop(req);
    let bytes = data_encoding_decode(&reply.backup_b64)?;
    write_new_file(&args.out, &bytes)?;
    if ctx.json {
        return output::print_json(&serde_json::json!({
            "out": shown(&args.out),
            "org": reply.org,
            "fingerprint": reply.fingerprint,
            "groups": reply.groups,
            "bytes": bytes.len(),
        }));
    }
    println!(
        "backup of {} ({} group(s)) written to {} ({} bytes, mode 0600)",
        reply.fingerprint,
        reply.groups,
        shown(&args.out),
        bytes.len()
    );
    println!(
        "keep it apart from its passphrase; restore with: trellis --home NEW_HOME keys import {}",
        shown(&args.out)
    );
    Ok(())
}

fn data_encoding_decode(text: &str) -> anyhow::Result<Vec<u8>> {
    trellis_home::keyfile::decode_base64(text).context("trellisd returned a backup that is not base64")
}

/// Write `bytes` to a new file of mode 0600 (refused if it exists), synced to disk.
fn write_new_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", shown(path)))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).with_context(|| format!("writing {}", shown(path)))?;
    Ok(())
}

/// `trellis keys import FILE`.
pub fn import(ctx: &Ctx, args: ImportArgs) -> anyhow::Result<()> {
    if !args.file.is_file() {
        bail!("{}: no such file", shown(&args.file));
    }
    let pass = passphrase(args.passphrase_file.as_deref(), false, "the backup")?;
    let r = trellis_home::backup::restore(&ctx.home, &args.file, &pass)?;
    if ctx.json {
        return output::print_json(&serde_json::json!({
            "org": r.org,
            "fingerprint": r.fingerprint,
            "name": r.name,
            "groups": r.groups,
            "peers": r.peers,
            "protected": r.protected,
            "home": shown(&ctx.home),
        }));
    }
    println!("restored organization {} ({}) into {}", r.fingerprint, output::safe(&r.name), shown(&ctx.home));
    for g in &r.groups {
        println!("  group {}", output::safe(g));
    }
    println!("  {} known peer(s)", r.peers);
    let flag = if r.protected { " --passphrase-file FILE" } else { "" };
    println!(
        "start the node with: trellisd --home {}{flag}; it rejoins its groups and fetches their history from its peers \
         (publish once `trellis status` shows a successful catch-up)",
        shown(&ctx.home)
    );
    Ok(())
}
