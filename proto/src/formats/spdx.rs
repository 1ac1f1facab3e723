//! SPDX 2.2 and 2.3 JSON SBOMs, read into the same model as CycloneDX ([`Sbom`]) so matching,
//! `affected` and VEX work the same whichever format a supplier ships.
//!
//! What is read: every package (`packages[]`) as a component: its `name`, `versionInfo`,
//! `supplier` (an `Organization: ...` supplier becomes the group, as CycloneDX's `group`), the
//! package URL from an `externalRefs` entry of type `purl` and the CPE from one of type
//! `cpe23Type` or `cpe22Type`; `SPDXID` becomes the bom-ref. The subject is the package the
//! document describes (`documentDescribes`, or a `DESCRIBES` relationship from
//! `SPDXRef-DOCUMENT`) when there is exactly one. Files and snippets carry no package identity
//! and are not read. SPDX 3.0 (JSON-LD) is not read: it is refused with a message that says so.
//!
//! [`validate`] checks the rules of SPDX 2.3 a consumer depends on: the document's own fields
//! (`spdxVersion`, `dataLicense` CC0-1.0, `SPDXID` SPDXRef-DOCUMENT, `name`,
//! `documentNamespace`, `creationInfo` with a `created` time and at least one creator), each
//! package's `name`, `SPDXID` (of the form `SPDXRef-[A-Za-z0-9.-]+`, unique in the document)
//! and `downloadLocation`, each package URL reference parses as a purl, and each relationship
//! names elements that exist (or an external document's). [`parse_checked`] refuses a document
//! that breaks one, unless lenient, as for CycloneDX.

use std::collections::HashSet;

use serde_json::Value;

use super::cyclonedx::{self, Component, MAX_SBOM_COMPONENTS, Sbom};
use super::{Problem, array, text};

/// Whether `doc` is an SPDX JSON document (it has `spdxVersion`, or is SPDX 3's JSON-LD).
pub fn is_spdx(doc: &Value) -> bool {
    doc.get("spdxVersion").is_some() || is_spdx3(doc)
}

fn is_spdx3(doc: &Value) -> bool {
    doc.get("@context").and_then(Value::as_str).is_some_and(|c| c.contains("spdx.org/rdf/3"))
}

fn is_spdx_id(s: &str) -> bool {
    s.strip_prefix("SPDXRef-").is_some_and(|rest| {
        !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    })
}

/// The rules of SPDX 2.3 that matching and provenance depend on; every problem found, each at
/// its JSON pointer.
pub fn validate(doc: &Value) -> Vec<Problem> {
    let mut p = Vec::new();
    let mut fail = |path: String, why: String| p.push(Problem::new(path, format!("SPDX: {why}")));
    if is_spdx3(doc) {
        fail(String::new(), "SPDX 3.0 (JSON-LD) is not read yet; export the SBOM as SPDX 2.3 JSON or CycloneDX".into());
        return p;
    }
    match doc.get("spdxVersion").and_then(Value::as_str) {
        Some("SPDX-2.2" | "SPDX-2.3") => {}
        Some(v) => fail("/spdxVersion".into(), format!("{v:?} is not a version read here (SPDX-2.2 or SPDX-2.3)")),
        None => fail("/spdxVersion".into(), "spdxVersion must be a string such as \"SPDX-2.3\"".into()),
    }
    if doc.get("dataLicense").and_then(Value::as_str) != Some("CC0-1.0") {
        fail("/dataLicense".into(), "dataLicense must be \"CC0-1.0\"".into());
    }
    if doc.get("SPDXID").and_then(Value::as_str) != Some("SPDXRef-DOCUMENT") {
        fail("/SPDXID".into(), "the document's SPDXID must be \"SPDXRef-DOCUMENT\"".into());
    }
    if text(doc, "name").is_none() {
        fail("/name".into(), "the document needs a name".into());
    }
    match text(doc, "documentNamespace") {
        Some(ns) if ns.contains("://") && !ns.contains('#') => {}
        Some(ns) => fail("/documentNamespace".into(), format!("{ns:?} is not an absolute URI without a fragment")),
        None => fail("/documentNamespace".into(), "the document needs a documentNamespace (a unique URI)".into()),
    }
    match doc.get("creationInfo") {
        Some(ci) => {
            match text(ci, "created") {
                Some(t) if super::time::parse_rfc3339_ms(t).is_some() => {}
                Some(t) => fail("/creationInfo/created".into(), format!("{t:?} is not a date-time (RFC 3339)")),
                None => fail("/creationInfo/created".into(), "creationInfo needs the time it was created".into()),
            }
            if array(ci, "creators").iter().filter_map(Value::as_str).next().is_none() {
                fail("/creationInfo/creators".into(), "creationInfo needs at least one creator".into());
            }
        }
        None => fail("/creationInfo".into(), "the document needs creationInfo (created, creators)".into()),
    }
    let mut ids: HashSet<&str> = HashSet::from(["SPDXRef-DOCUMENT"]);
    for (i, pkg) in array(doc, "packages").iter().enumerate() {
        let at = |k: &str| format!("/packages/{i}/{k}");
        if text(pkg, "name").is_none() {
            fail(at("name"), "a package needs a name".into());
        }
        match pkg.get("SPDXID").and_then(Value::as_str) {
            Some(id) if !is_spdx_id(id) => {
                fail(at("SPDXID"), format!("{id:?} is not of the form SPDXRef-<letters, digits, . or ->"))
            }
            Some(id) if !ids.insert(id) => fail(at("SPDXID"), format!("{id:?} is used by two elements")),
            Some(_) => {}
            None => fail(at("SPDXID"), "a package needs an SPDXID".into()),
        }
        if text(pkg, "downloadLocation").is_none() {
            fail(at("downloadLocation"), "a package needs a downloadLocation (a URL, NONE or NOASSERTION)".into());
        }
        for (j, r) in array(pkg, "externalRefs").iter().enumerate() {
            if r.get("referenceType").and_then(Value::as_str) == Some("purl") {
                let loc = r.get("referenceLocator").and_then(Value::as_str).unwrap_or("");
                if super::ident::Purl::parse(loc).is_none() {
                    fail(
                        format!("/packages/{i}/externalRefs/{j}/referenceLocator"),
                        format!("{loc:?} is not a package URL"),
                    );
                }
            }
        }
    }
    for key in ["files", "snippets"] {
        for el in array(doc, key) {
            if let Some(id) = el.get("SPDXID").and_then(Value::as_str) {
                ids.insert(id);
            }
        }
    }
    for (i, r) in array(doc, "relationships").iter().enumerate() {
        for side in ["spdxElementId", "relatedSpdxElement"] {
            let Some(id) = r.get(side).and_then(Value::as_str) else {
                fail(format!("/relationships/{i}/{side}"), "a relationship names both its elements".into());
                continue;
            };
            let known = ids.contains(id) || id.starts_with("DocumentRef-") || id == "NONE" || id == "NOASSERTION";
            if !known {
                fail(format!("/relationships/{i}/{side}"), format!("{id:?} is not an element of this document"));
            }
        }
    }
    p
}

fn component(pkg: &Value) -> Option<Component> {
    let name = text(pkg, "name")?.to_string();
    let refs = array(pkg, "externalRefs");
    let locator = |types: &[&str]| {
        refs.iter()
            .find(|r| r.get("referenceType").and_then(Value::as_str).is_some_and(|t| types.contains(&t)))
            .and_then(|r| r.get("referenceLocator").and_then(Value::as_str))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let group = text(pkg, "supplier")
        .and_then(|s| s.strip_prefix("Organization:"))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s != "NOASSERTION");
    Some(Component {
        bom_ref: text(pkg, "SPDXID").map(str::to_string),
        kind: text(pkg, "primaryPackagePurpose").map(str::to_ascii_lowercase),
        group,
        name,
        version: text(pkg, "versionInfo").map(str::to_string),
        purl: locator(&["purl"]),
        cpe: locator(&["cpe23Type", "cpe22Type"]),
    })
}

/// The one package the document describes, if exactly one is named.
fn described(doc: &Value) -> Option<String> {
    let mut ids: Vec<String> =
        array(doc, "documentDescribes").iter().filter_map(Value::as_str).map(str::to_string).collect();
    for r in array(doc, "relationships") {
        let from = r.get("spdxElementId").and_then(Value::as_str);
        let kind = r.get("relationshipType").and_then(Value::as_str);
        if from == Some("SPDXRef-DOCUMENT")
            && kind == Some("DESCRIBES")
            && let Some(to) = r.get("relatedSpdxElement").and_then(Value::as_str)
            && !ids.iter().any(|i| i == to)
        {
            ids.push(to.to_string());
        }
    }
    (ids.len() == 1).then(|| ids.remove(0))
}

fn read(doc: &Value) -> Result<Sbom, Vec<Problem>> {
    if !is_spdx(doc) {
        return Err(vec![Problem::new("/spdxVersion", "not an SPDX document: spdxVersion is missing")]);
    }
    let packages = array(doc, "packages");
    if packages.len() > MAX_SBOM_COMPONENTS {
        return Err(vec![Problem::new(
            "/packages",
            format!("{} packages; an SBOM may list at most {MAX_SBOM_COMPONENTS}", packages.len()),
        )]);
    }
    let subject_id = described(doc);
    let mut subject = None;
    let mut components = Vec::with_capacity(packages.len());
    for pkg in packages {
        let Some(c) = component(pkg) else { continue };
        if subject.is_none() && subject_id.is_some() && c.bom_ref == subject_id {
            subject = Some(c);
        } else {
            components.push(c);
        }
    }
    let version = doc.get("spdxVersion").and_then(Value::as_str).unwrap_or("SPDX").to_string();
    Ok(Sbom { spec_version: version, subject, components, vex: Vec::new() })
}

/// Validate and read an SPDX JSON SBOM: refused with every problem, unless `lenient`, in which
/// case it is read as far as it can be and the problems come back as warnings. SPDX 3.0 is
/// refused even when lenient.
pub fn parse_checked(bytes: &[u8], lenient: bool) -> Result<(Sbom, Vec<Problem>), Vec<Problem>> {
    checked(&cyclonedx::parse_json(bytes)?, lenient)
}

fn checked(doc: &Value, lenient: bool) -> Result<(Sbom, Vec<Problem>), Vec<Problem>> {
    let problems = validate(doc);
    if !problems.is_empty() && (!lenient || is_spdx3(doc)) {
        return Err(problems);
    }
    Ok((read(doc)?, problems))
}

/// Validate and read an SBOM in either format, told apart by structure: SPDX when the
/// top-level object has `spdxVersion` (or SPDX 3's context), CycloneDX otherwise (whose own
/// checks then say what is wrong with a document that is neither). The JSON is parsed once.
pub fn parse_any_checked(bytes: &[u8], lenient: bool) -> Result<(Sbom, Vec<Problem>), Vec<Problem>> {
    let doc = cyclonedx::parse_json(bytes)?;
    if is_spdx(&doc) { checked(&doc, lenient) } else { cyclonedx::checked(&doc, lenient) }
}

/// Read a stored SBOM in either format, without validating it.
pub fn parse_any(bytes: &[u8]) -> Result<Sbom, Vec<Problem>> {
    let doc = cyclonedx::parse_json(bytes)?;
    if is_spdx(&doc) { read(&doc) } else { cyclonedx::read(&doc) }
}
