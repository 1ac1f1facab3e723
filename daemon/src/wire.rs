//! The direct request-response protocol between nodes (PROTOCOL.md §9) on libp2p streams. The
//! message types, limits and frame codec are `trellis_proto::wire` (pure, fuzzed); this file only
//! reads and writes frames: the 4-byte length is checked against the limit before anything is
//! allocated, the body is decoded by proto (no trailing bytes, bounded have-lists).

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use trellis_proto::wire::{self as proto_wire, frame, frame_len};
pub use trellis_proto::wire::{
    Cursor, MAX_HAVE_RANGES, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, Request, RequestBody, Response, SYNC_BATCH_BYTES,
    SYNC_BATCH_ITEMS, SYNC_SCAN_ITEMS,
};

/// Protocol name.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new(proto_wire::SYNC_PROTOCOL_NAME);

/// The postcard framing codec.
#[derive(Clone, Debug, Default)]
pub struct Codec;

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = frame_len(len, max).map_err(invalid)?;
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, body: &[u8], max: usize) -> io::Result<()> {
    io.write_all(&frame(body, max).map_err(invalid)?).await?;
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
        proto_wire::decode_request(&read_frame(io, MAX_REQUEST_BYTES).await?).map_err(invalid)
    }
    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Response> {
        proto_wire::decode_response(&read_frame(io, MAX_RESPONSE_BYTES).await?).map_err(invalid)
    }
    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Request,
    ) -> io::Result<()> {
        write_frame(io, &proto_wire::encode_request(&req), MAX_REQUEST_BYTES).await
    }
    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Response,
    ) -> io::Result<()> {
        write_frame(io, &proto_wire::encode_response(&res), MAX_RESPONSE_BYTES).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn oversized_and_trailing_frames_are_refused_before_allocation() {
        let mut codec = Codec;
        use libp2p::request_response::Codec as _;
        // A frame header claiming 100 MB: refused from the 4 length bytes alone.
        let mut claim: &[u8] = &(100_000_000u32).to_be_bytes();
        let err = codec.read_response(&SYNC_PROTOCOL, &mut claim).await.unwrap_err();
        assert!(err.to_string().contains("exceeds"), "{err}");
        // A valid value followed by a trailing byte inside the frame.
        let mut body = proto_wire::encode_response(&Response::Refused("x".into()));
        body.push(0);
        let f = frame(&body, MAX_RESPONSE_BYTES).unwrap();
        let err = codec.read_response(&SYNC_PROTOCOL, &mut f.as_slice()).await.unwrap_err();
        assert!(err.to_string().contains("unexpected bytes"), "{err}");
        // A truncated frame.
        let mut short: &[u8] = &[0, 0, 0, 10, 1, 2];
        assert!(codec.read_response(&SYNC_PROTOCOL, &mut short).await.is_err());
    }
}
