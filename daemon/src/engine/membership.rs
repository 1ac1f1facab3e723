//! Membership changes (PROTOCOL.md §6): remove with rekey, role changes, leaving, and the
//! upkeep admins do so every member holds exactly the current key: rotate when someone who
//! left still holds it, and send shares to members that lack it (added concurrently with a
//! rekey, or whose encryption key changed). Also key rotation and revocation of this org.

use std::sync::Arc;
use std::time::Duration;

use trellis_proto::group::{EpochKeyShares, GroupOp, OpAction, Role, seal_epoch_key};
use trellis_proto::items::{Revocation, RevokedKey};
use trellis_proto::{GroupId, ItemId, OrgId, Payload, Tlp};

use super::actions::Audience;
use super::{ActionError, Engine};
use crate::clock::Rng;

fn bad(msg: impl Into<String>) -> ActionError {
    ActionError::BadRequest(msg.into())
}

/// A fresh epoch key for `group`, sealed to each of `members` (org, X25519 key). A member whose
/// key cannot be sealed to is left out and reported; it gets no share, and upkeep keeps
/// reporting it, while everyone else gets the new key.
fn new_key(rng: &Rng, group: &GroupId, members: &[(OrgId, [u8; 32])]) -> trellis_proto::group::NewEpochKey {
    let key: [u8; 32] = rng.bytes();
    let (sealed, unusable) = seal_epoch_key(group, &key, members, rng.bytes());
    for org in unusable {
        tracing::warn!(group = %group.short(), org = %org.fingerprint(), "this member's encryption key cannot be sealed to: it gets no share of the new group key");
    }
    sealed
}

impl Engine {
    /// Check that this org is an admin of `gid`; return the op parents (current heads).
    fn admin_heads(&self, gid: &GroupId) -> Result<Vec<ItemId>, ActionError> {
        let me = self.me();
        self.with_group(gid, |g| {
            if !g.state.is_admin(&me) {
                let admins: Vec<String> = g.state.admins().iter().map(|o| o.fingerprint()).collect();
                return Err(bad(format!(
                    "only an admin of {} can do this; admins: {}",
                    g.name().escape_debug(),
                    admins.join(", ")
                )));
            }
            Ok(g.state.heads.clone())
        })
    }

    /// Members of `gid` other than `except`, with their current X25519 keys.
    fn member_keys(&self, gid: &GroupId, except: Option<&OrgId>) -> Result<Vec<(OrgId, [u8; 32])>, ActionError> {
        self.with_group(gid, |g| {
            Ok(g.state
                .members
                .iter()
                .filter(|(o, _)| Some(*o) != except)
                .map(|(o, m)| (*o, m.bundle.bundle.x25519))
                .collect())
        })
    }

    /// Remove `org` from the group and rekey (§6.6).
    pub async fn remove_member(self: &Arc<Self>, group: &str, org: &str) -> Result<ItemId, ActionError> {
        let gid = self.resolve_group(group)?;
        let target = self.resolve_member(&gid, org)?;
        let parents = self.admin_heads(&gid)?;
        if target == self.me() {
            return Err(bad("to remove yourself use `trellis group leave`"));
        }
        if !self.groups.is_member(&gid, &target) {
            return Err(ActionError::NotFound(format!("{} is not a member", target.fingerprint())));
        }
        // Items of the removed org stay valid up to the end of the unbroken run of sequence
        // numbers from 1 that we hold (§6.7): every number below the cutoff is taken by an item
        // we hold, so the removed org cannot fill a gap with new items after its removal.
        let cutoff_seq = self
            .store
            .seq_ranges(&gid)?
            .iter()
            .find(|(o, _)| *o == target)
            .and_then(|(_, r)| r.first().filter(|(a, _)| *a <= 1).map(|(_, b)| *b))
            .unwrap_or(0);
        let new_key = new_key(&self.rng, &gid, &self.member_keys(&gid, Some(&target))?);
        let op = GroupOp { parents, action: OpAction::Remove { member: target, cutoff_seq, new_key } };
        let (id, _) = self.publish_payload(gid, Tlp::Clear, Payload::GroupOp(op), Audience::Clear).await?;
        Ok(id)
    }

    /// Change a member's role.
    pub async fn set_role(self: &Arc<Self>, group: &str, org: &str, role: Role) -> Result<ItemId, ActionError> {
        let gid = self.resolve_group(group)?;
        let target = self.resolve_member(&gid, org)?;
        let parents = self.admin_heads(&gid)?;
        // An op the rules would void is refused here, with the rule, not published (§6.4).
        self.with_group(&gid, |g| {
            let Some(current) = g.state.role(&target) else {
                return Err(ActionError::NotFound(format!(
                    "{} is not a member of {}",
                    target.fingerprint(),
                    g.name().escape_debug()
                )));
            };
            if current == role {
                return Err(bad(format!("{} already has the role {}", target.fingerprint(), role.as_str())));
            }
            if current == Role::Admin && g.state.admins().len() == 1 {
                return Err(bad(format!(
                    "{} is the last admin of {}: the change would leave the group without an admin; make another member admin first",
                    target.fingerprint(),
                    g.name().escape_debug()
                )));
            }
            Ok(())
        })?;
        let op = GroupOp { parents, action: OpAction::SetRole { member: target, role } };
        let (id, _) = self.publish_payload(gid, Tlp::Clear, Payload::GroupOp(op), Audience::Clear).await?;
        Ok(id)
    }

    /// Leave a group. Admins rotate the key when they see it.
    pub async fn leave(self: &Arc<Self>, group: &str) -> Result<ItemId, ActionError> {
        let gid = self.resolve_group(group)?;
        let me = self.me();
        let parents = self.with_group(&gid, |g| {
            if !g.state.members.contains_key(&me) {
                return Err(bad(format!("this org is not a member of {}", g.name().escape_debug())));
            }
            if g.state.is_admin(&me) && g.state.admins().len() == 1 {
                return Err(bad(
                    "you are the last admin: make another member admin first (trellis group role GROUP ORG admin)",
                ));
            }
            Ok(g.state.heads.clone())
        })?;
        // The Leave op itself takes the next sequence number; everything before it stays valid.
        let last = self
            .store
            .seq_ranges(&gid)?
            .iter()
            .find(|(o, _)| *o == me)
            .and_then(|(_, r)| r.last().map(|(_, b)| *b))
            .unwrap_or(0);
        let op = GroupOp { parents, action: OpAction::Leave { cutoff_seq: last + 1 } };
        let (id, _) = self.publish_payload(gid, Tlp::Clear, Payload::GroupOp(op), Audience::Clear).await?;
        Ok(id)
    }

    /// Rotate this org's encryption key (§2.2): a new X25519 key in a new signed bundle, sent
    /// to every group as an `UpdateKey` op; admins then reseal the group key to it.
    pub async fn rotate_keys(self: &Arc<Self>) -> Result<Vec<ItemId>, ActionError> {
        let bundle = {
            self.identity
                .rotate_encryption(self.rng.bytes(), &self.home, self.clock.now_ms(), 365 * 24 * 3600 * 1000)
                .map_err(|e| ActionError::Internal(e.to_string()))?
        };
        let mut ids = Vec::new();
        for gid in self.group_ids() {
            let parents = {
                let me = self.me();
                match self.groups.with(&gid, |g| g.state.members.contains_key(&me).then(|| g.state.heads.clone())) {
                    Some(Some(heads)) => heads,
                    _ => continue,
                }
            };
            let op = GroupOp { parents, action: OpAction::UpdateKey { bundle: bundle.clone() } };
            ids.push(self.publish_payload(gid, Tlp::Clear, Payload::GroupOp(op), Audience::Clear).await?.0);
        }
        Ok(ids)
    }

    /// Publish a revocation of one of this org's keys in every group (§2.6).
    pub async fn revoke_key(
        self: &Arc<Self>,
        signing: bool,
        effective_ms: Option<u64>,
        reason: &str,
    ) -> Result<Vec<ItemId>, ActionError> {
        let key = if signing {
            RevokedKey::Signing
        } else {
            let Some(prev) = self.identity.with_keys(|keys| keys.previous_encryption().last().map(|k| k.public()))
            else {
                return Err(bad(
                    "there is no retired encryption key to revoke: run `trellis keys rotate` first, then revoke the old one",
                ));
            };
            RevokedKey::Encryption(prev)
        };
        let rev = Revocation {
            key,
            effective_ms: effective_ms.unwrap_or_else(|| self.clock.now_ms()),
            reason: reason.to_string(),
        };
        let mut ids = Vec::new();
        for gid in self.group_ids() {
            ids.push(self.publish_payload(gid, Tlp::Clear, Payload::Revocation(rev.clone()), Audience::Clear).await?.0);
        }
        Ok(ids)
    }

    /// Admin upkeep after a group change (§6.6). The most senior admin acts at once; others
    /// wait a little and act only if the need is still there, so concurrent admins rarely
    /// duplicate work (a duplicate rotation is harmless: one more epoch).
    pub async fn maintain_group(self: &Arc<Self>, gid: GroupId) {
        let me = self.me();
        let (rank, senior) = {
            // Pending ops do not stop upkeep: an op whose parent never arrives (an equivocating
            // author's twin, say) must not freeze the group (§6.6).
            let ranked = self.groups.with(&gid, |g| {
                if !g.state.is_admin(&me) {
                    return None;
                }
                let mut admins: Vec<(usize, OrgId)> =
                    g.state.members.iter().filter_map(|(o, m)| m.admin_rank.map(|r| (r, *o))).collect();
                admins.sort();
                let pos = admins.iter().position(|(_, o)| *o == me).unwrap_or(0);
                Some((pos, pos == 0))
            });
            let Some(Some(ranked)) = ranked else { return };
            ranked
        };
        if !senior {
            tokio::time::sleep(Duration::from_secs(3 * rank as u64)).await;
        }
        let (rotate, missing, parents, epoch_key) = {
            let needs = self.groups.with(&gid, |g| {
                if !g.state.is_admin(&me) {
                    return None;
                }
                if g.current_key_unreadable(&me) {
                    tracing::warn!(group = %gid.short(), "the current group key's share for this node does not open to its key: starting a new epoch");
                }
                Some((
                    g.state.needs_rotation() || g.current_key_unreadable(&me),
                    g.members_missing_key(),
                    g.state.heads.clone(),
                    g.state.current_epoch().map(|e| e.key_id).and_then(|k| g.keys.get(&k).map(|v| (k, *v))),
                ))
            });
            let Some(Some(needs)) = needs else { return };
            needs
        };
        if rotate {
            let Ok(members) = self.member_keys(&gid, None) else {
                return;
            };
            let new_key = new_key(&self.rng, &gid, &members);
            let op = GroupOp { parents, action: OpAction::Rotate { new_key } };
            match self.publish_payload(gid, Tlp::Clear, Payload::GroupOp(op), Audience::Clear).await {
                Ok((id, _)) => {
                    tracing::info!(group = %gid.short(), op = %id.short(), "rotated the group key: a former member held it")
                }
                Err(e) => tracing::warn!(group = %gid.short(), error = %e, "key rotation failed"),
            }
            return;
        }
        if !missing.is_empty() {
            let Some((key_id, key)) = epoch_key else {
                return;
            };
            let Ok(all) = self.member_keys(&gid, None) else {
                return;
            };
            let to: Vec<(OrgId, [u8; 32])> = all.into_iter().filter(|(o, _)| missing.contains(o)).collect();
            if trellis_proto::group::epoch_key_id(&key) != key_id {
                return;
            }
            let (shares, unusable) = seal_epoch_key(&gid, &key, &to, self.rng.bytes());
            for org in unusable {
                tracing::warn!(group = %gid.short(), org = %org.fingerprint(), "this member's encryption key cannot be sealed to");
            }
            if shares.shares.is_empty() {
                return;
            }
            let payload = Payload::EpochKey(EpochKeyShares { key: shares });
            match self.publish_payload(gid, Tlp::Clear, payload, Audience::Clear).await {
                Ok(_) => {
                    tracing::info!(group = %gid.short(), members = to.len(), "sent the current group key to members that lacked it")
                }
                Err(e) => {
                    tracing::warn!(group = %gid.short(), error = %e, "resharing the group key failed")
                }
            }
        }
    }
}
