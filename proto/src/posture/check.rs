//! Checks on a posture attestation that every node makes the same way: is it well-formed
//! ([`validate`]), which answers have lapsed at a given time ([`expired_indicators`]), and what
//! changed between two attestations of one organization ([`diff`]).

use std::collections::BTreeMap;

use crate::items::{Indicator, IndicatorClaim, IndicatorValue, Method, PostureAttestation};

use super::{AnswerKind, guide};

/// Why an attestation (or one of its answers) is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PostureProblem {
    #[error("the attestation answers no indicator; answer at least one (trellis posture init)")]
    Empty,
    #[error("{} is answered twice; keep one answer per indicator", .0.as_str())]
    Duplicate(Indicator),
    #[error("{}: valid_until is not after observed_at", .0.as_str())]
    ValidityBeforeObservation(Indicator),
    #[error("{}: method \"observed\" needs an evidence URL where it can be checked", .0.as_str())]
    ObservedWithoutEvidence(Indicator),
    #[error("{}: expected {expected}, found {found:?}", .indicator.as_str())]
    WrongValue { indicator: Indicator, expected: &'static str, found: String },
    #[error("a critical dependency has no name")]
    UnnamedDependency,
    #[error("{0}")]
    Unreadable(String),
}

/// Every problem of `att` (empty when it is acceptable). Publishing refuses an attestation with
/// problems; a receiver shows the latest attestation without any.
pub fn validate(att: &PostureAttestation) -> Vec<PostureProblem> {
    let mut problems = Vec::new();
    if att.claims.is_empty() {
        problems.push(PostureProblem::Empty);
    }
    let mut seen = std::collections::BTreeSet::new();
    for c in &att.claims {
        if !seen.insert(c.indicator) {
            problems.push(PostureProblem::Duplicate(c.indicator));
        }
        if c.valid_until_ms <= c.observed_ms {
            problems.push(PostureProblem::ValidityBeforeObservation(c.indicator));
        }
        if c.method == Method::Observed && c.evidence.as_deref().is_none_or(|e| e.trim().is_empty()) {
            problems.push(PostureProblem::ObservedWithoutEvidence(c.indicator));
        }
        let fits = match (guide(c.indicator).answer, &c.value) {
            (AnswerKind::YesNo, v) => matches!(v, IndicatorValue::Yes | IndicatorValue::No),
            (AnswerKind::Number { .. }, v) => matches!(v, IndicatorValue::Number(_)),
            (AnswerKind::Contact, v) => !matches!(v, IndicatorValue::Number(_)),
        };
        if !fits {
            let expected = match guide(c.indicator).answer {
                AnswerKind::YesNo => "yes or no",
                AnswerKind::Number { .. } => "a whole number",
                AnswerKind::Contact => "an e-mail address or a URL",
            };
            problems.push(PostureProblem::WrongValue {
                indicator: c.indicator,
                expected,
                found: super::format_value(&c.value),
            });
        }
    }
    if att.critical_dependencies.iter().any(|d| d.name.trim().is_empty()) {
        problems.push(PostureProblem::UnnamedDependency);
    }
    problems
}

/// Whether an answer has lapsed at `now_ms` (its `valid_until` is not in the future).
pub fn is_expired(claim: &IndicatorClaim, now_ms: u64) -> bool {
    claim.valid_until_ms <= now_ms
}

/// The indicators of `att` whose answers have lapsed at `now_ms`.
pub fn expired_indicators(att: &PostureAttestation, now_ms: u64) -> Vec<Indicator> {
    att.claims.iter().filter(|c| is_expired(c, now_ms)).map(|c| c.indicator).collect()
}

/// How one indicator's answer changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimChange {
    Added(IndicatorClaim),
    Removed(IndicatorClaim),
    /// The answer, the method or the evidence changed.
    Changed {
        before: IndicatorClaim,
        after: IndicatorClaim,
    },
    /// Same answer, re-confirmed: only the dates moved.
    Renewed {
        before: IndicatorClaim,
        after: IndicatorClaim,
    },
}

impl ClaimChange {
    pub fn indicator(&self) -> Indicator {
        match self {
            ClaimChange::Added(c) | ClaimChange::Removed(c) => c.indicator,
            ClaimChange::Changed { after, .. } | ClaimChange::Renewed { after, .. } => after.indicator,
        }
    }
}

/// What changed from `before` to `after`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PostureDiff {
    /// In indicator order; unchanged answers are left out.
    pub claims: Vec<ClaimChange>,
    pub dependencies_added: Vec<String>,
    pub dependencies_removed: Vec<String>,
}

impl PostureDiff {
    pub fn is_empty(&self) -> bool {
        self.claims.is_empty() && self.dependencies_added.is_empty() && self.dependencies_removed.is_empty()
    }
}

/// What changed from `before` to `after` (two attestations of one organization).
pub fn diff(before: &PostureAttestation, after: &PostureAttestation) -> PostureDiff {
    let index = |a: &PostureAttestation| -> BTreeMap<Indicator, IndicatorClaim> {
        a.claims.iter().map(|c| (c.indicator, c.clone())).collect()
    };
    let (old, new) = (index(before), index(after));
    let mut claims = Vec::new();
    for i in Indicator::ALL {
        match (old.get(&i), new.get(&i)) {
            (None, Some(n)) => claims.push(ClaimChange::Added(n.clone())),
            (Some(o), None) => claims.push(ClaimChange::Removed(o.clone())),
            (Some(o), Some(n)) if o.value != n.value || o.method != n.method || o.evidence != n.evidence => {
                claims.push(ClaimChange::Changed { before: o.clone(), after: n.clone() })
            }
            (Some(o), Some(n)) if o.valid_until_ms != n.valid_until_ms || o.observed_ms != n.observed_ms => {
                claims.push(ClaimChange::Renewed { before: o.clone(), after: n.clone() })
            }
            _ => {}
        }
    }
    let names = |a: &PostureAttestation| -> std::collections::BTreeSet<String> {
        a.critical_dependencies.iter().map(|d| d.purl.clone().unwrap_or_else(|| d.name.trim().to_string())).collect()
    };
    let (od, nd) = (names(before), names(after));
    PostureDiff {
        claims,
        dependencies_added: nd.difference(&od).cloned().collect(),
        dependencies_removed: od.difference(&nd).cloned().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::items::CriticalDependency;

    fn claim(i: Indicator, v: IndicatorValue, until: u64) -> IndicatorClaim {
        IndicatorClaim {
            indicator: i,
            value: v,
            method: Method::SelfAttested,
            observed_ms: 10,
            valid_until_ms: until,
            evidence: None,
        }
    }

    fn att(claims: Vec<IndicatorClaim>, deps: &[&str]) -> PostureAttestation {
        PostureAttestation {
            claims,
            critical_dependencies: deps
                .iter()
                .map(|d| CriticalDependency { name: d.to_string(), purl: None })
                .collect(),
        }
    }

    #[test]
    fn validation_names_each_problem() {
        let good = att(vec![claim(Indicator::Mfa, IndicatorValue::Yes, 100)], &["AWS"]);
        assert!(validate(&good).is_empty());
        assert_eq!(validate(&att(vec![], &[])), vec![PostureProblem::Empty]);
        let mut observed = claim(Indicator::SecurityContact, IndicatorValue::Text("a@b".into()), 100);
        observed.method = Method::Observed;
        let bad = att(
            vec![
                claim(Indicator::Mfa, IndicatorValue::Yes, 100),
                claim(Indicator::Mfa, IndicatorValue::No, 5),
                claim(Indicator::CriticalRemediationDays, IndicatorValue::Yes, 100),
                observed,
            ],
            &[" "],
        );
        let p = validate(&bad);
        assert!(p.contains(&PostureProblem::Duplicate(Indicator::Mfa)), "{p:?}");
        assert!(p.contains(&PostureProblem::ValidityBeforeObservation(Indicator::Mfa)), "{p:?}");
        assert!(
            p.iter()
                .any(|p| matches!(p, PostureProblem::WrongValue { indicator: Indicator::CriticalRemediationDays, .. }))
        );
        assert!(p.contains(&PostureProblem::ObservedWithoutEvidence(Indicator::SecurityContact)));
        assert!(p.contains(&PostureProblem::UnnamedDependency));
    }

    #[test]
    fn expiry_is_judged_at_the_given_time() {
        let a = att(
            vec![
                claim(Indicator::Mfa, IndicatorValue::Yes, 100),
                claim(Indicator::CodeReview, IndicatorValue::Yes, 200),
            ],
            &[],
        );
        assert!(expired_indicators(&a, 99).is_empty());
        assert_eq!(expired_indicators(&a, 100), vec![Indicator::Mfa]);
        assert_eq!(expired_indicators(&a, 500), vec![Indicator::Mfa, Indicator::CodeReview]);
    }

    #[test]
    fn diff_reports_added_removed_changed_renewed_and_dependencies() {
        let before = att(
            vec![
                claim(Indicator::Mfa, IndicatorValue::No, 100),
                claim(Indicator::CodeReview, IndicatorValue::Yes, 100),
                claim(Indicator::SignedReleases, IndicatorValue::Yes, 100),
            ],
            &["AWS", "TinyHost"],
        );
        let after = att(
            vec![
                claim(Indicator::Mfa, IndicatorValue::Yes, 100),
                claim(Indicator::CodeReview, IndicatorValue::Yes, 300),
                claim(Indicator::SbomPerRelease, IndicatorValue::Yes, 300),
            ],
            &["AWS", "Microsoft 365"],
        );
        let d = diff(&before, &after);
        let kinds: Vec<(Indicator, &str)> = d
            .claims
            .iter()
            .map(|c| {
                (
                    c.indicator(),
                    match c {
                        ClaimChange::Added(_) => "added",
                        ClaimChange::Removed(_) => "removed",
                        ClaimChange::Changed { .. } => "changed",
                        ClaimChange::Renewed { .. } => "renewed",
                    },
                )
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                (Indicator::SbomPerRelease, "added"),
                (Indicator::SignedReleases, "removed"),
                (Indicator::Mfa, "changed"),
                (Indicator::CodeReview, "renewed"),
            ]
        );
        assert_eq!(d.dependencies_added, vec!["Microsoft 365".to_string()]);
        assert_eq!(d.dependencies_removed, vec!["TinyHost".to_string()]);
        assert!(diff(&after, &after).is_empty());
    }
}
