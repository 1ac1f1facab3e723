//! The feeds owner: what the engine keeps in memory about its feeds, one per engine
//! (`Engine::feeds`), so two engines in one process share nothing. It holds the turn of reading
//! and writing `feeds.json`, the feeds being run now, and their progress.
//!
//! Poisoned locks are recovered: the file turn guards no data (the file is written whole and
//! renamed), and the running set and progress change one entry at a time.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use super::progress::Progress;

/// The feeds' in-memory state (see the module doc).
#[derive(Debug, Default)]
pub struct Feeds {
    /// Serializes reads and writes of `feeds.json`.
    file: Mutex<()>,
    /// Feeds being run now, by id: one run per feed at a time.
    running: Arc<Mutex<HashSet<String>>>,
    progress: Progress,
}

impl Feeds {
    /// The turn of reading or writing `feeds.json`, held while it lasts.
    pub(super) fn file_turn(&self) -> MutexGuard<'_, ()> {
        self.file.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Mark `feed` as running; `None` when it already is. The feed is free again when the
    /// returned slot is dropped.
    pub(super) fn begin_run(&self, feed: &str) -> Option<RunSlot> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.insert(feed.to_string()).then(|| RunSlot { running: Arc::clone(&self.running), feed: feed.to_string() })
    }

    /// Whether `feed` is being run now.
    pub fn is_running(&self, feed: &str) -> bool {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).contains(feed)
    }

    /// The progress of the runs going on now.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }
}

/// A feed's run, while it lasts (see [`Feeds::begin_run`]).
pub(super) struct RunSlot {
    running: Arc<Mutex<HashSet<String>>>,
    feed: String,
}

impl Drop for RunSlot {
    fn drop(&mut self) {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.feed);
    }
}
