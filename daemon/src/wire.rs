//! The direct request-response protocol between nodes (`/trellis/sync/1`, PROTOCOL.md §9):
//! catch-up sync and direct delivery. Frames are a 4-byte big-endian length followed by a
//! postcard value; the length is checked against a limit before anything is allocated, and
//! trailing bytes are rejected, as for envelopes.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use trellis_proto::keys::SignedNodeBinding;
use trellis_proto::{GroupId, OrgId};

/// Protocol name.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/trellis/sync/1");
/// Largest request frame: a sync request carries a per-sender range vector.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// Largest response frame.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// Envelope bytes a responder puts in one sync response before saying `more`.
pub const SYNC_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Items in one sync response at most.
pub const SYNC_BATCH_ITEMS: usize = 2000;

/// A request, always carrying the requester's node binding so the responder knows which org
/// asks (it checks the binding against the connection's transport key).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Request {
    pub binding: SignedNodeBinding,
    pub body: RequestBody,
}

/// What is asked.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum RequestBody {
    /// "This is who I am" (the binding in the request, and the org's self-declared name): the
    /// responder answers with its own, so both sides learn the org behind the connection.
    Hello { name: String },
    /// Direct delivery of a RED item to one of its recipients (§5.2): never gossiped.
    Deliver { envelope: Vec<u8> },
    /// "Here is what I hold of this group, per sender: send me what I lack."
    Sync { group: GroupId, have: Vec<(OrgId, Vec<(u64, u64)>)> },
}

/// A response.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Response {
    /// Envelopes the requester lacks; `more` says another request will return further ones.
    Items { items: Vec<Vec<u8>>, more: bool },
    /// The responder's node binding.
    Hello { binding: SignedNodeBinding, name: String },
    /// A delivered item was accepted.
    Delivered,
    /// The responder will not answer, with the reason.
    Refused(String),
}

/// The postcard framing codec.
#[derive(Clone, Debug, Default)]
pub struct Codec;

async fn read_frame<T: AsyncRead + Unpin + Send, V: DeserializeOwned>(io: &mut T, max: usize) -> io::Result<V> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("frame of {len} bytes exceeds {max}")));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    let (v, rest) = postcard::take_from_bytes(&buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    if !rest.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "trailing bytes in frame"));
    }
    Ok(v)
}

async fn write_frame<T: AsyncWrite + Unpin + Send, V: Serialize>(io: &mut T, v: &V, max: usize) -> io::Result<()> {
    let buf = postcard::to_allocvec(v).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    if buf.len() > max {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "frame too large"));
    }
    io.write_all(&(buf.len() as u32).to_be_bytes()).await?;
    io.write_all(&buf).await?;
    io.close().await
}

impl libp2p::request_response::Codec for Codec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Request> {
        read_frame(io, MAX_REQUEST_BYTES).await
    }
    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Response> {
        read_frame(io, MAX_RESPONSE_BYTES).await
    }
    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Request,
    ) -> io::Result<()> {
        write_frame(io, &req, MAX_REQUEST_BYTES).await
    }
    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Response,
    ) -> io::Result<()> {
        write_frame(io, &res, MAX_RESPONSE_BYTES).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn oversized_and_trailing_frames_are_refused_before_allocation() {
        // A frame header claiming 100 MB: refused from the 4 length bytes alone.
        let mut claim: &[u8] = &(100_000_000u32).to_be_bytes();
        let err = read_frame::<_, Response>(&mut claim, MAX_RESPONSE_BYTES).await.unwrap_err();
        assert!(err.to_string().contains("exceeds"), "{err}");
        // A valid value followed by a trailing byte inside the frame.
        let mut body = postcard::to_allocvec(&Response::Refused("x".into())).unwrap();
        body.push(0);
        let mut frame = (body.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        let err = read_frame::<_, Response>(&mut frame.as_slice(), MAX_RESPONSE_BYTES).await.unwrap_err();
        assert!(err.to_string().contains("trailing"), "{err}");
        // A truncated frame.
        let mut short: &[u8] = &[0, 0, 0, 10, 1, 2];
        assert!(read_frame::<_, Response>(&mut short, MAX_RESPONSE_BYTES).await.is_err());
    }
}
