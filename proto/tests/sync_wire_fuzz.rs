//! The `sync_wire` fuzz target's checks (`proto/fuzz/fuzz_targets/sync_wire_check.rs`) as a
//! plain-Rust loop, for machines without libFuzzer: random bytes, and mutations (byte flips,
//! insertions, truncations, length-field changes) of valid encodings of every request and
//! response. The short run is part of `cargo test`; the long one is ignored:
//!
//!   cargo test -p trellis-proto --release --test sync_wire_fuzz -- --ignored --nocapture
//!
//! runs 1,000,000 executions.

#[path = "../fuzz/fuzz_targets/sync_wire_check.rs"]
mod sync_wire_check;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use trellis_proto::OrgKeys;
use trellis_proto::ids::{GroupId, OrgId};
use trellis_proto::keys::NodeBinding;
use trellis_proto::wire::{self, Request, RequestBody, Response};

/// Valid encodings of every message, the mutation seeds.
fn seeds() -> Vec<Vec<u8>> {
    let keys = OrgKeys::from_seeds([1; 32], [2; 32]);
    let binding = NodeBinding::sign(&keys, vec![8; 36], 1_700_000_000_000, 3_600_000);
    let req = |body| wire::encode_request(&Request { binding: binding.clone(), body });
    vec![
        req(RequestBody::Hello { name: "Example Water Utility".into() }),
        req(RequestBody::Deliver { envelope: vec![1, 2, 3, 4, 5, 6, 7, 8] }),
        req(RequestBody::Sync { group: GroupId([3; 32]), have: vec![], after: None }),
        req(RequestBody::Sync {
            group: GroupId([3; 32]),
            have: vec![(OrgId([4; 32]), vec![(1, 10), (12, 12)]), (OrgId([5; 32]), vec![(0, u64::MAX)])],
            after: Some((OrgId([4; 32]), 7)),
        }),
        wire::encode_response(&Response::Items { items: vec![vec![1; 40], vec![]], more: true, next: None }),
        wire::encode_response(&Response::Items { items: vec![], more: true, next: Some((OrgId([6; 32]), u64::MAX)) }),
        wire::encode_response(&Response::Hello { binding: binding.clone(), name: "n".into() }),
        wire::encode_response(&Response::Delivered),
        wire::encode_response(&Response::Refused("busy".into())),
        req(RequestBody::JoinLink {
            link: [7; 16],
            secret: [8; 32],
            group: GroupId([3; 32]),
            card: "trellis-card1:AAAA".into(),
        }),
        wire::encode_response(&Response::Joined { token: "trellis-invite1:AAAA".into() }),
        wire::encode_response(&Response::JoinRefused {
            reason: trellis_proto::invite_link::JoinRefusal::UsedUp,
            detail: "all 1 uses taken".into(),
        }),
    ]
}

fn mutate(rng: &mut StdRng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        match rng.random_range(0..6) {
            0 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                v[i] ^= 1 << rng.random_range(0..8);
            }
            1 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                v[i] = rng.random();
            }
            2 => {
                let i = rng.random_range(0..=v.len());
                v.insert(i, rng.random());
            }
            3 if !v.is_empty() => {
                let n = rng.random_range(0..v.len());
                v.truncate(n);
            }
            // A large varint where a length or count may be.
            4 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                v.splice(i..i, [0xff, 0xff, 0xff, 0xff, 0x0f]);
            }
            _ => {
                let i = rng.random_range(0..=v.len());
                let framed = wire::frame(&v[i..], wire::MAX_REQUEST_BYTES).unwrap_or_default();
                v.splice(i.., framed);
            }
        }
    }
    v
}

fn run(executions: usize, seed: u64) {
    let seeds = seeds();
    for s in &seeds {
        sync_wire_check::check(s);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    for i in 0..executions {
        let input = if i % 4 == 0 {
            let n = rng.random_range(0..512);
            (0..n).map(|_| rng.random()).collect()
        } else {
            mutate(&mut rng, &seeds[i % seeds.len()])
        };
        sync_wire_check::check(&input);
    }
}

#[test]
fn sync_wire_short_run() {
    run(20_000, 1);
}

#[test]
#[ignore = "long run: cargo test -p trellis-proto --release --test sync_wire_fuzz -- --ignored --nocapture"]
fn sync_wire_one_million() {
    let t = std::time::Instant::now();
    run(1_000_000, 16);
    println!("sync_wire: 1,000,000 executions, no failure, {:.1} s", t.elapsed().as_secs_f64());
}
