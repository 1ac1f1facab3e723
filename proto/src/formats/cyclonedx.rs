//! CycloneDX JSON SBOMs (spec 1.2 to 1.6) and their VEX statements, read leniently: only what
//! matching needs (each component's names, version, purl, CPE and bom-ref, nested components
//! flattened; the vulnerabilities' analysis states) is taken, and unknown or missing fields are
//! skipped rather than refused, because typed readers that reject 1.2 files or a vendor's extra
//! fields would leave a member unable to ask "am I affected?" about the SBOM it actually has.

use serde_json::Value;

use super::{Problem, array, parse_json, ptr, text};

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

/// Read a CycloneDX JSON BOM. Fails only when the bytes are not a CycloneDX JSON document;
/// components without a name are skipped (and reported in the error list only if nothing usable
/// remains).
pub fn parse(bytes: &[u8]) -> Result<Sbom, Vec<Problem>> {
    let doc = parse_json(bytes)?;
    if doc.get("bomFormat").and_then(Value::as_str) != Some("CycloneDX") {
        return Err(vec![Problem::new("/bomFormat", "not a CycloneDX BOM: bomFormat must be \"CycloneDX\"")]);
    }
    let mut problems = Vec::new();
    let spec_version = text(&doc, "specVersion").unwrap_or("").to_string();
    let subject = doc.pointer("/metadata/component").and_then(|c| component(c, "/metadata/component", &mut problems));
    let mut components = Vec::new();
    walk(array(&doc, "components"), "/components", 0, &mut components, &mut problems);
    let purl_of = |r: &str| {
        subject
            .iter()
            .chain(components.iter())
            .find(|c| c.bom_ref.as_deref() == Some(r))
            .and_then(|c| c.purl.clone())
            .or_else(|| r.starts_with("pkg:").then(|| r.to_string()))
    };
    let mut vex = Vec::new();
    for (i, v) in array(&doc, "vulnerabilities").iter().enumerate() {
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
