//! `trellis-api`: the local API of a Trellis node — HTTP+JSON over a unix socket (mode 0600)
//! in the node's home, versioned routes under `/v1`, events as a newline-delimited JSON stream.
//!
//! This crate holds what both sides share: the request and reply [`types`] (with real enums for
//! labels, roles and kinds), a typed [`client`] with one method per endpoint, and the home
//! [`paths`], and what both need to check input alike ([`feeds`], [`names`], [`views`]). `trellisd` serves the API; `trellis` and the tests call it. It depends on
//! `trellis-proto` for the enums and on hyper for the transport, and on nothing of the node.

pub mod client;
pub mod feeds;
pub mod names;
pub mod paths;
pub mod types;
pub mod views;
