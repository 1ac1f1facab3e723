//! What users ask the node to do: found a group, invite, join, publish. Every item this node
//! creates goes the same way (docs/ARCHITECTURE.md, "Publish"): build, sign and encrypt → commit to the
//! store (only then is it acknowledged) → apply locally → gossip.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

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
use crate::store::{GroupRecord, Inserted, Readable, StoredItem};

fn bad(msg: impl Into<String>) -> ActionError {
    ActionError::BadRequest(msg.into())
}

/// This org's published advisories and the turns of publishing (an owner: private locks; see
/// `publish_payload`).
///
/// Poisoning: the digest index is a cache of what the store holds; a poisoned lock is recovered
/// by emptying it, and the next look-up in a group reads it again from the store. The numbering
/// lock guards no data (it orders the numbering, building and storing of this org's items), so
/// it is recovered as it is.
#[derive(Debug, Default)]
pub struct Publications {
    /// Digests of the advisories this org published, per group (filled from the store the first
    /// time a group is published to), so publishing the same advisory again finds the stored item.
    published: Mutex<HashMap<GroupId, HashMap<[u8; 32], ItemId>>>,
    /// Held from the look-up in `published` until a new advisory is stored and remembered
    /// there, so two identical publishes at once make one item, not two.
    advisory_turn: tokio::sync::Mutex<()>,
    /// Held while one of this org's items is numbered, built and stored, so its sequence
    /// numbers in a group have no gaps (see `publish_payload`).
    sequencer: Mutex<()>,
}

impl Publications {
    fn published(&self) -> MutexGuard<'_, HashMap<GroupId, HashMap<[u8; 32], ItemId>>> {
        match self.published.lock() {
            Ok(p) => p,
            Err(poisoned) => {
                let mut p = poisoned.into_inner();
                p.clear();
                self.published.clear_poison();
                p
            }
        }
    }

    fn numbering(&self) -> MutexGuard<'_, ()> {
        self.sequencer.lock().unwrap_or_else(PoisonError::into_inner)
    }
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
    pub async fn create_group(self: &Arc<Self>, name: &str, kind: GroupKind) -> Result<GroupId, ActionError> {
        let name = name.trim();
        if name.chars().any(char::is_control) {
            return Err(bad("a group name cannot contain control characters (newlines, escapes)"));
        }
        if looks_like_group_id(name) {
            return Err(bad(format!(
                "a group name of 8 or more characters made only of letters and the digits 2-7 reads as a \
                 group id, so {name:?} could be taken for another group's id; add a space or a hyphen \
                 (e.g. \"water-utilities\")"
            )));
        }
        self.groups.read(|groups| match groups.values().find(|g| same_name(g.name(), name)) {
            Some(g) => Err(ActionError::Conflict(format!(
                "this node is already in a group named {name:?} ({}); names are unique on a node: pick another name",
                self.describe_group(g)
            ))),
            None => Ok(()),
        })?;
        let key: [u8; 32] = self.rng.bytes();
        let now = self.clock.now_ms();
        let (nonce, seed) = (self.rng.bytes(), self.rng.bytes());
        let genesis = self
            .identity
            .with_keys(|keys| SignedGenesis::create(keys, name, kind, now, nonce, &key, seed))
            .map_err(|e| bad(e.to_string()))?;
        let id = genesis.group_id();
        let rec = GroupRecord { genesis, joined_ms: now, epoch_keys: vec![] };
        let rt = self
            .identity
            .with_keys(|keys| GroupRuntime::from_record(&rec, keys))
            .map_err(|e| ActionError::Internal(e.to_string()))?;
        self.store.put_group(&id, &rt.record())?;
        self.groups.insert(rt);
        self.node.subscribe(id).await;
        tracing::info!(group = %id.short(), "group created");
        Ok(id)
    }

    /// Rename this organization: the name other members see, sent to each peer when it next
    /// connects, and in contact cards from now on. Returns the new name.
    pub fn rename(&self, name: &str) -> Result<String, ActionError> {
        let name = trellis_api::names::check_org_name(name).map_err(bad)?;
        if let Err(e) = self.identity.rename(name.clone(), &self.home) {
            return Err(ActionError::Internal(format!("the new name could not be saved: {e}")));
        }
        tracing::info!(%name, "organization renamed");
        Ok(name)
    }

    /// Admit the org of `card` with `role`; returns the invite token for it.
    pub async fn invite(self: &Arc<Self>, group: &str, card: &str, role: Role) -> Result<String, ActionError> {
        let gid = self.resolve_group(group)?;
        let card = ContactCard::parse(card, self.clock.now_ms()).map_err(|e| bad(e.to_string()))?;
        let me = self.me();
        let share_seed = self.rng.bytes();
        let (parents, share, genesis) = self.with_group(&gid, |g| {
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
            let (share, unusable) = seal_epoch_key(&gid, key, &[(card.org(), card.bundle.bundle.x25519)], share_seed);
            if !unusable.is_empty() {
                return Err(bad("cannot seal the group key to this card's encryption key"));
            }
            Ok((g.state.heads.clone(), share, g.log.genesis.clone()))
        })?;
        self.remember_name(card.org(), &card.name);
        let op = GroupOp { parents, action: OpAction::Add { member: card.bundle.clone(), role, share: Some(share) } };
        let (_, bytes) = self.publish_payload(gid, Tlp::Clear, Payload::GroupOp(op), Audience::Clear).await?;
        // An invite lists at most 16 addresses (§6.3): a host with more interfaces gives the first.
        let addrs = self.dialable_addrs().await.into_iter().take(16).collect();
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
        self.groups.read(|groups| {
            let name = inv.invite.genesis.genesis.name.as_str();
            if let Some(g) = groups.get(&inv.group) {
                return Err(ActionError::Conflict(format!("this node is already in group {}", self.describe_group(g))));
            }
            // Names are unique on a node, and never read as an id: otherwise the name of a
            // group someone else founded could capture what a user types for another group.
            if let Some(g) = groups.values().find(|g| same_name(g.name(), name)) {
                return Err(ActionError::Conflict(format!(
                    "this node is already in a group named {name:?} ({}); a second group of the same name \
                     would make the name ambiguous, so names are unique on a node: ask the inviter to name the group \
                     differently",
                    self.describe_group(g)
                )));
            }
            if looks_like_group_id(name) {
                return Err(bad(format!(
                    "the invited group's name {name:?} reads as a group id and could be taken for another group; \
                     ask its founder ({}) for a group with another name",
                    inv.invite.genesis.founder().fingerprint()
                )));
            }
            Ok(())
        })?;
        let rec =
            GroupRecord { genesis: inv.invite.genesis.clone(), joined_ms: self.clock.now_ms(), epoch_keys: vec![] };
        let rt =
            self.identity.with_keys(|keys| GroupRuntime::from_record(&rec, keys)).map_err(|e| bad(e.to_string()))?;
        self.groups.insert(rt);
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
                let record = self.groups.with(&inv.group, |g| g.record());
                match record {
                    Some(rec) => self.store.put_group(&inv.group, &rec).map_err(ActionError::from),
                    None => Err(ActionError::Internal("group vanished while joining".into())),
                }
            });
        if let Err(e) = ingested {
            self.groups.remove(&inv.group);
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
        let tlp = req.tlp;
        let advisory = advisory_from_request(req, self.clock.now_ms())?;
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
        if let Payload::GroupOp(op) = &payload {
            self.refuse_void_op(&gid, op)?;
        }
        let one_at_a_time = match &payload {
            Payload::Advisory(_) => Some(self.publications.advisory_turn.lock().await),
            _ => None,
        };
        if let Payload::Advisory(adv) = &payload
            && let Some((id, bytes)) = self.same_advisory(&gid, tlp, adv, &audience)?
        {
            drop(one_at_a_time);
            // Publishing is idempotent: a retry (after a lost reply, say) or the same document
            // published twice sends the item already stored again instead of a second copy.
            tracing::info!(item = %id.short(), group = %gid.short(), "same advisory already published; sent again");
            self.send_stored(gid, tlp, kind, id, &bytes).await?;
            return Ok((id, bytes));
        }
        let (epoch, group_key, to) = self.with_group(&gid, |g| {
            match g.state.role(&me) {
                None => {
                    return Err(bad(format!(
                        "this org is not (yet) a member of {}; if you just joined, wait a moment for sync",
                        g.name()
                    )));
                }
                Some(r) if !r.can_publish() && !kind.is_control() => {
                    return Err(bad(format!("your role in {:?} is reader: readers cannot publish", g.name())));
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
                            .ok_or_else(|| bad(format!("{} is not a member of {:?}", o.fingerprint(), g.name())))?;
                        if !v.iter().any(|(x, _)| x == o) {
                            v.push((*o, m.bundle.bundle.x25519));
                        }
                    }
                    v
                }
                _ => Vec::new(),
            };
            Ok((g.state.epoch(), group_key, to))
        })?;
        let this = Arc::clone(self);
        let payload2 = payload.clone();
        // Signing and sealing (one HPKE seal per AMBER recipient) happen before the write
        // transaction, which then only stores: a publish never holds the store's one writer
        // while it does cryptography. The sequencer lock keeps this org's items in a group
        // numbered without gaps and committed in order; a number taken meanwhile by an item of
        // ours that came back by sync (a restored home) is a conflict, and the next number is
        // tried.
        let result = tokio::task::spawn_blocking(move || {
            let _numbering = this.publications.numbering();
            for _ in 0..8 {
                let seq = this.store.next_own_seq(&gid, &me)?;
                let recipients = match (&group_key, to.is_empty()) {
                    (Some(k), _) => Recipients::Group { epoch_key: k },
                    (None, false) => Recipients::Sealed { to: &to },
                    (None, true) => Recipients::Clear,
                };
                let rand = EnvelopeRandomness {
                    nonce: this.rng.bytes(),
                    content_key: this.rng.bytes(),
                    hpke_seed: this.rng.bytes(),
                };
                let timestamp_ms = this.clock.now_ms();
                let env = this
                    .identity
                    .with_keys(|keys| {
                        Envelope::build(
                            keys,
                            &PublishRequest {
                                group: gid,
                                epoch,
                                seq,
                                timestamp_ms,
                                tlp,
                                payload: &payload2,
                                recipients,
                            },
                            &rand,
                        )
                    })
                    .map_err(|e| bad(e.to_string()))?;
                let readable = match &env.body {
                    trellis_proto::Body::Clear(_) => Readable::Clear,
                    trellis_proto::Body::Group { .. } => {
                        Readable::Key(BodyKey::Epoch(*group_key.as_ref().ok_or_else(|| bad("no epoch key"))?))
                    }
                    trellis_proto::Body::Sealed { .. } => Readable::Key(BodyKey::Content(rand.content_key)),
                };
                let item = StoredItem { bytes: env.bytes.clone(), received_ms: timestamp_ms, readable };
                match this.store.insert_item(&gid, env.header.kind, &me, seq, &env.id, &item)? {
                    Inserted::New | Inserted::Duplicate => return Ok::<_, ActionError>(env.id),
                    Inserted::SeqConflict => continue,
                }
            }
            Err(ActionError::Internal("no free sequence number after 8 tries".into()))
        })
        .await
        .map_err(|e| ActionError::Internal(e.to_string()))?;
        let id = result?;
        let stored =
            self.store.get_item(&id)?.ok_or_else(|| ActionError::Internal("item vanished after commit".into()))?;
        let env = Envelope::decode(&stored.bytes).map_err(|e| ActionError::Internal(e.to_string()))?;
        if let Payload::Advisory(adv) = &payload {
            self.remember_published(&gid, &env, adv);
        }
        drop(one_at_a_time);
        self.after_store_at(&env, payload, stored.received_ms);
        self.metrics.item_out(kind.as_str());
        self.send_stored(gid, tlp, kind, id, &stored.bytes).await?;
        Ok((id, stored.bytes))
    }

    /// Send an item of ours that is stored: RED directly to its recipients' nodes (an error
    /// names those not reached), everything else on the group's topic.
    async fn send_stored(
        self: &Arc<Self>,
        gid: GroupId,
        tlp: Tlp,
        kind: trellis_proto::Kind,
        id: ItemId,
        bytes: &[u8],
    ) -> Result<(), ActionError> {
        if tlp == Tlp::Red {
            let env = Envelope::decode(bytes).map_err(|e| ActionError::Internal(e.to_string()))?;
            // §5.2: RED goes straight to each recipient's nodes, never over the topic.
            let recipients = env.recipients();
            let delivered = self.deliver_direct(bytes, &recipients).await;
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
            let peers = self.node.publish(gid, bytes.to_vec()).await;
            tracing::info!(item = %id.short(), group = %gid.short(), kind = kind.as_str(), peers, "published");
        }
        Ok(())
    }

    /// The advisory of ours already stored in `gid` with the same content (timestamps aside),
    /// label and readers, if any: publishing it again would only make a duplicate. GREEN counts
    /// only in the same epoch (members added since could not read an older copy). Looked up by
    /// digest; the first lookup in a group reads this org's advisories there from the store.
    fn same_advisory(
        &self,
        gid: &GroupId,
        tlp: Tlp,
        adv: &Advisory,
        audience: &Audience,
    ) -> Result<Option<(ItemId, Vec<u8>)>, ActionError> {
        let me = self.me();
        let epoch = self.groups.with(gid, |g| g.state.epoch()).unwrap_or(0);
        let readers = match audience {
            Audience::Orgs(o) => o.iter().copied().chain(std::iter::once(me)).collect(),
            _ => Vec::new(),
        };
        let wanted = advisory_digest(tlp, epoch, readers, adv);
        let known = self.publications.published().get(gid).map(|m| m.get(&wanted).copied());
        let found = match known {
            Some(found) => found,
            None => {
                let mut index = std::collections::HashMap::new();
                for id in self.store.group_item_ids(gid, trellis_proto::Kind::Advisory)? {
                    let Some(item) = self.store.get_item(&id)? else { continue };
                    let Ok(env) = Envelope::decode(&item.bytes) else { continue };
                    if env.header.sender != me {
                        continue;
                    }
                    if let Some((env, Payload::Advisory(a))) = item.open() {
                        let digest = advisory_digest(env.header.tlp, env.header.epoch, env.recipients(), &a);
                        index.insert(digest, id);
                    }
                }
                let found = index.get(&wanted).copied();
                self.publications.published().insert(*gid, index);
                found
            }
        };
        let Some(id) = found else { return Ok(None) };
        Ok(self.store.get_item(&id)?.map(|item| (id, item.bytes)))
    }

    /// Remember an advisory this org just published, for [`Engine::same_advisory`].
    fn remember_published(&self, gid: &GroupId, env: &Envelope, adv: &Advisory) {
        if let Some(index) = self.publications.published().get_mut(gid) {
            index.insert(advisory_digest(env.header.tlp, env.header.epoch, env.recipients(), adv), env.id);
        }
    }

    /// Refuse a membership op that the group rules (§6.4) would void: it is computed against
    /// the log this node holds before anything is signed, and the rule that voids it is the
    /// error. An op published anyway would be stored and gossiped, and then change nothing.
    fn refuse_void_op(&self, gid: &GroupId, op: &GroupOp) -> Result<(), ActionError> {
        let me = self.me();
        let now = self.clock.now_ms();
        let (mut log, name) = self.with_group(gid, |g| Ok((g.log.clone(), g.name().to_string())))?;
        // The op's real id is the hash of its envelope, which does not exist yet; any id not in
        // the log stands for it. Its parents are the current heads, so it comes last in the
        // order whatever its id.
        let probe = ItemId(trellis_proto::ids::tagged_hash("trellis/probe-op", &[&now.to_be_bytes()]));
        log.insert(trellis_proto::group::LogOp {
            id: probe,
            author: me,
            timestamp_ms: now,
            seq: u64::MAX,
            op: op.clone(),
        })
        .map_err(|e| bad(e.to_string()))?;
        let state = log.compute();
        if let Some(why) = state.void.get(&probe) {
            return Err(ActionError::Conflict(format!(
                "refused, nothing was published: the group rules would void this change in {name} ({why})"
            )));
        }
        Ok(())
    }
}

impl Engine {
    /// The recipients of an AMBER / AMBER+STRICT / RED item: the `--to` orgs, or, in a
    /// supply-chain channel, the channel's admins by default (§6.8).
    pub fn named_recipients(&self, gid: &GroupId, tlp: Tlp, to: &[String]) -> Result<Vec<OrgId>, ActionError> {
        if !to.is_empty() {
            return to.iter().map(|t| self.resolve_member(gid, t)).collect();
        }
        self.with_group(gid, |g| {
            if g.log.genesis.genesis.kind == GroupKind::SupplyChain {
                return Ok(g.state.admins());
            }
            Err(bad(format!(
                "{} needs recipients: add --to ORG (a member's fingerprint or id); only supply-chain channels default to their admins",
                tlp.label()
            )))
        })
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

/// What makes two advisories of one publisher in one group the same publication: the label,
/// the readers (recipients, or the epoch for GREEN) and the content without its timestamps.
fn advisory_digest(tlp: Tlp, epoch: u64, mut readers: Vec<OrgId>, adv: &Advisory) -> [u8; 32] {
    readers.sort();
    readers.dedup();
    let epoch = if tlp == Tlp::Green { epoch } else { 0 };
    let bare = Advisory { published_ms: 0, updated_ms: 0, ..adv.clone() };
    trellis_proto::ids::tagged_hash(
        "trellis/local/same-advisory",
        &[
            tlp.as_str().as_bytes(),
            &epoch.to_be_bytes(),
            &trellis_proto::codec::encode(&readers),
            &trellis_proto::codec::encode(&bare),
        ],
    )
}

/// Whether a group name reads as a group id or id prefix: 8 or more characters, all of them
/// in the id alphabet (base32: letters and the digits 2-7, any case). Such a name could
/// capture what a user types for another group, so it is refused.
pub fn looks_like_group_id(name: &str) -> bool {
    let t = name.trim();
    t.len() >= 8 && t.bytes().all(|b| b.is_ascii_alphabetic() || (b'2'..=b'7').contains(&b))
}

/// Whether two group names read the same to a person: case, whitespace around and between
/// words, control characters and characters that do not show (zero-width, bidi controls) are
/// not told apart. A node holds no two groups whose names read the same, so a name typed as it
/// is read designates one group.
pub fn same_name(a: &str, b: &str) -> bool {
    fn as_read(name: &str) -> String {
        let shown: String = name.chars().filter(|c| !c.is_control() && !does_not_show(*c)).collect();
        shown.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
    }
    a == b || as_read(a) == as_read(b)
}

/// Characters with no visible glyph of their own, or that only reorder the text around them.
fn does_not_show(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{E0000}'..='\u{E0FFF}'
    )
}

fn fingerprints(orgs: &[OrgId]) -> String {
    orgs.iter().map(|o| o.fingerprint()).collect::<Vec<_>>().join(", ")
}

/// Parse a severity: a CVSS vector (v2, v3.x or v4.0), a score (`9.8`), or both (`9.8
/// CVSS:3.1/...`). A vector is checked whole and scored ([`cvss::score_tenths`]); a score given
/// with it must be the one the vector gives, so a stored severity never contradicts itself.
///
/// [`cvss::score_tenths`]: trellis_proto::formats::cvss::score_tenths
pub fn parse_severity(s: &str) -> Result<Severity, ActionError> {
    let s = s.trim();
    let mut score = None;
    let mut vector = None;
    for part in s.split_whitespace() {
        if let Ok(v) = part.parse::<f32>() {
            if !(0.0..=10.0).contains(&v) {
                return Err(bad(format!("severity score {v} is outside 0.0–10.0")));
            }
            if score.replace((v * 10.0).round() as u8).is_some() {
                return Err(bad(format!("severity {s:?} gives two scores; give one")));
            }
        } else if part.starts_with("CVSS:") || part.starts_with("AV:") || part.starts_with("(AV:") {
            if vector.replace(part.trim_matches(|c| c == '(' || c == ')').to_string()).is_some() {
                return Err(bad(format!("severity {s:?} gives two vectors; give one")));
            }
        } else {
            return Err(bad(format!(
                "severity {s:?} is neither a CVSS vector (CVSS:3.1/AV:N/..., CVSS:4.0/..., or v2 AV:N/AC:L/Au:N/...) \
                 nor a score (e.g. 9.8)"
            )));
        }
    }
    let computed = vector
        .as_deref()
        .map(|v| trellis_proto::formats::cvss::score_tenths(v).map_err(|e| bad(format!("--severity: {e}"))))
        .transpose()?;
    let score = match (score, computed) {
        (Some(stated), Some(c)) if stated != c => {
            return Err(bad(format!(
                "--severity: the stated score {:.1} contradicts the vector, which gives {:.1}; give the vector \
                 alone (its score is computed) or with {:.1}",
                f32::from(stated) / 10.0,
                f32::from(c) / 10.0,
                f32::from(c) / 10.0
            )));
        }
        (_, Some(c)) => c,
        (Some(stated), None) => stated,
        (None, None) => return Err(bad("empty severity")),
    };
    Ok(Severity { vector, score_tenths: score })
}

/// Parse `PURL@RANGE`: `pkg:npm/lodash@<4.17.21`, `pkg:cargo/foo@>=1.0.0,<1.2.3`, or an exact
/// version `pkg:pypi/x@1.0`. The package URL is checked against the purl grammar
/// ([`Purl::parse_strict`]) and the range against the range grammar, in the package type's
/// version ordering ([`parse_range`]); an empty or impossible range is refused with the reason.
/// The range becomes OSV events (§4.1).
///
/// [`Purl::parse_strict`]: trellis_proto::formats::ident::Purl::parse_strict
/// [`parse_range`]: trellis_proto::formats::version::parse_range
pub fn parse_affects(s: &str) -> Result<Affected, ActionError> {
    use trellis_proto::formats::ident::Purl;
    use trellis_proto::formats::version::{Scheme, parse_range};
    let s = s.trim();
    if !s.starts_with("pkg:") {
        return Err(bad(format!("--affects {s:?}: expected a package URL like pkg:npm/lodash@<4.17.21")));
    }
    // An npm scope may be typed with its '@' (pkg:npm/@angular/core@<1): the purl form is %40.
    let typed = s.replace("/@", "/%40");
    let (purl, range) = match typed.rfind('@') {
        Some(i) => (&typed[..i], Some(&typed[i + 1..])),
        None => (typed.as_str(), None),
    };
    let parsed = Purl::parse_strict(purl).map_err(|e| bad(format!("--affects {s:?}: {e}")))?;
    let mut a = Affected { purl: Some(purl.to_string()), ..Default::default() };
    let Some(range) = range else {
        return Ok(a);
    };
    let r =
        parse_range(Scheme::for_purl_type(&parsed.kind), range).map_err(|e| bad(format!("--affects {s:?}: {e}")))?;
    let mut events = Vec::new();
    for (start, end) in r.intervals {
        events.push(VersionEvent::Introduced(start));
        match end {
            Some((v, false)) => events.push(VersionEvent::Fixed(v)),
            Some((v, true)) => events.push(VersionEvent::LastAffected(v)),
            None => {}
        }
    }
    if !events.is_empty() {
        a.ranges.push(VersionRange { kind: RangeKind::Ecosystem, events });
    }
    a.versions = r.exact;
    Ok(a)
}

/// An alias is an identifier of the same issue elsewhere: CVE-2024-12345, GHSA-xxxx-xxxx-xxxx,
/// GO-2020-0001, RUSTSEC-2021-0001. Letters first, then `-`-separated parts of letters, digits,
/// `.`, `_` and `:`; a CVE id must have the CVE form.
pub(crate) fn check_alias(a: &str) -> Result<(), ActionError> {
    let refuse = |why: &str| {
        Err(bad(format!(
            "--alias {a:?} is not an advisory identifier ({why}); e.g. CVE-2024-12345 or GHSA-jfh8-c2jp-5v3q"
        )))
    };
    if a.is_empty() || a.len() > 128 {
        return refuse("1 to 128 characters");
    }
    if !a.starts_with(|c: char| c.is_ascii_alphabetic()) || !a.contains('-') {
        return refuse("a prefix of letters, then '-'");
    }
    if let Some(c) = a.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'))) {
        return refuse(&format!("{c:?} cannot appear in one"));
    }
    if let Some(rest) = a.strip_prefix("CVE-") {
        let ok = rest.split_once('-').is_some_and(|(y, n)| {
            y.len() == 4
                && y.bytes().all(|b| b.is_ascii_digit())
                && n.len() >= 4
                && n.bytes().all(|b| b.is_ascii_digit())
        });
        if !ok {
            return refuse("a CVE id is CVE-YYYY-NNNN");
        }
    }
    Ok(())
}

/// A reference is an http or https URL with a host, and nothing a browser or terminal would
/// run or hide (no `javascript:`, no whitespace or control characters).
pub(crate) fn check_reference(r: &str) -> Result<(), ActionError> {
    let lower = r.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
    let host = rest.map(|x| x.split(['/', '?', '#']).next().unwrap_or(""));
    if r.len() > 2048 || host.is_none_or(|h| h.is_empty() || h.starts_with(':') || h.starts_with('@')) {
        return Err(bad(format!("--reference {r:?} is not an http(s) URL such as https://example.com/advisory/1")));
    }
    if let Some(c) = r.chars().find(|c| c.is_whitespace() || c.is_control() || !c.is_ascii()) {
        return Err(bad(format!(
            "--reference {r:?} contains {c:?}: write the URL in its encoded form (%20 for a space)"
        )));
    }
    Ok(())
}

fn advisory_from_request(req: &PublishAdvisory, now: u64) -> Result<Advisory, ActionError> {
    if req.title.trim().is_empty() {
        return Err(bad("an advisory needs a title (--title)"));
    }
    if req.summary.trim().is_empty() {
        return Err(bad("an advisory needs a summary (--summary): what is wrong and who is affected"));
    }
    let category = match &req.category {
        Some(c) => c.parse::<Category>().map_err(|e| bad(e.to_string()))?,
        None => Category::Vulnerability,
    };
    let severity = req.severity.as_deref().map(parse_severity).transpose()?;
    for a in &req.aliases {
        check_alias(a)?;
    }
    for r in &req.references {
        check_reference(r)?;
    }
    let affected = req.affects.iter().map(|a| parse_affects(a)).collect::<Result<Vec<_>, _>>()?;
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
    adv.check_limits().map_err(|e| match e {
        // Text limits are in bytes of UTF-8, which is not what people count: say both.
        trellis_proto::ProtoError::FieldTooLong { field, max } => {
            let text = match field {
                "title" => Some(adv.title.as_str()),
                "summary" => Some(adv.summary.as_str()),
                "remediation" => adv.remediation.as_deref(),
                _ => None,
            };
            match text {
                Some(t) => bad(format!(
                    "the {field} is {} bytes as UTF-8 ({} characters); the limit is {max} bytes",
                    t.len(),
                    t.chars().count()
                )),
                None => bad(format!("{field} is too long or has too many entries (limit {max})")),
            }
        }
        e => bad(e.to_string()),
    })?;
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
        // The README's walk-through.
        let a = parse_affects("pkg:maven/org.apache.logging.log4j/log4j-core@>=2.0.0,<2.15.0").unwrap();
        assert_eq!(
            a.ranges[0].events,
            vec![VersionEvent::Introduced("2.0.0".into()), VersionEvent::Fixed("2.15.0".into())]
        );
        assert!(parse_affects("pkg:generic/acme-hmi@<2.4.1").is_ok());
        let a = parse_affects("pkg:npm/@angular/core@<1.0.0").unwrap();
        assert_eq!(a.purl.as_deref(), Some("pkg:npm/%40angular/core"));
        for junk in [
            "pkg:/@<1",
            "pkg:npm/x@banana",
            "pkg:npm/x@>=5,<1",
            "pkg:npm/a%zz@<1",
            "pkg:npm/my pkg@<1",
            "pkg:npm/x@<<1",
            "pkg:npm/lodash@",
        ] {
            assert!(parse_affects(junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn names_that_read_the_same_are_the_same_name() {
        for (a, b) in [
            ("alpha-suppliers", "Alpha-Suppliers"),
            ("alpha-suppliers", " alpha-suppliers "),
            ("water utilities", "water  utilities"),
            ("alpha-suppliers", "alpha\u{200b}-suppliers"),
            ("alpha-suppliers", "\u{202e}alpha-suppliers"),
            ("alpha-suppliers", "alpha-suppliers\u{7}"),
        ] {
            assert!(same_name(a, b), "{a:?} {b:?}");
        }
        for (a, b) in [("alpha-suppliers", "alpha-supplier"), ("water utilities", "waterutilities")] {
            assert!(!same_name(a, b), "{a:?} {b:?}");
        }
    }

    #[test]
    fn aliases_and_references_are_checked() {
        for ok in ["CVE-2021-44228", "GHSA-jfh8-c2jp-5v3q", "GO-2020-0001", "RUSTSEC-2021-0001"] {
            assert!(check_alias(ok).is_ok(), "{ok}");
        }
        for bad in ["javascript:alert(1)", "CVE-21-1", "cve", "", "CVE-2021-44228 x", "1-2"] {
            assert!(check_alias(bad).is_err(), "{bad}");
        }
        assert!(check_reference("https://example.com/a?b=c#d").is_ok());
        assert!(check_reference("HTTP://example.com").is_ok());
        for bad in [
            "javascript:alert(1)",
            "https://",
            "ftp://x",
            "https://ex ample.com",
            "data:text/html,x",
            "https://a\u{1b}b",
        ] {
            assert!(check_reference(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn severities() {
        assert_eq!(parse_severity("9.8").unwrap().score_tenths, 98);
        let s = parse_severity("7.5 CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N").unwrap();
        assert_eq!(s.score_tenths, 75);
        assert!(s.vector.is_some());
        assert_eq!(parse_severity("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H").unwrap().score_tenths, 100);
        assert_eq!(
            parse_severity("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N").unwrap().score_tenths,
            93
        );
        assert_eq!(parse_severity("AV:N/AC:L/Au:N/C:P/I:P/A:P").unwrap().score_tenths, 75);
        assert!(parse_severity("CVSS:3.1/AV:N").is_err());
        assert!(parse_severity("high").is_err());
        assert!(parse_severity("11").is_err());
        let e = parse_severity("2.0 CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").unwrap_err().to_string();
        assert!(e.contains("stated score 2.0 contradicts the vector, which gives 9.8"), "{e}");
        assert!(parse_severity("9.3 CVSS:4.0/AV:X/AC:Q").is_err());
        assert!(parse_severity("9.8 CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").is_err());
    }
}
