//! End-to-end flow through the real binaries, driven only by the `trellis` CLI as a user
//! would: three daemons A, B, C on loopback with temporary homes; A creates group `water` and
//! invites B by B's contact card; B joins; A publishes a TLP:GREEN advisory that B lists with
//! the same id, title and publisher, while C (connected to both, not a member) never lists it
//! and no file in C's home holds the title; B restarts and still lists it. Malformed tokens and
//! cards are refused with a clear message and change nothing; `status` without a daemon says
//! how to start one, and on a home with no organization, how to create one.
//!
//! Needs the binaries built first: `cargo build --workspace && cargo test --workspace` (the
//! README's test command). Daemon logs are printed only when a test fails.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use serde_json::Value;
use trellis_tests::{Bins, Daemon, files_containing, regular_files, wait_until};

/// Upper bound for anything that crosses the network on loopback (generous: CI is shared).
const NET: Duration = Duration::from_secs(20);

fn str_field<'a>(v: &'a Value, key: &str) -> anyhow::Result<&'a str> {
    v.get(key).and_then(Value::as_str).with_context(|| format!("no string {key:?} in {v}"))
}

fn array(v: Value) -> anyhow::Result<Vec<Value>> {
    match v {
        Value::Array(a) => Ok(a),
        other => bail!("expected a JSON array, got {other}"),
    }
}

/// `trellis init --name NAME` in `home`, returning the org id it reports.
fn init(bins: &Bins, home: &Path, name: &str) -> anyhow::Result<String> {
    let v = bins.json(home, &["init", "--name", name])?;
    ensure!(str_field(&v, "home")? == home.display().to_string(), "{v}");
    ensure!(!str_field(&v, "fingerprint")?.is_empty(), "{v}");
    Ok(str_field(&v, "org")?.to_string())
}

/// A loopback listen address of a running daemon, with its `/p2p/` peer id, for `--bootstrap`.
fn dial_addr(bins: &Bins, home: &Path) -> anyhow::Result<String> {
    let status = bins.json(home, &["status"])?;
    let peer = str_field(&status, "peer_id")?;
    let addrs =
        status.get("listen_addrs").and_then(Value::as_array).with_context(|| format!("no listen_addrs in {status}"))?;
    let addr = addrs
        .iter()
        .filter_map(Value::as_str)
        .find(|a| a.starts_with("/ip4/127.0.0.1/tcp/"))
        .with_context(|| format!("no loopback TCP listen address in {status}"))?;
    Ok(if addr.contains("/p2p/") { addr.to_string() } else { format!("{addr}/p2p/{peer}") })
}

fn peer_ids(bins: &Bins, home: &Path) -> Vec<String> {
    bins.json(home, &["peers"])
        .and_then(array)
        .map(|ps| ps.iter().filter_map(|p| p.get("peer_id").and_then(Value::as_str).map(String::from)).collect())
        .unwrap_or_default()
}

fn group_names(bins: &Bins, home: &Path) -> anyhow::Result<Vec<String>> {
    Ok(array(bins.json(home, &["group", "list"])?)?
        .iter()
        .filter_map(|g| g.get("name").and_then(Value::as_str).map(String::from))
        .collect())
}

/// The advisory with `id` in `home`'s `advisory list`, if listed.
fn listed(bins: &Bins, home: &Path, id: &str) -> anyhow::Result<Option<Value>> {
    Ok(array(bins.json(home, &["advisory", "list"])?)?
        .into_iter()
        .find(|a| a.get("id").and_then(Value::as_str) == Some(id)))
}

#[test]
fn three_nodes_share_an_advisory_only_with_members() {
    let bins = Bins::locate().unwrap_or_else(|e| panic!("{e:#}"));
    // Short base path: the API socket lives in the home and unix socket paths are limited.
    let dir =
        tempfile::Builder::new().prefix("trellis-e2e").tempdir_in("/tmp").unwrap_or_else(|e| panic!("temp dir: {e}"));
    // The daemons live here so that a failing step (a panic below) kills them and prints
    // their logs while unwinding.
    let mut nodes: Vec<Daemon> = Vec::new();
    if let Err(e) = flow(&bins, dir.path(), &mut nodes) {
        panic!("{e:#}");
    }
}

fn flow(bins: &Bins, dir: &Path, nodes: &mut Vec<Daemon>) -> anyhow::Result<()> {
    let (home_a, home_b, home_c) = (dir.join("a"), dir.join("b"), dir.join("c"));
    let org_a = init(bins, &home_a, "Alpha Water")?;
    let org_b = init(bins, &home_b, "Beta Utilities")?;
    init(bins, &home_c, "Gamma Outsider")?;

    // init refuses to overwrite an identity.
    let again = bins.trellis(&home_a, &["init", "--name", "Other"]);
    ensure!(again.code == Some(1), "second init must fail: {again:?}");
    ensure!(again.stderr.contains("already exists"), "{again:?}");
    ensure!(bins.json(&home_a, &["init"]).is_err());

    nodes.push(Daemon::start(bins, "A", &home_a, &[])?);
    let addr_a = dial_addr(bins, &home_a)?;
    nodes.push(Daemon::start(bins, "B", &home_b, std::slice::from_ref(&addr_a))?);
    let addr_b = dial_addr(bins, &home_b)?;
    nodes.push(Daemon::start(bins, "C", &home_c, &[addr_a.clone(), addr_b.clone()])?);
    let peer_a = str_field(&bins.json(&home_a, &["status"])?, "peer_id")?.to_string();
    let peer_b = str_field(&bins.json(&home_b, &["status"])?, "peer_id")?.to_string();

    // A creates the group.
    let created = bins.json(&home_a, &["group", "create", "water", "--kind", "sector"])?;
    let group_id = str_field(&created, "id")?.to_string();
    ensure!(group_names(bins, &home_a)? == ["water"]);

    // B's contact card: `--json` names B's org; the plain form is one copyable line, and that
    // line (not the JSON) is what gets pasted into the invite below. Cards are re-signed on
    // each call, so the two need not be byte-equal.
    let id_b = bins.json(&home_b, &["id"])?;
    ensure!(str_field(&id_b, "org")? == org_b, "{id_b}");
    ensure!(!str_field(&id_b, "card")?.is_empty(), "{id_b}");
    let plain = bins.trellis(&home_b, &["id"]).ok()?;
    let card_b = plain.stdout.trim_end_matches('\n').to_string();
    ensure!(!card_b.is_empty() && !card_b.contains(char::is_whitespace), "one line, no spaces: {plain:?}");

    // Malformed card: refused, nothing changes on A.
    let members_before = bins.json(&home_a, &["group", "members", "water"])?;
    let bad = bins.trellis(&home_a, &["group", "invite", "water", "not-a-card"]);
    ensure!(bad.code == Some(1), "malformed card must fail: {bad:?}");
    ensure!(bad.stderr.starts_with("error: ") && bad.stderr.len() > 10, "{bad:?}");
    ensure!(bad.stdout.is_empty(), "{bad:?}");
    ensure!(bins.json(&home_a, &["group", "members", "water"])? == members_before);
    ensure!(group_names(bins, &home_a)? == ["water"]);

    // Malformed token: refused, B joins nothing.
    let bad = bins.trellis(&home_b, &["group", "join", "garbage-token"]);
    ensure!(bad.code == Some(1), "malformed token must fail: {bad:?}");
    ensure!(bad.stderr.starts_with("error: ") && bad.stderr.len() > 10, "{bad:?}");
    ensure!(group_names(bins, &home_b)?.is_empty());

    // Unknown group: a clear error, not a crash.
    let bad = bins.trellis(&home_a, &["group", "members", "no such group"]);
    ensure!(bad.code == Some(1) && bad.stderr.starts_with("error: "), "{bad:?}");

    // Invite and join.
    let tok = bins.json(&home_a, &["group", "invite", "water", &card_b])?;
    let token = str_field(&tok, "token")?.to_string();
    let joined = bins.json(&home_b, &["group", "join", &token])?;
    ensure!(str_field(&joined, "id")? == group_id, "{joined}");
    ensure!(str_field(&joined, "name")? == "water", "{joined}");
    ensure!(group_names(bins, &home_b)? == ["water"]);

    // Wait until A sees B as a member and as a connected peer on the group's topic.
    wait_until("A to list B as a member of water", NET, || {
        let m = bins.json(&home_a, &["group", "members", "water"]).ok()?;
        m.as_array()?.iter().any(|x| x.get("org").and_then(Value::as_str) == Some(org_b.as_str())).then_some(())
    })?;
    wait_until("A to have a group peer in water", NET, || {
        let groups = bins.json(&home_a, &["group", "list"]).ok()?;
        let water = groups.as_array()?.iter().find(|g| g["name"] == "water")?;
        (water.get("peers")?.as_u64()? >= 1).then_some(())
    })?;
    // C is connected to both A and B: the secrecy check below is not vacuous.
    wait_until("C to be connected to A and B", NET, || {
        let p = peer_ids(bins, &home_c);
        (p.contains(&peer_a) && p.contains(&peer_b)).then_some(())
    })?;

    // B follows its events while A publishes.
    let watch_b = bins.watch(&home_b, &["--group", "water"])?;

    // A publishes.
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let title = format!("Pump controller auth bypass zq{nonce}");
    let published = bins.json(
        &home_a,
        &[
            "advisory",
            "publish",
            "water",
            "--tlp",
            "green",
            "--title",
            &title,
            "--summary",
            "Unauthenticated access to the pump controller web UI.",
            "--severity",
            "9.1",
            "--alias",
            "CVE-2099-0001",
        ],
    )?;
    let adv_id = str_field(&published, "id")?.to_string();
    let on_a = listed(bins, &home_a, &adv_id)?.context("A lists its own advisory")?;
    ensure!(str_field(&on_a, "title")? == title, "{on_a}");

    // B receives it: same id, title and publisher.
    let on_b = wait_until("B to list the advisory", NET, || listed(bins, &home_b, &adv_id).ok().flatten())?;
    ensure!(str_field(&on_b, "title")? == title, "{on_b}");
    ensure!(str_field(&on_b, "publisher")? == org_a, "{on_b}");
    ensure!(str_field(&on_b, "tlp")?.eq_ignore_ascii_case("green"), "{on_b}");
    let event = watch_b.wait_for("the advisory event", NET, |v| v["event"] == "advisory")?;
    ensure!(event["advisory"]["id"] == adv_id.as_str(), "{event}");
    ensure!(event["advisory"]["title"] == title.as_str(), "{event}");
    drop(watch_b);
    let shown = bins.trellis(&home_b, &["advisory", "show", &adv_id]).ok()?;
    ensure!(shown.stdout.contains(&title) && shown.stdout.contains("CVE-2099-0001"), "{shown:?}");
    let shown_json = bins.json(&home_b, &["advisory", "show", &adv_id[..12]])?;
    ensure!(str_field(&shown_json, "id")? == adv_id, "a 12-char prefix finds it");

    // C never lists it.
    ensure!(listed(bins, &home_c, &adv_id)?.is_none(), "C must not list it");
    ensure!(group_names(bins, &home_c)?.is_empty());

    // B restarts (SIGTERM, same home) and still lists it.
    let b = nodes.iter_mut().find(|d| d.name == "B").context("daemon B")?;
    b.restart()?;
    let after = listed(bins, &home_b, &adv_id)?.context("B lists the advisory after a restart")?;
    ensure!(str_field(&after, "title")? == title, "{after}");
    ensure!(group_names(bins, &home_b)? == ["water"]);

    // Still nothing on C, and no file in C's home (store.redb included) holds the title.
    ensure!(listed(bins, &home_c, &adv_id)?.is_none(), "C must not list it");
    let c = nodes.iter_mut().find(|d| d.name == "C").context("daemon C")?;
    c.stop()?;
    let files = regular_files(&home_c);
    ensure!(files.iter().any(|f| f.ends_with("store.redb")), "C's store exists: {files:?}");
    let hits = files_containing(&home_c, title.as_bytes());
    ensure!(hits.is_empty(), "C's home holds the title in {hits:?}");
    // The scan finds a planted copy of the title, so the check above can fail.
    let probe = dir.join("probe.bin");
    std::fs::write(&probe, [b"xx".as_slice(), title.as_bytes(), b"yy"].concat())?;
    ensure!(files_containing(dir, title.as_bytes()).contains(&probe));
    Ok(())
}

#[test]
fn status_without_a_daemon_says_how_to_start_it() {
    let bins = Bins::locate().unwrap_or_else(|e| panic!("{e:#}"));
    let dir =
        tempfile::Builder::new().prefix("trellis-e2e").tempdir_in("/tmp").unwrap_or_else(|e| panic!("temp dir: {e}"));
    // A home with no organization (a mistyped --home, say): the advice is `init`, never a
    // `trellisd` that would create an unnamed organization there.
    let typo = dir.path().join("typo");
    let out = bins.trellis(&typo, &["status"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("is not a Trellis home"), "{out:?}");
    assert!(out.stderr.contains(&format!("trellis --home {} init --name", typo.display())), "{out:?}");
    assert!(!typo.exists(), "{out:?}");
    // An organization whose daemon is not running: how to start it.
    let home = dir.path().join("idle");
    bins.json(&home, &["init", "--name", "Idle"]).unwrap_or_else(|e| panic!("{e:#}"));
    let out = bins.trellis(&home, &["status"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("trellisd is not running"), "{out:?}");
    assert!(out.stderr.contains(&format!("trellis --home {} up", home.display())), "{out:?}");
    assert!(out.stderr.contains(&format!("trellisd --home {}", home.display())), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
}

#[test]
fn publish_refuses_an_unlabelled_or_malformed_file_before_contacting_the_daemon() {
    let bins = Bins::locate().unwrap_or_else(|e| panic!("{e:#}"));
    let dir =
        tempfile::Builder::new().prefix("trellis-e2e").tempdir_in("/tmp").unwrap_or_else(|e| panic!("temp dir: {e}"));
    let home = dir.path().join("h");
    // No --tlp: a usage error, never a default label.
    let out = bins.trellis(&home, &["advisory", "publish", "g", "--title", "t", "--summary", "s"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("--tlp"), "{out:?}");
    // A file that is not JSON, and one without a title: the error names the file.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{ title: nope").unwrap_or_else(|e| panic!("{e}"));
    let bad_s = bad.display().to_string();
    let out = bins.trellis(&home, &["advisory", "publish", "g", "--tlp", "green", "--file", &bad_s]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains(&bad_s) && out.stderr.contains("not valid JSON"), "{out:?}");
    let untitled = dir.path().join("untitled.json");
    std::fs::write(&untitled, r#"{"summary":"s"}"#).unwrap_or_else(|e| panic!("{e}"));
    let untitled_s = untitled.display().to_string();
    let out = bins.trellis(&home, &["advisory", "publish", "g", "--tlp", "green", "--file", &untitled_s]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains(&untitled_s) && out.stderr.contains("title"), "{out:?}");
}
