//! Posture attestations end to end, with in-process nodes on loopback: a customer and three
//! suppliers in a supply-chain channel, plus an auditor. Each supplier's attestation reaches the
//! customer and no other supplier; a lapsed answer is flagged; the customer's node checks
//! security.txt evidence over HTTPS against a server this test runs on loopback; an auditor co-signs; the
//! concentration view counts a shared provider and hides a rare one; an advisory naming a
//! provider lists the suppliers that depend on it; a posture request reaches suppliers' event
//! streams and status until they answer.

mod common;

use std::time::Duration;

use common::{TestNode, converged_members, join, start, wait_for};
use trellis_api::types::{
    AdvisoryView, ConcentrationView, CosignRequest, CreateGroup, Created, PostureDiffView, PostureRequestBody,
    PostureSummary, PostureView, PublishPosture,
};
use trellis_daemon::home::now_ms;
use trellis_proto::formats::time::format_rfc3339_ms;
use trellis_proto::posture::{ClaimDocument, DependencyDocument, PostureDocument};

const DAY: u64 = 24 * 3600 * 1000;
const GROUP: &str = "prime-suppliers";

/// Serve three security.txt files over HTTPS on loopback: a valid one, one without Expires, an
/// expired one. The certificate is for 127.0.0.1, from a CA made here; returns the base URL and
/// the CA's PEM (which the customer's node is configured to trust).
async fn security_txt_server() -> (String, String) {
    use futures::{AsyncReadExt, AsyncWriteExt};
    use tokio_util::compat::TokioAsyncReadCompatExt;
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca_cert, &ca_key)
        .unwrap();
    let config =
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
    let acceptor = futures_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut s) = acceptor.accept(tcp.compat()).await else { return };
                let mut buf = vec![0u8; 2048];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let body = if req.starts_with("GET /good/.well-known/security.txt ") {
                    "# s1\nContact: mailto:security@s1.example\nExpires: 2099-01-01T00:00:00Z\nPolicy: https://s1.example/disclosure\n"
                } else if req.starts_with("GET /noexpires/.well-known/security.txt ") {
                    "Contact: mailto:security@s2.example\n"
                } else if req.starts_with("GET /expired/.well-known/security.txt ") {
                    "Contact: mailto:security@s3.example\nExpires: 2020-01-01T00:00:00Z\n"
                } else {
                    let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").await;
                    let _ = s.close().await;
                    return;
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(body.as_bytes()).await;
                let _ = s.close().await;
            });
        }
    });
    (format!("https://{addr}"), ca_cert.pem())
}

fn claim(indicator: &str, value: &str, evidence: Option<String>, observed: u64, until: u64) -> ClaimDocument {
    ClaimDocument {
        indicator: indicator.into(),
        value: value.into(),
        method: if evidence.is_some() { "observed" } else { "self-attested" }.into(),
        observed_at: format_rfc3339_ms(observed),
        valid_until: format_rfc3339_ms(until),
        evidence,
    }
}

fn doc(claims: Vec<ClaimDocument>, deps: &[&str]) -> PostureDocument {
    PostureDocument {
        claims,
        critical_dependencies: deps.iter().map(|d| DependencyDocument { name: d.to_string(), purl: None }).collect(),
    }
}

async fn publish(n: &TestNode, document: PostureDocument, to: Vec<String>) -> Result<String, String> {
    let req = PublishPosture { group: GROUP.into(), tlp: None, to, document };
    n.client.post::<_, Created>("/v1/posture", &req).await.map(|c| c.id).map_err(|e| e.to_string())
}

async fn show(n: &TestNode, org: &str) -> Result<PostureView, String> {
    n.client.get(&format!("/v1/posture/{org}")).await.map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_reads_suppliers_posture_and_suppliers_do_not_read_each_other() {
    let (web, ca_pem) = security_txt_server().await;
    let dir = tempfile::tempdir().unwrap();
    // The customer's node trusts the test CA and may fetch from loopback (a lab setting).
    let cust_home = dir.path().join("customer");
    std::fs::create_dir_all(&cust_home).unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca_pem).unwrap();
    std::fs::write(
        cust_home.join(trellis_daemon::home::CONFIG_FILE),
        format!("evidence_allow_private = true\nevidence_ca_file = {:?}\n", dir.path().join("ca.pem")),
    )
    .unwrap();
    let cust = start(dir.path(), "customer", vec![]).await;
    let s1 = start(dir.path(), "s1", vec![cust.addr.clone()]).await;
    let s2 = start(dir.path(), "s2", vec![cust.addr.clone()]).await;
    let s3 = start(dir.path(), "s3", vec![cust.addr.clone()]).await;
    let auditor = start(dir.path(), "auditor", vec![cust.addr.clone()]).await;
    let _: Created = cust
        .client
        .post("/v1/groups", &CreateGroup { name: GROUP.into(), kind: trellis_api::types::GroupKind::SupplyChain })
        .await
        .unwrap();
    for n in [&s1, &s2, &s3, &auditor] {
        join(&cust, n, GROUP, "member").await;
    }
    converged_members(&[&cust, &s1, &s2, &s3, &auditor], GROUP, 5).await;
    let (c_org, a_org) = (cust.org().await, auditor.org().await);
    let (o1, o2, o3) = (s1.org().await, s2.org().await, s3.org().await);
    let now = now_ms();
    let year = now + 365 * DAY;

    // A posture request from the customer reaches a supplier's event stream and status.
    let mut events = s2.client.stream("/v1/events").await.unwrap();
    let _: Created = cust
        .client
        .post(
            &format!("/v1/groups/{GROUP}/posture-request"),
            &PostureRequestBody { message: Some("annual review".into()) },
        )
        .await
        .unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(line)) = events.next_line().await {
            if line.contains("\"posture_requested\"") && line.contains("annual review") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(seen, Ok(true), "supplier 2 did not see the posture request in its event stream");
    wait_for("s2's status lists the pending request", || async {
        s2.status().await.posture_requests.iter().any(|r| r.from == c_org && r.message == "annual review")
    })
    .await;

    // An attestation with problems is refused before anything is signed.
    let err = publish(&s1, doc(vec![], &["ExampleCloud"]), vec![]).await.unwrap_err();
    assert!(err.contains("answers no indicator"), "{err}");

    // s1 names the auditor as a reader too; s2 and s3 take the channel's default (its admins).
    let d1 = doc(
        vec![
            claim(
                "security-contact",
                "security@s1.example",
                Some(format!("{web}/good/.well-known/security.txt")),
                now,
                year,
            ),
            claim("mfa", "yes", None, now, year),
        ],
        &["ExampleCloud", "TinyHost"],
    );
    publish(&s1, d1, vec![c_org.clone(), a_org.clone()]).await.unwrap();
    let d2 = doc(
        vec![
            claim(
                "security-contact",
                "security@s2.example",
                Some(format!("{web}/noexpires/.well-known/security.txt")),
                now,
                year,
            ),
            claim("mfa", "no", None, now, year),
        ],
        &["ExampleCloud", "Microsoft 365"],
    );
    publish(&s2, d2, vec![]).await.unwrap();
    let d3 = doc(
        vec![
            claim(
                "security-contact",
                "security@s3.example",
                Some(format!("{web}/expired/.well-known/security.txt")),
                now,
                year,
            ),
            // Answered 400 days ago, valid for a year: lapsed a month ago.
            claim("code-review", "yes", None, now - 400 * DAY, now - 35 * DAY),
        ],
        &["examplecloud"],
    );
    publish(&s3, d3, vec![]).await.unwrap();

    // s2 answered: its request is no longer pending.
    assert!(s2.status().await.posture_requests.is_empty(), "s2 published, yet the request is still pending");

    for o in [&o1, &o2, &o3] {
        wait_for("the customer reads a supplier's posture", || async { show(&cust, o).await.is_ok() }).await;
    }
    let v1 = show(&cust, &o1).await.unwrap();
    let check = v1.claims[0].check.clone().expect("the observed answer was checked");
    assert_eq!(check.status, "verified", "{check:?}");
    assert!(v1.expired.is_empty());
    let v2 = show(&cust, &o2).await.unwrap();
    let check = v2.claims[0].check.clone().unwrap();
    assert_eq!(check.status, "failed");
    assert!(check.detail.contains("no Expires"), "{check:?}");
    let v3 = show(&cust, &o3).await.unwrap();
    let check = v3.claims[0].check.clone().unwrap();
    assert_eq!(check.status, "failed");
    assert!(check.detail.contains("expired"), "{check:?}");
    assert_eq!(v3.expired, vec!["code-review".to_string()]);
    assert!(v3.claims.iter().any(|c| c.indicator == "code-review" && c.expired));
    assert!(v3.claims.iter().any(|c| c.indicator == "security-contact" && !c.expired));
    // Self-attested answers are not checked.
    assert!(v1.claims[1].check.is_none());

    // No supplier reads another's attestation; the auditor reads only the one addressed to it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for (reader, others) in [(&s1, [&o2, &o3]), (&s2, [&o1, &o3]), (&s3, [&o1, &o2])] {
        for o in others {
            let err = show(reader, o).await.unwrap_err();
            assert!(err.contains("no posture attestation"), "{} read another supplier's posture: {err}", reader.name);
        }
    }
    assert!(show(&auditor, &o1).await.is_ok());
    assert!(show(&auditor, &o2).await.is_err());

    // The auditor co-signs s1's MFA answer; the customer sees it.
    let bad: Result<Created, _> = auditor
        .client
        .post(
            &format!("/v1/posture/{o1}/cosign"),
            &CosignRequest { indicators: vec!["code-review".into()], group: None, note: None },
        )
        .await;
    assert!(bad.unwrap_err().to_string().contains("does not answer"));
    let _: Created = auditor
        .client
        .post(
            &format!("/v1/posture/{o1}/cosign"),
            &CosignRequest { indicators: vec!["mfa".into()], group: None, note: Some("audit 2025".into()) },
        )
        .await
        .unwrap();
    wait_for("the customer sees the co-signature", || async {
        show(&cust, &o1).await.is_ok_and(|v| {
            v.cosignatures.iter().any(|c| c.org == a_org && c.indicators == ["mfa"])
                && v.claims.iter().any(|c| c.indicator == "mfa" && c.cosigned_by == ["auditor"])
        })
    })
    .await;

    // Concentration: three suppliers on ExampleCloud; TinyHost and Microsoft 365 not named.
    let c: ConcentrationView = cust.client.get(&format!("/v1/groups/{GROUP}/concentration")).await.unwrap();
    assert_eq!(c.suppliers, 3, "{c:?}");
    assert_eq!(c.providers.len(), 1, "{c:?}");
    assert_eq!((c.providers[0].provider.as_str(), c.providers[0].suppliers), ("ExampleCloud", 3));
    assert_eq!(c.other_providers, 2);
    // A supplier sees only its own attestation: nothing reaches the threshold.
    let c: ConcentrationView = s1.client.get(&format!("/v1/groups/{GROUP}/concentration")).await.unwrap();
    assert!(c.providers.is_empty() && c.suppliers <= 1, "{c:?}");

    // An advisory naming a provider lists the customer's suppliers that depend on it.
    let cloud = cust.publish(GROUP, "green", "ExampleCloud storage outage", vec![]).await.unwrap();
    let tiny = cust.publish(GROUP, "green", "TinyHost control panel compromised", vec![]).await.unwrap();
    let a: AdvisoryView = cust.client.get(&format!("/v1/advisories/{cloud}")).await.unwrap();
    assert_eq!(a.affected_suppliers.len(), 3, "{:?}", a.affected_suppliers);
    let a: AdvisoryView = cust.client.get(&format!("/v1/advisories/{tiny}")).await.unwrap();
    assert_eq!(a.affected_suppliers.len(), 1, "{:?}", a.affected_suppliers);
    assert!(a.affected_suppliers[0].starts_with("s1 "), "{:?}", a.affected_suppliers);
    // A supplier's node lists no one (it administers no channel).
    wait_for("s2 receives the advisory", || async { s2.titles().await.iter().any(|t| t.starts_with("ExampleCloud")) })
        .await;
    let a: AdvisoryView = s2.client.get(&format!("/v1/advisories/{cloud}")).await.unwrap();
    assert!(a.affected_suppliers.is_empty());

    // s2 turns MFA on: history has two attestations, diff shows the change.
    let d2b = doc(
        vec![
            claim(
                "security-contact",
                "security@s2.example",
                Some(format!("{web}/noexpires/.well-known/security.txt")),
                now,
                year,
            ),
            claim("mfa", "yes", None, now_ms(), year),
        ],
        &["ExampleCloud"],
    );
    publish(&s2, d2b, vec![]).await.unwrap();
    wait_for("the customer holds s2's second attestation", || async {
        cust.client.get::<Vec<PostureSummary>>(&format!("/v1/posture/{o2}/history")).await.is_ok_and(|h| h.len() == 2)
    })
    .await;
    let d: PostureDiffView = cust.client.get(&format!("/v1/posture/{o2}/diff")).await.unwrap();
    assert!(d.previous.is_some());
    let mfa = d.changes.iter().find(|c| c.indicator == "mfa").expect("mfa changed");
    assert_eq!(mfa.change, "changed");
    assert!(mfa.before.as_deref().unwrap().starts_with("no") && mfa.after.as_deref().unwrap().starts_with("yes"));
    assert_eq!(d.dependencies_removed, vec!["Microsoft 365".to_string()]);
    assert!(!d.changes.iter().any(|c| c.indicator == "security-contact"), "{:?}", d.changes);

    for n in [cust, s1, s2, s3, auditor] {
        n.shutdown().await;
    }
}
