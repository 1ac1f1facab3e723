//! Shared resources (§4.4): playbooks, policy templates, guidance, exercise plans, carried in a
//! `Resource` item. A resource published by `trellis resource publish` is a `Resource` whose
//! first link is [`RESOURCE_LINK`] and whose body is [`BODY_PREFIX`] followed by the base64
//! (RFC 4648, padded) of the postcard encoding of a [`ResourceDoc`]: its topic, audience, text,
//! link and file. The wire format of the item is unchanged, so nodes that do not know resources
//! still relay and store them.
//!
//! A file of at most [`MAX_INLINE_FILE`] bytes travels inside the item. A larger one (at most
//! [`MAX_FILE`]) travels beside it, by content: it is cut into chunks of [`CHUNK_SIZE`] bytes,
//! each encrypted with XChaCha20-Poly1305 under a fresh file key carried in the item (so a
//! chunk is readable exactly by whoever can read the item, whatever its TLP), and the item
//! lists the SHA-256 of every encrypted chunk. Members fetch chunks over the direct protocol
//! (§9, `RequestBody::Chunk`) from any node that holds them and check each against its hash
//! before keeping it; a node that cannot read the item can still check and serve chunks.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::codec;
use crate::error::ProtoError;
use crate::ids::tagged_hash;
use crate::items::Resource;
use crate::limits::{MAX_SHORT, MAX_TITLE};

/// The first link of a resource item.
pub const RESOURCE_LINK: &str = "trellis:resource/v1";
/// What a resource item's body starts with.
pub const BODY_PREFIX: &str = "trellis-resource1:";
/// Longest text of a resource (the body's bound, 64 KiB, must hold it with an inline file
/// after base64).
pub const MAX_RESOURCE_TEXT: usize = 16 * 1024;
/// Largest file carried inside the item: 24 KiB. The item's body is text of at most 64 KiB
/// (`MAX_TEXT`), and the document is base64 inside it (4/3), with the text beside the file.
pub const MAX_INLINE_FILE: usize = 24 * 1024;
/// Bytes per chunk of a file carried beside its item: 1 MiB, well inside one direct-protocol
/// answer (8 MiB).
pub const CHUNK_SIZE: usize = 1024 * 1024;
/// Largest file: 64 MiB (64 chunks; the item lists 64 hashes, 2 KiB).
pub const MAX_FILE: u64 = 64 * 1024 * 1024;
/// Most chunks of one file.
pub const MAX_CHUNKS: usize = (MAX_FILE as usize).div_ceil(CHUNK_SIZE);
/// Bytes of an encrypted chunk beyond its plaintext (the AEAD tag).
pub const CHUNK_OVERHEAD: usize = 16;

/// The topics a resource can carry (a small fixed vocabulary, so members can filter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Topic {
    VulnerabilityManagement,
    IdentityAndAccess,
    IncidentResponse,
    Backups,
    Awareness,
    SecureDevelopment,
    SupplierManagement,
    AssetInventory,
    Logging,
    Governance,
}

impl Topic {
    /// Every topic, in index order.
    pub const ALL: [Topic; 10] = [
        Topic::VulnerabilityManagement,
        Topic::IdentityAndAccess,
        Topic::IncidentResponse,
        Topic::Backups,
        Topic::Awareness,
        Topic::SecureDevelopment,
        Topic::SupplierManagement,
        Topic::AssetInventory,
        Topic::Logging,
        Topic::Governance,
    ];

    /// Its name on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::VulnerabilityManagement => "vulnerability-management",
            Topic::IdentityAndAccess => "identity-and-access",
            Topic::IncidentResponse => "incident-response",
            Topic::Backups => "backups",
            Topic::Awareness => "awareness",
            Topic::SecureDevelopment => "secure-development",
            Topic::SupplierManagement => "supplier-management",
            Topic::AssetInventory => "asset-inventory",
            Topic::Logging => "logging",
            Topic::Governance => "governance",
        }
    }
}

impl std::str::FromStr for Topic {
    type Err = ProtoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        Topic::ALL.into_iter().find(|x| x.as_str() == t).ok_or_else(|| {
            let names: Vec<&str> = Topic::ALL.iter().map(|t| t.as_str()).collect();
            ProtoError::Invalid(format!("unknown topic {s:?}; one of: {}", names.join(", ")))
        })
    }
}

/// Who a resource is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Audience {
    Everyone,
    /// Organizations with little or no security staff.
    SmallOrgs,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Everyone => "everyone",
            Audience::SmallOrgs => "small-orgs",
        }
    }
}

impl std::str::FromStr for Audience {
    type Err = ProtoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "everyone" => Ok(Audience::Everyone),
            "small-orgs" => Ok(Audience::SmallOrgs),
            _ => Err(ProtoError::Invalid(format!("unknown audience {s:?}; everyone or small-orgs"))),
        }
    }
}

/// A file of a resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// The file's name as published (no directories), at most 1024 bytes.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of the whole plaintext.
    pub sha256: [u8; 32],
    pub data: FileData,
}

/// Where a file's bytes are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileData {
    /// In the item (at most [`MAX_INLINE_FILE`] bytes).
    Inline(#[serde(with = "crate::codec::bytes")] Vec<u8>),
    /// Beside the item, in encrypted chunks of [`CHUNK_SIZE`] plaintext bytes (the last one
    /// shorter): the file key, and the SHA-256 of each encrypted chunk in order.
    Chunked { key: [u8; 32], chunks: Vec<[u8; 32]> },
}

/// What a resource says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceDoc {
    pub topic: Topic,
    pub audience: Audience,
    /// Free text: a summary, or the whole resource.
    pub text: String,
    /// An http(s) link to the resource, if it lives elsewhere.
    pub url: Option<String>,
    pub file: Option<FileRef>,
}

impl FileRef {
    /// The id a chunked file is asked for by: a hash of its size and chunk hashes.
    pub fn file_id(&self) -> Option<[u8; 32]> {
        match &self.data {
            FileData::Chunked { chunks, .. } => Some(file_id(self.size, chunks)),
            FileData::Inline(_) => None,
        }
    }
}

/// `H("trellis/file/v1", u64be(size), chunk hashes...)`.
pub fn file_id(size: u64, chunks: &[[u8; 32]]) -> [u8; 32] {
    let mut all = Vec::with_capacity(chunks.len() * 32);
    for c in chunks {
        all.extend_from_slice(c);
    }
    tagged_hash("trellis/file/v1", &[&size.to_be_bytes(), &all])
}

/// How many chunks a file of `size` bytes has.
pub fn chunk_count(size: u64) -> usize {
    (size as usize).div_ceil(CHUNK_SIZE)
}

fn chunk_nonce(index: u32) -> [u8; 24] {
    let mut n = [0u8; 24];
    n[..4].copy_from_slice(&index.to_be_bytes());
    n[4..20].copy_from_slice(b"trellis/chunk/v1");
    n
}

/// Encrypt chunk `index` of a file under `key`. The nonce is derived from the index: a file
/// key encrypts each index once (keys are fresh per file).
pub fn seal_chunk(key: &[u8; 32], index: u32, plain: &[u8]) -> Vec<u8> {
    crate::crypto::seal_body(key, &chunk_nonce(index), b"trellis/chunk/v1", plain)
}

/// Decrypt chunk `index`. (No key commitment is needed: every encrypted chunk is pinned by its
/// SHA-256 in the signed item, so it can only be the ciphertext the publisher made.)
pub fn open_chunk(key: &[u8; 32], index: u32, sealed: &[u8]) -> Result<Vec<u8>, ProtoError> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    let cipher = chacha20poly1305::XChaCha20Poly1305::new(&(*key).into());
    cipher
        .decrypt(&chacha20poly1305::XNonce::from(chunk_nonce(index)), Payload { msg: sealed, aad: b"trellis/chunk/v1" })
        .map_err(|_| ProtoError::DecryptFailed)
}

/// SHA-256 of bytes.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Cut `plain` into encrypted chunks under `key`: the chunks and the [`FileData`] naming them.
pub fn chunk_file(key: [u8; 32], plain: &[u8]) -> (Vec<Vec<u8>>, FileData) {
    let sealed: Vec<Vec<u8>> =
        plain.chunks(CHUNK_SIZE).enumerate().map(|(i, c)| seal_chunk(&key, i as u32, c)).collect();
    let chunks = sealed.iter().map(|c| sha256(c)).collect();
    (sealed, FileData::Chunked { key, chunks })
}

impl ResourceDoc {
    /// Check every bound and rule; `title` is the item's.
    pub fn check(&self, title: &str) -> Result<(), ProtoError> {
        if title.trim().is_empty() {
            return Err(ProtoError::Invalid("a resource needs a title".into()));
        }
        if title.len() > MAX_TITLE {
            return Err(ProtoError::FieldTooLong { field: "title", max: MAX_TITLE });
        }
        if self.text.len() > MAX_RESOURCE_TEXT {
            return Err(ProtoError::FieldTooLong { field: "resource text", max: MAX_RESOURCE_TEXT });
        }
        if let Some(u) = &self.url {
            if u.len() > MAX_SHORT {
                return Err(ProtoError::FieldTooLong { field: "url", max: MAX_SHORT });
            }
            if !(u.starts_with("https://") || u.starts_with("http://")) || u.chars().any(char::is_whitespace) {
                return Err(ProtoError::Invalid(format!("{u:?} is not an http(s) URL")));
            }
        }
        if self.text.trim().is_empty() && self.url.is_none() && self.file.is_none() {
            return Err(ProtoError::Invalid("a resource needs a text, a URL or a file".into()));
        }
        if let Some(f) = &self.file {
            let name_ok = !f.name.is_empty()
                && f.name.len() <= MAX_SHORT
                && f.name != "."
                && f.name != ".."
                && !f.name.contains(['/', '\\', '\0'])
                && !f.name.chars().any(char::is_control);
            if !name_ok {
                return Err(ProtoError::Invalid(format!("{:?} is not a plain file name", f.name)));
            }
            match &f.data {
                FileData::Inline(b) => {
                    if b.len() > MAX_INLINE_FILE {
                        return Err(ProtoError::FieldTooLong { field: "inline file", max: MAX_INLINE_FILE });
                    }
                    if b.len() as u64 != f.size || sha256(b) != f.sha256 {
                        return Err(ProtoError::Invalid("the inline file does not match its size and hash".into()));
                    }
                }
                FileData::Chunked { chunks, .. } => {
                    if f.size > MAX_FILE {
                        return Err(ProtoError::FieldTooLong { field: "file", max: MAX_FILE as usize });
                    }
                    if f.size == 0 || chunks.len() != chunk_count(f.size) {
                        return Err(ProtoError::Invalid("the chunk list does not match the file size".into()));
                    }
                }
            }
        }
        Ok(())
    }

    /// The `Resource` item carrying this document.
    pub fn to_item(&self, title: &str) -> Result<Resource, ProtoError> {
        self.check(title)?;
        let body = format!("{BODY_PREFIX}{}", data_encoding::BASE64.encode(&codec::encode(self)));
        if body.len() > crate::limits::MAX_TEXT {
            return Err(ProtoError::FieldTooLong { field: "resource body", max: crate::limits::MAX_TEXT });
        }
        let mut links = vec![RESOURCE_LINK.to_string()];
        if let Some(u) = &self.url {
            links.push(u.clone());
        }
        Ok(Resource { title: title.trim().to_string(), body, links })
    }

    /// The document in a `Resource` item, if it is one (`None`: another use of the kind, such
    /// as a posture request); an item that claims to be a resource and is not well formed is an
    /// error.
    pub fn from_item(r: &Resource) -> Option<Result<ResourceDoc, ProtoError>> {
        if r.links.first().map(String::as_str) != Some(RESOURCE_LINK) {
            return None;
        }
        Some((|| {
            let b64 = r
                .body
                .strip_prefix(BODY_PREFIX)
                .ok_or_else(|| ProtoError::Invalid("a resource body must start with trellis-resource1:".into()))?;
            let bytes = data_encoding::BASE64
                .decode(b64.as_bytes())
                .map_err(|e| ProtoError::BadText { what: "resource body", why: e.to_string() })?;
            let doc: ResourceDoc = codec::decode(&bytes, crate::limits::MAX_TEXT)?;
            doc.check(&r.title)?;
            Ok(doc)
        })())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(file: Option<FileRef>) -> ResourceDoc {
        ResourceDoc {
            topic: Topic::Backups,
            audience: Audience::SmallOrgs,
            text: "Keep three copies.".into(),
            url: None,
            file,
        }
    }

    #[test]
    fn round_trip_and_bounds() {
        let bytes = vec![7u8; MAX_INLINE_FILE];
        let f = FileRef {
            name: "plan.txt".into(),
            size: bytes.len() as u64,
            sha256: sha256(&bytes),
            data: FileData::Inline(bytes),
        };
        let mut d = doc(Some(f));
        d.text = "x".repeat(MAX_RESOURCE_TEXT);
        let item = d.to_item("Backup plan").unwrap();
        assert_eq!(ResourceDoc::from_item(&item).unwrap().unwrap(), d);
        let plain = Resource { title: "t".into(), body: "b".into(), links: vec![] };
        assert!(ResourceDoc::from_item(&plain).is_none());
        let mut bad = item.clone();
        bad.body.push('A');
        assert!(ResourceDoc::from_item(&bad).unwrap().is_err());
        for name in ["../x", "a/b", "", "..", "a\nb"] {
            let mut d2 = d.clone();
            d2.file.as_mut().unwrap().name = name.into();
            assert!(d2.to_item("t").is_err(), "{name:?}");
        }
        let mut d3 = doc(None);
        d3.url = Some("javascript:alert(1)".into());
        assert!(d3.to_item("t").is_err());
    }

    #[test]
    fn chunks_seal_verify_and_open() {
        let plain: Vec<u8> = (0..(2 * CHUNK_SIZE + 5)).map(|i| (i % 251) as u8).collect();
        let (sealed, data) = chunk_file([3; 32], &plain);
        let FileData::Chunked { key, chunks } = &data else { panic!() };
        assert_eq!(sealed.len(), 3);
        assert_eq!(chunk_count(plain.len() as u64), 3);
        let mut out = Vec::new();
        for (i, c) in sealed.iter().enumerate() {
            assert_eq!(sha256(c), chunks[i]);
            assert_eq!(c.len(), plain[i * CHUNK_SIZE..].len().min(CHUNK_SIZE) + CHUNK_OVERHEAD);
            out.extend(open_chunk(key, i as u32, c).unwrap());
        }
        assert_eq!(out, plain);
        // A chunk does not open at another index or under another key.
        assert!(open_chunk(key, 1, &sealed[0]).is_err());
        assert!(open_chunk(&[4; 32], 0, &sealed[0]).is_err());
        let f = FileRef { name: "f".into(), size: plain.len() as u64, sha256: sha256(&plain), data };
        assert!(doc(Some(f.clone())).check("t").is_ok());
        let mut short = f.clone();
        short.size = 10;
        assert!(doc(Some(short)).check("t").is_err());
        assert_ne!(f.file_id(), None);
    }
}
