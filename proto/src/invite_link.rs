//! Invite links (§6.10): a token an admin's node hands out once and a newcomer redeems in one
//! step. Unlike an invite token (§6.3), which an admin makes for one contact card it already
//! holds, a link names no invitee: it carries the group, the inviter's node addresses and a
//! one-time secret. The newcomer's node sends the secret with its contact card to the inviter's
//! node over the direct protocol (§9, `JoinLink`); that node checks the secret, the link's use
//! count, expiry and revocation, admits the card's org with an ordinary `Add` op and answers with
//! an ordinary invite token (`Joined`), which the newcomer joins with exactly as with a token
//! from `group invite`. A link never carries a group key: the key share travels in the `Add` op,
//! sealed to the newcomer's card.
//!
//! The inviter stores only [`secret_hash`] of the secret, and compares it in constant time.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::codec;
use crate::error::ProtoError;
use crate::group::Role;
use crate::ids::{GroupId, OrgId, tagged_hash};
use crate::limits::{MAX_GROUP_NAME, MAX_SHORT};

/// Text prefix of an invite link.
pub const LINK_PREFIX: &str = "trellis-link1:";
/// Addresses an invite link lists at most (as cards and invite tokens do).
pub const MAX_LINK_ADDRS: usize = 16;
/// Uses one link may allow at most.
pub const MAX_LINK_USES: u32 = 1000;
/// Longest validity of a link: 90 days.
pub const MAX_LINK_LIFETIME_MS: u64 = 90 * 24 * 3600 * 1000;

/// A link's public id: names it in listings and revocations, and lets the inviter find its
/// record before the secret is compared.
pub type LinkId = [u8; 16];

/// An invite link, as its token carries it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteLink {
    /// The group it admits to, and its name (for display and the newcomer's name checks; the
    /// genesis in the answer is what counts).
    pub group: GroupId,
    pub group_name: String,
    /// The org of the admin whose node issued it.
    pub inviter: OrgId,
    /// Multiaddrs of the inviter's node, each ending in `/p2p/<peer id>`.
    pub addrs: Vec<String>,
    pub id: LinkId,
    /// The one-time secret: 32 random bytes. Only its hash is kept by the inviter.
    pub secret: [u8; 32],
    /// The role the link admits with (informational: the inviter's record decides).
    pub role: Role,
    /// When the link stops being accepted (informational: the inviter's record decides).
    pub expires_ms: u64,
}

impl std::fmt::Debug for InviteLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InviteLink")
            .field("group", &self.group)
            .field("id", &link_id_text(&self.id))
            .field("secret", &"..")
            .finish()
    }
}

impl InviteLink {
    /// The one-line token.
    pub fn to_text(&self) -> String {
        codec::to_token(LINK_PREFIX, self)
    }

    /// Parse a token and check its bounds: a group name of 1 to 128 bytes, 1 to 16 addresses
    /// of at most 1024 bytes each. What the token claims is checked by the inviter's node.
    pub fn parse(text: &str) -> Result<InviteLink, ProtoError> {
        let link: InviteLink = codec::from_token(LINK_PREFIX, text, "invite link")?;
        let bad = |why: &str| ProtoError::BadText { what: "invite link", why: why.to_string() };
        if link.group_name.is_empty() || link.group_name.len() > MAX_GROUP_NAME {
            return Err(bad("its group name is empty or longer than 128 bytes"));
        }
        if link.addrs.is_empty() {
            return Err(bad("it lists no address of the inviter's node"));
        }
        if link.addrs.len() > MAX_LINK_ADDRS || link.addrs.iter().any(|a| a.len() > MAX_SHORT) {
            return Err(bad("too many or too long addresses"));
        }
        Ok(link)
    }

    /// Whether `text` is shaped like an invite link (by its prefix).
    pub fn is_link(text: &str) -> bool {
        text.trim_start().starts_with(LINK_PREFIX)
    }
}

/// What the inviter stores instead of the secret: `H("trellis/invite-link/v1", id, secret)`.
pub fn secret_hash(id: &LinkId, secret: &[u8; 32]) -> [u8; 32] {
    tagged_hash("trellis/invite-link/v1", &[id, secret])
}

/// Whether `secret` is the one whose hash is `stored`, compared in constant time.
pub fn secret_matches(id: &LinkId, secret: &[u8; 32], stored: &[u8; 32]) -> bool {
    secret_hash(id, secret).ct_eq(stored).into()
}

/// A link id as text: 26 base32 characters, lower case.
pub fn link_id_text(id: &LinkId) -> String {
    data_encoding::BASE32_NOPAD.encode(id).to_ascii_lowercase()
}

/// Parse a link id's text form (case-insensitive, surrounding whitespace ignored).
pub fn parse_link_id(text: &str) -> Result<LinkId, ProtoError> {
    let bad = || ProtoError::BadText {
        what: "invite link id",
        why: "expected the 26-character id `trellis group invite-links` shows".into(),
    };
    let bytes = data_encoding::BASE32_NOPAD.decode(text.trim().to_ascii_uppercase().as_bytes()).map_err(|_| bad())?;
    bytes.try_into().map_err(|_| bad())
}

/// Why an inviter's node refused a join request (§6.10). Stable names: [`JoinRefusal::reason`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JoinRefusal {
    /// The link was used as many times as it allows.
    UsedUp,
    /// The link's validity ended.
    Expired,
    /// An admin revoked the link.
    Revoked,
    /// The inviter's node issued no link with this id and secret (forged, mistyped, or issued
    /// by another node).
    Unknown,
    /// The request is malformed: an invalid card, a card of another org than the requesting
    /// node's, or a group the link is not for.
    Malformed,
    /// The requesting org is already a member of the group.
    AlreadyMember,
    /// Too many join requests from this peer lately.
    RateLimited,
    /// The inviter cannot admit anyone now (no longer an admin, the group is gone, its own
    /// failure); the link is unchanged.
    Unavailable,
}

impl JoinRefusal {
    /// The stable name of the reason.
    pub fn reason(self) -> &'static str {
        match self {
            JoinRefusal::UsedUp => "used_up",
            JoinRefusal::Expired => "expired",
            JoinRefusal::Revoked => "revoked",
            JoinRefusal::Unknown => "unknown_link",
            JoinRefusal::Malformed => "malformed",
            JoinRefusal::AlreadyMember => "already_member",
            JoinRefusal::RateLimited => "rate_limited",
            JoinRefusal::Unavailable => "unavailable",
        }
    }

    /// What the reason means, for a person.
    pub fn describe(self) -> &'static str {
        match self {
            JoinRefusal::UsedUp => "the invite link has been used as many times as it allows (used up)",
            JoinRefusal::Expired => "the invite link has expired",
            JoinRefusal::Revoked => "the invite link was revoked by an admin",
            JoinRefusal::Unknown => {
                "the inviter's node issued no such invite link (forged, mistyped, or issued by another node)"
            }
            JoinRefusal::Malformed => "the join request was malformed",
            JoinRefusal::AlreadyMember => "this organization is already a member of the group",
            JoinRefusal::RateLimited => "too many join attempts from this node; wait a minute and retry",
            JoinRefusal::Unavailable => "the inviter's node cannot admit anyone to this group now",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> InviteLink {
        InviteLink {
            group: GroupId([1; 32]),
            group_name: "water".into(),
            inviter: OrgId([2; 32]),
            addrs: vec!["/ip4/127.0.0.1/tcp/7420/p2p/12D3KooWxyz".into()],
            id: [3; 16],
            secret: [4; 32],
            role: Role::Member,
            expires_ms: 5,
        }
    }

    #[test]
    fn round_trip_and_bounds() {
        let l = link();
        let t = l.to_text();
        assert!(t.starts_with(LINK_PREFIX) && InviteLink::is_link(&t));
        assert_eq!(InviteLink::parse(&format!("  {t}\n")).unwrap(), l);
        assert!(!format!("{l:?}").contains("4, 4"), "Debug must not print the secret");
        let mut none = link();
        none.addrs.clear();
        assert!(InviteLink::parse(&none.to_text()).is_err());
        let mut many = link();
        many.addrs = vec!["/ip4/1.2.3.4/tcp/1".into(); MAX_LINK_ADDRS + 1];
        assert!(InviteLink::parse(&many.to_text()).is_err());
        let mut long = link();
        long.group_name = "x".repeat(MAX_GROUP_NAME + 1);
        assert!(InviteLink::parse(&long.to_text()).is_err());
        // A cut-off token does not decode, nor does an invite token of the other kind.
        assert!(InviteLink::parse(&t[..t.len() - 3]).is_err());
        assert!(InviteLink::parse("trellis-invite1:AAAA").is_err());
    }

    #[test]
    fn secrets_are_hashed_and_bound_to_the_id() {
        let stored = secret_hash(&[3; 16], &[4; 32]);
        assert!(secret_matches(&[3; 16], &[4; 32], &stored));
        assert!(!secret_matches(&[3; 16], &[5; 32], &stored));
        assert!(!secret_matches(&[9; 16], &[4; 32], &stored));
        assert_ne!(stored, [4; 32]);
    }

    #[test]
    fn link_ids_round_trip() {
        let id = [0xab; 16];
        let t = link_id_text(&id);
        assert_eq!(t.len(), 26);
        assert_eq!(parse_link_id(&t.to_uppercase()).unwrap(), id);
        assert!(parse_link_id("short").is_err());
    }
}
