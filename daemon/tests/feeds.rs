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

/// What a test server answers: status line, extra headers, body.
type Answer = (String, Vec<(String, String)>, Vec<u8>);
/// A test server's answer to a request (its path with the query, and its header block).
type Handler = Arc<dyn Fn(&str, &str) -> Answer + Send + Sync>;

/// An HTTPS server answering GET PATH from `files` (404 otherwise), with ETags and 304s.
async fn server(
    files: Files,
    chain: rustls::pki_types::CertificateDer<'static>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> u16 {
    let handler: Handler = Arc::new(move |path: &str, head: &str| {
        let inm = head.lines().find_map(|l| l.strip_prefix("If-None-Match: ").map(str::trim).map(String::from));
        match files.lock().unwrap().get(path).cloned() {
            None => ("404 Not Found".into(), vec![], vec![]),
            Some(b) if inm.as_deref() == Some(etag(&b).as_str()) => ("304 Not Modified".into(), vec![], vec![]),
            Some(b) => ("200 OK".into(), vec![("ETag".into(), etag(&b))], b),
        }
    });
    serve_with(handler, chain, key).await
}

/// An HTTPS server whose answers come from `handler`.
async fn serve_with(
    handler: Handler,
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
            let handler = Arc::clone(&handler);
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
                let (status, headers, body) = handler(&path, &head);
                let mut reply = format!("HTTP/1.0 {status}\r\nContent-Length: {}\r\n", body.len());
                for (k, v) in headers {
                    reply.push_str(&format!("{k}: {v}\r\n"));
                }
                reply.push_str("\r\n");
                let mut reply = reply.into_bytes();
                reply.extend_from_slice(&body);
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
        for id in from.store().group_item_ids(gid, kind).unwrap() {
            out.push(from.store().get_item(&id).unwrap().unwrap().bytes);
        }
    }
    out
}

fn sync_into(to: &Arc<Engine>, items: &[Vec<u8>]) {
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

    let setup = trellis_daemon::engine::Setup {
        evidence_policy: FetchPolicy { allow_private: true, ca_file: Some(ca_file.clone()) },
        ..Default::default()
    };
    let (publisher, _, _) = common::offline_engine_with(dir.path(), "publisher", setup).await;
    let (reader, reader_keys, _) = common::offline_engine(dir.path(), "reader").await;
    let gid = publisher.create_group("water", trellis_proto::group::GroupKind::Sector).await.unwrap();
    let token =
        publisher.invite("water", &card(&reader_keys, "reader"), trellis_proto::group::Role::Member).await.unwrap();
    reader.join(&token).await.unwrap();

    let feed = publisher
        .feed_add(&FeedAdd { group: "water".into(), source: format!("localhost:{port}"), ..Default::default() })
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
        ..Default::default()
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

/// Records from `../shared/conformance/osv/` in a zip, with two hostile entries: a path that
/// leaves the archive and an entry larger than a record may be.
fn osv_zip(records: &[(String, Vec<u8>)]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in records {
        w.start_file(name.as_str(), opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.start_file("../escape.json", opts).unwrap();
    w.write_all(b"{}").unwrap();
    w.start_file("huge.json", opts).unwrap();
    w.write_all(&vec![b' '; 300 * 1024]).unwrap();
    w.finish().unwrap().into_inner()
}

/// The record with its `modified` moved to `modified`, and its summary or `withdrawn` set.
fn osv_changed(bytes: &[u8], modified: &str, summary: Option<&str>, withdrawn: bool) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    v["modified"] = modified.into();
    if let Some(s) = summary {
        v["summary"] = s.into();
        v["details"] = s.into();
    }
    if withdrawn {
        v["withdrawn"] = modified.into();
    }
    serde_json::to_vec_pretty(&v).unwrap()
}

/// An OSV `all.zip` (issue 20): real records from `../shared/`, zipped by the test, followed
/// from a file and then from an https URL. Hostile entries are refused and reported; unchanged
/// entries are not decompressed again; a later `modified` is a revision, `withdrawn` a
/// withdrawal; the second node sees each advisory once at its latest revision; the same records
/// from a second source are not published twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_osv_zip_is_followed_and_hostile_entries_are_refused() {
    let Some(osv_dir) = shared("conformance/osv") else { return };
    let names = [
        "GHSA-35c4-f3rq-f9g3",
        "GHSA-76mp-659p-rw65",
        "PYSEC-2021-63",
        "RUSTSEC-2020-0071",
        "GO-2024-2963",
        "DSA-3029-1",
    ];
    let mut records: Vec<(String, Vec<u8>)> = names
        .iter()
        .map(|n| (format!("{n}.json"), std::fs::read(osv_dir.join(format!("{n}.json"))).unwrap()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("all.zip");
    std::fs::write(&zip_path, osv_zip(&records)).unwrap();

    let (ca_pem, chain, tls_key) = pki();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let setup = trellis_daemon::engine::Setup {
        evidence_policy: FetchPolicy { allow_private: true, ca_file: Some(ca_file.clone()) },
        ..Default::default()
    };
    let (publisher, _, _) = common::offline_engine_with(dir.path(), "publisher", setup).await;
    let (reader, reader_keys, _) = common::offline_engine(dir.path(), "reader").await;
    let gid = publisher.create_group("water", trellis_proto::group::GroupKind::Sector).await.unwrap();
    let token =
        publisher.invite("water", &card(&reader_keys, "reader"), trellis_proto::group::Role::Member).await.unwrap();
    reader.join(&token).await.unwrap();
    let add = |source: String| FeedAdd {
        group: "water".into(),
        source,
        kind: Some(trellis_api::types::FeedKind::Osv),
        ..Default::default()
    };
    assert!(publisher.feed_add(&add(dir.path().join("none.zip").display().to_string())).is_err());
    let feed = publisher.feed_add(&add(zip_path.display().to_string())).unwrap();

    let r = publisher.feed_run(&feed.id).await.unwrap();
    assert_eq!(r.error, None, "{r:?}");
    assert_eq!((r.new.len(), r.refused_count), (6, 2), "{r:?}");
    let reason = |r: &trellis_api::types::FeedReport, name: &str| {
        r.refused.iter().find(|x| x.url.ends_with(name)).map(|x| x.reason.clone()).unwrap_or_default()
    };
    assert!(reason(&r, "#../escape.json").contains("leaves the archive"), "{r:?}");
    assert!(reason(&r, "#huge.json").contains("declares 307200 bytes"), "{r:?}");
    // Unchanged entries: not decompressed, not published.
    let r = publisher.feed_run(&feed.id).await.unwrap();
    assert_eq!((r.new.len(), r.revised.len(), r.unchanged), (0, 0, 6), "{r:?}");

    // A later `modified` of one record, another withdrawn by its source.
    records[1].1 = osv_changed(&records[1].1, "2021-09-01T00:00:00Z", Some("Corrected summary"), false);
    records[2].1 = osv_changed(&records[2].1, "2021-09-02T00:00:00Z", None, true);
    let zip2 = osv_zip(&records);
    std::fs::write(&zip_path, &zip2).unwrap();
    let r = publisher.feed_run(&feed.id).await.unwrap();
    assert_eq!((r.new.len(), r.revised.len(), r.unchanged), (0, 2, 4), "{r:?}");

    sync_into(&reader, &items_of(&publisher, &gid));
    let ads = reader.advisories(None).unwrap();
    assert_eq!(ads.len(), 6, "each record once: {ads:?}");
    let by = |id: &str| ads.iter().find(|a| a.source_id.as_deref() == Some(id)).unwrap().clone();
    let revised = by("GHSA-76mp-659p-rw65");
    assert_eq!((revised.revision, revised.summary.as_str()), (2, "Corrected summary"));
    assert!(by("PYSEC-2021-63").withdrawn.is_some(), "withdrawn by its source");
    assert!(by("GHSA-35c4-f3rq-f9g3").withdrawn.is_some(), "a record withdrawn from the start");
    assert!(by("DSA-3029-1").withdrawn.is_none());

    // The same archive at an https URL, as a second feed: nothing published twice; then 304.
    let files: Files = Arc::default();
    files.lock().unwrap().insert("/PyPI/all.zip".into(), zip2);
    let port = server(files, chain, tls_key).await;
    assert!(publisher.feed_add(&add(format!("https://localhost:{port}/PyPI/"))).is_err(), "a URL names a zip");
    let url_feed = publisher.feed_add(&add(format!("https://localhost:{port}/PyPI/all.zip"))).unwrap();
    let r = publisher.feed_run(&url_feed.id).await.unwrap();
    assert_eq!((r.error.as_deref(), r.new.len(), r.revised.len(), r.unchanged), (None, 0, 0, 6), "{r:?}");
    let r = publisher.feed_run(&url_feed.id).await.unwrap();
    assert_eq!((r.listings_unchanged, r.unchanged), (1, 0), "{r:?}");
    sync_into(&reader, &items_of(&publisher, &gid));
    assert_eq!(reader.advisories(None).unwrap().len(), 6);
}

/// A MISP feed (issue 20): the directory `export --format misp` writes is followed by another
/// group's feed, beside an event in MISP's own layout (numeric timestamp, `tlp:green`) and an
/// AMBER one, which is refused. A revised advisory, exported again, reaches the feed's group
/// as a revision of what it published; the second node sees each event once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misp_feed_written_by_export_is_followed() {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../proto/tests/fixtures");
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, chain, tls_key) = pki();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let setup = trellis_daemon::engine::Setup {
        evidence_policy: FetchPolicy { allow_private: true, ca_file: Some(ca_file.clone()) },
        ..Default::default()
    };
    let (publisher, _, _) = common::offline_engine_with(dir.path(), "publisher", setup).await;
    let (reader, reader_keys, _) = common::offline_engine(dir.path(), "reader").await;
    publisher.create_group("source", trellis_proto::group::GroupKind::Sector).await.unwrap();
    let gid = publisher.create_group("water", trellis_proto::group::GroupKind::Sector).await.unwrap();
    let token =
        publisher.invite("water", &card(&reader_keys, "reader"), trellis_proto::group::Role::Member).await.unwrap();
    reader.join(&token).await.unwrap();
    let mut ids = Vec::new();
    for f in ["osv-golang.json", "osv-synthetic-npm.json"] {
        let document = std::fs::read_to_string(fixtures.join(f)).unwrap();
        let req = trellis_api::types::ImportAdvisory {
            group: "source".into(),
            tlp: trellis_proto::Tlp::Clear,
            to: vec![],
            format: None,
            document,
        };
        ids.push(publisher.import_advisory(&req).await.unwrap());
    }
    let feed_dir = dir.path().join("misp");
    let export = |dir: &std::path::Path| {
        let out = publisher
            .export(&trellis_api::types::ExportRequest {
                format: "misp".into(),
                group: Some("source".into()),
                since_ms: None,
            })
            .unwrap();
        std::fs::create_dir_all(dir).unwrap();
        for f in out.files {
            std::fs::write(dir.join(&f.name), f.content).unwrap();
        }
    };
    export(&feed_dir);
    // Two events in MISP's own layout added to the manifest: GREEN, and AMBER (refused).
    let green = "9a3f1c2e-5b7d-4e8f-a0b1-c2d3e4f5a6b7";
    let amber = "1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d";
    let event = |uuid: &str, tlp: &str, ts: u64| {
        serde_json::json!({"Event": {"uuid": uuid, "info": format!("Phishing wave {tlp}"), "date": "2024-05-01",
            "timestamp": ts, "published": true, "Orgc": {"name": "CERT-Test"}, "Tag": [{"name": format!("tlp:{tlp}")}],
            "Attribute": [{"type": "domain", "value": "login-water.example", "category": "Network activity"},
                          {"type": "vulnerability", "value": "CVE-2024-3400"}]}})
    };
    let add_events = |ts: u64| {
        let mpath = feed_dir.join("manifest.json");
        let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
        for (uuid, tlp) in [(green, "green"), (amber, "amber")] {
            m[uuid] =
                serde_json::json!({"info": "x", "timestamp": ts.to_string(), "Tag": [{"name": format!("tlp:{tlp}")}]});
            std::fs::write(feed_dir.join(format!("{uuid}.json")), serde_json::to_vec(&event(uuid, tlp, ts)).unwrap())
                .unwrap();
        }
        std::fs::write(&mpath, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    };
    add_events(1_714_600_000);

    let add = FeedAdd {
        group: "water".into(),
        source: feed_dir.join("manifest.json").display().to_string(),
        kind: Some(trellis_api::types::FeedKind::Misp),
        ..Default::default()
    };
    let feed = publisher.feed_add(&add).unwrap();
    assert_eq!(feed.source, feed_dir.display().to_string());
    let r = publisher.feed_run(&feed.id).await.unwrap();
    assert_eq!(r.error, None, "{r:?}");
    assert_eq!((r.new.len(), r.refused_count), (3, 1), "{r:?}");
    assert!(r.refused[0].url.contains(amber) && r.refused[0].reason.contains("TLP:AMBER"), "{r:?}");
    let r = publisher.feed_run(&feed.id).await.unwrap();
    assert_eq!((r.new.len(), r.revised.len(), r.unchanged), (0, 0, 3), "{r:?}");

    // One advisory revised at the source and exported again; the GREEN event edited later.
    let req =
        trellis_api::types::ReviseAdvisory { summary: Some("Corrected at the source".into()), ..Default::default() };
    publisher.revise_advisory(&ids[0].to_text(), &req).await.unwrap();
    export(&feed_dir);
    add_events(1_714_700_000);
    let r = publisher.feed_run(&feed.id).await.unwrap();
    assert_eq!((r.new.len(), r.revised.len(), r.unchanged), (0, 2, 1), "{r:?}");

    sync_into(&reader, &items_of(&publisher, &gid));
    let ads = reader.advisories(None).unwrap();
    assert_eq!(ads.len(), 3, "each event once: {ads:?}");
    let fixed = ads.iter().find(|a| a.summary == "Corrected at the source").expect("the revision");
    assert_eq!(fixed.revision, 2);
    let g = ads.iter().find(|a| a.source_id.as_deref() == Some(green)).expect("the MISP-layout event");
    assert_eq!((g.tlp, g.revision), (trellis_proto::Tlp::Green, 2));
    assert_eq!(g.aliases, ["CVE-2024-3400"]);

    // The feed removed and added again: its state is gone, yet nothing is published twice.
    publisher.feed_remove(&feed.id).unwrap();
    let again = publisher.feed_add(&add).unwrap();
    let r = publisher.feed_run(&again.id).await.unwrap();
    assert_eq!((r.new.len(), r.revised.len(), r.unchanged, r.refused_count), (0, 0, 3, 1), "{r:?}");

    // The same feed served over https: read the same way, named by its URL; the AMBER event
    // keeps the manifest from being cached, so it is looked at again next run.
    let files: Files = Arc::default();
    for e in std::fs::read_dir(&feed_dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        files.lock().unwrap().insert(format!("/feeds/osint/{name}"), std::fs::read(e.path()).unwrap());
    }
    files.lock().unwrap().remove(&format!("/feeds/osint/{amber}.json"));
    let port = server(Arc::clone(&files), chain, tls_key).await;
    publisher.create_group("river-basin", trellis_proto::group::GroupKind::Sector).await.unwrap();
    let url = FeedAdd {
        group: "river-basin".into(),
        source: format!("https://localhost:{port}/feeds/osint/"),
        kind: Some(trellis_api::types::FeedKind::Misp),
        ..Default::default()
    };
    let over_https = publisher.feed_add(&url).unwrap();
    let r = publisher.feed_run(&over_https.id).await.unwrap();
    assert_eq!((r.error.as_deref(), r.new.len(), r.refused_count), (None, 3, 1), "{r:?}");
    assert!(r.refused[0].reason.contains("404"), "the missing event: {r:?}");
    assert!(r.new.iter().all(|d| d.url.starts_with(&format!("https://localhost:{port}/feeds/osint/"))));
    let r = publisher.feed_run(&over_https.id).await.unwrap();
    assert_eq!((r.listings_unchanged, r.unchanged, r.refused_count), (0, 3, 1), "{r:?}");
    // The AMBER event dropped from the manifest: a clean run, then the manifest answers 304.
    {
        let mut f = files.lock().unwrap();
        let m = f.get_mut("/feeds/osint/manifest.json").unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(m).unwrap();
        v.as_object_mut().unwrap().remove(amber);
        *m = serde_json::to_vec(&v).unwrap();
    }
    let r = publisher.feed_run(&over_https.id).await.unwrap();
    assert_eq!((r.listings_unchanged, r.unchanged, r.refused_count), (0, 3, 0), "{r:?}");
    let r = publisher.feed_run(&over_https.id).await.unwrap();
    assert_eq!((r.listings_unchanged, r.unchanged), (1, 0), "{r:?}");
}

/// A TAXII 2.1 collection (issue 20), served over HTTPS by the test with a bearer token, pages
/// of five objects and `X-TAXII-Date-Added-Last`: the APT1 report's indicators from
/// `../shared/` and a vulnerability are published; the next run asks only for what was added
/// after; a later version is a revision and a revoked one a withdrawal; progress is visible
/// while a run goes on; a wrong token fails the run, which is counted and retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taxii_collection_is_polled_with_added_after() {
    let Some(stix_dir) = shared("conformance/stix-apt1") else { return };
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(stix_dir.join("apt1.json")).unwrap()).unwrap();
    let indicators: Vec<serde_json::Value> =
        bundle["objects"].as_array().unwrap().iter().filter(|o| o["type"] == "indicator").cloned().collect();
    assert_eq!(indicators.len(), 12);
    let malware = bundle["objects"].as_array().unwrap().iter().find(|o| o["type"] == "malware").unwrap().clone();
    let green = trellis_proto::formats::stix::tlp_marking_id(trellis_proto::Tlp::Green);
    let vuln = serde_json::json!({"type": "vulnerability", "spec_version": "2.1",
        "id": "vulnerability--6b0e6a4e-7f3c-4f3e-9d0a-1c2b3d4e5f60", "created": "2024-04-12T00:00:00.000Z",
        "modified": "2024-04-12T00:00:00.000Z", "name": "CVE-2024-3400", "description": "Command injection in GlobalProtect.",
        "object_marking_refs": [green],
        "external_references": [{"source_name": "cve", "external_id": "CVE-2024-3400"}]});
    // (added ms, object): the collection as the server holds it.
    let base_ms = 1_714_000_000_000u64;
    let mut all: Vec<(u64, serde_json::Value)> = indicators
        .iter()
        .cloned()
        .chain([malware, vuln.clone()])
        .enumerate()
        .map(|(i, o)| (base_ms + i as u64 * 1000, o))
        .collect();
    let collection: Arc<Mutex<Vec<(u64, serde_json::Value)>>> = Arc::new(Mutex::new(all.clone()));
    let requests: Arc<Mutex<Vec<String>>> = Arc::default();
    let handler: Handler = {
        let collection = Arc::clone(&collection);
        let requests = Arc::clone(&requests);
        Arc::new(move |path: &str, head: &str| {
            requests.lock().unwrap().push(path.to_string());
            if !head.contains("Authorization: Bearer secret-token\r\n") {
                return ("401 Unauthorized".into(), vec![], br#"{"title":"unauthorized"}"#.to_vec());
            }
            assert!(head.contains("Accept: application/taxii+json;version=2.1\r\n"), "{head}");
            let Some(query) = path.strip_prefix("/api1/collections/c1/objects/?") else {
                return ("404 Not Found".into(), vec![], vec![]);
            };
            let param = |k: &str| query.split('&').find_map(|kv| kv.strip_prefix(&format!("{k}="))).map(percent_decode);
            let after = param("added_after").map(|a| trellis_proto::formats::time::parse_unix_ms(&a).unwrap());
            let start: usize = param("next").map(|n| n.parse().unwrap()).unwrap_or(0);
            let objects: Vec<_> =
                collection.lock().unwrap().iter().filter(|(t, _)| after.is_none_or(|a| *t > a)).cloned().collect();
            let page: Vec<_> = objects.iter().skip(start).take(5).cloned().collect();
            let more = start + page.len() < objects.len();
            let mut body =
                serde_json::json!({"more": more, "objects": page.iter().map(|(_, o)| o.clone()).collect::<Vec<_>>()});
            if more {
                body["next"] = (start + page.len()).to_string().into();
            }
            let mut headers = vec![("Content-Type".to_string(), "application/taxii+json;version=2.1".to_string())];
            if let Some((t, _)) = page.last() {
                headers.push(("X-TAXII-Date-Added-Last".into(), trellis_proto::formats::time::format_rfc3339_ms(*t)));
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
            ("200 OK".into(), headers, serde_json::to_vec(&body).unwrap())
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, chain, tls_key) = pki();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let port = serve_with(handler, chain, tls_key).await;
    let setup = trellis_daemon::engine::Setup {
        evidence_policy: FetchPolicy { allow_private: true, ca_file: Some(ca_file.clone()) },
        ..Default::default()
    };
    let (publisher, _, _) = common::offline_engine_with(dir.path(), "publisher", setup).await;
    let (reader, reader_keys, _) = common::offline_engine(dir.path(), "reader").await;
    let gid = publisher.create_group("water", trellis_proto::group::GroupKind::Sector).await.unwrap();
    let token =
        publisher.invite("water", &card(&reader_keys, "reader"), trellis_proto::group::Role::Member).await.unwrap();
    reader.join(&token).await.unwrap();
    let source = format!("https://localhost:{port}/api1/collections/c1/");
    let add = |token: &str| FeedAdd {
        group: "water".into(),
        source: source.clone(),
        kind: Some(trellis_api::types::FeedKind::Taxii),
        token: Some(token.into()),
        ..Default::default()
    };
    assert!(publisher.feed_add(&FeedAdd { source: format!("https://localhost:{port}/api1/"), ..add("x") }).is_err());

    // A wrong token: the run fails as a whole, is counted, and is retried with backoff.
    let wrong = publisher.feed_add(&add("wrong")).unwrap();
    let r = publisher.feed_run(&wrong.id).await.unwrap();
    assert!(r.error.as_deref().is_some_and(|e| e.contains("401")), "{r:?}");
    assert_eq!(publisher.feed_list().unwrap()[0].failures, 1);
    let mut registry = prometheus_client::registry::Registry::default();
    publisher.metrics().register(&mut registry);
    let text = trellis_daemon::metrics::render(&publisher, 0, &registry).await;
    assert!(text.contains(&format!("trellis_feed_failures{{feed=\"{}\"}} 1", wrong.id)), "{text}");
    assert!(text.contains(&format!("trellis_feed_runs_total{{feed=\"{}\",outcome=\"failed\"}} 1", wrong.id)), "{text}");
    publisher.feed_remove(&wrong.id).unwrap();

    let feed = publisher.feed_add(&add("secret-token")).unwrap();
    // First run, watched: progress shows while it goes on (three pages, 300 ms each).
    let run = tokio::spawn({
        let p = Arc::clone(&publisher);
        let id = feed.id.clone();
        async move { p.feed_run(&id).await }
    });
    let mut seen = None;
    while !run.is_finished() {
        let p = publisher.feed_progress(&feed.id).unwrap();
        if p.running && p.done > 0 {
            seen = Some(p);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let r = run.await.unwrap().unwrap();
    assert_eq!(r.error, None, "{r:?}");
    assert_eq!((r.new.len(), r.refused_count), (13, 0), "{r:?}");
    let seen = seen.expect("progress seen while the run went on");
    assert!(seen.total.is_some_and(|t| t >= seen.done), "{seen:?}");
    assert!(!publisher.feed_progress(&feed.id).unwrap().running);
    let info = publisher.feed_list().unwrap().into_iter().find(|f| f.id == feed.id).unwrap();
    assert_eq!(
        info.cursor.as_deref(),
        Some(trellis_proto::formats::time::format_rfc3339_ms(base_ms + 13_000).as_str())
    );

    // Nothing added since: the run asks with added_after and finds nothing.
    requests.lock().unwrap().clear();
    let r = publisher.feed_run(&feed.id).await.unwrap();
    assert_eq!((r.new.len(), r.revised.len(), r.unchanged), (0, 0, 0), "{r:?}");
    assert!(
        requests.lock().unwrap()[0].contains("added_after=2024-04-24T23%3A06%3A53.000Z"),
        "{:?}",
        requests.lock().unwrap()
    );

    // A later version of the vulnerability and a revoked indicator are added.
    let mut v2 = vuln.clone();
    v2["modified"] = "2024-04-20T00:00:00.000Z".into();
    v2["description"] = "Command injection in GlobalProtect; fixed in PAN-OS 11.1.2-h3.".into();
    let mut revoked = indicators[0].clone();
    revoked["modified"] = "2024-04-21T00:00:00.000Z".into();
    revoked["revoked"] = true.into();
    all.push((base_ms + 100_000, v2));
    all.push((base_ms + 101_000, revoked));
    *collection.lock().unwrap() = all;
    let r = publisher.feed_run(&feed.id).await.unwrap();
    assert_eq!((r.new.len(), r.revised.len()), (0, 2), "{r:?}");

    sync_into(&reader, &items_of(&publisher, &gid));
    let ads = reader.advisories(None).unwrap();
    assert_eq!(ads.len(), 13, "each object once: {ads:?}");
    let v = ads
        .iter()
        .find(|a| a.source_id.as_deref() == Some("vulnerability--6b0e6a4e-7f3c-4f3e-9d0a-1c2b3d4e5f60"))
        .unwrap();
    assert_eq!((v.revision, v.tlp), (2, trellis_proto::Tlp::Green));
    assert!(v.summary.contains("11.1.2-h3"));
    let i = ads.iter().find(|a| a.source_id.as_deref() == indicators[0]["id"].as_str()).unwrap();
    assert!(i.withdrawn.is_some(), "revoked: withdrawn");

    // A caller that stops waiting does not cut the run short, nor leave the feed marked running.
    let mut extra = vuln.clone();
    extra["id"] = "vulnerability--7c1f7b5f-8a4d-4a5f-8e1b-2d3c4e5f6a7b".into();
    extra["name"] = "CVE-2024-21762".into();
    collection.lock().unwrap().push((base_ms + 200_000, extra));
    let run = tokio::spawn({
        let p = Arc::clone(&publisher);
        let id = feed.id.clone();
        async move { p.feed_run(&id).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    run.abort();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while publisher.feed_progress(&feed.id).unwrap().running {
        assert!(std::time::Instant::now() < deadline, "the run never ended");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let info = publisher.feed_list().unwrap().into_iter().find(|f| f.id == feed.id).unwrap();
    assert_eq!(info.last_report.map(|r| r.new.len()), Some(1), "the run went on to its end");
    let r = publisher.feed_run(&feed.id).await.expect("not marked running any more");
    assert_eq!(r.new.len(), 0, "{r:?}");
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned()
}

/// Our own TAXII 2.1 server (another node's, `trellis_daemon::taxii`) followed by a TAXII feed,
/// through a TLS front the test puts before it: the real server's paging, `added_after`,
/// headers and bearer token. Its CLEAR advisories arrive as STIX vulnerabilities; a revision at
/// the source arrives as a revision, once; the identity, marking and course-of-action objects
/// are skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_nodes_taxii_server_is_followed() {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../proto/tests/fixtures");
    let dir = tempfile::tempdir().unwrap();
    let (source, _, _) = common::offline_engine(dir.path(), "source").await;
    let (ca_pem, chain, tls_key) = pki();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let setup = trellis_daemon::engine::Setup {
        evidence_policy: FetchPolicy { allow_private: true, ca_file: Some(ca_file.clone()) },
        ..Default::default()
    };
    let (publisher, _, _) = common::offline_engine_with(dir.path(), "publisher", setup).await;
    let upstream = source.create_group("up-stream", trellis_proto::group::GroupKind::Sector).await.unwrap();
    let mut ids = Vec::new();
    for f in ["osv-golang.json", "osv-synthetic-npm.json"] {
        let req = trellis_api::types::ImportAdvisory {
            group: "up-stream".into(),
            tlp: trellis_proto::Tlp::Clear,
            to: vec![],
            format: None,
            document: std::fs::read_to_string(fixtures.join(f)).unwrap(),
        };
        ids.push(source.import_advisory(&req).await.unwrap());
    }
    let token = trellis_daemon::taxii::rotate_token(&source).unwrap().token;
    let listener = trellis_daemon::taxii::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let backend = listener.local_addr().unwrap();
    tokio::spawn(trellis_daemon::taxii::serve(listener, Arc::clone(&source), std::future::pending()));

    // The TLS front: each request passed to the node's TAXII server, its answer passed back.
    let front: Handler = Arc::new(move |_path: &str, head: &str| {
        use std::io::{Read, Write};
        let raw = tokio::task::block_in_place(|| {
            let mut tcp = std::net::TcpStream::connect(backend).unwrap();
            tcp.write_all(head.as_bytes()).unwrap();
            let mut raw = Vec::new();
            tcp.read_to_end(&mut raw).unwrap();
            raw
        });
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let text = String::from_utf8_lossy(&raw[..end]).to_string();
        let mut lines = text.split("\r\n");
        let status = lines.next().unwrap().split_once(' ').unwrap().1.to_string();
        let headers = lines
            .filter_map(|l| l.split_once(": "))
            .filter(|(k, _)| !k.eq_ignore_ascii_case("content-length"))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        (status, headers, raw[end + 4..].to_vec())
    });
    let port = serve_with(front, chain, tls_key).await;
    publisher.create_group("water", trellis_proto::group::GroupKind::Sector).await.unwrap();
    let cid = trellis_proto::formats::name_uuid("trellis/taxii/collection", &upstream.to_text());
    let feed = publisher
        .feed_add(&FeedAdd {
            group: "water".into(),
            source: format!("https://localhost:{port}/trellis/collections/{cid}/"),
            kind: Some(trellis_api::types::FeedKind::Taxii),
            token: Some(token),
            ..Default::default()
        })
        .unwrap();

    let r = publisher.feed_run(&feed.id).await.unwrap();
    assert_eq!(r.error, None, "{r:?}");
    assert_eq!((r.new.len(), r.refused_count), (2, 0), "{r:?}");
    assert!(r.new.iter().all(|d| d.url.starts_with("vulnerability--")), "{r:?}");
    let r = publisher.feed_run(&feed.id).await.unwrap();
    assert_eq!((r.error.as_deref(), r.new.len(), r.revised.len()), (None, 0, 0), "{r:?}");

    // A revision at the source: the server adds it later, the feed takes it as a revision.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let req = trellis_api::types::ReviseAdvisory { summary: Some("Corrected upstream".into()), ..Default::default() };
    source.revise_advisory(&ids[0].to_text(), &req).await.unwrap();
    let r = publisher.feed_run(&feed.id).await.unwrap();
    assert_eq!((r.error.as_deref(), r.new.len(), r.revised.len()), (None, 0, 1), "{r:?}");
    let ads = publisher.advisories(None).unwrap();
    assert_eq!(ads.len(), 2, "{ads:?}");
    assert!(ads.iter().any(|a| a.revision == 2 && a.summary == "Corrected upstream"), "{ads:?}");
}
