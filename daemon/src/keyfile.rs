//! Passphrase-sealed files (a protected `identity.key`, the identity backup): the format and
//! its checks live in the `trellis-home` crate, which `trellis` uses too.

pub use trellis_home::keyfile::*;
