//! Issue 16.6: the node's HTTP servers under a hostile client, played against the real TAXII
//! server (the API and metrics servers share its accept loop, `http::serve`, and its limits).
//! - a slow-loris client that never finishes its request headers is disconnected by the header
//!   timeout (before, hyper had no timer and skipped the timeout: the connection stayed for ever);
//! - at most `taxii::MAX_CONNECTIONS` connections are served at once; one more waits until one
//!   of them ends;
//! - a request with a body is answered 413 before any handler runs (TAXII takes no bodies).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use trellis_daemon::engine::Engine;
use trellis_daemon::home::{Identity, now_ms};
use trellis_daemon::http::HEADER_TIMEOUT;
use trellis_daemon::node::{Node, NodeConfig, build_swarm};
use trellis_daemon::store::Store;

async fn taxii_server(dir: &std::path::Path) -> std::net::SocketAddr {
    let home = dir.join("n");
    let identity = Identity::create(&home, "taxii", now_ms()).unwrap();
    let keys = Identity::load(&home).unwrap().keys;
    let store = Store::open(&home.join("store.redb")).unwrap();
    let kp = libp2p::identity::Keypair::generate_ed25519();
    let peer = kp.public().to_peer_id();
    let binding = trellis_proto::keys::NodeBinding::sign(&keys, kp.public().encode_protobuf(), now_ms(), 3_600_000);
    let cfg = NodeConfig { bootstrap: vec![], mdns: false, discovery: false };
    let (node, handle, _events) = Node::new(build_swarm(kp, &cfg).unwrap(), &cfg);
    drop(node);
    let engine: Arc<Engine> = Engine::new(home, identity, binding, store, handle, peer).unwrap();
    let listener = trellis_daemon::taxii::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(trellis_daemon::taxii::serve(listener, engine, std::future::pending()));
    addr
}

/// Read until the server closes the connection (or `limit` passes); returns what was read and
/// whether it closed.
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (out, true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (out, false),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_is_disconnected_by_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let addr = taxii_server(dir.path()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    // Half a request head, then silence.
    s.write_all(b"GET /taxii2/ HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    let t = Instant::now();
    let (_, closed) = read_until_closed(&mut s, HEADER_TIMEOUT + Duration::from_secs(3)).await;
    assert!(closed, "the slow client still holds its connection {:.1} s later", t.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_and_bodies_refused() {
    let dir = tempfile::tempdir().unwrap();
    let addr = taxii_server(dir.path()).await;
    // A body on a server that takes none: 413, the handler never runs.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /taxii2/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\nabc").await.unwrap();
    let (reply, _) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(reply.starts_with(b"HTTP/1.1 413"), "{}", String::from_utf8_lossy(&reply));
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /taxii2/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        .await
        .unwrap();
    let (reply, _) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(reply.starts_with(b"HTTP/1.1 413"), "{}", String::from_utf8_lossy(&reply));

    // Fill every connection slot with a silent client.
    let mut idle = Vec::new();
    for _ in 0..trellis_daemon::taxii::MAX_CONNECTIONS {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // One more, with a complete request: not served while the slots are taken...
    let mut extra = TcpStream::connect(addr).await.unwrap();
    extra.write_all(b"GET /taxii2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_secs(1), extra.read(&mut buf)).await;
    assert!(early.is_err(), "a connection beyond the cap was served at once");
    // ...and served once the silent ones are dropped by the header timeout.
    let (reply, _) = read_until_closed(&mut extra, HEADER_TIMEOUT + Duration::from_secs(5)).await;
    assert!(reply.starts_with(b"HTTP/1.1 401"), "{}", String::from_utf8_lossy(&reply));
    drop(idle);
}
