//! Prometheus metrics in the OpenMetrics text format on an optional address, loopback by
//! default when enabled (`metrics_listen` in config.toml, `TRELLIS_METRICS_LISTEN`,
//! `--metrics-listen`).
//!
//! Every family lives in one `prometheus-client` registry, built at start: gossipsub's own
//! (`trellis_gossipsub_*`, registered by the swarm) and ours. Counters are counted where the
//! event happens ([`Metrics`], held by the engine); gauges that describe the node's state
//! (peers, groups, queue depth, store size, sync lag) are set when a scrape asks. The page is
//! served as `application/openmetrics-text; version=1.0.0`, every family typed, ending in
//! `# EOF`.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::engine::Engine;

/// The OpenMetrics content type.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GroupLabel {
    pub group: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FeedLabel {
    pub feed: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FeedOutcomeLabel {
    pub feed: String,
    pub outcome: String,
}

/// Rejected items by reason since start, as `status` shows them (an owner: a private lock, one
/// counter increment at a time, so a poisoned lock is recovered — no count can be half-made).
#[derive(Debug, Default)]
pub struct RejectCounts {
    counts: Mutex<BTreeMap<String, u64>>,
}

impl RejectCounts {
    /// Count one reject for `reason`.
    pub fn count(&self, reason: &str) {
        *self.counts.lock().unwrap_or_else(PoisonError::into_inner).entry(reason.to_string()).or_default() += 1;
    }

    /// The counts by reason.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// The node's own metrics. Handles are cheap clones of shared atomics: the engine counts into
/// them, the registry reads them.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// Items received from peers and stored, by kind.
    pub items_in: Family<KindLabel, Counter>,
    /// Items this node published, by kind.
    pub items_out: Family<KindLabel, Counter>,
    /// Items rejected, by reason.
    pub rejects: Family<ReasonLabel, Counter>,
    peers: Gauge,
    connections_opened: Counter,
    groups: Gauge,
    sync_lag_seconds: Family<GroupLabel, Gauge<f64, AtomicU64>>,
    validation_queue_depth: Gauge,
    store_bytes: Gauge,
    feed_documents: Family<FeedOutcomeLabel, Counter>,
    feed_failures: Family<FeedLabel, Gauge>,
    feed_last_success: Family<FeedLabel, Gauge<f64, AtomicU64>>,
    feed_runs: Family<FeedOutcomeLabel, Counter>,
}

impl Metrics {
    /// Count one item of `kind` stored from the network.
    pub fn item_in(&self, kind: &str) {
        self.items_in.get_or_create(&KindLabel { kind: kind.to_string() }).inc();
    }

    /// Count one item of `kind` this node published.
    pub fn item_out(&self, kind: &str) {
        self.items_out.get_or_create(&KindLabel { kind: kind.to_string() }).inc();
    }

    /// Count one rejected item.
    pub fn reject(&self, reason: &str) {
        self.rejects.get_or_create(&ReasonLabel { reason: reason.to_string() }).inc();
    }

    /// Register every family of ours in `registry` (gossipsub's are registered by the swarm).
    pub fn register(&self, registry: &mut Registry) {
        registry.register("trellis_peers", "Connected peers", self.peers.clone());
        registry.register(
            "trellis_connections_opened",
            "Connections opened (inbound or outbound) since the node started",
            self.connections_opened.clone(),
        );
        registry.register("trellis_groups", "Groups this node is in", self.groups.clone());
        registry.register("trellis_items_in", "Items received from peers and stored, by kind", self.items_in.clone());
        registry.register("trellis_items_out", "Items published by this node, by kind", self.items_out.clone());
        registry.register("trellis_rejects", "Items rejected, by reason", self.rejects.clone());
        registry.register(
            "trellis_sync_lag_seconds",
            "Seconds since the last successful catch-up sync of each group",
            self.sync_lag_seconds.clone(),
        );
        registry.register(
            "trellis_validation_queue_depth",
            "Gossip messages waiting for validation",
            self.validation_queue_depth.clone(),
        );
        registry.register("trellis_store_bytes", "Size of the store file in bytes", self.store_bytes.clone());
        registry.register(
            "trellis_feed_documents",
            "Documents a feed looked at, by outcome",
            self.feed_documents.clone(),
        );
        registry.register(
            "trellis_feed_failures",
            "Consecutive failed runs of each feed (0: the last run succeeded)",
            self.feed_failures.clone(),
        );
        registry.register(
            "trellis_feed_last_success_timestamp_seconds",
            "When each feed last ran successfully",
            self.feed_last_success.clone(),
        );
        registry.register("trellis_feed_runs", "Runs of each feed, by outcome (ok, failed)", self.feed_runs.clone());
    }

    /// Set the gauges that describe the node now, before a scrape encodes them.
    async fn refresh(&self, engine: &Engine, queue_depth: usize) {
        let info = engine.node().info().await;
        self.peers.set(info.peers.len() as i64);
        // The Swarm task counts connections itself; the counter follows its total.
        let opened = info.connections_opened;
        let seen = self.connections_opened.get();
        if opened > seen {
            self.connections_opened.inc_by(opened - seen);
        }
        let groups = engine.group_ids();
        self.groups.set(groups.len() as i64);
        let now = engine.clock().now_ms();
        self.sync_lag_seconds.clear();
        for g in &groups {
            if let Some(last) = engine.syncs().last_ok_ms(g) {
                self.sync_lag_seconds
                    .get_or_create(&GroupLabel { group: g.short() })
                    .set(now.saturating_sub(last) as f64 / 1000.0);
            }
        }
        self.validation_queue_depth.set(queue_depth as i64);
        let store = std::fs::metadata(engine.home().join(crate::home::STORE_FILE)).map(|m| m.len()).unwrap_or(0);
        self.store_bytes.set(store as i64);
        // Feeds: their totals live in the home's feeds.json; counters follow them up.
        self.feed_failures.clear();
        self.feed_last_success.clear();
        for f in crate::feeds::stats(engine) {
            for (outcome, n) in f.documents {
                let c = self
                    .feed_documents
                    .get_or_create(&FeedOutcomeLabel { feed: f.id.clone(), outcome: outcome.into() });
                if n > c.get() {
                    c.inc_by(n - c.get());
                }
            }
            for (outcome, n) in f.runs {
                let c = self.feed_runs.get_or_create(&FeedOutcomeLabel { feed: f.id.clone(), outcome: outcome.into() });
                if n > c.get() {
                    c.inc_by(n - c.get());
                }
            }
            self.feed_failures.get_or_create(&FeedLabel { feed: f.id.clone() }).set(f.failures as i64);
            if let Some(t) = f.last_success_ms {
                self.feed_last_success.get_or_create(&FeedLabel { feed: f.id.clone() }).set(t as f64 / 1000.0);
            }
        }
    }
}

/// Render the whole registry as one OpenMetrics exposition.
pub async fn render(engine: &Engine, queue_depth: usize, registry: &Registry) -> String {
    engine.metrics().refresh(engine, queue_depth).await;
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, registry).is_err() {
        out.clear();
        out.push_str("# EOF\n");
    }
    out
}

/// Serve `/metrics` on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    engine: Arc<Engine>,
    queue: Arc<crate::validation::ValidationQueue>,
    registry: Arc<Registry>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    crate::http::serve(
        listener,
        crate::http::Limits::no_body(16),
        shutdown,
        move |req: hyper::Request<hyper::body::Incoming>| {
            let (engine, queue, registry) = (Arc::clone(&engine), Arc::clone(&queue), Arc::clone(&registry));
            async move {
                let resp = if req.uri().path() == "/metrics" {
                    Response::builder()
                        .header("content-type", CONTENT_TYPE)
                        .body(Full::new(Bytes::from(render(&engine, queue.len(), &registry).await)))
                } else {
                    Response::builder().status(StatusCode::NOT_FOUND).body(Full::new(Bytes::from("try /metrics\n")))
                };
                resp.unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
            }
        },
    )
    .await
}
