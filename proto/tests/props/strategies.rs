//! Proptest strategies for every type that goes on the wire: ids, keys, items, payloads, group
//! ops, genesis, invites, cards, headers and bodies. Values are structurally arbitrary (random
//! keys and signatures), which is what encoding round trips need; tests that need valid
//! signatures build them with real keys instead.

use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;
use trellis_proto::envelope::{Body, Header, Kind, SealedKey};
use trellis_proto::group::{
    EpochKeyShares, Genesis, GroupKind, GroupOp, NewEpochKey, OpAction, Role, SealedShare, SignedGenesis,
};
use trellis_proto::invite::Invite;
use trellis_proto::items::*;
use trellis_proto::keys::{ContactCard, KeyBundle, NodeBinding, Sig, SignedKeyBundle, SignedNodeBinding};
use trellis_proto::{GroupId, ItemId, OrgId, Payload, Tlp};

/// Short text, including multi-byte UTF-8 (its encoded length is in bytes, not characters).
pub fn text() -> BoxedStrategy<String> {
    "\\PC{0,12}".boxed()
}

fn texts() -> impl Strategy<Value = Vec<String>> {
    vec(text(), 0..3)
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

pub fn org() -> impl Strategy<Value = OrgId> {
    any::<[u8; 32]>().prop_map(OrgId)
}

pub fn item_id() -> impl Strategy<Value = ItemId> {
    any::<[u8; 32]>().prop_map(ItemId)
}

pub fn group_id() -> impl Strategy<Value = GroupId> {
    any::<[u8; 32]>().prop_map(GroupId)
}

pub fn sig() -> impl Strategy<Value = Sig> {
    any::<[u8; 64]>().prop_map(Sig)
}

pub fn tlp() -> impl Strategy<Value = Tlp> {
    proptest::sample::select(Tlp::ALL.to_vec())
}

pub fn kind() -> impl Strategy<Value = Kind> {
    proptest::sample::select(Kind::ALL.to_vec())
}

pub fn key_bundle() -> impl Strategy<Value = KeyBundle> {
    (org(), any::<[u8; 32]>(), any::<u64>(), any::<u64>()).prop_map(|(org, x25519, created_ms, expires_ms)| KeyBundle {
        org,
        x25519,
        created_ms,
        expires_ms,
    })
}

pub fn signed_key_bundle() -> impl Strategy<Value = SignedKeyBundle> {
    (key_bundle(), sig()).prop_map(|(bundle, sig)| SignedKeyBundle { bundle, sig })
}

pub fn signed_node_binding() -> impl Strategy<Value = SignedNodeBinding> {
    (org(), bytes(48), any::<u64>(), any::<u64>(), sig()).prop_map(
        |(org, transport_key, created_ms, expires_ms, sig)| SignedNodeBinding {
            binding: NodeBinding { org, transport_key, created_ms, expires_ms },
            sig,
        },
    )
}

pub fn contact_card() -> impl Strategy<Value = ContactCard> {
    (text(), signed_key_bundle(), texts()).prop_map(|(name, bundle, addrs)| ContactCard { name, bundle, addrs })
}

pub fn new_epoch_key() -> impl Strategy<Value = NewEpochKey> {
    let share = (org(), any::<[u8; 32]>(), bytes(60)).prop_map(|(to, enc, sealed)| SealedShare { to, enc, sealed });
    (any::<[u8; 16]>(), vec(share, 0..3)).prop_map(|(key_id, shares)| NewEpochKey { key_id, shares })
}

pub fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Admin), Just(Role::Member), Just(Role::Reader)]
}

pub fn op_action() -> impl Strategy<Value = OpAction> {
    prop_oneof![
        (signed_key_bundle(), role(), of(new_epoch_key())).prop_map(|(member, role, share)| OpAction::Add {
            member,
            role,
            share
        }),
        (org(), any::<u64>(), new_epoch_key())
            .prop_map(|(member, cutoff_seq, new_key)| { OpAction::Remove { member, cutoff_seq, new_key } }),
        (org(), role()).prop_map(|(member, role)| OpAction::SetRole { member, role }),
        any::<u64>().prop_map(|cutoff_seq| OpAction::Leave { cutoff_seq }),
        new_epoch_key().prop_map(|new_key| OpAction::Rotate { new_key }),
        signed_key_bundle().prop_map(|bundle| OpAction::UpdateKey { bundle }),
    ]
}

pub fn group_op() -> impl Strategy<Value = GroupOp> {
    (vec(item_id(), 0..4), op_action()).prop_map(|(parents, action)| GroupOp { parents, action })
}

pub fn signed_genesis() -> impl Strategy<Value = SignedGenesis> {
    let kind = prop_oneof![Just(GroupKind::Sector), Just(GroupKind::SupplyChain)];
    (text(), kind, signed_key_bundle(), any::<u64>(), any::<[u8; 16]>(), any::<u16>(), new_epoch_key(), sig()).prop_map(
        |(name, kind, founder, created_ms, nonce, default_trust_milli, initial_key, sig)| SignedGenesis {
            genesis: Genesis { name, kind, founder, created_ms, nonce, default_trust_milli, initial_key },
            sig,
        },
    )
}

pub fn invite() -> impl Strategy<Value = Invite> {
    (signed_genesis(), bytes(200), texts()).prop_map(|(genesis, add_op, addrs)| Invite { genesis, add_op, addrs })
}

fn affected() -> impl Strategy<Value = Affected> {
    let event = prop_oneof![
        text().prop_map(VersionEvent::Introduced),
        text().prop_map(VersionEvent::Fixed),
        text().prop_map(VersionEvent::LastAffected),
        text().prop_map(VersionEvent::Limit),
    ];
    let range_kind = prop_oneof![Just(RangeKind::Semver), Just(RangeKind::Ecosystem), Just(RangeKind::Git)];
    let range = (range_kind, vec(event, 0..3)).prop_map(|(kind, events)| VersionRange { kind, events });
    (of(text()), of(text()), of(text()), of(text()), texts(), vec(range, 0..2)).prop_map(
        |(purl, cpe, vendor, product, versions, ranges)| Affected { purl, cpe, vendor, product, versions, ranges },
    )
}

pub fn advisory() -> impl Strategy<Value = Advisory> {
    let category = proptest::sample::select(vec![
        Category::Vulnerability,
        Category::Incident,
        Category::Threat,
        Category::Guidance,
    ]);
    let severity = (of(text()), any::<u8>()).prop_map(|(vector, score_tenths)| Severity { vector, score_tenths });
    let format = prop_oneof![Just(SourceFormat::Csaf), Just(SourceFormat::Osv)];
    let source = (format, bytes(64)).prop_map(|(format, bytes)| SourceDocument { format, bytes });
    (
        text(),
        text(),
        text(),
        category,
        of(severity),
        texts(),
        vec(affected(), 0..2),
        texts(),
        of(text()),
        any::<u64>(),
        any::<u64>(),
        of(source),
    )
        .prop_map(
            |(
                reference_id,
                title,
                summary,
                category,
                severity,
                aliases,
                affected,
                references,
                remediation,
                published_ms,
                updated_ms,
                source,
            )| Advisory {
                reference_id,
                title,
                summary,
                category,
                severity,
                aliases,
                affected,
                references,
                remediation,
                published_ms,
                updated_ms,
                source,
            },
        )
}

fn posture() -> impl Strategy<Value = PostureAttestation> {
    let value = prop_oneof![
        Just(IndicatorValue::Yes),
        Just(IndicatorValue::No),
        any::<u32>().prop_map(IndicatorValue::Number),
        text().prop_map(IndicatorValue::Text),
    ];
    let method = prop_oneof![Just(Method::SelfAttested), Just(Method::Observed), Just(Method::ThirdParty)];
    let claim =
        (proptest::sample::select(Indicator::ALL.to_vec()), value, method, any::<u64>(), any::<u64>(), of(text()))
            .prop_map(|(indicator, value, method, observed_ms, valid_until_ms, evidence)| IndicatorClaim {
                indicator,
                value,
                method,
                observed_ms,
                valid_until_ms,
                evidence,
            });
    let dep = (text(), of(text())).prop_map(|(name, purl)| CriticalDependency { name, purl });
    (vec(claim, 0..3), vec(dep, 0..3))
        .prop_map(|(claims, critical_dependencies)| PostureAttestation { claims, critical_dependencies })
}

/// A payload of every variant.
pub fn payload() -> impl Strategy<Value = Payload> {
    let endorsement_kind =
        prop_oneof![Just(EndorsementKind::Confirm), Just(EndorsementKind::Sighting), Just(EndorsementKind::Dispute)];
    let revoked = prop_oneof![Just(RevokedKey::Signing), any::<[u8; 32]>().prop_map(RevokedKey::Encryption)];
    prop_oneof![
        advisory().prop_map(Payload::Advisory),
        posture().prop_map(Payload::Posture),
        (item_id(), endorsement_kind, of(text()))
            .prop_map(|(item, kind, comment)| { Payload::Endorsement(Endorsement { item, kind, comment }) }),
        (text(), text(), texts()).prop_map(|(title, body, links)| Payload::Resource(Resource { title, body, links })),
        group_op().prop_map(Payload::GroupOp),
        new_epoch_key().prop_map(|key| Payload::EpochKey(EpochKeyShares { key })),
        (org(), any::<u16>(), of(text())).prop_map(|(subject, level_milli, comment)| {
            Payload::Trust(TrustStatement { subject, level_milli, comment })
        }),
        signed_key_bundle().prop_map(Payload::KeyBundle),
        (revoked, any::<u64>(), text())
            .prop_map(|(key, effective_ms, reason)| { Payload::Revocation(Revocation { key, effective_ms, reason }) }),
        (item_id(), any::<u32>(), advisory(), of(text())).prop_map(|(original, revision, advisory, withdrawn)| {
            Payload::Revision(trellis_proto::lifecycle::Revision { original, revision, advisory, withdrawn })
        }),
    ]
}

pub fn header() -> impl Strategy<Value = Header> {
    (any::<u8>(), kind(), group_id(), any::<u64>(), org(), any::<u64>(), any::<u64>(), tlp()).prop_map(
        |(version, kind, group, epoch, sender, seq, timestamp_ms, tlp)| Header {
            version,
            kind,
            group,
            epoch,
            sender,
            seq,
            timestamp_ms,
            tlp,
        },
    )
}

pub fn body() -> impl Strategy<Value = Body> {
    let sealed_key = (org(), any::<[u8; 32]>(), bytes(60)).prop_map(|(to, enc, sealed)| SealedKey { to, enc, sealed });
    prop_oneof![
        bytes(100).prop_map(Body::Clear),
        (any::<[u8; 24]>(), any::<[u8; 32]>(), bytes(100)).prop_map(|(nonce, commitment, ciphertext)| Body::Group {
            nonce,
            commitment,
            ciphertext
        }),
        (vec(sealed_key, 0..3), any::<[u8; 24]>(), any::<[u8; 32]>(), bytes(100)).prop_map(
            |(recipients, nonce, commitment, ciphertext)| Body::Sealed { recipients, nonce, commitment, ciphertext }
        ),
    ]
}
