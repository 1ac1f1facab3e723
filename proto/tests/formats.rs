//! The format mappings against small documents written for these tests to the standards
//! (`tests/fixtures/`), and their exports checked by the formats' own validators. The same
//! checks on real third-party files are in `corpus.rs`.

mod shared;

use std::path::Path;

use shared::{fixture, log4shell_for, purl_hits};

use sha2::{Digest, Sha512};
use trellis_proto::Tlp;
use trellis_proto::formats::matching::{ComponentId, MatchedBy, VersionRule, is_affected, match_sbom};
use trellis_proto::formats::{self, DetectedFormat, ExportItem, csaf, cyclonedx, misp, osv, stix};
use trellis_proto::items::{Advisory, Category, RangeKind, SourceFormat, VersionEvent};

const CSAF_ADVISORIES: [&str; 5] = [
    "csaf-gateway-advisory.json",
    "csaf-informational.json",
    "csaf-vex-affected.json",
    "csaf-vex-not-affected.json",
    "csaf-pump-hmi-ics.json",
];
const OSV_RECORDS: [&str; 1] = ["osv-golang.json"];

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
fn detect_every_fixture() {
    for f in CSAF_ADVISORIES {
        assert_eq!(formats::detect(&fixture(f)), Ok(DetectedFormat::Csaf), "{f}");
    }
    for f in OSV_RECORDS {
        assert_eq!(formats::detect(&fixture(f)), Ok(DetectedFormat::Osv), "{f}");
    }
    for f in ["cyclonedx-npm-app.json", "cyclonedx-vex-other-cve.json"] {
        assert_eq!(formats::detect(&fixture(f)), Ok(DetectedFormat::CycloneDx), "{f}");
    }
    for f in ["stix-indicator.json", "stix-infrastructure.json"] {
        assert_eq!(formats::detect(&fixture(f)), Ok(DetectedFormat::StixBundle), "{f}");
    }
    // Provider metadata and a ROLIE feed are CSAF's distribution files, not advisories.
    assert!(formats::detect(&fixture("csaf-provider-metadata.json")).is_err());
    assert!(formats::detect(&fixture("csaf-rolie-feed.json")).is_err());
    assert!(csaf::import(&fixture("csaf-provider-metadata.json")).is_err());
}

#[test]
fn csaf_vendor_advisory() {
    let bytes = fixture("csaf-gateway-advisory.json");
    let imp = csaf::import(&bytes).unwrap();
    assert_eq!(imp.tlp, Some(Tlp::Clear), "WHITE is read as CLEAR");
    let a = &imp.advisory;
    assert_eq!(a.reference_id, "EXI-2024-0007");
    assert_eq!(a.title, "Gateway Manager: command injection in the diagnostics page");
    assert_eq!(a.category, Category::Vulnerability);
    assert_eq!(a.aliases, ["CVE-2024-99901"]);
    let sev = a.severity.as_ref().unwrap();
    assert_eq!(sev.score_tenths, 88);
    assert_eq!(sev.vector.as_deref(), Some("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"));
    assert!(a.summary.starts_with("Gateway Manager before 2.1.0 lets an authenticated user"), "{}", a.summary);
    assert!(a.summary.contains("CVE-2024-99901: The ping form"), "{}", a.summary);
    assert!(a.remediation.as_deref().unwrap().contains("Update to version 2.1.0 or later"));
    assert!(a.references.contains(&"https://downloads.example.com/gateway-manager/2.1.0/".to_string()));
    assert_eq!(a.published_ms, 1_714_644_000_000);
    assert_eq!(a.updated_ms, 1_714_644_000_000);
    assert_eq!(a.affected.len(), 1, "{:?}", a.affected);
    let gm = &a.affected[0];
    assert_eq!(gm.vendor.as_deref(), Some("Example Industrial"));
    assert_eq!(gm.product.as_deref(), Some("Gateway Manager"));
    assert_eq!(gm.cpe.as_deref(), Some("cpe:2.3:a:example-industrial:gateway_manager:*:*:*:*:*:*:*:*"));
    assert_eq!(gm.versions, ["2.0.0", "2.0.1", "2.1.0-rc1"]);
    assert_eq!(gm.ranges[0].events, [VersionEvent::Fixed("2.1.0".into())]);
    let src = a.source.as_ref().unwrap();
    assert_eq!((src.format, &src.bytes), (SourceFormat::Csaf, &bytes));
    a.check_limits().unwrap();

    // Matching by CPE: an affected version with its fix, the release candidate, and the fix.
    let v201 = ComponentId::parse("cpe:2.3:a:example-industrial:gateway_manager:2.0.1:*:*:*:*:*:*:*");
    let r = is_affected(gm, &v201, "").unwrap();
    assert_eq!((r.by, r.rule, r.fixed.as_deref()), (MatchedBy::Cpe, VersionRule::Listed, Some("2.1.0")));
    let rc1 = ComponentId::parse("cpe:2.3:a:example-industrial:gateway_manager:2.1.0-rc1:*:*:*:*:*:*:*");
    assert_eq!(is_affected(gm, &rc1, "").unwrap().rule, VersionRule::Listed);
    assert!(is_affected(gm, &ComponentId::parse("cpe:/a:example-industrial:gateway_manager:2.1.0"), "").is_none());
    // By name, for an inventory that only knows the product's name.
    let named = ComponentId::Name { vendor: Some("example industrial".into()), product: "gateway manager".into() };
    assert!(is_affected(gm, &named, "2.0.1").is_some());
}

#[test]
fn csaf_ics_advisory_keeps_its_signed_bytes() {
    let bytes = fixture("csaf-pump-hmi-ics.json");
    let imp = csaf::import(&bytes).unwrap();
    let a = &imp.advisory;
    // The bytes kept are the bytes the publisher hashed: their SHA-512 is the published one.
    let published = String::from_utf8(fixture("csaf-pump-hmi-ics.json.sha512")).unwrap();
    let digest = data_encoding::HEXLOWER.encode(&Sha512::digest(&a.source.as_ref().unwrap().bytes));
    assert_eq!(published.split_whitespace().next(), Some(digest.as_str()));

    assert_eq!((a.reference_id.as_str(), a.title.as_str()), ("NWCC-24-120-01", "Northwind Controls Pump HMI"));
    assert_eq!(imp.tlp, Some(Tlp::Clear));
    assert_eq!(a.aliases, ["CVE-2024-99902"]);
    assert_eq!(a.severity.as_ref().unwrap().score_tenths, 54);
    assert_eq!(a.published_ms, 1_714_370_400_000);
    assert!(a.summary.contains("read or change the setpoints"));
    assert!(a.remediation.as_deref().unwrap().contains("4.2.8 or higher"));
    assert!(a.references.iter().any(|r| r.contains("nvd.nist.gov")));
    assert_eq!(a.affected.len(), 1);
    let hmi = &a.affected[0];
    assert_eq!((hmi.purl.as_deref(), hmi.cpe.as_deref()), (None, None), "the document carries neither");
    assert_eq!((hmi.vendor.as_deref(), hmi.product.as_deref()), (Some("Northwind Controls"), Some("Pump HMI")));
    assert_eq!(hmi.versions, ["4.2.7"]);
    let named = ComponentId::Name { vendor: Some("northwind controls".into()), product: "Pump HMI".into() };
    assert_eq!(is_affected(hmi, &named, "4.2.7").unwrap().rule, VersionRule::Listed);
    assert!(is_affected(hmi, &named, "4.2.8").is_none());
}

#[test]
fn csaf_informational_and_vex_documents() {
    let info = csaf::import(&fixture("csaf-informational.json")).unwrap().advisory;
    assert_eq!(info.category, Category::Guidance);
    assert!(info.aliases.is_empty() && info.affected.is_empty() && info.severity.is_none());
    assert!(info.summary.contains("end of its support"));
    assert_eq!(info.reference_id, "EXI-2024-INFO-3");

    let affected = csaf::import(&fixture("csaf-vex-affected.json")).unwrap().advisory;
    assert_eq!(affected.category, Category::Vulnerability);
    assert_eq!(affected.aliases, ["CVE-2021-44228"]);
    assert_eq!(affected.affected[0].product.as_deref(), Some("DEF"));
    assert_eq!(affected.affected[0].versions, ["1.0"]);
    assert!(affected.remediation.as_deref().unwrap().contains("version 1.1"));
    // "Known not affected" yields no affected entry at all.
    let not = csaf::import(&fixture("csaf-vex-not-affected.json")).unwrap().advisory;
    assert_eq!(not.aliases, ["CVE-2021-44228"]);
    assert!(not.affected.is_empty());
}

#[test]
fn csaf_mutations_of_a_document_are_caught() {
    let mut doc: serde_json::Value = serde_json::from_slice(&fixture("csaf-gateway-advisory.json")).unwrap();
    doc["vulnerabilities"][0]["product_status"]["known_affected"][0] = "CSAFPID-9999".into();
    doc["document"]["tracking"]["current_release_date"] = "2024-05-02".into();
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
    let mut text = String::from_utf8(fixture("csaf-gateway-advisory.json")).unwrap();
    text.insert(text.find("\"title\": \"Gateway").unwrap(), '@');
    let e = csaf::import(text.as_bytes()).unwrap_err();
    assert_eq!(e.len(), 1);
    let line = text[..text.find('@').unwrap()].lines().count();
    assert!(e[0].reason.contains(&format!("line {line}")), "{}", e[0]);
}

#[test]
fn osv_go_record_and_its_boundaries() {
    let bytes = fixture("osv-golang.json");
    let a = osv::import(&bytes).unwrap().advisory;
    assert_eq!(a.reference_id, "TRELLIS-TEST-2024-0002");
    assert_eq!(a.title, "Unbounded frame length in example.com/fastframe");
    assert!(a.summary.starts_with("A peer can announce a frame length"));
    assert_eq!(a.aliases, ["CVE-2024-99903", "GHSA-abcd-2345-wxyz"]);
    // `modified` is the 0001-01-01 placeholder, so updated = published.
    assert_eq!((a.published_ms, a.updated_ms), (1_707_903_000_000, 1_707_903_000_000));
    assert_eq!(a.references.len(), 2);
    let ff = &a.affected[0];
    assert_eq!(ff.purl.as_deref(), Some("pkg:golang/example.com/fastframe"));
    assert_eq!(ff.ranges[0].kind, RangeKind::Semver);
    assert_eq!(ff.ranges[0].events, [VersionEvent::Introduced("0".into()), VersionEvent::Fixed("1.4.1".into())]);
    assert_eq!(a.source.as_ref().unwrap().bytes, bytes);
    let c = ComponentId::parse("pkg:golang/example.com/fastframe");
    for (v, affected) in [
        ("v1.4.0", true),
        ("v1.4.1", false),
        ("v1.4.2", false),
        ("v1.5.0", false),
        ("v0.0.0-20190101000000-abcdefabcdef", true),
        ("v1.4.1-0.20200101000000-abcdefabcdef", true),
    ] {
        let r = is_affected(ff, &c, v);
        assert_eq!(r.is_some(), affected, "fastframe {v}");
        if let Some(r) = r {
            assert_eq!(r.fixed.as_deref(), Some("1.4.1"));
        }
    }
    // The version may come inside the purl.
    assert!(is_affected(ff, &ComponentId::parse("pkg:golang/example.com/fastframe@v1.2.0"), "").is_some());
    assert!(is_affected(ff, &ComponentId::parse("pkg:golang/example.com/fastframe@v1.6.0"), "").is_none());
    assert_eq!(a.remediation.as_deref(), Some("Update example.com/fastframe to 1.4.1 or later."));
    // The mirror module: introduced 0 and never fixed.
    let mirror = &a.affected[1];
    let r = is_affected(mirror, &ComponentId::parse("pkg:golang/example.com/fastframe-mirror"), "v2.4.0").unwrap();
    assert_eq!((r.rule, r.fixed), (VersionRule::InRange { index: 0 }, None));
}

#[test]
fn npm_sbom_against_a_synthetic_osv_record() {
    let sbom = cyclonedx::parse(&fixture("cyclonedx-npm-app.json")).unwrap();
    assert_eq!(sbom.spec_version, "1.4");
    assert_eq!(sbom.components.len(), 10);
    assert!(sbom.components.iter().all(|c| c.purl.as_deref().is_some_and(|p| p.starts_with("pkg:npm/"))));
    assert_eq!(sbom.subject.as_ref().unwrap().name, "pump-dashboard");

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
    let na = cyclonedx::parse(&fixture("cyclonedx-vex-not-affected.json")).unwrap();
    assert_eq!(na.vex.len(), 1);
    let s = &na.vex[0];
    assert_eq!((s.vuln_id.as_str(), s.component_ref.as_str()), ("CVE-2021-44228", "product-ABC"));
    assert_eq!(s.state, Some(cyclonedx::VexState::NotAffected));
    assert_eq!(s.justification.as_deref(), Some("code_not_present"));
    let f = match_sbom(&log4shell_for("ABC"), &na);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].vex, Some(cyclonedx::VexState::NotAffected));
    assert!(!f[0].stands(), "not_affected clears the finding");

    let ex = cyclonedx::parse(&fixture("cyclonedx-vex-exploitable.json")).unwrap();
    let f = match_sbom(&log4shell_for("DEF"), &ex);
    assert_eq!(f[0].vex, Some(cyclonedx::VexState::Exploitable));
    assert!(f[0].stands());

    let nr = cyclonedx::parse(&fixture("cyclonedx-vex-other-cve.json")).unwrap();
    assert_eq!(nr.vex[0].justification.as_deref(), Some("code_not_reachable"));
    // A statement about another vulnerability says nothing about this one.
    let f = match_sbom(&log4shell_for("Acme Product"), &nr);
    assert_eq!((f.len(), &f[0].vex), (1, &None));
    assert!(f[0].stands());
}

fn real_items() -> Vec<ExportItem> {
    let mut items: Vec<ExportItem> = Vec::new();
    for f in CSAF_ADVISORIES {
        items.push(item(csaf::import(&fixture(f)).unwrap().advisory, items.len()));
    }
    for f in OSV_RECORDS {
        items.push(item(osv::import(&fixture(f)).unwrap().advisory, items.len()));
    }
    items.push(item(osv::import(&fixture("osv-synthetic-npm.json")).unwrap().advisory, items.len()));
    items
}

#[test]
fn csaf_exports() {
    for it in real_items() {
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
    let items = real_items();
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
    assert_eq!(count("report"), 1, "the end-of-support notice is guidance");
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
    let ics = &events[4].1["Event"];
    assert_eq!(ics["date"], "2024-04-29");
    assert_eq!(ics["threat_level_id"], "2");
    let attrs = ics["Attribute"].as_array().unwrap();
    assert!(attrs.iter().any(|a| a["type"] == "vulnerability" && a["value"] == "CVE-2024-99902"));
    assert!(attrs.iter().any(|a| a["type"] == "link"));
}

/// Exports of the fixtures, checked by the reference validators (PyPI `csaf` for CSAF 2.0
/// schema and mandatory tests, `stix2-validator` for STIX 2.1). Skips, saying so, where they are
/// not installed, unless TRELLIS_REQUIRE_VALIDATORS=1, as CI sets it.
#[test]
fn exports_pass_the_reference_validators() {
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
    let items = real_items();
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

#[test]
fn an_spdx_sbom_matches_as_the_same_cyclonedx_sbom_does() {
    use trellis_proto::formats::spdx;
    // The same application described in both formats: the same components, the same matches.
    let bytes = fixture("spdx-npm-app.json");
    let (sbom, warnings) = spdx::parse_any_checked(&bytes, false).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let cdx = cyclonedx::parse(&fixture("cyclonedx-npm-app.json")).unwrap();
    assert_eq!(sbom.spec_version, "SPDX-2.3");
    assert_eq!(sbom.subject.as_ref().map(|s| s.name.as_str()), Some("pump-dashboard"), "the package it DESCRIBES");
    assert_eq!(sbom.components.len(), cdx.components.len());
    let adv = osv::import(&fixture("osv-synthetic-npm.json")).unwrap().advisory;
    assert_eq!(purl_hits(&adv, &sbom), purl_hits(&adv, &cdx));
    assert_eq!(purl_hits(&adv, &sbom).len(), 2);
    // The dispatcher still reads CycloneDX.
    assert_eq!(spdx::parse_any_checked(&fixture("cyclonedx-npm-app.json"), false).unwrap().0, cdx);

    // Broken rules are refused with their JSON pointer, or kept as warnings when lenient.
    let mut doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    doc["dataLicense"] = "MIT".into();
    doc["packages"][2]["SPDXID"] = doc["packages"][1]["SPDXID"].clone();
    doc["packages"][3]["externalRefs"][0]["referenceLocator"] = "not a purl".into();
    doc["relationships"][1]["relatedSpdxElement"] = "SPDXRef-nowhere".into();
    let bad = serde_json::to_vec(&doc).unwrap();
    let problems = spdx::parse_any_checked(&bad, false).unwrap_err();
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    for want in [
        "/dataLicense",
        "/packages/2/SPDXID",
        "/packages/3/externalRefs/0/referenceLocator",
        "/relationships/1/relatedSpdxElement",
    ] {
        assert!(paths.contains(&want), "{want} not reported: {problems:?}");
    }
    let (lenient, warnings) = spdx::parse_any_checked(&bad, true).unwrap();
    assert_eq!(warnings.len(), problems.len());
    assert_eq!(lenient.components.len() + 1, sbom.components.len() + 1);

    // SPDX 3.0 is refused even when lenient, with a message that says what to do.
    let v3 = br#"{"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld", "@graph": []}"#;
    let e = spdx::parse_any_checked(v3, true).unwrap_err();
    assert!(e[0].reason.contains("SPDX 3.0"), "{e:?}");
}
