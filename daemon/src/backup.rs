//! The identity backup: `trellis keys export` and `trellis keys import` (README "Protecting and
//! backing up the organization's key").
//!
//! A backup is a sealed file ([`crate::keyfile`], purpose "backup") whose plaintext is a
//! [`Backup`]: the identity (signing key, current and previous encryption keys, name), whether
//! the identity key was protected, and what a fresh node needs to rejoin: each group's signed
//! genesis with the epoch keys the node held, the highest sequence number this org had used in
//! each group, and the addresses of known peers. The history itself is not in the backup: a
//! restored node dials its peers, and catch-up sync (PROTOCOL.md §9) brings back the group logs
//! and items, exactly as it does for a node that was offline.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use trellis_proto::group::{SignedGenesis, epoch_key_id};
use trellis_proto::{GroupId, OrgId};
use zeroize::Zeroizing;

use crate::engine::{ActionError, Engine};
use crate::home::{self, HomeError, Identity};
use crate::keyfile::{self, Kdf, Passphrase, Purpose, SealError};
use crate::store::{GroupRecord, Store};
pub use trellis_api::types::{ExportKeysReply, ExportKeysRequest};

/// Largest backup file read: 16 MiB (a backup holds one genesis and a few keys per group, and
/// peer addresses: a few KiB for a node in dozens of groups).
pub const MAX_BACKUP_BYTES: usize = 16 * 1024 * 1024;
/// Most groups one backup restores.
pub const MAX_GROUPS: usize = 10_000;
/// Most peers one backup restores, and addresses per peer.
pub const MAX_PEERS: usize = 4096;
const MAX_PEER_ADDRS: usize = 16;
/// Most epoch keys per group in a backup.
const MAX_EPOCH_KEYS: usize = 4096;

#[derive(Serialize, Deserialize)]
struct Backup {
    version: u8,
    made_ms: u64,
    /// The identity file's encoding (home.rs `IdentityFile`).
    #[serde(with = "trellis_proto::codec::bytes")]
    identity: Vec<u8>,
    /// Whether `identity.key` was protected when the backup was made: a restore protects it
    /// again, with the backup's passphrase.
    protected: bool,
    groups: Vec<BackupGroup>,
    peers: Vec<(String, Vec<String>)>,
}

impl Drop for Backup {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.identity);
        for g in &mut self.groups {
            for (_, k) in &mut g.epoch_keys {
                zeroize::Zeroize::zeroize(k);
            }
        }
    }
}

#[derive(Serialize, Deserialize)]
struct BackupGroup {
    genesis: SignedGenesis,
    joined_ms: u64,
    epoch_keys: Vec<([u8; 16], [u8; 32])>,
    /// The highest sequence number this org had used in the group (0: none).
    my_last_seq: u64,
}

/// What a restore did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Restored {
    pub org: String,
    pub fingerprint: String,
    pub name: String,
    /// Names of the groups the node will rejoin when it starts.
    pub groups: Vec<String>,
    pub peers: usize,
    /// Whether `identity.key` was written sealed with the backup's passphrase.
    pub protected: bool,
    pub made_ms: u64,
}

impl Engine {
    /// Make a backup of this org's identity and groups, sealed with `passphrase`.
    pub async fn export_backup(self: &Arc<Self>, passphrase: Passphrase) -> Result<Vec<u8>, ActionError> {
        let me = self.me();
        let (identity, protected) = self.identity().with_identity(|ident| (ident.encode_secret(), ident.protected()));
        let records: Vec<GroupRecord> = self.groups().read(|g| g.values().map(|g| g.record()).collect());
        let mut groups = Vec::with_capacity(records.len());
        for rec in records {
            let gid = rec.genesis.group_id();
            let my_last_seq = self
                .store()
                .seq_ranges(&gid)?
                .into_iter()
                .find(|(o, _)| *o == me)
                .and_then(|(_, r)| r.last().map(|(_, last)| *last))
                .unwrap_or(0);
            groups.push(BackupGroup {
                genesis: rec.genesis.clone(),
                joined_ms: rec.joined_ms,
                epoch_keys: rec.epoch_keys.clone(),
                my_last_seq,
            });
        }
        let mut peers = self.store().peers()?;
        peers.truncate(MAX_PEERS);
        let backup =
            Backup { version: 1, made_ms: home::now_ms(), identity: identity.to_vec(), protected, groups, peers };
        let plain = Zeroizing::new(postcard::to_allocvec(&backup).map_err(|e| ActionError::Internal(e.to_string()))?);
        drop(backup);
        if plain.len() + 1024 > MAX_BACKUP_BYTES {
            return Err(ActionError::Internal("the backup would exceed its size bound".into()));
        }
        // argon2id takes a few hundred milliseconds and 64 MiB: off the async workers.
        tokio::task::spawn_blocking(move || {
            let key = Kdf::fresh().derive(&passphrase).map_err(|e| ActionError::BadRequest(e.to_string()))?;
            Ok(keyfile::seal(Purpose::Backup, me.0, &key, &plain))
        })
        .await
        .map_err(|e| ActionError::Internal(e.to_string()))?
    }
}

/// Errors of a restore.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error("{path}: {source}")]
    Seal { path: String, source: SealError },
    #[error("{0}")]
    Refused(String),
    #[error("the store: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// Restore the backup at `file` into `home`, which must hold no identity and no other group.
/// Checks everything before writing anything; writes the groups, peers and sequence floors
/// into the store, then the identity (last: a failure before it leaves a home a retry accepts).
pub fn restore(home: &Path, file: &Path, passphrase: &Passphrase) -> Result<Restored, RestoreError> {
    let seal = |source: SealError| RestoreError::Seal { path: file.display().to_string(), source };
    let bytes = read_bounded(file).map_err(|e| RestoreError::Refused(format!("{}: {e}", file.display())))?;
    let opened = keyfile::Opened::parse(&bytes, Purpose::Backup, MAX_BACKUP_BYTES).map_err(seal)?;
    home::ensure_home(home)?;
    // No daemon may run on the home while it is written.
    let _lock = home::lock_home(home)?;
    if Identity::exists(home) {
        return Err(HomeError::IdentityExists {
            home: home.display().to_string(),
            fingerprint: Identity::org_of(home)?.fingerprint(),
        }
        .into());
    }
    let (plain, _) = opened.open(passphrase).map_err(seal)?;
    let damaged = |why: String| RestoreError::Refused(format!("{}: the backup is damaged: {why}", file.display()));
    let backup: Backup = trellis_proto::codec::decode(&plain, MAX_BACKUP_BYTES).map_err(|e| damaged(e.to_string()))?;
    drop(plain);
    if backup.version != 1 {
        return Err(damaged(format!("unknown backup version {}", backup.version)));
    }
    let mut identity = Identity::decode_secret(&backup.identity).map_err(damaged)?;
    let org: OrgId = identity.keys.org_id();
    if org.0 != opened.org() {
        return Err(damaged("the organization id in clear differs from the sealed identity".into()));
    }
    if backup.groups.len() > MAX_GROUPS || backup.peers.len() > MAX_PEERS {
        return Err(damaged(format!("more than {MAX_GROUPS} groups or {MAX_PEERS} peers")));
    }
    let mut groups: Vec<(GroupId, GroupRecord, u64)> = Vec::with_capacity(backup.groups.len());
    for g in &backup.groups {
        g.genesis.verify().map_err(|e| damaged(format!("a group's genesis does not verify: {e}")))?;
        if g.epoch_keys.len() > MAX_EPOCH_KEYS {
            return Err(damaged(format!("more than {MAX_EPOCH_KEYS} epoch keys in one group")));
        }
        // A key is kept under an id only if it is the key that id names (PROTOCOL.md §6.2).
        let epoch_keys: Vec<([u8; 16], [u8; 32])> =
            g.epoch_keys.iter().filter(|(id, k)| epoch_key_id(k) == *id).copied().collect();
        let rec = GroupRecord { genesis: g.genesis.clone(), joined_ms: g.joined_ms, epoch_keys };
        groups.push((g.genesis.group_id(), rec, g.my_last_seq));
    }
    let peers: Vec<(String, Vec<String>)> = backup
        .peers
        .iter()
        .filter(|(p, _)| p.len() <= 1024)
        .map(|(p, addrs)| {
            let good: Vec<String> = addrs
                .iter()
                .filter(|a| a.len() <= 1024 && a.parse::<libp2p::Multiaddr>().is_ok())
                .take(MAX_PEER_ADDRS)
                .cloned()
                .collect();
            (p.clone(), good)
        })
        .filter(|(_, a)| !a.is_empty())
        .collect();

    let store = Store::open(&home.join(home::STORE_FILE))?;
    let held = store.groups()?;
    if let Some((id, rec)) = held.iter().find(|(id, _)| !groups.iter().any(|(g, _, _)| g == id)) {
        return Err(RestoreError::Refused(format!(
            "{} is not a fresh home: its store holds group {:?} ({}), which the backup does not; restore into an empty \
             home (--home DIR) instead",
            home.display(),
            rec.genesis.genesis.name,
            id.to_text()
        )));
    }
    // Derive the identity file's key before writing anything: a restore that cannot protect
    // the identity as it was protected writes nothing.
    let protection = if backup.protected { Some(Kdf::fresh().derive(passphrase).map_err(seal)?) } else { None };
    for (id, rec, last) in &groups {
        store.put_group(id, rec)?;
        if *last > 0 {
            store.put_seq_floor(id, *last)?;
        }
    }
    for (p, addrs) in &peers {
        store.put_peer(p, addrs)?;
    }
    store.close();
    identity.set_protection(protection);
    identity.save(home)?;
    Ok(Restored {
        org: org.to_text(),
        fingerprint: org.fingerprint(),
        name: identity.name.clone(),
        groups: groups.iter().map(|(_, r, _)| r.genesis.genesis.name.clone()).collect(),
        peers: peers.len(),
        protected: identity.protected(),
        made_ms: backup.made_ms,
    })
}

fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    std::fs::File::open(path)?.take(MAX_BACKUP_BYTES as u64 + 1).read_to_end(&mut out)?;
    Ok(out)
}

/// Answer `POST /v1/keys/export`.
pub async fn export_route(engine: &Arc<Engine>, req: &ExportKeysRequest) -> Result<ExportKeysReply, ActionError> {
    let raw = Zeroizing::new(
        data_encoding::BASE64
            .decode(req.passphrase_b64.as_bytes())
            .map_err(|e| ActionError::BadRequest(format!("passphrase_b64: {e}")))?,
    );
    let pass = Passphrase::new(raw.to_vec()).map_err(|e| ActionError::BadRequest(e.to_string()))?;
    let groups = engine.group_ids().len();
    let bytes = engine.export_backup(pass).await?;
    let me = engine.me();
    Ok(ExportKeysReply {
        backup_b64: data_encoding::BASE64.encode(&bytes),
        org: me.to_text(),
        fingerprint: me.fingerprint(),
        groups,
    })
}
