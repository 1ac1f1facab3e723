//! Passphrase-sealed files: a protected `identity.key` and the identity backup of
//! `trellis keys export`. One format for both (README "Protecting and backing up the
//! organization's key"):
//!
//! ```text
//! file   = MAGIC (8 bytes "TRLSEAL1") || postcard(SealedFile)
//! SealedFile { header: SealedHeader, ciphertext: Vec<u8> }
//! SealedHeader { purpose: u8 (1 identity, 2 backup), org: [u8; 32] (public id, not secret),
//!                kdf: Kdf { m_kib: u32, t: u32, p: u32, salt: [u8; 16] }, nonce: [u8; 24] }
//! key        = argon2id v1.3 (passphrase, salt, m_kib, t, p) → 32 bytes
//! ciphertext = XChaCha20-Poly1305(key, nonce, plaintext, aad = MAGIC || postcard(header))
//! ```
//!
//! The header is authenticated as associated data, so its parameters, purpose and org id cannot
//! be changed without the passphrase. Everything read from a file is bounded before it costs
//! work: the file's size, and the KDF's memory and passes (a hostile file cannot make the
//! node spend more than [`MAX_M_KIB`] of memory and [`MAX_T`] passes on one attempt). A wrong
//! passphrase and a damaged file both fail the AEAD check and change nothing. Keys, passphrases
//! and plaintexts are zeroized when dropped.

use std::io::{BufRead, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload as AeadPayload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

/// The first 8 bytes of every sealed file (the last byte is the format's version).
pub const MAGIC: [u8; 8] = *b"TRLSEAL1";

/// Argon2id memory cost used when sealing: 64 MiB.
pub const DEFAULT_M_KIB: u32 = 64 * 1024;
/// Argon2id passes used when sealing.
pub const DEFAULT_T: u32 = 3;
/// Argon2id lanes used when sealing.
pub const DEFAULT_P: u32 = 1;
/// Largest memory cost a file may ask for (1 GiB).
pub const MAX_M_KIB: u32 = 1024 * 1024;
/// Most passes a file may ask for.
pub const MAX_T: u32 = 16;
/// Most lanes a file may ask for.
pub const MAX_P: u32 = 8;
/// Longest passphrase read from a file or a terminal, in bytes.
pub const MAX_PASSPHRASE: usize = 4096;

/// What a sealed file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A protected `identity.key`.
    Identity,
    /// A backup made by `trellis keys export`.
    Backup,
}

impl Purpose {
    fn byte(self) -> u8 {
        match self {
            Purpose::Identity => 1,
            Purpose::Backup => 2,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Purpose::Identity => "a protected identity key (identity.key)",
            Purpose::Backup => "an identity backup (trellis keys export)",
        }
    }
}

/// Argon2id parameters and salt, as stored in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kdf {
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
    pub salt: [u8; 16],
}

impl Kdf {
    /// The default parameters with a fresh random salt.
    pub fn fresh() -> Kdf {
        Kdf { m_kib: DEFAULT_M_KIB, t: DEFAULT_T, p: DEFAULT_P, salt: crate::home::random_bytes() }
    }

    fn check(&self) -> Result<(), SealError> {
        let ok = (1..=MAX_P).contains(&self.p)
            && (1..=MAX_T).contains(&self.t)
            && self.m_kib <= MAX_M_KIB
            && self.m_kib >= 8 * self.p;
        if ok {
            Ok(())
        } else {
            Err(SealError::Damaged(format!(
                "key derivation parameters out of bounds (memory {} KiB, passes {}, lanes {}; at most {MAX_M_KIB} KiB, \
                 {MAX_T} passes, {MAX_P} lanes)",
                self.m_kib, self.t, self.p
            )))
        }
    }

    /// Derive the 32-byte file key from `pass` (argon2id v1.3).
    pub fn derive(&self, pass: &Passphrase) -> Result<FileKey, SealError> {
        self.check()?;
        let params = argon2::Params::new(self.m_kib, self.t, self.p, Some(32))
            .map_err(|e| SealError::Damaged(format!("key derivation parameters: {e}")))?;
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut key = FileKey { kdf: *self, key: Zeroizing::new([0u8; 32]) };
        argon
            .hash_password_into(pass.bytes(), &self.salt, &mut key.key[..])
            .map_err(|e| SealError::Damaged(format!("key derivation: {e}")))?;
        Ok(key)
    }
}

/// A key derived from a passphrase, with the parameters it was derived with (so a file can be
/// sealed again, after a rename or a key rotation, without asking for the passphrase).
#[derive(Clone)]
pub struct FileKey {
    kdf: Kdf,
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileKey(..)")
    }
}

/// A passphrase: bytes, zeroized on drop, never printed.
pub struct Passphrase(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(..)")
    }
}

impl Passphrase {
    /// A passphrase from bytes; refuses an empty one and one over [`MAX_PASSPHRASE`] bytes.
    pub fn new(mut bytes: Vec<u8>) -> Result<Passphrase, SealError> {
        let p = Passphrase(Zeroizing::new(std::mem::take(&mut bytes)));
        if p.0.is_empty() {
            return Err(SealError::Passphrase("the passphrase is empty".into()));
        }
        if p.0.len() > MAX_PASSPHRASE {
            return Err(SealError::Passphrase(format!("the passphrase is longer than {MAX_PASSPHRASE} bytes")));
        }
        Ok(p)
    }

    fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Read a passphrase file: at most [`MAX_PASSPHRASE`] bytes, one trailing newline (`\n` or
    /// `\r\n`) dropped, not readable or writable by other users.
    pub fn from_file(path: &Path) -> Result<Passphrase, SealError> {
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| SealError::Passphrase(format!("{shown}: {e}")))?;
        if !meta.is_file() {
            return Err(SealError::Passphrase(format!("{shown} is not a regular file")));
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o007 != 0 {
            return Err(SealError::Passphrase(format!(
                "{shown} is accessible to other users (mode {mode:o}); run: chmod 600 {shown}"
            )));
        }
        let file = std::fs::File::open(path).map_err(|e| SealError::Passphrase(format!("{shown}: {e}")))?;
        let mut bytes = Vec::new();
        file.take(MAX_PASSPHRASE as u64 + 3)
            .read_to_end(&mut bytes)
            .map_err(|e| SealError::Passphrase(format!("{shown}: {e}")))?;
        strip_newline(&mut bytes);
        Passphrase::new(bytes).map_err(|e| SealError::Passphrase(format!("{shown}: {e}")))
    }

    /// Ask on the terminal (stdin must be one) with echo off; the prompt goes to stderr.
    pub fn prompt(prompt: &str) -> Result<Passphrase, SealError> {
        let mut bytes = read_hidden_line(prompt).map_err(|e| SealError::Passphrase(format!("reading it: {e}")))?;
        strip_newline(&mut bytes);
        Passphrase::new(bytes)
    }

    /// Ask twice on the terminal for a new passphrase; the two must match.
    pub fn prompt_new(what: &str) -> Result<Passphrase, SealError> {
        let first = Passphrase::prompt(&format!("New passphrase for {what}: "))?;
        let again = Passphrase::prompt("The same passphrase again: ")?;
        if first.bytes() != again.bytes() {
            return Err(SealError::Passphrase("the two passphrases differ; nothing was changed".into()));
        }
        Ok(first)
    }
}

/// The passphrase as base64 (to hand it to the local node over its API socket).
pub fn encode_base64(p: &Passphrase) -> String {
    data_encoding::BASE64.encode(p.bytes())
}

/// Decode base64 text (the CLI has no base64 of its own).
pub fn decode_base64(text: &str) -> Result<Vec<u8>, data_encoding::DecodeError> {
    data_encoding::BASE64.decode(text.as_bytes())
}

fn strip_newline(bytes: &mut Vec<u8>) {
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
}

/// Whether stdin is a terminal (so a passphrase can be asked for).
pub fn stdin_is_terminal() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stdin())
}

/// Read one line from the terminal on stdin without echoing it.
fn read_hidden_line(prompt: &str) -> std::io::Result<Vec<u8>> {
    if !stdin_is_terminal() {
        return Err(std::io::Error::other("stdin is not a terminal"));
    }
    struct Restore(libc::termios);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: fd 0 is a terminal (checked above) and the struct came from tcgetattr.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, &self.0);
            }
        }
    }
    // SAFETY: termios is plain data; tcgetattr fills it for fd 0, which is a terminal.
    let mut term: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(0, &mut term) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let restore = Restore(term);
    term.c_lflag &= !libc::ECHO;
    term.c_lflag |= libc::ECHONL;
    // SAFETY: as above; the previous settings are restored when `restore` drops.
    if unsafe { libc::tcsetattr(0, libc::TCSANOW, &term) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut err = std::io::stderr();
    let _ = err.write_all(prompt.as_bytes());
    let _ = err.flush();
    let mut line = Vec::new();
    let read = std::io::stdin().lock().take(MAX_PASSPHRASE as u64 + 2).read_until(b'\n', &mut line);
    drop(restore);
    if let Err(e) = read {
        line.zeroize();
        return Err(e);
    }
    Ok(line)
}

/// Errors about sealed files and passphrases.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("wrong passphrase (or the file was altered); nothing was changed")]
    WrongPassphrase,
    #[error("not a sealed Trellis file: {0}")]
    Damaged(String),
    #[error("this file is {found}, not {wanted}")]
    WrongPurpose { found: &'static str, wanted: &'static str },
    #[error("passphrase: {0}")]
    Passphrase(String),
}

#[derive(Serialize, Deserialize)]
struct SealedHeader {
    purpose: u8,
    org: [u8; 32],
    kdf: Kdf,
    nonce: [u8; 24],
}

#[derive(Serialize, Deserialize)]
struct SealedFile {
    header: SealedHeader,
    #[serde(with = "trellis_proto::codec::bytes")]
    ciphertext: Vec<u8>,
}

/// Whether `bytes` start like a sealed file.
pub fn is_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

fn aad(header: &SealedHeader) -> Vec<u8> {
    let mut a = MAGIC.to_vec();
    a.extend_from_slice(&postcard::to_allocvec(header).unwrap_or_default());
    a
}

/// Seal `plaintext` under `key` (fresh nonce). `org` is written in clear.
pub fn seal(purpose: Purpose, org: [u8; 32], key: &FileKey, plaintext: &[u8]) -> Vec<u8> {
    let header = SealedHeader { purpose: purpose.byte(), org, kdf: key.kdf, nonce: crate::home::random_bytes() };
    let aad = aad(&header);
    let cipher = XChaCha20Poly1305::new(&(*key.key).into());
    let ciphertext =
        cipher.encrypt(&XNonce::from(header.nonce), AeadPayload { msg: plaintext, aad: &aad }).unwrap_or_default();
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&postcard::to_allocvec(&SealedFile { header, ciphertext }).unwrap_or_default());
    out
}

/// What a sealed file says in clear, before any passphrase.
#[derive(Debug)]
pub struct Opened {
    header: SealedHeader,
    ciphertext: Vec<u8>,
}

impl std::fmt::Debug for SealedHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedHeader").field("purpose", &self.purpose).field("kdf", &self.kdf).finish()
    }
}

impl Opened {
    /// Parse a sealed file of `purpose` (at most `max` bytes), checking its bounds; costs no KDF.
    pub fn parse(bytes: &[u8], purpose: Purpose, max: usize) -> Result<Opened, SealError> {
        if bytes.len() > max {
            return Err(SealError::Damaged(format!("{} bytes, more than the {max} such a file may have", bytes.len())));
        }
        let rest = bytes.strip_prefix(&MAGIC).ok_or_else(|| SealError::Damaged("no TRLSEAL1 header".into()))?;
        let (file, tail) =
            postcard::take_from_bytes::<SealedFile>(rest).map_err(|e| SealError::Damaged(e.to_string()))?;
        if !tail.is_empty() {
            return Err(SealError::Damaged(format!("{} bytes after the end", tail.len())));
        }
        let found = match file.header.purpose {
            1 => Purpose::Identity,
            2 => Purpose::Backup,
            other => return Err(SealError::Damaged(format!("unknown content type {other}"))),
        };
        if found != purpose {
            return Err(SealError::WrongPurpose { found: found.describe(), wanted: purpose.describe() });
        }
        file.header.kdf.check()?;
        Ok(Opened { header: file.header, ciphertext: file.ciphertext })
    }

    /// The organization id written in clear in the header.
    pub fn org(&self) -> [u8; 32] {
        self.header.org
    }

    /// Derive the key from `pass` and decrypt. Returns the plaintext and the key (to seal the
    /// same file again later).
    pub fn open(&self, pass: &Passphrase) -> Result<(Zeroizing<Vec<u8>>, FileKey), SealError> {
        let key = self.header.kdf.derive(pass)?;
        let aad = aad(&self.header);
        let cipher = XChaCha20Poly1305::new(&(*key.key).into());
        let plain = cipher
            .decrypt(&XNonce::from(self.header.nonce), AeadPayload { msg: &self.ciphertext, aad: &aad })
            .map_err(|_| SealError::WrongPassphrase)?;
        Ok((Zeroizing::new(plain), key))
    }
}

/// Where `trellisd` looks for the passphrase of a protected identity, in order.
#[derive(Debug, Default, Clone)]
pub struct PassphraseSources {
    /// `--passphrase-file`, else `TRELLIS_PASSPHRASE_FILE`, else `passphrase_file` in config.toml
    /// (with the setting that named it).
    pub file: Option<(PathBuf, &'static str)>,
    /// `$CREDENTIALS_DIRECTORY` (systemd's credential store), when set.
    pub credentials_dir: Option<PathBuf>,
}

/// The systemd credential holding the passphrase (`LoadCredential=trellis-passphrase:...`).
pub const CREDENTIAL_NAME: &str = "trellis-passphrase";

impl PassphraseSources {
    /// From the environment (systemd's `CREDENTIALS_DIRECTORY`) and the configured file.
    pub fn new(file: Option<(PathBuf, &'static str)>) -> PassphraseSources {
        let credentials_dir = std::env::var_os("CREDENTIALS_DIRECTORY").filter(|v| !v.is_empty()).map(PathBuf::from);
        PassphraseSources { file, credentials_dir }
    }

    /// Find the passphrase: the configured file, else the systemd credential, else a prompt
    /// when stdin is a terminal. Without any, the error names every place looked at.
    pub fn get(&self, home: &Path) -> Result<Passphrase, SealError> {
        if let Some((path, setting)) = &self.file {
            return Passphrase::from_file(path).map_err(|e| SealError::Passphrase(format!("({setting}) {e}")));
        }
        let mut looked = vec![
            "--passphrase-file: not given".to_string(),
            "TRELLIS_PASSPHRASE_FILE: not set".to_string(),
            format!("passphrase_file in {}: not set", home.join(crate::home::CONFIG_FILE).display()),
        ];
        match &self.credentials_dir {
            Some(dir) => {
                let path = dir.join(CREDENTIAL_NAME);
                if path.exists() {
                    return Passphrase::from_file(&path)
                        .map_err(|e| SealError::Passphrase(format!("(systemd credential) {e}")));
                }
                looked.push(format!("systemd credential {}: no such file", path.display()));
            }
            None => looked.push(format!(
                "systemd credential $CREDENTIALS_DIRECTORY/{CREDENTIAL_NAME}: CREDENTIALS_DIRECTORY not set"
            )),
        }
        if stdin_is_terminal() {
            return Passphrase::prompt(&format!("Passphrase of the identity key in {}: ", home.display()));
        }
        looked.push("terminal prompt: stdin is not a terminal".to_string());
        Err(SealError::Passphrase(format!(
            "the identity key in {} is protected by a passphrase and none was found. Looked at: {}",
            home.display(),
            looked.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Kdf {
        Kdf { m_kib: 64, t: 1, p: 1, salt: [7; 16] }
    }

    fn pass(s: &str) -> Passphrase {
        Passphrase::new(s.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn seals_and_opens_and_refuses_the_wrong_passphrase() {
        let key = cheap().derive(&pass("correct horse")).unwrap();
        let sealed = seal(Purpose::Identity, [9; 32], &key, b"secret seeds");
        assert!(is_sealed(&sealed));
        assert!(!sealed.windows(12).any(|w| w == b"secret seeds"));
        let opened = Opened::parse(&sealed, Purpose::Identity, 1 << 16).unwrap();
        assert_eq!(opened.org(), [9; 32]);
        let (plain, _) = opened.open(&pass("correct horse")).unwrap();
        assert_eq!(&plain[..], b"secret seeds");
        assert!(matches!(opened.open(&pass("correct horsE")), Err(SealError::WrongPassphrase)));
        assert!(matches!(Opened::parse(&sealed, Purpose::Backup, 1 << 16), Err(SealError::WrongPurpose { .. })));
    }

    #[test]
    fn every_altered_byte_is_refused() {
        let key = cheap().derive(&pass("pw")).unwrap();
        let sealed = seal(Purpose::Backup, [1; 32], &key, b"backup");
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            let r = Opened::parse(&bad, Purpose::Backup, 1 << 16).and_then(|o| o.open(&pass("pw")));
            assert!(r.is_err(), "flipping byte {i} went unnoticed");
        }
        let mut long = sealed.clone();
        long.push(0);
        assert!(Opened::parse(&long, Purpose::Backup, 1 << 16).is_err());
        assert!(Opened::parse(&sealed, Purpose::Backup, 10).is_err());
    }

    #[test]
    fn hostile_parameters_cost_nothing() {
        for kdf in [
            Kdf { m_kib: u32::MAX, t: 1, p: 1, salt: [0; 16] },
            Kdf { m_kib: 64, t: 1_000_000, p: 1, salt: [0; 16] },
            Kdf { m_kib: 64, t: 1, p: 0, salt: [0; 16] },
            Kdf { m_kib: 1, t: 1, p: 1, salt: [0; 16] },
        ] {
            let header = SealedHeader { purpose: 1, org: [0; 32], kdf, nonce: [0; 24] };
            let mut bytes = MAGIC.to_vec();
            bytes.extend(postcard::to_allocvec(&SealedFile { header, ciphertext: vec![0; 32] }).unwrap());
            let started = std::time::Instant::now();
            assert!(matches!(Opened::parse(&bytes, Purpose::Identity, 1 << 16), Err(SealError::Damaged(_))));
            assert!(started.elapsed() < std::time::Duration::from_secs(1));
        }
    }

    #[test]
    fn passphrase_files_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, b"s3cret\r\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(Passphrase::from_file(&p).unwrap().bytes(), b"s3cret");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o604)).unwrap();
        assert!(Passphrase::from_file(&p).unwrap_err().to_string().contains("chmod 600"));
        std::fs::write(&p, b"\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(Passphrase::from_file(&p).unwrap_err().to_string().contains("empty"));
        std::fs::write(&p, vec![b'a'; MAX_PASSPHRASE + 10]).unwrap();
        assert!(Passphrase::from_file(&p).unwrap_err().to_string().contains("longer"));
    }
}
