//! Feeds: the node follows a public source and publishes what it finds into a group, as this
//! org, at CLEAR or the label the source gives (never looser), with the source named in every
//! item (`trellis feed add|list|remove|run`, PROTOCOL.md §4.9 for how a changed document becomes
//! a revision).
//!
//! Two kinds of source. An **OSV directory** ([`osv`]): records followed by `modified`. A
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

pub mod csaf;
pub mod http;
pub mod osv;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use trellis_proto::lifecycle::SourceOrder;
use trellis_proto::limits::{MAX_LIST, MAX_SHORT, MAX_SOURCE_DOC_BYTES};
use trellis_proto::{GroupId, ItemId, Payload, Tlp};

use crate::api::types::{FeedAdd, FeedCounts, FeedDocument, FeedInfo, FeedKind, FeedRefusal, FeedReport};
use crate::engine::actions::Audience;
use crate::engine::{ActionError, Engine};
use crate::home::now_ms;
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
}

#[derive(Default, Serialize, Deserialize)]
struct FeedsFile {
    feeds: Vec<Feed>,
}

/// Serializes reads and writes of `feeds.json`.
static FILE: Mutex<()> = Mutex::new(());
/// Feeds being run now (home, feed id): one run per feed at a time.
static RUNNING: Mutex<Option<HashSet<(PathBuf, String)>>> = Mutex::new(None);

fn load(home: &Path) -> Result<FeedsFile, ActionError> {
    match std::fs::read(home.join(FEEDS_FILE)) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| ActionError::Internal(format!("{FEEDS_FILE} in the home is damaged: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FeedsFile::default()),
        Err(e) => Err(ActionError::Internal(format!("reading {FEEDS_FILE}: {e}"))),
    }
}

fn save(home: &Path, f: &FeedsFile) -> Result<(), ActionError> {
    let tmp = home.join(format!("{FEEDS_FILE}.tmp"));
    let bytes = serde_json::to_vec_pretty(f).map_err(|e| ActionError::Internal(e.to_string()))?;
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, home.join(FEEDS_FILE)))
        .map_err(|e| ActionError::Internal(format!("writing {FEEDS_FILE}: {e}")))
}

/// Read-modify-write `feeds.json`.
fn update<T>(home: &Path, f: impl FnOnce(&mut FeedsFile) -> Result<T, ActionError>) -> Result<T, ActionError> {
    let _g = FILE.lock().map_err(|_| ActionError::Internal("feeds lock".into()))?;
    let mut file = load(home)?;
    let out = f(&mut file)?;
    save(home, &file)?;
    Ok(out)
}

fn read(home: &Path) -> Result<FeedsFile, ActionError> {
    let _g = FILE.lock().map_err(|_| ActionError::Internal("feeds lock".into()))?;
    load(home)
}

fn info(engine: &Engine, f: &Feed) -> FeedInfo {
    let group_name = GroupId::parse(&f.group)
        .ok()
        .and_then(|g| engine.groups.read().ok().and_then(|gs| gs.get(&g).map(|g| g.name().to_string())));
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
            FeedKind::Osv => osv::check_source(&req.source).map_err(bad)?.display().to_string(),
        };
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
            added_ms: now_ms(),
            last_run_ms: None,
            last_success_ms: None,
            next_run_ms: now_ms(),
            failures: 0,
            last_error: None,
            keys: Vec::new(),
            totals: FeedCounts::default(),
            last_report: None,
            documents: BTreeMap::new(),
            listings: BTreeMap::new(),
        };
        let added = update(&self.home, |file| {
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
        Ok(read(&self.home)?.feeds.iter().map(|f| info(self, f)).collect())
    }

    /// `POST /v1/feeds/{id}/remove`: stop following; what it published stays.
    pub fn feed_remove(&self, id: &str) -> Result<FeedInfo, ActionError> {
        let removed = update(&self.home, |file| {
            let i = find(&file.feeds, id)?;
            Ok(file.feeds.remove(i))
        })?;
        tracing::info!(feed = %removed.id, "feed removed");
        Ok(info(self, &removed))
    }

    /// `POST /v1/feeds/{id}/run`: run a feed now and report.
    pub async fn feed_run(self: &Arc<Self>, id: &str) -> Result<FeedReport, ActionError> {
        let feed = {
            let file = read(&self.home)?;
            file.feeds[find(&file.feeds, id)?].clone()
        };
        let key = (self.home.clone(), feed.id.clone());
        {
            let mut running = RUNNING.lock().map_err(|_| ActionError::Internal("feeds lock".into()))?;
            if !running.get_or_insert_with(HashSet::new).insert(key.clone()) {
                return Err(ActionError::Conflict(format!("feed {} is running now; wait for it to finish", feed.id)));
            }
        }
        let report = self.run_feed(feed).await;
        if let Ok(mut running) = RUNNING.lock()
            && let Some(r) = running.as_mut()
        {
            r.remove(&key);
        }
        report
    }

    async fn run_feed(self: &Arc<Self>, mut feed: Feed) -> Result<FeedReport, ActionError> {
        let started = now_ms();
        let mut report = FeedReport { feed: feed.id.clone(), started_ms: started, ..Default::default() };
        let policy = self.evidence_policy.read().map(|p| p.clone()).unwrap_or_default();
        let outcome = match feed.kind.as_str() {
            "osv" => self.run_osv(&mut feed, &mut report).await,
            _ => self.run_csaf(&mut feed, &policy, &mut report).await,
        };
        let now = now_ms();
        report.finished_ms = now;
        feed.last_run_ms = Some(started);
        match &outcome {
            Ok(()) => {
                feed.failures = 0;
                feed.last_error = None;
                feed.last_success_ms = Some(now);
                feed.next_run_ms = now + feed.every_secs * 1000;
            }
            Err(e) => {
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
        update(&self.home, |file| {
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
    ) -> Result<(), String> {
        let gid = GroupId::parse(&feed.group).map_err(|e| e.to_string())?;
        if self.groups.read().map(|g| !g.contains_key(&gid)).unwrap_or(true) {
            return Err(format!("this node is no longer in group {}", feed.group));
        }
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
        for entry in entries {
            let prev = feed.documents.get(&entry.url).cloned();
            if let Some(p) = &prev
                && !p.updated.is_empty()
                && p.updated == entry.updated
            {
                report.unchanged += 1;
                continue;
            }
            match self.take_document(gid, &entry, prev.as_ref(), &keys, policy).await {
                Ok((taken, validators)) => {
                    let id = self.note_taken(report, &entry.url, taken);
                    feed.documents.insert(
                        entry.url.clone(),
                        DocState { updated: entry.updated.clone(), validators, item: id.to_text() },
                    );
                }
                Err(reason) => {
                    tracing::warn!(feed = %feed.id, url = %entry.url, %reason, "document refused");
                    report.refused_count += 1;
                    if report.refused.len() < MAX_REPORTED {
                        report.refused.push(FeedRefusal { url: entry.url.clone(), reason });
                    }
                }
            }
        }
        Ok(())
    }

    /// One run of an OSV directory. `Err` is a failure of the run as a whole.
    async fn run_osv(self: &Arc<Self>, feed: &mut Feed, report: &mut FeedReport) -> Result<(), String> {
        let gid = GroupId::parse(&feed.group).map_err(|e| e.to_string())?;
        if self.groups.read().map(|g| !g.contains_key(&gid)).unwrap_or(true) {
            return Err(format!("this node is no longer in group {}", feed.group));
        }
        let dir = PathBuf::from(&feed.source);
        let files = tokio::task::spawn_blocking(move || osv::list(&dir)).await.map_err(|e| e.to_string())??;
        for path in files {
            let key = path.display().to_string();
            let p2 = path.clone();
            let read = tokio::task::spawn_blocking(move || osv::read(&p2)).await.map_err(|e| e.to_string())?;
            let result = match read {
                Err(e) => Err(e),
                Ok((_, modified)) if feed.documents.get(&key).is_some_and(|d| d.updated == modified) => {
                    report.unchanged += 1;
                    continue;
                }
                Ok((bytes, modified)) => match crate::engine::formats::import_document(Some("osv"), &bytes) {
                    Err(e) => Err(e),
                    Ok(imported) => {
                        let tlp = imported.tlp.unwrap_or(Tlp::Clear);
                        if tlp.needs_recipients() {
                            Err(format!("the record is {}: a feed publishes CLEAR and GREEN only", tlp.label()))
                        } else {
                            self.publish_imported(gid, imported, tlp)
                                .await
                                .map(|t| (t, modified))
                                .map_err(|e| e.to_string())
                        }
                    }
                },
            };
            match result {
                Ok((taken, modified)) => {
                    let id = self.note_taken(report, &key, taken);
                    feed.documents.insert(
                        key,
                        DocState { updated: modified, validators: Validators::default(), item: id.to_text() },
                    );
                }
                Err(reason) => {
                    report.refused_count += 1;
                    if report.refused.len() < MAX_REPORTED {
                        report.refused.push(FeedRefusal { url: key, reason });
                    }
                }
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
        policy: &FetchPolicy,
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
        let tlp = csaf::label(entry.tlp.as_deref(), imported.tlp)?;
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
        let now = now_ms();
        let due: Vec<String> = match read(&engine.home) {
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
    pub last_success_ms: Option<u64>,
}

/// The feeds' figures for `/metrics`.
pub fn stats(engine: &Engine) -> Vec<FeedStat> {
    let feeds = read(&engine.home).map(|f| f.feeds).unwrap_or_default();
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
            last_success_ms: f.last_success_ms,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        assert_eq!(parse_every("1h"), Ok(3600));
        assert_eq!(parse_every("90s"), Ok(90));
        assert_eq!(parse_every("2d"), Ok(172_800));
        assert!(parse_every("10s").is_err());
        assert!(parse_every("1 week").is_err());
    }
}
