//! The field's formats between real in-process nodes: CSAF and OSV documents published and
//! received byte for byte, invalid documents refused with their problems, a document's own TLP
//! never loosened, exports that let out only CLEAR and count the rest, SBOM matching with VEX,
//! and the read-only TAXII 2.1 server driven by the reference client (`taxii2-client`).
//!
//! Validators and the TAXII client are Python packages (`pip install csaf stix2-validator
//! taxii2-client`); without them those checks are skipped, unless TRELLIS_REQUIRE_VALIDATORS=1
//! (set by CI), which turns a missing one into a failure.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{TestNode, join, start, wait_for};
use trellis_api::client::Client;
use trellis_api::types::{
    AdvisoryView, AffectedMatch, Created, ExportRequest, ExportResult, GroupInfo, ImportAdvisory, SbomAdd, SbomAdded,
    TaxiiToken,
};
use trellis_daemon::config::{Config, Overrides};

/// Documents written for the tests to the standards (`proto/tests/fixtures/`): a CSAF ICS
/// advisory without product identifiers, a CSAF vendor advisory with CPEs, a Go OSV record and
/// an npm application's CycloneDX SBOM.
const ICS_CSAF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../proto/tests/fixtures/csaf-pump-hmi-ics.json");
const VENDOR_CSAF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../proto/tests/fixtures/csaf-gateway-advisory.json");
const GO_OSV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../proto/tests/fixtures/osv-golang.json");
const NPM_SBOM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../proto/tests/fixtures/cyclonedx-npm-app.json");
const NPM_SPDX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../proto/tests/fixtures/spdx-npm-app.json");
/// A synthetic OSV record for three npm packages of the npm SBOM (ws 6.2.1 and minimist 0.0.8
/// are affected; debug is exactly at its fix).
const NPM_OSV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../proto/tests/fixtures/osv-synthetic-npm.json");

fn text(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn required() -> bool {
    std::env::var("TRELLIS_REQUIRE_VALIDATORS").is_ok_and(|v| v == "1")
}

fn python_has(module: &str) -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok || !required(), "python module {module} missing and TRELLIS_REQUIRE_VALIDATORS=1");
    if !ok {
        eprintln!("skipping: python3 cannot import {module} (pip install csaf stix2-validator taxii2-client)");
    }
    ok
}

async fn import(node: &TestNode, group: &str, tlp: &str, to: Vec<String>, doc: &str) -> Result<String, String> {
    let req = ImportAdvisory {
        group: group.into(),
        tlp: tlp.parse().expect("a TLP word"),
        to,
        format: None,
        document: doc.into(),
    };
    node.client.post::<_, Created>("/v1/advisories/import", &req).await.map(|c| c.id).map_err(|e| e.to_string())
}

async fn export(node: &TestNode, format: &str) -> ExportResult {
    let req = ExportRequest { format: format.into(), group: None, since_ms: None };
    node.client.post("/v1/export", &req).await.expect("export")
}

async fn group(node: &TestNode, name: &str) {
    let _: Created = node
        .client
        .post("/v1/groups", &serde_json::json!({"name": name, "kind": "sector"}))
        .await
        .expect("create group");
}

async fn two_members(dir: &Path) -> (TestNode, TestNode) {
    let a = start(dir, "alpha", vec![]).await;
    let b = start(dir, "beta", vec![a.addr.clone()]).await;
    group(&a, "water").await;
    join(&a, &b, "water", "member").await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn csaf_and_osv_documents_reach_a_member_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_members(dir.path()).await;
    let (ics, osv) = (text(ICS_CSAF), text(GO_OSV));
    import(&a, "water", "clear", vec![], &ics).await.expect("CSAF published");
    import(&a, "water", "clear", vec![], &osv).await.expect("OSV published");
    wait_for("beta holds both", || async { b.advisories().await.len() == 2 }).await;
    let titles = b.titles().await;
    assert!(titles.iter().any(|t| t.contains("Unbounded frame length")), "{titles:?}");
    // Found by the document's own id and by an alias, which the view carries.
    for name in ["TRELLIS-TEST-2024-0002", "trellis-test-2024-0002", "GHSA-abcd-2345-wxyz", "NWCC-24-120-01"] {
        let v: AdvisoryView = b.client.get(&format!("/v1/advisories/{name}")).await.expect(name);
        assert!(
            v.source_id.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(name)) || v.aliases.iter().any(|a| a == name)
        );
    }
    let e = b.client.get::<AdvisoryView>("/v1/advisories/GHSA-0000-0000-0000").await.unwrap_err().to_string();
    assert!(e.contains("no advisory"), "{e}");
    // The member's exports carry the documents exactly as the publisher's file held them.
    let csaf = export(&b, "csaf").await;
    assert_eq!(csaf.exported, 2);
    let ics_out = csaf.files.iter().find(|f| f.name.starts_with("NWCC-24-120-01")).expect("the ICS document");
    assert_eq!(ics_out.content, ics, "CSAF source bytes received intact");
    let osv_out = export(&b, "osv").await;
    let go = osv_out.files.iter().find(|f| f.name == "TRELLIS-TEST-2024-0002.osv.json").expect("the OSV record");
    assert_eq!(go.content, osv, "OSV source bytes received intact");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalid_document_lists_its_problems_and_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(dir.path(), "alpha", vec![]).await;
    group(&a, "water").await;
    let mut doc: serde_json::Value = serde_json::from_str(&text(VENDOR_CSAF)).unwrap();
    doc["document"].as_object_mut().unwrap().remove("title");
    doc["document"]["tracking"]["status"] = "done".into();
    let e = import(&a, "water", "clear", vec![], &doc.to_string()).await.unwrap_err();
    let lines: Vec<&str> = e.lines().collect();
    assert!(lines[0].contains("2 problems; nothing was published"), "{e}");
    assert!(lines.iter().any(|l| l.starts_with("/document/title: ")), "{e}");
    assert!(lines.iter().any(|l| l.starts_with("/document/tracking/status: ")), "{e}");
    let e = import(&a, "water", "clear", vec![], "{\"title\": ").await.unwrap_err();
    assert!(e.contains("invalid JSON"), "{e}");
    assert!(a.advisories().await.is_empty(), "nothing was published");
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_documents_own_label_is_never_loosened() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_members(dir.path()).await;
    let mut doc: serde_json::Value = serde_json::from_str(&text(VENDOR_CSAF)).unwrap();
    doc["document"]["distribution"]["tlp"]["label"] = "AMBER".into();
    let doc = doc.to_string();
    for loose in ["clear", "green"] {
        let e = import(&a, "water", loose, vec![], &doc).await.unwrap_err();
        assert!(e.contains("labelled TLP:AMBER") && e.contains("--tlp amber"), "{loose}: {e}");
    }
    assert!(a.advisories().await.is_empty());
    let beta = b.org().await;
    import(&a, "water", "amber", vec![beta], &doc).await.expect("AMBER to beta is accepted");
    wait_for("beta reads the AMBER advisory", || async { b.advisories().await.len() == 1 }).await;
    assert_eq!(b.advisories().await[0].tlp, trellis_proto::Tlp::Amber);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exports_let_out_only_clear_and_count_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_members(dir.path()).await;
    let beta = b.org().await;
    import(&a, "water", "clear", vec![], &text(ICS_CSAF)).await.unwrap();
    import(&a, "water", "clear", vec![], &text(GO_OSV)).await.unwrap();
    a.publish("water", "green", "Community only", vec![]).await.unwrap();
    a.publish("water", "amber", "For beta", vec![beta.clone()]).await.unwrap();
    a.publish("water", "amber+strict", "Strictly for beta", vec![beta]).await.unwrap();
    for (format, files) in [("csaf", 2), ("osv", 2), ("stix", 1), ("misp", 3)] {
        let r = export(&a, format).await;
        assert_eq!((r.exported, r.withheld), (2, 3), "{format}");
        let by: Vec<(&str, usize)> = r.withheld_by_label.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(by, [("TLP:AMBER", 1), ("TLP:AMBER+STRICT", 1), ("TLP:GREEN", 1)], "{format}");
        assert_eq!(r.files.len(), files, "{format}: {:?}", r.files.iter().map(|f| &f.name).collect::<Vec<_>>());
        for f in &r.files {
            for secret in ["Community only", "For beta", "Strictly for beta"] {
                assert!(!f.content.contains(secret), "{format}: {} leaks {secret:?}", f.name);
            }
        }
    }
    let misp = export(&a, "misp").await;
    assert!(misp.files.iter().any(|f| f.name == "manifest.json"));
    // The exports pass the formats' reference validators: the ICS document as received, and
    // the OSV record as a generated CSAF document.
    if python_has("stix2validator") && python_has("csaf") {
        let out = tempfile::tempdir().unwrap();
        for format in ["csaf", "stix"] {
            for f in export(&a, format).await.files {
                std::fs::write(out.path().join(&f.name), f.content).unwrap();
            }
        }
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../proto/tests/validate_outputs.py");
        let o = std::process::Command::new("python3").arg(&script).arg(out.path()).output().unwrap();
        let log = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success(), "validators refused the export:\n{log}");
        assert!(log.contains("validated 2 CSAF and 1 STIX files"), "{log}");
    }
    a.shutdown().await;
    b.shutdown().await;
}

const VEX_MINIMIST_NOT_AFFECTED: &str = r#"{
  "bomFormat": "CycloneDX", "specVersion": "1.4", "version": 1,
  "vulnerabilities": [{
    "id": "CVE-2020-7598",
    "analysis": {"state": "not_affected", "justification": "code_not_reachable",
                 "detail": "minimist is only used by the build tooling"},
    "affects": [{"ref": "pkg:npm/minimist@0.0.8"}]
  }]
}"#;

fn standing(list: &[AffectedMatch]) -> Vec<(String, Option<String>, Option<String>)> {
    let mut v: Vec<_> = list
        .iter()
        .filter(|m| !m.suppressed)
        .map(|m| (m.component.clone(), m.installed.clone(), m.fixed.clone()))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sbom_components_are_matched_and_vex_suppresses() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_members(dir.path()).await;
    // Beta's SBOM is in place before the advisory arrives: the received advisory is matched.
    let added: SbomAdded = b
        .client
        .post("/v1/sbom", &SbomAdd { name: "npm-app.json".into(), document: text(NPM_SBOM), lenient: false })
        .await
        .unwrap();
    assert_eq!((added.sbom.components, added.matches.len()), (11, 0), "10 components and the subject");
    let mut events = b.client.stream("/v1/events").await.unwrap();
    import(&a, "water", "green", vec![], &text(NPM_OSV)).await.unwrap();
    let expected = vec![
        ("minimist".to_string(), Some("0.0.8".to_string()), Some("0.2.1".to_string())),
        ("ws".to_string(), Some("6.2.1".to_string()), Some("6.2.2".to_string())),
    ];
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let line = tokio::time::timeout(Duration::from_secs(20), events.next_line())
            .await
            .expect("an affected event in time")
            .unwrap()
            .expect("stream open");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["event"] == "affected" {
            let m: AffectedMatch = serde_json::from_value(v["affected"].clone()).unwrap();
            assert!(m.why.contains("package URL matches"), "{}", m.why);
            seen.push(m);
        }
    }
    assert_eq!(standing(&seen), expected);
    let list: Vec<AffectedMatch> = b.client.get("/v1/affected").await.unwrap();
    assert_eq!(standing(&list), expected, "debug 2.6.9 is exactly the fix: not listed");
    assert!(list.iter().all(|m| m.source_id.as_deref() == Some("TRELLIS-TEST-2024-0001")), "{list:?}");
    // A VEX statement saying minimist is not affected suppresses that match, and says so.
    let _: SbomAdded = b
        .client
        .post(
            "/v1/sbom",
            &SbomAdd { name: "vex.json".into(), document: VEX_MINIMIST_NOT_AFFECTED.into(), lenient: false },
        )
        .await
        .unwrap();
    let list: Vec<AffectedMatch> = b.client.get("/v1/affected").await.unwrap();
    assert_eq!(standing(&list), expected[1..]);
    let m = list.iter().find(|m| m.component == "minimist").expect("still listed, as suppressed");
    assert!(m.suppressed);
    assert_eq!((m.vex.as_deref(), m.vex_justification.as_deref()), (Some("not_affected"), Some("code_not_reachable")));
    // An SBOM added after the advisory is matched against what is already stored.
    let added: SbomAdded = a
        .client
        .post("/v1/sbom", &SbomAdd { name: "npm-app.json".into(), document: text(NPM_SBOM), lenient: false })
        .await
        .unwrap();
    assert_eq!(standing(&added.matches), expected);
    // The same application as an SPDX 2.3 SBOM, sent as the upload body: the same matches.
    let spdx = std::fs::read(NPM_SPDX).unwrap();
    let added = a.client.sbom_upload("npm-app.spdx.json", false, spdx).await.unwrap();
    assert_eq!(added.sbom.spec_version, "SPDX-2.3");
    assert_eq!((added.sbom.components, standing(&added.matches)), (11, expected.clone()));
    let listed = a.client.sboms().await.unwrap();
    assert!(listed.iter().any(|s| s.id == added.sbom.id && s.spec_version == "SPDX-2.3"), "{listed:?}");
    a.shutdown().await;
    b.shutdown().await;
}

/// A node with the TAXII server on a free loopback port.
struct TaxiiNode {
    client: Client,
    taxii: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start_taxii(dir: &Path) -> TaxiiNode {
    let home = dir.join("alpha");
    let overrides = Overrides {
        listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
        name: Some("Alpha".into()),
        taxii_listen: Some("127.0.0.1:0".into()),
        ..Default::default()
    };
    let config = Config::load(&home, overrides).unwrap();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(trellis_daemon::run(
        config,
        async {
            let _ = stop_rx.await;
        },
        move |r| {
            let _ = tx.send(r.taxii);
        },
    ));
    let taxii = tokio::time::timeout(Duration::from_secs(20), rx).await.unwrap().unwrap().expect("TAXII address");
    TaxiiNode { client: Client::new(&home), taxii, stop, task }
}

/// Status line of a raw GET with an optional bearer token.
async fn raw_status(addr: std::net::SocketAddr, token: Option<&str>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = format!("GET /taxii2/ HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf).lines().next().unwrap_or_default().to_string()
}

const TAXII_CLIENT: &str = r#"
import json, sys
import requests
from taxii2client.v21 import Server, as_pages

class Bearer(requests.auth.AuthBase):
    def __init__(self, token): self.token = token
    def __call__(self, r):
        r.headers["Authorization"] = "Bearer " + self.token
        return r

url, token = sys.argv[1], sys.argv[2]
server = Server(url, auth=Bearer(token))
root = server.default
assert root is not None, "no default API root"
cols = root.collections
out = {"title": server.title, "versions": root.versions, "collections": [c.title for c in cols]}
col = cols[0]
pages = list(as_pages(col.get_objects, per_request=2))
out["pages"] = len(pages)
objs = [o for p in pages for o in p.get("objects", [])]
out["types"] = sorted({o["type"] for o in objs})
out["objects"] = len(objs)
out["names"] = sorted(o.get("name", "") for o in objs if o["type"] == "vulnerability")
manifest = col.get_manifest()
out["manifest"] = len(manifest.get("objects", []))
first = manifest["objects"][0]["date_added"]
later = col.get_objects(added_after=first)
out["after_first"] = len(later.get("objects", []))
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn taxii_serves_clear_items_to_the_reference_client() {
    let dir = tempfile::tempdir().unwrap();
    let n = start_taxii(dir.path()).await;
    let _: Created =
        n.client.post("/v1/groups", &serde_json::json!({"name": "water", "kind": "sector"})).await.unwrap();
    let groups: Vec<GroupInfo> = n.client.get("/v1/groups").await.unwrap();
    assert_eq!(groups.len(), 1);
    for (tlp, doc) in [("clear", text(ICS_CSAF)), ("clear", text(GO_OSV)), ("green", text(NPM_OSV))] {
        let req = ImportAdvisory {
            group: "water".into(),
            tlp: tlp.parse().expect("a TLP word"),
            to: vec![],
            format: None,
            document: doc,
        };
        let _: Created = n.client.post("/v1/advisories/import", &req).await.unwrap();
    }
    assert!(raw_status(n.taxii, None).await.contains(" 401 "), "no token, no access");
    let t: TaxiiToken = n.client.post("/v1/taxii/token", &serde_json::json!({})).await.unwrap();
    assert_eq!(t.listen, Some(n.taxii.to_string()));
    assert!(raw_status(n.taxii, Some("trellis-taxii-guess")).await.contains(" 401 "));
    assert!(raw_status(n.taxii, Some(&t.token)).await.contains(" 200 "));
    let hashed = std::fs::read_to_string(dir.path().join("alpha/taxii-token.sha256")).unwrap();
    assert!(!hashed.contains(&t.token), "only the hash is stored");
    if python_has("taxii2client") {
        let url = format!("http://{}/taxii2/", n.taxii);
        let o = std::process::Command::new("python3").args(["-c", TAXII_CLIENT, &url, &t.token]).output().unwrap();
        let log = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success(), "taxii2-client failed:\n{log}");
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["collections"], serde_json::json!(["water"]), "{v}");
        assert_eq!(v["versions"], serde_json::json!(["application/taxii+json;version=2.1"]));
        // Two CLEAR advisories; the GREEN one (three npm CVEs) is never served.
        let names: Vec<String> = serde_json::from_value(v["names"].clone()).unwrap();
        assert_eq!(names.len(), 2, "{v}");
        assert!(!names.iter().any(|n| n.contains("CVE-2021-32640")), "{v}");
        let objects = v["objects"].as_u64().unwrap();
        assert!(v["pages"].as_u64().unwrap() >= objects / 2, "paged two at a time: {v}");
        assert_eq!(v["manifest"], v["objects"]);
        assert!(v["after_first"].as_u64().unwrap() < objects, "added_after filters: {v}");
    }
    let _ = n.stop.send(());
    let _ = n.task.await;
}
