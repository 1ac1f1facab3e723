//! Identifiers (§2): organizations, groups and items.
//!
//! An [`OrgId`] is an organization's ed25519 public key. Its full text form is the key in
//! lower-case base32 (52 characters, copyable, round-trips); its fingerprint is the first 16
//! characters of that form, grouped by four for reading aloud, so a fingerprint is always a
//! prefix of the full id and either can be typed where an org is asked for.
//! A [`GroupId`] is the SHA-256 of the group's signed genesis; an [`ItemId`] the SHA-256 of an
//! envelope's exact bytes.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::codec::{base32, from_base32};
use crate::error::ProtoError;

macro_rules! id32 {
    ($name:ident, $what:literal) => {
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// The raw 32 bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
            /// Full text form: lower-case unpadded base32 of the 32 bytes.
            pub fn to_text(&self) -> String {
                base32(&self.0)
            }
            /// First 12 characters of the text form, for logs.
            pub fn short(&self) -> String {
                let mut t = self.to_text();
                t.truncate(12);
                t
            }
            /// Parse the full text form.
            pub fn parse(text: &str) -> Result<Self, ProtoError> {
                let bytes = from_base32(text).ok_or_else(|| ProtoError::BadText {
                    what: $what,
                    why: "it is not base32 text (letters a-z and digits 2-7)".into(),
                })?;
                let arr: [u8; 32] = bytes.try_into().map_err(|v: Vec<u8>| ProtoError::BadText {
                    what: $what,
                    why: format!("it encodes {} bytes, expected 32 (52 characters of base32)", v.len()),
                })?;
                Ok(Self(arr))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.to_text())
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.short())
            }
        }

        impl std::str::FromStr for $name {
            type Err = ProtoError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

id32!(OrgId, "organization id");
id32!(GroupId, "group id");
id32!(ItemId, "item id");

impl OrgId {
    /// The short human fingerprint: the first 16 characters of the full form, as
    /// `abcd-efgh-ijkl-mnop`.
    pub fn fingerprint(&self) -> String {
        let t = self.to_text();
        let b = t.as_bytes();
        format!("{}-{}-{}-{}", &t[0..4], &t[4..8], &t[8..12], std::str::from_utf8(&b[12..16]).unwrap_or(""))
    }

    /// Whether `text` (a fingerprint with or without dashes, or any prefix of at least 8
    /// characters of the full form) designates this org.
    pub fn matches(&self, text: &str) -> bool {
        let wanted: String = text.trim().chars().filter(|c| *c != '-').collect::<String>().to_ascii_lowercase();
        wanted.len() >= 8 && self.to_text().starts_with(&wanted)
    }
}

/// SHA-256 of `parts`, each prefixed by its length, under a domain-separation tag.
pub fn tagged_hash(tag: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((tag.len() as u32).to_be_bytes());
    h.update(tag.as_bytes());
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

impl ItemId {
    /// The id of an envelope: SHA-256 over its exact wire bytes (§3.5).
    pub fn of_envelope(bytes: &[u8]) -> Self {
        ItemId(tagged_hash("trellis/item/v1", &[bytes]))
    }
}

impl GroupId {
    /// The gossip topic name of this group (§6.1): derived from the id, so names never travel.
    pub fn topic(&self) -> String {
        format!("trellis/1/g/{}", self.to_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_fingerprint() {
        let id = OrgId([7u8; 32]);
        let text = id.to_text();
        assert_eq!(text.len(), 52);
        assert_eq!(OrgId::parse(&text).unwrap(), id);
        assert_eq!(OrgId::parse(&text.to_uppercase()).unwrap(), id);
        let fp = id.fingerprint();
        assert_eq!(fp.len(), 19);
        assert!(id.matches(&fp));
        assert!(id.matches(&fp.replace('-', "")));
        assert!(!id.matches("abc"));
        assert!(!OrgId([8u8; 32]).matches(&fp));
    }

    #[test]
    fn bad_text_is_explained() {
        let e = OrgId::parse("not base32!").unwrap_err().to_string();
        assert!(e.contains("base32"), "{e}");
        let e = OrgId::parse("aaaa").unwrap_err().to_string();
        assert!(e.contains("expected 32"), "{e}");
    }
}
