//! The oracle of the `sync_wire` fuzz target, shared with the plain-Rust run in
//! `proto/tests/sync_wire_fuzz.rs` (the same checks on the same kind of input, without
//! libFuzzer). Input: bytes read as a request frame body, a response frame body, a frame header,
//! and a have-list built from the bytes.

use trellis_proto::ProtoError;
use trellis_proto::ids::OrgId;
use trellis_proto::wire::{
    self, HaveIndex, MAX_HAVE_RANGES, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, RequestBody, Response, SYNC_BATCH_ITEMS,
};

/// Run every check on `data`; panics on a violated property.
pub fn check(data: &[u8]) {
    // Request bodies: decode, and whatever decodes re-encodes to a value that decodes to the
    // same encoding (canonical round trip); a have-list that decodes is within its bound.
    if let Ok(r) = wire::decode_request(data) {
        let bytes = wire::encode_request(&r);
        let again = wire::decode_request(&bytes).expect("a decoded request re-decodes");
        assert_eq!(wire::encode_request(&again), bytes, "request encoding is stable");
        if let RequestBody::Sync { have, .. } = &r.body {
            let index = HaveIndex::new(have).expect("decode_request checked the have-list");
            assert!(index.len() <= MAX_HAVE_RANGES);
            for (sender, ranges) in have {
                for &(a, b) in ranges {
                    assert!(index.covers(sender, a) && index.covers(sender, b), "a sent range is held");
                }
            }
        }
        if let RequestBody::JoinLink { card, .. } = &r.body {
            assert!(card.len() <= trellis_proto::limits::MAX_TOKEN_CHARS, "a join card over its bound decoded");
        }
    }
    // Response bodies.
    if let Ok(r) = wire::decode_response(data) {
        let bytes = wire::encode_response(&r);
        let again = wire::decode_response(&bytes).expect("a decoded response re-decodes");
        assert_eq!(wire::encode_response(&again), bytes, "response encoding is stable");
        if let Response::Items { items, .. } = &r {
            assert!(items.len() <= SYNC_BATCH_ITEMS);
        }
        match &r {
            Response::Joined { token } => assert!(token.len() <= trellis_proto::limits::MAX_TOKEN_CHARS),
            Response::JoinRefused { detail, .. } => assert!(detail.len() <= trellis_proto::limits::MAX_SHORT),
            _ => {}
        }
    }
    // Frames: the header alone decides, before any allocation.
    if data.len() >= 4 {
        let header: [u8; 4] = data[..4].try_into().expect("4 bytes");
        for max in [MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES] {
            match wire::frame_len(header, max) {
                Ok(n) => {
                    assert!(n <= max);
                    let body = &data[4..];
                    if body.len() >= n {
                        let _ = wire::decode_request(&body[..n]);
                        let _ = wire::decode_response(&body[..n]);
                    }
                }
                Err(ProtoError::Oversize { len, max: m }) => assert!(len > m && m == max),
                Err(e) => panic!("frame_len gave {e:?}"),
            }
        }
        let framed = wire::frame(&data[4..], MAX_REQUEST_BYTES);
        if let Ok(f) = framed {
            assert_eq!(wire::frame_len(f[..4].try_into().expect("4"), MAX_REQUEST_BYTES).ok(), Some(data.len() - 4));
        }
    }
    // A have-list made of the first 96 bytes (3 senders, ranges from pairs of bytes): at every
    // range boundary the index answers exactly what a linear scan of the ranges answers.
    let mut have: Vec<(OrgId, Vec<(u64, u64)>)> = Vec::new();
    for chunk in data[..data.len().min(96)].chunks(3) {
        let sender = OrgId([chunk[0] % 3; 32]);
        let a = u64::from(*chunk.get(1).unwrap_or(&0));
        let b = a + u64::from(*chunk.get(2).unwrap_or(&0) % 8);
        match have.iter_mut().find(|(s, _)| *s == sender) {
            Some((_, r)) => r.push((a, b)),
            None => have.push((sender, vec![(a, b)])),
        }
    }
    let index = HaveIndex::new(&have).expect("small have-lists are accepted");
    let probes: Vec<u64> = have
        .iter()
        .flat_map(|(_, r)| r.iter().flat_map(|&(a, b)| [a.saturating_sub(1), a, b, b + 1]))
        .chain([0, 300])
        .collect();
    for s in 0..3u8 {
        let sender = OrgId([s; 32]);
        for &seq in &probes {
            let linear =
                have.iter().filter(|(o, _)| *o == sender).any(|(_, r)| r.iter().any(|&(a, b)| a <= seq && seq <= b));
            assert_eq!(index.covers(&sender, seq), linear, "sender {s} seq {seq}");
        }
    }
}
