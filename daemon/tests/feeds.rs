//! A CSAF provider followed over HTTPS (issue 20): a local TLS server (a CA made for the test,
//! trusted through the evidence CA setting) serves provider-metadata.json, a ROLIE feed, real
//! CSAF documents from `../shared/` with their `.sha512`, and detached OpenPGP signatures made
//! with a key the test generates and the metadata lists. The node follows it into a group; a
//! second node receives what it published. Then one document gets a new tracking version: the
//! second node sees it as revision 2 of the same advisory, never a duplicate. A document with a
//! wrong hash and one signed by another key are refused and reported; a provider whose key
//! changes fails the run, which is retried with backoff.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures::{AsyncReadExt, AsyncWriteExt};
use pgp::composed::{ArmorOptions, DetachedSignature, KeyType, SecretKeyParamsBuilder, SignedSecretKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::types::{KeyDetails, Password};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use tokio_util::compat::TokioAsyncReadCompatExt;
use trellis_api::types::FeedAdd;
use trellis_daemon::engine::Engine;
use trellis_daemon::engine::ingest::{Origin, Outcome};
use trellis_daemon::home::now_ms;
use trellis_daemon::securitytxt::FetchPolicy;
use trellis_proto::{ContactCard, GroupId, Kind, OrgKeys};

type Files = Arc<Mutex<HashMap<String, Vec<u8>>>>;

fn shared(sub: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared").join(sub);
    if dir.is_dir() {
        return Some(dir);
    }
    let required = std::env::var("TRELLIS_REQUIRE_CONFORMANCE").is_ok_and(|v| v == "1");
    assert!(!required, "TRELLIS_REQUIRE_CONFORMANCE=1 but {} is not present", dir.display());
    eprintln!(
        "skipped: ../shared/{sub} not present ({}); the feed test serves real CSAF documents from it",
        dir.display()
    );
    None
}

fn pki() -> (String, rustls::pki_types::CertificateDer<'static>, rustls::pki_types::PrivateKeyDer<'static>) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca_cert, &ca_key)
        .unwrap();
    (ca_cert.pem(), cert.der().clone(), rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
}

fn etag(body: &[u8]) -> String {
    use sha2::Digest;
    format!("\"{}\"", data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(body)[..8]))
}

/// An HTTPS server answering GET PATH from `files` (404 otherwise), with ETags and 304s.
async fn server(
    files: Files,
    chain: rustls::pki_types::CertificateDer<'static>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![chain], key)
        .unwrap();
    let acceptor = futures_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let files = Arc::clone(&files);
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp.compat()).await else { return };
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&req).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let inm = head.lines().find_map(|l| l.strip_prefix("If-None-Match: ").map(str::trim).map(String::from));
                let body = files.lock().unwrap().get(&path).cloned();
                let reply: Vec<u8> = match body {
                    None => b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
                    Some(b) if inm.as_deref() == Some(etag(&b).as_str()) => {
                        b"HTTP/1.0 304 Not Modified\r\n\r\n".to_vec()
                    }
                    Some(b) => {
                        let mut r =
                            format!("HTTP/1.0 200 OK\r\nETag: {}\r\nContent-Length: {}\r\n\r\n", etag(&b), b.len())
                                .into_bytes();
                        r.extend_from_slice(&b);
                        r
                    }
                };
                let _ = tls.write_all(&reply).await;
                let _ = tls.close().await;
            });
        }
    });
    port
}

fn gen_key(seed: u64) -> SignedSecretKey {
    use rand08::SeedableRng;
    let mut rng = rand08::rngs::StdRng::seed_from_u64(seed);
    let mut params = SecretKeyParamsBuilder::default();
    params
        .key_type(KeyType::Ed25519Legacy)
        .can_certify(true)
        .can_sign(true)
        .primary_user_id("Test PSIRT <psirt@example.org>".into());
    params.build().unwrap().generate(&mut rng).unwrap()
}

fn sign(key: &SignedSecretKey, doc: &[u8]) -> Vec<u8> {
    use rand08::SeedableRng;
    let rng = rand08::rngs::StdRng::seed_from_u64(7);
    DetachedSignature::sign_binary_data(rng, &key.primary_key, &Password::empty(), HashAlgorithm::Sha256, doc)
        .unwrap()
        .to_armored_string(ArmorOptions::default())
        .unwrap()
        .into_bytes()
}

fn sha512_file(doc: &[u8], name: &str) -> Vec<u8> {
    use sha2::Digest;
    format!("{}  {name}\n", data_encoding::HEXLOWER.encode(&sha2::Sha512::digest(doc))).into_bytes()
}

/// The provider: documents (name → bytes, updated time), the ROLIE feed listing them, hashes
/// and signatures by `key`.
struct Provider {
    base: String,
    files: Files,
    key: SignedSecretKey,
    docs: Vec<(String, Vec<u8>, String)>,
}

impl Provider {
    fn fingerprint(k: &SignedSecretKey) -> String {
        data_encoding::HEXUPPER.encode(k.to_public_key().fingerprint().as_bytes())
    }

    /// Write every file the provider serves.
    fn publish(&self) {
        let mut f = self.files.lock().unwrap();
        let fpr = Self::fingerprint(&self.key);
        let meta = serde_json::json!({
            "canonical_url": format!("{}/.well-known/csaf/provider-metadata.json", self.base),
            "distributions": [{"rolie": {"feeds": [{"summary": "TLP:WHITE advisories", "tlp_label": "WHITE",
                "url": format!("{}/.well-known/csaf/feed-tlp-white.json", self.base)}]}}],
            "last_updated": "2024-05-02T10:00:00Z",
            "list_on_CSAF_aggregators": true,
            "metadata_version": "2.0",
            "mirror_on_CSAF_aggregators": true,
            "public_openpgp_keys": [{"fingerprint": fpr, "url": format!("{}/.well-known/csaf/openpgp/{fpr}.asc", self.base)}],
            "publisher": {"category": "vendor", "name": "Test PSIRT", "namespace": "https://psirt.example.org"},
            "role": "csaf_trusted_provider"
        });
        f.insert("/.well-known/csaf/provider-metadata.json".into(), serde_json::to_vec_pretty(&meta).unwrap());
        f.insert(
            format!("/.well-known/csaf/openpgp/{fpr}.asc"),
            self.key.to_public_key().to_armored_string(ArmorOptions::default()).unwrap().into_bytes(),
        );
        let mut entries = Vec::new();
        for (name, bytes, updated) in &self.docs {
            let url = format!("{}/.well-known/csaf/white/{name}", self.base);
            entries.push(serde_json::json!({
                "id": name, "title": name,
                "link": [{"rel": "self", "href": url}, {"rel": "hash", "href": format!("{url}.sha512")},
                         {"rel": "signature", "href": format!("{url}.asc")}],
                "published": updated, "updated": updated,
                "content": {"type": "application/json", "src": url},
                "format": {"schema": "https://docs.oasis-open.org/csaf/csaf/v2.0/csaf_json_schema.json", "version": "2.0"}
            }));
            let path = format!("/.well-known/csaf/white/{name}");
            f.insert(format!("{path}.sha512"), sha512_file(bytes, name));
            f.insert(format!("{path}.asc"), sign(&self.key, bytes));
            f.insert(path, bytes.clone());
        }
        let feed = serde_json::json!({"feed": {"id": "test-white", "title": "Test PSIRT TLP:WHITE",
            "link": [{"rel": "self", "href": format!("{}/.well-known/csaf/feed-tlp-white.json", self.base)}],
            "category": [{"scheme": "urn:ietf:params:rolie:category:information-type", "term": "csaf"}],
            "updated": "2024-05-02T10:00:00Z", "entry": entries}});
        f.insert("/.well-known/csaf/feed-tlp-white.json".into(), serde_json::to_vec_pretty(&feed).unwrap());
    }

    fn set(&self, path: &str, bytes: Vec<u8>) {
        self.files.lock().unwrap().insert(format!("/.well-known/csaf/white/{path}"), bytes);
    }
}

fn card(keys: &OrgKeys, name: &str) -> String {
    ContactCard { name: name.into(), bundle: keys.key_bundle(now_ms(), 3_600_000), addrs: vec![] }.to_text()
}

fn items_of(from: &Engine, gid: &GroupId) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for kind in [Kind::GroupOp, Kind::EpochKey, Kind::Advisory] {
        for id in from.store.group_item_ids(gid, kind).unwrap() {
            out.push(from.store.get_item(&id).unwrap().unwrap().bytes);
        }
    }
    out
}

fn sync_into(to: &Engine, items: &[Vec<u8>]) {
    let p = libp2p::identity::Keypair::generate_ed25519().public().to_peer_id();
    for _ in 0..items.len() + 1 {
        let stored =
            items.iter().filter(|b| to.ingest(b, Origin::Sync(p)).is_ok_and(|o| o != Outcome::Duplicate)).count();
        if stored == 0 {
            break;
        }
    }
}

/// The CSAF document with its tracking version raised to `version` (a new revision dated later).
fn revised(doc: &[u8], version: &str, date: &str) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(doc).unwrap();
    let t = &mut v["document"]["tracking"];
    t["version"] = version.into();
    t["current_release_date"] = date.into();
    t["revision_history"].as_array_mut().unwrap().push(serde_json::json!({
        "date": date, "number": version, "summary": "Corrected the remediation."
    }));
    serde_json::to_vec_pretty(&v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csaf_provider_is_followed_with_revisions_and_refusals() {
    let (Some(data), Some(cisa)) = (shared("data/csaf"), shared("conformance/csaf-cisa")) else { return };
    let read = |p: PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let bsi = read(data.join("oasis-bsi-2022-0001.json"));
    let icsa = read(data.join("cisa-icsa-24-081-01.json"));
    let icsma = read(cisa.join("cisa-icsma-24-058-01.json"));
    let vex = read(data.join("oasis-2022-evd-uc-01-a-001.json"));
    let rhsa = read(data.join("oasis-rhsa-2019_1862.json"));

    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, chain, tls_key) = pki();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let files: Files = Arc::default();
    let port = server(Arc::clone(&files), chain, tls_key).await;
    let base = format!("https://localhost:{port}");
    let t1 = "2024-05-01T00:00:00Z".to_string();
    let mut provider = Provider {
        base: base.clone(),
        files,
        key: gen_key(1),
        docs: vec![
            ("bsi-2022-0001.json".into(), bsi.clone(), t1.clone()),
            ("icsa-24-081-01.json".into(), icsa, t1.clone()),
            ("icsma-24-058-01.json".into(), icsma, t1.clone()),
            ("evd-uc-01-a-001.json".into(), vex.clone(), t1.clone()),
            ("rhsa-2019_1862.json".into(), rhsa.clone(), t1.clone()),
        ],
    };
    provider.publish();
    // A wrong hash for one document, a signature by another key for another.
    provider.set("evd-uc-01-a-001.json.sha512", sha512_file(b"something else", "evd-uc-01-a-001.json"));
    provider.set("rhsa-2019_1862.json.asc", sign(&gen_key(2), &rhsa));

    let (publisher, _, _) = common::offline_engine(dir.path(), "publisher").await;
    let (reader, reader_keys, _) = common::offline_engine(dir.path(), "reader").await;
    *publisher.evidence_policy.write().unwrap() = FetchPolicy { allow_private: true, ca_file: Some(ca_file.clone()) };
    let gid = publisher.create_group("water", trellis_proto::group::GroupKind::Sector).await.unwrap();
    let token =
        publisher.invite("water", &card(&reader_keys, "reader"), trellis_proto::group::Role::Member).await.unwrap();
    reader.join(&token).await.unwrap();

    let feed = publisher
        .feed_add(&FeedAdd { group: "water".into(), source: format!("localhost:{port}"), kind: None, every_secs: None })
        .unwrap();
    assert_eq!(feed.source, format!("{base}/.well-known/csaf/provider-metadata.json"));

    // First run: three documents new, two refused with their reasons.
    let r = publisher.feed_run(&feed.id).await.unwrap();
    assert_eq!(r.error, None, "{r:?}");
    assert_eq!(r.new.len(), 3, "{r:?}");
    assert_eq!((r.revised.len(), r.refused_count), (0, 2), "{r:?}");
    let reason = |name: &str| r.refused.iter().find(|x| x.url.ends_with(name)).map(|x| x.reason.clone()).unwrap();
    assert!(reason("evd-uc-01-a-001.json").contains("SHA-512 mismatch"), "{r:?}");
    assert!(reason("rhsa-2019_1862.json").contains("signature does not verify"), "{r:?}");
    let listed = publisher.feed_list().unwrap();
    assert_eq!(listed[0].keys, vec![Provider::fingerprint(&provider.key)]);
    assert_eq!((listed[0].documents, listed[0].failures), (3, 0));

    sync_into(&reader, &items_of(&publisher, &gid));
    let ads = reader.advisories(None).unwrap();
    assert_eq!(ads.len(), 3, "{ads:?}");
    let bsi_view = ads.iter().find(|a| a.source_id.as_deref() == Some("BSI-2022-0001")).expect("BSI advisory");
    assert_eq!(bsi_view.tlp, trellis_proto::Tlp::Clear);
    assert!(bsi_view.references.iter().any(|u| u.ends_with("/white/bsi-2022-0001.json")), "the source is named");

    // Second run, nothing changed: the feed answers 304, nothing is fetched or published.
    let r = publisher.feed_run(&feed.id).await.unwrap();
    assert_eq!((r.new.len(), r.revised.len(), r.listings_unchanged), (0, 0, 1), "{r:?}");

    // A new revision of one document, and the bad hash fixed: one revised, one new.
    let bsi2 = revised(&bsi, "2", "2024-06-01T00:00:00.000Z");
    provider.docs[0] = ("bsi-2022-0001.json".into(), bsi2, "2024-06-01T00:00:00Z".into());
    provider.publish();
    provider.set("rhsa-2019_1862.json.asc", sign(&gen_key(2), &rhsa));
    let r = publisher.feed_run(&feed.id).await.unwrap();
    assert_eq!(r.revised.len(), 1, "{r:?}");
    assert!(r.revised[0].url.ends_with("bsi-2022-0001.json"));
    assert_eq!(r.new.len(), 1, "the VEX document, its hash now right: {r:?}");
    assert_eq!(r.refused_count, 1, "{r:?}");

    sync_into(&reader, &items_of(&publisher, &gid));
    let ads = reader.advisories(None).unwrap();
    assert_eq!(ads.len(), 4, "exactly the latest revisions, no duplicates: {ads:?}");
    let b = ads.iter().find(|a| a.source_id.as_deref() == Some("BSI-2022-0001")).unwrap();
    assert_eq!((b.id.as_str(), b.revision), (bsi_view.id.as_str(), 2));
    let h = reader.advisory_history(&b.id).unwrap();
    assert!(h.versions[1].changes.iter().any(|c| c.field == "source" && c.after.contains("version 2")), "{h:?}");

    // The provider's key changes: the run fails as a whole and is retried with backoff.
    provider.key = gen_key(3);
    provider.publish();
    let r = publisher.feed_run(&feed.id).await.unwrap();
    assert!(r.error.as_deref().is_some_and(|e| e.contains("keys changed")), "{r:?}");
    let f = &publisher.feed_list().unwrap()[0];
    assert_eq!(f.failures, 1);
    let wait = f.next_run_ms.saturating_sub(now_ms());
    assert!((50_000..=61_000).contains(&wait), "first retry after a minute, not {wait} ms");
    assert_eq!(reader.advisories(None).unwrap().len(), 4);
}

/// An OSV directory: records published, unchanged ones not read again, a later `modified` a
/// revision, a record with `withdrawn` a withdrawal, a broken file refused; the reader sees
/// each advisory once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_osv_directory_is_followed_by_modified() {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../proto/tests/fixtures");
    let synthetic = std::fs::read_to_string(fixtures.join("osv-synthetic-npm.json")).unwrap();
    let golang = std::fs::read_to_string(fixtures.join("osv-golang.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let records = dir.path().join("osv");
    std::fs::create_dir_all(records.join("npm")).unwrap();
    std::fs::write(records.join("npm/TRELLIS-TEST-2024-0001.json"), &synthetic).unwrap();
    std::fs::write(records.join("go.json"), &golang).unwrap();
    std::fs::write(records.join("broken.json"), b"{ not json").unwrap();

    let (publisher, _, _) = common::offline_engine(dir.path(), "publisher").await;
    let (reader, reader_keys, _) = common::offline_engine(dir.path(), "reader").await;
    let gid = publisher.create_group("water", trellis_proto::group::GroupKind::Sector).await.unwrap();
    let token =
        publisher.invite("water", &card(&reader_keys, "reader"), trellis_proto::group::Role::Member).await.unwrap();
    reader.join(&token).await.unwrap();
    let add = |source: String| FeedAdd {
        group: "water".into(),
        source,
        kind: Some(trellis_api::types::FeedKind::Osv),
        every_secs: None,
    };
    assert!(publisher.feed_add(&add("relative/path".into())).is_err(), "a relative path is refused");
    let feed = publisher.feed_add(&add(records.display().to_string())).unwrap();

    let r = publisher.feed_run(&feed.id).await.unwrap();
    assert_eq!((r.new.len(), r.refused_count), (2, 1), "{r:?}");
    assert!(r.refused[0].url.ends_with("broken.json") && r.refused[0].reason.contains("not JSON"), "{r:?}");
    let r = publisher.feed_run(&feed.id).await.unwrap();
    assert_eq!((r.new.len(), r.revised.len(), r.unchanged), (0, 0, 2), "{r:?}");

    // A later `modified` with a corrected summary, then the record withdrawn by its source.
    let later = synthetic
        .replace("2024-05-01T12:00:00Z", "2024-06-01T12:00:00Z")
        .replace("Synthetic record for matching tests", "Synthetic record, corrected");
    std::fs::write(records.join("npm/TRELLIS-TEST-2024-0001.json"), &later).unwrap();
    let r = publisher.feed_run(&feed.id).await.unwrap();
    assert_eq!((r.new.len(), r.revised.len()), (0, 1), "{r:?}");
    let withdrawn = later
        .replace("2024-06-01T12:00:00Z", "2024-07-01T12:00:00Z")
        .replace("\"published\"", "\"withdrawn\": \"2024-07-01T12:00:00Z\",\n  \"published\"");
    std::fs::write(records.join("npm/TRELLIS-TEST-2024-0001.json"), &withdrawn).unwrap();
    let r = publisher.feed_run(&feed.id).await.unwrap();
    assert_eq!(r.revised.len(), 1, "{r:?}");

    sync_into(&reader, &items_of(&publisher, &gid));
    let ads = reader.advisories(None).unwrap();
    assert_eq!(ads.len(), 2, "no duplicates: {ads:?}");
    let t = ads.iter().find(|a| a.source_id.as_deref() == Some("TRELLIS-TEST-2024-0001")).unwrap();
    assert_eq!(t.revision, 3);
    assert!(t.withdrawn.as_deref().is_some_and(|w| w.contains("2024-07-01")), "{:?}", t.withdrawn);
}
