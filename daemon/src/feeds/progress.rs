//! How far a running feed is: documents looked at so far and, once the listing is read, how
//! many there are. Kept in memory only, per node home and feed, while a run lasts;
//! `GET /v1/feeds/{id}/progress` reads it (`trellis feed run` shows it as a progress line).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

#[derive(Clone, Copy, Debug, Default)]
struct State {
    done: u64,
    total: Option<u64>,
    started_ms: u64,
}

fn table() -> &'static Mutex<HashMap<(PathBuf, String), State>> {
    static T: OnceLock<Mutex<HashMap<(PathBuf, String), State>>> = OnceLock::new();
    T.get_or_init(Default::default)
}

/// The progress of one run; dropping it ends the run's entry.
pub struct Tracker {
    key: (PathBuf, String),
}

impl Tracker {
    pub fn start(home: &Path, feed: &str) -> Tracker {
        let key = (home.to_path_buf(), feed.to_string());
        if let Ok(mut t) = table().lock() {
            t.insert(key.clone(), State { started_ms: crate::home::now_ms(), ..State::default() });
        }
        Tracker { key }
    }

    /// The number of documents the run will look at, once known (added to what was known).
    pub fn add_total(&self, n: u64) {
        if let Ok(mut t) = table().lock()
            && let Some(s) = t.get_mut(&self.key)
        {
            s.total = Some(s.total.unwrap_or(0).saturating_add(n));
        }
    }

    /// One more document looked at.
    pub fn step(&self) {
        if let Ok(mut t) = table().lock()
            && let Some(s) = t.get_mut(&self.key)
        {
            s.done = s.done.saturating_add(1);
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        if let Ok(mut t) = table().lock() {
            t.remove(&self.key);
        }
    }
}

/// `(done, total, started_ms)` of the feed's run now, if one is running.
pub fn current(home: &Path, feed: &str) -> Option<(u64, Option<u64>, u64)> {
    let t = table().lock().ok()?;
    t.get(&(home.to_path_buf(), feed.to_string())).map(|s| (s.done, s.total, s.started_ms))
}
