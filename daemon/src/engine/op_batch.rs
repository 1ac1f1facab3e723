//! Group ops that arrive together (a catch-up sync answer, ops fetched by id) are added to
//! their group's log together and the log is computed once, instead of once per op: a log of
//! thousands of ops takes tens of milliseconds to compute, and a node joining a large group
//! receives its whole history at once. Group upkeep (membership event, saved keys, items opened
//! with a new key, maintenance) then runs once per batch as well.
//!
//! The log's state is a function of the set of ops it holds, so the state after the batch is the
//! state op by op. What needs care is admission: op by op, each op is checked against the state
//! that includes the ops before it; here all are checked against the state before the batch.
//! That is the same only when no op of the batch can take anything away, so a batch is taken
//! together only when, in its group:
//! - no op of it removes or demotes anyone, leaves, or replaces a member's keys (those shrink
//!   membership or count against per-org bounds that ops before it in the batch would fill);
//! - no held op without effect (pending, or void) is one of those either: an op of the batch
//!   could be the missing parent of a pending one, or make a void one's author an admin;
//! - no org is added twice in the log and the batch together (two adds of one org, ordered by
//!   id among concurrent ops, could give it one role and then the other);
//! - no op's author was removed, left or lost the admin role (the ops such an org may still
//!   add are bounded, and the bound is counted against the log op by op);
//! - the log stays far from its size bounds with the whole batch in it.
//!
//! Adding ops does not reorder the ops already held (among them, the order depends only on
//! their own parents and ids), so under these conditions the ops before an op in the batch could
//! only have added members, admins and epochs, and an op accepted against the earlier state is
//! accepted op by op too; one refused for want of a role
//! (`NotAMember`, `NotAnAdmin`) is set aside by the caller and tried again once the batch is in,
//! as op by op it would be when it came before the op granting the role. Otherwise the group's
//! ops go op by op, as before.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use trellis_proto::envelope::Envelope;
use trellis_proto::group::OpAction;
use trellis_proto::limits::MAX_GROUP_OPS;
use trellis_proto::{GroupId, ItemId, Kind, OrgId, Payload, ProtoError};

use super::Engine;
use super::ingest::{Origin, Outcome, Prepared};

/// Whether `action` can only add to a group (see the module doc).
fn only_adds(action: &OpAction) -> bool {
    match action {
        OpAction::Add { .. } | OpAction::Rotate { .. } => true,
        OpAction::SetRole { role, .. } => *role == trellis_proto::group::Role::Admin,
        OpAction::Remove { .. } | OpAction::Leave { .. } | OpAction::UpdateKey { .. } => false,
    }
}

/// The org an op adds, if it is an `Add`.
fn added(action: &OpAction) -> Option<OrgId> {
    match action {
        OpAction::Add { member, .. } => Some(member.bundle.org),
        _ => None,
    }
}

/// A group op of a batch, read from its plain-text body before it is validated.
struct Candidate {
    /// Its position among the items.
    at: usize,
    id: ItemId,
    author: OrgId,
    action: OpAction,
}

impl Engine {
    /// Validate and store the group ops `items` (of any groups) from `origin`, each group's
    /// batch together when it may be (see the module doc), op by op otherwise. Answers one result
    /// per item, in order.
    pub fn ingest_ops(self: &Arc<Self>, items: &[&[u8]], origin: Origin) -> Vec<Result<Outcome, ProtoError>> {
        let mut out: Vec<Option<Result<Outcome, ProtoError>>> = (0..items.len()).map(|_| None).collect();
        // Each group's ops; what does not decode as a plain-text group op goes op by op (and is
        // refused there).
        let mut by_group: BTreeMap<GroupId, Vec<Candidate>> = BTreeMap::new();
        let mut alone = Vec::new();
        for (at, b) in items.iter().enumerate() {
            let Ok(env) = Envelope::decode(b) else {
                alone.push(at);
                continue;
            };
            match env.reopen(None) {
                Ok(Payload::GroupOp(op)) if env.header.kind == Kind::GroupOp => {
                    let c = Candidate { at, id: env.id, author: env.header.sender, action: op.action };
                    by_group.entry(env.header.group).or_default().push(c);
                }
                _ => alone.push(at),
            }
        }
        for (group, ops) in by_group {
            if ops.len() < 2 || !self.may_batch(&group, &ops) {
                alone.extend(ops.iter().map(|c| c.at));
                continue;
            }
            let slices: Vec<&[u8]> = ops.iter().map(|c| items[c.at]).collect();
            let mut ok: Vec<(usize, Prepared)> = Vec::new();
            for (c, p) in ops.iter().zip(self.prepare_many(&slices, origin)) {
                match p {
                    Ok(p) => ok.push((c.at, p)),
                    Err(e) => out[c.at] = Some(Err(e)),
                }
            }
            let (at, ready): (Vec<usize>, Vec<Prepared>) = ok.into_iter().unzip();
            for (i, r) in at.into_iter().zip(self.commit_ops(ready)) {
                out[i] = Some(r);
            }
        }
        alone.sort_unstable();
        for i in alone {
            out[i] = Some(match self.prepare(items[i], origin) {
                Ok(p) => self.commit(vec![p]).pop().unwrap_or_else(|| Err(ProtoError::Local("nothing stored".into()))),
                Err(e) => Err(e),
            });
        }
        out.into_iter().map(|r| r.unwrap_or_else(|| Err(ProtoError::Local("not handled".into())))).collect()
    }

    /// Whether `ops` may be added to `group` together (the conditions of the module doc).
    fn may_batch(&self, group: &GroupId, ops: &[Candidate]) -> bool {
        if !ops.iter().all(|c| only_adds(&c.action)) {
            return false;
        }
        let n = ops.len();
        self.groups
            .with(group, |g| {
                if g.state.applied.len() + g.state.pending.len() + n >= MAX_GROUP_OPS
                    || g.log.len() + n >= MAX_GROUP_OPS
                {
                    return false;
                }
                // No author that lost its place (its remaining ops are bounded, counted op by op).
                if ops
                    .iter()
                    .any(|c| g.state.ended_by.contains_key(&c.author) || g.state.departed.contains_key(&c.author))
                {
                    return false;
                }
                // Held ops without effect (pending or void) that the batch could bring into
                // effect: only ones that add.
                let idle = g.state.pending.iter().chain(g.state.void.keys());
                if !idle.into_iter().all(|id| g.log.get(id).is_some_and(|o| only_adds(&o.op.action))) {
                    return false;
                }
                // Each org added once in all: two adds of one org, ordered differently as ops
                // arrive, could give it one role and then the other.
                let mut adds: HashSet<OrgId> = g.log.ops().filter_map(|o| added(&o.op.action)).collect();
                ops.iter()
                    .filter(|c| !g.log.contains(&c.id))
                    .filter_map(|c| added(&c.action))
                    .all(|org| adds.insert(org))
            })
            .unwrap_or(false)
    }
}
