//! A private network of hosts for fault tests: each host is a network namespace created by the
//! test (`trl-<pid>-<n>-h<i>`), wired to a switch that lives in a namespace of its own, so
//! nothing touches the machine's interfaces and no packet leaves the namespaces. Hosts get
//! 10.231.0.(i+1)/24 on their `eth0`; real `trellisd` processes run inside them with
//! `ip netns exec` ([`NsDaemon`]), while the `trellis` CLI stays in the root namespace (the API
//! socket is a file in the node's home, reachable from anywhere).
//!
//! Two kinds of switch, chosen at creation ([`Links`]):
//! - [`Links::Bridge`]: a kernel bridge per partition side in the switch namespace, one veth
//!   pair per host. A partition moves the ports of each side onto a bridge of their own, so
//!   hosts on one side still reach each other, and TCP connections across the cut go silent
//!   (not reset), as in a real partition. Healing moves them back.
//! - [`Links::Impaired`]: delay and loss on every host's link. With `tc netem` when the kernel
//!   has it (`tc qdisc add dev eth0 root netem delay … loss …` in each host); otherwise (some
//!   VM kernels are built without `sch_netem`) a userspace switch in this process: one TAP
//!   device per host namespace, frames forwarded after the delay and dropped with the given
//!   probability, once per frame and link, as netem on the sender's egress would.
//!
//! Everything is torn down on `Drop`, also while a test unwinds: processes left in the
//! namespaces are killed, the namespaces deleted, the TAP switch stopped. Namespaces left by an
//! earlier run that was itself killed (its pid no longer running) are removed on the next run.
//! Every wait is bounded.

use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Once};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::{Bins, wait_until};

/// TCP port every daemon listens on (each host has its own address).
pub const PORT: u16 = 7420;

/// How the hosts are linked.
#[derive(Clone, Copy, Debug)]
pub enum Links {
    /// Clean links through a kernel bridge; partitions available.
    Bridge,
    /// Every host's link delays each frame by `delay` and drops it with probability `loss`.
    Impaired { delay: Duration, loss: f64 },
}

/// Why fault tests cannot run here, or `Ok` if they can: needs root, `ip netns` and veth.
pub fn available() -> Result<(), String> {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(2).and_then(|u| u.parse::<u32>().ok()));
    if uid != Some(0) {
        return Err(format!("not root (effective uid {uid:?})"));
    }
    let probe = format!("trl-{}-probe", std::process::id());
    let r = ip(&["netns", "add", &probe])
        .and_then(|_| ip(&["-n", &probe, "link", "add", "v0", "type", "veth", "peer", "name", "v1"]));
    let _ = ip(&["netns", "del", &probe]);
    r.map(|_| ()).map_err(|e| format!("{e:#}"))
}

/// Run `ip ARGS…`; its stderr on failure.
fn ip(args: &[&str]) -> anyhow::Result<String> {
    run("ip", args)
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {program} (install iproute2)"))?;
    if !out.status.success() {
        bail!("`{program} {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Remove namespaces of earlier runs whose test process is gone (killed before its `Drop`).
fn remove_stale_namespaces() {
    let Ok(list) = ip(&["netns", "list"]) else { return };
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        let Some(pid) = name.strip_prefix("trl-").and_then(|r| r.split('-').next()) else { continue };
        if pid.parse::<u32>().is_ok() && !Path::new(&format!("/proc/{pid}")).exists() {
            kill_namespace(name);
        }
    }
}

/// Kill every process in namespace `ns` (only daemons this harness started live there), then
/// delete it.
fn kill_namespace(ns: &str) {
    if let Ok(pids) = ip(&["netns", "pids", ns]) {
        for pid in pids.split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", pid]).stderr(Stdio::null()).status();
        }
    }
    let _ = ip(&["netns", "del", ns]);
}

/// Whether this kernel has `sch_netem` (probed on the loopback of namespace `ns`).
fn netem_available(ns: &str) -> bool {
    let ok =
        run("ip", &["netns", "exec", ns, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"]).is_ok();
    let _ = run("ip", &["netns", "exec", ns, "tc", "qdisc", "del", "dev", "lo", "root"]);
    ok
}

/// One host: its namespace and address.
#[derive(Clone, Debug)]
pub struct Host {
    pub ns: String,
    pub ip: Ipv4Addr,
}

/// The network; see the module documentation.
pub struct Net {
    pub hosts: Vec<Host>,
    switch_ns: String,
    bridges: Mutex<usize>,
    tap: Option<TapSwitch>,
    /// Which kind of impairment is in force, for the test's output.
    pub impairment: String,
}

static NEXT_NET: AtomicUsize = AtomicUsize::new(0);
static CLEANUP: Once = Once::new();

impl Net {
    /// Create `n` hosts linked as `links` says.
    pub fn new(n: usize, links: Links) -> anyhow::Result<Net> {
        CLEANUP.call_once(remove_stale_namespaces);
        let prefix = format!("trl-{}-{}", std::process::id(), NEXT_NET.fetch_add(1, Ordering::SeqCst));
        let mut net = Net {
            hosts: (0..n)
                .map(|i| Host { ns: format!("{prefix}-h{i}"), ip: Ipv4Addr::new(10, 231, 0, i as u8 + 1) })
                .collect(),
            switch_ns: format!("{prefix}-sw"),
            bridges: Mutex::new(0),
            tap: None,
            impairment: "none".into(),
        };
        // From here on, `Drop` removes whatever was created.
        for h in &net.hosts {
            ip(&["netns", "add", &h.ns])?;
            ip(&["-n", &h.ns, "link", "set", "lo", "up"])?;
        }
        match links {
            Links::Bridge => net.wire_bridge()?,
            Links::Impaired { delay, loss } => {
                let (delay_s, loss_s) = (format!("{}ms", delay.as_millis()), format!("{}%", loss * 100.0));
                let netem = ["tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay", &delay_s, "loss", &loss_s];
                if netem_available(&net.hosts[0].ns) {
                    net.wire_bridge()?;
                    for h in &net.hosts {
                        run("ip", &[&["netns", "exec", h.ns.as_str()][..], &netem[..]].concat())?;
                    }
                    net.impairment = format!("tc netem delay {delay_s} loss {loss_s} on every host's eth0");
                } else {
                    net.tap = Some(TapSwitch::start(&net.hosts, delay, loss)?);
                    for h in &net.hosts {
                        net.address(h)?;
                    }
                    net.impairment =
                        format!("userspace TAP switch (no sch_netem in this kernel), delay {delay_s} loss {loss_s}");
                }
            }
        }
        Ok(net)
    }

    fn wire_bridge(&self) -> anyhow::Result<()> {
        ip(&["netns", "add", &self.switch_ns])?;
        self.bridge(0)?;
        for (i, h) in self.hosts.iter().enumerate() {
            let port = format!("p{i}");
            ip(&["-n", &self.switch_ns, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &h.ns])?;
            ip(&["-n", &self.switch_ns, "link", "set", &port, "master", "br0", "up"])?;
            self.address(h)?;
        }
        Ok(())
    }

    fn address(&self, h: &Host) -> anyhow::Result<()> {
        ip(&["-n", &h.ns, "addr", "add", &format!("{}/24", h.ip), "dev", "eth0"])?;
        ip(&["-n", &h.ns, "link", "set", "eth0", "up"])?;
        Ok(())
    }

    /// Make sure bridge `br{k}` exists in the switch namespace.
    fn bridge(&self, k: usize) -> anyhow::Result<String> {
        let name = format!("br{k}");
        let mut made = self.bridges.lock().unwrap_or_else(|e| e.into_inner());
        while *made <= k {
            let b = format!("br{}", *made);
            ip(&["-n", &self.switch_ns, "link", "add", &b, "type", "bridge"])?;
            ip(&["-n", &self.switch_ns, "link", "set", &b, "up"])?;
            *made += 1;
        }
        Ok(name)
    }

    /// Cut the network: the hosts of each listed side reach each other only; hosts not listed
    /// form one more side together.
    pub fn partition(&self, sides: &[&[usize]]) -> anyhow::Result<()> {
        let mut side = vec![0; self.hosts.len()];
        for (k, hosts) in sides.iter().enumerate() {
            for &i in *hosts {
                side[i] = k + 1;
            }
        }
        self.apply(&side)
    }

    /// Undo every partition.
    pub fn heal(&self) -> anyhow::Result<()> {
        self.apply(&vec![0; self.hosts.len()])
    }

    fn apply(&self, side: &[usize]) -> anyhow::Result<()> {
        if let Some(tap) = &self.tap {
            *tap.state.side.lock().unwrap_or_else(|e| e.into_inner()) = side.to_vec();
            return Ok(());
        }
        for (i, &k) in side.iter().enumerate() {
            let bridge = self.bridge(k)?;
            ip(&["-n", &self.switch_ns, "link", "set", &format!("p{i}"), "master", &bridge])?;
        }
        Ok(())
    }

    /// Frames the impairment has dropped so far (netem's counters, or the TAP switch's): a
    /// test shows with it that the loss it asked for was in force.
    pub fn dropped_frames(&self) -> anyhow::Result<u64> {
        if let Some(tap) = &self.tap {
            return Ok(tap.state.dropped.load(Ordering::Relaxed));
        }
        let mut total = 0;
        for h in &self.hosts {
            let out = run("ip", &["netns", "exec", &h.ns, "tc", "-s", "qdisc", "show", "dev", "eth0"])?;
            // "Sent 1234 bytes 10 pkt (dropped 2, overlimits 0 requeues 0)"
            total += out
                .split("dropped ")
                .skip(1)
                .filter_map(|r| r.split(|c: char| !c.is_ascii_digit()).next()?.parse::<u64>().ok())
                .sum::<u64>();
        }
        Ok(total)
    }

    /// Bytes received and sent on host `i`'s link so far (the kernel's interface counters).
    pub fn link_bytes(&self, i: usize) -> anyhow::Result<(u64, u64)> {
        let ns = &self.hosts[i].ns;
        let read = |what: &str| -> anyhow::Result<u64> {
            let path = format!("/sys/class/net/eth0/statistics/{what}");
            let s = run("ip", &["netns", "exec", ns, "cat", &path])?;
            s.trim().parse::<u64>().with_context(|| format!("{path} in {ns}: {s:?}"))
        };
        Ok((read("rx_bytes")?, read("tx_bytes")?))
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for h in &self.hosts {
            kill_namespace(&h.ns);
        }
        kill_namespace(&self.switch_ns);
        if let Some(tap) = self.tap.take() {
            tap.stop();
        }
    }
}

/// A `trellisd` running inside a host's namespace, listening on `<host ip>:PORT`. Dropping it
/// kills the process; while a test unwinds (or always, with `TRELLIS_FAULT_LOGS=1`), its logs
/// are printed first.
pub struct NsDaemon {
    pub name: String,
    pub home: PathBuf,
    pub host: Host,
    /// Set once the daemon has answered `status`.
    pub peer_id: String,
    /// When the current run answered `status` with its listen address.
    pub ready_at: Instant,
    bootstrap: Vec<String>,
    child: Option<Child>,
    logs: Vec<PathBuf>,
    bins: Bins,
}

impl NsDaemon {
    /// Start `trellisd --home HOME --name NAME --listen /ip4/IP/tcp/PORT --no-discovery
    /// [--bootstrap ADDR]…` in `host`'s namespace and wait until `trellis status` answers.
    pub fn start(bins: &Bins, host: &Host, name: &str, home: &Path, bootstrap: &[String]) -> anyhow::Result<NsDaemon> {
        let mut d = NsDaemon {
            name: name.to_string(),
            home: home.to_path_buf(),
            host: host.clone(),
            peer_id: String::new(),
            ready_at: Instant::now(),
            bootstrap: bootstrap.to_vec(),
            child: None,
            logs: Vec::new(),
            bins: bins.clone(),
        };
        d.spawn()?;
        Ok(d)
    }

    /// Dialable address with peer id, for `--bootstrap`.
    pub fn addr(&self) -> String {
        format!("/ip4/{}/tcp/{PORT}/p2p/{}", self.host.ip, self.peer_id)
    }

    /// Start again after [`stop`](Self::stop) or [`kill`](Self::kill): same home and flags.
    pub fn spawn(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            bail!("trellisd {} is already running", self.name);
        }
        let parent = self.home.parent().unwrap_or(Path::new("/tmp"));
        let log = parent.join(format!("{}-{}.log", self.name, self.logs.len()));
        self.logs.push(log.clone());
        let listen = format!("/ip4/{}/tcp/{PORT}", self.host.ip);
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.host.ns]).arg(&self.bins.trellisd).arg("--home").arg(&self.home).args([
            "--name",
            &self.name,
            "--listen",
            &listen,
            "--no-discovery",
        ]);
        for b in &self.bootstrap {
            cmd.args(["--bootstrap", b]);
        }
        // `ip netns exec` execs the program in place: the child's pid is the daemon's.
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).with_context(|| format!("create {}", log.display()))?)
            .env_remove("TRELLIS_HOME")
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info,libp2p=warn,libp2p_kad=error".into()))
            .spawn()
            .context("cannot run `ip netns exec` (install iproute2)")?;
        self.child = Some(child);
        let bins = self.bins.clone();
        let mut exited = None;
        let child = &mut self.child;
        let ready = wait_until(&format!("trellisd {} to answer `status`", self.name), Duration::from_secs(60), || {
            if let Some(Ok(Some(status))) = child.as_mut().map(Child::try_wait) {
                exited = Some(status);
                return Some(None);
            }
            let status = bins.json(&self.home, &["status"]).ok()?;
            let listening = status["listen_addrs"].as_array().is_some_and(|a| !a.is_empty());
            listening.then(|| status["peer_id"].as_str().map(str::to_string))
        })?;
        match ready {
            Some(peer) => {
                self.peer_id = peer;
                self.ready_at = Instant::now();
                Ok(())
            }
            None => {
                self.child = None;
                bail!("trellisd {} exited at start ({exited:?}); log:\n{}", self.name, self.logs())
            }
        }
    }

    /// SIGTERM, as an operator would; wait for the exit (SIGKILL after 20 s).
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait()?.is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("trellisd {} did not exit within 20 s of SIGTERM", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// SIGKILL: no chance to flush or say goodbye.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Everything this daemon logged, all runs.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for path in &self.logs {
            s.push_str(&format!("----- {} ({}) -----\n", self.name, path.display()));
            s.push_str(&std::fs::read_to_string(path).unwrap_or_default());
        }
        s
    }
}

impl Drop for NsDaemon {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("TRELLIS_FAULT_LOGS").is_some() {
            eprintln!("{}", self.logs());
        }
        self.kill();
    }
}

/// Wall-clock time as the daemons' logs print it (UTC, `HH:MM:SS.mmm`), to line a test's steps
/// up with the logs.
pub fn utc_now() -> String {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let s = ms / 1000;
    format!("{:02}:{:02}:{:02}.{:03}", (s / 3600) % 24, (s / 60) % 60, s % 60, ms % 1000)
}

// ---------------------------------------------------------------------------------------------
// The userspace switch, for kernels without netem.

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;

/// `struct ifreq` as TUNSETIFF reads it: a name and flags, padded to 40 bytes.
#[repr(C)]
struct IfReq {
    name: [u8; 16],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Create TAP device `eth0` inside namespace `ns`, from a short-lived thread that enters it
/// (`setns` changes only the calling thread's namespace); the returned file stays bound to it.
fn open_tap_in(ns: &str) -> anyhow::Result<File> {
    let path = format!("/run/netns/{ns}");
    std::thread::scope(|s| {
        s.spawn(|| -> anyhow::Result<File> {
            let target = File::open(&path).with_context(|| format!("open {path}"))?;
            // SAFETY: a valid namespace fd; affects only this thread, which ends right after.
            if unsafe { libc::setns(target.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                bail!("setns into {ns}: {}", std::io::Error::last_os_error());
            }
            let tun = std::fs::OpenOptions::new().read(true).write(true).open("/dev/net/tun")?;
            let mut req = IfReq { name: [0; 16], flags: IFF_TAP | IFF_NO_PI, _pad: [0; 22] };
            req.name[..4].copy_from_slice(b"eth0");
            // SAFETY: TUNSETIFF reads and writes a `struct ifreq`, which `IfReq` lays out.
            if unsafe { libc::ioctl(tun.as_raw_fd(), TUNSETIFF as _, &mut req) } != 0 {
                bail!("TUNSETIFF in {ns}: {}", std::io::Error::last_os_error());
            }
            Ok(tun)
        })
        .join()
        .map_err(|_| anyhow::anyhow!("TAP thread panicked"))?
    })
}

/// A frame waiting for its delivery time; ordered by (time, arrival) so a link stays FIFO.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Queued(std::cmp::Reverse<(Instant, u64)>, usize, Vec<u8>);

struct SwitchState {
    ports: Vec<File>,
    /// Partition side per port: frames cross only between ports of one side.
    side: Mutex<Vec<usize>>,
    macs: Mutex<HashMap<[u8; 6], usize>>,
    queue: Mutex<(BinaryHeap<Queued>, u64)>,
    wake: Condvar,
    delay: Duration,
    /// Drop threshold over `u64::MAX`.
    loss: u64,
    rng: Mutex<u64>,
    stop: AtomicBool,
    /// Frames dropped by the loss draw.
    dropped: AtomicU64,
}

struct TapSwitch {
    state: Arc<SwitchState>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl TapSwitch {
    fn start(hosts: &[Host], delay: Duration, loss: f64) -> anyhow::Result<TapSwitch> {
        let ports = hosts.iter().map(|h| open_tap_in(&h.ns)).collect::<anyhow::Result<Vec<_>>>()?;
        let seed =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
        let state = Arc::new(SwitchState {
            side: Mutex::new(vec![0; ports.len()]),
            ports,
            macs: Mutex::new(HashMap::new()),
            queue: Mutex::new((BinaryHeap::new(), 0)),
            wake: Condvar::new(),
            delay,
            loss: (loss.clamp(0.0, 1.0) * u64::MAX as f64) as u64,
            rng: Mutex::new(seed | 1),
            stop: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        });
        let mut threads = Vec::new();
        for port in 0..state.ports.len() {
            let st = Arc::clone(&state);
            threads.push(std::thread::spawn(move || st.read_port(port)));
        }
        let st = Arc::clone(&state);
        threads.push(std::thread::spawn(move || st.deliver()));
        Ok(TapSwitch { state, threads })
    }

    fn stop(self) {
        self.state.stop.store(true, Ordering::SeqCst);
        self.state.wake.notify_all();
        for t in self.threads {
            let _ = t.join();
        }
    }
}

impl SwitchState {
    fn random(&self) -> u64 {
        let mut x = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        // xorshift64: plenty for loss decisions.
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    /// Read frames from one port and queue them for their destinations.
    fn read_port(&self, port: usize) {
        let mut buf = vec![0u8; 65536];
        let fd = self.ports[port].as_raw_fd();
        while !self.stop.load(Ordering::SeqCst) {
            let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd; the timeout lets the thread notice `stop`.
            if unsafe { libc::poll(&mut pfd, 1, 100) } <= 0 {
                continue;
            }
            let n = match (&self.ports[port]).read(&mut buf) {
                Ok(n) if n >= 14 => n,
                Ok(_) => continue,
                Err(_) => return,
            };
            let frame = &buf[..n];
            let (dst, src): ([u8; 6], [u8; 6]) = match (frame[..6].try_into(), frame[6..12].try_into()) {
                (Ok(d), Ok(s)) => (d, s),
                _ => continue,
            };
            let known = {
                let mut macs = self.macs.lock().unwrap_or_else(|e| e.into_inner());
                macs.insert(src, port);
                if dst[0] & 1 == 0 { macs.get(&dst).copied() } else { None }
            };
            let side = self.side.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let targets: Vec<usize> = match known {
                Some(p) => vec![p],
                None => (0..self.ports.len()).collect(),
            };
            let due = Instant::now() + self.delay;
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            for to in targets.into_iter().filter(|&to| to != port && side[to] == side[port]) {
                if self.random() < self.loss {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                q.1 += 1;
                let seq = q.1;
                q.0.push(Queued(std::cmp::Reverse((due, seq)), to, frame.to_vec()));
            }
            drop(q);
            self.wake.notify_all();
        }
    }

    /// Write queued frames to their ports when due.
    fn deliver(&self) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        while !self.stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            let wait = match q.0.peek() {
                Some(Queued(std::cmp::Reverse((due, _)), ..)) if *due <= now => None,
                Some(Queued(std::cmp::Reverse((due, _)), ..)) => Some(*due - now),
                None => Some(Duration::from_millis(100)),
            };
            match wait {
                None => {
                    if let Some(Queued(_, to, frame)) = q.0.pop() {
                        drop(q);
                        let _ = (&self.ports[to]).write(&frame);
                        q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                    }
                }
                Some(w) => {
                    q = self
                        .wake
                        .wait_timeout(q, w.min(Duration::from_millis(100)))
                        .map(|(g, _)| g)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
            }
        }
    }
}
