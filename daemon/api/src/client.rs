//! A typed client of the local API over the unix socket, used by the CLI and the tests.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Serialize, de::DeserializeOwned};
use tokio::net::UnixStream;

use crate::types::*;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "trellisd is not running for home {home} (no socket at {socket}).\n  run `trellis --home {home} up` to start it in the background (or run trellisd --home {home})"
    )]
    NotRunning { home: String, socket: String },
    #[error(
        "trellisd is not running for home {home}: the socket {socket} was left by a daemon that stopped \
         without removing it (crashed or killed).\n  run `trellis --home {home} up` to start it again (it replaces the socket)"
    )]
    StaleSocket { home: String, socket: String },
    #[error(
        "cannot open the socket {socket}: permission denied. trellisd answers only the user it runs as \
         (socket mode 0600): run trellis as that user"
    )]
    SocketPermission { socket: String },
    #[error(
        "{home} is not a Trellis home (no identity.key there): check --home or TRELLIS_HOME.\n  \
         to create an organization in it: trellis --home {home} init --name \"Your Organization\" \
         (or `trellis --home {home} up --name \"Your Organization\"` to create it and start its node)"
    )]
    NoHome { home: String },
    /// The daemon refused the request: its HTTP status and its message (written for users).
    #[error("{message}")]
    Api { status: u16, message: String },
    #[error("talking to trellisd failed: {0}")]
    Transport(String),
}

impl ClientError {
    /// Whether the connection failed mid-request: the request may or may not have been applied.
    pub fn is_transport(&self) -> bool {
        matches!(self, ClientError::Transport(_))
    }
}

/// A client bound to one daemon socket.
#[derive(Clone, Debug)]
pub struct Client {
    socket: PathBuf,
    home: PathBuf,
}

impl Client {
    pub fn new(home: &Path) -> Self {
        Client { socket: crate::paths::socket_path(home), home: home.to_path_buf() }
    }

    async fn connect(&self) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, ClientError> {
        let stream = UnixStream::connect(&self.socket).await.map_err(|e| self.connect_error(&e))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Say which of the reasons a connection can fail applies: no home, no daemon, a socket
    /// left by a daemon that died, or a socket this user may not open.
    fn connect_error(&self, e: &std::io::Error) -> ClientError {
        let home = self.home.display().to_string();
        let socket = self.socket.display().to_string();
        match e.kind() {
            std::io::ErrorKind::PermissionDenied => ClientError::SocketPermission { socket },
            std::io::ErrorKind::ConnectionRefused => ClientError::StaleSocket { home, socket },
            _ if !self.home.join(crate::paths::IDENTITY_FILE).exists() => ClientError::NoHome { home },
            std::io::ErrorKind::NotFound => ClientError::NotRunning { home, socket },
            _ => ClientError::Transport(format!("cannot connect to {socket}: {e}")),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, ClientError> {
        let mut sender = self.connect().await?;
        let req = Request::builder()
            .method(method)
            .uri(format!("http://trellisd{path}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let resp = sender.send_request(req).await.map_err(|e| ClientError::Transport(e.to_string()))?;
        if resp.status() != StatusCode::OK {
            let status = resp.status();
            let bytes = resp.into_body().collect().await.map_err(|e| ClientError::Transport(e.to_string()))?.to_bytes();
            let msg = serde_json::from_slice::<ApiError>(&bytes)
                .map(|e| e.error)
                .unwrap_or_else(|_| format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)));
            return Err(ClientError::Api { status: status.as_u16(), message: msg });
        }
        Ok(resp)
    }

    /// GET a JSON value from a raw API path. The CLI uses the typed methods below; this and
    /// [`Client::post`] stay for tests that probe the HTTP surface itself.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let resp = self.call(Method::GET, path, None).await?;
        read_json(resp).await
    }

    /// POST a JSON body and read a JSON reply.
    pub async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, ClientError> {
        let body = serde_json::to_vec(body).map_err(|e| ClientError::Transport(e.to_string()))?;
        let resp = self.call(Method::POST, path, Some(body)).await?;
        read_json(resp).await
    }

    /// POST `body` as it is (a document, not a JSON request) and read a JSON reply.
    pub async fn post_raw<T: DeserializeOwned>(&self, path: &str, body: Vec<u8>) -> Result<T, ClientError> {
        let resp = self.call(Method::POST, path, Some(body)).await?;
        read_json(resp).await
    }

    /// GET raw bytes (a resource's file), at most `max` of them.
    pub async fn get_bytes(&self, path: &str, max: usize) -> Result<Vec<u8>, ClientError> {
        let resp = self.call(Method::GET, path, None).await?;
        let body = http_body_util::Limited::new(resp.into_body(), max)
            .collect()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        Ok(body.to_bytes().to_vec())
    }

    /// Open an event stream; each call to the returned closure's stream yields one JSON line.
    pub async fn stream(&self, path: &str) -> Result<EventStream, ClientError> {
        let resp = self.call(Method::GET, path, None).await?;
        Ok(EventStream { body: resp.into_body(), buf: Vec::new() })
    }
}

/// One method per endpoint of `/v1`; path segments and query values are percent-encoded here,
/// so a caller passes names and ids as the user typed them.
impl Client {
    pub async fn status(&self) -> Result<Status, ClientError> {
        self.get("/v1/status").await
    }

    pub async fn id(&self) -> Result<IdInfo, ClientError> {
        self.get("/v1/id").await
    }

    pub async fn peers(&self) -> Result<Vec<PeerInfo>, ClientError> {
        self.get("/v1/peers").await
    }

    /// Change this org's display name; the reply carries the name as stored.
    pub async fn rename(&self, name: &str) -> Result<RenameRequest, ClientError> {
        self.post("/v1/rename", &RenameRequest { name: name.to_string() }).await
    }

    pub async fn groups(&self) -> Result<Vec<GroupInfo>, ClientError> {
        self.get("/v1/groups").await
    }

    pub async fn group(&self, group: &str) -> Result<GroupInfo, ClientError> {
        self.get(&format!("/v1/groups/{}", encode(group))).await
    }

    pub async fn create_group(&self, name: &str, kind: GroupKind) -> Result<Created, ClientError> {
        self.post("/v1/groups", &CreateGroup { name: name.to_string(), kind }).await
    }

    pub async fn join(&self, token: &str) -> Result<GroupInfo, ClientError> {
        self.post("/v1/groups/join", &JoinRequest { token: token.to_string() }).await
    }

    pub async fn invite(&self, group: &str, card: &str, role: Role) -> Result<InviteToken, ClientError> {
        let body = InviteRequest { card: card.to_string(), role };
        self.post(&format!("/v1/groups/{}/invite", encode(group)), &body).await
    }

    pub async fn members(&self, group: &str) -> Result<Vec<MemberInfo>, ClientError> {
        self.get(&format!("/v1/groups/{}/members", encode(group))).await
    }

    pub async fn remove_member(&self, group: &str, org: &str) -> Result<Created, ClientError> {
        self.post(&format!("/v1/groups/{}/remove", encode(group)), &RemoveRequest { org: org.to_string() }).await
    }

    pub async fn set_role(&self, group: &str, org: &str, role: Role) -> Result<Created, ClientError> {
        let body = RoleRequest { org: org.to_string(), role };
        self.post(&format!("/v1/groups/{}/role", encode(group)), &body).await
    }

    pub async fn leave(&self, group: &str) -> Result<Created, ClientError> {
        self.post(&format!("/v1/groups/{}/leave", encode(group)), &Empty {}).await
    }

    pub async fn concentration(&self, group: &str) -> Result<ConcentrationView, ClientError> {
        self.get(&format!("/v1/groups/{}/concentration", encode(group))).await
    }

    pub async fn posture_request(&self, group: &str, body: &PostureRequestBody) -> Result<Created, ClientError> {
        self.post(&format!("/v1/groups/{}/posture-request", encode(group)), body).await
    }

    pub async fn rotate_keys(&self) -> Result<CreatedMany, ClientError> {
        self.post("/v1/keys/rotate", &Empty {}).await
    }

    pub async fn revoke_key(&self, req: &RevokeRequest) -> Result<CreatedMany, ClientError> {
        self.post("/v1/keys/revoke", req).await
    }

    pub async fn publish_advisory(&self, req: &PublishAdvisory) -> Result<Published, ClientError> {
        self.post("/v1/advisories", req).await
    }

    pub async fn import_advisory(&self, req: &ImportAdvisory) -> Result<Published, ClientError> {
        self.post("/v1/advisories/import", req).await
    }

    /// Advisories this node can read, of one group or all.
    pub async fn advisories(&self, group: Option<&str>) -> Result<Vec<AdvisoryView>, ClientError> {
        match group {
            Some(g) => self.get(&format!("/v1/advisories?group={}", encode(g))).await,
            None => self.get("/v1/advisories").await,
        }
    }

    /// One advisory by item id, source id or alias.
    pub async fn advisory(&self, id: &str) -> Result<AdvisoryView, ClientError> {
        self.get(&format!("/v1/advisories/{}", encode(id))).await
    }

    pub async fn reshare(&self, id: &str, req: &ReshareRequest) -> Result<Created, ClientError> {
        self.post(&format!("/v1/advisories/{}/reshare", encode(id)), req).await
    }

    pub async fn endorse(&self, id: &str, req: &EndorseRequest) -> Result<Created, ClientError> {
        self.post(&format!("/v1/advisories/{}/endorse", encode(id)), req).await
    }

    pub async fn trust(&self) -> Result<Vec<TrustView>, ClientError> {
        self.get("/v1/trust").await
    }

    pub async fn set_trust(&self, req: &SetTrust) -> Result<TrustView, ClientError> {
        self.post("/v1/trust", req).await
    }

    pub async fn vouch(&self, req: &Vouch) -> Result<Created, ClientError> {
        self.post("/v1/trust/vouch", req).await
    }

    pub async fn trust_explain(&self, what: &str) -> Result<TrustExplain, ClientError> {
        self.get(&format!("/v1/trust/explain/{}", encode(what))).await
    }

    pub async fn publish_posture(&self, req: &PublishPosture) -> Result<Created, ClientError> {
        self.post("/v1/posture", req).await
    }

    /// An org's latest posture attestation, in one group or the newest anywhere.
    pub async fn posture(&self, org: &str, group: Option<&str>) -> Result<PostureView, ClientError> {
        match group {
            Some(g) => self.get(&format!("/v1/posture/{}?group={}", encode(org), encode(g))).await,
            None => self.get(&format!("/v1/posture/{}", encode(org))).await,
        }
    }

    pub async fn posture_history(&self, org: &str) -> Result<Vec<PostureSummary>, ClientError> {
        self.get(&format!("/v1/posture/{}/history", encode(org))).await
    }

    pub async fn posture_diff(&self, org: &str) -> Result<PostureDiffView, ClientError> {
        self.get(&format!("/v1/posture/{}/diff", encode(org))).await
    }

    pub async fn posture_cosign(&self, org: &str, req: &CosignRequest) -> Result<Created, ClientError> {
        self.post(&format!("/v1/posture/{}/cosign", encode(org)), req).await
    }

    pub async fn posture_requests(&self) -> Result<Vec<PostureRequestInfo>, ClientError> {
        self.get("/v1/posture-requests").await
    }

    pub async fn export(&self, req: &ExportRequest) -> Result<ExportResult, ClientError> {
        self.post("/v1/export", req).await
    }

    pub async fn sboms(&self) -> Result<Vec<SbomInfo>, ClientError> {
        self.get("/v1/sbom").await
    }

    pub async fn sbom_add(&self, req: &SbomAdd) -> Result<SbomAdded, ClientError> {
        self.post("/v1/sbom", req).await
    }

    /// Add an SBOM sent as the request body itself (no JSON around it), up to the daemon's limit.
    pub async fn sbom_upload(&self, name: &str, lenient: bool, document: Vec<u8>) -> Result<SbomAdded, ClientError> {
        self.post_raw(&format!("/v1/sbom/upload?name={}&lenient={}", encode(name), u8::from(lenient)), document).await
    }

    pub async fn sbom_remove(&self, id: &str) -> Result<SbomInfo, ClientError> {
        self.post(&format!("/v1/sbom/{}/remove", encode(id)), &Empty {}).await
    }

    pub async fn affected(&self) -> Result<Vec<AffectedMatch>, ClientError> {
        self.get("/v1/affected").await
    }

    pub async fn taxii_token(&self) -> Result<TaxiiToken, ClientError> {
        self.post("/v1/taxii/token", &Empty {}).await
    }

    pub async fn ask_help(&self, req: &AskHelp) -> Result<Created, ClientError> {
        self.post("/v1/help", req).await
    }

    pub async fn help_requests(&self) -> Result<Vec<HelpRequestView>, ClientError> {
        self.get("/v1/help").await
    }

    pub async fn help_request(&self, id: &str) -> Result<HelpRequestView, ClientError> {
        self.get(&format!("/v1/help/{}", encode(id))).await
    }

    pub async fn answer_help(&self, id: &str, text: &str) -> Result<Created, ClientError> {
        self.post(&format!("/v1/help/{}/answer", encode(id)), &AnswerHelp { text: text.to_string() }).await
    }

    pub async fn resolve_help(&self, id: &str) -> Result<Created, ClientError> {
        self.post(&format!("/v1/help/{}/resolve", encode(id)), &Empty {}).await
    }

    pub async fn helpers(&self) -> Result<Vec<HelperView>, ClientError> {
        self.get("/v1/helpers").await
    }

    pub async fn offer_help(&self, offer: &HelperOffer) -> Result<CreatedMany, ClientError> {
        self.post("/v1/helpers", offer).await
    }

    /// Resources this node can read, optionally of one topic and one group.
    pub async fn resources(&self, topic: Option<&str>, group: Option<&str>) -> Result<Vec<ResourceView>, ClientError> {
        let mut q = Vec::new();
        if let Some(t) = topic {
            q.push(format!("topic={}", encode(t)));
        }
        if let Some(g) = group {
            q.push(format!("group={}", encode(g)));
        }
        if q.is_empty() {
            self.get("/v1/resources").await
        } else {
            self.get(&format!("/v1/resources?{}", q.join("&"))).await
        }
    }

    pub async fn resource(&self, id: &str) -> Result<ResourceView, ClientError> {
        self.get(&format!("/v1/resources/{}", encode(id))).await
    }

    /// Publish a resource: its description in the query, its file (possibly empty) as the body.
    pub async fn publish_resource(&self, meta: &PublishResource, file: Vec<u8>) -> Result<Created, ClientError> {
        let meta = serde_json::to_string(meta).map_err(|e| ClientError::Transport(e.to_string()))?;
        self.post_raw(&format!("/v1/resources?meta={}", encode(&meta)), file).await
    }

    /// A resource's file, whole and checked against its hash by the daemon, at most `max` bytes.
    pub async fn resource_content(&self, id: &str, max: usize) -> Result<Vec<u8>, ClientError> {
        self.get_bytes(&format!("/v1/resources/{}/content", encode(id)), max).await
    }

    pub async fn endorse_resource(&self, id: &str, comment: Option<&str>) -> Result<Created, ClientError> {
        match comment {
            Some(c) => {
                self.post(&format!("/v1/resources/{}/endorse?comment={}", encode(id), encode(c)), &Empty {}).await
            }
            None => self.post(&format!("/v1/resources/{}/endorse", encode(id)), &Empty {}).await,
        }
    }

    /// The org identity, sealed with a passphrase, for a backup.
    pub async fn export_keys(&self, req: &ExportKeysRequest) -> Result<ExportKeysReply, ClientError> {
        self.post("/v1/keys/export", req).await
    }

    /// Issue an invite link for `group`.
    pub async fn create_invite_link(
        &self,
        group: &str,
        req: &InviteLinkRequest,
    ) -> Result<InviteLinkCreated, ClientError> {
        self.post(&format!("/v1/groups/{}/invite-links", encode(group)), req).await
    }

    /// The invite links this node issued for `group`, with every admission through them.
    pub async fn invite_links(&self, group: &str) -> Result<Vec<InviteLinkInfo>, ClientError> {
        self.get(&format!("/v1/groups/{}/invite-links", encode(group))).await
    }

    pub async fn revoke_invite_link(&self, id: &str) -> Result<InviteLinkInfo, ClientError> {
        self.post(&format!("/v1/invite-links/{}/revoke", encode(id)), &Empty {}).await
    }

    /// Ask the daemon to stop.
    pub async fn shutdown(&self) -> Result<Stopping, ClientError> {
        self.post("/v1/shutdown", &Empty {}).await
    }

    /// Publish a revision of one of this org's advisories (or its withdrawal).
    pub async fn revise_advisory(&self, id: &str, req: &ReviseAdvisory) -> Result<Published, ClientError> {
        self.post(&format!("/v1/advisories/{}/revise", encode(id)), req).await
    }

    /// Every revision of an advisory, with what changed.
    pub async fn advisory_history(&self, id: &str) -> Result<AdvisoryHistoryView, ClientError> {
        self.get(&format!("/v1/advisories/{}/history", encode(id))).await
    }

    /// Follow a source (a CSAF provider, an OSV directory) into a group.
    pub async fn add_feed(&self, req: &FeedAdd) -> Result<FeedInfo, ClientError> {
        self.post("/v1/feeds", req).await
    }

    pub async fn feeds(&self) -> Result<Vec<FeedInfo>, ClientError> {
        self.get("/v1/feeds").await
    }

    pub async fn remove_feed(&self, id: &str) -> Result<FeedInfo, ClientError> {
        self.post(&format!("/v1/feeds/{}/remove", encode(id)), &Empty {}).await
    }

    /// Run a feed now, and report what it found.
    pub async fn run_feed(&self, id: &str) -> Result<FeedReport, ClientError> {
        self.post(&format!("/v1/feeds/{}/run", encode(id)), &Empty {}).await
    }

    /// How far a feed's current run is (documents done and, once known, the total).
    pub async fn feed_progress(&self, id: &str) -> Result<FeedProgress, ClientError> {
        self.get(&format!("/v1/feeds/{}/progress", encode(id))).await
    }

    /// A one-time sign-in link for the web console.
    pub async fn web_login(&self) -> Result<WebLogin, ClientError> {
        self.post("/v1/web/login", &Empty {}).await
    }

    /// Follow the event stream, of one group or all.
    pub async fn events(&self, group: Option<&str>) -> Result<EventStream, ClientError> {
        match group {
            Some(g) => self.stream(&format!("/v1/events?group={}", encode(g))).await,
            None => self.stream("/v1/events").await,
        }
    }
}

/// The empty JSON object some POSTs take.
#[derive(serde::Serialize)]
struct Empty {}

/// Every byte outside RFC 3986's unreserved set (`A-Z a-z 0-9 - . _ ~`).
const NOT_UNRESERVED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encode `s` for a path segment or query value: every byte outside RFC 3986's
/// unreserved set becomes `%XX` (so a `+` is `%2B`, never read back as a space). Group names
/// are free text.
pub fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, NOT_UNRESERVED).to_string()
}

async fn read_json<T: DeserializeOwned>(resp: hyper::Response<hyper::body::Incoming>) -> Result<T, ClientError> {
    let bytes = resp.into_body().collect().await.map_err(|e| ClientError::Transport(e.to_string()))?.to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Transport(format!("unexpected reply: {e}")))
}

/// A stream of newline-delimited JSON events.
#[derive(Debug)]
pub struct EventStream {
    body: hyper::body::Incoming,
    buf: Vec<u8>,
}

impl EventStream {
    /// The next line (without the newline), or `None` when the daemon closed the stream.
    pub async fn next_line(&mut self) -> Result<Option<String>, ClientError> {
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                let text = String::from_utf8_lossy(&line[..line.len() - 1]).to_string();
                if text.trim().is_empty() {
                    continue; // keep-alive
                }
                return Ok(Some(text));
            }
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(ClientError::Transport(e.to_string())),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn encode_keeps_unreserved_and_escapes_the_rest() {
        assert_eq!(encode("water-1.a_b~"), "water-1.a_b~");
        assert_eq!(encode("a b/c?d&e%"), "a%20b%2Fc%3Fd%26e%25");
        assert_eq!(encode("é"), "%C3%A9");
    }
}
