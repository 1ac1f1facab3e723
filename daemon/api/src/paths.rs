//! Where a node's home is and what the API client needs from it: the daemon and the CLI resolve
//! the home the same way, so `trellis` always talks to the `trellisd` of the same home.
//!
//! Resolution order: `--home` flag, then `TRELLIS_HOME`, then `$XDG_DATA_HOME/trellis`, then
//! `$HOME/.local/share/trellis`.

use std::path::{Path, PathBuf};

/// The org identity file: its presence is what makes a directory a Trellis home.
pub const IDENTITY_FILE: &str = "identity.key";
/// The local API socket (mode 0600).
pub const SOCKET_FILE: &str = "trellisd.sock";

/// The default home when neither a flag nor `TRELLIS_HOME` is given.
pub fn default_home() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("trellis");
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(h) => PathBuf::from(h).join(".local/share/trellis"),
        None => PathBuf::from(".trellis"),
    }
}

/// Pick the home: flag, else `TRELLIS_HOME`, else [`default_home`].
pub fn resolve_home(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    match std::env::var_os("TRELLIS_HOME").filter(|v| !v.is_empty()) {
        Some(h) => PathBuf::from(h),
        None => default_home(),
    }
}

/// Path of the API socket in `home`.
pub fn socket_path(home: &Path) -> PathBuf {
    home.join(SOCKET_FILE)
}
