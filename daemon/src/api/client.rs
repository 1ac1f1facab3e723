//! A typed client of the local API over the unix socket, used by the CLI and the tests.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Serialize, de::DeserializeOwned};
use tokio::net::UnixStream;

use super::types::ApiError;

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
    #[error("{0}")]
    Api(String),
    #[error("talking to trellisd failed: {0}")]
    Transport(String),
}

/// A client bound to one daemon socket.
#[derive(Clone, Debug)]
pub struct Client {
    socket: PathBuf,
    home: PathBuf,
}

impl Client {
    pub fn new(home: &Path) -> Self {
        Client { socket: crate::home::socket_path(home), home: home.to_path_buf() }
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
            _ if !self.home.join(crate::home::IDENTITY_FILE).exists() => ClientError::NoHome { home },
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
            return Err(ClientError::Api(msg));
        }
        Ok(resp)
    }

    /// GET a JSON value.
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

    /// Open an event stream; each call to the returned closure's stream yields one JSON line.
    pub async fn stream(&self, path: &str) -> Result<EventStream, ClientError> {
        let resp = self.call(Method::GET, path, None).await?;
        Ok(EventStream { body: resp.into_body(), buf: Vec::new() })
    }
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
