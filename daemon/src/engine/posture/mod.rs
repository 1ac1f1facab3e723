//! Posture attestations on the node: publish one (in a supply-chain channel AMBER to the
//! channel's admins by default, like any supplier notice, §6.8), and show what this node can
//! read — an org's latest valid attestation with lapsed answers flagged, observed answers checked
//! here by the receiving node ([`crate::securitytxt`]), and co-signatures; its history, and what
//! changed since the previous one; co-sign answers of another org's attestation. The channel
//! side — requests, concentration of suppliers on providers, suppliers named by an advisory —
//! is in [`supply_chain`].
//!
//! Attestations are stored like every item (decrypted payload beside the envelope), so these
//! views are reads over `store.group_item_ids(group, Kind::Posture)`; nothing new is persisted.

pub mod supply_chain;

use std::sync::Arc;

use trellis_proto::envelope::Envelope;
use trellis_proto::items::{Indicator, IndicatorValue, PostureAttestation};
use trellis_proto::posture::document::method_name;
use trellis_proto::posture::signals::CoSignature;
use trellis_proto::posture::{self, ClaimChange};
use trellis_proto::{GroupId, ItemId, Kind, OrgId, Payload, Tlp};

use super::actions::Audience;
use super::{ActionError, Engine};
use crate::api::types::{
    ClaimChangeView, ClaimView, CosignRequest, CosignView, DependencyView, PostureDiffView, PostureSummary,
    PostureView, PublishPosture,
};

fn bad(msg: impl Into<String>) -> ActionError {
    ActionError::BadRequest(msg.into())
}

/// One readable attestation.
#[derive(Clone, Debug)]
pub(crate) struct PostureRecord {
    pub id: ItemId,
    pub group: GroupId,
    pub sender: OrgId,
    pub timestamp_ms: u64,
    pub tlp: Tlp,
    pub recipients: Vec<OrgId>,
    pub att: PostureAttestation,
}

impl PostureRecord {
    pub fn is_valid(&self) -> bool {
        posture::validate(&self.att).is_empty()
    }
}

impl Engine {
    /// Items of `kind` in `group` this node can read, with their envelopes.
    pub(crate) fn readable(&self, group: &GroupId, kind: Kind) -> Vec<(Envelope, Payload)> {
        let ids = self.store.group_item_ids(group, kind).unwrap_or_default();
        ids.iter().filter_map(|id| self.store.get_item(id).ok()??.open()).collect()
    }

    /// Readable attestations, oldest first, of one group or all.
    pub(crate) fn posture_records(&self, group: Option<GroupId>) -> Vec<PostureRecord> {
        let groups = group.map_or_else(|| self.group_ids(), |g| vec![g]);
        let mut out: Vec<PostureRecord> = groups
            .iter()
            .flat_map(|g| self.readable(g, Kind::Posture))
            .filter_map(|(env, p)| match p {
                Payload::Posture(att) => Some(PostureRecord {
                    id: env.id,
                    group: env.header.group,
                    sender: env.header.sender,
                    timestamp_ms: env.header.timestamp_ms,
                    tlp: env.header.tlp,
                    recipients: env.recipients(),
                    att,
                }),
                _ => None,
            })
            .collect();
        out.sort_by_key(|r| (r.timestamp_ms, r.id.0));
        out
    }

    /// The latest valid attestation of each org in `group`.
    pub(crate) fn latest_postures(&self, group: GroupId) -> Vec<PostureRecord> {
        let mut latest: std::collections::BTreeMap<OrgId, PostureRecord> = Default::default();
        for r in self.posture_records(Some(group)).into_iter().filter(PostureRecord::is_valid) {
            latest.insert(r.sender, r);
        }
        latest.into_values().collect()
    }

    /// Readable co-signatures with their author and time.
    fn cosignatures(&self) -> Vec<(ItemId, OrgId, u64, CoSignature)> {
        self.group_ids()
            .iter()
            .flat_map(|g| self.readable(g, Kind::Endorsement))
            .filter_map(|(env, p)| match p {
                Payload::Endorsement(e) => {
                    CoSignature::from_endorsement(&e).map(|c| (env.id, env.header.sender, env.header.timestamp_ms, c))
                }
                _ => None,
            })
            .collect()
    }

    /// An org by full id, fingerprint (or an 8+ character prefix), or exact name, among the
    /// members of this node's groups and the authors of attestations it holds.
    pub fn resolve_org(&self, text: &str) -> Result<OrgId, ActionError> {
        if let Ok(id) = OrgId::parse(text.trim()) {
            return Ok(id);
        }
        let mut known: std::collections::BTreeSet<OrgId> =
            self.posture_records(None).iter().map(|r| r.sender).collect();
        self.groups.read(|groups| known.extend(groups.values().flat_map(|g| g.state.members.keys().copied())));
        let t = text.trim();
        let found: Vec<OrgId> = known
            .into_iter()
            .filter(|o| o.matches(t) || self.name_of(o).is_some_and(|n| n.eq_ignore_ascii_case(t)))
            .collect();
        match found.len() {
            1 => Ok(found[0]),
            0 => Err(ActionError::NotFound(format!(
                "no organization {t:?} known here; give its fingerprint (see `trellis group members GROUP`)"
            ))),
            _ => Err(bad(format!("{t:?} matches several organizations; give the fingerprint"))),
        }
    }

    /// Publish this org's posture attestation.
    pub async fn publish_posture(self: &Arc<Self>, req: &PublishPosture) -> Result<ItemId, ActionError> {
        let gid = self.resolve_group(&req.group)?;
        let tlp = req.tlp.unwrap_or(Tlp::Amber);
        let att = req.document.to_attestation().map_err(|e| bad(format!("the posture file: {e}")))?;
        let problems = posture::validate(&att);
        if !problems.is_empty() {
            let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            return Err(bad(format!("the posture file is not acceptable: {}", list.join("; "))));
        }
        let audience = match tlp {
            Tlp::Clear => Audience::Clear,
            Tlp::Green if req.to.is_empty() => Audience::Group,
            Tlp::Green => return Err(bad("--to names recipients, which GREEN does not use")),
            Tlp::Amber | Tlp::AmberStrict | Tlp::Red => Audience::Orgs(self.named_recipients(&gid, tlp, &req.to)?),
        };
        let (id, _) = self.publish_payload(gid, tlp, Payload::Posture(att), audience).await?;
        Ok(id)
    }

    /// The latest valid attestation of `org` (optionally in one group).
    fn latest_of(&self, org: &OrgId, group: Option<GroupId>) -> Result<PostureRecord, ActionError> {
        self.posture_records(group).into_iter().rev().find(|r| r.sender == *org && r.is_valid()).ok_or_else(|| {
            ActionError::NotFound(format!(
                "this node can read no posture attestation of {}; a customer can ask with `trellis posture request GROUP`",
                self.label(org)
            ))
        })
    }

    /// "Name (fingerprint)", or the fingerprint.
    pub(crate) fn label(&self, org: &OrgId) -> String {
        match self.name_of(org) {
            Some(n) => format!("{n} ({})", org.fingerprint()),
            None => org.fingerprint(),
        }
    }

    fn summary(&self, r: &PostureRecord, now: u64) -> PostureSummary {
        PostureSummary {
            id: r.id.to_text(),
            org: r.sender.to_text(),
            group: r.group.to_text(),
            group_name: self.group_name(&r.group),
            tlp: r.tlp,
            published_ms: r.timestamp_ms,
            claims: r.att.claims.len(),
            expired: posture::expired_indicators(&r.att, now).len(),
            dependencies: r.att.critical_dependencies.len(),
            problems: posture::validate(&r.att).iter().map(|p| p.to_string()).collect(),
        }
    }

    pub(crate) fn group_name(&self, g: &GroupId) -> String {
        self.groups.name(g).unwrap_or_default()
    }

    /// `trellis posture show ORG`: the latest valid attestation, answers checked here.
    pub async fn posture_show(&self, org: &str, group: Option<&str>) -> Result<PostureView, ActionError> {
        let org = self.resolve_org(org)?;
        let group = group.map(|g| self.resolve_group(g)).transpose()?;
        let r = self.latest_of(&org, group)?;
        let now = self.clock.now_ms();
        let cosigns: Vec<CosignView> = self
            .cosignatures()
            .into_iter()
            .filter(|(_, author, _, c)| c.attestation == r.id && *author != r.sender)
            .map(|(id, author, ts, c)| CosignView {
                id: id.to_text(),
                org: author.to_text(),
                fingerprint: author.fingerprint(),
                name: self.name_of(&author),
                indicators: c
                    .indicators
                    .iter()
                    .filter(|i| r.att.claims.iter().any(|cl| cl.indicator == **i))
                    .map(|i| i.as_str().to_string())
                    .collect(),
                note: c.note,
                published_ms: ts,
            })
            .collect();
        // Observed answers are checked concurrently, each bounded by the fetch timeout.
        let policy = &self.evidence_policy;
        let checks = futures::future::join_all(r.att.claims.iter().map(|c| async move {
            match (&c.method, &c.evidence) {
                (trellis_proto::items::Method::Observed, Some(url)) => {
                    let contact = match (&c.indicator, &c.value) {
                        (Indicator::SecurityContact, IndicatorValue::Text(t)) => Some(t.as_str()),
                        _ => None,
                    };
                    Some(crate::securitytxt::check_evidence(url, contact, now, policy).await)
                }
                _ => None,
            }
        }))
        .await;
        let claims = r
            .att
            .claims
            .iter()
            .zip(checks)
            .map(|(c, check)| ClaimView {
                indicator: c.indicator.as_str().to_string(),
                title: posture::guide(c.indicator).title.to_string(),
                value: posture::format_value(&c.value),
                method: method_name(c.method).to_string(),
                observed_ms: c.observed_ms,
                valid_until_ms: c.valid_until_ms,
                expired: posture::check::is_expired(c, now),
                evidence: c.evidence.clone(),
                check,
                cosigned_by: cosigns
                    .iter()
                    .filter(|s| s.indicators.iter().any(|i| i == c.indicator.as_str()))
                    .map(|s| s.name.clone().unwrap_or_else(|| s.fingerprint.clone()))
                    .collect(),
            })
            .collect();
        Ok(PostureView {
            id: r.id.to_text(),
            org: org.to_text(),
            fingerprint: org.fingerprint(),
            name: self.name_of(&org),
            group: r.group.to_text(),
            group_name: self.group_name(&r.group),
            tlp: r.tlp,
            published_ms: r.timestamp_ms,
            claims,
            critical_dependencies: r
                .att
                .critical_dependencies
                .iter()
                .map(|d| DependencyView { name: d.name.clone(), purl: d.purl.clone() })
                .collect(),
            cosignatures: cosigns,
            expired: posture::expired_indicators(&r.att, now).iter().map(|i| i.as_str().to_string()).collect(),
        })
    }

    /// `trellis posture history ORG`: every readable attestation of the org, newest first.
    pub fn posture_history(&self, org: &str) -> Result<Vec<PostureSummary>, ActionError> {
        let org = self.resolve_org(org)?;
        let now = self.clock.now_ms();
        Ok(self.posture_records(None).iter().rev().filter(|r| r.sender == org).map(|r| self.summary(r, now)).collect())
    }

    /// `trellis posture diff ORG`: the latest valid attestation against the previous valid one
    /// (in the same group when there is one there).
    pub fn posture_diff(&self, org: &str) -> Result<PostureDiffView, ActionError> {
        let org = self.resolve_org(org)?;
        let latest = self.latest_of(&org, None)?;
        let earlier: Vec<PostureRecord> = self
            .posture_records(None)
            .into_iter()
            .filter(|r| r.sender == org && r.is_valid() && r.id != latest.id && r.timestamp_ms <= latest.timestamp_ms)
            .collect();
        let previous = earlier.iter().rev().find(|r| r.group == latest.group).or_else(|| earlier.last()).cloned();
        let empty = PostureAttestation { claims: vec![], critical_dependencies: vec![] };
        let d = posture::diff(previous.as_ref().map_or(&empty, |p| &p.att), &latest.att);
        let show = |c: &trellis_proto::items::IndicatorClaim| {
            format!("{} ({}, until {})", posture::format_value(&c.value), method_name(c.method), date(c.valid_until_ms))
        };
        let changes = d
            .claims
            .iter()
            .map(|c| {
                let (change, before, after) = match c {
                    ClaimChange::Added(n) => ("added", None, Some(show(n))),
                    ClaimChange::Removed(o) => ("removed", Some(show(o)), None),
                    ClaimChange::Changed { before, after } => ("changed", Some(show(before)), Some(show(after))),
                    ClaimChange::Renewed { before, after } => ("renewed", Some(show(before)), Some(show(after))),
                };
                ClaimChangeView { indicator: c.indicator().as_str().to_string(), change: change.into(), before, after }
            })
            .collect();
        let now = self.clock.now_ms();
        Ok(PostureDiffView {
            org: org.to_text(),
            name: self.name_of(&org),
            previous: previous.as_ref().map(|p| self.summary(p, now)),
            latest: self.summary(&latest, now),
            changes,
            dependencies_added: d.dependencies_added,
            dependencies_removed: d.dependencies_removed,
        })
    }

    /// `trellis posture cosign ORG INDICATOR...`: confirm answers of another org's latest
    /// attestation. The co-signature is readable by exactly who can read the attestation.
    pub async fn posture_cosign(self: &Arc<Self>, org: &str, req: &CosignRequest) -> Result<ItemId, ActionError> {
        let target = self.resolve_org(org)?;
        let me = self.me();
        if target == me {
            return Err(bad("an organization cannot co-sign its own attestation; ask an auditor to"));
        }
        let group = req.group.as_deref().map(|g| self.resolve_group(g)).transpose()?;
        let r = self.latest_of(&target, group)?;
        if req.indicators.is_empty() {
            return Err(bad("name the indicators to co-sign, e.g. `mfa sbom-per-release`"));
        }
        let mut indicators = Vec::new();
        for name in &req.indicators {
            let i = posture::parse_indicator(name).ok_or_else(|| {
                bad(format!("unknown indicator {name:?}; known: {}", Indicator::ALL.map(|i| i.as_str()).join(", ")))
            })?;
            if !r.att.claims.iter().any(|c| c.indicator == i) {
                return Err(bad(format!(
                    "{} does not answer {} in its latest attestation",
                    self.label(&target),
                    i.as_str()
                )));
            }
            if !indicators.contains(&i) {
                indicators.push(i);
            }
        }
        let cosign = CoSignature { attestation: r.id, indicators, note: req.note.clone() };
        let audience = match r.tlp {
            Tlp::Clear => Audience::Clear,
            Tlp::Green => Audience::Group,
            _ => Audience::Orgs(
                r.recipients.iter().chain(std::iter::once(&r.sender)).filter(|o| **o != me).copied().collect(),
            ),
        };
        let payload = Payload::Endorsement(cosign.to_endorsement());
        let (id, _) = self.publish_payload(r.group, r.tlp, payload, audience).await?;
        Ok(id)
    }
}

fn date(ms: u64) -> String {
    trellis_proto::formats::time::format_date(ms)
}
