//! The life of an advisory (§4.9): revisions, withdrawal, and what changed between them.
//!
//! An advisory is first published as an [`Advisory`] item (its revision 1). Its publisher may
//! later publish [`Revision`] items naming that first item by id: each carries the whole
//! advisory as it now reads, a revision number of at least 2, and, when it withdraws the
//! advisory, the reason. A revision is an advisory item (kind `Advisory`) in its publisher's
//! sequence, so catch-up sync carries it like any other item.
//!
//! Everything here is pure and deterministic: [`history`] computes the same history from the
//! same set of versions whatever order they arrived in, which is what lets every node show the
//! same latest revision.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::error::ProtoError;
use crate::ids::{GroupId, ItemId, OrgId};
use crate::items::{Advisory, Affected, SourceFormat, VersionEvent};
use crate::limits::MAX_SHORT;
use crate::tlp::Tlp;

/// The revision number of the first publication of an advisory (the [`Advisory`] item itself).
pub const FIRST_REVISION: u32 = 1;

/// A new revision of an advisory, published by the advisory's own publisher (§4.9).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    /// The item id of the advisory's first publication (revision 1), never of another revision.
    pub original: ItemId,
    /// At least 2; a higher number supersedes a lower one.
    pub revision: u32,
    /// The whole advisory as this revision has it.
    pub advisory: Advisory,
    /// Set when this revision withdraws the advisory: why.
    pub withdrawn: Option<String>,
}

impl Revision {
    /// Enforce §3.4 bounds and the revision's own rules (number, non-empty reason).
    pub fn check_limits(&self) -> Result<(), ProtoError> {
        if self.revision <= FIRST_REVISION {
            return Err(ProtoError::Invalid(format!(
                "revision number {} : a revision is numbered from {} on (the first publication is {FIRST_REVISION})",
                self.revision,
                FIRST_REVISION + 1
            )));
        }
        self.advisory.check_limits()?;
        if let Some(r) = &self.withdrawn {
            if r.len() > MAX_SHORT {
                return Err(ProtoError::FieldTooLong { field: "withdrawn", max: MAX_SHORT });
            }
            if r.trim().is_empty() {
                return Err(ProtoError::Invalid("a withdrawal needs a reason".into()));
            }
        }
        Ok(())
    }
}

/// One version of an advisory as a node holds it: the header fields that matter (from the
/// signed envelope) and the content (from the payload).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub id: ItemId,
    pub group: GroupId,
    pub sender: OrgId,
    pub tlp: Tlp,
    pub revision: u32,
    pub advisory: Advisory,
    pub withdrawn: Option<String>,
}

impl Version {
    /// The first publication, from its envelope's header and its [`Advisory`].
    pub fn first(id: ItemId, group: GroupId, sender: OrgId, tlp: Tlp, advisory: Advisory) -> Version {
        Version { id, group, sender, tlp, revision: FIRST_REVISION, advisory, withdrawn: None }
    }

    /// A revision, from its envelope's header and its [`Revision`].
    pub fn of_revision(id: ItemId, group: GroupId, sender: OrgId, tlp: Tlp, r: Revision) -> Version {
        Version { id, group, sender, tlp, revision: r.revision, advisory: r.advisory, withdrawn: r.withdrawn }
    }
}

/// Why `rev` cannot be a revision of `original` (§4.9), or `Ok`. Every node applies these same
/// rules, on receipt when it already holds the original and again whenever it computes a
/// history, so a revision that breaks them never counts anywhere.
pub fn admit(original: &Version, rev: &Version) -> Result<(), String> {
    if original.revision != FIRST_REVISION {
        return Err(format!("{} is itself a revision; a revision names the first publication", original.id.short()));
    }
    if rev.sender != original.sender {
        return Err(format!(
            "advisory {} was published by {}, this revision is signed by {}: only the publisher may revise or \
             withdraw an advisory",
            original.id.short(),
            original.sender.fingerprint(),
            rev.sender.fingerprint()
        ));
    }
    if rev.group != original.group {
        return Err(format!("advisory {} belongs to another group than this revision", original.id.short()));
    }
    if rev.tlp < original.tlp {
        return Err(format!(
            "advisory {} is {}; a revision cannot loosen it to {}",
            original.id.short(),
            original.tlp.label(),
            rev.tlp.label()
        ));
    }
    if rev.revision <= FIRST_REVISION {
        return Err(format!("revision number {} is not above {FIRST_REVISION}", rev.revision));
    }
    Ok(())
}

/// The order of versions (§4.9): by revision number, then by item id, so that of two versions
/// with one number the one with the lower id comes first and wins.
pub fn order(a: &Version, b: &Version) -> Ordering {
    a.revision.cmp(&b.revision).then_with(|| a.id.cmp(&b.id))
}

/// The history of one advisory: its first publication and every admitted revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History {
    /// Every admitted version, the first publication first, then in [`order`]; twins of an
    /// equivocation are all here.
    pub versions: Vec<Version>,
    /// Revision numbers under which the publisher signed two or more different revisions.
    pub equivocations: Vec<u32>,
    /// Versions offered that [`admit`] refused, with the reason.
    pub refused: Vec<(ItemId, String)>,
}

impl History {
    /// The versions that count, one per revision number (the lowest id of each), in order.
    pub fn chain(&self) -> Vec<&Version> {
        let mut out: Vec<&Version> = Vec::new();
        for v in &self.versions {
            if out.last().is_none_or(|l| l.revision != v.revision) {
                out.push(v);
            }
        }
        out
    }

    /// The version shown: the winner of the highest revision number.
    pub fn latest(&self) -> &Version {
        self.chain().pop().unwrap_or(&self.versions[0])
    }

    /// Whether `id` is a twin that lost its revision number to a lower id.
    pub fn is_outvoted(&self, id: &ItemId) -> bool {
        let chain = self.chain();
        self.versions.iter().any(|v| v.id == *id) && !chain.iter().any(|c| c.id == *id)
    }
}

/// The history of `original` from any set of candidate revisions, in any order: refused ones
/// are set aside, duplicates (the same id twice) counted once, the rest ordered by [`order`].
pub fn history(original: Version, candidates: impl IntoIterator<Item = Version>) -> History {
    let mut versions = Vec::new();
    let mut refused = Vec::new();
    for c in candidates {
        if c.id == original.id {
            continue;
        }
        match admit(&original, &c) {
            Ok(()) => versions.push(c),
            Err(why) => refused.push((c.id, why)),
        }
    }
    versions.sort_by(order);
    versions.dedup_by(|a, b| a.id == b.id);
    refused.sort();
    refused.dedup_by(|a, b| a.0 == b.0);
    let mut equivocations: Vec<u32> =
        versions.windows(2).filter(|w| w[0].revision == w[1].revision).map(|w| w[0].revision).collect();
    equivocations.dedup();
    versions.insert(0, original);
    History { versions, equivocations, refused }
}

/// One field that differs between two versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub before: String,
    pub after: String,
}

fn affected_text(a: &Affected) -> String {
    let mut s =
        a.purl.clone().or_else(|| a.cpe.clone()).unwrap_or_else(|| {
            format!("{} {}", a.vendor.as_deref().unwrap_or("-"), a.product.as_deref().unwrap_or("-"))
        });
    let mut parts: Vec<String> = Vec::new();
    for r in &a.ranges {
        for e in &r.events {
            parts.push(match e {
                VersionEvent::Introduced(v) => format!("introduced {v}"),
                VersionEvent::Fixed(v) => format!("fixed {v}"),
                VersionEvent::LastAffected(v) => format!("last affected {v}"),
                VersionEvent::Limit(v) => format!("limit {v}"),
            });
        }
    }
    parts.extend(a.versions.iter().map(|v| format!("version {v}")));
    if !parts.is_empty() {
        s.push_str(&format!(" ({})", parts.join(", ")));
    }
    s
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_else(|| "-".into())
}

fn list(l: &[String]) -> String {
    if l.is_empty() { "-".into() } else { l.join("; ") }
}

/// What changed from `old` to `new`, field by field (§4.9). Lists are compared as wholes and
/// shown in full on both sides; an embedded source document is compared by its bytes.
pub fn diff(old: &Version, new: &Version) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let mut push = |field: &str, before: String, after: String| {
        if before != after {
            out.push(FieldChange { field: field.into(), before, after });
        }
    };
    let (a, b) = (&old.advisory, &new.advisory);
    push("tlp", old.tlp.as_str().into(), new.tlp.as_str().into());
    push("withdrawn", opt(&old.withdrawn), opt(&new.withdrawn));
    push("title", a.title.clone(), b.title.clone());
    push("summary", a.summary.clone(), b.summary.clone());
    push("category", a.category.as_str().into(), b.category.as_str().into());
    let sev = |adv: &Advisory| match &adv.severity {
        None => "-".to_string(),
        Some(s) => match &s.vector {
            Some(v) => format!("{v} ({:.1})", s.score_tenths as f32 / 10.0),
            None => format!("{:.1}", s.score_tenths as f32 / 10.0),
        },
    };
    push("severity", sev(a), sev(b));
    push("source_id", a.reference_id.clone(), b.reference_id.clone());
    push("aliases", list(&a.aliases), list(&b.aliases));
    let aff = |adv: &Advisory| adv.affected.iter().map(affected_text).collect::<Vec<_>>();
    push("affected", list(&aff(a)), list(&aff(b)));
    push("references", list(&a.references), list(&b.references));
    push("remediation", opt(&a.remediation), opt(&b.remediation));
    let src = |adv: &Advisory| match &adv.source {
        None => "-".to_string(),
        Some(d) => {
            use sha2::Digest;
            let h = sha2::Sha256::digest(&d.bytes);
            let fmt = match d.format {
                SourceFormat::Csaf => "CSAF",
                SourceFormat::Osv => "OSV",
            };
            let version = source_version(adv).map(|v| format!(" version {v}")).unwrap_or_default();
            format!(
                "{fmt} document{version}, {} bytes, sha256 {}",
                d.bytes.len(),
                data_encoding::HEXLOWER.encode(&h[..8])
            )
        }
    };
    push("source", src(a), src(b));
    out
}

/// The version an embedded source document gives itself: a CSAF document's
/// `/document/tracking/version`, an OSV record's `modified`. `None` without a document.
pub fn source_version(adv: &Advisory) -> Option<String> {
    let src = adv.source.as_ref()?;
    let doc: serde_json::Value = serde_json::from_slice(&src.bytes).ok()?;
    let v = match src.format {
        SourceFormat::Csaf => doc.pointer("/document/tracking/version")?,
        SourceFormat::Osv => doc.get("modified")?,
    };
    v.as_str().map(|s| s.chars().take(64).collect())
}

/// How a document about to be imported compares with the one a held advisory carries (§4.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceOrder {
    /// The new document is a later version: publish it as a revision.
    Newer,
    /// The same document (same bytes): nothing to publish.
    Same,
    /// The same version with different bytes: a document must change its version when it
    /// changes, so this is refused.
    SameVersionChanged,
    /// An earlier version than the one held: refused.
    Older,
}

/// Compare the document in `new` with the one in `held` (both must carry one, of one format):
/// CSAF by its tracking version (integer versioning or semantic versioning, §3.1.11.5 of the
/// CSAF standard), OSV by `modified`; ties on the version are settled by the bytes.
pub fn compare_sources(held: &Advisory, new: &Advisory) -> Option<SourceOrder> {
    let (h, n) = (held.source.as_ref()?, new.source.as_ref()?);
    if h.format != n.format {
        return None;
    }
    if h.bytes == n.bytes {
        return Some(SourceOrder::Same);
    }
    let ord = match h.format {
        SourceFormat::Csaf => {
            let (hv, nv) = (source_version(held)?, source_version(new)?);
            compare_versions(&hv, &nv)
        }
        SourceFormat::Osv => held.updated_ms.cmp(&new.updated_ms),
    };
    Some(match ord {
        Ordering::Less => SourceOrder::Newer,
        Ordering::Equal => SourceOrder::SameVersionChanged,
        Ordering::Greater => SourceOrder::Older,
    })
}

/// Order two CSAF tracking versions: integers numerically, otherwise as semantic versions.
fn compare_versions(a: &str, b: &str) -> Ordering {
    use crate::formats::version::{Semver, compare_generic};
    match (a.trim().parse::<u64>(), b.trim().parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => match (Semver::parse(a), Semver::parse(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => compare_generic(a, b),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(id: u8, sender: u8, rev: u32, title: &str) -> Version {
        Version {
            id: ItemId([id; 32]),
            group: GroupId([1; 32]),
            sender: OrgId([sender; 32]),
            tlp: Tlp::Green,
            revision: rev,
            advisory: Advisory::text(title, "s", 0),
            withdrawn: None,
        }
    }

    #[test]
    fn latest_is_highest_revision_and_twins_resolve_by_id() {
        let h = history(v(0, 1, 1, "a"), [v(5, 1, 3, "c"), v(4, 1, 2, "b"), v(3, 1, 3, "c'")]);
        assert_eq!(h.latest().id, ItemId([3; 32]));
        assert_eq!(h.equivocations, vec![3]);
        assert!(h.is_outvoted(&ItemId([5; 32])));
        assert_eq!(h.chain().len(), 3);
    }

    #[test]
    fn only_the_publisher_in_its_group_and_never_looser() {
        let mut forged = v(9, 2, 2, "forged");
        let h = history(v(0, 1, 1, "a"), [forged.clone()]);
        assert_eq!(h.latest().id, ItemId([0; 32]));
        assert!(h.refused[0].1.contains("only the publisher"), "{:?}", h.refused);
        forged.sender = OrgId([1; 32]);
        forged.tlp = Tlp::Clear;
        assert!(admit(&v(0, 1, 1, "a"), &forged).unwrap_err().contains("cannot loosen"));
        forged.tlp = Tlp::Amber;
        forged.group = GroupId([2; 32]);
        assert!(admit(&v(0, 1, 1, "a"), &forged).is_err());
    }

    #[test]
    fn diff_names_changed_fields_only() {
        let a = v(0, 1, 1, "old");
        let mut b = v(1, 1, 2, "new");
        b.withdrawn = Some("duplicate".into());
        let d = diff(&a, &b);
        let fields: Vec<&str> = d.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, vec!["withdrawn", "title"]);
        assert!(diff(&a, &a).is_empty());
    }

    #[test]
    fn csaf_versions_compare_as_integers_or_semver() {
        assert_eq!(compare_versions("2", "10"), Ordering::Less);
        assert_eq!(compare_versions("1.0.0", "1.1.0"), Ordering::Less);
        assert_eq!(compare_versions("2.0.0", "1.9.9"), Ordering::Greater);
    }

    #[test]
    fn revision_limits() {
        let r =
            Revision { original: ItemId([0; 32]), revision: 1, advisory: Advisory::text("t", "s", 0), withdrawn: None };
        assert!(r.check_limits().is_err());
        let r = Revision { revision: 2, withdrawn: Some(" ".into()), ..r };
        assert!(r.check_limits().is_err());
        let r = Revision { withdrawn: Some("wrong product".into()), ..r };
        assert!(r.check_limits().is_ok());
    }
}
