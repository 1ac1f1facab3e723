//! PEP 440 ordering, the essentials: epochs, release segments of any length (trailing zeros do not
//! count), pre-releases (`a`, `b`, `rc` and their alternative spellings), post-releases (including
//! the implicit `1.0-1` form), dev releases, and local labels. Follows the canonical sort key of
//! the `packaging` library: `1.0.dev0 < 1.0a1.dev0 < 1.0a1 < 1.0a1.post1 < 1.0 < 1.0.post1.dev0 <
//! 1.0.post1 < 1.0+local`.

use std::cmp::Ordering;

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
enum Phase {
    // Order matters: a dev-only release sorts below all pre-releases of the same release, a
    // final release above them.
    DevOnly,
    Pre(u8, u64),
    Final,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum LocalPart {
    Text(String),
    Num(u64),
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    epoch: u64,
    release: Vec<u64>,
    phase: Phase,
    // None sorts first: no post-release is below any post-release.
    post: Option<u64>,
    // A missing dev segment sorts after any dev segment: map to (1, 0) vs (0, n).
    dev: (u8, u64),
    local: Vec<LocalPart>,
}

/// Split a letter run followed by an optional number (`rc1`, `.post-2`, `dev`).
fn take_word<'a>(s: &'a str, words: &[&'static str]) -> Option<(&'static str, Option<u64>, &'a str)> {
    let s2 = s.trim_start_matches(['.', '-', '_']);
    let word = words.iter().find(|w| s2.starts_with(**w))?;
    let rest = &s2[word.len()..];
    let rest2 = rest.trim_start_matches(['.', '-', '_']);
    let n = rest2.bytes().take_while(u8::is_ascii_digit).count();
    if n > 0 { Some((word, rest2[..n].parse().ok(), &rest2[n..])) } else { Some((word, None, rest)) }
}

fn key(text: &str) -> Option<Key> {
    let lower = text.trim().to_ascii_lowercase();
    let mut s = lower.strip_prefix('v').unwrap_or(&lower);
    let (main, local) = match s.split_once('+') {
        Some((m, l)) => (m, Some(l)),
        None => (s, None),
    };
    s = main;
    let mut epoch = 0;
    if let Some((e, rest)) = s.split_once('!') {
        epoch = e.parse().ok()?;
        s = rest;
    }
    let n = s.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
    let release_text = s[..n].trim_end_matches('.');
    let mut rest = &s[release_text.len()..];
    let mut release: Vec<u64> = release_text.split('.').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    while release.len() > 1 && release.last() == Some(&0) {
        release.pop();
    }
    let mut pre = None;
    // Longest spellings first so `preview` is not read as `pre` + `view`.
    if let Some((w, num, r)) = take_word(rest, &["alpha", "beta", "preview", "pre", "rc", "a", "b", "c"]) {
        let rank = match w {
            "alpha" | "a" => 0,
            "beta" | "b" => 1,
            _ => 2,
        };
        pre = Some((rank, num.unwrap_or(0)));
        rest = r;
    }
    let mut post = None;
    if let Some((_, num, r)) = take_word(rest, &["post", "rev", "r"]) {
        post = Some(num.unwrap_or(0));
        rest = r;
    } else if let Some(r) = rest.strip_prefix('-') {
        // The implicit post-release `1.0-1`.
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n > 0 {
            post = r[..n].parse().ok();
            rest = &r[n..];
        }
    }
    let mut dev = None;
    if let Some((_, num, r)) = take_word(rest, &["dev"]) {
        dev = Some(num.unwrap_or(0));
        rest = r;
    }
    if !rest.is_empty() {
        return None;
    }
    let phase = match (pre, post, dev) {
        (Some((rank, n)), _, _) => Phase::Pre(rank, n),
        (None, None, Some(_)) => Phase::DevOnly,
        _ => Phase::Final,
    };
    let local = local
        .map(|l| {
            l.split(['.', '-', '_'])
                .map(|p| p.parse().map_or_else(|_| LocalPart::Text(p.to_string()), LocalPart::Num))
                .collect()
        })
        .unwrap_or_default();
    Some(Key { epoch, release, phase, post, dev: dev.map_or((1, 0), |d| (0, d)), local })
}

/// Compare two PEP 440 versions; text that is not PEP 440 falls back to the generic ordering.
pub fn compare(a: &str, b: &str) -> Ordering {
    match (key(a), key(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => super::compare_generic(a, b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn the_canonical_chain() {
        let chain = [
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0+abc.7",
            "1.0+5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.0.15",
            "1.1.dev1",
            "1!0.1",
        ];
        for w in chain.windows(2) {
            assert_eq!(compare(w[0], w[1]), Less, "{} < {}", w[0], w[1]);
            assert_eq!(compare(w[1], w[0]), Greater, "{} > {}", w[1], w[0]);
        }
    }

    #[test]
    fn normalized_spellings_are_equal() {
        for (a, b) in [
            ("1.0", "1.0.0"),
            ("1.0", "v1.0"),
            ("1.0a1", "1.0-alpha.1"),
            ("1.0b2", "1.0.beta2"),
            ("1.0rc1", "1.0c1"),
            ("1.0rc1", "1.0-preview-1"),
            ("1.0.post1", "1.0-1"),
            ("1.0.post1", "1.0.rev1"),
            ("1.0.dev0", "1.0-dev"),
            ("1.0RC1", "1.0rc1"),
        ] {
            assert_eq!(compare(a, b), Equal, "{a} == {b}");
        }
    }
}
