//! Trust arithmetic (PROTOCOL.md §7): pure functions from what a node knows (its operator's
//! trust levels, its groups' default for members, signed trust statements, observed misbehaviour)
//! to a trust level in [0, 1] per organization, with the path that produced it, and to the
//! confidence of an advisory.
//!
//! **Transitive trust.** Statements extend trust only from organizations the operator trusts
//! explicitly: the trust a path gives is `local(seed) × Π level(edge) × DECAY^hops`, at most
//! [`MAX_DEPTH`] hops, and an org's transitive trust is the best such path. Because every hop
//! multiplies by at most `DECAY < 1`, a statement never gives more than `DECAY` times its
//! issuer's own trust.
//!
//! **Why a clique of newcomers gains nothing.** Newcomers admitted to a group start at the
//! group's default, which is not a seed: their statements count only if the operator trusts one
//! of them explicitly, or trusts someone who vouched for one of them. A ring of sybils vouching
//! for each other has no path from a seed, so their statements add nothing, however many there
//! are and whatever levels they claim; and a sybil that does hang off a seed gets at most
//! `DECAY^k` of that seed's trust at k hops, as does everyone it vouches for, one hop further.
//!
//! **Behaviour.** Misbehaviour observed locally (flooding past the quota) divides trust by
//! `1 + violations / PENALTY_SCALE`. An operator's explicit level is final for that org.

use std::collections::{BTreeMap, BTreeSet};

use crate::ids::OrgId;

/// Factor applied per hop of a statement path.
pub const DECAY: f64 = 0.5;
/// Longest statement path counted.
pub const MAX_DEPTH: usize = 3;
/// Violations that halve an org's trust.
pub const PENALTY_SCALE: f64 = 50.0;

/// What produced an org's trust.
#[derive(Clone, Debug, PartialEq)]
pub enum TrustSource {
    /// Set by this node's operator.
    Operator,
    /// The default of a group the org is a member of.
    GroupDefault,
    /// A chain of statements from an operator-trusted org: `[seed, ..., subject]` with the
    /// level each statement gave.
    Statements(Vec<(OrgId, f64)>),
    /// Nothing: unknown org.
    None,
}

/// An org's trust and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Trust {
    pub level: f64,
    /// Before the behaviour penalty.
    pub base: f64,
    pub source: TrustSource,
    pub violations: u64,
}

/// A statement path: `[seed, ..., subject]` with the level each hop gave.
pub type Path = Vec<(OrgId, f64)>;

/// Inputs of the computation.
#[derive(Clone, Debug, Default)]
pub struct TrustInputs {
    /// Levels the operator set.
    pub local: BTreeMap<OrgId, f64>,
    /// Best group default among the groups each org is a member of.
    pub member_default: BTreeMap<OrgId, f64>,
    /// Statements `(issuer, subject) → level` (latest per pair).
    pub statements: BTreeMap<(OrgId, OrgId), f64>,
    /// Observed violations per org.
    pub violations: BTreeMap<OrgId, u64>,
}

impl TrustInputs {
    /// Trust of every org mentioned anywhere in the inputs.
    pub fn compute_all(&self) -> BTreeMap<OrgId, Trust> {
        let mut orgs: BTreeSet<OrgId> = self.local.keys().chain(self.member_default.keys()).copied().collect();
        for (i, s) in self.statements.keys() {
            orgs.insert(*i);
            orgs.insert(*s);
        }
        let transitive = self.transitive();
        orgs.into_iter().map(|o| (o, self.resolve(&o, &transitive))).collect()
    }

    /// Trust of one org.
    pub fn compute(&self, org: &OrgId) -> Trust {
        self.resolve(org, &self.transitive())
    }

    fn resolve(&self, org: &OrgId, transitive: &BTreeMap<OrgId, (f64, Path)>) -> Trust {
        let violations = self.violations.get(org).copied().unwrap_or(0);
        let (base, source) = if let Some(l) = self.local.get(org) {
            (clamp(*l), TrustSource::Operator)
        } else {
            let default = self.member_default.get(org).copied().map(clamp);
            let trans = transitive.get(org);
            match (default, trans) {
                (Some(d), Some((t, path))) if *t > d => (*t, TrustSource::Statements(path.clone())),
                (Some(d), _) => (d, TrustSource::GroupDefault),
                (None, Some((t, path))) => (*t, TrustSource::Statements(path.clone())),
                (None, None) => (0.0, TrustSource::None),
            }
        };
        let level = if matches!(source, TrustSource::Operator) {
            base
        } else {
            base / (1.0 + violations as f64 / PENALTY_SCALE)
        };
        Trust { level, base, source, violations }
    }

    /// Best statement path to every reachable org (Bellman-Ford style, bounded depth).
    fn transitive(&self) -> BTreeMap<OrgId, (f64, Path)> {
        let mut best: BTreeMap<OrgId, (f64, Path)> = BTreeMap::new();
        let mut frontier: Vec<(OrgId, f64, Path)> =
            self.local.iter().filter(|(_, l)| **l > 0.0).map(|(o, l)| (*o, clamp(*l), vec![(*o, clamp(*l))])).collect();
        for _ in 0..MAX_DEPTH {
            let mut next = Vec::new();
            for (issuer, t, path) in &frontier {
                for ((i, subject), level) in
                    self.statements.range((*issuer, OrgId([0; 32]))..=(*issuer, OrgId([0xff; 32])))
                {
                    debug_assert_eq!(i, issuer);
                    if path.iter().any(|(o, _)| o == subject) {
                        continue;
                    }
                    let v = t * clamp(*level) * DECAY;
                    if v <= 0.0 || best.get(subject).is_some_and(|(b, _)| *b >= v) {
                        continue;
                    }
                    let mut p = path.clone();
                    p.push((*subject, clamp(*level)));
                    best.insert(*subject, (v, p.clone()));
                    next.push((*subject, v, p));
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        best
    }
}

fn clamp(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

/// How an endorsement bears on an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stance {
    Supports,
    Disputes,
}

/// Weight of one endorsement relative to publishing the item oneself.
pub const ENDORSEMENT_WEIGHT: f64 = 0.5;

/// The confidence of an item (§7.2 point 5): a noisy-OR of the publisher's trust and, for each
/// supporting endorser, half of the trust it has *above* `baseline` (the default every member
/// starts with), then reduced likewise by each disputing endorser. Membership alone makes an
/// endorser no more credible than the publisher: a clique of members endorsing each other adds
/// nothing until someone the node trusts beyond membership corroborates. Endorsements by the
/// publisher itself do not count; each endorser counts once.
pub fn confidence(
    publisher: &OrgId,
    publisher_trust: f64,
    baseline: f64,
    endorsements: &[(OrgId, f64, Stance)],
) -> f64 {
    let mut doubt = 1.0 - clamp(publisher_trust);
    let mut dispute = 1.0;
    let mut seen = BTreeSet::new();
    for (org, t, stance) in endorsements {
        if org == publisher || !seen.insert(*org) {
            continue;
        }
        let w = ENDORSEMENT_WEIGHT * (clamp(*t) - clamp(baseline)).max(0.0);
        match stance {
            Stance::Supports => doubt *= 1.0 - w,
            Stance::Disputes => dispute *= 1.0 - w,
        }
    }
    (1.0 - doubt) * dispute
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(n: u8) -> OrgId {
        OrgId([n; 32])
    }

    #[test]
    fn operator_level_is_final_and_statements_decay() {
        let mut t = TrustInputs::default();
        t.local.insert(o(1), 0.9);
        t.statements.insert((o(1), o(2)), 1.0);
        t.statements.insert((o(2), o(3)), 0.8);
        assert!((t.compute(&o(2)).level - 0.45).abs() < 1e-9);
        assert!((t.compute(&o(3)).level - 0.45 * 0.8 * 0.5).abs() < 1e-9);
        t.local.insert(o(3), 0.1);
        assert_eq!(t.compute(&o(3)).level, 0.1);
        assert_eq!(t.compute(&o(3)).source, TrustSource::Operator);
    }

    #[test]
    fn a_clique_of_newcomers_gains_nothing() {
        let mut t = TrustInputs::default();
        t.local.insert(o(1), 1.0);
        for s in 10..20u8 {
            t.member_default.insert(o(s), 0.3);
            for x in 10..20u8 {
                if x != s {
                    t.statements.insert((o(s), o(x)), 1.0);
                }
            }
        }
        for s in 10..20u8 {
            let tr = t.compute(&o(s));
            assert_eq!(tr.level, 0.3, "sybil {s} rose above the default");
            assert_eq!(tr.source, TrustSource::GroupDefault);
        }
        // One vouch from the trusted seed lifts one sybil to DECAY, and its friends to DECAY².
        t.statements.insert((o(1), o(10)), 1.0);
        assert_eq!(t.compute(&o(10)).level, 0.5);
        assert_eq!(t.compute(&o(11)).level, 0.3_f64.max(0.25));
    }

    #[test]
    fn depth_is_bounded_and_penalties_apply() {
        let mut t = TrustInputs::default();
        t.local.insert(o(0), 1.0);
        for i in 0..6u8 {
            t.statements.insert((o(i), o(i + 1)), 1.0);
        }
        assert!(t.compute(&o(3)).level > 0.0);
        assert_eq!(t.compute(&o(4)).level, 0.0);
        t.member_default.insert(o(9), 0.5);
        t.violations.insert(o(9), 50);
        assert_eq!(t.compute(&o(9)).level, 0.25);
    }

    #[test]
    fn confidence_rises_with_endorsements_and_falls_with_disputes() {
        let base = confidence(&o(1), 0.5, 0.5, &[]);
        assert_eq!(base, 0.5);
        let endorsed = confidence(&o(1), 0.5, 0.5, &[(o(2), 0.8, Stance::Supports)]);
        assert!(endorsed > base);
        let self_endorsed = confidence(&o(1), 0.5, 0.5, &[(o(1), 1.0, Stance::Supports)]);
        assert_eq!(self_endorsed, base);
        let disputed = confidence(&o(1), 0.5, 0.5, &[(o(3), 0.8, Stance::Disputes)]);
        assert!(disputed < base);
        let dup = confidence(&o(1), 0.5, 0.5, &[(o(2), 0.8, Stance::Supports), (o(2), 0.8, Stance::Supports)]);
        assert_eq!(dup, endorsed);
        // A clique of default-trust members endorsing each other adds nothing.
        let clique = confidence(&o(1), 0.5, 0.5, &[(o(2), 0.5, Stance::Supports), (o(3), 0.5, Stance::Supports)]);
        assert_eq!(clique, base);
    }
}
