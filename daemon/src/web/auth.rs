//! Who may use the console: one-time login tokens, sessions and CSRF tokens.
//!
//! `trellis web` asks the daemon (over the local API socket, which only the node's user can
//! open) for a login token. The token is good for one login within [`LOGIN_TTL_MS`]; the node
//! keeps only its SHA-256 and compares hashes in constant time. A login turns it into a
//! session: a random id in an HttpOnly, SameSite=Strict cookie (the node keeps its hash too) and
//! a per-session CSRF token that every form carries and every POST must present. Sessions live
//! in memory: a restart of the daemon signs everyone out.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, RwLock};

use sha2::{Digest, Sha256};

use crate::home::{now_ms, random_bytes};

/// How long a login token is good for.
pub const LOGIN_TTL_MS: u64 = 5 * 60 * 1000;
/// Login tokens waiting at most; a new one beyond pushes out the oldest.
const MAX_PENDING_LOGINS: usize = 16;
/// A session ends after this long without a request.
pub const SESSION_IDLE_MS: u64 = 12 * 3600 * 1000;
/// Sessions at most; a new one beyond pushes out the least recently used.
const MAX_SESSIONS: usize = 64;

type Hash = [u8; 32];

fn digest(text: &str) -> Hash {
    Sha256::digest(text.as_bytes()).into()
}

/// Equality of two byte strings in time that depends only on their lengths.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 32 random bytes as lower-case base32 text (52 characters).
fn random_token() -> String {
    let raw: [u8; 32] = random_bytes();
    data_encoding::BASE32_NOPAD.encode(&raw).to_ascii_lowercase()
}

/// Where the console listens, once it does.
#[derive(Clone, Copy, Debug)]
pub struct Listening {
    pub addr: SocketAddr,
    pub tls: bool,
}

impl Listening {
    /// The console's base URL as a browser on this machine reaches it.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let host = match self.addr.ip() {
            std::net::IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
            std::net::IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_string(),
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        };
        format!("{scheme}://{host}:{}", self.addr.port())
    }
}

/// One signed-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    pub created_ms: u64,
    pub last_seen_ms: u64,
}

/// The console's sign-in state, held by the engine so the local API can issue login tokens.
#[derive(Debug)]
pub struct ConsoleAuth {
    listening: RwLock<Option<Listening>>,
    /// (hash of the token, expiry).
    logins: Mutex<Vec<(Hash, u64)>>,
    /// Hash of the session id → session.
    sessions: Mutex<HashMap<Hash, Session>>,
    /// Set when the node stops: open live streams end, so no connection outlives the node.
    stopping: tokio::sync::watch::Sender<bool>,
}

impl Default for ConsoleAuth {
    fn default() -> Self {
        ConsoleAuth {
            listening: RwLock::new(None),
            logins: Mutex::new(Vec::new()),
            sessions: Mutex::new(HashMap::new()),
            stopping: tokio::sync::watch::Sender::new(false),
        }
    }
}

impl ConsoleAuth {
    /// Tell open live streams that the node stops.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Resolves once the node stops.
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.stopping.subscribe();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }

    pub fn set_listening(&self, l: Option<Listening>) {
        if let Ok(mut w) = self.listening.write() {
            *w = l;
        }
    }

    pub fn listening(&self) -> Option<Listening> {
        self.listening.read().ok().and_then(|l| *l)
    }

    /// A new one-time login token and its expiry.
    pub fn issue_login(&self) -> (String, u64) {
        let token = random_token();
        let expires = now_ms() + LOGIN_TTL_MS;
        if let Ok(mut l) = self.logins.lock() {
            let now = now_ms();
            l.retain(|(_, exp)| *exp > now);
            if l.len() >= MAX_PENDING_LOGINS {
                l.remove(0);
            }
            l.push((digest(&token), expires));
        }
        (token, expires)
    }

    /// Use a login token: if it is pending and unexpired, it is spent and a session begins.
    /// Returns the session id (for the cookie). Every pending hash is compared, in constant time.
    pub fn login(&self, token: &str) -> Option<String> {
        let presented = digest(token.trim());
        let now = now_ms();
        let found = {
            let mut l = self.logins.lock().ok()?;
            let mut hit = None;
            for (i, (h, exp)) in l.iter().enumerate() {
                if ct_eq(h, &presented) && *exp > now {
                    hit = Some(i);
                }
            }
            if let Some(i) = hit {
                l.remove(i);
            }
            hit.is_some()
        };
        if !found {
            return None;
        }
        let id = random_token();
        let session = Session { csrf: random_token(), created_ms: now, last_seen_ms: now };
        let mut s = self.sessions.lock().ok()?;
        s.retain(|_, v| now.saturating_sub(v.last_seen_ms) < SESSION_IDLE_MS);
        if s.len() >= MAX_SESSIONS
            && let Some(oldest) = s.iter().min_by_key(|(_, v)| v.last_seen_ms).map(|(k, _)| *k)
        {
            s.remove(&oldest);
        }
        s.insert(digest(&id), session);
        Some(id)
    }

    /// The session of a cookie's id, if it is live; marks it used.
    pub fn session(&self, id: &str) -> Option<Session> {
        let key = digest(id);
        let now = now_ms();
        let mut s = self.sessions.lock().ok()?;
        let live = s.get(&key).is_some_and(|v| now.saturating_sub(v.last_seen_ms) < SESSION_IDLE_MS);
        if !live {
            s.remove(&key);
            return None;
        }
        let v = s.get_mut(&key)?;
        v.last_seen_ms = now;
        Some(v.clone())
    }

    /// End a session.
    pub fn logout(&self, id: &str) {
        if let Ok(mut s) = self.sessions.lock() {
            s.remove(&digest(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_token_is_good_once() {
        let a = ConsoleAuth::default();
        let (t, _) = a.issue_login();
        assert!(a.login("not the token").is_none());
        let id = a.login(&t).expect("first use");
        assert!(a.login(&t).is_none(), "second use");
        let s = a.session(&id).expect("session");
        assert_eq!(s.csrf.len(), 52);
        a.logout(&id);
        assert!(a.session(&id).is_none());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let a = ConsoleAuth::default();
        let (t, _) = a.issue_login();
        if let Ok(mut l) = a.logins.lock() {
            l[0].1 = now_ms() - 1;
        }
        assert!(a.login(&t).is_none());
    }

    #[test]
    fn constant_time_equality() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
