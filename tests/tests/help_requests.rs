//! Requests for help through the real binaries. In a supply-chain channel of customer A with
//! suppliers B and C, B asks for help: A (the channel's admin) reads the request, C (another
//! supplier) does not, though its node stores the item; A answers and the answer reaches B; B
//! marks it resolved and A sees that; B's `watch` shows the answer. In a sector group of the same three, C offers help on
//! backups; B's request about backups reaches C and not A, and one on another topic with no
//! helper is refused with the way out.
//!
//! Needs the binaries built first: `cargo build --workspace && cargo test --workspace`.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, ensure};
use serde_json::Value;
use trellis_tests::{Bins, Daemon, files_containing, wait_until};

const NET: Duration = Duration::from_secs(30);

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

fn requests(bins: &Bins, home: &Path) -> Vec<Value> {
    bins.json(home, &["help-request", "list"]).ok().and_then(|v| v.as_array().cloned()).unwrap_or_default()
}

fn item_count(bins: &Bins, home: &Path, group: &str) -> u64 {
    bins.json(home, &["group", "list"])
        .ok()
        .and_then(|g| g.as_array()?.iter().find(|g| g["name"] == group)?["items"].as_u64())
        .unwrap_or(0)
}

#[test]
fn help_requests_reach_who_they_address_and_no_one_else() {
    let bins = Bins::locate().unwrap_or_else(|e| panic!("{e:#}"));
    let dir = tempfile::Builder::new().prefix("trellis-help").tempdir_in("/tmp").unwrap();
    let mut nodes = Vec::new();
    if let Err(e) = flow(&bins, dir.path(), &mut nodes) {
        panic!("{e:#}");
    }
}

fn flow(bins: &Bins, dir: &Path, nodes: &mut Vec<Daemon>) -> anyhow::Result<()> {
    let (ha, hb, hc) = (dir.join("a"), dir.join("b"), dir.join("c"));
    bins.json(&ha, &["init", "--name", "Alpha Water"])?;
    let org_b = str_field(&bins.json(&hb, &["init", "--name", "Beta Pumps"])?, "org")?.to_string();
    bins.json(&hc, &["init", "--name", "Gamma Valves"])?;
    nodes.push(Daemon::start(bins, "A", &ha, &[])?);
    let addr_a = dial_addr(bins, &ha)?;
    nodes.push(Daemon::start(bins, "B", &hb, std::slice::from_ref(&addr_a))?);
    let addr_b = dial_addr(bins, &hb)?;
    nodes.push(Daemon::start(bins, "C", &hc, &[addr_a, addr_b])?);
    for (group, kind) in [("alpha-suppliers", "supply-chain"), ("water", "sector")] {
        bins.json(&ha, &["group", "create", group, "--kind", kind])?;
        for h in [&hb, &hc] {
            let card = str_field(&bins.json(h, &["id"])?, "card")?.to_string();
            let token = str_field(&bins.json(&ha, &["group", "invite", group, &card])?, "token")?.to_string();
            bins.json(h, &["group", "join", &token])?;
        }
        for h in [&ha, &hb, &hc] {
            wait_until("three members and a group peer everywhere", NET, || {
                let g = bins.json(h, &["group", "list"]).ok()?;
                let w = g.as_array()?.iter().find(|g| g["name"] == group)?;
                (w["members"].as_u64()? == 3 && w["peers"].as_u64()? >= 1).then_some(())
            })?;
        }
    }

    // Supply-chain channel: B asks; A reads it, C does not.
    let question = "Our admin accounts are shared by three people; how should we manage them for you?";
    let c_items = item_count(bins, &hc, "alpha-suppliers");
    let asked =
        bins.json(&hb, &["help-request", "alpha-suppliers", "--topic", "identity-and-access", "--text", question])?;
    let id = str_field(&asked, "id")?.to_string();
    let on_a =
        wait_until("A to read B's request", NET, || requests(bins, &ha).into_iter().find(|r| r["id"] == id.as_str()))?;
    ensure!(on_a["text"] == question && on_a["asker"] == org_b.as_str() && on_a["status"] == "open", "{on_a}");
    ensure!(on_a["topic"] == "identity-and-access", "{on_a}");
    // C's node receives the item (it is a member) but cannot read it.
    wait_until("C to store the (sealed) request", NET, || {
        (item_count(bins, &hc, "alpha-suppliers") > c_items).then_some(())
    })?;
    ensure!(requests(bins, &hc).is_empty(), "another supplier reads the request: {:?}", requests(bins, &hc));
    ensure!(files_containing(&hc, question.as_bytes()).is_empty(), "the question sits in clear in C's home");
    let shown = bins.trellis(&hc, &["help-request", "show", &id]);
    ensure!(shown.code == Some(1), "{shown:?}");

    // A answers; the answer reaches B (its `watch` shows it), not C.
    let watch_b = bins.watch(&hb, &[])?;
    let answer = "Give each person a named account with MFA; we review them with you every quarter.";
    bins.json(&ha, &["help-request", "answer", &id[..12], "--text", answer])?;
    let ev =
        watch_b.wait_for("the answer in B's watch", NET, |v| v["event"] == "help" && v["help"]["step"] == "answer")?;
    ensure!(ev["help"]["text"] == answer && ev["help"]["request"] == id.as_str(), "{ev}");
    let on_b = wait_until("B to read A's answer", NET, || {
        let r = requests(bins, &hb).into_iter().find(|r| r["id"] == id.as_str())?;
        (r["status"] == "answered").then_some(r)
    })?;
    ensure!(on_b["answers"][0]["text"] == answer, "{on_b}");
    ensure!(requests(bins, &hc).is_empty());
    // Only the asker resolves.
    let not_mine = bins.trellis(&ha, &["help-request", "resolve", &id]);
    ensure!(not_mine.code == Some(1) && not_mine.stderr.contains("only the organization that asked"), "{not_mine:?}");
    bins.json(&hb, &["help-request", "resolve", &id])?;
    wait_until("A to see the request resolved", NET, || {
        requests(bins, &ha).iter().any(|r| r["id"] == id.as_str() && r["status"] == "resolved").then_some(())
    })?;

    // Sector group: no helper on the topic yet, so nobody to ask.
    let none = bins.trellis(
        &hb,
        &["help-request", "water", "--topic", "backups", "--text", "How often should we test a restore?"],
    );
    ensure!(none.code == Some(1) && none.stderr.contains("helper on --topic backups"), "{none:?}");
    bins.json(&hc, &["helper", "on", "--topic", "backups", "--group", "water"])?;
    wait_until("B to know C offers help on backups", NET, || {
        let h = bins.json(&hb, &["helper", "list"]).ok()?;
        h.as_array()?
            .iter()
            .any(|x| x["name"] == "Gamma Valves" && x["topics"] == serde_json::json!(["backups"]))
            .then_some(())
    })?;
    let asked = bins
        .json(&hb, &["help-request", "water", "--topic", "backups", "--text", "How often should we test a restore?"])?;
    let id2 = str_field(&asked, "id")?.to_string();
    wait_until("C (the helper) to read the request", NET, || {
        requests(bins, &hc).iter().any(|r| r["id"] == id2.as_str()).then_some(())
    })?;
    // A is no helper on backups: it never reads it (give it time to arrive first).
    wait_until("A to store the water request", NET, || {
        (item_count(bins, &ha, "water") >= item_count(bins, &hb, "water")).then_some(())
    })?;
    ensure!(!requests(bins, &ha).iter().any(|r| r["id"] == id2.as_str()), "A, no helper, reads the request");
    bins.json(&hc, &["help-request", "answer", &id2, "--text", "Monthly: restore one file and compare its hash."])?;
    wait_until("B to read C's answer", NET, || {
        requests(bins, &hb)
            .iter()
            .any(|r| r["id"] == id2.as_str() && r["answers"].as_array().is_some_and(|a| a.len() == 1))
            .then_some(())
    })?;
    Ok(())
}
