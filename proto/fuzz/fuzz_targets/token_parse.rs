//! Fuzz target `token_parse`: the text forms a user pastes (§2.3) — contact cards, invite
//! tokens, org and group ids — and the binary records inside them (genesis, key bundles).
//! Nothing may panic; what parses must print back to something that parses to the same value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use trellis_proto::group::SignedGenesis;
use trellis_proto::invite::Invite;
use trellis_proto::keys::SignedNodeBinding;
use trellis_proto::limits::MAX_TOKEN_CHARS;
use trellis_proto::{ContactCard, GroupId, OrgId, SignedKeyBundle, codec};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let me = OrgId([9; 32]);
    let _ = Invite::parse(&text, &me);
    if let Ok(card) = ContactCard::parse(&text, 0) {
        assert_eq!(ContactCard::parse(&card.to_text(), 0).as_ref(), Ok(&card));
    }
    if let Ok(id) = OrgId::parse(&text) {
        assert_eq!(OrgId::parse(&id.to_text()), Ok(id));
        assert!(id.matches(&id.fingerprint()));
    }
    let _ = GroupId::parse(&text);
    // The same bytes as binary records, and wrapped as tokens so the base64 layer is passed.
    if let Ok(g) = codec::decode::<SignedGenesis>(data, MAX_TOKEN_CHARS) {
        let _ = g.verify();
        let _ = g.group_id();
    }
    if let Ok(b) = codec::decode::<SignedKeyBundle>(data, MAX_TOKEN_CHARS) {
        let _ = b.verify(0);
    }
    if let Ok(b) = codec::decode::<SignedNodeBinding>(data, MAX_TOKEN_CHARS) {
        let _ = b.verify(&[], 0);
    }
    let b64 = codec::base64url(data);
    let _ = ContactCard::parse(&format!("{}{b64}", ContactCard::PREFIX), 0);
    let _ = Invite::parse(&format!("{}{b64}", Invite::PREFIX), &me);
});
