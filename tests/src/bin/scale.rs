//! `scale`: the benchmark harness at scale (issue "Benchmarks at scale"). Starts N real
//! `trellisd` processes on loopback, forms one group, then for each rate runs R rounds: each publishes K
//! advisories of a given size at a given rate from one node and measures, per item, the delivery
//! time to all nodes; per round, the delivery ratio, gossip messages and bytes per node per item
//! (from each node's gossipsub counters on its metrics endpoint), CPU seconds per node, and how
//! loaded the machine was while publishing (CPU cores all nodes used, and the mean time a node
//! thread that was ready to run waited for a CPU, from the kernel's schedstat). It
//! reports every round, then the median of the rounds with their minimum and maximum, as a table
//! and as JSON (last line of stdout).
//!
//! Run (release binaries; the harness itself can be a debug build):
//!   cargo build --workspace && cargo build --release -p trellis-daemon -p trellis-cli
//!   TRELLIS_BIN_DIR=target/release target/debug/scale --nodes 10 --rate 1,10,100 --items 10,50,300 --rounds 3

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use trellis_api::client::Client;
use trellis_api::types::{
    AdvisoryView, CreateGroup, Created, GroupInfo, IdInfo, InviteRequest, InviteToken, JoinRequest, PublishAdvisory,
};
use trellis_tests::{Bins, Daemon};

const USAGE: &str = "usage: scale [--nodes N] [--rate ITEMS_PER_S] [--items K] [--size BYTES] [--rounds R]
  --nodes   trellisd processes to start (default 10, at least 2)
  --rate    items published per second by node n0 (default 10); a comma-separated list
            measures each rate in turn on the same network (for example 1,10,100)
  --items   items per round (default 50); one count, or one per rate (for example 10,50,300)
  --size    approximate advisory size in bytes (default 4096)
  --rounds  measurement rounds on the same network; the summary is their median (default 3)";

struct Args {
    nodes: usize,
    /// Publishing rates to measure one after the other on the same network, with the items per
    /// round for each.
    rates: Vec<f64>,
    items: Vec<usize>,
    size: usize,
    rounds: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args { nodes: 10, rates: vec![10.0], items: vec![50], size: 4096, rounds: 3 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let v = it.next().with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |e: &dyn std::fmt::Display| anyhow::anyhow!("{flag} {v}: {e}\n{USAGE}");
        match flag.as_str() {
            "--nodes" => a.nodes = v.parse().map_err(|e| bad(&e))?,
            "--rate" => {
                a.rates = v.split(',').map(|x| x.trim().parse()).collect::<Result<_, _>>().map_err(|e| bad(&e))?
            }
            "--items" => {
                a.items = v.split(',').map(|x| x.trim().parse()).collect::<Result<_, _>>().map_err(|e| bad(&e))?
            }
            "--size" => a.size = v.parse().map_err(|e| bad(&e))?,
            "--rounds" => a.rounds = v.parse().map_err(|e| bad(&e))?,
            _ => bail!("unknown flag {flag}\n{USAGE}"),
        }
    }
    if a.items.len() == 1 && a.rates.len() > 1 {
        a.items = vec![a.items[0]; a.rates.len()];
    }
    if a.items.len() != a.rates.len() {
        bail!("--items needs one count, or one per rate in --rate\n{USAGE}");
    }
    if a.nodes < 2 || a.rates.iter().any(|r| *r <= 0.0) || a.items.contains(&0) || a.rounds == 0 {
        bail!("need --nodes >= 2, every rate > 0, every item count > 0, --rounds > 0\n{USAGE}");
    }
    Ok(a)
}

/// (CPU seconds, peak RSS KiB, current RSS KiB) of a process, from /proc.
fn proc_usage(pid: u32) -> (f64, u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is 14th, stime 15th overall.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (cpu, kib("VmHWM:"), kib("VmRSS:"))
}

/// Scheduler counters of every thread of the given processes, from
/// `/proc/PID/task/TID/schedstat`: (pid, tid) → (ns on a CPU, ns runnable but waiting for a CPU,
/// times scheduled).
fn sched_threads(pids: &[u32]) -> HashMap<(u32, u32), (u64, u64, u64)> {
    let mut out = HashMap::new();
    for &pid in pids {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { continue };
        for t in tasks.flatten() {
            let Some(tid) = t.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            let Ok(line) = std::fs::read_to_string(t.path().join("schedstat")) else { continue };
            let v: Vec<u64> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
            if let [cpu, wait, slices] = v[..] {
                out.insert((pid, tid), (cpu, wait, slices));
            }
        }
    }
    out
}

/// How busy the machine was between two [`sched_threads`] samples `secs` apart, over the threads
/// alive at both: (CPU cores the nodes used, mean wait in ms of a runnable thread for a CPU).
fn machine_load(
    a: &HashMap<(u32, u32), (u64, u64, u64)>,
    b: &HashMap<(u32, u32), (u64, u64, u64)>,
    secs: f64,
) -> (f64, f64) {
    let (mut cpu, mut wait, mut slices) = (0u64, 0u64, 0u64);
    for (k, after) in b {
        if let Some(before) = a.get(k) {
            cpu += after.0.saturating_sub(before.0);
            wait += after.1.saturating_sub(before.1);
            slices += after.2.saturating_sub(before.2);
        }
    }
    (cpu as f64 / 1e9 / secs.max(1e-9), wait as f64 / 1e6 / slices.max(1) as f64)
}

/// Free loopback ports for the metrics endpoints, below the kernel's ephemeral range (so the
/// nodes' own `tcp/0` listeners and outgoing connections cannot take them before they are bound).
fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let ports: Vec<u16> =
        (21000..32000).filter(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok()).take(n).collect();
    if ports.len() < n {
        bail!("found only {} free loopback ports in 21000–32000", ports.len());
    }
    Ok(ports)
}

/// The node's Prometheus page, each metric summed over its labels.
fn scrape(port: u16) -> anyhow::Result<BTreeMap<String, f64>> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    let mut out = BTreeMap::new();
    for line in body.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let Some((name_labels, value)) = line.rsplit_once(' ') else { continue };
        let name = name_labels.split('{').next().unwrap_or(name_labels);
        if let Ok(v) = value.parse::<f64>() {
            *out.entry(name.to_string()).or_default() += v;
        }
    }
    Ok(out)
}

/// Sum of `metric` over all nodes.
fn total(scrapes: &[BTreeMap<String, f64>], metric: &str) -> f64 {
    scrapes.iter().map(|m| m.get(metric).copied().unwrap_or(0.0)).sum()
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Median, minimum and maximum of one figure over the rounds.
fn spread(v: &[f64]) -> serde_json::Value {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let median = if s.is_empty() {
        0.0
    } else if s.len() % 2 == 1 {
        s[s.len() / 2]
    } else {
        (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0
    };
    serde_json::json!({"median": median, "min": s.first().copied().unwrap_or(0.0), "max": s.last().copied().unwrap_or(0.0)})
}

fn fmt_spread(v: &serde_json::Value, unit: &str, decimals: usize) -> String {
    let f = |k: &str| v[k].as_f64().unwrap_or(0.0);
    format!("{:.d$}{unit} [{:.d$}–{:.d$}]", f("median"), f("min"), f("max"), d = decimals)
}

/// What one round measured.
struct Round {
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
    /// Delivery to one node (every item and receiving node): median and 90th percentile.
    one_p50: f64,
    one_p90: f64,
    ratio: f64,
    /// Gossip messages a node received per published item, duplicates included.
    msgs_in: f64,
    /// The same after gossipsub's duplicate filter (1.0 when every node got each item once).
    msgs_in_unique: f64,
    /// Gossip bytes a node received per item, duplicates included.
    bytes_in: f64,
    /// Gossip messages a node sent per item.
    msgs_out: f64,
    /// IWANT requests a node sent per item (items learnt of by gossip, not the mesh).
    iwant: f64,
    /// Connected peers per node at the end of the round (mean, max) and connections opened
    /// per node during it (churn).
    peers_mean: f64,
    peers_max: f64,
    opened: f64,
    cpu_mean: f64,
    cpu_max: f64,
    /// CPU per item received, per receiving node (n0, the publisher, left out), in ms.
    cpu_per_item_ms: f64,
    publish_secs: f64,
    /// While publishing: CPU cores all nodes used together, and how long a node thread that was
    /// ready to run waited for a CPU, on average (the machine's saturation).
    busy_cores: f64,
    cpu_wait_ms: f64,
}

/// Items received from peers and stored (any kind), per node.
const ITEMS_IN: &str = "trellis_items_in_total";
const RECV_ALL: &str = "trellis_gossipsub_topic_msg_recv_counts_unfiltered_total";
const RECV_UNIQUE: &str = "trellis_gossipsub_topic_msg_recv_counts_total";
const RECV_BYTES: &str = "trellis_gossipsub_topic_msg_recv_bytes_unfiltered_total";
const SENT: &str = "trellis_gossipsub_topic_msg_sent_counts_total";
const IWANT: &str = "trellis_gossipsub_topic_iwant_msgs_total";
const OPENED: &str = "trellis_connections_opened_total";

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let bins = Bins::locate()?;
    let dir = tempfile::tempdir()?;
    let rt = tokio::runtime::Runtime::new()?;
    eprintln!("starting {} nodes…", args.nodes);
    // Each node serves its metrics on its own loopback port (config.toml in its home).
    let ports = free_ports(args.nodes)?;
    for (i, port) in ports.iter().enumerate() {
        let home = dir.path().join(format!("n{i}"));
        std::fs::create_dir_all(&home)?;
        std::fs::write(home.join("config.toml"), format!("metrics_listen = \"127.0.0.1:{port}\"\n"))?;
    }
    let t0 = Instant::now();
    let first = Daemon::start(&bins, "n0", &dir.path().join("n0"), &[])?;
    let first_addr = {
        let s: serde_json::Value = bins.json(&first.home, &["status"])?;
        s["listen_addrs"][0].as_str().context("n0 has no listen address")?.to_string()
    };
    let startup_first = t0.elapsed();
    let mut nodes = vec![first];
    for i in 1..args.nodes {
        nodes.push(Daemon::start(
            &bins,
            &format!("n{i}"),
            &dir.path().join(format!("n{i}")),
            std::slice::from_ref(&first_addr),
        )?);
    }
    let clients: Vec<Client> = nodes.iter().map(|n| Client::new(&n.home)).collect();
    rt.block_on(async {
        let _: Created = clients[0]
            .post("/v1/groups", &CreateGroup { name: "bench".into(), kind: trellis_api::types::GroupKind::Sector })
            .await?;
        for c in &clients[1..] {
            let id: IdInfo = c.get("/v1/id").await?;
            let tok: InviteToken = clients[0]
                .post(
                    "/v1/groups/bench/invite",
                    &InviteRequest { card: id.card, role: trellis_api::types::Role::Member },
                )
                .await?;
            let _: GroupInfo = c.post("/v1/groups/join", &JoinRequest { token: tok.token }).await?;
        }
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let mut ready = 0;
            for c in &clients {
                let g: Vec<GroupInfo> = c.get("/v1/groups").await?;
                if g.first().is_some_and(|g| g.members == args.nodes && g.role.is_some() && g.peers > 0) {
                    ready += 1;
                }
            }
            if ready == clients.len() {
                break;
            }
            if Instant::now() > deadline {
                bail!("group did not form: {ready}/{} nodes ready", clients.len());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        anyhow::Ok(())
    })?;
    eprintln!("group formed in {:.1} s; idling 5 s", t0.elapsed().as_secs_f64());
    let idle_start: Vec<(f64, u64, u64)> = nodes.iter().map(|n| proc_usage(n.pid().unwrap_or(0))).collect();
    let idle_t = Instant::now();
    std::thread::sleep(Duration::from_secs(5));
    let idle: Vec<(f64, u64, u64)> = nodes.iter().map(|n| proc_usage(n.pid().unwrap_or(0))).collect();
    // Share of one core each node uses while the group is formed and quiet.
    let idle_cpu: Vec<f64> =
        idle.iter().zip(&idle_start).map(|(a, b)| (a.0 - b.0) / idle_t.elapsed().as_secs_f64() * 100.0).collect();

    let summary = "x".repeat(args.size.saturating_sub(200));
    for (rate, items) in args.rates.iter().copied().zip(args.items.iter().copied()) {
        let interval = Duration::from_secs_f64(1.0 / rate);
        let mut rounds = Vec::new();
        for round in 0..args.rounds {
            let before_usage: Vec<(f64, u64, u64)> = nodes.iter().map(|n| proc_usage(n.pid().unwrap_or(0))).collect();
            let before: Vec<_> = ports.iter().map(|p| scrape(*p)).collect::<anyhow::Result<_>>()?;
            let pids: Vec<u32> = nodes.iter().filter_map(|n| n.pid()).collect();
            let sched_before = sched_threads(&pids);
            let mut ids = Vec::new();
            let publish_start = Instant::now();
            rt.block_on(async {
                let mut tick = tokio::time::interval(interval);
                for i in 0..items {
                    tick.tick().await;
                    let req = PublishAdvisory::text(
                        "bench",
                        trellis_api::types::Tlp::Green,
                        &format!("scale rate {rate} round {round} item {i}"),
                        &summary,
                    );
                    let c: Created = clients[0].post("/v1/advisories", &req).await?;
                    ids.push(c.id);
                }
                anyhow::Ok(())
            })?;
            let publish_secs = publish_start.elapsed().as_secs_f64();
            let (busy_cores, cpu_wait_ms) = machine_load(&sched_before, &sched_threads(&pids), publish_secs);
            // Wait for delivery by watching each node's count of items stored from the network
            // (a cheap metrics scrape), and take the CPU figures as soon as every node has them:
            // listing every node's advisories while waiting would add the harness's own queries
            // to the nodes' CPU per item. The lists are read once, after the CPU is taken.
            let wait_deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let now: Vec<_> = ports.iter().map(|p| scrape(*p)).collect::<anyhow::Result<_>>()?;
                let arrived = now.iter().zip(&before).skip(1).all(|(a, b)| {
                    a.get(ITEMS_IN).copied().unwrap_or(0.0) - b.get(ITEMS_IN).copied().unwrap_or(0.0) >= items as f64
                });
                if arrived || Instant::now() > wait_deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let after_usage: Vec<(f64, u64, u64)> = nodes.iter().map(|n| proc_usage(n.pid().unwrap_or(0))).collect();
            let after: Vec<_> = ports.iter().map(|p| scrape(*p)).collect::<anyhow::Result<_>>()?;
            let (worst, mut each, delivered) = rt.block_on(async {
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    let mut worst = vec![0u64; ids.len()];
                    let mut each = Vec::new();
                    let mut delivered = 0usize;
                    for (n, c) in clients.iter().enumerate() {
                        let list: Vec<AdvisoryView> = c.get("/v1/advisories").await?;
                        for (i, id) in ids.iter().enumerate() {
                            if let Some(a) = list.iter().find(|a| &a.id == id) {
                                delivered += 1;
                                let took = a.received_ms.saturating_sub(a.published_ms);
                                worst[i] = worst[i].max(took);
                                if n > 0 {
                                    each.push(took);
                                }
                            }
                        }
                    }
                    if delivered == ids.len() * clients.len() || Instant::now() > deadline {
                        return anyhow::Ok((worst, each, delivered));
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            })?;
            let per_node_item = |m: &str| (total(&after, m) - total(&before, m)) / (args.nodes * items) as f64;
            let mut sorted = worst;
            sorted.sort();
            each.sort();
            let cpu: Vec<f64> = after_usage.iter().zip(&before_usage).map(|(a, b)| a.0 - b.0).collect();
            let r = Round {
                p50: pct(&sorted, 0.5) as f64,
                p95: pct(&sorted, 0.95) as f64,
                p99: pct(&sorted, 0.99) as f64,
                max: sorted.last().copied().unwrap_or(0) as f64,
                one_p50: pct(&each, 0.5) as f64,
                one_p90: pct(&each, 0.9) as f64,
                ratio: delivered as f64 / (ids.len() * clients.len()) as f64,
                msgs_in: per_node_item(RECV_ALL),
                msgs_in_unique: per_node_item(RECV_UNIQUE),
                bytes_in: per_node_item(RECV_BYTES),
                msgs_out: per_node_item(SENT),
                iwant: per_node_item(IWANT),
                peers_mean: total(&after, "trellis_peers") / args.nodes as f64,
                peers_max: after.iter().map(|m| m.get("trellis_peers").copied().unwrap_or(0.0)).fold(0.0, f64::max),
                opened: (total(&after, OPENED) - total(&before, OPENED)) / args.nodes as f64,
                cpu_mean: cpu.iter().sum::<f64>() / cpu.len().max(1) as f64,
                cpu_max: cpu.iter().cloned().fold(0.0, f64::max),
                cpu_per_item_ms: cpu.iter().skip(1).sum::<f64>() / (cpu.len().max(2) - 1) as f64 / items as f64
                    * 1000.0,
                publish_secs,
                busy_cores,
                cpu_wait_ms,
            };
            println!(
                "round {}: p50 {} ms, p95 {} ms, p99 {} ms, max {} ms (to one node: p50 {} ms, p90 {} ms); delivered {:.4}; per node per item: {:.2} msgs in \
                 ({:.2} after dedup), {:.0} B in, {:.2} msgs out, {:.3} IWANT; peers {:.1} mean / {:.0} max, {:.2} \
                 connections opened per node; CPU {:.2} s mean / {:.2} s max per node, {:.3} ms per item per receiving node; publishing took {:.1} s, \
                 the nodes used {:.2} cores and a ready thread waited {:.2} ms for a CPU",
                round + 1,
                r.p50,
                r.p95,
                r.p99,
                r.max,
                r.one_p50,
                r.one_p90,
                r.ratio,
                r.msgs_in,
                r.msgs_in_unique,
                r.bytes_in,
                r.msgs_out,
                r.iwant,
                r.peers_mean,
                r.peers_max,
                r.opened,
                r.cpu_mean,
                r.cpu_max,
                r.cpu_per_item_ms,
                r.publish_secs,
                r.busy_cores,
                r.cpu_wait_ms
            );
            rounds.push(r);
        }
        let usage: Vec<(f64, u64, u64)> = nodes.iter().map(|n| proc_usage(n.pid().unwrap_or(0))).collect();
        let col = |f: fn(&Round) -> f64| spread(&rounds.iter().map(f).collect::<Vec<_>>());
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let idle_rss: Vec<f64> = idle.iter().map(|u| u.2 as f64 / 1024.0).collect();
        let peak: Vec<f64> = usage.iter().map(|u| u.1 as f64 / 1024.0).collect();
        let report = serde_json::json!({
            "nodes": args.nodes, "rate_per_s": rate, "items_per_round": items, "size_bytes": args.size,
            "rounds": args.rounds,
            "delivery_ms_to_all": {"p50": col(|r| r.p50), "p95": col(|r| r.p95), "p99": col(|r| r.p99), "max": col(|r| r.max)},
            "delivery_ms_to_one_node": {"p50": col(|r| r.one_p50), "p90": col(|r| r.one_p90)},
            "delivery_ratio": col(|r| r.ratio),
            "per_node_per_item": {
                "gossip_msgs_in": col(|r| r.msgs_in), "gossip_msgs_in_after_dedup": col(|r| r.msgs_in_unique),
                "gossip_bytes_in": col(|r| r.bytes_in), "gossip_msgs_out": col(|r| r.msgs_out), "iwant": col(|r| r.iwant),
            },
            "cpu_seconds_per_node_per_round": {"mean": col(|r| r.cpu_mean), "max": col(|r| r.cpu_max)},
            "cpu_ms_per_item_per_receiving_node": col(|r| r.cpu_per_item_ms),
            "connected_peers_per_node": {"mean": col(|r| r.peers_mean), "max": col(|r| r.peers_max)},
            "connections_opened_per_node_per_round": col(|r| r.opened),
            "publish_seconds": col(|r| r.publish_secs),
            "while_publishing": {"cores_used_by_all_nodes": col(|r| r.busy_cores), "mean_wait_for_a_cpu_ms": col(|r| r.cpu_wait_ms)},
            "idle_cpu_percent_of_a_core": {"mean": mean(&idle_cpu), "max": idle_cpu.iter().cloned().fold(0.0, f64::max)},
            "idle_rss_mib": {"mean": mean(&idle_rss), "max": idle_rss.iter().cloned().fold(0.0, f64::max)},
            "peak_rss_mib": {"mean": mean(&peak), "max": peak.iter().cloned().fold(0.0, f64::max)},
            "first_node_start_to_ready_ms": startup_first.as_millis() as u64,
        });
        let d = &report["delivery_ms_to_all"];
        let n = &report["per_node_per_item"];
        println!(
            "nodes {} | rate {}/s | {} items × {} rounds | size {} B — median [min–max] over rounds",
            args.nodes, rate, items, args.rounds, args.size
        );
        println!(
            "delivery to all: p50 {}, p95 {}, p99 {}, max {}; ratio {}",
            fmt_spread(&d["p50"], " ms", 0),
            fmt_spread(&d["p95"], " ms", 0),
            fmt_spread(&d["p99"], " ms", 0),
            fmt_spread(&d["max"], " ms", 0),
            fmt_spread(&report["delivery_ratio"], "", 4)
        );
        println!(
            "per node per item: gossip msgs in {} (after dedup {}), bytes in {}, msgs out {}, IWANT {}",
            fmt_spread(&n["gossip_msgs_in"], "", 2),
            fmt_spread(&n["gossip_msgs_in_after_dedup"], "", 2),
            fmt_spread(&n["gossip_bytes_in"], " B", 0),
            fmt_spread(&n["gossip_msgs_out"], "", 2),
            fmt_spread(&n["iwant"], "", 3)
        );
        println!(
            "per node: idle CPU {:.1} % of a core mean; CPU per round {} mean, {} max; CPU per item received {} per receiving node; RSS idle {:.1} MiB mean, peak {:.1} MiB max; n0 start to ready {} ms",
            mean(&idle_cpu),
            fmt_spread(&report["cpu_seconds_per_node_per_round"]["mean"], " s", 2),
            fmt_spread(&report["cpu_seconds_per_node_per_round"]["max"], " s", 2),
            fmt_spread(&report["cpu_ms_per_item_per_receiving_node"], " ms", 3),
            mean(&idle_rss),
            peak.iter().cloned().fold(0.0, f64::max),
            startup_first.as_millis()
        );
        println!(
            "machine while publishing: the nodes used {} cores; a thread ready to run waited {} for a CPU, on average",
            fmt_spread(&report["while_publishing"]["cores_used_by_all_nodes"], "", 2),
            fmt_spread(&report["while_publishing"]["mean_wait_for_a_cpu_ms"], " ms", 2)
        );
        println!("{report}");
    }
    drop(nodes);
    Ok(())
}
