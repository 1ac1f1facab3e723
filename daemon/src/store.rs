//! The node's durable store (redb). An item is acknowledged only after the write transaction
//! that holds it has committed (redb fsyncs on commit; two-phase commit is on), so an
//! acknowledged item survives `kill -9` and power loss.
//!
//! Tables:
//! - `items`: item id → [`StoredItem`] (the exact envelope bytes, when it was received, and the
//!   key that opens its body when this node could open it).
//! - `by_group`: `group ‖ kind ‖ received_ms ‖ id` → () — lists a group's items by kind and time.
//! - `seqs`: `group ‖ sender ‖ seq` → id — persistent replay state (§3.6 of PROTOCOL.md) and
//!   the per-sender sequence vectors used by catch-up sync.
//! - `groups`: group id → [`GroupRecord`] (genesis, epoch keys this node holds).
//! - `peers`: peer id → known addresses, to reconnect after a restart.
//! - `invite_links`: link id → the record of an invite link this node issued (only a hash of its
//!   secret; `engine/invite_links.rs`).
//! - `meta`: schema version; per group, the highest sequence number this org had used when a
//!   backup it was restored from was made (`seq-floor/<group>`): it publishes above it.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use trellis_proto::group::SignedGenesis;
use trellis_proto::{BodyKey, Envelope, GroupId, ItemId, Kind, OrgId, Payload};

const ITEMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("items");
const BY_GROUP: TableDefinition<&[u8], ()> = TableDefinition::new("by_group");
const SEQS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("seqs");
const GROUPS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("groups");
const PEERS: TableDefinition<&str, &[u8]> = TableDefinition::new("peers");
/// Per sender, the sorted ranges `(first, last)` of sequence numbers held.
pub type SeqRanges = Vec<(OrgId, Vec<(u64, u64)>)>;

const TRUST: TableDefinition<&[u8], u64> = TableDefinition::new("trust");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// The schema this build writes. A store with a higher number is refused at start; a schema-1
/// store is migrated at start (see [`migrate_items_v1`]).
pub const SCHEMA_VERSION: u32 = 2;

/// Store errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the store {path} could not be opened: {why}. If the file is damaged, move it aside (the identity is kept separately) and restart to resync from peers"
    )]
    Open { path: String, why: String },
    #[error(
        "the store {path} was written by a newer Trellis (schema {found}, this build reads {SCHEMA_VERSION}); upgrade trellisd"
    )]
    TooNew { path: String, found: u32 },
    #[error("store: {0}")]
    Db(String),
    #[error("the store is closed (the node is shutting down)")]
    Closed,
    #[error("store record is damaged: {0}")]
    Corrupt(String),
}

fn dberr<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Db(e.to_string())
}

/// An item as stored: the envelope once, and what this node needs to read it again. Items written
/// under schema 1 also held the decoded payload next to the envelope, so every item this node
/// could read was on disk twice; schema 2 keeps the key instead and decrypts on read.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredItem {
    #[serde(with = "trellis_proto::codec::bytes")]
    pub bytes: Vec<u8>,
    pub received_ms: u64,
    pub readable: Readable,
}

/// Bounds of one sync answer ([`Store::items_missing_from`]).
#[derive(Clone, Copy, Debug)]
pub struct BatchLimits {
    pub max_items: usize,
    pub max_bytes: usize,
    pub max_skipped: usize,
}

/// One sync answer: the envelopes, whether more follow, and where the next answer starts.
#[derive(Clone, Debug, Default)]
pub struct SyncBatch {
    pub items: Vec<Vec<u8>>,
    pub more: bool,
    pub next: Option<trellis_proto::wire::Cursor>,
    /// Index entries looked at to make the answer (the responder's work, for tests).
    pub examined: usize,
}

/// The envelope bytes inside a stored [`StoredItem`] record, borrowed (its first field).
fn stored_envelope(raw: &[u8]) -> Result<&[u8], StoreError> {
    postcard::take_from_bytes::<&[u8]>(raw).map(|(b, _)| b).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Whether and how this node reads a stored item.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Readable {
    /// Encrypted, and this node holds no key for it (yet): a relayed AMBER item, or one whose
    /// epoch key is still on its way.
    No,
    /// The envelope's body is the plaintext payload (CLEAR and control items).
    Clear,
    /// Opened with this key when it was received (or when its key arrived).
    Key(BodyKey),
    /// The payload itself: kept from a schema-1 store when migration found no key for the item.
    Payload(#[serde(with = "trellis_proto::codec::bytes")] Vec<u8>),
}

impl Readable {
    /// How an item opened with `key` reads (`None`: its body was plaintext).
    pub fn opened(key: Option<BodyKey>) -> Readable {
        key.map_or(Readable::Clear, Readable::Key)
    }
}

impl StoredItem {
    /// Whether this node can read the item.
    pub fn is_readable(&self) -> bool {
        !matches!(self.readable, Readable::No)
    }

    /// The envelope and its payload, if this node can read the item. Envelopes in the store were
    /// verified when received; this decrypts again (authenticated) but does not re-verify.
    pub fn open(&self) -> Option<(Envelope, Payload)> {
        let env = Envelope::decode(&self.bytes).ok()?;
        let payload = match &self.readable {
            Readable::No => return None,
            Readable::Clear => env.reopen(None),
            Readable::Key(k) => env.reopen(Some(k)),
            Readable::Payload(p) => trellis_proto::codec::decode(p, trellis_proto::limits::MAX_PAYLOAD_BYTES),
        };
        match payload {
            Ok(p) => Some((env, p)),
            Err(e) => {
                tracing::warn!(item = %env.id.short(), error = %e, "a stored item could not be read back");
                None
            }
        }
    }
}

/// A group this node belongs to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupRecord {
    pub genesis: SignedGenesis,
    pub joined_ms: u64,
    /// Epoch keys this node holds: key id → key.
    pub epoch_keys: Vec<([u8; 16], [u8; 32])>,
}

/// What `insert_item` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    New,
    Duplicate,
    /// Another item already holds this sender's sequence number in this group.
    SeqConflict,
}

/// The store.
#[derive(Debug)]
pub struct Store {
    /// `None` once closed: the file lock is released even if a stray task still holds the store.
    db: std::sync::RwLock<Option<Database>>,
    /// Received items waiting for a storing transaction ([`Store::insert_items`]).
    commits: Commits,
}

/// One received item, encoded for the storing transaction.
#[derive(Debug)]
struct EncodedRow {
    seq_key: Vec<u8>,
    id: ItemId,
    item: Vec<u8>,
    group_key: Vec<u8>,
}

/// The group commit's state: rows waiting, whether a transaction is being written, results not
/// yet collected by their callers.
#[derive(Debug, Default)]
struct CommitQueue {
    waiting: Vec<(u64, Vec<EncodedRow>)>,
    writing: bool,
    next_ticket: u64,
    done: std::collections::HashMap<u64, Result<Vec<Inserted>, String>>,
    commits: u64,
    rows: u64,
    /// Whether a waiting caller needs its rows on disk when its call returns.
    waiting_now: bool,
    /// A storing transaction was committed without being made durable since the last durable one.
    pending: bool,
    /// When the last durable storing transaction was written.
    last_durable: Option<std::time::Instant>,
}

/// When rows stored by [`Store::insert_items_with`] must be on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Before the call returns (two-phase commit: two fsyncs).
    Now,
    /// Within [`RELAXED_WINDOW`]: the transaction is committed (visible to readers at once) but
    /// made durable by the next durable commit, which the store writes at most that long after
    /// the first relaxed one (on the next commit, or by [`Store::flush`]). For items received
    /// from peers: a crash loses at most that window of them, and catch-up sync fetches them
    /// again (docs/ARCHITECTURE.md, "Storing").
    Soon,
}

/// How long a relaxed storing transaction may stay off the disk (see [`Durability::Soon`]).
pub const RELAXED_WINDOW: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug, Default)]
struct Commits {
    queue: std::sync::Mutex<CommitQueue>,
    finished: std::sync::Condvar,
}

fn group_key(group: &GroupId, kind: Kind, received_ms: u64, id: &ItemId) -> Vec<u8> {
    let mut k = Vec::with_capacity(73);
    k.extend_from_slice(group.as_bytes());
    k.push(kind as u8);
    k.extend_from_slice(&received_ms.to_be_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

fn seq_key(group: &GroupId, sender: &OrgId, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(72);
    k.extend_from_slice(group.as_bytes());
    k.extend_from_slice(sender.as_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn seq_floor_key(group: &GroupId) -> String {
    format!("seq-floor/{}", group.to_text())
}

fn id_from(bytes: &[u8]) -> Result<ItemId, StoreError> {
    bytes.try_into().map(ItemId).map_err(|_| StoreError::Corrupt("bad id length".into()))
}

impl Store {
    /// Open (or create) the store at `path`, checking its schema version.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |why: String| StoreError::Open { path: path.display().to_string(), why };
        // The store holds every item with the key that opens it: mode 0600 like the key files,
        // whatever the umask (an existing store of an earlier version is tightened too).
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .open(path)
                .and_then(|_| std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)))
                .map_err(|e| open_err(e.to_string()))?;
        }
        let db = Database::create(path).map_err(|e| open_err(e.to_string()))?;
        let store = Store { db: std::sync::RwLock::new(Some(db)), commits: Commits::default() };
        let txn = store.begin_write().map_err(|e| open_err(e.to_string()))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| open_err(e.to_string()))?;
            let found = meta
                .get("schema")
                .map_err(|e| open_err(e.to_string()))?
                .map(|v| v.value().try_into().map(u32::from_be_bytes).unwrap_or(u32::MAX));
            match found {
                Some(v) if v > SCHEMA_VERSION => {
                    return Err(StoreError::TooNew { path: path.display().to_string(), found: v });
                }
                Some(1) => {
                    // In the same transaction as the version bump: a crash leaves schema 1 intact.
                    migrate_items_v1(&txn).map_err(|e| open_err(format!("migrating to schema 2: {e}")))?;
                    meta.insert("schema", SCHEMA_VERSION.to_be_bytes().as_slice())
                        .map_err(|e| open_err(e.to_string()))?;
                }
                Some(_) => {}
                None => {
                    meta.insert("schema", SCHEMA_VERSION.to_be_bytes().as_slice())
                        .map_err(|e| open_err(e.to_string()))?;
                }
            }
            // Create every table so readers never meet a missing one.
            txn.open_table(ITEMS).map_err(dberr)?;
            txn.open_table(BY_GROUP).map_err(dberr)?;
            txn.open_table(SEQS).map_err(dberr)?;
            txn.open_table(GROUPS).map_err(dberr)?;
            txn.open_table(PEERS).map_err(dberr)?;
            txn.open_table(TRUST).map_err(dberr)?;
        }
        txn.commit().map_err(|e| open_err(e.to_string()))?;
        Ok(store)
    }

    fn begin_write(&self) -> Result<redb::WriteTransaction, StoreError> {
        let guard = self.db.read().map_err(|_| StoreError::Db("store lock poisoned".into()))?;
        guard.as_ref().ok_or(StoreError::Closed)?.begin_write().map_err(dberr)
    }

    pub(crate) fn begin_read(&self) -> Result<redb::ReadTransaction, StoreError> {
        let guard = self.db.read().map_err(|_| StoreError::Db("store lock poisoned".into()))?;
        guard.as_ref().ok_or(StoreError::Closed)?.begin_read().map_err(dberr)
    }

    /// Close the database now (at shutdown): later calls fail with [`StoreError::Closed`].
    pub fn close(&self) {
        // Relaxed transactions first (dropping the database would also make them durable; this
        // says so in one place).
        if let Err(e) = self.flush() {
            tracing::warn!(error = %e, "could not make the last received items durable at close");
        }
        if let Ok(mut db) = self.db.write() {
            db.take();
        }
    }

    pub(crate) fn write(&self) -> Result<redb::WriteTransaction, StoreError> {
        let mut txn = self.begin_write()?;
        txn.set_two_phase_commit(true);
        Ok(txn)
    }

    /// Store a verified item, atomically with its replay record. `seq_claim` reserves the
    /// sender's sequence number; a different item with the same (group, sender, seq) is refused.
    pub fn insert_item(
        &self,
        group: &GroupId,
        kind: Kind,
        sender: &OrgId,
        seq: u64,
        id: &ItemId,
        item: &StoredItem,
    ) -> Result<Inserted, StoreError> {
        let txn = self.write()?;
        let result = {
            let mut seqs = txn.open_table(SEQS).map_err(dberr)?;
            let sk = seq_key(group, sender, seq);
            let existing = seqs.get(sk.as_slice()).map_err(dberr)?.map(|v| v.value().to_vec());
            match existing {
                Some(e) if e == id.as_bytes() => Inserted::Duplicate,
                Some(_) => Inserted::SeqConflict,
                None => {
                    seqs.insert(sk.as_slice(), id.as_bytes().as_slice()).map_err(dberr)?;
                    let mut items = txn.open_table(ITEMS).map_err(dberr)?;
                    let enc = postcard::to_allocvec(item).map_err(dberr)?;
                    items.insert(id.as_bytes().as_slice(), enc.as_slice()).map_err(dberr)?;
                    let mut by_group = txn.open_table(BY_GROUP).map_err(dberr)?;
                    by_group.insert(group_key(group, kind, item.received_ms, id).as_slice(), ()).map_err(dberr)?;
                    Inserted::New
                }
            }
        };
        if result == Inserted::New {
            txn.commit().map_err(dberr)?;
        } else {
            txn.abort().map_err(dberr)?;
        }
        Ok(result)
    }

    /// Store a group op that shares its sender's sequence number with another op (equivocation,
    /// PROTOCOL.md §6.9): kept by id and listed with the group's ops, but not in the replay
    /// index, which keeps the first. Both twins must be held so that ops naming either as
    /// parent can be ordered.
    pub fn insert_twin(&self, group: &GroupId, kind: Kind, id: &ItemId, item: &StoredItem) -> Result<bool, StoreError> {
        let txn = self.write()?;
        let new = {
            let mut items = txn.open_table(ITEMS).map_err(dberr)?;
            if items.get(id.as_bytes().as_slice()).map_err(dberr)?.is_some() {
                false
            } else {
                let enc = postcard::to_allocvec(item).map_err(dberr)?;
                items.insert(id.as_bytes().as_slice(), enc.as_slice()).map_err(dberr)?;
                let mut by_group = txn.open_table(BY_GROUP).map_err(dberr)?;
                by_group.insert(group_key(group, kind, item.received_ms, id).as_slice(), ()).map_err(dberr)?;
                true
            }
        };
        if new {
            txn.commit().map_err(dberr)?;
        } else {
            txn.abort().map_err(dberr)?;
        }
        Ok(new)
    }

    /// Store several verified items, each with its replay record; returns what happened to each,
    /// in order. Durable on return, like every write here.
    ///
    /// Group commit: the rows are encoded by the caller's thread, then join the rows of every
    /// other caller waiting to store; the first caller to find no transaction running writes them
    /// all in one transaction (one two-phase commit: two fsyncs, however many items) and hands
    /// each caller its results. Items validated while a transaction is being written therefore
    /// share the next one, without any added wait when nothing else is storing. Within one
    /// transaction rows are applied in arrival order, so two rows claiming one sequence number are
    /// judged exactly as two transactions one after the other would judge them.
    pub fn insert_items(
        &self,
        rows: &[(GroupId, Kind, OrgId, u64, ItemId, &StoredItem)],
    ) -> Result<Vec<Inserted>, StoreError> {
        self.insert_items_with(rows, Durability::Now)
    }

    /// [`Self::insert_items`], with rows that may reach the disk a little later
    /// ([`Durability::Soon`]): their transaction is durable only when [`RELAXED_WINDOW`] has passed
    /// since the last durable one, or when another caller in it needs [`Durability::Now`].
    pub fn insert_items_with(
        &self,
        rows: &[(GroupId, Kind, OrgId, u64, ItemId, &StoredItem)],
        durability: Durability,
    ) -> Result<Vec<Inserted>, StoreError> {
        let encoded = rows
            .iter()
            .map(|(group, kind, sender, seq, id, item)| {
                Ok(EncodedRow {
                    seq_key: seq_key(group, sender, *seq),
                    id: *id,
                    item: postcard::to_allocvec(*item).map_err(dberr)?,
                    group_key: group_key(group, *kind, item.received_ms, id),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let poisoned = || StoreError::Db("store commit queue poisoned".into());
        let mut q = self.commits.queue.lock().map_err(|_| poisoned())?;
        let ticket = q.next_ticket;
        q.next_ticket += 1;
        q.waiting.push((ticket, encoded));
        q.waiting_now |= durability == Durability::Now;
        loop {
            if let Some(r) = q.done.remove(&ticket) {
                return r.map_err(StoreError::Db);
            }
            if !q.writing {
                // No transaction running: this caller writes everything waiting, its own rows
                // included.
                q.writing = true;
                let batch = std::mem::take(&mut q.waiting);
                let now = std::time::Instant::now();
                let durable = std::mem::take(&mut q.waiting_now)
                    || q.last_durable.is_none_or(|t| now.duration_since(t) >= RELAXED_WINDOW);
                let persist_pending = durable && q.pending;
                drop(q);
                let results = self.write_rows(&batch, durable, persist_pending);
                q = self.commits.queue.lock().map_err(|_| poisoned())?;
                q.writing = false;
                match &results {
                    Ok((_, true)) if durable => {
                        q.pending = false;
                        q.last_durable = Some(now);
                    }
                    Ok((_, true)) => q.pending = true,
                    _ => {}
                }
                let results = results.map(|(r, _)| r);
                q.commits += 1;
                q.rows += batch.iter().map(|(_, r)| r.len() as u64).sum::<u64>();
                match results {
                    Ok(per_ticket) => {
                        for ((t, _), r) in batch.iter().zip(per_ticket) {
                            q.done.insert(*t, Ok(r));
                        }
                    }
                    Err(e) => {
                        for (t, _) in &batch {
                            q.done.insert(*t, Err(e.to_string()));
                        }
                    }
                }
                self.commits.finished.notify_all();
                continue;
            }
            q = self.commits.finished.wait(q).map_err(|_| poisoned())?;
        }
    }

    /// One transaction for the rows of several callers; per caller, what happened to each row,
    /// and whether a transaction was committed. `durable`: committed with two-phase commit, and
    /// also when it holds nothing new if `persist_pending` (earlier relaxed transactions are
    /// made durable with it).
    fn write_rows(
        &self,
        batch: &[(u64, Vec<EncodedRow>)],
        durable: bool,
        persist_pending: bool,
    ) -> Result<(Vec<Vec<Inserted>>, bool), StoreError> {
        let txn = if durable {
            self.write()?
        } else {
            let mut txn = self.begin_write()?;
            txn.set_durability(redb::Durability::None).map_err(dberr)?;
            txn
        };
        let mut out = Vec::with_capacity(batch.len());
        let mut any_new = false;
        {
            let mut seqs = txn.open_table(SEQS).map_err(dberr)?;
            let mut items = txn.open_table(ITEMS).map_err(dberr)?;
            let mut by_group = txn.open_table(BY_GROUP).map_err(dberr)?;
            for (_, rows) in batch {
                let mut mine = Vec::with_capacity(rows.len());
                for row in rows {
                    let existing = seqs.get(row.seq_key.as_slice()).map_err(dberr)?.map(|v| v.value().to_vec());
                    let r = match existing {
                        Some(e) if e == row.id.as_bytes() => Inserted::Duplicate,
                        Some(_) => Inserted::SeqConflict,
                        None => {
                            seqs.insert(row.seq_key.as_slice(), row.id.as_bytes().as_slice()).map_err(dberr)?;
                            items.insert(row.id.as_bytes().as_slice(), row.item.as_slice()).map_err(dberr)?;
                            by_group.insert(row.group_key.as_slice(), ()).map_err(dberr)?;
                            any_new = true;
                            Inserted::New
                        }
                    };
                    mine.push(r);
                }
                out.push(mine);
            }
        }
        let commit = any_new || persist_pending;
        if commit {
            txn.commit().map_err(dberr)?;
        } else {
            txn.abort().map_err(dberr)?;
        }
        Ok((out, commit))
    }

    /// Make every relaxed storing transaction durable now, if one is waiting for it (called
    /// at least every [`RELAXED_WINDOW`] by whoever stores relaxed rows; closing the store does it
    /// too).
    pub fn flush(&self) -> Result<(), StoreError> {
        let pending = self.commits.queue.lock().map(|q| q.pending).unwrap_or(true);
        if pending {
            self.insert_items(&[])?;
        }
        Ok(())
    }

    /// [`Self::flush`] once [`RELAXED_WINDOW`] has passed since the last durable transaction
    /// (the store thread calls it a few times per window).
    pub fn flush_due(&self) -> Result<(), StoreError> {
        let due = self
            .commits
            .queue
            .lock()
            .map(|q| q.pending && q.last_durable.is_none_or(|t| t.elapsed() >= RELAXED_WINDOW))
            .unwrap_or(true);
        if due {
            self.insert_items(&[])?;
        }
        Ok(())
    }

    /// Storing transactions written by [`Self::insert_items`] since the store was opened, and the
    /// rows they held (rows ÷ commits is the group commit's mean batch).
    pub fn commit_counts(&self) -> (u64, u64) {
        self.commits.queue.lock().map(|q| (q.commits, q.rows)).unwrap_or((0, 0))
    }

    /// The sequence number this org's next item in `group` takes: one past the highest stored
    /// and past the floor a restored backup set (`put_seq_floor`), so a node restored from a
    /// backup never reuses a number its org used before the backup, even while catch-up has not
    /// brought those items back. Read in a read transaction: it never waits for a writer.
    pub fn next_own_seq(&self, group: &GroupId, me: &OrgId) -> Result<u64, StoreError> {
        let txn = self.begin_read()?;
        let last = Self::last_seq_in(&txn, group, me)?;
        let floor = match txn.open_table(META) {
            Ok(meta) => meta
                .get(seq_floor_key(group).as_str())
                .map_err(dberr)?
                .and_then(|v| <[u8; 8]>::try_from(v.value()).ok())
                .map(u64::from_be_bytes),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(dberr(e)),
        };
        Ok(last.max(floor.unwrap_or(0)) + 1)
    }

    /// The highest sequence number stored for `org` in `group` in `txn` (0 when none).
    fn last_seq_in(txn: &redb::ReadTransaction, group: &GroupId, org: &OrgId) -> Result<u64, StoreError> {
        let seqs = txn.open_table(SEQS).map_err(dberr)?;
        let lo = seq_key(group, org, 0);
        let hi = seq_key(group, org, u64::MAX);
        let last = seqs.range(lo.as_slice()..=hi.as_slice()).map_err(dberr)?.next_back();
        match last {
            Some(r) => {
                let (k, _) = r.map_err(dberr)?;
                let k = k.value();
                Ok(u64::from_be_bytes(k[64..72].try_into().map_err(|_| StoreError::Corrupt("seq key".into()))?))
            }
            None => Ok(0),
        }
    }

    /// Record that a stored item can now be read (its key arrived after the item).
    pub fn set_readable(&self, id: &ItemId, readable: Readable) -> Result<(), StoreError> {
        let txn = self.write()?;
        {
            let mut items = txn.open_table(ITEMS).map_err(dberr)?;
            let Some(raw) = items.get(id.as_bytes().as_slice()).map_err(dberr)?.map(|v| v.value().to_vec()) else {
                return Ok(());
            };
            let mut item: StoredItem = postcard::from_bytes(&raw).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            item.readable = readable;
            let enc = postcard::to_allocvec(&item).map_err(dberr)?;
            items.insert(id.as_bytes().as_slice(), enc.as_slice()).map_err(dberr)?;
        }
        txn.commit().map_err(dberr)
    }

    /// One item.
    /// The item holding `sender`'s sequence number `seq` in `group`, if one is stored (a read,
    /// no write lock: lets validation spot replays and duplicates before the storing transaction).
    pub fn seq_holder(&self, group: &GroupId, sender: &OrgId, seq: u64) -> Result<Option<ItemId>, StoreError> {
        let txn = self.begin_read()?;
        let seqs = txn.open_table(SEQS).map_err(dberr)?;
        match seqs.get(seq_key(group, sender, seq).as_slice()).map_err(dberr)? {
            Some(v) => Ok(Some(id_from(v.value())?)),
            None => Ok(None),
        }
    }

    pub fn get_item(&self, id: &ItemId) -> Result<Option<StoredItem>, StoreError> {
        let txn = self.begin_read()?;
        let items = txn.open_table(ITEMS).map_err(dberr)?;
        match items.get(id.as_bytes().as_slice()).map_err(dberr)? {
            Some(v) => Ok(Some(postcard::from_bytes(v.value()).map_err(|e| StoreError::Corrupt(e.to_string()))?)),
            None => Ok(None),
        }
    }

    /// Ids of a group's items of `kind`, oldest first.
    pub fn group_item_ids(&self, group: &GroupId, kind: Kind) -> Result<Vec<ItemId>, StoreError> {
        let txn = self.begin_read()?;
        let t = txn.open_table(BY_GROUP).map_err(dberr)?;
        let mut lo = group.as_bytes().to_vec();
        lo.push(kind as u8);
        let mut hi = lo.clone();
        hi.extend_from_slice(&[0xff; 40]);
        let mut out = Vec::new();
        for r in t.range(lo.as_slice()..=hi.as_slice()).map_err(dberr)? {
            let (k, _) = r.map_err(dberr)?;
            out.push(id_from(&k.value()[41..73])?);
        }
        Ok(out)
    }

    /// Ids of a group's items of `kind` stored from `since_ms` on (their storing transaction
    /// started then or later), oldest first.
    pub fn group_item_ids_since(&self, group: &GroupId, kind: Kind, since_ms: u64) -> Result<Vec<ItemId>, StoreError> {
        let txn = self.begin_read()?;
        let t = txn.open_table(BY_GROUP).map_err(dberr)?;
        let lo = group_key(group, kind, since_ms, &ItemId([0; 32]));
        let hi = group_key(group, kind, u64::MAX, &ItemId([0xff; 32]));
        let mut out = Vec::new();
        for r in t.range(lo.as_slice()..=hi.as_slice()).map_err(dberr)? {
            let (k, _) = r.map_err(dberr)?;
            out.push(id_from(&k.value()[41..73])?);
        }
        Ok(out)
    }

    /// Number of items stored for a group (all kinds).
    pub fn group_item_count(&self, group: &GroupId) -> Result<u64, StoreError> {
        let txn = self.begin_read()?;
        let t = txn.open_table(SEQS).map_err(dberr)?;
        let lo = group.as_bytes().to_vec();
        let mut hi = lo.clone();
        hi.extend_from_slice(&[0xff; 40]);
        let mut n = 0;
        for r in t.range(lo.as_slice()..=hi.as_slice()).map_err(dberr)? {
            r.map_err(dberr)?;
            n += 1;
        }
        Ok(n)
    }

    /// The per-sender sequence numbers this node holds for a group, as sorted ranges
    /// `(first, last)` per sender: the "have" vector of catch-up sync.
    pub fn seq_ranges(&self, group: &GroupId) -> Result<SeqRanges, StoreError> {
        let txn = self.begin_read()?;
        let t = txn.open_table(SEQS).map_err(dberr)?;
        let lo = group.as_bytes().to_vec();
        let mut hi = lo.clone();
        hi.extend_from_slice(&[0xff; 40]);
        let mut out: SeqRanges = Vec::new();
        for r in t.range(lo.as_slice()..=hi.as_slice()).map_err(dberr)? {
            let (k, _) = r.map_err(dberr)?;
            let k = k.value();
            let sender = OrgId(k[32..64].try_into().map_err(|_| StoreError::Corrupt("seq key".into()))?);
            let seq = u64::from_be_bytes(k[64..72].try_into().map_err(|_| StoreError::Corrupt("seq key".into()))?);
            match out.last_mut() {
                Some((s, ranges)) if *s == sender => match ranges.last_mut() {
                    Some((_, last)) if *last + 1 == seq => *last = seq,
                    _ => ranges.push((seq, seq)),
                },
                _ => out.push((sender, vec![(seq, seq)])),
            }
        }
        Ok(out)
    }

    /// One catch-up sync answer (PROTOCOL.md §9): items of `group` whose (sender, seq) `have`
    /// does not hold, in (sender, seq) order, starting after `after`. Items `keep` refuses (RED,
    /// content for a departed member) are left out *before* counting, so they never fill a batch.
    /// The answer stops at `max_items` items or `max_bytes` of envelopes sent, or after
    /// `max_skipped` items looked at and left out; `next` is where the following answer starts.
    ///
    /// Held ranges are jumped over with one seek each (a merge walk of the have-list against the
    /// sequence index), and only items that are not held are read, so the work is
    /// O((ranges + items looked at) · log), whatever the history. `keep` sees only the decoded
    /// header, read in place from the stored bytes.
    pub fn items_missing_from(
        &self,
        group: &GroupId,
        have: &trellis_proto::wire::HaveIndex,
        after: Option<trellis_proto::wire::Cursor>,
        limits: BatchLimits,
        keep: impl Fn(&trellis_proto::Header) -> bool,
    ) -> Result<SyncBatch, StoreError> {
        use std::ops::Bound;
        let txn = self.begin_read()?;
        let seqs = txn.open_table(SEQS).map_err(dberr)?;
        let items = txn.open_table(ITEMS).map_err(dberr)?;
        let mut hi = group.as_bytes().to_vec();
        hi.extend_from_slice(&[0xff; 40]);
        let mut from: Bound<Vec<u8>> = match after {
            Some((sender, seq)) => Bound::Excluded(seq_key(group, &sender, seq)),
            None => Bound::Included(group.as_bytes().to_vec()),
        };
        let mut batch = SyncBatch::default();
        let mut bytes = 0usize;
        let mut skipped = 0usize;
        loop {
            let range = (from.as_ref().map(Vec::as_slice), Bound::Included(hi.as_slice()));
            let mut jump = None;
            for r in seqs.range::<&[u8]>(range).map_err(dberr)? {
                let (k, v) = r.map_err(dberr)?;
                batch.examined += 1;
                let k = k.value();
                let sender = OrgId(k[32..64].try_into().map_err(|_| StoreError::Corrupt("seq key".into()))?);
                let seq = u64::from_be_bytes(k[64..72].try_into().map_err(|_| StoreError::Corrupt("seq key".into()))?);
                if let Some((_, last)) = have.covering(&sender, seq) {
                    // Held: continue after the end of this range.
                    batch.next = Some((sender, last));
                    jump = Some(seq_key(group, &sender, last));
                    break;
                }
                let raw = items.get(v.value()).map_err(dberr)?;
                let envelope = match &raw {
                    Some(raw) => Some(stored_envelope(raw.value())?),
                    None => None,
                };
                // A missing or unreadable record counts as left out, like RED.
                let wanted = envelope.and_then(|e| postcard::take_from_bytes::<trellis_proto::Header>(e).ok());
                let Some(envelope) = envelope.filter(|_| wanted.is_some_and(|(h, _)| keep(&h))) else {
                    batch.next = Some((sender, seq));
                    skipped += 1;
                    if skipped >= limits.max_skipped {
                        batch.more = true;
                        return Ok(batch);
                    }
                    continue;
                };
                if !batch.items.is_empty()
                    && (bytes + envelope.len() > limits.max_bytes || batch.items.len() >= limits.max_items)
                {
                    batch.more = true;
                    return Ok(batch);
                }
                bytes += envelope.len();
                batch.items.push(envelope.to_vec());
                batch.next = Some((sender, seq));
            }
            match jump {
                Some(key) => from = Bound::Excluded(key),
                None => break,
            }
        }
        batch.next = None;
        Ok(batch)
    }

    /// Record that this org used sequence numbers up to `seq` in `group` (from a backup): its
    /// next item there gets a higher one.
    pub fn put_seq_floor(&self, group: &GroupId, seq: u64) -> Result<(), StoreError> {
        let txn = self.write()?;
        {
            let mut t = txn.open_table(META).map_err(dberr)?;
            t.insert(seq_floor_key(group).as_str(), seq.to_be_bytes().as_slice()).map_err(dberr)?;
        }
        txn.commit().map_err(dberr)
    }

    /// Save a group record.
    pub fn put_group(&self, id: &GroupId, rec: &GroupRecord) -> Result<(), StoreError> {
        let txn = self.write()?;
        {
            let mut t = txn.open_table(GROUPS).map_err(dberr)?;
            let enc = postcard::to_allocvec(rec).map_err(dberr)?;
            t.insert(id.as_bytes().as_slice(), enc.as_slice()).map_err(dberr)?;
        }
        txn.commit().map_err(dberr)
    }

    /// All group records.
    pub fn groups(&self) -> Result<Vec<(GroupId, GroupRecord)>, StoreError> {
        let txn = self.begin_read()?;
        let t = txn.open_table(GROUPS).map_err(dberr)?;
        let mut out = Vec::new();
        for r in t.iter().map_err(dberr)? {
            let (k, v) = r.map_err(dberr)?;
            let id = GroupId(k.value().try_into().map_err(|_| StoreError::Corrupt("group id".into()))?);
            out.push((id, postcard::from_bytes(v.value()).map_err(|e| StoreError::Corrupt(e.to_string()))?));
        }
        Ok(out)
    }

    /// Remember addresses of a peer.
    pub fn put_peer(&self, peer: &str, addrs: &[String]) -> Result<(), StoreError> {
        let txn = self.write()?;
        {
            let mut t = txn.open_table(PEERS).map_err(dberr)?;
            let enc = postcard::to_allocvec(&addrs.to_vec()).map_err(dberr)?;
            t.insert(peer, enc.as_slice()).map_err(dberr)?;
        }
        txn.commit().map_err(dberr)
    }

    /// Write a restored backup in one transaction: group records, the sequence floor of each group
    /// (when above 0) and peers (`trellis keys import`, applied when the node starts).
    pub fn put_restore(
        &self,
        groups: &[(GroupId, GroupRecord, u64)],
        peers: &[(String, Vec<String>)],
    ) -> Result<(), StoreError> {
        let txn = self.write()?;
        {
            let mut t = txn.open_table(GROUPS).map_err(dberr)?;
            for (id, rec, _) in groups {
                let enc = postcard::to_allocvec(rec).map_err(dberr)?;
                t.insert(id.as_bytes().as_slice(), enc.as_slice()).map_err(dberr)?;
            }
            let mut meta = txn.open_table(META).map_err(dberr)?;
            for (id, _, last) in groups.iter().filter(|(_, _, last)| *last > 0) {
                meta.insert(seq_floor_key(id).as_str(), last.to_be_bytes().as_slice()).map_err(dberr)?;
            }
            let mut p = txn.open_table(PEERS).map_err(dberr)?;
            for (peer, addrs) in peers {
                let enc = postcard::to_allocvec(addrs).map_err(dberr)?;
                p.insert(peer.as_str(), enc.as_slice()).map_err(dberr)?;
            }
        }
        txn.commit().map_err(dberr)
    }

    /// Known peers and their addresses.
    pub fn peers(&self) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        let txn = self.begin_read()?;
        let t = txn.open_table(PEERS).map_err(dberr)?;
        let mut out = Vec::new();
        for r in t.iter().map_err(dberr)? {
            let (k, v) = r.map_err(dberr)?;
            out.push((k.value().to_string(), postcard::from_bytes(v.value()).unwrap_or_default()));
        }
        Ok(out)
    }

    /// Set the operator's trust in `org` (stored as f64 bits), or clear it with `None`.
    pub fn put_trust(&self, org: &OrgId, level: Option<f64>) -> Result<(), StoreError> {
        let txn = self.write()?;
        {
            let mut t = txn.open_table(TRUST).map_err(dberr)?;
            match level {
                Some(l) => {
                    t.insert(org.as_bytes().as_slice(), l.to_bits()).map_err(dberr)?;
                }
                None => {
                    t.remove(org.as_bytes().as_slice()).map_err(dberr)?;
                }
            }
        }
        txn.commit().map_err(dberr)
    }

    /// The operator's trust levels.
    pub fn trust_levels(&self) -> Result<Vec<(OrgId, f64)>, StoreError> {
        let txn = self.begin_read()?;
        let t = txn.open_table(TRUST).map_err(dberr)?;
        let mut out = Vec::new();
        for r in t.iter().map_err(dberr)? {
            let (k, v) = r.map_err(dberr)?;
            let org = OrgId(k.value().try_into().map_err(|_| StoreError::Corrupt("trust key".into()))?);
            out.push((org, f64::from_bits(v.value())));
        }
        Ok(out)
    }
}

/// An item as schema 1 stored it.
#[derive(Deserialize)]
struct StoredItemV1 {
    #[serde(with = "trellis_proto::codec::bytes")]
    bytes: Vec<u8>,
    received_ms: u64,
    #[serde(with = "trellis_proto::codec::bytes::option")]
    payload: Option<Vec<u8>>,
    content_key: Option<[u8; 32]>,
}

/// Items rewritten per step of the migration (bounds the memory it holds at once).
const MIGRATION_CHUNK: usize = 1024;

/// Rewrite every schema-1 item in the schema-2 form, in the caller's transaction: the payload
/// copy is dropped and the key that opens the body is kept instead (a GREEN item's epoch key is
/// found in its group's record by trying each; a sealed item's content key was stored). An item
/// whose key is not found keeps its payload ([`Readable::Payload`]), so nothing readable before
/// becomes unreadable. Returns how many items were rewritten.
fn migrate_items_v1(txn: &redb::WriteTransaction) -> Result<u64, StoreError> {
    let group_keys: std::collections::HashMap<GroupId, Vec<[u8; 32]>> = {
        let groups = txn.open_table(GROUPS).map_err(dberr)?;
        let mut out = std::collections::HashMap::new();
        for r in groups.iter().map_err(dberr)? {
            let (k, v) = r.map_err(dberr)?;
            let id = GroupId(k.value().try_into().map_err(|_| StoreError::Corrupt("group id length".into()))?);
            let rec: GroupRecord = postcard::from_bytes(v.value()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            out.insert(id, rec.epoch_keys.into_iter().map(|(_, key)| key).collect());
        }
        out
    };
    let mut items = txn.open_table(ITEMS).map_err(dberr)?;
    let total = items.len().map_err(dberr)?;
    if total > 0 {
        tracing::info!(items = total, "migrating the store to schema 2 (each item stored once)");
    }
    let (mut done, mut kept_payload) = (0u64, 0u64);
    let mut after: Option<Vec<u8>> = None;
    loop {
        let mut chunk = Vec::with_capacity(MIGRATION_CHUNK);
        {
            let range = match &after {
                Some(k) => items.range::<&[u8]>((std::ops::Bound::Excluded(k.as_slice()), std::ops::Bound::Unbounded)),
                None => items.range::<&[u8]>(..),
            }
            .map_err(dberr)?;
            for r in range.take(MIGRATION_CHUNK) {
                let (k, v) = r.map_err(dberr)?;
                let old: StoredItemV1 =
                    postcard::from_bytes(v.value()).map_err(|e| StoreError::Corrupt(format!("schema-1 item: {e}")))?;
                chunk.push((k.value().to_vec(), old));
            }
        }
        let Some((last, _)) = chunk.last() else { break };
        after = Some(last.clone());
        for (k, old) in chunk {
            let readable = readable_v1(&old, &group_keys);
            kept_payload += matches!(readable, Readable::Payload(_)) as u64;
            let item = StoredItem { bytes: old.bytes, received_ms: old.received_ms, readable };
            let enc = postcard::to_allocvec(&item).map_err(dberr)?;
            items.insert(k.as_slice(), enc.as_slice()).map_err(dberr)?;
            done += 1;
        }
        if done % (16 * MIGRATION_CHUNK as u64) == 0 {
            tracing::info!(done, total, "migrating the store");
        }
    }
    if kept_payload > 0 {
        tracing::warn!(items = kept_payload, "no key found for some readable items: their payload is kept as it was");
    }
    if total > 0 {
        tracing::info!(items = done, "store migrated to schema 2");
    }
    Ok(done)
}

/// How a schema-1 item reads in schema 2.
fn readable_v1(old: &StoredItemV1, group_keys: &std::collections::HashMap<GroupId, Vec<[u8; 32]>>) -> Readable {
    let Some(payload) = &old.payload else { return Readable::No };
    let Ok(env) = Envelope::decode(&old.bytes) else { return Readable::Payload(payload.clone()) };
    let candidates: Vec<BodyKey> = match &env.body {
        trellis_proto::Body::Clear(_) => return Readable::Clear,
        trellis_proto::Body::Group { .. } => {
            group_keys.get(&env.header.group).into_iter().flatten().map(|k| BodyKey::Epoch(*k)).collect()
        }
        trellis_proto::Body::Sealed { .. } => old.content_key.map(BodyKey::Content).into_iter().collect(),
    };
    // The key must give back the very payload that was stored.
    let want: Option<Payload> = trellis_proto::codec::decode(payload, trellis_proto::limits::MAX_PAYLOAD_BYTES).ok();
    candidates
        .into_iter()
        .find(|k| want.is_some() && env.reopen(Some(k)).ok() == want)
        .map_or_else(|| Readable::Payload(payload.clone()), Readable::Key)
}

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use trellis_proto::envelope::{EnvelopeRandomness, PublishRequest, Recipients};
    use trellis_proto::group::GroupKind;
    use trellis_proto::{OrgKeys, Tlp};

    use super::*;

    /// The schema-1 layout, as the previous build wrote it.
    #[derive(Serialize)]
    struct V1<'a> {
        #[serde(with = "trellis_proto::codec::bytes")]
        bytes: Vec<u8>,
        received_ms: u64,
        #[serde(with = "trellis_proto::codec::bytes::option")]
        payload: Option<Vec<u8>>,
        content_key: Option<&'a [u8; 32]>,
    }

    fn advisory(title: &str) -> Payload {
        Payload::Advisory(trellis_proto::items::Advisory::text(title, "migrated", 1))
    }

    /// A schema-1 store is rewritten at open without losing anything this node could read: GREEN
    /// items get their epoch key from the group record, sealed items keep their content key, CLEAR
    /// items need none, an unreadable item stays unreadable, and a readable item whose key is
    /// nowhere keeps its payload.
    #[test]
    fn schema_1_store_is_migrated() {
        let me = OrgKeys::from_seeds([1; 32], [2; 32]);
        let (k0, lost_key) = ([42u8; 32], [43u8; 32]);
        let genesis = SignedGenesis::create(&me, "water", GroupKind::Sector, 5, [1; 16], &k0, [3; 32]).unwrap();
        let gid = genesis.group_id();
        let to = [(me.org_id(), me.encryption().public())];
        let build = |seq: u64, tlp: Tlp, recipients: Recipients| {
            let payload = advisory(&format!("item {seq}"));
            let req =
                PublishRequest { group: gid, epoch: 0, seq, timestamp_ms: 10, tlp, payload: &payload, recipients };
            let rand =
                EnvelopeRandomness { nonce: [seq as u8; 24], content_key: [seq as u8 + 100; 32], hpke_seed: [9; 32] };
            (Envelope::build(&me, &req, &rand).unwrap(), payload, rand.content_key)
        };
        let green = build(1, Tlp::Green, Recipients::Group { epoch_key: &k0 });
        let amber = build(2, Tlp::Amber, Recipients::Sealed { to: &to });
        let clear = build(3, Tlp::Clear, Recipients::Clear);
        let unread = build(4, Tlp::Green, Recipients::Group { epoch_key: &lost_key });
        let orphan = build(5, Tlp::Green, Recipients::Group { epoch_key: &lost_key });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut meta = txn.open_table(META).unwrap();
                meta.insert("schema", 1u32.to_be_bytes().as_slice()).unwrap();
                let mut groups = txn.open_table(GROUPS).unwrap();
                let rec = GroupRecord { genesis, joined_ms: 5, epoch_keys: vec![([2; 16], k0)] };
                groups.insert(gid.as_bytes().as_slice(), postcard::to_allocvec(&rec).unwrap().as_slice()).unwrap();
                let mut items = txn.open_table(ITEMS).unwrap();
                let rows = [
                    (&green, true, None),
                    (&amber, true, Some(&amber.2)),
                    (&clear, true, None),
                    (&unread, false, None),
                    (&orphan, true, None),
                ];
                for ((env, payload, _), readable, content_key) in rows {
                    let v1 = V1 {
                        bytes: env.bytes.clone(),
                        received_ms: 77,
                        payload: readable.then(|| trellis_proto::codec::encode(payload)),
                        content_key,
                    };
                    items.insert(env.id.as_bytes().as_slice(), postcard::to_allocvec(&v1).unwrap().as_slice()).unwrap();
                }
            }
            txn.commit().unwrap();
        }
        let store = Store::open(&path).unwrap();
        let get = |env: &Envelope| store.get_item(&env.id).unwrap().unwrap();
        assert!(matches!(get(&green.0).readable, Readable::Key(BodyKey::Epoch(k)) if k == k0));
        assert!(matches!(get(&amber.0).readable, Readable::Key(BodyKey::Content(k)) if k == amber.2));
        assert!(matches!(get(&clear.0).readable, Readable::Clear));
        assert!(matches!(get(&unread.0).readable, Readable::No));
        assert!(matches!(get(&orphan.0).readable, Readable::Payload(_)));
        for (env, payload, _) in [&green, &amber, &clear, &orphan] {
            let item = get(env);
            assert_eq!(item.received_ms, 77);
            assert_eq!(item.bytes, env.bytes);
            assert_eq!(item.open().map(|(_, p)| p).as_ref(), Some(payload));
        }
        assert!(get(&unread.0).open().is_none());
        store.close();
        drop(store);
        // Opened again: schema 2 now, nothing rewritten a second time.
        let store = Store::open(&path).unwrap();
        assert!(matches!(store.get_item(&green.0.id).unwrap().unwrap().readable, Readable::Key(_)));
        let txn = store.begin_read().unwrap();
        let meta = txn.open_table(META).unwrap();
        assert_eq!(meta.get("schema").unwrap().unwrap().value(), SCHEMA_VERSION.to_be_bytes().as_slice());
    }

    /// Relaxed rows (received items) are visible at once, are made durable by the next durable
    /// transaction within the window or by `flush`, and survive a close and reopen; a caller that
    /// needs its rows on disk makes the whole shared transaction durable.
    #[test]
    fn relaxed_rows_are_made_durable_by_flush_and_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let store = Store::open(&path).unwrap();
        let (group, sender) = (GroupId([7; 32]), OrgId([8; 32]));
        let item = |n: u8| StoredItem { bytes: vec![n; 64], received_ms: n as u64, readable: Readable::No };
        let insert = |n: u8, d: Durability| {
            let it = item(n);
            store.insert_items_with(&[(group, Kind::Advisory, sender, n as u64, ItemId([n; 32]), &it)], d).unwrap()
        };
        let pending = |s: &Store| s.commits.queue.lock().unwrap().pending;
        // The first transaction is durable (no durable one yet), the second, within the window,
        // is relaxed: committed and readable, not yet on disk.
        assert_eq!(insert(1, Durability::Soon), vec![Inserted::New]);
        assert!(!pending(&store));
        assert_eq!(insert(2, Durability::Soon), vec![Inserted::New]);
        assert!(pending(&store), "a relaxed transaction waits for the next durable one");
        assert!(store.get_item(&ItemId([2; 32])).unwrap().is_some(), "relaxed rows are visible at once");
        store.flush_due().unwrap();
        assert!(pending(&store), "not due within the window");
        std::thread::sleep(RELAXED_WINDOW);
        store.flush_due().unwrap();
        assert!(!pending(&store), "due once the window has passed");
        // That durable transaction starts a new window: the next relaxed one waits again.
        assert_eq!(insert(6, Durability::Soon), vec![Inserted::New]);
        assert!(pending(&store));
        std::thread::sleep(RELAXED_WINDOW);
        assert_eq!(insert(7, Durability::Soon), vec![Inserted::New]);
        assert!(!pending(&store), "the first transaction after a window has passed is durable");
        store.flush().unwrap();
        assert!(!pending(&store), "flush makes it durable");
        store.flush().unwrap();
        // A replay of a relaxed row is still judged against it.
        assert_eq!(insert(2, Durability::Soon), vec![Inserted::Duplicate]);
        assert_eq!(insert(3, Durability::Soon), vec![Inserted::New]);
        assert!(pending(&store));
        // A caller needing its rows on disk makes the shared transaction durable, and the
        // relaxed ones before it with it.
        assert_eq!(insert(4, Durability::Now), vec![Inserted::New]);
        assert!(!pending(&store));
        assert_eq!(insert(5, Durability::Soon), vec![Inserted::New]);
        assert!(pending(&store));
        store.close();
        drop(store);
        let again = Store::open(&path).unwrap();
        for n in 1..=7u8 {
            assert!(again.get_item(&ItemId([n; 32])).unwrap().is_some(), "item {n} after reopening");
        }
    }
}
