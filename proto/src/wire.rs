//! The direct request-response protocol between nodes (§9): catch-up sync and direct delivery.
//! The message types and their frame codec live here, next to the envelope, because they are
//! network input like the envelope; the daemon only moves the frames over libp2p streams.
//!
//! A frame is a 4-byte big-endian length followed by one postcard value with no trailing bytes.
//! The length is checked against the limit before anything is allocated ([`frame_len`]), the
//! body is decoded with [`decode_request`] / [`decode_response`].
//!
//! A have-list (what a requester holds of a group, per sender) is checked and indexed by
//! [`HaveIndex`]: at most [`MAX_HAVE_RANGES`] ranges, sorted and merged once, then each stored
//! sequence number is looked up by binary search, so an answer costs
//! O(ranges · log ranges + items scanned · log ranges), never O(items × ranges).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::error::ProtoError;
use crate::ids::{GroupId, OrgId};
use crate::keys::SignedNodeBinding;

/// Protocol name (libp2p stream protocol). Version 2 added the sync cursor (§9).
pub const SYNC_PROTOCOL_NAME: &str = "/trellis/sync/2";
/// Largest request frame: a sync request carries a per-sender range vector.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// Largest response frame.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// Envelope bytes a responder puts in one sync answer before saying `more`.
pub const SYNC_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Items in one sync answer at most (counted after filtering: only items actually sent count).
pub const SYNC_BATCH_ITEMS: usize = 2000;
/// Stored items a responder looks at and leaves out (RED, content for a departed member) in one
/// answer at most; beyond it the answer ends with `more` and a cursor, possibly with no items.
pub const SYNC_SCAN_ITEMS: usize = 10_000;
/// Ranges in one have-list at most (summed over senders; a sender with no range counts one).
pub const MAX_HAVE_RANGES: usize = 65_536;
/// Longest self-declared org name in a `Hello`.
pub const MAX_HELLO_NAME: usize = crate::limits::MAX_SHORT;
/// Most group ops one `Ops` request may ask for by id.
pub const MAX_OPS_BY_ID: usize = 64;

/// A position in a group's (sender, sequence) order: the last entry an answer looked at. The
/// next answer starts after it.
pub type Cursor = (OrgId, u64);

/// A request, always carrying the requester's node binding so the responder knows which org
/// asks (it checks the binding against the connection's transport key).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Request {
    pub binding: SignedNodeBinding,
    pub body: RequestBody,
}

/// What is asked.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum RequestBody {
    /// "This is who I am" (the binding in the request, and the org's self-declared name): the
    /// responder answers with its own, so both sides learn the org behind the connection.
    Hello { name: String },
    /// Direct delivery of a RED item to one of its recipients (§5.2): never gossiped.
    Deliver {
        #[serde(with = "crate::codec::bytes")]
        envelope: Vec<u8>,
    },
    /// "Here is what I hold of this group, per sender: send me what I lack, starting after
    /// `after`" (`None`: from the start).
    Sync { group: GroupId, have: Vec<(OrgId, Vec<(u64, u64)>)>, after: Option<Cursor> },
    /// "Send me these group ops of this group, by id": the parents an op names that the
    /// requester lacks and a sequence-range sync cannot bring (the twin of an equivocation,
    /// §6.9). At most [`MAX_OPS_BY_ID`] ids.
    Ops { group: GroupId, ids: Vec<crate::ItemId> },
    /// "Send me chunk `index` of the file `file`" (a resource's file carried beside its item,
    /// `crate::resource`): answered with `Response::Chunk` by a node that holds it, to members
    /// of the group the resource was published in.
    Chunk { file: [u8; 32], index: u32 },
    /// "Admit my org with this invite link" (§6.10): the link's id and secret, the group it
    /// names, and the requester's contact card (its text form, at most `MAX_TOKEN_CHARS`), whose
    /// org must be the one of the request's node binding.
    JoinLink { link: crate::invite_link::LinkId, secret: [u8; 32], group: GroupId, card: String },
}

/// A response.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Response {
    /// Envelopes the requester lacks; `more` says another request, starting after `next`,
    /// will return further ones.
    Items { items: Vec<Vec<u8>>, more: bool, next: Option<Cursor> },
    /// The responder's node binding.
    Hello { binding: SignedNodeBinding, name: String },
    /// A delivered item was accepted.
    Delivered,
    /// The responder will not answer, with the reason.
    Refused(String),
    /// One encrypted chunk of a file (`RequestBody::Chunk`); the requester checks it against
    /// the chunk's hash in the item.
    Chunk(#[serde(with = "crate::codec::bytes")] Vec<u8>),
    /// A join request was granted: an invite token (`trellis-invite1:`, §6.3) holding the
    /// group's genesis and the `Add` op that admitted the requester; at most `MAX_TOKEN_CHARS`.
    Joined { token: String },
    /// A join request was refused, with the reason and a line of detail (at most 1024 bytes).
    /// Nothing changed on the responder.
    JoinRefused { reason: crate::invite_link::JoinRefusal, detail: String },
}

/// The length announced by a frame header, checked against `max` before anything is read or
/// allocated.
pub fn frame_len(header: [u8; 4], max: usize) -> Result<usize, ProtoError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > max {
        return Err(ProtoError::Oversize { len, max });
    }
    Ok(len)
}

/// A whole frame (length header and body) for `body`, refused when the body exceeds `max`.
pub fn frame(body: &[u8], max: usize) -> Result<Vec<u8>, ProtoError> {
    if body.len() > max {
        return Err(ProtoError::Oversize { len: body.len(), max });
    }
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

/// The body of a request frame.
pub fn encode_request(r: &Request) -> Vec<u8> {
    codec::encode(r)
}

/// The body of a response frame.
pub fn encode_response(r: &Response) -> Vec<u8> {
    codec::encode(r)
}

/// Decode a request frame body: at most [`MAX_REQUEST_BYTES`], no trailing bytes, a `Hello` name
/// of at most [`MAX_HELLO_NAME`] bytes, a have-list within [`MAX_HAVE_RANGES`].
pub fn decode_request(bytes: &[u8]) -> Result<Request, ProtoError> {
    let r: Request = codec::decode(bytes, MAX_REQUEST_BYTES)?;
    match &r.body {
        RequestBody::Hello { name } if name.len() > MAX_HELLO_NAME => {
            return Err(ProtoError::FieldTooLong { field: "hello name", max: MAX_HELLO_NAME });
        }
        RequestBody::Sync { have, .. } => {
            HaveIndex::new(have)?;
        }
        RequestBody::Ops { ids, .. } if ids.len() > MAX_OPS_BY_ID => {
            return Err(ProtoError::FieldTooLong { field: "op ids", max: MAX_OPS_BY_ID });
        }
        RequestBody::JoinLink { card, .. } if card.len() > crate::limits::MAX_TOKEN_CHARS => {
            return Err(ProtoError::FieldTooLong { field: "join card", max: crate::limits::MAX_TOKEN_CHARS });
        }
        _ => {}
    }
    Ok(r)
}

/// Decode a response frame body: at most [`MAX_RESPONSE_BYTES`], no trailing bytes.
pub fn decode_response(bytes: &[u8]) -> Result<Response, ProtoError> {
    let r: Response = codec::decode(bytes, MAX_RESPONSE_BYTES)?;
    if let Response::Items { items, .. } = &r
        && items.len() > SYNC_BATCH_ITEMS
    {
        return Err(ProtoError::FieldTooLong { field: "sync items", max: SYNC_BATCH_ITEMS });
    }
    match &r {
        Response::Joined { token } if token.len() > crate::limits::MAX_TOKEN_CHARS => {
            return Err(ProtoError::FieldTooLong { field: "joined token", max: crate::limits::MAX_TOKEN_CHARS });
        }
        Response::JoinRefused { detail, .. } if detail.len() > crate::limits::MAX_SHORT => {
            return Err(ProtoError::FieldTooLong { field: "join refusal detail", max: crate::limits::MAX_SHORT });
        }
        _ => {}
    }
    Ok(r)
}

/// A checked have-list, indexed for lookups: per sender, sorted disjoint ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HaveIndex {
    ranges: BTreeMap<OrgId, Vec<(u64, u64)>>,
}

impl HaveIndex {
    /// Check and index a have-list: at most [`MAX_HAVE_RANGES`] ranges, each `first <= last`.
    /// Ranges may come in any order, overlap, and a sender may appear more than once: they
    /// are sorted and merged here (an honest requester sends them sorted and disjoint).
    pub fn new(have: &[(OrgId, Vec<(u64, u64)>)]) -> Result<HaveIndex, ProtoError> {
        let count: usize = have.iter().map(|(_, r)| r.len().max(1)).fold(0usize, usize::saturating_add);
        if count > MAX_HAVE_RANGES {
            return Err(ProtoError::FieldTooLong { field: "have-list ranges", max: MAX_HAVE_RANGES });
        }
        let mut ranges: BTreeMap<OrgId, Vec<(u64, u64)>> = BTreeMap::new();
        for (sender, rs) in have {
            let entry = ranges.entry(*sender).or_default();
            for &(a, b) in rs {
                if a > b {
                    return Err(ProtoError::Invalid(String::from("a have-list range ends before it starts")));
                }
                entry.push((a, b));
            }
        }
        for rs in ranges.values_mut() {
            rs.sort_unstable();
            let mut merged: Vec<(u64, u64)> = Vec::with_capacity(rs.len());
            for &(a, b) in rs.iter() {
                match merged.last_mut() {
                    Some((_, last)) if a <= last.saturating_add(1) => *last = (*last).max(b),
                    _ => merged.push((a, b)),
                }
            }
            *rs = merged;
        }
        ranges.retain(|_, rs| !rs.is_empty());
        Ok(HaveIndex { ranges })
    }

    /// The range of `sender` that holds `seq`, if any: binary search.
    pub fn covering(&self, sender: &OrgId, seq: u64) -> Option<(u64, u64)> {
        let rs = self.ranges.get(sender)?;
        // The last range starting at or before `seq`.
        let i = rs.partition_point(|&(a, _)| a <= seq);
        let (a, b) = *rs.get(i.checked_sub(1)?)?;
        (a <= seq && seq <= b).then_some((a, b))
    }

    /// Whether `seq` of `sender` is held.
    pub fn covers(&self, sender: &OrgId, seq: u64) -> bool {
        self.covering(sender, seq).is_some()
    }

    /// Ranges held, after merging.
    pub fn len(&self) -> usize {
        self.ranges.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

/// Cut a have-list to at most [`MAX_HAVE_RANGES`] ranges, keeping senders in order: what is cut
/// is only sent again by the responder (and refused as a duplicate), never lost.
pub fn truncate_have(have: &mut Vec<(OrgId, Vec<(u64, u64)>)>) {
    let mut left = MAX_HAVE_RANGES;
    have.retain_mut(|(_, rs)| {
        if left == 0 {
            return false;
        }
        rs.truncate(left);
        left -= rs.len().max(1);
        true
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(n: u8) -> OrgId {
        OrgId([n; 32])
    }

    #[test]
    fn have_index_sorts_merges_and_looks_up() {
        let h =
            HaveIndex::new(&[(org(1), vec![(10, 20), (1, 3), (4, 5), (30, 30)]), (org(1), vec![(19, 25)])]).unwrap();
        assert_eq!(h.len(), 3); // 1..=5, 10..=25, 30
        for (seq, held) in [(0, false), (1, true), (5, true), (6, false), (9, false), (10, true), (25, true)] {
            assert_eq!(h.covers(&org(1), seq), held, "seq {seq}");
        }
        assert_eq!(h.covering(&org(1), 12), Some((10, 25)));
        assert!(h.covers(&org(1), 30) && !h.covers(&org(1), 31) && !h.covers(&org(2), 1));
        assert!(HaveIndex::new(&[(org(1), vec![(0, u64::MAX)])]).unwrap().covers(&org(1), u64::MAX));
        assert!(HaveIndex::new(&[(org(1), vec![(5, 4)])]).is_err());
    }

    #[test]
    fn have_list_range_count_is_bounded() {
        let many: Vec<(u64, u64)> = (0..MAX_HAVE_RANGES as u64 + 1).map(|i| (2 * i, 2 * i)).collect();
        let mut have = vec![(org(1), many)];
        assert!(matches!(HaveIndex::new(&have), Err(ProtoError::FieldTooLong { .. })));
        truncate_have(&mut have);
        assert_eq!(HaveIndex::new(&have).unwrap().len(), MAX_HAVE_RANGES);
        // Empty senders count one each, so a list of bare senders is bounded too.
        let bare: Vec<(OrgId, Vec<(u64, u64)>)> =
            (0..=MAX_HAVE_RANGES).map(|i| (OrgId([(i % 251) as u8; 32]), vec![])).collect();
        assert!(HaveIndex::new(&bare).is_err());
    }

    #[test]
    fn join_messages_are_bounded() {
        let keys = crate::OrgKeys::from_seeds([1; 32], [2; 32]);
        let binding = crate::keys::NodeBinding::sign(&keys, vec![8; 36], 1, 10);
        let join = |card: String| {
            encode_request(&Request {
                binding: binding.clone(),
                body: RequestBody::JoinLink { link: [1; 16], secret: [2; 32], group: GroupId([3; 32]), card },
            })
        };
        let max = crate::limits::MAX_TOKEN_CHARS;
        assert!(decode_request(&join("c".repeat(max))).is_ok());
        assert!(matches!(decode_request(&join("c".repeat(max + 1))), Err(ProtoError::FieldTooLong { .. })));
        let joined = |token: String| encode_response(&Response::Joined { token });
        assert!(decode_response(&joined("t".repeat(max))).is_ok());
        assert!(decode_response(&joined("t".repeat(max + 1))).is_err());
        let refused = |detail: String| {
            encode_response(&Response::JoinRefused { reason: crate::invite_link::JoinRefusal::Expired, detail })
        };
        assert!(decode_response(&refused("d".repeat(crate::limits::MAX_SHORT))).is_ok());
        assert!(decode_response(&refused("d".repeat(crate::limits::MAX_SHORT + 1))).is_err());
    }

    #[test]
    fn frames_are_checked_before_allocation() {
        assert!(matches!(
            frame_len(100_000_000u32.to_be_bytes(), MAX_RESPONSE_BYTES),
            Err(ProtoError::Oversize { .. })
        ));
        assert_eq!(frame_len(5u32.to_be_bytes(), 5).unwrap(), 5);
        let body = encode_response(&Response::Refused("x".into()));
        let f = frame(&body, MAX_RESPONSE_BYTES).unwrap();
        assert_eq!(frame_len(f[..4].try_into().unwrap(), MAX_RESPONSE_BYTES).unwrap(), body.len());
        let mut trailing = body.clone();
        trailing.push(0);
        assert!(matches!(decode_response(&trailing), Err(ProtoError::TrailingBytes(1))));
        assert!(matches!(decode_response(&body), Ok(Response::Refused(s)) if s == "x"));
    }
}
