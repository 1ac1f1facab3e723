//! Views of the node's state for the local API: status, groups, members, advisories.

use libp2p::gossipsub::IdentTopic;
use trellis_proto::envelope::Envelope;
use trellis_proto::items::{RangeKind, VersionEvent};
use trellis_proto::trust::Stance;
use trellis_proto::{ContactCard, GroupId, ItemId, OrgId, Payload};

use super::{ActionError, Engine};
use crate::api::types::{AdvisoryView, AffectedInput, GroupInfo, IdInfo, MemberInfo, PeerInfo, Status};

/// How long a contact card's key bundle is valid.
const CARD_VALIDITY_MS: u64 = 365 * 24 * 3600 * 1000;

impl Engine {
    /// `trellis id`.
    pub async fn id_info(&self) -> IdInfo {
        let addrs = self.dialable_addrs().await;
        let (org, name) = (self.me(), self.my_name());
        let bundle = self.identity.with_keys(|keys| keys.key_bundle(self.clock.now_ms(), CARD_VALIDITY_MS));
        let card = ContactCard { name: name.clone(), bundle, addrs }.to_text();
        IdInfo { org: org.to_text(), fingerprint: org.fingerprint(), name, card }
    }

    /// One group's summary.
    pub async fn group_info(&self, id: &GroupId) -> Option<GroupInfo> {
        let info = self.node.info().await;
        let topic = IdentTopic::new(id.topic()).hash();
        let peers = info.topic_peers.get(&topic).map_or(0, |p| p.len());
        let items = self.store.group_item_count(id).unwrap_or(0);
        let me = self.me();
        let sync = self.sync_state.of_group(id);
        self.groups.with(id, |g| {
            let founder = g.log.genesis.founder();
            let founder_name = self.name_of(&founder);
            GroupInfo {
                id: id.to_text(),
                name: g.name().to_string(),
                kind: g.log.genesis.genesis.kind,
                role: g.state.role(&me),
                members: g.state.members.len(),
                epoch: g.state.epoch(),
                items,
                peers,
                joined_ms: g.joined_ms,
                founder: founder.to_text(),
                founder_fingerprint: founder.fingerprint(),
                founder_name,
                sync,
            }
        })
    }

    /// All groups.
    pub async fn group_list(&self) -> Vec<GroupInfo> {
        let mut out = Vec::new();
        for id in self.group_ids() {
            if let Some(g) = self.group_info(&id).await {
                out.push(g);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// `trellis status`.
    pub async fn status(&self) -> Status {
        let info = self.node.info().await;
        let id = self.id_info().await;
        Status {
            version: env!("CARGO_PKG_VERSION").to_string(),
            org: id.org,
            fingerprint: id.fingerprint,
            name: id.name,
            peer_id: info.peer_id.clone(),
            listen_addrs: info.listen_addrs.iter().map(|a| format!("{a}/p2p/{}", info.peer_id)).collect(),
            socket: crate::home::socket_path(&self.home).display().to_string(),
            home: self.home.display().to_string(),
            peers: info.peers.len(),
            groups: self.group_list().await,
            rejects: self.rejects.snapshot(),
            posture_requests: self.pending_posture_requests(),
        }
    }

    /// `trellis peers`.
    pub async fn peers(&self) -> Vec<PeerInfo> {
        let info = self.node.info().await;
        let ids: Vec<libp2p::PeerId> = info.peers.iter().map(|(p, _)| *p).collect();
        let known = self.peers.describe(&ids);
        info.peers
            .into_iter()
            .zip(known)
            .map(|((p, addrs), (org, org_name))| PeerInfo {
                peer_id: p.to_string(),
                addrs: addrs.iter().map(|a| a.to_string()).collect(),
                org: org.map(|o| o.to_text()),
                org_name,
            })
            .collect()
    }

    /// `trellis group members`.
    pub fn members(&self, group: &str) -> Result<Vec<MemberInfo>, ActionError> {
        let gid = self.resolve_group(group)?;
        let me = self.me();
        self.with_group(&gid, |g| {
            Ok(g.state
                .members
                .iter()
                .map(|(org, m)| MemberInfo {
                    org: org.to_text(),
                    fingerprint: org.fingerprint(),
                    name: self.name_of(org),
                    role: m.role,
                    since_ms: m.since_ms,
                    is_self: *org == me,
                })
                .collect())
        })
    }

    /// The user-facing view of a stored advisory envelope, if this node can read it.
    pub fn advisory_view_of(&self, env: &Envelope) -> Option<AdvisoryView> {
        let held = self.held_advisory(&env.id).ok()??;
        self.held_view(&held, None)
    }

    /// The view of an opened item, if it is an advisory.
    pub(crate) fn view_from(
        &self,
        (env, payload): (Envelope, Payload),
        received_ms: u64,
        ends: Option<&[(OrgId, Stance)]>,
    ) -> Option<AdvisoryView> {
        let Payload::Advisory(a) = payload else {
            return None;
        };
        let group_name = self.groups.name(&env.header.group).unwrap_or_default();
        let publisher: OrgId = env.header.sender;
        let owned;
        let ends = match ends {
            Some(e) => e,
            None => {
                owned = self.endorsements_of(&env.header.group, &env.id);
                &owned
            }
        };
        let affected_suppliers = self.affected_suppliers(&a);
        Some(AdvisoryView {
            id: env.id.to_text(),
            source_id: (!a.reference_id.is_empty()).then(|| a.reference_id.clone()),
            group: env.header.group.to_text(),
            group_name,
            publisher: publisher.to_text(),
            publisher_fingerprint: publisher.fingerprint(),
            publisher_name: self.name_of(&publisher),
            tlp: env.header.tlp,
            title: a.title,
            summary: a.summary,
            category: a.category.as_str().to_string(),
            severity: a.severity.as_ref().and_then(|s| s.vector.clone()),
            score: a.severity.as_ref().map(|s| s.score_tenths as f32 / 10.0),
            aliases: a.aliases,
            affected: a.affected.iter().map(affected_view).collect(),
            references: a.references,
            remediation: a.remediation,
            recipients: env.recipients().iter().map(|o| o.to_text()).collect(),
            published_ms: a.published_ms,
            received_ms,
            seq: env.header.seq,
            publisher_trust: self.trust_of(&publisher),
            confidence: self.confidence_of(&publisher, ends),
            endorsements: ends.iter().filter(|(_, s)| *s == Stance::Supports).count(),
            disputes: ends.iter().filter(|(_, s)| *s == Stance::Disputes).count(),
            affected_suppliers,
            revision: trellis_proto::lifecycle::FIRST_REVISION,
            revision_id: None,
            revisions: 1,
            updated_ms: a.updated_ms,
            withdrawn: None,
        })
    }

    /// Advisories this node can read, newest first, optionally of one group.
    pub fn advisories(&self, group: Option<&str>) -> Result<Vec<AdvisoryView>, ActionError> {
        let groups = match group {
            Some(g) => vec![self.resolve_group(g)?],
            None => self.group_ids(),
        };
        let mut out = Vec::new();
        for gid in groups {
            let ends = self.endorsements(&gid);
            // One entry per advisory, as its latest revision reads (§4.9).
            for held in self.held_advisories(&gid)? {
                let e = ends.get(&held.id()).map(Vec::as_slice).unwrap_or(&[]);
                if let Some(v) = self.held_view(&held, Some(e)) {
                    out.push(v);
                }
            }
        }
        out.sort_by_key(|a| std::cmp::Reverse(a.received_ms));
        Ok(out)
    }

    /// One advisory by id (full id or a unique prefix of 8+ characters).
    pub fn advisory(&self, id: &str) -> Result<AdvisoryView, ActionError> {
        let want = id.trim().to_ascii_lowercase();
        if let Ok(iid) = ItemId::parse(&want) {
            let item = self
                .store
                .get_item(&iid)?
                .ok_or_else(|| ActionError::NotFound(format!("no advisory {id} on this node")))?;
            if !item.is_readable() {
                return Err(ActionError::NotFound(format!(
                    "advisory {id} is stored here but this org cannot read it (not a recipient)"
                )));
            }
            // The first publication or any revision of it: the advisory as it now reads.
            let held = self.held_advisory(&iid)?.ok_or_else(|| {
                ActionError::NotFound(format!(
                    "{id} is not an advisory, or a revision of an advisory this node does not hold (yet)"
                ))
            })?;
            return self
                .held_view(&held, None)
                .ok_or_else(|| ActionError::NotFound(format!("{id} is not an advisory")));
        }
        // The document's own id or one of its aliases (GO-2020-0001, CVE-2021-44228): every
        // advisory that carries it.
        let all = self.advisories(None)?;
        let named = |a: &AdvisoryView| {
            a.source_id.iter().chain(a.aliases.iter()).any(|s| s.trim().eq_ignore_ascii_case(id.trim()))
        };
        let by_name: Vec<&AdvisoryView> = all.iter().filter(|a| named(a)).collect();
        match by_name.len() {
            0 => {}
            1 => return Ok(by_name[0].clone()),
            n => {
                let ids: Vec<&str> = by_name.iter().map(|a| a.id.as_str()).collect();
                return Err(ActionError::BadRequest(format!(
                    "{n} advisories carry {id:?}: {}; give one of their ids",
                    ids.join(", ")
                )));
            }
        }
        if want.len() < 8 {
            return Err(ActionError::BadRequest(format!("{id:?} is not an advisory id (give at least 8 characters)")));
        }
        let matches: Vec<AdvisoryView> = all.into_iter().filter(|a| a.id.starts_with(&want)).collect();
        match matches.len() {
            1 => Ok(matches.into_iter().next().expect("one")),
            0 => Err(ActionError::NotFound(format!("no advisory {id} on this node; see `trellis advisory list`"))),
            _ => Err(ActionError::BadRequest(format!("{id:?} matches several advisories; give more characters"))),
        }
    }
}

/// Most confident first, newest first among equals; [`Engine::advisories`] gives newest first.
/// One copy, in `trellis-api`, which the CLI shares.
pub use trellis_api::views::sort_by_confidence;

fn affected_view(a: &trellis_proto::items::Affected) -> AffectedInput {
    let mut parts = Vec::new();
    let mut fixed = None;
    for r in &a.ranges {
        if r.kind == RangeKind::Git {
            continue;
        }
        for e in &r.events {
            match e {
                VersionEvent::Introduced(v) if v == "0" => {}
                VersionEvent::Introduced(v) => parts.push(format!(">={v}")),
                VersionEvent::Fixed(v) => {
                    parts.push(format!("<{v}"));
                    fixed = Some(v.clone());
                }
                VersionEvent::LastAffected(v) => parts.push(format!("<={v}")),
                VersionEvent::Limit(v) => parts.push(format!("limit {v}")),
            }
        }
    }
    parts.extend(a.versions.iter().cloned());
    AffectedInput {
        purl: a.purl.clone(),
        cpe: a.cpe.clone(),
        vendor: a.vendor.clone(),
        product: a.product.clone(),
        range: (!parts.is_empty()).then(|| parts.join(",")),
        fixed,
    }
}
