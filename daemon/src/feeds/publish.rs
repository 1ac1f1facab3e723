//! Publishing documents that carry no kept source (MISP events, STIX objects): the advisory is
//! mapped from the document, and its identity and version come from the document itself — its
//! id as the advisory's `reference_id`, its timestamp as `updated_ms`. A document whose id this
//! org already published in the group is a revision of that advisory when its timestamp is
//! later (PROTOCOL.md §4.9), changes nothing when it is the same document, and is refused when
//! it is older, or changed without a later timestamp. The advisory found is the one this org
//! published first with that `reference_id` and no kept source, so a feed removed and added
//! again revises what it published before instead of publishing it twice.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use trellis_proto::items::Advisory;
use trellis_proto::lifecycle::{self, Revision};
use trellis_proto::{GroupId, ItemId, Payload, Tlp};

use super::Taken;
use crate::engine::actions::Audience;
use crate::engine::{ActionError, Engine};

/// A document mapped to an advisory, with the label it carries and whether it withdraws it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Native {
    pub advisory: Advisory,
    /// The label the document gives itself (`None`: none given).
    pub tlp: Option<Tlp>,
    /// Set when the document says it is withdrawn (a revoked STIX object): why.
    pub withdrawn: Option<String>,
}

/// This org's advisories of one group without a kept source, by `reference_id`: the id of each
/// one's first publication. Built once per run, kept up to date as the run publishes.
pub struct OwnIndex {
    gid: GroupId,
    by_reference: HashMap<String, ItemId>,
}

fn audience(tlp: Tlp) -> Audience {
    if tlp == Tlp::Clear { Audience::Clear } else { Audience::Group }
}

impl Engine {
    /// The index of [`OwnIndex`] for `gid`.
    pub(super) fn own_index(&self, gid: &GroupId) -> Result<OwnIndex, ActionError> {
        let me = self.me();
        let mut by_reference = HashMap::new();
        for held in self.held_advisories(gid)? {
            let first = &held.history.versions[0];
            let latest = held.history.latest();
            if first.sender == me && latest.advisory.source.is_none() && !latest.advisory.reference_id.is_empty() {
                by_reference.entry(latest.advisory.reference_id.clone()).or_insert(first.id);
            }
        }
        Ok(OwnIndex { gid: *gid, by_reference })
    }

    /// Publish `doc` under `tlp` (already the stricter of the feed's and the document's label,
    /// and CLEAR or GREEN): a first publication, a revision, or nothing.
    pub(super) async fn publish_native(
        self: &Arc<Self>,
        own: &mut OwnIndex,
        doc: Native,
        tlp: Tlp,
    ) -> Result<Taken, ActionError> {
        let gid = own.gid;
        let reference = doc.advisory.reference_id.clone();
        doc.advisory
            .check_limits()
            .map_err(|e| ActionError::BadRequest(format!("the advisory is out of bounds: {e}")))?;
        let _one = self.revision_turn().await;
        let held = match own.by_reference.get(&reference) {
            Some(first) => self.held_advisory(first)?,
            None => None,
        };
        let Some(held) = held else {
            if doc.withdrawn.is_some() {
                return Err(ActionError::BadRequest(
                    "the document withdraws an advisory this feed never published: nothing to withdraw".into(),
                ));
            }
            let (id, _) = self.publish_payload(gid, tlp, Payload::Advisory(doc.advisory), audience(tlp)).await?;
            own.by_reference.insert(reference, id);
            return Ok(Taken::New(id));
        };
        let (latest, _, _) = held.latest();
        let first = &held.history.versions[0];
        match doc.advisory.updated_ms.cmp(&latest.advisory.updated_ms) {
            Ordering::Less => {
                return Err(ActionError::Conflict(format!(
                    "{reference} is already published as advisory {} with a later timestamp: this older version is not",
                    first.id.to_text()
                )));
            }
            Ordering::Equal if latest.advisory == doc.advisory && latest.withdrawn == doc.withdrawn => {
                return Ok(Taken::Unchanged(latest.id));
            }
            Ordering::Equal => {
                return Err(ActionError::Conflict(format!(
                    "{reference} changed without a later timestamp (advisory {}): a changed document must carry a \
                     new timestamp",
                    first.id.to_text()
                )));
            }
            Ordering::Greater => {}
        }
        if held.withdrawn().is_some() && doc.withdrawn.is_some() {
            return Ok(Taken::Unchanged(latest.id));
        }
        let tlp = tlp.max(first.tlp);
        let next = held.history.chain().last().map_or(lifecycle::FIRST_REVISION, |v| v.revision) + 1;
        let rev = Revision { original: first.id, revision: next, advisory: doc.advisory, withdrawn: doc.withdrawn };
        rev.check_limits().map_err(|e| ActionError::BadRequest(e.to_string()))?;
        let (id, _) = self.publish_payload(gid, tlp, Payload::Revision(rev), audience(tlp)).await?;
        tracing::info!(advisory = %first.id.short(), revision = next, item = %id.short(), "feed document published as a revision");
        Ok(Taken::Revised(id))
    }
}
