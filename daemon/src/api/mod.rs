//! The local API: HTTP+JSON over a unix socket (mode 0600) in the node's home, versioned
//! routes under `/v1`, events as a newline-delimited JSON stream.

pub mod server;

/// The API's types and client live in the `trellis-api` crate, so the CLI links neither libp2p
/// nor redb; the daemon serves them.
pub use trellis_api::{client, types};
