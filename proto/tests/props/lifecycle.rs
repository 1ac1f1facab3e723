//! Advisory lifecycle properties (§4.9): the history of an advisory — its latest revision, the
//! revisions that count, the equivocations and the refusals — is a function of the set of
//! versions a node holds, not of the order they arrived in or how often each arrived; only the
//! publisher's revisions, in its group, at its label or stricter, ever count; of two revisions
//! under one number the lower id wins; the latest has the highest number.

use proptest::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use trellis_proto::items::Advisory;
use trellis_proto::lifecycle::{FIRST_REVISION, History, Version, history};
use trellis_proto::*;

const PUBLISHER: OrgId = OrgId([1; 32]);
const GROUP: GroupId = GroupId([9; 32]);

fn original() -> Version {
    Version::first(ItemId([0; 32]), GROUP, PUBLISHER, Tlp::Green, Advisory::text("first", "s", 1))
}

/// A candidate revision: (id byte, revision number, sender is the publisher, same group, label,
/// withdrawn).
fn candidate() -> impl Strategy<Value = (u8, u32, bool, bool, u8, bool)> {
    (1u8..=40, 0u32..6, prop::bool::weighted(0.8), prop::bool::weighted(0.9), 0u8..5, any::<bool>())
}

fn version((id, revision, by_publisher, same_group, tlp, withdrawn): (u8, u32, bool, bool, u8, bool)) -> Version {
    Version {
        id: ItemId([id; 32]),
        group: if same_group { GROUP } else { GroupId([8; 32]) },
        sender: if by_publisher { PUBLISHER } else { OrgId([2; 32]) },
        tlp: Tlp::ALL[tlp as usize],
        revision,
        // The content is a function of the id, as it is for real items (the id hashes them).
        advisory: Advisory::text(&format!("rev {revision} by id {id}"), "s", id as u64),
        withdrawn: withdrawn.then(|| format!("reason {id}")),
    }
}

/// Distinct ids, as real items have (an id is the hash of the item's bytes).
fn versions(raw: Vec<(u8, u32, bool, bool, u8, bool)>) -> Vec<Version> {
    let mut seen = std::collections::HashSet::new();
    raw.into_iter().filter(|c| seen.insert(c.0)).map(version).collect()
}

fn admissible(v: &Version) -> bool {
    v.sender == PUBLISHER && v.group == GROUP && v.tlp >= Tlp::Green && v.revision > FIRST_REVISION
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn history_is_independent_of_arrival_order_and_repeats(
        raw in prop::collection::vec(candidate(), 0..16),
        seeds in prop::collection::vec(any::<u64>(), 3),
    ) {
        let vs = versions(raw);
        let reference: History = history(original(), vs.clone());
        for seed in seeds {
            let mut shuffled = vs.clone();
            // Some versions arrive twice (gossip and sync both deliver them).
            shuffled.extend(vs.iter().take(vs.len() / 2).cloned());
            shuffled.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
            let h = history(original(), shuffled);
            prop_assert_eq!(&h, &reference);
            prop_assert_eq!(h.latest(), reference.latest());
        }
    }

    #[test]
    fn only_admissible_revisions_count_and_the_latest_is_the_highest(
        raw in prop::collection::vec(candidate(), 0..16),
    ) {
        let vs = versions(raw);
        let h = history(original(), vs.clone());
        // Every counted version after the first is admissible; every refused one is not.
        for v in &h.versions[1..] {
            prop_assert!(admissible(v), "{:?} counted", v);
        }
        prop_assert_eq!(h.refused.len(), vs.iter().filter(|v| !admissible(v)).count());
        prop_assert_eq!(h.versions.len(), 1 + vs.iter().filter(|v| admissible(v)).count());
        // The latest: the highest admissible number, and of its twins the lowest id.
        let best = vs.iter().filter(|v| admissible(v)).max_by(|a, b| {
            a.revision.cmp(&b.revision).then_with(|| b.id.cmp(&a.id))
        });
        match best {
            None => prop_assert_eq!(h.latest().id, original().id),
            Some(b) => prop_assert_eq!(h.latest().id, b.id),
        }
        // Equivocations: exactly the numbers with two or more admissible versions.
        let mut twins: Vec<u32> = vs.iter().filter(|v| admissible(v)).map(|v| v.revision).collect();
        twins.sort();
        let mut expected: Vec<u32> = twins.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect();
        expected.dedup();
        prop_assert_eq!(&h.equivocations, &expected);
        // The chain has one version per number, strictly increasing.
        let chain = h.chain();
        prop_assert!(chain.windows(2).all(|w| w[0].revision < w[1].revision));
    }
}
