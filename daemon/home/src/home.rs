//! The node's home directory (§ "Embedded default" in the README): identity, node key, config,
//! store and socket, all in one directory of mode 0700 with key files of mode 0600. This module
//! holds what `trellis` and `trellisd` both need (the organization identity, the home's lock,
//! secret files); the node's libp2p key stays in the daemon (`trellis_daemon::home`).
//!
//! Resolution order: `--home` flag, then `TRELLIS_HOME`, then `$XDG_DATA_HOME/trellis`, then
//! `$HOME/.local/share/trellis`.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use serde::{Deserialize, Serialize};
use trellis_proto::keys::{EncryptionSecret, OrgKeys};
use zeroize::Zeroize;

use crate::keyfile::{self, FileKey, Kdf, Passphrase, Purpose};

/// File names inside a home.
pub use trellis_api::paths::{IDENTITY_FILE, SOCKET_FILE};
pub const NODE_KEY_FILE: &str = "node.key";
pub const CONFIG_FILE: &str = "config.toml";
pub const STORE_FILE: &str = "store.redb";
/// A restore `trellis keys import` prepared for `trellisd` to apply to its store ([`crate::backup`]).
pub const PENDING_RESTORE_FILE: &str = "restore.pending";
pub const LOCK_FILE: &str = "trellisd.lock";

/// Errors about the home directory.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("an identity already exists in {home} (organization {fingerprint}); refusing to overwrite it")]
    IdentityExists { home: String, fingerprint: String },
    #[error("no identity in {0}: run `trellis --home {0} init --name NAME` or start trellisd once")]
    NoIdentity(String),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path} is damaged or not a Trellis key file: {why}")]
    Corrupt { path: String, why: String },
    #[error("{path} is readable by other users (mode {mode:o}); run: chmod 600 {path}")]
    Permissions { path: String, mode: u32 },
    #[error("{0}: wrong passphrase (or the file was altered); nothing was changed")]
    WrongPassphrase(String),
    #[error("{path}: {why}")]
    Sealed { path: String, why: String },
    #[error(
        "{0} holds a restore that `trellis keys import` left unfinished; refusing to create a new organization \
         under it: run the import again, or delete {0}"
    )]
    RestorePending(String),
    #[error(
        "another trellisd ({who}) is running on this home, {home}; nothing was changed. Stop it first, \
         or give this one its own home with --home"
    )]
    Locked { home: String, who: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HomeError + '_ {
    move |source| HomeError::Io { path: path.display().to_string(), source }
}

pub use trellis_api::paths::{default_home, resolve_home, socket_path};

/// Create `home` (mode 0700) if missing.
pub fn ensure_home(home: &Path) -> Result<(), HomeError> {
    fs::create_dir_all(home).map_err(io(home))?;
    fs::set_permissions(home, fs::Permissions::from_mode(0o700)).map_err(io(home))?;
    Ok(())
}

/// The exclusive lock one `trellisd` holds on its home for as long as it runs (an advisory
/// `flock` on `trellisd.lock`, which holds the pid). The kernel drops it when the process
/// exits, however it exits, so a crash never leaves a stale lock.
#[derive(Debug)]
pub struct HomeLock {
    _file: fs::File,
}

/// Take the home's lock before anything in it is read or written; a second daemon on the same
/// home is refused with the first one's pid.
pub fn lock_home(home: &Path) -> Result<HomeLock, HomeError> {
    use std::io::Seek;
    let path = home.join(LOCK_FILE);
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(io(&path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = (&file).take(32).read_to_string(&mut text);
            let who = match text.trim().parse::<u32>() {
                Ok(pid) => format!("pid {pid}"),
                Err(_) => "pid unknown".to_string(),
            };
            return Err(HomeError::Locked { home: home.display().to_string(), who });
        }
        Err(fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
    }
    file.set_len(0).map_err(io(&path))?;
    file.rewind().map_err(io(&path))?;
    writeln!(file, "{}", std::process::id()).map_err(io(&path))?;
    file.sync_all().map_err(io(&path))?;
    Ok(HomeLock { _file: file })
}

/// The org identity as stored in `identity.key` (postcard, mode 0600), in clear or, when the
/// operator protected it, as the plaintext of a sealed file ([`crate::keyfile`]).
#[derive(Serialize, Deserialize)]
struct IdentityFile {
    version: u8,
    name: String,
    signing_seed: [u8; 32],
    encryption_seed: [u8; 32],
    previous_encryption: Vec<[u8; 32]>,
    created_ms: u64,
}

impl Drop for IdentityFile {
    fn drop(&mut self) {
        self.signing_seed.zeroize();
        self.encryption_seed.zeroize();
        self.previous_encryption.iter_mut().for_each(|k| k.zeroize());
    }
}

impl IdentityFile {
    fn of(identity: &Identity) -> IdentityFile {
        IdentityFile {
            version: 1,
            name: identity.name.clone(),
            signing_seed: identity.keys.signing_seed(),
            encryption_seed: identity.keys.encryption().to_bytes(),
            previous_encryption: identity.keys.previous_encryption().iter().map(|k| k.to_bytes()).collect(),
            created_ms: identity.created_ms,
        }
    }

    /// The encoding, in a buffer that is zeroized when dropped.
    fn encode(&self) -> zeroize::Zeroizing<Vec<u8>> {
        zeroize::Zeroizing::new(postcard::to_allocvec(self).unwrap_or_default())
    }

    /// Decode and check; `why` errors say what is wrong.
    fn decode(bytes: &[u8]) -> Result<IdentityFile, String> {
        let file = postcard::from_bytes::<IdentityFile>(bytes).map_err(|e| e.to_string())?;
        if file.version != 1 {
            return Err(format!("unknown version {}", file.version));
        }
        Ok(file)
    }

    fn into_identity(self, protection: Option<FileKey>) -> Identity {
        let mut keys = OrgKeys::from_seeds(self.signing_seed, self.encryption_seed);
        for k in &self.previous_encryption {
            keys.push_previous(EncryptionSecret::from_bytes(*k));
        }
        Identity { name: self.name.clone(), keys, created_ms: self.created_ms, protection }
    }
}

/// Largest `identity.key` read (a sealed one is a few hundred bytes; previous encryption keys
/// add 32 bytes each).
const MAX_IDENTITY_FILE: usize = 1 << 20;

/// An organization identity loaded from a home.
pub struct Identity {
    pub name: String,
    pub keys: OrgKeys,
    pub created_ms: u64,
    /// The key `identity.key` is sealed with, when it is protected by a passphrase: saving (after
    /// a rename or a rotation) seals it again, so the file is never written in clear.
    protection: Option<FileKey>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("name", &self.name).field("org", &self.keys.org_id()).finish()
    }
}

/// Fill `buf` from the operating system's RNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::fill(&mut b[..]);
    b
}

/// Write `bytes` to `path` atomically with mode 0600 (write to a temp file, fsync, rename,
/// fsync the directory: once this returns, the new file survives a crash).
pub fn write_secret_file(path: &Path, bytes: &[u8]) -> Result<(), HomeError> {
    let tmp = path.with_extension("tmp");
    let mut f =
        fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))?;
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir),
        _ => Ok(()),
    }
}

/// Make the entries of `dir` (a rename or a deletion in it) durable.
pub fn sync_dir(dir: &Path) -> Result<(), HomeError> {
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Read a key file (at most 1 MiB), refusing one other users can read or write.
pub fn read_secret_file(path: &Path) -> Result<Vec<u8>, HomeError> {
    read_secret_file_max(path, MAX_IDENTITY_FILE)
}

/// Read a secret file of at most `max` bytes, refusing one other users can read or write.
pub fn read_secret_file_max(path: &Path, max: usize) -> Result<Vec<u8>, HomeError> {
    let meta = fs::metadata(path).map_err(io(path))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(HomeError::Permissions { path: path.display().to_string(), mode });
    }
    if meta.len() > max as u64 {
        return Err(HomeError::Corrupt {
            path: path.display().to_string(),
            why: format!("{} bytes, more than such a file has", meta.len()),
        });
    }
    let mut out = Vec::new();
    fs::File::open(path).and_then(|f| f.take(max as u64 + 1).read_to_end(&mut out)).map_err(io(path))?;
    if out.len() > max {
        return Err(HomeError::Corrupt { path: path.display().to_string(), why: "it grew while read".into() });
    }
    Ok(out)
}

impl Identity {
    /// Whether `home` holds an identity.
    pub fn exists(home: &Path) -> bool {
        home.join(IDENTITY_FILE).exists()
    }

    /// Whether the identity of `home` is protected by a passphrase.
    pub fn is_protected(home: &Path) -> Result<bool, HomeError> {
        let path = home.join(IDENTITY_FILE);
        if !path.exists() {
            return Err(HomeError::NoIdentity(home.display().to_string()));
        }
        Ok(keyfile::is_sealed(&read_secret_file(&path)?))
    }

    /// The org id of `home`'s identity without opening it (a protected file has it in clear).
    pub fn org_of(home: &Path) -> Result<trellis_proto::OrgId, HomeError> {
        let path = home.join(IDENTITY_FILE);
        let bytes = zeroize::Zeroizing::new(read_secret_file(&path)?);
        if keyfile::is_sealed(&bytes) {
            let opened = keyfile::Opened::parse(&bytes, Purpose::Identity, MAX_IDENTITY_FILE)
                .map_err(|e| HomeError::Corrupt { path: path.display().to_string(), why: e.to_string() })?;
            return Ok(trellis_proto::OrgId(opened.org()));
        }
        Ok(Self::load(home)?.keys.org_id())
    }

    /// Create a new identity in `home`; refuses if one exists.
    pub fn create(home: &Path, name: &str, now_ms: u64) -> Result<Identity, HomeError> {
        Self::create_with(home, name, now_ms, None)
    }

    /// Create a new identity in `home`, sealed with `passphrase` when one is given; refuses if
    /// one exists, and in a home where `trellis keys import` was cut short (`restore.pending`
    /// without `identity.key`).
    pub fn create_with(
        home: &Path,
        name: &str,
        now_ms: u64,
        passphrase: Option<&Passphrase>,
    ) -> Result<Identity, HomeError> {
        ensure_home(home)?;
        let pending = home.join(PENDING_RESTORE_FILE);
        if pending.exists() && !Self::exists(home) {
            return Err(HomeError::RestorePending(pending.display().to_string()));
        }
        if Self::exists(home) {
            return Err(HomeError::IdentityExists {
                home: home.display().to_string(),
                fingerprint: Self::org_of(home)?.fingerprint(),
            });
        }
        let protection = match passphrase {
            Some(p) => Some(Kdf::fresh().derive(p).map_err(seal_error(&home.join(IDENTITY_FILE)))?),
            None => None,
        };
        let file = IdentityFile {
            version: 1,
            name: name.trim().to_string(),
            signing_seed: random_bytes(),
            encryption_seed: random_bytes(),
            previous_encryption: Vec::new(),
            created_ms: now_ms,
        };
        let identity = file.into_identity(protection);
        identity.save(home)?;
        Ok(identity)
    }

    /// Load the identity of `home`; a protected one is refused (see [`Identity::load_with`]).
    pub fn load(home: &Path) -> Result<Identity, HomeError> {
        Self::load_with(home, || {
            Err(keyfile::SealError::Passphrase(
                "this identity is protected by a passphrase; this program was given none".into(),
            ))
        })
    }

    /// Load the identity of `home`, calling `passphrase` only if the file is protected. A wrong
    /// passphrase is an error and changes nothing.
    pub fn load_with(
        home: &Path,
        passphrase: impl FnOnce() -> Result<Passphrase, keyfile::SealError>,
    ) -> Result<Identity, HomeError> {
        let path = home.join(IDENTITY_FILE);
        if !path.exists() {
            return Err(HomeError::NoIdentity(home.display().to_string()));
        }
        let bytes = zeroize::Zeroizing::new(read_secret_file(&path)?);
        let corrupt = |why: String| HomeError::Corrupt { path: path.display().to_string(), why };
        if keyfile::is_sealed(&bytes) {
            let opened = keyfile::Opened::parse(&bytes, Purpose::Identity, MAX_IDENTITY_FILE)
                .map_err(|e| corrupt(e.to_string()))?;
            let pass = passphrase().map_err(seal_error(&path))?;
            let (plain, key) = opened.open(&pass).map_err(seal_error(&path))?;
            let file = IdentityFile::decode(&plain).map_err(corrupt)?;
            let identity = file.into_identity(Some(key));
            if identity.keys.org_id().0 != opened.org() {
                return Err(corrupt("the organization id in clear differs from the sealed key".into()));
            }
            return Ok(identity);
        }
        let file = IdentityFile::decode(&bytes).map_err(corrupt)?;
        Ok(file.into_identity(None))
    }

    /// Whether this identity is kept sealed with a passphrase.
    pub fn protected(&self) -> bool {
        self.protection.is_some()
    }

    /// Persist this identity (after a key rotation or a rename), sealed again if it is protected.
    pub fn save(&self, home: &Path) -> Result<(), HomeError> {
        let plain = IdentityFile::of(self).encode();
        let bytes = match &self.protection {
            Some(key) => keyfile::seal(Purpose::Identity, self.keys.org_id().0, key, &plain),
            None => plain.to_vec(),
        };
        let bytes = zeroize::Zeroizing::new(bytes);
        write_secret_file(&home.join(IDENTITY_FILE), &bytes)
    }

    /// Seal `identity.key` with `passphrase` (fresh salt, argon2id) and save it; the clear file
    /// is replaced atomically.
    pub fn protect(&mut self, home: &Path, passphrase: &Passphrase) -> Result<(), HomeError> {
        let key = Kdf::fresh().derive(passphrase).map_err(seal_error(&home.join(IDENTITY_FILE)))?;
        let old = self.protection.replace(key);
        if let Err(e) = self.save(home) {
            self.protection = old;
            return Err(e);
        }
        Ok(())
    }

    /// Write `identity.key` in clear again.
    pub fn unprotect(&mut self, home: &Path) -> Result<(), HomeError> {
        let old = self.protection.take();
        if let Err(e) = self.save(home) {
            self.protection = old;
            return Err(e);
        }
        Ok(())
    }

    /// The identity's encoding (for a backup), zeroized when dropped.
    pub fn encode_secret(&self) -> zeroize::Zeroizing<Vec<u8>> {
        IdentityFile::of(self).encode()
    }

    /// An identity from [`Identity::encode_secret`]'s bytes, not yet saved anywhere.
    pub fn decode_secret(bytes: &[u8]) -> Result<Identity, String> {
        Ok(IdentityFile::decode(bytes)?.into_identity(None))
    }

    /// Use `key` (derived from a passphrase) for this identity's file from now on.
    pub fn set_protection(&mut self, key: Option<FileKey>) {
        self.protection = key;
    }
}

fn seal_error(path: &Path) -> impl FnOnce(keyfile::SealError) -> HomeError + '_ {
    move |e| match e {
        keyfile::SealError::WrongPassphrase => HomeError::WrongPassphrase(path.display().to_string()),
        other => HomeError::Sealed { path: path.display().to_string(), why: other.to_string() },
    }
}

/// Milliseconds since the Unix epoch from the system clock (the only clock the node uses).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
