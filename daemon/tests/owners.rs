//! The engine's owners that live beside the hot path: the reactions thread (started by whoever
//! runs the node, holding the engine only until stopped), the endorsement counts, the per-engine
//! feed and SBOM state.

mod common;

use std::sync::Arc;

use trellis_daemon::store::Store;

/// The tests here that start reactions threads run one at a time, so each can count them.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Threads of this process named `name` (Linux: `/proc/self/task/*/comm`).
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim_end() == name))
        .count()
}

/// [`threads_named`], once a thread just started has had time to name itself (it does so as it
/// starts running).
async fn named_soon(name: &str, want: usize) -> usize {
    for _ in 0..100 {
        if threads_named(name) == want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    threads_named(name)
}

/// A stopped reactions thread holds nothing of the engine: once the engine is dropped, the store
/// file can be opened again (redb refuses a second open while the first is alive).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_reactions_thread_keeps_no_store_open() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, _keys, _binding) = common::offline_engine(dir.path(), "r").await;
    let store_path = engine.home().join("store.redb");
    let thread = trellis_daemon::reactions::start(Arc::clone(&engine)).unwrap();
    // While it runs, the thread holds the engine.
    assert_eq!(Arc::strong_count(&engine), 2);
    assert!(Store::open(&store_path).is_err(), "the store is open while the engine lives");
    // Dropping the handle stops and joins the thread.
    assert_eq!(named_soon("reactions", 1).await, 1);
    drop(thread);
    assert_eq!(threads_named("reactions"), 0, "the thread is joined");
    assert_eq!(Arc::strong_count(&engine), 1);
    drop(engine);
    Store::open(&store_path).expect("the store reopens once the engine is gone");
}

/// A node that stopped leaves its home free: its reactions thread is gone, the store opens
/// again, and so does a new node on the same home.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_leaves_its_store_closed() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let node = common::start(dir.path(), "a", vec![]).await;
    assert_eq!(named_soon("reactions", 1).await, 1, "the node runs its reactions thread");
    let home = node.home.clone();
    node.client.create_group("owners", trellis_api::types::GroupKind::Sector).await.unwrap();
    node.publish("owners", "green", "watched advisory", vec![]).await.unwrap();
    node.shutdown().await;
    assert_eq!(threads_named("reactions"), 0, "stopping the node joins its reactions thread");
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

/// An engine on an existing home (the offline engine of `common`, started again).
fn reopen(home: &std::path::Path) -> Arc<trellis_daemon::engine::Engine> {
    common::engine_at(home, Default::default()).0
}

type Ends = std::collections::HashMap<trellis_proto::ItemId, Vec<(trellis_proto::OrgId, trellis_proto::trust::Stance)>>;

/// What a scan of the store finds: every readable endorsement of the group, in the store's
/// order (the rule the index keeps).
fn scanned(engine: &trellis_daemon::engine::Engine, gid: &trellis_proto::GroupId) -> Ends {
    use trellis_proto::items::EndorsementKind;
    use trellis_proto::trust::Stance;
    let mut out = Ends::new();
    for id in engine.store().group_item_ids(gid, trellis_proto::Kind::Endorsement).unwrap() {
        let item = engine.store().get_item(&id).unwrap().unwrap();
        if let Some((env, trellis_proto::Payload::Endorsement(e))) = item.open() {
            let stance = if e.kind == EndorsementKind::Dispute { Stance::Disputes } else { Stance::Supports };
            out.entry(e.item).or_default().push((env.header.sender, stance));
        }
    }
    out
}

/// The endorsement index counts what a scan of the store counts, in the same order: a later
/// endorsement by the same org (a dispute after a confirmation) is one more entry, not a
/// replacement; endorsements recorded before and after the group was first read are all there;
/// an engine started again on the same home counts the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endorsement_counts_are_kept_as_the_scan_counts() {
    use trellis_api::types::{EndorsementKind as Kind, PublishAdvisory, Tlp};
    use trellis_proto::trust::Stance;
    let dir = tempfile::tempdir().unwrap();
    let (engine, keys, _) = common::offline_engine(dir.path(), "e").await;
    let home = engine.home().to_path_buf();
    let gid = engine.create_group("endorsed-here", trellis_proto::group::GroupKind::Sector).await.unwrap();
    let req = |t: &str| PublishAdvisory::text(&gid.to_text(), Tlp::Green, t, "endorsement counts");
    let a = engine.publish_advisory(&req("first")).await.unwrap();
    let b = engine.publish_advisory(&req("second")).await.unwrap();
    // Before the group's endorsements were ever read: the index fills from the store.
    engine.endorse(&a.to_text(), Kind::Confirm, None).await.unwrap();
    let view = engine.advisory(&a.to_text()).unwrap();
    assert_eq!((view.endorsements, view.disputes), (1, 0));
    // After: recorded as they are stored. The same org disputes what it confirmed, twice.
    engine.endorse(&a.to_text(), Kind::Dispute, Some("on second thought".into())).await.unwrap();
    engine.endorse(&a.to_text(), Kind::Dispute, Some("still wrong".into())).await.unwrap();
    engine.endorse(&b.to_text(), Kind::Sighting, None).await.unwrap();
    let view = engine.advisory(&a.to_text()).unwrap();
    assert_eq!((view.endorsements, view.disputes), (1, 2), "each endorsement counts, as the scan counted");
    let me = keys.org_id();
    assert_eq!(
        engine.endorsements_of(&gid, &a),
        vec![(me, Stance::Supports), (me, Stance::Disputes), (me, Stance::Disputes)],
        "in the order they were stored"
    );
    let kept = engine.endorsements(&gid);
    assert_eq!(kept, scanned(&engine, &gid));
    assert_eq!(engine.advisory(&b.to_text()).unwrap().endorsements, 1);
    let listed: Vec<_> = engine.advisories(None).unwrap().into_iter().map(|v| (v.endorsements, v.disputes)).collect();
    drop(engine);

    let engine = reopen(&home);
    assert_eq!(engine.endorsements(&gid), kept, "a restart counts the same");
    let again: Vec<_> = engine.advisories(None).unwrap().into_iter().map(|v| (v.endorsements, v.disputes)).collect();
    assert_eq!(again, listed);
    // And keeps counting after the restart.
    engine.endorse(&b.to_text(), Kind::Dispute, None).await.unwrap();
    assert_eq!(engine.endorsements(&gid), scanned(&engine, &gid));
    let view = engine.advisory(&b.to_text()).unwrap();
    assert_eq!((view.endorsements, view.disputes), (1, 1));
}
