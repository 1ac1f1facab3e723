//! The life of an advisory at the node (PROTOCOL.md §4.9): revisions and withdrawals published
//! by this org, revisions of others checked on receipt, and every advisory folded into the one
//! current view that lists, `show`, `affected` and export read.
//!
//! The rules themselves are `trellis_proto::lifecycle` (pure, property-tested); this file only
//! gathers the versions a node holds and applies them. A revision whose first publication has not
//! arrived yet is stored and counts for nothing until it does; then the same rules decide.

use std::collections::HashMap;
use std::sync::Arc;

use trellis_proto::envelope::Envelope;
use trellis_proto::formats::Imported;
use trellis_proto::items::{Advisory, SourceFormat};
use trellis_proto::lifecycle::{self, History, Revision, SourceOrder, Version};
use trellis_proto::trust::Stance;
use trellis_proto::{GroupId, ItemId, Kind, OrgId, Payload, ProtoError, Tlp};

use super::actions::Audience;
use super::{ActionError, Engine};
use crate::api::types::{AdvisoryHistoryView, AdvisoryView, RefusedRevisionView, ReviseAdvisory, RevisionView};

/// The revisions held of each first publication, per group, and the turn of this node's own
/// revisions (an owner: private locks, reached from this module only).
///
/// Poisoning: the index is a cache of what the store holds; a poisoned lock is recovered by
/// emptying it, and the next look-up in a group reads that group's index again from the store.
#[derive(Debug, Default)]
pub struct RevisionIndex {
    /// Per group, first publication → its revisions (filled from the store the first time a
    /// group is asked, kept up to date as revisions are stored).
    index: std::sync::Mutex<HashMap<GroupId, HashMap<ItemId, Vec<ItemId>>>>,
    /// Serializes the revisions this node publishes, so two at once never take one number.
    revising: tokio::sync::Mutex<()>,
}

impl Engine {
    /// This node's turn to publish a revision (held while the revision is numbered and stored),
    /// shared by `advisory update|withdraw` and by feeds.
    pub(crate) async fn revision_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.revision_index.revising.lock().await
    }
}

impl RevisionIndex {
    fn index(&self) -> std::sync::MutexGuard<'_, HashMap<GroupId, HashMap<ItemId, Vec<ItemId>>>> {
        match self.index.lock() {
            Ok(i) => i,
            Err(poisoned) => {
                let mut i = poisoned.into_inner();
                i.clear();
                self.index.clear_poison();
                i
            }
        }
    }
}

fn bad(msg: impl Into<String>) -> ActionError {
    ActionError::BadRequest(msg.into())
}

/// One advisory as this node holds it: its history and, per version, the envelope it came in
/// and when it was received.
#[derive(Debug)]
pub struct Held {
    pub history: History,
    pub envs: HashMap<ItemId, (Envelope, u64)>,
}

impl Held {
    /// The first publication's id: the advisory's id.
    pub fn id(&self) -> ItemId {
        self.history.versions[0].id
    }

    /// The version shown and its envelope and receive time.
    pub fn latest(&self) -> (&Version, &Envelope, u64) {
        let v = self.history.latest();
        let (env, at) = &self.envs[&v.id];
        (v, env, *at)
    }

    /// Why the advisory is withdrawn, if it is: its latest revision withdraws it, or its latest
    /// source document says so itself (an OSV record with `withdrawn`).
    pub fn withdrawn(&self) -> Option<String> {
        let v = self.history.latest();
        v.withdrawn.clone().or_else(|| source_withdrawn(&v.advisory))
    }
}

/// "withdrawn by its source on DATE" for an OSV record carrying `withdrawn`.
pub fn source_withdrawn(a: &Advisory) -> Option<String> {
    let src = a.source.as_ref().filter(|s| s.format == SourceFormat::Osv)?;
    let doc: serde_json::Value = serde_json::from_slice(&src.bytes).ok()?;
    let when = doc.get("withdrawn")?.as_str()?;
    Some(format!("withdrawn by its source on {}", when.chars().take(40).collect::<String>()))
}

/// A version from an opened advisory item, with the first publication it revises (None for a
/// first publication).
fn version_of(env: &Envelope, payload: Payload) -> Option<(Version, Option<ItemId>)> {
    let h = &env.header;
    match payload {
        Payload::Advisory(a) => Some((Version::first(env.id, h.group, h.sender, h.tlp, a), None)),
        Payload::Revision(r) => {
            let original = r.original;
            Some((Version::of_revision(env.id, h.group, h.sender, h.tlp, r), Some(original)))
        }
        _ => None,
    }
}

impl Engine {
    /// Every advisory of `gid` this node can read, each with its history. Revisions whose first
    /// publication is not held (or not readable) are left out.
    pub fn held_advisories(&self, gid: &GroupId) -> Result<Vec<Held>, ActionError> {
        let mut firsts = Vec::new();
        let mut revisions: HashMap<ItemId, Vec<Version>> = HashMap::new();
        let mut envs = HashMap::new();
        for id in self.store.group_item_ids(gid, Kind::Advisory)? {
            let Some(item) = self.store.get_item(&id)? else { continue };
            let Some((env, payload)) = item.open() else { continue };
            let Some((v, original)) = version_of(&env, payload) else { continue };
            envs.insert(v.id, (env, item.received_ms));
            match original {
                None => firsts.push(v),
                Some(o) => revisions.entry(o).or_default().push(v),
            }
        }
        let mut out = Vec::with_capacity(firsts.len());
        for first in firsts {
            let revs = revisions.remove(&first.id).unwrap_or_default();
            let history = lifecycle::history(first, revs);
            // Each envelope belongs to one advisory: moved, not copied.
            let envs = history.versions.iter().filter_map(|v| envs.remove(&v.id).map(|e| (v.id, e))).collect();
            out.push(Held { history, envs });
        }
        Ok(out)
    }

    /// The advisory `id` (a first publication or any of its revisions) with its history. Reads
    /// only the items of that advisory (through the revision index).
    pub fn held_advisory(&self, id: &ItemId) -> Result<Option<Held>, ActionError> {
        let Some(item) = self.store.get_item(id)? else { return Ok(None) };
        let Some((env, payload)) = item.open() else { return Ok(None) };
        let first_id = match version_of(&env, payload) {
            None => return Ok(None),
            Some((_, None)) => *id,
            Some((_, Some(o))) => o,
        };
        let gid = env.header.group;
        let Some(first_item) = self.store.get_item(&first_id)? else { return Ok(None) };
        let Some((first_env, first_payload)) = first_item.open() else { return Ok(None) };
        let Some((first, None)) = version_of(&first_env, first_payload) else { return Ok(None) };
        if first_env.header.group != gid {
            return Ok(None);
        }
        let mut envs = HashMap::new();
        envs.insert(first.id, (first_env, first_item.received_ms));
        let mut revs = Vec::new();
        for rid in self.revisions_of(&gid, &first_id)? {
            let Some(item) = self.store.get_item(&rid)? else { continue };
            let Some((env, payload)) = item.open() else { continue };
            if let Some((v, Some(o))) = version_of(&env, payload)
                && o == first_id
            {
                envs.insert(v.id, (env, item.received_ms));
                revs.push(v);
            }
        }
        let history = lifecycle::history(first, revs);
        envs.retain(|id, _| history.versions.iter().any(|v| v.id == *id));
        Ok(Some(Held { history, envs }))
    }

    /// The ids of the revisions of `first` held in `gid` (loading the group's index once).
    fn revisions_of(&self, gid: &GroupId, first: &ItemId) -> Result<Vec<ItemId>, ActionError> {
        let mut index = self.revision_index.index();
        if !index.contains_key(gid) {
            let mut by_first: HashMap<ItemId, Vec<ItemId>> = HashMap::new();
            for id in self.store.group_item_ids(gid, Kind::Advisory)? {
                let Some(item) = self.store.get_item(&id)? else { continue };
                if let Some((_, Payload::Revision(r))) = item.open() {
                    by_first.entry(r.original).or_default().push(id);
                }
            }
            index.insert(*gid, by_first);
        }
        Ok(index.get(gid).and_then(|m| m.get(first)).cloned().unwrap_or_default())
    }

    /// Record a stored revision in the index (when the group's index is loaded; otherwise the
    /// first look-up reads it from the store).
    fn index_revision(&self, gid: &GroupId, first: ItemId, id: ItemId) {
        if let Some(m) = self.revision_index.index().get_mut(gid) {
            let v = m.entry(first).or_default();
            if !v.contains(&id) {
                v.push(id);
            }
        }
    }

    /// Whether `first` has revisions held (then its latest revision, not `first`, is what counts).
    pub(crate) fn has_revisions(&self, gid: &GroupId, first: &ItemId) -> bool {
        self.revisions_of(gid, first).is_ok_and(|r| !r.is_empty())
    }

    /// §4.9 on receipt: a revision of a first publication this node holds must come from its
    /// publisher, in its group, at its label or stricter. A revision of one not held yet is kept
    /// and judged by the same rules when the first publication arrives.
    pub(crate) fn check_revision(&self, env: &Envelope, rev: &Revision) -> Result<(), ProtoError> {
        let Some(item) = self.store.get_item(&rev.original).map_err(|e| ProtoError::Local(e.to_string()))? else {
            return Ok(());
        };
        let first = Envelope::decode(&item.bytes).map_err(|e| ProtoError::Local(e.to_string()))?;
        if first.header.kind != Kind::Advisory {
            return Err(ProtoError::BadRevision(format!("{} is not an advisory", rev.original.short())));
        }
        let content = match item.open() {
            Some((_, Payload::Advisory(a))) => a,
            Some(_) => {
                return Err(ProtoError::BadRevision(format!(
                    "{} is itself a revision; a revision names the first publication",
                    rev.original.short()
                )));
            }
            // Not readable here (an AMBER item we relay): its header still decides.
            None => Advisory::text("-", "", 0),
        };
        let h = &first.header;
        let original = Version::first(first.id, h.group, h.sender, h.tlp, content);
        let candidate = Version::of_revision(env.id, env.header.group, env.header.sender, env.header.tlp, rev.clone());
        lifecycle::admit(&original, &candidate).map_err(ProtoError::BadRevision)
    }

    /// Effects of a newly stored revision: watchers see the advisory as it now reads, a second
    /// revision under one number is counted, and new content that is now the latest is matched
    /// against the SBOMs.
    pub(crate) fn on_revision(&self, env: &Envelope, rev: &Revision) {
        self.index_revision(&env.header.group, rev.original, env.id);
        let Ok(Some(held)) = self.held_advisory(&rev.original) else { return };
        if !held.history.versions.iter().any(|v| v.id == env.id) {
            return;
        }
        if held.history.equivocations.contains(&rev.revision) {
            tracing::warn!(
                advisory = %rev.original.short(),
                org = %env.header.sender.fingerprint(),
                revision = rev.revision,
                "two different revisions with one number: both kept, the lower id wins"
            );
            self.count_reject("revision_equivocation", Some(env.header.group), None);
        }
        if self.events.receiver_count() > 0
            && let Some(view) = self.held_view(&held, None)
        {
            let _ = self.events.send(crate::api::types::Event::Advisory { advisory: Box::new(view) });
        }
        if held.history.latest().id == env.id && held.withdrawn().is_none() {
            self.match_new_advisory(env, &rev.advisory);
        }
    }

    /// The user-facing view of an advisory: its latest revision's content under the first
    /// publication's id.
    pub fn held_view(&self, held: &Held, ends: Option<&[(OrgId, Stance)]>) -> Option<AdvisoryView> {
        let (latest, env, received_ms) = held.latest();
        let owned;
        let ends = match ends {
            Some(e) => e,
            None => {
                owned = self.endorsements_of(&env.header.group, &held.id());
                &owned
            }
        };
        let mut view =
            self.view_from((env.clone(), Payload::Advisory(latest.advisory.clone())), received_ms, Some(ends))?;
        let first = &held.history.versions[0];
        view.id = first.id.to_text();
        view.published_ms = first.advisory.published_ms;
        view.revision = latest.revision;
        view.revision_id = (latest.id != first.id).then(|| latest.id.to_text());
        view.updated_ms = latest.advisory.updated_ms;
        view.withdrawn = held.withdrawn();
        view.revisions = held.history.chain().len();
        Some(view)
    }

    /// `GET /v1/advisories/{id}/history`: every revision, what changed in each, and the
    /// revisions refused or outvoted.
    pub fn advisory_history(&self, id: &str) -> Result<AdvisoryHistoryView, ActionError> {
        let view = self.advisory(id)?;
        let iid = ItemId::parse(&view.id).map_err(|e| ActionError::Internal(e.to_string()))?;
        let held = self.held_advisory(&iid)?.ok_or_else(|| ActionError::NotFound(format!("no advisory {id}")))?;
        let mut versions = Vec::new();
        let chain = held.history.chain();
        for v in &held.history.versions {
            let outvoted = held.history.is_outvoted(&v.id);
            // Changes against the version before it in the chain (for a first publication: none).
            let before = chain.iter().rev().find(|c| c.revision < v.revision);
            let changes = before.map(|b| lifecycle::diff(b, v)).unwrap_or_default();
            let (env, received_ms) = held.envs.get(&v.id).map(|(e, r)| (Some(e), *r)).unwrap_or((None, 0));
            versions.push(RevisionView {
                revision: v.revision,
                id: v.id.to_text(),
                tlp: v.tlp,
                signed_ms: env.map_or(0, |e| e.header.timestamp_ms),
                received_ms,
                title: v.advisory.title.clone(),
                withdrawn: v.withdrawn.clone(),
                outvoted,
                changes,
            });
        }
        let refused = held
            .history
            .refused
            .iter()
            .map(|(id, reason)| RefusedRevisionView { id: id.to_text(), reason: reason.clone() })
            .collect();
        Ok(AdvisoryHistoryView { advisory: view, versions, equivocations: held.history.equivocations.clone(), refused })
    }

    /// `POST /v1/advisories/{id}/revise`: publish a new revision of one of this org's
    /// advisories (fields changed as asked, the rest as the latest revision has them), or its
    /// withdrawal.
    pub async fn revise_advisory(self: &Arc<Self>, id: &str, req: &ReviseAdvisory) -> Result<ItemId, ActionError> {
        let _one = self.revision_turn().await;
        let view = self.advisory(id)?;
        let iid = ItemId::parse(&view.id).map_err(|e| ActionError::Internal(e.to_string()))?;
        let held = self.held_advisory(&iid)?.ok_or_else(|| ActionError::NotFound(format!("no advisory {id}")))?;
        let me = self.me();
        let first = &held.history.versions[0];
        if first.sender != me {
            return Err(bad(format!(
                "advisory {} was published by {} ({}); only its publisher may revise or withdraw it. \
                 To disagree with it, use `trellis advisory endorse {} --kind dispute`",
                short_id(&view.id),
                view.publisher_name.as_deref().unwrap_or("an unnamed organization"),
                first.sender.fingerprint(),
                short_id(&view.id),
            )));
        }
        let (latest, latest_env, _) = held.latest();
        let mut adv = latest.advisory.clone();
        let withdraw = req.withdraw.as_deref().map(str::trim).map(str::to_string);
        if let Some(reason) = &withdraw {
            if reason.is_empty() {
                return Err(bad("a withdrawal needs a reason (--reason)"));
            }
            if let Some(already) = held.withdrawn() {
                return Err(ActionError::Conflict(format!("advisory {} is already withdrawn: {already}", view.id)));
            }
        } else if !req.changes_anything() {
            return Err(bad(
                "nothing to change: give at least one of --title, --summary, --severity, --affects, --alias, \
                 --reference, --remediation, --category, --tlp (or withdraw it with `advisory withdraw`)",
            ));
        }
        apply_changes(&mut adv, req)?;
        adv.updated_ms = self.clock.now_ms().max(adv.updated_ms);
        let tlp = req.tlp.unwrap_or(latest.tlp);
        if tlp < first.tlp {
            return Err(bad(format!(
                "advisory {} is {}; a revision may keep or tighten its label but never loosen it to {}",
                view.id,
                first.tlp.label(),
                tlp.label()
            )));
        }
        let gid = first.group;
        let audience = self.revision_audience(&gid, tlp, &req.to, latest_env)?;
        let next = held.history.chain().last().map_or(lifecycle::FIRST_REVISION, |v| v.revision) + 1;
        let rev = Revision { original: first.id, revision: next, advisory: adv, withdrawn: withdraw };
        rev.check_limits().map_err(|e| bad(e.to_string()))?;
        let (new_id, _) = self.publish_payload(gid, tlp, Payload::Revision(rev), audience).await?;
        tracing::info!(advisory = %first.id.short(), revision = next, item = %new_id.short(), "advisory revised");
        Ok(new_id)
    }

    /// Who reads a revision: the recipients asked for, else those of the latest revision when
    /// the label still names its readers.
    fn revision_audience(
        &self,
        gid: &GroupId,
        tlp: Tlp,
        to: &[String],
        latest: &Envelope,
    ) -> Result<Audience, ActionError> {
        Ok(match tlp {
            Tlp::Clear | Tlp::Green if !to.is_empty() => {
                return Err(bad("--to names recipients, which only AMBER, AMBER+STRICT and RED use"));
            }
            Tlp::Clear => Audience::Clear,
            Tlp::Green => Audience::Group,
            _ if !to.is_empty() => Audience::Orgs(self.named_recipients(gid, tlp, to)?),
            _ => {
                let me = self.me();
                let before: Vec<OrgId> = latest.recipients().into_iter().filter(|o| *o != me).collect();
                if before.is_empty() {
                    // The label was tightened from GREEN or CLEAR: the channel default or --to.
                    Audience::Orgs(self.named_recipients(gid, tlp, to)?)
                } else {
                    Audience::Orgs(before)
                }
            }
        })
    }

    /// The import path of §4.9: a document whose id this org already published in `gid` is a
    /// revision of that advisory when it is a later version; the same document again changes
    /// nothing; an earlier one, or the same version changed, is refused. `Ok(None)`: no advisory
    /// of ours carries this id, so it is a first publication.
    pub async fn import_as_revision(
        self: &Arc<Self>,
        gid: GroupId,
        imported: &Imported,
        tlp: Tlp,
    ) -> Result<Option<(ItemId, SourceOrder)>, ActionError> {
        let new = &imported.advisory;
        let Some(src) = &new.source else { return Ok(None) };
        if new.reference_id.trim().is_empty() {
            return Ok(None);
        }
        let _one = self.revision_turn().await;
        let me = self.me();
        let held = self.held_advisories(&gid)?.into_iter().find(|h| {
            let first = &h.history.versions[0];
            let latest = h.history.latest();
            first.sender == me
                && latest.advisory.reference_id == new.reference_id
                && latest.advisory.source.as_ref().is_some_and(|s| s.format == src.format)
        });
        let Some(held) = held else { return Ok(None) };
        let (latest, latest_env, _) = held.latest();
        let first = &held.history.versions[0];
        let order = lifecycle::compare_sources(&latest.advisory, new)
            .ok_or_else(|| bad("the held advisory's document cannot be compared with this one"))?;
        match order {
            SourceOrder::Same => return Ok(Some((latest.id, order))),
            SourceOrder::Older => {
                return Err(ActionError::Conflict(format!(
                    "{} is already published as advisory {} at version {}; this document's version {} is older: \
                     nothing was published",
                    new.reference_id,
                    first.id.to_text(),
                    lifecycle::source_version(&latest.advisory).unwrap_or_default(),
                    lifecycle::source_version(new).unwrap_or_default()
                )));
            }
            SourceOrder::SameVersionChanged => {
                return Err(ActionError::Conflict(format!(
                    "{} version {} is already published as advisory {} with different content; a changed document \
                     must carry a new version: nothing was published",
                    new.reference_id,
                    lifecycle::source_version(new).unwrap_or_default(),
                    first.id.to_text()
                )));
            }
            SourceOrder::Newer => {}
        }
        let tlp = tlp.max(first.tlp);
        let audience = self.revision_audience(&gid, tlp, &[], latest_env)?;
        let next = held.history.chain().last().map_or(lifecycle::FIRST_REVISION, |v| v.revision) + 1;
        let advisory = new.clone();
        let withdrawn = source_withdrawn(&advisory);
        let rev = Revision { original: first.id, revision: next, advisory, withdrawn };
        rev.check_limits().map_err(|e| bad(e.to_string()))?;
        let (id, _) = self.publish_payload(gid, tlp, Payload::Revision(rev), audience).await?;
        tracing::info!(advisory = %first.id.short(), revision = next, item = %id.short(), "document imported as a revision");
        Ok(Some((id, order)))
    }
}

fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// Apply the fields of a revise request to `adv`, with the checks of a publish.
fn apply_changes(adv: &mut Advisory, req: &ReviseAdvisory) -> Result<(), ActionError> {
    use super::actions::{check_alias, check_reference, parse_affects, parse_severity};
    if let Some(t) = &req.title {
        let t = t.trim();
        if t.is_empty() {
            return Err(bad("an advisory needs a title: --title cannot be empty"));
        }
        adv.title = t.to_string();
    }
    if let Some(s) = &req.summary {
        adv.summary = s.clone();
    }
    if let Some(c) = &req.category {
        adv.category = c.parse().map_err(|e: ProtoError| bad(e.to_string()))?;
    }
    if let Some(s) = &req.severity {
        adv.severity = if s.trim().is_empty() { None } else { Some(parse_severity(s)?) };
    }
    if let Some(a) = &req.aliases {
        a.iter().try_for_each(|x| check_alias(x))?;
        adv.aliases = a.clone();
    }
    if let Some(r) = &req.references {
        r.iter().try_for_each(|x| check_reference(x))?;
        adv.references = r.clone();
    }
    if let Some(a) = &req.affects {
        adv.affected = a.iter().map(|x| parse_affects(x)).collect::<Result<_, _>>()?;
    }
    if let Some(r) = &req.remediation {
        adv.remediation = if r.trim().is_empty() { None } else { Some(r.clone()) };
    }
    adv.check_limits().map_err(|e| bad(e.to_string()))
}
