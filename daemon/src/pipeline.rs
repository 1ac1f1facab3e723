//! The receive pipeline: how every envelope that reaches this node from a peer is judged and
//! stored, whether it came by gossip, by catch-up sync or by direct delivery (RED), so a peer
//! cannot make a node store over one path what another would have refused (docs/ARCHITECTURE.md,
//! "Receive"; PROTOCOL.md §3.3, §4.7, §5.4, §6.7, §7.2).
//!
//! Items travel in batches (the judge thread takes what is waiting, up to [`GROUP_COMMIT`]; a
//! sync answer is one batch per core). Each batch goes through these stages, cheapest first; an item
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
//! 6. **commit** (`Engine::commit` → `Store::insert_items_with`): one transaction for every item
//!    validated while the previous transaction was being written, whoever validated it (group
//!    commit in `store.rs`); the replay index is checked again inside it. Items from peers are
//!    durable within `store::RELAXED_WINDOW`, others before the commit returns.
//! 7. **verdict** (gossip only, [`judged`]): a content item is reported to gossipsub when
//!    validated, before stage 6 (relaying does not wait for our disk); a control item (membership,
//!    keys) after it is stored, so the items it admits validate after it.
//!
//! Reactions to what was stored (SBOM matches, watchers, group upkeep) are not done here: the
//! commit emits them to the reactions task (`crate::reactions`), whose queue is bounded and never
//! blocks this path.
//!
//! Gossip runs on three plain threads ([`Workers`]): the **judge** takes a batch from the
//! validation queue (which the Swarm task fills itself, `node.rs::GossipIntake`), runs stages 1
//! to 5 on its content items and sends the verdicts; the **store** thread runs stage 6 for what
//! the judge passed, merging every batch that waits into one transaction; the **control** thread
//! takes control items one at a time through every stage, verdict last. Bounds: the validation
//! queue (4,096 messages, lowest forwarder trust dropped first), 64 messages per judge batch,
//! 64 batches and 64 MiB waiting for the store thread (beyond, the judge stores the batch itself:
//! slower, nothing dropped), 1,024 control items waiting, each with its outer signature checked by the
//! judge (beyond, ignored; sync brings them later).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::Duration;

use libp2p::PeerId;
use libp2p::gossipsub::MessageAcceptance;

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

/// The Swarm task's side of the receive pipeline ([`crate::node::GossipIntake`]): the count of
/// what a full queue left out.
#[derive(Debug)]
pub struct Intake {
    engine: Arc<Engine>,
}

impl crate::node::GossipIntake for Intake {
    fn shed(&self, job: &Job) {
        self.engine.count_reject("queue_full", None, Some(job.source));
    }
}

/// The judge thread's state: where judged items go next.
///
/// Content items (advisories, posture, endorsements, resources, …) are validated a batch at a
/// time, stages 1 to 5, and each verdict goes back to gossipsub before anything is stored:
/// relaying a verified item does not wait for our disk. The items that passed go to the storing
/// thread (stage 6), which writes whatever has gathered in one transaction. Control items
/// (membership, keys) go to the control thread, which validates, stores and applies them one at
/// a time, in arrival order, and reports each verdict after storing it, so the items it admits
/// validate after it.
#[derive(Debug)]
struct Judge {
    engine: Arc<Engine>,
    rt: tokio::runtime::Handle,
    store: SyncSender<Vec<Prepared>>,
    /// Bytes handed to the storing thread and not yet written.
    backlog: Arc<AtomicUsize>,
    control: SyncSender<Job>,
}

/// Bytes of a batch as the backlog counts them.
fn batch_bytes(batch: &[Prepared]) -> usize {
    batch.iter().map(|p| p.item.bytes.len()).sum()
}

/// Batches of validated items waiting for the storing thread at most, and their bytes at most
/// (envelopes as stored, counted when handed over, released when written); beyond either, the
/// judge thread stores the next batch itself (back-pressure, nothing dropped). The bytes bound
/// what a slow disk can make the node hold: small items queue freely (64 batches of 4 KiB
/// items are 16 MiB), large ones stop at the budget, not at 64 × 64 × 256 KiB.
const STORE_BACKLOG: usize = 64;
const STORE_BACKLOG_BYTES: usize = 64 << 20;

/// Control messages waiting for the control thread at most; beyond, they are ignored (not
/// relayed, nobody penalised) and catch-up sync brings them later. Only messages whose outer
/// signature the judge checked wait here, so a forger cannot fill it with headers.
const CONTROL_BACKLOG: usize = 1024;

impl Judge {
    /// Judge a batch (highest priority first) and report every verdict given now to gossipsub;
    /// control items are reported by the control thread.
    fn judge(&mut self, jobs: Vec<Job>) {
        let node = self.engine.node();
        let mut content = Vec::with_capacity(jobs.len());
        for job in jobs {
            // A control item is handed over only once its envelope decodes and its outer
            // signature holds; anything else takes the content path, which refuses it with the
            // verdict stage 1 or 2 gives.
            if !is_control(&job.data) || !outer_signature_holds(&self.engine, &job.data) {
                content.push(job);
                continue;
            }
            if let Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) = self.control.try_send(job) {
                self.engine.count_reject("queue_full", None, Some(job.source));
                node.validated_blocking(job.msg_id, job.source, MessageAcceptance::Ignore);
            }
        }
        if content.is_empty() {
            return;
        }
        let items: Vec<(&[u8], Origin)> =
            content.iter().map(|j| (j.data.as_slice(), Origin::Gossip(j.source))).collect();
        let validated = validate_staged(&self.engine, &items);
        drop(items);
        let mut ready = Vec::new();
        for (job, r) in content.into_iter().zip(validated) {
            let result = match r {
                Ok(p) => {
                    let predicted = self.engine.relay_outcome(&p.env);
                    ready.push(p);
                    Ok(predicted)
                }
                Err(r) if r.error == ProtoError::Duplicate => Ok(Outcome::Duplicate),
                Err(r) => Err(r),
            };
            node.validated_blocking(job.msg_id, job.source, judged(&self.engine, job.source, &result, &self.rt));
        }
        if ready.is_empty() {
            return;
        }
        let bytes = batch_bytes(&ready);
        if self.backlog.load(Ordering::Relaxed) + bytes > STORE_BACKLOG_BYTES {
            store_relayed(&self.engine, ready);
            return;
        }
        self.backlog.fetch_add(bytes, Ordering::Relaxed);
        if let Err(TrySendError::Full(ready) | TrySendError::Disconnected(ready)) = self.store.try_send(ready) {
            self.backlog.fetch_sub(bytes, Ordering::Relaxed);
            store_relayed(&self.engine, ready);
        }
    }
}

/// Whether `data` decodes as an envelope whose outer signature holds (stages 1's decode and 2).
fn outer_signature_holds(engine: &Engine, data: &[u8]) -> bool {
    Envelope::decode(data)
        .is_ok_and(|env| verify_batch(&[env.outer_check()], &batch_seed(engine)).iter().all(Result::is_ok))
}

/// Stage 6 for gossip items already judged and relayed: store them, recording what the
/// transaction found. A storage error loses nothing for the network (the item was relayed) and
/// the periodic sync fetches it again.
fn store_relayed(engine: &Arc<Engine>, ready: Vec<Prepared>) {
    for r in engine.commit(ready) {
        if let Err(e) = r {
            warn!(reason = e.reason(), error = %e, "a validated gossip item was not stored");
            engine.count_reject(e.reason(), None, None);
        }
    }
}

/// A control item from gossip: validated, stored and applied alone; its verdict after that.
fn receive_control(engine: &Arc<Engine>, job: Job, rt: &tokio::runtime::Handle) {
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
    let acceptance = judged(engine, job.source, &result, rt);
    engine.node().validated_blocking(job.msg_id, job.source, acceptance);
}

/// The gossipsub verdict on one message; counts a refusal, and catches up when our log is behind.
fn judged(
    engine: &Arc<Engine>,
    source: PeerId,
    result: &Result<Outcome, Refused>,
    rt: &tokio::runtime::Handle,
) -> MessageAcceptance {
    let acceptance = match result {
        Ok(o) => validation::verdict(&Ok(*o), Seen::Clear),
        Err(r) => validation::verdict_in(&r.error, r.seen, r.in_body),
    };
    if let Err(r) = result {
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
    acceptance
}

/// The gossip threads behind the Swarm task: the judge thread (takes batches from the
/// validation queue, stages 1 to 5, verdicts), the storing thread (stage 6 for judged content
/// items, several batches in one transaction when they gather) and the control thread.
#[derive(Debug)]
pub struct Workers {
    stop: Arc<AtomicBool>,
    judge: Option<std::thread::JoinHandle<()>>,
    behind: Vec<std::thread::JoinHandle<()>>,
}

/// How long the judge thread waits for a job before looking at the stop flag again.
const IDLE_POLL: Duration = Duration::from_millis(100);

impl Workers {
    /// Start the gossip threads for `engine` on `queue`; `rt` is the runtime catch-up syncs are
    /// spawned on. Returns them with the intake to install in the Swarm task
    /// ([`crate::node::NodeHandle::set_intake`]).
    pub fn start(
        engine: Arc<Engine>,
        queue: Arc<ValidationQueue>,
        rt: tokio::runtime::Handle,
    ) -> std::io::Result<(Workers, Intake)> {
        let (store, stored) = std::sync::mpsc::sync_channel::<Vec<Prepared>>(STORE_BACKLOG);
        let (control, controls) = std::sync::mpsc::sync_channel::<Job>(CONTROL_BACKLOG);
        let e = Arc::clone(&engine);
        let backlog = Arc::new(AtomicUsize::new(0));
        let held = Arc::clone(&backlog);
        let storing = std::thread::Builder::new().name("store".into()).spawn(move || {
            use std::sync::mpsc::RecvTimeoutError;
            loop {
                match stored.recv_timeout(crate::store::RELAXED_WINDOW / 4) {
                    Ok(mut batch) => {
                        // Everything that gathered while the last transaction was written: one more.
                        while let Ok(more) = stored.try_recv() {
                            batch.extend(more);
                        }
                        let bytes = batch_bytes(&batch);
                        store_relayed(&e, batch);
                        held.fetch_sub(bytes, Ordering::Relaxed);
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                // Relaxed rows (gossip and sync store relaxed) whose window has passed are made
                // durable now, whether or not more items came: at most a quarter window late.
                if let Err(err) = e.store().flush_due() {
                    warn!(error = %err, "could not make received items durable");
                }
            }
        })?;
        let (e, handle) = (Arc::clone(&engine), rt.clone());
        let controlling = std::thread::Builder::new().name("control".into()).spawn(move || {
            while let Ok(job) = controls.recv() {
                receive_control(&e, job, &handle);
            }
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut judge = Judge { engine: Arc::clone(&engine), rt, store, backlog, control };
        let flag = Arc::clone(&stop);
        // The judge owns the senders: when it ends, the storing and control threads finish what
        // they hold and end too.
        let judging = std::thread::Builder::new().name("judge".into()).spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let jobs = queue.pop_batch(GROUP_COMMIT, IDLE_POLL);
                if !jobs.is_empty() {
                    judge.judge(jobs);
                }
            }
        })?;
        Ok((Workers { stop, judge: Some(judging), behind: vec![storing, controlling] }, Intake { engine }))
    }

    /// Stop the judge after its current batch; wait for it, then for the storing and control
    /// threads to finish what they hold.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(j) = self.judge.take() {
            let _ = j.join();
        }
        for t in self.behind.drain(..) {
            let _ = t.join();
        }
    }
}

/// Dropped without [`Workers::stop`] (a node whose start failed half-way): the threads stop all
/// the same, so none keeps the engine and its store alive.
impl Drop for Workers {
    fn drop(&mut self) {
        self.halt();
    }
}
