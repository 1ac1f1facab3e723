//! The CSAF product tree, read for matching: which products a document defines (walking the
//! branches for vendor, product name, version and version range, with the purl and CPE
//! helpers), which product ids it references elsewhere (for mandatory test 6.1.1), and how the
//! vulnerabilities' product status turns into [`Affected`] entries: known-affected versions
//! listed, version ranges (`vers:` or bare `<=x`) and first/last-affected as OSV-style ranges,
//! fixed versions as `fixed` events.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::items::{Affected, RangeKind, VersionEvent, VersionRange};
use crate::limits::MAX_LIST;

use super::ident::{Cpe, Purl};
use super::{array, push_unique, text};

/// A product defined in the product tree, with the names its branches gave it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Product {
    pub(crate) id: String,
    vendor: Option<String>,
    name: Option<String>,
    version: Option<String>,
    version_range: Option<String>,
    purl: Option<String>,
    cpe: Option<String>,
}

/// Branches nested deeper than this are not walked (the schema sets no bound; the stack does).
const MAX_BRANCH_DEPTH: usize = 30;

fn product_from(full: &Value, ctx: &Product) -> Option<Product> {
    let id = text(full, "product_id")?;
    let helper = full.get("product_identification_helper");
    let h = |k: &str| helper.and_then(|h| text(h, k)).map(str::to_string);
    Some(Product {
        id: id.to_string(),
        name: ctx.name.clone().or_else(|| text(full, "name").map(str::to_string)),
        purl: h("purl"),
        cpe: h("cpe"),
        ..ctx.clone()
    })
}

fn walk(branches: &[Value], path: &str, ctx: &Product, depth: usize, out: &mut Vec<(Product, String)>) {
    if depth > MAX_BRANCH_DEPTH {
        return;
    }
    for (i, b) in branches.iter().enumerate() {
        let p = format!("{path}/{i}");
        let mut here = ctx.clone();
        let name = text(b, "name").map(str::to_string);
        match text(b, "category") {
            Some("vendor") => here.vendor = name,
            Some("product_name") => here.name = name,
            Some("product_family") if here.name.is_none() => here.name = name,
            Some("product_version") => here.version = name,
            Some("product_version_range") => here.version_range = name,
            _ => {}
        }
        if let Some(full) = b.get("product")
            && let Some(prod) = product_from(full, &here)
        {
            out.push((prod, format!("{p}/product/product_id")));
        }
        walk(array(b, "branches"), &format!("{p}/branches"), &here, depth + 1, out);
    }
}

/// Every product the tree defines, with the pointer of its `product_id`.
pub(crate) fn defined_products(doc: &Value) -> Vec<(Product, String)> {
    let mut out = Vec::new();
    let Some(tree) = doc.get("product_tree") else {
        return out;
    };
    walk(array(tree, "branches"), "/product_tree/branches", &Product::default(), 0, &mut out);
    for (i, f) in array(tree, "full_product_names").iter().enumerate() {
        if let Some(p) = product_from(f, &Product::default()) {
            out.push((p, format!("/product_tree/full_product_names/{i}/product_id")));
        }
    }
    for (i, r) in array(tree, "relationships").iter().enumerate() {
        if let Some(f) = r.get("full_product_name")
            && let Some(p) = product_from(f, &Product::default())
        {
            out.push((p, format!("/product_tree/relationships/{i}/full_product_name/product_id")));
        }
    }
    out
}

const STATUS_KEYS: [&str; 8] = [
    "first_affected",
    "first_fixed",
    "fixed",
    "known_affected",
    "known_not_affected",
    "last_affected",
    "recommended",
    "under_investigation",
];

/// Every product id reference outside the definitions, with its pointer (test 6.1.1's list).
pub(crate) fn referenced_ids(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut ids = |list: &[Value], base: String| {
        for (j, id) in list.iter().enumerate() {
            if let Some(s) = id.as_str() {
                out.push((s.to_string(), format!("{base}/{j}")));
            }
        }
    };
    if let Some(tree) = doc.get("product_tree") {
        for (i, g) in array(tree, "product_groups").iter().enumerate() {
            ids(array(g, "product_ids"), format!("/product_tree/product_groups/{i}/product_ids"));
        }
    }
    for (i, v) in array(doc, "vulnerabilities").iter().enumerate() {
        let base = format!("/vulnerabilities/{i}");
        if let Some(ps) = v.get("product_status") {
            for k in STATUS_KEYS {
                ids(array(ps, k), format!("{base}/product_status/{k}"));
            }
        }
        for (list, key) in [
            ("remediations", "product_ids"),
            ("scores", "products"),
            ("threats", "product_ids"),
            ("flags", "product_ids"),
        ] {
            for (k, item) in array(v, list).iter().enumerate() {
                ids(array(item, key), format!("{base}/{list}/{k}/{key}"));
            }
        }
    }
    if let Some(tree) = doc.get("product_tree") {
        for (i, r) in array(tree, "relationships").iter().enumerate() {
            for k in ["product_reference", "relates_to_product_reference"] {
                if let Some(s) = text(r, k) {
                    out.push((s.to_string(), format!("/product_tree/relationships/{i}/{k}")));
                }
            }
        }
    }
    out
}

/// Events of a `product_version_range` name: `vers:npm/>=1.0|<2.0` or a bare `<=9.1.5`.
/// `None` when a constraint cannot be said with OSV events (`>`, `!=`); the product then counts
/// as affected in all versions, the safe side of "am I affected?".
pub(crate) fn vers_events(range: &str) -> Option<(Vec<VersionEvent>, Vec<String>)> {
    let body = match range.trim().strip_prefix("vers:") {
        Some(r) => r.split_once('/')?.1,
        None => range.trim(),
    };
    let (mut events, mut exact) = (Vec::new(), Vec::new());
    for c in body.split('|').map(str::trim).filter(|c| !c.is_empty()) {
        let c = c.replace(' ', "");
        if c == "*" {
            events.push(VersionEvent::Introduced("0".into()));
        } else if let Some(v) = c.strip_prefix(">=") {
            events.push(VersionEvent::Introduced(v.into()));
        } else if let Some(v) = c.strip_prefix("<=") {
            events.push(VersionEvent::LastAffected(v.into()));
        } else if let Some(v) = c.strip_prefix('<') {
            events.push(VersionEvent::Fixed(v.into()));
        } else if c.starts_with('>') || c.starts_with("!=") {
            return None;
        } else {
            exact.push(c.trim_start_matches('=').to_string());
        }
    }
    if !events.is_empty() && !events.iter().any(|e| matches!(e, VersionEvent::Introduced(_))) {
        events.insert(0, VersionEvent::Introduced("0".into()));
    }
    Some((events, exact))
}

type GroupKey = (Option<String>, Option<String>, Option<String>, Option<String>);

fn group_key(p: &Product) -> GroupKey {
    let purl = p.purl.as_deref().and_then(Purl::parse).map(|x| x.base());
    let cpe = p.cpe.as_deref().and_then(Cpe::parse).map(|c| c.without_version());
    (p.vendor.clone(), p.name.clone(), purl, cpe)
}

fn product_version(p: &Product) -> Option<String> {
    p.version
        .clone()
        .or_else(|| p.purl.as_deref().and_then(Purl::parse).and_then(|x| x.version))
        .or_else(|| p.cpe.as_deref().and_then(Cpe::parse).and_then(|c| c.version))
}

/// Map the product status of all vulnerabilities to affected entries: one per product (vendor,
/// name, purl, CPE), listing known-affected versions, ranges from version ranges and
/// first/last-affected, and fixed versions as `fixed` events.
pub(crate) fn affected_entries(doc: &Value, products: &[(Product, String)]) -> Vec<Affected> {
    let by_id: BTreeMap<&str, &Product> = products.iter().map(|(p, _)| (p.id.as_str(), p)).collect();
    let mut groups: BTreeMap<GroupKey, Affected> = BTreeMap::new();
    let mut order: Vec<GroupKey> = Vec::new();
    let mut fixes: Vec<(GroupKey, String)> = Vec::new();
    for v in array(doc, "vulnerabilities") {
        let Some(ps) = v.get("product_status") else { continue };
        let ids = |k: &str| {
            array(ps, k).iter().filter_map(Value::as_str).filter_map(|id| by_id.get(id).copied()).collect::<Vec<_>>()
        };
        for (key, how) in [("known_affected", 0), ("first_affected", 1), ("last_affected", 2)] {
            for p in ids(key) {
                let k = group_key(p);
                let entry = groups.entry(k.clone()).or_insert_with(|| {
                    order.push(k.clone());
                    Affected {
                        purl: k.2.clone(),
                        cpe: k.3.clone(),
                        vendor: p.vendor.clone(),
                        product: p.name.clone(),
                        ..Affected::default()
                    }
                });
                if let Some(r) = &p.version_range {
                    if let Some((events, exact)) = vers_events(r) {
                        exact.iter().for_each(|e| push_unique(&mut entry.versions, e));
                        if !events.is_empty() {
                            entry.ranges.push(VersionRange { kind: RangeKind::Ecosystem, events });
                        }
                    }
                    continue;
                }
                let Some(ver) = product_version(p) else { continue };
                match how {
                    0 => push_unique(&mut entry.versions, &ver),
                    1 => entry
                        .ranges
                        .push(VersionRange { kind: RangeKind::Ecosystem, events: vec![VersionEvent::Introduced(ver)] }),
                    _ => entry.ranges.push(VersionRange {
                        kind: RangeKind::Ecosystem,
                        events: vec![VersionEvent::Introduced("0".into()), VersionEvent::LastAffected(ver)],
                    }),
                }
            }
        }
        for p in ids("fixed").into_iter().chain(ids("first_fixed")) {
            if let Some(ver) = product_version(p) {
                fixes.push((group_key(p), ver));
            }
        }
    }
    // A fix becomes a `fixed` event: closing the first-affected range if there is one, else a
    // range of its own that records the fix without adding affected versions.
    for (k, ver) in fixes {
        let Some(entry) = groups.get_mut(&k) else { continue };
        let ev = VersionEvent::Fixed(ver);
        if entry.ranges.iter().any(|r| r.events.contains(&ev)) {
            continue;
        }
        match entry
            .ranges
            .iter_mut()
            .find(|r| r.events.len() == 1 && matches!(r.events[0], VersionEvent::Introduced(_)))
        {
            Some(r) => r.events.push(ev),
            None => entry.ranges.push(VersionRange { kind: RangeKind::Ecosystem, events: vec![ev] }),
        }
    }
    order.into_iter().filter_map(|k| groups.remove(&k)).take(MAX_LIST).collect()
}
