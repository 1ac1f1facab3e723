//! Resources through the real binaries: in a 3-node sector group, A publishes a 5 MiB and a
//! 50 MiB file (GREEN: carried beside the item in encrypted chunks) and a small one (CLEAR,
//! inside the item). B fetches them from A; then A goes offline and C, offline until then,
//! catches up the items and fetches every chunk from B. On every member `resource get` returns
//! the same bytes; no chunk on disk holds the plaintext; `--topic` filters; an endorsement by C
//! reaches B; `watch` shows the resource.
//!
//! Needs the binaries built first: `cargo build --workspace && cargo test --workspace`.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, ensure};
use serde_json::Value;
use trellis_tests::{Bins, Daemon, files_containing, wait_until};

const NET: Duration = Duration::from_secs(30);
const MIB: usize = 1024 * 1024;

fn str_field<'a>(v: &'a Value, key: &str) -> anyhow::Result<&'a str> {
    v.get(key).and_then(Value::as_str).with_context(|| format!("no string {key:?} in {v}"))
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

/// Deterministic bytes that do not compress or repeat (xorshift).
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn resources(bins: &Bins, home: &Path, args: &[&str]) -> Vec<Value> {
    let mut full = vec!["resource", "list"];
    full.extend_from_slice(args);
    bins.json(home, &full).ok().and_then(|v| v.as_array().cloned()).unwrap_or_default()
}

/// Whether `home` lists `id` with its whole file held.
fn complete(bins: &Bins, home: &Path, id: &str) -> bool {
    resources(bins, home, &[])
        .iter()
        .any(|r| r["id"] == id && r["file"].is_object() && r["file"]["chunks_held"] == r["file"]["chunks"])
}

fn get_same(bins: &Bins, home: &Path, id: &str, want: &[u8], out: &Path) -> anyhow::Result<()> {
    let o = out.to_str().context("path")?;
    let r = bins.json(home, &["resource", "get", id, "--out", o])?;
    ensure!(r["bytes"].as_u64() == Some(want.len() as u64), "{r}");
    let got = std::fs::read(out)?;
    ensure!(got == want, "{} returned other bytes ({} vs {})", out.display(), got.len(), want.len());
    std::fs::remove_file(out)?;
    Ok(())
}

/// The directory of the file with `chunks` chunks under `home`'s resources.
fn chunk_dir(home: &Path, chunks: usize) -> anyhow::Result<std::path::PathBuf> {
    for d in std::fs::read_dir(home.join("resources"))?.flatten() {
        let n = std::fs::read_dir(d.path())?
            .flatten()
            .filter(|f| f.file_name().to_string_lossy().ends_with(".chunk"))
            .count();
        if n == chunks {
            return Ok(d.path());
        }
    }
    anyhow::bail!("no file of {chunks} chunks under {}", home.display())
}

#[test]
fn resources_with_large_files_reach_every_member() {
    let bins = Bins::locate().unwrap_or_else(|e| panic!("{e:#}"));
    let dir = tempfile::Builder::new().prefix("trellis-res").tempdir_in("/tmp").unwrap();
    let mut nodes = Vec::new();
    if let Err(e) = flow(&bins, dir.path(), &mut nodes) {
        panic!("{e:#}");
    }
}

fn flow(bins: &Bins, dir: &Path, nodes: &mut Vec<Daemon>) -> anyhow::Result<()> {
    let (ha, hb, hc) = (dir.join("a"), dir.join("b"), dir.join("c"));
    let org_a = str_field(&bins.json(&ha, &["init", "--name", "Alpha Water"])?, "org")?.to_string();
    bins.json(&hb, &["init", "--name", "Beta Pumps"])?;
    bins.json(&hc, &["init", "--name", "Gamma Valves"])?;
    nodes.push(Daemon::start(bins, "A", &ha, &[])?);
    let addr_a = dial_addr(bins, &ha)?;
    nodes.push(Daemon::start(bins, "B", &hb, std::slice::from_ref(&addr_a))?);
    let addr_b = dial_addr(bins, &hb)?;
    nodes.push(Daemon::start(bins, "C", &hc, &[addr_a.clone(), addr_b.clone()])?);
    bins.json(&ha, &["group", "create", "water", "--kind", "sector"])?;
    for h in [&hb, &hc] {
        let card = str_field(&bins.json(h, &["id"])?, "card")?.to_string();
        let token = str_field(&bins.json(&ha, &["group", "invite", "water", &card])?, "token")?.to_string();
        bins.json(h, &["group", "join", &token])?;
    }
    for h in [&ha, &hb, &hc] {
        wait_until("every node to see three members and a group peer", NET, || {
            let g = bins.json(h, &["group", "list"]).ok()?;
            let w = g.as_array()?.iter().find(|g| g["name"] == "water")?;
            (w["members"].as_u64()? == 3 && w["peers"].as_u64()? >= 1).then_some(())
        })?;
    }
    // C goes offline: it will get everything from B later, with A gone.
    nodes[2].stop()?;

    let five = bytes(5 * MIB, 5);
    let fifty = bytes(50 * MIB, 50);
    let small = b"Restore test: pick one file, restore it to a spare machine, compare hashes.\n".repeat(100);
    let (p5, p50, psmall) = (dir.join("playbook-5m.bin"), dir.join("exercise-50m.bin"), dir.join("restore.txt"));
    std::fs::write(&p5, &five)?;
    std::fs::write(&p50, &fifty)?;
    std::fs::write(&psmall, &small)?;

    let watch_b = bins.watch(&hb, &[])?;
    let publish = |args: &[&str]| -> anyhow::Result<String> {
        let mut full = vec!["resource", "publish", "water"];
        full.extend_from_slice(args);
        Ok(str_field(&bins.json(&ha, &full)?, "id")?.to_string())
    };
    let id5 = publish(&[
        "--tlp",
        "green",
        "--topic",
        "backups",
        "--audience",
        "small-orgs",
        "--title",
        "Backup playbook",
        "--text",
        "Three copies, one offline.",
        "--file",
        p5.to_str().context("path")?,
    ])?;
    let id50 = publish(&[
        "--tlp",
        "green",
        "--topic",
        "incident-response",
        "--title",
        "Ransomware exercise pack",
        "--file",
        p50.to_str().context("path")?,
    ])?;
    let id_small = publish(&[
        "--tlp",
        "clear",
        "--topic",
        "backups",
        "--title",
        "Restore test",
        "--file",
        psmall.to_str().context("path")?,
    ])?;
    // A file over 64 MiB is refused before anything is published.
    let too_big = dir.join("too-big.bin");
    std::fs::write(&too_big, vec![0u8; 64 * MIB + 1])?;
    let refused = bins.trellis(
        &ha,
        &[
            "resource",
            "publish",
            "water",
            "--tlp",
            "green",
            "--topic",
            "backups",
            "--title",
            "x",
            "--file",
            too_big.to_str().context("path")?,
        ],
    );
    ensure!(refused.code == Some(1) && refused.stderr.contains("64 MiB"), "{refused:?}");
    std::fs::remove_file(&too_big)?;
    ensure!(resources(bins, &ha, &[]).len() == 3);

    let ev = watch_b.wait_for("a resource event", NET, |v| v["type"] == "resource" || v.get("resource").is_some())?;
    ensure!(ev.to_string().contains("Backup playbook") || ev.to_string().contains("Ransomware"), "{ev}");

    // B holds every chunk, and gets the same bytes.
    wait_until("B to hold both large files", Duration::from_secs(120), || {
        (complete(bins, &hb, &id5) && complete(bins, &hb, &id50)).then_some(())
    })?;
    let listed = resources(bins, &hb, &[]);
    let r5 = listed.iter().find(|r| r["id"] == id5.as_str()).context("B lists the 5 MiB resource")?;
    ensure!(r5["title"] == "Backup playbook" && r5["topic"] == "backups" && r5["publisher"] == org_a.as_str(), "{r5}");
    ensure!(r5["file"]["carried"] == "chunked" && r5["file"]["chunks"] == 5, "{r5}");
    let only_backups = resources(bins, &hb, &["--topic", "backups"]);
    ensure!(only_backups.len() == 2 && only_backups.iter().all(|r| r["topic"] == "backups"), "{only_backups:?}");
    let out = dir.join("out.bin");
    get_same(bins, &hb, &id5, &five, &out)?;
    get_same(bins, &hb, &id50, &fifty, &out)?;
    get_same(bins, &hb, &id_small, &small, &out)?;
    // The chunks are stored encrypted: no file in B's home holds a window of the plaintext.
    ensure!(files_containing(&hb, &fifty[7 * MIB..7 * MIB + 64]).is_empty(), "plaintext on disk in B's home");
    ensure!(files_containing(&hb, &five[MIB..MIB + 64]).is_empty(), "plaintext on disk in B's home");

    // A goes away; C comes back and gets everything from B.
    nodes[0].stop()?;
    nodes[2].restart()?;
    wait_until("C to hold both large files, from B", Duration::from_secs(180), || {
        (complete(bins, &hc, &id5) && complete(bins, &hc, &id50)).then_some(())
    })?;
    get_same(bins, &hc, &id5, &five, &out)?;
    get_same(bins, &hc, &id50, &fifty, &out)?;
    get_same(bins, &hc, &id_small, &small, &out)?;

    // Resumable: C loses most of the 50 MiB file's chunks while stopped; after a restart it
    // fetches only what is missing (from B) and the file is whole again.
    let dir50 = chunk_dir(&hc, 50)?;
    nodes[2].stop()?;
    for i in 10..50 {
        std::fs::remove_file(dir50.join(format!("{i}.chunk")))?;
    }
    nodes[2].restart()?;
    wait_until("C to fetch the missing chunks again", Duration::from_secs(120), || {
        complete(bins, &hc, &id50).then_some(())
    })?;
    get_same(bins, &hc, &id50, &fifty, &out)?;
    // A chunk altered on disk is caught by its hash, dropped, fetched again.
    let dir5 = chunk_dir(&hc, 5)?;
    let mut chunk = std::fs::read(dir5.join("2.chunk"))?;
    chunk[100] ^= 0xff;
    std::fs::write(dir5.join("2.chunk"), &chunk)?;
    let caught = bins.trellis(&hc, &["resource", "get", &id5, "--out", out.to_str().context("path")?]);
    ensure!(caught.code == Some(1) && caught.stderr.contains("changed on disk") && !out.exists(), "{caught:?}");
    wait_until("C to fetch the altered chunk again", NET, || complete(bins, &hc, &id5).then_some(()))?;
    get_same(bins, &hc, &id5, &five, &out)?;

    // "This helped us": C's endorsement reaches B.
    bins.json(&hc, &["resource", "endorse", &id5, "--comment", "we ran it"])?;
    wait_until("B to count C's endorsement", NET, || {
        resources(bins, &hb, &[]).iter().any(|r| r["id"] == id5.as_str() && r["endorsements"] == 1).then_some(())
    })?;
    // A resource with neither file, link nor text is refused.
    let empty =
        bins.trellis(&hb, &["resource", "publish", "water", "--tlp", "green", "--topic", "backups", "--title", "x"]);
    ensure!(empty.code == Some(1), "{empty:?}");
    Ok(())
}
