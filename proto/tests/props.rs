//! Property tests of `trellis-proto`: encode/decode round trips of
//! every wire type, rejection of every single-byte mutation and truncation of a valid envelope,
//! no panic on arbitrary input, and the group log rules (order independence, concurrent
//! removals, rekeys that exclude removed members, readers that cannot publish). Case counts are
//! kept small so the whole suite runs in seconds in debug builds.

mod props {
    pub mod codec;
    pub mod envelope;
    pub mod group;
    pub mod hostile;
    pub mod lifecycle;
    pub mod strategies;
}
