//! The node's home directory (§ "Embedded default" in the README): identity, node key, config,
//! store and socket, all in one directory of mode 0700 with key files of mode 0600.
//!
//! Resolution order: `--home` flag, then `TRELLIS_HOME`, then `$XDG_DATA_HOME/trellis`, then
//! `$HOME/.local/share/trellis`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use serde::{Deserialize, Serialize};
use trellis_proto::keys::{EncryptionSecret, OrgKeys};
use zeroize::Zeroize;

/// File names inside a home.
pub use trellis_api::paths::{IDENTITY_FILE, SOCKET_FILE};
pub const NODE_KEY_FILE: &str = "node.key";
pub const CONFIG_FILE: &str = "config.toml";
pub const STORE_FILE: &str = "store.redb";
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
    use std::io::{Read, Seek};
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

/// The org identity as stored in `identity.key` (postcard, mode 0600).
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

/// An organization identity loaded from a home.
pub struct Identity {
    pub name: String,
    pub keys: OrgKeys,
    pub created_ms: u64,
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

/// Write `bytes` to `path` atomically with mode 0600 (write to a temp file, fsync, rename).
pub fn write_secret_file(path: &Path, bytes: &[u8]) -> Result<(), HomeError> {
    let tmp = path.with_extension("tmp");
    let mut f =
        fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))?;
    Ok(())
}

fn read_secret_file(path: &Path) -> Result<Vec<u8>, HomeError> {
    let meta = fs::metadata(path).map_err(io(path))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(HomeError::Permissions { path: path.display().to_string(), mode });
    }
    fs::read(path).map_err(io(path))
}

impl Identity {
    /// Whether `home` holds an identity.
    pub fn exists(home: &Path) -> bool {
        home.join(IDENTITY_FILE).exists()
    }

    /// Create a new identity in `home`; refuses if one exists.
    pub fn create(home: &Path, name: &str, now_ms: u64) -> Result<Identity, HomeError> {
        ensure_home(home)?;
        if Self::exists(home) {
            let existing = Self::load(home)?;
            return Err(HomeError::IdentityExists {
                home: home.display().to_string(),
                fingerprint: existing.keys.org_id().fingerprint(),
            });
        }
        let file = IdentityFile {
            version: 1,
            name: name.trim().to_string(),
            signing_seed: random_bytes(),
            encryption_seed: random_bytes(),
            previous_encryption: Vec::new(),
            created_ms: now_ms,
        };
        write_secret_file(&home.join(IDENTITY_FILE), &postcard::to_allocvec(&file).unwrap_or_default())?;
        Self::load(home)
    }

    /// Load the identity of `home`.
    pub fn load(home: &Path) -> Result<Identity, HomeError> {
        let path = home.join(IDENTITY_FILE);
        if !path.exists() {
            return Err(HomeError::NoIdentity(home.display().to_string()));
        }
        let mut bytes = read_secret_file(&path)?;
        let corrupt = |why: String| HomeError::Corrupt { path: path.display().to_string(), why };
        let parsed = postcard::from_bytes::<IdentityFile>(&bytes).map_err(|e| corrupt(e.to_string()));
        bytes.zeroize();
        let file = parsed?;
        if file.version != 1 {
            return Err(corrupt(format!("unknown version {}", file.version)));
        }
        let mut keys = OrgKeys::from_seeds(file.signing_seed, file.encryption_seed);
        for k in &file.previous_encryption {
            keys.push_previous(EncryptionSecret::from_bytes(*k));
        }
        Ok(Identity { name: file.name.clone(), keys, created_ms: file.created_ms })
    }

    /// Persist this identity (after a key rotation).
    pub fn save(&self, home: &Path) -> Result<(), HomeError> {
        let file = IdentityFile {
            version: 1,
            name: self.name.clone(),
            signing_seed: self.keys.signing_seed(),
            encryption_seed: self.keys.encryption().to_bytes(),
            previous_encryption: self.keys.previous_encryption().iter().map(|k| k.to_bytes()).collect(),
            created_ms: self.created_ms,
        };
        write_secret_file(&home.join(IDENTITY_FILE), &postcard::to_allocvec(&file).unwrap_or_default())
    }
}

/// Load the node's libp2p key from `home`, creating it on first use.
pub fn load_or_create_node_key(home: &Path) -> Result<libp2p::identity::Keypair, HomeError> {
    let path = home.join(NODE_KEY_FILE);
    if path.exists() {
        let bytes = read_secret_file(&path)?;
        return libp2p::identity::Keypair::from_protobuf_encoding(&bytes)
            .map_err(|e| HomeError::Corrupt { path: path.display().to_string(), why: e.to_string() });
    }
    let kp = libp2p::identity::Keypair::generate_ed25519();
    let bytes = kp
        .to_protobuf_encoding()
        .map_err(|e| HomeError::Corrupt { path: path.display().to_string(), why: e.to_string() })?;
    write_secret_file(&path, &bytes)?;
    Ok(kp)
}

/// Milliseconds since the Unix epoch from the system clock (the only clock the node uses).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
