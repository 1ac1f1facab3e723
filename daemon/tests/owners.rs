//! The engine's owners that live beside the hot path: the reactions thread (started by whoever
//! runs the node, holding the engine only until stopped), the endorsement counts, the per-engine
//! feed and SBOM state.

mod common;

use std::sync::Arc;

use trellis_daemon::store::Store;

/// A stopped reactions thread holds nothing of the engine: once the engine is dropped, the store
/// file can be opened again (redb refuses a second open while the first is alive).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_reactions_thread_keeps_no_store_open() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _keys, _binding) = common::offline_engine(dir.path(), "r").await;
    let store_path = engine.home().join("store.redb");
    let thread = trellis_daemon::reactions::start(Arc::clone(&engine)).unwrap();
    // While it runs, the thread holds the engine.
    assert_eq!(Arc::strong_count(&engine), 2);
    assert!(Store::open(&store_path).is_err(), "the store is open while the engine lives");
    // Dropping the handle stops and joins the thread.
    drop(thread);
    assert_eq!(Arc::strong_count(&engine), 1);
    drop(engine);
    Store::open(&store_path).expect("the store reopens once the engine is gone");
}

/// A node that stopped leaves its home free: the store opens again, and so does a new node on
/// the same home.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_leaves_its_store_closed() {
    let dir = tempfile::tempdir().unwrap();
    let node = common::start(dir.path(), "a", vec![]).await;
    let home = node.home.clone();
    node.client.create_group("owners", trellis_api::types::GroupKind::Sector).await.unwrap();
    node.publish("owners", "green", "watched advisory", vec![]).await.unwrap();
    node.shutdown().await;
    let store_path = home.join(trellis_daemon::home::STORE_FILE);
    drop(Store::open(&store_path).expect("the store reopens after the node stopped"));
    let again = common::start(dir.path(), "a", vec![]).await;
    assert_eq!(again.titles().await, vec!["watched advisory".to_string()]);
    again.shutdown().await;
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../proto/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Two engines in one process keep their own feed state and SBOM cache: a run going on in one is
/// not seen by the other, and an SBOM added to one is not listed by the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_share_no_feed_or_sbom_state() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _, _) = common::offline_engine(dir.path(), "a").await;
    let (b, _, _) = common::offline_engine(dir.path(), "b").await;
    let tracker = a.feeds().progress().start("feed1", 7);
    tracker.add_total(3);
    tracker.step();
    assert_eq!(a.feeds().progress().current("feed1"), Some((1, Some(3), 7)));
    assert_eq!(b.feeds().progress().current("feed1"), None);
    drop(tracker);
    assert_eq!(a.feeds().progress().current("feed1"), None, "the entry lasts as long as the run");

    let sbom = trellis_api::types::SbomAdd {
        name: "npm-app".into(),
        document: String::from_utf8(fixture("cyclonedx-npm-app.json")).unwrap(),
        lenient: false,
    };
    a.sbom_add(&sbom).unwrap();
    assert_eq!(a.sbom_list().len(), 1);
    assert!(b.sbom_list().is_empty());
    // The same document added to b is listed once by each.
    b.sbom_add(&sbom).unwrap();
    assert_eq!(b.sbom_list().len(), 1);
    assert_eq!(a.sbom_list().len(), 1);
}
