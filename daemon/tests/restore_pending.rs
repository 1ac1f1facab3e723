//! The daemon's half of `trellis keys import`: `restore.pending`, left by the CLI, is written
//! into the store in one transaction when the node starts, then deleted; applying it again
//! after a crash changes nothing; a store holding another group refuses it and keeps the file.

use std::path::{Path, PathBuf};

use trellis_daemon::backup::{Backup, BackupGroup, apply_pending_restore, restore};
use trellis_daemon::home::{Identity, PENDING_RESTORE_FILE, STORE_FILE};
use trellis_daemon::keyfile::{self, Kdf, Passphrase, Purpose};
use trellis_daemon::store::{GroupRecord, Store};
use trellis_proto::group::{GroupKind, SignedGenesis, epoch_key_id};
use trellis_proto::{GroupId, OrgId};

fn pass() -> Passphrase {
    Passphrase::new(b"backup pw".to_vec()).unwrap()
}

/// A backup (cheap KDF) of a fresh org in group "water", restored by the CLI's function into
/// `dir/home`; returns the home, the org, the group and its epoch key.
fn restored_home(dir: &Path) -> (PathBuf, OrgId, GroupId, [u8; 32]) {
    let identity = Identity::create(&dir.join("source"), "Acme Water", 1_000).unwrap();
    let key = [5u8; 32];
    let genesis =
        SignedGenesis::create(&identity.keys, "water", GroupKind::Sector, 1_000, [1; 16], &key, [2; 32]).unwrap();
    let gid = genesis.group_id();
    let backup = Backup {
        version: 1,
        made_ms: 2_000,
        identity: identity.encode_secret().to_vec(),
        protected: false,
        groups: vec![BackupGroup {
            genesis,
            joined_ms: 1_000,
            epoch_keys: vec![(epoch_key_id(&key), key)],
            my_last_seq: 41,
        }],
        peers: vec![
            ("12D3KooWpeer".into(), vec!["/ip4/192.0.2.1/tcp/4001".into(), "/not-a-protocol/1".into()]),
            ("12D3KooWgone".into(), vec!["/nope".into()]),
        ],
    };
    let kdf = Kdf { m_kib: 64, t: 1, p: 1, salt: [3; 16] };
    let sealed = keyfile::seal(
        Purpose::Backup,
        identity.keys.org_id().0,
        &kdf.derive(&pass()).unwrap(),
        &backup.encode().unwrap(),
    );
    let file = dir.join("backup.trellis");
    std::fs::write(&file, sealed).unwrap();
    let home = dir.join("home");
    restore(&home, &file, &pass()).unwrap();
    (home, identity.keys.org_id(), gid, key)
}

#[test]
fn a_pending_restore_is_applied_once_and_again_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let (home, org, gid, key) = restored_home(dir.path());
    let pending = std::fs::read(home.join(PENDING_RESTORE_FILE)).unwrap();
    let store = Store::open(&home.join(STORE_FILE)).unwrap();
    assert_eq!(apply_pending_restore(&home, org, &store).unwrap(), 1);
    assert!(!home.join(PENDING_RESTORE_FILE).exists(), "applied, the file is deleted");
    let groups = store.groups().unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].0, gid);
    assert_eq!(groups[0].1.epoch_keys, vec![(epoch_key_id(&key), key)]);
    assert_eq!(store.next_own_seq(&gid, &org).unwrap(), 42, "the node publishes above the backup's last number");
    // Only addresses the node can dial are kept; a peer left with none is dropped.
    assert_eq!(store.peers().unwrap(), vec![("12D3KooWpeer".to_string(), vec!["/ip4/192.0.2.1/tcp/4001".to_string()])]);
    // Nothing pending: nothing to do.
    assert_eq!(apply_pending_restore(&home, org, &store).unwrap(), 0);

    // A crash after the commit and before the deletion: the same file is applied again, and
    // an epoch key the store has beyond the backup's is kept.
    let later = [8u8; 32];
    let mut rec = groups[0].1.clone();
    rec.epoch_keys.push((epoch_key_id(&later), later));
    store.put_group(&gid, &rec).unwrap();
    trellis_daemon::home::write_secret_file(&home.join(PENDING_RESTORE_FILE), &pending).unwrap();
    assert_eq!(apply_pending_restore(&home, org, &store).unwrap(), 1);
    let again = store.groups().unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].1.epoch_keys.len(), 2, "the later key is kept");
    assert_eq!(store.next_own_seq(&gid, &org).unwrap(), 42);
    assert!(!home.join(PENDING_RESTORE_FILE).exists());
}

#[test]
fn a_store_with_another_group_refuses_the_restore_and_keeps_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (home, org, _, _) = restored_home(dir.path());
    let store = Store::open(&home.join(STORE_FILE)).unwrap();
    let other_founder = Identity::create(&dir.path().join("other"), "Other", 1_000).unwrap();
    let key = [7u8; 32];
    let genesis =
        SignedGenesis::create(&other_founder.keys, "elsewhere", GroupKind::Sector, 1_000, [4; 16], &key, [5; 32])
            .unwrap();
    let other = genesis.group_id();
    store.put_group(&other, &GroupRecord { genesis, joined_ms: 1, epoch_keys: vec![] }).unwrap();
    let e = apply_pending_restore(&home, org, &store).unwrap_err().to_string();
    assert!(e.contains("was not applied") && e.contains("elsewhere"), "{e}");
    assert!(home.join(PENDING_RESTORE_FILE).exists(), "the refused restore is kept");
    assert_eq!(store.groups().unwrap().len(), 1, "nothing was written");
    assert!(store.peers().unwrap().is_empty());

    // For another organization: refused, kept.
    let e = apply_pending_restore(&home, OrgId([1; 32]), &store).unwrap_err().to_string();
    assert!(e.contains("restores organization"), "{e}");
    assert!(home.join(PENDING_RESTORE_FILE).exists());
}
