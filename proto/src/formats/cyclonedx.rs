//! CycloneDX JSON SBOMs (spec 1.2 to 1.6) and their VEX statements. [`validate`] checks a
//! document against the rules of its own `specVersion` that matter for a BOM's meaning (see its
//! list); [`parse_checked`] refuses a document that breaks one, or, when asked to be lenient,
//! reads it anyway and returns every problem as a warning, for real-world SBOMs that are slightly
//! off. Reading takes only what matching needs (each component's names, version, purl, CPE and
//! bom-ref, nested components flattened; the vulnerabilities' analysis states); unknown fields
//! are skipped, never refused.
//!
//! The rules are written here rather than taken from the official JSON schemas through a schema
//! engine: the schemas are five documents of several thousand lines each that pull in the SPDX
//! licence list and JSF, and a schema engine's errors name a schema path, not the rule. The
//! checks below are the ones a BOM's consumers depend on; the SPDX licence ids come from the
//! `spdx` crate's copy of the SPDX licence list.

use serde_json::Value;

use super::{Problem, array, ptr, text};

/// The largest SBOM read: real SBOMs of large products run to tens of megabytes (200,000
/// components is 50 to 70 MB). SBOMs never leave the node, so this is a bound on one node's work,
/// not on what peers must carry.
pub const MAX_SBOM_BYTES: usize = 128 * 1024 * 1024;

/// The most components (nested ones included) one SBOM may list.
pub const MAX_SBOM_COMPONENTS: usize = 500_000;

/// Parse an SBOM's JSON, refusing one above [`MAX_SBOM_BYTES`] before parsing.
pub(crate) fn parse_json(bytes: &[u8]) -> Result<Value, Vec<Problem>> {
    if bytes.len() > MAX_SBOM_BYTES {
        return Err(vec![Problem::new(
            "",
            format!("the SBOM has {} bytes; the limit is {MAX_SBOM_BYTES} bytes (128 MiB)", bytes.len()),
        )]);
    }
    serde_json::from_slice(bytes)
        .map_err(|e| vec![Problem::new("", format!("invalid JSON at line {}, column {}: {e}", e.line(), e.column()))])
}

/// A component of the SBOM.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Component {
    pub bom_ref: Option<String>,
    /// The CycloneDX `type` (`library`, `application`, ...).
    pub kind: Option<String>,
    pub group: Option<String>,
    pub name: String,
    pub version: Option<String>,
    pub purl: Option<String>,
    pub cpe: Option<String>,
}

/// A VEX analysis state (CycloneDX `impactAnalysisState`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VexState {
    Resolved,
    ResolvedWithPedigree,
    Exploitable,
    InTriage,
    FalsePositive,
    NotAffected,
    Other(String),
}

impl VexState {
    fn parse(s: &str) -> VexState {
        match s {
            "resolved" => VexState::Resolved,
            "resolved_with_pedigree" => VexState::ResolvedWithPedigree,
            "exploitable" => VexState::Exploitable,
            "in_triage" => VexState::InTriage,
            "false_positive" => VexState::FalsePositive,
            "not_affected" => VexState::NotAffected,
            other => VexState::Other(other.to_string()),
        }
    }

    /// Whether the statement says the component is not (or no longer) exposed.
    pub fn clears(&self) -> bool {
        matches!(
            self,
            VexState::NotAffected | VexState::FalsePositive | VexState::Resolved | VexState::ResolvedWithPedigree
        )
    }
}

/// One "this vulnerability, this component, this state" statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VexStatement {
    /// The vulnerability id (`CVE-2021-44228`, a GHSA...).
    pub vuln_id: String,
    /// `affects[].ref` as written: a bom-ref or a BOM-Link.
    pub component_ref: String,
    /// The purl of the component that ref designates in this BOM, when it has one.
    pub purl: Option<String>,
    pub state: Option<VexState>,
    pub justification: Option<String>,
    pub detail: Option<String>,
}

/// What an SBOM says: the component it describes, everything inside it, and any VEX.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sbom {
    pub spec_version: String,
    pub subject: Option<Component>,
    /// All components, nested ones flattened depth-first in document order.
    pub components: Vec<Component>,
    pub vex: Vec<VexStatement>,
}

impl Sbom {
    /// The subject and components, subject first.
    pub fn all_components(&self) -> impl Iterator<Item = &Component> {
        self.subject.iter().chain(self.components.iter())
    }
}

/// Components nested deeper than this are not read: a hostile SBOM cannot exhaust the stack.
const MAX_DEPTH: usize = 32;

fn component(v: &Value, path: &str, problems: &mut Vec<Problem>) -> Option<Component> {
    let Some(name) = text(v, "name") else {
        problems.push(Problem::new(ptr(path, "name"), "a component needs a name"));
        return None;
    };
    let s = |k: &str| text(v, k).map(str::to_string);
    Some(Component {
        bom_ref: s("bom-ref"),
        kind: s("type"),
        group: s("group"),
        name: name.to_string(),
        version: s("version"),
        purl: s("purl"),
        cpe: s("cpe"),
    })
}

fn walk(list: &[Value], path: &str, depth: usize, out: &mut Vec<Component>, problems: &mut Vec<Problem>) {
    if depth > MAX_DEPTH {
        problems.push(Problem::new(path, format!("components nested deeper than {MAX_DEPTH} levels are not read")));
        return;
    }
    for (i, c) in list.iter().enumerate() {
        let p = format!("{path}/{i}");
        if let Some(comp) = component(c, &p, problems) {
            out.push(comp);
        }
        walk(array(c, "components"), &ptr(&p, "components"), depth + 1, out, problems);
    }
}

/// Spec versions this reader knows, oldest first.
const SPEC_VERSIONS: [&str; 5] = ["1.2", "1.3", "1.4", "1.5", "1.6"];

/// Component types of spec 1.2-1.4; 1.5 adds the next four, 1.6 the last.
const COMPONENT_TYPES: [&str; 13] = [
    "application",
    "framework",
    "library",
    "container",
    "operating-system",
    "device",
    "firmware",
    "file",
    "platform",
    "device-driver",
    "machine-learning-model",
    "data",
    "cryptographic-asset",
];

const HASH_ALGORITHMS: [&str; 12] = [
    "MD5",
    "SHA-1",
    "SHA-256",
    "SHA-384",
    "SHA-512",
    "SHA3-256",
    "SHA3-384",
    "SHA3-512",
    "BLAKE2b-256",
    "BLAKE2b-384",
    "BLAKE2b-512",
    "BLAKE3",
];

fn is_uuid_urn(s: &str) -> bool {
    let Some(u) = s.strip_prefix("urn:uuid:") else { return false };
    let groups: Vec<&str> = u.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

struct Checker<'a> {
    /// Index into [`SPEC_VERSIONS`].
    minor: usize,
    version: &'a str,
    refs: std::collections::HashMap<String, String>,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn fail(&mut self, path: impl Into<String>, rule: impl std::fmt::Display) {
        let v = self.version;
        self.problems.push(Problem::new(path, format!("CycloneDX {v}: {rule}")));
    }

    fn bom_ref(&mut self, v: &Value, path: &str) {
        let Some(r) = v.get("bom-ref") else { return };
        let at = ptr(path, "bom-ref");
        match r.as_str() {
            None => self.fail(at, "bom-ref must be a string"),
            Some("") if self.minor >= 3 => self.fail(at, "bom-ref must not be empty"),
            Some(s) => {
                if let Some(first) = self.refs.get(s) {
                    let first = first.clone();
                    self.fail(at, format!("bom-ref {s:?} is already used at {first}: bom-refs must be unique"));
                } else {
                    self.refs.insert(s.to_string(), at);
                }
            }
        }
    }

    fn hashes(&mut self, v: &Value, path: &str) {
        for (i, h) in array(v, "hashes").iter().enumerate() {
            let at = format!("{path}/hashes/{i}");
            match text(h, "alg") {
                Some(a) if HASH_ALGORITHMS.contains(&a) => {}
                other => self.fail(
                    format!("{at}/alg"),
                    format!(
                        "hash algorithm {:?} is not one of {}",
                        other.unwrap_or("(none)"),
                        HASH_ALGORITHMS.join(", ")
                    ),
                ),
            }
            let c = text(h, "content").unwrap_or_default();
            if ![32, 40, 64, 96, 128].contains(&c.len()) || !c.bytes().all(|b| b.is_ascii_hexdigit()) {
                self.fail(
                    format!("{at}/content"),
                    format!("hash content {c:?} is not a hex digest (32 to 128 digits)"),
                );
            }
        }
    }

    fn licenses(&mut self, v: &Value, path: &str) {
        let Some(list) = v.get("licenses") else { return };
        let at = ptr(path, "licenses");
        let Some(list) = list.as_array() else {
            self.fail(at, "licenses must be an array");
            return;
        };
        let expressions = list.iter().filter(|l| l.get("expression").is_some()).count();
        if self.minor >= 3 && expressions > 0 && (expressions > 1 || list.len() > 1) {
            self.fail(&at, "licenses is either a list of license objects or a single expression, never a mix");
        }
        for (i, l) in list.iter().enumerate() {
            let here = format!("{at}/{i}");
            let (lic, expr) = (l.get("license"), l.get("expression"));
            match (lic, expr) {
                (Some(_), Some(_)) => self.fail(&here, "a licenses item has either license or expression, not both"),
                (None, None) => self.fail(&here, "a licenses item needs license or expression"),
                (None, Some(e)) => {
                    if e.as_str().is_none_or(|e| e.trim().is_empty()) {
                        self.fail(format!("{here}/expression"), "a license expression is a non-empty string");
                    }
                }
                (Some(lic), None) => {
                    let (id, name) = (lic.get("id"), lic.get("name"));
                    match (id, name) {
                        (Some(_), Some(_)) => {
                            self.fail(format!("{here}/license"), "a license has an id or a name, not both")
                        }
                        (None, None) => self.fail(format!("{here}/license"), "a license needs an id or a name"),
                        (Some(id), None) => {
                            let s = id.as_str().unwrap_or_default();
                            if spdx::license_id(s).is_none() {
                                self.fail(format!("{here}/license/id"), format!("{s:?} is not an SPDX license id"));
                            }
                        }
                        (None, Some(_)) => {}
                    }
                }
            }
        }
    }

    fn component(&mut self, c: &Value, path: &str, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        if !c.is_object() {
            self.fail(path, "a component is an object");
            return;
        }
        let types = &COMPONENT_TYPES[..match self.minor {
            0..=2 => 8,
            3 => 12,
            _ => 13,
        }];
        match text(c, "type") {
            None => self.fail(ptr(path, "type"), "a component needs a type"),
            Some(t) if !types.contains(&t) => {
                self.fail(ptr(path, "type"), format!("component type {t:?} is not one of {}", types.join(", ")))
            }
            Some(_) => {}
        }
        if text(c, "name").is_none() {
            self.fail(ptr(path, "name"), "a component needs a name");
        }
        self.bom_ref(c, path);
        self.hashes(c, path);
        self.licenses(c, path);
        for (i, sub) in array(c, "components").iter().enumerate() {
            self.component(sub, &format!("{path}/components/{i}"), depth + 1);
        }
    }
}

/// Check a CycloneDX document against the rules of its own `specVersion` (1.2-1.6): `bomFormat`,
/// a known `specVersion`, `serialNumber` a UUID URN, `version` a positive integer,
/// `metadata.timestamp` an RFC 3339 date-time, every component with a type of its version's list
/// and a name, `bom-ref`s unique (and, from 1.5, not empty), hash algorithms and digests, licence
/// choices (an id from the SPDX list or a name; license objects or one expression), and
/// dependencies that name their `ref`. Each problem carries the JSON pointer and the rule.
pub fn validate(doc: &Value) -> Vec<Problem> {
    let mut p = Vec::new();
    if doc.get("bomFormat").and_then(Value::as_str) != Some("CycloneDX") {
        p.push(Problem::new("/bomFormat", "not a CycloneDX BOM: bomFormat must be \"CycloneDX\""));
        return p;
    }
    let version = text(doc, "specVersion").unwrap_or_default();
    let Some(minor) = SPEC_VERSIONS.iter().position(|v| *v == version) else {
        p.push(Problem::new("/specVersion", format!("specVersion {version:?} is not one of 1.2 to 1.6")));
        return p;
    };
    let mut c = Checker { minor, version, refs: Default::default(), problems: p };
    if let Some(sn) = doc.get("serialNumber")
        && !sn.as_str().is_some_and(is_uuid_urn)
    {
        c.fail("/serialNumber", format!("serialNumber {sn} is not a urn:uuid: URN of a UUID"));
    }
    if let Some(v) = doc.get("version")
        && v.as_u64().is_none_or(|n| n < 1)
    {
        c.fail("/version", format!("version {v} is not an integer of 1 or more"));
    }
    if let Some(m) = doc.get("metadata") {
        if let Some(t) = m.get("timestamp")
            && t.as_str().is_none_or(|t| super::time::parse_rfc3339_ms(t).is_none())
        {
            c.fail("/metadata/timestamp", format!("timestamp {t} is not an RFC 3339 date-time"));
        }
        if let Some(mc) = m.get("component") {
            c.component(mc, "/metadata/component", 0);
        }
        c.licenses(m, "/metadata");
    }
    for (i, comp) in array(doc, "components").iter().enumerate() {
        c.component(comp, &format!("/components/{i}"), 0);
    }
    for (i, s) in array(doc, "services").iter().enumerate() {
        c.bom_ref(s, &format!("/services/{i}"));
    }
    for (i, d) in array(doc, "dependencies").iter().enumerate() {
        match text(d, "ref") {
            None => c.fail(format!("/dependencies/{i}/ref"), "a dependency needs a ref"),
            Some("") if minor >= 3 => c.fail(format!("/dependencies/{i}/ref"), "a dependency ref must not be empty"),
            Some(_) => {}
        }
    }
    c.problems
}

/// Validate and read: a document breaking a rule of [`validate`] is refused with every problem,
/// unless `lenient`, in which case it is read as far as it can be and the problems come back as
/// warnings next to the SBOM.
pub fn parse_checked(bytes: &[u8], lenient: bool) -> Result<(Sbom, Vec<Problem>), Vec<Problem>> {
    checked(&parse_json(bytes)?, lenient)
}

/// [`parse_checked`] of a document already parsed.
pub(crate) fn checked(doc: &Value, lenient: bool) -> Result<(Sbom, Vec<Problem>), Vec<Problem>> {
    let problems = validate(doc);
    if !problems.is_empty() && (!lenient || doc.get("bomFormat").and_then(Value::as_str) != Some("CycloneDX")) {
        return Err(problems);
    }
    let sbom = read(doc)?;
    Ok((sbom, problems))
}

/// Read a CycloneDX JSON BOM. Fails only when the bytes are not a CycloneDX JSON document;
/// components without a name are skipped (and reported in the error list only if nothing usable
/// remains).
pub fn parse(bytes: &[u8]) -> Result<Sbom, Vec<Problem>> {
    read(&parse_json(bytes)?)
}

pub(crate) fn read(doc: &Value) -> Result<Sbom, Vec<Problem>> {
    if doc.get("bomFormat").and_then(Value::as_str) != Some("CycloneDX") {
        return Err(vec![Problem::new("/bomFormat", "not a CycloneDX BOM: bomFormat must be \"CycloneDX\"")]);
    }
    let mut problems = Vec::new();
    let spec_version = text(doc, "specVersion").unwrap_or("").to_string();
    let subject = doc.pointer("/metadata/component").and_then(|c| component(c, "/metadata/component", &mut problems));
    let mut components = Vec::new();
    walk(array(doc, "components"), "/components", 0, &mut components, &mut problems);
    if components.len() > MAX_SBOM_COMPONENTS {
        return Err(vec![Problem::new(
            "/components",
            format!("{} components; an SBOM may list at most {MAX_SBOM_COMPONENTS}", components.len()),
        )]);
    }
    let purl_of = |r: &str| {
        subject
            .iter()
            .chain(components.iter())
            .find(|c| c.bom_ref.as_deref() == Some(r))
            .and_then(|c| c.purl.clone())
            .or_else(|| r.starts_with("pkg:").then(|| r.to_string()))
    };
    let mut vex = Vec::new();
    for (i, v) in array(doc, "vulnerabilities").iter().enumerate() {
        let Some(id) = text(v, "id") else {
            problems.push(Problem::new(format!("/vulnerabilities/{i}/id"), "a vulnerability needs an id"));
            continue;
        };
        let analysis = v.get("analysis");
        let a = |k: &str| analysis.and_then(|a| text(a, k)).map(str::to_string);
        for aff in array(v, "affects") {
            let Some(r) = text(aff, "ref") else { continue };
            vex.push(VexStatement {
                vuln_id: id.to_string(),
                component_ref: r.to_string(),
                purl: purl_of(r),
                state: a("state").map(|s| VexState::parse(&s)),
                justification: a("justification"),
                detail: a("detail"),
            });
        }
    }
    if subject.is_none() && components.is_empty() && vex.is_empty() && !problems.is_empty() {
        return Err(problems);
    }
    Ok(Sbom { spec_version, subject, components, vex })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_components_and_vex() {
        let doc = br#"{
          "bomFormat": "CycloneDX", "specVersion": "1.6",
          "metadata": {"component": {"name": "app", "version": "2.0", "bom-ref": "app"}},
          "components": [
            {"name": "outer", "version": "1", "purl": "pkg:npm/outer@1", "bom-ref": "o",
             "components": [{"name": "inner", "group": "g", "version": "2", "cpe": "cpe:2.3:a:g:inner:2:*:*:*:*:*:*:*"}]},
            {"version": "no name"}
          ],
          "vulnerabilities": [{"id": "CVE-1", "analysis": {"state": "not_affected",
            "justification": "code_not_reachable"}, "affects": [{"ref": "o"}, {"ref": "pkg:npm/x@1"}]}]
        }"#;
        let s = parse(doc).unwrap();
        assert_eq!(s.spec_version, "1.6");
        assert_eq!(s.subject.as_ref().unwrap().name, "app");
        let names: Vec<_> = s.components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["outer", "inner"]);
        assert_eq!(s.components[1].group.as_deref(), Some("g"));
        assert_eq!(s.vex.len(), 2);
        assert_eq!(s.vex[0].purl.as_deref(), Some("pkg:npm/outer@1"));
        assert_eq!(s.vex[1].purl.as_deref(), Some("pkg:npm/x@1"));
        assert_eq!(s.vex[0].state, Some(VexState::NotAffected));
        assert!(s.vex[0].state.as_ref().unwrap().clears());
        assert_eq!(s.all_components().count(), 3);
    }

    #[test]
    fn refuses_what_is_not_cyclonedx() {
        assert!(parse(br#"{"spdxVersion": "SPDX-2.3"}"#).is_err());
        assert!(parse(b"not json").is_err());
        let e = parse(br#"{"bomFormat": "CycloneDX", "components": [{"version": "1"}]}"#).unwrap_err();
        assert_eq!(e[0].path, "/components/0/name");
    }

    #[test]
    fn rules_of_the_documents_own_version() {
        let good = serde_json::json!({
          "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
          "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
          "metadata": {"timestamp": "2024-05-03T08:00:00Z", "licenses": [{"expression": "MIT OR Apache-2.0"}]},
          "components": [{"type": "data", "name": "weights", "bom-ref": "w",
            "hashes": [{"alg": "SHA-256", "content": "a".repeat(64)}],
            "licenses": [{"license": {"id": "Apache-2.0"}}, {"license": {"name": "Vendor licence"}}]}],
          "dependencies": [{"ref": "w", "dependsOn": ["w"]}]
        });
        assert_eq!(validate(&good), []);
        let bytes = serde_json::to_vec(&good).unwrap();
        let (sbom, warnings) = parse_checked(&bytes, false).unwrap();
        assert_eq!((sbom.components.len(), warnings.len()), (1, 0), "a self-dependency is no problem");

        let mut bad = good.clone();
        bad["specVersion"] = "1.4".into(); // "data" is a 1.5 type
        bad["serialNumber"] = "urn:uuid:3e671687".into();
        bad["metadata"]["timestamp"] = "2024-05-03".into();
        bad["components"][0]["hashes"][0]["content"] = "abc".into();
        bad["components"][0]["licenses"][0]["license"]["id"] = "Apache-2".into();
        bad["components"][0]["components"] =
            serde_json::json!([{"type": "library", "name": "dup", "bom-ref": "w"}, {"name": "x"}]);
        let e = validate(&bad);
        let paths: Vec<&str> = e.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/serialNumber",
                "/metadata/timestamp",
                "/components/0/type",
                "/components/0/hashes/0/content",
                "/components/0/licenses/0/license/id",
                "/components/0/components/0/bom-ref",
                "/components/0/components/1/type",
            ]
        );
        assert!(e.iter().all(|p| p.reason.starts_with("CycloneDX 1.4: ")), "{e:?}");
        assert!(e[5].reason.contains("must be unique"), "{}", e[5]);
        let bytes = serde_json::to_vec(&bad).unwrap();
        assert_eq!(parse_checked(&bytes, false).unwrap_err(), e);
        // Leniently: read anyway, every problem a warning.
        let (sbom, warnings) = parse_checked(&bytes, true).unwrap();
        assert_eq!((sbom.components.len(), warnings), (3, e));
        // 1.5 on: one expression or license objects, never both; bom-refs not empty.
        let mut mix = good;
        mix["components"][0]["licenses"] = serde_json::json!([{"expression": "MIT"}, {"license": {"id": "MIT"}}]);
        mix["components"][0]["bom-ref"] = "".into();
        let paths: Vec<String> = validate(&mix).into_iter().map(|p| p.path).collect();
        assert_eq!(paths, ["/components/0/bom-ref", "/components/0/licenses"]);
        // Not CycloneDX at all: refused even leniently.
        assert!(parse_checked(br#"{"bomFormat": "SPDX"}"#, true).is_err());
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let mut doc = String::from(r#"{"bomFormat":"CycloneDX","components":["#);
        // serde_json itself stops at 128 levels of nesting; 50 components are 100 levels.
        for _ in 0..50 {
            doc.push_str(r#"{"name":"x","components":["#);
        }
        doc.push_str(&"]}".repeat(50));
        doc.push_str("]}");
        let s = parse(doc.as_bytes()).unwrap();
        assert_eq!(s.components.len(), MAX_DEPTH + 1);
    }
}
