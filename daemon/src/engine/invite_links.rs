//! Invite links (PROTOCOL.md §6.10): an admin's node issues a link (group, its own addresses, a
//! one-time secret); a newcomer's node sends the secret and its contact card over the direct
//! protocol; this node checks the secret, revocation, expiry and use count, and admits the org
//! with the same `Add` op `group invite` publishes (same rules, same audit trail in the group
//! log), answering with the same invite token, which the newcomer joins with through the same
//! code path as a pasted token.
//!
//! Only a hash of each secret is stored (table `invite_links`), and it is compared in constant
//! time. A join request comes from a stranger: it is bounded when decoded (§9), at most
//! [`JOIN_ATTEMPTS_PER_PEER`] per peer per [`JOIN_WINDOW`] are looked at, requests are handled
//! one at a time, and a refused request changes nothing but the counters and the audit log.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};
use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use trellis_proto::group::Role;
use trellis_proto::invite::Invite;
use trellis_proto::invite_link::{
    InviteLink, JoinRefusal, LinkId, MAX_LINK_LIFETIME_MS, MAX_LINK_USES, link_id_text, parse_link_id, secret_hash,
    secret_matches,
};
use trellis_proto::{ContactCard, GroupId, ItemId, OrgId};

use super::{ActionError, Engine};
use crate::api::types::{GroupInfo, InviteLinkCreated, InviteLinkInfo, InviteLinkUse};
use crate::clock::Clock;
use crate::store::{Store, StoreError};
use crate::wire::{Request, RequestBody, Response};

/// Link id → postcard [`LinkRecord`].
const LINKS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("invite_links");

/// Join requests of one peer looked at per [`JOIN_WINDOW`]; more are refused unread.
pub const JOIN_ATTEMPTS_PER_PEER: u32 = 10;
/// The window of [`JOIN_ATTEMPTS_PER_PEER`].
pub const JOIN_WINDOW: Duration = Duration::from_secs(60);
/// Peers whose attempts are remembered at most (expired entries are dropped first; when all are
/// fresh, new peers are refused until one expires).
const MAX_LIMITER_ENTRIES: usize = 4096;
/// Shortest validity of a link.
pub const MIN_LINK_LIFETIME_MS: u64 = 1000;
/// How long a joining node waits for a connection to the inviter's node.
const CONNECT_WAIT: Duration = Duration::from_secs(15);

fn bad(msg: impl Into<String>) -> ActionError {
    ActionError::BadRequest(msg.into())
}

/// One admission through a link.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LinkUse {
    pub org: OrgId,
    pub name: String,
    pub at_ms: u64,
    /// The `Add` op that admitted it (`None` only while it is being published).
    pub op: Option<ItemId>,
    pub peer: String,
}

/// What this node keeps of a link it issued: never the secret, only its hash.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LinkRecord {
    pub id: LinkId,
    pub group: GroupId,
    pub secret_hash: [u8; 32],
    pub role: Role,
    pub max_uses: u32,
    pub created_ms: u64,
    pub expires_ms: u64,
    pub revoked_ms: Option<u64>,
    pub uses: Vec<LinkUse>,
}

impl LinkRecord {
    /// `active`, `used up`, `expired` or `revoked` at `now`.
    pub fn state(&self, now: u64) -> &'static str {
        if self.revoked_ms.is_some() {
            "revoked"
        } else if now >= self.expires_ms {
            "expired"
        } else if self.uses.len() as u64 >= u64::from(self.max_uses) {
            "used up"
        } else {
            "active"
        }
    }
}

impl Store {
    /// Write (insert or replace) a link record.
    pub fn put_link(&self, rec: &LinkRecord) -> Result<(), StoreError> {
        let txn = self.write()?;
        {
            let mut t = txn.open_table(LINKS).map_err(|e| StoreError::Db(e.to_string()))?;
            let bytes = postcard::to_allocvec(rec).map_err(|e| StoreError::Db(e.to_string()))?;
            t.insert(rec.id.as_slice(), bytes.as_slice()).map_err(|e| StoreError::Db(e.to_string()))?;
        }
        txn.commit().map_err(|e| StoreError::Db(e.to_string()))
    }

    /// One link record.
    pub fn get_link(&self, id: &LinkId) -> Result<Option<LinkRecord>, StoreError> {
        let txn = self.begin_read()?;
        let t = match txn.open_table(LINKS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(StoreError::Db(e.to_string())),
        };
        match t.get(id.as_slice()).map_err(|e| StoreError::Db(e.to_string()))? {
            Some(v) => postcard::from_bytes(v.value()).map(Some).map_err(|e| StoreError::Corrupt(e.to_string())),
            None => Ok(None),
        }
    }

    /// Every link record (a damaged one is skipped).
    pub fn links(&self) -> Result<Vec<LinkRecord>, StoreError> {
        let txn = self.begin_read()?;
        let t = match txn.open_table(LINKS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(vec![]),
            Err(e) => return Err(StoreError::Db(e.to_string())),
        };
        let mut out = Vec::new();
        for r in t.iter().map_err(|e| StoreError::Db(e.to_string()))? {
            let (_, v) = r.map_err(|e| StoreError::Db(e.to_string()))?;
            if let Ok(rec) = postcard::from_bytes::<LinkRecord>(v.value()) {
                out.push(rec);
            }
        }
        Ok(out)
    }
}

/// Per-node state of invite links: redemptions one at a time (so two requests can never both
/// take a link's last use), and the per-peer attempt counter. A private lock: a poisoned one is
/// recovered, since each change replaces or increments one peer's entry.
#[derive(Debug)]
pub struct LinkState {
    clock: Clock,
    redeem: tokio::sync::Mutex<()>,
    attempts: std::sync::Mutex<HashMap<PeerId, (Instant, u32)>>,
}

impl LinkState {
    /// Link state that reads time from `clock`.
    pub fn new(clock: Clock) -> LinkState {
        LinkState { clock, redeem: Default::default(), attempts: Default::default() }
    }

    /// Count one join attempt of `peer`; false when it is over [`JOIN_ATTEMPTS_PER_PEER`] in
    /// the current window (or the table of peers is full of fresh entries).
    pub fn allow(&self, peer: PeerId) -> bool {
        let now = self.clock.now();
        let mut m = self.attempts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !m.contains_key(&peer) && m.len() >= MAX_LIMITER_ENTRIES {
            m.retain(|_, (start, _)| now.duration_since(*start) < JOIN_WINDOW);
            if m.len() >= MAX_LIMITER_ENTRIES {
                return false;
            }
        }
        let e = m.entry(peer).or_insert((now, 0));
        if now.duration_since(e.0) >= JOIN_WINDOW {
            *e = (now, 0);
        }
        if e.1 >= JOIN_ATTEMPTS_PER_PEER {
            return false;
        }
        e.1 += 1;
        true
    }
}

/// A duration for a person: seconds, minutes, hours or days.
fn ago(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..120 => format!("{s} s"),
        120..7200 => format!("{} min", s / 60),
        7200..172_800 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

fn refuse(reason: JoinRefusal, detail: impl Into<String>) -> Response {
    let mut detail: String = detail.into();
    if detail.len() > trellis_proto::limits::MAX_SHORT {
        let mut cut = trellis_proto::limits::MAX_SHORT;
        while !detail.is_char_boundary(cut) {
            cut -= 1;
        }
        detail.truncate(cut);
    }
    Response::JoinRefused { reason, detail }
}

impl Engine {
    /// Issue an invite link for `group` (admins only): `uses` admissions at most, valid for
    /// `valid_ms`. Returns the token (shown once: only the secret's hash is kept) and the record.
    pub async fn create_invite_link(
        &self,
        group: &str,
        role: Role,
        uses: u32,
        valid_ms: u64,
    ) -> Result<InviteLinkCreated, ActionError> {
        let gid = self.resolve_group(group)?;
        if role == Role::Admin {
            return Err(bad(
                "an invite link admits members or readers only; make an admin with `trellis group role` after they join",
            ));
        }
        if uses == 0 || uses > MAX_LINK_USES {
            return Err(bad(format!("--uses must be 1 to {MAX_LINK_USES}")));
        }
        if !(MIN_LINK_LIFETIME_MS..=MAX_LINK_LIFETIME_MS).contains(&valid_ms) {
            return Err(bad("--expires must be between 1 second and 90 days (e.g. 30m, 12h, 7d)"));
        }
        let me = self.me();
        let name = self.with_group(&gid, |g| {
            if !g.state.is_admin(&me) {
                let admins: Vec<String> = g.state.admins().iter().map(|o| o.fingerprint()).collect();
                return Err(bad(format!(
                    "only an admin of {} can issue invite links; ask one of: {}",
                    g.name().escape_debug(),
                    admins.join(", ")
                )));
            }
            Ok(g.name().to_string())
        })?;
        let addrs = self.dialable_addrs().await;
        if addrs.is_empty() {
            return Err(bad(
                "this node listens on no address, so a newcomer could not reach it: start trellisd with --listen",
            ));
        }
        let addrs: Vec<String> = addrs.into_iter().take(trellis_proto::invite_link::MAX_LINK_ADDRS).collect();
        let now = self.clock.now_ms();
        let id: LinkId = self.rng.bytes();
        let secret: [u8; 32] = self.rng.bytes();
        let rec = LinkRecord {
            id,
            group: gid,
            secret_hash: secret_hash(&id, &secret),
            role,
            max_uses: uses,
            created_ms: now,
            expires_ms: now.saturating_add(valid_ms),
            revoked_ms: None,
            uses: vec![],
        };
        self.store.put_link(&rec)?;
        let link = InviteLink {
            group: gid,
            group_name: name.clone(),
            inviter: me,
            addrs,
            id,
            secret,
            role,
            expires_ms: rec.expires_ms,
        };
        self.link_audit(&serde_json::json!({
            "at_ms": now, "action": "invite_link_created", "link": link_id_text(&id), "group": gid.to_text(),
            "role": role.as_str(), "uses": uses, "expires_ms": rec.expires_ms,
        }));
        tracing::info!(group = %gid.short(), link = %link_id_text(&id), uses, "invite link issued");
        Ok(InviteLinkCreated { token: link.to_text(), info: self.link_info(&rec, &name, now) })
    }

    /// The links this node issued for `group`, newest first.
    pub fn invite_links(&self, group: &str) -> Result<Vec<InviteLinkInfo>, ActionError> {
        let gid = self.resolve_group(group)?;
        let name = self.groups.name(&gid).unwrap_or_default();
        let now = self.clock.now_ms();
        let mut recs: Vec<LinkRecord> = self.store.links()?.into_iter().filter(|r| r.group == gid).collect();
        recs.sort_by_key(|r| std::cmp::Reverse(r.created_ms));
        Ok(recs.iter().map(|r| self.link_info(r, &name, now)).collect())
    }

    /// Revoke a link this node issued: later join requests with it are refused (`revoked`).
    pub async fn revoke_invite_link(&self, id: &str) -> Result<InviteLinkInfo, ActionError> {
        let id = parse_link_id(id).map_err(|e| bad(e.to_string()))?;
        let _one = self.invite_links.redeem.lock().await;
        let mut rec = self.store.get_link(&id)?.ok_or_else(|| {
            ActionError::NotFound(format!(
                "this node issued no invite link {}; see `trellis group invite-links GROUP`",
                link_id_text(&id)
            ))
        })?;
        let now = self.clock.now_ms();
        if rec.revoked_ms.is_none() {
            rec.revoked_ms = Some(now);
            self.store.put_link(&rec)?;
            self.link_audit(&serde_json::json!({
                "at_ms": now, "action": "invite_link_revoked", "link": link_id_text(&id), "group": rec.group.to_text(),
            }));
        }
        let name = self.groups.name(&rec.group).unwrap_or_default();
        Ok(self.link_info(&rec, &name, now))
    }

    fn link_info(&self, r: &LinkRecord, group_name: &str, now: u64) -> InviteLinkInfo {
        InviteLinkInfo {
            id: link_id_text(&r.id),
            group: r.group.to_text(),
            group_name: group_name.to_string(),
            role: r.role,
            max_uses: r.max_uses,
            used: r.uses.len() as u32,
            created_ms: r.created_ms,
            expires_ms: r.expires_ms,
            revoked_ms: r.revoked_ms,
            state: r.state(now).to_string(),
            uses: r
                .uses
                .iter()
                .map(|u| InviteLinkUse {
                    org: u.org.to_text(),
                    fingerprint: u.org.fingerprint(),
                    name: u.name.clone(),
                    at_ms: u.at_ms,
                    op: u.op.map(|o| o.to_text()),
                })
                .collect(),
        }
    }

    /// Append one line to the audit log; a failure to write it is logged, never fatal (the
    /// group log holds the `Add` ops themselves).
    fn link_audit(&self, entry: &serde_json::Value) {
        let path = self.home.join(super::reshare::AUDIT_LOG);
        let r = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| writeln!(f, "{entry}").and_then(|_| f.sync_all()));
        if let Err(e) = r {
            tracing::warn!(path = %path.display(), error = %e, "writing the audit log failed");
        }
    }

    /// Answer a join request (§6.10). Every refusal leaves the link and the group as they were.
    pub async fn answer_join_link(self: &Arc<Self>, peer: PeerId, request: Request) -> Response {
        let RequestBody::JoinLink { link, secret, group, card } = request.body else {
            return Response::Refused("not a join request".into());
        };
        let Some(org) = super::sync::verify_binding(&request.binding, peer, self.clock.now_ms()) else {
            self.count_reject("join_malformed", None, Some(peer));
            return refuse(JoinRefusal::Malformed, "the node binding does not match this connection or is invalid");
        };
        if !self.invite_links.allow(peer) {
            self.count_reject("join_rate_limited", None, Some(peer));
            return refuse(
                JoinRefusal::RateLimited,
                format!("at most {JOIN_ATTEMPTS_PER_PEER} join requests per peer per minute are answered"),
            );
        }
        let response = self.redeem(peer, org, link, secret, group, &card).await;
        if let Response::JoinRefused { reason, detail } = &response {
            self.count_reject(&format!("join_{}", reason.reason()), Some(group), Some(peer));
            tracing::info!(%peer, org = %org.fingerprint(), reason = reason.reason(), %detail, "join request refused");
        }
        response
    }

    async fn redeem(
        self: &Arc<Self>,
        peer: PeerId,
        org: OrgId,
        link: LinkId,
        secret: [u8; 32],
        group: GroupId,
        card_text: &str,
    ) -> Response {
        let _one = self.invite_links.redeem.lock().await;
        let now = self.clock.now_ms();
        let rec = match self.store.get_link(&link) {
            Ok(Some(r)) => r,
            Ok(None) => return refuse(JoinRefusal::Unknown, "no such link"),
            Err(e) => return refuse(JoinRefusal::Unavailable, format!("store error: {e}")),
        };
        // The secret first: nothing about a link is told to whoever does not hold it.
        if !secret_matches(&link, &secret, &rec.secret_hash) || rec.group != group {
            return refuse(JoinRefusal::Unknown, "no such link");
        }
        let audit_refusal = |reason: JoinRefusal| {
            self.link_audit(&serde_json::json!({
                "at_ms": now, "action": "invite_link_refused", "link": link_id_text(&link),
                "group": group.to_text(), "org": org.to_text(), "peer": peer.to_string(), "reason": reason.reason(),
            }));
        };
        if let Some(at) = rec.revoked_ms {
            audit_refusal(JoinRefusal::Revoked);
            return refuse(JoinRefusal::Revoked, format!("revoked {} ago", ago(now.saturating_sub(at))));
        }
        let card = match ContactCard::parse(card_text, now) {
            Ok(c) => c,
            Err(e) => {
                audit_refusal(JoinRefusal::Malformed);
                return refuse(JoinRefusal::Malformed, format!("contact card: {e}"));
            }
        };
        if card.org() != org {
            audit_refusal(JoinRefusal::Malformed);
            return refuse(
                JoinRefusal::Malformed,
                format!(
                    "the card introduces {}, but the requesting node runs {}",
                    card.org().fingerprint(),
                    org.fingerprint()
                ),
            );
        }
        let is_member = self.groups.is_member(&group, &org);
        // The same org asking again (its first answer was lost): the same Add op again, no use.
        if is_member && let Some(op) = rec.uses.iter().find(|u| u.org == org).and_then(|u| u.op) {
            return match self.invite_token_for(&group, &op).await {
                Some(token) => Response::Joined { token },
                None => refuse(JoinRefusal::Unavailable, "the op that admitted you could not be read"),
            };
        }
        if now >= rec.expires_ms {
            audit_refusal(JoinRefusal::Expired);
            return refuse(JoinRefusal::Expired, format!("expired {} ago", ago(now.saturating_sub(rec.expires_ms))));
        }
        if rec.uses.len() as u64 >= u64::from(rec.max_uses) {
            audit_refusal(JoinRefusal::UsedUp);
            return refuse(JoinRefusal::UsedUp, format!("all {} uses taken", rec.max_uses));
        }
        if is_member {
            audit_refusal(JoinRefusal::AlreadyMember);
            return refuse(JoinRefusal::AlreadyMember, "nothing to do");
        }
        // Take the use before publishing (so a crash in between never leaves a use uncounted),
        // and give it back if the Add op cannot be made.
        let mut taken = rec.clone();
        taken.uses.push(LinkUse { org, name: card.name.clone(), at_ms: now, op: None, peer: peer.to_string() });
        if let Err(e) = self.store.put_link(&taken) {
            return refuse(JoinRefusal::Unavailable, format!("store error: {e}"));
        }
        let token = match self.invite(&group.to_text(), card_text, taken.role).await {
            Ok(t) => t,
            Err(e) => {
                if let Err(e2) = self.store.put_link(&rec) {
                    tracing::error!(error = %e2, "giving back an invite link's use failed: the link has one use less");
                }
                let reason = match e {
                    ActionError::Conflict(_) => JoinRefusal::AlreadyMember,
                    _ => JoinRefusal::Unavailable,
                };
                audit_refusal(reason);
                return refuse(reason, e.to_string());
            }
        };
        let op = Invite::parse(&token, &org).ok().map(|v| v.add_op.id);
        if let Some(u) = taken.uses.last_mut() {
            u.op = op;
        }
        if let Err(e) = self.store.put_link(&taken) {
            tracing::warn!(error = %e, "recording the op of an invite link's use failed (the use is counted)");
        }
        self.link_audit(&serde_json::json!({
            "at_ms": now, "action": "invite_link_used", "link": link_id_text(&link), "group": group.to_text(),
            "org": org.to_text(), "name": card.name, "peer": peer.to_string(), "role": taken.role.as_str(),
            "op": op.map(|o| o.to_text()), "uses": taken.uses.len(), "max_uses": taken.max_uses,
        }));
        tracing::info!(group = %group.short(), org = %org.fingerprint(), link = %link_id_text(&link), "admitted an organization through an invite link");
        Response::Joined { token }
    }

    /// An invite token carrying an `Add` op this node holds.
    async fn invite_token_for(&self, group: &GroupId, op: &ItemId) -> Option<String> {
        let genesis = self.groups.with(group, |g| g.log.genesis.clone())?;
        let add_op = self.store.get_item(op).ok()??.bytes;
        let addrs = self.dialable_addrs().await.into_iter().take(trellis_proto::invite_link::MAX_LINK_ADDRS).collect();
        Some(Invite { genesis, add_op, addrs }.to_text())
    }

    /// Join a group with either kind of token: an invite link (`trellis-link1:`) or an invite
    /// token made for this org's card (`trellis-invite1:`).
    pub async fn join_any(self: &Arc<Self>, token: &str) -> Result<GroupInfo, ActionError> {
        if InviteLink::is_link(token) { self.join_with_link(token).await } else { self.join(token).await }
    }

    /// Redeem an invite link: dial the inviter's node, send the join request with this org's
    /// card, and join with the invite token it answers with.
    pub async fn join_with_link(self: &Arc<Self>, token: &str) -> Result<GroupInfo, ActionError> {
        let link = InviteLink::parse(token).map_err(|e| bad(e.to_string()))?;
        self.groups.read(|groups| {
            if let Some(g) = groups.get(&link.group) {
                return Err(ActionError::Conflict(format!(
                    "this node is already in group {}; nothing was sent",
                    self.describe_group(g)
                )));
            }
            if let Some(g) = groups.values().find(|g| super::actions::same_name(g.name(), &link.group_name)) {
                return Err(ActionError::Conflict(format!(
                    "this node is already in a group named {:?} ({}); names are unique on a node, so the link \
                     was not used: ask the inviter to name the group differently",
                    link.group_name,
                    self.describe_group(g)
                )));
            }
            Ok(())
        })?;
        if super::actions::looks_like_group_id(&link.group_name) {
            return Err(bad(format!(
                "the invited group's name {:?} reads as a group id and could be taken for another group; the link \
                 was not used",
                link.group_name
            )));
        }
        let mut addrs = Vec::new();
        let mut peer: Option<PeerId> = None;
        for a in &link.addrs {
            let Ok(addr) = a.parse::<Multiaddr>() else { continue };
            let Some(libp2p::multiaddr::Protocol::P2p(p)) = addr.iter().last() else { continue };
            if peer.is_some_and(|q| q != p) {
                return Err(bad("the invite link names two different nodes; ask for a new link"));
            }
            peer = Some(p);
            addrs.push(addr);
        }
        let peer = peer.ok_or_else(|| bad("the invite link holds no usable address of the inviter's node"))?;
        if peer == self.peer_id {
            return Err(bad("this invite link was issued by this node; give it to the organization you invite"));
        }
        for a in &addrs {
            self.node.dial(a.clone()).await;
        }
        let deadline = Instant::now() + CONNECT_WAIT;
        while !self.node.info().await.peers.iter().any(|(p, _)| *p == peer) {
            if Instant::now() >= deadline {
                let shown: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
                return Err(bad(format!(
                    "could not reach the inviter's node at {} within {} s; nothing was sent. Is it running and \
                     reachable from here?",
                    shown.join(", "),
                    CONNECT_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let card = self.id_info().await.card;
        let body = RequestBody::JoinLink { link: link.id, secret: link.secret, group: link.group, card };
        let answer = self.node.request(peer, Request { binding: self.binding.clone(), body }).await;
        let token = match answer {
            Ok(Response::Joined { token }) => token,
            Ok(Response::JoinRefused { reason, detail }) => {
                let detail: String = detail.chars().filter(|c| !c.is_control()).take(200).collect();
                return Err(bad(format!(
                    "the inviter's node refused to admit this organization: {} [{}]{}; nothing was changed",
                    reason.describe(),
                    reason.reason(),
                    if detail.is_empty() { String::new() } else { format!(" ({detail})") }
                )));
            }
            Ok(Response::Refused(why)) => {
                let why: String = why.chars().filter(|c| !c.is_control()).take(200).collect();
                return Err(bad(format!("the inviter's node refused the request: {why}")));
            }
            Ok(_) => return Err(bad("the inviter's node gave an unexpected answer to the join request")),
            Err(e) => return Err(bad(format!("the join request to the inviter's node failed: {e}"))),
        };
        let me = self.me();
        let inv = Invite::parse(&token, &me)
            .map_err(|e| bad(format!("the inviter's node answered with an invalid invitation: {e}")))?;
        if inv.group != link.group {
            return Err(bad("the inviter's node answered with an invitation to another group than the link's"));
        }
        self.join(&token).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_limited_per_peer_and_window() {
        let clock = crate::clock::TestClock::new(1_000);
        let s = LinkState::new(clock.clock());
        let a = PeerId::random();
        let b = PeerId::random();
        for _ in 0..JOIN_ATTEMPTS_PER_PEER {
            assert!(s.allow(a));
        }
        assert!(!s.allow(a), "one attempt over the limit is refused");
        assert!(s.allow(b), "another peer has its own count");
        clock.advance(JOIN_WINDOW - std::time::Duration::from_millis(1));
        assert!(!s.allow(a), "still refused just before the window ends");
        clock.advance(std::time::Duration::from_millis(1));
        assert!(s.allow(a), "a new window gives new attempts");
    }

    #[test]
    fn record_states() {
        let mut r = LinkRecord {
            id: [1; 16],
            group: GroupId([2; 32]),
            secret_hash: [0; 32],
            role: Role::Member,
            max_uses: 1,
            created_ms: 0,
            expires_ms: 100,
            revoked_ms: None,
            uses: vec![],
        };
        assert_eq!(r.state(50), "active");
        assert_eq!(r.state(100), "expired");
        r.uses.push(LinkUse { org: OrgId([3; 32]), name: "x".into(), at_ms: 1, op: None, peer: String::new() });
        assert_eq!(r.state(50), "used up");
        r.revoked_ms = Some(60);
        assert_eq!(r.state(50), "revoked");
    }
}
