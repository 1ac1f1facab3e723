//! Posture in a supply-chain channel, seen from both ends: a customer asks its channel for
//! posture (a GREEN request every member reads) and suppliers see the requests they have not
//! answered; a customer sees how concentrated its suppliers are on shared providers — counts
//! only, small ones folded so no supplier is identifiable — and which of its suppliers an
//! advisory about a provider concerns.

use std::sync::Arc;

use trellis_proto::envelope::Envelope;
use trellis_proto::group::GroupKind;
use trellis_proto::items::{Advisory, Resource};
use trellis_proto::posture::signals::{is_posture_request, posture_request};
use trellis_proto::posture::{CONCENTRATION_THRESHOLD, concentration, dependency_named_by};
use trellis_proto::{GroupId, ItemId, Kind, OrgId, Payload, Tlp};

use super::super::actions::Audience;
use super::super::{ActionError, Engine};
use crate::api::types::{ConcentrationView, Event, PostureRequestBody, PostureRequestInfo, ProviderCount};

impl Engine {
    /// `trellis posture request GROUP`: ask every member of the channel for posture.
    pub async fn posture_request(
        self: &Arc<Self>,
        group: &str,
        body: &PostureRequestBody,
    ) -> Result<ItemId, ActionError> {
        let gid = self.resolve_group(group)?;
        let resource = posture_request(body.message.as_deref().filter(|m| !m.trim().is_empty()));
        let (id, _) = self.publish_payload(gid, Tlp::Green, Payload::Resource(resource), Audience::Group).await?;
        Ok(id)
    }

    fn request_info(&self, env: &Envelope, r: &Resource) -> PostureRequestInfo {
        let from = env.header.sender;
        PostureRequestInfo {
            id: env.id.to_text(),
            group: env.header.group.to_text(),
            group_name: self.group_name(&env.header.group),
            from: from.to_text(),
            from_fingerprint: from.fingerprint(),
            from_name: self.name_of(&from),
            message: r.body.clone(),
            requested_ms: env.header.timestamp_ms,
        }
    }

    /// Requests from others in groups where this org publishes, newer than its latest
    /// attestation there; the latest per requester and group.
    pub fn pending_posture_requests(&self) -> Vec<PostureRequestInfo> {
        let me = self.me();
        let mut out: Vec<PostureRequestInfo> = Vec::new();
        for gid in self.group_ids() {
            let can_publish = self.groups.with(&gid, |g| g.state.role(&me)).flatten().is_some_and(|r| r.can_publish());
            if !can_publish {
                continue;
            }
            let answered = self
                .posture_records(Some(gid))
                .iter()
                .filter(|r| r.sender == me)
                .map(|r| r.timestamp_ms)
                .max()
                .unwrap_or(0);
            let mut latest: std::collections::BTreeMap<OrgId, PostureRequestInfo> = Default::default();
            for (env, p) in self.readable(&gid, Kind::Resource) {
                if let Payload::Resource(r) = p
                    && is_posture_request(&r)
                    && env.header.sender != me
                    && env.header.timestamp_ms > answered
                {
                    latest.insert(env.header.sender, self.request_info(&env, &r));
                }
            }
            out.extend(latest.into_values());
        }
        out.sort_by_key(|r| std::cmp::Reverse(r.requested_ms));
        out
    }

    /// Tell watchers about a posture request from another org (called when a resource is
    /// stored).
    pub(crate) fn on_resource(&self, env: &Envelope, r: &Resource) {
        if is_posture_request(r) && env.header.sender != self.me() {
            let request = self.request_info(env, r);
            tracing::info!(group = %env.header.group.short(), item = %env.id.short(), "posture requested");
            let _ = self.events.send(Event::PostureRequested { request });
        }
    }

    /// Members of `group` counted as suppliers: everyone but the channel's admins and this org.
    fn suppliers_of(&self, group: &GroupId) -> Option<(GroupKind, bool, Vec<OrgId>)> {
        let me = self.me();
        self.groups.with(group, |g| {
            let admins = g.state.admins();
            let suppliers = g.state.members.keys().filter(|o| **o != me && !admins.contains(o)).copied().collect();
            (g.log.genesis.genesis.kind, g.state.is_admin(&me), suppliers)
        })
    }

    /// `trellis supply-chain concentration GROUP`.
    pub fn concentration(&self, group: &str) -> Result<ConcentrationView, ActionError> {
        let gid = self.resolve_group(group)?;
        let (_, _, suppliers) = self.suppliers_of(&gid).ok_or_else(|| ActionError::NotFound("unknown group".into()))?;
        let per_supplier: Vec<_> = self
            .latest_postures(gid)
            .into_iter()
            .filter(|r| suppliers.contains(&r.sender))
            .map(|r| r.att.critical_dependencies)
            .collect();
        let c = concentration(&per_supplier, CONCENTRATION_THRESHOLD);
        Ok(ConcentrationView {
            group: gid.to_text(),
            group_name: self.group_name(&gid),
            suppliers: c.suppliers,
            threshold: c.threshold,
            providers: c
                .providers
                .into_iter()
                .map(|(provider, suppliers)| ProviderCount { provider, suppliers })
                .collect(),
            other_providers: c.other_providers,
        })
    }

    /// Suppliers, in the supply-chain channels this org administers, whose latest attestation
    /// declares a critical dependency that `advisory` names. The customer reads its suppliers'
    /// attestations anyway; this only joins the two.
    pub fn affected_suppliers(&self, advisory: &Advisory) -> Vec<String> {
        let mut out = std::collections::BTreeSet::new();
        for gid in self.group_ids() {
            let Some((GroupKind::SupplyChain, true, suppliers)) = self.suppliers_of(&gid) else {
                continue;
            };
            for r in self.latest_postures(gid) {
                if suppliers.contains(&r.sender)
                    && r.att.critical_dependencies.iter().any(|d| dependency_named_by(advisory, d))
                {
                    out.insert(self.label(&r.sender));
                }
            }
        }
        out.into_iter().collect()
    }
}
