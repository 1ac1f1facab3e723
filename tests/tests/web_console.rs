//! The web console, driven as a person would, in headless Chromium (Debian's `chromium` and
//! `chromium-driver`, through the WebDriver client in `trellis_tests::webdriver`), against two
//! real `trellisd` processes that serve their consoles on loopback:
//!
//! - each browser signs in with the one-time link `trellis web --no-open` prints, and the link
//!   does not work a second time;
//! - Beta copies its contact card from its console's Groups page; Alpha founds a group and
//!   invites Beta by pasting that card in its console; Beta joins by pasting the invite token;
//! - Beta keeps its inbox open; Alpha publishes a TLP:GREEN advisory from the Publish form (the
//!   CVSS vector's score shown as it is typed); the advisory appears in Beta's open inbox, with
//!   the TLP 2.0 label and colour, without a reload (the page's marker survives);
//! - in a supply-chain channel, Beta answers the posture questions in its console (an answer
//!   that does not fit is refused with the reason) and Alpha reads them on its Posture page;
//! - requests without the session cookie are redirected to the login page (pages) or refused
//!   401 (forms, the live stream); with the cookie but without the form's CSRF token, or with a
//!   wrong one, or from another site's Origin, or for another Host, they are refused too; every
//!   page carries the Content-Security-Policy;
//! - a screenshot of each page is saved under `target/web-screenshots/` (the path is printed).
//!
//! Without `/usr/bin/chromium` or `/usr/bin/chromedriver` the test prints why it is skipped and
//! passes; with `TRELLIS_REQUIRE_BROWSER=1` (as `.ci/run` sets) it fails instead.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use serde_json::Value;
use trellis_tests::webdriver::{self, Browser, Driver, http};
use trellis_tests::{Bins, Daemon, wait_until, workspace_root};

const NET: Duration = Duration::from_secs(30);

fn screenshots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("web-screenshots")
}

#[test]
fn two_consoles_form_a_group_and_share_a_green_advisory_live() {
    if let Some(why) = webdriver::missing() {
        if std::env::var_os("TRELLIS_REQUIRE_BROWSER").is_some_and(|v| v == "1") {
            panic!("TRELLIS_REQUIRE_BROWSER=1 but the console test cannot run: {why}");
        }
        eprintln!("SKIPPED: the web console test needs headless Chromium: {why}");
        return;
    }
    let bins = Bins::locate().unwrap_or_else(|e| panic!("{e:#}"));
    let dir = tempfile::Builder::new().prefix("trl-web").tempdir_in("/tmp").unwrap_or_else(|e| panic!("{e}"));
    let mut nodes = Vec::new();
    if let Err(e) = flow(&bins, dir.path(), &mut nodes) {
        panic!("{e:#}");
    }
}

/// `trellis init`, and a config that serves the console on a free loopback port.
fn init(bins: &Bins, home: &Path, name: &str) -> anyhow::Result<()> {
    bins.trellis(home, &["init", "--name", name]).ok()?;
    std::fs::write(home.join("config.toml"), "web_listen = \"127.0.0.1:0\"\n")?;
    Ok(())
}

/// A fresh one-time sign-in link from `trellis web --no-open`, and the console's port.
fn login_link(bins: &Bins, home: &Path) -> anyhow::Result<(String, u16)> {
    let out = bins.trellis(home, &["web", "--no-open"]).ok()?;
    let url = out.stdout.trim().to_string();
    ensure!(url.starts_with("http://127.0.0.1:") && url.contains("/login?token="), "{out:?}");
    ensure!(out.stderr.contains("once"), "{out:?}");
    let port = url["http://127.0.0.1:".len()..].split('/').next().and_then(|p| p.parse().ok()).context("port")?;
    Ok((url, port))
}

fn dial_addr(bins: &Bins, home: &Path) -> anyhow::Result<String> {
    let status = bins.json(home, &["status"])?;
    status["listen_addrs"]
        .as_array()
        .and_then(|a| a.iter().filter_map(Value::as_str).find(|a| a.starts_with("/ip4/127.0.0.1/")))
        .map(String::from)
        .with_context(|| format!("no loopback address in {status}"))
}

/// A CycloneDX SBOM of a product that embeds log4j-core 2.14.1.
const SBOM: &str = r#"{
  "bomFormat": "CycloneDX",
  "specVersion": "1.4",
  "serialNumber": "urn:uuid:0b4c3f8e-6a3e-4d5e-9a0c-2f1e0d7c9b11",
  "version": 1,
  "metadata": {
    "component": { "type": "firmware", "bom-ref": "pump-controller", "name": "pump-controller", "version": "3.2.0" }
  },
  "components": [
    { "type": "library", "bom-ref": "log4j-core", "group": "org.apache.logging.log4j", "name": "log4j-core",
      "version": "2.14.1", "purl": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1" },
    { "type": "library", "bom-ref": "commons-text", "group": "org.apache.commons", "name": "commons-text",
      "version": "1.10.0", "purl": "pkg:maven/org.apache.commons/commons-text@1.10.0" }
  ]
}"#;

/// The id of the advisory Alpha's browser shows after publishing (from its page's URL).
fn published_id(a: &Browser) -> anyhow::Result<String> {
    let url = a.url()?;
    url.split("/advisory/").nth(1).and_then(|r| r.split('?').next()).map(String::from).context("no advisory in the URL")
}

struct Shots(PathBuf, Vec<PathBuf>);

impl Shots {
    fn take(&mut self, b: &Browser, name: &str) -> anyhow::Result<()> {
        let p = b.screenshot(&self.0.join(format!("{name}.png")))?;
        self.1.push(p);
        Ok(())
    }
}

fn flow(bins: &Bins, dir: &Path, nodes: &mut Vec<Daemon>) -> anyhow::Result<()> {
    let (home_a, home_b) = (dir.join("a"), dir.join("b"));
    init(bins, &home_a, "Alpha Water")?;
    init(bins, &home_b, "Beta Pumps")?;
    nodes.push(Daemon::start(bins, "A", &home_a, &[])?);
    let addr_a = dial_addr(bins, &home_a)?;
    nodes.push(Daemon::start(bins, "B", &home_b, &[addr_a])?);

    let driver = Driver::start(&dir.join("chromedriver.log"))?;
    let a = driver.session(&dir.join("profile-a"))?;
    let b = driver.session(&dir.join("profile-b"))?;
    let mut shots = Shots(screenshots_dir(), vec![]);

    // Without a session, the console shows its login page.
    let (link_a, port_a) = login_link(bins, &home_a)?;
    let (link_b, port_b) = login_link(bins, &home_b)?;
    a.goto(&format!("http://127.0.0.1:{port_a}/"))?;
    ensure!(a.url()?.ends_with("/login"), "no session: {}", a.url()?);
    ensure!(a.source()?.contains("trellis web"), "the login page says how to get a link");
    shots.take(&a, "login")?;

    // Sign in with the one-time links.
    a.goto(&link_a)?;
    a.wait_text("h1", "Inbox", NET)?;
    b.goto(&link_b)?;
    b.wait_text("h1", "Inbox", NET)?;
    ensure!(b.text("header .who")?.contains("Beta Pumps"), "{}", b.text("header .who")?);

    // Alpha founds a group in its console.
    a.goto(&format!("http://127.0.0.1:{port_a}/groups"))?;
    a.fill("#g-name", "water-utilities")?;
    a.click("#create-h ~ form button[type=submit]")?;
    a.wait_text(".notice", "Created the group", NET)?;

    // Beta copies its card; Alpha pastes it to invite Beta; Beta pastes the token to join.
    b.goto(&format!("http://127.0.0.1:{port_b}/groups"))?;
    let card = b.value("#my-card")?;
    ensure!(!card.trim().is_empty(), "Beta's card is empty");
    a.fill("#inv-card", card.trim())?;
    a.click("#invite-h ~ form button[type=submit]")?;
    a.wait_text(".notice", "Invited", NET)?;
    let token = a.value("#invite-token")?;
    ensure!(!token.trim().is_empty(), "no invite token shown");
    shots.take(&a, "groups-invite")?;
    b.fill("#join-token", token.trim())?;
    b.click("#join-h ~ form button[type=submit]")?;
    let joined = b.wait_text(".notice, .error", "", NET)?;
    ensure!(joined.contains("Joined water-utilities"), "join: {joined}");
    shots.take(&b, "groups-joined")?;

    // Both see two members.
    wait_until("Alpha and Beta both members on both nodes", NET, || {
        let n = |home: &Path| bins.json(home, &["group", "members", "water-utilities"]).ok()?.as_array().map(Vec::len);
        (n(&home_a) == Some(2) && n(&home_b) == Some(2)).then_some(())
    })?;

    // Beta adds an SBOM in its console: its pump controller embeds log4j-core 2.14.1.
    let sbom = dir.join("pump-controller.cdx.json");
    std::fs::write(&sbom, SBOM)?;
    b.goto(&format!("http://127.0.0.1:{port_b}/affected"))?;
    b.choose_file("#s-file", &sbom)?;
    b.click("#s-file ~ button[type=submit]")?;
    b.wait_text(".notice", "Added pump-controller.cdx.json (", NET)?;

    // Two earlier advisories, published with the CLI, so the inbox shows other labels too.
    let fp_b = bins.json(&home_b, &["id"])?["fingerprint"].as_str().context("fingerprint")?.to_string();
    bins.trellis(
        &home_a,
        &[
            "advisory",
            "publish",
            "water-utilities",
            "--tlp",
            "clear",
            "--title",
            "Default credentials on ACME HMI web interface",
            "--summary",
            "Change the admin password.",
            "--severity",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        ],
    )
    .ok()?;
    bins.trellis(
        &home_a,
        &[
            "advisory",
            "publish",
            "water-utilities",
            "--tlp",
            "amber+strict",
            "--yes",
            "--to",
            &fp_b,
            "--category",
            "threat",
            "--title",
            "Phishing campaign against treatment plant operators",
            "--summary",
            "Lures name our SCADA vendor.",
        ],
    )
    .ok()?;
    wait_until("Beta to hold the two earlier advisories", NET, || {
        (bins.json(&home_b, &["advisory", "list"]).ok()?.as_array()?.len() == 2).then_some(())
    })?;

    // Beta opens its inbox and keeps it open: a marker set now must survive (no reload).
    b.goto(&format!("http://127.0.0.1:{port_b}/"))?;
    b.wait_text("h1", "Inbox", NET)?;
    b.script("window.__trellisMarker = 'still-here';")?;
    // The live stream is open before Alpha publishes.
    wait_until("Beta's inbox to open its live stream", NET, || {
        b.text("#live-status").ok().filter(|t| t.contains("appear at the top")).map(|_| ())
    })?;
    std::thread::sleep(Duration::from_millis(500));

    // Alpha publishes a GREEN advisory from the form; the score shows as the vector is typed.
    a.goto(&format!("http://127.0.0.1:{port_a}/publish"))?;
    a.click("#p-tlp option[value=green]")?;
    let title = "Log4Shell in pump controller firmware";
    a.fill("#p-title", title)?;
    a.fill("#p-summary", "Controllers running firmware 3.x embed log4j-core; patch to 3.4.1.")?;
    a.fill("#p-severity", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H")?;
    a.wait_text("#p-score", "Score 10.0 (critical)", NET)?;
    a.fill("#p-affects", "pkg:maven/org.apache.logging.log4j/log4j-core@>=2.0.0,<2.15.0")?;
    a.fill("#p-aliases", "CVE-2021-44228")?;
    shots.take(&a, "publish")?;
    a.click("#p-submit")?;
    a.wait_text(".notice", "Published to water-utilities", NET)?;
    ensure!(a.text(".tlp.big")? == "TLP:GREEN", "{}", a.text(".tlp.big")?);
    shots.take(&a, "advisory")?;

    // It appears in Beta's open inbox, without a reload.
    let row = b.wait_text("#inbox-rows tr", title, NET)?;
    ensure!(b.find_all("#inbox-rows tr")?.len() == 3, "Beta's inbox has three advisories");
    let first = b.text("#inbox-rows tr:first-child")?;
    ensure!(first.contains(title), "the new advisory is not at the top: {first}");
    ensure!(row.contains("TLP:GREEN") && row.contains("10.0") && row.contains("water-utilities"), "{row}");
    b.wait_text(&format!("#adv-{} .badge", published_id(&a)?), "affects me", NET)?;
    let marker = b.script("return window.__trellisMarker || null;")?;
    ensure!(marker == "still-here", "Beta's inbox was reloaded (marker {marker})");
    let class = b.attribute("#inbox-rows tr .tlp", "class")?.unwrap_or_default();
    ensure!(class.contains("tlp-green"), "label class {class}");
    let colour = b.script("return getComputedStyle(document.querySelector('#inbox-rows tr .tlp')).color;")?;
    let background =
        b.script("return getComputedStyle(document.querySelector('#inbox-rows tr .tlp')).backgroundColor;")?;
    let labels = b.text("#inbox-rows")?;
    ensure!(labels.contains("TLP:AMBER+STRICT") && labels.contains("TLP:CLEAR"), "{labels}");
    ensure!(colour == "rgb(51, 255, 0)" && background == "rgb(0, 0, 0)", "TLP:GREEN is {colour} on {background}");
    shots.take(&b, "inbox")?;

    // Beta's Affected page shows the match.
    b.goto(&format!("http://127.0.0.1:{port_b}/affected"))?;
    b.wait_text("table", "log4j-core", NET)?;
    shots.take(&b, "affected-match")?;

    // The other pages render for a signed-in user.
    for (page, heading) in
        [("node", "Node"), ("affected", "Affected"), ("posture", "Posture"), ("concentration", "Concentration")]
    {
        a.goto(&format!("http://127.0.0.1:{port_a}/{page}"))?;
        a.wait_text("h1", heading, NET)?;
        if page == "node" {
            ensure!(a.text("#peer-count")? != "0", "Alpha's node page shows no connected peer");
        }
        shots.take(&a, page)?;
    }
    a.goto(&format!("http://127.0.0.1:{port_a}/"))?;
    a.wait_text("#inbox-rows tr", title, NET)?;
    shots.take(&a, "inbox-publisher")?;
    b.goto(&format!("http://127.0.0.1:{port_b}/groups"))?;
    shots.take(&b, "groups")?;

    // A supply-chain channel: Alpha (the customer) invites Beta; Beta answers the posture
    // questions in its console; Alpha reads them on its Posture page.
    a.goto(&format!("http://127.0.0.1:{port_a}/groups"))?;
    a.fill("#g-name", "alpha-suppliers")?;
    a.click("#g-kind option[value=supply-chain]")?;
    a.click("#create-h ~ form button[type=submit]")?;
    a.wait_text(".notice", "Created the group", NET)?;
    a.script(
        "const s = document.getElementById('inv-group'); \
         for (const o of s.options) { if (o.text === 'alpha-suppliers') { s.value = o.value; } }",
    )?;
    a.fill("#inv-card", card.trim())?;
    a.click("#invite-h ~ form button[type=submit]")?;
    a.wait_text(".notice", "Invited", NET)?;
    let token = a.value("#invite-token")?;
    b.goto(&format!("http://127.0.0.1:{port_b}/groups"))?;
    b.fill("#join-token", token.trim())?;
    b.click("#join-h ~ form button[type=submit]")?;
    b.wait_text(".notice", "Joined alpha-suppliers", NET)?;
    wait_until("Beta a member of alpha-suppliers on Alpha's node", NET, || {
        let m = bins.json(&home_a, &["group", "members", "alpha-suppliers"]).ok()?;
        (m.as_array()?.len() == 2).then_some(())
    })?;
    b.goto(&format!("http://127.0.0.1:{port_b}/posture"))?;
    b.fill("#q-security-contact", "security@beta-pumps.example")?;
    b.fill("#q-mfa", "yes")?;
    b.fill("#q-critical-remediation-days", "fourteen")?;
    b.click("form.posture button[type=submit]")?;
    let refused = b.wait_text(".error", "", NET)?;
    ensure!(refused.contains("a whole number"), "posture: {refused}");
    b.fill("#q-critical-remediation-days", "14")?;
    b.fill("#q-deps", "Microsoft 365")?;
    b.click("form.posture button[type=submit]")?;
    b.wait_text(".notice", "Published your attestation", NET)?;
    shots.take(&b, "posture-supplier")?;
    a.goto(&format!("http://127.0.0.1:{port_a}/posture"))?;
    wait_until("Beta's attestation on Alpha's Posture page", NET, || {
        let page = a.source().ok()?;
        if page.contains("security@beta-pumps.example") {
            return Some(());
        }
        a.goto(&format!("http://127.0.0.1:{port_a}/posture")).ok()?;
        None
    })?;
    shots.take(&a, "posture-customer")?;

    refusals(&a, port_a, &link_a)?;

    // Nothing was published by the refused requests.
    let list = bins.json(&home_a, &["advisory", "list"])?;
    ensure!(list.as_array().map(Vec::len) == Some(3), "{list}");

    println!("screenshots:");
    for p in &shots.1 {
        println!("  {}", p.display());
    }
    Ok(())
}

/// Requests without a session, without or with a wrong CSRF token, from another Origin or for
/// another Host are refused; the spent login link does not sign in again.
fn refusals(a: &Browser, port: u16, spent_link: &str) -> anyhow::Result<()> {
    let form = "application/x-www-form-urlencoded";
    let status = |method: &str, path: &str, headers: &[(&str, &str)], body: &str| -> anyhow::Result<(u16, String)> {
        let (s, h, b) = http(port, method, path, headers, body.as_bytes())?;
        let location = h.iter().find(|(k, _)| k == "location").map(|(_, v)| v.clone()).unwrap_or_default();
        let _ = b;
        Ok((s, location))
    };
    // No cookie: pages go to the login page, everything else is 401.
    for page in ["/", "/groups", "/publish", "/node", "/advisory/x"] {
        let (s, loc) = status("GET", page, &[], "")?;
        ensure!(s == 303 && loc == "/login", "GET {page} without a session: {s} {loc}");
    }
    let publish = "tlp=green&title=forged&summary=forged&group=water-utilities";
    let (s, _) = status("POST", "/publish", &[("Content-Type", form)], publish)?;
    ensure!(s == 401, "POST /publish without a session: {s}");
    let (s, _) = status("GET", "/events", &[], "")?;
    ensure!(s == 401, "GET /events without a session: {s}");

    // With the session cookie but no CSRF token, a wrong one, or another site's Origin: 403.
    let (name, value) = a
        .cookies()?
        .into_iter()
        .find(|(n, _)| n.starts_with("trellis_session_"))
        .context("no session cookie in the browser")?;
    let cookie = format!("{name}={value}");
    let (s, _, page) = http(port, "GET", "/publish", &[("Cookie", &cookie)], b"")?;
    let page = String::from_utf8_lossy(&page).to_string();
    ensure!(s == 200, "GET /publish with the session: {s}");
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .context("no CSRF token in the form")?
        .to_string();
    for (what, body, origin) in [
        ("no CSRF token", publish.to_string(), None),
        ("a wrong CSRF token", format!("{publish}&csrf=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), None),
        ("another site's Origin", format!("{publish}&csrf={csrf}"), Some("http://evil.example")),
    ] {
        let mut headers = vec![("Cookie", cookie.as_str()), ("Content-Type", form)];
        if let Some(o) = origin {
            headers.push(("Origin", o));
        }
        let (s, _) = status("POST", "/publish", &headers, &body)?;
        ensure!(s == 403, "POST /publish with {what}: {s}");
    }
    // Another Host (DNS rebinding) is refused before anything else.
    let (s, _) = status("GET", "/", &[("Host", &format!("evil.example:{port}")), ("Cookie", &cookie)], "")?;
    ensure!(s == 421, "GET / for another Host: {s}");
    // The CSRF token itself is what was missing: with it, the same form is accepted (and shows
    // the engine's own refusal, as the CLI would: no such group here is not the point).
    let (s, _) = status(
        "POST",
        "/groups/create",
        &[("Cookie", cookie.as_str()), ("Content-Type", form)],
        &format!("csrf={csrf}&name=csrf-check&kind=sector"),
    )?;
    ensure!(s == 200, "POST /groups/create with the token: {s}");

    // Security headers on a page.
    let (_, headers, _) = http(port, "GET", "/", &[("Cookie", &cookie)], b"")?;
    let csp = headers.iter().find(|(k, _)| k == "content-security-policy").map(|(_, v)| v.as_str()).unwrap_or("");
    ensure!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "CSP: {csp}");

    // The spent link does not sign in again.
    let path = spent_link.split_once(&format!(":{port}")).map(|(_, p)| p).context("link path")?;
    let (s, _) = status("GET", path, &[], "")?;
    ensure!(s == 401, "a spent login link: {s}");
    if s == 200 {
        bail!("a spent login link signed in again");
    }
    Ok(())
}
