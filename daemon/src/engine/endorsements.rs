//! The endorsement index: per group, for each endorsed item, the endorsements this node can read
//! (endorser, stance), kept as items are stored instead of scanning the group's endorsements for
//! every advisory view.
//!
//! A group's entry is filled from the store the first time it is asked for (one scan of its
//! endorsements), then kept up to date by [`EndorsementIndex::record`], called for every
//! endorsement that becomes readable here: stored by the receive pipeline or by publishing
//! (`Engine::after_store_at`), or opened later when its epoch key arrives
//! (`open_waiting_items`). Items are never deleted from the store, so the index only grows.
//!
//! The rule is the scan's: every readable endorsement counts, in the order the store lists a
//! group's endorsements (receive time, then item id). A second endorsement by the same org is a
//! second entry (an endorsement and a later dispute by one org count one of each); confidence
//! takes the first one of each org (`trellis_proto::trust::confidence`).
//!
//! Filling races with recording: while a group is being filled, what is recorded for it is kept
//! aside and merged into the filled map (an endorsement both read by the scan and recorded is
//! kept once, by its id). A group not filled yet records nothing: its fill, which starts later,
//! reads it from the store.
//!
//! The lock is private and held only for map operations, never across a store read. A poisoned
//! lock is recovered by emptying the index (a cache of the store): the next question fills the
//! group again.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use trellis_proto::items::EndorsementKind;
use trellis_proto::trust::Stance;
use trellis_proto::{GroupId, ItemId, Kind, OrgId, Payload};

use crate::store::{Store, StoreError};

/// One readable endorsement of an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// When it was stored here (the store lists a group's items by this, then by id).
    pub received_ms: u64,
    /// The endorsement item's own id.
    pub id: ItemId,
    pub endorser: OrgId,
    pub stance: Stance,
}

impl Entry {
    fn order(&self) -> (u64, ItemId) {
        (self.received_ms, self.id)
    }
}

/// The stance of an endorsement of `kind`.
pub fn stance_of(kind: EndorsementKind) -> Stance {
    if kind == EndorsementKind::Dispute { Stance::Disputes } else { Stance::Supports }
}

/// A group's endorsements: endorsed item → entries, in the store's order.
type GroupEnds = HashMap<ItemId, Vec<Entry>>;

enum Slot {
    /// Being filled from the store (by the filler holding this ticket); what was recorded
    /// meanwhile.
    Filling(u64, Vec<(ItemId, Entry)>),
    Ready(GroupEnds),
}

/// See the module doc.
#[derive(Default)]
pub struct EndorsementIndex {
    groups: Mutex<HashMap<GroupId, Slot>>,
    /// The next filler's ticket.
    tickets: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for EndorsementIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndorsementIndex").finish_non_exhaustive()
    }
}

fn insert(ends: &mut GroupEnds, item: ItemId, e: Entry) {
    let v = ends.entry(item).or_default();
    if let Err(at) = v.binary_search_by(|x| x.order().cmp(&e.order())) {
        v.insert(at, e);
    }
}

/// Every readable endorsement of `group` in the store.
fn scan(store: &Store, group: &GroupId) -> Result<GroupEnds, StoreError> {
    let mut out = GroupEnds::new();
    for id in store.group_item_ids(group, Kind::Endorsement)? {
        let Some(item) = store.get_item(&id)? else { continue };
        let Some((env, Payload::Endorsement(e))) = item.open() else { continue };
        let entry = Entry { received_ms: item.received_ms, id, endorser: env.header.sender, stance: stance_of(e.kind) };
        insert(&mut out, e.item, entry);
    }
    Ok(out)
}

impl EndorsementIndex {
    fn lock(&self) -> MutexGuard<'_, HashMap<GroupId, Slot>> {
        self.groups.lock().unwrap_or_else(|p| {
            let mut g = p.into_inner();
            g.clear();
            self.groups.clear_poison();
            g
        })
    }

    /// An endorsement of `item` in `group` became readable here.
    pub(super) fn record(&self, group: &GroupId, item: ItemId, e: Entry) {
        match self.lock().get_mut(group) {
            Some(Slot::Ready(ends)) => insert(ends, item, e),
            Some(Slot::Filling(_, pending)) => pending.push((item, e)),
            None => {}
        }
    }

    /// `f` of the group's endorsements, filling the group from `store` first if needed.
    pub fn with_group<T>(
        &self,
        store: &Store,
        group: &GroupId,
        f: impl FnOnce(&GroupEnds) -> T,
    ) -> Result<T, StoreError> {
        let ticket = {
            let mut groups = self.lock();
            match groups.get(group) {
                Some(Slot::Ready(ends)) => return Ok(f(ends)),
                // Another caller fills it: answer from a scan of our own, without keeping it.
                Some(Slot::Filling(..)) => None,
                None => {
                    let t = self.tickets.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    groups.insert(*group, Slot::Filling(t, Vec::new()));
                    Some(t)
                }
            }
        };
        let scanned = scan(store, group);
        let Some(ticket) = ticket else { return scanned.map(|ends| f(&ends)) };
        let mut groups = self.lock();
        // Still ours only if nothing emptied the index meanwhile (a recovered poisoned lock):
        // what was recorded then would be missing, so the scan is used but not kept.
        let ours = matches!(groups.get(group), Some(Slot::Filling(t, _)) if *t == ticket);
        let pending = match groups.remove(group) {
            Some(Slot::Filling(_, pending)) if ours => pending,
            Some(other) => {
                groups.insert(*group, other);
                return scanned.map(|ends| f(&ends));
            }
            None => return scanned.map(|ends| f(&ends)),
        };
        let mut ends = scanned?;
        for (item, e) in pending {
            insert(&mut ends, item, e);
        }
        let out = f(&ends);
        groups.insert(*group, Slot::Ready(ends));
        Ok(out)
    }
}

/// The (endorser, stance) pairs of entries, in order.
pub fn stances(entries: &[Entry]) -> Vec<(OrgId, Stance)> {
    entries.iter().map(|e| (e.endorser, e.stance)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ms: u64, id: u8, org: u8, stance: Stance) -> Entry {
        Entry { received_ms: ms, id: ItemId([id; 32]), endorser: OrgId([org; 32]), stance }
    }

    #[test]
    fn entries_keep_the_store_order_once_each() {
        let mut ends = GroupEnds::new();
        let item = ItemId([9; 32]);
        let (a, b, c) =
            (entry(5, 2, 1, Stance::Supports), entry(5, 1, 1, Stance::Disputes), entry(3, 7, 2, Stance::Supports));
        for e in [a, b, c, a] {
            insert(&mut ends, item, e);
        }
        // By receive time, then by id; the repeated one once.
        assert_eq!(ends[&item], vec![c, b, a]);
        assert_eq!(
            stances(&ends[&item]),
            vec![
                (OrgId([2; 32]), Stance::Supports),
                (OrgId([1; 32]), Stance::Disputes),
                (OrgId([1; 32]), Stance::Supports)
            ]
        );
    }

    #[test]
    fn a_group_records_only_once_filled() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store.redb")).unwrap();
        let index = EndorsementIndex::default();
        let (g, item) = (GroupId([1; 32]), ItemId([2; 32]));
        // Not filled yet: nothing kept (a fill reads the store, which holds what was recorded).
        index.record(&g, item, entry(1, 3, 4, Stance::Supports));
        assert!(index.with_group(&store, &g, |ends| ends.is_empty()).unwrap());
        // Filled: recorded from now on.
        let e = entry(2, 5, 6, Stance::Disputes);
        index.record(&g, item, e);
        assert_eq!(index.with_group(&store, &g, |ends| ends[&item].clone()).unwrap(), vec![e]);
    }
}
