//! The identity keeper: this org's name and keys (docs/ARCHITECTURE.md, "Owners"). The org id
//! is the signing key's public half, which never changes for a running node (a signing key is
//! revoked, never rotated in place), so it is kept apart and read without a lock: [`me`] always
//! answers the real id.
//!
//! A private lock with short methods: reads are a key look-up for signing or opening, writes
//! (rename, encryption key rotation) are rare and synchronous.
//!
//! Poisoning: the lock is recovered ([`PoisonError::into_inner`]). Every write replaces one
//! field with a complete new value (the name, the encryption key set) and then saves; a panic
//! leaves either the old or the new value, each a valid identity, and the file on disk is
//! replaced atomically.
//!
//! [`me`]: IdentityKeeper::me

use std::path::Path;
use std::sync::{PoisonError, RwLock};

use trellis_proto::keys::SignedKeyBundle;
use trellis_proto::{OrgId, OrgKeys};

use crate::home::{HomeError, Identity};

/// This org's identity.
#[derive(Debug)]
pub struct IdentityKeeper {
    me: OrgId,
    identity: RwLock<Identity>,
}

impl IdentityKeeper {
    pub fn new(identity: Identity) -> IdentityKeeper {
        IdentityKeeper { me: identity.keys.org_id(), identity: RwLock::new(identity) }
    }

    /// This org's id.
    pub fn me(&self) -> OrgId {
        self.me
    }

    /// This org's name.
    pub fn name(&self) -> String {
        self.identity.read().unwrap_or_else(PoisonError::into_inner).name.clone()
    }

    /// Use this org's keys (to sign, open, seal). `work` runs under the read lock: keep it short.
    pub fn with_keys<R>(&self, work: impl FnOnce(&OrgKeys) -> R) -> R {
        work(&self.identity.read().unwrap_or_else(PoisonError::into_inner).keys)
    }

    /// Use the whole identity (for a backup of it).
    pub fn with_identity<R>(&self, work: impl FnOnce(&Identity) -> R) -> R {
        work(&self.identity.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Rename this org and save the identity file; on a failed save the old name stays.
    pub(super) fn rename(&self, name: String, home: &Path) -> Result<(), HomeError> {
        let mut ident = self.identity.write().unwrap_or_else(PoisonError::into_inner);
        let old = std::mem::replace(&mut ident.name, name);
        if let Err(e) = ident.save(home) {
            ident.name = old;
            return Err(e);
        }
        Ok(())
    }

    /// Start a new encryption key from `seed`, save the identity file, and return the new key
    /// bundle (valid from `now_ms` for `valid_ms`).
    pub(super) fn rotate_encryption(
        &self,
        seed: [u8; 32],
        home: &Path,
        now_ms: u64,
        valid_ms: u64,
    ) -> Result<SignedKeyBundle, HomeError> {
        let mut ident = self.identity.write().unwrap_or_else(PoisonError::into_inner);
        ident.keys.rotate_encryption(seed);
        ident.save(home)?;
        Ok(ident.keys.key_bundle(now_ms, valid_ms))
    }
}
