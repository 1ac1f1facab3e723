//! `trellis-daemon`: the Trellis node as a library, with a thin `trellisd` binary.
pub mod api;
pub mod home;
