//! Request and response types of the local API (version 1), shared by `trellisd` and the
//! `trellis` CLI. Everything is JSON; ids are in their full text forms (base32), times are
//! Unix milliseconds.

use serde::{Deserialize, Serialize};

pub use trellis_proto::Tlp;
pub use trellis_proto::group::{GroupKind, Role};
pub use trellis_proto::items::EndorsementKind;

pub use crate::feeds::FeedKind;

/// The JSON form of the API's enums: their lower-case words (`amber+strict`, `supply-chain`,
/// `reader`), the same words the CLI takes. Reading accepts what the enums' `FromStr` accepts,
/// and a bad word is refused with that parser's message.
pub mod word {
    use serde::{Deserialize, Deserializer, Serializer};
    use trellis_proto::Tlp;
    use trellis_proto::group::{GroupKind, Role};

    /// An enum with one word per value.
    pub trait Word: Sized + Copy {
        fn word(self) -> &'static str;
        fn from_word(s: &str) -> Result<Self, String>;
    }

    impl Word for Tlp {
        fn word(self) -> &'static str {
            self.as_str()
        }
        fn from_word(s: &str) -> Result<Self, String> {
            s.parse().map_err(|e: trellis_proto::tlp::UnknownTlp| e.to_string())
        }
    }

    impl Word for Role {
        fn word(self) -> &'static str {
            self.as_str()
        }
        fn from_word(s: &str) -> Result<Self, String> {
            s.parse().map_err(|e: trellis_proto::ProtoError| e.to_string())
        }
    }

    impl Word for GroupKind {
        fn word(self) -> &'static str {
            self.as_str()
        }
        fn from_word(s: &str) -> Result<Self, String> {
            s.parse().map_err(|e: trellis_proto::ProtoError| e.to_string())
        }
    }

    impl Word for crate::feeds::FeedKind {
        fn word(self) -> &'static str {
            self.as_str()
        }
        fn from_word(s: &str) -> Result<Self, String> {
            s.parse()
        }
    }

    /// `confirm`, `sighting` or `dispute`; `endorse` and `seen` are read as their synonyms.
    impl Word for trellis_proto::items::EndorsementKind {
        fn word(self) -> &'static str {
            use trellis_proto::items::EndorsementKind as K;
            match self {
                K::Confirm => "confirm",
                K::Sighting => "sighting",
                K::Dispute => "dispute",
            }
        }
        fn from_word(s: &str) -> Result<Self, String> {
            use trellis_proto::items::EndorsementKind as K;
            match s.trim().to_ascii_lowercase().as_str() {
                "confirm" | "endorse" => Ok(K::Confirm),
                "sighting" | "seen" => Ok(K::Sighting),
                "dispute" => Ok(K::Dispute),
                _ => Err(format!("unknown endorsement kind {s:?}: confirm, sighting or dispute")),
            }
        }
    }

    pub fn serialize<T: Word, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.word())
    }

    pub fn deserialize<'de, T: Word, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        let s = String::deserialize(d)?;
        T::from_word(&s).map_err(serde::de::Error::custom)
    }

    /// The same for an optional value (`null` when absent).
    pub mod option {
        use super::Word;
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<T: Word, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
            match v {
                Some(v) => s.serialize_some(v.word()),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, T: Word, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
            match Option::<String>::deserialize(d)? {
                Some(s) => T::from_word(&s).map(Some).map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }
}

/// `GET /v1/status`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Status {
    pub version: String,
    pub org: String,
    pub fingerprint: String,
    pub name: String,
    pub peer_id: String,
    pub listen_addrs: Vec<String>,
    pub socket: String,
    pub home: String,
    pub peers: usize,
    pub groups: Vec<GroupInfo>,
    /// Items rejected since start, by reason.
    pub rejects: std::collections::BTreeMap<String, u64>,
    /// Customers' posture requests this org has not answered yet (published no attestation since).
    #[serde(default)]
    pub posture_requests: Vec<PostureRequestInfo>,
}

/// `GET /v1/id`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IdInfo {
    pub org: String,
    pub fingerprint: String,
    pub name: String,
    /// The contact card: one copyable line to give an admin.
    pub card: String,
}

/// One connected peer (`GET /v1/peers`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeerInfo {
    pub peer_id: String,
    pub addrs: Vec<String>,
    /// The org behind the peer, once it proved it with a node binding.
    pub org: Option<String>,
    pub org_name: Option<String>,
}

/// A group this node belongs to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupInfo {
    pub id: String,
    pub name: String,
    #[serde(with = "word")]
    pub kind: GroupKind,
    #[serde(default, with = "word::option")]
    pub role: Option<Role>,
    pub members: usize,
    pub epoch: u64,
    pub items: u64,
    /// Connected peers subscribed to the group's topic.
    pub peers: usize,
    pub joined_ms: u64,
    /// The org that founded the group (signed its genesis): with the name, what tells two
    /// groups of similar names apart.
    #[serde(default)]
    pub founder: String,
    #[serde(default)]
    pub founder_fingerprint: String,
    /// The founder's self-declared name, when this node has seen it.
    #[serde(default)]
    pub founder_name: Option<String>,
    /// Catch-up sync with each peer of the group this node synced with.
    #[serde(default)]
    pub sync: Vec<SyncInfo>,
}

/// The state of catch-up sync of one group with one peer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SyncInfo {
    pub peer_id: String,
    pub org: Option<String>,
    /// When the last sync with this peer completed.
    pub last_ok_ms: Option<u64>,
    /// Items that sync stored.
    pub items_fetched: u64,
    /// The last failure, if the latest attempt failed.
    pub last_error: Option<String>,
}

/// `POST /v1/groups`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateGroup {
    pub name: String,
    #[serde(with = "word")]
    pub kind: GroupKind,
}

/// The reply to publishing an advisory: its id, the group it went to as resolved (so a user
/// sees which group a name or id designated), and what happened to it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Published {
    pub id: String,
    /// The group's full id, name and founder, and its member count.
    pub group: String,
    pub group_name: String,
    pub founder_fingerprint: String,
    pub founder_name: Option<String>,
    pub members: usize,
    /// Connected peers on the group's topic when it was sent. Zero: stored here and delivered
    /// by catch-up sync when a member connects (RED is refused instead: it is never stored for
    /// later delivery).
    pub peers: usize,
    /// Whether this org had already published the same advisory (same content, label and
    /// readers) in this group: nothing new was created and the stored item was sent again.
    pub existing: bool,
}

/// Reply carrying the id of what was created.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Created {
    pub id: String,
}

/// `POST /v1/groups/{group}/invite`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InviteRequest {
    pub card: String,
    #[serde(with = "word")]
    pub role: Role,
}

/// Reply to an invite.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InviteToken {
    pub token: String,
}

/// `POST /v1/groups/join`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JoinRequest {
    pub token: String,
}

/// One member (`GET /v1/groups/{group}/members`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemberInfo {
    pub org: String,
    pub fingerprint: String,
    pub name: Option<String>,
    #[serde(with = "word")]
    pub role: Role,
    pub since_ms: u64,
    pub is_self: bool,
}

/// An affected product on input and output.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AffectedInput {
    pub purl: Option<String>,
    pub cpe: Option<String>,
    pub vendor: Option<String>,
    pub product: Option<String>,
    /// OSV-style range, e.g. `>=1.0.0,<1.2.3` or an exact version list.
    pub range: Option<String>,
    pub fixed: Option<String>,
}

/// `POST /v1/advisories`: publish an advisory.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PublishAdvisory {
    pub group: String,
    #[serde(with = "word")]
    pub tlp: Tlp,
    pub title: String,
    pub summary: String,
    #[serde(default)]
    pub category: Option<String>,
    /// CVSS v3/v4 vector, or a bare score like `7.5`.
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `PURL@RANGE` strings, e.g. `pkg:npm/lodash@<4.17.21`.
    #[serde(default)]
    pub affects: Vec<String>,
    #[serde(default)]
    pub references: Vec<String>,
    #[serde(default)]
    pub remediation: Option<String>,
    /// Recipient orgs (fingerprint or full id) for AMBER, AMBER+STRICT and RED.
    #[serde(default)]
    pub to: Vec<String>,
}

impl PublishAdvisory {
    /// An advisory with only a title and a summary (no severity, products or recipients).
    pub fn text(group: &str, tlp: Tlp, title: &str, summary: &str) -> PublishAdvisory {
        PublishAdvisory {
            group: group.into(),
            tlp,
            title: title.into(),
            summary: summary.into(),
            category: None,
            severity: None,
            aliases: vec![],
            affects: vec![],
            references: vec![],
            remediation: None,
            to: vec![],
        }
    }
}

/// An advisory as shown to users.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AdvisoryView {
    pub id: String,
    /// The imported document's own id (an OSV `id`, a CSAF `/document/tracking/id`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    pub group: String,
    pub group_name: String,
    pub publisher: String,
    pub publisher_fingerprint: String,
    pub publisher_name: Option<String>,
    #[serde(with = "word")]
    pub tlp: Tlp,
    pub title: String,
    pub summary: String,
    pub category: String,
    pub severity: Option<String>,
    pub score: Option<f32>,
    pub aliases: Vec<String>,
    pub affected: Vec<AffectedInput>,
    pub references: Vec<String>,
    pub remediation: Option<String>,
    pub recipients: Vec<String>,
    pub published_ms: u64,
    pub received_ms: u64,
    pub seq: u64,
    /// Trust in the publisher, 0–1.
    #[serde(default)]
    pub publisher_trust: f64,
    /// Confidence from the publisher's trust and the endorsements, 0–1.
    #[serde(default)]
    pub confidence: f64,
    /// Endorsements and sightings (supporting) and disputes this node holds.
    #[serde(default)]
    pub endorsements: usize,
    #[serde(default)]
    pub disputes: usize,
    /// Suppliers in this org's supply-chain channels whose declared critical dependencies the
    /// advisory names (by provider name or package URL).
    #[serde(default)]
    pub affected_suppliers: Vec<String>,
    /// The revision shown (the latest; 1 is the first publication, PROTOCOL.md §4.9).
    #[serde(default = "first_revision")]
    pub revision: u32,
    /// The item id of the revision shown, when it is not the first publication (`id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_id: Option<String>,
    /// How many revisions count (one per number), the first publication included.
    #[serde(default = "one")]
    pub revisions: usize,
    /// When the content was last changed, as its publisher says.
    #[serde(default)]
    pub updated_ms: u64,
    /// Why the advisory is withdrawn, if it is; a withdrawn advisory raises no `affected` alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<String>,
}

fn first_revision() -> u32 {
    1
}

fn one() -> usize {
    1
}

/// One event of `GET /v1/events` (newline-delimited JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// An advisory was stored (received or published here).
    Advisory { advisory: Box<AdvisoryView> },
    /// Group membership changed.
    Membership { group: String, group_name: String, members: usize, epoch: u64 },
    /// An item was rejected.
    Rejected { group: Option<String>, reason: String, peer: Option<String> },
    /// A customer asked a channel this org is in for posture.
    PostureRequested { request: PostureRequestInfo },
    /// A stored advisory covers a component of one of this org's SBOMs (not suppressed by VEX).
    Affected { affected: Box<AffectedMatch> },
    /// A resource was stored (received or published here).
    Resource { resource: Box<ResourceView> },
    /// A request for help, an answer or a resolution this org reads was stored.
    Help { help: Box<HelpEvent> },
}

/// The body of every error reply.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
}

/// `POST /v1/rename`: this organization's new name (the reply carries it back).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RenameRequest {
    pub name: String,
}

/// `POST /v1/groups/{group}/remove`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RemoveRequest {
    pub org: String,
}

/// `POST /v1/groups/{group}/role`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RoleRequest {
    pub org: String,
    #[serde(with = "word")]
    pub role: Role,
}

/// `POST /v1/keys/revoke`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RevokeRequest {
    /// Revoke the signing key (the identity) rather than the previous encryption key.
    pub signing: bool,
    /// From when (Unix ms); default now.
    pub from_ms: Option<u64>,
    pub reason: String,
}

/// Ids of the items an action published (one per group).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreatedMany {
    pub ids: Vec<String>,
}

/// `POST /v1/advisories/{id}/reshare`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReshareRequest {
    pub group: String,
    #[serde(default)]
    pub to: Vec<String>,
}

/// An org's trust as this node sees it (`trellis trust list`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrustView {
    pub org: String,
    pub fingerprint: String,
    pub name: Option<String>,
    pub level: f64,
    /// What produced the level: operator, group default, statements.
    pub source: String,
    /// Quota violations observed (each lowers the level).
    pub violations: u64,
    /// Whether this node relays the org's items.
    pub relayed: bool,
    /// Items per second this node accepts from the org before it stops relaying.
    pub quota_per_s: f64,
    /// Items of this org this node accepted from gossip and relayed since it started.
    #[serde(default)]
    pub relayed_items: u64,
}

/// `trellis trust explain`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrustExplain {
    pub subject: String,
    /// For an item: its confidence.
    pub confidence: Option<f64>,
    pub lines: Vec<String>,
}

/// `POST /v1/trust`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SetTrust {
    pub org: String,
    /// None clears the operator's level.
    pub level: Option<f64>,
}

/// `POST /v1/trust/vouch`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Vouch {
    pub group: String,
    pub org: String,
    pub level: f64,
    #[serde(default)]
    pub comment: Option<String>,
}

/// `POST /v1/advisories/{id}/endorse`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EndorseRequest {
    /// confirm, sighting or dispute.
    #[serde(with = "word")]
    pub kind: EndorsementKind,
    #[serde(default)]
    pub comment: Option<String>,
}

/// `POST /v1/posture`: publish a posture attestation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PublishPosture {
    pub group: String,
    /// Default `amber`: in a supply-chain channel addressed to its admins (the customer).
    #[serde(default, with = "word::option")]
    pub tlp: Option<Tlp>,
    /// Recipient orgs for AMBER, AMBER+STRICT and RED (default in a supply-chain channel: its admins).
    #[serde(default)]
    pub to: Vec<String>,
    pub document: trellis_proto::posture::PostureDocument,
}

/// The result of checking an observed indicator's evidence.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EvidenceCheck {
    /// `verified`, `failed`, or `unchecked` (this node cannot check this kind of evidence).
    pub status: String,
    /// What was found, or why it failed.
    pub detail: String,
}

/// One answer of an attestation as shown (`trellis posture show`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClaimView {
    pub indicator: String,
    /// The indicator's plain-language title.
    pub title: String,
    pub value: String,
    /// `self-attested`, `observed` or `third-party`.
    pub method: String,
    pub observed_ms: u64,
    pub valid_until_ms: u64,
    /// The answer's validity has passed.
    pub expired: bool,
    pub evidence: Option<String>,
    /// For observed answers, what this node found at the evidence URL.
    pub check: Option<EvidenceCheck>,
    /// Orgs (names or fingerprints) that co-signed this answer.
    pub cosigned_by: Vec<String>,
}

/// A declared critical dependency.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DependencyView {
    pub name: String,
    pub purl: Option<String>,
}

/// A co-signature of some answers of an attestation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CosignView {
    pub id: String,
    pub org: String,
    pub fingerprint: String,
    pub name: Option<String>,
    pub indicators: Vec<String>,
    pub note: Option<String>,
    pub published_ms: u64,
}

/// `GET /v1/posture/{org}`: an org's latest valid attestation readable by this node.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PostureView {
    pub id: String,
    pub org: String,
    pub fingerprint: String,
    pub name: Option<String>,
    pub group: String,
    pub group_name: String,
    #[serde(with = "word")]
    pub tlp: Tlp,
    pub published_ms: u64,
    pub claims: Vec<ClaimView>,
    pub critical_dependencies: Vec<DependencyView>,
    pub cosignatures: Vec<CosignView>,
    /// Indicators whose answers have expired.
    pub expired: Vec<String>,
}

/// One attestation in an org's history.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PostureSummary {
    pub id: String,
    pub org: String,
    pub group: String,
    pub group_name: String,
    #[serde(with = "word")]
    pub tlp: Tlp,
    pub published_ms: u64,
    pub claims: usize,
    pub expired: usize,
    pub dependencies: usize,
    /// Why the attestation is not acceptable (empty when it is).
    pub problems: Vec<String>,
}

/// One changed answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClaimChangeView {
    pub indicator: String,
    /// `added`, `removed`, `changed` or `renewed`.
    pub change: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// `GET /v1/posture/{org}/diff`: what changed since the previous attestation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PostureDiffView {
    pub org: String,
    pub name: Option<String>,
    pub previous: Option<PostureSummary>,
    pub latest: PostureSummary,
    pub changes: Vec<ClaimChangeView>,
    pub dependencies_added: Vec<String>,
    pub dependencies_removed: Vec<String>,
}

/// `POST /v1/posture/{org}/cosign`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CosignRequest {
    pub indicators: Vec<String>,
    /// The group of the attestation (default: wherever the latest one is).
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /v1/groups/{group}/posture-request`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PostureRequestBody {
    #[serde(default)]
    pub message: Option<String>,
}

/// A customer's request for posture (in `status` and in the event stream).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PostureRequestInfo {
    pub id: String,
    pub group: String,
    pub group_name: String,
    pub from: String,
    pub from_fingerprint: String,
    pub from_name: Option<String>,
    pub message: String,
    pub requested_ms: u64,
}

/// A provider and how many suppliers depend on it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProviderCount {
    pub provider: String,
    pub suppliers: usize,
}

/// `GET /v1/groups/{group}/concentration`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConcentrationView {
    pub group: String,
    pub group_name: String,
    /// Suppliers whose attestations this node can read in the channel.
    pub suppliers: usize,
    pub threshold: usize,
    /// Providers depended on by at least `threshold` suppliers.
    pub providers: Vec<ProviderCount>,
    /// Distinct providers named by fewer suppliers: shown only as "other (below threshold)".
    pub other_providers: usize,
}

/// `POST /v1/advisories/import`: publish a CSAF 2.0 or OSV document, kept whole in the item.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImportAdvisory {
    pub group: String,
    /// The label to publish under; refused if the document carries a stricter one.
    #[serde(with = "word")]
    pub tlp: Tlp,
    /// Recipient orgs for AMBER, AMBER+STRICT and RED.
    #[serde(default)]
    pub to: Vec<String>,
    /// `csaf` or `osv`; detected from the document when absent.
    #[serde(default)]
    pub format: Option<String>,
    /// The document's exact text.
    pub document: String,
}

/// `POST /v1/export`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExportRequest {
    /// `csaf`, `osv`, `stix` or `misp`.
    pub format: String,
    #[serde(default)]
    pub group: Option<String>,
    /// Only advisories received at or after this time (Unix ms).
    #[serde(default)]
    pub since_ms: Option<u64>,
}

/// One file of an export.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExportFile {
    /// A bare file name (no directories).
    pub name: String,
    pub content: String,
}

/// The reply to `POST /v1/export`: the files, and what TLP held back.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExportResult {
    pub format: String,
    /// Advisories exported.
    pub exported: usize,
    /// Advisories withheld because of their label.
    pub withheld: usize,
    /// Withheld advisories by label (`TLP:GREEN` → count).
    pub withheld_by_label: std::collections::BTreeMap<String, usize>,
    /// Why each label present was withheld.
    pub reasons: std::collections::BTreeMap<String, String>,
    pub files: Vec<ExportFile>,
}

/// `POST /v1/sbom`: add a CycloneDX SBOM or VEX document (kept on this node, never published).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SbomAdd {
    /// A name to list it by (the file name, by default).
    pub name: String,
    /// The document's exact text.
    pub document: String,
    /// Store a document that breaks a rule of its CycloneDX version anyway, with the problems
    /// returned as warnings (for real-world SBOMs that are slightly off).
    #[serde(default)]
    pub lenient: bool,
}

/// A stored SBOM (`GET /v1/sbom`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SbomInfo {
    pub id: String,
    pub name: String,
    pub added_ms: u64,
    pub spec_version: String,
    /// The component the SBOM describes, with its version.
    pub subject: Option<String>,
    pub components: usize,
    pub vex_statements: usize,
}

/// The reply to `POST /v1/sbom`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SbomAdded {
    pub sbom: SbomInfo,
    /// Matches of the advisories already stored against it.
    pub matches: Vec<AffectedMatch>,
    /// The rules the document breaks, when it was added with `lenient` (`/json/pointer: rule`).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// An advisory covering a component of an SBOM (`GET /v1/affected`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AffectedMatch {
    /// Advisory id.
    pub advisory: String,
    /// The advisory document's own id (OSV `id`, CSAF tracking id), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    pub title: String,
    pub aliases: Vec<String>,
    #[serde(with = "word")]
    pub tlp: Tlp,
    /// Group id and name.
    pub group: String,
    pub group_name: String,
    /// SBOM id and name.
    pub sbom: String,
    pub sbom_name: String,
    /// The component's name (`group/name` when it has a group).
    pub component: String,
    /// Its package URL or CPE.
    pub component_id: Option<String>,
    pub installed: Option<String>,
    /// The lowest fixed version above the installed one, when the advisory names one.
    pub fixed: Option<String>,
    /// Why it matched, in words.
    pub why: String,
    /// A VEX statement's state about this vulnerability and component, if any.
    pub vex: Option<String>,
    pub vex_justification: Option<String>,
    /// A VEX statement (not_affected, false_positive, resolved) clears the match.
    pub suppressed: bool,
}

/// The reply to `POST /v1/taxii/token`: the new bearer token, shown once.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaxiiToken {
    pub token: String,
    /// Where the TAXII server listens, if it is enabled.
    pub listen: Option<String>,
}

// Resources (guidance, playbooks, files) and requests for help.

/// A resource as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ResourceView {
    pub id: String,
    pub group: String,
    pub group_name: String,
    pub title: String,
    pub topic: String,
    pub audience: String,
    #[serde(with = "word")]
    pub tlp: Tlp,
    pub publisher: String,
    pub publisher_fingerprint: String,
    pub publisher_name: Option<String>,
    pub published_ms: u64,
    pub text: String,
    pub url: Option<String>,
    pub file: Option<FileView>,
    /// Organizations that confirmed it ("this helped us").
    pub endorsements: usize,
}

/// A resource's file as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FileView {
    pub name: String,
    pub size: u64,
    pub sha256: String,
    /// `inline` (inside the item) or `chunked` (beside it).
    pub carried: String,
    pub chunks: usize,
    /// Chunks this node holds (all of them for an inline file).
    pub chunks_held: usize,
}

/// `POST /v1/resources?meta=<JSON>`: the resource; the request body is the file (may be empty).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PublishResource {
    pub group: String,
    pub title: String,
    pub topic: String,
    #[serde(default)]
    pub audience: Option<String>,
    #[serde(with = "word")]
    pub tlp: Tlp,
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    /// The file's name, when the body is a file.
    #[serde(default)]
    pub file_name: Option<String>,
}

/// `POST /v1/help`: ask for help.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AskHelp {
    pub group: String,
    pub topic: String,
    pub text: String,
    #[serde(default)]
    pub to: Vec<String>,
}

/// `POST /v1/help/{id}/answer`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AnswerHelp {
    pub text: String,
}

/// `POST /v1/helper`: offer (or stop offering) help on topics.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HelperOffer {
    pub on: bool,
    #[serde(default)]
    pub topics: Vec<String>,
    /// One group; none: every sector group this org is in.
    #[serde(default)]
    pub group: Option<String>,
}

/// A request for help and its thread, as this node can read them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HelpRequestView {
    pub id: String,
    pub group: String,
    pub group_name: String,
    pub topic: String,
    pub text: String,
    pub asker: String,
    pub asker_fingerprint: String,
    pub asker_name: Option<String>,
    /// Fingerprints of the orgs the request was addressed to (besides the asker).
    pub to: Vec<String>,
    /// `open`, `answered` or `resolved`.
    pub status: String,
    pub asked_ms: u64,
    pub answers: Vec<AnswerView>,
}

/// One answer in a thread.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AnswerView {
    pub id: String,
    pub from: String,
    pub from_fingerprint: String,
    pub from_name: Option<String>,
    pub text: String,
    pub answered_ms: u64,
}

/// A helper offer as this node knows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HelperView {
    pub group: String,
    pub group_name: String,
    pub org: String,
    pub fingerprint: String,
    pub name: Option<String>,
    pub topics: Vec<String>,
}

/// A step of a help thread as `watch` shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HelpEvent {
    pub group: String,
    pub group_name: String,
    /// The request's id.
    pub request: String,
    /// `request`, `answer` or `resolved`.
    pub step: String,
    pub topic: Option<String>,
    pub from_fingerprint: String,
    pub from_name: Option<String>,
    pub text: String,
}

// Backups of the org identity.

/// `POST /v1/keys/export`: the passphrase to seal the backup with (base64, so any bytes).
#[derive(Serialize, Deserialize)]
pub struct ExportKeysRequest {
    pub passphrase_b64: String,
}

impl Drop for ExportKeysRequest {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.passphrase_b64);
    }
}

/// The reply: the sealed backup file (base64) and what it holds.
#[derive(Serialize, Deserialize)]
pub struct ExportKeysReply {
    pub backup_b64: String,
    pub org: String,
    pub fingerprint: String,
    pub groups: usize,
}

/// `POST /v1/groups/{group}/invite-links`: issue an invite link.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InviteLinkRequest {
    /// `member` or `reader`.
    #[serde(with = "word")]
    pub role: Role,
    /// Admissions the link allows (1 to 1000).
    pub uses: u32,
    /// How long it is valid, in milliseconds (1 minute to 90 days).
    pub valid_ms: u64,
}

/// One admission through an invite link.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InviteLinkUse {
    pub org: String,
    pub fingerprint: String,
    /// The name on the card it joined with.
    pub name: String,
    pub at_ms: u64,
    /// The `Add` op that admitted it.
    pub op: Option<String>,
}

/// An invite link this node issued (`GET /v1/groups/{group}/invite-links`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InviteLinkInfo {
    /// The link's id (26 characters), for `group invite-link --revoke`.
    pub id: String,
    pub group: String,
    pub group_name: String,
    #[serde(with = "word")]
    pub role: Role,
    pub max_uses: u32,
    pub used: u32,
    pub created_ms: u64,
    pub expires_ms: u64,
    pub revoked_ms: Option<u64>,
    /// `active`, `used up`, `expired` or `revoked`.
    pub state: String,
    pub uses: Vec<InviteLinkUse>,
}

/// The reply to issuing an invite link: the token (shown once) and the link.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InviteLinkCreated {
    pub token: String,
    #[serde(flatten)]
    pub info: InviteLinkInfo,
}

/// The reply to `POST /v1/shutdown`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Stopping {
    pub pid: u32,
}

/// `POST /v1/advisories/{id}/revise`: a new revision of one of this org's advisories. Each
/// field given replaces the latest revision's (lists as a whole; an empty severity or
/// remediation clears it); `withdraw` withdraws the advisory with that reason.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ReviseAdvisory {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub aliases: Option<Vec<String>>,
    #[serde(default)]
    pub affects: Option<Vec<String>>,
    #[serde(default)]
    pub references: Option<Vec<String>>,
    #[serde(default)]
    pub remediation: Option<String>,
    /// A label at least as strict as the first publication's; default: the latest revision's.
    #[serde(default, with = "word::option")]
    pub tlp: Option<Tlp>,
    /// Recipients when the label names them; default: the latest revision's.
    #[serde(default)]
    pub to: Vec<String>,
    /// Withdraw the advisory, for this reason.
    #[serde(default)]
    pub withdraw: Option<String>,
}

impl ReviseAdvisory {
    /// Whether any content field or the label is asked to change.
    pub fn changes_anything(&self) -> bool {
        self.title.is_some()
            || self.summary.is_some()
            || self.category.is_some()
            || self.severity.is_some()
            || self.aliases.is_some()
            || self.affects.is_some()
            || self.references.is_some()
            || self.remediation.is_some()
            || self.tlp.is_some()
            || !self.to.is_empty()
    }
}

/// One revision in `advisory show --history`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RevisionView {
    pub revision: u32,
    pub id: String,
    #[serde(with = "word")]
    pub tlp: Tlp,
    /// When its publisher signed it.
    pub signed_ms: u64,
    pub received_ms: u64,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<String>,
    /// A second revision its publisher signed under the same number, which lost to the lower id.
    pub outvoted: bool,
    /// What changed from the revision before it.
    pub changes: Vec<trellis_proto::lifecycle::FieldChange>,
}

/// A revision this node holds that does not count, and why.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RefusedRevisionView {
    pub id: String,
    pub reason: String,
}

/// `GET /v1/advisories/{id}/history`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AdvisoryHistoryView {
    /// The advisory as it now reads.
    pub advisory: AdvisoryView,
    /// Every revision, first publication first.
    pub versions: Vec<RevisionView>,
    /// Revision numbers its publisher signed twice.
    pub equivocations: Vec<u32>,
    pub refused: Vec<RefusedRevisionView>,
}

/// `POST /v1/feeds`: follow a source into a group.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FeedAdd {
    pub group: String,
    /// A CSAF provider: the URL of its provider-metadata.json, or its domain. For `osv`: a
    /// directory, a zip file (absolute paths) or a zip's https URL; `misp`: a feed's directory
    /// or https URL; `taxii`: a collection's https URL.
    pub source: String,
    /// `csaf` (the default), `osv`, `misp` or `taxii`.
    #[serde(default, with = "word::option")]
    pub kind: Option<FeedKind>,
    /// Seconds between runs (default 3600, at least 60).
    #[serde(default)]
    pub every_secs: Option<u64>,
    /// The label the feed's items carry at least (CLEAR or GREEN; default CLEAR): a document's
    /// own label is used when stricter, never a looser one.
    #[serde(default, with = "word::option", skip_serializing_if = "Option::is_none")]
    pub tlp: Option<Tlp>,
    /// A bearer token the source asks for (TAXII servers); kept in the node's home, never shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Documents a feed looked at, by outcome.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FeedCounts {
    pub new: u64,
    pub revised: u64,
    pub unchanged: u64,
    pub refused: u64,
}

/// A document a run published, and the item it is now.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FeedDocument {
    pub url: String,
    pub item: String,
}

/// A document a run refused, and why.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FeedRefusal {
    pub url: String,
    pub reason: String,
}

/// What one run of a feed did.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FeedReport {
    pub feed: String,
    pub started_ms: u64,
    pub finished_ms: u64,
    /// First publications.
    pub new: Vec<FeedDocument>,
    /// Later versions published as revisions (PROTOCOL.md §4.9).
    pub revised: Vec<FeedDocument>,
    /// Documents unchanged since the last run (not fetched, or 304, or the same bytes).
    pub unchanged: u64,
    /// Documents refused (bad hash, bad signature, invalid document, ...), at most 200 listed.
    pub refused: Vec<FeedRefusal>,
    pub refused_count: u64,
    /// Listings (ROLIE feeds, changes.csv, a MISP manifest, an OSV zip) that had not changed (304).
    #[serde(default)]
    pub listings_unchanged: u64,
    /// Why the run failed as a whole, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A feed as `feed list` shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FeedInfo {
    pub id: String,
    pub group: String,
    pub group_name: String,
    pub source: String,
    #[serde(with = "word")]
    pub kind: FeedKind,
    pub every_secs: u64,
    pub added_ms: u64,
    pub last_run_ms: Option<u64>,
    pub last_success_ms: Option<u64>,
    pub next_run_ms: u64,
    /// Consecutive failed runs; retried with backoff.
    pub failures: u32,
    pub last_error: Option<String>,
    /// Fingerprints of the provider keys pinned on the first run.
    pub keys: Vec<String>,
    /// Documents taken in so far.
    pub documents: usize,
    pub totals: FeedCounts,
    pub last_report: Option<FeedReport>,
    /// The label the feed's items carry at least.
    #[serde(default, with = "word::option")]
    pub tlp: Option<Tlp>,
    /// A TAXII feed: the `added_after` of its next run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// The reply to `POST /v1/web/login`: a one-time link that signs a browser in to the web console.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WebLogin {
    /// `http://127.0.0.1:PORT/login?token=…`: good for one sign-in, until `expires_ms`.
    pub url: String,
    /// The console's address, without the token.
    pub console: String,
    pub expires_ms: u64,
}

/// `GET /v1/feeds/{id}/progress`: how far the feed's current run is.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FeedProgress {
    pub feed: String,
    /// Whether a run is going on now; the figures below are its.
    pub running: bool,
    /// Documents looked at so far.
    pub done: u64,
    /// Documents the run will look at, once its listing is read (a TAXII run does not know).
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub started_ms: Option<u64>,
}
