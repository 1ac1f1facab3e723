//! The engine: the node's application state and logic, between the local API and the Swarm
//! task. It owns the identity, the store and the groups; it validates and stores what arrives
//! ([`ingest`]), carries out what users ask ([`actions`]), and renders views ([`views`]).
//!
//! Locks: `groups` is a std `RwLock` held only for short, non-async sections (never across an
//! `.await`); store writes happen outside it.

pub mod actions;
pub mod formats;
pub mod ingest;
pub mod invite_links;
pub mod lifecycle;
pub mod membership;
pub mod posture;
pub mod reshare;
pub mod sbom;
pub mod sync;
pub mod trust;
pub mod views;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use libp2p::PeerId;
use tokio::sync::broadcast;
use trellis_proto::keys::SignedNodeBinding;
use trellis_proto::{GroupId, ItemId, OrgId};

use crate::api::types::Event;
use crate::groups::GroupRuntime;
use crate::home::Identity;
use crate::node::NodeHandle;
use crate::store::Store;

/// An error shown to the API caller: a message saying what is wrong and what to do, and whether
/// it was the caller's fault (4xx) or ours (5xx).
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<crate::store::StoreError> for ActionError {
    fn from(e: crate::store::StoreError) -> Self {
        ActionError::Internal(e.to_string())
    }
}

/// Shared engine state.
pub struct Engine {
    pub home: PathBuf,
    pub identity: RwLock<Identity>,
    pub binding: SignedNodeBinding,
    pub store: Store,
    pub groups: RwLock<HashMap<GroupId, GroupRuntime>>,
    pub node: NodeHandle,
    pub peer_id: PeerId,
    pub events: broadcast::Sender<Event>,
    /// Rejected items by reason since start.
    pub rejects: Mutex<BTreeMap<String, u64>>,
    /// Orgs behind peers, learned from verified node bindings.
    pub peer_orgs: Mutex<HashMap<PeerId, OrgId>>,
    /// Names of orgs, learned from contact cards.
    pub org_names: Mutex<HashMap<OrgId, String>>,
    /// Listen addresses peers told us (identify), to persist those of group members.
    pub peer_addrs: Mutex<HashMap<PeerId, Vec<libp2p::Multiaddr>>>,
    /// Catch-up sync state per (group, peer).
    pub sync_state: Mutex<HashMap<(GroupId, PeerId), crate::api::types::SyncInfo>>,
    /// Metric counters, shared with the metrics registry.
    pub metrics: crate::metrics::Metrics,
    /// Items of each publisher this node accepted from gossip and so relayed.
    pub relayed: Mutex<HashMap<OrgId, u64>>,
    /// Trust levels, statements, violations and quotas.
    pub trust: Mutex<trust::TrustState>,
    /// Orgs whose signing key was revoked, with the time from which their items are refused.
    pub revoked: Mutex<HashMap<OrgId, u64>>,
    /// Requests being answered per peer, and syncs started by unknown senders' items (§9).
    pub peer_limits: sync::PeerLimits,
    /// What a security.txt evidence fetch may reach and which CAs it trusts (from the config).
    pub evidence_policy: RwLock<crate::securitytxt::FetchPolicy>,
    /// Digests of the advisories this org published, per group (filled from the store the first
    /// time a group is published to), so publishing the same advisory again finds the stored item.
    pub published: Mutex<HashMap<GroupId, HashMap<[u8; 32], ItemId>>>,
    /// Held from the look-up in `published` until a new advisory is stored and remembered
    /// there, so two identical publishes at once make one item, not two.
    pub publishing_advisory: tokio::sync::Mutex<()>,
    /// Held while one of this org's items is numbered, built and stored, so its sequence
    /// numbers in a group have no gaps (see `publish_payload`).
    sequencer: std::sync::Mutex<()>,
    /// Per group, the revisions held of each first publication (PROTOCOL.md §4.9), filled from
    /// the store the first time a group is asked and kept up to date as revisions are stored.
    pub revision_index: Mutex<HashMap<GroupId, HashMap<ItemId, Vec<ItemId>>>>,
    /// The web console's sign-in state (login tokens, sessions), when it is served.
    pub console: crate::web::auth::ConsoleAuth,
    /// A weak reference to this engine, for background work started from `&self` methods.
    self_ref: std::sync::OnceLock<std::sync::Weak<Engine>>,
    /// Invite links: redemptions one at a time, join attempts per peer (§6.10).
    pub invite_links: invite_links::LinkState,
    /// Notified when a user asks the node to stop (`trellis down`, `POST /v1/shutdown`).
    pub stop: tokio::sync::Notify,
    /// Stored advisories waiting for their reactions (SBOM matches, watchers): `crate::reactions`.
    pub reactions: crate::reactions::Reactions,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("home", &self.home).field("peer_id", &self.peer_id).finish()
    }
}

impl Engine {
    /// Create the engine and load the groups from the store.
    pub fn new(
        home: PathBuf,
        identity: Identity,
        binding: SignedNodeBinding,
        store: Store,
        node: NodeHandle,
        peer_id: PeerId,
    ) -> anyhow::Result<Arc<Engine>> {
        let (events, _) = broadcast::channel(1024);
        let engine = Arc::new(Engine {
            home,
            identity: RwLock::new(identity),
            binding,
            store,
            groups: RwLock::new(HashMap::new()),
            node,
            peer_id,
            events,
            rejects: Mutex::new(BTreeMap::new()),
            peer_orgs: Mutex::new(HashMap::new()),
            org_names: Mutex::new(HashMap::new()),
            revoked: Mutex::new(HashMap::new()),
            trust: Mutex::new(trust::TrustState::default()),
            relayed: Mutex::new(HashMap::new()),
            metrics: Default::default(),
            peer_addrs: Mutex::new(HashMap::new()),
            sync_state: Mutex::new(HashMap::new()),
            peer_limits: Default::default(),
            evidence_policy: RwLock::new(Default::default()),
            published: Mutex::new(HashMap::new()),
            publishing_advisory: tokio::sync::Mutex::new(()),
            sequencer: std::sync::Mutex::new(()),
            revision_index: Mutex::new(HashMap::new()),
            console: Default::default(),
            self_ref: std::sync::OnceLock::new(),
            invite_links: Default::default(),
            stop: tokio::sync::Notify::new(),
            reactions: Default::default(),
        });
        let _ = engine.self_ref.set(Arc::downgrade(&engine));
        engine.load_groups()?;
        engine.load_trust()?;
        Ok(engine)
    }

    /// This engine as an `Arc`, for background work started from `&self` methods.
    pub fn self_arc(&self) -> Option<Arc<Engine>> {
        self.self_ref.get().and_then(|w| w.upgrade())
    }

    /// This org's id.
    pub fn me(&self) -> OrgId {
        self.identity.read().map(|i| i.keys.org_id()).unwrap_or(OrgId([0; 32]))
    }

    /// Rebuild every group's log from the ops in the store. A group that cannot be loaded (a
    /// damaged record, a log beyond the hard bound) is left out with an error in the log, and
    /// the node runs with the others: one bad group never stops a node from starting.
    fn load_groups(&self) -> anyhow::Result<()> {
        let records = self.store.groups()?;
        let ident = self.identity.read().map_err(|_| anyhow::anyhow!("identity lock poisoned"))?;
        let mut groups = self.groups.write().map_err(|_| anyhow::anyhow!("groups lock poisoned"))?;
        for (id, rec) in records {
            match self.load_group(&id, &rec, &ident.keys) {
                Ok(rt) => {
                    groups.insert(id, rt);
                }
                Err(e) => tracing::error!(
                    group = %id.short(),
                    name = %rec.genesis.genesis.name,
                    error = %e,
                    "this group could not be loaded and is left out until the problem is fixed; the node runs without it"
                ),
            }
        }
        Ok(())
    }

    fn load_group(
        &self,
        id: &GroupId,
        rec: &crate::store::GroupRecord,
        keys: &trellis_proto::OrgKeys,
    ) -> anyhow::Result<GroupRuntime> {
        let mut rt = GroupRuntime::from_record(rec, keys)?;
        let mut ops = Vec::new();
        for item_id in self.store.group_item_ids(id, trellis_proto::Kind::GroupOp)? {
            if let Some(item) = self.store.get_item(&item_id)?
                && let Some(op) = ingest::log_op_of(&item.bytes)
            {
                ops.push(op);
            }
        }
        rt.load_ops(ops, keys)?;
        for item_id in self.store.group_item_ids(id, trellis_proto::Kind::EpochKey)? {
            if let Some(item) = self.store.get_item(&item_id)?
                && let Some(k) = ingest::epoch_key_of(&item.bytes)
            {
                rt.absorb_shares(&k.0, &k.1, keys);
            }
        }
        for item_id in self.store.group_item_ids(id, trellis_proto::Kind::Revocation)? {
            if let Some(item) = self.store.get_item(&item_id)?
                && let Some((org, from)) = ingest::signing_revocation_of(&item.bytes)
            {
                self.record_revocation(org, from);
            }
        }
        Ok(rt)
    }

    /// Record that `org`'s signing key is revoked from `from_ms` on. The earliest time wins: a
    /// holder of a stolen key cannot move a revocation into the future with a later one (§2.6).
    pub fn record_revocation(&self, org: OrgId, from_ms: u64) {
        if let Ok(mut m) = self.revoked.lock() {
            let t = m.entry(org).or_insert(from_ms);
            *t = (*t).min(from_ms);
        }
    }

    /// Persist the listen addresses of `peer` once it is known to run a node of a member of one
    /// of our groups, and keep reconnecting to it: after a restart the node redials the group
    /// peers it knew, even if its own port changed.
    pub async fn remember_peer(&self, peer: PeerId) {
        let Some(org) = self.peer_orgs.lock().ok().and_then(|m| m.get(&peer).copied()) else { return };
        let is_member = self.groups.read().is_ok_and(|g| g.values().any(|g| g.state.members.contains_key(&org)));
        let addrs = self.peer_addrs.lock().ok().and_then(|m| m.get(&peer).cloned()).unwrap_or_default();
        if !is_member || addrs.is_empty() {
            return;
        }
        let with_id: Vec<libp2p::Multiaddr> =
            addrs.iter().map(|a| a.clone().with(libp2p::multiaddr::Protocol::P2p(peer))).collect();
        let text: Vec<String> = with_id.iter().map(|a| a.to_string()).collect();
        if let Err(e) = self.store.put_peer(&peer.to_string(), &text) {
            tracing::warn!(error = %e, "saving peer addresses failed");
        }
        self.node.keep_connected(peer, with_id).await;
    }

    /// This org's name.
    pub fn my_name(&self) -> String {
        self.identity.read().map(|i| i.name.clone()).unwrap_or_default()
    }

    /// Record the self-declared name of an org (bounded, printable).
    pub fn remember_name(&self, org: OrgId, name: &str) {
        let name: String = name.chars().filter(|c| !c.is_control()).take(128).collect();
        if !name.trim().is_empty()
            && let Ok(mut names) = self.org_names.lock()
        {
            names.insert(org, name.trim().to_string());
        }
    }

    /// The known name of an org (its own name for this org).
    pub fn name_of(&self, org: &OrgId) -> Option<String> {
        if *org == self.me() {
            return Some(self.my_name());
        }
        self.org_names.lock().ok()?.get(org).cloned()
    }

    /// Groups this node is in.
    pub fn group_ids(&self) -> Vec<GroupId> {
        self.groups.read().map(|g| g.keys().copied().collect()).unwrap_or_default()
    }

    /// Count a rejected item and tell watchers.
    pub fn count_reject(&self, reason: &str, group: Option<GroupId>, peer: Option<PeerId>) {
        if let Ok(mut r) = self.rejects.lock() {
            *r.entry(reason.to_string()).or_default() += 1;
        }
        self.metrics.reject(reason);
        let _ = self.events.send(Event::Rejected {
            group: group.map(|g| g.to_text()),
            reason: reason.to_string(),
            peer: peer.map(|p| p.to_string()),
        });
    }

    /// Resolve a group by exact name, full id, or id prefix (8+ characters). A name and an id
    /// prefix are looked up together: text that designates more than one group (a group named
    /// like another group's id, say) is refused with the candidates and their founders, never
    /// resolved by precedence.
    pub fn resolve_group(&self, text: &str) -> Result<GroupId, ActionError> {
        let groups = self.groups.read().map_err(|_| ActionError::Internal("lock".into()))?;
        let t = text.trim();
        let lower = t.to_ascii_lowercase();
        let mut found: Vec<GroupId> = groups.values().filter(|g| g.name() == t).map(|g| g.id()).collect();
        if lower.len() >= 8 {
            for id in groups.keys() {
                if id.to_text().starts_with(&lower) && !found.contains(id) {
                    found.push(*id);
                }
            }
        }
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(ActionError::NotFound(format!(
                "no group named or with id {t:?} on this node; see `trellis group list`"
            ))),
            many => {
                let candidates: Vec<String> =
                    many.iter().filter_map(|id| groups.get(id)).map(|g| self.describe_group(g)).collect();
                Err(ActionError::BadRequest(format!(
                    "{t:?} designates {} groups: {}; give the full id of the one you mean",
                    many.len(),
                    candidates.join("; ")
                )))
            }
        }
    }

    /// A group as people tell it apart: name, founder and full id.
    pub fn describe_group(&self, g: &crate::groups::GroupRuntime) -> String {
        let founder = g.log.genesis.founder();
        let who = match self.name_of(&founder) {
            Some(n) => format!("{n} ({})", founder.fingerprint()),
            None => founder.fingerprint(),
        };
        format!("{:?} founded by {who}, id {}", g.name(), g.id().to_text())
    }

    /// Resolve an org (fingerprint or full id) among the members of `group`.
    pub fn resolve_member(&self, group: &GroupId, text: &str) -> Result<OrgId, ActionError> {
        if let Ok(id) = OrgId::parse(text) {
            return Ok(id);
        }
        let groups = self.groups.read().map_err(|_| ActionError::Internal("lock".into()))?;
        let g = groups.get(group).ok_or_else(|| ActionError::NotFound("unknown group".into()))?;
        let found: Vec<OrgId> = g.state.members.keys().filter(|o| o.matches(text)).copied().collect();
        match found.len() {
            1 => Ok(found[0]),
            0 => Err(ActionError::NotFound(format!(
                "no member of {} matches {text:?}; see `trellis group members {}`",
                g.name(),
                g.name()
            ))),
            _ => Err(ActionError::BadRequest(format!("{text:?} matches several members; give the full id"))),
        }
    }
}
