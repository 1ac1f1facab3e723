//! A group as this node holds it: the op log and its computed state, the epoch keys this node
//! could open, and the record persisted in the store. Pure bookkeeping over `trellis-proto`'s
//! group rules; the engine decides when to call it.

use std::collections::BTreeMap;

use trellis_proto::group::{
    GroupLog, GroupState, LogOp, NewEpochKey, OpAction, open_epoch_share, open_genesis_key,
};
use trellis_proto::{GroupId, OrgKeys};

use crate::store::GroupRecord;

/// One group.
#[derive(Debug)]
pub struct GroupRuntime {
    pub log: GroupLog,
    pub state: GroupState,
    /// Epoch keys this node holds, by key id.
    pub keys: BTreeMap<[u8; 16], [u8; 32]>,
    pub joined_ms: u64,
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
        Ok(GroupRuntime {
            log,
            state,
            keys,
            joined_ms: rec.joined_ms,
        })
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

    /// Take any key share addressed to `me` out of a new epoch key.
    pub fn absorb_key(&mut self, key: &NewEpochKey, me: &OrgKeys) -> bool {
        if self.keys.contains_key(&key.key_id) {
            return false;
        }
        match open_epoch_share(&self.log.id, &key.key_id, &key.shares, me) {
            Some(k) => {
                self.keys.insert(key.key_id, k);
                true
            }
            None => false,
        }
    }

    /// Add an op to the log, take our key shares from it, and recompute the state. Returns
    /// whether a new key was learned.
    pub fn absorb_op(
        &mut self,
        op: LogOp,
        me: &OrgKeys,
    ) -> Result<bool, trellis_proto::ProtoError> {
        let new_key = match &op.op.action {
            OpAction::Add { share: Some(k), .. } => Some(k.clone()),
            OpAction::Remove { new_key, .. } | OpAction::Rotate { new_key } => {
                Some(new_key.clone())
            }
            _ => None,
        };
        self.log.insert(op)?;
        let learned = new_key.is_some_and(|k| self.absorb_key(&k, me));
        self.state = self.log.compute();
        Ok(learned)
    }

    /// All epoch keys held (for opening items of any epoch).
    pub fn all_keys(&self) -> Vec<[u8; 32]> {
        self.keys.values().copied().collect()
    }

    /// The current epoch number and its key, if this node holds it.
    pub fn current_key(&self) -> Option<(u64, [u8; 32])> {
        let e = self.state.current_epoch()?;
        self.keys.get(&e.key_id).map(|k| (e.number, *k))
    }
}
