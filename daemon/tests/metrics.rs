//! The Prometheus endpoint: a node with `metrics_listen` serves `/metrics`, and the output
//! parses with a Prometheus text-format parser and carries the documented families, whose
//! values follow what the node did.

mod common;

use std::time::Duration;

use trellis_daemon::config::{Config, Overrides};

async fn scrape(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    let (head, body) = buf.split_once("\r\n\r\n").expect("http response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: application/openmetrics-text; version=1.0.0"), "{head}");
    body.to_string()
}

fn value(scrape: &prometheus_parse::Scrape, name: &str, label: Option<(&str, &str)>) -> Option<f64> {
    scrape.samples.iter().find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v))).map(|s| {
        match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        }
    })
}

/// The reference parser (Python `prometheus_client`'s OpenMetrics parser, strict) reads the
/// page, and every family has a type. Skipped when the module is not installed, unless
/// TRELLIS_REQUIRE_VALIDATORS=1, as CI sets it.
fn openmetrics_parser_accepts(text: &str) {
    const SCRIPT: &str = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
families = list(text_string_to_metric_families(sys.stdin.read()))
untyped = [f.name for f in families if f.type in ("unknown", "untyped")]
if untyped:
    sys.exit("families without a type: " + ", ".join(untyped))
print(len(families), "families")
"#;
    let probe = std::process::Command::new("python3").args(["-c", "import prometheus_client"]).output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var("TRELLIS_REQUIRE_VALIDATORS").as_deref() != Ok("1"),
            "TRELLIS_REQUIRE_VALIDATORS=1 but Python's prometheus_client is not installed"
        );
        eprintln!("skipped the OpenMetrics reference parser: python3 -m pip install prometheus-client");
        return;
    }
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("OpenMetrics parser: {}", String::from_utf8_lossy(&out.stdout).trim());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_count() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let home = dir.path().join("m");
    let overrides = Overrides {
        listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
        metrics_listen: Some(addr.to_string()),
        ..Default::default()
    };
    let config = Config::load(&home, overrides).unwrap();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(trellis_daemon::run(
        config,
        async {
            let _ = stop_rx.await;
        },
        move |_| {
            let _ = ready_tx.send(());
        },
    ));
    tokio::time::timeout(Duration::from_secs(20), ready_rx).await.unwrap().unwrap();
    let node = common::attach(&home, "m");
    let _: trellis_api::types::Created = node
        .client
        .post(
            "/v1/groups",
            &trellis_api::types::CreateGroup { name: "g".into(), kind: trellis_api::types::GroupKind::Sector },
        )
        .await
        .unwrap();
    node.publish("g", "clear", "counted", vec![]).await.unwrap();

    let text = scrape(addr).await;
    let parsed =
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("valid exposition format");
    for family in [
        "trellis_peers",
        "trellis_groups",
        "trellis_items_out_total",
        "trellis_validation_queue_depth",
        "trellis_store_bytes",
        "trellis_connections_opened_total",
        // gossipsub's own counters, from its registry: the group's topic is subscribed.
        "trellis_gossipsub_topic_subscription_status",
    ] {
        assert!(parsed.samples.iter().any(|s| s.metric == family), "{family} missing from:\n{text}");
    }
    assert_eq!(value(&parsed, "trellis_groups", None), Some(1.0));
    assert_eq!(value(&parsed, "trellis_items_out_total", Some(("kind", "advisory"))), Some(1.0));
    assert!(value(&parsed, "trellis_store_bytes", None).unwrap() > 0.0);
    assert_eq!(value(&parsed, "trellis_gossipsub_topic_subscription_status", None), Some(1.0), "{text}");
    // A family with no sample yet (no item rejected, none received) is left out of the page by
    // prometheus-client; the reference parser below checks that every family present is typed.
    assert!(!text.contains("trellis_rejects_total{"), "nothing was rejected:\n{text}");
    assert!(text.ends_with("# EOF\n"), "one exposition, ending in # EOF");
    openmetrics_parser_accepts(&text);

    // A non-loopback address is refused at configuration time.
    let bad = Overrides { metrics_listen: Some("0.0.0.0:9464".into()), ..Default::default() };
    let err = Config::load(&dir.path().join("x"), bad).unwrap_err().to_string();
    assert!(err.contains("loopback"), "{err}");

    let _ = stop.send(());
    task.await.unwrap().unwrap();
}
