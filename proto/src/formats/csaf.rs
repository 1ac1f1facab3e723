//! CSAF 2.0 advisories in (the export is in `csaf_export.rs`). The import checks the mandatory
//! basics — the fields the schema requires, `csaf_version` 2.0, dates, and mandatory tests 6.1.1
//! (every referenced product id is defined), 6.1.2 (no id defined twice) and 6.1.9 (a CVSS v3
//! score agrees with its vector) — then the other mandatory tests (`csaf_validate.rs`), and
//! reports every failure at once. It then keeps the document
//! whole as the advisory's source (§4.1) and maps what matching and listing need: the products a
//! vulnerability affects, found by walking the product tree's branches (vendor, product name,
//! version, version range; purl and CPE helpers), their fixed versions, severity, aliases.

use std::collections::HashSet;

use serde_json::Value;

use crate::Tlp;
use crate::items::{Advisory, Category, Severity, SourceDocument, SourceFormat};
use crate::limits::{MAX_LIST, MAX_SHORT, MAX_TEXT, MAX_TITLE};

use super::csaf_products::{affected_entries, defined_products, referenced_ids};
pub use super::csaf_validate::mandatory_tests;
use super::cvss::v3_base_score_tenths;
use super::time::parse_unix_ms;
use super::version::Semver;
use super::{Imported, Problem, array, clip, parse_json, push_unique, text};

pub use super::csaf_export::{export, generate};

fn require(doc: &Value, pointer: &str, problems: &mut Vec<Problem>) -> Option<String> {
    match doc.pointer(pointer).and_then(Value::as_str).map(str::trim) {
        Some(s) if !s.is_empty() => Some(s.to_string()),
        _ => {
            problems.push(Problem::new(pointer, "missing: CSAF 2.0 requires it (a non-empty string)"));
            None
        }
    }
}

fn require_date(doc: &Value, pointer: &str, problems: &mut Vec<Problem>) -> Option<u64> {
    let s = require(doc, pointer, problems)?;
    let ms = parse_unix_ms(&s);
    if ms.is_none() {
        problems.push(Problem::new(pointer, format!("{s:?} is not an RFC 3339 date-time")));
    }
    ms
}

/// Check the mandatory basics of a CSAF 2.0 document; an empty list means it passed them.
pub fn validate(doc: &Value) -> Vec<Problem> {
    let mut p = Vec::new();
    if !doc.is_object() {
        return vec![Problem::new("", "a CSAF document is a JSON object")];
    }
    match doc.pointer("/document/csaf_version").and_then(Value::as_str) {
        Some("2.0") => {}
        Some(v) => p.push(Problem::new("/document/csaf_version", format!("{v:?}: only CSAF 2.0 is read"))),
        None => p.push(Problem::new("/document/csaf_version", "missing: must be \"2.0\"")),
    }
    require(doc, "/document/category", &mut p);
    require(doc, "/document/title", &mut p);
    require(doc, "/document/publisher/name", &mut p);
    require(doc, "/document/publisher/namespace", &mut p);
    if let Some(c) = require(doc, "/document/publisher/category", &mut p)
        && !["coordinator", "discoverer", "other", "translator", "user", "vendor"].contains(&c.as_str())
    {
        p.push(Problem::new("/document/publisher/category", format!("{c:?} is not a publisher category")));
    }
    require(doc, "/document/tracking/id", &mut p);
    if let Some(s) = require(doc, "/document/tracking/status", &mut p)
        && !["draft", "final", "interim"].contains(&s.as_str())
    {
        p.push(Problem::new("/document/tracking/status", format!("{s:?}: must be draft, interim or final")));
    }
    if let Some(v) = require(doc, "/document/tracking/version", &mut p)
        && !v.bytes().all(|b| b.is_ascii_digit())
        && Semver::parse(&v).is_none_or(|_| v.split('.').count() != 3)
    {
        p.push(Problem::new(
            "/document/tracking/version",
            format!("{v:?} is neither an integer nor a semantic version"),
        ));
    }
    require_date(doc, "/document/tracking/initial_release_date", &mut p);
    require_date(doc, "/document/tracking/current_release_date", &mut p);
    match doc.pointer("/document/tracking/revision_history").and_then(Value::as_array) {
        Some(h) if !h.is_empty() => {
            for i in 0..h.len() {
                let base = format!("/document/tracking/revision_history/{i}");
                require_date(doc, &format!("{base}/date"), &mut p);
                require(doc, &format!("{base}/number"), &mut p);
                require(doc, &format!("{base}/summary"), &mut p);
            }
        }
        _ => p.push(Problem::new("/document/tracking/revision_history", "missing: at least one revision is required")),
    }
    if let Some(label) = doc.pointer("/document/distribution/tlp/label") {
        let ok = label.as_str().is_some_and(|l| l.parse::<Tlp>().is_ok());
        if !ok {
            p.push(Problem::new(
                "/document/distribution/tlp/label",
                format!("{label} is not a TLP label (WHITE, GREEN, AMBER, RED)"),
            ));
        }
    }
    // Mandatory tests 6.1.2 and 6.1.1.
    let mut defined = HashSet::new();
    for (prod, at) in defined_products(doc) {
        if !defined.insert(prod.id.clone()) {
            p.push(Problem::new(at, format!("product id {:?} is defined more than once (test 6.1.2)", prod.id)));
        }
    }
    for (id, at) in referenced_ids(doc) {
        if !defined.contains(&id) {
            p.push(Problem::new(at, format!("product id {id:?} is not defined in the product_tree (test 6.1.1)")));
        }
    }
    for (i, v) in array(doc, "vulnerabilities").iter().enumerate() {
        if let Some(cve) = v.get("cve") {
            let ok = cve.as_str().is_some_and(is_cve);
            if !ok {
                p.push(Problem::new(format!("/vulnerabilities/{i}/cve"), format!("{cve} is not a CVE id")));
            }
        }
        // Mandatory test 6.1.9: the score is the one the vector gives.
        for (k, s) in array(v, "scores").iter().enumerate() {
            let (Some(vec), Some(score)) = (
                s.pointer("/cvss_v3/vectorString").and_then(Value::as_str),
                s.pointer("/cvss_v3/baseScore").and_then(Value::as_f64),
            ) else {
                continue;
            };
            if let Some(t) = v3_base_score_tenths(vec)
                && (score * 10.0).round() as i64 != i64::from(t)
            {
                p.push(Problem::new(
                    format!("/vulnerabilities/{i}/scores/{k}/cvss_v3/baseScore"),
                    format!("{score} is not the base score of {vec} ({}) (test 6.1.9)", f64::from(t) / 10.0),
                ));
            }
        }
    }
    p.extend(mandatory_tests(doc));
    p
}

/// `CVE-YYYY-NNNN...`.
pub fn is_cve(s: &str) -> bool {
    let mut parts = s.split('-');
    parts.next() == Some("CVE")
        && parts.next().is_some_and(|y| y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()))
        && parts.next().is_some_and(|n| n.len() >= 4 && n.bytes().all(|b| b.is_ascii_digit()))
        && parts.next().is_none()
}

fn category(doc_category: &str, has_vulns: bool) -> Category {
    match doc_category {
        "csaf_security_advisory" | "csaf_vex" => Category::Vulnerability,
        "csaf_security_incident_response" => Category::Incident,
        "csaf_informational_advisory" => Category::Guidance,
        _ if has_vulns => Category::Vulnerability,
        _ => Category::Guidance,
    }
}

fn severity(doc: &Value) -> Option<Severity> {
    let mut best: Option<Severity> = None;
    let mut consider = |vector: Option<&str>, tenths: Option<u8>| {
        if let Some(t) = tenths.filter(|t| *t <= 100)
            && best.as_ref().is_none_or(|b| t > b.score_tenths)
        {
            best = Some(Severity { vector: vector.map(str::to_string), score_tenths: t });
        }
    };
    let scores = array(doc, "vulnerabilities").iter().flat_map(|v| array(v, "scores"));
    let mut any_v3 = false;
    for s in scores.clone() {
        if let Some(c) = s.get("cvss_v3") {
            any_v3 = true;
            let vector = text(c, "vectorString");
            let t = vector
                .and_then(v3_base_score_tenths)
                .or_else(|| c.get("baseScore").and_then(Value::as_f64).map(|f| (f * 10.0).round() as u8));
            consider(vector, t);
        }
    }
    if !any_v3 {
        for s in scores {
            if let Some(c) = s.get("cvss_v2") {
                consider(
                    text(c, "vectorString"),
                    c.get("baseScore").and_then(Value::as_f64).map(|f| (f * 10.0).round() as u8),
                );
            }
        }
    }
    best
}

fn notes_text(notes: &[Value], prefix: &str, out: &mut Vec<String>) {
    for n in notes {
        if matches!(text(n, "category"), Some("summary" | "description"))
            && let Some(t) = text(n, "text")
        {
            out.push(format!("{prefix}{t}"));
        }
    }
}

/// Import a CSAF 2.0 document. On success the advisory carries the bytes unchanged as its
/// source, and `tlp` is the document's own label (`WHITE` read as CLEAR).
pub fn import(bytes: &[u8]) -> Result<Imported, Vec<Problem>> {
    let doc = parse_json(bytes)?;
    let problems = validate(&doc);
    if !problems.is_empty() {
        return Err(problems);
    }
    let d = &doc["document"];
    let tracking = &d["tracking"];
    let vulns = array(&doc, "vulnerabilities");
    let mut aliases = Vec::new();
    let mut summary = Vec::new();
    notes_text(array(d, "notes"), "", &mut summary);
    let mut remediation = Vec::new();
    let mut references = Vec::new();
    for r in array(d, "references") {
        text(r, "url").filter(|u| u.len() <= MAX_SHORT).inspect(|u| push_unique(&mut references, u));
    }
    for v in vulns {
        let cve = text(v, "cve");
        if let Some(c) = cve {
            push_unique(&mut aliases, c);
        }
        notes_text(array(v, "notes"), &cve.map(|c| format!("{c}: ")).unwrap_or_default(), &mut summary);
        for r in array(v, "remediations") {
            if let Some(t) = text(r, "details") {
                let url = text(r, "url").map(|u| format!(" ({u})")).unwrap_or_default();
                if let Some(u) = text(r, "url").filter(|u| u.len() <= MAX_SHORT) {
                    push_unique(&mut references, u);
                }
                push_unique(&mut remediation, &format!("{t}{url}"));
            }
        }
        for r in array(v, "references") {
            text(r, "url").filter(|u| u.len() <= MAX_SHORT).inspect(|u| push_unique(&mut references, u));
        }
    }
    let published_ms = text(tracking, "initial_release_date").and_then(parse_unix_ms).unwrap_or(0);
    let updated_ms = text(tracking, "current_release_date").and_then(parse_unix_ms).unwrap_or(0).max(published_ms);
    let products = defined_products(&doc);
    let advisory = Advisory {
        reference_id: clip(text(tracking, "id").unwrap_or_default().to_string(), MAX_SHORT),
        title: clip(text(d, "title").unwrap_or_default().to_string(), MAX_TITLE),
        summary: clip(summary.join("\n\n"), MAX_TEXT),
        category: category(text(d, "category").unwrap_or_default(), !vulns.is_empty()),
        severity: severity(&doc),
        aliases: aliases.into_iter().take(MAX_LIST).collect(),
        affected: affected_entries(&doc, &products),
        references: references.into_iter().take(MAX_LIST).collect(),
        remediation: (!remediation.is_empty()).then(|| clip(remediation.join("\n"), MAX_TEXT)),
        published_ms,
        updated_ms,
        source: Some(SourceDocument { format: SourceFormat::Csaf, bytes: bytes.to_vec() }),
    };
    let tlp = doc.pointer("/document/distribution/tlp/label").and_then(Value::as_str).and_then(|l| l.parse().ok());
    Ok(Imported { advisory, tlp })
}

#[cfg(test)]
mod tests {
    use super::super::csaf_products::vers_events;
    use super::*;
    use crate::items::VersionEvent;
    use serde_json::json;

    fn minimal() -> Value {
        json!({
          "document": {
            "category": "csaf_security_advisory", "csaf_version": "2.0", "title": "T",
            "publisher": {"category": "vendor", "name": "Acme", "namespace": "https://acme.example"},
            "distribution": {"tlp": {"label": "AMBER"}},
            "tracking": {"id": "ACME-1", "status": "final", "version": "1",
              "initial_release_date": "2024-01-01T00:00:00Z", "current_release_date": "2024-01-02T00:00:00Z",
              "revision_history": [{"date": "2024-01-01T00:00:00Z", "number": "1", "summary": "Initial"}]}
          },
          "product_tree": {"branches": [{"category": "vendor", "name": "Acme", "branches": [
            {"category": "product_name", "name": "Widget", "branches": [
              {"category": "product_version_range", "name": "vers:semver/>=1.0.0|<1.4.0",
               "product": {"name": "Widget < 1.4", "product_id": "P1"}},
              {"category": "product_version", "name": "1.4.0",
               "product": {"name": "Widget 1.4.0", "product_id": "P2",
                 "product_identification_helper": {"purl": "pkg:generic/acme/widget@1.4.0"}}}]}]}]},
          "vulnerabilities": [{"cve": "CVE-2024-0001",
            "notes": [{"category": "description", "text": "Widget before 1.4 trusts its input."}],
            "product_status": {"known_affected": ["P1"], "fixed": ["P2"]}}]
        })
    }

    #[test]
    fn every_problem_at_once() {
        let mut d = minimal();
        d["document"]["csaf_version"] = json!("2.1");
        d["document"].as_object_mut().unwrap().remove("title");
        d["document"]["publisher"].as_object_mut().unwrap().remove("namespace");
        d["document"]["tracking"]["status"] = json!("done");
        d["document"]["tracking"]["initial_release_date"] = json!("2024-02-30T00:00:00Z");
        d["document"]["tracking"]["revision_history"] = json!([]);
        d["document"]["distribution"]["tlp"]["label"] = json!("PURPLE");
        d["vulnerabilities"][0]["product_status"]["known_affected"] = json!(["P1", "P9"]);
        d["vulnerabilities"][0]["cve"] = json!("CVE-24-1");
        let e = import(&serde_json::to_vec(&d).unwrap()).unwrap_err();
        let paths: Vec<&str> = e.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/document/csaf_version",
                "/document/title",
                "/document/publisher/namespace",
                "/document/tracking/status",
                "/document/tracking/initial_release_date",
                "/document/tracking/revision_history",
                "/document/distribution/tlp/label",
                "/vulnerabilities/0/product_status/known_affected/1",
                "/vulnerabilities/0/cve",
            ]
        );
        assert!(e[7].reason.contains("6.1.1"), "{}", e[7]);
    }

    #[test]
    fn duplicate_ids_and_wrong_scores() {
        let mut d = minimal();
        d["product_tree"]["full_product_names"] = json!([{"name": "dup", "product_id": "P1"}]);
        d["vulnerabilities"][0]["scores"] = json!([{"products": ["P1"], "cvss_v3": {"version": "3.1",
          "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "baseScore": 5.0, "baseSeverity": "MEDIUM"}}]);
        let e = validate(&d);
        assert_eq!(e.len(), 3, "{e:?}");
        assert_eq!(e[0].path, "/product_tree/full_product_names/0/product_id");
        assert!(e[1].reason.contains("9.8"), "{}", e[1]);
        assert_eq!(e[2].path, "/vulnerabilities/0/scores/0/cvss_v3/baseSeverity");
        assert!(e[2].reason.starts_with("6.1.9 "), "{}", e[2]);
    }

    #[test]
    fn ranges_versions_fixes_and_label() {
        let imp = import(&serde_json::to_vec(&minimal()).unwrap()).unwrap();
        assert_eq!(imp.tlp, Some(Tlp::Amber));
        let a = &imp.advisory;
        assert_eq!(a.reference_id, "ACME-1");
        assert_eq!(a.aliases, ["CVE-2024-0001"]);
        assert_eq!(a.published_ms, 1_704_067_200_000);
        assert_eq!(a.updated_ms, 1_704_153_600_000);
        assert_eq!(a.affected.len(), 1);
        let w = &a.affected[0];
        assert_eq!((w.vendor.as_deref(), w.product.as_deref()), (Some("Acme"), Some("Widget")));
        assert_eq!(w.ranges[0].events, [VersionEvent::Introduced("1.0.0".into()), VersionEvent::Fixed("1.4.0".into())]);
        // The fixed product (with a purl) is a different group than the affected one (without):
        // its fix is recorded only where the group matches, so nothing is invented here.
        assert_eq!(w.ranges.len(), 1);
    }

    #[test]
    fn vers_forms() {
        let (e, x) = vers_events("vers:npm/>=1.0.0|<2.0.0|3.0.0").unwrap();
        assert_eq!(e, [VersionEvent::Introduced("1.0.0".into()), VersionEvent::Fixed("2.0.0".into())]);
        assert_eq!(x, ["3.0.0"]);
        let (e, _) = vers_events("<= 9.1.5").unwrap();
        assert_eq!(e, [VersionEvent::Introduced("0".into()), VersionEvent::LastAffected("9.1.5".into())]);
        assert!(vers_events("vers:npm/>1.0.0").is_none());
        assert!(is_cve("CVE-2021-44228"));
        assert!(!is_cve("CVE-2021-442"));
        assert!(!is_cve("GHSA-xxxx"));
    }
}
