//! The field's formats: pure mappings between the native [`Advisory`] and the documents security
//! teams already exchange — CSAF 2.0 and OSV advisories in, CSAF, OSV, STIX 2.1 bundles and MISP
//! feeds out, CycloneDX SBOMs (with VEX) read — and the version matching that answers "am I
//! affected?". It exists so that a node can take in what a vendor publishes without a human
//! retyping it, and hand out what it holds to the tools its members already run.
//!
//! Everything here is a function of its arguments: bytes in, values out, times passed as Unix
//! milliseconds. An import never fails on the first defect: it returns every [`Problem`] it found,
//! each with the JSON pointer of the offending field, so a publisher fixes a document in one pass.

use crate::Tlp;
use crate::items::Advisory;
use crate::limits::MAX_SOURCE_DOC_BYTES;
use serde_json::Value;

pub mod csaf;
mod csaf_export;
mod csaf_products;
mod csaf_validate;
pub mod cvss;
pub mod cyclonedx;
pub mod ident;
pub mod matching;
pub mod misp;
pub mod osv;
pub mod spdx;
pub mod stix;
pub mod time;
pub mod version;

/// One defect of an imported document: where (a JSON pointer such as `/document/title`) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub reason: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Problem { path: path.into(), reason: reason.into() }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() { "/" } else { &self.path };
        write!(f, "{path}: {}", self.reason)
    }
}

/// What a document is, judged by its structure (never by a file name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DetectedFormat {
    /// A CSAF advisory: an object with `document.csaf_version`.
    Csaf,
    /// An OSV record: an object with a string `id` and `modified`, or `affected`/`schema_version`.
    Osv,
    /// A CycloneDX BOM (or VEX): `bomFormat` is `CycloneDX`.
    CycloneDx,
    /// An SPDX JSON SBOM: `spdxVersion`.
    Spdx,
    /// A STIX 2.x bundle: `type` is `bundle`.
    StixBundle,
}

/// An advisory taken in from an outside document, with the TLP label the document itself carries.
/// The label is advice to the importer: the TLP an item travels under is chosen when publishing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    pub advisory: Advisory,
    pub tlp: Option<Tlp>,
}

/// A received advisory together with what an export needs beside it: who published it, under
/// which label, and when this node received it (the export's timestamps derive from these, so
/// exporting the same items twice yields the same bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportItem {
    /// The item id's text form.
    pub id: String,
    pub advisory: Advisory,
    pub tlp: Tlp,
    pub publisher_name: String,
    /// The publishing org's id, text form.
    pub publisher_id: String,
    pub received_ms: u64,
}

/// Tell which format `bytes` hold.
pub fn detect(bytes: &[u8]) -> Result<DetectedFormat, Problem> {
    let v = parse_json(bytes).map_err(|mut p| p.remove(0))?;
    let Some(obj) = v.as_object() else {
        return Err(Problem::new("", "the document is not a JSON object"));
    };
    if v.pointer("/document/csaf_version").is_some() {
        return Ok(DetectedFormat::Csaf);
    }
    if obj.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        return Ok(DetectedFormat::CycloneDx);
    }
    if obj.contains_key("spdxVersion") {
        return Ok(DetectedFormat::Spdx);
    }
    if obj.get("type").and_then(Value::as_str) == Some("bundle") {
        return Ok(DetectedFormat::StixBundle);
    }
    let has_str = |k: &str| obj.get(k).is_some_and(Value::is_string);
    if has_str("id") && (has_str("modified") || obj.contains_key("affected")) {
        return Ok(DetectedFormat::Osv);
    }
    Err(Problem::new(
        "",
        "not a format Trellis reads: expected CSAF 2.0 (document.csaf_version), OSV (id and \
         modified), CycloneDX (bomFormat) or SPDX (spdxVersion)",
    ))
}

/// Parse JSON, turning a syntax error into one problem that names the line and column. Documents
/// larger than an advisory may embed are refused before parsing.
pub(crate) fn parse_json(bytes: &[u8]) -> Result<Value, Vec<Problem>> {
    if bytes.len() > MAX_SOURCE_DOC_BYTES {
        return Err(vec![Problem::new(
            "",
            format!("the document has {} bytes; an advisory can carry at most {MAX_SOURCE_DOC_BYTES}", bytes.len()),
        )]);
    }
    serde_json::from_slice(bytes)
        .map_err(|e| vec![Problem::new("", format!("invalid JSON at line {}, column {}: {e}", e.line(), e.column()))])
}

/// Append a key to a JSON pointer, escaping `~` and `/` (RFC 6901).
pub(crate) fn ptr(base: &str, key: &str) -> String {
    format!("{base}/{}", key.replace('~', "~0").replace('/', "~1"))
}

/// The string at `key`, trimmed, if it is a non-empty string.
pub(crate) fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

/// The array at `key`, or an empty slice.
pub(crate) fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// Cut `s` to at most `max` bytes on a character boundary.
pub(crate) fn clip(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// Push `s` unless it is already present (keeps first-seen order, which is the document's).
pub(crate) fn push_unique(list: &mut Vec<String>, s: &str) {
    if !s.is_empty() && !list.iter().any(|x| x == s) {
        list.push(s.to_string());
    }
}

/// A deterministic UUID for `name` in `namespace`, for export ids that stay the same for the
/// same item on every node. It is built like a version 5 (name-based) UUID and carries version 5
/// and the RFC 4122 variant, but hashes with SHA-256 (truncated) instead of SHA-1, which is not a
/// dependency of this crate: nothing needs to recompute it with a stock v5 function, and STIX's
/// identifier pattern accepts only versions 1 to 5 (RFC 9562's SHA-256 version 8 is refused).
pub fn name_uuid(namespace: &str, name: &str) -> String {
    let h = crate::ids::tagged_hash("trellis/formats/uuid/v1", &[namespace.as_bytes(), name.as_bytes()]);
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = data_encoding::HEXLOWER.encode(&b);
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_by_structure() {
        assert_eq!(detect(br#"{"document":{"csaf_version":"2.0"}}"#), Ok(DetectedFormat::Csaf));
        assert_eq!(detect(br#"{"id":"GO-1","modified":"2021-01-01T00:00:00Z"}"#), Ok(DetectedFormat::Osv));
        assert_eq!(detect(br#"{"bomFormat":"CycloneDX","specVersion":"1.5"}"#), Ok(DetectedFormat::CycloneDx));
        assert_eq!(detect(br#"{"spdxVersion":"SPDX-2.3"}"#), Ok(DetectedFormat::Spdx));
        assert_eq!(detect(br#"{"type":"bundle","id":"bundle--1"}"#), Ok(DetectedFormat::StixBundle));
        assert!(detect(br#"{"title":"x"}"#).is_err());
        assert!(detect(b"[1,2]").is_err());
        let e = detect(b"{\n  \"a\": ,\n}").unwrap_err();
        assert!(e.reason.contains("line 2"), "{e}");
    }

    #[test]
    fn pointer_escaping_and_clip() {
        assert_eq!(ptr("/a", "b/c~d"), "/a/b~1c~0d");
        assert_eq!(clip("héllo".into(), 2), "h");
        assert_eq!(clip("abc".into(), 5), "abc");
    }

    #[test]
    fn name_uuid_is_stable_and_well_formed() {
        let a = name_uuid("stix", "item-1");
        assert_eq!(a, name_uuid("stix", "item-1"));
        assert_ne!(a, name_uuid("stix", "item-2"));
        assert_ne!(a, name_uuid("misp", "item-1"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "5", "version nibble");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "variant bits");
    }
}
