//! The engine reads time only through its clock handle: with a test clock, a quota window, the
//! interval between syncs started by unknown senders and the clock-skew bound move when the
//! test moves the clock, and not otherwise — no test here sleeps.

mod common;

use std::time::Duration;

use trellis_daemon::clock::{Rng, TestClock};
use trellis_daemon::engine::Setup;
use trellis_daemon::engine::ingest::{Origin, Outcome};
use trellis_daemon::engine::sync::TRIGGERED_SYNC_INTERVAL;
use trellis_daemon::home::now_ms;
use trellis_proto::envelope::{Envelope, EnvelopeRandomness, PublishRequest, Recipients};
use trellis_proto::limits::MAX_CLOCK_SKEW_MS;
use trellis_proto::{OrgId, ProtoError, Tlp};

fn setup(clock: &TestClock) -> Setup {
    Setup { clock: clock.clock(), rng: Rng::seeded(17), ..Default::default() }
}

fn peer() -> libp2p::PeerId {
    libp2p::identity::Keypair::generate_ed25519().public().to_peer_id()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_refills_as_the_test_clock_moves() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new(now_ms());
    let (e, _, _) = common::offline_engine_with(dir.path(), "node", setup(&clock)).await;
    // An org this node knows nothing of has trust 0: 5 items/s, a burst of 10.
    let stranger = OrgId([9; 32]);
    let (rate, burst) = trellis_daemon::engine::trust::quota(e.trust_of(&stranger));
    assert_eq!((rate, burst), (5.0, 10.0));
    for i in 0..10 {
        assert!(e.take_quota(&stranger), "item {i} of the burst");
    }
    assert!(!e.take_quota(&stranger), "the burst is spent");
    assert!(!e.quota_available(&stranger), "and stays spent while the clock stands still");
    clock.advance(Duration::from_millis(199));
    assert!(!e.take_quota(&stranger), "199 ms refill less than one item at 5/s");
    clock.advance(Duration::from_millis(1));
    assert!(e.quota_available(&stranger), "200 ms refill one item");
    assert!(e.take_quota(&stranger));
    assert!(!e.take_quota(&stranger));
    clock.advance(Duration::from_secs(60));
    for i in 0..10 {
        assert!(e.take_quota(&stranger), "item {i} after a long pause: the burst again");
    }
    assert!(!e.take_quota(&stranger), "never more than the burst");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_started_by_unknown_senders_follow_the_test_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new(now_ms());
    let (e, _, _) = common::offline_engine_with(dir.path(), "node", setup(&clock)).await;
    let p = peer();
    assert!(e.peer_limits().may_trigger_sync(p));
    assert!(!e.peer_limits().may_trigger_sync(p), "one per interval");
    clock.advance(TRIGGERED_SYNC_INTERVAL - Duration::from_millis(1));
    assert!(!e.peer_limits().may_trigger_sync(p), "not before the interval is over");
    clock.advance(Duration::from_millis(1));
    assert!(e.peer_limits().may_trigger_sync(p), "again once it is");
    assert_eq!(e.peer_limits().triggered_syncs(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_from_the_future_is_accepted_once_the_clock_reaches_it() {
    let dir = tempfile::tempdir().unwrap();
    let start = now_ms();
    let clock = TestClock::new(start);
    let (e, keys, _) = common::offline_engine_with(dir.path(), "founder", setup(&clock)).await;
    let gid = e.create_group("water", trellis_proto::group::GroupKind::Sector).await.unwrap();
    let payload = common::advisory_payload("ahead", "stamped beyond the allowed skew");
    let env = Envelope::build(
        &keys,
        &PublishRequest {
            group: gid,
            epoch: 0,
            seq: 1,
            timestamp_ms: start + MAX_CLOCK_SKEW_MS + 60_000,
            tlp: Tlp::Clear,
            payload: &payload,
            recipients: Recipients::Clear,
        },
        &EnvelopeRandomness { nonce: [1; 24], content_key: [0; 32], hpke_seed: [0; 32] },
    )
    .unwrap();
    assert_eq!(e.ingest(&env.bytes, Origin::Sync(peer())), Err(ProtoError::FromTheFuture));
    clock.advance(Duration::from_secs(59));
    assert_eq!(e.ingest(&env.bytes, Origin::Sync(peer())), Err(ProtoError::FromTheFuture), "still a second too early");
    clock.advance(Duration::from_secs(1));
    assert_eq!(e.ingest(&env.bytes, Origin::Sync(peer())), Ok(Outcome::Stored));
}
