//! The field's formats at the node: importing a CSAF 2.0 or OSV document as an advisory, and
//! exporting what TLP allows as CSAF, OSV, STIX 2.1 or a MISP feed. The mappings themselves are
//! pure and live in `trellis_proto::formats`; this file owns the two node-side rules around them:
//!
//! - **Import keeps the document whole** (§4.1: `advisory.source`) and never loosens its label:
//!   a TLP inside the document that is stricter than the one asked for refuses the publish
//!   instead of silently lowering it; an equal or stricter `--tlp` is used as given.
//! - **Export is CLEAR only** (§5.3, [`Tlp::exportable`]): GREEN never goes to public feeds and
//!   the named-recipient labels are refused; everything held back is counted by label so the
//!   operator sees what was withheld and why.

use std::collections::BTreeMap;
use std::sync::Arc;

use trellis_proto::formats::{self, DetectedFormat, ExportItem, Imported, csaf, misp, osv, stix};
use trellis_proto::items::SourceFormat;
use trellis_proto::{GroupId, ItemId, Payload, Tlp};

use super::actions::Audience;
use super::{ActionError, Engine};
use crate::api::types::{ExportFile, ExportRequest, ExportResult, ImportAdvisory};

fn bad(msg: impl Into<String>) -> ActionError {
    ActionError::BadRequest(msg.into())
}

/// The label an imported document is published under: `asked`, unless the document carries a
/// stricter one, in which case the publish is refused (a label is never lowered on the way in).
pub fn import_tlp(asked: Tlp, in_document: Option<Tlp>) -> Result<Tlp, String> {
    match in_document {
        Some(doc) if doc > asked => Err(format!(
            "the document is labelled {}, which is stricter than --tlp {}; publishing it would loosen its \
             label. Publish with --tlp {} (or stricter)",
            doc.label(),
            asked.as_str(),
            doc.as_str()
        )),
        _ => Ok(asked),
    }
}

/// Run the import mapping of `format` (or of the detected format) over `bytes`. Errors are the
/// document's problems, one per line (`/json/pointer: reason`).
pub fn import_document(format: Option<&str>, bytes: &[u8]) -> Result<Imported, String> {
    let fmt = match format.map(str::trim).map(str::to_ascii_lowercase).as_deref() {
        Some("csaf") => DetectedFormat::Csaf,
        Some("osv") => DetectedFormat::Osv,
        Some(other) if other != "auto" => {
            return Err(format!("unknown import format {other:?}: use csaf or osv (or leave it out to detect)"));
        }
        _ => formats::detect(bytes).map_err(|p| p.to_string())?,
    };
    let result = match fmt {
        DetectedFormat::Csaf => csaf::import(bytes),
        DetectedFormat::Osv => osv::import(bytes),
        other => {
            return Err(format!(
                "this is a {other:?} document, not an advisory: only CSAF 2.0 and OSV documents can be published \
                 (SBOMs go to `trellis sbom add`)"
            ));
        }
    };
    result.map_err(|problems| {
        let mut msg = format!(
            "the document has {} problem{}; nothing was published:",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        );
        for p in problems {
            msg.push('\n');
            msg.push_str(&p.to_string());
        }
        msg
    })
}

/// Why an item is not exported, as shown in the summary.
fn withheld_reason(t: Tlp) -> &'static str {
    match t {
        Tlp::Clear => "",
        Tlp::Green => "community only: no export to public feeds",
        Tlp::Amber | Tlp::AmberStrict | Tlp::Red => "named recipients only: export refused",
    }
}

/// A safe file name from an identifier: keeps letters, digits, `-`, `_` and `.`.
pub fn file_stem(s: &str) -> String {
    let t: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect();
    let t = t.trim_matches('.').to_string();
    if t.is_empty() { "advisory".into() } else { t.chars().take(120).collect() }
}

/// Readable advisories of `groups` received at or after `since_ms`, split into what TLP lets
/// this node export (CLEAR) and counts of the rest by label.
pub struct Exportable {
    pub items: Vec<ExportItem>,
    pub withheld: BTreeMap<Tlp, usize>,
}

impl Engine {
    /// `POST /v1/advisories/import`: publish a CSAF or OSV document as an advisory.
    pub async fn import_advisory(self: &Arc<Self>, req: &ImportAdvisory) -> Result<ItemId, ActionError> {
        let gid = self.resolve_group(&req.group)?;
        let asked = req.tlp;
        let imported = import_document(req.format.as_deref(), req.document.as_bytes()).map_err(bad)?;
        let tlp = import_tlp(asked, imported.tlp).map_err(bad)?;
        imported.advisory.check_limits().map_err(|e| bad(format!("the imported advisory is out of bounds: {e}")))?;
        // §4.9: a later version of a document this org already published is a revision of it.
        if let Some((id, _)) = self.import_as_revision(gid, &imported, tlp).await? {
            return Ok(id);
        }
        let advisory = imported.advisory;
        let audience = match tlp {
            Tlp::Clear => Audience::Clear,
            Tlp::Green if !req.to.is_empty() => {
                return Err(bad("--to names recipients, which only AMBER, AMBER+STRICT and RED use"));
            }
            Tlp::Green => Audience::Group,
            _ => Audience::Orgs(self.named_recipients(&gid, tlp, &req.to)?),
        };
        let (id, _) = self.publish_payload(gid, tlp, Payload::Advisory(advisory), audience).await?;
        tracing::info!(item = %id.short(), group = %gid.short(), tlp = tlp.as_str(), "document imported");
        Ok(id)
    }

    /// The advisories of `groups` this node can read, received at or after `since_ms`, split by
    /// whether TLP lets them be exported.
    pub fn exportable(&self, groups: &[GroupId], since_ms: u64) -> Result<Exportable, ActionError> {
        let mut out = Exportable { items: Vec::new(), withheld: BTreeMap::new() };
        for gid in groups {
            // Each advisory as its latest revision reads (§4.9), if that changed since `since_ms`.
            for held in self.held_advisories(gid)? {
                let (latest, env, received_ms) = held.latest();
                // A withdrawn advisory is not exported: the formats carry no withdrawal we could
                // be sure every consumer reads.
                if received_ms < since_ms || held.withdrawn().is_some() {
                    continue;
                }
                let advisory = latest.advisory.clone();
                let tlp = env.header.tlp;
                if !tlp.exportable() {
                    *out.withheld.entry(tlp).or_default() += 1;
                    continue;
                }
                let publisher = env.header.sender;
                out.items.push(ExportItem {
                    id: held.id().to_text(),
                    advisory,
                    tlp,
                    publisher_name: self.name_of(&publisher).unwrap_or_default(),
                    publisher_id: publisher.to_text(),
                    received_ms,
                });
            }
        }
        out.items.sort_by(|a, b| (a.received_ms, &a.id).cmp(&(b.received_ms, &b.id)));
        Ok(out)
    }

    /// `POST /v1/export`: the files of an export, with what was withheld.
    pub fn export(&self, req: &ExportRequest) -> Result<ExportResult, ActionError> {
        let groups = match &req.group {
            Some(g) => vec![self.resolve_group(g)?],
            None => self.group_ids(),
        };
        let Exportable { items, withheld } = self.exportable(&groups, req.since_ms.unwrap_or(0))?;
        let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
        let mut files = Vec::new();
        match req.format.as_str() {
            "csaf" => {
                for it in &items {
                    let bytes = csaf::export(it);
                    let stem = if it.advisory.reference_id.is_empty() { &it.id } else { &it.advisory.reference_id };
                    files.push(ExportFile {
                        name: format!("{}.csaf.json", file_stem(stem)),
                        content: String::from_utf8_lossy(&bytes).into_owned(),
                    });
                }
            }
            "osv" => {
                for it in &items {
                    let a = &it.advisory;
                    let content = match &a.source {
                        // An OSV record leaves as it came in, like a CSAF document does.
                        Some(src) if src.format == SourceFormat::Osv => {
                            String::from_utf8_lossy(&src.bytes).into_owned()
                        }
                        _ => {
                            let id = if a.reference_id.is_empty() {
                                format!("TRELLIS-{}", &it.id[..it.id.len().min(16)])
                            } else {
                                a.reference_id.clone()
                            };
                            pretty(&osv::export(a, &id, a.updated_ms.max(it.received_ms)))
                        }
                    };
                    let stem = if a.reference_id.is_empty() { &it.id } else { &a.reference_id };
                    files.push(ExportFile { name: format!("{}.osv.json", file_stem(stem)), content });
                }
            }
            "stix" => {
                if !items.is_empty() {
                    files.push(ExportFile {
                        name: "bundle.stix.json".into(),
                        content: pretty(&stix::export_bundle(&items)),
                    });
                }
            }
            "misp" => {
                let (manifest, events) = misp::export_feed(&items);
                files.push(ExportFile { name: "manifest.json".into(), content: pretty(&manifest) });
                for (uuid, ev) in events {
                    files.push(ExportFile { name: format!("{}.json", file_stem(&uuid)), content: pretty(&ev) });
                }
            }
            other => return Err(bad(format!("unknown export format {other:?}: use csaf, osv, stix or misp"))),
        }
        let withheld_total = withheld.values().sum();
        let reasons = withheld.keys().map(|t| (t.label().to_string(), withheld_reason(*t).to_string())).collect();
        tracing::info!(format = %req.format, exported = items.len(), withheld = withheld_total, "export");
        Ok(ExportResult {
            format: req.format.clone(),
            exported: items.len(),
            withheld: withheld_total,
            withheld_by_label: withheld.into_iter().map(|(t, n)| (t.label().to_string(), n)).collect(),
            reasons,
            files,
        })
    }
}

/// A received advisory whose source is a CSAF document passes the checks an import runs (the
/// schema basics and the mandatory tests): a CSAF document that fails one may not be published,
/// and a peer's node may be older, or modified. The failure is the item's rejection reason.
pub fn check_received(payload: &Payload) -> Result<(), trellis_proto::ProtoError> {
    let Payload::Advisory(a) = payload else { return Ok(()) };
    let Some(src) = a.source.as_ref().filter(|s| s.format == SourceFormat::Csaf) else { return Ok(()) };
    let doc: serde_json::Value = serde_json::from_slice(&src.bytes)
        .map_err(|e| trellis_proto::ProtoError::Invalid(format!("CSAF source is not JSON: {e}")))?;
    match csaf::validate(&doc).first() {
        None => Ok(()),
        Some(p) => Err(trellis_proto::ProtoError::Invalid(format!("CSAF source fails a mandatory check: {p}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_csaf_sources_are_checked() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../proto/tests/fixtures/csaf-gateway-advisory.json");
        let bytes = std::fs::read(path).unwrap();
        let ok = csaf::import(&bytes).unwrap().advisory;
        assert_eq!(check_received(&Payload::Advisory(ok.clone())), Ok(()));
        // The same advisory whose kept document lists its revisions out of order (6.1.14).
        let mut doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        doc["document"]["tracking"]["revision_history"] = serde_json::json!([
            {"date": "2024-05-02T10:00:00Z", "number": "1", "summary": "Initial release."},
            {"date": "2024-05-01T10:00:00Z", "number": "2", "summary": "Earlier, yet numbered later."}
        ]);
        doc["document"]["tracking"]["version"] = "2".into();
        let mut bad = ok;
        bad.source.as_mut().unwrap().bytes = serde_json::to_vec(&doc).unwrap();
        let e = check_received(&Payload::Advisory(bad)).unwrap_err().to_string();
        assert!(e.contains("6.1.14"), "{e}");
    }

    #[test]
    fn a_stricter_document_label_refuses_a_looser_publish() {
        assert_eq!(import_tlp(Tlp::Amber, Some(Tlp::Clear)), Ok(Tlp::Amber));
        assert_eq!(import_tlp(Tlp::Amber, Some(Tlp::Amber)), Ok(Tlp::Amber));
        assert_eq!(import_tlp(Tlp::Green, None), Ok(Tlp::Green));
        let e = import_tlp(Tlp::Clear, Some(Tlp::Amber)).unwrap_err();
        assert!(e.contains("TLP:AMBER") && e.contains("--tlp amber"), "{e}");
    }

    #[test]
    fn problems_are_listed_one_per_line() {
        let e = import_document(Some("csaf"), br#"{"document":{"csaf_version":"2.0"}}"#).unwrap_err();
        let lines: Vec<&str> = e.lines().collect();
        assert!(lines[0].contains("nothing was published"), "{e}");
        assert!(lines.iter().any(|l| l.starts_with("/document/title: ")), "{e}");
        assert!(import_document(Some("stix"), b"{}").unwrap_err().contains("unknown import format"));
        let sbom = br#"{"bomFormat":"CycloneDX","specVersion":"1.5"}"#;
        assert!(import_document(None, sbom).unwrap_err().contains("trellis sbom add"));
    }

    #[test]
    fn file_stems_are_safe() {
        assert_eq!(file_stem("RHSA-2019:1862"), "RHSA-2019_1862");
        assert_eq!(file_stem("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(file_stem(""), "advisory");
    }
}
