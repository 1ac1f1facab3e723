//! Validation and storage of received envelopes (PROTOCOL.md §3, §6.7), shared by gossip and
//! catch-up sync so a peer cannot make a node store over sync what gossip would have rejected.
//!
//! Order of checks, cheapest first: size and structure (decode), known group, clock skew,
//! signature, sender membership at this point of the log, then replay (persistent), then
//! decryption. How each outcome maps to a gossipsub verdict is `crate::validation::verdict`.

use std::sync::Arc;

use libp2p::PeerId;
use trellis_proto::envelope::{Envelope, InnerSig};
use trellis_proto::group::{LogOp, NewEpochKey};
use trellis_proto::limits::MAX_CLOCK_SKEW_MS;
use trellis_proto::{Kind, Payload, ProtoError, Tlp, codec};

use super::Engine;
use crate::api::types::Event;
use crate::store::{Inserted, Readable, StoredItem};

/// How an item reached us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Gossip(PeerId),
    Sync(PeerId),
    /// The invite token we joined with.
    Invite,
    /// Delivered directly by the sender's node (RED).
    Direct(PeerId),
}

/// An envelope that passed validation, with what will be stored.
#[derive(Debug)]
pub struct Prepared {
    pub env: Envelope,
    pub item: StoredItem,
    pub payload: Option<Payload>,
    pub origin: Origin,
}

/// The result of ingesting one envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Stored,
    /// Stored and shown (as low-trust), but not relayed: the publisher is below this node's
    /// relay threshold (§7.2).
    StoredNoRelay,
    Duplicate,
}

/// Decode a stored GroupOp envelope into a [`LogOp`] (the store only holds verified items).
pub fn log_op_of(bytes: &[u8]) -> Option<LogOp> {
    let env = Envelope::decode(bytes).ok()?;
    match decode_clear(&env)? {
        Payload::GroupOp(op) => Some(LogOp {
            id: env.id,
            author: env.header.sender,
            timestamp_ms: env.header.timestamp_ms,
            seq: env.header.seq,
            op,
        }),
        _ => None,
    }
}

/// Decode a stored EpochKey envelope: its author and the shares.
pub fn epoch_key_of(bytes: &[u8]) -> Option<(trellis_proto::OrgId, NewEpochKey)> {
    let env = Envelope::decode(bytes).ok()?;
    match decode_clear(&env)? {
        Payload::EpochKey(k) => Some((env.header.sender, k.key)),
        _ => None,
    }
}

/// A stored revocation of a signing key: the org and the time from which it is revoked.
pub fn signing_revocation_of(bytes: &[u8]) -> Option<(trellis_proto::OrgId, u64)> {
    let env = Envelope::decode(bytes).ok()?;
    match decode_clear(&env)? {
        Payload::Revocation(r) if r.key == trellis_proto::items::RevokedKey::Signing => {
            Some((env.header.sender, r.effective_ms))
        }
        _ => None,
    }
}

fn decode_clear(env: &Envelope) -> Option<Payload> {
    match &env.body {
        trellis_proto::Body::Clear(p) => codec::decode(p, trellis_proto::limits::MAX_PAYLOAD_BYTES).ok(),
        _ => None,
    }
}

impl Engine {
    /// Validate, store and act on one envelope.
    pub fn ingest(self: &Arc<Self>, bytes: &[u8], origin: Origin) -> Result<Outcome, ProtoError> {
        let prepared = match self.prepare(bytes, origin) {
            Err(ProtoError::Duplicate) => {
                // Acknowledging a direct delivery (or an invite) says the item is on disk; the
                // copy we hold may still be in a relaxed transaction (it came by gossip or sync).
                if matches!(origin, Origin::Direct(_) | Origin::Invite) {
                    self.store.flush().map_err(|e| ProtoError::Local(e.to_string()))?;
                }
                return Ok(Outcome::Duplicate);
            }
            other => other?,
        };
        self.commit(vec![prepared]).pop().unwrap_or(Err(ProtoError::Local("nothing committed".into())))
    }

    /// [`Self::prepare`] for many envelopes, split over the machine's cores (validation is
    /// CPU-bound and independent per item; results come back in input order). Each core's share
    /// goes through the receive pipeline as one batch (`crate::pipeline::validate`: its
    /// signatures are checked together).
    pub fn prepare_many(&self, items: &[&[u8]], origin: Origin) -> Vec<Result<Prepared, ProtoError>> {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        // Below a few dozen items a thread costs more than it saves.
        let threads = cores.min(items.len() / 32).max(1);
        if threads == 1 {
            return crate::pipeline::validate(self, items, origin);
        }
        let chunk = items.len().div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> =
                items.chunks(chunk).map(|c| s.spawn(move || crate::pipeline::validate(self, c, origin))).collect();
            handles
                .into_iter()
                .zip(items.chunks(chunk))
                .flat_map(|(h, c)| {
                    h.join().unwrap_or_else(|_| {
                        c.iter().map(|_| Err(ProtoError::Local("validation thread panicked".into()))).collect()
                    })
                })
                .collect()
        })
    }

    /// Validate and decrypt one envelope: everything but storing it (the receive pipeline with a
    /// batch of one).
    pub fn prepare(&self, bytes: &[u8], origin: Origin) -> Result<Prepared, ProtoError> {
        crate::pipeline::validate(self, &[bytes], origin)
            .pop()
            .unwrap_or_else(|| Err(ProtoError::Local("nothing validated".into())))
    }

    /// Receive stage 1 (`crate::pipeline`): decode, clock skew, RED over gossip, the publisher's
    /// quota (looked at, not taken), known group. Costs a decode and a few lookups; the
    /// signature is not checked yet.
    pub(crate) fn check_outside(&self, bytes: &[u8], origin: Origin) -> Result<Envelope, ProtoError> {
        let env = Envelope::decode(bytes)?;
        let now = self.clock.now_ms();
        if env.header.timestamp_ms > now + MAX_CLOCK_SKEW_MS {
            return Err(ProtoError::FromTheFuture);
        }
        // §5.2: RED travels only directly to its recipients, never over a group topic.
        if env.header.tlp == Tlp::Red && matches!(origin, Origin::Gossip(_)) {
            return Err(ProtoError::TlpBodyMismatch { tlp: Tlp::Red, why: "RED is never gossiped" });
        }
        // §7.2: a publisher whose quota is spent is dropped before the signature check, so a
        // flood costs a decode per item, not a verification. The claim of who published is not
        // verified here, so it only decides what is dropped; violations are recorded from a
        // verified sample, so a forger cannot get an honest publisher penalised. (Checked before
        // taking the groups lock: trust lookups may read the groups themselves.)
        // Direct delivery (RED) counts against the same quota as gossip: a member cannot pile
        // up items this node must store and skip on every sync answer (§9).
        let metered = matches!(origin, Origin::Gossip(_) | Origin::Direct(_)) && !env.header.kind.is_control();
        if metered && !self.quota_available(&env.header.sender) {
            if self.sample_for_penalty() && env.verify_signature().is_ok() {
                self.add_violations(&env.header.sender, super::trust::PENALTY_SAMPLE);
            }
            return Err(ProtoError::OverQuota);
        }
        if !self.groups.contains(&env.header.group) {
            return Err(ProtoError::UnknownGroup(env.header.group));
        }
        Ok(env)
    }

    /// Receive stage 3, after the outer signature was checked: revocation, the sender's
    /// membership and role at this point of the log, replay, the publisher's quota (taken), then
    /// decryption where this node holds the key. The inner signature of a decrypted body is
    /// returned unchecked, for stage 4.
    pub(crate) fn check_sender_and_open(
        &self,
        env: Envelope,
        origin: Origin,
    ) -> Result<(Prepared, Option<InnerSig>), ProtoError> {
        let group = env.header.group;
        let checked = self.groups.with(&group, |g| {
            // §2.6: a revoked signing key signs nothing from its revocation time on (the
            // revocation itself, signed by that key, is of course accepted).
            if env.header.kind != Kind::Revocation
                && self.trust.revoked_from(&env.header.sender).is_some_and(|t| env.header.timestamp_ms >= t)
            {
                return Err(ProtoError::ExpiredKey);
            }
            // Ops of a departed member still go to the log rules (§6.5), which void them unless
            // they were concurrent with its removal: two admins who removed each other while
            // partitioned must each accept the other's op to converge.
            // The Add op of the invite we joined with is checked when its ancestors arrive: the
            // inviter may be any admin, which a genesis-only view cannot know yet (§6.3).
            let departed_op = env.header.kind == Kind::GroupOp && g.state.departed.contains_key(&env.header.sender);
            if !departed_op && origin != Origin::Invite {
                g.state.check_sender(&env.header.sender, env.header.kind, env.header.seq)?;
            }
            Ok(())
        });
        checked.unwrap_or(Err(ProtoError::UnknownGroup(group)))?;
        // Replays and duplicates are known from a read of the replay index, before any decryption
        // and without the write lock (the storing transaction checks again, atomically).
        match self.store.seq_holder(&group, &env.header.sender, env.header.seq) {
            Ok(Some(id)) if id == env.id => return Err(ProtoError::Duplicate),
            // §6.9: two group ops under one sequence number (equivocation). Both are kept, so
            // that an op naming either one as parent is not pending for ever on the nodes that
            // saw the other first; the author is charged for it when it is stored.
            Ok(Some(_)) if env.header.kind == Kind::GroupOp => {
                if self.groups.with(&group, |g| g.log.contains(&env.id)).unwrap_or(false) {
                    return Err(ProtoError::Duplicate);
                }
            }
            Ok(Some(_)) => {
                return Err(ProtoError::ReplayedSequence { sender: env.header.sender, seq: env.header.seq });
            }
            Ok(None) => {}
            Err(e) => return Err(ProtoError::Local(e.to_string())),
        }
        // §7.2: a publisher over its trust-scaled quota is neither stored from gossip nor relayed,
        // and the violation lowers its trust. Control items (membership, keys) are never
        // throttled; catch-up sync is bounded by its own batch limits instead.
        let sender = env.header.sender;
        if matches!(origin, Origin::Gossip(_) | Origin::Direct(_))
            && !env.header.kind.is_control()
            && !self.take_quota(&sender)
        {
            return Err(ProtoError::OverQuota);
        }
        // Decrypt what we can. Not holding the key (a relay of AMBER, or an epoch key still on
        // its way) is not an error: the item is stored and relayed; anything else is.
        // §5.2: RED is stored only by its recipients (display only); nobody relays it.
        if env.header.tlp == Tlp::Red && !env.is_recipient(&self.me()) {
            return Err(ProtoError::NoKey);
        }
        let opened = if matches!(env.body, trellis_proto::Body::Clear(_)) {
            env.open_deferred(None, &[])
        } else {
            let keys = self.groups.keys_of(&group);
            self.identity.with_keys(|ident| env.open_deferred(Some(ident), &keys))
        };
        let (payload, readable, inner) = match opened {
            Ok((o, inner)) => (Some(o.payload), Readable::opened(o.key), inner),
            Err(ProtoError::NoKey) => (None, Readable::No, None),
            Err(e) => return Err(e),
        };
        let bytes = env.bytes.clone();
        let item = StoredItem { bytes, received_ms: self.clock.now_ms(), readable };
        Ok((Prepared { env, item, payload, origin }, inner))
    }

    /// Receive stage 5, after the inner signature was checked: the checks of the payload that
    /// need this node's state (group op admission, CSAF conformance, revisions).
    pub(crate) fn check_payload(&self, p: &Prepared) -> Result<(), ProtoError> {
        let env = &p.env;
        // §6.9: a group op from an org that never held the role it needs, or past one of the
        // per-org bounds, is refused before it is stored or relayed.
        if let Some(Payload::GroupOp(op)) = &p.payload
            && p.origin != Origin::Invite
        {
            let log_op = LogOp {
                id: env.id,
                author: env.header.sender,
                timestamp_ms: env.header.timestamp_ms,
                seq: env.header.seq,
                op: op.clone(),
            };
            self.groups.with(&env.header.group, |g| g.log.admit(&g.state, &log_op)).unwrap_or(Ok(()))?;
        }
        if let Some(payload) = &p.payload {
            super::formats::check_received(payload)?;
        }
        if let Some(Payload::Revision(r)) = &p.payload {
            self.check_revision(env, r)?;
        }
        Ok(())
    }

    /// Evidence of equivocation: `env` is a group op whose author signed another op under the
    /// same sequence number. Logged, counted, and charged to the author's trust (§6.9, §7.2);
    /// both ops are kept and the group goes on.
    fn record_equivocation(&self, env: &Envelope) {
        let sender = env.header.sender;
        tracing::warn!(
            group = %env.header.group.short(),
            org = %sender.fingerprint(),
            seq = env.header.seq,
            op = %env.id.short(),
            "equivocation: this org signed two different group ops with one sequence number; both are kept"
        );
        self.count_reject("equivocation", Some(env.header.group), None);
        self.add_violations(&sender, super::trust::PENALTY_SAMPLE);
    }

    /// What storing `env` will lead to, as far as relaying goes: below this node's relay threshold
    /// a content item is stored and shown but not relayed (§7.2).
    pub fn relay_outcome(&self, env: &Envelope) -> Outcome {
        if !env.header.kind.is_control() && self.trust_of(&env.header.sender) < super::trust::RELAY_THRESHOLD {
            Outcome::StoredNoRelay
        } else {
            Outcome::Stored
        }
    }

    /// Store prepared items in one transaction, then act on the new ones. An item's receive time
    /// is the start of this transaction. Items received by gossip or sync are durable within
    /// `store::RELAXED_WINDOW`; others before this returns.
    pub fn commit(self: &Arc<Self>, prepared: Vec<Prepared>) -> Vec<Result<Outcome, ProtoError>> {
        self.commit_with(prepared, false)
    }

    /// [`Self::commit`] for group ops admitted together (`engine/op_batch.rs`): stored in one
    /// transaction, then added to their group's log together, the log computed once per group.
    pub(crate) fn commit_ops(self: &Arc<Self>, prepared: Vec<Prepared>) -> Vec<Result<Outcome, ProtoError>> {
        self.commit_with(prepared, true)
    }

    fn commit_with(self: &Arc<Self>, mut prepared: Vec<Prepared>, together: bool) -> Vec<Result<Outcome, ProtoError>> {
        let mut ops: std::collections::BTreeMap<trellis_proto::GroupId, Vec<LogOp>> = Default::default();
        let now = self.clock.now_ms();
        for p in &mut prepared {
            p.item.received_ms = now;
        }
        let rows: Vec<_> = prepared
            .iter()
            .map(|p| (p.env.header.group, p.env.header.kind, p.env.header.sender, p.env.header.seq, p.env.id, &p.item))
            .collect();
        // Items from gossip and catch-up sync may reach the disk within the store's relaxed
        // window: a peer holds them, and catch-up fetches again what a crash lost. An item
        // delivered to us directly (RED) or the invite we joined with is durable before this
        // returns.
        let durability = if prepared.iter().all(|p| matches!(p.origin, Origin::Gossip(_) | Origin::Sync(_))) {
            crate::store::Durability::Soon
        } else {
            crate::store::Durability::Now
        };
        let inserted = match self.store.insert_items_with(&rows, durability) {
            Ok(v) => v,
            Err(e) => return prepared.iter().map(|_| Err(ProtoError::Local(e.to_string()))).collect(),
        };
        drop(rows);
        let out = prepared
            .into_iter()
            .zip(inserted)
            .map(|(p, ins)| {
                let Prepared { env, payload, origin, item: p_item } = p;
                match ins {
                    Inserted::Duplicate => return Ok(Outcome::Duplicate),
                    Inserted::SeqConflict if env.header.kind == Kind::GroupOp => {
                        match self.store.insert_twin(&env.header.group, env.header.kind, &env.id, &p_item) {
                            Ok(true) => self.record_equivocation(&env),
                            Ok(false) => return Ok(Outcome::Duplicate),
                            Err(e) => return Err(ProtoError::Local(e.to_string())),
                        }
                    }
                    Inserted::SeqConflict => {
                        return Err(ProtoError::ReplayedSequence { sender: env.header.sender, seq: env.header.seq });
                    }
                    Inserted::New => {}
                }
                self.metrics.item_in(env.header.kind.as_str());
                let sender = env.header.sender;
                match payload {
                    Some(Payload::GroupOp(op)) if together => {
                        ops.entry(env.header.group).or_default().push(LogOp {
                            id: env.id,
                            author: env.header.sender,
                            timestamp_ms: env.header.timestamp_ms,
                            seq: env.header.seq,
                            op,
                        });
                    }
                    Some(p) => self.after_store_at(&env, p, p_item.received_ms),
                    None => {}
                }
                if self.relay_outcome(&env) == Outcome::StoredNoRelay {
                    return Ok(Outcome::StoredNoRelay);
                }
                if matches!(origin, Origin::Gossip(_)) {
                    self.trust.count_relayed(sender);
                }
                Ok(Outcome::Stored)
            })
            .collect();
        for (group, ops) in ops {
            self.apply_group_change(&group, |rt, keys| rt.absorb_ops(ops, keys));
        }
        out
    }

    /// Effects of a newly stored item, whose storing transaction started at `received_ms` (the
    /// receive time it is stored under): group ops and keys update the group, endorsements go to
    /// the endorsement index, advisories to the reactions queue.
    pub(crate) fn after_store_at(self: &Arc<Self>, env: &Envelope, payload: Payload, received_ms: u64) {
        let group = env.header.group;
        match payload {
            Payload::GroupOp(op) => {
                let log_op = LogOp {
                    id: env.id,
                    author: env.header.sender,
                    timestamp_ms: env.header.timestamp_ms,
                    seq: env.header.seq,
                    op,
                };
                self.apply_group_change(&group, |rt, keys| rt.absorb_op(log_op, keys).unwrap_or(false));
            }
            Payload::EpochKey(k) => {
                let author = env.header.sender;
                self.apply_group_change(&group, |rt, keys| rt.absorb_shares(&author, &k.key, keys));
            }
            Payload::Trust(ts) => {
                self.record_trust_statement(env.header.sender, env.header.timestamp_ms, &ts);
            }
            Payload::Revocation(r) if r.key == trellis_proto::items::RevokedKey::Signing => {
                self.trust.record_revocation(env.header.sender, r.effective_ms);
            }
            Payload::Advisory(a) => {
                // Its view for watchers and its SBOM matches are worked out by the reactions
                // thread, off this path (`crate::reactions`).
                self.reactions.emit(crate::reactions::Reaction { env: env.clone(), advisory: a, received_ms });
            }
            Payload::Resource(r) => {
                self.on_resource(env, &r);
                self.resource_stored(env, &r);
                self.help_stored(env, &r);
            }
            Payload::Revision(r) => self.on_revision(env, &r),
            Payload::Endorsement(e) => self.endorsement_stored(env, &e, received_ms),
            _ => {}
        }
    }

    /// Run `change` on a group; if it taught us a key, persist the record and open the items
    /// stored while the key was missing.
    fn apply_group_change(
        self: &Arc<Self>,
        group: &trellis_proto::GroupId,
        change: impl FnOnce(&mut crate::groups::GroupRuntime, &trellis_proto::OrgKeys) -> bool,
    ) {
        let changed = self.identity.with_keys(|keys| {
            self.groups.update(group, |rt| {
                let before = (rt.state.members.len(), rt.state.epoch());
                let learned = change(rt, keys);
                let after = (rt.state.members.len(), rt.state.epoch());
                let changed = before != after;
                (learned, learned.then(|| rt.record()), changed.then_some(after.0), after.1, rt.name().to_string())
            })
        });
        let Some((learned, record, members, epoch, name)) = changed else {
            return;
        };
        if let Some(rec) = record
            && let Err(e) = self.store.put_group(group, &rec)
        {
            tracing::error!(error = %e, "saving group keys failed");
        }
        if let Some(members) = members {
            let _ = self.events.send(Event::Membership { group: group.to_text(), group_name: name, members, epoch });
        }
        if learned {
            self.open_waiting_items(group);
        }
        self.trust_changed();
        self.schedule_maintenance(*group);
    }

    /// Run admin upkeep for `group` in the background (needs the runtime; a no-op outside one).
    pub(crate) fn schedule_maintenance(self: &Arc<Self>, group: trellis_proto::GroupId) {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let this = Arc::clone(self);
            rt.spawn(async move { this.maintain_group(group).await });
        }
    }

    /// Decrypt stored items of `group` this node could not read yet (their key arrived later).
    fn open_waiting_items(self: &Arc<Self>, group: &trellis_proto::GroupId) {
        let keys = self.groups.keys_of(group);
        for kind in [Kind::Advisory, Kind::Posture, Kind::Endorsement, Kind::Resource, Kind::Trust] {
            let Ok(ids) = self.store.group_item_ids(group, kind) else {
                continue;
            };
            for id in ids {
                let Ok(Some(item)) = self.store.get_item(&id) else {
                    continue;
                };
                if item.is_readable() {
                    continue;
                }
                let Ok(env) = Envelope::decode(&item.bytes) else {
                    continue;
                };
                let opened = self.identity.with_keys(|ident| env.open(Some(ident), &keys));
                if let Ok(o) = opened
                    && self.store.set_readable(&id, Readable::opened(o.key)).is_ok()
                {
                    self.after_store_at(&env, o.payload, item.received_ms);
                }
            }
        }
    }
}
