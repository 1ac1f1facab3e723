//! The format mappings against the real third-party files in `../shared/data/` (see its
//! SOURCES.md), and the exports of those files checked by the formats' own validators. The
//! files are not in the repository: without them these tests say they were skipped (see
//! `shared/mod.rs`); the same behaviour is tested on the repository's own fixtures in
//! `formats.rs`.

mod shared;

use std::path::Path;

use shared::{fixture, log4shell_for, purl_hits};

use sha2::{Digest, Sha512};
use trellis_proto::Tlp;
use trellis_proto::formats::matching::{ComponentId, MatchedBy, VersionRule, is_affected, match_sbom};
use trellis_proto::formats::{self, DetectedFormat, ExportItem, csaf, cyclonedx, misp, osv, stix};
use trellis_proto::items::{Advisory, Category, RangeKind, SourceFormat, VersionEvent};

fn data(dir: &Path, rel: &str) -> Vec<u8> {
    let p = dir.join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const CSAF_ADVISORIES: [&str; 5] = [
    "csaf/oasis-bsi-2022-0001.json",
    "csaf/oasis-rhsa-2019_1862.json",
    "csaf/oasis-2022-evd-uc-01-a-001.json",
    "csaf/oasis-2022-evd-uc-01-na-001.json",
    "csaf/cisa-icsa-24-081-01.json",
];
const OSV_RECORDS: [&str; 3] = ["osv/GO-2020-0001.json", "osv/GO-2020-0019.json", "osv/GO-2020-0036.json"];

fn item(advisory: Advisory, n: usize) -> ExportItem {
    ExportItem {
        id: format!("item{n:02}aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        advisory,
        tlp: Tlp::Clear,
        publisher_name: "Example CERT".into(),
        publisher_id: "orgaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
        received_ms: 1_714_000_000_000,
    }
}

#[test]
fn the_data_directory_resolves() {
    let Some(d) = shared::corpus("data") else { return };
    assert!(d.join("SOURCES.md").is_file(), "{}", d.display());
}

#[test]
fn detect_every_real_file() {
    let Some(d) = shared::corpus("data") else { return };
    for f in CSAF_ADVISORIES {
        assert_eq!(formats::detect(&data(&d, f)), Ok(DetectedFormat::Csaf), "{f}");
    }
    for f in OSV_RECORDS {
        assert_eq!(formats::detect(&data(&d, f)), Ok(DetectedFormat::Osv), "{f}");
    }
    for f in ["SBOM_cern-lhc-vdm-editor-e564943_bom.json", "VEX_Use-Cases_Case-1_vex.json"] {
        assert_eq!(formats::detect(&data(&d, &format!("cyclonedx/{f}"))), Ok(DetectedFormat::CycloneDx));
    }
    for f in ["indicator-for-c2-ip-address.json", "infrastructure.json"] {
        assert_eq!(formats::detect(&data(&d, &format!("stix/{f}"))), Ok(DetectedFormat::StixBundle));
    }
    // Provider metadata and a ROLIE feed are CSAF's distribution files, not advisories.
    assert!(formats::detect(&data(&d, "csaf/oasis-example-01-provider-metadata.json")).is_err());
    assert!(formats::detect(&data(&d, "csaf/oasis-example-01-feed-tlp-white.json")).is_err());
    assert!(csaf::import(&data(&d, "csaf/oasis-example-01-provider-metadata.json")).is_err());
}

#[test]
fn csaf_bsi_advisory() {
    let Some(d) = shared::corpus("data") else { return };
    let bytes = data(&d, "csaf/oasis-bsi-2022-0001.json");
    let imp = csaf::import(&bytes).unwrap();
    assert_eq!(imp.tlp, Some(Tlp::Clear), "WHITE is read as CLEAR");
    let a = &imp.advisory;
    assert_eq!(a.reference_id, "BSI-2022-0001");
    assert_eq!(a.title, "CVRF-CSAF-Converter: XML External Entities Vulnerability");
    assert_eq!(a.category, Category::Vulnerability);
    assert_eq!(a.aliases, ["CVE-2022-27193"]);
    let sev = a.severity.as_ref().unwrap();
    assert_eq!(sev.score_tenths, 61);
    assert_eq!(sev.vector.as_deref(), Some("CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:N/A:L/E:F/RL:O/RC:C"));
    assert!(a.summary.starts_with("CVE-2022-27193: CSAF Tools CVRF-CSAF-Converter 1.0.0-rc1 resolves XML"));
    assert!(a.remediation.as_deref().unwrap().contains("At least version 1.0.0-rc2"));
    assert!(
        a.references.contains(&"https://github.com/csaf-tools/CVRF-CSAF-Converter/releases/tag/1.0.0-rc2".to_string())
    );
    assert_eq!(a.published_ms, 1_647_522_222_105);
    assert_eq!(a.updated_ms, 1_647_522_222_105);
    assert_eq!(a.affected.len(), 1);
    let conv = &a.affected[0];
    assert_eq!(conv.vendor.as_deref(), Some("CSAF Tools"));
    assert_eq!(conv.product.as_deref(), Some("CVRF-CSAF-Converter"));
    assert_eq!(conv.cpe.as_deref(), Some("cpe:2.3:a:csaf-tools:cvrf-csaf-converter:*:*:*:*:*:*:*:*"));
    assert_eq!(conv.versions, ["1.0.0-alpha", "1.0.0-dev1", "1.0.0-dev2", "1.0.0-dev3", "1.0.0-rc1"]);
    assert_eq!(conv.ranges[0].events, [VersionEvent::Fixed("1.0.0-rc2".into())]);
    let src = a.source.as_ref().unwrap();
    assert_eq!((src.format, &src.bytes), (SourceFormat::Csaf, &bytes));
    a.check_limits().unwrap();

    // Matching by CPE: the affected release candidate, and the fix.
    let rc1 = ComponentId::parse("cpe:2.3:a:csaf-tools:cvrf-csaf-converter:1.0.0-rc1:*:*:*:*:*:*:*");
    let r = is_affected(conv, &rc1, "").unwrap();
    assert_eq!((r.by, r.rule, r.fixed.as_deref()), (MatchedBy::Cpe, VersionRule::Listed, Some("1.0.0-rc2")));
    assert!(is_affected(conv, &ComponentId::parse("cpe:/a:csaf-tools:cvrf-csaf-converter:1.0.0-rc2"), "").is_none());
    // By name, for an inventory that only knows the product's name.
    let named = ComponentId::Name { vendor: Some("csaf tools".into()), product: "cvrf-csaf-converter".into() };
    assert!(is_affected(conv, &named, "1.0.0-dev2").is_some());
}

#[test]
fn csaf_cisa_ics_advisory_keeps_its_signed_bytes() {
    let Some(d) = shared::corpus("data") else { return };
    let bytes = data(&d, "csaf/cisa-icsa-24-081-01.json");
    let imp = csaf::import(&bytes).unwrap();
    let a = &imp.advisory;
    // The bytes kept are the bytes CISA signed: their SHA-512 is the published one.
    let published = String::from_utf8(data(&d, "csaf/cisa-icsa-24-081-01.json.sha512")).unwrap();
    let digest = data_encoding::HEXLOWER.encode(&Sha512::digest(&a.source.as_ref().unwrap().bytes));
    assert_eq!(published.split_whitespace().next(), Some(digest.as_str()));

    assert_eq!((a.reference_id.as_str(), a.title.as_str()), ("ICSA-24-081-01", "Advantech WebAccess/SCADA"));
    assert_eq!(imp.tlp, Some(Tlp::Clear));
    assert_eq!(a.aliases, ["CVE-2024-2453"]);
    assert_eq!(a.severity.as_ref().unwrap().score_tenths, 64);
    assert_eq!(a.published_ms, 1_711_000_800_000);
    assert!(a.summary.contains("read or modify a remote database"));
    assert!(a.remediation.as_deref().unwrap().contains("9.1.6 or higher"));
    assert!(a.references.iter().any(|r| r.contains("nvd.nist.gov")));
    assert_eq!(a.affected.len(), 1);
    let ws = &a.affected[0];
    assert_eq!((ws.purl.as_deref(), ws.cpe.as_deref()), (None, None), "CISA ICS advisories carry neither");
    assert_eq!((ws.vendor.as_deref(), ws.product.as_deref()), (Some("Advantech"), Some("WebAccess/SCADA")));
    assert_eq!(ws.versions, ["9.1.5U"]);
    let named = ComponentId::Name { vendor: Some("advantech".into()), product: "WebAccess/SCADA".into() };
    assert_eq!(is_affected(ws, &named, "9.1.5U").unwrap().rule, VersionRule::Listed);
    assert!(is_affected(ws, &named, "9.1.6").is_none());
}

#[test]
fn csaf_informational_and_vex_documents() {
    let Some(d) = shared::corpus("data") else { return };
    let rh = csaf::import(&data(&d, "csaf/oasis-rhsa-2019_1862.json")).unwrap().advisory;
    assert_eq!(rh.category, Category::Guidance);
    assert!(rh.aliases.is_empty() && rh.affected.is_empty() && rh.severity.is_none());
    assert!(rh.summary.contains("one-month notification"));
    assert_eq!(rh.reference_id, "RHSA-2019:1862");

    let affected = csaf::import(&data(&d, "csaf/oasis-2022-evd-uc-01-a-001.json")).unwrap().advisory;
    assert_eq!(affected.category, Category::Vulnerability);
    assert_eq!(affected.aliases, ["CVE-2021-44228"]);
    assert_eq!(affected.affected[0].product.as_deref(), Some("DEF"));
    assert_eq!(affected.affected[0].versions, ["1.0"]);
    assert!(affected.remediation.as_deref().unwrap().contains("version 1.1"));
    // "Known not affected" yields no affected entry at all.
    let not = csaf::import(&data(&d, "csaf/oasis-2022-evd-uc-01-na-001.json")).unwrap().advisory;
    assert_eq!(not.aliases, ["CVE-2021-44228"]);
    assert!(not.affected.is_empty());
}

#[test]
fn csaf_mutations_of_a_real_document_are_caught() {
    let Some(d) = shared::corpus("data") else { return };
    let mut doc: serde_json::Value = serde_json::from_slice(&data(&d, "csaf/oasis-bsi-2022-0001.json")).unwrap();
    doc["vulnerabilities"][0]["product_status"]["known_affected"][0] = "CSAFPID-9999".into();
    doc["document"]["tracking"]["current_release_date"] = "2022-03-17".into();
    doc["document"]["publisher"].as_object_mut().unwrap().remove("category");
    let e = csaf::import(&serde_json::to_vec(&doc).unwrap()).unwrap_err();
    let paths: Vec<_> = e.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/document/publisher/category",
            "/document/tracking/current_release_date",
            "/vulnerabilities/0/product_status/known_affected/0"
        ]
    );
    let mut text = String::from_utf8(data(&d, "csaf/oasis-bsi-2022-0001.json")).unwrap();
    text.insert(text.find("\"title\"").unwrap(), '@');
    let e = csaf::import(text.as_bytes()).unwrap_err();
    assert_eq!(e.len(), 1);
    assert!(e[0].reason.contains("line 20"), "{}", e[0]);
}

#[test]
fn osv_go_records_and_their_boundaries() {
    let Some(d) = shared::corpus("data") else { return };
    let a = osv::import(&data(&d, "osv/GO-2020-0019.json")).unwrap().advisory;
    assert_eq!(a.reference_id, "GO-2020-0019");
    assert_eq!(a.title, "Integer overflow in github.com/gorilla/websocket");
    assert!(a.summary.starts_with("An attacker can craft malicious WebSocket frames"));
    assert_eq!(a.aliases, ["CVE-2020-27813", "GHSA-3xh2-74w9-5vxm", "GHSA-jf24-p9p9-4rjh"]);
    // 2021-04-14T20:04:52Z; `modified` is the 0001-01-01 placeholder, so updated = published.
    assert_eq!((a.published_ms, a.updated_ms), (1_618_430_692_000, 1_618_430_692_000));
    assert_eq!(a.references.len(), 2);
    let ws = &a.affected[0];
    assert_eq!(ws.purl.as_deref(), Some("pkg:golang/github.com/gorilla/websocket"));
    assert_eq!(ws.ranges[0].kind, RangeKind::Semver);
    assert_eq!(ws.ranges[0].events, [VersionEvent::Introduced("0".into()), VersionEvent::Fixed("1.4.1".into())]);
    assert_eq!(a.source.as_ref().unwrap().bytes, data(&d, "osv/GO-2020-0019.json"));
    let c = ComponentId::parse("pkg:golang/github.com/gorilla/websocket");
    for (v, affected) in [
        ("v1.4.0", true),
        ("v1.4.1", false),
        ("v1.4.2", false),
        ("v1.5.0", false),
        ("v0.0.0-20190101000000-abcdefabcdef", true),
        ("v1.4.1-0.20200101000000-abcdefabcdef", true),
    ] {
        let r = is_affected(ws, &c, v);
        assert_eq!(r.is_some(), affected, "websocket {v}");
        if let Some(r) = r {
            assert_eq!(r.fixed.as_deref(), Some("1.4.1"));
        }
    }
    // The version may come inside the purl.
    assert!(is_affected(ws, &ComponentId::parse("pkg:golang/github.com/gorilla/websocket@v1.2.0"), "").is_some());

    let y = osv::import(&data(&d, "osv/GO-2020-0036.json")).unwrap().advisory;
    let yaml = &y.affected[0];
    let c = ComponentId::parse("pkg:golang/gopkg.in/yaml.v2");
    assert!(is_affected(yaml, &c, "v2.2.7").is_some());
    assert!(is_affected(yaml, &c, "v2.2.8").is_none(), "fixed exactly at a release");
    // The mirror module: introduced 0 and never fixed.
    let mirror = &y.affected[1];
    let r = is_affected(mirror, &ComponentId::parse("pkg:golang/github.com/go-yaml/yaml"), "v2.4.0").unwrap();
    assert_eq!((r.rule, r.fixed), (VersionRule::InRange { index: 0 }, None));
    assert_eq!(y.remediation.as_deref(), Some("Update gopkg.in/yaml.v2 to 2.2.8 or later."));

    let gin = osv::import(&data(&d, "osv/GO-2020-0001.json")).unwrap().advisory;
    assert!(
        is_affected(&gin.affected[0], &ComponentId::parse("pkg:golang/github.com/gin-gonic/gin@v1.5.0"), "").is_some()
    );
    assert!(
        is_affected(&gin.affected[0], &ComponentId::parse("pkg:golang/github.com/gin-gonic/gin@v1.6.0"), "").is_none()
    );
}

#[test]
fn cern_sbom_against_a_synthetic_osv_record() {
    let Some(d) = shared::corpus("data") else { return };
    let sbom = cyclonedx::parse(&data(&d, "cyclonedx/SBOM_cern-lhc-vdm-editor-e564943_bom.json")).unwrap();
    assert_eq!(sbom.spec_version, "1.2");
    assert_eq!(sbom.components.len(), 43);
    assert!(sbom.components.iter().all(|c| c.purl.as_deref().is_some_and(|p| p.starts_with("pkg:npm/"))));
    assert_eq!(sbom.subject.as_ref().unwrap().name, "lhc-vdm-editor");

    let adv = osv::import(&fixture("osv-synthetic-npm.json")).unwrap().advisory;
    let hits = purl_hits(&adv, &sbom);
    assert_eq!(
        hits,
        [
            ("pkg:npm/minimist@0.0.8".to_string(), Some("0.2.1".to_string())),
            ("pkg:npm/ws@6.2.1".to_string(), Some("6.2.2".to_string())),
        ],
        "debug 2.6.9 is exactly the fix, 3.2.6 and 4.1.1 are past the ranges"
    );
}

#[test]
fn cyclonedx_vex_statements_clear_or_confirm() {
    let Some(d) = shared::corpus("data") else { return };
    let na = cyclonedx::parse(&data(&d, "cyclonedx/VEX_CISA-Use-Cases_Case-1_vex-not_affected.json")).unwrap();
    assert_eq!(na.vex.len(), 1);
    let s = &na.vex[0];
    assert_eq!((s.vuln_id.as_str(), s.component_ref.as_str()), ("CVE-2021-44228", "product-ABC"));
    assert_eq!(s.state, Some(cyclonedx::VexState::NotAffected));
    assert_eq!(s.justification.as_deref(), Some("code_not_present"));
    let f = match_sbom(&log4shell_for("ABC"), &na);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].vex, Some(cyclonedx::VexState::NotAffected));
    assert!(!f[0].stands(), "not_affected clears the finding");

    let ex = cyclonedx::parse(&data(&d, "cyclonedx/VEX_CISA-Use-Cases_Case-1_vex-affected.json")).unwrap();
    let f = match_sbom(&log4shell_for("DEF"), &ex);
    assert_eq!(f[0].vex, Some(cyclonedx::VexState::Exploitable));
    assert!(f[0].stands());

    let nr = cyclonedx::parse(&data(&d, "cyclonedx/VEX_Use-Cases_Case-1_vex.json")).unwrap();
    assert_eq!(nr.vex[0].justification.as_deref(), Some("code_not_reachable"));
    // A statement about another vulnerability says nothing about this one.
    let f = match_sbom(&log4shell_for("Acme Product"), &nr);
    assert_eq!((f.len(), &f[0].vex), (1, &None));
    assert!(f[0].stands());
}

fn real_items(d: &Path) -> Vec<ExportItem> {
    let mut items: Vec<ExportItem> = Vec::new();
    for f in CSAF_ADVISORIES {
        items.push(item(csaf::import(&data(d, f)).unwrap().advisory, items.len()));
    }
    for f in OSV_RECORDS {
        items.push(item(osv::import(&data(d, f)).unwrap().advisory, items.len()));
    }
    items.push(item(osv::import(&fixture("osv-synthetic-npm.json")).unwrap().advisory, items.len()));
    items
}

#[test]
fn csaf_exports() {
    let Some(d) = shared::corpus("data") else { return };
    for it in real_items(&d) {
        let out = csaf::export(&it);
        match &it.advisory.source {
            Some(s) if s.format == SourceFormat::Csaf => assert_eq!(out, s.bytes, "a CSAF source leaves unchanged"),
            _ => {
                let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
                assert_eq!(csaf::validate(&doc), [], "{}", it.advisory.reference_id);
            }
        }
        // Generated documents pass the checks and read back to the same identity and versions.
        let generated = csaf::generate(&it);
        assert_eq!(csaf::validate(&generated), [], "{}", it.advisory.reference_id);
        let back = csaf::import(&serde_json::to_vec(&generated).unwrap()).unwrap();
        assert_eq!(back.tlp, Some(Tlp::Clear));
        let a = &it.advisory;
        assert_eq!(back.advisory.title, a.title);
        assert_eq!(back.advisory.aliases, a.aliases.iter().filter(|x| csaf::is_cve(x)).cloned().collect::<Vec<_>>());
        assert_eq!(
            back.advisory.severity.as_ref().map(|s| s.score_tenths),
            a.severity.as_ref().map(|s| s.score_tenths)
        );
        assert_eq!(back.advisory.affected.len(), a.affected.len(), "{}", a.reference_id);
        for (x, y) in back.advisory.affected.iter().zip(&a.affected) {
            assert_eq!(x.versions, y.versions);
            assert_eq!(x.purl, y.purl);
        }
    }
}

#[test]
fn stix_and_misp_exports_are_stable_and_marked() {
    let Some(d) = shared::corpus("data") else { return };
    let items = real_items(&d);
    let bundle = stix::export_bundle(&items);
    assert_eq!(bundle, stix::export_bundle(&items), "deterministic");
    let objects = bundle["objects"].as_array().unwrap();
    let clear = stix::tlp_marking_id(Tlp::Clear);
    for o in objects {
        if o["type"] != "marking-definition" {
            assert_eq!(o["object_marking_refs"][0], clear, "{o}");
        }
    }
    let count = |t: &str| objects.iter().filter(|o| o["type"] == t).count();
    assert_eq!(count("marking-definition"), 1);
    assert_eq!(count("identity"), 1);
    assert_eq!(count("report"), 1, "the Red Hat notice is guidance");
    assert_eq!(count("vulnerability"), items.len() - 1);
    let log4shell = objects.iter().find(|o| o["name"] == "CVE-2021-44228").unwrap();
    assert_eq!(log4shell["external_references"][0]["source_name"], "cve");
    let rels = objects.iter().filter(|o| o["relationship_type"] == "remediates").count();
    assert_eq!(rels, count("course-of-action"));

    let (manifest, events) = misp::export_feed(&items);
    assert_eq!(events.len(), items.len());
    for (uuid, e) in &events {
        assert_eq!(manifest[uuid]["info"], e["Event"]["info"]);
        assert_eq!(e["Event"]["Tag"][0]["name"], "tlp:clear");
    }
    let cisa = &events[4].1["Event"];
    assert_eq!(cisa["date"], "2024-03-21");
    assert_eq!(cisa["threat_level_id"], "2");
    let attrs = cisa["Attribute"].as_array().unwrap();
    assert!(attrs.iter().any(|a| a["type"] == "vulnerability" && a["value"] == "CVE-2024-2453"));
    assert!(attrs.iter().any(|a| a["type"] == "link"));
}

/// Exports of the real data, checked by the reference validators (PyPI `csaf` for CSAF 2.0
/// schema and mandatory tests, `stix2-validator` for STIX 2.1). Skips, saying so, where they are
/// not installed, unless TRELLIS_REQUIRE_VALIDATORS=1, as CI sets it.
#[test]
fn exports_pass_the_reference_validators() {
    let Some(d) = shared::corpus("data") else { return };
    let have = std::process::Command::new("python3")
        .args(["-c", "import stix2validator, csaf"])
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        assert!(
            std::env::var("TRELLIS_REQUIRE_VALIDATORS").as_deref() != Ok("1"),
            "validators required but missing: pip install csaf stix2-validator"
        );
        eprintln!("SKIPPED: python3 with csaf and stix2-validator not found (pip install csaf stix2-validator)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("trellis-exports-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let items = real_items(&d);
    for it in &items {
        let name = it.advisory.reference_id.replace([':', '/'], "_");
        std::fs::write(dir.join(format!("{name}.csaf.json")), csaf::export(it)).unwrap();
        let generated = serde_json::to_vec_pretty(&csaf::generate(it)).unwrap();
        std::fs::write(dir.join(format!("{name}.generated.csaf.json")), generated).unwrap();
    }
    let bundle = serde_json::to_vec_pretty(&stix::export_bundle(&items)).unwrap();
    std::fs::write(dir.join("all.stix.json"), bundle).unwrap();
    for it in &items {
        let one = serde_json::to_vec_pretty(&stix::export_bundle(std::slice::from_ref(it))).unwrap();
        std::fs::write(dir.join(format!("{}.stix.json", it.advisory.reference_id.replace([':', '/'], "_"))), one)
            .unwrap();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/validate_outputs.py");
    let out = std::process::Command::new("python3").arg(&script).arg(&dir).output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{report}");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "validators rejected exports:\n{report}");
}
