//! The peer book: what this node learned about other nodes (docs/ARCHITECTURE.md, "Owners") —
//! the org behind each peer (from verified node bindings), the names orgs declare (contact
//! cards, Hello), and the listen addresses peers announce (identify).
//!
//! A private lock with short methods: each question or change is one map operation, made from
//! the dispatch task, the gossip threads and API handlers alike.
//!
//! Poisoning: the lock is recovered ([`PoisonError::into_inner`]). Every change is a single
//! insert into one map, and the three maps are independent facts (no entry of one implies an
//! entry of another), so a panic while the lock is held cannot leave them contradicting each
//! other.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use libp2p::{Multiaddr, PeerId};
use trellis_proto::OrgId;

/// Longest org name kept, in characters.
const MAX_NAME_CHARS: usize = 128;

#[derive(Debug, Default)]
struct Book {
    orgs: HashMap<PeerId, OrgId>,
    names: HashMap<OrgId, String>,
    addrs: HashMap<PeerId, Vec<Multiaddr>>,
}

/// What this node knows about peers and their orgs.
#[derive(Debug, Default)]
pub struct PeerBook {
    book: Mutex<Book>,
}

impl PeerBook {
    fn lock(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Record that `peer` proved (by a verified node binding) that it runs a node of `org`.
    pub fn bind(&self, peer: PeerId, org: OrgId) {
        self.lock().orgs.insert(peer, org);
    }

    /// The org behind `peer`, when it proved one.
    pub fn org_of(&self, peer: &PeerId) -> Option<OrgId> {
        self.lock().orgs.get(peer).copied()
    }

    /// The peers that proved they run a node of `org`.
    pub fn peers_of(&self, org: &OrgId) -> Vec<PeerId> {
        self.lock().orgs.iter().filter(|(_, o)| *o == org).map(|(p, _)| *p).collect()
    }

    /// Every (peer, org) binding known.
    pub fn bindings(&self) -> Vec<(PeerId, OrgId)> {
        self.lock().orgs.iter().map(|(p, o)| (*p, *o)).collect()
    }

    /// Record the self-declared name of an org: control characters are dropped, it is cut to
    /// 128 characters and trimmed; a name left empty is not recorded.
    pub fn remember_name(&self, org: OrgId, name: &str) {
        let name: String = name.chars().filter(|c| !c.is_control()).take(MAX_NAME_CHARS).collect();
        let name = name.trim();
        if !name.is_empty() {
            self.lock().names.insert(org, name.to_string());
        }
    }

    /// The name `org` declared, if it told us one.
    pub fn name(&self, org: &OrgId) -> Option<String> {
        self.lock().names.get(org).cloned()
    }

    /// Record the listen addresses `peer` announced.
    pub fn set_addrs(&self, peer: PeerId, addrs: Vec<Multiaddr>) {
        self.lock().addrs.insert(peer, addrs);
    }

    /// The listen addresses `peer` announced (empty when none).
    pub fn addrs_of(&self, peer: &PeerId) -> Vec<Multiaddr> {
        self.lock().addrs.get(peer).cloned().unwrap_or_default()
    }

    /// For each of `peers`, its org and that org's declared name, as far as known.
    pub fn describe(&self, peers: &[PeerId]) -> Vec<(Option<OrgId>, Option<String>)> {
        let b = self.lock();
        peers
            .iter()
            .map(|p| {
                let org = b.orgs.get(p).copied();
                (org, org.and_then(|o| b.names.get(&o).cloned()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_and_bindings_answered() {
        let book = PeerBook::default();
        let (org, peer) = (OrgId([7; 32]), PeerId::random());
        book.remember_name(org, "  \u{7}Acme\n ");
        assert_eq!(book.name(&org).as_deref(), Some("Acme"));
        book.remember_name(org, " \t ");
        assert_eq!(book.name(&org).as_deref(), Some("Acme"), "an empty name does not replace one");
        book.remember_name(org, &"x".repeat(500));
        assert_eq!(book.name(&org).map(|n| n.len()), Some(MAX_NAME_CHARS));
        assert_eq!(book.org_of(&peer), None);
        book.bind(peer, org);
        assert_eq!(book.org_of(&peer), Some(org));
        assert_eq!(book.peers_of(&org), vec![peer]);
        assert_eq!(book.describe(&[peer, PeerId::random()]), vec![(Some(org), book.name(&org)), (None, None)]);
        assert!(book.addrs_of(&peer).is_empty());
        let a: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().expect("addr");
        book.set_addrs(peer, vec![a.clone()]);
        assert_eq!(book.addrs_of(&peer), vec![a]);
    }
}
