//! CSAF 2.0 mandatory tests (section 6.1 of the standard) beyond the basics `csaf::validate`
//! checks itself (6.1.1, 6.1.2 and the v3 base score of 6.1.9). A document that fails one may
//! not be published, so the import refuses it and a receiver drops it. Each problem names the
//! test by number and title and says what failed, at the JSON pointer of the offending value.
//!
//! Tests run: 6.1.3–6.1.10, 6.1.11 (against the CWE catalogue's ids and names, carried in
//! `cwe-names.tsv`), 6.1.12–6.1.33 including the profile tests 6.1.27.1–6.1.27.11.
//! Every walk is bounded by the document's size: each list is visited once, the relationship
//! graph of 6.1.3 with a visited set.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::cvss::v3_base_score_tenths;
use super::ident::Purl;
use super::time::parse_rfc3339_ms;
use super::version::Semver;
use super::{Problem, array, text};

fn fail(path: impl Into<String>, test: &str, title: &str, what: impl std::fmt::Display) -> Problem {
    Problem::new(path, format!("{test} {title}: {what}"))
}

/// Every failure of the mandatory tests this module runs, in document order per test.
pub fn mandatory_tests(doc: &Value) -> Vec<Problem> {
    let mut p = Vec::new();
    if !doc.is_object() {
        return p;
    }
    circular_products(doc, &mut p);
    product_groups(doc, &mut p);
    product_status(doc, &mut p);
    cvss(doc, &mut p);
    cwe(doc, &mut p);
    languages(doc, &mut p);
    helpers(doc, &mut p);
    revision_history(doc, &mut p);
    vulnerability_lists(doc, &mut p);
    category_name(doc, &mut p);
    profiles(doc, &mut p);
    version_ranges(doc, &mut p);
    p
}

/// Group id → its product ids.
fn groups(doc: &Value) -> HashMap<String, Vec<String>> {
    let mut m = HashMap::new();
    if let Some(tree) = doc.get("product_tree") {
        for g in array(tree, "product_groups") {
            if let Some(id) = text(g, "group_id") {
                let ids = array(g, "product_ids").iter().filter_map(Value::as_str).map(str::to_string).collect();
                m.entry(id.to_string()).or_insert(ids);
            }
        }
    }
    m
}

fn strs(v: &Value, key: &str) -> Vec<String> {
    array(v, key).iter().filter_map(Value::as_str).map(str::to_string).collect()
}

/// The products an item names directly (`product_ids`) and through its `group_ids`.
fn products_of(item: &Value, groups: &HashMap<String, Vec<String>>) -> Vec<String> {
    let mut out = strs(item, "product_ids");
    for g in strs(item, "group_ids") {
        if let Some(ids) = groups.get(&g) {
            out.extend(ids.iter().cloned());
        }
    }
    out
}

/// 6.1.3: a relationship must not define a product in terms of itself, directly or through
/// other relationships.
fn circular_products(doc: &Value, p: &mut Vec<Problem>) {
    let rels = doc.get("product_tree").map(|t| array(t, "relationships")).unwrap_or(&[]);
    let mut edges: HashMap<&str, Vec<&str>> = HashMap::new();
    for r in rels {
        if let Some(id) = r.pointer("/full_product_name/product_id").and_then(Value::as_str) {
            let e = edges.entry(id).or_default();
            e.extend(["product_reference", "relates_to_product_reference"].iter().filter_map(|k| text(r, k)));
        }
    }
    for (i, r) in rels.iter().enumerate() {
        let Some(id) = r.pointer("/full_product_name/product_id").and_then(Value::as_str) else { continue };
        for k in ["product_reference", "relates_to_product_reference"] {
            let Some(start) = text(r, k) else { continue };
            let mut seen = HashSet::new();
            let mut stack = vec![start];
            let mut circular = false;
            while let Some(n) = stack.pop() {
                if n == id {
                    circular = true;
                    break;
                }
                if seen.insert(n) {
                    stack.extend(edges.get(n).into_iter().flatten().copied());
                }
            }
            if circular {
                p.push(fail(
                    format!("/product_tree/relationships/{i}/{k}"),
                    "6.1.3",
                    "(Circular Definition of Product ID)",
                    format!("product {id:?} is defined in terms of itself"),
                ));
            }
        }
    }
}

/// 6.1.4 (every group id used is defined) and 6.1.5 (none is defined twice).
fn product_groups(doc: &Value, p: &mut Vec<Problem>) {
    let mut defined = HashSet::new();
    if let Some(tree) = doc.get("product_tree") {
        for (i, g) in array(tree, "product_groups").iter().enumerate() {
            if let Some(id) = text(g, "group_id")
                && !defined.insert(id)
            {
                p.push(fail(
                    format!("/product_tree/product_groups/{i}/group_id"),
                    "6.1.5",
                    "(Multiple Definition of Product Group ID)",
                    format!("group id {id:?} is defined more than once"),
                ));
            }
        }
    }
    for (i, v) in array(doc, "vulnerabilities").iter().enumerate() {
        for list in ["remediations", "threats", "flags"] {
            for (k, item) in array(v, list).iter().enumerate() {
                for (j, g) in array(item, "group_ids").iter().enumerate() {
                    if let Some(g) = g.as_str()
                        && !defined.contains(g)
                    {
                        p.push(fail(
                            format!("/vulnerabilities/{i}/{list}/{k}/group_ids/{j}"),
                            "6.1.4",
                            "(Missing Definition of Product Group ID)",
                            format!("group id {g:?} is not defined in /product_tree/product_groups"),
                        ));
                    }
                }
            }
        }
    }
}

/// 6.1.6: one product is not in two contradicting status groups (affected, not affected,
/// fixed, under investigation) of one vulnerability.
fn product_status(doc: &Value, p: &mut Vec<Problem>) {
    const GROUPS: [(&str, &[&str]); 4] = [
        ("affected", &["first_affected", "known_affected", "last_affected"]),
        ("not affected", &["known_not_affected"]),
        ("fixed", &["first_fixed", "fixed"]),
        ("under investigation", &["under_investigation"]),
    ];
    for (i, v) in array(doc, "vulnerabilities").iter().enumerate() {
        let Some(ps) = v.get("product_status") else { continue };
        let mut seen: HashMap<String, &str> = HashMap::new();
        for (group, keys) in GROUPS {
            let mut here = HashSet::new();
            for k in keys {
                for (j, id) in array(ps, k).iter().enumerate() {
                    let Some(id) = id.as_str() else { continue };
                    if !here.insert(id) {
                        continue;
                    }
                    if let Some(other) = seen.get(id) {
                        p.push(fail(
                            format!("/vulnerabilities/{i}/product_status/{k}/{j}"),
                            "6.1.6",
                            "(Contradicting Product Status)",
                            format!("product {id:?} is both {other} and {group}"),
                        ));
                    } else {
                        seen.insert(id.to_string(), group);
                    }
                }
            }
        }
    }
}

/// A vector metric: its abbreviation, the CSAF property that spells it out, and its values
/// (abbreviated, spelt out).
type Metric = (&'static str, &'static str, &'static [(&'static str, &'static str)]);

const V3_NAMES: [Metric; 22] = [
    ("AV", "attackVector", &[("N", "NETWORK"), ("A", "ADJACENT_NETWORK"), ("L", "LOCAL"), ("P", "PHYSICAL")]),
    ("AC", "attackComplexity", &[("L", "LOW"), ("H", "HIGH")]),
    ("PR", "privilegesRequired", &[("N", "NONE"), ("L", "LOW"), ("H", "HIGH")]),
    ("UI", "userInteraction", &[("N", "NONE"), ("R", "REQUIRED")]),
    ("S", "scope", &[("U", "UNCHANGED"), ("C", "CHANGED")]),
    ("C", "confidentialityImpact", &[("N", "NONE"), ("L", "LOW"), ("H", "HIGH")]),
    ("I", "integrityImpact", &[("N", "NONE"), ("L", "LOW"), ("H", "HIGH")]),
    ("A", "availabilityImpact", &[("N", "NONE"), ("L", "LOW"), ("H", "HIGH")]),
    (
        "E",
        "exploitCodeMaturity",
        &[("X", "NOT_DEFINED"), ("U", "UNPROVEN"), ("P", "PROOF_OF_CONCEPT"), ("F", "FUNCTIONAL"), ("H", "HIGH")],
    ),
    (
        "RL",
        "remediationLevel",
        &[
            ("X", "NOT_DEFINED"),
            ("O", "OFFICIAL_FIX"),
            ("T", "TEMPORARY_FIX"),
            ("W", "WORKAROUND"),
            ("U", "UNAVAILABLE"),
        ],
    ),
    ("RC", "reportConfidence", &[("X", "NOT_DEFINED"), ("U", "UNKNOWN"), ("R", "REASONABLE"), ("C", "CONFIRMED")]),
    ("CR", "confidentialityRequirement", &[("X", "NOT_DEFINED"), ("L", "LOW"), ("M", "MEDIUM"), ("H", "HIGH")]),
    ("IR", "integrityRequirement", &[("X", "NOT_DEFINED"), ("L", "LOW"), ("M", "MEDIUM"), ("H", "HIGH")]),
    ("AR", "availabilityRequirement", &[("X", "NOT_DEFINED"), ("L", "LOW"), ("M", "MEDIUM"), ("H", "HIGH")]),
    (
        "MAV",
        "modifiedAttackVector",
        &[("X", "NOT_DEFINED"), ("N", "NETWORK"), ("A", "ADJACENT_NETWORK"), ("L", "LOCAL"), ("P", "PHYSICAL")],
    ),
    ("MAC", "modifiedAttackComplexity", &[("X", "NOT_DEFINED"), ("L", "LOW"), ("H", "HIGH")]),
    ("MPR", "modifiedPrivilegesRequired", &[("X", "NOT_DEFINED"), ("N", "NONE"), ("L", "LOW"), ("H", "HIGH")]),
    ("MUI", "modifiedUserInteraction", &[("X", "NOT_DEFINED"), ("N", "NONE"), ("R", "REQUIRED")]),
    ("MS", "modifiedScope", &[("X", "NOT_DEFINED"), ("U", "UNCHANGED"), ("C", "CHANGED")]),
    ("MC", "modifiedConfidentialityImpact", &[("X", "NOT_DEFINED"), ("N", "NONE"), ("L", "LOW"), ("H", "HIGH")]),
    ("MI", "modifiedIntegrityImpact", &[("X", "NOT_DEFINED"), ("N", "NONE"), ("L", "LOW"), ("H", "HIGH")]),
    ("MA", "modifiedAvailabilityImpact", &[("X", "NOT_DEFINED"), ("N", "NONE"), ("L", "LOW"), ("H", "HIGH")]),
];

const V2_NAMES: [Metric; 14] = [
    ("AV", "accessVector", &[("L", "LOCAL"), ("A", "ADJACENT_NETWORK"), ("N", "NETWORK")]),
    ("AC", "accessComplexity", &[("H", "HIGH"), ("M", "MEDIUM"), ("L", "LOW")]),
    ("Au", "authentication", &[("M", "MULTIPLE"), ("S", "SINGLE"), ("N", "NONE")]),
    ("C", "confidentialityImpact", &[("N", "NONE"), ("P", "PARTIAL"), ("C", "COMPLETE")]),
    ("I", "integrityImpact", &[("N", "NONE"), ("P", "PARTIAL"), ("C", "COMPLETE")]),
    ("A", "availabilityImpact", &[("N", "NONE"), ("P", "PARTIAL"), ("C", "COMPLETE")]),
    (
        "E",
        "exploitability",
        &[("U", "UNPROVEN"), ("POC", "PROOF_OF_CONCEPT"), ("F", "FUNCTIONAL"), ("H", "HIGH"), ("ND", "NOT_DEFINED")],
    ),
    (
        "RL",
        "remediationLevel",
        &[
            ("OF", "OFFICIAL_FIX"),
            ("TF", "TEMPORARY_FIX"),
            ("W", "WORKAROUND"),
            ("U", "UNAVAILABLE"),
            ("ND", "NOT_DEFINED"),
        ],
    ),
    (
        "RC",
        "reportConfidence",
        &[("UC", "UNCONFIRMED"), ("UR", "UNCORROBORATED"), ("C", "CONFIRMED"), ("ND", "NOT_DEFINED")],
    ),
    (
        "CDP",
        "collateralDamagePotential",
        &[
            ("N", "NONE"),
            ("L", "LOW"),
            ("LM", "LOW_MEDIUM"),
            ("MH", "MEDIUM_HIGH"),
            ("H", "HIGH"),
            ("ND", "NOT_DEFINED"),
        ],
    ),
    ("TD", "targetDistribution", &[("N", "NONE"), ("L", "LOW"), ("M", "MEDIUM"), ("H", "HIGH"), ("ND", "NOT_DEFINED")]),
    ("CR", "confidentialityRequirement", &[("L", "LOW"), ("M", "MEDIUM"), ("H", "HIGH"), ("ND", "NOT_DEFINED")]),
    ("IR", "integrityRequirement", &[("L", "LOW"), ("M", "MEDIUM"), ("H", "HIGH"), ("ND", "NOT_DEFINED")]),
    ("AR", "availabilityRequirement", &[("L", "LOW"), ("M", "MEDIUM"), ("H", "HIGH"), ("ND", "NOT_DEFINED")]),
];

/// The metrics of a vector, in order, or `None` if a metric is unknown, repeated or has a value
/// outside its set, or a base metric is missing.
fn vector_metrics<'a>(
    metrics: impl Iterator<Item = &'a str>,
    table: &[Metric],
    base: usize,
) -> Option<HashMap<&'a str, &'a str>> {
    let mut m = HashMap::new();
    for part in metrics {
        let (k, v) = part.split_once(':')?;
        let (_, _, values) = table.iter().find(|(key, _, _)| *key == k)?;
        values.iter().find(|(short, _)| *short == v)?;
        if m.insert(k, v).is_some() {
            return None;
        }
    }
    table[..base].iter().all(|(k, _, _)| m.contains_key(k)).then_some(m)
}

/// The CVSS v2 base score in tenths.
fn v2_base_tenths(m: &HashMap<&str, &str>) -> Option<i64> {
    let av = match *m.get("AV")? {
        "L" => 0.395,
        "A" => 0.646,
        _ => 1.0,
    };
    let ac = match *m.get("AC")? {
        "H" => 0.35,
        "M" => 0.61,
        _ => 0.71,
    };
    let au = match *m.get("Au")? {
        "M" => 0.45,
        "S" => 0.56,
        _ => 0.704,
    };
    let cia = |k: &str| match m.get(k).copied() {
        Some("P") => 0.275,
        Some("C") => 0.660,
        _ => 0.0,
    };
    let impact = 10.41 * (1.0 - (1.0 - cia("C")) * (1.0 - cia("I")) * (1.0 - cia("A")));
    let exploitability = 20.0 * av * ac * au;
    let f = if impact == 0.0 { 0.0 } else { 1.176 };
    let score: f64 = (0.6 * impact + 0.4 * exploitability - 1.5) * f;
    Some((score * 10.0).round() as i64)
}

fn v3_severity(tenths: i64) -> &'static str {
    match tenths {
        0 => "NONE",
        1..=39 => "LOW",
        40..=69 => "MEDIUM",
        70..=89 => "HIGH",
        _ => "CRITICAL",
    }
}

/// 6.1.7 (one score per CVSS version and product), 6.1.8 (a CVSS object is valid), 6.1.9 (its
/// base score and severity are the vector's), 6.1.10 (its named properties agree with the vector).
fn cvss(doc: &Value, p: &mut Vec<Problem>) {
    for (i, v) in array(doc, "vulnerabilities").iter().enumerate() {
        let mut scored: HashSet<(String, String)> = HashSet::new();
        for (k, s) in array(v, "scores").iter().enumerate() {
            let base = format!("/vulnerabilities/{i}/scores/{k}");
            for (key, c) in [("cvss_v2", s.get("cvss_v2")), ("cvss_v3", s.get("cvss_v3"))] {
                let Some(c) = c else { continue };
                let at = format!("{base}/{key}");
                let version = text(c, "version");
                if let Some(version) = version {
                    for (j, prod) in strs(s, "products").into_iter().enumerate() {
                        if !scored.insert((prod.clone(), version.to_string())) {
                            p.push(fail(
                                format!("{base}/products/{j}"),
                                "6.1.7",
                                "(Multiple Scores with same Version per Product)",
                                format!("product {prod:?} already has a CVSS {version} score in this vulnerability"),
                            ));
                        }
                    }
                }
                let invalid = |what: String| fail(at.clone(), "6.1.8", "(Invalid CVSS)", what);
                let v3 = key == "cvss_v3";
                let mut required = vec!["version", "vectorString", "baseScore"];
                if v3 {
                    required.push("baseSeverity");
                }
                let missing: Vec<&str> = required.iter().copied().filter(|r| c.get(*r).is_none()).collect();
                if !missing.is_empty() {
                    p.push(invalid(format!("required {} missing", missing.join(", "))));
                    continue;
                }
                let versions: &[&str] = if v3 { &["3.0", "3.1"] } else { &["2.0"] };
                let Some(version) = version.filter(|v| versions.contains(v)) else {
                    p.push(invalid(format!("version {} is not one of {versions:?}", c["version"])));
                    continue;
                };
                let Some(score) = c["baseScore"].as_f64().filter(|s| (0.0..=10.0).contains(s)) else {
                    p.push(invalid(format!("baseScore {} is not a number from 0 to 10", c["baseScore"])));
                    continue;
                };
                let vector = text(c, "vectorString").unwrap_or_default();
                let (table, metrics): (&[Metric], _) = if v3 {
                    let rest = vector.strip_prefix(&format!("CVSS:{version}/"));
                    (&V3_NAMES, rest.and_then(|r| vector_metrics(r.split('/'), &V3_NAMES, 8)))
                } else {
                    (&V2_NAMES, vector_metrics(vector.split('/'), &V2_NAMES, 6))
                };
                let Some(metrics) = metrics else {
                    p.push(invalid(format!("vectorString {vector:?} is not a CVSS {version} vector")));
                    continue;
                };
                if v3 {
                    let sev = text(c, "baseSeverity").unwrap_or_default();
                    if !["NONE", "LOW", "MEDIUM", "HIGH", "CRITICAL"].contains(&sev) {
                        p.push(invalid(format!("baseSeverity {sev:?} is not a CVSS v3 severity")));
                        continue;
                    }
                }
                let given = (score * 10.0).round() as i64;
                let computed = if v3 { v3_base_score_tenths(vector).map(i64::from) } else { v2_base_tenths(&metrics) };
                // (The v3 base score itself is checked with the basics, in `csaf::validate`.)
                if !v3 && let Some(t) = computed.filter(|t| *t != given) {
                    p.push(fail(
                        format!("{at}/baseScore"),
                        "6.1.9",
                        "(Invalid CVSS computation)",
                        format!("{score} is not the base score of {vector} ({})", t as f64 / 10.0),
                    ));
                }
                if v3 && let Some(t) = computed {
                    let sev = text(c, "baseSeverity").unwrap_or_default();
                    if sev != v3_severity(t) {
                        p.push(fail(
                            format!("{at}/baseSeverity"),
                            "6.1.9",
                            "(Invalid CVSS computation)",
                            format!("{sev} is not the severity of base score {} ({})", t as f64 / 10.0, v3_severity(t)),
                        ));
                    }
                }
                for (short, name, values) in table {
                    let Some(given) = text(c, name) else { continue };
                    let expected = match metrics.get(short) {
                        Some(val) => values.iter().find(|(s, _)| s == val).map(|(_, long)| *long),
                        None => Some("NOT_DEFINED"),
                    };
                    if expected != Some(given) {
                        p.push(fail(
                            format!("{at}/{name}"),
                            "6.1.10",
                            "(Inconsistent CVSS)",
                            format!("{given} disagrees with the vector ({})", expected.unwrap_or("absent")),
                        ));
                    }
                }
            }
        }
    }
}

/// The CWE catalogue as 6.1.11 needs it: every id with every name it has had (CWE 1.0 to the
/// version named in the table's header), from `cwe-names.tsv`, read once.
fn cwe_names() -> &'static HashMap<u32, Vec<&'static str>> {
    static TABLE: std::sync::OnceLock<HashMap<u32, Vec<&'static str>>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut m: HashMap<u32, Vec<&'static str>> = HashMap::new();
        for line in include_str!("cwe-names.tsv").lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            if let Some((id, name)) = line.split_once('\t')
                && let Ok(id) = id.parse()
            {
                m.entry(id).or_default().push(name);
            }
        }
        m
    })
}

/// 6.1.11: a CWE id has the form `CWE-<n>`, names a weakness of the CWE catalogue, and the name
/// given is one that weakness has had (documents written against an older CWE version keep
/// their names).
fn cwe(doc: &Value, p: &mut Vec<Problem>) {
    for (i, v) in array(doc, "vulnerabilities").iter().enumerate() {
        let Some(id) = v.pointer("/cwe/id").and_then(Value::as_str) else { continue };
        let n = id.strip_prefix("CWE-").unwrap_or("");
        let ok = !n.is_empty() && n.len() <= 6 && !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit());
        if !ok {
            p.push(fail(format!("/vulnerabilities/{i}/cwe/id"), "6.1.11", "(CWE)", format!("{id:?} is not a CWE id")));
            continue;
        }
        let Some(names) = n.parse::<u32>().ok().and_then(|n| cwe_names().get(&n)) else {
            p.push(fail(
                format!("/vulnerabilities/{i}/cwe/id"),
                "6.1.11",
                "(CWE)",
                format!("{id} is not a weakness of the CWE catalogue"),
            ));
            continue;
        };
        let name = v.pointer("/cwe/name").and_then(Value::as_str).unwrap_or("");
        if !names.contains(&name) {
            p.push(fail(
                format!("/vulnerabilities/{i}/cwe/name"),
                "6.1.11",
                "(CWE)",
                format!("{name:?} is not the name of {id}, which is {:?}", names.last().copied().unwrap_or("")),
            ));
        }
    }
}

/// ISO 639-1: the two-letter primary language subtags of BCP 47 (IANA registry, including the
/// deprecated `in`, `iw`, `ji`, `jw`, `mo`, `sh`).
const ISO_639_1: &str = "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy \
da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik \
in io is it iu iw ja ji jv jw ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml \
mn mo mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg sh \
si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo \
za zh zu";

/// A BCP 47 language tag: language (a registered two-letter code, or three letters, or a
/// private-use tag), then script, region, variants, extensions and private use in their forms.
fn is_language_tag(tag: &str) -> bool {
    let lower = tag.to_ascii_lowercase();
    if lower == "i-default" || lower.starts_with("x-") {
        return lower.len() > 2 && lower.split('-').skip(1).all(|s| (1..=8).contains(&s.len()));
    }
    let mut parts = lower.split('-').peekable();
    let Some(lang) = parts.next() else { return false };
    let alpha = |s: &str| s.bytes().all(|b| b.is_ascii_lowercase());
    let ok_lang = match lang.len() {
        2 => ISO_639_1.split(' ').any(|c| c == lang),
        3 => alpha(lang),
        5..=8 => alpha(lang),
        _ => false,
    };
    if !ok_lang {
        return false;
    }
    let alnum = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric());
    let mut stage = 0; // 0 extlang/script, 1 region, 2 variants, 3 extensions
    while let Some(s) = parts.next() {
        if s.len() == 1 {
            // An extension or private use: at least one 2-8 (private use 1-8) subtag follows.
            let min = if s == "x" { 1 } else { 2 };
            let mut n = 0;
            while parts.peek().is_some_and(|t| t.len() > 1 || s == "x") {
                let t = parts.next().unwrap_or_default();
                if !(min..=8).contains(&t.len()) || !alnum(t) {
                    return false;
                }
                n += 1;
            }
            if n == 0 {
                return false;
            }
            stage = 3;
            continue;
        }
        if stage == 3 {
            return false;
        }
        match s.len() {
            3 if stage == 0 && alpha(s) => {} // an extended language subtag
            4 if stage == 0 && alpha(s) => stage = 1,
            2 if stage <= 1 && alpha(s) => stage = 2,
            3 if stage <= 1 && s.bytes().all(|b| b.is_ascii_digit()) => stage = 2,
            5..=8 if alnum(s) => stage = 2,
            4 if s.as_bytes()[0].is_ascii_digit() && alnum(s) => stage = 2,
            _ => return false,
        }
    }
    true
}

/// 6.1.12 (lang and source_lang are language tags), 6.1.15 (a translator names the source
/// language) and 6.1.28 (a translation's language differs from its source's).
fn languages(doc: &Value, p: &mut Vec<Problem>) {
    for k in ["lang", "source_lang"] {
        if let Some(l) = doc.pointer(&format!("/document/{k}")).and_then(Value::as_str)
            && !is_language_tag(l)
        {
            p.push(fail(format!("/document/{k}"), "6.1.12", "(Language)", format!("{l:?} is not a language tag")));
        }
    }
    let lang = doc.pointer("/document/lang").and_then(Value::as_str);
    let source = doc.pointer("/document/source_lang").and_then(Value::as_str);
    if doc.pointer("/document/publisher/category").and_then(Value::as_str) == Some("translator") && source.is_none() {
        p.push(fail(
            "/document/source_lang",
            "6.1.15",
            "(Translator)",
            "the publisher is a translator, so the source language must be given",
        ));
    }
    if let (Some(l), Some(s)) = (lang, source)
        && l.eq_ignore_ascii_case(s)
    {
        p.push(fail("/document/lang", "6.1.28", "(Translation)", format!("lang and source_lang are both {l:?}")));
    }
}

/// Every `product_identification_helper` of the product tree, with its pointer.
fn helper_objects<'a>(v: &'a Value, at: String, depth: usize, out: &mut Vec<(&'a Value, String)>) {
    if depth > 64 {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                if k == "product_identification_helper" {
                    out.push((x, here));
                } else {
                    helper_objects(x, here, depth + 1, out);
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                helper_objects(x, format!("{at}/{i}"), depth + 1, out);
            }
        }
        _ => {}
    }
}

/// Package types whose purl must carry a namespace (the purl specification's type rules).
const PURL_NAMESPACE_REQUIRED: [&str; 6] = ["maven", "golang", "composer", "alpm", "apk", "deb"];

/// 6.1.13 (purls are valid) and 6.1.25 (one hash per algorithm per file).
fn helpers(doc: &Value, p: &mut Vec<Problem>) {
    let Some(tree) = doc.get("product_tree") else { return };
    let mut found = Vec::new();
    helper_objects(tree, "/product_tree".into(), 0, &mut found);
    for (h, at) in found {
        if let Some(purl) = h.get("purl") {
            let s = purl.as_str().unwrap_or_default();
            let why = match Purl::parse(s) {
                None => Some("not a package URL".to_string()),
                Some(u) if u.name.is_empty() => Some("the name is empty".to_string()),
                Some(u) if u.namespace.is_empty() && PURL_NAMESPACE_REQUIRED.contains(&u.kind.as_str()) => {
                    Some(format!("a {} package URL needs a namespace", u.kind))
                }
                Some(_) => None,
            };
            if let Some(why) = why {
                p.push(fail(format!("{at}/purl"), "6.1.13", "(PURL)", format!("{s:?}: {why}")));
            }
        }
        for (i, hash) in array(h, "hashes").iter().enumerate() {
            let mut algs = HashSet::new();
            for (j, fh) in array(hash, "file_hashes").iter().enumerate() {
                if let Some(a) = text(fh, "algorithm")
                    && !algs.insert(a.to_ascii_lowercase())
                {
                    p.push(fail(
                        format!("{at}/hashes/{i}/file_hashes/{j}/algorithm"),
                        "6.1.25",
                        "(Multiple Use of Same Hash Algorithm)",
                        format!("{a} is given twice for this file"),
                    ));
                }
            }
        }
    }
}

/// A CSAF version: an integer, or a semantic version (with its pre-release and build parts).
#[derive(Clone, Debug)]
enum Ver {
    Int(u64),
    Sem { major: u64, minor: u64, patch: u64, pre: Option<String> },
}

impl Ver {
    fn parse(s: &str) -> Option<Ver> {
        let num = |t: &str| {
            (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) && (t == "0" || !t.starts_with('0')))
                .then(|| t.parse().ok())
                .flatten()
        };
        if let Some(n) = num(s) {
            return Some(Ver::Int(n));
        }
        let (rest, build) = match s.split_once('+') {
            Some((r, b)) => (r, Some(b)),
            None => (s, None),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((c, p)) => (c, Some(p.to_string())),
            None => (rest, None),
        };
        let ids_ok =
            |t: &str| t.split('.').all(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        if pre.as_deref().is_some_and(|p| !ids_ok(p)) || build.is_some_and(|b| !ids_ok(b)) {
            return None;
        }
        let mut c = core.split('.');
        let (major, minor, patch) = (num(c.next()?)?, num(c.next()?)?, num(c.next()?)?);
        c.next().is_none().then_some(Ver::Sem { major, minor, patch, pre })
    }

    fn major(&self) -> u64 {
        match self {
            Ver::Int(n) => *n,
            Ver::Sem { major, .. } => *major,
        }
    }

    fn has_pre(&self) -> bool {
        matches!(self, Ver::Sem { pre: Some(_), .. })
    }

    /// Precedence; build metadata never counts. Integers and semantic versions do not compare.
    fn cmp(&self, other: &Ver) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Ver::Int(a), Ver::Int(b)) => Some(a.cmp(b)),
            (Ver::Sem { .. }, Ver::Sem { .. }) => Some(self.semver()?.cmp(&other.semver()?)),
            _ => None,
        }
    }

    fn semver(&self) -> Option<Semver> {
        match self {
            Ver::Sem { major, minor, patch, pre, .. } => {
                let pre = pre.as_ref().map(|p| format!("-{p}")).unwrap_or_default();
                Semver::parse(&format!("{major}.{minor}.{patch}{pre}"))
            }
            Ver::Int(_) => None,
        }
    }

    /// Equal for 6.1.16: build metadata ignored, and the pre-release too when asked.
    fn same(&self, other: &Ver, ignore_pre: bool) -> bool {
        match (self, other) {
            (Ver::Int(a), Ver::Int(b)) => a == b,
            (
                Ver::Sem { major: a, minor: b, patch: c, pre: x, .. },
                Ver::Sem { major: d, minor: e, patch: f, pre: y, .. },
            ) => (a, b, c) == (d, e, f) && (ignore_pre || x == y),
            _ => false,
        }
    }

    fn is_zero_major(&self) -> bool {
        self.major() == 0
    }
}

/// A date-time as (Unix milliseconds, the nanoseconds below the millisecond): revisions may be
/// written a fraction of a millisecond apart, and their order still counts.
fn precise_date(s: &str) -> Option<(i64, u32)> {
    let ms = parse_rfc3339_ms(s)?;
    let frac = s.split_once('.').map(|(_, f)| f.bytes().take_while(u8::is_ascii_digit).collect::<Vec<u8>>());
    let below: u32 = frac
        .map(|f| (3..9).map(|k| f.get(k).map_or(0, |d| u32::from(d - b'0'))).fold(0, |acc, d| acc * 10 + d))
        .unwrap_or(0);
    Some((ms, below))
}

/// The revision history tests: 6.1.14, 6.1.16–6.1.22, 6.1.30.
fn revision_history(doc: &Value, p: &mut Vec<Problem>) {
    let Some(tracking) = doc.pointer("/document/tracking") else { return };
    let status = text(tracking, "status").unwrap_or_default();
    let released = matches!(status, "final" | "interim");
    let version = text(tracking, "version").and_then(Ver::parse);
    let history = array(tracking, "revision_history");
    // (index, date, number) of every item with a readable date and number.
    let mut items: Vec<(usize, (i64, u32), Ver, &str)> = Vec::new();
    for (i, h) in history.iter().enumerate() {
        if let (Some(d), Some(n)) = (text(h, "date").and_then(precise_date), text(h, "number"))
            && let Some(v) = Ver::parse(n)
        {
            items.push((i, d, v, n));
        }
    }
    let at = |i: usize| format!("/document/tracking/revision_history/{i}/number");
    // 6.1.30: one versioning scheme for the whole document.
    let int = |v: &Ver| matches!(v, Ver::Int(_));
    let schemes: HashSet<bool> = items.iter().map(|x| int(&x.2)).chain(version.iter().map(int)).collect();
    let mixed = schemes.len() > 1;
    if mixed {
        p.push(fail(
            "/document/tracking/version",
            "6.1.30",
            "(Mixed Integer and Semantic Versioning)",
            "the version and the revision numbers mix integer and semantic versioning",
        ));
    }
    // 6.1.22: no number twice.
    let mut seen: Vec<&Ver> = Vec::new();
    for (i, _, v, n) in &items {
        if seen.iter().any(|s| s.cmp(v) == Some(std::cmp::Ordering::Equal)) {
            p.push(fail(
                at(*i),
                "6.1.22",
                "(Multiple Definition in Revision History)",
                format!("number {n} is used twice"),
            ));
        }
        seen.push(v);
    }
    // 6.1.19: no pre-release numbers; 6.1.18: released documents have no 0 / 0.y.z items.
    for (i, _, v, n) in &items {
        if v.has_pre() {
            p.push(fail(
                at(*i),
                "6.1.19",
                "(Revision History Entries for Pre-release Versions)",
                format!("{n} is a pre-release version"),
            ));
        }
        if released && v.is_zero_major() {
            p.push(fail(
                at(*i),
                "6.1.18",
                "(Released Revision History)",
                format!("the document is {status}, but revision {n} is a pre-release number (0 or 0.y.z)"),
            ));
        }
    }
    if let Some(v) = &version {
        let n = text(tracking, "version").unwrap_or_default();
        // 6.1.17 and 6.1.20.
        if (v.is_zero_major() || v.has_pre()) && status != "draft" {
            p.push(fail(
                "/document/tracking/status",
                "6.1.17",
                "(Document Status Draft)",
                format!("version {n} is a draft version, but the status is {status:?}"),
            ));
        }
        if released && v.has_pre() {
            p.push(fail(
                "/document/tracking/version",
                "6.1.20",
                "(Non-draft Document Version)",
                format!("the document is {status}, but version {n} has a pre-release part"),
            ));
        }
    }
    if mixed || items.is_empty() {
        return;
    }
    // Sorted by date, ties by number (two revisions of the same instant are read in number order).
    let mut sorted = items.clone();
    sorted.sort_by(|a, b| a.1.cmp(&b.1).then(a.2.cmp(&b.2).unwrap_or(std::cmp::Ordering::Equal)));
    // 6.1.14: the numbers ascend when the items are sorted by date.
    for w in sorted.windows(2) {
        if w[1].2.cmp(&w[0].2) == Some(std::cmp::Ordering::Less) {
            p.push(fail(
                at(w[1].0),
                "6.1.14",
                "(Sorted Revision History)",
                format!("revision {} is dated after revision {}, but numbered before it", w[1].3, w[0].3),
            ));
            break;
        }
    }
    // 6.1.16: the version is the number of the latest revision.
    if let (Some(v), Some(last)) = (&version, sorted.last())
        && !v.same(&last.2, status == "draft")
    {
        p.push(fail(
            "/document/tracking/version",
            "6.1.16",
            "(Latest Document Version)",
            format!(
                "version {} is not the number of the latest revision ({})",
                text(tracking, "version").unwrap_or_default(),
                last.3
            ),
        ));
    }
    // 6.1.21: no (major) number is left out, and the first is 0 or 1.
    let first = &sorted[0];
    if first.2.major() > 1 {
        p.push(fail(
            at(first.0),
            "6.1.21",
            "(Missing Item in Revision History)",
            format!("the earliest revision is {}, not 0 or 1", first.3),
        ));
    }
    for w in sorted.windows(2) {
        let (a, b) = (w[0].2.major(), w[1].2.major());
        if b > a + 1 {
            p.push(fail(
                at(w[1].0),
                "6.1.21",
                "(Missing Item in Revision History)",
                format!("revision {} follows {}: the numbers between are missing", w[1].3, w[0].3),
            ));
        }
    }
}

/// 6.1.23 (a CVE once), 6.1.24 (an involvement once per party and date), 6.1.29 and 6.1.32 (a
/// remediation or flag names products), 6.1.33 (one VEX flag per product).
fn vulnerability_lists(doc: &Value, p: &mut Vec<Problem>) {
    let groups = groups(doc);
    let mut cves = HashSet::new();
    for (i, v) in array(doc, "vulnerabilities").iter().enumerate() {
        let base = format!("/vulnerabilities/{i}");
        if let Some(c) = text(v, "cve")
            && !cves.insert(c)
        {
            p.push(fail(
                format!("{base}/cve"),
                "6.1.23",
                "(Multiple Use of Same CVE)",
                format!("{c} is the subject of another vulnerability of this document"),
            ));
        }
        let mut inv = HashSet::new();
        for (k, x) in array(v, "involvements").iter().enumerate() {
            let key = (text(x, "party").unwrap_or_default(), text(x, "date").and_then(parse_rfc3339_ms));
            if !inv.insert(key) {
                p.push(fail(
                    format!("{base}/involvements/{k}"),
                    "6.1.24",
                    "(Multiple Definition in Involvements)",
                    "another involvement has the same party and date",
                ));
            }
        }
        for (list, test, title) in [
            ("remediations", "6.1.29", "(Remediation without Product Reference)"),
            ("flags", "6.1.32", "(Flag without Product Reference)"),
        ] {
            for (k, x) in array(v, list).iter().enumerate() {
                if x.get("product_ids").is_none() && x.get("group_ids").is_none() {
                    p.push(fail(
                        format!("{base}/{list}/{k}"),
                        test,
                        title,
                        "neither product_ids nor group_ids is given",
                    ));
                }
            }
        }
        let mut flagged = HashSet::new();
        for (k, f) in array(v, "flags").iter().enumerate() {
            let mut here = HashSet::new();
            for id in products_of(f, &groups) {
                if here.insert(id.clone()) && !flagged.insert(id.clone()) {
                    p.push(fail(
                        format!("{base}/flags/{k}"),
                        "6.1.33",
                        "(Multiple Flags with VEX Justification Codes per Product)",
                        format!("product {id:?} already has a flag in this vulnerability"),
                    ));
                }
            }
        }
    }
}

const PROFILES: [&str; 4] =
    ["csaf_security_incident_response", "csaf_informational_advisory", "csaf_security_advisory", "csaf_vex"];

/// 6.1.26: a category outside the profiles must not be a profile's name in another spelling, nor
/// use the reserved `csaf_` prefix.
fn category_name(doc: &Value, p: &mut Vec<Problem>) {
    let Some(c) = doc.pointer("/document/category").and_then(Value::as_str) else { return };
    if PROFILES.contains(&c) || c == "csaf_base" {
        return;
    }
    let norm = |s: &str| {
        s.chars().filter(|ch| !matches!(ch, '-' | '_') && !ch.is_whitespace()).collect::<String>().to_lowercase()
    };
    let n = norm(c);
    let names = ["securityincidentresponse", "informationaladvisory", "securityadvisory", "vex"];
    let reserved = c.to_lowercase().starts_with("csaf_");
    if reserved || names.iter().any(|x| *x == n) || PROFILES.iter().any(|x| norm(x) == n) {
        p.push(fail(
            "/document/category",
            "6.1.26",
            "(Prohibited Document Category Name)",
            format!("{c:?} is reserved: use the profile's own value or another name"),
        ));
    }
}

/// The profile tests 6.1.27.1–6.1.27.11, by the document's category.
fn profiles(doc: &Value, p: &mut Vec<Problem>) {
    let Some(c) = doc.pointer("/document/category").and_then(Value::as_str) else { return };
    let d = &doc["document"];
    let vulns = doc.get("vulnerabilities");
    let groups = groups(doc);
    if matches!(c, "csaf_informational_advisory" | "csaf_security_incident_response") {
        let has_note = array(d, "notes")
            .iter()
            .any(|n| matches!(text(n, "category"), Some("description" | "details" | "general" | "summary")));
        if !has_note {
            p.push(fail(
                "/document/notes",
                "6.1.27.1",
                "(Document Notes)",
                format!("a {c} needs a document note of category description, details, general or summary"),
            ));
        }
        if !array(d, "references").iter().any(|r| text(r, "category") == Some("external")) {
            p.push(fail(
                "/document/references",
                "6.1.27.2",
                "(Document References)",
                format!("a {c} needs a document reference of category external"),
            ));
        }
    }
    if c == "csaf_informational_advisory" && vulns.is_some() {
        p.push(fail(
            "/vulnerabilities",
            "6.1.27.3",
            "(Vulnerabilities)",
            "an informational advisory has no vulnerabilities (use csaf_security_advisory)",
        ));
    }
    if !matches!(c, "csaf_security_advisory" | "csaf_vex") {
        return;
    }
    if doc.get("product_tree").is_none() {
        p.push(fail("/product_tree", "6.1.27.4", "(Product Tree)", format!("a {c} needs a product_tree")));
    }
    if vulns.is_none() {
        p.push(fail("/vulnerabilities", "6.1.27.11", "(Vulnerabilities)", format!("a {c} needs vulnerabilities")));
    }
    for (i, v) in array(doc, "vulnerabilities").iter().enumerate() {
        let base = format!("/vulnerabilities/{i}");
        if v.get("notes").is_none() {
            p.push(fail(
                &base,
                "6.1.27.5",
                "(Vulnerability Notes)",
                format!("each vulnerability of a {c} needs notes"),
            ));
        }
        if c == "csaf_security_advisory" {
            if v.get("product_status").is_none() {
                p.push(fail(
                    &base,
                    "6.1.27.6",
                    "(Product Status)",
                    "each vulnerability of a security advisory needs product_status",
                ));
            }
            continue;
        }
        let ps = v.get("product_status");
        let has = |k: &str| ps.and_then(|s| s.get(k)).is_some();
        if !["fixed", "known_affected", "known_not_affected", "under_investigation"].iter().any(|k| has(k)) {
            p.push(fail(
                format!("{base}/product_status"),
                "6.1.27.7",
                "(VEX Product Status)",
                "a VEX vulnerability needs fixed, known_affected, known_not_affected or under_investigation",
            ));
        }
        if v.get("cve").is_none() && v.get("ids").is_none() {
            p.push(fail(&base, "6.1.27.8", "(Vulnerability ID)", "a VEX vulnerability needs a cve or ids"));
        }
        let Some(ps) = ps else { continue };
        // 6.1.27.9: each known-not-affected product has an impact statement: a flag, or a threat
        // of category impact.
        let mut impact: HashSet<String> = HashSet::new();
        for f in array(v, "flags") {
            impact.extend(products_of(f, &groups));
        }
        for t in array(v, "threats").iter().filter(|t| text(t, "category") == Some("impact")) {
            impact.extend(products_of(t, &groups));
        }
        for (j, id) in array(ps, "known_not_affected").iter().enumerate() {
            if let Some(id) = id.as_str()
                && !impact.contains(id)
            {
                p.push(fail(
                    format!("{base}/product_status/known_not_affected/{j}"),
                    "6.1.27.9",
                    "(Impact Statement)",
                    format!("product {id:?} is known not affected, but no flag or impact threat says why"),
                ));
            }
        }
        // 6.1.27.10: each known-affected product has a remediation.
        let mut action: HashSet<String> = HashSet::new();
        for r in array(v, "remediations") {
            action.extend(products_of(r, &groups));
        }
        for (j, id) in array(ps, "known_affected").iter().enumerate() {
            if let Some(id) = id.as_str()
                && !action.contains(id)
            {
                p.push(fail(
                    format!("{base}/product_status/known_affected/{j}"),
                    "6.1.27.10",
                    "(Action Statement)",
                    format!("product {id:?} is known affected, but no remediation says what to do"),
                ));
            }
        }
    }
}

/// 6.1.31: a `product_version` branch names one version, never a range.
fn version_ranges(doc: &Value, p: &mut Vec<Problem>) {
    fn walk(branches: &[Value], at: &str, depth: usize, p: &mut Vec<Problem>) {
        if depth > 30 {
            return;
        }
        for (i, b) in branches.iter().enumerate() {
            let here = format!("{at}/{i}");
            if text(b, "category") == Some("product_version")
                && let Some(name) = text(b, "name")
            {
                let lower = name.to_lowercase();
                let word = lower
                    .split(|c: char| !c.is_alphanumeric())
                    .find(|w| ["after", "all", "before", "earlier", "later", "prior", "versions"].contains(w));
                if lower.contains(['<', '>']) || word.is_some() {
                    p.push(fail(
                        format!("{here}/name"),
                        "6.1.31",
                        "(Version Range in Product Version)",
                        format!("{name:?} is a range: use a product_version_range branch"),
                    ));
                }
            }
            walk(array(b, "branches"), &format!("{here}/branches"), depth + 1, p);
        }
    }
    if let Some(tree) = doc.get("product_tree") {
        walk(array(tree, "branches"), "/product_tree/branches", 0, p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
          "document": {
            "category": "csaf_base", "csaf_version": "2.0", "title": "T", "lang": "en-GB",
            "publisher": {"category": "vendor", "name": "Acme", "namespace": "https://acme.example"},
            "tracking": {"id": "ACME-1", "status": "final", "version": "2",
              "initial_release_date": "2024-01-01T00:00:00Z", "current_release_date": "2024-01-02T00:00:00Z",
              "revision_history": [
                {"date": "2024-01-01T00:00:00Z", "number": "1", "summary": "Initial"},
                {"date": "2024-01-02T00:00:00Z", "number": "2", "summary": "Fix"}]}
          },
          "product_tree": {
            "full_product_names": [{"name": "A 1", "product_id": "A1"}, {"name": "B 1", "product_id": "B1"}],
            "product_groups": [{"group_id": "G", "product_ids": ["A1", "B1"]}]
          },
          "vulnerabilities": [{"cve": "CVE-2024-0001", "product_status": {"known_affected": ["A1"], "fixed": ["B1"]}}]
        })
    }

    fn tests_failed(d: &Value) -> Vec<String> {
        mandatory_tests(d).iter().map(|p| p.reason.split(' ').next().unwrap_or_default().to_string()).collect()
    }

    #[test]
    fn a_clean_document_passes() {
        assert_eq!(mandatory_tests(&doc()), []);
    }

    #[test]
    fn status_groups_and_flags() {
        let mut d = doc();
        d["vulnerabilities"][0]["product_status"]["known_not_affected"] = json!(["A1"]);
        d["vulnerabilities"][0]["flags"] = json!([
            {"label": "component_not_present", "group_ids": ["G"]},
            {"label": "vulnerable_code_not_present", "product_ids": ["B1"]},
            {"label": "inline_mitigations_already_exist"}]);
        d["vulnerabilities"][0]["remediations"] =
            json!([{"category": "workaround", "details": "x", "group_ids": ["H"]}]);
        assert_eq!(tests_failed(&d), ["6.1.4", "6.1.6", "6.1.32", "6.1.33"]);
        let e = mandatory_tests(&d);
        assert_eq!(e[1].path, "/vulnerabilities/0/product_status/known_not_affected/0");
        assert!(e[1].reason.contains("both affected and not affected"), "{}", e[1]);
    }

    #[test]
    fn revision_history_order_and_gaps() {
        let mut d = doc();
        d["document"]["tracking"]["revision_history"][1]["date"] = json!("2023-12-31T00:00:00Z");
        // Sorted by date, 2 comes first: out of order, not the latest, and not 0 or 1.
        assert_eq!(tests_failed(&d), ["6.1.14", "6.1.16", "6.1.21"]);
        let mut d = doc();
        d["document"]["tracking"]["revision_history"][1]["number"] = json!("3");
        d["document"]["tracking"]["version"] = json!("3");
        assert_eq!(tests_failed(&d), ["6.1.21"]);
        // The same instant, numbered 2 then 1: read in number order, as the TC's own files are.
        let mut d = doc();
        d["document"]["tracking"]["revision_history"] = json!([
            {"date": "2024-01-01T00:00:00Z", "number": "2", "summary": "b"},
            {"date": "2024-01-01T00:00:00Z", "number": "1", "summary": "a"}]);
        assert_eq!(mandatory_tests(&d), []);
        // A tenth of a millisecond apart still counts as later.
        d["document"]["tracking"]["revision_history"][1]["date"] = json!("2024-01-01T00:00:00.0001Z");
        assert_eq!(tests_failed(&d), ["6.1.14", "6.1.16", "6.1.21"]);
        let mut d = doc();
        d["document"]["tracking"]["version"] = json!("2.0.0-rc.1");
        assert_eq!(tests_failed(&d), ["6.1.30", "6.1.17", "6.1.20"]);
    }

    #[test]
    fn cvss_objects() {
        let mut d = doc();
        d["vulnerabilities"][0]["scores"] = json!([
            {"products": ["A1"], "cvss_v2": {"version": "2.0", "vectorString": "AV:N/AC:L/Au:N/C:C/I:C/A:C", "baseScore": 10.0,
              "accessVector": "NETWORK"}},
            {"products": ["B1"], "cvss_v2": {"version": "2.0", "vectorString": "AV:N/AC:L/Au:N/C:P/I:P/A:P", "baseScore": 7.5}},
            {"products": ["A1"], "cvss_v3": {"version": "3.1", "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
              "baseScore": 9.8, "baseSeverity": "CRITICAL"}}]);
        assert_eq!(mandatory_tests(&d), [], "7.5 is AV:N/AC:L/Au:N/C:P/I:P/A:P; v2 and v3 are different versions");
        d["vulnerabilities"][0]["scores"][0]["cvss_v2"]["accessVector"] = json!("LOCAL");
        d["vulnerabilities"][0]["scores"][2]["products"] = json!(["A1", "B1"]);
        d["vulnerabilities"][0]["scores"][2]["cvss_v3"]["exploitCodeMaturity"] = json!("NOT_DEFINED");
        assert_eq!(tests_failed(&d), ["6.1.10"]);
        d["vulnerabilities"][0]["scores"][1]["cvss_v2"]["baseScore"] = json!(6.5);
        d["vulnerabilities"][0]["scores"][2]["cvss_v3"].as_object_mut().unwrap().remove("baseSeverity");
        d["vulnerabilities"][0]["scores"][0]["cvss_v3"] = json!({"version": "3.0", "vectorString": "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:X",
              "baseScore": 9.8, "baseSeverity": "CRITICAL"});
        assert_eq!(tests_failed(&d), ["6.1.10", "6.1.8", "6.1.9", "6.1.8"]);
    }

    #[test]
    fn names_languages_and_helpers() {
        for ok in ["en", "en-US", "de-CH-1996", "zh-Hant-TW", "zh-yue-HK", "x-private", "es-419", "en-a-bbb-x-c"] {
            assert!(is_language_tag(ok), "{ok}");
        }
        for bad in ["EZ", "e", "en-", "english1", "en-US-x", "qq"] {
            assert!(!is_language_tag(bad), "{bad}");
        }
        let mut d = doc();
        d["document"]["category"] = json!("Security-Advisory");
        d["document"]["lang"] = json!("EZ");
        d["product_tree"]["branches"] = json!([{"category": "product_version", "name": "prior to 4.2",
          "product": {"name": "C", "product_id": "C1", "product_identification_helper": {
            "purl": "pkg:maven/@1.3.4",
            "hashes": [{"filename": "c.tar", "file_hashes": [{"algorithm": "sha256", "value": "00"}, {"algorithm": "SHA256", "value": "00"}]}]}}}]);
        assert_eq!(tests_failed(&d), ["6.1.12", "6.1.13", "6.1.25", "6.1.26", "6.1.31"]);
        d["document"]["category"] = json!("csaf_whatever");
        assert_eq!(tests_failed(&d)[3], "6.1.26");
        d["document"]["category"] = json!("Cisco Security Advisory");
        assert!(!tests_failed(&d).contains(&"6.1.26".to_string()));
    }

    #[test]
    fn profiles_by_category() {
        let mut d = doc();
        d["document"]["category"] = json!("csaf_vex");
        d["vulnerabilities"][0]["product_status"] = json!({"known_affected": ["A1"], "known_not_affected": ["B1"]});
        assert_eq!(tests_failed(&d), ["6.1.27.5", "6.1.27.9", "6.1.27.10"]);
        d["vulnerabilities"][0]["notes"] = json!([{"category": "description", "text": "x"}]);
        d["vulnerabilities"][0]["threats"] = json!([{"category": "impact", "details": "none", "product_ids": ["B1"]}]);
        d["vulnerabilities"][0]["remediations"] =
            json!([{"category": "vendor_fix", "details": "update", "group_ids": ["G"]}]);
        assert_eq!(mandatory_tests(&d), []);
        d["document"]["category"] = json!("csaf_informational_advisory");
        assert_eq!(tests_failed(&d), ["6.1.27.1", "6.1.27.2", "6.1.27.3"]);
        d["document"]["category"] = json!("csaf_security_advisory");
        d.as_object_mut().unwrap().remove("vulnerabilities");
        d.as_object_mut().unwrap().remove("product_tree");
        assert_eq!(tests_failed(&d), ["6.1.27.4", "6.1.27.11"]);
    }
}
