//! `scale`: the benchmark harness at scale (issue "Benchmarks at scale"). Starts N real
//! `trellisd` processes on loopback, forms one group, publishes advisories of a given size at a
//! given rate from one node, and reports per-item delivery time to all nodes, delivery ratio,
//! and CPU seconds and peak RSS per node, as a table and as JSON.
//!
//! Run (release binaries recommended):
//!   cargo build --release -p trellis-daemon -p trellis-cli
//!   TRELLIS_BIN_DIR=target/release cargo run --release -p trellis-tests --bin scale -- --nodes 10 --rate 10 --items 50 --size 4096
//!
//! Bytes and messages per node per item are not measured here: the daemon does not count
//! bytes per message (the fault harness measures link bytes in namespaces instead).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use trellis_daemon::api::client::Client;
use trellis_daemon::api::types::{
    AdvisoryView, CreateGroup, Created, GroupInfo, IdInfo, InviteRequest, InviteToken, JoinRequest, PublishAdvisory,
};
use trellis_tests::{Bins, Daemon};

struct Args {
    nodes: usize,
    rate: f64,
    items: usize,
    size: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args { nodes: 10, rate: 10.0, items: 50, size: 4096 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--nodes" => a.nodes = v.parse()?,
            "--rate" => a.rate = v.parse()?,
            "--items" => a.items = v.parse()?,
            "--size" => a.size = v.parse()?,
            _ => bail!("unknown flag {flag}; use --nodes N --rate ITEMS_PER_S --items K --size BYTES"),
        }
    }
    if a.nodes < 2 || a.rate <= 0.0 || a.items == 0 {
        bail!("need --nodes >= 2, --rate > 0, --items > 0");
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

fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let bins = Bins::locate()?;
    let dir = tempfile::tempdir()?;
    let rt = tokio::runtime::Runtime::new()?;
    eprintln!("starting {} nodes…", args.nodes);
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
        let _: Created =
            clients[0].post("/v1/groups", &CreateGroup { name: "bench".into(), kind: "sector".into() }).await?;
        for c in &clients[1..] {
            let id: IdInfo = c.get("/v1/id").await?;
            let tok: InviteToken = clients[0]
                .post("/v1/groups/bench/invite", &InviteRequest { card: id.card, role: "member".into() })
                .await?;
            let _: GroupInfo = c.post("/v1/groups/join", &JoinRequest { token: tok.token }).await?;
        }
        let deadline = Instant::now() + Duration::from_secs(120);
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
    std::thread::sleep(Duration::from_secs(5));
    let idle: Vec<(f64, u64, u64)> = nodes.iter().map(|n| proc_usage(n.pid().unwrap_or(0))).collect();

    // Publish.
    let summary = "x".repeat(args.size.saturating_sub(200));
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let mut ids = Vec::new();
    let publish_start = Instant::now();
    rt.block_on(async {
        let mut tick = tokio::time::interval(interval);
        for i in 0..args.items {
            tick.tick().await;
            let req = PublishAdvisory {
                group: "bench".into(),
                tlp: "green".into(),
                title: format!("scale item {i}"),
                summary: summary.clone(),
                category: None,
                severity: None,
                aliases: vec![],
                affects: vec![],
                references: vec![],
                remediation: None,
                to: vec![],
            };
            let c: Created = clients[0].post("/v1/advisories", &req).await?;
            ids.push(c.id);
        }
        anyhow::Ok(())
    })?;
    let publish_secs = publish_start.elapsed().as_secs_f64();
    // Collect.
    let (worst, delivered) = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut worst = vec![0u64; ids.len()];
            let mut delivered = 0usize;
            for c in &clients {
                let list: Vec<AdvisoryView> = c.get("/v1/advisories").await?;
                for (i, id) in ids.iter().enumerate() {
                    if let Some(a) = list.iter().find(|a| &a.id == id) {
                        delivered += 1;
                        worst[i] = worst[i].max(a.received_ms.saturating_sub(a.published_ms));
                    }
                }
            }
            if delivered == ids.len() * clients.len() || Instant::now() > deadline {
                return anyhow::Ok((worst, delivered));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })?;
    let usage: Vec<(f64, u64, u64)> = nodes.iter().map(|n| proc_usage(n.pid().unwrap_or(0))).collect();
    let mut sorted = worst.clone();
    sorted.sort();
    let ratio = delivered as f64 / (ids.len() * clients.len()) as f64;
    let cpu: Vec<f64> = usage.iter().zip(&idle).map(|(u, i)| u.0 - i.0).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let idle_rss: Vec<f64> = idle.iter().map(|u| u.2 as f64 / 1024.0).collect();
    let peak: Vec<f64> = usage.iter().map(|u| u.1 as f64 / 1024.0).collect();
    let report = serde_json::json!({
        "nodes": args.nodes, "rate_per_s": args.rate, "items": args.items, "size_bytes": args.size,
        "publish_seconds": publish_secs,
        "delivery_ms_to_all": {"p50": pct(&sorted, 0.5), "p95": pct(&sorted, 0.95), "p99": pct(&sorted, 0.99), "max": sorted.last().copied().unwrap_or(0)},
        "delivery_ratio": ratio,
        "cpu_seconds_per_node_during_publish": {"mean": mean(&cpu), "max": cpu.iter().cloned().fold(0.0, f64::max)},
        "idle_rss_mib": {"mean": mean(&idle_rss), "max": idle_rss.iter().cloned().fold(0.0, f64::max)},
        "peak_rss_mib": {"mean": mean(&peak), "max": peak.iter().cloned().fold(0.0, f64::max)},
        "first_node_start_to_ready_ms": startup_first.as_millis() as u64,
    });
    println!("nodes {:>4} | rate {:>5}/s | items {:>4} | size {:>6} B", args.nodes, args.rate, args.items, args.size);
    println!(
        "delivery to all: p50 {} ms, p95 {} ms, p99 {} ms, max {} ms; ratio {:.4}",
        pct(&sorted, 0.5),
        pct(&sorted, 0.95),
        pct(&sorted, 0.99),
        sorted.last().copied().unwrap_or(0),
        ratio
    );
    println!(
        "per node: CPU {:.2} s mean / {:.2} s max during publishing; RSS idle {:.1} MiB mean, peak {:.1} MiB max",
        mean(&cpu),
        cpu.iter().cloned().fold(0.0, f64::max),
        mean(&idle_rss),
        peak.iter().cloned().fold(0.0, f64::max)
    );
    println!("{report}");
    drop(nodes);
    Ok(())
}
