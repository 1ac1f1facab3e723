//! Typed errors (§4.7). Every reason an item can be rejected has its own variant, so the daemon
//! counts rejects by reason and a user sees what was wrong.

use crate::ids::{GroupId, OrgId};

/// Why a received item, token or value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("input of {len} bytes exceeds the limit of {max} bytes")]
    Oversize { len: usize, max: usize },
    #[error("malformed encoding: {0}")]
    Decode(String),
    #[error("{0} unexpected bytes after the end of the value")]
    TrailingBytes(usize),
    #[error("unknown protocol version {0} (this node speaks version {v})", v = crate::PROTOCOL_VERSION)]
    UnknownVersion(u8),
    #[error("signature does not verify")]
    BadSignature,
    #[error("invalid public key")]
    BadKey,
    #[error("field {field} is too long or has too many entries (limit {max})")]
    FieldTooLong { field: &'static str, max: usize },
    #[error("item kind in the header does not match the body")]
    KindMismatch,
    #[error("TLP {tlp} does not allow this body: {why}")]
    TlpBodyMismatch { tlp: crate::Tlp, why: &'static str },
    #[error("TLP {0} needs at least one recipient (--to ORG); it is never published as GREEN silently")]
    TlpMissingRecipients(crate::Tlp),
    #[error("item for group {0:?}, which this node does not know")]
    UnknownGroup(GroupId),
    #[error("sender {0:?} is not a member of the group at this epoch")]
    NotAMember(OrgId),
    #[error("sender {0:?} has the reader role and cannot publish")]
    ReaderCannotPublish(OrgId),
    #[error("sender {0:?} is not an admin at this point of the group log")]
    NotAnAdmin(OrgId),
    #[error("sequence {seq} of sender {sender:?} was already used by another item")]
    ReplayedSequence { sender: OrgId, seq: u64 },
    #[error("duplicate item")]
    Duplicate,
    #[error("key has expired or was revoked")]
    ExpiredKey,
    #[error("timestamp is too far in the future")]
    FromTheFuture,
    #[error("the publisher is over its rate quota")]
    OverQuota,
    #[error("no key to decrypt this item (not a recipient, or the epoch key is unknown)")]
    NoKey,
    #[error("decryption failed")]
    DecryptFailed,
    #[error("key commitment does not match")]
    BadCommitment,
    #[error("invalid {what}: {why}")]
    BadText { what: &'static str, why: String },
    #[error("invalid value: {0}")]
    Invalid(String),
    /// The receiver's own failure (its store, a full disk, a poisoned lock): nothing is wrong
    /// with the item, and the peer that sent it is not to blame (§4.7).
    #[error("local failure: {0}")]
    Local(String),
    /// A revision that breaks the rules of §4.9 (not the publisher, another group, a looser
    /// label, not a revision of a first publication).
    #[error("revision refused: {0}")]
    BadRevision(String),
}

/// A stable, low-cardinality name for each rejection reason, used as a metric label and in
/// logs (`trellis_rejects_total{reason=...}`).
pub type RejectReason = &'static str;

impl ProtoError {
    /// The reason's stable name.
    pub fn reason(&self) -> RejectReason {
        match self {
            ProtoError::Oversize { .. } => "oversize",
            ProtoError::Decode(_) => "malformed",
            ProtoError::TrailingBytes(_) => "trailing_bytes",
            ProtoError::UnknownVersion(_) => "unknown_version",
            ProtoError::BadSignature => "bad_signature",
            ProtoError::BadKey => "bad_key",
            ProtoError::FieldTooLong { .. } => "field_too_long",
            ProtoError::KindMismatch => "kind_mismatch",
            ProtoError::TlpBodyMismatch { .. } => "tlp_body_mismatch",
            ProtoError::TlpMissingRecipients(_) => "tlp_missing_recipients",
            ProtoError::UnknownGroup(_) => "unknown_group",
            ProtoError::NotAMember(_) => "not_a_member",
            ProtoError::ReaderCannotPublish(_) => "reader_cannot_publish",
            ProtoError::NotAnAdmin(_) => "not_an_admin",
            ProtoError::ReplayedSequence { .. } => "replayed_sequence",
            ProtoError::Duplicate => "duplicate",
            ProtoError::ExpiredKey => "expired_key",
            ProtoError::FromTheFuture => "from_the_future",
            ProtoError::OverQuota => "over_quota",
            ProtoError::NoKey => "no_key",
            ProtoError::DecryptFailed => "decrypt_failed",
            ProtoError::BadCommitment => "bad_commitment",
            ProtoError::BadText { .. } => "bad_text",
            ProtoError::Invalid(_) => "invalid",
            ProtoError::Local(_) => "local_error",
            ProtoError::BadRevision(_) => "bad_revision",
        }
    }
}
