//! The validation queue (ARCHITECTURE "Receive", PROTOCOL.md §7.2 point 4): gossip messages wait
//! here for a worker of the bounded validation pool, highest publisher trust first, oldest first
//! among equals. When the queue is full the lowest-priority message is dropped (reported to
//! gossipsub as `Ignore`: not relayed, not penalised, recoverable by catch-up sync), so a flood
//! from low-trust publishers cannot delay high-trust ones.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use libp2p::PeerId;
use libp2p::gossipsub::MessageId;
use tokio::sync::Notify;

/// A message waiting for validation.
#[derive(Debug)]
pub struct Job {
    pub source: PeerId,
    pub msg_id: MessageId,
    pub data: Vec<u8>,
}

/// Priority key: trust in thousandths, then arrival order (earlier first).
type Key = (u16, Reverse<u64>);

/// A bounded priority queue of jobs.
#[derive(Debug)]
pub struct ValidationQueue {
    jobs: Mutex<BTreeMap<Key, Job>>,
    notify: Notify,
    next: AtomicU64,
    capacity: usize,
}

impl ValidationQueue {
    pub fn new(capacity: usize) -> Self {
        ValidationQueue { jobs: Mutex::new(BTreeMap::new()), notify: Notify::new(), next: AtomicU64::new(0), capacity }
    }

    /// Queue a job with its publisher's trust; returns a job dropped to make room, if any
    /// (possibly this one, when everything queued outranks it).
    pub fn push(&self, trust: f64, job: Job) -> Option<Job> {
        let key = ((trust.clamp(0.0, 1.0) * 1000.0) as u16, Reverse(self.next.fetch_add(1, Ordering::Relaxed)));
        let evicted = {
            let Ok(mut jobs) = self.jobs.lock() else { return Some(job) };
            if jobs.len() >= self.capacity {
                let lowest = jobs.first_key_value().map(|(k, _)| *k);
                match lowest {
                    Some(low) if low.0 < key.0 => {
                        let dropped = jobs.pop_first().map(|(_, j)| j);
                        jobs.insert(key, job);
                        dropped
                    }
                    _ => return Some(job),
                }
            } else {
                jobs.insert(key, job);
                None
            }
        };
        self.notify.notify_one();
        evicted
    }

    /// Wait for the highest-priority job.
    pub async fn pop(&self) -> Job {
        loop {
            let notified = self.notify.notified();
            if let Some(job) = self.jobs.lock().ok().and_then(|mut j| j.pop_last().map(|(_, job)| job)) {
                return job;
            }
            notified.await;
        }
    }

    /// The highest-priority job, if one is waiting.
    pub fn try_pop(&self) -> Option<Job> {
        self.jobs.lock().ok().and_then(|mut j| j.pop_last().map(|(_, job)| job))
    }

    /// Jobs waiting.
    pub fn len(&self) -> usize {
        self.jobs.lock().map(|j| j.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(n: u8) -> Job {
        Job { source: PeerId::random(), msg_id: MessageId::from(vec![n]), data: vec![n] }
    }

    #[tokio::test]
    async fn higher_trust_first_then_oldest_and_lowest_evicted() {
        let q = ValidationQueue::new(3);
        assert!(q.push(0.1, job(1)).is_none());
        assert!(q.push(0.9, job(2)).is_none());
        assert!(q.push(0.9, job(3)).is_none());
        // Full: a lower-trust newcomer is refused, a higher-trust one evicts the lowest.
        assert_eq!(q.push(0.05, job(4)).map(|j| j.data), Some(vec![4]));
        assert_eq!(q.push(0.5, job(5)).map(|j| j.data), Some(vec![1]));
        assert_eq!(q.pop().await.data, vec![2]);
        assert_eq!(q.pop().await.data, vec![3]);
        assert_eq!(q.pop().await.data, vec![5]);
        assert!(q.is_empty());
    }
}
