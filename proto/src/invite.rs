//! Invite tokens (§6.3): what an admin's `group invite` prints and the newcomer passes to
//! `group join`. A token carries the signed genesis, the envelope of the `Add` op that admitted
//! the newcomer (which holds its share of the current epoch key), and addresses to dial.

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::envelope::Envelope;
use crate::error::ProtoError;
use crate::group::{OpAction, SignedGenesis};
use crate::ids::{GroupId, OrgId};
use crate::items::Payload;

/// An invitation into a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    pub genesis: SignedGenesis,
    /// Wire bytes of the `Add` op envelope.
    pub add_op: Vec<u8>,
    /// Multiaddrs (with `/p2p/` peer id) of the inviter's node.
    pub addrs: Vec<String>,
}

/// What a verified invite says.
#[derive(Clone, Debug)]
pub struct VerifiedInvite {
    pub invite: Invite,
    pub group: GroupId,
    pub inviter: OrgId,
    pub invitee: OrgId,
    pub add_op: Envelope,
}

impl Invite {
    pub const PREFIX: &'static str = "trellis-invite1:";

    pub fn to_text(&self) -> String {
        codec::to_token(Self::PREFIX, self)
    }

    /// Parse and check a token: the genesis signature, the op's signature, that the op is an
    /// `Add` in this group, and that it admits `me`.
    pub fn parse(text: &str, me: &OrgId) -> Result<VerifiedInvite, ProtoError> {
        let bad = |why: String| ProtoError::BadText { what: "invite token", why };
        let invite: Invite = codec::from_token(Self::PREFIX, text, "invite token")?;
        invite.genesis.verify().map_err(|e| bad(format!("its group genesis does not verify: {e}")))?;
        let group = invite.genesis.group_id();
        let add_op =
            Envelope::decode_verified(&invite.add_op).map_err(|e| bad(format!("its membership op is invalid: {e}")))?;
        if add_op.header.group != group {
            return Err(bad("its membership op belongs to another group".into()));
        }
        let opened = add_op.open(None, &[]).map_err(|e| bad(format!("its membership op does not open: {e}")))?;
        let Payload::GroupOp(op) = opened.payload else {
            return Err(bad("it carries no membership op".into()));
        };
        let OpAction::Add { member, .. } = &op.action else {
            return Err(bad("its op is not an invitation".into()));
        };
        if member.bundle.org != *me {
            return Err(bad(format!(
                "it invites organization {}, not this one ({}); ask the admin to invite the card printed by `trellis id`",
                member.bundle.org.fingerprint(),
                me.fingerprint()
            )));
        }
        if invite.addrs.len() > 16 || invite.addrs.iter().any(|a| a.len() > crate::limits::MAX_SHORT) {
            return Err(bad("too many or too long addresses".into()));
        }
        Ok(VerifiedInvite { inviter: add_op.header.sender, invitee: *me, group, add_op, invite })
    }
}
