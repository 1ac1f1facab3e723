//! The validation queue (docs/ARCHITECTURE.md "Receive", PROTOCOL.md §7.2 point 4) and the gossip
//! verdict (§4.7).
//!
//! Gossip messages wait in the queue for the judge thread (`pipeline.rs`), highest priority
//! first, oldest first among equals. The priority is the trust of the org behind the *forwarding
//! peer*, known from its verified node binding ([`Engine::forwarder_trust`]; the Swarm task uses
//! the values the engine last sent it with the peers' gossipsub scores, every 5 s, so a peer bound
//! since then has priority 0 until the next update), never from the sender the message claims: a
//! forger can claim any sender, but not the peer it sends from. When the queue is full the lowest-priority message is dropped (reported to gossipsub as
//! `Ignore`: not relayed, not penalised, recoverable by catch-up sync), so a flood from
//! unknown or low-trust peers cannot delay what trusted peers forward.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use libp2p::PeerId;
use libp2p::gossipsub::{MessageAcceptance, MessageId};
use trellis_proto::ProtoError;

use crate::engine::Engine;
use crate::engine::ingest::Outcome;

/// What the verdict needs to know of a message besides the result: whether its envelope
/// decoded, and whether a relay without keys could read its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// The bytes are not an envelope (size, structure, version, TLP/body rule).
    Undecoded,
    /// An envelope whose body is CLEAR: every relay can check all of it.
    Clear,
    /// An envelope whose body is encrypted: a relay without the key checks only its outside.
    Sealed,
}

impl Seen {
    /// How `data` looks to a relay.
    pub fn of(data: &[u8]) -> Seen {
        match trellis_proto::Envelope::decode(data) {
            Err(_) => Seen::Undecoded,
            Ok(e) if matches!(e.body, trellis_proto::Body::Clear(_)) => Seen::Clear,
            Ok(_) => Seen::Sealed,
        }
    }
}

/// The gossipsub verdict on a message (§4.7, §7.2). `Reject` costs the forwarding peer
/// gossipsub's invalid-message penalty, so it is given only for faults every honest relay
/// would have found itself before forwarding: bytes that are not a valid envelope, a bad
/// signature, RED on a topic, a CLEAR body that breaks the rules. Everything that depends on
/// the receiver's own view (group log, revocations, clock, keys, quotas, replay index), on a
/// body the relay could not read, or on the receiver's own health is `Ignore`: not relayed,
/// nobody penalised. The match is exhaustive on purpose: a new error must be placed here.
pub fn verdict(r: &Result<Outcome, ProtoError>, seen: Seen) -> MessageAcceptance {
    use MessageAcceptance::{Accept, Ignore, Reject};
    let e = match r {
        Ok(Outcome::Stored) => return Accept,
        Ok(Outcome::StoredNoRelay | Outcome::Duplicate) => return Ignore,
        Err(e) => e,
    };
    // Errors of a body check: the relay's fault only if it could read the body.
    let body_fault = match seen {
        Seen::Undecoded | Seen::Clear => Reject,
        Seen::Sealed => Ignore,
    };
    match e {
        // Structure and signature: checked by every relay, whatever it holds.
        ProtoError::Oversize { .. }
        | ProtoError::Decode(_)
        | ProtoError::TrailingBytes(_)
        | ProtoError::UnknownVersion(_)
        | ProtoError::BadSignature
        | ProtoError::TlpBodyMismatch { .. }
        | ProtoError::TlpMissingRecipients(_) => Reject,
        // Checks of the (possibly decrypted) payload and its keys.
        ProtoError::BadKey
        | ProtoError::FieldTooLong { .. }
        | ProtoError::KindMismatch
        | ProtoError::DecryptFailed
        | ProtoError::BadCommitment
        | ProtoError::BadText { .. }
        | ProtoError::Invalid(_) => body_fault,
        // The receiver's view: its group log, revocations, clock and keys may differ from the
        // relay's, and catch-up sync repairs a view that is behind.
        ProtoError::UnknownGroup(_)
        | ProtoError::NotAMember(_)
        | ProtoError::ReaderCannotPublish(_)
        | ProtoError::NotAnAdmin(_)
        | ProtoError::ExpiredKey
        | ProtoError::FromTheFuture
        | ProtoError::NoKey => Ignore,
        // Replays and duplicates: a relay cannot know what this node already holds.
        ProtoError::ReplayedSequence { .. } | ProtoError::Duplicate => Ignore,
        // The publisher's quota here (§7.2): not the relay's doing.
        ProtoError::OverQuota => Ignore,
        // This node's own failure.
        ProtoError::Local(_) => Ignore,
        // A revision is judged against the first publication this node holds (§4.9), which a
        // relay may not hold.
        ProtoError::BadRevision(_) => Ignore,
    }
}

/// The verdict on a message refused with `e`, found inside an encrypted body (`in_body`: while
/// decrypting it or after, the inner signature included) or outside it. A fault inside an
/// encrypted body is `Ignore` whatever it is: a relay without the key could not have found it,
/// and a member can make such an item on purpose (a bad inner signature under a good outer one)
/// to get the honest nodes that forwarded it penalised. Outside, [`verdict`] decides.
pub fn verdict_in(e: &ProtoError, seen: Seen, in_body: bool) -> MessageAcceptance {
    if in_body && seen == Seen::Sealed {
        return MessageAcceptance::Ignore;
    }
    verdict(&Err(e.clone()), seen)
}

impl Engine {
    /// Queue priority of a message forwarded by `peer`: the trust of the org whose verified node
    /// binding that peer presented (0 for a peer that presented none).
    pub fn forwarder_trust(&self, peer: &PeerId) -> f64 {
        let org = self.peer_book().org_of(peer);
        org.map(|o| self.trust_of(&o)).unwrap_or(0.0)
    }
}

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
    /// Wakes the judge thread ([`ValidationQueue::pop_batch`]).
    ready: Condvar,
    next: AtomicU64,
    capacity: usize,
}

impl ValidationQueue {
    pub fn new(capacity: usize) -> Self {
        ValidationQueue { jobs: Mutex::new(BTreeMap::new()), ready: Condvar::new(), next: AtomicU64::new(0), capacity }
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
        self.ready.notify_one();
        evicted
    }

    /// Up to `max` jobs, highest priority first, waiting at most `wait` for the first one (an
    /// empty batch when none came). For the judge thread: blocks the calling thread.
    pub fn pop_batch(&self, max: usize, wait: Duration) -> Vec<Job> {
        let Ok(mut jobs) = self.jobs.lock() else { return Vec::new() };
        if jobs.is_empty() {
            jobs = match self.ready.wait_timeout(jobs, wait) {
                Ok((j, _)) => j,
                Err(_) => return Vec::new(),
            };
        }
        let mut out = Vec::new();
        while out.len() < max {
            match jobs.pop_last() {
                Some((_, j)) => out.push(j),
                None => break,
            }
        }
        out
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
    use trellis_proto::{GroupId, OrgId, Tlp};

    /// One error of every variant (the verdict's match has no wildcard, so a new variant fails to
    /// compile there; this list and the table must then gain it too: the test counts rows).
    fn every_error() -> Vec<ProtoError> {
        let org = OrgId([1; 32]);
        vec![
            ProtoError::Oversize { len: 2, max: 1 },
            ProtoError::Decode("x".into()),
            ProtoError::TrailingBytes(1),
            ProtoError::UnknownVersion(9),
            ProtoError::BadSignature,
            ProtoError::BadKey,
            ProtoError::FieldTooLong { field: "x", max: 1 },
            ProtoError::KindMismatch,
            ProtoError::TlpBodyMismatch { tlp: Tlp::Red, why: "x" },
            ProtoError::TlpMissingRecipients(Tlp::Amber),
            ProtoError::UnknownGroup(GroupId([2; 32])),
            ProtoError::NotAMember(org),
            ProtoError::ReaderCannotPublish(org),
            ProtoError::NotAnAdmin(org),
            ProtoError::ReplayedSequence { sender: org, seq: 1 },
            ProtoError::Duplicate,
            ProtoError::ExpiredKey,
            ProtoError::FromTheFuture,
            ProtoError::OverQuota,
            ProtoError::NoKey,
            ProtoError::DecryptFailed,
            ProtoError::BadCommitment,
            ProtoError::BadText { what: "x", why: "y".into() },
            ProtoError::Invalid("x".into()),
            ProtoError::Local("disk full".into()),
            ProtoError::BadRevision("x".into()),
        ]
    }

    /// The verdict of every error, for a message that did not decode, a CLEAR one and a sealed
    /// one, is the one PROTOCOL.md §4.7 states in its table.
    #[test]
    fn verdicts_match_the_protocol_table() {
        let spec = include_str!("../../proto/PROTOCOL.md");
        let start = spec.find("### 4.7").expect("§4.7");
        let end = start + spec[start..].find("### 4.8").expect("§4.8");
        let mut table = std::collections::BTreeMap::new();
        for line in spec[start..end].lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let reason = cells[1].trim_matches('`');
            table.insert(reason.to_string(), cells[cells.len() - 2].to_string());
        }
        let errors = every_error();
        assert_eq!(table.len(), errors.len(), "one table row per error: {table:?}");
        let name = |a: MessageAcceptance| match a {
            MessageAcceptance::Accept => "Accept",
            MessageAcceptance::Reject => "Reject",
            MessageAcceptance::Ignore => "Ignore",
        };
        for e in errors {
            let stated = table.get(e.reason()).unwrap_or_else(|| panic!("{} is not in §4.7", e.reason()));
            let r = Err(e.clone());
            let (clear, sealed) = (name(verdict(&r, Seen::Clear)), name(verdict(&r, Seen::Sealed)));
            let undecoded = name(verdict(&r, Seen::Undecoded));
            let got = if clear == sealed { clear.to_string() } else { format!("{clear}/{sealed}") };
            assert_eq!(&got, stated, "{}", e.reason());
            assert_eq!(undecoded, clear, "{}: a message that did not decode is judged as CLEAR", e.reason());
        }
        // §7.2: stored items are relayed, below the relay threshold or again they are not, and
        // nobody is penalised for either.
        assert_eq!(verdict(&Ok(Outcome::Stored), Seen::Clear), MessageAcceptance::Accept);
        assert_eq!(verdict(&Ok(Outcome::StoredNoRelay), Seen::Sealed), MessageAcceptance::Ignore);
        assert_eq!(verdict(&Ok(Outcome::Duplicate), Seen::Clear), MessageAcceptance::Ignore);
    }

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
        assert_eq!(q.try_pop().unwrap().data, vec![2]);
        assert_eq!(q.try_pop().unwrap().data, vec![3]);
        assert_eq!(q.try_pop().unwrap().data, vec![5]);
        assert!(q.is_empty());
    }
}
