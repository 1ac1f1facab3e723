//! Maven's ComparableVersion, the essentials: items split on `.`, `-` and digit/letter
//! transitions; numbers compare numerically; the well-known qualifiers order `alpha < beta <
//! milestone < rc < snapshot < "" (release, ga, final) < sp`; unknown qualifiers come after `sp`,
//! alphabetically; trailing zeros and release qualifiers do not count (`1.0 == 1 == 1-ga`).
//! Maven nests lists after each `-`; this flat form gives the same answers on the versions
//! advisories use and is documented where it would not (`1-1` vs `1.1`, both read as `1.1`).

use std::cmp::Ordering;

#[derive(Debug, PartialEq, Eq, Clone)]
enum Item {
    Num(u64),
    Qual(u8, String),
}

const RELEASE: u8 = 5;

fn qualifier_rank(q: &str, followed_by_digit: bool) -> (u8, String) {
    let q = match q {
        // `a1`, `b2`, `m3` are aliases only when a number follows.
        "a" if followed_by_digit => "alpha",
        "b" if followed_by_digit => "beta",
        "m" if followed_by_digit => "milestone",
        "cr" => "rc",
        "ga" | "final" | "release" => "",
        other => other,
    };
    let rank = match q {
        "alpha" => 0,
        "beta" => 1,
        "milestone" => 2,
        "rc" => 3,
        "snapshot" => 4,
        "" => RELEASE,
        "sp" => 6,
        _ => 7,
    };
    (rank, if rank == 7 { q.to_string() } else { String::new() })
}

fn items(text: &str) -> Vec<Item> {
    let s = text.trim().to_ascii_lowercase();
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if matches!(b[i], b'.' | b'-' | b'_') {
            i += 1;
            continue;
        }
        let digit = b[i].is_ascii_digit();
        let start = i;
        while i < b.len() && !matches!(b[i], b'.' | b'-' | b'_') && b[i].is_ascii_digit() == digit {
            i += 1;
        }
        let part = &s[start..i];
        if digit {
            out.push(part.parse().map_or(Item::Qual(7, part.to_string()), Item::Num));
        } else {
            let next_digit = b.get(i).is_some_and(u8::is_ascii_digit);
            let (rank, name) = qualifier_rank(part, next_digit);
            // Maven normalizes each list before a qualifier: `2.0.0-beta9` is `2-beta9`.
            while out.last() == Some(&Item::Num(0)) {
                out.pop();
            }
            out.push(Item::Qual(rank, name));
        }
    }
    // Trailing "nothing" items: zeros and release qualifiers.
    while matches!(out.last(), Some(Item::Num(0)) | Some(Item::Qual(RELEASE, _))) {
        out.pop();
    }
    out
}

fn cmp_item(a: Option<&Item>, b: Option<&Item>) -> Ordering {
    use Item::*;
    match (a, b) {
        (None, None) => Ordering::Equal,
        // A missing item is 0 against a number and a release against a qualifier.
        (None, Some(Num(n))) => 0.cmp(n),
        (None, Some(q)) => cmp_item(Some(&Qual(RELEASE, String::new())), Some(q)),
        (Some(_), None) => cmp_item(b, a).reverse(),
        (Some(Num(x)), Some(Num(y))) => x.cmp(y),
        (Some(Num(_)), Some(Qual(..))) => Ordering::Greater,
        (Some(Qual(..)), Some(Num(_))) => Ordering::Less,
        (Some(Qual(r1, n1)), Some(Qual(r2, n2))) => r1.cmp(r2).then_with(|| n1.cmp(n2)),
    }
}

/// Compare two Maven versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (x, y) = (items(a), items(b));
    for i in 0..x.len().max(y.len()) {
        let o = cmp_item(x.get(i), y.get(i));
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn qualifier_order() {
        let chain = [
            "1.0-alpha-1",
            "1.0-alpha-2",
            "1.0-beta",
            "1.0-milestone-1",
            "1.0-rc1",
            "1.0-SNAPSHOT",
            "1.0",
            "1.0-sp1",
            "1.0-xyz",
            "1.0.1",
            "1.1",
            "2.14.1",
            "2.15.0",
            "10.0",
        ];
        for w in chain.windows(2) {
            assert_eq!(compare(w[0], w[1]), Less, "{} < {}", w[0], w[1]);
            assert_eq!(compare(w[1], w[0]), Greater, "{} > {}", w[1], w[0]);
        }
    }

    #[test]
    fn equivalent_spellings() {
        for (a, b) in [
            ("1", "1.0.0"),
            ("1.0", "1-ga"),
            ("1.0", "1.0.FINAL"),
            ("1.0-a1", "1.0-alpha-1"),
            ("1.0-cr1", "1.0-rc-1"),
            ("1.0-m2", "1.0-milestone2"),
        ] {
            assert_eq!(compare(a, b), Equal, "{a} == {b}");
        }
        assert_eq!(compare("2.0.0-beta9", "2.0.0-beta10"), Less);
        assert_eq!(compare("2.0-beta9", "2.0"), Less);
        assert_eq!(compare("2.0.0-beta9", "2.0-beta9"), Equal);
        assert_eq!(compare("1.0.0.RELEASE", "1"), Equal);
    }
}
