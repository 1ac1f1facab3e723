//! Keys a small team can keep, through the real binaries: an identity key protected by a
//! passphrase (`trellis init --passphrase-file`, `keys protect|unprotect`) that `trellisd`
//! opens from `--passphrase-file` or the systemd credential and refuses to start without (or
//! with a wrong one), naming every place it looked; and an encrypted backup (`keys export`)
//! restored on a fresh home (`keys import`) whose node rejoins its group and catches up the
//! history published before and after the backup, then publishes again.
//!
//! Needs the binaries built first: `cargo build --workspace && cargo test --workspace`.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::Value;
use trellis_tests::{Bins, Daemon, wait_until};

const NET: Duration = Duration::from_secs(30);
const MAGIC: &[u8] = b"TRLSEAL1";

fn str_field<'a>(v: &'a Value, key: &str) -> anyhow::Result<&'a str> {
    v.get(key).and_then(Value::as_str).with_context(|| format!("no string {key:?} in {v}"))
}

fn secret_file(path: &Path, text: &str) -> anyhow::Result<PathBuf> {
    std::fs::write(path, text)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(path.to_path_buf())
}

fn dial_addr(bins: &Bins, home: &Path) -> anyhow::Result<String> {
    let status = bins.json(home, &["status"])?;
    let peer = str_field(&status, "peer_id")?;
    let addr = status["listen_addrs"]
        .as_array()
        .and_then(|a| a.iter().filter_map(Value::as_str).find(|a| a.starts_with("/ip4/127.0.0.1/tcp/")))
        .with_context(|| format!("no loopback address in {status}"))?;
    Ok(if addr.contains("/p2p/") { addr.to_string() } else { format!("{addr}/p2p/{peer}") })
}

/// Run `trellisd` on `home` with `args` and `env`, stdin closed; it must exit with status 2
/// (not start) within 60 s. Returns its stderr.
fn trellisd_refuses(bins: &Bins, home: &Path, args: &[&str], env: &[(&str, &Path)]) -> anyhow::Result<String> {
    let mut cmd = Command::new(&bins.trellisd);
    cmd.arg("--home").arg(home).args(["--listen", "/ip4/127.0.0.1/tcp/0"]).args(args);
    cmd.env_remove("TRELLIS_HOME").env_remove("TRELLIS_PASSPHRASE_FILE").env_remove("CREDENTIALS_DIRECTORY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait()? {
            let out = child.wait_with_output()?;
            ensure!(status.code() == Some(2), "trellisd must refuse to start with status 2 (no restart): {status}");
            ensure!(String::from_utf8_lossy(&out.stdout).is_empty(), "trellisd said it was ready");
            return Ok(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("trellisd started (or hung) instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_protected_identity_needs_its_passphrase() {
    let bins = Bins::locate().unwrap_or_else(|e| panic!("{e:#}"));
    let dir = tempfile::Builder::new().prefix("trellis-keys").tempdir_in("/tmp").unwrap();
    if let Err(e) = protected(&bins, dir.path()) {
        panic!("{e:#}");
    }
}

fn protected(bins: &Bins, dir: &Path) -> anyhow::Result<()> {
    let home = dir.join("a");
    let pw = secret_file(&dir.join("pw"), "correct horse battery staple\n")?;
    let wrong = secret_file(&dir.join("wrong"), "correct horse battery stapler\n")?;
    let pw_arg = pw.to_str().context("path")?;
    let init = bins.json(&home, &["init", "--name", "Alpha Water", "--passphrase-file", pw_arg])?;
    ensure!(init["protected"] == true, "{init}");
    let org = str_field(&init, "org")?.to_string();
    let key_file = home.join("identity.key");
    let sealed = std::fs::read(&key_file)?;
    ensure!(sealed.starts_with(MAGIC), "identity.key is not sealed");
    ensure!(!sealed.windows(11).any(|w| w == b"Alpha Water"), "the name sits in clear in identity.key");

    // No passphrase anywhere: refused, naming every place looked at.
    let err = trellisd_refuses(bins, &home, &[], &[])?;
    for place in ["--passphrase-file", "TRELLIS_PASSPHRASE_FILE", "passphrase_file", "trellis-passphrase", "terminal"] {
        ensure!(err.contains(place), "the refusal does not name {place}: {err}");
    }
    // A wrong one: refused, nothing changed.
    let err = trellisd_refuses(bins, &home, &["--passphrase-file", wrong.to_str().context("path")?], &[])?;
    ensure!(err.contains("wrong passphrase"), "{err}");
    ensure!(std::fs::read(&key_file)? == sealed, "a wrong passphrase changed identity.key");
    // An empty systemd credential: refused with its path.
    let creds = dir.join("creds");
    std::fs::create_dir(&creds)?;
    secret_file(&creds.join("trellis-passphrase"), "")?;
    let err = trellisd_refuses(bins, &home, &[], &[("CREDENTIALS_DIRECTORY", &creds)])?;
    ensure!(err.contains("systemd credential") && err.contains("empty"), "{err}");

    // The right one, from the systemd credential store: the node starts as the same org.
    secret_file(&creds.join("trellis-passphrase"), "correct horse battery staple")?;
    let mut child = Command::new(&bins.trellisd)
        .arg("--home")
        .arg(&home)
        .args(["--listen", "/ip4/127.0.0.1/tcp/0"])
        .env_remove("TRELLIS_PASSPHRASE_FILE")
        .env("CREDENTIALS_DIRECTORY", &creds)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let first = BufReader::new(stdout).lines().next().transpose()?.unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    ensure!(first.starts_with("trellisd ready"), "with the credential: {first:?}");

    // The right one, from --passphrase-file.
    let mut a = Daemon::start_with_args(bins, "A", &home, &[], &["--passphrase-file", pw_arg])?;
    ensure!(str_field(&bins.json(&home, &["status"])?, "org")? == org);
    // Saving the identity (a rename) seals it again.
    bins.trellis(&home, &["rename", "Alpha Water Utilities"]).ok()?;
    let resealed = std::fs::read(&key_file)?;
    ensure!(resealed.starts_with(MAGIC) && resealed != sealed, "a rename must reseal identity.key");
    ensure!(!resealed.windows(11).any(|w| w == b"Alpha Water"), "the new name sits in clear");
    // Protecting or unprotecting under a running node is refused.
    let busy = bins.trellis(&home, &["keys", "unprotect", "--passphrase-file", pw_arg]);
    ensure!(busy.code == Some(1) && busy.stderr.contains("stop it first"), "{busy:?}");
    a.stop()?;

    // Unprotect: a wrong passphrase changes nothing; the right one writes the key in clear.
    let bad = bins.trellis(&home, &["keys", "unprotect", "--passphrase-file", wrong.to_str().context("path")?]);
    ensure!(bad.code == Some(1) && bad.stderr.contains("wrong passphrase"), "{bad:?}");
    ensure!(std::fs::read(&key_file)? == resealed);
    let r = bins.json(&home, &["keys", "unprotect", "--passphrase-file", pw_arg])?;
    ensure!(r["protected"] == false, "{r}");
    ensure!(!std::fs::read(&key_file)?.starts_with(MAGIC));
    let mut a = Daemon::start(bins, "A", &home, &[])?;
    ensure!(str_field(&bins.json(&home, &["status"])?, "org")? == org);
    ensure!(str_field(&bins.json(&home, &["status"])?, "name")? == "Alpha Water Utilities");
    a.stop()?;
    // And protect again, with another passphrase.
    let r = bins.json(&home, &["keys", "protect", "--passphrase-file", wrong.to_str().context("path")?])?;
    ensure!(r["protected"] == true, "{r}");
    let again = bins.trellis(&home, &["keys", "protect", "--passphrase-file", pw_arg]);
    ensure!(again.code == Some(1) && again.stderr.contains("already protected"), "{again:?}");
    let err = trellisd_refuses(bins, &home, &["--passphrase-file", pw_arg], &[])?;
    ensure!(err.contains("wrong passphrase"), "{err}");
    Ok(())
}

#[test]
fn a_backup_restored_on_a_fresh_home_rejoins_and_catches_up() {
    let bins = Bins::locate().unwrap_or_else(|e| panic!("{e:#}"));
    let dir = tempfile::Builder::new().prefix("trellis-restore").tempdir_in("/tmp").unwrap();
    let mut nodes = Vec::new();
    if let Err(e) = restore(&bins, dir.path(), &mut nodes) {
        panic!("{e:#}");
    }
}

fn titles(bins: &Bins, home: &Path) -> Vec<String> {
    bins.json(home, &["advisory", "list"])
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|a| a.get("title").and_then(Value::as_str).map(String::from))
        .collect()
}

fn publish(bins: &Bins, home: &Path, title: &str) -> anyhow::Result<()> {
    bins.json(home, &["advisory", "publish", "water", "--tlp", "green", "--title", title, "--summary", "s"])?;
    Ok(())
}

fn restore(bins: &Bins, dir: &Path, nodes: &mut Vec<Daemon>) -> anyhow::Result<()> {
    let (home_a, home_b, home_b2) = (dir.join("a"), dir.join("b"), dir.join("b2"));
    let b_pw = secret_file(&dir.join("b-pw"), "beta node passphrase")?;
    let backup_pw = secret_file(&dir.join("backup-pw"), "beta backup passphrase")?;
    let wrong = secret_file(&dir.join("wrong"), "not it")?;
    let (b_pw, backup_pw, wrong) =
        (b_pw.to_str().context("path")?, backup_pw.to_str().context("path")?, wrong.to_str().context("path")?);
    bins.json(&home_a, &["init", "--name", "Alpha Water"])?;
    let org_b = str_field(&bins.json(&home_b, &["init", "--name", "Beta Pumps", "--passphrase-file", b_pw])?, "org")?
        .to_string();
    nodes.push(Daemon::start(bins, "A", &home_a, &[])?);
    let addr_a = dial_addr(bins, &home_a)?;
    nodes.push(Daemon::start_with_args(bins, "B", &home_b, &[addr_a], &["--passphrase-file", b_pw])?);

    bins.json(&home_a, &["group", "create", "water", "--kind", "sector"])?;
    let card = str_field(&bins.json(&home_b, &["id"])?, "card")?.to_string();
    let token = str_field(&bins.json(&home_a, &["group", "invite", "water", &card])?, "token")?.to_string();
    bins.json(&home_b, &["group", "join", &token])?;
    wait_until("B to be a member with a group peer", NET, || {
        let g = bins.json(&home_b, &["group", "list"]).ok()?;
        let w = g.as_array()?.iter().find(|g| g["name"] == "water")?;
        (w["peers"].as_u64()? >= 1 && w["members"].as_u64()? == 2).then_some(())
    })?;
    publish(bins, &home_a, "A before the backup")?;
    publish(bins, &home_b, "B before the backup")?;
    wait_until("both to hold both advisories", NET, || {
        (titles(bins, &home_a).len() == 2 && titles(bins, &home_b).len() == 2).then_some(())
    })?;

    // The backup: sealed, nothing in clear, refused over an existing file.
    let backup = dir.join("beta.backup");
    let out = backup.to_str().context("path")?;
    let made = bins.json(&home_b, &["keys", "export", "--out", out, "--passphrase-file", backup_pw])?;
    ensure!(made["groups"] == 1 && str_field(&made, "org")? == org_b, "{made}");
    let bytes = std::fs::read(&backup)?;
    ensure!(bytes.starts_with(MAGIC) && !bytes.windows(10).any(|w| w == b"Beta Pumps"), "backup not sealed");
    ensure!(std::fs::metadata(&backup)?.permissions().mode() & 0o777 == 0o600);
    let again = bins.trellis(&home_b, &["keys", "export", "--out", out, "--passphrase-file", backup_pw]);
    ensure!(again.code == Some(1) && std::fs::read(&backup)? == bytes, "{again:?}");

    // History goes on after the backup, then B's machine is lost.
    publish(bins, &home_b, "B after the backup")?;
    publish(bins, &home_a, "A after the backup")?;
    wait_until("A to hold all four", NET, || (titles(bins, &home_a).len() == 4).then_some(()))?;
    nodes[1].stop()?;

    // Restore on a fresh home: a wrong passphrase writes nothing; an existing identity is refused.
    let bad = bins.trellis(&home_b2, &["keys", "import", out, "--passphrase-file", wrong]);
    ensure!(bad.code == Some(1) && bad.stderr.contains("wrong passphrase"), "{bad:?}");
    ensure!(!home_b2.join("identity.key").exists(), "a failed import wrote an identity");
    let onto_a = bins.trellis(&home_a, &["keys", "import", out, "--passphrase-file", backup_pw]);
    ensure!(onto_a.code == Some(1), "import over a running node's home must fail: {onto_a:?}");
    let restored = bins.json(&home_b2, &["keys", "import", out, "--passphrase-file", backup_pw])?;
    ensure!(str_field(&restored, "org")? == org_b, "{restored}");
    ensure!(restored["groups"] == serde_json::json!(["water"]), "{restored}");
    ensure!(restored["protected"] == true && restored["peers"].as_u64() >= Some(1), "{restored}");

    // The restored node starts with the backup's passphrase and no bootstrap address: it dials
    // the peers the backup knew, rejoins and catches up, its own items included.
    nodes.push(Daemon::start_with_args(bins, "B2", &home_b2, &[], &["--passphrase-file", backup_pw])?);
    ensure!(str_field(&bins.json(&home_b2, &["status"])?, "org")? == org_b);
    wait_until("the restored node to hold all four advisories", Duration::from_secs(60), || {
        let mut t = titles(bins, &home_b2);
        t.sort();
        (t == ["A after the backup", "A before the backup", "B after the backup", "B before the backup"]).then_some(())
    })?;
    // And it publishes again: the others accept its next item (no sequence number reused).
    publish(bins, &home_b2, "B from the restored node")?;
    wait_until("A to receive the restored node's advisory", NET, || {
        titles(bins, &home_a).iter().any(|t| t == "B from the restored node").then_some(())
    })?;
    Ok(())
}
