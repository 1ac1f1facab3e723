//! What users ask the node to do: found a group, invite, join, publish. Every item this node
//! creates goes the same way (ARCHITECTURE "Publish"): build, sign and encrypt → commit to the
//! store (only then is it acknowledged) → apply locally → gossip.

use std::sync::Arc;

use libp2p::Multiaddr;
use trellis_proto::envelope::{Envelope, EnvelopeRandomness, PublishRequest, Recipients};
use trellis_proto::group::{GroupKind, GroupOp, OpAction, Role, SignedGenesis, seal_epoch_key};
use trellis_proto::invite::Invite;
use trellis_proto::items::{Advisory, Affected, Category, RangeKind, Severity, VersionEvent, VersionRange};
use trellis_proto::{BodyKey, ContactCard, GroupId, ItemId, OrgId, Payload, Tlp};

use super::ingest::Origin;
use super::{ActionError, Engine};
use crate::api::types::{GroupInfo, PublishAdvisory};
use crate::groups::GroupRuntime;
use crate::home::{now_ms, random_bytes};
use crate::store::{GroupRecord, Readable, StoredItem};

fn bad(msg: impl Into<String>) -> ActionError {
    ActionError::BadRequest(msg.into())
}

fn lock<T>(_: T) -> ActionError {
    ActionError::Internal("lock poisoned".into())
}

/// Who may read an item being published.
#[derive(Debug)]
pub enum Audience {
    Clear,
    Group,
    Orgs(Vec<OrgId>),
}

impl Engine {
    /// Found a group with this org as its first admin.
    pub async fn create_group(self: &Arc<Self>, name: &str, kind: &str) -> Result<GroupId, ActionError> {
        let kind: GroupKind = kind.parse().map_err(|e: trellis_proto::ProtoError| bad(e.to_string()))?;
        if self.groups.read().map_err(lock)?.values().any(|g| g.name() == name.trim()) {
            return Err(ActionError::Conflict(format!("this node is already in a group named {name:?}")));
        }
        let key: [u8; 32] = random_bytes();
        let genesis = {
            let ident = self.identity.read().map_err(lock)?;
            SignedGenesis::create(&ident.keys, name, kind, now_ms(), random_bytes(), &key, random_bytes())
                .map_err(|e| bad(e.to_string()))?
        };
        let id = genesis.group_id();
        let rec = GroupRecord { genesis, joined_ms: now_ms(), epoch_keys: vec![] };
        let rt = {
            let ident = self.identity.read().map_err(lock)?;
            GroupRuntime::from_record(&rec, &ident.keys).map_err(|e| ActionError::Internal(e.to_string()))?
        };
        self.store.put_group(&id, &rt.record())?;
        self.groups.write().map_err(lock)?.insert(id, rt);
        self.node.subscribe(id).await;
        tracing::info!(group = %id.short(), "group created");
        Ok(id)
    }

    /// Admit the org of `card` with `role`; returns the invite token for it.
    pub async fn invite(self: &Arc<Self>, group: &str, card: &str, role: &str) -> Result<String, ActionError> {
        let gid = self.resolve_group(group)?;
        let role: Role = role.parse().map_err(|e: trellis_proto::ProtoError| bad(e.to_string()))?;
        let card = ContactCard::parse(card, now_ms()).map_err(|e| bad(e.to_string()))?;
        let me = self.me();
        let (parents, share, genesis) = {
            let groups = self.groups.read().map_err(lock)?;
            let g = groups.get(&gid).ok_or_else(|| ActionError::NotFound("unknown group".into()))?;
            if !g.state.is_admin(&me) {
                return Err(bad(format!(
                    "only an admin of {} can invite; ask one of: {}",
                    g.name(),
                    fingerprints(&g.state.admins())
                )));
            }
            if g.state.members.contains_key(&card.org()) {
                return Err(ActionError::Conflict(format!(
                    "{} is already a member of {}",
                    card.org().fingerprint(),
                    g.name()
                )));
            }
            let epoch = g.state.current_epoch().ok_or_else(|| ActionError::Internal("group has no epoch".into()))?;
            let key = g
                .keys
                .get(&epoch.key_id)
                .ok_or_else(|| bad("this node does not hold the group's current key yet; wait for sync and retry"))?;
            let (share, unusable) =
                seal_epoch_key(&gid, key, &[(card.org(), card.bundle.bundle.x25519)], random_bytes());
            if !unusable.is_empty() {
                return Err(bad("cannot seal the group key to this card's encryption key"));
            }
            (g.state.heads.clone(), share, g.log.genesis.clone())
        };
        self.remember_name(card.org(), &card.name);
        let op = GroupOp { parents, action: OpAction::Add { member: card.bundle.clone(), role, share: Some(share) } };
        let (_, bytes) = self.publish_payload(gid, Tlp::Clear, Payload::GroupOp(op), Audience::Clear).await?;
        let addrs = self.dialable_addrs().await;
        Ok(Invite { genesis, add_op: bytes, addrs }.to_text())
    }

    /// Our listen addresses with our peer id, for tokens and cards.
    pub async fn dialable_addrs(&self) -> Vec<String> {
        let info = self.node.info().await;
        info.listen_addrs.iter().map(|a| format!("{a}/p2p/{}", self.peer_id)).collect()
    }

    /// Join a group with an invite token.
    pub async fn join(self: &Arc<Self>, token: &str) -> Result<GroupInfo, ActionError> {
        let me = self.me();
        let inv = Invite::parse(token, &me).map_err(|e| bad(e.to_string()))?;
        if self.groups.read().map_err(lock)?.contains_key(&inv.group) {
            return Err(ActionError::Conflict(format!(
                "this node is already in group {}",
                inv.invite.genesis.genesis.name
            )));
        }
        let rec = GroupRecord { genesis: inv.invite.genesis.clone(), joined_ms: now_ms(), epoch_keys: vec![] };
        let rt = {
            let ident = self.identity.read().map_err(lock)?;
            GroupRuntime::from_record(&rec, &ident.keys).map_err(|e| bad(e.to_string()))?
        };
        self.groups.write().map_err(lock)?.insert(inv.group, rt);
        // The Add op admits us (once its ancestors arrive by sync) and carries our key share. Any
        // admin may have made it. If it is refused, the group is forgotten again, so the same
        // token or another one can be used later.
        let this = Arc::clone(self);
        let add = inv.invite.add_op.clone();
        let ingested = tokio::task::spawn_blocking(move || this.ingest(&add, Origin::Invite))
            .await
            .map_err(|e| ActionError::Internal(e.to_string()))
            .and_then(|r| r.map_err(|e| bad(format!("the invite's membership op was refused: {e}"))))
            .and_then(|_| {
                let record = self.groups.read().map_err(lock)?.get(&inv.group).map(|g| g.record());
                match record {
                    Some(rec) => self.store.put_group(&inv.group, &rec).map_err(ActionError::from),
                    None => Err(ActionError::Internal("group vanished while joining".into())),
                }
            });
        if let Err(e) = ingested {
            self.groups.write().map_err(lock)?.remove(&inv.group);
            return Err(e);
        }
        self.node.subscribe(inv.group).await;
        let mut peers = Vec::new();
        for a in &inv.invite.addrs {
            if let Ok(addr) = a.parse::<Multiaddr>() {
                if let Some(libp2p::multiaddr::Protocol::P2p(p)) = addr.iter().last() {
                    peers.push(p);
                }
                let _ = self.store.put_peer(&addr.to_string(), std::slice::from_ref(a));
                self.node.dial(addr).await;
            }
        }
        // Catch up from the inviter in the background; the first attempt may race the dial.
        let this = Arc::clone(self);
        let group = inv.group;
        tokio::spawn(async move {
            for attempt in 0..10u64 {
                for p in &peers {
                    if this.sync_with(*p, group).await.is_ok() {
                        return;
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(300 * (attempt + 1))).await;
            }
        });
        self.group_info(&inv.group).await.ok_or_else(|| ActionError::Internal("group vanished".into()))
    }

    /// Publish an advisory from the API request.
    pub async fn publish_advisory(self: &Arc<Self>, req: &PublishAdvisory) -> Result<ItemId, ActionError> {
        let gid = self.resolve_group(&req.group)?;
        let tlp: Tlp = req.tlp.parse().map_err(|e: trellis_proto::tlp::UnknownTlp| bad(e.to_string()))?;
        let advisory = advisory_from_request(req)?;
        let audience = match tlp {
            Tlp::Clear => Audience::Clear,
            Tlp::Green => {
                if !req.to.is_empty() {
                    return Err(bad(
                        "--to names recipients, which only AMBER, AMBER+STRICT and RED use; GREEN goes to the whole group",
                    ));
                }
                Audience::Group
            }
            Tlp::Amber | Tlp::AmberStrict | Tlp::Red => Audience::Orgs(self.named_recipients(&gid, tlp, &req.to)?),
        };
        let (id, _) = self.publish_payload(gid, tlp, Payload::Advisory(advisory), audience).await?;
        Ok(id)
    }

    /// Build, store (acknowledged once committed), apply and gossip one item of ours.
    pub async fn publish_payload(
        self: &Arc<Self>,
        gid: GroupId,
        tlp: Tlp,
        payload: Payload,
        audience: Audience,
    ) -> Result<(ItemId, Vec<u8>), ActionError> {
        let me = self.me();
        let kind = payload.kind();
        let (epoch, group_key, to) = {
            let groups = self.groups.read().map_err(lock)?;
            let g = groups.get(&gid).ok_or_else(|| ActionError::NotFound("unknown group".into()))?;
            match g.state.role(&me) {
                None => {
                    return Err(bad(format!(
                        "this org is not (yet) a member of {}; if you just joined, wait a moment for sync",
                        g.name()
                    )));
                }
                Some(r) if !r.can_publish() && !kind.is_control() => {
                    return Err(bad(format!("your role in {} is reader: readers cannot publish", g.name())));
                }
                _ => {}
            }
            let group_key = match audience {
                Audience::Group => Some(
                    g.current_key()
                        .ok_or_else(|| {
                            bad("this node does not hold the group's current key yet; wait for sync and retry")
                        })?
                        .1,
                ),
                _ => None,
            };
            let to: Vec<(OrgId, [u8; 32])> = match &audience {
                Audience::Orgs(orgs) => {
                    let mut v = Vec::new();
                    for o in orgs.iter().chain(std::iter::once(&me)) {
                        let m = g
                            .state
                            .members
                            .get(o)
                            .ok_or_else(|| bad(format!("{} is not a member of {}", o.fingerprint(), g.name())))?;
                        if !v.iter().any(|(x, _)| x == o) {
                            v.push((*o, m.bundle.bundle.x25519));
                        }
                    }
                    v
                }
                _ => Vec::new(),
            };
            (g.state.epoch(), group_key, to)
        };
        let this = Arc::clone(self);
        let payload2 = payload.clone();
        let result = tokio::task::spawn_blocking(move || {
            this.store.publish_with_next_seq(&gid, &me, |seq| {
                let recipients = match (&group_key, to.is_empty()) {
                    (Some(k), _) => Recipients::Group { epoch_key: k },
                    (None, false) => Recipients::Sealed { to: &to },
                    (None, true) => Recipients::Clear,
                };
                let ident = this.identity.read().map_err(|_| bad("lock"))?;
                let rand = EnvelopeRandomness {
                    nonce: random_bytes(),
                    content_key: random_bytes(),
                    hpke_seed: random_bytes(),
                };
                let env = Envelope::build(
                    &ident.keys,
                    &PublishRequest {
                        group: gid,
                        epoch,
                        seq,
                        timestamp_ms: now_ms(),
                        tlp,
                        payload: &payload2,
                        recipients,
                    },
                    &rand,
                )
                .map_err(|e| bad(e.to_string()))?;
                let readable = match &env.body {
                    trellis_proto::Body::Clear(_) => Readable::Clear,
                    trellis_proto::Body::Group { .. } => {
                        Readable::Key(BodyKey::Epoch(*group_key.as_ref().ok_or_else(|| bad("no epoch key"))?))
                    }
                    trellis_proto::Body::Sealed { .. } => Readable::Key(BodyKey::Content(rand.content_key)),
                };
                let item = StoredItem { bytes: env.bytes.clone(), received_ms: now_ms(), readable };
                Ok::<_, ActionError>((env.id, env.header.kind, item))
            })
        })
        .await
        .map_err(|e| ActionError::Internal(e.to_string()))??;
        let (id, _, _) = result?;
        let stored =
            self.store.get_item(&id)?.ok_or_else(|| ActionError::Internal("item vanished after commit".into()))?;
        let env = Envelope::decode(&stored.bytes).map_err(|e| ActionError::Internal(e.to_string()))?;
        self.after_store(&env, payload);
        if let Ok(mut c) = self.counters.lock() {
            *c.items_out.entry(kind.as_str()).or_default() += 1;
        }
        if tlp == Tlp::Red {
            // §5.2: RED goes straight to each recipient's nodes, never over the topic.
            let recipients = env.recipients();
            let delivered = self.deliver_direct(&stored.bytes, &recipients).await;
            tracing::info!(item = %id.short(), group = %gid.short(), delivered = delivered.len(), recipients = recipients.len(), "RED item delivered directly");
            let me = self.me();
            let missing: Vec<String> =
                recipients.iter().filter(|o| **o != me && !delivered.contains(o)).map(|o| o.fingerprint()).collect();
            if !missing.is_empty() {
                return Err(ActionError::Conflict(format!(
                    "item {} is stored here, but these recipients have no node connected now and RED is never stored for later delivery: {}. Publish again when they are online",
                    id.to_text(),
                    missing.join(", ")
                )));
            }
        } else {
            let peers = self.node.publish(gid, stored.bytes.clone()).await;
            tracing::info!(item = %id.short(), group = %gid.short(), kind = kind.as_str(), peers, "published");
        }
        Ok((id, stored.bytes))
    }
}

impl Engine {
    /// The recipients of an AMBER / AMBER+STRICT / RED item: the `--to` orgs, or, in a
    /// supply-chain channel, the channel's admins by default (§6.8).
    pub fn named_recipients(&self, gid: &GroupId, tlp: Tlp, to: &[String]) -> Result<Vec<OrgId>, ActionError> {
        if !to.is_empty() {
            return to.iter().map(|t| self.resolve_member(gid, t)).collect();
        }
        let groups = self.groups.read().map_err(lock)?;
        let g = groups.get(gid).ok_or_else(|| ActionError::NotFound("unknown group".into()))?;
        if g.log.genesis.genesis.kind == GroupKind::SupplyChain {
            return Ok(g.state.admins());
        }
        Err(bad(format!(
            "{} needs recipients: add --to ORG (a member's fingerprint or id); only supply-chain channels default to their admins",
            tlp.label()
        )))
    }

    /// Send an envelope to every connected node of each recipient; returns the orgs reached.
    pub async fn deliver_direct(self: &Arc<Self>, bytes: &[u8], recipients: &[OrgId]) -> Vec<OrgId> {
        let mut reached = Vec::new();
        for org in recipients {
            for peer in self.peers_of(org) {
                let req = crate::wire::Request {
                    binding: self.binding.clone(),
                    body: crate::wire::RequestBody::Deliver { envelope: bytes.to_vec() },
                };
                if let Ok(crate::wire::Response::Delivered) = self.node.request(peer, req).await {
                    reached.push(*org);
                    break;
                }
            }
        }
        reached
    }
}

fn fingerprints(orgs: &[OrgId]) -> String {
    orgs.iter().map(|o| o.fingerprint()).collect::<Vec<_>>().join(", ")
}

/// Parse a severity: a CVSS vector with a score (`7.5 CVSS:3.1/...`), a bare vector, or a score.
fn parse_severity(s: &str) -> Result<Severity, ActionError> {
    let s = s.trim();
    let mut score = None;
    let mut vector = None;
    for part in s.split_whitespace() {
        if let Ok(v) = part.parse::<f32>() {
            if !(0.0..=10.0).contains(&v) {
                return Err(bad(format!("severity score {v} is outside 0.0–10.0")));
            }
            score = Some((v * 10.0).round() as u8);
        } else if part.starts_with("CVSS:") || part.starts_with("AV:") {
            vector = Some(part.to_string());
        } else {
            return Err(bad(format!(
                "severity {s:?} is neither a CVSS vector (CVSS:3.1/AV:N/...) nor a score (e.g. 9.8)"
            )));
        }
    }
    let score = match (score, &vector) {
        (Some(s), _) => s,
        (None, Some(v)) if v.starts_with("CVSS:3") => v3_score(v)?,
        (None, Some(_)) => {
            return Err(bad(
                "give the base score with a CVSS 4.0 or bare vector, e.g. --severity '9.3 CVSS:4.0/AV:N/...'",
            ));
        }
        (None, None) => return Err(bad("empty severity")),
    };
    if let Some(v) = &vector
        && v.starts_with("CVSS:3")
    {
        v3_score(v)?;
    }
    Ok(Severity { vector, score_tenths: score })
}

fn v3_score(vector: &str) -> Result<u8, ActionError> {
    trellis_proto::formats::cvss::v3_base_score_tenths(vector).ok_or_else(|| {
        bad(format!("--severity: {vector:?} is not a complete CVSS v3 base vector (CVSS:3.1/AV:_/AC:_/PR:_/UI:_/S:_/C:_/I:_/A:_)"))
    })
}

/// Parse `PURL@RANGE`: `pkg:npm/lodash@<4.17.21`, `pkg:cargo/foo@>=1.0.0,<1.2.3`, or an exact
/// version `pkg:pypi/x@1.0`. The range becomes OSV events (§4.1).
pub fn parse_affects(s: &str) -> Result<Affected, ActionError> {
    let s = s.trim();
    if !s.starts_with("pkg:") {
        return Err(bad(format!("--affects {s:?}: expected a package URL like pkg:npm/lodash@<4.17.21")));
    }
    let (purl, range) = match s.rfind('@') {
        Some(i) if i > 4 => (&s[..i], Some(&s[i + 1..])),
        _ => (s, None),
    };
    let mut a = Affected { purl: Some(purl.to_string()), ..Default::default() };
    let Some(range) = range.filter(|r| !r.is_empty()) else {
        return Ok(a);
    };
    let mut events = Vec::new();
    let mut exact = Vec::new();
    for part in range.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some(v) = part.strip_prefix(">=") {
            events.push(VersionEvent::Introduced(v.trim().to_string()));
        } else if let Some(v) = part.strip_prefix("<=") {
            events.push(VersionEvent::LastAffected(v.trim().to_string()));
        } else if let Some(v) = part.strip_prefix('<') {
            events.push(VersionEvent::Fixed(v.trim().to_string()));
        } else if part.starts_with('>') {
            return Err(bad(format!("--affects {s:?}: use >= for the first affected version")));
        } else {
            exact.push(part.trim_start_matches('=').to_string());
        }
    }
    if !events.is_empty() {
        if !events.iter().any(|e| matches!(e, VersionEvent::Introduced(_))) {
            events.insert(0, VersionEvent::Introduced("0".into()));
        }
        a.ranges.push(VersionRange { kind: RangeKind::Ecosystem, events });
    }
    a.versions = exact;
    Ok(a)
}

fn advisory_from_request(req: &PublishAdvisory) -> Result<Advisory, ActionError> {
    if req.title.trim().is_empty() {
        return Err(bad("an advisory needs a title (--title)"));
    }
    let category = match &req.category {
        Some(c) => c.parse::<Category>().map_err(|e| bad(e.to_string()))?,
        None => Category::Vulnerability,
    };
    let severity = req.severity.as_deref().map(parse_severity).transpose()?;
    let affected = req.affects.iter().map(|a| parse_affects(a)).collect::<Result<Vec<_>, _>>()?;
    let now = now_ms();
    let adv = Advisory {
        reference_id: String::new(),
        title: req.title.trim().to_string(),
        summary: req.summary.clone(),
        category,
        severity,
        aliases: req.aliases.clone(),
        affected,
        references: req.references.clone(),
        remediation: req.remediation.clone(),
        published_ms: now,
        updated_ms: now,
        source: None,
    };
    adv.check_limits().map_err(|e| bad(e.to_string()))?;
    Ok(adv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affects_ranges() {
        let a = parse_affects("pkg:npm/lodash@<4.17.21").unwrap();
        assert_eq!(a.purl.as_deref(), Some("pkg:npm/lodash"));
        assert_eq!(
            a.ranges[0].events,
            vec![VersionEvent::Introduced("0".into()), VersionEvent::Fixed("4.17.21".into())]
        );
        let a = parse_affects("pkg:cargo/foo@>=1.0.0,<1.2.3").unwrap();
        assert_eq!(
            a.ranges[0].events,
            vec![VersionEvent::Introduced("1.0.0".into()), VersionEvent::Fixed("1.2.3".into())]
        );
        let a = parse_affects("pkg:pypi/x@1.0").unwrap();
        assert_eq!(a.versions, vec!["1.0".to_string()]);
        assert!(parse_affects("lodash@1").is_err());
        assert!(parse_affects("pkg:npm/x@>1").is_err());
    }

    #[test]
    fn severities() {
        assert_eq!(parse_severity("9.8").unwrap().score_tenths, 98);
        let s = parse_severity("7.5 CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N").unwrap();
        assert_eq!(s.score_tenths, 75);
        assert!(s.vector.is_some());
        assert_eq!(parse_severity("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H").unwrap().score_tenths, 100);
        assert!(parse_severity("CVSS:3.1/AV:N").is_err());
        assert!(parse_severity("high").is_err());
        assert!(parse_severity("11").is_err());
    }
}
