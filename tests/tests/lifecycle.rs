//! The life of an advisory across real nodes, driven only by the `trellis` CLI (PROTOCOL.md
//! §4.9): A publishes a GREEN advisory that B's SBOM is affected by; A corrects it with
//! `advisory update` and B shows revision 2 under the same id; B goes offline, A revises again and
//! withdraws it, B comes back and catch-up sync brings both revisions; B's history names each
//! change; the withdrawn advisory no longer raises B's `affected` alert; C, another member, cannot
//! revise A's advisory.
//!
//! Needs the binaries built first (`cargo build --workspace`). Daemon logs are printed only when
//! a test fails.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use serde_json::Value;
use trellis_tests::{Bins, Daemon, wait_until, workspace_root};

const NET: Duration = Duration::from_secs(30);

fn s<'a>(v: &'a Value, key: &str) -> anyhow::Result<&'a str> {
    v.get(key).and_then(Value::as_str).with_context(|| format!("no string {key:?} in {v}"))
}

fn dial_addr(bins: &Bins, home: &Path) -> anyhow::Result<String> {
    let status = bins.json(home, &["status"])?;
    let peer = s(&status, "peer_id")?;
    let addr = status["listen_addrs"]
        .as_array()
        .and_then(|a| a.iter().filter_map(Value::as_str).find(|a| a.starts_with("/ip4/127.0.0.1/tcp/")))
        .with_context(|| format!("no loopback address in {status}"))?;
    Ok(if addr.contains("/p2p/") { addr.to_string() } else { format!("{addr}/p2p/{peer}") })
}

/// The advisory `id` as `home` shows it, once it is at `revision`.
fn at_revision(bins: &Bins, home: &Path, id: &str, revision: u64) -> anyhow::Result<Value> {
    wait_until(&format!("{} to show revision {revision} of {id}", home.display()), NET, || {
        let v = bins.json(home, &["advisory", "show", id]).ok()?;
        (v["revision"].as_u64() == Some(revision)).then_some(v)
    })
}

fn affected_ws(bins: &Bins, home: &Path) -> anyhow::Result<usize> {
    let v = bins.json(home, &["affected"])?;
    let list = v.as_array().cloned().or_else(|| v["matches"].as_array().cloned()).unwrap_or_default();
    Ok(list.iter().filter(|m| m.to_string().contains("pkg:npm/ws")).count())
}

#[test]
fn update_and_withdraw_cross_nodes_and_a_partition() {
    let bins = Bins::locate().unwrap_or_else(|e| panic!("{e:#}"));
    let dir = tempfile::Builder::new().prefix("trellis-life").tempdir_in("/tmp").unwrap();
    let mut nodes: Vec<Daemon> = Vec::new();
    if let Err(e) = flow(&bins, dir.path(), &mut nodes) {
        panic!("{e:#}");
    }
}

fn flow(bins: &Bins, dir: &Path, nodes: &mut Vec<Daemon>) -> anyhow::Result<()> {
    let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
    for (home, name) in [(&a, "Alpha Water"), (&b, "Beta Pumps"), (&c, "Gamma Valves")] {
        bins.json(home, &["init", "--name", name])?;
    }
    nodes.push(Daemon::start(bins, "A", &a, &[])?);
    let addr_a = dial_addr(bins, &a)?;
    nodes.push(Daemon::start(bins, "B", &b, std::slice::from_ref(&addr_a))?);
    nodes.push(Daemon::start(bins, "C", &c, std::slice::from_ref(&addr_a))?);
    bins.json(&a, &["group", "create", "water", "--kind", "sector"])?;
    for home in [&b, &c] {
        let card = bins.trellis(home, &["id"]).ok()?.stdout.trim().to_string();
        let tok = bins.json(&a, &["group", "invite", "water", &card])?;
        bins.json(home, &["group", "join", s(&tok, "token")?])?;
    }
    wait_until("A to have 3 members and B, C to hold the group key", NET, || {
        let m = bins.json(&a, &["group", "members", "water"]).ok()?;
        (m.as_array()?.len() == 3).then_some(())
    })?;
    let sbom = workspace_root().join("proto/tests/fixtures/cyclonedx-npm-app.json");
    bins.json(&b, &["sbom", "add", &sbom.display().to_string(), "--lenient"])?;

    // Publish, with a range that covers B's ws 6.2.1.
    let published = wait_until("A to publish (members' keys settled)", NET, || {
        bins.json(
            &a,
            &[
                "advisory",
                "publish",
                "water",
                "--tlp",
                "green",
                "--title",
                "ws crashes on crafted headers",
                "--summary",
                "Any ws 6.x before 6.2.2.",
                "--severity",
                "7.5",
                "--affects",
                "pkg:npm/ws@>=6.0.0,<6.2.2",
            ],
        )
        .ok()
    })?;
    let id = s(&published, "id")?.to_string();
    at_revision(bins, &b, &id, 1)?;
    wait_until("B's SBOM to be affected", NET, || (affected_ws(bins, &b).ok()? > 0).then_some(()))?;

    // C is a member but not the publisher: its node refuses to revise.
    let refused = bins.trellis(&c, &["advisory", "update", &id, "--title", "hijacked"]);
    ensure!(refused.code == Some(1), "{refused:?}");
    ensure!(refused.stderr.contains("only its publisher may revise"), "{refused:?}");

    // Revision 2: a corrected range (ws 6.2.1 is fixed after all) and score.
    let out =
        bins.json(&a, &["advisory", "update", &id, "--affects", "pkg:npm/ws@>=6.0.0,<6.2.1", "--severity", "5.3"])?;
    ensure!(s(&out, "id")? != id, "a revision is a new item: {out}");
    let on_b = at_revision(bins, &b, &id, 2)?;
    ensure!(on_b["score"].as_f64().is_some_and(|x| (x - 5.3).abs() < 0.01), "{on_b}");
    wait_until("B's alert to clear after the correction", NET, || (affected_ws(bins, &b).ok()? == 0).then_some(()))?;
    let list = bins.json(&b, &["advisory", "list"])?;
    ensure!(list.as_array().map(Vec::len) == Some(1), "one advisory, not two: {list}");

    // Partition: B goes offline; A reverts the range (revision 3), then withdraws (revision 4).
    nodes[1].stop()?;
    bins.json(&a, &["advisory", "update", &id, "--affects", "pkg:npm/ws@>=6.0.0,<6.2.2"])?;
    bins.json(&a, &["advisory", "withdraw", &id, "--reason", "the pump firmware never loads ws"])?;
    let on_a = bins.json(&a, &["advisory", "show", &id])?;
    ensure!(on_a["revision"] == 4 && s(&on_a, "withdrawn")?.contains("never loads ws"), "{on_a}");
    nodes[1].restart()?;
    let on_b = at_revision(bins, &b, &id, 4)?;
    ensure!(s(&on_b, "withdrawn")? == "the pump firmware never loads ws", "{on_b}");
    ensure!(affected_ws(bins, &b)? == 0, "a withdrawn advisory raises no alert");
    // C got everything too.
    at_revision(bins, &c, &id, 4)?;

    // B's history: four revisions, each with what changed.
    let h = bins.json(&b, &["advisory", "show", &id, "--history"])?;
    let versions = h["versions"].as_array().context("versions")?;
    ensure!(versions.len() == 4, "{h}");
    let fields = |i: usize| -> Vec<String> {
        versions[i]["changes"]
            .as_array()
            .map_or(vec![], |c| c.iter().filter_map(|x| x["field"].as_str().map(String::from)).collect())
    };
    ensure!(fields(1) == ["severity", "affected"], "{h}");
    ensure!(fields(2) == ["affected"], "{h}");
    ensure!(fields(3) == ["withdrawn"], "{h}");
    let text = bins.trellis(&b, &["advisory", "show", &id, "--history"]).ok()?.stdout;
    ensure!(text.contains("revision 4") && text.contains("withdrawn: - -> the pump firmware never loads ws"), "{text}");
    let listed = bins.trellis(&b, &["advisory", "list"]).ok()?.stdout;
    if !listed.contains("[WITHDRAWN] (rev 4)") {
        bail!("advisory list marks it withdrawn: {listed}");
    }
    Ok(())
}

/// `feed add --kind osv`, `feed run`, `feed list`, `feed remove` and `advisory list
/// --by-vulnerability` through the CLI: two records naming one CVE and a member's own advisory
/// with that CVE as an alias are one vulnerability with three sources.
#[test]
fn an_osv_feed_and_one_entry_per_vulnerability() {
    let bins = Bins::locate().unwrap_or_else(|e| panic!("{e:#}"));
    let dir = tempfile::Builder::new().prefix("trellis-feed").tempdir_in("/tmp").unwrap();
    let mut nodes: Vec<Daemon> = Vec::new();
    if let Err(e) = feed_flow(&bins, dir.path(), &mut nodes) {
        panic!("{e:#}");
    }
}

fn feed_flow(bins: &Bins, dir: &Path, nodes: &mut Vec<Daemon>) -> anyhow::Result<()> {
    let a = dir.join("a");
    bins.json(&a, &["init", "--name", "Alpha Water"])?;
    nodes.push(Daemon::start(bins, "A", &a, &[])?);
    bins.json(&a, &["group", "create", "water", "--kind", "sector"])?;
    let records = dir.join("osv");
    std::fs::create_dir_all(&records)?;
    let fixture = std::fs::read_to_string(workspace_root().join("proto/tests/fixtures/osv-synthetic-npm.json"))?;
    std::fs::write(records.join("one.json"), &fixture)?;
    // A second source of the same vulnerability, under its own id.
    std::fs::write(records.join("two.json"), fixture.replace("TRELLIS-TEST-2024-0001", "TRELLIS-TEST-2024-0101"))?;
    let added = bins.json(&a, &["feed", "add", "water", &records.display().to_string(), "--kind", "osv"])?;
    let id = s(&added, "id")?.to_string();
    let report = bins.json(&a, &["feed", "run", &id])?;
    ensure!(report["new"].as_array().map(Vec::len) == Some(2), "{report}");
    let text = bins.trellis(&a, &["feed", "run", &id]).ok()?.stdout;
    ensure!(text.contains("0 new, 0 revised, 2 unchanged, 0 refused"), "{text}");
    // --progress: the figure on stderr; with --json, stdout is the report alone.
    let out = bins.trellis(&a, &["--json", "feed", "run", &id, "--progress"]).ok()?;
    let report: serde_json::Value = serde_json::from_str(&out.stdout).context("stdout is one JSON report")?;
    ensure!(report["unchanged"] == 2, "{report}");
    ensure!(out.stderr.contains(&format!("feed {id}: 2/2 documents (100%)")), "{}", out.stderr);
    let quiet = bins.trellis(&a, &["--json", "feed", "run", &id]).ok()?;
    ensure!(!quiet.stderr.contains("documents"), "no progress without --progress off a terminal: {}", quiet.stderr);
    let list = bins.json(&a, &["feed", "list"])?;
    ensure!(list[0]["documents"] == 2 && list[0]["failures"] == 0, "{list}");
    bins.json(
        &a,
        &[
            "advisory",
            "publish",
            "water",
            "--tlp",
            "green",
            "--title",
            "ws in our pumps",
            "--summary",
            "s",
            "--alias",
            "CVE-2021-32640",
        ],
    )?;
    let by = bins.json(&a, &["advisory", "list", "--by-vulnerability"])?;
    let entries = by.as_array().context("entries")?;
    ensure!(entries.len() == 1, "{by}");
    ensure!(entries[0]["sources"].as_array().map(Vec::len) == Some(3), "{by}");
    ensure!(entries[0]["ids"][0].as_str().is_some_and(|i| i.starts_with("CVE-")), "{by}");
    // The MISP feed this node exports is read by a MISP feed of another group, at GREEN.
    let misp = dir.join("misp");
    bins.trellis(&a, &["export", "--format", "misp", "--group", "water", "--out", &misp.display().to_string()]).ok()?;
    bins.json(&a, &["group", "create", "river", "--kind", "sector"])?;
    let added =
        bins.json(&a, &["feed", "add", "river", &misp.display().to_string(), "--kind", "misp", "--tlp", "green"])?;
    let misp_id = s(&added, "id")?.to_string();
    let report = bins.json(&a, &["feed", "run", &misp_id])?;
    ensure!(report["new"].as_array().map(Vec::len) == Some(2) && report["refused_count"] == 0, "{report}");
    let river = bins.json(&a, &["advisory", "list", "--group", "river"])?;
    ensure!(river.as_array().is_some_and(|l| l.len() == 2 && l.iter().all(|x| x["tlp"] == "green")), "{river}");
    bins.json(&a, &["feed", "remove", &misp_id])?;
    bins.json(&a, &["feed", "remove", &id])?;
    ensure!(bins.json(&a, &["feed", "list"])?.as_array().is_some_and(Vec::is_empty));
    Ok(())
}
