//! The one task that owns the libp2p `Swarm` (no `Arc<Mutex<Swarm>>`: see docs/ARCHITECTURE.md). Other parts
//! hold a [`NodeHandle`] and send [`Command`]s on a bounded channel, each with a oneshot for the
//! reply; what the network delivers goes out as [`NetEvent`]s to the engine.
//!
//! The loop is one `select!` with, in priority order: shutdown, commands (so validation verdicts
//! and publishes are never starved by inbound traffic), swarm events, then the maintenance tick
//! (redial with backoff, provider lookups for our groups). It runs on its own thread
//! ([`Node::spawn`]); gossip it receives goes straight into the validation queue
//! ([`GossipIntake`]).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageId, TopicHash};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent, behaviour::toggle::Toggle};
use libp2p::{Multiaddr, PeerId, Swarm, identify, kad, mdns, noise, ping, tcp, yamux};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};
use trellis_proto::GroupId;
use trellis_proto::limits::MAX_ENVELOPE_BYTES;

use crate::validation::{Job, ValidationQueue};
use crate::wire::{self, Request, Response};

/// The combined behaviour.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    pub gossipsub: gossipsub::Behaviour,
    pub identify: identify::Behaviour,
    /// The DHT for finding group peers; absent when discovery is off (then no DHT traffic at
    /// all, not even the automatic bootstrap walk, which would dial strangers).
    pub kad: Toggle<kad::Behaviour<kad::store::MemoryStore>>,
    pub rr: request_response::Behaviour<wire::Codec>,
    /// Detects dead connections (a partition leaves TCP silent, not closed): a connection whose
    /// pings fail is closed, so the peer is redialled and re-synced when the path heals.
    pub ping: ping::Behaviour,
    pub mdns: Toggle<mdns::tokio::Behaviour>,
}

/// Where the Swarm task hands the gossip it receives: the receive pipeline's intake
/// (`pipeline::Intake`). The Swarm task queues each message itself, by the trust of the peer that
/// forwarded it (from the engine's last [`Command::SetAppScores`]), in the bounded validation
/// queue the judge thread takes batches from (no other task or channel in between, and no engine
/// lock taken per message); a message left out of a full queue is ignored at once.
pub trait GossipIntake: Send + std::fmt::Debug {
    /// A message left out because the queue was full (its verdict is `Ignore`).
    fn shed(&self, job: &Job);
}

/// Commands to the Swarm task.
#[derive(Debug)]
pub enum Command {
    /// Queue gossip in `queue` from now on (see [`GossipIntake`]).
    SetIntake {
        queue: std::sync::Arc<ValidationQueue>,
        intake: Box<dyn GossipIntake>,
    },
    /// Set the application-specific gossipsub score of peers (from their org's trust).
    /// Set the application-specific gossipsub score of peers (from their org's trust), and the
    /// trust itself, which orders their gossip in the validation queue.
    SetAppScores {
        scores: Vec<(PeerId, f64, f64)>,
    },
    Publish {
        group: GroupId,
        data: Vec<u8>,
        reply: oneshot::Sender<usize>,
    },
    Subscribe {
        group: GroupId,
    },
    Dial {
        addr: Multiaddr,
    },
    /// Keep reconnecting to `peer` at `addrs` (with backoff) whenever the connection drops.
    KeepConnected {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    },
    Validated {
        msg_id: MessageId,
        source: PeerId,
        acceptance: MessageAcceptance,
    },
    Request {
        peer: PeerId,
        request: Box<Request>,
        reply: oneshot::Sender<Result<Response, String>>,
    },
    Respond {
        channel: ResponseChannel<Response>,
        response: Response,
    },
    Info {
        reply: oneshot::Sender<NetInfo>,
    },
    Listen {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), String>>,
    },
}

/// What the network tells the engine.
#[derive(Debug)]
pub enum NetEvent {
    Gossip {
        source: PeerId,
        msg_id: MessageId,
        topic: TopicHash,
        data: Vec<u8>,
    },
    InboundRequest {
        peer: PeerId,
        request: Box<Request>,
        channel: ResponseChannel<Response>,
    },
    /// A peer subscribed to a topic (a group) we are in: time to sync with it.
    PeerSubscribed {
        peer: PeerId,
        topic: TopicHash,
    },
    Connected {
        peer: PeerId,
        addr: Multiaddr,
    },
    /// A peer told us where it listens (identify).
    Identified {
        peer: PeerId,
        listen_addrs: Vec<Multiaddr>,
    },
}

/// A snapshot of the network state.
#[derive(Clone, Debug, Default)]
pub struct NetInfo {
    pub peer_id: String,
    pub listen_addrs: Vec<Multiaddr>,
    pub peers: Vec<(PeerId, Vec<Multiaddr>)>,
    /// Connected peers per subscribed topic.
    pub topic_peers: HashMap<TopicHash, Vec<PeerId>>,
    /// Connections opened (either way) since the node started: churn shows here.
    pub connections_opened: u64,
}

/// A cloneable handle to the Swarm task.
#[derive(Clone, Debug)]
pub struct NodeHandle {
    tx: mpsc::Sender<Command>,
}

impl NodeHandle {
    async fn send(&self, c: Command) {
        // The Swarm task outlives every handle user except at shutdown, where losing a command
        // is harmless.
        let _ = self.tx.send(c).await;
    }

    /// Publish on a group's topic; returns how many peers it was sent to (0 if none yet).
    pub async fn publish(&self, group: GroupId, data: Vec<u8>) -> usize {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Publish { group, data, reply }).await;
        rx.await.unwrap_or(0)
    }

    /// Queue gossip in `queue` through `intake` from now on (see [`GossipIntake`]).
    pub async fn set_intake(&self, queue: std::sync::Arc<ValidationQueue>, intake: Box<dyn GossipIntake>) {
        self.send(Command::SetIntake { queue, intake }).await;
    }

    pub async fn subscribe(&self, group: GroupId) {
        self.send(Command::Subscribe { group }).await;
    }

    pub async fn dial(&self, addr: Multiaddr) {
        self.send(Command::Dial { addr }).await;
    }

    /// `(peer, gossipsub application score, trust of its org)` for every bound peer.
    pub async fn set_app_scores(&self, scores: Vec<(PeerId, f64, f64)>) {
        self.send(Command::SetAppScores { scores }).await;
    }

    pub async fn keep_connected(&self, peer: PeerId, addrs: Vec<Multiaddr>) {
        self.send(Command::KeepConnected { peer, addrs }).await;
    }

    pub async fn listen(&self, addr: Multiaddr) -> Result<(), String> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Listen { addr, reply }).await;
        rx.await.unwrap_or_else(|_| Err("node stopped".into()))
    }

    /// Tell gossipsub the verdict on a message. Never blocks the caller for long: the channel
    /// is sized for the validation pool.
    pub async fn validated(&self, msg_id: MessageId, source: PeerId, acceptance: MessageAcceptance) {
        self.send(Command::Validated { msg_id, source, acceptance }).await;
    }

    /// [`Self::validated`] from a thread outside the async runtime (the judge or control thread): waits
    /// for room on the command channel by blocking the calling thread.
    pub fn validated_blocking(&self, msg_id: MessageId, source: PeerId, acceptance: MessageAcceptance) {
        let _ = self.tx.blocking_send(Command::Validated { msg_id, source, acceptance });
    }

    pub async fn request(&self, peer: PeerId, request: Request) -> Result<Response, String> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Request { peer, request: Box::new(request), reply }).await;
        rx.await.unwrap_or_else(|_| Err("node stopped".into()))
    }

    pub async fn respond(&self, channel: ResponseChannel<Response>, response: Response) {
        self.send(Command::Respond { channel, response }).await;
    }

    pub async fn info(&self) -> NetInfo {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Info { reply }).await;
        rx.await.unwrap_or_default()
    }
}

/// Node settings.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub bootstrap: Vec<Multiaddr>,
    pub mdns: bool,
    /// Find and dial other nodes of our groups through the DHT. Off, the node talks only to
    /// peers it was given (bootstrap, invite addresses) and to those that dial it.
    pub discovery: bool,
}

/// Gossip message ids are the SHA-256 of the data (content addressing): the same envelope
/// relayed by two peers is one message.
fn message_id(m: &gossipsub::Message) -> MessageId {
    MessageId::from(trellis_proto::ids::tagged_hash("trellis/gossip-id/v1", &[&m.data]).to_vec())
}

/// Peer scoring (PROTOCOL.md §7.2). The application-specific score carries the trust of the
/// peer's org (set by the engine); invalid messages weigh heavily; the IP colocation factor is
/// off because several organizations' nodes may share an address (and tests share loopback).
fn peer_score_params() -> gossipsub::PeerScoreParams {
    gossipsub::PeerScoreParams {
        app_specific_weight: 1.0,
        ip_colocation_factor_weight: 0.0,
        behaviour_penalty_weight: -1.0,
        behaviour_penalty_threshold: 6.0,
        behaviour_penalty_decay: 0.9,
        ..Default::default()
    }
}

fn peer_score_thresholds() -> gossipsub::PeerScoreThresholds {
    gossipsub::PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -20.0,
        graylist_threshold: -40.0,
        accept_px_threshold: 10.0,
        opportunistic_graft_threshold: 3.0,
    }
}

/// Score parameters of a group topic. Advisory topics are quiet: the mesh-delivery-rate penalty
/// (which would punish every peer on a topic with few messages) is off, as Lighthouse does for
/// its low-rate topics; first deliveries earn a little, invalid messages cost a lot.
fn topic_score_params() -> gossipsub::TopicScoreParams {
    gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 100.0,
        first_message_deliveries_weight: 0.5,
        first_message_deliveries_decay: 0.9,
        first_message_deliveries_cap: 20.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -20.0,
        invalid_message_deliveries_decay: 0.5,
        ..Default::default()
    }
}

/// Build the Swarm.
pub fn build_swarm(keypair: libp2p::identity::Keypair, cfg: &NodeConfig) -> anyhow::Result<Swarm<Behaviour>> {
    build_swarm_with_metrics(keypair, cfg, None)
}

/// [`build_swarm`], with gossipsub's own counters (messages and bytes per topic, before and after
/// duplicate filtering, mesh sizes, IWANT requests) registered in `registry` when one is given.
pub fn build_swarm_with_metrics(
    keypair: libp2p::identity::Keypair,
    cfg: &NodeConfig,
    registry: Option<&mut prometheus_client::registry::Registry>,
) -> anyhow::Result<Swarm<Behaviour>> {
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)?
        // `/dns4/host/tcp/port` bootstrap addresses (compose testnets, operators' host names).
        .with_dns()?
        .with_behaviour(|key| {
            let peer_id = key.public().to_peer_id();
            let gossip_cfg = gossipsub::ConfigBuilder::default()
                // Our envelopes carry their own org signature; gossip-level signing by the
                // transport key would only add bytes (transport keys never sign content).
                .validation_mode(gossipsub::ValidationMode::Anonymous)
                .validate_messages()
                .message_id_fn(message_id)
                .max_transmit_size(MAX_ENVELOPE_BYTES + 4096)
                .heartbeat_interval(Duration::from_millis(700))
                .build()
                .map_err(|e| anyhow::anyhow!("gossipsub config: {e}"))?;
            let mut gossipsub = gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, gossip_cfg)
                .map_err(|e| anyhow::anyhow!("gossipsub: {e}"))?;
            gossipsub.with_peer_score(peer_score_params(), peer_score_thresholds()).map_err(|e| anyhow::anyhow!(e))?;
            if let Some(registry) = registry {
                gossipsub = gossipsub.with_metrics(registry, gossipsub::MetricsConfig::default());
            }
            let identify = identify::Behaviour::new(identify::Config::new("/trellis/id/1".into(), key.public()));
            let mut kad_cfg = kad::Config::new(libp2p::StreamProtocol::new("/trellis/kad/1"));
            kad_cfg.set_query_timeout(Duration::from_secs(30));
            let mut kad = kad::Behaviour::with_config(peer_id, kad::store::MemoryStore::new(peer_id), kad_cfg);
            kad.set_mode(Some(kad::Mode::Server));
            let rr = request_response::Behaviour::with_codec(
                wire::Codec,
                [(wire::SYNC_PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(Duration::from_secs(30)),
            );
            let mdns =
                if cfg.mdns { Some(mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id)?) } else { None };
            // Pings find connections that went silent (a cut link does not reset TCP): such a
            // connection is closed, by our reckoning, after an interval, a timeout, a second
            // interval and libp2p's 10 s negotiation timeout (about 25 s), and redialled. Every 5 s, not every 2 s: at
            // ~20 connections per node, 2 s pings were most of an idle node's CPU (0.7 % of a
            // core against 0.4 %, BENCHMARKS.md) and, over 100 nodes on one machine, what
            // saturated it.
            let ping =
                ping::Behaviour::new(ping::Config::new().with_interval(PING_INTERVAL).with_timeout(PING_INTERVAL));
            let kad = Toggle::from(cfg.discovery.then_some(kad));
            Ok(Behaviour { gossipsub, identify, kad, rr, ping, mdns: Toggle::from(mdns) })
        })?
        // Quiet groups may go hours without a message: keep connections open.
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(24 * 3600)))
        .build();
    Ok(swarm)
}

/// Backoff state of a peer we want to stay connected to.
struct Redial {
    addrs: Vec<Multiaddr>,
    next: Instant,
    backoff: Duration,
}

/// The Swarm task.
pub struct Node {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    pending: HashMap<OutboundRequestId, oneshot::Sender<Result<Response, String>>>,
    redial: HashMap<PeerId, Redial>,
    bootstrap: Vec<Multiaddr>,
    groups: HashSet<GroupId>,
    discovery: bool,
    /// Remote addresses of current connections, per peer.
    connected: HashMap<PeerId, Vec<Multiaddr>>,
    /// Concrete listen addresses (interfaces expanded), from `NewListenAddr`.
    listen_addrs: Vec<Multiaddr>,
    connections_opened: u64,
    /// Where gossip is queued once the engine has installed its intake
    /// ([`Command::SetIntake`]); until then gossip goes out as [`NetEvent::Gossip`].
    intake: Option<(std::sync::Arc<ValidationQueue>, Box<dyn GossipIntake>)>,
    /// Trust of each bound peer's org, as the engine last sent it ([`Command::SetAppScores`],
    /// every few seconds): the queue priority of what the peer forwards, looked up here so the
    /// Swarm task takes no engine lock per message. A peer not in it (bound since the last
    /// update, or never) has priority 0.
    forwarder_trust: HashMap<PeerId, f64>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("peer_id", self.swarm.local_peer_id()).finish()
    }
}

/// Channel sizes: commands carry verdicts for the validation pool (1024 in flight at most) and
/// API calls; events carry inbound gossip, dropped (and ignored) when the engine lags.
/// Longest wait between two dials of a known peer. Dialling a peer that is down costs one
/// failed TCP connect; a few seconds keeps catch-up after a partition fast.
const MAX_REDIAL_BACKOFF: Duration = Duration::from_secs(4);

/// Interval and timeout of the liveness ping on every connection.
const PING_INTERVAL: Duration = Duration::from_secs(5);

/// Connections this node opens by itself: discovery dials group peers until this many are
/// connected. A group does not need every member connected to every other: gossipsub keeps a
/// mesh of 5–12 peers per topic and catch-up sync needs a few. Connected to all, each node of a
/// 100-member group held 99 connections, and their upkeep (pings, yamux, gossipsub heartbeats)
/// alone cost 1.4 % of a core per node; with a bound the cost per node stays flat as the group
/// grows. Groups smaller than this stay fully connected.
pub const TARGET_PEERS: usize = 12;

/// Below this many connections, known peers whose connection dropped are redialled (with
/// backoff). Between this and [`TARGET_PEERS`] only discovery adds connections, so a node that
/// lost a few spare ones does not start dialling at once.
pub const LOW_PEERS: usize = 6;

/// Connections beyond which the node closes spare ones (peers outside its gossipsub meshes, not
/// bootstrap peers) down to this number, so a well-known node (the bootstrap address every
/// member starts from) and the connections DHT lookups leave behind do not keep the whole
/// sector connected. Twice the target: each node dials up to [`TARGET_PEERS`] and accepts
/// others' dials, so degrees up to about twice the target are normal, and a node pruned down
/// to this still has more than the target (so pruning does not make it look up and dial again).
pub const MAX_PEERS: usize = 2 * TARGET_PEERS;
const COMMAND_CAPACITY: usize = 2048;
const EVENT_CAPACITY: usize = 1024;

impl Node {
    /// Create the task state and its handle; the caller receives network events.
    pub fn new(swarm: Swarm<Behaviour>, cfg: &NodeConfig) -> (Node, NodeHandle, mpsc::Receiver<NetEvent>) {
        let (tx, commands) = mpsc::channel(COMMAND_CAPACITY);
        let (events, events_rx) = mpsc::channel(EVENT_CAPACITY);
        let node = Node {
            swarm,
            commands,
            events,
            pending: HashMap::new(),
            redial: HashMap::new(),
            bootstrap: cfg.bootstrap.clone(),
            groups: HashSet::new(),
            discovery: cfg.discovery,
            listen_addrs: Vec::new(),
            connected: HashMap::new(),
            connections_opened: 0,
            intake: None,
            forwarder_trust: HashMap::new(),
        };
        (node, NodeHandle { tx }, events_rx)
    }

    pub fn local_peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    /// Run the Swarm on its own thread ("network") with a single-threaded runtime until
    /// `shutdown` resolves; the returned receiver resolves when it has stopped.
    ///
    /// Every connection task the Swarm spawns runs on that thread too, so a message read,
    /// queued for the judge thread and forwarded after its verdict wakes no runtime worker on its
    /// way through the networking stack: with the Swarm on the shared multi-threaded runtime its
    /// connection tasks were spread over the workers, and every message crossed threads several
    /// times (BENCHMARKS.md, "The network thread"). The node's other work (API, sync, feeds)
    /// stays on the main runtime, so a slow API call never holds up the network.
    pub fn spawn(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<tokio::sync::oneshot::Receiver<()>> {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        std::thread::Builder::new().name("network".into()).spawn(move || {
            rt.block_on(self.run(shutdown));
            // Connection tasks still on this runtime end with it.
            drop(rt);
            let _ = done_tx.send(());
        })?;
        Ok(done_rx)
    }

    /// Run until `shutdown` resolves.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        for addr in self.bootstrap.clone() {
            self.dial(addr);
        }
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut provider_tick = tokio::time::interval(Duration::from_secs(30));
        let mut prune_tick = tokio::time::interval(Duration::from_secs(20));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                Some(cmd) = self.commands.recv() => self.handle_command(cmd),
                event = self.swarm.select_next_some() => self.handle_swarm_event(event),
                _ = tick.tick() => self.handle_redial_tick(),
                _ = provider_tick.tick() => self.handle_provider_tick(),
                _ = prune_tick.tick() => self.prune_connections(),
            }
        }
        debug!("swarm task stopped");
    }

    fn dial(&mut self, addr: Multiaddr) {
        if let Some(peer) = peer_of(&addr) {
            if let Some(k) = self.swarm.behaviour_mut().kad.as_mut() {
                k.add_address(&peer, addr.clone());
            }
            let entry = self.redial.entry(peer).or_insert(Redial {
                addrs: vec![],
                next: Instant::now(),
                backoff: Duration::from_secs(1),
            });
            if !entry.addrs.contains(&addr) {
                entry.addrs.push(addr.clone());
            }
        }
        if let Err(e) = self.swarm.dial(addr.clone()) {
            debug!(%addr, error = %e, "dial failed");
        }
    }

    fn handle_command(&mut self, cmd: Command) {
        match cmd {
            Command::Publish { group, data, reply } => {
                let topic = IdentTopic::new(group.topic());
                let peers =
                    self.swarm.behaviour().gossipsub.all_peers().filter(|(_, t)| t.contains(&&topic.hash())).count();
                match self.swarm.behaviour_mut().gossipsub.publish(topic, data) {
                    Ok(_) => {}
                    // No subscribed peer yet: the item is stored and catch-up sync delivers it.
                    Err(e) => debug!(group = %group.short(), error = %e, "gossip publish"),
                }
                let _ = reply.send(peers);
            }
            Command::Subscribe { group } => {
                let topic = IdentTopic::new(group.topic());
                let _ = self.swarm.behaviour_mut().gossipsub.set_topic_params(topic.clone(), topic_score_params());
                if let Err(e) = self.swarm.behaviour_mut().gossipsub.subscribe(&topic) {
                    warn!(group = %group.short(), error = %e, "subscribe failed");
                }
                self.groups.insert(group);
                if self.discovery {
                    let key = kad::RecordKey::new(&group.topic());
                    if let Some(k) = self.swarm.behaviour_mut().kad.as_mut() {
                        let _ = k.start_providing(key.clone());
                        k.get_providers(key);
                    }
                }
            }
            Command::Dial { addr } => self.dial(addr),
            Command::SetAppScores { scores } => {
                self.forwarder_trust.clear();
                for (peer, score, trust) in scores {
                    self.swarm.behaviour_mut().gossipsub.set_application_score(&peer, score);
                    self.forwarder_trust.insert(peer, trust);
                }
            }
            Command::KeepConnected { peer, addrs } => {
                let entry = self.redial.entry(peer).or_insert(Redial {
                    addrs: vec![],
                    next: Instant::now() + Duration::from_secs(1),
                    backoff: Duration::from_secs(1),
                });
                for a in addrs {
                    if !entry.addrs.contains(&a) {
                        entry.addrs.push(a);
                    }
                }
            }
            Command::SetIntake { queue, intake } => self.intake = Some((queue, intake)),
            Command::Validated { msg_id, source, acceptance } => {
                self.swarm.behaviour_mut().gossipsub.report_message_validation_result(&msg_id, &source, acceptance);
            }
            Command::Request { peer, request, reply } => {
                let id = self.swarm.behaviour_mut().rr.send_request(&peer, *request);
                self.pending.insert(id, reply);
            }
            Command::Respond { channel, response } => {
                let _ = self.swarm.behaviour_mut().rr.send_response(channel, response);
            }
            Command::Info { reply } => {
                let b = self.swarm.behaviour();
                let mut topic_peers: HashMap<TopicHash, Vec<PeerId>> = HashMap::new();
                for (peer, topics) in b.gossipsub.all_peers() {
                    for t in topics {
                        topic_peers.entry(t.clone()).or_default().push(*peer);
                    }
                }
                let peers = self
                    .swarm
                    .connected_peers()
                    .map(|p| (*p, self.connected.get(p).cloned().unwrap_or_default()))
                    .collect();
                let _ = reply.send(NetInfo {
                    peer_id: self.swarm.local_peer_id().to_string(),
                    listen_addrs: self.listen_addrs.clone(),
                    peers,
                    topic_peers,
                    connections_opened: self.connections_opened,
                });
            }
            Command::Listen { addr, reply } => {
                let r = self.swarm.listen_on(addr).map(|_| ()).map_err(|e| e.to_string());
                let _ = reply.send(r);
            }
        }
    }

    fn emit(&mut self, ev: NetEvent) {
        // When the engine is saturated, shed inbound gossip (ignored, not penalised, and
        // recovered by sync): never block the Swarm.
        if let Err(mpsc::error::TrySendError::Full(NetEvent::Gossip { msg_id, source, .. })) = self.events.try_send(ev)
        {
            self.swarm.behaviour_mut().gossipsub.report_message_validation_result(
                &msg_id,
                &source,
                MessageAcceptance::Ignore,
            );
        }
    }

    fn handle_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(%address, "listening");
                self.listen_addrs.push(address);
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.retain(|a| a != &address);
            }
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. } => {
                self.connections_opened += 1;
                let addr = endpoint.get_remote_address().clone();
                let list = self.connected.entry(peer_id).or_default();
                if !list.contains(&addr) {
                    list.push(addr.clone());
                }
                if let Some(r) = self.redial.get_mut(&peer_id) {
                    r.backoff = Duration::from_secs(1);
                }
                self.emit(NetEvent::Connected { peer: peer_id, addr });
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established, .. } => {
                if num_established == 0
                    && let Some(r) = self.redial.get_mut(&peer_id)
                {
                    r.next = Instant::now() + r.backoff;
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(ev)) => self.handle_gossip(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                let addrs: Vec<Multiaddr> = info.listen_addrs.into_iter().filter(is_dialable).collect();
                for addr in &addrs {
                    if let Some(k) = self.swarm.behaviour_mut().kad.as_mut() {
                        k.add_address(&peer_id, addr.clone());
                    }
                }
                self.emit(NetEvent::Identified { peer: peer_id, listen_addrs: addrs });
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                result: kad::QueryResult::GetProviders(Ok(kad::GetProvidersOk::FoundProviders { providers, .. })),
                ..
            })) => {
                // Dial only as many new providers as the connection budget has room for, chosen
                // at random so the members' connections spread over the group.
                let room = TARGET_PEERS.saturating_sub(self.connections_and_dials());
                let me = *self.swarm.local_peer_id();
                let mut fresh: Vec<PeerId> =
                    providers.into_iter().filter(|p| *p != me && !self.swarm.is_connected(p)).collect();
                shuffle(&mut fresh);
                for p in fresh.into_iter().take(room) {
                    let _ = self.swarm.dial(p);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Rr(ev)) => self.handle_rr(ev),
            // libp2p-ping reports failures but never closes the connection: a partitioned link
            // stays "established" while TCP backs off for minutes. Close it, so the peer is
            // redialled (within MAX_REDIAL_BACKOFF) and re-synced as soon as the path heals.
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event { peer, connection, result: Err(e) })) => {
                debug!(%peer, error = %e, "ping failed: closing the connection");
                self.swarm.close_connection(connection);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(list))) => {
                for (peer, addr) in list {
                    if let Some(k) = self.swarm.behaviour_mut().kad.as_mut() {
                        k.add_address(&peer, addr.clone());
                    }
                    let _ = self.swarm.dial(addr);
                }
            }
            _ => {}
        }
    }

    fn handle_gossip(&mut self, ev: gossipsub::Event) {
        match ev {
            gossipsub::Event::Message { propagation_source, message_id, message }
                if let Some((queue, intake)) = self.intake.as_ref() =>
            {
                // Priority by the trust of the forwarding peer's org (its verified node
                // binding), never by the publisher the message claims: a forger can claim
                // anyone. A message left out of a full queue is ignored: not relayed, nobody
                // penalised, recoverable by catch-up sync.
                let trust = self.forwarder_trust.get(&propagation_source).copied().unwrap_or(0.0);
                let job = Job { source: propagation_source, msg_id: message_id, data: message.data };
                if let Some(dropped) = queue.push(trust, job) {
                    intake.shed(&dropped);
                    self.swarm.behaviour_mut().gossipsub.report_message_validation_result(
                        &dropped.msg_id,
                        &dropped.source,
                        MessageAcceptance::Ignore,
                    );
                }
            }
            gossipsub::Event::Message { propagation_source, message_id, message } => {
                self.emit(NetEvent::Gossip {
                    source: propagation_source,
                    msg_id: message_id,
                    topic: message.topic,
                    data: message.data,
                });
            }
            gossipsub::Event::Subscribed { peer_id, topic, .. } => {
                self.emit(NetEvent::PeerSubscribed { peer: peer_id, topic });
            }
            _ => {}
        }
    }

    fn handle_rr(&mut self, ev: request_response::Event<Request, Response>) {
        match ev {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    self.emit(NetEvent::InboundRequest { peer, request: Box::new(request), channel });
                }
                request_response::Message::Response { request_id, response } => {
                    if let Some(reply) = self.pending.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure { request_id, error, .. } => {
                if let Some(reply) = self.pending.remove(&request_id) {
                    let _ = reply.send(Err(error.to_string()));
                }
            }
            _ => {}
        }
    }

    /// Redial known peers whose connection dropped, with exponential backoff from 1 s, capped
    /// at [`MAX_REDIAL_BACKOFF`] so a healed partition reconnects within seconds.
    /// Only while fewer than [`LOW_PEERS`] peers are connected, and only as many as that leaves
    /// room for, chosen at random (bootstrap peers first when nothing is connected).
    fn handle_redial_tick(&mut self) {
        let now = Instant::now();
        let connected = self.swarm.connected_peers().count();
        if connected >= LOW_PEERS {
            return;
        }
        let room = LOW_PEERS - connected;
        let mut due: Vec<(PeerId, Vec<Multiaddr>)> = self
            .redial
            .iter()
            .filter(|(p, r)| r.next <= now && !self.swarm.is_connected(p))
            .map(|(p, r)| (*p, r.addrs.clone()))
            .collect();
        shuffle(&mut due);
        if connected == 0 {
            let bootstrap: HashSet<PeerId> = self.bootstrap.iter().filter_map(peer_of).collect();
            due.sort_by_key(|(p, _)| !bootstrap.contains(p));
        }
        for (peer, addrs) in due.into_iter().take(room) {
            if let Some(r) = self.redial.get_mut(&peer) {
                r.next = now + r.backoff;
                r.backoff = (r.backoff * 2).min(MAX_REDIAL_BACKOFF);
            }
            let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer).addresses(addrs).build();
            let _ = self.swarm.dial(opts);
        }
    }

    /// Above [`MAX_PEERS`] connections, close spare ones down to that number: never a peer in one
    /// of our gossipsub meshes or a bootstrap peer.
    fn prune_connections(&mut self) {
        let connected: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        if connected.len() <= MAX_PEERS {
            return;
        }
        let bootstrap: HashSet<PeerId> = self.bootstrap.iter().filter_map(peer_of).collect();
        let gs = &self.swarm.behaviour().gossipsub;
        let in_mesh: HashSet<PeerId> =
            gs.topics().flat_map(|t| gs.mesh_peers(t).copied().collect::<Vec<_>>()).collect();
        let mut spare: Vec<PeerId> =
            connected.iter().filter(|p| !in_mesh.contains(p) && !bootstrap.contains(p)).copied().collect();
        shuffle(&mut spare);
        let excess = connected.len() - MAX_PEERS;
        for p in spare.into_iter().take(excess) {
            debug!(peer = %p, "closing a spare connection (over the connection budget)");
            let _ = self.swarm.disconnect_peer_id(p);
        }
    }

    /// Peers connected plus outgoing dials under way (so answers that arrive together do not
    /// each dial a full budget).
    fn connections_and_dials(&self) -> usize {
        self.swarm.connected_peers().count()
            + self.swarm.network_info().connection_counters().num_pending_outgoing() as usize
    }

    /// Look up providers of our groups' topics on the DHT, while the node has fewer connections
    /// than it wants. (A lookup itself connects to the peers it asks; done every 30 s by every
    /// node of a 100-node group regardless of need, lookups opened about three connections per
    /// node per second, each followed by a handshake, a hello and a sync.)
    fn handle_provider_tick(&mut self) {
        if !self.discovery || self.connections_and_dials() >= TARGET_PEERS {
            return;
        }
        for g in self.groups.clone() {
            if let Some(k) = self.swarm.behaviour_mut().kad.as_mut() {
                k.get_providers(kad::RecordKey::new(&g.topic()));
            }
        }
    }
}

/// The peer id at the end of a `/p2p/` address.
fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

/// Fisher–Yates with the thread RNG.
fn shuffle<T>(v: &mut [T]) {
    for i in (1..v.len()).rev() {
        v.swap(i, rand::random_range(0..=i));
    }
}

fn is_dialable(addr: &Multiaddr) -> bool {
    !addr.iter().any(|p| matches!(p, libp2p::multiaddr::Protocol::Ip4(ip) if ip.is_unspecified()))
}
