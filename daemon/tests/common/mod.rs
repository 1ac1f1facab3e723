//! Helpers for in-process multi-node tests: start real nodes on loopback port 0 with temporary
//! homes, talk to them through the local API client, wait on conditions with a deadline.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use trellis_api::client::Client;
use trellis_api::types::{
    AdvisoryView, Created, GroupInfo, IdInfo, InviteRequest, InviteToken, JoinRequest, MemberInfo, PublishAdvisory,
    Status,
};
use trellis_daemon::config::{Config, Overrides};

pub struct TestNode {
    pub name: String,
    pub home: PathBuf,
    pub client: Client,
    pub addr: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Start a node named `name` under `dir` (its home is `dir/name`, kept across restarts).
pub async fn start(dir: &Path, name: &str, bootstrap: Vec<String>) -> TestNode {
    start_with(dir, name, bootstrap, None).await
}

pub async fn start_with(dir: &Path, name: &str, bootstrap: Vec<String>, discovery: Option<bool>) -> TestNode {
    let home = dir.join(name);
    let overrides = Overrides {
        listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
        bootstrap,
        mdns: None,
        discovery,
        name: Some(name.into()),
        ..Default::default()
    };
    let config = Config::load(&home, overrides).expect("config");
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<String>();
    let task = tokio::spawn(async move {
        trellis_daemon::run(
            config,
            async {
                let _ = stop_rx.await;
            },
            move |r| {
                let _ = ready_tx.send(r.listen_addrs[0].clone());
            },
        )
        .await
    });
    let addr = match tokio::time::timeout(Duration::from_secs(20), ready_rx).await.expect("node ready in time") {
        Ok(a) => a,
        Err(_) => panic!("node {name} failed to start: {:?}", task.await),
    };
    TestNode { name: name.into(), client: Client::new(&home), home, addr, stop: Some(stop), task: Some(task) }
}

/// A handle on a node started elsewhere in the test (its API client only).
pub fn attach(home: &Path, name: &str) -> TestNode {
    TestNode {
        name: name.into(),
        client: Client::new(home),
        home: home.to_path_buf(),
        addr: String::new(),
        stop: None,
        task: None,
    }
}

impl TestNode {
    pub async fn status(&self) -> Status {
        self.client.get("/v1/status").await.expect("status")
    }

    pub async fn org(&self) -> String {
        let id: IdInfo = self.client.get("/v1/id").await.expect("id");
        id.org
    }

    pub async fn advisories(&self) -> Vec<AdvisoryView> {
        self.client.get("/v1/advisories").await.expect("advisories")
    }

    pub async fn titles(&self) -> Vec<String> {
        self.advisories().await.into_iter().map(|a| a.title).collect()
    }

    pub async fn members(&self, group: &str) -> Vec<MemberInfo> {
        self.client.get(&format!("/v1/groups/{group}/members")).await.expect("members")
    }

    pub async fn publish(&self, group: &str, tlp: &str, title: &str, to: Vec<String>) -> Result<String, String> {
        let req =
            PublishAdvisory { to, ..PublishAdvisory::text(group, tlp.parse().expect("a TLP word"), title, "test") };
        self.client.post::<_, Created>("/v1/advisories", &req).await.map(|c| c.id).map_err(|e| e.to_string())
    }

    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

/// Poll `f` every 100 ms until it holds, or panic after 20 s.
pub async fn wait_for<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// `admin` invites `node` into `group` with `role`; waits until `node` sees itself admitted.
pub async fn join(admin: &TestNode, node: &TestNode, group: &str, role: &str) {
    let id: IdInfo = node.client.get("/v1/id").await.unwrap();
    let tok: InviteToken = admin
        .client
        .post(
            &format!("/v1/groups/{group}/invite"),
            &InviteRequest { card: id.card, role: role.parse().expect("a role word") },
        )
        .await
        .unwrap();
    let _: GroupInfo = node.client.post("/v1/groups/join", &JoinRequest { token: tok.token }).await.unwrap();
    wait_for(&format!("{} admitted to {group}", node.name), || async {
        let g: Vec<GroupInfo> = node.client.get("/v1/groups").await.unwrap();
        g.iter().any(|g| g.name == group && g.role.map(|r| r.as_str()) == Some(role))
    })
    .await;
}

/// Wait until every node sees the same member set of `group` with `expect` members, and
/// return it as sorted (org, role) pairs.
pub async fn converged_members(nodes: &[&TestNode], group: &str, expect: usize) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut views = Vec::new();
    while Instant::now() < deadline {
        views.clear();
        for n in nodes {
            let mut m: Vec<(String, String)> =
                n.members(group).await.into_iter().map(|m| (m.org, m.role.to_string())).collect();
            m.sort();
            views.push(m);
        }
        if views.windows(2).all(|w| w[0] == w[1]) && views[0].len() == expect {
            return views.swap_remove(0);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("membership of {group} did not converge on {expect} members: {views:?}");
}

/// A vulnerability advisory payload with `title` and `summary`, stamped now (for tests that
/// build envelopes themselves instead of publishing through a node).
pub fn advisory_payload(title: &str, summary: &str) -> trellis_proto::Payload {
    let now = trellis_daemon::home::now_ms();
    trellis_proto::Payload::Advisory(trellis_proto::items::Advisory::text(title, summary, now))
}

/// An engine whose Swarm task is not run (no network: items are handed to it directly), with a
/// fresh identity named `name` under `dir`. Returns the engine, its org keys and node binding.
pub async fn offline_engine(
    dir: &Path,
    name: &str,
) -> (std::sync::Arc<trellis_daemon::engine::Engine>, trellis_proto::OrgKeys, trellis_proto::keys::SignedNodeBinding) {
    offline_engine_with(dir, name, Default::default()).await
}

/// [`offline_engine`] with the given clock, RNG and fetch policy.
pub async fn offline_engine_with(
    dir: &Path,
    name: &str,
    setup: trellis_daemon::engine::Setup,
) -> (std::sync::Arc<trellis_daemon::engine::Engine>, trellis_proto::OrgKeys, trellis_proto::keys::SignedNodeBinding) {
    use trellis_daemon::home::{Identity, now_ms};
    let home = dir.join(name);
    Identity::create(&home, name, now_ms()).unwrap();
    let (engine, binding) = engine_at(&home, setup);
    let keys = Identity::load(&home).unwrap().keys;
    (engine, keys, binding)
}

/// An engine without a running node on the existing home `home` (its identity and store), as a
/// node would open it at start.
pub fn engine_at(
    home: &Path,
    setup: trellis_daemon::engine::Setup,
) -> (std::sync::Arc<trellis_daemon::engine::Engine>, trellis_proto::keys::SignedNodeBinding) {
    use trellis_daemon::home::{Identity, now_ms};
    let identity = Identity::load(home).unwrap();
    let keys = Identity::load(home).unwrap().keys;
    let store = trellis_daemon::store::Store::open(&home.join("store.redb")).unwrap();
    let kp = libp2p::identity::Keypair::generate_ed25519();
    let peer = kp.public().to_peer_id();
    let binding = trellis_proto::keys::NodeBinding::sign(&keys, kp.public().encode_protobuf(), now_ms(), 3_600_000);
    let cfg = trellis_daemon::node::NodeConfig { bootstrap: vec![], mdns: false, discovery: false };
    let (node, handle, _events) =
        trellis_daemon::node::Node::new(trellis_daemon::node::build_swarm(kp, &cfg).unwrap(), &cfg);
    drop(node);
    let engine = trellis_daemon::engine::Engine::with_setup(
        home.to_path_buf(),
        identity,
        binding.clone(),
        store,
        handle,
        peer,
        setup,
    )
    .unwrap();
    (engine, binding)
}

/// A CLEAR item of `payload` from `keys` in `gid` with sequence `seq`, signed at `timestamp_ms`.
pub fn clear_item(
    keys: &trellis_proto::OrgKeys,
    gid: trellis_proto::GroupId,
    seq: u64,
    timestamp_ms: u64,
    payload: &trellis_proto::Payload,
) -> trellis_proto::envelope::Envelope {
    item(keys, gid, seq, timestamp_ms, payload, trellis_proto::Tlp::Clear, trellis_proto::envelope::Recipients::Clear)
}

/// An item of `payload` from `keys` in `gid` (epoch 0) with sequence `seq`, signed at
/// `timestamp_ms`, labelled `tlp` and encrypted for `recipients`.
pub fn item(
    keys: &trellis_proto::OrgKeys,
    gid: trellis_proto::GroupId,
    seq: u64,
    timestamp_ms: u64,
    payload: &trellis_proto::Payload,
    tlp: trellis_proto::Tlp,
    recipients: trellis_proto::envelope::Recipients<'_>,
) -> trellis_proto::envelope::Envelope {
    use trellis_proto::envelope::{Envelope, EnvelopeRandomness, PublishRequest};
    Envelope::build(
        keys,
        &PublishRequest { group: gid, epoch: 0, seq, timestamp_ms, tlp, payload, recipients },
        &EnvelopeRandomness { nonce: [seq as u8; 24], content_key: [0; 32], hpke_seed: [0; 32] },
    )
    .unwrap()
}
