//! Feeds: the node follows a public source and publishes what it finds into a group, as this
//! org, at CLEAR or the label the source gives (never looser), with the source named in every
//! item (`trellis feed add|list|remove|run`, PROTOCOL.md §4.9 for how a changed document becomes
//! a revision).
//!
//! Four kinds of source. **OSV** ([`osv`]): a directory of records, or a zip of them (OSV's
//! per-ecosystem `all.zip`, a file or an https URL, read under the bounds of [`archive`]),
//! followed by each record's `modified`. A **MISP feed** ([`misp`]): `manifest.json` and its
//! events, a directory or an https URL, followed by each event's `timestamp`. A **TAXII 2.1
//! collection** ([`taxii`]): polled with `added_after`, its `vulnerability` and `indicator`
//! objects followed by their `modified`. MISP events and STIX objects keep no source document,
//! so their revisions are found by their ids ([`publish`]). A
//! **CSAF provider** ([`csaf`]): `provider-metadata.json`, then its
//! ROLIE feeds or its directory's `changes.csv`; each document's `.sha512` checked and its
//! OpenPGP signature verified against the keys the metadata lists (fingerprint checked; the keys
//! seen on the first run are pinned, and a provider whose keys change is refused until the feed
//! is added again); only documents whose listed time changed are fetched, with conditional
//! requests. Everything fetched is bounded in size and time ([`http`]), under the same address
//! and CA policy as security.txt evidence (`evidence_allow_private`, `evidence_ca_file`).
//!
//! Feeds and their state live in `feeds.json` in the node's home. A scheduler runs each feed
//! when due; a run that fails as a whole (metadata or feed unreachable, keys changed) is retried
//! with exponential backoff from 1 minute up to the feed's period. A document that fails its
//! checks is refused and reported, publishes nothing, and is tried again next run.

pub mod archive;
pub mod csaf;
pub mod http;
pub mod misp;
pub mod osv;
pub mod progress;
pub mod publish;
pub mod state;
pub mod taxii;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use trellis_proto::lifecycle::SourceOrder;
use trellis_proto::limits::{MAX_LIST, MAX_SHORT, MAX_SOURCE_DOC_BYTES};
use trellis_proto::{GroupId, ItemId, Payload, Tlp};

use crate::api::types::{FeedAdd, FeedCounts, FeedDocument, FeedInfo, FeedKind, FeedProgress, FeedRefusal, FeedReport};
use crate::engine::actions::Audience;
use crate::engine::{ActionError, Engine};
use crate::securitytxt::FetchPolicy;
use http::{Got, Validators};

/// The file in the home that holds the feeds and their state.
pub const FEEDS_FILE: &str = "feeds.json";
/// Default and bounds of a feed's period.
pub const DEFAULT_EVERY_SECS: u64 = 3600;
pub use trellis_api::feeds::{MIN_EVERY_SECS, parse_every};
/// How often the scheduler looks for due feeds.
const TICK: Duration = Duration::from_secs(15);
/// First retry after a failed run; doubled per failure up to the feed's period.
const FIRST_BACKOFF_SECS: u64 = 60;
/// At most this many feeds per node.
const MAX_FEEDS: usize = 64;
/// At most this many refusals are kept in a report (the count is exact).
const MAX_REPORTED: usize = 200;
/// A zip of records at a URL may take this long to download.
const ARCHIVE_TIMEOUT: Duration = Duration::from_secs(600);

fn bad(msg: impl Into<String>) -> ActionError {
    ActionError::BadRequest(msg.into())
}

/// What a node remembers of one document of a feed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct DocState {
    /// The time the feed listed it with when it was last taken in.
    updated: String,
    #[serde(default)]
    validators: Validators,
    /// The advisory item it is now (first publication or latest revision).
    item: String,
    /// A zip entry's declared CRC-32 and size when it was taken in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
}

/// A followed source and its state.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Feed {
    id: String,
    group: String,
    source: String,
    kind: String,
    every_secs: u64,
    added_ms: u64,
    #[serde(default)]
    last_run_ms: Option<u64>,
    #[serde(default)]
    last_success_ms: Option<u64>,
    #[serde(default)]
    next_run_ms: u64,
    #[serde(default)]
    failures: u32,
    #[serde(default)]
    last_error: Option<String>,
    /// Fingerprints of the provider keys pinned on the first run.
    #[serde(default)]
    keys: Vec<String>,
    #[serde(default)]
    totals: FeedCounts,
    #[serde(default)]
    last_report: Option<FeedReport>,
    #[serde(default)]
    documents: BTreeMap<String, DocState>,
    /// Validators of the ROLIE feeds and `changes.csv` files, for conditional requests.
    #[serde(default)]
    listings: BTreeMap<String, Validators>,
    /// The label the feed's items carry at least (`None`: CLEAR).
    #[serde(default)]
    tlp: Option<Tlp>,
    /// A bearer token for the source (TAXII).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    /// TAXII: the `added_after` of the next run (the last `X-TAXII-Date-Added-Last` seen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
    /// Runs since the feed was added: succeeded, failed.
    #[serde(default)]
    runs: (u64, u64),
}

#[derive(Default, Serialize, Deserialize)]
struct FeedsFile {
    feeds: Vec<Feed>,
}

pub use state::Feeds;

fn load(home: &Path) -> Result<FeedsFile, ActionError> {
    match std::fs::read(home.join(FEEDS_FILE)) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| ActionError::Internal(format!("{FEEDS_FILE} in the home is damaged: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FeedsFile::default()),
        Err(e) => Err(ActionError::Internal(format!("reading {FEEDS_FILE}: {e}"))),
    }
}

/// Written 0600: it may hold a source's bearer token.
fn save(home: &Path, f: &FeedsFile) -> Result<(), ActionError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = home.join(format!("{FEEDS_FILE}.tmp"));
    let bytes = serde_json::to_vec_pretty(f).map_err(|e| ActionError::Internal(e.to_string()))?;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut file| file.write_all(&bytes))
        .and_then(|_| std::fs::rename(&tmp, home.join(FEEDS_FILE)))
        .map_err(|e| ActionError::Internal(format!("writing {FEEDS_FILE}: {e}")))
}

/// Read-modify-write `feeds.json`, in the engine's file turn.
fn update<T>(engine: &Engine, f: impl FnOnce(&mut FeedsFile) -> Result<T, ActionError>) -> Result<T, ActionError> {
    let _g = engine.feeds().file_turn();
    let mut file = load(engine.home())?;
    let out = f(&mut file)?;
    save(engine.home(), &file)?;
    Ok(out)
}

fn read(engine: &Engine) -> Result<FeedsFile, ActionError> {
    let _g = engine.feeds().file_turn();
    load(engine.home())
}

fn info(engine: &Engine, f: &Feed) -> FeedInfo {
    let group_name = GroupId::parse(&f.group).ok().and_then(|g| engine.groups().name(&g));
    FeedInfo {
        id: f.id.clone(),
        group: f.group.clone(),
        group_name: group_name.unwrap_or_default(),
        source: f.source.clone(),
        // A kind this build does not know runs as csaf (`run_feed`), and is shown so.
        kind: f.kind.parse().unwrap_or_default(),
        every_secs: f.every_secs,
        added_ms: f.added_ms,
        last_run_ms: f.last_run_ms,
        last_success_ms: f.last_success_ms,
        next_run_ms: f.next_run_ms,
        failures: f.failures,
        last_error: f.last_error.clone(),
        keys: f.keys.clone(),
        documents: f.documents.len(),
        totals: f.totals.clone(),
        last_report: f.last_report.clone(),
        tlp: f.tlp,
        cursor: f.cursor.clone(),
    }
}

/// What happened to one document.
enum Taken {
    New(ItemId),
    Revised(ItemId),
    Unchanged(ItemId),
}

impl Engine {
    /// `POST /v1/feeds`: follow a source into a group. Nothing is fetched until it runs.
    pub fn feed_add(&self, req: &FeedAdd) -> Result<FeedInfo, ActionError> {
        let gid = self.resolve_group(&req.group)?;
        let kind = req.kind.unwrap_or_default();
        let source = match kind {
            FeedKind::Csaf => csaf::metadata_url(&req.source).map_err(bad)?,
            FeedKind::Osv => osv::Source::parse(&req.source, true).map_err(bad)?.display(),
            FeedKind::Misp => misp::Source::parse(&req.source, true).map_err(bad)?.display(),
            FeedKind::Taxii => taxii::collection_url(&req.source).map_err(bad)?,
        };
        if let Some(t) = req.tlp
            && t.needs_recipients()
        {
            return Err(bad(format!(
                "a feed publishes CLEAR or GREEN: {} names its recipients, which a person chooses",
                t.label()
            )));
        }
        let token = req.token.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(String::from);
        if let Some(t) = &token
            && (t.len() > 256 || !t.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(bad("the token must be at most 256 printable characters without spaces"));
        }
        if token.is_some() && kind != FeedKind::Taxii {
            return Err(bad("--token is for TAXII collections (--kind taxii)"));
        }
        let every_secs = req.every_secs.unwrap_or(DEFAULT_EVERY_SECS);
        if every_secs < MIN_EVERY_SECS {
            return Err(bad("a feed runs at most once a minute"));
        }
        let id = {
            use sha2::Digest;
            let h = sha2::Sha256::digest(format!("{}\n{source}", gid.to_text()).as_bytes());
            data_encoding::BASE32_NOPAD.encode(&h[..5]).to_ascii_lowercase()
        };
        let feed = Feed {
            id: id.clone(),
            group: gid.to_text(),
            source,
            kind: kind.as_str().to_string(),
            every_secs,
            added_ms: self.clock().now_ms(),
            last_run_ms: None,
            last_success_ms: None,
            next_run_ms: self.clock().now_ms(),
            failures: 0,
            last_error: None,
            keys: Vec::new(),
            totals: FeedCounts::default(),
            last_report: None,
            documents: BTreeMap::new(),
            listings: BTreeMap::new(),
            tlp: req.tlp.filter(|t| *t != Tlp::Clear),
            token,
            cursor: None,
            runs: (0, 0),
        };
        let added = update(self, |file| {
            if file.feeds.iter().any(|f| f.id == id) {
                return Err(ActionError::Conflict(format!(
                    "this node already follows {} into this group (feed {id})",
                    feed.source
                )));
            }
            if file.feeds.len() >= MAX_FEEDS {
                return Err(bad(format!("a node follows at most {MAX_FEEDS} feeds; remove one first")));
            }
            file.feeds.push(feed.clone());
            Ok(feed)
        })?;
        tracing::info!(feed = %added.id, source = %added.source, "feed added");
        Ok(info(self, &added))
    }

    /// `GET /v1/feeds`.
    pub fn feed_list(&self) -> Result<Vec<FeedInfo>, ActionError> {
        Ok(read(self)?.feeds.iter().map(|f| info(self, f)).collect())
    }

    /// `POST /v1/feeds/{id}/remove`: stop following; what it published stays.
    pub fn feed_remove(&self, id: &str) -> Result<FeedInfo, ActionError> {
        let removed = update(self, |file| {
            let i = find(&file.feeds, id)?;
            Ok(file.feeds.remove(i))
        })?;
        tracing::info!(feed = %removed.id, "feed removed");
        Ok(info(self, &removed))
    }

    /// `GET /v1/feeds/{id}/progress`: how far the feed's current run is.
    pub fn feed_progress(&self, id: &str) -> Result<FeedProgress, ActionError> {
        // Polled while a run goes on: a running feed named by its id is answered without
        // reading feeds.json, which grows with the documents a feed follows.
        let want = id.trim().to_ascii_lowercase();
        if let Some((done, total, started)) = self.feeds().progress().current(&want) {
            return Ok(FeedProgress { feed: want, running: true, done, total, started_ms: Some(started) });
        }
        let file = read(self)?;
        let feed = &file.feeds[find(&file.feeds, id)?];
        Ok(match self.feeds().progress().current(&feed.id) {
            Some((done, total, started)) => {
                FeedProgress { feed: feed.id.clone(), running: true, done, total, started_ms: Some(started) }
            }
            None => FeedProgress { feed: feed.id.clone(), ..FeedProgress::default() },
        })
    }

    /// `POST /v1/feeds/{id}/run`: run a feed now and report.
    pub async fn feed_run(self: &Arc<Self>, id: &str) -> Result<FeedReport, ActionError> {
        let feed = {
            let file = read(self)?;
            file.feeds[find(&file.feeds, id)?].clone()
        };
        let Some(slot) = self.feeds().begin_run(&feed.id) else {
            return Err(ActionError::Conflict(format!("feed {} is running now; wait for it to finish", feed.id)));
        };
        // The run goes on by itself: a client that stops waiting (Ctrl-C on `feed run`) neither
        // cuts it short nor leaves the feed marked as running.
        let engine = Arc::clone(self);
        let run = tokio::spawn(async move {
            // Dropped in reverse: the feed is free to run again before its progress says the
            // run is over, and both only after its state is saved.
            let tracker = engine.feeds().progress().start(&feed.id, engine.clock().now_ms());
            let _done = slot;
            engine.run_feed(feed, &tracker).await
        });
        run.await.map_err(|e| ActionError::Internal(format!("the feed run stopped: {e}")))?
    }

    async fn run_feed(
        self: &Arc<Self>,
        mut feed: Feed,
        tracker: &progress::Tracker,
    ) -> Result<FeedReport, ActionError> {
        let started = self.clock().now_ms();
        let mut report = FeedReport { feed: feed.id.clone(), started_ms: started, ..Default::default() };
        let policy = self.evidence_policy().clone();
        let outcome = match feed.kind.as_str() {
            "osv" => self.run_osv(&mut feed, &policy, &mut report, tracker).await,
            "misp" => self.run_misp(&mut feed, &policy, &mut report, tracker).await,
            "taxii" => self.run_taxii(&mut feed, &policy, &mut report, tracker).await,
            _ => self.run_csaf(&mut feed, &policy, &mut report, tracker).await,
        };
        let now = self.clock().now_ms();
        report.finished_ms = now;
        feed.last_run_ms = Some(started);
        match &outcome {
            Ok(()) => {
                feed.runs.0 += 1;
                feed.failures = 0;
                feed.last_error = None;
                feed.last_success_ms = Some(now);
                feed.next_run_ms = now + feed.every_secs * 1000;
            }
            Err(e) => {
                feed.runs.1 += 1;
                feed.failures = feed.failures.saturating_add(1);
                feed.last_error = Some(e.clone());
                report.error = Some(e.clone());
                let backoff = FIRST_BACKOFF_SECS.saturating_mul(1 << (feed.failures - 1).min(20)).min(feed.every_secs);
                feed.next_run_ms = now + backoff * 1000;
                tracing::warn!(feed = %feed.id, failures = feed.failures, retry_in_s = backoff, error = %e, "feed run failed");
            }
        }
        feed.totals.new += report.new.len() as u64;
        feed.totals.revised += report.revised.len() as u64;
        feed.totals.unchanged += report.unchanged;
        feed.totals.refused += report.refused_count;
        feed.last_report = Some(report.clone());
        tracing::info!(
            feed = %feed.id,
            new = report.new.len(),
            revised = report.revised.len(),
            unchanged = report.unchanged,
            refused = report.refused_count,
            "feed run"
        );
        // The feed may have been removed while it ran: then its state is dropped.
        update(self, |file| {
            if let Some(f) = file.feeds.iter_mut().find(|f| f.id == feed.id) {
                *f = feed;
            }
            Ok(())
        })?;
        Ok(report)
    }

    /// One run of a CSAF provider feed. `Err` is a failure of the run as a whole.
    async fn run_csaf(
        self: &Arc<Self>,
        feed: &mut Feed,
        policy: &FetchPolicy,
        report: &mut FeedReport,
        tracker: &progress::Tracker,
    ) -> Result<(), String> {
        let gid = self.feed_group(feed)?;
        let meta = fetch(&feed.source, policy, csaf::MAX_METADATA_BYTES).await?;
        let provider = csaf::parse_metadata(&meta)?;
        // The provider's keys: each fetched, parsed, its fingerprint the one listed.
        if provider.keys.is_empty() {
            return Err("provider-metadata.json lists no public_openpgp_keys: the signatures cannot be checked".into());
        }
        let mut keys = Vec::new();
        let mut key_errors = Vec::new();
        for (fpr, url) in &provider.keys {
            if !feed.keys.is_empty() && !feed.keys.contains(fpr) {
                continue;
            }
            match fetch(url, policy, csaf::MAX_KEY_BYTES).await.and_then(|b| csaf::parse_key(&b, fpr)) {
                Ok(k) => keys.push(k),
                Err(e) => key_errors.push(format!("{url}: {e}")),
            }
        }
        if keys.is_empty() {
            return Err(if feed.keys.is_empty() {
                format!("no usable provider key: {}", key_errors.join("; "))
            } else {
                format!(
                    "the provider's keys changed: none of the pinned {} is listed and usable ({}); remove and add the feed again to accept new keys",
                    feed.keys.join(", "),
                    key_errors.join("; ")
                )
            });
        }
        if feed.keys.is_empty() {
            feed.keys = keys.iter().map(|k| k.fingerprint.clone()).collect();
        }
        // The listings: ROLIE feeds, else directories.
        let mut entries = Vec::new();
        for (url, tlp) in &provider.rolie {
            let since = feed.listings.get(url).cloned().unwrap_or_default();
            match http::get(url, policy, csaf::MAX_FEED_BYTES, &since).await {
                Ok(Got::NotModified) => report.listings_unchanged += 1,
                Ok(Got::Body(b, v)) => {
                    entries.extend(csaf::parse_rolie(&b, tlp.as_deref())?);
                    feed.listings.insert(url.clone(), v);
                }
                Err(e) => return Err(format!("{url}: {}", http::describe(&e))),
            }
        }
        if provider.rolie.is_empty() {
            for base in &provider.directories {
                let url = format!("{base}/changes.csv");
                let since = feed.listings.get(&url).cloned().unwrap_or_default();
                match http::get(&url, policy, csaf::MAX_FEED_BYTES, &since).await {
                    Ok(Got::NotModified) => report.listings_unchanged += 1,
                    Ok(Got::Body(b, v)) => {
                        entries.extend(csaf::parse_changes(base, &String::from_utf8_lossy(&b)));
                        feed.listings.insert(url, v);
                    }
                    Err(e) => return Err(format!("{url}: {}", http::describe(&e))),
                }
            }
        }
        let mut seen = HashSet::new();
        entries.retain(|e| seen.insert(e.url.clone()));
        entries.truncate(csaf::MAX_DOCUMENTS_PER_RUN);
        tracker.add_total(entries.len() as u64);
        for entry in entries {
            tracker.step();
            let prev = feed.documents.get(&entry.url).cloned();
            if let Some(p) = &prev
                && !p.updated.is_empty()
                && p.updated == entry.updated
            {
                report.unchanged += 1;
                continue;
            }
            match self.take_document(gid, &entry, prev.as_ref(), &keys, (policy, feed.tlp)).await {
                Ok((taken, validators)) => {
                    let id = self.note_taken(report, &entry.url, taken);
                    feed.documents.insert(
                        entry.url.clone(),
                        DocState { updated: entry.updated.clone(), validators, item: id.to_text(), digest: None },
                    );
                }
                Err(reason) => refuse(feed, report, &entry.url, reason),
            }
        }
        Ok(())
    }

    /// The feed's group, if this node is still in it.
    fn feed_group(&self, feed: &Feed) -> Result<GroupId, String> {
        let gid = GroupId::parse(&feed.group).map_err(|e| e.to_string())?;
        if !self.groups().contains(&gid) {
            return Err(format!("this node is no longer in group {}", feed.group));
        }
        Ok(gid)
    }

    /// One run of an OSV source. `Err` is a failure of the run as a whole.
    async fn run_osv(
        self: &Arc<Self>,
        feed: &mut Feed,
        policy: &FetchPolicy,
        report: &mut FeedReport,
        tracker: &progress::Tracker,
    ) -> Result<(), String> {
        let gid = self.feed_group(feed)?;
        let source = osv::Source::parse(&feed.source, false)?;
        // A zip at a URL: fetched whole (bounded), only when it changed.
        let mut fetched = None;
        if let osv::Source::ZipUrl(url) = &source {
            let since = feed.listings.get(url).cloned().unwrap_or_default();
            let opts = http::Options { timeout: ARCHIVE_TIMEOUT, ..Default::default() };
            match http::get_with(url, policy, archive::LIMITS.archive_bytes as usize, &since, &opts).await {
                Ok((Got::NotModified, _)) => {
                    report.listings_unchanged += 1;
                    return Ok(());
                }
                Ok((Got::Body(b, v), _)) => fetched = Some((b, v)),
                Err(e) => return Err(format!("{url}: {}", http::describe(&e))),
            }
        }
        let (bytes, validators) = fetched.map_or((None, None), |(b, v)| (Some(b), Some(v)));
        let digests: HashMap<String, String> =
            feed.documents.iter().filter_map(|(k, d)| Some((k.clone(), d.digest.clone()?))).collect();
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        let reader = tokio::task::spawn_blocking({
            let source = source.clone();
            move || osv::produce(source, bytes, digests, tx)
        });
        while let Some(msg) = rx.recv().await {
            let (key, digest, read) = match msg {
                osv::Msg::Total(n) => {
                    tracker.add_total(n);
                    continue;
                }
                osv::Msg::Unchanged(_) => {
                    tracker.step();
                    report.unchanged += 1;
                    continue;
                }
                osv::Msg::Record { key, digest, read } => (key, digest, read),
            };
            tracker.step();
            let result = match read {
                Err(e) => Err(e),
                Ok((_, modified)) if feed.documents.get(&key).is_some_and(|d| d.updated == modified) => {
                    report.unchanged += 1;
                    if let Some(d) = feed.documents.get_mut(&key) {
                        d.digest = digest;
                    }
                    continue;
                }
                Ok((bytes, modified)) => match crate::engine::formats::import_document(Some("osv"), &bytes) {
                    Err(e) => Err(e),
                    Ok(imported) => match self.feed_label(feed, imported.tlp, "record") {
                        Err(e) => Err(e),
                        Ok(tlp) => self
                            .publish_imported(gid, imported, tlp)
                            .await
                            .map(|t| (t, modified))
                            .map_err(|e| e.to_string()),
                    },
                },
            };
            match result {
                Ok((taken, modified)) => {
                    let id = self.note_taken(report, &key, taken);
                    feed.documents.insert(
                        key,
                        DocState { updated: modified, validators: Validators::default(), item: id.to_text(), digest },
                    );
                }
                Err(reason) => refuse(feed, report, &key, reason),
            }
        }
        reader.await.map_err(|e| e.to_string())??;
        if let (osv::Source::ZipUrl(url), Some(v)) = (&source, validators) {
            feed.listings.insert(url.clone(), v);
        }
        Ok(())
    }

    /// The label a document is published under: the stricter of the feed's and the
    /// document's own, refused if that names recipients.
    fn feed_label(&self, feed: &Feed, document: Option<Tlp>, what: &str) -> Result<Tlp, String> {
        let tlp = feed.tlp.unwrap_or(Tlp::Clear).max(document.unwrap_or(Tlp::Clear));
        if tlp.needs_recipients() {
            return Err(format!(
                "the {what} is {}: a feed publishes CLEAR and GREEN only (named recipients are chosen by a person)",
                tlp.label()
            ));
        }
        Ok(tlp)
    }

    /// Publish one MISP event or STIX object (`key`, its change marker) into `own`'s group.
    async fn take_native(
        self: &Arc<Self>,
        feed: &mut Feed,
        report: &mut FeedReport,
        own: &mut publish::OwnIndex,
        (key, marker): (&str, &str),
        doc: Result<publish::Native, String>,
        what: &str,
    ) {
        let result = match doc {
            Err(e) => Err(e),
            Ok(doc) => match self.feed_label(feed, doc.tlp, what) {
                Err(e) => Err(e),
                Ok(tlp) => self.publish_native(own, doc, tlp).await.map_err(|e| e.to_string()),
            },
        };
        match result {
            Ok(taken) => {
                let id = self.note_taken(report, key, taken);
                let state = DocState {
                    updated: marker.to_string(),
                    validators: Validators::default(),
                    item: id.to_text(),
                    digest: None,
                };
                feed.documents.insert(key.to_string(), state);
            }
            Err(reason) => refuse(feed, report, key, reason),
        }
    }

    /// One run of a MISP feed. `Err` is a failure of the run as a whole.
    async fn run_misp(
        self: &Arc<Self>,
        feed: &mut Feed,
        policy: &FetchPolicy,
        report: &mut FeedReport,
        tracker: &progress::Tracker,
    ) -> Result<(), String> {
        let gid = self.feed_group(feed)?;
        let source = misp::Source::parse(&feed.source, false)?;
        let mut manifest_validators = None;
        let manifest = match &source {
            misp::Source::Dir(dir) => read_file(&dir.join("manifest.json"), misp::MAX_MANIFEST_BYTES).await?,
            misp::Source::Url(base) => {
                let url = format!("{base}/manifest.json");
                let since = feed.listings.get(&url).cloned().unwrap_or_default();
                match http::get(&url, policy, misp::MAX_MANIFEST_BYTES, &since).await {
                    Ok(Got::NotModified) => {
                        report.listings_unchanged += 1;
                        return Ok(());
                    }
                    Ok(Got::Body(b, v)) => {
                        manifest_validators = Some((url, v));
                        b
                    }
                    Err(e) => return Err(format!("{url}: {}", http::describe(&e))),
                }
            }
        };
        let (listed, refused) = misp::parse_manifest(&manifest)?;
        tracker.add_total((listed.len() + refused.len()) as u64);
        for (key, reason) in refused {
            tracker.step();
            refuse(feed, report, &format!("manifest.json {key}"), reason);
        }
        let mut own = self.own_index(&gid).map_err(|e| e.to_string())?;
        let mut read = 0;
        for ev in listed {
            tracker.step();
            let key = source.event_location(&ev.uuid);
            if feed.documents.get(&key).is_some_and(|d| d.updated == ev.timestamp) {
                report.unchanged += 1;
                continue;
            }
            if read == misp::MAX_EVENTS_PER_RUN {
                tracing::info!(feed = %feed.id, events = read, "MISP event bound reached; the rest waits for the next run");
                break;
            }
            read += 1;
            let bytes = match &source {
                misp::Source::Dir(_) => read_file(Path::new(&key), misp::MAX_EVENT_BYTES).await,
                misp::Source::Url(_) => fetch(&key, policy, misp::MAX_EVENT_BYTES).await,
            };
            let url = matches!(source, misp::Source::Url(_)).then_some(key.as_str());
            let doc = bytes.and_then(|b| misp::parse_event(&b, &ev.uuid, url));
            // The manifest's timestamp is the marker the next run compares; whether the event
            // is a revision is decided by the event's own timestamp.
            self.take_native(feed, report, &mut own, (&key, &ev.timestamp), doc, "event").await;
        }
        // The manifest is asked "only if changed" next time only when every event it lists was
        // taken in: a refused event is tried again.
        if report.refused_count == 0
            && read < misp::MAX_EVENTS_PER_RUN
            && let Some((url, v)) = manifest_validators
        {
            feed.listings.insert(url, v);
        }
        Ok(())
    }

    /// One run of a TAXII 2.1 collection. `Err` is a failure of the run as a whole; the cursor
    /// moves only past pages whose objects were all looked at.
    async fn run_taxii(
        self: &Arc<Self>,
        feed: &mut Feed,
        policy: &FetchPolicy,
        report: &mut FeedReport,
        tracker: &progress::Tracker,
    ) -> Result<(), String> {
        let gid = self.feed_group(feed)?;
        let collection = taxii::collection_url(&feed.source)?;
        let mut own = self.own_index(&gid).map_err(|e| e.to_string())?;
        let token = feed.token.clone();
        let opts = http::Options {
            accept: taxii::MEDIA_TYPE,
            bearer: token.as_deref(),
            headers: &[taxii::ADDED_LAST],
            ..Default::default()
        };
        // Every page of this run is asked with the same added_after; `next` walks them.
        let after = feed.cursor.clone();
        let mut next: Option<String> = None;
        for page_no in 0..taxii::MAX_PAGES {
            let url = taxii::objects_url(&collection, after.as_deref(), next.as_deref());
            let (body, headers) =
                match http::get_with(&url, policy, taxii::MAX_PAGE_BYTES, &Validators::default(), &opts).await {
                    Ok((Got::Body(b, _), h)) => (b, h),
                    Ok((Got::NotModified, _)) => return Err(format!("{url}: 304 to an unconditional request")),
                    Err(e) => return Err(format!("{url}: {}", http::describe(&e))),
                };
            let page = taxii::parse_envelope(&body)?;
            let mapped: Vec<_> = page.objects.iter().filter_map(|o| taxii::mapped(o).map(|m| (m, o))).collect();
            tracker.add_total(mapped.len() as u64);
            for ((id, modified), obj) in mapped {
                tracker.step();
                let key = if id.is_empty() { format!("{collection} object") } else { id.clone() };
                if !id.is_empty() && feed.documents.get(&id).is_some_and(|d| d.updated == modified) {
                    report.unchanged += 1;
                    continue;
                }
                self.take_native(feed, report, &mut own, (&key, &modified), taxii::to_native(obj), "object").await;
            }
            // Past this page: the next run asks only for what was added after it (the pages of a
            // run come in the order the objects were added).
            if let Some((_, last)) = headers.iter().find(|(h, _)| h == taxii::ADDED_LAST)
                && trellis_proto::formats::time::parse_rfc3339_ms(last).is_some()
            {
                feed.cursor = Some(last.chars().take(64).collect());
            }
            match page.next {
                Some(n) => next = Some(n),
                None => return Ok(()),
            }
            if page_no + 1 == taxii::MAX_PAGES {
                tracing::info!(feed = %feed.id, pages = taxii::MAX_PAGES, "TAXII page bound reached; the rest waits for the next run");
            }
        }
        Ok(())
    }

    /// Count a document taken in; returns the item it is now.
    fn note_taken(&self, report: &mut FeedReport, url: &str, taken: Taken) -> ItemId {
        match taken {
            Taken::New(id) => {
                report.new.push(FeedDocument { url: url.to_string(), item: id.to_text() });
                id
            }
            Taken::Revised(id) => {
                report.revised.push(FeedDocument { url: url.to_string(), item: id.to_text() });
                id
            }
            Taken::Unchanged(id) => {
                report.unchanged += 1;
                id
            }
        }
    }

    /// Fetch, check and publish one document. `Err` is why it was refused.
    async fn take_document(
        self: &Arc<Self>,
        gid: GroupId,
        entry: &csaf::Entry,
        prev: Option<&DocState>,
        keys: &[csaf::ProviderKey],
        (policy, floor): (&FetchPolicy, Option<Tlp>),
    ) -> Result<(Taken, Validators), String> {
        let since = prev.map(|p| p.validators.clone()).unwrap_or_default();
        let (doc, validators) = match http::get(&entry.url, policy, MAX_SOURCE_DOC_BYTES, &since).await {
            Ok(Got::Body(b, v)) => (b, v),
            Ok(Got::NotModified) => {
                let item = prev.and_then(|p| ItemId::parse(&p.item).ok()).ok_or("304 for a document never taken in")?;
                return Ok((Taken::Unchanged(item), since));
            }
            Err(e) => return Err(format!("fetching the document: {}", http::describe(&e))),
        };
        let hash = fetch(&entry.hash_url, policy, csaf::MAX_HASH_BYTES).await?;
        csaf::check_sha512(&doc, &hash)?;
        let asc = fetch(&entry.signature_url, policy, csaf::MAX_SIGNATURE_BYTES).await?;
        csaf::verify_signature(&doc, &asc, keys)?;
        let mut imported = crate::engine::formats::import_document(Some("csaf"), &doc)?;
        let tlp = csaf::label(entry.tlp.as_deref(), imported.tlp)?.max(floor.unwrap_or(Tlp::Clear));
        if tlp.needs_recipients() {
            return Err(format!(
                "the document is {}: a feed publishes CLEAR and GREEN only (named recipients are chosen by a person)",
                tlp.label()
            ));
        }
        // The source, named in the item.
        if entry.url.len() <= MAX_SHORT
            && !imported.advisory.references.contains(&entry.url)
            && imported.advisory.references.len() < MAX_LIST
        {
            imported.advisory.references.push(entry.url.clone());
        }
        imported.advisory.check_limits().map_err(|e| format!("the imported advisory is out of bounds: {e}"))?;
        let taken = self.publish_imported(gid, imported, tlp).await.map_err(|e| e.to_string())?;
        Ok((taken, validators))
    }

    /// Publish an imported document: a revision of the advisory this org published from an
    /// earlier version of it, nothing if it is the same, else a first publication.
    async fn publish_imported(
        self: &Arc<Self>,
        gid: GroupId,
        imported: trellis_proto::formats::Imported,
        tlp: Tlp,
    ) -> Result<Taken, ActionError> {
        match self.import_as_revision(gid, &imported, tlp).await? {
            Some((id, SourceOrder::Same)) => return Ok(Taken::Unchanged(id)),
            Some((id, _)) => return Ok(Taken::Revised(id)),
            None => {}
        }
        let audience = if tlp == Tlp::Clear { Audience::Clear } else { Audience::Group };
        let (id, _) = self.publish_payload(gid, tlp, Payload::Advisory(imported.advisory), audience).await?;
        Ok(Taken::New(id))
    }
}

/// Count a refused document and keep its reason (the first [`MAX_REPORTED`]).
fn refuse(feed: &Feed, report: &mut FeedReport, key: &str, reason: String) {
    tracing::warn!(feed = %feed.id, document = %key, %reason, "document refused");
    report.refused_count += 1;
    if report.refused.len() < MAX_REPORTED {
        report.refused.push(FeedRefusal { url: key.to_string(), reason });
    }
}

/// Read a local file of a feed, at most `limit` bytes.
async fn read_file(path: &Path, limit: usize) -> Result<Vec<u8>, String> {
    let p = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let f = std::fs::File::open(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let mut b = Vec::new();
        f.take(limit as u64 + 1).read_to_end(&mut b).map_err(|e| format!("{}: {e}", p.display()))?;
        if b.len() > limit {
            return Err(format!("{}: larger than the limit of {limit} bytes", p.display()));
        }
        Ok(b)
    })
    .await
    .map_err(|e| e.to_string())?
}

/// GET a whole file (no conditional request); errors in words.
async fn fetch(url: &str, policy: &FetchPolicy, limit: usize) -> Result<Vec<u8>, String> {
    match http::get(url, policy, limit, &Validators::default()).await {
        Ok(Got::Body(b, _)) => Ok(b),
        Ok(Got::NotModified) => Err(format!("{url}: 304 to an unconditional request")),
        Err(e) => Err(format!("{url}: {}", http::describe(&e))),
    }
}

fn find(feeds: &[Feed], id: &str) -> Result<usize, ActionError> {
    let want = id.trim().to_ascii_lowercase();
    let hits: Vec<usize> =
        feeds.iter().enumerate().filter(|(_, f)| f.id == want || f.source == id.trim()).map(|(i, _)| i).collect();
    match hits.as_slice() {
        [i] => Ok(*i),
        [] => Err(ActionError::NotFound(format!("no feed {id:?}; see `trellis feed list`"))),
        _ => Err(bad(format!("{id:?} names several feeds (one per group): give the feed id"))),
    }
}

/// Run due feeds until `shutdown`.
pub async fn schedule(engine: Arc<Engine>, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(TICK) => {}
        }
        let now = engine.clock().now_ms();
        let due: Vec<String> = match read(&engine) {
            Ok(f) => f.feeds.iter().filter(|f| f.next_run_ms <= now).map(|f| f.id.clone()).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "feeds not read");
                continue;
            }
        };
        for id in due {
            tokio::select! {
                _ = &mut shutdown => return,
                r = engine.feed_run(&id) => if let Err(e) = r { tracing::debug!(feed = %id, error = %e, "scheduled feed run not done") },
            }
        }
    }
}

/// What `/metrics` shows of one feed.
pub struct FeedStat {
    pub id: String,
    /// Documents looked at since the feed was added: new, revised, unchanged, refused.
    pub documents: [(&'static str, u64); 4],
    /// Consecutive failed runs (0: the last run succeeded).
    pub failures: u64,
    /// Runs since the feed was added, by outcome.
    pub runs: [(&'static str, u64); 2],
    pub last_success_ms: Option<u64>,
}

/// The feeds' figures for `/metrics`.
pub fn stats(engine: &Engine) -> Vec<FeedStat> {
    let feeds = read(engine).map(|f| f.feeds).unwrap_or_default();
    feeds
        .iter()
        .map(|f| FeedStat {
            id: f.id.clone(),
            documents: [
                ("new", f.totals.new),
                ("revised", f.totals.revised),
                ("unchanged", f.totals.unchanged),
                ("refused", f.totals.refused),
            ],
            failures: f.failures as u64,
            runs: [("ok", f.runs.0), ("failed", f.runs.1)],
            last_success_ms: f.last_success_ms,
        })
        .collect()
}
