//! Round trips through `codec::encode` / `codec::decode` (§3.2) for every serialized type, and
//! the framing rules: a strict prefix never decodes, a trailing byte is refused, and the length
//! limit is checked before decoding.

use std::fmt::Debug;

use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use trellis_proto::{ProtoError, codec};

use super::strategies::*;

/// Check everything §3.2 promises for one value.
fn round_trip<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let bytes = codec::encode(value);
    prop_assert!(!bytes.is_empty());
    let back: T = codec::decode(&bytes, bytes.len()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, value);
    prop_assert_eq!(codec::encode(&back), bytes.clone(), "encoding is not a function of the value");

    // Decoding is left to right and deterministic, so no strict prefix is a complete value.
    for cut in [0, bytes.len() / 2, bytes.len() - 1] {
        prop_assert!(
            codec::decode::<T>(&bytes[..cut], usize::MAX).is_err(),
            "prefix of {} of {} bytes decoded",
            cut,
            bytes.len()
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    prop_assert_eq!(codec::decode::<T>(&longer, usize::MAX), Err(ProtoError::TrailingBytes(1)));
    prop_assert_eq!(
        codec::decode::<T>(&bytes, bytes.len() - 1),
        Err(ProtoError::Oversize { len: bytes.len(), max: bytes.len() - 1 })
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn header_round_trips(v in header()) { round_trip(&v)?; }

    #[test]
    fn body_round_trips(v in body()) { round_trip(&v)?; }

    #[test]
    fn payload_round_trips(v in payload()) { round_trip(&v)?; }

    #[test]
    fn group_op_round_trips(v in group_op()) { round_trip(&v)?; }

    #[test]
    fn signed_genesis_round_trips(v in signed_genesis()) { round_trip(&v)?; }

    #[test]
    fn invite_round_trips(v in invite()) { round_trip(&v)?; }

    #[test]
    fn contact_card_round_trips(v in contact_card()) { round_trip(&v)?; }

    #[test]
    fn key_bundles_round_trip(v in signed_key_bundle()) {
        round_trip(&v)?;
        round_trip(&v.bundle)?;
    }

    #[test]
    fn node_binding_round_trips(v in signed_node_binding()) {
        round_trip(&v)?;
        round_trip(&v.binding)?;
    }

    #[test]
    fn small_types_round_trip(t in tlp(), k in kind(), s in sig(), r in role()) {
        round_trip(&t)?;
        round_trip(&k)?;
        round_trip(&s)?;
        round_trip(&r)?;
    }
}

#[test]
fn every_payload_variant_is_generated() {
    // Guards the strategy: a round trip over a strategy that never produced some variant would
    // prove nothing about it.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..500 {
        let p = payload().new_tree(&mut runner).unwrap().current();
        seen.insert(p.kind());
    }
    assert_eq!(seen.len(), trellis_proto::Kind::ALL.len(), "{seen:?}");
}
