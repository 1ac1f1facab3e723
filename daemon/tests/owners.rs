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
