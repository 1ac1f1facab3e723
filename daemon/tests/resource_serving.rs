//! Serving a resource's file chunks (PROTOCOL.md §4.4, §9 `Chunk`), on engines without a
//! network: the publisher answers a member with the exact encrypted chunk its item names, and
//! refuses a stranger, an index past the end and a file it does not know; a member that holds
//! the item but not yet the chunks says so instead of answering with anything.

mod common;

use std::sync::Arc;

use trellis_daemon::engine::Engine;
use trellis_daemon::engine::ingest::Origin;
use trellis_daemon::home::now_ms;
use trellis_daemon::resources::PublishResource;
use trellis_proto::resource::{FileData, ResourceDoc, sha256};
use trellis_proto::wire::{Request, RequestBody, Response};
use trellis_proto::{ContactCard, GroupId, ItemId, Kind, OrgKeys, Payload};

fn card(keys: &OrgKeys, name: &str) -> String {
    ContactCard { name: name.into(), bundle: keys.key_bundle(now_ms(), 3_600_000), addrs: vec![] }.to_text()
}

fn peer_of(binding: &trellis_proto::keys::SignedNodeBinding) -> libp2p::PeerId {
    libp2p::identity::PublicKey::try_decode_protobuf(&binding.binding.transport_key).unwrap().to_peer_id()
}

fn items_of(from: &Engine, gid: &GroupId, kind: Kind) -> Vec<Vec<u8>> {
    from.store()
        .group_item_ids(gid, kind)
        .unwrap()
        .iter()
        .map(|id| from.store().get_item(id).unwrap().unwrap().bytes)
        .collect()
}

fn ask(engine: &Arc<Engine>, binding: &trellis_proto::keys::SignedNodeBinding, file: [u8; 32], index: u32) -> Response {
    engine.answer(peer_of(binding), Request { binding: binding.clone(), body: RequestBody::Chunk { file, index } })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_go_to_members_only_and_only_as_published() {
    let dir = tempfile::tempdir().unwrap();
    let (f, _, f_binding) = common::offline_engine(dir.path(), "founder").await;
    let (m, m_keys, m_binding) = common::offline_engine(dir.path(), "member").await;
    let (_s, _, s_binding) = common::offline_engine(dir.path(), "stranger").await;
    let gid = f.create_group("water", trellis_proto::group::GroupKind::Sector).await.unwrap();
    let token = f.invite("water", &card(&m_keys, "member"), trellis_proto::group::Role::Member).await.unwrap();
    m.join(&token).await.unwrap();

    let file: Vec<u8> = (0..(2 * 1024 * 1024 + 512)).map(|i| (i * 7 % 253) as u8).collect();
    let req = PublishResource {
        group: "water".into(),
        title: "Exercise pack".into(),
        topic: "incident-response".into(),
        audience: None,
        tlp: trellis_proto::Tlp::Green,
        to: vec![],
        text: None,
        url: None,
        file_name: Some("pack.bin".into()),
    };
    let id: ItemId = f.publish_resource(&req, Some(file.clone())).await.unwrap();
    let (_, payload) = f.store().get_item(&id).unwrap().unwrap().open().unwrap();
    let Payload::Resource(r) = payload else { panic!("not a resource") };
    let doc = ResourceDoc::from_item(&r).unwrap().unwrap();
    let f_ref = doc.file.unwrap();
    let fid = f_ref.file_id().unwrap();
    let FileData::Chunked { chunks, .. } = &f_ref.data else { panic!("not chunked") };
    assert_eq!(chunks.len(), 3);

    // A member gets exactly the published chunks.
    for (i, h) in chunks.iter().enumerate() {
        match ask(&f, &m_binding, fid, i as u32) {
            Response::Chunk(b) => assert_eq!(sha256(&b), *h, "chunk {i}"),
            other => panic!("a member was refused chunk {i}: {other:?}"),
        }
    }
    // A stranger, an index past the end, an unknown file: refused.
    assert!(matches!(ask(&f, &s_binding, fid, 0), Response::Refused(why) if why.contains("not a member")));
    assert!(matches!(ask(&f, &m_binding, fid, 3), Response::Refused(_)));
    assert!(matches!(ask(&f, &m_binding, [9; 32], 0), Response::Refused(_)));
    // A binding that is not the connection's: refused before anything else.
    let wrong = f.answer(
        peer_of(&s_binding),
        Request { binding: m_binding.clone(), body: RequestBody::Chunk { file: fid, index: 0 } },
    );
    assert!(matches!(wrong, Response::Refused(_)));

    // The member learns the item (and the log admitting it); it records the file but holds no
    // chunk yet, and says so.
    let mut items = items_of(&f, &gid, Kind::GroupOp);
    items.extend(items_of(&f, &gid, Kind::Resource));
    let p = peer_of(&f_binding);
    for _ in 0..3 {
        for b in &items {
            let _ = m.ingest(b, Origin::Sync(p));
        }
    }
    let view = m.resource(&id.to_text()).unwrap();
    let fv = view.file.unwrap();
    assert_eq!((fv.carried.as_str(), fv.chunks, fv.chunks_held), ("chunked", 3, 0));
    assert!(matches!(ask(&m, &f_binding, fid, 0), Response::Refused(why) if why.contains("does not hold")));
}
