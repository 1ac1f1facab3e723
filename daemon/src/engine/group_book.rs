//! The group book: the one holder of the groups this node is in — their logs, computed states
//! and epoch keys (docs/ARCHITECTURE.md, "Owners"). Everyone else asks it questions (a closure
//! run on the groups under its read lock) or, from inside the engine, sends it changes (insert,
//! remove, update one group).
//!
//! It is a private lock with short methods, not a task: every question and every change is a
//! few microseconds of synchronous CPU work (a map look-up, a log insert and recompute), asked
//! for from synchronous code on the receive path; a task would add a channel hop and a
//! context switch to each, and an `.await` to code that has none.
//!
//! Poisoning: the lock is recovered ([`PoisonError::into_inner`]). The state stays consistent
//! because no change is made in place: [`GroupBook::update`] runs the change on a clone of the
//! group and puts the clone in only when the change returned, and insert and remove are single
//! map operations. A panic while the write lock is held therefore leaves the map as it was
//! before the change. Read locks are not poisoned by a panicking reader.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use trellis_proto::{GroupId, OrgId};

use crate::groups::GroupRuntime;

/// The groups this node is in.
#[derive(Debug, Default)]
pub struct GroupBook {
    groups: RwLock<HashMap<GroupId, GroupRuntime>>,
}

impl GroupBook {
    fn read_lock(&self) -> RwLockReadGuard<'_, HashMap<GroupId, GroupRuntime>> {
        self.groups.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_lock(&self) -> RwLockWriteGuard<'_, HashMap<GroupId, GroupRuntime>> {
        self.groups.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Answer a question about all groups. `ask` runs under the read lock: keep it short and
    /// never `.await` or call back into the group book inside it.
    pub fn read<R>(&self, ask: impl FnOnce(&HashMap<GroupId, GroupRuntime>) -> R) -> R {
        ask(&self.read_lock())
    }

    /// Answer a question about one group; `None` when this node is not in it.
    pub fn with<R>(&self, id: &GroupId, ask: impl FnOnce(&GroupRuntime) -> R) -> Option<R> {
        self.read_lock().get(id).map(ask)
    }

    /// The groups this node is in.
    pub fn ids(&self) -> Vec<GroupId> {
        self.read_lock().keys().copied().collect()
    }

    /// Whether this node is in `id`.
    pub fn contains(&self, id: &GroupId) -> bool {
        self.read_lock().contains_key(id)
    }

    /// The name of group `id`.
    pub fn name(&self, id: &GroupId) -> Option<String> {
        self.with(id, |g| g.name().to_string())
    }

    /// Whether `org` is a member of group `id` now.
    pub fn is_member(&self, id: &GroupId, org: &OrgId) -> bool {
        self.with(id, |g| g.state.members.contains_key(org)).unwrap_or(false)
    }

    /// Whether `org` is a member of any group this node is in.
    pub fn is_member_anywhere(&self, org: &OrgId) -> bool {
        self.read_lock().values().any(|g| g.state.members.contains_key(org))
    }

    /// The epoch keys held for the computed state's epochs of `id` (empty when not in it).
    pub fn keys_of(&self, id: &GroupId) -> Vec<[u8; 32]> {
        self.with(id, |g| g.all_keys()).unwrap_or_default()
    }

    /// Add (or replace) a group.
    pub(super) fn insert(&self, rt: GroupRuntime) {
        self.write_lock().insert(rt.id(), rt);
    }

    /// Add many groups at once (loading at start).
    pub(super) fn insert_all(&self, rts: Vec<GroupRuntime>) {
        let mut g = self.write_lock();
        for rt in rts {
            g.insert(rt.id(), rt);
        }
    }

    /// Take a group out.
    pub(super) fn remove(&self, id: &GroupId) -> Option<GroupRuntime> {
        self.write_lock().remove(id)
    }

    /// Change one group: `change` runs on a copy, which replaces the group when `change`
    /// returns. The write lock is held throughout, so changes to the book never interleave.
    /// `None` when this node is not in the group.
    pub(super) fn update<R>(&self, id: &GroupId, change: impl FnOnce(&mut GroupRuntime) -> R) -> Option<R> {
        let mut groups = self.write_lock();
        let mut copy = groups.get(id)?.clone();
        let r = change(&mut copy);
        groups.insert(*id, copy);
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::GroupRecord;
    use trellis_proto::group::{GroupKind, SignedGenesis};

    fn group(name: &str) -> (GroupRuntime, trellis_proto::OrgKeys) {
        let keys = trellis_proto::OrgKeys::from_seeds([1; 32], [2; 32]);
        let genesis =
            SignedGenesis::create(&keys, name, GroupKind::Sector, 1_000, [3; 16], &[4; 32], [5; 32]).expect("genesis");
        let rec = GroupRecord { genesis, joined_ms: 1_000, epoch_keys: vec![] };
        (GroupRuntime::from_record(&rec, &keys).expect("runtime"), keys)
    }

    #[test]
    fn a_change_that_panics_leaves_the_group_as_it_was_and_the_book_usable() {
        let book = std::sync::Arc::new(GroupBook::default());
        let (rt, keys) = group("water");
        let id = rt.id();
        book.insert(rt);
        let joined = book.with(&id, |g| g.joined_ms).expect("held");
        let b2 = std::sync::Arc::clone(&book);
        let panicked = std::thread::spawn(move || {
            b2.update(&id, |g| {
                g.joined_ms = 99;
                panic!("half-way");
            })
        })
        .join();
        assert!(panicked.is_err());
        assert_eq!(book.with(&id, |g| g.joined_ms), Some(joined), "the half-made change is not kept");
        assert_eq!(book.update(&id, |g| g.joined_ms = 7), Some(()));
        assert_eq!(book.with(&id, |g| g.joined_ms), Some(7), "the book takes changes after the panic");
        assert!(book.is_member(&id, &keys.org_id()));
        assert_eq!(book.name(&id).as_deref(), Some("water"));
        assert_eq!(book.ids(), vec![id]);
        assert!(book.remove(&id).is_some());
        assert!(!book.contains(&id));
        assert_eq!(book.update(&id, |_| ()), None);
    }
}
