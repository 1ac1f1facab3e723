//! CSAF 2.0 out. An advisory that came in as CSAF leaves as the very document it came in as
//! (its bytes are signed by the original publisher's process, and any regeneration would lose
//! fields the native model does not keep). Any other advisory is written as a new CSAF 2.0
//! document built to pass the schema and the mandatory tests: the Trellis publisher as
//! `publisher`, a revision history consistent with the tracking version, a product tree with
//! one vendor/product branch per affected entry (versions as `product_version`, ranges as
//! `product_version_range` in `vers:` notation, fixed versions as their own products), and one
//! vulnerability per CVE.

use serde_json::{Map, Value, json};

use crate::Tlp;
use crate::items::{Affected, Category, RangeKind, SourceFormat, VersionEvent};

use super::csaf::is_cve;
use super::cvss::{severity_name, v3_base_score_tenths};
use super::ident::{Cpe, Purl};
use super::time::format_rfc3339_ms;
use super::{ExportItem, push_unique};

/// The document for `item`: its CSAF source unchanged when it has one, else [`generate`]'s.
pub fn export(item: &ExportItem) -> Vec<u8> {
    match &item.advisory.source {
        Some(src) if src.format == SourceFormat::Csaf => src.bytes.clone(),
        _ => serde_json::to_vec_pretty(&generate(item)).unwrap_or_default(),
    }
}

fn tlp_label(t: Tlp) -> &'static str {
    // CSAF 2.0 predates TLP 2.0: CLEAR is written WHITE, and AMBER+STRICT (which has no CSAF 2.0
    // label) as AMBER with the strict label spelled out in the distribution text.
    match t {
        Tlp::Clear => "WHITE",
        Tlp::Green => "GREEN",
        Tlp::Amber | Tlp::AmberStrict => "AMBER",
        Tlp::Red => "RED",
    }
}

/// A version as it may appear in a CPE 2.3 field, or `*` when it has characters CPE escapes.
fn cpe_version(v: &str) -> &str {
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        v
    } else {
        "*"
    }
}

/// The `vers:` form of a range's events (`vers:npm/>=1.0.0|<1.4.1`).
fn vers(scheme: &str, events: &[VersionEvent]) -> String {
    let mut parts = Vec::new();
    for e in events {
        match e {
            VersionEvent::Introduced(v) if v == "0" => {}
            VersionEvent::Introduced(v) => parts.push(format!(">={v}")),
            VersionEvent::Fixed(v) | VersionEvent::Limit(v) => parts.push(format!("<{v}")),
            VersionEvent::LastAffected(v) => parts.push(format!("<={v}")),
        }
    }
    if parts.is_empty() {
        parts.push("*".into());
    }
    format!("vers:{scheme}/{}", parts.join("|"))
}

/// A product name and its leaf branches (versions and version ranges).
type ProductBranches = (String, Vec<Value>);

struct Tree {
    /// vendor → product → leaf branches, in first-seen order.
    vendors: Vec<(String, Vec<ProductBranches>)>,
    next_id: usize,
}

impl Tree {
    fn leaf(&mut self, vendor: &str, product: &str, branch: Value) {
        let v = match self.vendors.iter().position(|(n, _)| n == vendor) {
            Some(i) => i,
            None => {
                self.vendors.push((vendor.to_string(), Vec::new()));
                self.vendors.len() - 1
            }
        };
        let products = &mut self.vendors[v].1;
        match products.iter_mut().find(|(n, _)| n == product) {
            Some((_, leaves)) => leaves.push(branch),
            None => products.push((product.to_string(), vec![branch])),
        }
    }

    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("CSAFPID-{:04}", self.next_id)
    }

    fn to_json(&self) -> Value {
        let vendors: Vec<Value> = self
            .vendors
            .iter()
            .map(|(v, products)| {
                let products: Vec<Value> = products
                    .iter()
                    .map(|(p, leaves)| json!({"category": "product_name", "name": p, "branches": leaves}))
                    .collect();
                json!({"category": "vendor", "name": v, "branches": products})
            })
            .collect();
        json!({ "branches": vendors })
    }
}

/// Add the products of one affected entry; returns (known affected ids, fixed ids).
fn add_entry(tree: &mut Tree, a: &Affected) -> (Vec<String>, Vec<String>) {
    let purl = a.purl.as_deref().and_then(Purl::parse);
    let cpe = a.cpe.as_deref().and_then(Cpe::parse);
    let vendor = a
        .vendor
        .clone()
        .or_else(|| purl.as_ref().filter(|p| !p.namespace.is_empty()).map(|p| p.namespace.clone()))
        .or_else(|| cpe.as_ref().map(|c| c.vendor.clone()))
        .unwrap_or_else(|| purl.as_ref().map_or("Unknown vendor".into(), |p| p.kind.clone()));
    let product = a
        .product
        .clone()
        .or_else(|| purl.as_ref().map(|p| p.name.clone()))
        .or_else(|| cpe.as_ref().map(|c| c.product.clone()))
        .unwrap_or_else(|| "Unknown product".into());
    let scheme = purl.as_ref().map_or("generic", |p| p.kind.as_str()).to_string();
    let helper = |version: Option<&str>| -> Option<Value> {
        let mut h = Map::new();
        if let Some(p) = &purl {
            let at = version.map(|v| format!("@{}", v.replace('%', "%25").replace('@', "%40"))).unwrap_or_default();
            h.insert("purl".into(), json!(format!("{}{at}", p.base())));
        }
        if let Some(c) = &cpe {
            let v = version.map_or("*", cpe_version);
            h.insert("cpe".into(), json!(format!("cpe:2.3:{}:{}:{}:{v}:*:*:*:*:*:*:*", c.part, c.vendor, c.product)));
        }
        (!h.is_empty()).then_some(Value::Object(h))
    };
    let full = |tree: &mut Tree, label: &str, version: Option<&str>| -> (String, Value) {
        let id = tree.id();
        let mut p = json!({"name": format!("{vendor} {product} {label}"), "product_id": id});
        if let Some(h) = helper(version) {
            p["product_identification_helper"] = h;
        }
        (id, p)
    };
    let (mut affected, mut fixed) = (Vec::new(), Vec::new());
    for v in &a.versions {
        let (id, p) = full(tree, v, Some(v));
        tree.leaf(&vendor, &product, json!({"category": "product_version", "name": v, "product": p}));
        affected.push(id);
    }
    let mut fixed_versions: Vec<String> = Vec::new();
    for r in a.ranges.iter().filter(|r| r.kind != RangeKind::Git) {
        for e in &r.events {
            if let VersionEvent::Fixed(v) = e {
                push_unique(&mut fixed_versions, v);
            }
        }
        if !r.events.iter().any(|e| matches!(e, VersionEvent::Introduced(_))) {
            continue;
        }
        let range = vers(&scheme, &r.events);
        let (id, p) = full(tree, &range, None);
        tree.leaf(&vendor, &product, json!({"category": "product_version_range", "name": range, "product": p}));
        affected.push(id);
    }
    if affected.is_empty() {
        // Named without versions: every version (`vers:.../*`).
        let range = format!("vers:{scheme}/*");
        let (id, p) = full(tree, "(all versions)", None);
        tree.leaf(&vendor, &product, json!({"category": "product_version_range", "name": range, "product": p}));
        affected.push(id);
    }
    for v in fixed_versions.iter().filter(|v| !a.versions.contains(v)) {
        let (id, p) = full(tree, v, Some(v));
        tree.leaf(&vendor, &product, json!({"category": "product_version", "name": v, "product": p}));
        fixed.push(id);
    }
    (affected, fixed)
}

/// A new CSAF 2.0 document for `item`, whatever its source.
pub fn generate(item: &ExportItem) -> Value {
    let a = &item.advisory;
    let initial = if a.published_ms > 0 { a.published_ms } else { item.received_ms };
    let current = a.updated_ms.max(initial);
    let mut revisions = vec![json!({"date": format_rfc3339_ms(initial), "number": "1", "summary": "Initial version."})];
    if current > initial {
        revisions.push(json!({"date": format_rfc3339_ms(current), "number": "2", "summary": "Updated."}));
    }
    let tracking_id = Some(a.reference_id.trim())
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("TRELLIS-{}", item.id.chars().take(16).collect::<String>()));
    let mut tree = Tree { vendors: Vec::new(), next_id: 0 };
    let (mut known, mut fixed) = (Vec::new(), Vec::new());
    for entry in &a.affected {
        let (k, f) = add_entry(&mut tree, entry);
        known.extend(k);
        fixed.extend(f);
    }
    let is_advisory = a.category == Category::Vulnerability && !known.is_empty();
    let mut notes = Vec::new();
    if !a.summary.trim().is_empty() {
        notes.push(json!({"category": "summary", "title": "Summary", "text": a.summary}));
    }
    if let Some(r) = a.remediation.as_deref().filter(|r| !r.trim().is_empty())
        && known.is_empty()
    {
        notes.push(json!({"category": "general", "title": "Remediation", "text": r}));
    }
    let strict = if item.tlp == Tlp::AmberStrict {
        " (TLP:AMBER+STRICT: share within the recipient organization only)"
    } else {
        ""
    };
    let mut document = json!({
        "category": if is_advisory { "csaf_security_advisory" } else { "csaf_base" },
        "csaf_version": "2.0",
        "distribution": {
            "text": format!("Shared through Trellis under {}{strict}.", item.tlp.label()),
            "tlp": {"label": tlp_label(item.tlp), "url": "https://www.first.org/tlp/"}
        },
        "lang": "en",
        "publisher": {
            "category": "other",
            "name": if item.publisher_name.trim().is_empty() { "Unknown publisher" } else { item.publisher_name.trim() },
            "namespace": format!("urn:trellis:org:{}", item.publisher_id),
        },
        "title": a.title,
        "tracking": {
            "current_release_date": format_rfc3339_ms(current),
            "generator": {"engine": {"name": "Trellis", "version": env!("CARGO_PKG_VERSION")}},
            "id": tracking_id,
            "initial_release_date": format_rfc3339_ms(initial),
            "revision_history": revisions,
            "status": "final",
            "version": if current > initial { "2" } else { "1" },
        }
    });
    if !notes.is_empty() {
        document["notes"] = json!(notes);
    }
    // Only absolute URIs: the schema's `url` is format "uri".
    let refs: Vec<Value> = a
        .references
        .iter()
        .filter(|u| {
            u.split_once(':').is_some_and(|(s, rest)| {
                !s.is_empty()
                    && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
                    && !rest.is_empty()
                    && !u.contains(' ')
            })
        })
        .map(|u| json!({"category": "external", "summary": u, "url": u}))
        .collect();
    if !refs.is_empty() {
        document["references"] = json!(refs);
    }
    let mut doc = json!({ "document": document });
    if !tree.vendors.is_empty() {
        doc["product_tree"] = tree.to_json();
    }
    let vulns = vulnerabilities(item, &known, &fixed);
    if !vulns.is_empty() {
        doc["vulnerabilities"] = json!(vulns);
    }
    doc
}

fn vulnerabilities(item: &ExportItem, known: &[String], fixed: &[String]) -> Vec<Value> {
    let a = &item.advisory;
    let mut cves = Vec::new();
    for c in a.aliases.iter().filter(|c| is_cve(c)) {
        push_unique(&mut cves, c);
    }
    let others: Vec<Value> = a
        .aliases
        .iter()
        .chain(std::iter::once(&a.reference_id))
        .filter(|x| !x.trim().is_empty() && !is_cve(x))
        .map(|x| json!({"system_name": x.split('-').next().unwrap_or(x), "text": x}))
        .collect();
    if cves.is_empty() && known.is_empty() {
        return Vec::new();
    }
    let mut base = Map::new();
    let text = if a.summary.trim().is_empty() { &a.title } else { &a.summary };
    base.insert("notes".into(), json!([{"category": "description", "title": "Description", "text": text}]));
    if !others.is_empty() {
        base.insert("ids".into(), json!(others));
    }
    if !known.is_empty() {
        let mut status = json!({ "known_affected": known });
        if !fixed.is_empty() {
            status["fixed"] = json!(fixed);
        }
        base.insert("product_status".into(), status);
        if let Some(r) = a.remediation.as_deref().filter(|r| !r.trim().is_empty()) {
            let category = if fixed.is_empty() { "mitigation" } else { "vendor_fix" };
            base.insert("remediations".into(), json!([{"category": category, "details": r, "product_ids": known}]));
        }
        if let Some(s) = &a.severity
            && let Some(v) = &s.vector
            && let Some(t) = v3_base_score_tenths(v)
        {
            let version = if v.starts_with("CVSS:3.0") { "3.0" } else { "3.1" };
            base.insert(
                "scores".into(),
                json!([{"products": known, "cvss_v3": {
                    "version": version, "vectorString": v,
                    "baseScore": f64::from(t) / 10.0, "baseSeverity": severity_name(t)}}]),
            );
        }
    }
    if cves.is_empty() {
        return vec![Value::Object(base)];
    }
    cves.iter()
        .map(|c| {
            let mut v = base.clone();
            v.insert("cve".into(), json!(c));
            Value::Object(v)
        })
        .collect()
}
