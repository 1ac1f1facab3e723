//! STIX 2.1 bundles out: the publisher as an `identity`, each vulnerability advisory as a
//! `vulnerability` (CVE ids as `cve` external references), other advisories as a `report`, a
//! remediation as a `course-of-action` that `remediates` the vulnerability, and the item's TLP as
//! the official TLP 2.0 `marking-definition` referenced from every object. Object ids derive from
//! the item id ([`super::name_uuid`]), so exporting the same items again yields the same bundle.
//!
//! The native advisory carries no detection pattern, so no `indicator` is written from it;
//! [`indicator`] is the mapping an indicator import/export will use.

use serde_json::{Value, json};

use crate::Tlp;
use crate::items::Category;

use super::csaf::is_cve;
use super::time::format_rfc3339_ms;
use super::{ExportItem, name_uuid};

/// The TLP 2.0 extension definition (OASIS cti-stix-common-objects).
pub const TLP2_EXTENSION: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// The official id of each TLP 2.0 marking definition.
pub fn tlp_marking_id(t: Tlp) -> &'static str {
    match t {
        Tlp::Clear => "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        Tlp::Green => "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        Tlp::Amber => "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        Tlp::AmberStrict => "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        Tlp::Red => "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    }
}

/// The TLP 2.0 marking-definition object, exactly as the extension publishes it.
pub fn tlp_marking(t: Tlp) -> Value {
    json!({
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": tlp_marking_id(t),
        "created": "2022-10-01T00:00:00.000Z",
        "name": t.label(),
        "extensions": {
            TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": t.as_str()}
        }
    })
}

/// A deterministic STIX id: `type--uuid` from the seed.
pub fn object_id(kind: &str, seed: &str) -> String {
    format!("{kind}--{}", name_uuid("trellis/stix", &format!("{kind}/{seed}")))
}

/// A STIX `indicator` for a pattern (the STIX pattern language), ready for when the native model
/// carries indicators.
pub fn indicator(seed: &str, name: &str, pattern: &str, valid_from_ms: u64, created_by: &str, tlp: Tlp) -> Value {
    let t = format_rfc3339_ms(valid_from_ms);
    json!({
        "type": "indicator", "spec_version": "2.1", "id": object_id("indicator", seed),
        "created": t, "modified": t, "name": name, "pattern": pattern,
        "pattern_type": "stix", "valid_from": t, "created_by_ref": created_by,
        "object_marking_refs": [tlp_marking_id(tlp)],
    })
}

/// A bundle of `items`: markings first, then identities, then each item's objects.
pub fn export_bundle(items: &[ExportItem]) -> Value {
    let mut markings: Vec<Tlp> = items.iter().map(|i| i.tlp).collect();
    markings.sort();
    markings.dedup();
    let mut objects: Vec<Value> = markings.iter().map(|t| tlp_marking(*t)).collect();
    let mut publishers: Vec<&str> = Vec::new();
    for item in items {
        if publishers.contains(&item.publisher_id.as_str()) {
            continue;
        }
        publishers.push(&item.publisher_id);
        // The identity's time is its earliest item's, so it is stable for a given item set.
        let first = items
            .iter()
            .filter(|i| i.publisher_id == item.publisher_id)
            .map(|i| i.received_ms)
            .min()
            .unwrap_or(item.received_ms);
        let t = format_rfc3339_ms(first);
        let strictest =
            items.iter().filter(|i| i.publisher_id == item.publisher_id).map(|i| i.tlp).max().unwrap_or(item.tlp);
        objects.push(json!({
            "type": "identity", "spec_version": "2.1",
            "id": object_id("identity", &item.publisher_id),
            "created": t, "modified": t,
            "name": if item.publisher_name.trim().is_empty() { &item.publisher_id } else { &item.publisher_name },
            "identity_class": "organization",
            "object_marking_refs": [tlp_marking_id(strictest)],
        }));
    }
    for item in items {
        objects.extend(item_objects(item));
    }
    let mut ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
    ids.sort_unstable();
    json!({ "type": "bundle", "id": object_id("bundle", &ids.join(",")), "objects": objects })
}

fn item_objects(item: &ExportItem) -> Vec<Value> {
    let a = &item.advisory;
    let created_ms = if a.published_ms > 0 { a.published_ms } else { item.received_ms };
    let (created, modified) = (format_rfc3339_ms(created_ms), format_rfc3339_ms(a.updated_ms.max(created_ms)));
    let identity = object_id("identity", &item.publisher_id);
    let marking = tlp_marking_id(item.tlp);
    let mut refs: Vec<Value> = a
        .aliases
        .iter()
        .filter(|c| is_cve(c))
        .map(
            |c| json!({"source_name": "cve", "external_id": c, "url": format!("https://www.cve.org/CVERecord?id={c}")}),
        )
        .collect();
    if !a.reference_id.is_empty() {
        let source = if item.publisher_name.trim().is_empty() { "publisher" } else { item.publisher_name.trim() };
        refs.push(json!({"source_name": source, "external_id": a.reference_id}));
    }
    refs.extend(a.references.iter().map(|u| json!({"source_name": "reference", "url": u})));
    let description = if a.summary.is_empty() { a.title.clone() } else { a.summary.clone() };
    let mut out = Vec::new();
    let main = if a.category == Category::Vulnerability {
        let name = a.aliases.iter().find(|c| is_cve(c)).cloned().unwrap_or_else(|| a.title.clone());
        let mut v = json!({
            "type": "vulnerability", "spec_version": "2.1", "id": object_id("vulnerability", &item.id),
            "created": created, "modified": modified, "name": name, "description": description,
            "created_by_ref": identity, "object_marking_refs": [marking],
        });
        if !refs.is_empty() {
            v["external_references"] = json!(refs);
        }
        v
    } else {
        let mut r = json!({
            "type": "report", "spec_version": "2.1", "id": object_id("report", &item.id),
            "created": created, "modified": modified, "name": a.title, "description": description,
            "report_types": ["threat-report"], "published": created,
            "object_refs": [identity], "labels": [a.category.as_str()],
            "created_by_ref": identity, "object_marking_refs": [marking],
        });
        if !refs.is_empty() {
            r["external_references"] = json!(refs);
        }
        r
    };
    let main_id = main["id"].as_str().unwrap_or_default().to_string();
    out.push(main);
    if let Some(rem) = a.remediation.as_deref().filter(|r| !r.trim().is_empty())
        && a.category == Category::Vulnerability
    {
        let coa = object_id("course-of-action", &item.id);
        out.push(json!({
            "type": "course-of-action", "spec_version": "2.1", "id": coa,
            "created": created, "modified": modified, "name": format!("Remediation: {}", a.title),
            "description": rem, "created_by_ref": identity, "object_marking_refs": [marking],
        }));
        out.push(json!({
            "type": "relationship", "spec_version": "2.1", "id": object_id("relationship", &format!("{}/remediates", item.id)),
            "created": created, "modified": modified, "relationship_type": "remediates",
            "source_ref": coa, "target_ref": main_id,
            "created_by_ref": identity, "object_marking_refs": [marking],
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markings_are_the_official_ones() {
        let m = tlp_marking(Tlp::AmberStrict);
        assert_eq!(m["id"], "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003");
        assert_eq!(m["name"], "TLP:AMBER+STRICT");
        assert_eq!(m["extensions"][TLP2_EXTENSION]["tlp_2_0"], "amber+strict");
        let ids: std::collections::HashSet<_> = Tlp::ALL.iter().map(|t| tlp_marking_id(*t)).collect();
        assert_eq!(ids.len(), 5);
        assert_eq!(object_id("vulnerability", "x"), object_id("vulnerability", "x"));
        assert_ne!(object_id("vulnerability", "x"), object_id("report", "x"));
        let i = indicator("s", "C2", "[ipv4-addr:value = '198.51.100.1']", 0, "identity--x", Tlp::Green);
        assert_eq!(i["object_marking_refs"][0], tlp_marking_id(Tlp::Green));
    }
}
