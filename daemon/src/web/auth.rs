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
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};

use sha2::{Digest, Sha256};

use crate::clock::{Clock, Rng};

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
fn random_token(rng: &Rng) -> String {
    let raw: [u8; 32] = rng.bytes();
    data_encoding::BASE32_NOPAD.encode(&raw).to_ascii_lowercase()
}

fn recover<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
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
///
/// Private locks with short methods. A poisoned lock is recovered
/// ([`PoisonError::into_inner`]): every change is one push, retain, insert or remove on one
/// list or map, so a panic cannot leave a token or session half-made.
#[derive(Debug)]
pub struct ConsoleAuth {
    clock: Clock,
    rng: Rng,
    listening: RwLock<Option<Listening>>,
    /// (hash of the token, expiry).
    logins: Mutex<Vec<(Hash, u64)>>,
    /// Hash of the session id → session.
    sessions: Mutex<HashMap<Hash, Session>>,
    /// Set when the node stops: open live streams end, so no connection outlives the node.
    stopping: tokio::sync::watch::Sender<bool>,
}

impl ConsoleAuth {
    /// Sign-in state that reads time from `clock` and draws tokens from `rng`.
    pub fn new(clock: Clock, rng: Rng) -> Self {
        ConsoleAuth {
            clock,
            rng,
            listening: RwLock::new(None),
            logins: Mutex::new(Vec::new()),
            sessions: Mutex::new(HashMap::new()),
            stopping: tokio::sync::watch::Sender::new(false),
        }
    }

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
        *self.listening.write().unwrap_or_else(PoisonError::into_inner) = l;
    }

    pub fn listening(&self) -> Option<Listening> {
        *self.listening.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new one-time login token and its expiry.
    pub fn issue_login(&self) -> (String, u64) {
        let token = random_token(&self.rng);
        let now = self.clock.now_ms();
        let expires = now + LOGIN_TTL_MS;
        let mut l = recover(&self.logins);
        l.retain(|(_, exp)| *exp > now);
        if l.len() >= MAX_PENDING_LOGINS {
            l.remove(0);
        }
        l.push((digest(&token), expires));
        (token, expires)
    }

    /// Use a login token: if it is pending and unexpired, it is spent and a session begins.
    /// Returns the session id (for the cookie). Every pending hash is compared, in constant time.
    pub fn login(&self, token: &str) -> Option<String> {
        let presented = digest(token.trim());
        let now = self.clock.now_ms();
        let found = {
            let mut l = recover(&self.logins);
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
        let id = random_token(&self.rng);
        let session = Session { csrf: random_token(&self.rng), created_ms: now, last_seen_ms: now };
        let mut s = recover(&self.sessions);
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
        let now = self.clock.now_ms();
        let mut s = recover(&self.sessions);
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
        recover(&self.sessions).remove(&digest(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> (ConsoleAuth, crate::clock::TestClock) {
        let t = crate::clock::TestClock::new(1_700_000_000_000);
        (ConsoleAuth::new(t.clock(), Rng::seeded(1)), t)
    }

    #[test]
    fn a_login_token_is_good_once() {
        let (a, _) = auth();
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
        let (a, clock) = auth();
        let (t, expires) = a.issue_login();
        assert_eq!(expires, 1_700_000_000_000 + LOGIN_TTL_MS);
        clock.advance(std::time::Duration::from_millis(LOGIN_TTL_MS));
        assert!(a.login(&t).is_none(), "a token at its expiry is refused");
        let (t2, _) = a.issue_login();
        clock.advance(std::time::Duration::from_millis(LOGIN_TTL_MS - 1));
        assert!(a.login(&t2).is_some(), "a token just before its expiry is good");
    }

    #[test]
    fn an_idle_session_ends() {
        let (a, clock) = auth();
        let (t, _) = a.issue_login();
        let id = a.login(&t).expect("login");
        clock.advance(std::time::Duration::from_millis(SESSION_IDLE_MS - 1));
        assert!(a.session(&id).is_some(), "used just before it idles out, and so kept alive");
        clock.advance(std::time::Duration::from_millis(SESSION_IDLE_MS - 1));
        assert!(a.session(&id).is_some(), "idle time counts from the last use");
        clock.advance(std::time::Duration::from_millis(SESSION_IDLE_MS));
        assert!(a.session(&id).is_none(), "idle for the whole period: signed out");
    }

    #[test]
    fn constant_time_equality() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
