//! The engine: the node's application state and logic, between the local API and the Swarm
//! task. It owns the identity, the store and the groups; it validates and stores what arrives
//! ([`ingest`]), carries out what users ask ([`actions`]), and renders views ([`views`]).
//!
//! The state is held by owners, each in its own module with private locks and a narrow API
//! (docs/ARCHITECTURE.md, "Owners"): the group book ([`group_book`]), the identity keeper
//! ([`identity`]), the peer book ([`peers`]), the trust keeper ([`trust`]), the peer limits and
//! sync outcomes ([`sync`]), the store ([`crate::store`]), the endorsement index
//! ([`endorsements`]), the SBOM cache ([`sbom`]), the feeds' state (`crate::feeds::state`) and
//! the reactions queue (`crate::reactions`).

pub mod actions;
pub mod endorsements;
pub mod formats;
pub mod group_book;
pub mod identity;
pub mod ingest;
pub mod invite_links;
pub mod lifecycle;
pub mod membership;
pub mod op_batch;
pub mod peers;
pub mod posture;
pub mod reshare;
pub mod sbom;
pub mod sync;
pub mod trust;
pub mod views;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use libp2p::PeerId;
use tokio::sync::broadcast;
use trellis_proto::keys::SignedNodeBinding;
use trellis_proto::{GroupId, OrgId};

use crate::api::types::Event;
use crate::clock::{Clock, Rng};
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

/// How the engine is set up beyond its identity and store: where time and randomness come
/// from, and what a security.txt evidence fetch may reach.
#[derive(Clone, Debug)]
pub struct Setup {
    pub clock: Clock,
    pub rng: Rng,
    pub evidence_policy: crate::securitytxt::FetchPolicy,
}

impl Default for Setup {
    /// The system clock, the operating system's RNG, the default fetch policy.
    fn default() -> Self {
        Setup { clock: Clock::system(), rng: Rng::os(), evidence_policy: Default::default() }
    }
}

/// The engine: handles to the owners of the node's state (docs/ARCHITECTURE.md, "Owners"),
/// reached by other modules through the accessor methods below. Shared behind an `Arc`; work it
/// spawns is given that `Arc` by the caller (methods taking `self: &Arc<Self>`).
pub struct Engine {
    home: PathBuf,
    identity: identity::IdentityKeeper,
    binding: SignedNodeBinding,
    store: Store,
    groups: group_book::GroupBook,
    node: NodeHandle,
    peer_id: PeerId,
    events: broadcast::Sender<Event>,
    /// Rejected items by reason since start.
    rejects: crate::metrics::RejectCounts,
    peers: peers::PeerBook,
    /// Catch-up sync outcomes per (group, peer).
    sync_state: sync::SyncBook,
    /// Metric counters, shared with the metrics registry.
    metrics: crate::metrics::Metrics,
    trust: trust::TrustKeeper,
    /// Requests being answered per peer, and syncs started by unknown senders' items (§9).
    peer_limits: sync::PeerLimits,
    /// What a security.txt evidence fetch may reach and which CAs it trusts (from the config).
    evidence_policy: crate::securitytxt::FetchPolicy,
    /// This org's published advisories and the turns of publishing (see `publish_payload`).
    publications: actions::Publications,
    /// Per group, the revisions held of each first publication (PROTOCOL.md §4.9).
    revision_index: lifecycle::RevisionIndex,
    /// The web console's sign-in state (login tokens, sessions), when it is served.
    console: crate::web::auth::ConsoleAuth,
    /// Invite links: redemptions one at a time, join attempts per peer (§6.10).
    invite_links: invite_links::LinkState,
    /// Notified when a user asks the node to stop (`trellis down`, `POST /v1/shutdown`).
    stop: tokio::sync::Notify,
    /// Files of resources being fetched.
    fetching: Arc<crate::resources::Fetching>,
    /// Where the TAXII server listens, while it does.
    taxii_addr: crate::taxii::ListenAddr,
    clock: Clock,
    rng: Rng,
    /// Stored advisories waiting for their reactions (SBOM matches, watchers): `crate::reactions`.
    reactions: crate::reactions::Reactions,
    /// The feeds' file turn, running set and progress (`crate::feeds::state`).
    feeds: crate::feeds::Feeds,
    /// The parsed SBOMs of this home (`sbom::SbomCache`).
    sbom_cache: sbom::SbomCache,
    /// Per group, the endorsements of each item (`endorsements::EndorsementIndex`).
    endorsement_index: endorsements::EndorsementIndex,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("home", &self.home).field("peer_id", &self.peer_id).finish()
    }
}

impl Engine {
    /// Create the engine with the system clock and the operating system's RNG, and load the
    /// groups from the store.
    pub fn new(
        home: PathBuf,
        identity: Identity,
        binding: SignedNodeBinding,
        store: Store,
        node: NodeHandle,
        peer_id: PeerId,
    ) -> anyhow::Result<Arc<Engine>> {
        Engine::with_setup(home, identity, binding, store, node, peer_id, Setup::default())
    }

    /// Create the engine with the given clock, RNG and fetch policy, and load the groups from
    /// the store.
    pub fn with_setup(
        home: PathBuf,
        identity: Identity,
        binding: SignedNodeBinding,
        store: Store,
        node: NodeHandle,
        peer_id: PeerId,
        setup: Setup,
    ) -> anyhow::Result<Arc<Engine>> {
        let (events, _) = broadcast::channel(1024);
        let Setup { clock, rng, evidence_policy } = setup;
        let engine = Engine {
            home,
            identity: identity::IdentityKeeper::new(identity),
            binding,
            store,
            groups: Default::default(),
            node,
            peer_id,
            events,
            rejects: Default::default(),
            peers: Default::default(),
            sync_state: Default::default(),
            metrics: Default::default(),
            trust: Default::default(),
            peer_limits: sync::PeerLimits::new(clock.clone()),
            evidence_policy,
            publications: Default::default(),
            revision_index: Default::default(),
            console: crate::web::auth::ConsoleAuth::new(clock.clone(), rng.clone()),
            invite_links: invite_links::LinkState::new(clock.clone()),
            stop: tokio::sync::Notify::new(),
            reactions: Default::default(),
            feeds: Default::default(),
            sbom_cache: Default::default(),
            endorsement_index: Default::default(),
            fetching: Default::default(),
            taxii_addr: Default::default(),
            clock,
            rng,
        };
        engine.load_groups()?;
        engine.load_trust()?;
        Ok(Arc::new(engine))
    }

    /// The node's home directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The group book (questions about groups; changes come from inside the engine).
    pub fn groups(&self) -> &group_book::GroupBook {
        &self.groups
    }

    /// The peer book.
    pub fn peer_book(&self) -> &peers::PeerBook {
        &self.peers
    }

    /// This org's identity.
    pub fn identity(&self) -> &identity::IdentityKeeper {
        &self.identity
    }

    /// This node's binding to its org.
    pub fn binding(&self) -> &SignedNodeBinding {
        &self.binding
    }

    /// The handle of the Swarm task.
    pub fn node(&self) -> &NodeHandle {
        &self.node
    }

    /// This node's libp2p peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The event stream watchers subscribe to.
    pub fn events(&self) -> &broadcast::Sender<Event> {
        &self.events
    }

    /// The node's metric counters.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// Catch-up sync outcomes.
    pub fn syncs(&self) -> &sync::SyncBook {
        &self.sync_state
    }

    /// The bounds on work peers ask of this node.
    pub fn peer_limits(&self) -> &sync::PeerLimits {
        &self.peer_limits
    }

    /// What a security.txt evidence fetch may reach.
    pub fn evidence_policy(&self) -> &crate::securitytxt::FetchPolicy {
        &self.evidence_policy
    }

    /// The web console's sign-in state.
    pub fn console(&self) -> &crate::web::auth::ConsoleAuth {
        &self.console
    }

    /// Notified when a user asks the node to stop.
    pub fn stop(&self) -> &tokio::sync::Notify {
        &self.stop
    }

    /// Files of resources being fetched.
    pub fn fetching_files(&self) -> &Arc<crate::resources::Fetching> {
        &self.fetching
    }

    /// Where the TAXII server listens.
    pub fn taxii_addr(&self) -> &crate::taxii::ListenAddr {
        &self.taxii_addr
    }

    /// The queue of stored advisories waiting for their reactions (`crate::reactions`).
    pub fn reactions(&self) -> &crate::reactions::Reactions {
        &self.reactions
    }

    /// The feeds' in-memory state: file turn, running feeds, progress (`crate::feeds::state`).
    pub fn feeds(&self) -> &crate::feeds::Feeds {
        &self.feeds
    }

    /// The parsed SBOMs of this home, parsed again only when their directory changes.
    pub(crate) fn sbom_cache(&self) -> &sbom::SbomCache {
        &self.sbom_cache
    }

    /// The clock the engine reads.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The RNG the engine draws from.
    pub fn rng(&self) -> &Rng {
        &self.rng
    }

    /// Rejected items by reason since start.
    pub fn reject_counts(&self) -> std::collections::BTreeMap<String, u64> {
        self.rejects.snapshot()
    }

    /// From when `org`'s signing key is revoked, if it is (§2.6).
    pub fn revoked_from(&self, org: &OrgId) -> Option<u64> {
        self.trust.revoked_from(org)
    }

    /// This org's id.
    pub fn me(&self) -> OrgId {
        self.identity.me()
    }

    /// Rebuild every group's log from the ops in the store. A group that cannot be loaded (a
    /// damaged record, a log beyond the hard bound) is left out with an error in the log, and
    /// the node runs with the others: one bad group never stops a node from starting.
    fn load_groups(&self) -> anyhow::Result<()> {
        let records = self.store.groups()?;
        let mut loaded = Vec::new();
        for (id, rec) in records {
            match self.identity.with_keys(|keys| self.load_group(&id, &rec, keys)) {
                Ok(rt) => loaded.push(rt),
                Err(e) => tracing::error!(
                    group = %id.short(),
                    name = %rec.genesis.genesis.name,
                    error = %e,
                    "this group could not be loaded and is left out until the problem is fixed; the node runs without it"
                ),
            }
        }
        self.groups.insert_all(loaded);
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
                self.trust.record_revocation(org, from);
            }
        }
        Ok(rt)
    }

    /// Persist the listen addresses of `peer` once it is known to run a node of a member of one
    /// of our groups, and keep reconnecting to it: after a restart the node redials the group
    /// peers it knew, even if its own port changed.
    pub async fn remember_peer(&self, peer: PeerId) {
        let Some(org) = self.peers.org_of(&peer) else { return };
        let addrs = self.peers.addrs_of(&peer);
        if !self.groups.is_member_anywhere(&org) || addrs.is_empty() {
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
        self.identity.name()
    }

    /// Record the self-declared name of an org (bounded, printable).
    pub fn remember_name(&self, org: OrgId, name: &str) {
        self.peers.remember_name(org, name);
    }

    /// The known name of an org (its own name for this org).
    pub fn name_of(&self, org: &OrgId) -> Option<String> {
        if *org == self.me() {
            return Some(self.my_name());
        }
        self.peers.name(org)
    }

    /// Run `ask` on group `gid`; [`ActionError::NotFound`] when this node is not in it.
    pub fn with_group<R>(
        &self,
        gid: &GroupId,
        ask: impl FnOnce(&GroupRuntime) -> Result<R, ActionError>,
    ) -> Result<R, ActionError> {
        self.groups.with(gid, ask).unwrap_or_else(|| Err(ActionError::NotFound("unknown group".into())))
    }

    /// Groups this node is in.
    pub fn group_ids(&self) -> Vec<GroupId> {
        self.groups.ids()
    }

    /// Count a rejected item and tell watchers.
    pub fn count_reject(&self, reason: &str, group: Option<GroupId>, peer: Option<PeerId>) {
        self.rejects.count(reason);
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
        self.groups.read(|groups| self.resolve_in(groups, text))
    }

    fn resolve_in(&self, groups: &HashMap<GroupId, GroupRuntime>, text: &str) -> Result<GroupId, ActionError> {
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
        self.with_group(group, |g| {
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
        })
    }
}
