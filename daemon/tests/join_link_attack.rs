//! Join requests with invite links come from strangers (PROTOCOL.md §6.10). Bare libp2p nodes
//! send them to a real node: a card of another org than the requesting node's, a binding for
//! another transport key, a garbage card, a card over the size bound, another group, a wrong
//! secret; two strangers race for a link's last use; one stranger floods. Each is refused with
//! its reason, the link keeps its uses and the group its members, exactly one racer wins, and the
//! flood is cut off after the per-peer bound.

mod common;

use std::time::Duration;

use common::start_with;
use trellis_api::types::{CreateGroup, Created, InviteLinkCreated, InviteLinkInfo, InviteLinkRequest};
use trellis_daemon::home::now_ms;
use trellis_daemon::node::{Node, NodeConfig, NodeHandle, build_swarm};
use trellis_daemon::wire::{Request, RequestBody, Response};
use trellis_proto::invite_link::{InviteLink, JoinRefusal};
use trellis_proto::keys::{NodeBinding, SignedNodeBinding};
use trellis_proto::{ContactCard, GroupId, OrgKeys};

/// A bare node that can send requests, with the binding of `keys`' org.
struct Stranger {
    node: NodeHandle,
    binding: SignedNodeBinding,
    keys: OrgKeys,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn stranger(seed: u8, dial: &str) -> Stranger {
    let kp = libp2p::identity::Keypair::generate_ed25519();
    let keys = OrgKeys::from_seeds([seed; 32], [seed.wrapping_add(1); 32]);
    let binding = NodeBinding::sign(&keys, kp.public().encode_protobuf(), now_ms(), 3_600_000);
    let cfg = NodeConfig { bootstrap: vec![], mdns: false, discovery: false };
    let (node, handle, mut events) = Node::new(build_swarm(kp, &cfg).unwrap(), &cfg);
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(node.run(async {
        let _ = stop_rx.await;
    }));
    // Nobody asks a stranger anything it must answer; drain its events.
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    handle.dial(dial.parse().unwrap()).await;
    Stranger { node: handle, binding, keys, _stop: stop }
}

impl Stranger {
    fn card(&self, name: &str) -> String {
        ContactCard { name: name.into(), bundle: self.keys.key_bundle(now_ms(), 3_600_000), addrs: vec![] }.to_text()
    }

    async fn ask(&self, peer: libp2p::PeerId, link: &InviteLink, card: String) -> Result<Response, String> {
        self.ask_with(peer, link.id, link.secret, link.group, card, self.binding.clone()).await
    }

    async fn ask_with(
        &self,
        peer: libp2p::PeerId,
        id: [u8; 16],
        secret: [u8; 32],
        group: GroupId,
        card: String,
        binding: SignedNodeBinding,
    ) -> Result<Response, String> {
        let body = RequestBody::JoinLink { link: id, secret, group, card };
        self.node.request(peer, Request { binding, body }).await
    }
}

fn refused(r: &Result<Response, String>) -> Option<JoinRefusal> {
    match r {
        Ok(Response::JoinRefused { reason, .. }) => Some(*reason),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_join_requests_are_refused_and_a_last_use_is_taken_once() {
    let dir = tempfile::tempdir().unwrap();
    let a = start_with(dir.path(), "a", vec![], Some(false)).await;
    let c: Created = a
        .client
        .post("/v1/groups", &CreateGroup { name: "g".into(), kind: trellis_api::types::GroupKind::SupplyChain })
        .await
        .unwrap();
    let group = GroupId::parse(&c.id).unwrap();
    let made: InviteLinkCreated = a
        .client
        .post(
            "/v1/groups/g/invite-links",
            &InviteLinkRequest { role: trellis_api::types::Role::Member, uses: 1, valid_ms: 3_600_000 },
        )
        .await
        .unwrap();
    let link = InviteLink::parse(&made.token).unwrap();
    let peer: libp2p::PeerId = a.addr.rsplit('/').next().unwrap().parse().unwrap();

    let x = stranger(11, &a.addr).await;
    let y = stranger(22, &a.addr).await;
    common::wait_for("the strangers to connect", || async {
        x.node.info().await.peers.iter().any(|(p, _)| *p == peer)
            && y.node.info().await.peers.iter().any(|(p, _)| *p == peer)
    })
    .await;

    // X's node sends Y's card: refused, whatever the link.
    assert_eq!(refused(&x.ask(peer, &link, y.card("Y")).await), Some(JoinRefusal::Malformed));
    // A binding made for another transport key.
    let other = libp2p::identity::Keypair::generate_ed25519();
    let wrong = NodeBinding::sign(&x.keys, other.public().encode_protobuf(), now_ms(), 3_600_000);
    let r = x.ask_with(peer, link.id, link.secret, group, x.card("X"), wrong).await;
    assert_eq!(refused(&r), Some(JoinRefusal::Malformed), "{r:?}");
    // Garbage instead of a card.
    assert_eq!(refused(&x.ask(peer, &link, "trellis-card1:AAAA".into()).await), Some(JoinRefusal::Malformed));
    // The right secret for another group; a wrong secret.
    let r = x.ask_with(peer, link.id, link.secret, GroupId([9; 32]), x.card("X"), x.binding.clone()).await;
    assert_eq!(refused(&r), Some(JoinRefusal::Unknown), "{r:?}");
    let r = x.ask_with(peer, link.id, [0; 32], group, x.card("X"), x.binding.clone()).await;
    assert_eq!(refused(&r), Some(JoinRefusal::Unknown), "{r:?}");
    // A card over the bound is refused when the request is decoded: no answer at all.
    let r = x.ask(peer, &link, "x".repeat(trellis_proto::limits::MAX_TOKEN_CHARS + 1)).await;
    assert!(r.is_err(), "an oversized join request was answered: {r:?}");

    let links: Vec<InviteLinkInfo> = a.client.get("/v1/groups/g/invite-links").await.unwrap();
    assert_eq!((links[0].used, links[0].state.as_str()), (0, "active"), "a refusal took a use");
    assert_eq!(a.members("g").await.len(), 1, "a refusal admitted someone");

    // X and Y race for the last use: exactly one is admitted, the other is told it is used up.
    let (rx, ry) = tokio::join!(x.ask(peer, &link, x.card("X")), y.ask(peer, &link, y.card("Y")));
    let wins = [&rx, &ry].iter().filter(|r| matches!(r, Ok(Response::Joined { .. }))).count();
    assert_eq!(wins, 1, "{rx:?} / {ry:?}");
    assert!([&rx, &ry].iter().any(|r| refused(r) == Some(JoinRefusal::UsedUp)), "{rx:?} / {ry:?}");
    common::wait_for("the winner to be a member", || async { a.members("g").await.len() == 2 }).await;
    // The winner asking again gets the same admission back, and no use is taken.
    let winner = if matches!(rx, Ok(Response::Joined { .. })) { &x } else { &y };
    let first = match (&rx, &ry) {
        (Ok(Response::Joined { token }), _) | (_, Ok(Response::Joined { token })) => token.clone(),
        _ => unreachable!(),
    };
    let again = winner.ask(peer, &link, winner.card("again")).await;
    let Ok(Response::Joined { token }) = again else { panic!("the winner's retry was refused: {again:?}") };
    let op = |t: &str| trellis_proto::invite::Invite::parse(t, &winner.keys.org_id()).unwrap().add_op.id;
    assert_eq!(op(&token), op(&first), "a retry made a second Add op");
    let links: Vec<InviteLinkInfo> = a.client.get("/v1/groups/g/invite-links").await.unwrap();
    assert_eq!((links[0].used, links[0].uses.len()), (1, 1));

    // A flood from one peer: the first JOIN_ATTEMPTS_PER_PEER are looked at, then refused unread.
    let z = stranger(33, &a.addr).await;
    common::wait_for("the flooder to connect", || async { z.node.info().await.peers.iter().any(|(p, _)| *p == peer) })
        .await;
    let limit = trellis_daemon::engine::invite_links::JOIN_ATTEMPTS_PER_PEER as usize;
    let mut reasons = Vec::new();
    for _ in 0..limit + 3 {
        let r = z.ask_with(peer, [5; 16], [6; 32], group, z.card("Z"), z.binding.clone()).await;
        reasons.push(refused(&r));
    }
    assert!(reasons[..limit].iter().all(|r| *r == Some(JoinRefusal::Unknown)), "{reasons:?}");
    assert!(reasons[limit..].iter().all(|r| *r == Some(JoinRefusal::RateLimited)), "{reasons:?}");
    let s = a.status().await;
    for reason in ["join_malformed", "join_unknown_link", "join_used_up", "join_rate_limited"] {
        assert!(s.rejects.get(reason).copied().unwrap_or(0) >= 1, "no {reason} counted: {:?}", s.rejects);
    }
    // The node still serves its users.
    assert_eq!(a.members("g").await.len(), 2);
    tokio::time::sleep(Duration::from_millis(10)).await;
    a.shutdown().await;
}
