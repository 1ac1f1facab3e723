//! A group as this node holds it: the op log and its computed state, the epoch keys this node
//! could open, and the record persisted in the store. Pure bookkeeping over `trellis-proto`'s
//! group rules; the engine decides when to call it.

use std::collections::BTreeMap;

use trellis_proto::group::{
    GroupLog, GroupState, LogOp, NewEpochKey, OpAction, ShareError, open_epoch_share_checked, open_genesis_key,
};
use trellis_proto::{GroupId, OrgKeys};

use crate::store::GroupRecord;

/// One group. Cloned by the group book for a change ([`crate::engine::group_book::GroupBook`]),
/// so a change that fails half-way never leaves a half-changed group behind.
#[derive(Clone, Debug)]
pub struct GroupRuntime {
    pub log: GroupLog,
    pub state: GroupState,
    /// Epoch keys this node holds, by key id.
    pub keys: BTreeMap<[u8; 16], [u8; 32]>,
    pub joined_ms: u64,
    /// Key shares sent outside ops (EpochKeyShares items): key id → member → the X25519 key the
    /// member had when the share was accepted. Together with the epoch recipients from the log,
    /// this tells who holds the current key.
    pub shared: BTreeMap<[u8; 16], BTreeMap<trellis_proto::OrgId, [u8; 32]>>,
    /// The held keys of the computed state's epochs, refreshed when the state or the keys change
    /// (every received item of the group is opened with them).
    usable: Vec<[u8; 32]>,
}

impl GroupRuntime {
    /// Build from a stored record (the ops are added afterwards with [`GroupRuntime::absorb_op`]).
    pub fn from_record(rec: &GroupRecord, me: &OrgKeys) -> Result<Self, trellis_proto::ProtoError> {
        let log = GroupLog::new(rec.genesis.clone())?;
        let mut keys: BTreeMap<[u8; 16], [u8; 32]> = rec.epoch_keys.iter().copied().collect();
        if let Some(k) = open_genesis_key(&rec.genesis, me) {
            keys.insert(rec.genesis.genesis.initial_key.key_id, k);
        }
        let state = log.compute();
        let mut rt =
            GroupRuntime { log, state, keys, joined_ms: rec.joined_ms, shared: BTreeMap::new(), usable: vec![] };
        rt.refresh_usable();
        Ok(rt)
    }

    pub fn id(&self) -> GroupId {
        self.log.id
    }

    pub fn name(&self) -> &str {
        &self.log.genesis.genesis.name
    }

    /// The record to persist.
    pub fn record(&self) -> GroupRecord {
        GroupRecord {
            genesis: self.log.genesis.clone(),
            joined_ms: self.joined_ms,
            epoch_keys: self.keys.iter().map(|(k, v)| (*k, *v)).collect(),
        }
    }

    /// Take any key share addressed to `me` out of a new epoch key. The key is kept only if it
    /// matches its id ([`trellis_proto::group::epoch_key_id`]), so a key held under an id is
    /// always the key that id names. A share that opens to another key is evidence against its
    /// author and is logged.
    pub fn absorb_key(&mut self, key: &NewEpochKey, me: &OrgKeys) -> bool {
        if self.keys.contains_key(&key.key_id) {
            return false;
        }
        match open_epoch_share_checked(&self.log.id, &key.key_id, &key.shares, me) {
            Ok(k) => {
                self.keys.insert(key.key_id, k);
                self.refresh_usable();
                true
            }
            Err(ShareError::WrongKey) => {
                tracing::warn!(group = %self.log.id.short(), "a key share opened to a key that does not match its id: refused");
                false
            }
            Err(_) => false,
        }
    }

    /// Add an op to the log and recompute the state, then take our key shares from the applied
    /// ops (only applied ops: a void op's share may come from someone who was not an admin).
    /// Returns whether a new key was learned.
    pub fn absorb_op(&mut self, op: LogOp, me: &OrgKeys) -> Result<bool, trellis_proto::ProtoError> {
        self.log.insert(op)?;
        Ok(self.recompute(me))
    }

    /// Add ops stored together (`engine/op_batch.rs`) and recompute the state once; the state
    /// is the one [`GroupRuntime::absorb_op`] op by op reaches. An op past the log's hard bound
    /// is left out, as op by op. Returns whether a new key was learned.
    pub fn absorb_ops(&mut self, ops: Vec<LogOp>, me: &OrgKeys) -> bool {
        for op in ops {
            if let Err(e) = self.log.insert(op) {
                tracing::warn!(group = %self.log.id.short(), error = %e, "a group op was stored but not added to the log");
            }
        }
        self.recompute(me)
    }

    /// Load ops read from the store (already admitted once): all are inserted, then the state
    /// is computed once.
    pub fn load_ops(&mut self, ops: Vec<LogOp>, me: &OrgKeys) -> Result<bool, trellis_proto::ProtoError> {
        for op in ops {
            self.log.insert(op)?;
        }
        Ok(self.recompute(me))
    }

    /// Recompute the state and take our shares of the keys its applied ops carry.
    fn recompute(&mut self, me: &OrgKeys) -> bool {
        self.state = self.log.compute();
        self.refresh_usable();
        let keys: Vec<NewEpochKey> = self
            .state
            .applied
            .iter()
            .filter_map(|id| self.log.get(id))
            .filter_map(|o| match &o.op.action {
                OpAction::Add { share: Some(k), .. } => Some(k.clone()),
                OpAction::Remove { new_key, .. } | OpAction::Rotate { new_key } => Some(new_key.clone()),
                _ => None,
            })
            .collect();
        let mut learned = false;
        for k in keys {
            learned |= self.absorb_key(&k, me);
        }
        learned
    }

    /// Take in an EpochKeyShares item from admin `author`: remember who was given the key (with
    /// the X25519 key it was sealed for) and open our own share. Shares from non-admins are
    /// refused: a member must not be able to hand out a key of its own making.
    pub fn absorb_shares(&mut self, author: &trellis_proto::OrgId, key: &NewEpochKey, me: &OrgKeys) -> bool {
        if !self.state.is_admin(author) {
            return false;
        }
        let entry = self.shared.entry(key.key_id).or_default();
        for s in &key.shares {
            if let Some(m) = self.state.members.get(&s.to) {
                entry.insert(s.to, m.bundle.bundle.x25519);
            }
        }
        self.absorb_key(key, me)
    }

    /// Members that hold no share of the current key sealed to their current X25519 key.
    pub fn members_missing_key(&self) -> Vec<trellis_proto::OrgId> {
        let Some(e) = self.state.current_epoch() else { return Vec::new() };
        let shared = self.shared.get(&e.key_id);
        self.state
            .members_missing_current_key()
            .into_iter()
            .filter(|o| {
                let have = shared.and_then(|s| s.get(o));
                have != self.state.members.get(o).map(|m| &m.bundle.bundle.x25519)
            })
            .collect()
    }

    /// The epoch keys held for epochs of the computed state (for opening items of any epoch).
    /// Keys of ops that ended up void are kept in the record but not used (§6.6).
    pub fn all_keys(&self) -> Vec<[u8; 32]> {
        self.usable.clone()
    }

    fn refresh_usable(&mut self) {
        let ids = self.state.epoch_key_ids();
        self.usable = self.keys.iter().filter(|(id, _)| ids.contains(*id)).map(|(_, k)| *k).collect();
    }

    /// Whether this node is a recipient of the current epoch key but holds no key for it: the
    /// share it was given does not open, or opens to another key. An admin then starts a new
    /// epoch (§6.6).
    pub fn current_key_unreadable(&self, me: &trellis_proto::OrgId) -> bool {
        self.state.current_epoch().is_some_and(|e| e.recipients.contains(me) && !self.keys.contains_key(&e.key_id))
    }

    /// The current epoch number and its key, if this node holds it.
    pub fn current_key(&self) -> Option<(u64, [u8; 32])> {
        let e = self.state.current_epoch()?;
        self.keys.get(&e.key_id).map(|k| (e.number, *k))
    }
}
