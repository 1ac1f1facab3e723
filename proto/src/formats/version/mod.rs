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

/// Longest version text accepted in a range a user writes.
pub const MAX_VERSION_LEN: usize = 128;

/// Check one version as a user writes it in a range: not empty, at most
/// [`MAX_VERSION_LEN`] characters of `A-Z a-z 0-9 . + ~ : _ -`, with at least one digit.
pub fn check_version(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err("a version is missing after the operator".into());
    }
    if v.len() > MAX_VERSION_LEN {
        return Err(format!("a version is at most {MAX_VERSION_LEN} characters"));
    }
    if let Some(c) = v.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~' | ':' | '_' | '-')))
    {
        return Err(format!("{v:?} is not a version: {c:?} cannot appear in one"));
    }
    if !v.bytes().any(|b| b.is_ascii_digit()) {
        return Err(format!("{v:?} is not a version: it has no digit"));
    }
    Ok(())
}

/// A range as a user writes it after `PURL@`, checked and turned into OSV-style events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedRange {
    /// Intervals in order: (first affected version, or "0" for "from the start"; upper bound,
    /// `Some((version, inclusive))`, or `None` for "and every later version").
    pub intervals: Vec<(String, Option<(String, bool)>)>,
    /// Single affected versions (`1.2.3` or `=1.2.3`).
    pub exact: Vec<String>,
}

/// Parse a comma-separated list of constraints: `>=A` opens an interval, `<B` or `<=B` closes
/// it (an interval may start with `<B`, meaning from the first version), `A` or `=A` is one
/// version. The intervals must each be non-empty and follow one another in ascending order
/// under `scheme`; an empty or impossible range is refused with the reason.
pub fn parse_range(scheme: Scheme, text: &str) -> Result<ParsedRange, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(
            "the range after @ is empty: give a range such as <4.17.21 or >=1.0,<1.2, or leave out the @".into()
        );
    }
    let mut out = ParsedRange::default();
    let mut lower: Option<String> = None;
    let mut last_upper: Option<(String, bool)> = None;
    for part in text.split(',').map(str::trim) {
        if part.is_empty() {
            return Err(format!("{text:?} has an empty constraint (a stray comma?)"));
        }
        if let Some(v) = part.strip_prefix(">=") {
            let v = v.trim();
            check_version(v)?;
            if let Some(prev) = &lower {
                return Err(format!(">={prev} and >={v} both open an interval: close the first with <VERSION"));
            }
            if let Some((u, inclusive)) = &last_upper {
                let ord = scheme.compare(v, u);
                if ord == Ordering::Less || (*inclusive && ord == Ordering::Equal) {
                    return Err(format!(">={v} starts inside the interval before it, which ends at {u}"));
                }
            }
            lower = Some(v.to_string());
        } else if let Some((v, inclusive)) =
            part.strip_prefix("<=").map(|v| (v, true)).or_else(|| part.strip_prefix('<').map(|v| (v, false)))
        {
            let v = v.trim();
            check_version(v)?;
            let start = match lower.take() {
                Some(l) => {
                    let ord = scheme.compare(&l, v);
                    if ord == Ordering::Greater || (!inclusive && ord == Ordering::Equal) {
                        let op = if inclusive { "<=" } else { "<" };
                        return Err(format!(">={l},{op}{v} is empty: no version is both >={l} and {op}{v}"));
                    }
                    l
                }
                None if out.intervals.is_empty() => "0".to_string(),
                None => {
                    return Err(format!("<{v} follows another interval: start this one with >=VERSION"));
                }
            };
            out.intervals.push((start, Some((v.to_string(), inclusive))));
            last_upper = Some((v.to_string(), inclusive));
        } else if part.starts_with('>') {
            return Err(format!("{part:?}: use >= for the first affected version"));
        } else {
            let v = part.strip_prefix('=').unwrap_or(part).trim();
            check_version(v)?;
            out.exact.push(v.to_string());
        }
    }
    if let Some(l) = lower {
        out.intervals.push((l, None));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ranges_parse_into_ordered_intervals() {
        let r = parse_range(Scheme::Semver, ">=1.0.0,<1.2.3").unwrap();
        assert_eq!(r.intervals, vec![("1.0.0".to_string(), Some(("1.2.3".to_string(), false)))]);
        let r = parse_range(Scheme::Semver, "<4.17.21").unwrap();
        assert_eq!(r.intervals, vec![("0".to_string(), Some(("4.17.21".to_string(), false)))]);
        let r = parse_range(Scheme::Semver, ">=1.0.0,<1.5.0,>=2.0.0,<=2.3.0,>=3.0.0").unwrap();
        assert_eq!(r.intervals.len(), 3);
        assert_eq!(r.intervals[2], ("3.0.0".to_string(), None));
        assert_eq!(parse_range(Scheme::Pep440, "1.0, =2.0").unwrap().exact, vec!["1.0", "2.0"]);
    }

    #[test]
    fn empty_impossible_and_malformed_ranges_are_refused() {
        for (text, why) in [
            ("", "empty"),
            (">=5,<1", "is empty"),
            (">=1.0,<1.0", "is empty"),
            ("<<1", "cannot appear"),
            ("banana", "no digit"),
            (">1", "use >="),
            (">=1,>=2", "both open"),
            ("<1,<2", "follows another interval"),
            (">=1,<3,>=2,<4", "starts inside"),
            ("1.0,,2.0", "stray comma"),
            (">=", "missing"),
            ("1 0", "cannot appear"),
        ] {
            let e = parse_range(Scheme::Semver, text).unwrap_err();
            assert!(e.contains(why), "{text:?}: {e}");
        }
        assert!(parse_range(Scheme::Semver, ">=1.0,<=1.0").is_ok());
    }

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
