//! The envelope (§3): how every item travels. Wire bytes are
//! `postcard(Header) || postcard(Body) || signature[64]`, and the signature is ed25519 (checked
//! by the rule of [`crate::sig`]: cofactored, batchable) over the exact received bytes before it
//! (under the tag `trellis/envelope/v1`), so a relay that cannot decrypt still checks author and
//! membership.
//! The item id is SHA-256 of the whole wire bytes (§3.5).
//!
//! Bodies (§5): CLEAR items carry the encoded payload in plaintext; GREEN items are encrypted
//! with the group's epoch key; AMBER, AMBER+STRICT and RED items with a fresh content key sealed
//! to each recipient with HPKE. Encrypted plaintexts carry an inner signature over the header
//! bytes and the payload (§5.4), so a decrypted item stays attributable and cannot be replayed
//! into another group, epoch or sequence.

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::crypto;
use crate::error::ProtoError;
use crate::ids::{GroupId, ItemId, OrgId};
use crate::items::Payload;
use crate::keys::{OrgKeys, Sig, verify_tagged};
use crate::limits::{MAX_ENVELOPE_BYTES, MAX_PAYLOAD_BYTES, MAX_RECIPIENTS};
use crate::sig::SigCheck;
use crate::tlp::Tlp;

/// Signature tag of envelopes.
pub const ENVELOPE_TAG: &str = "trellis/envelope/v1";
/// Signature tag of the inner signature of encrypted payloads.
pub const INNER_TAG: &str = "trellis/inner/v1";
/// HPKE `info` for content keys.
pub const CONTENT_KEY_INFO: &[u8] = b"trellis/content-key/v1";

/// The kind of item in an envelope (§4). Encoded as its variant index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    Advisory,
    Posture,
    Endorsement,
    Resource,
    GroupOp,
    EpochKey,
    Trust,
    KeyBundle,
    Revocation,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Advisory,
        Kind::Posture,
        Kind::Endorsement,
        Kind::Resource,
        Kind::GroupOp,
        Kind::EpochKey,
        Kind::Trust,
        Kind::KeyBundle,
        Kind::Revocation,
    ];

    /// Control-plane kinds (§4.8): the membership log, key shares, key bundles and revocations.
    /// They are signed plaintext labelled CLEAR, so every member can check them; what is secret
    /// inside them (key shares) is sealed to its recipient.
    pub fn is_control(self) -> bool {
        matches!(self, Kind::GroupOp | Kind::EpochKey | Kind::KeyBundle | Kind::Revocation)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Advisory => "advisory",
            Kind::Posture => "posture",
            Kind::Endorsement => "endorsement",
            Kind::Resource => "resource",
            Kind::GroupOp => "group_op",
            Kind::EpochKey => "epoch_key",
            Kind::Trust => "trust",
            Kind::KeyBundle => "key_bundle",
            Kind::Revocation => "revocation",
        }
    }
}

/// The signed header (§3.1). Its encoded bytes are also the AAD of an encrypted body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub version: u8,
    pub kind: Kind,
    pub group: GroupId,
    pub epoch: u64,
    pub sender: OrgId,
    pub seq: u64,
    pub timestamp_ms: u64,
    pub tlp: Tlp,
}

/// One recipient's copy of a content key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedKey {
    pub to: OrgId,
    pub enc: [u8; 32],
    #[serde(with = "crate::codec::bytes")]
    pub sealed: Vec<u8>,
}

/// The body (§5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// CLEAR and control items: the encoded [`Payload`].
    Clear(#[serde(with = "crate::codec::bytes")] Vec<u8>),
    /// GREEN: encrypted under the group's epoch key.
    Group {
        nonce: [u8; 24],
        commitment: [u8; 32],
        #[serde(with = "crate::codec::bytes")]
        ciphertext: Vec<u8>,
    },
    /// AMBER / AMBER+STRICT / RED: encrypted under a content key sealed to each recipient.
    Sealed {
        recipients: Vec<SealedKey>,
        nonce: [u8; 24],
        commitment: [u8; 32],
        #[serde(with = "crate::codec::bytes")]
        ciphertext: Vec<u8>,
    },
}

/// The plaintext of an encrypted body: the encoded payload and the sender's inner signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Inner {
    #[serde(with = "crate::codec::bytes")]
    payload: Vec<u8>,
    sig: Sig,
}

/// The inner signature of a decrypted body, not checked yet ([`Envelope::open_deferred`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InnerSig {
    /// The encoded payload the signature covers (after the header bytes).
    pub payload: Vec<u8>,
    pub sig: [u8; 64],
}

impl InnerSig {
    /// Check it alone (§5.4).
    pub fn verify(&self, env: &Envelope) -> Result<(), ProtoError> {
        crate::sig::verify_one(&env.inner_check(self))
    }
}

/// A body's plaintext before the payload is decoded.
enum Plain<'a> {
    /// A CLEAR body's payload bytes.
    Clear(&'a [u8]),
    /// The decrypted [`Inner`] record, still encoded.
    Inner(Vec<u8>),
}

/// A decoded envelope with the exact bytes it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub header: Header,
    pub body: Body,
    pub sig: Sig,
    /// The whole wire bytes.
    pub bytes: Vec<u8>,
    /// Length of the header's encoding at the start of `bytes` (the AAD).
    header_len: usize,
    pub id: ItemId,
}

/// Who may decrypt what is being published, with the randomness needed.
#[derive(Debug)]
pub enum Recipients<'a> {
    /// CLEAR and control items.
    Clear,
    /// GREEN: the current epoch key.
    Group { epoch_key: &'a [u8; 32] },
    /// AMBER/RED: each recipient's org id and current X25519 public key.
    Sealed { to: &'a [(OrgId, [u8; 32])] },
}

/// Everything needed to build an envelope.
#[derive(Debug)]
pub struct PublishRequest<'a> {
    pub group: GroupId,
    pub epoch: u64,
    pub seq: u64,
    pub timestamp_ms: u64,
    pub tlp: Tlp,
    pub payload: &'a Payload,
    pub recipients: Recipients<'a>,
}

/// Fresh randomness for one envelope, provided by the caller (§5.1: nonces are random).
#[derive(Debug, Clone)]
pub struct EnvelopeRandomness {
    pub nonce: [u8; 24],
    pub content_key: [u8; 32],
    /// One seed per recipient is derived from this for HPKE's ephemeral keys.
    pub hpke_seed: [u8; 32],
}

/// The key that opened an encrypted body: what a node keeps to read a stored item again without
/// holding a second, decrypted copy of it.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BodyKey {
    /// A GREEN body: the group epoch key it was encrypted under.
    Epoch([u8; 32]),
    /// A sealed body (AMBER, AMBER+STRICT, RED): its content key.
    Content([u8; 32]),
}

impl BodyKey {
    fn bytes(&self) -> &[u8; 32] {
        match self {
            BodyKey::Epoch(k) | BodyKey::Content(k) => k,
        }
    }
}

impl std::fmt::Debug for BodyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key material never goes to logs.
        match self {
            BodyKey::Epoch(_) => f.write_str("BodyKey::Epoch(..)"),
            BodyKey::Content(_) => f.write_str("BodyKey::Content(..)"),
        }
    }
}

/// The result of decrypting an envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedItem {
    pub payload: Payload,
    /// The key that opened the body (`None` for a CLEAR body).
    pub key: Option<BodyKey>,
}

/// Check that a TLP and a body form belong together (§5.2).
fn check_tlp_body(kind: Kind, tlp: Tlp, body: &Body) -> Result<(), ProtoError> {
    match (tlp, body) {
        (_, Body::Clear(_)) if kind.is_control() && tlp != Tlp::Clear => {
            Err(ProtoError::TlpBodyMismatch { tlp, why: "control items are labelled CLEAR" })
        }
        (_, _) if kind.is_control() && !matches!(body, Body::Clear(_)) => {
            Err(ProtoError::TlpBodyMismatch { tlp, why: "control items travel as signed plaintext" })
        }
        (Tlp::Clear, Body::Clear(_)) => Ok(()),
        (Tlp::Green, Body::Group { .. }) => Ok(()),
        (Tlp::Amber | Tlp::AmberStrict | Tlp::Red, Body::Sealed { recipients, .. }) => {
            if recipients.is_empty() {
                Err(ProtoError::TlpMissingRecipients(tlp))
            } else if recipients.len() > MAX_RECIPIENTS {
                Err(ProtoError::FieldTooLong { field: "recipients", max: MAX_RECIPIENTS })
            } else {
                Ok(())
            }
        }
        (Tlp::Clear, _) => Err(ProtoError::TlpBodyMismatch { tlp, why: "CLEAR items are signed plaintext" }),
        (Tlp::Green, _) => {
            Err(ProtoError::TlpBodyMismatch { tlp, why: "GREEN items are encrypted with the group key" })
        }
        (_, _) => Err(ProtoError::TlpBodyMismatch { tlp, why: "this label is encrypted to named recipients" }),
    }
}

impl Envelope {
    /// Build, encrypt and sign an envelope (§3, §5).
    pub fn build(keys: &OrgKeys, req: &PublishRequest<'_>, rand: &EnvelopeRandomness) -> Result<Envelope, ProtoError> {
        req.payload.check_limits()?;
        let kind = req.payload.kind();
        let header = Header {
            version: crate::PROTOCOL_VERSION,
            kind,
            group: req.group,
            epoch: req.epoch,
            sender: keys.org_id(),
            seq: req.seq,
            timestamp_ms: req.timestamp_ms,
            tlp: req.tlp,
        };
        let header_bytes = codec::encode(&header);
        let payload = codec::encode(req.payload);
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(ProtoError::Oversize { len: payload.len(), max: MAX_PAYLOAD_BYTES });
        }
        let inner = || {
            let mut signed = header_bytes.clone();
            signed.extend_from_slice(&payload);
            codec::encode(&Inner { payload: payload.clone(), sig: Sig(keys.sign(INNER_TAG, &signed)) })
        };
        let body = match &req.recipients {
            Recipients::Clear => Body::Clear(payload.clone()),
            Recipients::Group { epoch_key } => Body::Group {
                nonce: rand.nonce,
                commitment: crypto::commitment(epoch_key, &rand.nonce),
                ciphertext: crypto::seal_body(epoch_key, &rand.nonce, &header_bytes, &inner()),
            },
            Recipients::Sealed { to } => {
                let mut recipients = Vec::with_capacity(to.len());
                for (i, (org, x25519)) in to.iter().enumerate() {
                    let seed =
                        crate::ids::tagged_hash("trellis/hpke-seed/v1", &[&rand.hpke_seed, &(i as u64).to_be_bytes()]);
                    let (enc, sealed) =
                        crypto::seal_key(x25519, &rand.content_key, CONTENT_KEY_INFO, &header_bytes, seed)?;
                    recipients.push(SealedKey { to: *org, enc, sealed });
                }
                Body::Sealed {
                    recipients,
                    nonce: rand.nonce,
                    commitment: crypto::commitment(&rand.content_key, &rand.nonce),
                    ciphertext: crypto::seal_body(&rand.content_key, &rand.nonce, &header_bytes, &inner()),
                }
            }
        };
        check_tlp_body(kind, req.tlp, &body)?;
        let mut bytes = header_bytes.clone();
        bytes.extend_from_slice(&codec::encode(&body));
        let sig = Sig(keys.sign(ENVELOPE_TAG, &bytes));
        bytes.extend_from_slice(&sig.0);
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(ProtoError::Oversize { len: bytes.len(), max: MAX_ENVELOPE_BYTES });
        }
        let id = ItemId::of_envelope(&bytes);
        Ok(Envelope { header, body, sig, bytes, header_len: header_bytes.len(), id })
    }

    /// Decode wire bytes (§3.2): size limit first, then header, version, body, the exact 64
    /// signature bytes and nothing after them, then the TLP/body rule. Does not check the
    /// signature: call [`Envelope::verify_signature`].
    pub fn decode(bytes: &[u8]) -> Result<Envelope, ProtoError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(ProtoError::Oversize { len: bytes.len(), max: MAX_ENVELOPE_BYTES });
        }
        // The version is the first byte; check it before trusting the rest of the layout.
        match bytes.first() {
            None => return Err(ProtoError::Decode("empty input".into())),
            Some(&v) if v != crate::PROTOCOL_VERSION => return Err(ProtoError::UnknownVersion(v)),
            _ => {}
        }
        let (header, rest) =
            postcard::take_from_bytes::<Header>(bytes).map_err(|e| ProtoError::Decode(format!("header: {e}")))?;
        let header_len = bytes.len() - rest.len();
        let (body, rest) =
            postcard::take_from_bytes::<Body>(rest).map_err(|e| ProtoError::Decode(format!("body: {e}")))?;
        if rest.len() < 64 {
            return Err(ProtoError::Decode("signature missing or truncated".into()));
        }
        if rest.len() > 64 {
            return Err(ProtoError::TrailingBytes(rest.len() - 64));
        }
        let mut sig = [0u8; 64];
        sig.copy_from_slice(rest);
        check_tlp_body(header.kind, header.tlp, &body)?;
        Ok(Envelope { header, body, sig: Sig(sig), bytes: bytes.to_vec(), header_len, id: ItemId::of_envelope(bytes) })
    }

    /// Verify the outer signature over the exact received bytes (§3.3).
    pub fn verify_signature(&self) -> Result<(), ProtoError> {
        verify_tagged(&self.header.sender, ENVELOPE_TAG, self.signed_bytes(), &self.sig.0)
    }

    /// Decode and verify in one step.
    pub fn decode_verified(bytes: &[u8]) -> Result<Envelope, ProtoError> {
        let env = Self::decode(bytes)?;
        env.verify_signature()?;
        Ok(env)
    }

    /// The bytes the outer signature covers.
    pub fn signed_bytes(&self) -> &[u8] {
        &self.bytes[..self.bytes.len() - 64]
    }

    /// The header's exact bytes (the AAD of an encrypted body).
    pub fn header_bytes(&self) -> &[u8] {
        &self.bytes[..self.header_len]
    }

    /// Whether `org` is named as a recipient of a sealed body.
    pub fn is_recipient(&self, org: &OrgId) -> bool {
        match &self.body {
            Body::Sealed { recipients, .. } => recipients.iter().any(|r| &r.to == org),
            _ => false,
        }
    }

    /// The orgs named as recipients (empty for CLEAR and GREEN).
    pub fn recipients(&self) -> Vec<OrgId> {
        match &self.body {
            Body::Sealed { recipients, .. } => recipients.iter().map(|r| r.to).collect(),
            _ => Vec::new(),
        }
    }

    /// Decrypt and check the payload (§5.4). `epoch_keys` are the group keys this node holds
    /// (the right one is found by its commitment); `me` opens sealed bodies. Checks the inner
    /// signature, that the payload kind matches the header, and the field limits.
    pub fn open(&self, me: Option<&OrgKeys>, epoch_keys: &[[u8; 32]]) -> Result<OpenedItem, ProtoError> {
        let (plain, key) = self.decrypt(me, epoch_keys)?;
        let payload = match plain {
            Plain::Clear(p) => self.decode_payload(p)?,
            Plain::Inner(inner) => self.decode_payload(&self.check_inner(&inner)?)?,
        };
        payload.check_limits()?;
        Ok(OpenedItem { payload, key })
    }

    /// [`Self::open`] without checking the inner signature: the payload is decrypted, decoded and
    /// checked (kind, limits), and the inner signature is returned for the caller to check, alone
    /// ([`InnerSig::verify`]) or in a batch with others ([`crate::sig::verify_batch`] on
    /// [`Self::inner_check`]). The item is valid only once that check passed (§5.4).
    pub fn open_deferred(
        &self,
        me: Option<&OrgKeys>,
        epoch_keys: &[[u8; 32]],
    ) -> Result<(OpenedItem, Option<InnerSig>), ProtoError> {
        let (plain, key) = self.decrypt(me, epoch_keys)?;
        let (payload, inner) = match plain {
            Plain::Clear(p) => (self.decode_payload(p)?, None),
            Plain::Inner(inner) => {
                let inner: Inner = codec::decode(&inner, MAX_ENVELOPE_BYTES)?;
                (self.decode_payload(&inner.payload)?, Some(InnerSig { payload: inner.payload, sig: inner.sig.0 }))
            }
        };
        payload.check_limits()?;
        Ok((OpenedItem { payload, key }, inner))
    }

    /// The outer signature as a check to run (§3.3): what [`Self::verify_signature`] checks.
    pub fn outer_check(&self) -> SigCheck<'_> {
        SigCheck { org: &self.header.sender, tag: ENVELOPE_TAG, data: [self.signed_bytes(), &[]], sig: &self.sig.0 }
    }

    /// The inner signature of this envelope's decrypted body as a check to run (§5.4).
    pub fn inner_check<'a>(&'a self, inner: &'a InnerSig) -> SigCheck<'a> {
        SigCheck {
            org: &self.header.sender,
            tag: INNER_TAG,
            data: [self.header_bytes(), &inner.payload],
            sig: &inner.sig,
        }
    }

    /// The body's plaintext: the payload bytes of a CLEAR body, or the decrypted inner record.
    fn decrypt(
        &self,
        me: Option<&OrgKeys>,
        epoch_keys: &[[u8; 32]],
    ) -> Result<(Plain<'_>, Option<BodyKey>), ProtoError> {
        Ok(match &self.body {
            Body::Clear(p) => (Plain::Clear(p), None),
            Body::Group { nonce, commitment, ciphertext } => {
                let key =
                    epoch_keys.iter().find(|k| &crypto::commitment(k, nonce) == commitment).ok_or(ProtoError::NoKey)?;
                let inner = crypto::open_body(key, nonce, commitment, self.header_bytes(), ciphertext)?;
                (Plain::Inner(inner), Some(BodyKey::Epoch(*key)))
            }
            Body::Sealed { recipients, nonce, commitment, ciphertext } => {
                let me = me.ok_or(ProtoError::NoKey)?;
                let mine = recipients.iter().find(|r| r.to == me.org_id()).ok_or(ProtoError::NoKey)?;
                let key = me
                    .all_encryption()
                    .find_map(|s| {
                        crypto::open_key(s, &mine.enc, &mine.sealed, CONTENT_KEY_INFO, self.header_bytes()).ok()
                    })
                    .ok_or(ProtoError::NoKey)?;
                let inner = crypto::open_body(&key, nonce, commitment, self.header_bytes(), ciphertext)?;
                (Plain::Inner(inner), Some(BodyKey::Content(key)))
            }
        })
    }

    /// Read the payload of an envelope that [`Self::open`] already accepted, with the key it
    /// returned: how a node reads what it stored. The body is decrypted and authenticated again
    /// (XChaCha20-Poly1305 and the key commitment), but the inner signature and the field limits,
    /// checked when the item was received, are not checked a second time.
    pub fn reopen(&self, key: Option<&BodyKey>) -> Result<Payload, ProtoError> {
        let payload_bytes = match (&self.body, key) {
            (Body::Clear(p), _) => return self.decode_payload(p),
            (Body::Group { nonce, commitment, ciphertext }, Some(k @ BodyKey::Epoch(_)))
            | (Body::Sealed { nonce, commitment, ciphertext, .. }, Some(k @ BodyKey::Content(_))) => {
                let plain = crypto::open_body(k.bytes(), nonce, commitment, self.header_bytes(), ciphertext)?;
                let inner: Inner = codec::decode(&plain, MAX_ENVELOPE_BYTES)?;
                inner.payload
            }
            (_, Some(_)) => return Err(ProtoError::Invalid("the stored key does not match the body's form".into())),
            (_, None) => return Err(ProtoError::NoKey),
        };
        self.decode_payload(&payload_bytes)
    }

    /// Decrypt a sealed body with a content key obtained earlier (explicit re-share, §5.3).
    pub fn open_with_content_key(&self, key: &[u8; 32]) -> Result<Payload, ProtoError> {
        let Body::Sealed { nonce, commitment, ciphertext, .. } = &self.body else {
            return Err(ProtoError::Invalid("not a sealed item".into()));
        };
        let inner = crypto::open_body(key, nonce, commitment, self.header_bytes(), ciphertext)?;
        let payload = self.decode_payload(&self.check_inner(&inner)?)?;
        // Same bounds as `open`: a re-shared key must not admit what the first opening refused.
        payload.check_limits()?;
        Ok(payload)
    }

    /// Decode a payload and check that its kind is the header's.
    fn decode_payload(&self, bytes: &[u8]) -> Result<Payload, ProtoError> {
        let payload: Payload = codec::decode(bytes, MAX_PAYLOAD_BYTES)?;
        if payload.kind() != self.header.kind {
            return Err(ProtoError::KindMismatch);
        }
        Ok(payload)
    }

    fn check_inner(&self, plaintext: &[u8]) -> Result<Vec<u8>, ProtoError> {
        let inner: Inner = codec::decode(plaintext, MAX_ENVELOPE_BYTES)?;
        let mut signed = self.header_bytes().to_vec();
        signed.extend_from_slice(&inner.payload);
        verify_tagged(&self.header.sender, INNER_TAG, &signed, &inner.sig.0)?;
        Ok(inner.payload)
    }
}
