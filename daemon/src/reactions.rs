//! Reactions to stored items, off the receive path (docs/ARCHITECTURE.md, "Receive").
//!
//! Storing an advisory has consequences that delivery does not wait for: watchers of the event
//! stream get its view (which reads the store and counts endorsements), and it is matched against
//! the organization's SBOMs. The commit path only hands the item to a bounded queue
//! ([`Reactions::emit`], never blocking); one reactions thread takes everything waiting, loads the
//! parsed SBOMs once for the whole batch (they are parsed once and indexed by package name,
//! `engine/sbom.rs`), and reacts to each item.
//!
//! The engine holds only the queue side ([`Reactions`]: emit, counts). The thread is started by
//! whoever runs the node ([`start`], next to the gossip threads in `lib.rs::run`) with an
//! `Arc<Engine>`, and the handle it returns ([`ReactionsThread`]) stops and joins it on `stop` or
//! drop, so no reference to the engine (and its open store) outlives a stopped node.
//!
//! When the queue is full, the item is not queued but not forgotten either: the queue remembers
//! the earliest receive time of what it had to leave out (and counts it, `dropped`), and the thread
//! then reacts again to every advisory stored since that time, read back from the store. So a
//! burst can delay a reaction, or (for an item both queued and read back) repeat it, but never
//! lose it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use trellis_proto::envelope::Envelope;
use trellis_proto::items::Advisory;
use trellis_proto::{Kind, Payload};

use crate::engine::Engine;

/// Reactions waiting at most; beyond, they are recomputed from the store.
pub const REACTIONS_QUEUE: usize = 4096;

/// Most reactions handled in one batch (one load of the SBOMs).
const BATCH: usize = 256;

/// A stored item to react to.
#[derive(Debug)]
pub struct Reaction {
    pub env: Envelope,
    pub advisory: Advisory,
    /// When it was stored (the start of its storing transaction).
    pub received_ms: u64,
}

/// The queue side, held by the engine: the commit path emits into it, and it counts. The thread
/// that empties it is started by whoever runs the node ([`start`]) and holds the engine strongly
/// until it is stopped; the engine holds no reference to the thread.
#[derive(Debug, Default)]
pub struct Reactions {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    queue: Mutex<VecDeque<Reaction>>,
    ready: Condvar,
    capacity: AtomicUsize,
    /// Earliest receive time of an item left out because the queue was full (`u64::MAX`: none).
    missed_since: AtomicU64,
    /// Items left out because the queue was full, since start.
    dropped: AtomicU64,
    /// Items reacted to, since start (queued or read back).
    handled: AtomicU64,
    /// A reactions thread is running on this queue (at most one).
    running: AtomicBool,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            queue: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
            capacity: AtomicUsize::new(REACTIONS_QUEUE),
            missed_since: AtomicU64::new(u64::MAX),
            dropped: AtomicU64::new(0),
            handled: AtomicU64::new(0),
            running: AtomicBool::new(false),
        }
    }
}

impl Reactions {
    /// Change how many reactions may wait (tuning and tests; what is already queued stays).
    pub fn set_capacity(&self, n: usize) {
        self.shared.capacity.store(n, Ordering::Relaxed);
    }

    /// Hand a stored advisory to the reactions thread. Never blocks on the thread's work: when the
    /// queue is full, the item is left out, counted, and recomputed from the store later.
    pub fn emit(&self, r: Reaction) {
        let full = match self.shared.queue.lock() {
            Ok(mut q) if q.len() < self.shared.capacity.load(Ordering::Relaxed) => {
                q.push_back(r);
                None
            }
            Ok(_) | Err(_) => Some(r.received_ms),
        };
        if let Some(t) = full {
            self.shared.missed_since.fetch_min(t, Ordering::Relaxed);
            let n = self.shared.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "reactions queue full: the advisories left out are matched from the store");
            }
        }
        self.shared.ready.notify_one();
    }

    /// (left out because the queue was full, reacted to) since start.
    pub fn counts(&self) -> (u64, u64) {
        (self.shared.dropped.load(Ordering::Relaxed), self.shared.handled.load(Ordering::Relaxed))
    }
}

/// Start the reactions thread on `engine`'s queue. The thread holds the engine until the
/// returned handle is stopped or dropped (both stop the thread after its current batch and wait
/// for it), so a node's runner stops it before it closes the store. One thread per engine at a
/// time: a second start while one runs is refused.
pub fn start(engine: Arc<Engine>) -> std::io::Result<ReactionsThread> {
    let shared = Arc::clone(&engine.reactions().shared);
    if shared.running.swap(true, Ordering::SeqCst) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "a reactions thread already runs for this engine",
        ));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let spawned = {
        let (shared, stop) = (Arc::clone(&shared), Arc::clone(&stop));
        std::thread::Builder::new().name("reactions".into()).spawn(move || run(&shared, &engine, &stop))
    };
    match spawned {
        Ok(thread) => Ok(ReactionsThread { shared, stop, thread: Some(thread) }),
        Err(e) => {
            shared.running.store(false, Ordering::SeqCst);
            Err(e)
        }
    }
}

/// The running reactions thread; stopping or dropping it stops the thread and waits for it.
#[derive(Debug)]
pub struct ReactionsThread {
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ReactionsThread {
    /// Stop the thread after its current batch, and wait for it (it then holds the engine no
    /// more).
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        let Some(thread) = self.thread.take() else { return };
        self.stop.store(true, Ordering::SeqCst);
        {
            // Taking the queue's lock orders the flag before the thread's next wait: it either
            // sees the flag before waiting or is waiting when it is woken.
            let _q = self.shared.queue.lock();
            self.shared.ready.notify_all();
        }
        let _ = thread.join();
        self.shared.running.store(false, Ordering::SeqCst);
    }
}

impl Drop for ReactionsThread {
    fn drop(&mut self) {
        self.halt();
    }
}

impl Shared {
    /// Up to [`BATCH`] waiting reactions, waiting at most `wait` for the first (less when
    /// `stop` is set).
    fn take(&self, wait: Duration, stop: &AtomicBool) -> Vec<Reaction> {
        let Ok(mut q) = self.queue.lock() else { return Vec::new() };
        if q.is_empty() && self.missed_since.load(Ordering::Relaxed) == u64::MAX && !stop.load(Ordering::SeqCst) {
            q = match self.ready.wait_timeout(q, wait) {
                Ok((q, _)) => q,
                Err(_) => return Vec::new(),
            };
        }
        let n = q.len().min(BATCH);
        q.drain(..n).collect()
    }
}

/// The reactions thread: takes what waits, reacts, until `stop`.
fn run(shared: &Shared, e: &Engine, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        let batch = shared.take(Duration::from_millis(200), stop);
        let missed = shared.missed_since.swap(u64::MAX, Ordering::Relaxed);
        if batch.is_empty() && missed == u64::MAX {
            continue;
        }
        let sboms = e.sbom_snapshot();
        for r in &batch {
            react(e, &sboms, &r.env, &r.advisory);
        }
        shared.handled.fetch_add(batch.len() as u64, Ordering::Relaxed);
        if missed != u64::MAX {
            let n = recompute_since(e, &sboms, missed);
            shared.handled.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// React again to every advisory stored from `since_ms` on, read back from the store.
fn recompute_since(e: &Engine, sboms: &crate::engine::sbom::Snapshot, since_ms: u64) -> u64 {
    let mut n = 0;
    for g in e.group_ids() {
        let Ok(ids) = e.store().group_item_ids_since(&g, Kind::Advisory, since_ms) else { continue };
        for id in ids {
            if let Ok(Some(item)) = e.store().get_item(&id)
                && let Some((env, Payload::Advisory(a))) = item.open()
            {
                react(e, sboms, &env, &a);
                n += 1;
            }
        }
    }
    n
}

/// What storing one advisory leads to: its view for watchers, its SBOM matches.
fn react(e: &Engine, sboms: &crate::engine::sbom::Snapshot, env: &Envelope, a: &Advisory) {
    // Rendering the view reads the store: only when someone is watching.
    if e.events().receiver_count() > 0
        && let Some(view) = e.advisory_view_of(env)
    {
        let _ = e.events().send(crate::api::types::Event::Advisory { advisory: Box::new(view) });
    }
    // A first publication whose revisions came first (§4.9): its latest revision counts, and was
    // matched when it was stored.
    if !e.has_revisions(&env.header.group, &env.id) {
        e.match_advisory_with(sboms, env, a);
    } else if let Ok(Some(held)) = e.held_advisory(&env.id)
        && held.withdrawn().is_none()
    {
        let (latest, latest_env, _) = held.latest();
        e.match_advisory_with(sboms, latest_env, &latest.advisory);
    }
}
