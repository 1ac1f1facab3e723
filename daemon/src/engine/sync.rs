//! Catch-up sync (PROTOCOL.md §9): two members of a group exchange what each lacks over the
//! direct request-response protocol, using per-sender sequence range vectors. The request
//! carries, per sender, the ranges of sequence numbers the requester holds; the responder sends
//! the envelopes outside those ranges, in bounded batches. The request's size grows with the
//! number of senders and gaps, not with the history; the response with the difference.
//!
//! Everything received goes through [`Engine::ingest`], exactly like gossip.
//!
//! Bounds on what one peer can make this node do (PROTOCOL.md §9, §8):
//! - an answer looks at the items the requester lacks only (held ranges are jumped over), leaves
//!   out RED (and content, for a departed member) before counting, and stops after
//!   `SYNC_BATCH_ITEMS` items, `SYNC_BATCH_BYTES` bytes or `SYNC_SCAN_ITEMS` items left out;
//!   a cursor says where the next answer starts, so a block of items one requester may not have
//!   never hides what follows it;
//! - a have-list holds at most `MAX_HAVE_RANGES` ranges, sorted once, looked up by binary search;
//! - at most [`MAX_REQUESTS_PER_PEER`] requests of one peer are answered at a time, and
//!   [`MAX_REQUESTS_TOTAL`] over all peers; more are refused ("busy") at once;
//! - an item from a sender this node does not know as a member starts at most one sync with the
//!   peer that relayed it per [`TRIGGERED_SYNC_INTERVAL`], for the group the item names only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use libp2p::request_response::ResponseChannel;
use trellis_proto::envelope::Envelope;
use trellis_proto::wire::{HaveIndex, truncate_have};
use trellis_proto::{GroupId, Tlp};

use super::Engine;
use super::ingest::Origin;
use crate::api::types::SyncInfo;
use crate::clock::Clock;
use crate::store::BatchLimits;
use crate::wire::{Cursor, Request, RequestBody, Response, SYNC_BATCH_BYTES, SYNC_BATCH_ITEMS, SYNC_SCAN_ITEMS};
use trellis_proto::wire::MAX_OPS_BY_ID;

/// Most request rounds one sync runs before yielding (each round is one bounded batch).
const MAX_ROUNDS: usize = 1000;
/// Rounds without a stored item a sync goes on after, in a row: answers without items (the
/// responder left out `SYNC_SCAN_ITEMS` items it may not send) or whose items wait for a sender's
/// admission further on, each only when the cursor moved forward; then the sync ends.
pub const MAX_EMPTY_ROUNDS: usize = 16;
/// Requests of one peer answered at the same time; more are refused at once. (A node syncs with
/// one peer one group at a time, so an honest peer has at most one sync request, a hello and a
/// delivery outstanding.)
pub const MAX_REQUESTS_PER_PEER: usize = 4;
/// Requests answered at the same time over all peers.
pub const MAX_REQUESTS_TOTAL: usize = 32;
/// At most one sync started by an unknown sender's item per relaying peer in this interval.
pub const TRIGGERED_SYNC_INTERVAL: Duration = Duration::from_secs(10);
/// Longest wait of a sync for its turn with a peer.
const OUTBOUND_WAIT: Duration = Duration::from_secs(20);
/// Peers whose last triggered sync is remembered at most (older entries are dropped first).
const MAX_TRIGGER_ENTRIES: usize = 4096;

/// Per-peer bookkeeping of the work peers ask of this node (an owner: private locks with short
/// methods, each one map operation; docs/ARCHITECTURE.md, "Owners").
///
/// Poisoning: the locks are recovered ([`PoisonError::into_inner`]): every change is a single
/// increment, decrement, insert or remove of one peer's entry, so a panic cannot leave an entry
/// half-changed.
#[derive(Debug)]
pub struct PeerLimits {
    clock: Clock,
    inflight: Mutex<HashMap<PeerId, usize>>,
    triggered: Mutex<HashMap<PeerId, Instant>>,
    /// Our own syncs with each peer take turns here (entries exist only while used).
    outbound: Mutex<HashMap<PeerId, Arc<tokio::sync::Mutex<()>>>>,
    /// Syncs started by unknown senders' items since start (for tests and metrics).
    triggered_syncs: std::sync::atomic::AtomicU64,
}

fn recover<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A request being answered; frees its slot when dropped.
#[derive(Debug)]
pub struct Slot<'a> {
    limits: &'a PeerLimits,
    peer: PeerId,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut m = recover(&self.limits.inflight);
        if let Some(n) = m.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.peer);
            }
        }
    }
}

impl PeerLimits {
    /// Limits that read time from `clock`.
    pub fn new(clock: Clock) -> PeerLimits {
        PeerLimits {
            clock,
            inflight: Mutex::default(),
            triggered: Mutex::default(),
            outbound: Mutex::default(),
            triggered_syncs: Default::default(),
        }
    }

    /// A slot to answer one request of `peer`, unless it already has [`MAX_REQUESTS_PER_PEER`]
    /// being answered or all peers together [`MAX_REQUESTS_TOTAL`].
    pub fn enter(&self, peer: PeerId) -> Option<Slot<'_>> {
        let mut m = recover(&self.inflight);
        let total: usize = m.values().sum();
        let n = m.entry(peer).or_default();
        if *n >= MAX_REQUESTS_PER_PEER || total >= MAX_REQUESTS_TOTAL {
            if *n == 0 {
                m.remove(&peer);
            }
            return None;
        }
        *n += 1;
        Some(Slot { limits: self, peer })
    }

    /// The turn of our syncs with `peer`; give it back with [`PeerLimits::outbound_done`].
    fn outbound(&self, peer: PeerId) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(recover(&self.outbound).entry(peer).or_default())
    }

    /// Drop the turn of `peer` when no other sync waits for it.
    fn outbound_done(&self, peer: PeerId, turn: Arc<tokio::sync::Mutex<()>>) {
        let mut m = recover(&self.outbound);
        drop(turn);
        if m.get(&peer).is_some_and(|t| Arc::strong_count(t) == 1) {
            m.remove(&peer);
        }
    }

    /// Whether an unknown sender's item relayed by `peer` may start a sync now (and if so, the
    /// time is recorded): once per [`TRIGGERED_SYNC_INTERVAL`] per peer.
    pub fn may_trigger_sync(&self, peer: PeerId) -> bool {
        let now = self.clock.now();
        let mut m = recover(&self.triggered);
        if m.get(&peer).is_some_and(|t| now.duration_since(*t) < TRIGGERED_SYNC_INTERVAL) {
            return false;
        }
        if m.len() >= MAX_TRIGGER_ENTRIES {
            m.retain(|_, t| now.duration_since(*t) < TRIGGERED_SYNC_INTERVAL);
            if m.len() >= MAX_TRIGGER_ENTRIES {
                return false;
            }
        }
        m.insert(peer, now);
        self.triggered_syncs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        true
    }

    /// Syncs started by unknown senders' items since start.
    pub fn triggered_syncs(&self) -> u64 {
        self.triggered_syncs.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The outcome of the catch-up syncs with each peer, per group, as `status` and `/metrics`
/// show it (an owner: a private lock, one entry changed at a time; recovered when poisoned
/// for the same reason as [`PeerLimits`]).
#[derive(Debug, Default)]
pub struct SyncBook {
    state: Mutex<HashMap<(GroupId, PeerId), SyncInfo>>,
}

impl SyncBook {
    /// Record the outcome of one sync with `peer` (of `org`, when known) in `group`.
    fn record(&self, group: GroupId, peer: PeerId, org: Option<String>, result: &Result<usize, String>, now_ms: u64) {
        let mut st = recover(&self.state);
        let e = st.entry((group, peer)).or_insert_with(|| SyncInfo {
            peer_id: peer.to_string(),
            org: None,
            last_ok_ms: None,
            items_fetched: 0,
            last_error: None,
        });
        e.org = org;
        match result {
            Ok(n) => {
                e.last_ok_ms = Some(now_ms);
                e.items_fetched += *n as u64;
                e.last_error = None;
            }
            Err(err) => e.last_error = Some(err.clone()),
        }
    }

    /// The syncs of `group`, by peer id.
    pub fn of_group(&self, group: &GroupId) -> Vec<SyncInfo> {
        let mut v: Vec<SyncInfo> =
            recover(&self.state).iter().filter(|((g, _), _)| g == group).map(|(_, v)| v.clone()).collect();
        v.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
        v
    }

    /// When a sync of `group` last succeeded with any peer.
    pub fn last_ok_ms(&self, group: &GroupId) -> Option<u64> {
        recover(&self.state).iter().filter(|((g, _), _)| g == group).filter_map(|(_, s)| s.last_ok_ms).max()
    }
}

impl Engine {
    /// Answer a peer's request.
    pub async fn handle_request(self: &Arc<Self>, peer: PeerId, request: Request, channel: ResponseChannel<Response>) {
        let Some(slot) = self.peer_limits.enter(peer) else {
            self.count_reject("busy", None, Some(peer));
            let why = format!("busy: at most {MAX_REQUESTS_PER_PEER} requests of one peer are answered at a time");
            self.node.respond(channel, Response::Refused(why)).await;
            return;
        };
        // A join request with an invite link (§6.10) publishes an op: answered on this task.
        if let RequestBody::JoinLink { .. } = &request.body {
            let response = self.answer_join_link(peer, request).await;
            drop(slot);
            self.node.respond(channel, response).await;
            return;
        }
        let this = Arc::clone(self);
        let response = tokio::task::spawn_blocking(move || this.answer(peer, request))
            .await
            .unwrap_or_else(|e| Response::Refused(format!("internal error: {e}")));
        drop(slot);
        self.node.respond(channel, response).await;
    }

    /// The answer to one request of `peer` (runs on the blocking pool).
    pub fn answer(self: &Arc<Self>, peer: PeerId, request: Request) -> Response {
        // The binding must be signed by the org and name this connection's transport key.
        let key = match libp2p::identity::PublicKey::try_decode_protobuf(&request.binding.binding.transport_key) {
            Ok(k) if k.to_peer_id() == peer => k,
            _ => return Response::Refused("node binding does not match this connection".into()),
        };
        if let Err(e) = request.binding.verify(&key.encode_protobuf(), self.clock.now_ms()) {
            return Response::Refused(format!("node binding invalid: {e}"));
        }
        let org = request.binding.binding.org;
        self.peers.bind(peer, org);
        match request.body {
            RequestBody::Hello { name } => {
                self.peers.remember_name(org, &name);
                Response::Hello { binding: self.binding.clone(), name: self.my_name() }
            }
            RequestBody::Deliver { envelope } => match self.ingest(&envelope, Origin::Direct(peer)) {
                Ok(_) => Response::Delivered,
                Err(e) => {
                    self.count_reject(e.reason(), None, Some(peer));
                    Response::Refused(e.to_string())
                }
            },
            RequestBody::Ops { group, ids } => {
                let allowed = self
                    .groups
                    .with(&group, |g| {
                        g.state.members.contains_key(&org)
                            || g.state.departed.contains_key(&org)
                            || g.log.ops().any(|o| add_targets(o, &org))
                    })
                    .unwrap_or(false);
                if !allowed {
                    return Response::Refused("not a member of this group".into());
                }
                // Only group ops of that group, which are CLEAR control items (§4.8).
                let items = ids
                    .iter()
                    .filter_map(|id| self.store.get_item(id).ok().flatten())
                    .filter(|item| {
                        trellis_proto::envelope::Envelope::decode(&item.bytes)
                            .is_ok_and(|e| e.header.group == group && e.header.kind == trellis_proto::Kind::GroupOp)
                    })
                    .map(|item| item.bytes)
                    .collect();
                Response::Items { items, more: false, next: None }
            }
            RequestBody::Chunk { file, index } => self.answer_chunk(org, file, index),
            RequestBody::Sync { group, have, after } => {
                // Some(control only) for members, departed members and invitees; None for others.
                let access = self.groups.with(&group, |g| {
                    if g.state.members.contains_key(&org) {
                        Some(false)
                    } else if g.state.departed.contains_key(&org) || g.log.ops().any(|o| add_targets(o, &org)) {
                        // A departed member learns it was removed; an invitee whose Add we
                        // hold gets the log it needs to see itself admitted.
                        Some(true)
                    } else {
                        None
                    }
                });
                let control_only = match access {
                    None => return Response::Refused("unknown group".into()),
                    Some(None) => return Response::Refused("not a member of this group".into()),
                    Some(Some(c)) => c,
                };
                let have = match HaveIndex::new(&have) {
                    Ok(h) => h,
                    Err(e) => return Response::Refused(format!("have-list: {e}")),
                };
                let limits = BatchLimits {
                    max_items: SYNC_BATCH_ITEMS,
                    max_bytes: SYNC_BATCH_BYTES,
                    max_skipped: SYNC_SCAN_ITEMS,
                };
                // RED is never relayed (§5.2); departed members get only control items. Both are
                // left out before counting, so they never fill a batch.
                let keep = |h: &trellis_proto::Header| h.tlp != Tlp::Red && (!control_only || h.kind.is_control());
                match self.store.items_missing_from(&group, &have, after, limits, keep) {
                    Ok(b) => Response::Items { items: b.items, more: b.more, next: b.next },
                    Err(e) => Response::Refused(format!("store error: {e}")),
                }
            }
            // Answered by `answer_join_link` before this point.
            RequestBody::JoinLink { .. } => Response::Refused("join requests are answered elsewhere".into()),
        }
    }

    /// Fetch from `peer` everything of `group` we lack, and record the outcome for `status`.
    /// Syncs with one peer run one at a time (for all groups), so this node never asks more of a
    /// peer than the peer answers at once ([`MAX_REQUESTS_PER_PEER`]).
    pub async fn sync_with(self: &Arc<Self>, peer: PeerId, group: GroupId) -> Result<usize, String> {
        let turn = self.peer_limits.outbound(peer);
        // A sync that waits longer than this for its turn gives up (the next periodic round
        // tries again), so syncs cannot pile up behind a slow peer.
        let result = match tokio::time::timeout(OUTBOUND_WAIT, turn.lock()).await {
            Ok(guard) => {
                let r = self.sync_rounds(peer, group).await;
                drop(guard);
                r
            }
            Err(_) => Err("another sync with this peer is still running".into()),
        };
        self.peer_limits.outbound_done(peer, turn);
        let org = self.peers.org_of(&peer).map(|o| o.to_text());
        self.sync_state.record(group, peer, org, &result, self.clock.now_ms());
        result
    }

    /// Request rounds until the peer has nothing more, or a round makes no progress: a round
    /// progresses when it stores an item, or, when its answer was empty or its items wait for a
    /// sender not yet admitted, when the peer's cursor moved forward (at most
    /// [`MAX_EMPTY_ROUNDS`] such rounds in a row). Items that failed or were duplicates are no
    /// progress, so a peer that answers garbage or says `more` for ever gets one round.
    /// Fetch by id the parents that held group ops name but this node lacks (the twin of an
    /// equivocation never comes with a sequence-range sync, §6.9), a few levels deep.
    async fn fetch_missing_ops(self: &Arc<Self>, peer: PeerId, group: GroupId) -> usize {
        let mut stored = 0;
        for _ in 0..4 {
            let ids = self.groups.with(&group, |g| g.log.missing_parents(MAX_OPS_BY_ID)).unwrap_or_default();
            if ids.is_empty() {
                break;
            }
            let request = Request { binding: self.binding.clone(), body: RequestBody::Ops { group, ids } };
            let Ok(Response::Items { items, .. }) = self.node.request(peer, request).await else { break };
            if items.is_empty() {
                break;
            }
            let this = Arc::clone(self);
            let Ok((n, _)) = tokio::task::spawn_blocking(move || this.ingest_batch(&items, peer)).await else { break };
            if n == 0 {
                break;
            }
            stored += n;
        }
        stored
    }

    async fn sync_rounds(self: &Arc<Self>, peer: PeerId, group: GroupId) -> Result<usize, String> {
        let stored = self.sync_ranges(peer, group).await?;
        Ok(stored + self.fetch_missing_ops(peer, group).await)
    }

    async fn sync_ranges(self: &Arc<Self>, peer: PeerId, group: GroupId) -> Result<usize, String> {
        let mut stored = 0;
        let mut after: Option<Cursor> = None;
        let mut have = None;
        let mut empty_rounds = 0;
        let mut set_aside = false;
        for _ in 0..MAX_ROUNDS {
            // The have-list changes only when something was stored.
            let list = match have.take() {
                Some(h) => h,
                None => {
                    let mut h = self.store.seq_ranges(&group).map_err(|e| e.to_string())?;
                    truncate_have(&mut h);
                    h
                }
            };
            let body = RequestBody::Sync { group, have: list.clone(), after };
            let request = Request { binding: self.binding.clone(), body };
            let (items, more, next) = match self.node.request(peer, request).await? {
                Response::Items { items, more, next } => (items, more, next),
                Response::Refused(why) => return Err(format!("peer refused: {why}")),
                other => return Err(format!("unexpected answer to sync: {other:?}")),
            };
            // Only a cursor that moved forward can be progress without a stored item.
            let forward = match (after, next) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(a), Some(n)) => n > a,
            };
            let was_empty = items.is_empty();
            let (n, deferred) = if was_empty {
                (0, 0)
            } else {
                let this = Arc::clone(self);
                tokio::task::spawn_blocking(move || this.ingest_batch(&items, peer)).await.map_err(|e| e.to_string())?
            };
            stored += n;
            set_aside |= deferred > 0;
            if n > 0 {
                empty_rounds = 0;
                // Items set aside for a sender not yet admitted (in this batch or an earlier one)
                // may be admitted now: start again from the beginning (the have-list now leaves
                // out what was stored); else continue after the cursor.
                if set_aside {
                    set_aside = false;
                    after = None;
                    continue;
                }
                if !more {
                    break;
                }
                after = next;
                continue;
            }
            // Nothing stored: go on only past items the responder left out (an empty answer) or
            // items set aside for a sender whose admission is further on, with the cursor moving
            // forward, and only so many times in a row. A round of duplicates or failures ends it.
            empty_rounds += 1;
            if !more || !forward || !(was_empty || deferred > 0) || empty_rounds > MAX_EMPTY_ROUNDS {
                break;
            }
            after = next;
            have = Some(list);
        }
        Ok(stored)
    }

    /// Validate and store one control item of a sync batch (see [`Self::ingest_batch`]).
    fn ingest_control_one<'a>(
        self: &Arc<Self>,
        b: &'a Vec<u8>,
        peer: PeerId,
        stored: &mut usize,
        next: &mut Vec<&'a Vec<u8>>,
    ) {
        match self.prepare(b, Origin::Sync(peer)) {
            Ok(p) => match self.commit(vec![p]).pop() {
                Some(Ok(super::ingest::Outcome::Stored | super::ingest::Outcome::StoredNoRelay)) => *stored += 1,
                Some(Err(e)) => self.count_reject(e.reason(), None, Some(peer)),
                _ => {}
            },
            Err(e) => self.sort_rejected(b, e, peer, next),
        }
    }

    /// A sync item that did not validate: kept for the next pass if its sender is not (yet) a
    /// member, skipped if already held, counted as a rejection otherwise.
    fn sort_rejected<'a>(
        &self,
        b: &'a Vec<u8>,
        e: trellis_proto::ProtoError,
        peer: PeerId,
        next: &mut Vec<&'a Vec<u8>>,
    ) {
        match e {
            trellis_proto::ProtoError::NotAMember(_) | trellis_proto::ProtoError::NotAnAdmin(_) => next.push(b),
            trellis_proto::ProtoError::Duplicate => {}
            e => {
                tracing::debug!(%peer, reason = e.reason(), "sync item rejected");
                self.count_reject(e.reason(), None, Some(peer));
            }
        }
    }

    /// Ingest a sync batch: control items first (they may admit the senders of the rest), then
    /// repeat while progress is made, so order within a batch does not matter. Returns the items
    /// stored and those set aside because their sender is not (yet) known as a member.
    fn ingest_batch(self: &Arc<Self>, items: &[Vec<u8>], peer: PeerId) -> (usize, usize) {
        let mut pending: Vec<&Vec<u8>> = items.iter().collect();
        let mut stored = 0;
        loop {
            let before = pending.len();
            let mut next = Vec::new();
            let mut ready = Vec::new();
            // Control items change who may publish. Revocations first (a key revoked signs
            // nothing after its revocation time, whatever order the items came in), then the
            // group ops, added to their log together where that admits what op by op would
            // (`engine/op_batch.rs`), then the other control items; each applied before the
            // next is validated.
            let (mut revocations, mut ops, mut others, mut content) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for b in pending {
                match Envelope::decode(b).map(|e| e.header.kind) {
                    Ok(trellis_proto::Kind::Revocation) => revocations.push(b),
                    Ok(trellis_proto::Kind::GroupOp) => ops.push(b),
                    Ok(k) if k.is_control() => others.push(b),
                    _ => content.push(b),
                }
            }
            for b in revocations {
                self.ingest_control_one(b, peer, &mut stored, &mut next);
            }
            let slices: Vec<&[u8]> = ops.iter().map(|b| b.as_slice()).collect();
            // A refusal there, whether found validating or storing, is sorted as a validation
            // refusal is (the storing ones, a replayed number or a local failure, are counted).
            for (b, r) in ops.into_iter().zip(self.ingest_ops(&slices, Origin::Sync(peer))) {
                match r {
                    Ok(super::ingest::Outcome::Stored | super::ingest::Outcome::StoredNoRelay) => stored += 1,
                    Ok(super::ingest::Outcome::Duplicate) => {}
                    Err(e) => self.sort_rejected(b, e, peer, &mut next),
                }
            }
            for b in others {
                self.ingest_control_one(b, peer, &mut stored, &mut next);
            }
            // Content items: validated on all cores, stored in one durable transaction.
            let slices: Vec<&[u8]> = content.iter().map(|b| b.as_slice()).collect();
            for (b, r) in content.iter().copied().zip(self.prepare_many(&slices, Origin::Sync(peer))) {
                match r {
                    Ok(p) => ready.push(p),
                    Err(e) => self.sort_rejected(b, e, peer, &mut next),
                }
            }
            // Content items go to the store in one durable transaction per batch.
            for r in self.commit(ready) {
                match r {
                    Ok(super::ingest::Outcome::Stored | super::ingest::Outcome::StoredNoRelay) => stored += 1,
                    Ok(super::ingest::Outcome::Duplicate) => {}
                    Err(e) => self.count_reject(e.reason(), None, Some(peer)),
                }
            }
            if next.is_empty() || next.len() == before {
                return (stored, next.len());
            }
            pending = next;
        }
    }
}

impl Engine {
    /// Exchange node bindings with a newly connected peer, so each side knows the other's org.
    pub async fn hello(self: &Arc<Self>, peer: PeerId) {
        let request = Request { binding: self.binding.clone(), body: RequestBody::Hello { name: self.my_name() } };
        if let Ok(Response::Hello { binding, name }) = self.node.request(peer, request).await
            && let Some(org) = verify_binding(&binding, peer, self.clock.now_ms())
        {
            self.peers.remember_name(org, &name);
            self.peers.bind(peer, org);
            self.remember_peer(peer).await;
        }
    }

    /// Connected peers that proved they run a node of `org`.
    pub fn peers_of(&self, org: &trellis_proto::OrgId) -> Vec<PeerId> {
        self.peers.peers_of(org)
    }
}

/// Check a node binding against the connection's peer id; returns the org it names.
pub fn verify_binding(
    binding: &trellis_proto::keys::SignedNodeBinding,
    peer: PeerId,
    now_ms: u64,
) -> Option<trellis_proto::OrgId> {
    let key = libp2p::identity::PublicKey::try_decode_protobuf(&binding.binding.transport_key).ok()?;
    if key.to_peer_id() != peer {
        return None;
    }
    binding.verify(&key.encode_protobuf(), now_ms).ok()?;
    Some(binding.binding.org)
}

fn add_targets(op: &trellis_proto::group::LogOp, org: &trellis_proto::OrgId) -> bool {
    matches!(&op.op.action, trellis_proto::group::OpAction::Add { member, .. } if member.bundle.org == *org)
}
