//! The local API server: HTTP/1.1 over the unix socket, one route table (`route`), JSON in and
//! out, 4xx with a message for bad requests. The socket is created with mode 0600 so only the
//! node's user can talk to the daemon.

use std::convert::Infallible;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, Limited, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::UnixListener;

use super::types::{
    ApiError, CreateGroup, Created, CreatedMany, EndorseRequest, InviteRequest, InviteToken, JoinRequest,
    PublishAdvisory, Published, RemoveRequest, ReshareRequest, RevokeRequest, RoleRequest, SetTrust, Vouch,
};
use crate::engine::{ActionError, Engine};

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Largest request body accepted.
const MAX_BODY: usize = 1024 * 1024;

/// Bind the socket: refuse if another daemon answers on it, replace a stale one, set 0600.
pub async fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    if path.exists() {
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            anyhow::bail!("another trellisd is already running with this home (socket {} answers)", path.display());
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serve until `shutdown` resolves.
pub async fn serve(listener: UnixListener, engine: Arc<Engine>, shutdown: impl std::future::Future<Output = ()>) {
    let limits = crate::http::Limits {
        header_timeout: crate::http::HEADER_TIMEOUT,
        max_connections: 64,
        // The largest body any route takes (an SBOM upload, a resource's file); each route caps
        // what it reads to its own bound (JSON requests: MAX_BODY) with `Limited`.
        max_body: (trellis_proto::formats::cyclonedx::MAX_SBOM_BYTES as u64).max(trellis_proto::resource::MAX_FILE),
    };
    crate::http::serve(listener, limits, shutdown, move |req| route(Arc::clone(&engine), req)).await
}

fn full(status: StatusCode, bytes: Vec<u8>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(bytes)).boxed_unsync())
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed_unsync()))
}

fn json<T: Serialize>(v: &T) -> Response<Body> {
    match serde_json::to_vec(v) {
        Ok(b) => full(StatusCode::OK, b),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response<Body> {
    full(status, serde_json::to_vec(&ApiError { error: msg.into() }).unwrap_or_default())
}

fn action_error(e: ActionError) -> Response<Body> {
    let status = match &e {
        ActionError::BadRequest(_) => StatusCode::BAD_REQUEST,
        ActionError::NotFound(_) => StatusCode::NOT_FOUND,
        ActionError::Conflict(_) => StatusCode::CONFLICT,
        ActionError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e.to_string())
}

fn reply<T: Serialize>(r: Result<T, ActionError>) -> Response<Body> {
    match r {
        Ok(v) => json(&v),
        Err(e) => action_error(e),
    }
}

async fn body<T: DeserializeOwned>(req: Request<Incoming>) -> Result<T, Response<Body>> {
    let bytes = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| error(StatusCode::PAYLOAD_TOO_LARGE, format!("request body: {e}")))?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| error(StatusCode::BAD_REQUEST, format!("invalid JSON request: {e}")))
}

/// The route table (version 1).
async fn route(engine: Arc<Engine>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let segs = crate::http::path_segments(&path);
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let method = req.method().clone();
    match (method, segs.as_slice()) {
        (Method::GET, ["v1", "status"]) => json(&engine.status().await),
        (Method::GET, ["v1", "id"]) => json(&engine.id_info().await),
        (Method::GET, ["v1", "peers"]) => json(&engine.peers().await),
        (Method::POST, ["v1", "rename"]) => match body::<super::types::RenameRequest>(req).await {
            Ok(b) => reply(engine.rename(&b.name).map(|name| super::types::RenameRequest { name })),
            Err(r) => r,
        },
        (Method::GET, ["v1", "groups"]) => json(&engine.group_list().await),
        (Method::POST, ["v1", "groups"]) => match body::<CreateGroup>(req).await {
            Ok(b) => reply(engine.create_group(&b.name, b.kind).await.map(|id| Created { id: id.to_text() })),
            Err(r) => r,
        },
        (Method::POST, ["v1", "groups", "join"]) => match body::<JoinRequest>(req).await {
            Ok(b) => reply(engine.join_any(&b.token).await),
            Err(r) => r,
        },
        (Method::POST, ["v1", "groups", g, "invite"]) => {
            let g = g.to_string();
            match body::<InviteRequest>(req).await {
                Ok(b) => reply(engine.invite(&g, &b.card, b.role).await.map(|token| InviteToken { token })),
                Err(r) => r,
            }
        }
        (Method::GET, ["v1", "groups", g]) => match engine.resolve_group(g) {
            Ok(id) => match engine.group_info(&id).await {
                Some(info) => json(&info),
                None => error(StatusCode::NOT_FOUND, "the group was left while it was looked up"),
            },
            Err(e) => action_error(e),
        },
        (Method::GET, ["v1", "groups", g, "members"]) => reply(engine.members(g)),
        (Method::POST, ["v1", "groups", g, "remove"]) => {
            let g = g.to_string();
            match body::<RemoveRequest>(req).await {
                Ok(b) => reply(engine.remove_member(&g, &b.org).await.map(|id| Created { id: id.to_text() })),
                Err(r) => r,
            }
        }
        (Method::POST, ["v1", "groups", g, "role"]) => {
            let g = g.to_string();
            match body::<RoleRequest>(req).await {
                Ok(b) => reply(engine.set_role(&g, &b.org, b.role).await.map(|id| Created { id: id.to_text() })),
                Err(r) => r,
            }
        }
        (Method::POST, ["v1", "groups", g, "leave"]) => {
            reply(engine.leave(g).await.map(|id| Created { id: id.to_text() }))
        }
        (Method::POST, ["v1", "keys", "rotate"]) => {
            reply(engine.rotate_keys().await.map(|ids| CreatedMany { ids: ids.iter().map(|i| i.to_text()).collect() }))
        }
        (Method::POST, ["v1", "keys", "revoke"]) => match body::<RevokeRequest>(req).await {
            Ok(b) => reply(
                engine
                    .revoke_key(b.signing, b.from_ms, &b.reason)
                    .await
                    .map(|ids| CreatedMany { ids: ids.iter().map(|i| i.to_text()).collect() }),
            ),
            Err(r) => r,
        },
        (Method::POST, ["v1", "keys", "export"]) => match body::<crate::backup::ExportKeysRequest>(req).await {
            Ok(b) => reply(crate::backup::export_route(&engine, &b).await),
            Err(r) => r,
        },
        (Method::POST, ["v1", "advisories", id, "reshare"]) => {
            let id = id.to_string();
            match body::<ReshareRequest>(req).await {
                Ok(b) => reply(engine.reshare(&id, &b.group, &b.to).await.map(|id| Created { id: id.to_text() })),
                Err(r) => r,
            }
        }
        (Method::POST, ["v1", "advisories"]) => match body::<PublishAdvisory>(req).await {
            Ok(b) => {
                let started = engine.clock().now_ms();
                match engine.publish_advisory(&b).await {
                    Ok(id) => published(&engine, &b.group, id, started).await,
                    Err(e) => action_error(e),
                }
            }
            Err(r) => r,
        },
        (Method::GET, ["v1", "advisories"]) => {
            reply(engine.advisories(crate::http::query_param(&req, "group").as_deref()))
        }
        (Method::GET, ["v1", "advisories", id]) => reply(engine.advisory(id)),
        (Method::GET, ["v1", "advisories", id, "history"]) => reply(engine.advisory_history(id)),
        (Method::POST, ["v1", "advisories", id, "revise"]) => {
            let id = id.to_string();
            match body::<super::types::ReviseAdvisory>(req).await {
                Ok(b) => {
                    let started = engine.clock().now_ms();
                    match engine.revise_advisory(&id, &b).await {
                        Ok(new) => match engine.advisory(&new.to_text()) {
                            Ok(v) => published(&engine, &v.group, new, started).await,
                            Err(e) => action_error(e),
                        },
                        Err(e) => action_error(e),
                    }
                }
                Err(r) => r,
            }
        }
        (Method::GET, ["v1", "trust"]) => json(&engine.trust_list()),
        (Method::POST, ["v1", "trust"]) => match body::<SetTrust>(req).await {
            Ok(b) => reply(engine.set_trust(&b.org, b.level)),
            Err(r) => r,
        },
        (Method::POST, ["v1", "trust", "vouch"]) => match body::<Vouch>(req).await {
            Ok(b) => {
                reply(engine.vouch(&b.group, &b.org, b.level, b.comment).await.map(|id| Created { id: id.to_text() }))
            }
            Err(r) => r,
        },
        (Method::GET, ["v1", "trust", "explain", what]) => reply(engine.trust_explain(what)),
        (Method::POST, ["v1", "advisories", id, "endorse"]) => {
            let id = id.to_string();
            match body::<EndorseRequest>(req).await {
                Ok(b) => reply(engine.endorse(&id, b.kind, b.comment).await.map(|id| Created { id: id.to_text() })),
                Err(r) => r,
            }
        }
        (Method::GET, ["v1", "events"]) => events(engine, crate::http::query_param(&req, "group")),
        (Method::POST, ["v1", "posture"]) => match body::<super::types::PublishPosture>(req).await {
            Ok(b) => reply(engine.publish_posture(&b).await.map(|id| Created { id: id.to_text() })),
            Err(r) => r,
        },
        (Method::GET, ["v1", "posture", org]) => {
            let org = org.to_string();
            reply(engine.posture_show(&org, crate::http::query_param(&req, "group").as_deref()).await)
        }
        (Method::GET, ["v1", "posture", org, "history"]) => reply(engine.posture_history(org)),
        (Method::GET, ["v1", "posture", org, "diff"]) => reply(engine.posture_diff(org)),
        (Method::POST, ["v1", "posture", org, "cosign"]) => {
            let org = org.to_string();
            match body::<super::types::CosignRequest>(req).await {
                Ok(b) => reply(engine.posture_cosign(&org, &b).await.map(|id| Created { id: id.to_text() })),
                Err(r) => r,
            }
        }
        (Method::GET, ["v1", "posture-requests"]) => json(&engine.pending_posture_requests()),
        (Method::POST, ["v1", "groups", g, "posture-request"]) => {
            let g = g.to_string();
            match body::<super::types::PostureRequestBody>(req).await {
                Ok(b) => reply(engine.posture_request(&g, &b).await.map(|id| Created { id: id.to_text() })),
                Err(r) => r,
            }
        }
        (Method::GET, ["v1", "groups", g, "concentration"]) => reply(engine.concentration(g)),
        (Method::POST, ["v1", "advisories", "import"]) => match body::<super::types::ImportAdvisory>(req).await {
            Ok(b) => {
                let started = engine.clock().now_ms();
                match engine.import_advisory(&b).await {
                    Ok(id) => published(&engine, &b.group, id, started).await,
                    Err(e) => action_error(e),
                }
            }
            Err(r) => r,
        },
        (Method::POST, ["v1", "export"]) => match body::<super::types::ExportRequest>(req).await {
            Ok(b) => reply(engine.export(&b)),
            Err(r) => r,
        },
        (Method::GET, ["v1", "sbom"]) => json(&engine.sbom_list()),
        (Method::POST, ["v1", "sbom"]) => match body::<super::types::SbomAdd>(req).await {
            Ok(b) => reply(engine.sbom_add(&b)),
            Err(r) => r,
        },
        (Method::POST, ["v1", "sbom", "upload"]) => {
            let name = crate::http::query_param(&req, "name").unwrap_or_default();
            let lenient = crate::http::query_param(&req, "lenient").is_some_and(|v| v == "1" || v == "true");
            match Limited::new(req.into_body(), trellis_proto::formats::cyclonedx::MAX_SBOM_BYTES).collect().await {
                Ok(b) => reply(engine.sbom_add_bytes(&name, &b.to_bytes(), lenient)),
                Err(_) => error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "the SBOM is larger than the limit of {} bytes (128 MiB); nothing was added",
                        trellis_proto::formats::cyclonedx::MAX_SBOM_BYTES
                    ),
                ),
            }
        }
        (Method::POST, ["v1", "sbom", id, "remove"]) => reply(engine.sbom_remove(id)),
        (Method::GET, ["v1", "affected"]) => reply(engine.affected()),
        (Method::POST, ["v1", "taxii", "token"]) => reply(crate::taxii::rotate_token(&engine)),
        (_, ["v1", "help", ..] | ["v1", "helpers"]) => crate::help::api::route(Arc::clone(&engine), req, &segs).await,
        (_, ["v1", "resources", ..]) => crate::resources::api::route(Arc::clone(&engine), req, &segs).await,
        (Method::POST, ["v1", "groups", g, "invite-links"]) => {
            let g = g.to_string();
            match body::<super::types::InviteLinkRequest>(req).await {
                Ok(b) => reply(engine.create_invite_link(&g, b.role, b.uses, b.valid_ms).await),
                Err(r) => r,
            }
        }
        (Method::GET, ["v1", "groups", g, "invite-links"]) => reply(engine.invite_links(g)),
        (Method::POST, ["v1", "invite-links", id, "revoke"]) => reply(engine.revoke_invite_link(id).await),
        (Method::POST, ["v1", "shutdown"]) => {
            engine.stop().notify_one();
            json(&super::types::Stopping { pid: std::process::id() })
        }
        (Method::GET, ["v1", "feeds"]) => reply(engine.feed_list()),
        (Method::POST, ["v1", "feeds"]) => match body::<super::types::FeedAdd>(req).await {
            Ok(b) => reply(engine.feed_add(&b)),
            Err(r) => r,
        },
        (Method::POST, ["v1", "feeds", id, "remove"]) => reply(engine.feed_remove(id)),
        (Method::POST, ["v1", "feeds", id, "run"]) => {
            let id = id.to_string();
            reply(engine.feed_run(&id).await)
        }
        (Method::GET, ["v1", "feeds", id, "progress"]) => reply(engine.feed_progress(id)),
        (Method::POST, ["v1", "web", "login"]) => reply(crate::web::login_link(&engine)),
        (_, ["v1", ..]) => error(StatusCode::NOT_FOUND, format!("no route {} {path}", req.method())),
        _ => error(StatusCode::NOT_FOUND, format!("unknown API version in {path}; this daemon serves /v1")),
    }
}

/// The reply to a publish: the item, its group as resolved, the peers it went to, and whether
/// it was already stored before this request (an idempotent retry).
async fn published(engine: &Engine, group: &str, id: trellis_proto::ItemId, started_ms: u64) -> Response<Body> {
    let existing = matches!(engine.store().get_item(&id), Ok(Some(item)) if item.received_ms < started_ms);
    let info = match engine.resolve_group(group) {
        Ok(gid) => engine.group_info(&gid).await,
        Err(_) => None,
    };
    let Some(g) = info else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, format!("published {} but its group vanished", id.to_text()));
    };
    json(&Published {
        id: id.to_text(),
        group: g.id,
        group_name: g.name,
        founder_fingerprint: g.founder_fingerprint,
        founder_name: g.founder_name,
        members: g.members,
        peers: g.peers,
        existing,
    })
}

/// The event stream: one JSON object per line, filtered by group if asked.
fn events(engine: Arc<Engine>, group: Option<String>) -> Response<Body> {
    let filter = match group.as_deref().map(|g| engine.resolve_group(g)).transpose() {
        Ok(f) => f.map(|g| g.to_text()),
        Err(e) => return action_error(e),
    };
    let rx = engine.events().subscribe();
    let stream = futures::stream::unfold((rx, filter), |(mut rx, filter)| async move {
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    let group = match &ev {
                        super::types::Event::Advisory { advisory } => Some(advisory.group.clone()),
                        super::types::Event::Membership { group, .. } => Some(group.clone()),
                        super::types::Event::Rejected { group, .. } => group.clone(),
                        super::types::Event::PostureRequested { request } => Some(request.group.clone()),
                        super::types::Event::Affected { affected } => Some(affected.group.clone()),
                        super::types::Event::Resource { resource } => Some(resource.group.clone()),
                        super::types::Event::Help { help } => Some(help.group.clone()),
                    };
                    if filter.is_some() && group != filter {
                        continue;
                    }
                    let mut line = serde_json::to_vec(&ev).unwrap_or_default();
                    line.push(b'\n');
                    return Some((Ok::<_, Infallible>(Frame::data(Bytes::from(line))), (rx, filter)));
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/x-ndjson")
        .body(BodyExt::boxed_unsync(StreamBody::new(stream.boxed())))
        .unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "stream"))
}
