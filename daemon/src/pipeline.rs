//! The receive pipeline: how every envelope that reaches this node from a peer is judged and
//! stored, whether it came by gossip, by catch-up sync or by direct delivery (RED), so a peer
//! cannot make a node store over one path what another would have refused (docs/ARCHITECTURE.md,
//! "Receive"; PROTOCOL.md §3.3, §4.7, §5.4, §6.7, §7.2).
//!
//! Items travel in batches (a gossip worker takes what is waiting, up to [`GROUP_COMMIT`]; a sync
//! answer is one batch per core). Each batch goes through these stages, cheapest first; an item
//! that fails a stage leaves the batch with its error and costs nothing further:
//!
//! 1. **decode and cheap checks** (`Engine::check_outside`): size (at most `MAX_ENVELOPE_BYTES`
//!    before anything is parsed), structure, version, TLP/body rule, clock skew, RED over gossip,
//!    the publisher's quota looked at (not taken: the publisher is not verified yet), known group.
//!    A decode and a few map lookups per item.
//! 2. **outer signatures** (§3.3), all of the batch's at once (`trellis_proto::sig::verify_batch`):
//!    one multi-scalar multiplication for the batch, terms of one publisher merged. If the batch
//!    equation fails, each signature is checked alone, so a forged item costs its sender's
//!    batch at most the batch plus one check per item, and never makes an honest item fail.
//! 3. **sender and decryption** (`Engine::check_sender_and_open`): revocation, membership and role
//!    at this point of the group log, replay (a read of the replay index), the quota taken, then
//!    decryption where this node holds the key (one AEAD pass, one HPKE open for a sealed body).
//! 4. **inner signatures** (§5.4) of the decrypted bodies, all at once, as in stage 2.
//! 5. **payload checks** that need this node's state (`Engine::check_payload`): group op
//!    admission (§6.9), CSAF conformance, revisions (§4.9).
//! 6. **commit** (`Engine::commit` → `Store::insert_items`): one durable transaction for every item
//!    validated while the previous transaction was being written, whoever validated it (group
//!    commit in `store.rs`); the replay index is checked again inside it.
//! 7. **verdict** (gossip only, [`report_verdict`]): a content item is reported to gossipsub when
//!    validated, before stage 6 (relaying does not wait for our disk); a control item (membership,
//!    keys) after it, so the items it admits validate after it. Control items are validated and
//!    stored one at a time, in the order they arrived among the batch's content items.
//!
//! Reactions to what was stored (SBOM matches, watchers, group upkeep) are not done here: the
//! commit emits them to the reactions task (`crate::reactions`), whose queue is bounded and never
//! blocks this path.
//!
//! Gossip workers are plain threads ([`Workers`]): each takes a batch from the validation queue,
//! runs every stage on its own thread, reports the verdicts and commits, without handing the
//! batch to another thread on the way.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tracing::warn;
use trellis_proto::envelope::{Envelope, InnerSig};
use trellis_proto::sig::{SigCheck, verify_batch};
use trellis_proto::{GroupId, ProtoError};

use crate::engine::Engine;
use crate::engine::ingest::{Origin, Outcome, Prepared};
use crate::validation::{self, Job, Seen, ValidationQueue};

/// Most gossip messages a worker takes from the queue at once: validated together (their
/// signatures in one batch) and stored in one transaction.
pub const GROUP_COMMIT: usize = 64;

/// Why an item was refused, with what the gossip verdict needs to know about it.
#[derive(Debug, Clone)]
pub struct Refused {
    pub error: ProtoError,
    /// How the message looks to a relay (decoded or not, CLEAR or encrypted body).
    pub seen: Seen,
    /// The group the envelope names, when it decoded.
    pub group: Option<GroupId>,
    /// The fault was found inside an encrypted body (after decrypting it): a relay without the
    /// key could not have found it.
    pub in_body: bool,
}

impl Refused {
    fn outside(error: ProtoError, env: Option<&Envelope>) -> Refused {
        let seen = match env {
            None => Seen::Undecoded,
            Some(e) if matches!(e.body, trellis_proto::Body::Clear(_)) => Seen::Clear,
            Some(_) => Seen::Sealed,
        };
        Refused { error, seen, group: env.map(|e| e.header.group), in_body: false }
    }

    fn inside(error: ProtoError, env: &Envelope) -> Refused {
        Refused { in_body: true, ..Refused::outside(error, Some(env)) }
    }
}

/// Fresh randomness for the coefficients of one batch check (a sender who could predict them
/// could craft signatures that pass together but not alone): the engine's RNG, the OS's in a
/// running node.
fn batch_seed(engine: &Engine) -> [u8; 32] {
    engine.rng().bytes::<32>()
}

/// Stages 1 to 5 for a batch of envelopes, each with how it reached us; results in input order.
pub fn validate_staged(engine: &Engine, items: &[(&[u8], Origin)]) -> Vec<Result<Prepared, Refused>> {
    // Stage 1: decode and cheap checks.
    let mut stage: Vec<Result<Envelope, Refused>> = items
        .iter()
        .map(|(bytes, origin)| {
            engine.check_outside(bytes, *origin).map_err(|e| {
                let env = Envelope::decode(bytes).ok();
                Refused::outside(e, env.as_ref())
            })
        })
        .collect();
    // Stage 2: outer signatures, together.
    {
        let live: Vec<usize> = (0..stage.len()).filter(|&i| stage[i].is_ok()).collect();
        let checks: Vec<SigCheck<'_>> =
            live.iter().filter_map(|&i| stage[i].as_ref().ok()).map(Envelope::outer_check).collect();
        let verdicts = verify_batch(&checks, &batch_seed(engine));
        drop(checks);
        for (i, v) in live.into_iter().zip(verdicts) {
            if let Err(e) = v {
                let refused = Refused::outside(e, stage[i].as_ref().ok());
                stage[i] = Err(refused);
            }
        }
    }
    // Stage 3: sender, replay, quota, decryption.
    let mut opened: Vec<Result<(Prepared, Option<InnerSig>), Refused>> = stage
        .into_iter()
        .zip(items)
        .map(|(r, (_, origin))| {
            let env = r?;
            let sealed = !matches!(env.body, trellis_proto::Body::Clear(_));
            let (group, seen) = (env.header.group, if sealed { Seen::Sealed } else { Seen::Clear });
            engine.check_sender_and_open(env, *origin).map_err(|error| {
                // Errors of decryption and of the decrypted payload are inside the body.
                let in_body = sealed && is_body_error(&error);
                Refused { error, seen, group: Some(group), in_body }
            })
        })
        .collect();
    // Stage 4: inner signatures of the decrypted bodies, together.
    {
        let live: Vec<usize> = (0..opened.len()).filter(|&i| matches!(&opened[i], Ok((_, Some(_))))).collect();
        let checks: Vec<SigCheck<'_>> = live
            .iter()
            .filter_map(|&i| match &opened[i] {
                Ok((p, Some(inner))) => Some(p.env.inner_check(inner)),
                _ => None,
            })
            .collect();
        let verdicts = verify_batch(&checks, &batch_seed(engine));
        drop(checks);
        for (i, v) in live.into_iter().zip(verdicts) {
            if let Err(e) = v
                && let Ok((p, _)) = &opened[i]
            {
                let refused = Refused::inside(e, &p.env);
                opened[i] = Err(refused);
            }
        }
    }
    // Stage 5: payload checks.
    opened
        .into_iter()
        .map(|r| {
            let (p, _) = r?;
            match engine.check_payload(&p) {
                Ok(()) => Ok(p),
                Err(e) if matches!(p.env.body, trellis_proto::Body::Clear(_)) => Err(Refused::outside(e, Some(&p.env))),
                Err(e) => Err(Refused::inside(e, &p.env)),
            }
        })
        .collect()
}

/// Whether an error of stage 3 comes from decrypting or decoding the body (not from the
/// sender, replay or quota checks before it).
fn is_body_error(e: &ProtoError) -> bool {
    !matches!(
        e,
        ProtoError::UnknownGroup(_)
            | ProtoError::NotAMember(_)
            | ProtoError::ReaderCannotPublish(_)
            | ProtoError::NotAnAdmin(_)
            | ProtoError::ExpiredKey
            | ProtoError::ReplayedSequence { .. }
            | ProtoError::Duplicate
            | ProtoError::OverQuota
            | ProtoError::NoKey
            | ProtoError::Local(_)
    )
}

/// Stages 1 to 5 for envelopes that all reached us the same way (sync, direct delivery).
pub fn validate(engine: &Engine, items: &[&[u8]], origin: Origin) -> Vec<Result<Prepared, ProtoError>> {
    let items: Vec<(&[u8], Origin)> = items.iter().map(|b| (*b, origin)).collect();
    validate_staged(engine, &items).into_iter().map(|r| r.map_err(|r| r.error)).collect()
}

/// Stages 1 to 6 for envelopes that all reached us the same way: validate them as one batch and
/// store the valid ones (the entry point the ingest benchmark drives, and what a gossip worker
/// does for a batch of content items, less the verdicts).
pub fn receive_batch(engine: &Arc<Engine>, items: &[&[u8]], origin: Origin) -> Vec<Result<Outcome, ProtoError>> {
    let mut out: Vec<Option<Result<Outcome, ProtoError>>> = Vec::with_capacity(items.len());
    let mut ready = Vec::new();
    let mut slots = Vec::new();
    for (i, r) in validate(engine, items, origin).into_iter().enumerate() {
        match r {
            Ok(p) => {
                ready.push(p);
                slots.push(i);
                out.push(None);
            }
            Err(ProtoError::Duplicate) => out.push(Some(Ok(Outcome::Duplicate))),
            Err(e) => out.push(Some(Err(e))),
        }
    }
    for (i, r) in slots.into_iter().zip(engine.commit(ready)) {
        out[i] = Some(r);
    }
    out.into_iter().map(|r| r.unwrap_or_else(|| Err(ProtoError::Local("not committed".into())))).collect()
}

/// Whether a gossip message carries a control item (peeked from its header; a message whose
/// header does not decode is content, and stage 1 refuses it).
fn is_control(data: &[u8]) -> bool {
    postcard::take_from_bytes::<trellis_proto::Header>(data).is_ok_and(|(h, _)| h.kind.is_control())
}

/// Judge a batch of gossip messages, tell gossipsub each verdict, and store the good ones.
///
/// Content items are validated together; each verdict is reported as soon as the batch is
/// validated, before the storing transaction: relaying a verified item does not depend on our
/// disk, and waiting for the fsync at every hop would put one fsync per hop into the delivery
/// time. Replays and duplicates are already known from the replay index at that point. A control
/// item (membership, keys) is validated, stored and applied alone, in its place in the batch, and
/// reported after it is stored, so the items it admits validate after it.
pub fn receive_gossip(engine: &Arc<Engine>, jobs: Vec<Job>, rt: &tokio::runtime::Handle) {
    let mut content: Vec<Job> = Vec::new();
    for job in jobs {
        if is_control(&job.data) {
            receive_content(engine, std::mem::take(&mut content), rt);
            let r = validate_staged(engine, &[(&job.data, Origin::Gossip(job.source))]).pop();
            let result = match r {
                Some(Ok(p)) => engine
                    .commit(vec![p])
                    .pop()
                    .map(|r| r.map_err(|e| Refused::outside(e, None)))
                    .unwrap_or_else(|| Err(Refused::outside(ProtoError::Local("not committed".into()), None))),
                Some(Err(r)) if r.error == ProtoError::Duplicate => Ok(Outcome::Duplicate),
                Some(Err(r)) => Err(r),
                None => Err(Refused::outside(ProtoError::Local("not validated".into()), None)),
            };
            report_verdict(engine, job, result, rt);
        } else {
            content.push(job);
        }
    }
    receive_content(engine, content, rt);
}

fn receive_content(engine: &Arc<Engine>, jobs: Vec<Job>, rt: &tokio::runtime::Handle) {
    if jobs.is_empty() {
        return;
    }
    let items: Vec<(&[u8], Origin)> = jobs.iter().map(|j| (j.data.as_slice(), Origin::Gossip(j.source))).collect();
    let validated = validate_staged(engine, &items);
    drop(items);
    let mut ready = Vec::new();
    for (job, r) in jobs.into_iter().zip(validated) {
        let verdict = match r {
            Ok(p) => {
                let predicted = engine.relay_outcome(&p.env);
                ready.push(p);
                Ok(predicted)
            }
            Err(r) if r.error == ProtoError::Duplicate => Ok(Outcome::Duplicate),
            Err(r) => Err(r),
        };
        report_verdict(engine, job, verdict, rt);
    }
    if ready.is_empty() {
        return;
    }
    for r in engine.commit(ready) {
        // Relayed already; what the transaction found is recorded. A storage error loses nothing
        // for the network (the item was relayed) and the periodic sync fetches it again.
        if let Err(e) = r {
            warn!(reason = e.reason(), error = %e, "a validated gossip item was not stored");
            engine.count_reject(e.reason(), None, None);
        }
    }
}

/// Tell gossipsub the verdict on one message, count rejects, catch up when our log is behind.
/// Called from a worker thread (not from the async runtime): the verdict is sent to the Swarm
/// task with a blocking send on its command channel; a catch-up sync is spawned on `rt`.
pub fn report_verdict(engine: &Arc<Engine>, job: Job, result: Result<Outcome, Refused>, rt: &tokio::runtime::Handle) {
    let Job { source, msg_id, .. } = job;
    let acceptance = match &result {
        Ok(o) => validation::verdict(&Ok(*o), Seen::Clear),
        Err(r) => validation::verdict_in(&r.error, r.seen, r.in_body),
    };
    engine.node().validated_blocking(msg_id, source, acceptance);
    if let Err(r) = &result {
        let e = &r.error;
        tracing::debug!(peer = %source, reason = e.reason(), "gossip item not accepted");
        if !matches!(e, ProtoError::Duplicate) {
            engine.count_reject(e.reason(), None, Some(source));
        }
        // Our log may be behind the sender's: catch up from the peer that relayed, for the group
        // the item names only, and at most once per peer per interval (§9), so a stream of
        // items from strangers costs at most one sync per peer per interval.
        if let ProtoError::NotAMember(_) = e
            && let Some(g) = r.group
            && engine.group_ids().contains(&g)
            && engine.peer_limits().may_trigger_sync(source)
        {
            let e = Arc::clone(engine);
            rt.spawn(async move {
                let _ = e.sync_with(source, g).await;
            });
        }
    }
}

/// The gossip validation workers: plain threads taking batches from the validation queue.
#[derive(Debug)]
pub struct Workers {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// How long a worker waits for a job before looking at the stop flag again.
const IDLE_POLL: Duration = Duration::from_millis(100);

impl Workers {
    /// Start `n` workers on `queue`; `rt` is the runtime their syncs are spawned on.
    pub fn start(
        engine: Arc<Engine>,
        queue: Arc<ValidationQueue>,
        n: usize,
        rt: tokio::runtime::Handle,
    ) -> std::io::Result<Workers> {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|i| {
                let (engine, queue, stop, rt) =
                    (Arc::clone(&engine), Arc::clone(&queue), Arc::clone(&stop), rt.clone());
                std::thread::Builder::new().name(format!("validate-{i}")).spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let jobs = queue.pop_batch(GROUP_COMMIT, IDLE_POLL);
                        if !jobs.is_empty() {
                            receive_gossip(&engine, jobs, &rt);
                        }
                    }
                })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Workers { stop, threads })
    }

    /// Stop the workers after their current batch, and wait for them.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}
