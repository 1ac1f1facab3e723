//! `trellis-home`: a Trellis node's home directory as both programs use it, without the node.
//!
//! - [`home`]: the home's files and lock, and the organization [`home::Identity`] in
//!   `identity.key`, in clear or sealed with a passphrase.
//! - [`keyfile`]: the passphrase-sealed file format (argon2id and XChaCha20-Poly1305) and where
//!   a passphrase comes from.
//! - [`backup`]: the identity backup's format, and the restore `trellis keys import` prepares
//!   for `trellisd` to apply to its store.
//!
//! `trellisd` (through `trellis_daemon::home`, `keyfile` and `backup`) and `trellis` both use
//! it; it has no networking and does not open the node's store, so the CLI links neither libp2p
//! nor redb.

pub mod backup;
pub mod home;
pub mod keyfile;

pub use home::now_ms;
