//! `trellis-proto`: the pure heart of the Trellis protocol.
//!
//! Everything two nodes must agree on lives here: identities and keys ([`ids`], [`keys`]), the item
//! kinds ([`items`]), the signed envelope and its byte format ([`envelope`]), encryption of bodies
//! ([`crypto`]), the group membership log and its deterministic rules ([`group`]), TLP ([`tlp`]),
//! size limits ([`limits`]), and the typed reasons an item is rejected ([`error`]).
//!
//! The crate performs no I/O, owns no clock and no random number generator: time is passed in as
//! Unix milliseconds, randomness as byte arrays or an explicit RNG argument. `proto/PROTOCOL.md`
//! is the specification; the `§` references in doc comments point to its sections.
#![forbid(unsafe_code)]
#![deny(missing_debug_implementations)]

pub mod codec;
pub mod crypto;
pub mod envelope;
pub mod error;
pub mod formats;
pub mod group;
pub mod help;
pub mod ids;
pub mod invite;
pub mod invite_link;
pub mod items;
pub mod keys;
pub mod lifecycle;
pub mod limits;
pub mod posture;
pub mod resource;
pub mod sig;
pub mod tlp;
pub mod trust;
pub mod wire;

pub use envelope::{Body, BodyKey, Envelope, Header, Kind, OpenedItem, PublishRequest, Recipients};
pub use error::{ProtoError, RejectReason};
pub use ids::{GroupId, ItemId, OrgId};
pub use items::Payload;
pub use keys::{ContactCard, KeyBundle, OrgKeys, SignedKeyBundle};
pub use tlp::Tlp;

/// The envelope format version this crate writes and accepts (§3.1).
pub const PROTOCOL_VERSION: u8 = 1;
