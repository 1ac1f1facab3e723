//! Groups without an operator, with in-process nodes on loopback: removal with rekey, readers,
//! supply-chain channels, every TLP label, and two admins removing each other while
//! partitioned.

mod common;

use common::{TestNode, converged_members, join, start, start_with, wait_for};
use trellis_api::types::{CreateGroup, Created, RemoveRequest, ReshareRequest, RoleRequest};

async fn create(n: &TestNode, name: &str, kind: &str) -> String {
    let c: Created = n
        .client
        .post("/v1/groups", &CreateGroup { name: name.into(), kind: kind.parse().expect("a group kind") })
        .await
        .unwrap();
    c.id
}

async fn sees(n: &TestNode, title: &str) -> bool {
    n.titles().await.iter().any(|t| t == title)
}

/// Let gossip and sync run long enough that an item that could arrive would have.
async fn settle() {
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removal_rekeys_and_cuts_off_the_removed_org() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(dir.path(), "a", vec![]).await;
    let b = start(dir.path(), "b", vec![a.addr.clone()]).await;
    let c = start(dir.path(), "c", vec![a.addr.clone()]).await;
    let d = start(dir.path(), "d", vec![a.addr.clone()]).await;
    create(&a, "water", "sector").await;
    for n in [&b, &c, &d] {
        join(&a, n, "water", "member").await;
    }
    converged_members(&[&a, &b, &c, &d], "water", 4).await;
    a.publish("water", "green", "before removal", vec![]).await.unwrap();
    for n in [&b, &c, &d] {
        wait_for("pre-removal advisory", || sees(n, "before removal")).await;
    }

    let d_org = d.org().await;
    let _: Created = a.client.post("/v1/groups/water/remove", &RemoveRequest { org: d_org.clone() }).await.unwrap();
    converged_members(&[&a, &b, &c], "water", 3).await;
    wait_for("D learns it was removed", || async { d.members("water").await.len() == 3 }).await;
    for n in [&a, &b, &c, &d] {
        let g = n.status().await.groups;
        assert_eq!(g[0].epoch, 1, "{} is at epoch 1 after the removal", n.name);
    }

    a.publish("water", "green", "after removal", vec![]).await.unwrap();
    for n in [&b, &c] {
        wait_for("post-removal advisory", || sees(n, "after removal")).await;
    }
    settle().await;
    assert!(!sees(&d, "after removal").await, "the removed org, still online, read a post-removal advisory");
    assert!(sees(&d, "before removal").await, "the removed org keeps what it had");

    // D's own node refuses to publish, and a D-signed item is refused by every member.
    let err = d.publish("water", "green", "from the removed org", vec![]).await.unwrap_err();
    assert!(err.contains("not (yet) a member"), "{err}");
    settle().await;
    for n in [&a, &b, &c] {
        assert!(!sees(n, "from the removed org").await);
    }
    for n in [a, b, c, d] {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_cannot_publish_and_roles_change() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(dir.path(), "a", vec![]).await;
    let r = start(dir.path(), "r", vec![a.addr.clone()]).await;
    create(&a, "water", "sector").await;
    join(&a, &r, "water", "reader").await;
    a.publish("water", "green", "for readers too", vec![]).await.unwrap();
    wait_for("reader reads", || sees(&r, "for readers too")).await;
    let err = r.publish("water", "green", "reader speaks", vec![]).await.unwrap_err();
    assert!(err.contains("reader"), "{err}");
    let r_org = r.org().await;
    let _: Created = a
        .client
        .post("/v1/groups/water/role", &RoleRequest { org: r_org, role: trellis_api::types::Role::Member })
        .await
        .unwrap();
    wait_for("promotion seen by r", || async {
        r.members("water").await.iter().any(|m| m.is_self && m.role == trellis_api::types::Role::Member)
    })
    .await;
    r.publish("water", "green", "now a member", vec![]).await.unwrap();
    wait_for("member's advisory", || sees(&a, "now a member")).await;
    for n in [a, r] {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supply_chain_suppliers_do_not_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let cust = start(dir.path(), "customer", vec![]).await;
    let s1 = start(dir.path(), "s1", vec![cust.addr.clone()]).await;
    let s2 = start(dir.path(), "s2", vec![cust.addr.clone()]).await;
    create(&cust, "prime-suppliers", "supply-chain").await;
    join(&cust, &s1, "prime-suppliers", "member").await;
    join(&cust, &s2, "prime-suppliers", "member").await;
    converged_members(&[&cust, &s1, &s2], "prime-suppliers", 3).await;
    // The customer's advisory reaches all suppliers.
    cust.publish("prime-suppliers", "green", "customer expects patching", vec![]).await.unwrap();
    for s in [&s1, &s2] {
        wait_for("customer advisory at supplier", || sees(s, "customer expects patching")).await;
    }
    // Suppliers' AMBER notices default to the channel's admins.
    s1.publish("prime-suppliers", "amber", "s1 incident", vec![]).await.unwrap();
    s2.publish("prime-suppliers", "amber", "s2 incident", vec![]).await.unwrap();
    wait_for("customer sees both", || async { sees(&cust, "s1 incident").await && sees(&cust, "s2 incident").await })
        .await;
    settle().await;
    assert!(!sees(&s2, "s1 incident").await, "supplier 2 read supplier 1's notice");
    assert!(!sees(&s1, "s2 incident").await, "supplier 1 read supplier 2's notice");
    for n in [cust, s1, s2] {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tlp_label_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(dir.path(), "a", vec![]).await;
    let b = start(dir.path(), "b", vec![a.addr.clone()]).await;
    let c = start(dir.path(), "c", vec![a.addr.clone()]).await;
    create(&a, "water", "sector").await;
    join(&a, &b, "water", "member").await;
    join(&a, &c, "water", "member").await;
    converged_members(&[&a, &b, &c], "water", 3).await;
    wait_for("a knows b's node", || async {
        a.client
            .get::<Vec<trellis_api::types::PeerInfo>>("/v1/peers")
            .await
            .unwrap()
            .iter()
            .filter(|p| p.org.is_some())
            .count()
            >= 2
    })
    .await;
    let b_org = b.org().await;

    a.publish("water", "clear", "clear item", vec![]).await.unwrap();
    a.publish("water", "green", "green item", vec![]).await.unwrap();
    let amber = a.publish("water", "amber", "amber item", vec![b_org.clone()]).await.unwrap();
    let strict = a.publish("water", "amber+strict", "strict item", vec![b_org.clone()]).await.unwrap();
    let red = a.publish("water", "red", "red item", vec![b_org.clone()]).await.unwrap();
    // Publishing AMBER in a sector group without recipients is an error, not a silent GREEN.
    let err = a.publish("water", "amber", "no recipients", vec![]).await.unwrap_err();
    assert!(err.contains("--to"), "{err}");

    for t in ["clear item", "green item", "amber item", "strict item", "red item"] {
        wait_for(t, || sees(&b, t)).await;
    }
    wait_for("c gets clear and green", || async { sees(&c, "clear item").await && sees(&c, "green item").await }).await;
    settle().await;
    for t in ["amber item", "strict item", "red item"] {
        assert!(!sees(&c, t).await, "{t} was readable by a non-recipient");
    }
    // RED is never stored by a relay: C's store has no trace of it, AMBER it relays sealed.
    let c_items = c.status().await.groups[0].items;
    let b_items = b.status().await.groups[0].items;
    assert!(c_items < b_items, "C stored as many items as the RED recipient ({c_items} vs {b_items})");

    // Re-sharing: AMBER with an explicit, logged command; AMBER+STRICT and RED refused.
    let c_org = c.org().await;
    let res: Result<Created, _> = b
        .client
        .post(
            &format!("/v1/advisories/{strict}/reshare"),
            &ReshareRequest { group: "water".into(), to: vec![c_org.clone()] },
        )
        .await;
    assert!(res.unwrap_err().to_string().contains("AMBER+STRICT"));
    let res: Result<Created, _> = b
        .client
        .post(
            &format!("/v1/advisories/{red}/reshare"),
            &ReshareRequest { group: "water".into(), to: vec![c_org.clone()] },
        )
        .await;
    assert!(res.unwrap_err().to_string().contains("RED"));
    let _: Created = b
        .client
        .post(&format!("/v1/advisories/{amber}/reshare"), &ReshareRequest { group: "water".into(), to: vec![c_org] })
        .await
        .unwrap();
    wait_for("c reads the re-shared AMBER", || sees(&c, "amber item")).await;
    let log = std::fs::read_to_string(b.home.join("audit.log")).unwrap();
    assert!(log.contains("\"reshare\"") && log.contains(&amber), "audit log: {log}");
    for n in [a, b, c] {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_mutual_removal_converges() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let a = start_with(p, "a", vec![], Some(false)).await;
    let b = start_with(p, "b", vec![a.addr.clone()], Some(false)).await;
    let c = start_with(p, "c", vec![a.addr.clone()], Some(false)).await;
    let d = start_with(p, "d", vec![a.addr.clone()], Some(false)).await;
    create(&a, "water", "sector").await;
    join(&a, &b, "water", "admin").await;
    join(&a, &c, "water", "member").await;
    join(&a, &d, "water", "member").await;
    converged_members(&[&a, &b, &c, &d], "water", 4).await;
    let (a_org, b_org) = (a.org().await, b.org().await);

    // Partition {A, C} | {B, D}: B and D go offline; A removes B.
    b.shutdown().await;
    d.shutdown().await;
    let _: Created = a.client.post("/v1/groups/water/remove", &RemoveRequest { org: b_org.clone() }).await.unwrap();
    converged_members(&[&a, &c], "water", 3).await;
    // Now A and C go offline and B, on its side, removes A.
    a.shutdown().await;
    c.shutdown().await;
    let b = start_with(p, "b", vec![], Some(false)).await;
    let d = start_with(p, "d", vec![b.addr.clone()], Some(false)).await;
    let _: Created = b.client.post("/v1/groups/water/remove", &RemoveRequest { org: a_org.clone() }).await.unwrap();
    converged_members(&[&b, &d], "water", 3).await;

    // Heal: A and C come back and connect to B.
    let a = start_with(p, "a", vec![b.addr.clone()], Some(false)).await;
    let c = start_with(p, "c", vec![b.addr.clone(), a.addr.clone()], Some(false)).await;
    let members = converged_members(&[&a, &b, &c, &d], "water", 3).await;
    // The founder is the more senior admin: its removal of B stands, B's removal of A is void.
    assert!(members.iter().any(|(o, r)| *o == a_org && r == "admin"), "{members:?}");
    assert!(!members.iter().any(|(o, _)| *o == b_org), "{members:?}");
    // D was offline during A's rekey and still obtains the current key.
    a.publish("water", "green", "after healing", vec![]).await.unwrap();
    wait_for("d reads after healing", || sees(&d, "after healing")).await;
    for n in [a, b, c, d] {
        n.shutdown().await;
    }
}
