//! `trellis-daemon`: the Trellis node as a library, with a thin `trellisd` binary
//! (`main` parses config and calls [`run`], so tests start real nodes in-process).
//!
//! Parts: [`home`] (identity and files), [`config`], [`store`] (redb), [`node`] (the task that
//! owns the libp2p Swarm), [`engine`] (validation, groups, publishing, sync), [`api`] (the
//! local HTTP+JSON API over a unix socket).

pub mod api;
pub mod backup;
pub mod clock;
pub mod config;
pub mod engine;
pub mod feeds;
pub mod groups;
pub mod help;
pub mod home;
pub mod http;
pub mod keyfile;
pub mod metrics;
pub mod node;
pub mod notify;
pub mod pipeline;
pub mod reactions;
pub mod resources;
pub mod securitytxt;
pub mod store;
pub mod taxii;
pub mod validation;
pub mod web;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tracing::{info, warn};

use crate::config::Config;
use crate::engine::Engine;
use crate::home::{Identity, now_ms};
use crate::node::{NetEvent, Node, NodeConfig};

/// What a started node reports once it is ready.
#[derive(Clone, Debug)]
pub struct Ready {
    pub org: String,
    pub fingerprint: String,
    pub peer_id: String,
    pub listen_addrs: Vec<String>,
    pub socket: std::path::PathBuf,
    /// The TAXII server's address, when `taxii_listen` is configured.
    pub taxii: Option<std::net::SocketAddr>,
    /// The web console's address, when `web_listen` is configured.
    pub web: Option<std::net::SocketAddr>,
}

/// How often each group is reconciled with each connected group peer.
/// Gossip reaches only who is online and connected; this bounds how long an item missed in a
/// way no event reveals (a message lost on a live connection) stays missing. A sync between
/// nodes that agree costs one request of a sequence vector and an empty reply.
const PERIODIC_SYNC: Duration = Duration::from_secs(10);

/// Run a node until `shutdown` resolves. `on_ready` is called once the node listens and the
/// API socket accepts connections.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
    on_ready: impl FnOnce(&Ready),
) -> anyhow::Result<()> {
    let home = config.home.clone();
    // The console's certificate and key are read before anything starts: a bad file stops the
    // node at once with the file named.
    let web_tls = match (&config.web_listen, &config.web_tls) {
        (Some(_), Some(t)) => Some(web::tls::server_config(&t.cert, &t.key)?),
        _ => None,
    };
    home::ensure_home(&home)?;
    // Held until `run` returns: one daemon per home.
    let _home_lock = home::lock_home(&home)?;
    let identity = if Identity::exists(&home) {
        // A protected identity needs its passphrase (README "Protecting and backing up the
        // organization's key"); without one the node refuses to start, naming where it looked.
        let sources = keyfile::PassphraseSources::new(config.passphrase_file.clone());
        Identity::load_with(&home, || sources.get(&home))?
    } else {
        let name = config.name.clone().unwrap_or_else(|| "Unnamed organization".to_string());
        let id = Identity::create(&home, &name, now_ms())?;
        info!(org = %id.keys.org_id().fingerprint(), home = %home.display(), "created a new organization identity");
        id
    };
    let store = store::Store::open(&home.join(home::STORE_FILE))?;
    backup::apply_pending_restore(&home, identity.keys.org_id(), &store)?;
    let keypair = home::load_or_create_node_key(&home)?;
    let peer_id = keypair.public().to_peer_id();
    let binding = trellis_proto::keys::NodeBinding::sign(
        &identity.keys,
        keypair.public().encode_protobuf(),
        now_ms(),
        365 * 24 * 3600 * 1000,
    );
    let node_cfg = NodeConfig { bootstrap: config.bootstrap.clone(), mdns: config.mdns, discovery: config.discovery };
    // gossipsub's own counters (messages and bytes per topic, duplicates included), served with
    // ours on /metrics when `metrics_listen` is set.
    let mut registry = prometheus_client::registry::Registry::default();
    let swarm = node::build_swarm_with_metrics(
        keypair,
        &node_cfg,
        Some(registry.sub_registry_with_prefix("trellis_gossipsub")),
    )?;
    let (node, handle, events) = Node::new(swarm, &node_cfg);
    let socket_path = home::socket_path(&home);
    let listener = api::server::bind(&socket_path)
        .await
        .with_context(|| format!("binding the API socket {}", socket_path.display()))?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let node_task = node.spawn(stopped(stop_rx.clone())).context("starting the network thread")?;
    for addr in &config.listen {
        handle.listen(addr.clone()).await.map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    }
    let setup = engine::Setup {
        evidence_policy: securitytxt::FetchPolicy {
            allow_private: config.evidence_allow_private,
            ca_file: config.evidence_ca_file.clone(),
        },
        ..Default::default()
    };
    let engine = Engine::with_setup(home.clone(), identity, binding, store, handle.clone(), peer_id, setup)?;
    let reactions = reactions::start(Arc::clone(&engine)).context("starting the reactions thread")?;
    engine.metrics().register(&mut registry);
    let registry = Arc::new(registry);
    for g in engine.group_ids() {
        handle.subscribe(g).await;
    }
    for (_, addrs) in engine.store().peers().unwrap_or_default() {
        for a in addrs {
            if let Ok(addr) = a.parse() {
                handle.dial(addr).await;
            }
        }
    }
    let resource_task = tokio::spawn(Arc::clone(&engine).resource_upkeep(stopped(stop_rx.clone())));
    let api_task = tokio::spawn(api::server::serve(listener, Arc::clone(&engine), stopped(stop_rx.clone())));
    let feeds_task = tokio::spawn(feeds::schedule(Arc::clone(&engine), stopped(stop_rx.clone())));
    let queue = Arc::new(validation::ValidationQueue::new(VALIDATION_QUEUE));
    // The Swarm task queues gossip by the forwarding peer's trust; the judge thread runs the
    // receive pipeline (`pipeline.rs`) on it, with the storing and control threads behind.
    let (workers, intake) =
        pipeline::Workers::start(Arc::clone(&engine), Arc::clone(&queue), tokio::runtime::Handle::current())
            .context("starting the gossip threads")?;
    handle.set_intake(Arc::clone(&queue), Box::new(intake)).await;
    let dispatch_task =
        tokio::spawn(dispatch(Arc::clone(&engine), Arc::clone(&queue), events, stopped(stop_rx.clone())));
    let metrics_task = match config.metrics_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the metrics address {addr}"))?;
            info!(%addr, "serving Prometheus metrics at /metrics");
            Some(tokio::spawn(metrics::serve(
                listener,
                Arc::clone(&engine),
                queue,
                Arc::clone(&registry),
                stopped(stop_rx.clone()),
            )))
        }
        None => None,
    };

    let (taxii_task, taxii_addr) = match config.taxii_listen {
        Some(addr) => {
            let l = taxii::bind(addr).await?;
            let bound = l.local_addr().ok();
            (Some(tokio::spawn(taxii::serve(l, Arc::clone(&engine), stopped(stop_rx.clone())))), bound)
        }
        None => (None, None),
    };

    let (web_task, web_addr) = match config.web_listen {
        Some(addr) => {
            let tls = web_tls.clone();
            let l = web::bind(addr).await?;
            let bound = l.local_addr().with_context(|| format!("the web console's address {addr}"))?;
            let listening = web::auth::Listening { addr: bound, tls: tls.is_some() };
            engine.console().set_listening(Some(listening));
            info!(url = %listening.base_url(), "serving the web console; open it with `trellis web`");
            (Some(tokio::spawn(web::serve(l, Arc::clone(&engine), tls, stopped(stop_rx.clone())))), Some(bound))
        }
        None => (None, None),
    };

    // Ready once at least one listen address is up (or none was asked for).
    let mut info = handle.info().await;
    for _ in 0..250 {
        if !info.listen_addrs.is_empty() || config.listen.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        info = handle.info().await;
    }
    let me = engine.me();
    on_ready(&Ready {
        org: me.to_text(),
        fingerprint: me.fingerprint(),
        peer_id: peer_id.to_string(),
        listen_addrs: info.listen_addrs.iter().map(|a| format!("{a}/p2p/{peer_id}")).collect(),
        socket: socket_path.clone(),
        taxii: taxii_addr,
        web: web_addr,
    });
    notify::ready(&format!(
        "org {} peer {} listening on {} addresses",
        me.fingerprint(),
        peer_id,
        info.listen_addrs.len()
    ));

    // Until a signal, or a user's `trellis down` (`POST /v1/shutdown`).
    tokio::select! {
        _ = shutdown => {}
        _ = engine.stop().notified() => {}
    }
    notify::stopping();
    info!("shutting down");
    engine.console().stop();
    let _ = stop_tx.send(true);
    let _ = api_task.await;
    let _ = resource_task.await;
    let _ = feeds_task.await;
    if let Some(t) = taxii_task {
        let _ = t.await;
    }
    if let Some(t) = web_task {
        let _ = t.await;
    }
    let _ = dispatch_task.await;
    tokio::task::spawn_blocking(move || workers.stop()).await.ok();
    tokio::task::spawn_blocking(move || reactions.stop()).await.ok();
    if let Some(t) = metrics_task {
        let _ = t.await;
    }
    let _ = node_task.await;
    let _ = std::fs::remove_file(&socket_path);
    // Closing the store makes the last relaxed (received) items durable; dropping the last
    // reference to the engine releases its file lock. Background work (syncs, upkeep) holds references: with the
    // Swarm stopped it fails fast, so wait for it briefly.
    for _ in 0..40 {
        if Arc::strong_count(&engine) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if Arc::strong_count(&engine) > 1 {
        warn!("background tasks still hold the engine at shutdown; closing the store under them");
    }
    engine.store().close();
    drop(engine);
    Ok(())
}

/// Route network events: gossip that arrives before the Swarm task queues it itself
/// (`NodeHandle::set_intake`) to the validation queue, requests to the sync responder, new subscriptions to a sync. Runs until `stop`.
async fn dispatch(
    engine: Arc<Engine>,
    queue: Arc<validation::ValidationQueue>,
    mut events: tokio::sync::mpsc::Receiver<NetEvent>,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut periodic = tokio::time::interval(PERIODIC_SYNC);
    let mut scores = tokio::time::interval(Duration::from_secs(5));
    tokio::pin!(stop);
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => break,
            ev = events.recv() => match ev {
                Some(ev) => handle_net_event(&engine, &queue, ev).await,
                None => break,
            },
            _ = scores.tick() => engine.push_peer_scores().await,
            _ = periodic.tick() => {
                // A few random peers per group each round, not all of them: anti-entropy
                // converges the same way, and the cost stays flat as the group grows.
                let info = engine.node().info().await;
                for g in engine.group_ids() {
                    let topic = libp2p::gossipsub::IdentTopic::new(g.topic()).hash();
                    let mut peers = info.topic_peers.get(&topic).cloned().unwrap_or_default();
                    peers.sort();
                    let n = peers.len();
                    let offset = engine.rng().below(n);
                    for p in peers.into_iter().cycle().skip(offset).take(n.min(PERIODIC_SYNC_PEERS)) {
                        let e = Arc::clone(&engine);
                        tokio::spawn(async move { let _ = e.sync_with(p, g).await; });
                    }
                }
            }
        }
    }
}

/// Peers per group each periodic sync round.
const PERIODIC_SYNC_PEERS: usize = 3;

/// Messages waiting for validation at most; beyond, the lowest-trust ones are dropped.
const VALIDATION_QUEUE: usize = 4096;

async fn handle_net_event(engine: &Arc<Engine>, queue: &Arc<validation::ValidationQueue>, ev: NetEvent) {
    match ev {
        NetEvent::Gossip { source, msg_id, data, .. } => {
            // Priority by the trust of the forwarding peer's org (its verified node binding),
            // never by the publisher the message claims: a forger can claim anyone.
            let trust = engine.forwarder_trust(&source);
            if let Some(dropped) = queue.push(trust, validation::Job { source, msg_id, data }) {
                engine.count_reject("queue_full", None, Some(dropped.source));
                engine
                    .node()
                    .validated(dropped.msg_id, dropped.source, libp2p::gossipsub::MessageAcceptance::Ignore)
                    .await;
            }
        }
        NetEvent::InboundRequest { peer, request, channel } => {
            let engine = Arc::clone(engine);
            tokio::spawn(async move { engine.handle_request(peer, *request, channel).await });
        }
        NetEvent::PeerSubscribed { peer, topic } => {
            if let Some(g) =
                engine.group_ids().into_iter().find(|g| libp2p::gossipsub::IdentTopic::new(g.topic()).hash() == topic)
            {
                let engine = Arc::clone(engine);
                tokio::spawn(async move {
                    if let Err(e) = engine.sync_with(peer, g).await {
                        warn!(%peer, group = %g.short(), error = %e, "sync failed");
                    }
                });
            }
        }
        NetEvent::Identified { peer, listen_addrs } => {
            engine.peer_book().set_addrs(peer, listen_addrs);
            let engine = Arc::clone(engine);
            tokio::spawn(async move { engine.remember_peer(peer).await });
        }
        NetEvent::Connected { peer, .. } => {
            let engine = Arc::clone(engine);
            tokio::spawn(async move { engine.hello(peer).await });
        }
    }
}
