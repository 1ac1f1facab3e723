//! Checking ed25519 signatures (§3.3): one rule, applied one signature at a time or to many at
//! once, with the same answer.
//!
//! A signature `(R, s)` by the key `A` on the tagged message `M` is valid when:
//! - `A` is the canonical encoding of a curve point that is not of small order;
//! - `R` is the canonical encoding of a curve point that is not of small order;
//! - `s` is a canonical scalar (`s < ℓ`);
//! - `[8]([s]B − R − [k]A)` is the identity, with `k = SHA-512(R ‖ A ‖ M) mod ℓ`
//!   (the *cofactored* equation).
//!
//! The cofactored equation is what lets many signatures be checked in one multi-scalar
//! multiplication ([`verify_batch`]) with exactly the verdicts the one-at-a-time check
//! ([`verify_one`]) gives: the batch check multiplies each equation by a random 128-bit
//! coefficient and sums them; multiplied by the cofactor, the sum can only vanish (except with
//! probability about 2⁻¹²⁸) if every equation holds. The cofactorless equation (ed25519-dalek's
//! `verify_strict`) cannot be batched this way: a signer can put a small-torsion component into
//! `R`, which the single check always refuses and the random-coefficient sum accepts whenever
//! the coefficient is a multiple of the torsion's order (one time in 2 to 8), so two nodes would
//! judge the same item differently. Signatures made by an honest signer (`R = [r]B`) satisfy both
//! equations.
//!
//! The coefficients come from a seed the caller supplies (fresh randomness per batch): the crate
//! owns no random number generator, and a sender who could predict them could craft a batch
//! that passes.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha512};

use crate::error::ProtoError;
use crate::ids::OrgId;

/// One signature to check: by `org`, under `tag`, over the concatenation of `data`.
#[derive(Clone, Copy, Debug)]
pub struct SigCheck<'a> {
    pub org: &'a OrgId,
    pub tag: &'a str,
    /// The signed data, in parts (the inner signature covers header bytes ‖ payload bytes).
    pub data: [&'a [u8]; 2],
    pub sig: &'a [u8; 64],
}

/// Whether a 32-byte point encoding is canonical: its y coordinate (the low 255 bits) is below
/// p = 2²⁵⁵ − 19. (The sign bit of x = 0 is not canonical either, but the two points with x = 0
/// are of small order and refused anyway.)
fn canonical_y(b: &[u8; 32]) -> bool {
    // y ≥ p only if bytes 1..31 are all 0xff, byte 31 (without the sign bit) is 0x7f and
    // byte 0 is at least 0xed.
    !(b[0] >= 0xed && b[1..31].iter().all(|&x| x == 0xff) && (b[31] & 0x7f) == 0x7f)
}

/// A point from its encoding: canonical, on the curve, not of small order.
fn point(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    if !canonical_y(bytes) {
        return None;
    }
    let p = CompressedEdwardsY(*bytes).decompress()?;
    (!p.is_small_order()).then_some(p)
}

/// The decompressed key of `org` (cached: the same few orgs sign nearly everything a node sees,
/// and decompressing is a field square root, about a sixth of a signature check). A key that is
/// not a valid point is [`ProtoError::BadKey`]; a small-order key gives
/// [`ProtoError::BadSignature`] for every signature.
fn key_point(org: &OrgId) -> Result<EdwardsPoint, ProtoError> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<[u8; 32], EdwardsPoint>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(k) = cache.lock().ok().and_then(|c| c.get(org.as_bytes()).copied()) {
        return Ok(k);
    }
    if !canonical_y(org.as_bytes()) {
        return Err(ProtoError::BadKey);
    }
    let p = CompressedEdwardsY(*org.as_bytes()).decompress().ok_or(ProtoError::BadKey)?;
    if p.is_small_order() {
        return Err(ProtoError::BadSignature);
    }
    if let Ok(mut c) = cache.lock() {
        if c.len() >= KEY_CACHE {
            c.clear();
        }
        c.insert(*org.as_bytes(), p);
    }
    Ok(p)
}

/// Most decompressed public keys kept by [`key_point`] (emptied when full; plain public data).
const KEY_CACHE: usize = 4096;

/// A signature decoded and hashed, ready for either check.
struct Prepared {
    a: EdwardsPoint,
    a_bytes: [u8; 32],
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

fn prepare(c: &SigCheck<'_>) -> Result<Prepared, ProtoError> {
    let a = key_point(c.org)?;
    let r_bytes: [u8; 32] = c.sig[..32].try_into().map_err(|_| ProtoError::BadSignature)?;
    let s_bytes: [u8; 32] = c.sig[32..].try_into().map_err(|_| ProtoError::BadSignature)?;
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)).ok_or(ProtoError::BadSignature)?;
    let r = point(&r_bytes).ok_or(ProtoError::BadSignature)?;
    let mut h = Sha512::new();
    h.update(r_bytes);
    h.update(c.org.as_bytes());
    h.update([c.tag.len() as u8]);
    h.update(c.tag.as_bytes());
    h.update(c.data[0]);
    h.update(c.data[1]);
    let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
    Ok(Prepared { a, a_bytes: *c.org.as_bytes(), r, s, k })
}

fn check_one(p: &Prepared) -> Result<(), ProtoError> {
    // [s]B − [k]A − R, times the cofactor.
    let sb_minus_ka = EdwardsPoint::vartime_double_scalar_mul_basepoint(&p.k, &(-p.a), &p.s);
    if (sb_minus_ka - p.r).mul_by_cofactor().is_identity() { Ok(()) } else { Err(ProtoError::BadSignature) }
}

/// Check one signature (the rule in the module doc). Tag length must be below 256 (all tags are
/// short ASCII constants).
pub fn verify_one(check: &SigCheck<'_>) -> Result<(), ProtoError> {
    check_one(&prepare(check)?)
}

/// Check many signatures at once; the result of each, in order, is what [`verify_one`] gives it.
///
/// Signatures that do not even decode (bad key, non-canonical or small-order `R`, `s ≥ ℓ`) fail
/// on their own. The others are checked together in one multi-scalar multiplication, the terms
/// of equal keys merged (a batch from one publisher costs one point per signature, its `R`). If
/// that check fails, each is checked alone, so one bad signature never makes another fail; the
/// work is then the batch plus one check per signature, at most about 1.5 times the work of
/// checking each alone from the start.
pub fn verify_batch(checks: &[SigCheck<'_>], seed: &[u8; 32]) -> Vec<Result<(), ProtoError>> {
    let prepared: Vec<Result<Prepared, ProtoError>> = checks.iter().map(prepare).collect();
    let ok: Vec<&Prepared> = prepared.iter().filter_map(|p| p.as_ref().ok()).collect();
    let batch_ok = match ok.len() {
        0 => true,
        1 => check_one(ok[0]).is_ok(),
        _ => batch_equation(&ok, seed),
    };
    prepared
        .into_iter()
        .map(|p| match p {
            Err(e) => Err(e),
            Ok(_) if batch_ok => Ok(()),
            Ok(p) => check_one(&p),
        })
        .collect()
}

/// `[8](Σ zᵢ([sᵢ]B − Rᵢ − [kᵢ]Aᵢ)) = 𝒪` for random 128-bit `zᵢ` derived from `seed`.
fn batch_equation(ps: &[&Prepared], seed: &[u8; 32]) -> bool {
    let mut b_coeff = Scalar::ZERO;
    let mut scalars: Vec<Scalar> = Vec::with_capacity(ps.len() + 4);
    let mut points: Vec<EdwardsPoint> = Vec::with_capacity(ps.len() + 4);
    // Keys, with the sum of their coefficients (few distinct keys per batch).
    let mut keys: Vec<([u8; 32], EdwardsPoint, Scalar)> = Vec::new();
    for (i, p) in ps.iter().enumerate() {
        let z = coefficient(seed, i as u64);
        b_coeff += z * p.s;
        scalars.push(-z);
        points.push(p.r);
        let zk = z * p.k;
        match keys.iter_mut().find(|(b, _, _)| *b == p.a_bytes) {
            Some((_, _, c)) => *c += zk,
            None => keys.push((p.a_bytes, p.a, zk)),
        }
    }
    for (_, a, c) in keys {
        scalars.push(-c);
        points.push(a);
    }
    scalars.push(b_coeff);
    points.push(ED25519_BASEPOINT_POINT);
    EdwardsPoint::vartime_multiscalar_mul(scalars, points).mul_by_cofactor().is_identity()
}

/// The `i`-th coefficient: 128 bits of `SHA-512("trellis/batch-z/v1" ‖ seed ‖ i)`.
fn coefficient(seed: &[u8; 32], i: u64) -> Scalar {
    let mut h = Sha512::new();
    h.update(b"trellis/batch-z/v1");
    h.update(seed);
    h.update(i.to_le_bytes());
    let d = h.finalize();
    let mut b = [0u8; 32];
    b[..16].copy_from_slice(&d[..16]);
    Scalar::from_bytes_mod_order(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{OrgKeys, sign_tagged};

    fn keys(n: u8) -> OrgKeys {
        OrgKeys::from_seeds([n; 32], [n.wrapping_add(100); 32])
    }

    /// The secret scalar of an ed25519 seed (RFC 8032: SHA-512 of the seed, low half, clamped).
    fn secret_scalar(seed: [u8; 32]) -> Scalar {
        let h = Sha512::digest(seed);
        let mut a: [u8; 32] = h[..32].try_into().unwrap();
        a[0] &= 248;
        a[31] &= 127;
        a[31] |= 64;
        Scalar::from_bytes_mod_order(a)
    }

    /// A signature whose `R` carries the torsion point `t`: valid under the cofactored equation,
    /// invalid under the cofactorless one (unless `t` is the identity).
    fn torsioned(seed: [u8; 32], org: &OrgId, tag: &str, data: &[u8], t: EdwardsPoint, r: u64) -> [u8; 64] {
        let a = secret_scalar(seed);
        let r = Scalar::from(r + 7);
        let big_r = (EdwardsPoint::mul_base(&r) + t).compress();
        let mut h = Sha512::new();
        h.update(big_r.as_bytes());
        h.update(org.as_bytes());
        h.update([tag.len() as u8]);
        h.update(tag.as_bytes());
        h.update(data);
        let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
        let s = r + k * a;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(big_r.as_bytes());
        sig[32..].copy_from_slice(s.as_bytes());
        sig
    }

    fn torsion_points() -> Vec<EdwardsPoint> {
        curve25519_dalek::constants::EIGHT_TORSION.to_vec()
    }

    #[test]
    fn honest_signatures_verify_one_by_one_and_in_batches() {
        let k = keys(1);
        let datas: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 100 + i as usize]).collect();
        let sigs: Vec<[u8; 64]> = datas.iter().map(|d| sign_tagged(k.signing(), "t", d)).collect();
        let org = k.org_id();
        let checks: Vec<SigCheck<'_>> =
            datas.iter().zip(&sigs).map(|(d, s)| SigCheck { org: &org, tag: "t", data: [d, &[]], sig: s }).collect();
        for c in &checks {
            verify_one(c).unwrap();
        }
        assert!(verify_batch(&checks, &[5; 32]).iter().all(Result::is_ok));
        // And as ed25519-dalek's strict check sees them.
        let vk = ed25519_dalek::VerifyingKey::from_bytes(org.as_bytes()).unwrap();
        for (d, s) in datas.iter().zip(&sigs) {
            let mut m = vec![1u8, b't'];
            m.extend_from_slice(d);
            vk.verify_strict(&m, &ed25519_dalek::Signature::from_bytes(s)).unwrap();
        }
    }

    /// One forged signature among many honest ones (several keys) fails alone, in every position.
    #[test]
    fn one_bad_signature_fails_alone() {
        let ks: Vec<OrgKeys> = (1..4).map(keys).collect();
        let orgs: Vec<OrgId> = ks.iter().map(|k| k.org_id()).collect();
        let datas: Vec<Vec<u8>> = (0..30u8).map(|i| vec![i; 64]).collect();
        for bad in [0, 13, 29] {
            let mut sigs: Vec<[u8; 64]> =
                datas.iter().enumerate().map(|(i, d)| sign_tagged(ks[i % 3].signing(), "t", d)).collect();
            sigs[bad][40] ^= 1;
            let checks: Vec<SigCheck<'_>> = datas
                .iter()
                .zip(&sigs)
                .enumerate()
                .map(|(i, (d, s))| SigCheck { org: &orgs[i % 3], tag: "t", data: [&d[..10], &d[10..]], sig: s })
                .collect();
            let r = verify_batch(&checks, &[bad as u8; 32]);
            for (i, r) in r.iter().enumerate() {
                assert_eq!(r.is_ok(), i != bad, "position {i}, forged {bad}");
            }
        }
    }

    /// The attack on cofactorless batches: a torsion component in R. Single and batch checks give
    /// the same verdict for every torsion point, whatever the coefficients.
    #[test]
    fn single_and_batch_agree_on_torsioned_signatures() {
        let seed = [9u8; 32];
        let k = OrgKeys::from_seeds(seed, [3; 32]);
        let org = k.org_id();
        for (ti, t) in torsion_points().into_iter().enumerate() {
            let data = format!("torsion {ti}").into_bytes();
            let sig = torsioned(seed, &org, "t", &data, t, ti as u64);
            let check = SigCheck { org: &org, tag: "t", data: [&data, &[]], sig: &sig };
            let single = verify_one(&check);
            // R = [r]B + T is never small order (it has a prime-order part), so the cofactored
            // equation holds for every T.
            assert_eq!(single, Ok(()), "torsion point {ti}");
            for z in 0..16u8 {
                let honest = sign_tagged(k.signing(), "t", b"other");
                let c2 = SigCheck { org: &org, tag: "t", data: [b"other", &[]], sig: &honest };
                let batch = verify_batch(&[check, c2, check], &[z; 32]);
                assert_eq!(batch, vec![single.clone(), Ok(()), single.clone()], "torsion {ti}, seed {z}");
            }
        }
    }

    #[test]
    fn malformed_signatures_and_keys_are_refused() {
        let k = keys(2);
        let org = k.org_id();
        let sig = sign_tagged(k.signing(), "t", b"x");
        let ok = SigCheck { org: &org, tag: "t", data: [b"x", &[]], sig: &sig };
        verify_one(&ok).unwrap();
        // Another tag, other data.
        assert_eq!(verify_one(&SigCheck { tag: "u", ..ok }), Err(ProtoError::BadSignature));
        assert_eq!(verify_one(&SigCheck { data: [b"y", &[]], ..ok }), Err(ProtoError::BadSignature));
        // s ≥ ℓ (s + ℓ, the classic malleability).
        let mut high = sig;
        let s = Scalar::from_canonical_bytes(sig[32..].try_into().unwrap()).unwrap();
        let l_plus_s = {
            // ℓ in little-endian, plus s, without reduction.
            let mut l = [0u8; 32];
            l[..16].copy_from_slice(&[
                0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
            ]);
            l[31] = 0x10;
            let (mut out, mut carry) = ([0u8; 32], 0u16);
            for i in 0..32 {
                let v = l[i] as u16 + s.as_bytes()[i] as u16 + carry;
                out[i] = v as u8;
                carry = v >> 8;
            }
            out
        };
        high[32..].copy_from_slice(&l_plus_s);
        assert_eq!(verify_one(&SigCheck { sig: &high, ..ok }), Err(ProtoError::BadSignature));
        // A small-order R (the identity).
        let mut small_r = sig;
        small_r[..32].copy_from_slice(EdwardsPoint::default().compress().as_bytes());
        assert_eq!(verify_one(&SigCheck { sig: &small_r, ..ok }), Err(ProtoError::BadSignature));
        // A non-canonical R encoding (y = p + 1 encodes the same point as y = 1... which is small
        // order; use y ≥ p directly).
        let mut noncanon = sig;
        noncanon[..32].copy_from_slice(&[0xff; 32]);
        noncanon[31] = 0x7f;
        assert_eq!(verify_one(&SigCheck { sig: &noncanon, ..ok }), Err(ProtoError::BadSignature));
        // A small-order key signs nothing.
        let weak = OrgId(*torsion_points()[1].compress().as_bytes());
        assert_eq!(verify_one(&SigCheck { org: &weak, ..ok }), Err(ProtoError::BadSignature));
        // Bytes that are not a point: a bad key. Find a y that does not decompress.
        let not_point = (0u8..=255)
            .map(|b| [b; 32])
            .map(|mut b| {
                b[31] &= 0x7f;
                b
            })
            .find(|b| CompressedEdwardsY(*b).decompress().is_none())
            .unwrap();
        assert_eq!(verify_one(&SigCheck { org: &OrgId(not_point), ..ok }), Err(ProtoError::BadKey));
        // In a batch, each keeps its own verdict.
        let r =
            verify_batch(&[ok, SigCheck { sig: &high, ..ok }, ok, SigCheck { org: &OrgId(not_point), ..ok }], &[1; 32]);
        assert_eq!(r, vec![Ok(()), Err(ProtoError::BadSignature), Ok(()), Err(ProtoError::BadKey)]);
    }
}
