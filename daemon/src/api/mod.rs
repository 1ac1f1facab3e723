//! The local API: HTTP+JSON over a unix socket (mode 0600) in the node's home, versioned
//! routes under `/v1`, events as a newline-delimited JSON stream.

pub mod client;
pub mod server;
pub mod types;
