//! Trust-weighted propagation (PROTOCOL.md §7), the node's side: the operator's levels, trust
//! statements received in groups, observed misbehaviour, and what trust drives — per-publisher
//! rate quotas, the relay threshold, the gossipsub application score of peers, the order in
//! which queued items are validated, and the confidence shown for each advisory.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use trellis_proto::items::{Endorsement, EndorsementKind, TrustStatement};
use trellis_proto::trust::{Stance, Trust, TrustInputs, TrustSource, confidence};
use trellis_proto::{GroupId, ItemId, Kind, OrgId, Payload, Tlp};

use super::actions::Audience;
use super::{ActionError, Engine};
use crate::api::types::{TrustExplain, TrustView};

/// Below this trust a publisher's items are stored and shown as low-trust, but not relayed.
pub const RELAY_THRESHOLD: f64 = 0.15;
/// Items per second a publisher of trust 0 may send; the quota grows with trust (§7.2).
const QUOTA_BASE_PER_S: f64 = 5.0;

/// The quota of a publisher with trust `t`: rate per second and burst (one second's worth).
/// A member at the default trust (0.5) may publish about 100 items/s, enough for a bulk feed;
/// a flood beyond it is cut within seconds because every verified violation lowers the trust
/// the quota is computed from.
pub fn quota(t: f64) -> (f64, f64) {
    let rate = QUOTA_BASE_PER_S * (1.0 + 39.0 * t);
    (rate, rate.max(10.0))
}

/// Over-quota items verified to attribute violations: one in this many, each counting for this
/// many violations.
pub const PENALTY_SAMPLE: u64 = 8;

/// A token bucket.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Quota buckets kept at most. A bucket idle for [`BUCKET_IDLE`] has refilled at any trust
/// (the burst is at most one second of the rate, and the lowest rate is 5/s), so dropping it
/// changes nothing; beyond that, the longest idle go first.
pub const MAX_QUOTA_BUCKETS: usize = 10_000;
const BUCKET_IDLE: std::time::Duration = std::time::Duration::from_secs(2);

/// Make room in a full bucket map: drop refilled buckets, then the oldest quarter.
fn evict_buckets(buckets: &mut HashMap<OrgId, Bucket>, now: Instant) {
    buckets.retain(|_, b| now.duration_since(b.at) < BUCKET_IDLE);
    if buckets.len() >= MAX_QUOTA_BUCKETS {
        let mut ages: Vec<Instant> = buckets.values().map(|b| b.at).collect();
        ages.sort_unstable();
        let cut = ages[ages.len() / 4];
        buckets.retain(|_, b| b.at > cut);
    }
}

/// The trust keeper: the trust graph's inputs and its computed levels, quota buckets, the
/// items relayed per publisher, and revoked signing keys (docs/ARCHITECTURE.md, "Owners").
///
/// A private lock per part with short methods: every use is synchronous CPU work on the
/// receive path (a quota take, a level look-up), too short to be worth a task's channel hop.
///
/// Poisoning: the locks are recovered ([`PoisonError::into_inner`]). The relayed counts and the
/// revocations change by single map operations. The trust state's inputs are maps changed one
/// entry at a time, and everything derived from them (the cached levels) is recomputed: a
/// recovered trust state is marked dirty, so a panic during a recomputation cannot leave stale
/// levels behind.
#[derive(Debug, Default)]
pub struct TrustKeeper {
    state: Mutex<TrustState>,
    relayed: Mutex<HashMap<OrgId, u64>>,
    revoked: Mutex<HashMap<OrgId, u64>>,
}

impl TrustKeeper {
    fn state(&self) -> MutexGuard<'_, TrustState> {
        match self.state.lock() {
            Ok(t) => t,
            Err(poisoned) => {
                let mut t = poisoned.into_inner();
                t.dirty = true;
                self.state.clear_poison();
                t
            }
        }
    }

    /// Record that `org`'s signing key is revoked from `from_ms` on. The earliest time wins: a
    /// holder of a stolen key cannot move a revocation into the future with a later one (§2.6).
    pub fn record_revocation(&self, org: OrgId, from_ms: u64) {
        let mut m = self.revoked.lock().unwrap_or_else(PoisonError::into_inner);
        let t = m.entry(org).or_insert(from_ms);
        *t = (*t).min(from_ms);
    }

    /// From when `org`'s signing key is revoked, if it is.
    pub fn revoked_from(&self, org: &OrgId) -> Option<u64> {
        self.revoked.lock().unwrap_or_else(PoisonError::into_inner).get(org).copied()
    }

    /// Count one item of `org` accepted from gossip and so relayed.
    pub fn count_relayed(&self, org: OrgId) {
        *self.relayed.lock().unwrap_or_else(PoisonError::into_inner).entry(org).or_default() += 1;
    }

    /// Items of `org` accepted from gossip and so relayed, since start.
    pub fn relayed_items(&self, org: &OrgId) -> u64 {
        self.relayed.lock().unwrap_or_else(PoisonError::into_inner).get(org).copied().unwrap_or(0)
    }
}

/// Everything trust-related the node keeps in memory.
#[derive(Debug, Default)]
struct TrustState {
    inputs: TrustInputs,
    /// When each statement was made (to keep only the latest per pair).
    statement_time: BTreeMap<(OrgId, OrgId), u64>,
    cache: BTreeMap<OrgId, Trust>,
    dirty: bool,
    buckets: HashMap<OrgId, Bucket>,
    sample: u64,
}

impl Engine {
    /// Each org's best group default among the groups where it is a member.
    fn member_defaults(&self) -> BTreeMap<OrgId, f64> {
        let mut out: BTreeMap<OrgId, f64> = BTreeMap::new();
        self.groups.read(|groups| {
            for g in groups.values() {
                let d = g.log.genesis.genesis.default_trust_milli as f64 / 1000.0;
                for org in g.state.members.keys() {
                    let e = out.entry(*org).or_insert(d);
                    *e = e.max(d);
                }
            }
        });
        out
    }

    /// Mark trust for recomputation (membership, statements or the operator's levels changed).
    pub fn trust_changed(&self) {
        self.trust.state().dirty = true;
    }

    /// The trust of `org` and why. The statement graph is recomputed only when membership,
    /// statements or the operator's levels changed; the behaviour penalty is applied on read, so
    /// a flood of violations costs a counter increment each, not a recomputation.
    pub fn trust_detail(&self, org: &OrgId) -> Trust {
        let needs_refresh = {
            let t = self.trust.state();
            t.dirty || t.cache.is_empty()
        };
        // Group membership is read before taking the trust lock (never both at once).
        let defaults = if needs_refresh { Some(self.member_defaults()) } else { None };
        let mut t = self.trust.state();
        if let Some(d) = defaults {
            t.inputs.member_default = d;
            t.cache = t.inputs.compute_all();
            t.dirty = false;
        }
        let mut tr = t.cache.get(org).cloned().unwrap_or(Trust {
            level: 0.0,
            base: 0.0,
            source: TrustSource::None,
            violations: 0,
        });
        tr.violations = t.inputs.violations.get(org).copied().unwrap_or(0);
        tr.level = if matches!(tr.source, TrustSource::Operator) {
            tr.base
        } else {
            tr.base / (1.0 + tr.violations as f64 / trellis_proto::trust::PENALTY_SCALE)
        };
        tr
    }

    /// The trust level of `org`.
    pub fn trust_of(&self, org: &OrgId) -> f64 {
        if *org == self.me() {
            return 1.0;
        }
        self.trust_detail(org).level
    }

    /// Load the operator's levels and the statements stored in every group.
    pub fn load_trust(&self) -> anyhow::Result<()> {
        let levels = self.store.trust_levels()?;
        let mut statements = Vec::new();
        for gid in self.group_ids() {
            for id in self.store.group_item_ids(&gid, Kind::Trust)? {
                if let Some(item) = self.store.get_item(&id)?
                    && let Some((env, Payload::Trust(ts))) = item.open()
                {
                    statements.push((env.header.sender, env.header.timestamp_ms, ts));
                }
            }
        }
        let mut t = self.trust.state();
        t.inputs.local = levels.into_iter().collect();
        for (issuer, at, ts) in statements {
            record_statement(&mut t, issuer, at, &ts);
        }
        t.dirty = true;
        Ok(())
    }

    /// A verified trust statement arrived.
    pub fn record_trust_statement(&self, issuer: OrgId, at_ms: u64, ts: &TrustStatement) {
        record_statement(&mut self.trust.state(), issuer, at_ms, ts);
    }

    /// Take one item from `org`'s quota; false (and a recorded violation) when it is spent.
    /// Called only after the signature and membership checks, so buckets exist only for verified
    /// members; the map is still capped ([`MAX_QUOTA_BUCKETS`]): buckets that have refilled are
    /// the same as no bucket and are dropped first.
    pub fn take_quota(&self, org: &OrgId) -> bool {
        let level = self.trust_of(org);
        let (rate, burst) = quota(level);
        let now = self.clock.now();
        let mut t = self.trust.state();
        if !t.buckets.contains_key(org) && t.buckets.len() >= MAX_QUOTA_BUCKETS {
            evict_buckets(&mut t.buckets, now);
        }
        let b = t.buckets.entry(*org).or_insert(Bucket { tokens: burst, at: now });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return true;
        }
        *t.inputs.violations.entry(*org).or_default() += 1;
        false
    }

    /// Whether `org` has quota left, without taking any and without creating a bucket: this runs
    /// before any check of who `org` is, so a stranger (or a forged claim) leaves no trace.
    pub fn quota_available(&self, org: &OrgId) -> bool {
        let t = self.trust.state();
        let Some(b) = t.buckets.get(org) else { return true };
        let (tokens, at) = (b.tokens, b.at);
        drop(t);
        // A bucket only ever exists below its burst; the refill needs the rate (and so the trust),
        // computed outside the trust lock.
        let (rate, burst) = quota(self.trust_of(org));
        (tokens + self.clock.now().duration_since(at).as_secs_f64() * rate).min(burst) >= 1.0
    }

    /// Quota buckets held (at most [`MAX_QUOTA_BUCKETS`]).
    pub fn quota_buckets(&self) -> usize {
        self.trust.state().buckets.len()
    }

    /// True once every [`PENALTY_SAMPLE`] calls.
    pub fn sample_for_penalty(&self) -> bool {
        let mut t = self.trust.state();
        t.sample = t.sample.wrapping_add(1);
        t.sample.is_multiple_of(PENALTY_SAMPLE)
    }

    /// Record `n` quota violations of `org` (verified).
    pub fn add_violations(&self, org: &OrgId, n: u64) {
        *self.trust.state().inputs.violations.entry(*org).or_default() += n;
    }

    /// Set (or clear) the operator's trust in an org.
    pub fn set_trust(&self, org: &str, level: Option<f64>) -> Result<TrustView, ActionError> {
        let org = self.resolve_any_org(org)?;
        if let Some(l) = level
            && !(0.0..=1.0).contains(&l)
        {
            return Err(ActionError::BadRequest(format!("trust level {l} is outside 0.0–1.0")));
        }
        self.store.put_trust(&org, level)?;
        {
            let mut t = self.trust.state();
            match level {
                Some(l) => t.inputs.local.insert(org, l),
                None => t.inputs.local.remove(&org),
            };
            t.dirty = true;
        }
        Ok(self.trust_view(&org))
    }

    /// Publish a signed statement vouching for `org` at `level` in `group` (GREEN).
    pub async fn vouch(
        self: &Arc<Self>,
        group: &str,
        org: &str,
        level: f64,
        comment: Option<String>,
    ) -> Result<ItemId, ActionError> {
        let gid = self.resolve_group(group)?;
        let subject = self.resolve_member(&gid, org)?;
        if !(0.0..=1.0).contains(&level) {
            return Err(ActionError::BadRequest(format!("trust level {level} is outside 0.0–1.0")));
        }
        let ts = TrustStatement { subject, level_milli: (level * 1000.0).round() as u16, comment };
        let (id, _) = self.publish_payload(gid, Tlp::Green, Payload::Trust(ts), Audience::Group).await?;
        Ok(id)
    }

    /// Endorse, report a sighting of, or dispute an advisory (GREEN, in its group).
    pub async fn endorse(
        self: &Arc<Self>,
        id: &str,
        kind: EndorsementKind,
        comment: Option<String>,
    ) -> Result<ItemId, ActionError> {
        let view = self.advisory(id)?;
        let item = ItemId::parse(&view.id).map_err(|e| ActionError::Internal(e.to_string()))?;
        let gid = GroupId::parse(&view.group).map_err(|e| ActionError::Internal(e.to_string()))?;
        let e = Endorsement { item, kind, comment };
        let (id, _) = self.publish_payload(gid, Tlp::Green, Payload::Endorsement(e), Audience::Group).await?;
        Ok(id)
    }

    /// Endorsements of items in `group` that this node can read: item → (endorser, stance), from
    /// the endorsement index (`engine/endorsements.rs`). A store failure while the group is
    /// first read is logged and answers no endorsements.
    pub fn endorsements(&self, gid: &GroupId) -> HashMap<ItemId, Vec<(OrgId, Stance)>> {
        self.endorsement_index
            .with_group(&self.store, gid, |ends| {
                ends.iter().map(|(item, v)| (*item, super::endorsements::stances(v))).collect()
            })
            .unwrap_or_else(|e| {
                tracing::warn!(group = %gid.short(), error = %e, "endorsements not read");
                HashMap::new()
            })
    }

    /// The endorsements of one item of `group` (see [`Self::endorsements`]).
    pub fn endorsements_of(&self, gid: &GroupId, item: &ItemId) -> Vec<(OrgId, Stance)> {
        self.endorsement_index
            .with_group(&self.store, gid, |ends| ends.get(item).map(|v| super::endorsements::stances(v)))
            .unwrap_or_else(|e| {
                tracing::warn!(group = %gid.short(), error = %e, "endorsements not read");
                None
            })
            .unwrap_or_default()
    }

    /// An endorsement stored at `received_ms` became readable here (`after_store_at`).
    pub(super) fn endorsement_stored(
        &self,
        env: &trellis_proto::envelope::Envelope,
        e: &Endorsement,
        received_ms: u64,
    ) {
        let entry = super::endorsements::Entry {
            received_ms,
            id: env.id,
            endorser: env.header.sender,
            stance: super::endorsements::stance_of(e.kind),
        };
        self.endorsement_index.record(&env.header.group, e.item, entry);
    }

    /// Confidence of an item from its publisher and its endorsements.
    pub fn confidence_of(&self, publisher: &OrgId, endorsements: &[(OrgId, Stance)]) -> f64 {
        // Each endorser counts for the trust it has beyond what membership alone gives it (its
        // group default): corroboration by mere members, such as a clique of newcomers, adds
        // nothing (PROTOCOL.md §7.2 point 5).
        let defaults = self.member_defaults();
        let weighted: Vec<(OrgId, f64, Stance)> = endorsements
            .iter()
            .map(|(o, s)| (*o, (self.trust_of(o) - defaults.get(o).copied().unwrap_or(0.0)).max(0.0), *s))
            .collect();
        confidence(publisher, self.trust_of(publisher), 0.0, &weighted)
    }

    /// One org's trust for display.
    pub fn trust_view(&self, org: &OrgId) -> TrustView {
        let t = self.trust_detail(org);
        let (rate, _) = quota(t.level);
        let source = match &t.source {
            TrustSource::Operator => "set by operator".to_string(),
            TrustSource::GroupDefault => "group default for members".to_string(),
            TrustSource::Statements(p) => format!("statements ({} hops)", p.len().saturating_sub(1)),
            TrustSource::None => "unknown".to_string(),
        };
        TrustView {
            org: org.to_text(),
            fingerprint: org.fingerprint(),
            name: self.name_of(org),
            level: if *org == self.me() { 1.0 } else { t.level },
            source,
            violations: t.violations,
            relayed: t.level >= RELAY_THRESHOLD || *org == self.me(),
            quota_per_s: rate,
            relayed_items: self.trust.relayed_items(org),
        }
    }

    /// Every org this node has a trust level for.
    pub fn trust_list(&self) -> Vec<TrustView> {
        let _ = self.trust_detail(&self.me());
        let orgs: Vec<OrgId> = self.trust.state().cache.keys().copied().collect();
        let me = self.me();
        let mut v: Vec<TrustView> = orgs.iter().filter(|o| **o != me).map(|o| self.trust_view(o)).collect();
        v.sort_by(|a, b| b.level.total_cmp(&a.level).then(a.org.cmp(&b.org)));
        v
    }

    /// Why an org (or an item's publisher and endorsers) has the trust it has.
    pub fn trust_explain(&self, what: &str) -> Result<TrustExplain, ActionError> {
        if let Ok(adv) = self.advisory(what) {
            let publisher = OrgId::parse(&adv.publisher).map_err(|e| ActionError::Internal(e.to_string()))?;
            let gid = GroupId::parse(&adv.group).map_err(|e| ActionError::Internal(e.to_string()))?;
            let item = ItemId::parse(&adv.id).map_err(|e| ActionError::Internal(e.to_string()))?;
            let ends = self.endorsements_of(&gid, &item);
            let mut lines = vec![self.explain_org(&publisher, "publisher")];
            for (o, s) in &ends {
                lines.push(self.explain_org(o, if *s == Stance::Disputes { "disputes" } else { "endorses" }));
            }
            return Ok(TrustExplain {
                subject: adv.id.clone(),
                confidence: Some(self.confidence_of(&publisher, &ends)),
                lines,
            });
        }
        let org = self.resolve_any_org(what)?;
        Ok(TrustExplain { subject: org.to_text(), confidence: None, lines: vec![self.explain_org(&org, "org")] })
    }

    fn explain_org(&self, org: &OrgId, role: &str) -> String {
        let t = self.trust_detail(org);
        let who =
            self.name_of(org).map(|n| format!("{} ({n})", org.fingerprint())).unwrap_or_else(|| org.fingerprint());
        let why = match &t.source {
            TrustSource::Operator => "set by this node's operator".to_string(),
            TrustSource::GroupDefault => "the default for members of a group it is in".to_string(),
            TrustSource::None => "no operator level, no group, no statement path".to_string(),
            TrustSource::Statements(path) => {
                let hops: Vec<String> = path
                    .iter()
                    .enumerate()
                    .map(|(i, (o, l))| {
                        if i == 0 {
                            format!("{} (operator: {l:.2})", o.fingerprint())
                        } else {
                            format!("vouches {l:.2} → {}", o.fingerprint())
                        }
                    })
                    .collect();
                format!(
                    "{} statement(s), decay {} per hop: {}",
                    path.len() - 1,
                    trellis_proto::trust::DECAY,
                    hops.join(" ")
                )
            }
        };
        let penalty = if t.violations > 0 {
            format!("; {} quota violations divide it to {:.3}", t.violations, t.level)
        } else {
            String::new()
        };
        format!("{role} {who}: trust {:.3} — {why}{penalty}", t.base)
    }

    /// Resolve an org among all orgs this node knows (members of any group, trusted orgs).
    pub fn resolve_any_org(&self, text: &str) -> Result<OrgId, ActionError> {
        if let Ok(id) = OrgId::parse(text) {
            return Ok(id);
        }
        let mut known: Vec<OrgId> = self.member_defaults().into_keys().collect();
        known.extend(self.trust.state().inputs.local.keys().copied());
        known.sort();
        known.dedup();
        let found: Vec<OrgId> = known.into_iter().filter(|o| o.matches(text)).collect();
        match found.len() {
            1 => Ok(found[0]),
            0 => Err(ActionError::NotFound(format!("no known organization matches {text:?}; give its full id"))),
            _ => Err(ActionError::BadRequest(format!("{text:?} matches several organizations; give more characters"))),
        }
    }

    /// Push each connected peer's application score (from its org's trust) to gossipsub.
    pub async fn push_peer_scores(&self) {
        let peers = self.peers.bindings();
        let scores = peers
            .into_iter()
            .map(|(p, o)| {
                let t = self.trust_of(&o);
                (p, 10.0 * (t - RELAY_THRESHOLD), t)
            })
            .collect();
        self.node.set_app_scores(scores).await;
    }
}

fn record_statement(t: &mut TrustState, issuer: OrgId, at_ms: u64, ts: &TrustStatement) {
    let key = (issuer, ts.subject);
    if t.statement_time.get(&key).is_some_and(|prev| *prev > at_ms) {
        return;
    }
    t.statement_time.insert(key, at_ms);
    t.inputs.statements.insert(key, ts.level_milli as f64 / 1000.0);
    t.dirty = true;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_trust_state_is_recovered_and_recomputed() {
        let keeper = Arc::new(TrustKeeper::default());
        {
            let mut t = keeper.state();
            t.dirty = false;
            t.inputs.local.insert(OrgId([1; 32]), 0.9);
        }
        let k2 = Arc::clone(&keeper);
        let panicked = std::thread::spawn(move || {
            let mut t = k2.state();
            t.inputs.local.insert(OrgId([2; 32]), 0.1);
            panic!("half-way through a change");
        })
        .join();
        assert!(panicked.is_err());
        let t = keeper.state();
        assert!(t.dirty, "a recovered state is recomputed before its levels are used again");
        assert_eq!(t.inputs.local.get(&OrgId([1; 32])), Some(&0.9), "the inputs are kept");
        drop(t);
        assert!(!keeper.state.is_poisoned(), "recovered once, not on every use");
        keeper.record_revocation(OrgId([3; 32]), 50);
        keeper.record_revocation(OrgId([3; 32]), 90);
        assert_eq!(keeper.revoked_from(&OrgId([3; 32])), Some(50), "the earliest revocation wins");
        keeper.count_relayed(OrgId([3; 32]));
        assert_eq!(keeper.relayed_items(&OrgId([3; 32])), 1);
    }
}
