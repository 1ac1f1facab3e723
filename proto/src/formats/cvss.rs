//! CVSS v3.0/v3.1 base scores computed from the vector. Imports use it to fill a score a
//! document left out and to prefer the vector over a contradicting number; the CSAF export uses
//! it because CSAF's mandatory test 6.1.9 rejects a `baseScore` that the vector does not give.

/// The base score of a CVSS v3.x vector, in tenths (9.8 → 98), or `None` if `vector` is not a
/// complete v3 base vector. Temporal and environmental metrics may follow and are ignored.
pub fn v3_base_score_tenths(vector: &str) -> Option<u8> {
    let mut parts = vector.trim().split('/');
    let version = parts.next()?.strip_prefix("CVSS:")?;
    let v31 = match version {
        "3.1" => true,
        "3.0" => false,
        _ => return None,
    };
    let (mut av, mut ac, mut pr, mut ui, mut s, mut c, mut i, mut a) = (None, None, None, None, None, None, None, None);
    for p in parts {
        let (k, v) = p.split_once(':')?;
        match k {
            "AV" => {
                av = Some(match v {
                    "N" => 0.85,
                    "A" => 0.62,
                    "L" => 0.55,
                    "P" => 0.2,
                    _ => return None,
                })
            }
            "AC" => {
                ac = Some(match v {
                    "L" => 0.77,
                    "H" => 0.44,
                    _ => return None,
                })
            }
            "PR" => pr = Some(v),
            "UI" => {
                ui = Some(match v {
                    "N" => 0.85,
                    "R" => 0.62,
                    _ => return None,
                })
            }
            "S" => {
                s = Some(match v {
                    "U" => false,
                    "C" => true,
                    _ => return None,
                })
            }
            "C" => c = Some(cia(v)?),
            "I" => i = Some(cia(v)?),
            "A" => a = Some(cia(v)?),
            _ => {}
        }
    }
    let changed = s?;
    let pr = match (pr?, changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        _ => return None,
    };
    let iss = 1.0 - (1.0 - c?) * (1.0 - i?) * (1.0 - a?);
    let impact = if changed { 7.52 * (iss - 0.029) - 3.25 * f64::powi(iss - 0.02, 15) } else { 6.42 * iss };
    let exploitability = 8.22 * av? * ac? * pr * ui?;
    let score = if impact <= 0.0 {
        0.0
    } else if changed {
        roundup(f64::min(1.08 * (impact + exploitability), 10.0), v31)
    } else {
        roundup(f64::min(impact + exploitability, 10.0), v31)
    };
    Some((score * 10.0).round() as u8)
}

fn cia(v: &str) -> Option<f64> {
    Some(match v {
        "H" => 0.56,
        "L" => 0.22,
        "N" => 0.0,
        _ => return None,
    })
}

/// Round up to one decimal; 3.1 defines it on integers to avoid floating-point surprises.
fn roundup(x: f64, v31: bool) -> f64 {
    if !v31 {
        return (x * 10.0).ceil() / 10.0;
    }
    let int = (x * 100_000.0).round() as i64;
    if int % 10_000 == 0 { int as f64 / 100_000.0 } else { ((int / 10_000) as f64 + 1.0) / 10.0 }
}

/// The qualitative rating of a score in tenths, as CVSS v3 names it.
pub fn severity_name(score_tenths: u8) -> &'static str {
    match score_tenths {
        0 => "NONE",
        1..=39 => "LOW",
        40..=69 => "MEDIUM",
        70..=89 => "HIGH",
        _ => "CRITICAL",
    }
}

/// Longest vector accepted: a v4.0 vector with every supplemental and environmental metric is
/// well under this.
pub const MAX_VECTOR_LEN: usize = 512;

/// Check a CVSS vector of any version in use — v2.0 (bare `AV:N/AC:L/Au:N/C:P/I:P/A:P`), v3.0
/// and v3.1 (`CVSS:3.1/...`), v4.0 (`CVSS:4.0/...`) — and compute its score, in tenths (9.8 →
/// 98), with the RustSec `cvss` library: every metric known, with a value it can take, given
/// once, and every base metric present. For v2 and v3 the score is the base score; for v4.0 it
/// is the score of the whole vector (CVSS-B, -BT, -BE or -BTE, as the metrics given make it).
/// The error says what is wrong, for the user who typed the vector.
pub fn score_tenths(vector: &str) -> Result<u8, String> {
    let v = vector.trim();
    if v.len() > MAX_VECTOR_LEN {
        return Err(format!("a CVSS vector is at most {MAX_VECTOR_LEN} characters"));
    }
    let parsed: cvss::Cvss = v.parse().map_err(|e: cvss::Error| format!("{v:?} is not a valid CVSS vector: {e}"))?;
    if let cvss::Cvss::CvssV30(b) | cvss::Cvss::CvssV31(b) = &parsed {
        let missing: Vec<&str> = [
            ("AV", b.av.is_none()),
            ("AC", b.ac.is_none()),
            ("PR", b.pr.is_none()),
            ("UI", b.ui.is_none()),
            ("S", b.s.is_none()),
            ("C", b.c.is_none()),
            ("I", b.i.is_none()),
            ("A", b.a.is_none()),
        ]
        .into_iter()
        .filter_map(|(m, absent)| absent.then_some(m))
        .collect();
        if !missing.is_empty() {
            return Err(format!("{v:?} lacks the base metric(s) {}", missing.join(", ")));
        }
    }
    let score = parsed.score();
    if !(0.0..=10.0).contains(&score) {
        return Err(format!("{v:?} gives a score of {score} outside 0.0-10.0"));
    }
    Ok((score * 10.0).round() as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_scores() {
        for (v, want) in [
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 98),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 100),
            // Log4Shell as NVD scores it.
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 100),
            // The BSI example (temporal metrics present, ignored for the base score).
            ("CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:N/A:L/E:F/RL:O/RC:C", 61),
            // The CISA advisory.
            ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", 64),
            ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:N", 75),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0),
            ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 16),
        ] {
            assert_eq!(v3_base_score_tenths(v), Some(want), "{v}");
        }
    }

    #[test]
    fn every_version_scored_by_the_library() {
        for (v, want) in [
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 98),
            ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:N", 75),
            ("AV:N/AC:L/Au:N/C:P/I:P/A:P", 75),
            ("AV:N/AC:L/Au:N/C:C/I:C/A:C", 100),
            ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 93),
        ] {
            assert_eq!(score_tenths(v), Ok(want), "{v}");
        }
        // The library and the hand-written v3 formula agree.
        for v in [
            "CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N",
            "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:N/A:L/E:F/RL:O/RC:C",
            "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N",
        ] {
            assert_eq!(score_tenths(v).ok(), v3_base_score_tenths(v), "{v}");
        }
    }

    #[test]
    fn broken_vectors_are_refused_with_the_reason() {
        for v in [
            "CVSS:4.0/AV:X/AC:Q",
            "CVSS:4.0/AV:N/AC:L",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/XX:Y",
            "AV:N/AC:L/Au:N/C:P/I:P",
            "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:3.1/AV:N/AC:L",
            "CVSS:3.1/AV:Z/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:9.9/AV:N",
            "AV:N/AC:L",
            "hello",
            "",
        ] {
            assert!(score_tenths(v).is_err(), "{v}");
        }
        assert!(score_tenths("CVSS:3.1/AV:N/AC:L").unwrap_err().contains("PR, UI, S, C, I, A"));
    }

    #[test]
    fn incomplete_or_other_versions() {
        assert_eq!(v3_base_score_tenths("AV:N/AC:L/Au:N/C:P/I:P/A:P"), None);
        assert_eq!(v3_base_score_tenths("CVSS:3.1/AV:N/AC:L"), None);
        assert_eq!(v3_base_score_tenths("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), None);
        assert_eq!(v3_base_score_tenths("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"), None);
        assert_eq!(severity_name(98), "CRITICAL");
        assert_eq!(severity_name(61), "MEDIUM");
    }
}
