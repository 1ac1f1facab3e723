//! Seed inputs for the `envelope_decode` fuzz target (proto/fuzz/README.md): one valid envelope
//! of every kind and TLP, built with the keys the target opens with, so the fuzzer starts from
//! inputs that get past decoding, signature checks and decryption. `seeds_open_with_the_fuzz_keys`
//! keeps the seeds and the target's constants in step; the ignored test writes the files:
//! `cargo test -p trellis-proto --test fuzz_seeds -- --ignored`.

use trellis_proto::envelope::EnvelopeRandomness;
use trellis_proto::group::{EpochKeyShares, GroupOp, OpAction, Role, seal_epoch_key};
use trellis_proto::items::*;
use trellis_proto::*;

/// Must match `EPOCH_KEY` and `ME` in proto/fuzz/fuzz_targets/envelope_decode.rs.
const EPOCH_KEY: [u8; 32] = [7; 32];
fn me() -> OrgKeys {
    OrgKeys::from_seeds([2; 32], [3; 32])
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let sender = OrgKeys::from_seeds([1; 32], [4; 32]);
    let me = me();
    let group = GroupId([5; 32]);
    let to = [(me.org_id(), me.encryption().public())];
    let new_key = seal_epoch_key(&group, &[8; 32], &to, [9; 32]).0;
    let advisory = Payload::Advisory(Advisory {
        reference_id: "ACME-1".into(),
        title: "RCE in gateway".into(),
        summary: "details".into(),
        category: Category::Vulnerability,
        severity: Some(Severity { vector: Some("CVSS:3.1/AV:N".into()), score_tenths: 98 }),
        aliases: vec!["CVE-2025-0001".into()],
        affected: vec![Affected {
            purl: Some("pkg:cargo/acme@1.0.0".into()),
            ranges: vec![VersionRange {
                kind: RangeKind::Semver,
                events: vec![VersionEvent::Introduced("0".into()), VersionEvent::Fixed("1.0.1".into())],
            }],
            ..Affected::default()
        }],
        references: vec!["https://acme.example/1".into()],
        remediation: Some("upgrade".into()),
        published_ms: 1,
        updated_ms: 2,
        source: Some(SourceDocument { format: SourceFormat::Osv, bytes: b"{}".to_vec() }),
    });
    let posture = Payload::Posture(PostureAttestation {
        claims: vec![IndicatorClaim {
            indicator: Indicator::Mfa,
            value: IndicatorValue::Yes,
            method: Method::SelfAttested,
            observed_ms: 1,
            valid_until_ms: 2,
            evidence: None,
        }],
        critical_dependencies: vec![CriticalDependency { name: "openssl".into(), purl: None }],
    });
    let payloads: Vec<(&str, Payload)> = vec![
        ("advisory", advisory),
        ("posture", posture),
        (
            "endorsement",
            Payload::Endorsement(Endorsement { item: ItemId([1; 32]), kind: EndorsementKind::Sighting, comment: None }),
        ),
        ("resource", Payload::Resource(Resource { title: "t".into(), body: "b".into(), links: vec![] })),
        ("trust", Payload::Trust(TrustStatement { subject: me.org_id(), level_milli: 700, comment: None })),
        (
            "op_add",
            Payload::GroupOp(GroupOp {
                parents: vec![ItemId([2; 32])],
                action: OpAction::Add {
                    member: me.key_bundle(0, 1000),
                    role: Role::Member,
                    share: Some(new_key.clone()),
                },
            }),
        ),
        (
            "op_remove",
            Payload::GroupOp(GroupOp {
                parents: vec![],
                action: OpAction::Remove { member: me.org_id(), cutoff_seq: 3, new_key: new_key.clone() },
            }),
        ),
        (
            "op_set_role",
            Payload::GroupOp(GroupOp {
                parents: vec![],
                action: OpAction::SetRole { member: me.org_id(), role: Role::Reader },
            }),
        ),
        ("op_leave", Payload::GroupOp(GroupOp { parents: vec![], action: OpAction::Leave { cutoff_seq: 1 } })),
        (
            "op_update_key",
            Payload::GroupOp(GroupOp {
                parents: vec![],
                action: OpAction::UpdateKey { bundle: sender.key_bundle(5, 10) },
            }),
        ),
        ("epoch_key", Payload::EpochKey(EpochKeyShares { key: new_key })),
        ("key_bundle", Payload::KeyBundle(sender.key_bundle(0, 1000))),
        (
            "revocation",
            Payload::Revocation(Revocation {
                key: RevokedKey::Encryption([3; 32]),
                effective_ms: 9,
                reason: "lost".into(),
            }),
        ),
    ];
    let mut out = Vec::new();
    for (i, (name, p)) in payloads.iter().enumerate() {
        let labels: &[Tlp] = if p.kind().is_control() { &[Tlp::Clear] } else { &Tlp::ALL };
        for tlp in labels {
            let recipients = match tlp {
                Tlp::Clear => Recipients::Clear,
                Tlp::Green => Recipients::Group { epoch_key: &EPOCH_KEY },
                _ => Recipients::Sealed { to: &to },
            };
            let env = Envelope::build(
                &sender,
                &PublishRequest {
                    group,
                    epoch: 1,
                    seq: i as u64,
                    timestamp_ms: 1_700_000_000_000,
                    tlp: *tlp,
                    payload: p,
                    recipients,
                },
                &EnvelopeRandomness { nonce: [i as u8; 24], content_key: [10; 32], hpke_seed: [11; 32] },
            )
            .unwrap();
            out.push((format!("{name}-{}", tlp.as_str().replace('+', "-")), env.bytes));
        }
    }
    out
}

#[test]
fn seeds_open_with_the_fuzz_keys() {
    let seeds = seeds();
    assert!(seeds.len() > 20);
    for (name, bytes) in seeds {
        let env = Envelope::decode_verified(&bytes).unwrap();
        env.open(Some(&me()), &[EPOCH_KEY]).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
#[ignore = "writes proto/fuzz/seeds/envelope_decode; run explicitly"]
fn write_envelope_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/envelope_decode");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in seeds() {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}
