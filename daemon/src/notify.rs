//! systemd readiness notification (`sd_notify(3)`) without libsystemd: when the service
//! manager started us with `Type=notify`, it put the path of a datagram socket in
//! `NOTIFY_SOCKET`; we send it `READY=1` once the node listens and serves its API, and
//! `STOPPING=1` when shutdown begins. Without `NOTIFY_SOCKET` (a terminal, a test, Docker) every
//! function here does nothing.
//!
//! The protocol is newline-separated `KEY=VALUE` assignments in one datagram. The address is an
//! absolute path, or an abstract socket name written with a leading `@` (Linux). Failing to
//! notify is logged, never fatal: the node works the same, and with `Type=notify` systemd will
//! report the start timeout itself.

use std::ffi::OsStr;
use std::os::unix::net::UnixDatagram;

/// The environment variable systemd sets for `Type=notify` services.
pub const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";

/// Why a notification could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("NOTIFY_SOCKET={0:?} is neither an absolute path nor an abstract name starting with '@'")]
    UnsupportedAddress(String),
    #[error("cannot send to the notify socket {addr}: {source}")]
    Io { addr: String, source: std::io::Error },
}

/// Tell the service manager the node is ready; `status` is shown by `systemctl status`.
pub fn ready(status: &str) {
    notify_env(&format!("READY=1\nSTATUS={}", one_line(status)));
}

/// Tell the service manager the node is shutting down.
pub fn stopping() {
    notify_env("STOPPING=1\nSTATUS=shutting down");
}

/// Send `state` to `$NOTIFY_SOCKET` if it is set; log (never fail) otherwise.
fn notify_env(state: &str) {
    let Some(addr) = std::env::var_os(NOTIFY_SOCKET_ENV).filter(|a| !a.is_empty()) else {
        return;
    };
    match send(&addr, state) {
        Ok(()) => {
            tracing::debug!(state = %state.replace('\n', " "), "notified the service manager")
        }
        Err(e) => tracing::warn!(error = %e, "service manager notification failed"),
    }
}

/// Send one notification datagram `state` to the socket `addr` (a `NOTIFY_SOCKET` value).
pub fn send(addr: &OsStr, state: &str) -> Result<(), NotifyError> {
    let shown = addr.to_string_lossy().into_owned();
    let io = |source| NotifyError::Io { addr: shown.clone(), source };
    let socket = UnixDatagram::unbound().map_err(io)?;
    let bytes = addr.as_encoded_bytes();
    let sent = match bytes.first() {
        Some(b'/') => socket.send_to(state.as_bytes(), addr),
        #[cfg(any(target_os = "linux", target_os = "android"))]
        Some(b'@') => {
            #[cfg(target_os = "android")]
            use std::os::android::net::SocketAddrExt;
            #[cfg(target_os = "linux")]
            use std::os::linux::net::SocketAddrExt;
            let name = std::os::unix::net::SocketAddr::from_abstract_name(&bytes[1..]).map_err(io)?;
            socket.send_to_addr(state.as_bytes(), &name)
        }
        _ => return Err(NotifyError::UnsupportedAddress(shown)),
    };
    let n = sent.map_err(io)?;
    if n != state.len() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::WriteZero,
            format!("sent {n} of {} bytes", state.len()),
        )));
    }
    Ok(())
}

/// A status must stay one assignment: a newline in it would start another `KEY=VALUE`.
fn one_line(status: &str) -> String {
    status.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn receive(sock: &UnixDatagram) -> String {
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn sends_one_datagram_to_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        let state = format!("READY=1\nSTATUS={}", one_line("ready\npeer=x"));
        send(path.as_os_str(), &state).unwrap();
        assert_eq!(receive(&server), "READY=1\nSTATUS=ready peer=x");
        send(path.as_os_str(), "STOPPING=1").unwrap();
        assert_eq!(receive(&server), "STOPPING=1");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sends_to_an_abstract_socket_named_with_at() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("trellis-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        send(OsStr::new(&format!("@{name}")), "READY=1").unwrap();
        assert_eq!(receive(&server), "READY=1");
    }

    #[test]
    fn rejects_relative_and_other_addresses() {
        for bad in ["notify.sock", "vsock:2:1234"] {
            assert!(matches!(send(OsStr::new(bad), "READY=1"), Err(NotifyError::UnsupportedAddress(_))));
        }
    }

    #[test]
    fn a_missing_socket_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("gone.sock");
        assert!(matches!(send(missing.as_os_str(), "READY=1"), Err(NotifyError::Io { .. })));
    }
}
