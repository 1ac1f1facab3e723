//! The identity backup: `trellis keys export` (made here, by the running node, which holds the
//! keys) and the daemon's half of `trellis keys import`: applying the `restore.pending` the CLI
//! left in the home to the store when the node starts. The format, its checks and the CLI's
//! half are in `trellis_home::backup` (docs/ARCHITECTURE.md "Restoring a backup").

use std::path::Path;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::engine::{ActionError, Engine};
use crate::home;
use crate::keyfile::{self, Kdf, Passphrase, Purpose};
use crate::store::{GroupRecord, Store};
pub use trellis_api::types::{ExportKeysReply, ExportKeysRequest};
pub use trellis_home::backup::{
    Backup, BackupGroup, MAX_BACKUP_BYTES, MAX_GROUPS, MAX_PEERS, PendingRestore, RestoreError, Restored, restore,
};
use trellis_proto::OrgId;

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
        let plain = backup.encode().map_err(ActionError::Internal)?;
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

/// Apply the restore `trellis keys import` left in `home` ([`PendingRestore`]) to `store`, before
/// the engine loads it: the groups (with their epoch keys), the sequence floors and the peers in
/// one transaction, then `restore.pending` is deleted. A file that fails its checks, is for
/// another organization, or names a store that holds a group the backup does not, stops the
/// node with the reason and changes nothing. Returns how many groups were restored.
pub fn apply_pending_restore(home: &Path, org: OrgId, store: &Store) -> anyhow::Result<usize> {
    let Some(pending) = PendingRestore::read(home, Some(org))? else {
        return Ok(0);
    };
    let held = store.groups()?;
    let mut groups = Vec::with_capacity(pending.groups.len());
    for g in &pending.groups {
        let id = g.genesis.group_id();
        let mut epoch_keys = g.epoch_keys.clone();
        // Applied a second time after a crash before the file was deleted: keep what is there.
        if let Some((_, rec)) = held.iter().find(|(h, _)| *h == id) {
            for k in &rec.epoch_keys {
                if !epoch_keys.iter().any(|(i, _)| *i == k.0) {
                    epoch_keys.push(*k);
                }
            }
        }
        groups.push((
            id,
            GroupRecord { genesis: g.genesis.clone(), joined_ms: g.joined_ms, epoch_keys },
            g.my_last_seq,
        ));
    }
    if let Some((id, rec)) = held.iter().find(|(id, _)| !groups.iter().any(|(g, _, _)| g == id)) {
        anyhow::bail!(
            "{} was not applied: this node's store already holds group {:?} ({}), which the backup does not. A backup \
             restores into an empty home only: move {} away, or restore into a new home with `trellis --home DIR keys \
             import`",
            home.join(home::PENDING_RESTORE_FILE).display(),
            rec.genesis.genesis.name,
            id.to_text(),
            home.join(home::STORE_FILE).display()
        );
    }
    // Only addresses this node can dial are kept.
    let peers: Vec<(String, Vec<String>)> = pending
        .peers
        .iter()
        .map(|(p, addrs)| {
            (p.clone(), addrs.iter().filter(|a| a.parse::<libp2p::Multiaddr>().is_ok()).cloned().collect())
        })
        .filter(|(_, a): &(String, Vec<String>)| !a.is_empty())
        .collect();
    store.put_restore(&groups, &peers)?;
    PendingRestore::remove(home)?;
    tracing::info!(
        groups = groups.len(),
        peers = peers.len(),
        made_ms = pending.made_ms,
        "applied the restored backup (restore.pending) to the store"
    );
    Ok(groups.len())
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
