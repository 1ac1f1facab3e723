//! A read-only TAXII 2.1 server, so the tools an organization already runs (a TIP, a SIEM, MISP's
//! TAXII client) can pull what this node holds without a bridge. Off by default; it listens only
//! when `taxii_listen` is configured, over plain TCP (put TLS in front of it for anything but
//! loopback).
//!
//! What it serves follows TLP (§5.3): one collection per group, holding the group's CLEAR
//! advisories as STIX 2.1 objects (the same mapping as `trellis export --format stix`); no other
//! label is ever served. Every request needs `Authorization: Bearer <token>`; the node keeps only
//! the SHA-256 of the token (`<home>/taxii-token.sha256`, mode 0600), read on each request so a
//! rotation (`trellis taxii token`) takes effect at once, and compares hashes in constant time.
//!
//! Endpoints: discovery `/taxii2/`, the API root `/trellis/`, `collections/`, a collection,
//! its `objects/` (with `added_after`, `limit`/`next` paging, `match[id]`, `match[type]`, and the
//! `X-TAXII-Date-Added-First/Last` headers), one object, and `manifest/`.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use trellis_proto::GroupId;
use trellis_proto::formats::time::{format_rfc3339_ms, parse_rfc3339_ms};
use trellis_proto::formats::{name_uuid, stix};

use crate::api::types::TaxiiToken;
use crate::engine::{ActionError, Engine};

/// The TAXII media type of every reply.
pub const MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
const STIX_MEDIA_TYPE: &str = "application/stix+json;version=2.1";
/// The hashed token, in the home.
pub const TOKEN_FILE: &str = "taxii-token.sha256";
/// The one API root.
const ROOT: &str = "trellis";
/// Objects per page unless the client asks for fewer; the most a client may ask for.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// TAXII connections served at once; more wait until one ends (a slow client is dropped after
/// `http::HEADER_TIMEOUT`).
pub const MAX_CONNECTIONS: usize = 64;

/// Where this node's TAXII server listens, while it does, for `trellis taxii token` to say where
/// to point a client. Held by the engine; a private lock whose one value is replaced whole, so a
/// poisoned lock is recovered.
#[derive(Debug, Default)]
pub struct ListenAddr(Mutex<Option<SocketAddr>>);

impl ListenAddr {
    fn set(&self, addr: Option<SocketAddr>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = addr;
    }

    fn get(&self) -> Option<SocketAddr> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Create or replace the bearer token; the reply holds it, the home only its hash.
pub fn rotate_token(engine: &Engine) -> Result<TaxiiToken, ActionError> {
    let raw: [u8; 32] = engine.rng().bytes();
    let token = format!("trellis-taxii-{}", data_encoding::BASE32_NOPAD.encode(&raw).to_ascii_lowercase());
    let hash = data_encoding::HEXLOWER.encode(&Sha256::digest(token.as_bytes()));
    crate::home::write_secret_file(&engine.home().join(TOKEN_FILE), hash.as_bytes())
        .map_err(|e| ActionError::Internal(e.to_string()))?;
    tracing::info!("TAXII token rotated");
    let listen = engine.taxii_addr().get().map(|a| a.to_string());
    Ok(TaxiiToken { token, listen })
}

/// Whether `presented` is the current token. The stored and presented hashes are compared in
/// constant time, so response timing says nothing about how close a guess was.
fn token_ok(home: &Path, presented: &str) -> bool {
    let Ok(stored) = std::fs::read_to_string(home.join(TOKEN_FILE)) else { return false };
    let Ok(stored) = data_encoding::HEXLOWER.decode(stored.trim().as_bytes()) else { return false };
    let given = Sha256::digest(presented.as_bytes());
    stored.len() == given.len() && stored.iter().zip(given.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Bind the TAXII listener.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("cannot listen for TAXII on {addr}: {e}"))
}

/// Serve TAXII until `shutdown` resolves.
pub async fn serve(listener: TcpListener, engine: Arc<Engine>, shutdown: impl std::future::Future<Output = ()>) {
    if let Ok(a) = listener.local_addr() {
        engine.taxii_addr().set(Some(a));
        tracing::info!(listen = %a, "TAXII 2.1 server listening");
    }
    let e = Arc::clone(&engine);
    crate::http::serve(listener, crate::http::Limits::no_body(MAX_CONNECTIONS), shutdown, move |req| {
        std::future::ready(handle(&e, &req))
    })
    .await;
    engine.taxii_addr().set(None);
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: &Value, headers: &[(&str, String)]) -> Reply {
    let mut b = Response::builder().status(status).header("content-type", MEDIA_TYPE);
    for (k, v) in headers {
        b = b.header(*k, v);
    }
    b.body(Full::new(Bytes::from(serde_json::to_vec(body).unwrap_or_default())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// A TAXII error message.
fn error(status: StatusCode, title: &str, description: &str) -> Reply {
    let body = json!({"title": title, "description": description, "http_status": status.as_u16().to_string()});
    let extra = if status == StatusCode::UNAUTHORIZED {
        vec![("www-authenticate", "Bearer realm=\"trellis\"".to_string())]
    } else {
        vec![]
    };
    reply(status, &body, &extra)
}

/// The query parameters, decoded.
fn query(req: &Request<Incoming>) -> HashMap<String, String> {
    crate::http::query_pairs(req).into_iter().collect()
}

fn handle(engine: &Engine, req: &Request<Incoming>) -> Reply {
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim);
    match bearer {
        Some(t) if token_ok(engine.home(), t) => {}
        _ => {
            return error(
                StatusCode::UNAUTHORIZED,
                "authentication required",
                "send Authorization: Bearer <token>; the node's operator creates one with `trellis taxii token`",
            );
        }
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return error(StatusCode::METHOD_NOT_ALLOWED, "read-only", "this TAXII server serves GET requests only");
    }
    if let Some(accept) = req.headers().get("accept").and_then(|h| h.to_str().ok())
        && !accept.contains("application/taxii+json")
        && !accept.contains("*/*")
    {
        return error(StatusCode::NOT_ACCEPTABLE, "not acceptable", &format!("this server answers {MEDIA_TYPE}"));
    }
    let host = req.headers().get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost").to_string();
    let path = req.uri().path().to_string();
    let segs = crate::http::path_segments(&path);
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let q = query(req);
    match segs.as_slice() {
        ["taxii2"] => reply(
            StatusCode::OK,
            &json!({
                "title": format!("Trellis node of {}", engine.my_name()),
                "description": "CLEAR advisories of this node's Trellis groups, as STIX 2.1",
                "default": format!("http://{host}/{ROOT}/"),
                "api_roots": [format!("http://{host}/{ROOT}/")],
            }),
            &[],
        ),
        [ROOT] => reply(
            StatusCode::OK,
            &json!({
                "title": "Trellis",
                "description": "One collection per group; only TLP:CLEAR items are served",
                "versions": [MEDIA_TYPE],
                "max_content_length": 0,
            }),
            &[],
        ),
        [ROOT, "collections"] => {
            let list: Vec<Value> = engine.group_ids().iter().filter_map(|g| collection(engine, g)).collect();
            reply(StatusCode::OK, &json!({ "collections": list }), &[])
        }
        [ROOT, "collections", cid, rest @ ..] => {
            let Some(gid) = engine.group_ids().into_iter().find(|g| collection_id(g) == *cid) else {
                return error(StatusCode::NOT_FOUND, "no such collection", "see /trellis/collections/");
            };
            match rest {
                [] => collection(engine, &gid)
                    .map(|c| reply(StatusCode::OK, &c, &[]))
                    .unwrap_or_else(|| error(StatusCode::NOT_FOUND, "no such collection", "")),
                ["objects"] => objects(engine, &gid, &q, None, false),
                ["objects", oid] => objects(engine, &gid, &q, Some(oid), false),
                ["manifest"] => objects(engine, &gid, &q, None, true),
                _ => error(StatusCode::NOT_FOUND, "no such endpoint", "this server is read-only"),
            }
        }
        _ => error(StatusCode::NOT_FOUND, "no such endpoint", "start at /taxii2/"),
    }
}

/// A group's collection id: a name-based UUID of the group id, the same on every request.
fn collection_id(g: &GroupId) -> String {
    name_uuid("trellis/taxii/collection", &g.to_text())
}

fn collection(engine: &Engine, g: &GroupId) -> Option<Value> {
    let name = engine.groups().name(g)?;
    Some(json!({
        "id": collection_id(g),
        "title": name,
        "description": format!("TLP:CLEAR advisories of the Trellis group {name}; other labels are never served"),
        "can_read": true,
        "can_write": false,
        "media_types": [STIX_MEDIA_TYPE],
    }))
}

/// The group's STIX objects with the time each was added (its first item's receipt), oldest
/// first. Shared objects (TLP markings, publisher identities) appear once, at their first use.
fn collection_objects(engine: &Engine, g: &GroupId) -> Result<Vec<(u64, Value)>, ActionError> {
    let items = engine.exportable(std::slice::from_ref(g), 0)?.items;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for item in &items {
        let bundle = stix::export_bundle(std::slice::from_ref(item));
        for obj in bundle.get("objects").and_then(Value::as_array).cloned().unwrap_or_default() {
            let id = obj.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
            if seen.insert(id) {
                out.push((item.received_ms, obj));
            }
        }
    }
    Ok(out)
}

fn objects(engine: &Engine, g: &GroupId, q: &HashMap<String, String>, one: Option<&str>, manifest: bool) -> Reply {
    let all = match collection_objects(engine, g) {
        Ok(a) => a,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "internal error", &e.to_string()),
    };
    let added_after = match q.get("added_after") {
        Some(t) => match parse_rfc3339_ms(t) {
            Some(ms) => Some(ms),
            None => return error(StatusCode::BAD_REQUEST, "bad added_after", "expected an RFC 3339 timestamp"),
        },
        None => None,
    };
    let list = |k: &str| q.get(k).map(|v| v.split(',').map(str::to_string).collect::<Vec<_>>());
    let (ids, types) = (list("match[id]"), list("match[type]"));
    let filtered: Vec<&(u64, Value)> = all
        .iter()
        .filter(|(t, _)| added_after.is_none_or(|a| i128::from(*t) > i128::from(a)))
        .filter(|(_, o)| {
            let id = o.get("id").and_then(Value::as_str).unwrap_or_default();
            let ty = o.get("type").and_then(Value::as_str).unwrap_or_default();
            one.is_none_or(|x| x == id)
                && ids.as_ref().is_none_or(|l| l.iter().any(|x| x == id))
                && types.as_ref().is_none_or(|l| l.iter().any(|x| x == ty))
        })
        .collect();
    if one.is_some() && filtered.is_empty() {
        return error(StatusCode::NOT_FOUND, "no such object", "not in this collection (or not TLP:CLEAR)");
    }
    let limit = q.get("limit").and_then(|l| l.parse::<usize>().ok()).filter(|l| *l > 0).unwrap_or(DEFAULT_LIMIT);
    let limit = limit.min(MAX_LIMIT);
    let start = q.get("next").and_then(|n| n.parse::<usize>().ok()).unwrap_or(0).min(filtered.len());
    let page = &filtered[start..(start + limit).min(filtered.len())];
    let more = start + page.len() < filtered.len();
    let mut body = json!({ "more": more });
    if more {
        body["next"] = json!((start + page.len()).to_string());
    }
    if !page.is_empty() {
        let entries: Vec<Value> = page
            .iter()
            .map(|(t, o)| {
                if !manifest {
                    return o.clone();
                }
                let version = o.get("modified").or_else(|| o.get("created")).cloned().unwrap_or(Value::Null);
                json!({"id": o["id"], "date_added": format_rfc3339_ms(*t), "version": version, "media_type": STIX_MEDIA_TYPE})
            })
            .collect();
        body["objects"] = json!(entries);
    }
    let mut headers = Vec::new();
    if let (Some(first), Some(last)) = (page.first(), page.last()) {
        headers.push(("x-taxii-date-added-first", format_rfc3339_ms(first.0)));
        headers.push(("x-taxii-date-added-last", format_rfc3339_ms(last.0)));
    }
    reply(StatusCode::OK, &body, &headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_by_hash() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!token_ok(dir.path(), "anything"), "no token file: nothing is accepted");
        let hash = data_encoding::HEXLOWER.encode(&Sha256::digest(b"secret"));
        std::fs::write(dir.path().join(TOKEN_FILE), hash).unwrap();
        assert!(token_ok(dir.path(), "secret"));
        assert!(!token_ok(dir.path(), "secreT"));
        assert!(!token_ok(dir.path(), ""));
    }
}
