//! How far a running feed is: documents looked at so far and, once the listing is read, how
//! many there are. Kept in memory only, per feed, while a run lasts, by the engine's feeds owner
//! ([`super::state::Feeds`]); `GET /v1/feeds/{id}/progress` reads it (`trellis feed run` shows it
//! as a progress line).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Clone, Copy, Debug, Default)]
struct State {
    done: u64,
    total: Option<u64>,
    started_ms: u64,
}

type Table = Arc<Mutex<HashMap<String, State>>>;

/// The progress of the runs going on now, by feed id. A poisoned lock is recovered: every change
/// is one insert, remove or increment of one feed's entry.
#[derive(Debug, Default)]
pub struct Progress {
    table: Table,
}

fn lock(t: &Table) -> MutexGuard<'_, HashMap<String, State>> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

impl Progress {
    /// A run of `feed` begins at `now_ms`; its entry lasts as long as the returned tracker.
    pub fn start(&self, feed: &str, now_ms: u64) -> Tracker {
        lock(&self.table).insert(feed.to_string(), State { started_ms: now_ms, ..State::default() });
        Tracker { table: Arc::clone(&self.table), key: feed.to_string() }
    }

    /// `(done, total, started_ms)` of the feed's run now, if one is running.
    pub fn current(&self, feed: &str) -> Option<(u64, Option<u64>, u64)> {
        lock(&self.table).get(feed).map(|s| (s.done, s.total, s.started_ms))
    }
}

/// The progress of one run; dropping it ends the run's entry.
pub struct Tracker {
    table: Table,
    key: String,
}

impl Tracker {
    /// The number of documents the run will look at, once known (added to what was known).
    pub fn add_total(&self, n: u64) {
        if let Some(s) = lock(&self.table).get_mut(&self.key) {
            s.total = Some(s.total.unwrap_or(0).saturating_add(n));
        }
    }

    /// One more document looked at.
    pub fn step(&self) {
        if let Some(s) = lock(&self.table).get_mut(&self.key) {
            s.done = s.done.saturating_add(1);
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        lock(&self.table).remove(&self.key);
    }
}
