//! The life of an advisory at the node (PROTOCOL.md §4.9), with engines whose network is not
//! run: the publisher's items are handed to the other nodes as a catch-up sync would, and
//! forged ones as a hostile member's node would send them.

mod common;

use std::sync::Arc;

use trellis_api::types::{ImportAdvisory, PublishAdvisory, ReviseAdvisory};
use trellis_daemon::engine::Engine;
use trellis_daemon::engine::ingest::{Origin, Outcome};
use trellis_daemon::home::now_ms;
use trellis_proto::envelope::{Envelope, EnvelopeRandomness, PublishRequest, Recipients};
use trellis_proto::items::Advisory;
use trellis_proto::lifecycle::Revision;
use trellis_proto::{ContactCard, GroupId, ItemId, Kind, OrgKeys, Payload, ProtoError, Tlp};

const SBOM: &[u8] = include_bytes!("../../proto/tests/fixtures/cyclonedx-npm-app.json");
const OSV: &str = include_str!("../../proto/tests/fixtures/osv-synthetic-npm.json");

fn peer() -> libp2p::PeerId {
    libp2p::identity::Keypair::generate_ed25519().public().to_peer_id()
}

fn card(keys: &OrgKeys, name: &str) -> String {
    ContactCard { name: name.into(), bundle: keys.key_bundle(now_ms(), 3_600_000), addrs: vec![] }.to_text()
}

/// Every item of `gid` that `from` holds, as wire bytes (control items first).
fn items_of(from: &Engine, gid: &GroupId) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for kind in [Kind::GroupOp, Kind::EpochKey, Kind::Advisory] {
        for id in from.store().group_item_ids(gid, kind).unwrap() {
            out.push(from.store().get_item(&id).unwrap().unwrap().bytes);
        }
    }
    out
}

/// Hand `items` to `to` as a catch-up sync would, until nothing more goes in.
fn sync_into(to: &Arc<Engine>, items: &[Vec<u8>]) {
    let p = peer();
    for _ in 0..items.len() + 1 {
        let stored =
            items.iter().filter(|b| to.ingest(b, Origin::Sync(p)).is_ok_and(|o| o != Outcome::Duplicate)).count();
        if stored == 0 {
            break;
        }
    }
}

/// A revision signed by `keys` (at sequence `seq`), CLEAR or under the group key.
fn signed_revision(
    e: &Engine,
    keys: &OrgKeys,
    gid: GroupId,
    seq: u64,
    tlp: Tlp,
    key: Option<&[u8; 32]>,
    rev: Revision,
) -> Envelope {
    let payload = Payload::Revision(rev);
    let epoch = e.groups().with(&gid, |g| g.state.epoch()).unwrap();
    Envelope::build(
        keys,
        &PublishRequest {
            group: gid,
            epoch,
            seq,
            timestamp_ms: now_ms(),
            tlp,
            payload: &payload,
            recipients: match key {
                Some(k) => Recipients::Group { epoch_key: k },
                None => Recipients::Clear,
            },
        },
        &EnvelopeRandomness { nonce: [seq as u8; 24], content_key: [0; 32], hpke_seed: [0; 32] },
    )
    .unwrap()
}

struct Net {
    _dir: tempfile::TempDir,
    publisher: Arc<Engine>,
    publisher_keys: OrgKeys,
    member: Arc<Engine>,
    member_keys: OrgKeys,
    observer: Arc<Engine>,
    gid: GroupId,
}

/// A group of three: the publisher (founder), a member, an observer; everyone holds the log.
async fn net() -> Net {
    let dir = tempfile::tempdir().unwrap();
    let (publisher, publisher_keys, _) = common::offline_engine(dir.path(), "publisher").await;
    let (member, member_keys, _) = common::offline_engine(dir.path(), "member").await;
    let (observer, observer_keys, _) = common::offline_engine(dir.path(), "observer").await;
    let gid = publisher.create_group("water", trellis_proto::group::GroupKind::Sector).await.unwrap();
    let t = publisher.invite("water", &card(&member_keys, "member"), trellis_proto::group::Role::Member).await.unwrap();
    member.join(&t).await.unwrap();
    let t =
        publisher.invite("water", &card(&observer_keys, "observer"), trellis_proto::group::Role::Member).await.unwrap();
    observer.join(&t).await.unwrap();
    for e in [&member, &observer] {
        sync_into(e, &items_of(&publisher, &gid));
    }
    Net { _dir: dir, publisher, publisher_keys, member, member_keys, observer, gid }
}

fn ws_advisory(tlp: &str) -> PublishAdvisory {
    let mut p =
        PublishAdvisory::text("water", tlp.parse().expect("a TLP word"), "ws DoS", "ws before 6.2.2 can be crashed");
    p.affects = vec!["pkg:npm/ws@>=6.0.0,<6.2.2".into()];
    p.aliases = vec!["CVE-2021-32640".into()];
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_and_withdraw_reach_receivers_and_stop_alerts() {
    let n = net().await;
    n.observer.sbom_add_bytes("app", SBOM, true).unwrap();
    let id = n.publisher.publish_advisory(&ws_advisory("green")).await.unwrap();
    sync_into(&n.observer, &items_of(&n.publisher, &n.gid));
    let hits = n.observer.affected().unwrap();
    assert!(hits.iter().any(|m| m.component.contains("ws") && !m.suppressed), "{hits:?}");

    // Revision 2 corrects the range: ws 6.2.1 is no longer inside it.
    let req = ReviseAdvisory {
        affects: Some(vec!["pkg:npm/ws@>=6.0.0,<6.2.1".into()]),
        severity: Some("5.3".into()),
        ..Default::default()
    };
    let rev2 = n.publisher.revise_advisory(&id.to_text(), &req).await.unwrap();
    sync_into(&n.observer, &items_of(&n.publisher, &n.gid));
    let list = n.observer.advisories(None).unwrap();
    assert_eq!(list.len(), 1, "a revision is the same advisory, not a second one");
    let v = &list[0];
    assert_eq!((v.id.as_str(), v.revision, v.revisions), (id.to_text().as_str(), 2, 2));
    assert_eq!(v.revision_id.as_deref(), Some(rev2.to_text().as_str()));
    assert_eq!(v.score, Some(5.3));
    assert!(!n.observer.affected().unwrap().iter().any(|m| m.component.contains("ws")));
    // Any of its item ids finds the advisory as it now reads.
    assert_eq!(n.observer.advisory(&rev2.to_text()).unwrap().revision, 2);

    // History: what changed, field by field.
    let h = n.observer.advisory_history(&id.to_text()).unwrap();
    assert_eq!(h.versions.len(), 2);
    let fields: Vec<&str> = h.versions[1].changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, vec!["severity", "affected"], "{:?}", h.versions[1].changes);
    assert!(h.versions[1].changes[1].before.contains("fixed 6.2.2"));
    assert!(h.versions[1].changes[1].after.contains("fixed 6.2.1"));

    // Revision 3 puts the range back; then the publisher withdraws: no alert any more.
    let req = ReviseAdvisory { affects: Some(vec!["pkg:npm/ws@>=6.0.0,<6.2.2".into()]), ..Default::default() };
    n.publisher.revise_advisory(&id.to_text(), &req).await.unwrap();
    sync_into(&n.observer, &items_of(&n.publisher, &n.gid));
    assert!(n.observer.affected().unwrap().iter().any(|m| m.component.contains("ws")));
    let req = ReviseAdvisory { withdraw: Some("not exploitable in the pump firmware".into()), ..Default::default() };
    n.publisher.revise_advisory(&id.to_text(), &req).await.unwrap();
    sync_into(&n.observer, &items_of(&n.publisher, &n.gid));
    let v = n.observer.advisory(&id.to_text()).unwrap();
    assert_eq!(v.revision, 4);
    assert_eq!(v.withdrawn.as_deref(), Some("not exploitable in the pump firmware"));
    assert!(n.observer.affected().unwrap().is_empty(), "a withdrawn advisory raises no alert");
    // Withdrawing twice is refused; nothing new is published.
    let e = n.publisher.revise_advisory(&id.to_text(), &req).await.unwrap_err();
    assert!(e.to_string().contains("already withdrawn"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_publisher_may_revise_on_every_node() {
    let n = net().await;
    let id = n.publisher.publish_advisory(&ws_advisory("clear")).await.unwrap();
    sync_into(&n.member, &items_of(&n.publisher, &n.gid));
    sync_into(&n.observer, &items_of(&n.publisher, &n.gid));

    // The member's own node refuses to sign it.
    let req = ReviseAdvisory { title: Some("x".into()), ..Default::default() };
    let e = n.member.revise_advisory(&id.to_text(), &req).await.unwrap_err().to_string();
    assert!(e.contains("only its publisher may revise"), "{e}");

    // A hostile member's node signs one anyway: the observer refuses it, names the reason,
    // counts it, and shows the publisher's advisory unchanged.
    let forged = Revision {
        original: id,
        revision: 9,
        advisory: Advisory::text("Not a vulnerability after all", "ignore it", now_ms()),
        withdrawn: Some("forged".into()),
    };
    let env = signed_revision(&n.member, &n.member_keys, n.gid, 100, Tlp::Clear, None, forged.clone());
    let got = n.observer.ingest(&env.bytes, Origin::Gossip(peer()));
    match got {
        Err(ProtoError::BadRevision(why)) => assert!(why.contains("only the publisher"), "{why}"),
        other => panic!("a non-publisher's revision must be refused, got {other:?}"),
    }
    assert!(n.observer.store().get_item(&env.id).unwrap().is_none(), "nothing stored");
    let v = n.observer.advisory(&id.to_text()).unwrap();
    assert_eq!((v.revision, v.withdrawn.clone(), v.title.as_str()), (1, None, "ws DoS"));

    // A node that receives the forgery before the advisory keeps it aside; once the advisory
    // arrives the same rule leaves it out, and the history says why.
    let dir = tempfile::tempdir().unwrap();
    let (late, late_keys, _) = common::offline_engine(dir.path(), "late").await;
    let t = n.publisher.invite("water", &card(&late_keys, "late"), trellis_proto::group::Role::Member).await.unwrap();
    late.join(&t).await.unwrap();
    let mut log = items_of(&n.publisher, &n.gid);
    log.retain(|b| Envelope::decode(b).unwrap().header.kind != Kind::Advisory);
    sync_into(&late, &log);
    assert!(late.ingest(&env.bytes, Origin::Gossip(peer())).is_ok(), "the original is not known yet: kept aside");
    assert!(late.advisories(None).unwrap().is_empty());
    sync_into(&late, &items_of(&n.publisher, &n.gid));
    let v = late.advisory(&id.to_text()).unwrap();
    assert_eq!((v.revision, v.withdrawn.clone()), (1, None));
    let h = late.advisory_history(&id.to_text()).unwrap();
    assert_eq!(h.refused.len(), 1);
    assert!(h.refused[0].reason.contains("only the publisher"), "{:?}", h.refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equivocation_and_a_looser_label_are_resolved_the_same_everywhere() {
    let n = net().await;
    let id = n.publisher.publish_advisory(&ws_advisory("green")).await.unwrap();
    let key = n.publisher.groups().with(&n.gid, |g| g.current_key()).unwrap().unwrap().1;
    let rev = |title: &str| Revision {
        original: id,
        revision: 2,
        advisory: Advisory::text(title, "s", now_ms()),
        withdrawn: None,
    };
    // Two different revisions under number 2, both signed by the publisher.
    let a = signed_revision(&n.publisher, &n.publisher_keys, n.gid, 50, Tlp::Green, Some(&key), rev("A"));
    let b = signed_revision(&n.publisher, &n.publisher_keys, n.gid, 51, Tlp::Green, Some(&key), rev("B"));
    let winner = if a.id < b.id { "A" } else { "B" };
    // A CLEAR revision of a GREEN advisory: looser, refused.
    let loose = signed_revision(&n.publisher, &n.publisher_keys, n.gid, 52, Tlp::Clear, None, rev("loose"));
    let mut all = items_of(&n.publisher, &n.gid);
    all.retain(|x| Envelope::decode(x).unwrap().header.kind != Kind::Advisory);
    let original = n.publisher.store().get_item(&id).unwrap().unwrap().bytes;

    // The member gets them in one order, the observer in the other.
    sync_into(&n.member, &all);
    sync_into(&n.observer, &all);
    for (node, order) in
        [(&n.member, vec![&original, &a.bytes, &b.bytes]), (&n.observer, vec![&b.bytes, &a.bytes, &original])]
    {
        for bytes in order {
            node.ingest(bytes, Origin::Sync(peer())).unwrap();
        }
        match node.ingest(&loose.bytes, Origin::Sync(peer())) {
            Err(ProtoError::BadRevision(why)) => assert!(why.contains("cannot loosen"), "{why}"),
            other => panic!("a looser label must be refused, got {other:?}"),
        }
        let v = node.advisory(&id.to_text()).unwrap();
        assert_eq!((v.title.as_str(), v.revision), (winner, 2));
        let h = node.advisory_history(&id.to_text()).unwrap();
        assert_eq!(h.equivocations, vec![2]);
        assert_eq!(h.versions.iter().filter(|v| v.outvoted).count(), 1);
    }
    // Counted where the second twin arrived after the first was stored with its original.
    assert_eq!(n.member.reject_counts().get("revision_equivocation"), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_document_version_is_a_revision() {
    let n = net().await;
    let import = |doc: String| ImportAdvisory {
        group: "water".into(),
        tlp: trellis_proto::Tlp::Clear,
        to: vec![],
        format: None,
        document: doc,
    };
    let first = n.publisher.import_advisory(&import(OSV.to_string())).await.unwrap();
    // The same record again: nothing new.
    let again = n.publisher.import_advisory(&import(OSV.to_string())).await.unwrap();
    assert_eq!(again, first);
    // A later `modified` with a changed summary: a revision of the same advisory.
    let later = OSV
        .replace("2024-05-01T12:00:00Z", "2024-06-01T12:00:00Z")
        .replace("Synthetic record for matching tests", "Synthetic record, corrected");
    let rev = n.publisher.import_advisory(&import(later.clone())).await.unwrap();
    assert_ne!(rev, first);
    // An earlier one, or the same `modified` with other content, is refused.
    let older = OSV.replace("2024-05-01T12:00:00Z", "2024-04-30T12:00:00Z");
    let e = n.publisher.import_advisory(&import(older)).await.unwrap_err().to_string();
    assert!(e.contains("older"), "{e}");
    let changed = later.replace("corrected", "changed again");
    let e = n.publisher.import_advisory(&import(changed)).await.unwrap_err().to_string();
    assert!(e.contains("must carry a new version"), "{e}");
    // The record withdrawn by its source: withdrawn here too.
    let withdrawn = later
        .replace("2024-06-01T12:00:00Z", "2024-07-01T12:00:00Z")
        .replace("\"published\"", "\"withdrawn\": \"2024-07-01T12:00:00Z\",\n  \"published\"");
    n.publisher.import_advisory(&import(withdrawn)).await.unwrap();

    sync_into(&n.observer, &items_of(&n.publisher, &n.gid));
    let list = n.observer.advisories(None).unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].id, first.to_text());
    assert_eq!(list[0].revision, 3);
    assert!(list[0].withdrawn.as_deref().is_some_and(|w| w.contains("2024-07-01")), "{:?}", list[0].withdrawn);
    let h = n.observer.advisory_history(&first.to_text()).unwrap();
    assert!(h.versions[1].changes.iter().any(|c| c.field == "title"), "{:?}", h.versions[1].changes);
    assert!(h.versions[1].changes.iter().any(|c| c.field == "source" && c.after.contains("2024-06-01")));
    let _ = ItemId::parse(&list[0].id).unwrap();
}
