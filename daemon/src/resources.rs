//! Shared resources on this node (README "For small suppliers: resources and help"; the item
//! format is `trellis_proto::resource`): publishing, listing, showing, endorsing, and moving
//! the files that travel beside their items.
//!
//! A chunked file lives in `<home>/resources/<file id>/`: `meta` (the group, the item and the
//! chunk hashes) and one file per chunk, `<index>.chunk`, holding the encrypted chunk exactly
//! as its hash in the item names it. A chunk is written (to a temporary name, synced, renamed)
//! only after it was checked against its hash, so the chunk files present are the verified
//! chunk map: a fetch interrupted by a restart resumes with the chunks still missing. The
//! plaintext is only ever produced for `resource get`, chunk by chunk, and checked against the
//! file's SHA-256.
//!
//! Fetching: when a resource item with a chunked file is stored, and every
//! [`UPKEEP_INTERVAL`] for files still incomplete, the node asks the peers on the group's topic
//! for each missing chunk in turn (`RequestBody::Chunk`, §9), one request at a time per file.
//! A peer answers only members of the resource's group, and only with chunks it holds.
//! A node fetches on its own until it holds [`AUTO_FETCH_BYTES`] of chunks in all; beyond, a
//! file is fetched when someone asks for it with `resource get`.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use trellis_proto::items::{Endorsement, EndorsementKind, Resource};
use trellis_proto::resource::{
    Audience as RAudience, CHUNK_OVERHEAD, CHUNK_SIZE, FileData, FileRef, MAX_CHUNKS, MAX_FILE, MAX_INLINE_FILE,
    ResourceDoc, Topic, chunk_file, open_chunk, sha256,
};
use trellis_proto::wire::{Request, RequestBody, Response};
use trellis_proto::{Envelope, GroupId, ItemId, Kind, OrgId, Payload, Tlp};

use crate::engine::actions::Audience;
use crate::engine::{ActionError, Engine};
pub use trellis_api::types::{FileView, PublishResource, ResourceView};

/// How often incomplete files are fetched again (and new resource items looked for).
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);
/// Chunks a node fetches without being asked for: once it holds this much (4 GiB) in all, it
/// fetches a file only for `resource get`.
pub const AUTO_FETCH_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// Longest wait of `resource get` for the chunks it lacks.
const GET_WAIT: Duration = Duration::from_secs(120);
const DIR: &str = "resources";

fn bad(m: impl Into<String>) -> ActionError {
    ActionError::BadRequest(m.into())
}

/// What this node keeps about a chunked file (`meta`).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct FileMeta {
    group: GroupId,
    item: ItemId,
    size: u64,
    chunks: Vec<[u8; 32]>,
}

/// Files being fetched (one fetch per file at a time), one set per engine. A private lock:
/// every change is one insert or remove, so a poisoned lock is recovered.
#[derive(Debug, Default)]
pub struct Fetching(Mutex<HashSet<[u8; 32]>>);

impl Fetching {
    /// Mark `fid` as being fetched; false when a fetch of it is already running.
    fn start(&self, fid: [u8; 32]) -> bool {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).insert(fid)
    }

    /// A fetch of `fid` ended.
    fn done(&self, fid: &[u8; 32]) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).remove(fid);
    }
}

fn file_dir(home: &Path, file: &[u8; 32]) -> PathBuf {
    home.join(DIR).join(trellis_proto::codec::base32(file))
}

fn chunk_path(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("{index}.chunk"))
}

fn read_meta(dir: &Path) -> Option<FileMeta> {
    let bytes = std::fs::read(dir.join("meta")).ok()?;
    let m: FileMeta = trellis_proto::codec::decode(&bytes, 64 * 1024).ok()?;
    (m.chunks.len() <= MAX_CHUNKS && m.size <= MAX_FILE).then_some(m)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn ensure_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Indexes of the chunks of `meta` not yet held in `dir`.
fn missing(dir: &Path, meta: &FileMeta) -> Vec<usize> {
    (0..meta.chunks.len()).filter(|i| !chunk_path(dir, *i).exists()).collect()
}

/// Bytes of chunks held under `home` (every file, complete or not).
fn held_bytes(home: &Path) -> u64 {
    let Ok(dirs) = std::fs::read_dir(home.join(DIR)) else { return 0 };
    let mut total = 0;
    for d in dirs.flatten() {
        let Ok(files) = std::fs::read_dir(d.path()) else { continue };
        for f in files.flatten() {
            if f.file_name().to_string_lossy().ends_with(".chunk") {
                total += f.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    total
}

impl Engine {
    /// Publish a resource; `file` is the file's bytes when one is given.
    pub async fn publish_resource(
        self: &Arc<Self>,
        req: &PublishResource,
        file: Option<Vec<u8>>,
    ) -> Result<ItemId, ActionError> {
        let gid = self.resolve_group(&req.group)?;
        let tlp: Tlp = req.tlp;
        let topic: Topic = req.topic.parse().map_err(|e: trellis_proto::ProtoError| bad(e.to_string()))?;
        let audience: RAudience = match &req.audience {
            Some(a) => a.parse().map_err(|e: trellis_proto::ProtoError| bad(e.to_string()))?,
            None => RAudience::Everyone,
        };
        let audience_of_item = match tlp {
            Tlp::Clear => Audience::Clear,
            Tlp::Green => {
                if !req.to.is_empty() {
                    return Err(bad("--to names recipients, which only AMBER and AMBER+STRICT use"));
                }
                Audience::Group
            }
            Tlp::Amber | Tlp::AmberStrict => Audience::Orgs(self.named_recipients(&gid, tlp, &req.to)?),
            Tlp::Red => {
                return Err(bad(
                    "a resource cannot be RED: RED is delivered once to nodes online and never served again, while a \
                     resource's file is fetched from any member that holds it; use AMBER+STRICT with --to",
                ));
            }
        };
        let mut chunks = None;
        let file_ref = match (file, &req.file_name) {
            (Some(bytes), Some(name)) => {
                if bytes.len() as u64 > MAX_FILE {
                    return Err(bad(format!(
                        "the file is larger than the {MAX_FILE} bytes (64 MiB) a resource may carry"
                    )));
                }
                if bytes.is_empty() {
                    return Err(bad("the file is empty"));
                }
                let size = bytes.len() as u64;
                let digest = sha256(&bytes);
                let data = if bytes.len() <= MAX_INLINE_FILE {
                    FileData::Inline(bytes)
                } else {
                    let (sealed, data) = chunk_file(self.rng().bytes(), &bytes);
                    chunks = Some(sealed);
                    data
                };
                Some(FileRef { name: name.clone(), size, sha256: digest, data })
            }
            (None, None) => None,
            _ => return Err(bad("a file needs a name (file_name) and a body")),
        };
        let doc = ResourceDoc {
            topic,
            audience,
            text: req.text.clone().unwrap_or_default(),
            url: req.url.clone().filter(|u| !u.trim().is_empty()),
            file: file_ref,
        };
        let item = doc.to_item(&req.title).map_err(|e| bad(e.to_string()))?;
        // The chunks are on disk before the item announces them: a member that asks at once finds them.
        let file_id = doc.file.as_ref().and_then(FileRef::file_id);
        if let (Some(fid), Some(sealed), Some(FileData::Chunked { chunks: hashes, .. })) =
            (file_id, &chunks, doc.file.as_ref().map(|f| &f.data))
        {
            let dir = file_dir(self.home(), &fid);
            ensure_dir(&dir).map_err(|e| ActionError::Internal(format!("{}: {e}", dir.display())))?;
            for (i, c) in sealed.iter().enumerate() {
                write_atomic(&chunk_path(&dir, i), c).map_err(|e| ActionError::Internal(e.to_string()))?;
            }
            let size = doc.file.as_ref().map(|f| f.size).unwrap_or(0);
            // The item id is known only after publishing; the meta is completed then.
            let meta = FileMeta { group: gid, item: ItemId([0; 32]), size, chunks: hashes.clone() };
            write_atomic(&dir.join("meta"), &trellis_proto::codec::encode(&meta))
                .map_err(|e| ActionError::Internal(e.to_string()))?;
        }
        let published = self.publish_payload(gid, tlp, Payload::Resource(item), audience_of_item).await;
        let (id, _) = match published {
            Ok(p) => p,
            Err(e) => {
                // Nothing announces these chunks: do not keep them.
                if let Some(fid) = file_id {
                    let _ = std::fs::remove_dir_all(file_dir(self.home(), &fid));
                }
                return Err(e);
            }
        };
        if let Some(fid) = file_id {
            let dir = file_dir(self.home(), &fid);
            if let Some(mut meta) = read_meta(&dir) {
                meta.item = id;
                let _ = write_atomic(&dir.join("meta"), &trellis_proto::codec::encode(&meta));
            }
        }
        Ok(id)
    }

    /// A resource item as stored here: its envelope, item and document, if this node reads it.
    fn resource_of(&self, id: &ItemId) -> Option<(Envelope, Resource, ResourceDoc)> {
        let item = self.store().get_item(id).ok()??;
        let (env, payload) = item.open()?;
        let Payload::Resource(r) = payload else { return None };
        let doc = ResourceDoc::from_item(&r)?.ok()?;
        Some((env, r, doc))
    }

    fn resource_view(&self, env: &Envelope, r: &Resource, doc: &ResourceDoc, endorsements: usize) -> ResourceView {
        let group_name = self.groups().name(&env.header.group).unwrap_or_default();
        let publisher = env.header.sender;
        let file = doc.file.as_ref().map(|f| {
            let (carried, chunks, held) = match (&f.data, f.file_id()) {
                (FileData::Chunked { chunks, .. }, Some(fid)) => {
                    let dir = file_dir(self.home(), &fid);
                    let held = (0..chunks.len()).filter(|i| chunk_path(&dir, *i).exists()).count();
                    ("chunked", chunks.len(), held)
                }
                _ => ("inline", 1, 1),
            };
            FileView {
                name: f.name.clone(),
                size: f.size,
                sha256: data_encoding::HEXLOWER.encode(&f.sha256),
                carried: carried.into(),
                chunks,
                chunks_held: held,
            }
        });
        ResourceView {
            id: env.id.to_text(),
            group: env.header.group.to_text(),
            group_name,
            title: r.title.clone(),
            topic: doc.topic.as_str().into(),
            audience: doc.audience.as_str().into(),
            tlp: env.header.tlp,
            publisher: publisher.to_text(),
            publisher_fingerprint: publisher.fingerprint(),
            publisher_name: self.name_of(&publisher),
            published_ms: env.header.timestamp_ms,
            text: doc.text.clone(),
            url: doc.url.clone(),
            file,
            endorsements,
        }
    }

    /// Every resource this node can read, newest first, filtered by topic and group.
    pub fn resources(&self, topic: Option<&str>, group: Option<&str>) -> Result<Vec<ResourceView>, ActionError> {
        let topic: Option<Topic> =
            topic.map(str::parse).transpose().map_err(|e: trellis_proto::ProtoError| bad(e.to_string()))?;
        let groups = match group {
            Some(g) => vec![self.resolve_group(g)?],
            None => self.group_ids(),
        };
        let mut out = Vec::new();
        for gid in groups {
            let ends = self.endorsements(&gid);
            for id in self.store().group_item_ids(&gid, Kind::Resource)? {
                let Some((env, r, doc)) = self.resource_of(&id) else { continue };
                if topic.is_some_and(|t| t != doc.topic) {
                    continue;
                }
                let confirmed: HashSet<OrgId> = ends
                    .get(&env.id)
                    .map(|v| {
                        v.iter()
                            .filter(|(o, s)| {
                                *o != env.header.sender && matches!(s, trellis_proto::trust::Stance::Supports)
                            })
                            .map(|(o, _)| *o)
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(self.resource_view(&env, &r, &doc, confirmed.len()));
            }
        }
        out.sort_by(|a, b| b.published_ms.cmp(&a.published_ms).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Find a resource by id or id prefix (8+ characters).
    fn resolve_resource(&self, text: &str) -> Result<ResourceView, ActionError> {
        let t = text.trim().to_ascii_lowercase();
        if t.len() < 8 {
            return Err(bad("give the resource's id or at least its first 8 characters (see `trellis resource list`)"));
        }
        let found: Vec<ResourceView> =
            self.resources(None, None)?.into_iter().filter(|r| r.id.starts_with(&t)).collect();
        match found.len() {
            1 => Ok(found.into_iter().next().unwrap_or_else(|| unreachable!())),
            0 => Err(ActionError::NotFound(format!("no resource {text:?} on this node; see `trellis resource list`"))),
            n => Err(bad(format!("{text:?} matches {n} resources; give more of the id"))),
        }
    }

    /// `GET /v1/resources/{id}`.
    pub fn resource(&self, text: &str) -> Result<ResourceView, ActionError> {
        self.resolve_resource(text)
    }

    /// Confirm a resource ("this helped us"): a GREEN endorsement in its group.
    pub async fn endorse_resource(
        self: &Arc<Self>,
        text: &str,
        comment: Option<String>,
    ) -> Result<ItemId, ActionError> {
        let view = self.resolve_resource(text)?;
        let item = ItemId::parse(&view.id).map_err(|e| ActionError::Internal(e.to_string()))?;
        let gid = GroupId::parse(&view.group).map_err(|e| ActionError::Internal(e.to_string()))?;
        if let Some(c) = &comment
            && c.len() > trellis_proto::limits::MAX_TEXT
        {
            return Err(bad("the comment is longer than 64 KiB"));
        }
        let e = Endorsement { item, kind: EndorsementKind::Confirm, comment };
        let (id, _) = self.publish_payload(gid, Tlp::Green, Payload::Endorsement(e), Audience::Group).await?;
        Ok(id)
    }

    /// The plaintext of a resource's file: at once for an inline one; for a chunked one after
    /// fetching the chunks this node lacks (waiting at most two minutes), checked against the
    /// file's SHA-256.
    pub async fn resource_content(self: &Arc<Self>, text: &str) -> Result<(String, Vec<u8>), ActionError> {
        let view = self.resolve_resource(text)?;
        let id = ItemId::parse(&view.id).map_err(|e| ActionError::Internal(e.to_string()))?;
        let (env, _, doc) = self.resource_of(&id).ok_or_else(|| ActionError::NotFound("resource vanished".into()))?;
        let Some(file) = doc.file else {
            return Err(bad(match doc.url {
                Some(u) => format!("this resource has no file; it links to {u}"),
                None => "this resource has no file; `trellis resource show` prints its text".to_string(),
            }));
        };
        let plain = match &file.data {
            FileData::Inline(b) => b.clone(),
            FileData::Chunked { key, chunks } => {
                let fid = file.file_id().unwrap_or_default();
                let dir = file_dir(self.home(), &fid);
                self.register_file(&dir, env.header.group, env.id, &file)?;
                let deadline = tokio::time::Instant::now() + GET_WAIT;
                loop {
                    let meta = read_meta(&dir).ok_or_else(|| ActionError::Internal("file record vanished".into()))?;
                    if missing(&dir, &meta).is_empty() {
                        break;
                    }
                    self.fetch_file(fid, true).await;
                    if tokio::time::Instant::now() > deadline {
                        let left = missing(&dir, &meta).len();
                        return Err(ActionError::Conflict(format!(
                            "{left} of {} chunks of {:?} could not be fetched yet: no connected member of {} holds them; \
                             try again later (this node keeps trying in the background)",
                            chunks.len(),
                            file.name,
                            view.group_name
                        )));
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                let (key, chunks, dir2) = (*key, chunks.clone(), dir.clone());
                tokio::task::spawn_blocking(move || -> Result<Vec<u8>, ActionError> {
                    let mut out = Vec::new();
                    for (i, h) in chunks.iter().enumerate() {
                        let c =
                            std::fs::read(chunk_path(&dir2, i)).map_err(|e| ActionError::Internal(e.to_string()))?;
                        if sha256(&c) != *h {
                            let _ = std::fs::remove_file(chunk_path(&dir2, i));
                            return Err(ActionError::Internal(format!(
                                "chunk {i} changed on disk; it was removed and will be fetched again"
                            )));
                        }
                        out.extend(open_chunk(&key, i as u32, &c).map_err(|_| {
                            ActionError::Internal(format!("chunk {i} does not open under the file key"))
                        })?);
                    }
                    Ok(out)
                })
                .await
                .map_err(|e| ActionError::Internal(e.to_string()))??
            }
        };
        if plain.len() as u64 != file.size || sha256(&plain) != file.sha256 {
            return Err(ActionError::Internal(
                "the assembled file does not match the size and SHA-256 its publisher signed; nothing was written"
                    .into(),
            ));
        }
        Ok((file.name, plain))
    }

    /// Record a chunked file of a resource this node reads, so it is fetched and served.
    fn register_file(&self, dir: &Path, group: GroupId, item: ItemId, file: &FileRef) -> Result<(), ActionError> {
        let FileData::Chunked { chunks, .. } = &file.data else { return Ok(()) };
        if read_meta(dir).is_some_and(|m| m.item == item) {
            return Ok(());
        }
        ensure_dir(dir).map_err(|e| ActionError::Internal(format!("{}: {e}", dir.display())))?;
        let meta = FileMeta { group, item, size: file.size, chunks: chunks.clone() };
        write_atomic(&dir.join("meta"), &trellis_proto::codec::encode(&meta))
            .map_err(|e| ActionError::Internal(e.to_string()))
    }

    /// Called for every newly stored `Resource` item: tell watchers, and start fetching its file.
    pub(crate) fn resource_stored(self: &Arc<Self>, env: &Envelope, r: &Resource) {
        let Some(Ok(doc)) = ResourceDoc::from_item(r) else { return };
        if self.events().receiver_count() > 0 {
            let view = self.resource_view(env, r, &doc, 0);
            let _ = self.events().send(crate::api::types::Event::Resource { resource: Box::new(view) });
        }
        if let Some(file) = &doc.file
            && let Some(fid) = file.file_id()
        {
            let dir = file_dir(self.home(), &fid);
            if let Err(e) = self.register_file(&dir, env.header.group, env.id, file) {
                tracing::warn!(error = %e, "cannot record a resource's file");
                return;
            }
            if let Ok(h) = tokio::runtime::Handle::try_current() {
                let this = Arc::clone(self);
                h.spawn(async move { this.fetch_file(fid, false).await });
            }
        }
    }

    /// Every few seconds: record the files of readable resources (items whose key came late,
    /// or stored before a restart) and fetch what is missing, within [`AUTO_FETCH_BYTES`].
    pub async fn resource_upkeep(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = tick.tick() => {}
            }
            let this = Arc::clone(&self);
            let incomplete = tokio::task::spawn_blocking(move || this.scan_files()).await.unwrap_or_default();
            for fid in incomplete {
                self.fetch_file(fid, false).await;
            }
        }
    }

    /// Record every readable resource's file; return the incomplete ones.
    fn scan_files(&self) -> Vec<[u8; 32]> {
        let mut out = Vec::new();
        for gid in self.group_ids() {
            let Ok(ids) = self.store().group_item_ids(&gid, Kind::Resource) else { continue };
            for id in ids {
                let Some((env, _, doc)) = self.resource_of(&id) else { continue };
                let Some(file) = doc.file else { continue };
                let Some(fid) = file.file_id() else { continue };
                let dir = file_dir(self.home(), &fid);
                if self.register_file(&dir, env.header.group, env.id, &file).is_err() {
                    continue;
                }
                if read_meta(&dir).is_some_and(|meta| !missing(&dir, &meta).is_empty()) {
                    out.push(fid);
                }
            }
        }
        out
    }

    /// Fetch the chunks of `fid` this node lacks from the peers on its group's topic, each
    /// checked against its hash before it is kept. One fetch per file at a time. Unless `asked`
    /// (by `resource get`), nothing is fetched once [`AUTO_FETCH_BYTES`] of chunks are held.
    pub async fn fetch_file(self: &Arc<Self>, fid: [u8; 32], asked: bool) {
        if !asked {
            let home = self.home().to_path_buf();
            let held = tokio::task::spawn_blocking(move || held_bytes(&home)).await.unwrap_or(u64::MAX);
            if held >= AUTO_FETCH_BYTES {
                return;
            }
        }
        let fetching = Arc::clone(self.fetching_files());
        if !fetching.start(fid) {
            return;
        }
        struct Done(Arc<Fetching>, [u8; 32]);
        impl Drop for Done {
            fn drop(&mut self) {
                self.0.done(&self.1);
            }
        }
        let _done = Done(fetching, fid);
        let dir = file_dir(self.home(), &fid);
        let Some(meta) = read_meta(&dir) else { return };
        let topic = libp2p::gossipsub::IdentTopic::new(meta.group.topic()).hash();
        let mut peers = self.node().info().await.topic_peers.get(&topic).cloned().unwrap_or_default();
        if peers.is_empty() {
            return;
        }
        peers.sort();
        let mut next = self.rng().below(peers.len());
        for index in missing(&dir, &meta) {
            let mut got = false;
            for k in 0..peers.len() {
                let peer = peers[(next + k) % peers.len()];
                let request = Request {
                    binding: self.binding().clone(),
                    body: RequestBody::Chunk { file: fid, index: index as u32 },
                };
                match self.node().request(peer, request).await {
                    Ok(Response::Chunk(bytes))
                        if bytes.len() <= CHUNK_SIZE + CHUNK_OVERHEAD && sha256(&bytes) == meta.chunks[index] =>
                    {
                        if let Err(e) = write_atomic(&chunk_path(&dir, index), &bytes) {
                            tracing::warn!(error = %e, "cannot write a resource chunk");
                            return;
                        }
                        next = (next + k) % peers.len();
                        got = true;
                        break;
                    }
                    Ok(Response::Chunk(_)) => {
                        tracing::warn!(%peer, index, "a peer sent a chunk that does not match its hash");
                        self.count_reject("bad_chunk", Some(meta.group), Some(peer));
                    }
                    _ => {}
                }
            }
            if !got {
                // Nobody connected holds it yet; the next round tries again.
                return;
            }
        }
        tracing::info!(file = %trellis_proto::codec::base32(&fid)[..12], "resource file complete");
    }

    /// Answer `RequestBody::Chunk` from `org`: the chunk, if this node holds it and `org` is a
    /// member of the resource's group.
    pub(crate) fn answer_chunk(&self, org: OrgId, file: [u8; 32], index: u32) -> Response {
        let dir = file_dir(self.home(), &file);
        let Some(meta) = read_meta(&dir) else {
            return Response::Refused("no such file here".into());
        };
        let member = self.groups().is_member(&meta.group, &org);
        if !member {
            return Response::Refused("not a member of the resource's group".into());
        }
        if index as usize >= meta.chunks.len() {
            return Response::Refused("no such chunk".into());
        }
        match std::fs::read(chunk_path(&dir, index as usize)) {
            Ok(b) if b.len() <= CHUNK_SIZE + CHUNK_OVERHEAD => Response::Chunk(b),
            _ => Response::Refused("this node does not hold that chunk".into()),
        }
    }
}

pub mod api {
    //! The resource routes of the local API (`/v1/resources…`).

    use std::convert::Infallible;
    use std::sync::Arc;

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full, Limited, combinators::UnsyncBoxBody};
    use hyper::body::Incoming;
    use hyper::{Method, Request, Response, StatusCode};

    use super::PublishResource;
    use crate::api::types::{ApiError, Created};
    use crate::engine::{ActionError, Engine};

    type Body = UnsyncBoxBody<Bytes, Infallible>;

    fn respond(status: StatusCode, ctype: &str, bytes: Vec<u8>) -> Response<Body> {
        Response::builder()
            .status(status)
            .header("content-type", ctype)
            .body(Full::new(Bytes::from(bytes)).boxed_unsync())
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed_unsync()))
    }

    fn error(status: StatusCode, msg: String) -> Response<Body> {
        respond(status, "application/json", serde_json::to_vec(&ApiError { error: msg }).unwrap_or_default())
    }

    fn action(e: ActionError) -> Response<Body> {
        let status = match &e {
            ActionError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ActionError::NotFound(_) => StatusCode::NOT_FOUND,
            ActionError::Conflict(_) => StatusCode::CONFLICT,
            ActionError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        error(status, e.to_string())
    }

    fn json<T: serde::Serialize>(r: Result<T, ActionError>) -> Response<Body> {
        match r.and_then(|v| serde_json::to_vec(&v).map_err(|e| ActionError::Internal(e.to_string()))) {
            Ok(b) => respond(StatusCode::OK, "application/json", b),
            Err(e) => action(e),
        }
    }

    fn query(req: &Request<Incoming>, name: &str) -> Option<String> {
        crate::http::query_param(req, name)
    }

    /// Route `/v1/resources…`; `segs` are the decoded path segments.
    pub async fn route(engine: Arc<Engine>, req: Request<Incoming>, segs: &[&str]) -> Response<Body> {
        match (req.method().clone(), segs) {
            (Method::GET, ["v1", "resources"]) => {
                json(engine.resources(query(&req, "topic").as_deref(), query(&req, "group").as_deref()))
            }
            (Method::POST, ["v1", "resources"]) => {
                let meta: PublishResource = match query(&req, "meta").map(|m| serde_json::from_str(&m)) {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => return error(StatusCode::BAD_REQUEST, format!("meta: {e}")),
                    None => return error(StatusCode::BAD_REQUEST, "meta: missing".into()),
                };
                let max = trellis_proto::resource::MAX_FILE as usize;
                let body = match Limited::new(req.into_body(), max).collect().await {
                    Ok(b) => b.to_bytes().to_vec(),
                    Err(_) => {
                        return error(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            format!(
                                "the file is larger than the {max} bytes (64 MiB) a resource may carry; nothing was published"
                            ),
                        );
                    }
                };
                let file = meta.file_name.is_some().then_some(body);
                json(engine.publish_resource(&meta, file).await.map(|id| Created { id: id.to_text() }))
            }
            (Method::GET, ["v1", "resources", id]) => json(engine.resource(id)),
            (Method::GET, ["v1", "resources", id, "content"]) => match engine.resource_content(id).await {
                Ok((_, bytes)) => respond(StatusCode::OK, "application/octet-stream", bytes),
                Err(e) => action(e),
            },
            (Method::POST, ["v1", "resources", id, "endorse"]) => {
                let id = id.to_string();
                let comment = query(&req, "comment");
                json(engine.endorse_resource(&id, comment).await.map(|id| Created { id: id.to_text() }))
            }
            _ => error(StatusCode::NOT_FOUND, format!("no route {} {}", req.method(), req.uri().path())),
        }
    }
}
