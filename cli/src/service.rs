//! `trellis up [TOKEN]` and `trellis down`: run this home's node in the background, join a group
//! with an invite link or token, and wait until the group's history has arrived.
//!
//! The node is started as a systemd user service where `systemctl --user` works (a unit
//! `trellisd-<hash of the home>.service` in `~/.config/systemd/user`, enabled so it starts again
//! at login, with the `TRELLIS_*` and `RUST_LOG` variables of the `trellis up` that wrote it, except
//! any whose name says it holds a secret: `PASS`, `SECRET`, `TOKEN`, `KEY`), and
//! otherwise as a detached `trellisd` process in its own process group, logging to
//! `trellisd.log` in the home and inheriting the environment. Either way it is the same
//! `trellisd --home HOME`, so it reads the same `config.toml` and `TRELLIS_*` settings a
//! `trellisd` started by hand there would. `trellisd` is looked for next to `trellis`, then on
//! `PATH`.

use std::io::{IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use trellis_api::types::{AdvisoryView, GroupInfo, Status};

use crate::output::{self, safe};
use crate::{Ctx, shown};

/// How long `trellis up` without a token waits for a first peer of a group before it stops
/// waiting for that group.
const ALONE_WAIT: Duration = Duration::from_secs(4);

/// The log file of a node `trellis up` started as a process.
pub const LOG_FILE: &str = "trellisd.log";

#[derive(Args, Debug)]
pub struct UpArgs {
    /// An invite link (`trellis group invite-link`) or invite token (`trellis group invite`) to
    /// join with once the node runs
    token: Option<String>,
    /// The organization's name, as other members see it: used when this first start creates the
    /// identity (asked for on a terminal when not given; `trellis rename` changes it later)
    #[arg(long)]
    name: Option<String>,
    /// Longest wait, in seconds, for the node to start and for a joined group's history to arrive
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    wait: u64,
    /// How to run the node: a systemd user service where `systemctl --user` works, else a
    /// detached process (auto); or force one
    #[arg(long, default_value = "auto", value_parser = ["auto", "systemd", "process"])]
    service: String,
}

/// Print a progress line on stderr (stdout keeps the result, one JSON value under `--json`).
fn progress(msg: &str) {
    eprintln!("{msg}");
}

/// `trellis up`.
pub async fn up(ctx: &Ctx, args: UpArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let wait = Duration::from_secs(args.wait.max(1));
    let mut how = "running";
    let mut pid = None;
    let status = match ctx.client.status().await {
        Ok(s) => {
            progress(&format!("trellisd is already running for {} (org {})", shown(&ctx.home), s.fingerprint));
            s
        }
        Err(_) => {
            let (s, h, p) = start(ctx, &args, wait).await?;
            how = h;
            pid = p;
            s
        }
    };
    if !ctx.json && status.name == "Unnamed organization" {
        progress("  this organization has no name yet: set the one other members see with `trellis rename NAME`");
    }
    let up_ms = crate::now_ms();
    let joined = match &args.token {
        // Running `trellis up LINK` again once joined changes nothing: it only waits for sync.
        Some(token) if let Some(g) = already_in(&status, token) => {
            progress(&format!("already in {}: the token is not used again", safe(&g.name)));
            Some(g.id.clone())
        }
        Some(token) => {
            progress("joining the group: asking the inviter's node to admit this organization…");
            let g: GroupInfo = ctx.client.join(token.trim()).await?;
            progress(&format!(
                "  invited to {} ({}, founded by {})",
                safe(&g.name),
                g.kind,
                crate::group::founder_cell(&g)
            ));
            Some(g.id)
        }
        None => None,
    };
    let groups: Vec<String> = match &joined {
        Some(id) => vec![id.clone()],
        None => status.groups.iter().map(|g| g.id.clone()).collect(),
    };
    let remaining = wait.saturating_sub(started.elapsed()).max(Duration::from_secs(5));
    // Without a token there may be no peer online at all: wait briefly, never fail.
    let budget = if joined.is_some() { remaining } else { remaining.min(Duration::from_secs(20)) };
    let mut results = Vec::new();
    for id in &groups {
        results.push(wait_synced(ctx, id, up_ms, budget, joined.is_some()).await?);
    }
    if ctx.json {
        return output::print_json(&serde_json::json!({
            "home": shown(&ctx.home),
            "org": status.org,
            "fingerprint": status.fingerprint,
            "name": status.name,
            "service": how,
            "pid": pid,
            "groups": results,
        }));
    }
    println!(
        "trellisd is up for {} (org {}, {}){}",
        shown(&ctx.home),
        status.fingerprint,
        safe(&status.name),
        match how {
            "systemd" => " as a systemd user service".to_string(),
            "process" => format!(", log {}", shown(&ctx.home.join(LOG_FILE))),
            _ => String::new(),
        }
    );
    for r in &results {
        println!(
            "  {}: {} advisories{}",
            safe(r["name"].as_str().unwrap_or("?")),
            r["advisories"],
            if r["synced"].as_bool() == Some(true) { "" } else { " so far (still syncing in the background)" }
        );
    }
    if joined.is_some() {
        println!("list them with: trellis advisory list");
    }
    Ok(())
}

/// The group a link or invite token is for, if this node is already in it.
fn already_in<'a>(status: &'a Status, token: &str) -> Option<&'a GroupInfo> {
    let group = if trellis_proto::invite_link::InviteLink::is_link(token) {
        trellis_proto::invite_link::InviteLink::parse(token).ok()?.group
    } else {
        let me = trellis_proto::OrgId::parse(&status.org).ok()?;
        trellis_proto::invite::Invite::parse(token, &me).ok()?.group
    };
    status.groups.iter().find(|g| g.id == group.to_text())
}

/// Start the node; returns its status, how it runs and its pid (process mode).
async fn start(ctx: &Ctx, args: &UpArgs, wait: Duration) -> anyhow::Result<(Status, &'static str, Option<u32>)> {
    let home = &ctx.home;
    // Found before anything is created: without trellisd, nothing changes.
    let trellisd = find_trellisd()?;
    let mut name = args.name.clone();
    let first = !trellis_home::home::Identity::exists(home);
    if first && name.is_none() && std::io::stdin().is_terminal() {
        name = Some(crate::node::ask_name(home)?);
    }
    if let Some(n) = &name {
        let n = trellis_api::names::check_org_name(n).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
        name = Some(n);
        if !first {
            progress("  (--name is used only when the identity is created; use `trellis rename` to change it)");
        }
    }
    trellis_home::home::ensure_home(home)?;
    let use_systemd = match args.service.as_str() {
        "systemd" => true,
        "process" => false,
        _ => systemd_user_available(),
    };
    let deadline = Instant::now() + wait;
    if use_systemd {
        let unit = start_systemd(home, &trellisd, name.as_deref())?;
        progress(&format!("starting trellisd as the systemd user service {unit} (logs: journalctl --user -u {unit})…"));
        let status = wait_ready(ctx, deadline, None, &format!("journalctl --user -u {unit}")).await?;
        return Ok((status, "systemd", None));
    }
    let log = home.join(LOG_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log)
        .map_err(|e| anyhow::anyhow!("{}: {e}", log.display()))?;
    let mut cmd = Command::new(&trellisd);
    cmd.arg("--home").arg(home).stdin(Stdio::null()).stdout(file.try_clone()?).stderr(file);
    // Its own process group: a Ctrl-C in this terminal does not reach it.
    cmd.process_group(0);
    if let Some(n) = &name {
        cmd.env("TRELLIS_NAME", n);
    }
    let mut child = cmd.spawn().map_err(|e| anyhow::anyhow!("cannot start {}: {e}", trellisd.display()))?;
    let pid = child.id();
    progress(&format!("starting trellisd (pid {pid}, log {})…", shown(&log)));
    let status = wait_ready(ctx, deadline, Some(&mut child), &shown(&log)).await?;
    if first {
        progress(&format!("  created organization {} ({}) in {}", status.fingerprint, safe(&status.name), shown(home)));
    }
    progress(&format!("  ready: listening on {}", status.listen_addrs.first().map(String::as_str).unwrap_or("-")));
    Ok((status, "process", Some(pid)))
}

/// Wait until the API answers; fail early if the process exits, with the end of its log.
async fn wait_ready(ctx: &Ctx, deadline: Instant, mut child: Option<&mut Child>, log: &str) -> anyhow::Result<Status> {
    loop {
        if let Ok(s) = ctx.client.status().await {
            return Ok(s);
        }
        if let Some(c) = child.as_deref_mut()
            && let Ok(Some(code)) = c.try_wait()
        {
            anyhow::bail!("trellisd exited ({code}) before it was ready:\n{}", tail(&ctx.home.join(LOG_FILE), 12));
        }
        if Instant::now() >= deadline {
            anyhow::bail!("trellisd did not answer within the wait (--wait); see {log}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last `n` lines of a file, made safe to print.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].iter().map(|l| format!("  {}", safe(l))).collect::<Vec<_>>().join("\n")
}

/// Wait until group `id` is confirmed (this org is a member) and a catch-up sync that started
/// after `since_ms` completed, printing progress. Returns a summary for the output.
async fn wait_synced(
    ctx: &Ctx,
    id: &str,
    since_ms: u64,
    budget: Duration,
    must_join: bool,
) -> anyhow::Result<serde_json::Value> {
    let begun = Instant::now();
    let deadline = begun + budget;
    let mut said_member = false;
    let mut said_items = u64::MAX;
    loop {
        let g: GroupInfo = ctx.client.group(id).await?;
        if let Some(role) = &g.role
            && !said_member
        {
            progress(&format!("  admitted to {} as {role}: {} members", safe(&g.name), g.members));
            said_member = true;
        }
        if g.items != said_items && g.role.is_some() {
            progress(&format!("  syncing {}: {} items received", safe(&g.name), g.items));
            said_items = g.items;
        }
        let synced = g.role.is_some() && g.sync.iter().any(|s| s.last_ok_ms.is_some_and(|t| t >= since_ms));
        // A group of which no peer is online has nothing to wait for (a founder alone, say):
        // after a few seconds for peers to connect, stop waiting.
        let alone = !must_join && g.peers == 0 && begun.elapsed() >= ALONE_WAIT;
        let timed_out = Instant::now() >= deadline || alone;
        if synced || timed_out {
            if !synced && must_join && g.role.is_none() {
                anyhow::bail!(
                    "joined {} but its history has not arrived from the inviter's node within the wait: your \
                     membership is confirmed once it does; the node keeps trying in the background \
                     (see `trellis status`)",
                    safe(&g.name)
                );
            }
            if alone {
                progress(&format!(
                    "  {}: no peer of the group is online now; it syncs when one connects",
                    safe(&g.name)
                ));
            } else if !synced {
                progress(&format!(
                    "  {}: no completed sync with a peer yet; it continues in the background",
                    safe(&g.name)
                ));
            }
            let advisories: Vec<AdvisoryView> = ctx.client.advisories(Some(id)).await.unwrap_or_default();
            if synced {
                progress(&format!("  synced {}: {} advisories", safe(&g.name), advisories.len()));
            }
            return Ok(serde_json::json!({
                "id": g.id,
                "name": g.name,
                "role": g.role,
                "members": g.members,
                "items": g.items,
                "advisories": advisories.len(),
                "synced": synced,
            }));
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// `trellis down`: stop this home's node (its systemd user service, or the process).
pub async fn down(ctx: &Ctx) -> anyhow::Result<()> {
    let unit = unit_name(&ctx.home);
    let mut stopped_unit = None;
    if let Some(path) = unit_path(&unit).filter(|p| p.exists())
        && systemd_user_available()
    {
        // Stopped, disabled and removed: a node brought down stays down at the next login, and
        // nothing is left behind (`trellis up` writes the unit again).
        run_systemctl(&["disable", "--now", &unit])?;
        std::fs::remove_file(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        run_systemctl(&["daemon-reload"])?;
        stopped_unit = Some(format!("stopped and removed the systemd user service {unit}"));
    }
    // A trellisd started another way (by hand, or before the unit) is stopped through its API.
    let who = match ctx.client.shutdown().await {
        Ok(s) => format!("trellisd (pid {})", s.pid),
        // The daemon may close the connection while it stops, before its answer is read.
        Err(trellis_api::client::ClientError::Transport(_)) => "trellisd".to_string(),
        Err(trellis_api::client::ClientError::NotRunning { .. })
        | Err(trellis_api::client::ClientError::StaleSocket { .. }) => {
            let msg = stopped_unit
                .unwrap_or_else(|| format!("trellisd is not running for {}; nothing to stop", shown(&ctx.home)));
            return done(ctx, &msg);
        }
        Err(e) => return Err(e.into()),
    };
    // Stopped once the API no longer answers (the daemon removes its socket last).
    let deadline = Instant::now() + Duration::from_secs(30);
    while ctx.client.status().await.is_ok() {
        if Instant::now() >= deadline {
            anyhow::bail!("{who} was asked to stop but still answers after 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lock = ctx.home.join(trellis_home::home::LOCK_FILE);
    while std::fs::File::open(&lock).and_then(|f| f.try_lock().map_err(std::io::Error::other)).is_err() && lock.exists()
    {
        if Instant::now() >= deadline {
            anyhow::bail!("{who} still holds {} after 30 s", lock.display());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    done(ctx, &format!("stopped {who} for {}", shown(&ctx.home)))
}

fn done(ctx: &Ctx, msg: &str) -> anyhow::Result<()> {
    if ctx.json {
        return output::print_json(&serde_json::json!({ "stopped": true, "message": msg }));
    }
    println!("{msg}");
    Ok(())
}

/// `trellisd` next to this `trellis`, else the first on `PATH`.
pub fn find_trellisd() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().ok().and_then(|p| p.parent().map(|d| d.join("trellisd")));
    if let Some(p) = exe.filter(|p| p.is_file()) {
        return Ok(p);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("trellisd");
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    anyhow::bail!(
        "cannot find trellisd next to trellis or on PATH; install both with \
         `cargo install --locked --path daemon && cargo install --locked --path cli` from the repository"
    )
}

/// Whether a systemd user manager answers.
fn systemd_user_available() -> bool {
    Command::new("systemctl")
        .args(["--user", "show-environment"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run_systemctl(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("systemctl").arg("--user").args(args).stdin(Stdio::null()).output()?;
    if !out.status.success() {
        anyhow::bail!("systemctl --user {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// The unit of a home: `trellisd-` and 16 hex digits of a hash of its absolute path.
fn unit_name(home: &Path) -> String {
    let abs = std::path::absolute(home).unwrap_or_else(|_| home.to_path_buf());
    // FNV-1a, 64 bits: a stable name, not a secret.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in abs.as_os_str().as_encoded_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("trellisd-{h:016x}.service")
}

fn unit_path(unit: &str) -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".config"),
    };
    Some(base.join("systemd/user").join(unit))
}

/// A value quoted for a unit file: inside double quotes, with `\`, `"` escaped and systemd's
/// specifier `%` doubled; in a command line (`exec`) the variable sign `$` is doubled too (it
/// means nothing in `Environment=`). Line breaks cannot be written and are refused.
fn unit_quote(v: &str, exec: bool) -> anyhow::Result<String> {
    if v.chars().any(|c| c == '\n' || c == '\r' || c == '\0') {
        anyhow::bail!("{v:?} contains a line break, which a systemd unit cannot hold; use --service process");
    }
    let mut out = String::from("\"");
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' if exec => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(out)
}

/// The unit file's text.
fn unit_text(home: &Path, trellisd: &Path, name: Option<&str>) -> anyhow::Result<String> {
    let home = std::path::absolute(home)?;
    let mut env = Vec::new();
    for (k, v) in std::env::vars() {
        // A unit file is a plain file: nothing that looks like a secret goes into it.
        let secret = ["PASS", "SECRET", "TOKEN", "KEY"].iter().any(|s| k.contains(s));
        if ((k.starts_with("TRELLIS_") && k != "TRELLIS_HOME") || k == "RUST_LOG") && !secret {
            env.push(format!("Environment={}", unit_quote(&format!("{k}={v}"), false)?));
        }
    }
    if let Some(n) = name {
        env.retain(|l| !l.starts_with("Environment=\"TRELLIS_NAME="));
        env.push(format!("Environment={}", unit_quote(&format!("TRELLIS_NAME={n}"), false)?));
    }
    env.sort();
    Ok(format!(
        "# Written by `trellis up` for the home {home}; `trellis down` stops, disables and removes it.\n\
         [Unit]\nDescription=Trellis node ({home})\n\n\
         [Service]\nType=notify\nNotifyAccess=main\nExecStart={exe} --home {home_q}\n{env}\
         Restart=on-failure\nRestartSec=5s\nRestartPreventExitStatus=2\nUMask=0077\n\n\
         [Install]\nWantedBy=default.target\n",
        home = home.display(),
        exe = unit_quote(&trellisd.display().to_string(), true)?,
        home_q = unit_quote(&home.display().to_string(), true)?,
        env = env.iter().map(|l| format!("{l}\n")).collect::<String>(),
    ))
}

/// Write and start the user unit of `home`; returns its name.
fn start_systemd(home: &Path, trellisd: &Path, name: Option<&str>) -> anyhow::Result<String> {
    let unit = unit_name(home);
    let path = unit_path(&unit).ok_or_else(|| anyhow::anyhow!("neither XDG_CONFIG_HOME nor HOME is set"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = unit_text(home, trellisd, name)?;
    let mut f = std::fs::File::create(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    f.write_all(text.as_bytes())?;
    run_systemctl(&["daemon-reload"])?;
    run_systemctl(&["enable", "--now", &unit])?;
    Ok(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_values_are_quoted() {
        assert_eq!(unit_quote("a b", false).unwrap(), "\"a b\"");
        assert_eq!(unit_quote("x\"y\\z%$", true).unwrap(), "\"x\\\"y\\\\z%%$$\"");
        assert_eq!(unit_quote("x$y", false).unwrap(), "\"x$y\"");
        assert!(unit_quote("a\nb", false).is_err());
    }

    #[test]
    fn unit_names_are_stable_per_home() {
        let a = unit_name(Path::new("/tmp/a"));
        assert_eq!(a, unit_name(Path::new("/tmp/a")));
        assert_ne!(a, unit_name(Path::new("/tmp/b")));
        assert!(a.starts_with("trellisd-") && a.ends_with(".service"));
    }

    /// Where systemd's own checker is installed, the unit text passes it (syntax, keys, an
    /// executable command) with no complaint at all.
    #[test]
    fn unit_text_passes_systemd_analyze_verify() {
        if Command::new("systemd-analyze").arg("--version").output().is_err() {
            eprintln!("skipped: systemd-analyze is not installed");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trellisd-test.service");
        let text = unit_text(Path::new("/srv/my home"), Path::new("/bin/true"), Some("Acme \"100%\" $x")).unwrap();
        std::fs::write(&path, text).unwrap();
        let out = Command::new("systemd-analyze").arg("verify").arg(&path).output().unwrap();
        let said = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && said.trim().is_empty(), "systemd-analyze verify: {said}");
    }

    #[test]
    fn unit_text_runs_trellisd_on_the_home() {
        let t = unit_text(Path::new("/srv/my home"), Path::new("/usr/bin/trellisd"), Some("Acme 100%")).unwrap();
        assert!(t.contains("ExecStart=\"/usr/bin/trellisd\" --home \"/srv/my home\""), "{t}");
        assert!(t.contains("Environment=\"TRELLIS_NAME=Acme 100%%\""), "{t}");
        assert!(t.contains("Type=notify"), "{t}");
    }
}
