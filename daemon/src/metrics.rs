//! Prometheus metrics (text exposition format 0.0.4) on an optional address, loopback by
//! default when enabled (`metrics_listen` in config.toml, `TRELLIS_METRICS_LISTEN`,
//! `--metrics-listen`). Names follow the usual `trellis_*_total` convention for counters.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::engine::Engine;

/// Counters kept by the engine.
#[derive(Debug, Default)]
pub struct Counters {
    /// Items stored from the network, by kind.
    pub items_in: BTreeMap<&'static str, u64>,
    /// Items this node published, by kind.
    pub items_out: BTreeMap<&'static str, u64>,
}

/// Shared counters.
pub type SharedCounters = Arc<Mutex<Counters>>;

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Render every metric: ours, then gossipsub's (`trellis_gossipsub_*`).
pub async fn render(engine: &Engine, queue_depth: usize, gossip: &Registry) -> String {
    let info = engine.node.info().await;
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, v) in samples {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    family("trellis_peers", "gauge", "Connected peers.", vec![(String::new(), info.peers.len() as f64)]);
    family(
        "trellis_connections_opened_total",
        "counter",
        "Connections opened (inbound or outbound) since the node started.",
        vec![(String::new(), info.connections_opened as f64)],
    );
    let groups = engine.group_ids();
    family("trellis_groups", "gauge", "Groups this node is in.", vec![(String::new(), groups.len() as f64)]);
    let (ins, outs) = match engine.counters.lock() {
        Ok(c) => (c.items_in.clone(), c.items_out.clone()),
        Err(_) => Default::default(),
    };
    family(
        "trellis_items_in_total",
        "counter",
        "Items received from peers and stored, by kind.",
        ins.iter().map(|(k, v)| (format!("{{kind=\"{}\"}}", esc(k)), *v as f64)).collect(),
    );
    family(
        "trellis_items_out_total",
        "counter",
        "Items published by this node, by kind.",
        outs.iter().map(|(k, v)| (format!("{{kind=\"{}\"}}", esc(k)), *v as f64)).collect(),
    );
    let rejects = engine.rejects.lock().map(|r| r.clone()).unwrap_or_default();
    family(
        "trellis_rejects_total",
        "counter",
        "Items rejected, by reason.",
        rejects.iter().map(|(k, v)| (format!("{{reason=\"{}\"}}", esc(k)), *v as f64)).collect(),
    );
    let now = crate::home::now_ms();
    let mut lag = Vec::new();
    if let Ok(st) = engine.sync_state.lock() {
        for g in &groups {
            let last = st.iter().filter(|((gid, _), _)| gid == g).filter_map(|(_, s)| s.last_ok_ms).max();
            if let Some(last) = last {
                lag.push((format!("{{group=\"{}\"}}", g.short()), now.saturating_sub(last) as f64 / 1000.0));
            }
        }
    }
    family("trellis_sync_lag_seconds", "gauge", "Seconds since the last successful catch-up sync of each group.", lag);
    family(
        "trellis_validation_queue_depth",
        "gauge",
        "Gossip messages waiting for validation.",
        vec![(String::new(), queue_depth as f64)],
    );
    let store_bytes = std::fs::metadata(engine.home.join(crate::home::STORE_FILE)).map(|m| m.len()).unwrap_or(0);
    family(
        "trellis_store_bytes",
        "gauge",
        "Size of the store file in bytes.",
        vec![(String::new(), store_bytes as f64)],
    );
    for (name, kind, help, samples) in crate::feeds::metrics(engine) {
        family(name, kind, help, samples);
    }
    // gossipsub's registry is encoded without the OpenMetrics `# EOF` terminator, so the whole
    // page stays one text-format exposition.
    let _ = prometheus_client::encoding::text::encode_registry(&mut out, gossip);
    out
}

/// Serve `/metrics` on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    engine: Arc<Engine>,
    queue: Arc<crate::validation::ValidationQueue>,
    gossip: Arc<Registry>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    crate::http::serve(
        listener,
        crate::http::Limits::no_body(16),
        shutdown,
        move |req: hyper::Request<hyper::body::Incoming>| {
            let (engine, queue, gossip) = (Arc::clone(&engine), Arc::clone(&queue), Arc::clone(&gossip));
            async move {
                let resp = if req.uri().path() == "/metrics" {
                    Response::builder()
                        .header("content-type", "text/plain; version=0.0.4")
                        .body(Full::new(Bytes::from(render(&engine, queue.len(), &gossip).await)))
                } else {
                    Response::builder().status(StatusCode::NOT_FOUND).body(Full::new(Bytes::from("try /metrics\n")))
                };
                resp.unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
            }
        },
    )
    .await
}
