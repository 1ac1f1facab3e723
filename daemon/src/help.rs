//! Requests for help on this node (the item format is `trellis_proto::help`): asking, answering
//! in a thread, resolving, and offering help on topics.
//!
//! Who reads what is decided by the item's label and recipients, never by policy: a request is
//! AMBER, addressed in a supply-chain channel to the channel's admins (the customer) and in a
//! sector group to the members whose latest helper offer in that group covers the topic (or to
//! `--to` orgs in either). Answers and the resolution go AMBER to the asker and every org the
//! request addressed, so the whole thread stays among them. Helper offers are GREEN to the group.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use trellis_proto::group::GroupKind;
use trellis_proto::help::HelpDoc;
use trellis_proto::items::Resource;
use trellis_proto::resource::Topic;
use trellis_proto::{Body, Envelope, GroupId, ItemId, Kind, OrgId, Payload, Tlp};

use crate::engine::actions::Audience;
use crate::engine::{ActionError, Engine};
pub use trellis_api::types::{AnswerHelp, AnswerView, AskHelp, HelpEvent, HelpRequestView, HelperOffer, HelperView};

fn bad(m: impl Into<String>) -> ActionError {
    ActionError::BadRequest(m.into())
}

struct Step {
    env: Envelope,
    doc: HelpDoc,
}

fn recipients(env: &Envelope) -> Vec<OrgId> {
    match &env.body {
        Body::Sealed { recipients, .. } => recipients.iter().map(|r| r.to).collect(),
        _ => Vec::new(),
    }
}

impl Engine {
    /// The help steps of `gid` this node reads, in (time, id) order.
    fn help_steps(&self, gid: &GroupId) -> Vec<Step> {
        let mut out = Vec::new();
        for id in self.store().group_item_ids(gid, Kind::Resource).unwrap_or_default() {
            let Some(item) = self.store().get_item(&id).ok().flatten() else { continue };
            let Some((env, Payload::Resource(r))) = item.open() else { continue };
            let Some(Ok(doc)) = HelpDoc::from_item(&r) else { continue };
            out.push(Step { env, doc });
        }
        out.sort_by_key(|a| (a.env.header.timestamp_ms, a.env.id.0));
        out
    }

    /// The current helpers of `gid` and their topics (each org's latest offer counts).
    fn helpers_of(&self, gid: &GroupId) -> BTreeMap<OrgId, BTreeSet<&'static str>> {
        let mut latest: HashMap<OrgId, (u64, Vec<Topic>, bool)> = HashMap::new();
        for s in self.help_steps(gid) {
            if let HelpDoc::Helper { topics, on } = s.doc {
                let seq = s.env.header.seq;
                let e = latest.entry(s.env.header.sender).or_insert((0, vec![], false));
                if seq >= e.0 {
                    *e = (seq, topics, on);
                }
            }
        }
        let members: BTreeSet<OrgId> =
            self.groups().with(gid, |g| g.state.members.keys().copied().collect()).unwrap_or_default();
        latest
            .into_iter()
            .filter(|(o, (_, _, on))| *on && members.contains(o))
            .map(|(o, (_, t, _))| (o, t.iter().map(|t| t.as_str()).collect()))
            .collect()
    }

    /// Ask for help in a group.
    pub async fn ask_help(self: &Arc<Self>, req: &AskHelp) -> Result<ItemId, ActionError> {
        let gid = self.resolve_group(&req.group)?;
        let topic: Topic = req.topic.parse().map_err(|e: trellis_proto::ProtoError| bad(e.to_string()))?;
        let me = self.me();
        let kind = self.groups().with(&gid, |g| g.log.genesis.genesis.kind);
        let to: Vec<OrgId> = if !req.to.is_empty() {
            self.named_recipients(&gid, Tlp::Amber, &req.to)?
        } else if kind == Some(GroupKind::SupplyChain) {
            self.named_recipients(&gid, Tlp::Amber, &[])?.into_iter().filter(|o| *o != me).collect()
        } else {
            self.helpers_of(&gid)
                .into_iter()
                .filter(|(o, topics)| *o != me && topics.contains(topic.as_str()))
                .map(|(o, _)| o)
                .collect()
        };
        if to.is_empty() && kind == Some(GroupKind::SupplyChain) {
            return Err(bad(format!(
                "you are the only admin of {:?}, so there is nobody to ask by default; name members with --to ORG",
                req.group
            )));
        }
        if to.is_empty() {
            return Err(bad(format!(
                "nobody to ask: no member of {:?} offers help on {} (members offer it with `trellis helper on --topic {}`); \
                 name someone with --to ORG",
                req.group,
                topic.as_str(),
                topic.as_str()
            )));
        }
        let doc = HelpDoc::Request { topic, text: req.text.clone() };
        let item = doc.to_item(&format!("Request for help: {}", topic.as_str())).map_err(|e| bad(e.to_string()))?;
        let (id, _) = self.publish_payload(gid, Tlp::Amber, Payload::Resource(item), Audience::Orgs(to)).await?;
        Ok(id)
    }

    /// Find a request this node reads by id or id prefix (8+ characters).
    fn find_request(&self, text: &str) -> Result<(Envelope, GroupId), ActionError> {
        let t = text.trim().to_ascii_lowercase();
        if t.len() < 8 {
            return Err(bad(
                "give the request's id or at least its first 8 characters (see `trellis help-request list`)",
            ));
        }
        let mut found = Vec::new();
        for gid in self.group_ids() {
            for s in self.help_steps(&gid) {
                if matches!(s.doc, HelpDoc::Request { .. }) && s.env.id.to_text().starts_with(&t) {
                    found.push((s.env, gid));
                }
            }
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(ActionError::NotFound(format!(
                "no request for help {text:?} on this node; see `trellis help-request list`"
            ))),
            n => Err(bad(format!("{text:?} matches {n} requests; give more of the id"))),
        }
    }

    /// The readers of a thread: the asker and everyone the request addressed, except this org.
    fn thread_readers(&self, req: &Envelope) -> Vec<OrgId> {
        let me = self.me();
        let mut v: Vec<OrgId> = recipients(req);
        v.push(req.header.sender);
        v.sort();
        v.dedup();
        v.retain(|o| *o != me);
        v
    }

    /// Answer a request in its thread.
    pub async fn answer_help(self: &Arc<Self>, id: &str, text: &str) -> Result<ItemId, ActionError> {
        let (req, gid) = self.find_request(id)?;
        let doc = HelpDoc::Answer { request: req.id, text: text.to_string() };
        let item = doc.to_item("Answer to a request for help").map_err(|e| bad(e.to_string()))?;
        let to = self.thread_readers(&req);
        if to.is_empty() {
            return Err(bad("this request addresses nobody else; there is nobody to answer"));
        }
        let (id, _) = self.publish_payload(gid, Tlp::Amber, Payload::Resource(item), Audience::Orgs(to)).await?;
        Ok(id)
    }

    /// Mark one of this org's requests resolved.
    pub async fn resolve_help(self: &Arc<Self>, id: &str) -> Result<ItemId, ActionError> {
        let (req, gid) = self.find_request(id)?;
        if req.header.sender != self.me() {
            return Err(bad("only the organization that asked can mark a request resolved"));
        }
        let doc = HelpDoc::Resolve { request: req.id };
        let item = doc.to_item("Request for help resolved").map_err(|e| bad(e.to_string()))?;
        let to = self.thread_readers(&req);
        let (id, _) = self.publish_payload(gid, Tlp::Amber, Payload::Resource(item), Audience::Orgs(to)).await?;
        Ok(id)
    }

    /// Offer help on topics (or stop), in one group or every sector group.
    pub async fn offer_help(self: &Arc<Self>, req: &HelperOffer) -> Result<Vec<ItemId>, ActionError> {
        let topics: Vec<Topic> = req
            .topics
            .iter()
            .map(|t| t.parse())
            .collect::<Result<_, trellis_proto::ProtoError>>()
            .map_err(|e| bad(e.to_string()))?;
        if req.on && topics.is_empty() {
            return Err(bad("name the topics you can help with: --topic TOPIC (repeatable)"));
        }
        let groups: Vec<GroupId> = match &req.group {
            Some(g) => vec![self.resolve_group(g)?],
            None => self.groups().read(|g| {
                g.values().filter(|g| g.log.genesis.genesis.kind == GroupKind::Sector).map(|g| g.id()).collect()
            }),
        };
        if groups.is_empty() {
            return Err(bad("this node is in no sector group; name a group with --group"));
        }
        let doc = HelpDoc::Helper { topics, on: req.on };
        let mut ids = Vec::new();
        for gid in groups {
            let item = doc.to_item("Helper offer").map_err(|e| bad(e.to_string()))?;
            ids.push(self.publish_payload(gid, Tlp::Green, Payload::Resource(item), Audience::Group).await?.0);
        }
        Ok(ids)
    }

    /// Every helper offer in force in this node's groups.
    pub fn helpers(&self) -> Vec<HelperView> {
        let mut out = Vec::new();
        for gid in self.group_ids() {
            let name = self.groups().name(&gid).unwrap_or_default();
            for (org, topics) in self.helpers_of(&gid) {
                out.push(HelperView {
                    group: gid.to_text(),
                    group_name: name.clone(),
                    org: org.to_text(),
                    fingerprint: org.fingerprint(),
                    name: self.name_of(&org),
                    topics: topics.into_iter().map(String::from).collect(),
                });
            }
        }
        out
    }

    /// Every request for help this node reads, with its thread, newest first.
    pub fn help_requests(&self) -> Vec<HelpRequestView> {
        let mut out = Vec::new();
        for gid in self.group_ids() {
            let name = self.groups().name(&gid).unwrap_or_default();
            let steps = self.help_steps(&gid);
            for s in &steps {
                let HelpDoc::Request { topic, text } = &s.doc else { continue };
                let asker = s.env.header.sender;
                let answers: Vec<AnswerView> = steps
                    .iter()
                    .filter_map(|a| match &a.doc {
                        HelpDoc::Answer { request, text } if *request == s.env.id => Some(AnswerView {
                            id: a.env.id.to_text(),
                            from: a.env.header.sender.to_text(),
                            from_fingerprint: a.env.header.sender.fingerprint(),
                            from_name: self.name_of(&a.env.header.sender),
                            text: text.clone(),
                            answered_ms: a.env.header.timestamp_ms,
                        }),
                        _ => None,
                    })
                    .collect();
                let resolved = steps.iter().any(|r| {
                    matches!(&r.doc, HelpDoc::Resolve { request } if *request == s.env.id)
                        && r.env.header.sender == asker
                });
                let status = if resolved {
                    "resolved"
                } else if answers.is_empty() {
                    "open"
                } else {
                    "answered"
                };
                out.push(HelpRequestView {
                    id: s.env.id.to_text(),
                    group: gid.to_text(),
                    group_name: name.clone(),
                    topic: topic.as_str().into(),
                    text: text.clone(),
                    asker: asker.to_text(),
                    asker_fingerprint: asker.fingerprint(),
                    asker_name: self.name_of(&asker),
                    to: recipients(&s.env).into_iter().filter(|o| *o != asker).map(|o| o.fingerprint()).collect(),
                    status: status.into(),
                    asked_ms: s.env.header.timestamp_ms,
                    answers,
                });
            }
        }
        out.sort_by(|a, b| b.asked_ms.cmp(&a.asked_ms).then_with(|| a.id.cmp(&b.id)));
        out
    }

    /// One request and its thread.
    pub fn help_request(&self, id: &str) -> Result<HelpRequestView, ActionError> {
        let (env, _) = self.find_request(id)?;
        let id = env.id.to_text();
        self.help_requests()
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| ActionError::NotFound("the request vanished".into()))
    }
}

impl Engine {
    /// Called for every newly stored `Resource` item this node reads: a help step addressed to
    /// it (or its own) goes to watchers.
    pub(crate) fn help_stored(&self, env: &Envelope, r: &Resource) {
        if self.events().receiver_count() == 0 {
            return;
        }
        let Some(Ok(doc)) = HelpDoc::from_item(r) else { return };
        let (request, step, topic, text) = match doc {
            HelpDoc::Request { topic, text } => (env.id, "request", Some(topic.as_str().to_string()), text),
            HelpDoc::Answer { request, text } => (request, "answer", None, text),
            HelpDoc::Resolve { request } => (request, "resolved", None, String::new()),
            HelpDoc::Helper { .. } => return,
        };
        let group_name = self.groups().name(&env.header.group).unwrap_or_default();
        let ev = HelpEvent {
            group: env.header.group.to_text(),
            group_name,
            request: request.to_text(),
            step: step.into(),
            topic,
            from_fingerprint: env.header.sender.fingerprint(),
            from_name: self.name_of(&env.header.sender),
            text,
        };
        let _ = self.events().send(crate::api::types::Event::Help { help: Box::new(ev) });
    }
}

/// Whether a stored `Resource` item is a help step (not a shared resource).
pub fn is_help(r: &Resource) -> bool {
    r.links.first().map(String::as_str) == Some(trellis_proto::help::HELP_LINK)
}

pub mod api {
    //! The help routes of the local API (`/v1/help…`, `/v1/helpers`).

    use std::convert::Infallible;
    use std::sync::Arc;

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full, Limited, combinators::UnsyncBoxBody};
    use hyper::body::Incoming;
    use hyper::{Method, Request, Response, StatusCode};
    use serde::de::DeserializeOwned;

    use super::{AnswerHelp, AskHelp, HelperOffer};
    use crate::api::types::{ApiError, Created, CreatedMany};
    use crate::engine::{ActionError, Engine};

    type Body = UnsyncBoxBody<Bytes, Infallible>;

    fn respond(status: StatusCode, bytes: Vec<u8>) -> Response<Body> {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(bytes)).boxed_unsync())
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed_unsync()))
    }

    fn json<T: serde::Serialize>(r: Result<T, ActionError>) -> Response<Body> {
        match r.and_then(|v| serde_json::to_vec(&v).map_err(|e| ActionError::Internal(e.to_string()))) {
            Ok(b) => respond(StatusCode::OK, b),
            Err(e) => {
                let status = match &e {
                    ActionError::BadRequest(_) => StatusCode::BAD_REQUEST,
                    ActionError::NotFound(_) => StatusCode::NOT_FOUND,
                    ActionError::Conflict(_) => StatusCode::CONFLICT,
                    ActionError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
                };
                respond(status, serde_json::to_vec(&ApiError { error: e.to_string() }).unwrap_or_default())
            }
        }
    }

    async fn body<T: DeserializeOwned>(req: Request<Incoming>) -> Result<T, ActionError> {
        let bytes = Limited::new(req.into_body(), 64 * 1024)
            .collect()
            .await
            .map_err(|e| ActionError::BadRequest(format!("request body: {e}")))?
            .to_bytes();
        serde_json::from_slice(&bytes).map_err(|e| ActionError::BadRequest(format!("invalid JSON request: {e}")))
    }

    /// Route `/v1/help…` and `/v1/helpers`.
    pub async fn route(engine: Arc<Engine>, req: Request<Incoming>, segs: &[&str]) -> Response<Body> {
        let method = req.method().clone();
        match (method, segs) {
            (Method::GET, ["v1", "help"]) => json(Ok(engine.help_requests())),
            (Method::POST, ["v1", "help"]) => match body::<AskHelp>(req).await {
                Ok(b) => json(engine.ask_help(&b).await.map(|id| Created { id: id.to_text() })),
                Err(e) => json::<()>(Err(e)),
            },
            (Method::GET, ["v1", "help", id]) => json(engine.help_request(id)),
            (Method::POST, ["v1", "help", id, "answer"]) => {
                let id = id.to_string();
                match body::<AnswerHelp>(req).await {
                    Ok(b) => json(engine.answer_help(&id, &b.text).await.map(|id| Created { id: id.to_text() })),
                    Err(e) => json::<()>(Err(e)),
                }
            }
            (Method::POST, ["v1", "help", id, "resolve"]) => {
                json(engine.resolve_help(id).await.map(|id| Created { id: id.to_text() }))
            }
            (Method::GET, ["v1", "helpers"]) => json(Ok(engine.helpers())),
            (Method::POST, ["v1", "helpers"]) => match body::<HelperOffer>(req).await {
                Ok(b) => json(
                    engine
                        .offer_help(&b)
                        .await
                        .map(|ids| CreatedMany { ids: ids.iter().map(|i| i.to_text()).collect() }),
                ),
                Err(e) => json::<()>(Err(e)),
            },
            (m, _) => json::<()>(Err(ActionError::NotFound(format!("no route {m} {}", req.uri().path())))),
        }
    }
}
