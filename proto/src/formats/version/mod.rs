//! Version orderings, one per ecosystem, because "is 1.0.0-rc2 before 1.0.0?" has a different
//! answer in npm, PyPI and Maven. Every ordering is total and never fails: text an ecosystem's
//! grammar rejects falls back to the generic ordering, so a malformed version in an advisory
//! can make a match imprecise but can never make the matcher panic or stop.

use std::cmp::Ordering;

mod maven;
mod pep440;

pub use maven::compare as compare_maven;
pub use pep440::compare as compare_pep440;

/// How versions of a package compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Semantic Versioning 2.0 (npm and Cargo use it too), leading `v` tolerated.
    Semver,
    /// Go modules: semver with a `v` prefix; pseudo-versions order as the prereleases they are.
    Go,
    /// PEP 440 (PyPI).
    Pep440,
    /// Maven's ComparableVersion.
    Maven,
    /// Anything else: dot/dash separated, numbers compared as numbers.
    Generic,
}

impl Scheme {
    /// The ordering for a purl type.
    pub fn for_purl_type(kind: &str) -> Scheme {
        match kind {
            "npm" | "cargo" => Scheme::Semver,
            "golang" => Scheme::Go,
            "pypi" => Scheme::Pep440,
            "maven" => Scheme::Maven,
            _ => Scheme::Generic,
        }
    }

    /// The ordering for an OSV ecosystem name.
    pub fn for_ecosystem(ecosystem: &str) -> Scheme {
        crate::formats::ident::purl_type_for_ecosystem(ecosystem).map_or(Scheme::Generic, Scheme::for_purl_type)
    }

    pub fn compare(self, a: &str, b: &str) -> Ordering {
        match self {
            Scheme::Semver | Scheme::Go => match (Semver::parse(a), Semver::parse(b)) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => compare_generic(a, b),
            },
            Scheme::Pep440 => compare_pep440(a, b),
            Scheme::Maven => compare_maven(a, b),
            Scheme::Generic => compare_generic(a, b),
        }
    }
}

/// A parsed semantic version. Build metadata is dropped: it never affects precedence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Semver {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: Vec<PreId>,
}

/// One dot-separated prerelease identifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PreId {
    Num(u64),
    Alpha(String),
}

impl Ord for PreId {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PreId::Num(a), PreId::Num(b)) => a.cmp(b),
            // Numeric identifiers have lower precedence than alphanumeric ones (semver §11.4.3).
            (PreId::Num(_), PreId::Alpha(_)) => Ordering::Less,
            (PreId::Alpha(_), PreId::Num(_)) => Ordering::Greater,
            (PreId::Alpha(a), PreId::Alpha(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for PreId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Semver {
    /// Parse `1.2.3`, `v1.2.3-rc.1+build`, and the short forms `1`, `1.2` (missing parts are 0;
    /// advisories write them). Go's `+incompatible` is build metadata and so ignored.
    pub fn parse(text: &str) -> Option<Semver> {
        let t = text.trim();
        let t = t.strip_prefix(['v', 'V']).unwrap_or(t);
        let t = t.split('+').next().unwrap_or("");
        let (core, pre) = match t.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (t, None),
        };
        let mut nums = core.split('.');
        let mut next = |required: bool| -> Option<u64> {
            match nums.next() {
                None if !required => Some(0),
                Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => n.parse().ok(),
                _ => None,
            }
        };
        let (major, minor, patch) = (next(true)?, next(false)?, next(false)?);
        if nums.next().is_some() {
            return None;
        }
        let pre = match pre {
            None => Vec::new(),
            Some(p) => p
                .split('.')
                .map(|id| {
                    if id.is_empty() {
                        None
                    } else if id.bytes().all(|b| b.is_ascii_digit()) {
                        id.parse().ok().map(PreId::Num)
                    } else {
                        Some(PreId::Alpha(id.to_string()))
                    }
                })
                .collect::<Option<Vec<_>>>()?,
        };
        Some(Semver { major, minor, patch, pre })
    }
}

impl Ord for Semver {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch).cmp(&(other.major, other.minor, other.patch)).then_with(|| {
            match (self.pre.is_empty(), other.pre.is_empty()) {
                // A release ranks above its prereleases (semver §11.3).
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            }
        })
    }
}

impl PartialOrd for Semver {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Token<'a> {
    // Derived order: text sorts below numbers ("1.0.rc1" < "1.0.1"), numbers numerically.
    Text(&'a str),
    Num(u64),
}

fn generic_tokens(s: &str) -> Vec<Token<'_>> {
    let s = s.trim();
    let s = s.strip_prefix(['v', 'V']).filter(|r| r.starts_with(|c: char| c.is_ascii_digit())).unwrap_or(s);
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let digit = b[i].is_ascii_digit();
        let start = i;
        while i < b.len() && b[i].is_ascii_alphanumeric() && b[i].is_ascii_digit() == digit {
            i += 1;
        }
        let part = &s[start..i];
        out.push(if digit {
            // Numbers too long for u64 compare as text; equal-length digit strings still order.
            part.parse().map_or(Token::Text(part), Token::Num)
        } else {
            Token::Text(part)
        });
    }
    while out.last() == Some(&Token::Num(0)) {
        out.pop();
    }
    out
}

/// The fallback ordering: split on anything that is not a letter or digit and on letter/digit
/// boundaries, compare numbers numerically and words case-insensitively; trailing zeros do not
/// count (`1.0` equals `1`).
pub fn compare_generic(a: &str, b: &str) -> Ordering {
    let (la, lb) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
    generic_tokens(&la).cmp(&generic_tokens(&lb))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    fn ascending(scheme: Scheme, list: &[&str]) {
        for w in list.windows(2) {
            assert_eq!(scheme.compare(w[0], w[1]), Less, "{scheme:?}: {} < {}", w[0], w[1]);
            assert_eq!(scheme.compare(w[1], w[0]), Greater, "{scheme:?}: {} > {}", w[1], w[0]);
        }
    }

    #[test]
    fn semver_precedence_from_the_spec() {
        // The example chain of semver 2.0 §11.4.
        ascending(
            Scheme::Semver,
            &[
                "1.0.0-alpha",
                "1.0.0-alpha.1",
                "1.0.0-alpha.beta",
                "1.0.0-beta",
                "1.0.0-beta.2",
                "1.0.0-beta.11",
                "1.0.0-rc.1",
                "1.0.0",
                "1.0.1",
                "1.2.0",
                "1.10.0",
                "2.0.0",
            ],
        );
        assert_eq!(Scheme::Semver.compare("1.0.0+build.5", "1.0.0"), Equal);
        assert_eq!(Scheme::Semver.compare("v1.4.1", "1.4.1"), Equal);
        assert_eq!(Scheme::Semver.compare("1.4", "1.4.0"), Equal);
        assert!(Semver::parse("1.2.3.4").is_none());
        assert!(Semver::parse("1..2").is_none());
    }

    #[test]
    fn go_pseudo_versions_order_as_prereleases() {
        ascending(
            Scheme::Go,
            &[
                "v0.0.0-20190101000000-aaaaaaaaaaaa",
                "v0.0.0-20191109021931-daa7c04131f5",
                "v0.1.0",
                "v1.2.3",
                // vX.Y.(Z+1)-0.timestamp-hash: after v1.2.3, before v1.2.4.
                "v1.2.4-0.20200101000000-bbbbbbbbbbbb",
                "v1.2.4-0.20210101000000-aaaaaaaaaaaa",
                "v1.2.4-pre",
                "v1.2.4",
                "v2.0.0+incompatible",
                "v2.0.1",
            ],
        );
    }

    #[test]
    fn generic_fallback() {
        ascending(Scheme::Generic, &["1.0", "1.0.1", "1.2", "9.1.5", "9.1.5u", "9.1.6", "10"]);
        assert_eq!(compare_generic("1.0.rc1", "1.0.1"), Less);
        assert_eq!(compare_generic("1.0.0", "1"), Equal);
        assert_eq!(compare_generic("V2.1", "2.1"), Equal);
        assert_eq!(compare_generic("", ""), Equal);
        // Semver falls back to generic on text it cannot parse.
        assert_eq!(Scheme::Semver.compare("1.0.0.1", "1.0.0.2"), Less);
    }

    #[test]
    fn schemes_by_name() {
        assert_eq!(Scheme::for_ecosystem("Go"), Scheme::Go);
        assert_eq!(Scheme::for_ecosystem("PyPI"), Scheme::Pep440);
        assert_eq!(Scheme::for_ecosystem("crates.io"), Scheme::Semver);
        assert_eq!(Scheme::for_ecosystem("Debian:12"), Scheme::Generic);
        assert_eq!(Scheme::for_purl_type("maven"), Scheme::Maven);
    }
}
