//! The identity backup (`trellis keys export` and `trellis keys import`, README "Protecting and
//! backing up the organization's key") and the restore `trellis keys import` leaves for
//! `trellisd` to apply.
//!
//! A backup is a sealed file ([`crate::keyfile`], purpose "backup") whose plaintext is a
//! [`Backup`]: the identity (signing key, current and previous encryption keys, name), whether
//! the identity key was protected, and what a fresh node needs to rejoin: each group's signed
//! genesis with the epoch keys the node held, the highest sequence number this org had used in
//! each group, and the addresses of known peers. The history itself is not in the backup: a
//! restored node dials its peers, and catch-up sync (PROTOCOL.md §9) brings back the group logs
//! and items, exactly as it does for a node that was offline.
//!
//! A restore happens in two steps (docs/ARCHITECTURE.md "Restoring a backup"), so that the CLI
//! never opens the node's store:
//!
//! 1. [`restore`] (`trellis keys import`, the home locked, no node running) checks everything in
//!    the backup, writes the groups, sequence floors and peers to `restore.pending`
//!    ([`PENDING_RESTORE_FILE`], mode 0600), and only then writes `identity.key`.
//! 2. `trellisd`, when it starts on a home with `restore.pending`, reads it with
//!    [`PendingRestore::read`] (which checks it again: the file is input like any other), writes
//!    it into its store in one transaction, and then deletes it ([`PendingRestore::remove`]).
//!
//! A crash after step 1's first write leaves `restore.pending` without `identity.key`: no new
//! identity is created on such a home (`Identity::create` refuses, so the node does not start)
//! and a second import replaces the file. A crash after the store's commit and before the file is deleted applies
//! the same records again on the next start, which changes nothing.

use std::path::Path;

use serde::{Deserialize, Serialize};
use trellis_proto::OrgId;
use trellis_proto::group::{SignedGenesis, epoch_key_id};
use zeroize::{Zeroize, Zeroizing};

use crate::home::{self, HomeError, Identity, PENDING_RESTORE_FILE, STORE_FILE};
use crate::keyfile::{self, Kdf, Passphrase, Purpose, SealError};

/// Largest backup file read: 16 MiB (a backup holds one genesis and a few keys per group, and
/// peer addresses: a few KiB for a node in dozens of groups).
pub const MAX_BACKUP_BYTES: usize = 16 * 1024 * 1024;
/// Most groups one backup restores.
pub const MAX_GROUPS: usize = 10_000;
/// Most peers one backup restores.
pub const MAX_PEERS: usize = 4096;
/// Most addresses kept per peer.
pub const MAX_PEER_ADDRS: usize = 16;
/// Longest peer id or address kept, in bytes.
pub const MAX_PEER_TEXT: usize = 1024;
/// Most epoch keys per group in a backup.
pub const MAX_EPOCH_KEYS: usize = 4096;

/// The first 8 bytes of `restore.pending` (the last byte is the format's version).
pub const PENDING_MAGIC: [u8; 8] = *b"TRLREST1";

/// The plaintext of a backup.
#[derive(Serialize, Deserialize)]
pub struct Backup {
    pub version: u8,
    pub made_ms: u64,
    /// The identity's encoding ([`Identity::encode_secret`]).
    #[serde(with = "trellis_proto::codec::bytes")]
    pub identity: Vec<u8>,
    /// Whether `identity.key` was protected when the backup was made: a restore protects it
    /// again, with the backup's passphrase.
    pub protected: bool,
    pub groups: Vec<BackupGroup>,
    pub peers: Vec<(String, Vec<String>)>,
}

impl Drop for Backup {
    fn drop(&mut self) {
        self.identity.zeroize();
    }
}

impl Backup {
    /// The encoding, in a buffer that is zeroized when dropped.
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>, String> {
        postcard::to_allocvec(self).map(Zeroizing::new).map_err(|e| e.to_string())
    }
}

/// One group in a backup.
#[derive(Clone, Serialize, Deserialize)]
pub struct BackupGroup {
    pub genesis: SignedGenesis,
    pub joined_ms: u64,
    /// Epoch keys the node held: key id → key.
    pub epoch_keys: Vec<([u8; 16], [u8; 32])>,
    /// The highest sequence number this org had used in the group (0: none).
    pub my_last_seq: u64,
}

impl Drop for BackupGroup {
    fn drop(&mut self) {
        for (_, k) in &mut self.epoch_keys {
            k.zeroize();
        }
    }
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

/// Errors of a restore.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error("{path}: {source}")]
    Seal { path: String, source: SealError },
    #[error("{0}")]
    Refused(String),
}

/// A peer id and its addresses.
pub type PeerAddrs = (String, Vec<String>);

/// Check a backup's groups and peers: every genesis verifies, bounds hold, an epoch key is kept
/// only under the id that names it (PROTOCOL.md §6.2), and only bounded peer texts are kept
/// (peers left without an address are dropped). `why` errors say what is wrong.
fn checked(groups: &[BackupGroup], peers: &[PeerAddrs]) -> Result<(Vec<BackupGroup>, Vec<PeerAddrs>), String> {
    if groups.len() > MAX_GROUPS || peers.len() > MAX_PEERS {
        return Err(format!("more than {MAX_GROUPS} groups or {MAX_PEERS} peers"));
    }
    let mut out: Vec<BackupGroup> = Vec::with_capacity(groups.len());
    for g in groups {
        g.genesis.verify().map_err(|e| format!("a group's genesis does not verify: {e}"))?;
        if g.epoch_keys.len() > MAX_EPOCH_KEYS {
            return Err(format!("more than {MAX_EPOCH_KEYS} epoch keys in one group"));
        }
        let id = g.genesis.group_id();
        if out.iter().any(|o| o.genesis.group_id() == id) {
            return Err(format!("group {} appears twice", id.to_text()));
        }
        let epoch_keys = g.epoch_keys.iter().filter(|(id, k)| epoch_key_id(k) == *id).copied().collect();
        out.push(BackupGroup {
            genesis: g.genesis.clone(),
            joined_ms: g.joined_ms,
            epoch_keys,
            my_last_seq: g.my_last_seq,
        });
    }
    let peers = peers
        .iter()
        .filter(|(p, _)| !p.is_empty() && p.len() <= MAX_PEER_TEXT)
        .map(|(p, addrs)| {
            let good: Vec<String> = addrs
                .iter()
                .filter(|a| a.starts_with('/') && a.len() <= MAX_PEER_TEXT)
                .take(MAX_PEER_ADDRS)
                .cloned()
                .collect();
            (p.clone(), good)
        })
        .filter(|(_, a)| !a.is_empty())
        .collect();
    Ok((out, peers))
}

/// Restore the backup at `file` into `home`, which must be fresh: no identity and no store. Takes
/// the home's lock (no `trellisd` may run on it), checks everything before writing anything,
/// writes `restore.pending` for `trellisd` to apply to its store on its next start, then the
/// identity (last: a failure before it leaves a home a retry accepts).
pub fn restore(home: &Path, file: &Path, passphrase: &Passphrase) -> Result<Restored, RestoreError> {
    let seal = |source: SealError| RestoreError::Seal { path: file.display().to_string(), source };
    let bytes =
        read_bounded(file, MAX_BACKUP_BYTES).map_err(|e| RestoreError::Refused(format!("{}: {e}", file.display())))?;
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
    if home.join(STORE_FILE).exists() {
        return Err(RestoreError::Refused(format!(
            "{} is not a fresh home: it has a store ({STORE_FILE}) of an earlier node; restore into an empty home \
             (--home DIR) instead. Nothing was changed",
            home.display()
        )));
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
    let (groups, peers) = checked(&backup.groups, &backup.peers).map_err(damaged)?;
    // Derive the identity file's key before writing anything: a restore that cannot protect
    // the identity as it was protected writes nothing.
    let protection = if backup.protected { Some(Kdf::fresh().derive(passphrase).map_err(seal)?) } else { None };
    let pending = PendingFile { version: 1, org: org.0, made_ms: backup.made_ms, groups, peers };
    let mut encoded = PENDING_MAGIC.to_vec();
    encoded.extend_from_slice(
        &postcard::to_allocvec(&pending).map_err(|e| RestoreError::Refused(format!("encoding the restore: {e}")))?,
    );
    let encoded = Zeroizing::new(encoded);
    home::write_secret_file(&home.join(PENDING_RESTORE_FILE), &encoded)?;
    identity.set_protection(protection);
    identity.save(home)?;
    Ok(Restored {
        org: org.to_text(),
        fingerprint: org.fingerprint(),
        name: identity.name.clone(),
        groups: pending.groups.iter().map(|g| g.genesis.genesis.name.clone()).collect(),
        peers: pending.peers.len(),
        protected: identity.protected(),
        made_ms: backup.made_ms,
    })
}

/// The file `restore.pending`: [`PENDING_MAGIC`] || postcard of this.
#[derive(Serialize, Deserialize)]
struct PendingFile {
    version: u8,
    /// The organization the restore is for: it must be the identity of the home.
    org: [u8; 32],
    made_ms: u64,
    groups: Vec<BackupGroup>,
    peers: Vec<(String, Vec<String>)>,
}

/// A restore `trellis keys import` prepared, checked, for `trellisd` to write into its store.
pub struct PendingRestore {
    /// When the backup was made.
    pub made_ms: u64,
    /// The groups to rejoin, each genesis verified and each epoch key under the id that names it.
    pub groups: Vec<BackupGroup>,
    /// Known peers and their addresses (bounded texts; the node parses them before dialing).
    pub peers: Vec<(String, Vec<String>)>,
}

impl PendingRestore {
    /// Read and check `home`'s `restore.pending`, if there is one, for the identity `org` (`None`
    /// when the home has no identity yet). A file without an identity, for another
    /// organization, or damaged is an error that says what to do; nothing is changed.
    pub fn read(home: &Path, org: Option<OrgId>) -> Result<Option<PendingRestore>, RestoreError> {
        let path = home.join(PENDING_RESTORE_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let shown = path.display().to_string();
        let Some(org) = org else {
            return Err(RestoreError::Refused(format!(
                "{shown} is a restore that `trellis keys import` left unfinished (the home has no identity.key): run \
                 the import again, which replaces it, or delete {shown} to start a new organization here"
            )));
        };
        let bytes = Zeroizing::new(home::read_secret_file_max(&path, MAX_BACKUP_BYTES)?);
        let damaged = |why: String| {
            RestoreError::Refused(format!(
                "{shown} is damaged ({why}); nothing was applied. Restore the backup into an empty home again with \
                 `trellis keys import`"
            ))
        };
        let rest = bytes.strip_prefix(&PENDING_MAGIC).ok_or_else(|| damaged("no TRLREST1 header".into()))?;
        let file: PendingFile =
            trellis_proto::codec::decode(rest, MAX_BACKUP_BYTES).map_err(|e| damaged(e.to_string()))?;
        if file.version != 1 {
            return Err(damaged(format!("unknown version {}", file.version)));
        }
        if file.org != org.0 {
            return Err(damaged(format!(
                "it restores organization {}, but this home's identity is {}",
                OrgId(file.org).fingerprint(),
                org.fingerprint()
            )));
        }
        let (groups, peers) = checked(&file.groups, &file.peers).map_err(damaged)?;
        Ok(Some(PendingRestore { made_ms: file.made_ms, groups, peers }))
    }

    /// Delete `home`'s `restore.pending` (once its content is committed to the store), and make
    /// the deletion durable.
    pub fn remove(home: &Path) -> Result<(), HomeError> {
        let path = home.join(PENDING_RESTORE_FILE);
        std::fs::remove_file(&path).map_err(|source| HomeError::Io { path: path.display().to_string(), source })?;
        home::sync_dir(home)
    }
}

fn read_bounded(path: &Path, max: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    std::fs::File::open(path)?.take(max as u64 + 1).read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use trellis_proto::group::GroupKind;

    use super::*;

    fn pass(s: &str) -> Passphrase {
        Passphrase::new(s.as_bytes().to_vec()).unwrap()
    }

    /// A backup of a fresh identity in one group, sealed with cheap KDF parameters, written to
    /// `dir/backup.trellis`; returns its path, the org and the group's epoch key.
    fn backup_file(dir: &Path, edit: impl FnOnce(&mut Backup)) -> (std::path::PathBuf, OrgId, [u8; 32]) {
        let source = dir.join("source");
        let identity = Identity::create(&source, "Acme Water", 1_000).unwrap();
        let key = [5u8; 32];
        let genesis =
            SignedGenesis::create(&identity.keys, "water", GroupKind::Sector, 1_000, [1; 16], &key, [2; 32]).unwrap();
        let mut backup = Backup {
            version: 1,
            made_ms: 2_000,
            identity: identity.encode_secret().to_vec(),
            protected: false,
            groups: vec![BackupGroup {
                genesis,
                joined_ms: 1_000,
                // The second key is filed under an id that does not name it: dropped.
                epoch_keys: vec![(epoch_key_id(&key), key), ([0; 16], [6; 32])],
                my_last_seq: 7,
            }],
            peers: vec![
                ("12D3KooWpeer".into(), vec!["/ip4/192.0.2.1/tcp/4001".into(), "not an address".into()]),
                ("12D3KooWother".into(), vec!["x".repeat(5000)]),
            ],
        };
        edit(&mut backup);
        let kdf = Kdf { m_kib: 64, t: 1, p: 1, salt: [3; 16] };
        let sealed = keyfile::seal(
            Purpose::Backup,
            identity.keys.org_id().0,
            &kdf.derive(&pass("backup pw")).unwrap(),
            &backup.encode().unwrap(),
        );
        let path = dir.join("backup.trellis");
        std::fs::write(&path, sealed).unwrap();
        (path, identity.keys.org_id(), key)
    }

    #[test]
    fn a_restore_leaves_a_checked_pending_file_then_the_identity() {
        let dir = tempfile::tempdir().unwrap();
        let (file, org, key) = backup_file(dir.path(), |_| {});
        let home = dir.path().join("fresh");
        let r = restore(&home, &file, &pass("backup pw")).unwrap();
        assert_eq!(
            (r.org.as_str(), r.groups.as_slice(), r.peers, r.protected),
            (org.to_text().as_str(), ["water".to_string()].as_slice(), 1, false)
        );
        assert_eq!(Identity::load(&home).unwrap().keys.org_id(), org);
        let pending = home.join(PENDING_RESTORE_FILE);
        assert_eq!(std::fs::metadata(&pending).unwrap().permissions().mode() & 0o777, 0o600);

        let p = PendingRestore::read(&home, Some(org)).unwrap().expect("a pending restore");
        assert_eq!(p.made_ms, 2_000);
        assert_eq!(p.groups.len(), 1);
        assert_eq!(p.groups[0].epoch_keys, vec![(epoch_key_id(&key), key)]);
        assert_eq!(p.groups[0].my_last_seq, 7);
        assert_eq!(p.peers, vec![("12D3KooWpeer".to_string(), vec!["/ip4/192.0.2.1/tcp/4001".to_string()])]);

        // For another organization, or with no identity at all, it is refused with the reason.
        let other = OrgId([9; 32]);
        let e = PendingRestore::read(&home, Some(other)).err().unwrap().to_string();
        assert!(e.contains("restores organization"), "{e}");
        let e = PendingRestore::read(&home, None).err().unwrap().to_string();
        assert!(e.contains("left unfinished") && e.contains("import again"), "{e}");
        // An interrupted import (the file without the identity): no new organization under it.
        let unfinished = dir.path().join("unfinished");
        home::ensure_home(&unfinished).unwrap();
        std::fs::copy(&pending, unfinished.join(PENDING_RESTORE_FILE)).unwrap();
        let e = Identity::create(&unfinished, "Other", 1).err().unwrap().to_string();
        assert!(e.contains("left unfinished"), "{e}");
        assert!(!Identity::exists(&unfinished));

        // A second import onto the restored home is refused: it has an identity now.
        let again = restore(&home, &file, &pass("backup pw")).err().unwrap().to_string();
        assert!(again.contains("already exists"), "{again}");

        PendingRestore::remove(&home).unwrap();
        assert!(PendingRestore::read(&home, Some(org)).unwrap().is_none());
    }

    #[test]
    fn refused_restores_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (file, _, _) = backup_file(dir.path(), |_| {});
        let home = dir.path().join("fresh");
        let e = restore(&home, &file, &pass("wrong")).err().unwrap().to_string();
        assert!(e.contains("wrong passphrase"), "{e}");
        assert!(!home.join(PENDING_RESTORE_FILE).exists() && !Identity::exists(&home));

        // A home with a store of an earlier node is not fresh.
        std::fs::write(home.join(STORE_FILE), b"").unwrap();
        let e = restore(&home, &file, &pass("backup pw")).err().unwrap().to_string();
        assert!(e.contains("not a fresh home"), "{e}");
        assert!(!home.join(PENDING_RESTORE_FILE).exists() && !Identity::exists(&home));

        // A group whose genesis was altered does not verify.
        let (bad, _, _) = backup_file(&dir.path().join("b"), |b| b.groups[0].genesis.genesis.name = "other".into());
        let fresh = dir.path().join("fresh2");
        let e = restore(&fresh, &bad, &pass("backup pw")).err().unwrap().to_string();
        assert!(e.contains("does not verify"), "{e}");
        assert!(!fresh.join(PENDING_RESTORE_FILE).exists() && !Identity::exists(&fresh));

        // Not a backup at all.
        let junk = dir.path().join("junk");
        std::fs::write(&junk, b"TRLSEAL1 and then nothing sensible").unwrap();
        assert!(restore(&fresh, &junk, &pass("backup pw")).is_err());
        assert!(!Identity::exists(&fresh));
    }

    #[test]
    fn a_damaged_pending_file_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let (file, org, _) = backup_file(dir.path(), |_| {});
        let home = dir.path().join("fresh");
        restore(&home, &file, &pass("backup pw")).unwrap();
        let path = home.join(PENDING_RESTORE_FILE);
        let good = std::fs::read(&path).unwrap();
        for bad in [good[..good.len() / 2].to_vec(), [good.as_slice(), b"tail"].concat(), b"TRLREST2".to_vec()] {
            home::write_secret_file(&path, &bad).unwrap();
            let e = PendingRestore::read(&home, Some(org)).err().unwrap().to_string();
            assert!(e.contains("restore.pending is damaged"), "{e}");
        }
        // Readable by others: refused before it is parsed.
        home::write_secret_file(&path, &good).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = PendingRestore::read(&home, Some(org)).err().unwrap().to_string();
        assert!(e.contains("chmod 600"), "{e}");
    }
}
