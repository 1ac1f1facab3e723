//! Maven's `ComparableVersion` (maven-artifact 3.8), the order Maven itself gives versions.
//!
//! A version is parsed into nested lists: `.` separates items of one list, `-` (and a change
//! between digits and letters) opens a sub-list for what follows. Numbers compare numerically;
//! the well-known qualifiers order `alpha < beta < milestone < rc < snapshot < "" (release, ga,
//! final) < sp`, unknown qualifiers come after `sp` in alphabetical order; `a1`, `b1`, `m1` are
//! `alpha-1`, `beta-1`, `milestone-1`; trailing zeros and release qualifiers of each list do not
//! count (`1.0 == 1 == 1-ga`). Against a list, a number is greater and a qualifier smaller:
//! `2.beta.2 < 2-alpha-1`, as Maven says. `proto/tests/fixtures/maven-order.tsv` holds pairs with
//! the answers Maven 3.8.7 gave for them, and the tests check every one.

use std::cmp::Ordering;

#[derive(Debug, PartialEq, Eq, Clone)]
enum Item {
    /// A number, as its digits without leading zeros (so any length compares right).
    Int(String),
    /// A qualifier, as its comparable form: `"0"`..`"6"` for the known ones, `"7-name"` else.
    Str(String),
    List(Vec<Item>),
}

const QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];
/// The comparable form of the release qualifier `""`.
const RELEASE: &str = "5";

fn comparable_qualifier(q: &str) -> String {
    match QUALIFIERS.iter().position(|k| *k == q) {
        Some(i) => i.to_string(),
        None => format!("{}-{q}", QUALIFIERS.len()),
    }
}

fn string_item(value: &str, followed_by_digit: bool) -> Item {
    let v = match value {
        "a" if followed_by_digit => "alpha",
        "b" if followed_by_digit => "beta",
        "m" if followed_by_digit => "milestone",
        "ga" | "final" | "release" => "",
        "cr" => "rc",
        other => other,
    };
    Item::Str(comparable_qualifier(v))
}

fn int_item(digits: &str) -> Item {
    let t = digits.trim_start_matches('0');
    Item::Int(t.to_string())
}

fn parse_item(is_digit: bool, buf: &str) -> Item {
    if is_digit { int_item(buf) } else { string_item(buf, false) }
}

impl Item {
    fn is_null(&self) -> bool {
        match self {
            Item::Int(d) => d.is_empty(),
            Item::Str(q) => q == RELEASE,
            Item::List(l) => l.is_empty(),
        }
    }
}

/// Remove the trailing null items of a list (zeros, release qualifiers, empty lists), looking
/// past trailing sub-lists as Maven does.
fn normalize(list: &mut Vec<Item>) {
    let mut i = list.len();
    while i > 0 {
        i -= 1;
        if list[i].is_null() {
            list.remove(i);
        } else if !matches!(list[i], Item::List(_)) {
            break;
        }
    }
}

/// Parse into nested lists. The lists are built with a path of indexes into the tree: `path`
/// names the list being filled.
fn parse(version: &str) -> Vec<Item> {
    let version = version.trim().to_lowercase();
    let mut root: Vec<Item> = Vec::new();
    // Depth of the current list: each new sub-list is appended as the last item of the list
    // above it, so the current list is always reached by following last items.
    let mut depth = 0usize;
    fn current(root: &mut Vec<Item>, depth: usize) -> &mut Vec<Item> {
        let mut l = root;
        for _ in 0..depth {
            l = match l.last_mut() {
                Some(Item::List(inner)) => inner,
                _ => unreachable!("the current list is the last item of its parent"),
            };
        }
        l
    }
    let chars: Vec<char> = version.chars().collect();
    let text = |a: usize, b: usize| chars[a..b].iter().collect::<String>();
    let mut is_digit = false;
    let mut start = 0usize;
    for (i, &c) in chars.iter().enumerate() {
        if c == '.' {
            let item = if i == start { Item::Int(String::new()) } else { parse_item(is_digit, &text(start, i)) };
            current(&mut root, depth).push(item);
            start = i + 1;
        } else if c == '-' {
            let item = if i == start { Item::Int(String::new()) } else { parse_item(is_digit, &text(start, i)) };
            let l = current(&mut root, depth);
            l.push(item);
            l.push(Item::List(Vec::new()));
            depth += 1;
            start = i + 1;
        } else if c.is_ascii_digit() {
            if !is_digit && i > start {
                // A qualifier glued to a number (`rc1`) goes into a list of its own.
                if !current(&mut root, depth).is_empty() {
                    current(&mut root, depth).push(Item::List(Vec::new()));
                    depth += 1;
                }
                let l = current(&mut root, depth);
                l.push(string_item(&text(start, i), true));
                l.push(Item::List(Vec::new()));
                depth += 1;
                start = i;
            }
            is_digit = true;
        } else {
            if is_digit && i > start {
                let l = current(&mut root, depth);
                l.push(parse_item(true, &text(start, i)));
                l.push(Item::List(Vec::new()));
                depth += 1;
                start = i;
            }
            is_digit = false;
        }
    }
    if chars.len() > start {
        // A qualifier at the end after `.` counts as after `-`: `1.0.0.x1 < 1.0.0-x2`.
        if !is_digit && !current(&mut root, depth).is_empty() {
            current(&mut root, depth).push(Item::List(Vec::new()));
            depth += 1;
        }
        current(&mut root, depth).push(parse_item(is_digit, &text(start, chars.len())));
    }
    // Normalize from the innermost list out, as Maven pops its stack.
    for d in (0..=depth).rev() {
        normalize(current(&mut root, d));
    }
    root
}

fn cmp_int(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// `a` against `b`, where `None` is the absent item (what a shorter list has at the end).
fn cmp_item(a: Option<&Item>, b: Option<&Item>) -> Ordering {
    use Item::*;
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => cmp_item(b, a).reverse(),
        (Some(Int(d)), None) => {
            if d.is_empty() {
                Ordering::Equal
            } else {
                Ordering::Greater
            }
        }
        (Some(Str(q)), None) => q.as_str().cmp(RELEASE),
        // A list against nothing: its first item that is not null decides.
        (Some(List(l)), None) => {
            l.iter().map(|i| cmp_item(Some(i), None)).find(|o| *o != Ordering::Equal).unwrap_or(Ordering::Equal)
        }
        (Some(Int(x)), Some(Int(y))) => cmp_int(x, y),
        (Some(Int(_)), Some(_)) => Ordering::Greater,
        (Some(Str(_)), Some(Int(_))) => Ordering::Less,
        (Some(Str(x)), Some(Str(y))) => x.cmp(y),
        (Some(Str(_)), Some(List(_))) => Ordering::Less,
        (Some(List(_)), Some(Int(_))) => Ordering::Less,
        (Some(List(_)), Some(Str(_))) => Ordering::Greater,
        (Some(List(x)), Some(List(y))) => cmp_lists(x, y),
    }
}

fn cmp_lists(x: &[Item], y: &[Item]) -> Ordering {
    for i in 0..x.len().max(y.len()) {
        let o = cmp_item(x.get(i), y.get(i));
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Compare two Maven versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    cmp_lists(&parse(a), &parse(b))
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

    #[test]
    fn dot_and_dash_qualifiers_nest_as_maven_nests_them() {
        // A qualifier after `.` stays in the list; after `-` it opens a sub-list, which a
        // qualifier is smaller than and a number greater than.
        assert_eq!(compare("2.beta.2", "2-alpha-1"), Less);
        assert_eq!(compare("1.0-1", "1-1"), Equal);
        assert_eq!(compare("1-1", "1.0.0.RELEASE"), Greater);
        assert_eq!(compare("1.1", "1-1"), Greater);
        assert_eq!(compare("00012345678901234567890", "12345678901234567891"), Less);
    }

    #[test]
    fn every_pair_orders_as_maven_3_8_7_orders_it() {
        let table = include_str!("../../../tests/fixtures/maven-order.tsv");
        let mut checked = 0;
        let mut wrong = Vec::new();
        for line in table.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let mut f = line.split('\t');
            let (a, b, want) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
            let want = match want {
                "<" => Less,
                "=" => Equal,
                ">" => Greater,
                other => panic!("bad answer {other:?} in {line:?}"),
            };
            if compare(a, b) != want {
                wrong.push(format!("{a} vs {b}: Maven says {want:?}, we say {:?}", compare(a, b)));
            }
            checked += 1;
        }
        assert!(checked >= 6000, "only {checked} pairs read");
        assert!(
            wrong.is_empty(),
            "{} of {checked} pairs differ from Maven, e.g. {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(10)]
        );
    }
}
