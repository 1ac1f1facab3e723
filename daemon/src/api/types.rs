//! Request and response types of the local API (version 1), shared by `trellisd` and the
//! `trellis` CLI. Everything is JSON; ids are in their full text forms (base32), times are
//! Unix milliseconds.

use serde::{Deserialize, Serialize};

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
    pub kind: String,
    pub role: Option<String>,
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
    pub kind: String,
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
    pub role: String,
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
    pub role: String,
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
    pub tlp: String,
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
    pub fn text(group: &str, tlp: &str, title: &str, summary: &str) -> PublishAdvisory {
        PublishAdvisory {
            group: group.into(),
            tlp: tlp.into(),
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
    pub tlp: String,
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
    pub role: String,
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
    pub kind: String,
    #[serde(default)]
    pub comment: Option<String>,
}

/// `POST /v1/posture`: publish a posture attestation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PublishPosture {
    pub group: String,
    /// Default `amber`: in a supply-chain channel addressed to its admins (the customer).
    #[serde(default)]
    pub tlp: Option<String>,
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
    pub tlp: String,
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
    pub tlp: String,
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
    pub tlp: String,
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
    pub tlp: String,
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

/// The reply to `POST /v1/web/login`: a one-time link that signs a browser in to the web console.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WebLogin {
    /// `http://127.0.0.1:PORT/login?token=…`: good for one sign-in, until `expires_ms`.
    pub url: String,
    /// The console's address, without the token.
    pub console: String,
    pub expires_ms: u64,
}
