//! The item kinds (§4): what organizations share. Each is a plain data type; [`Payload`] is the
//! enum carried (encrypted or not) inside an envelope. `check_limits` enforces the documented
//! bounds (§3.4) on every string and list after decoding.

use serde::{Deserialize, Serialize};

use crate::error::ProtoError;
use crate::group::{EpochKeyShares, GroupOp};
use crate::ids::{ItemId, OrgId};
use crate::keys::SignedKeyBundle;
use crate::limits::*;

/// Advisory category.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Category {
    Vulnerability,
    Incident,
    Threat,
    Guidance,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Vulnerability => "vulnerability",
            Category::Incident => "incident",
            Category::Threat => "threat",
            Category::Guidance => "guidance",
        }
    }
}

impl std::str::FromStr for Category {
    type Err = ProtoError;
    fn from_str(s: &str) -> Result<Self, ProtoError> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "vulnerability" | "vuln" => Category::Vulnerability,
            "incident" => Category::Incident,
            "threat" => Category::Threat,
            "guidance" => Category::Guidance,
            _ => {
                return Err(ProtoError::Invalid(format!(
                    "unknown category {s:?}: vulnerability, incident, threat or guidance"
                )));
            }
        })
    }
}

/// Severity: a CVSS vector and its base score in tenths (9.8 → 98).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Severity {
    pub vector: Option<String>,
    pub score_tenths: u8,
}

/// One OSV-style version event (§4.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VersionEvent {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}

/// How the versions of a range compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RangeKind {
    Semver,
    Ecosystem,
    Git,
}

/// A range of affected versions: events evaluated in order, as in the OSV schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRange {
    pub kind: RangeKind,
    pub events: Vec<VersionEvent>,
}

/// An affected product, by package URL, CPE, or vendor/product names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Affected {
    pub purl: Option<String>,
    pub cpe: Option<String>,
    pub vendor: Option<String>,
    pub product: Option<String>,
    /// Explicitly listed affected versions.
    pub versions: Vec<String>,
    pub ranges: Vec<VersionRange>,
}

/// The format of an embedded source document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SourceFormat {
    Csaf,
    Osv,
}

/// A source document kept whole and unchanged inside the signed item (§4.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceDocument {
    pub format: SourceFormat,
    #[serde(with = "crate::codec::bytes")]
    pub bytes: Vec<u8>,
}

/// A security advisory (§4.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advisory {
    /// The publisher's own identifier (for example a CSAF tracking id); may be empty.
    pub reference_id: String,
    pub title: String,
    pub summary: String,
    pub category: Category,
    pub severity: Option<Severity>,
    /// CVE ids and other aliases.
    pub aliases: Vec<String>,
    pub affected: Vec<Affected>,
    pub references: Vec<String>,
    pub remediation: Option<String>,
    pub published_ms: u64,
    pub updated_ms: u64,
    pub source: Option<SourceDocument>,
}

/// How an indicator was established.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    SelfAttested,
    Observed,
    ThirdParty,
}

/// The baseline posture indicators (§4.2): observable facts a customer can rely on, chosen so a
/// supplier answers once instead of in every customer's questionnaire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Indicator {
    SecurityContact,
    DisclosurePolicy,
    MachineReadableAdvisories,
    SbomPerRelease,
    BuildProvenance,
    SignedReleases,
    Mfa,
    DependencyScanning,
    CriticalRemediationDays,
    BreachNotificationHours,
    CodeReview,
}

impl Indicator {
    pub const ALL: [Indicator; 11] = [
        Indicator::SecurityContact,
        Indicator::DisclosurePolicy,
        Indicator::MachineReadableAdvisories,
        Indicator::SbomPerRelease,
        Indicator::BuildProvenance,
        Indicator::SignedReleases,
        Indicator::Mfa,
        Indicator::DependencyScanning,
        Indicator::CriticalRemediationDays,
        Indicator::BreachNotificationHours,
        Indicator::CodeReview,
    ];

    /// Stable name used in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Indicator::SecurityContact => "security-contact",
            Indicator::DisclosurePolicy => "disclosure-policy",
            Indicator::MachineReadableAdvisories => "machine-readable-advisories",
            Indicator::SbomPerRelease => "sbom-per-release",
            Indicator::BuildProvenance => "build-provenance",
            Indicator::SignedReleases => "signed-releases",
            Indicator::Mfa => "mfa",
            Indicator::DependencyScanning => "dependency-scanning",
            Indicator::CriticalRemediationDays => "critical-remediation-days",
            Indicator::BreachNotificationHours => "breach-notification-hours",
            Indicator::CodeReview => "code-review",
        }
    }
}

/// An indicator's value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IndicatorValue {
    Yes,
    No,
    Number(u32),
    Text(String),
}

/// One answered indicator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndicatorClaim {
    pub indicator: Indicator,
    pub value: IndicatorValue,
    pub method: Method,
    pub observed_ms: u64,
    pub valid_until_ms: u64,
    /// Where it can be checked (for example the URL of a security.txt).
    pub evidence: Option<String>,
}

/// A declared critical upstream dependency (a provider or a package).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriticalDependency {
    pub name: String,
    pub purl: Option<String>,
}

/// A supplier's posture attestation (§4.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostureAttestation {
    pub claims: Vec<IndicatorClaim>,
    pub critical_dependencies: Vec<CriticalDependency>,
}

/// What an endorsement says about an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndorsementKind {
    /// "We checked it and agree."
    Confirm,
    /// "We saw this in our environment."
    Sighting,
    /// "We believe this is wrong."
    Dispute,
}

/// An endorsement or sighting of another item (§4.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endorsement {
    pub item: ItemId,
    pub kind: EndorsementKind,
    pub comment: Option<String>,
}

/// Capability-building material: a playbook, guidance, a template (§4.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub title: String,
    pub body: String,
    pub links: Vec<String>,
}

/// "We vouch for org X at level t" (§4.5). `level_milli` is in thousandths, 0..=1000.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustStatement {
    pub subject: OrgId,
    pub level_milli: u16,
    pub comment: Option<String>,
}

/// Which of an org's keys a revocation concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RevokedKey {
    /// The org's signing key: the identity itself is compromised.
    Signing,
    /// One X25519 encryption key.
    Encryption([u8; 32]),
}

/// A revocation record (§2.6): from `effective_ms` on, nodes stop accepting the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub key: RevokedKey,
    pub effective_ms: u64,
    pub reason: String,
}

/// The content of an envelope (§4). The header's kind must match the variant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    Advisory(Advisory),
    Posture(PostureAttestation),
    Endorsement(Endorsement),
    Resource(Resource),
    GroupOp(GroupOp),
    EpochKey(EpochKeyShares),
    Trust(TrustStatement),
    KeyBundle(SignedKeyBundle),
    Revocation(Revocation),
    /// A revision or withdrawal of an advisory (§4.9); travels as kind `Advisory`.
    Revision(crate::lifecycle::Revision),
}

fn short(field: &'static str, s: &str) -> Result<(), ProtoError> {
    text(field, s, MAX_SHORT)
}

fn text(field: &'static str, s: &str, max: usize) -> Result<(), ProtoError> {
    if s.len() > max {
        return Err(ProtoError::FieldTooLong { field, max });
    }
    Ok(())
}

fn list<T>(field: &'static str, l: &[T]) -> Result<(), ProtoError> {
    if l.len() > MAX_LIST {
        return Err(ProtoError::FieldTooLong { field, max: MAX_LIST });
    }
    Ok(())
}

fn opt(field: &'static str, s: &Option<String>, max: usize) -> Result<(), ProtoError> {
    s.as_deref().map_or(Ok(()), |s| text(field, s, max))
}

impl Advisory {
    /// A vulnerability advisory with only a title and a summary, published and updated at `at_ms`
    /// (the other fields empty, to be filled in by the caller).
    pub fn text(title: &str, summary: &str, at_ms: u64) -> Advisory {
        Advisory {
            reference_id: String::new(),
            title: title.into(),
            summary: summary.into(),
            category: Category::Vulnerability,
            severity: None,
            aliases: vec![],
            affected: vec![],
            references: vec![],
            remediation: None,
            published_ms: at_ms,
            updated_ms: at_ms,
            source: None,
        }
    }

    /// Enforce §3.4 bounds.
    pub fn check_limits(&self) -> Result<(), ProtoError> {
        short("reference_id", &self.reference_id)?;
        text("title", &self.title, MAX_TITLE)?;
        if self.title.trim().is_empty() {
            return Err(ProtoError::Invalid("an advisory needs a title".into()));
        }
        text("summary", &self.summary, MAX_TEXT)?;
        if let Some(s) = &self.severity {
            opt("severity.vector", &s.vector, MAX_SHORT)?;
            if s.score_tenths > 100 {
                return Err(ProtoError::Invalid("CVSS score above 10.0".into()));
            }
        }
        list("aliases", &self.aliases)?;
        self.aliases.iter().try_for_each(|a| short("aliases", a))?;
        list("affected", &self.affected)?;
        for a in &self.affected {
            opt("affected.purl", &a.purl, MAX_SHORT)?;
            opt("affected.cpe", &a.cpe, MAX_SHORT)?;
            opt("affected.vendor", &a.vendor, MAX_SHORT)?;
            opt("affected.product", &a.product, MAX_SHORT)?;
            list("affected.versions", &a.versions)?;
            a.versions.iter().try_for_each(|v| short("affected.versions", v))?;
            list("affected.ranges", &a.ranges)?;
            for r in &a.ranges {
                list("affected.ranges.events", &r.events)?;
                for e in &r.events {
                    let (VersionEvent::Introduced(v)
                    | VersionEvent::Fixed(v)
                    | VersionEvent::LastAffected(v)
                    | VersionEvent::Limit(v)) = e;
                    short("affected.ranges.events", v)?;
                }
            }
        }
        list("references", &self.references)?;
        self.references.iter().try_for_each(|r| short("references", r))?;
        opt("remediation", &self.remediation, MAX_TEXT)?;
        if let Some(src) = &self.source
            && src.bytes.len() > MAX_SOURCE_DOC_BYTES
        {
            return Err(ProtoError::FieldTooLong { field: "source", max: MAX_SOURCE_DOC_BYTES });
        }
        Ok(())
    }
}

impl Payload {
    /// The kind this payload must be announced as.
    pub fn kind(&self) -> crate::Kind {
        use crate::Kind;
        match self {
            Payload::Advisory(_) => Kind::Advisory,
            Payload::Posture(_) => Kind::Posture,
            Payload::Endorsement(_) => Kind::Endorsement,
            Payload::Resource(_) => Kind::Resource,
            Payload::GroupOp(_) => Kind::GroupOp,
            Payload::EpochKey(_) => Kind::EpochKey,
            Payload::Trust(_) => Kind::Trust,
            Payload::KeyBundle(_) => Kind::KeyBundle,
            Payload::Revocation(_) => Kind::Revocation,
            Payload::Revision(_) => Kind::Advisory,
        }
    }

    /// Enforce the documented bounds (§3.4) on every field.
    pub fn check_limits(&self) -> Result<(), ProtoError> {
        match self {
            Payload::Advisory(a) => a.check_limits(),
            Payload::Posture(p) => {
                list("claims", &p.claims)?;
                for c in &p.claims {
                    opt("claims.evidence", &c.evidence, MAX_SHORT)?;
                    if let IndicatorValue::Text(t) = &c.value {
                        short("claims.value", t)?;
                    }
                }
                list("critical_dependencies", &p.critical_dependencies)?;
                for d in &p.critical_dependencies {
                    short("critical_dependencies.name", &d.name)?;
                    opt("critical_dependencies.purl", &d.purl, MAX_SHORT)?;
                }
                Ok(())
            }
            Payload::Endorsement(e) => opt("comment", &e.comment, MAX_TEXT),
            Payload::Resource(r) => {
                text("title", &r.title, MAX_TITLE)?;
                text("body", &r.body, MAX_TEXT)?;
                list("links", &r.links)?;
                r.links.iter().try_for_each(|l| short("links", l))
            }
            Payload::GroupOp(op) => op.check_limits(),
            Payload::EpochKey(k) => k.check_limits(),
            Payload::Trust(t) => {
                if t.level_milli > 1000 {
                    return Err(ProtoError::Invalid("trust level above 1.0".into()));
                }
                opt("comment", &t.comment, MAX_TEXT)
            }
            Payload::KeyBundle(_) => Ok(()),
            Payload::Revocation(r) => short("reason", &r.reason),
            Payload::Revision(r) => r.check_limits(),
        }
    }
}
