//! Encryption primitives (§5.1–5.2): XChaCha20-Poly1305 bodies with a key commitment, and keys
//! sealed to an org's X25519 key with HPKE (RFC 9180, base mode,
//! DHKEM(X25519, HKDF-SHA256) + HKDF-SHA256 + ChaCha20-Poly1305).
//!
//! ChaCha20-Poly1305 is not key-committing: a ciphertext can be crafted to decrypt under two
//! keys. Every encrypted body therefore carries `commitment = H("trellis/commit/v1", key, nonce)`,
//! checked before decryption, so a body opens under exactly one key.
//!
//! Randomness comes from the caller: nonces and keys as byte arrays, and HPKE's ephemeral key
//! from [`SeedRng`], a deterministic stream expanded from a caller-provided 32-byte seed.

use chacha20poly1305::aead::{Aead, KeyInit, Payload as AeadPayload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use zeroize::Zeroize;

use crate::error::ProtoError;
use crate::ids::tagged_hash;
use crate::keys::EncryptionSecret;

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type HpkeAead = hpke::aead::ChaCha20Poly1305;

/// Length of a key sealed with HPKE: 32 bytes of key + 16 bytes of tag.
pub const SEALED_KEY_LEN: usize = 48;

/// The commitment to `key` for a body encrypted with `nonce`.
pub fn commitment(key: &[u8; 32], nonce: &[u8; 24]) -> [u8; 32] {
    tagged_hash("trellis/commit/v1", &[key, nonce])
}

/// Encrypt `plaintext` under `key` with `nonce`, authenticating `aad`.
pub fn seal_body(key: &[u8; 32], nonce: &[u8; 24], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(&(*key).into());
    // Encryption only fails for inputs over 256 GiB; our payloads are bounded far below.
    cipher.encrypt(&XNonce::from(*nonce), AeadPayload { msg: plaintext, aad }).unwrap_or_default()
}

/// Check the commitment, then decrypt.
pub fn open_body(
    key: &[u8; 32],
    nonce: &[u8; 24],
    commit: &[u8; 32],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, ProtoError> {
    if &commitment(key, nonce) != commit {
        return Err(ProtoError::BadCommitment);
    }
    let cipher = XChaCha20Poly1305::new(&(*key).into());
    cipher.decrypt(&XNonce::from(*nonce), AeadPayload { msg: ciphertext, aad }).map_err(|_| ProtoError::DecryptFailed)
}

/// Whether `public` is an X25519 key that a shared secret can be agreed with: not one of the
/// small-order points (nor a non-canonical encoding of one), for which every Diffie-Hellman
/// result is all zeros and HPKE refuses to seal (§2.2). A key bundle carrying such a key is
/// refused, so no member can make sealing to the whole group fail.
pub fn usable_x25519(public: &[u8; 32]) -> bool {
    // Any clamped scalar is a multiple of the cofactor, so the product with a small-order point
    // is the identity: `was_contributory` is false exactly for those points.
    let probe = x25519_dalek::StaticSecret::from([0x5a; 32]);
    probe.diffie_hellman(&x25519_dalek::PublicKey::from(*public)).was_contributory()
}

/// Seal a 32-byte key to `recipient` (an X25519 public key). Returns the encapsulated key and the
/// sealed bytes ([`SEALED_KEY_LEN`]).
pub fn seal_key(
    recipient: &[u8; 32],
    key: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    seed: [u8; 32],
) -> Result<([u8; 32], Vec<u8>), ProtoError> {
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(recipient).map_err(|_| ProtoError::BadKey)?;
    let mut rng = SeedRng::new(seed);
    let (enc, ct) =
        hpke::single_shot_seal_with_rng::<HpkeAead, Kdf, Kem>(&OpModeS::Base, &pk, info, key, aad, &mut rng)
            .map_err(|_| ProtoError::BadKey)?;
    let enc_bytes = enc.to_bytes();
    let mut out = [0u8; 32];
    out.copy_from_slice(enc_bytes.as_slice());
    Ok((out, ct))
}

/// Open a key sealed by [`seal_key`] with our X25519 secret.
pub fn open_key(
    secret: &EncryptionSecret,
    enc: &[u8; 32],
    sealed: &[u8],
    info: &[u8],
    aad: &[u8],
) -> Result<[u8; 32], ProtoError> {
    if sealed.len() != SEALED_KEY_LEN {
        return Err(ProtoError::DecryptFailed);
    }
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(&secret.0).map_err(|_| ProtoError::BadKey)?;
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc).map_err(|_| ProtoError::DecryptFailed)?;
    let mut pt = hpke::single_shot_open::<HpkeAead, Kdf, Kem>(&OpModeR::Base, &sk, &enc, info, sealed, aad)
        .map_err(|_| ProtoError::DecryptFailed)?;
    let mut key = [0u8; 32];
    key.copy_from_slice(&pt);
    pt.zeroize();
    Ok(key)
}

/// A deterministic byte stream expanded from a caller-provided seed (SHA-256 in counter mode).
/// It lets HPKE draw its ephemeral key from randomness the caller supplied, keeping this crate
/// free of any RNG of its own. Each seed must be fresh randomness and used once.
#[derive(Debug)]
pub struct SeedRng {
    seed: [u8; 32],
    counter: u64,
    buf: [u8; 32],
    pos: usize,
}

impl SeedRng {
    pub fn new(seed: [u8; 32]) -> Self {
        SeedRng { seed, counter: 0, buf: [0; 32], pos: 32 }
    }

    fn fill(&mut self, dest: &mut [u8]) {
        for b in dest {
            if self.pos == 32 {
                self.buf = tagged_hash("trellis/seed-rng/v1", &[&self.seed, &self.counter.to_be_bytes()]);
                self.counter += 1;
                self.pos = 0;
            }
            *b = self.buf[self.pos];
            self.pos += 1;
        }
    }
}

impl Drop for SeedRng {
    fn drop(&mut self) {
        self.seed.zeroize();
        self.buf.zeroize();
    }
}

impl hpke::rand_core::TryRng for SeedRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.fill(&mut b);
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Self::Error> {
        self.fill(dest);
        Ok(())
    }
}

impl hpke::rand_core::TryCryptoRng for SeedRng {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_round_trip_and_commitment() {
        let key = [1u8; 32];
        let nonce = [2u8; 24];
        let ct = seal_body(&key, &nonce, b"aad", b"hello");
        let c = commitment(&key, &nonce);
        assert_eq!(open_body(&key, &nonce, &c, b"aad", &ct).unwrap(), b"hello");
        assert_eq!(open_body(&key, &nonce, &c, b"other", &ct), Err(ProtoError::DecryptFailed));
        assert_eq!(open_body(&[9u8; 32], &nonce, &c, b"aad", &ct), Err(ProtoError::BadCommitment));
    }

    #[test]
    fn hpke_round_trip() {
        let secret = EncryptionSecret::from_bytes([5u8; 32]);
        let (enc, sealed) = seal_key(&secret.public(), &[7u8; 32], b"info", b"aad", [3u8; 32]).unwrap();
        assert_eq!(sealed.len(), SEALED_KEY_LEN);
        assert_eq!(open_key(&secret, &enc, &sealed, b"info", b"aad").unwrap(), [7u8; 32]);
        assert!(open_key(&secret, &enc, &sealed, b"info", b"bad").is_err());
        let other = EncryptionSecret::from_bytes([6u8; 32]);
        assert!(open_key(&other, &enc, &sealed, b"info", b"aad").is_err());
    }
}
