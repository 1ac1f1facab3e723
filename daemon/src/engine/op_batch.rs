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
//! - no op is pending in the log (an op of the batch could be the missing parent of one, and
//!   applying that could remove someone);
//! - no op's author was removed, left or lost the admin role (the ops such an org may still
//!   add are bounded, and the bound is counted against the log op by op);
//! - the log stays far from its size bounds with the whole batch in it.
//!
//! Then the ops before an op in the batch could only have added members and admins, so an op
//! accepted against the earlier state is accepted op by op too; one refused for want of a role
//! (`NotAMember`, `NotAnAdmin`) is set aside by the caller and tried again once the batch is in,
//! as op by op it would be when it came before the op granting the role. Otherwise the group's
//! ops go op by op, as before.

use std::collections::BTreeMap;
use std::sync::Arc;

use trellis_proto::envelope::Envelope;
use trellis_proto::group::OpAction;
use trellis_proto::limits::MAX_GROUP_OPS;
use trellis_proto::{GroupId, Kind, OrgId, Payload, ProtoError};

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

impl Engine {
    /// Validate and store the group ops `items` (of any groups) from `origin`, each group's
    /// batch together when it may be (see the module doc), op by op otherwise. Answers one result
    /// per item, in order.
    pub fn ingest_ops(self: &Arc<Self>, items: &[&[u8]], origin: Origin) -> Vec<Result<Outcome, ProtoError>> {
        let mut out: Vec<Option<Result<Outcome, ProtoError>>> = (0..items.len()).map(|_| None).collect();
        // Each group's ops, by position; what does not decode as an op is handled op by op.
        // Each group's ops (position, author, whether it only adds); what does not decode as a
        // plain-text group op is handled op by op.
        let mut by_group: BTreeMap<GroupId, Vec<(usize, OrgId, bool)>> = BTreeMap::new();
        let mut alone = Vec::new();
        for (i, b) in items.iter().enumerate() {
            let Ok(env) = Envelope::decode(b) else {
                alone.push(i);
                continue;
            };
            match env.reopen(None) {
                Ok(Payload::GroupOp(op)) if env.header.kind == Kind::GroupOp => {
                    by_group.entry(env.header.group).or_default().push((i, env.header.sender, only_adds(&op.action)))
                }
                _ => alone.push(i),
            }
        }
        for (group, ops) in by_group {
            if ops.len() < 2 || !ops.iter().all(|o| o.2) || !self.may_batch(&group, &ops) {
                alone.extend(ops.iter().map(|o| o.0));
                continue;
            }
            let idx: Vec<usize> = ops.iter().map(|o| o.0).collect();
            let slices: Vec<&[u8]> = idx.iter().map(|i| items[*i]).collect();
            let mut ok: Vec<(usize, Prepared)> = Vec::new();
            for (i, p) in idx.into_iter().zip(self.prepare_many(&slices, origin)) {
                match p {
                    Ok(p) => ok.push((i, p)),
                    Err(e) => out[i] = Some(Err(e)),
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

    /// Whether `ops` (position, author, only adds) may be added to `group` together: nothing
    /// pending, far from the log's bounds, and no author that lost its place in the group (the
    /// ops such an org may still add are bounded, counted op by op against the log).
    fn may_batch(&self, group: &GroupId, ops: &[(usize, OrgId, bool)]) -> bool {
        let n = ops.len();
        self.groups
            .with(group, |g| {
                g.state.pending.is_empty()
                    && g.state.applied.len() + n < MAX_GROUP_OPS
                    && g.log.len() + n < MAX_GROUP_OPS
                    && ops.iter().all(|(_, author, _)| {
                        !g.state.ended_by.contains_key(author) && !g.state.departed.contains_key(author)
                    })
            })
            .unwrap_or(false)
    }
}
