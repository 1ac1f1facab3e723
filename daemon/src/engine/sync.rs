//! Catch-up sync (PROTOCOL.md §9): two members of a group exchange what each lacks over the
//! direct request-response protocol, using per-sender sequence range vectors. The request
//! carries, per sender, the ranges of sequence numbers the requester holds; the responder sends
//! the envelopes outside those ranges, in bounded batches. The request's size grows with the
//! number of senders and gaps, not with the history; the response with the difference.
//!
//! Everything received goes through [`Engine::ingest`], exactly like gossip.

use std::sync::Arc;

use libp2p::PeerId;
use libp2p::request_response::ResponseChannel;
use trellis_proto::GroupId;
use trellis_proto::envelope::Envelope;

use super::Engine;
use super::ingest::Origin;
use crate::home::now_ms;
use crate::wire::{Request, RequestBody, Response, SYNC_BATCH_BYTES, SYNC_BATCH_ITEMS};

/// Most request rounds one sync runs before yielding (each round is one bounded batch).
const MAX_ROUNDS: usize = 1000;

impl Engine {
    /// Answer a peer's request.
    pub async fn handle_request(self: &Arc<Self>, peer: PeerId, request: Request, channel: ResponseChannel<Response>) {
        let this = Arc::clone(self);
        let response = tokio::task::spawn_blocking(move || this.answer(peer, request))
            .await
            .unwrap_or_else(|e| Response::Refused(format!("internal error: {e}")));
        self.node.respond(channel, response).await;
    }

    fn answer(&self, peer: PeerId, request: Request) -> Response {
        // The binding must be signed by the org and name this connection's transport key.
        let key = match libp2p::identity::PublicKey::try_decode_protobuf(&request.binding.binding.transport_key) {
            Ok(k) if k.to_peer_id() == peer => k,
            _ => return Response::Refused("node binding does not match this connection".into()),
        };
        if let Err(e) = request.binding.verify(&key.encode_protobuf(), now_ms()) {
            return Response::Refused(format!("node binding invalid: {e}"));
        }
        let org = request.binding.binding.org;
        if let Ok(mut m) = self.peer_orgs.lock() {
            m.insert(peer, org);
        }
        match request.body {
            RequestBody::Hello { name } => {
                self.remember_name(org, &name);
                Response::Hello { binding: self.binding.clone(), name: self.my_name() }
            }
            RequestBody::Deliver { envelope } => match self.ingest(&envelope, Origin::Direct(peer)) {
                Ok(_) => Response::Delivered,
                Err(e) => {
                    self.count_reject(e.reason(), None, Some(peer));
                    Response::Refused(e.to_string())
                }
            },
            RequestBody::Sync { group, have } => {
                let control_only = {
                    let Ok(groups) = self.groups.read() else {
                        return Response::Refused("busy".into());
                    };
                    let Some(g) = groups.get(&group) else {
                        return Response::Refused("unknown group".into());
                    };
                    if g.state.members.contains_key(&org) {
                        false
                    } else if g.state.departed.contains_key(&org) || g.log.ops().any(|o| add_targets(o, &org)) {
                        // A departed member learns it was removed; an invitee whose Add we
                        // hold gets the log it needs to see itself admitted.
                        true
                    } else {
                        return Response::Refused("not a member of this group".into());
                    }
                };
                match self.store.items_missing_from(&group, &have, SYNC_BATCH_BYTES, SYNC_BATCH_ITEMS) {
                    Ok((items, more)) => {
                        // RED is never relayed (§5.2); departed members get only control items.
                        let items = items
                            .into_iter()
                            .filter(|b| {
                                Envelope::decode(b).is_ok_and(|e| {
                                    e.header.tlp != trellis_proto::Tlp::Red
                                        && (!control_only || e.header.kind.is_control())
                                })
                            })
                            .collect();
                        Response::Items { items, more }
                    }
                    Err(e) => Response::Refused(format!("store error: {e}")),
                }
            }
        }
    }

    /// Fetch from `peer` everything of `group` we lack, and record the outcome for `status`.
    pub async fn sync_with(self: &Arc<Self>, peer: PeerId, group: GroupId) -> Result<usize, String> {
        let result = self.sync_rounds(peer, group).await;
        let org = self.peer_orgs.lock().ok().and_then(|m| m.get(&peer).map(|o| o.to_text()));
        if let Ok(mut st) = self.sync_state.lock() {
            let e = st.entry((group, peer)).or_insert_with(|| crate::api::types::SyncInfo {
                peer_id: peer.to_string(),
                org: None,
                last_ok_ms: None,
                items_fetched: 0,
                last_error: None,
            });
            e.org = org;
            match &result {
                Ok(n) => {
                    e.last_ok_ms = Some(now_ms());
                    e.items_fetched += *n as u64;
                    e.last_error = None;
                }
                Err(err) => e.last_error = Some(err.clone()),
            }
        }
        result
    }

    async fn sync_rounds(self: &Arc<Self>, peer: PeerId, group: GroupId) -> Result<usize, String> {
        let mut stored = 0;
        for _ in 0..MAX_ROUNDS {
            let have = self.store.seq_ranges(&group).map_err(|e| e.to_string())?;
            let request = Request { binding: self.binding.clone(), body: RequestBody::Sync { group, have } };
            let (items, more) = match self.node.request(peer, request).await? {
                Response::Items { items, more } => (items, more),
                Response::Refused(why) => return Err(format!("peer refused: {why}")),
                other => return Err(format!("unexpected answer to sync: {other:?}")),
            };
            let this = Arc::clone(self);
            let (n, progressed) = tokio::task::spawn_blocking(move || this.ingest_batch(&items, peer))
                .await
                .map_err(|e| e.to_string())?;
            stored += n;
            if !more || !progressed {
                break;
            }
        }
        Ok(stored)
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
    /// repeat while progress is made, so order within a batch does not matter.
    fn ingest_batch(&self, items: &[Vec<u8>], peer: PeerId) -> (usize, bool) {
        let mut pending: Vec<&Vec<u8>> = items.iter().collect();
        let is_control = |b: &Vec<u8>| Envelope::decode(b).is_ok_and(|e| e.header.kind.is_control());
        let mut stored = 0;
        loop {
            let before = pending.len();
            let mut next = Vec::new();
            let mut ready = Vec::new();
            let (control, content): (Vec<&Vec<u8>>, Vec<&Vec<u8>>) = pending.into_iter().partition(|b| is_control(b));
            // Control items change who may publish: apply each before validating the next.
            for b in control {
                match self.prepare(b, Origin::Sync(peer)) {
                    Ok(p) => match self.commit(vec![p]).pop() {
                        Some(Ok(super::ingest::Outcome::Stored | super::ingest::Outcome::StoredNoRelay)) => stored += 1,
                        Some(Err(e)) => self.count_reject(e.reason(), None, Some(peer)),
                        _ => {}
                    },
                    Err(e) => self.sort_rejected(b, e, peer, &mut next),
                }
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
                return (stored, stored > 0 || items.is_empty());
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
            && let Some(org) = verify_binding(&binding, peer)
        {
            self.remember_name(org, &name);
            if let Ok(mut m) = self.peer_orgs.lock() {
                m.insert(peer, org);
            }
            self.remember_peer(peer).await;
        }
    }

    /// Connected peers that proved they run a node of `org`.
    pub fn peers_of(&self, org: &trellis_proto::OrgId) -> Vec<PeerId> {
        self.peer_orgs
            .lock()
            .map(|m| m.iter().filter(|(_, o)| *o == org).map(|(p, _)| *p).collect())
            .unwrap_or_default()
    }
}

/// Check a node binding against the connection's peer id; returns the org it names.
pub fn verify_binding(binding: &trellis_proto::keys::SignedNodeBinding, peer: PeerId) -> Option<trellis_proto::OrgId> {
    let key = libp2p::identity::PublicKey::try_decode_protobuf(&binding.binding.transport_key).ok()?;
    if key.to_peer_id() != peer {
        return None;
    }
    binding.verify(&key.encode_protobuf(), now_ms()).ok()?;
    Some(binding.binding.org)
}

fn add_targets(op: &trellis_proto::group::LogOp, org: &trellis_proto::OrgId) -> bool {
    matches!(&op.op.action, trellis_proto::group::OpAction::Add { member, .. } if member.bundle.org == *org)
}
