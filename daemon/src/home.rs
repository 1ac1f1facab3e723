//! The node's home directory (§ "Embedded default" in the README): identity, node key, config,
//! store and socket, all in one directory of mode 0700 with key files of mode 0600.
//!
//! What `trellis` needs too (the identity, the home's lock, secret files) lives in the
//! `trellis-home` crate and is re-exported here; the node's libp2p key is the daemon's own.

use std::path::Path;

pub use trellis_home::home::*;

/// Load the node's libp2p key from `home`, creating it on first use.
pub fn load_or_create_node_key(home: &Path) -> Result<libp2p::identity::Keypair, HomeError> {
    let path = home.join(NODE_KEY_FILE);
    if path.exists() {
        let bytes = read_secret_file(&path)?;
        return libp2p::identity::Keypair::from_protobuf_encoding(&bytes)
            .map_err(|e| HomeError::Corrupt { path: path.display().to_string(), why: e.to_string() });
    }
    let kp = libp2p::identity::Keypair::generate_ed25519();
    let bytes = kp
        .to_protobuf_encoding()
        .map_err(|e| HomeError::Corrupt { path: path.display().to_string(), why: e.to_string() })?;
    write_secret_file(&path, &bytes)?;
    Ok(kp)
}
