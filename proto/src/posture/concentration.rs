//! Concentration of suppliers on shared providers: from the critical dependencies each supplier
//! declared, how many suppliers depend on each provider — counts only, never which supplier.
//! A provider named by fewer than [`CONCENTRATION_THRESHOLD`] suppliers is folded into "other
//! (below threshold)", so a count of one or two can never single a supplier out (k-anonymity
//! with k = the threshold).
//!
//! Also here: whether an advisory names a declared dependency ([`dependency_named_by`]), so a
//! customer learns which of its suppliers an advisory about a provider concerns.

use std::collections::{BTreeMap, BTreeSet};

use crate::items::{Advisory, CriticalDependency};

/// The smallest number of suppliers a provider must have to be named.
pub const CONCENTRATION_THRESHOLD: usize = 3;

/// The concentration view of one channel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Concentration {
    /// Suppliers whose attestations were counted.
    pub suppliers: usize,
    /// Providers named by at least the threshold of suppliers, with their supplier count, most
    /// depended-on first.
    pub providers: Vec<(String, usize)>,
    /// How many distinct providers were named by fewer suppliers than the threshold.
    pub other_providers: usize,
    pub threshold: usize,
}

/// The key under which dependencies count as the same provider: a package URL without its
/// version, or the name with case and spacing folded (`Microsoft  365` = `microsoft 365`).
pub fn provider_key(d: &CriticalDependency) -> String {
    match &d.purl {
        Some(p) => purl_base(p).to_ascii_lowercase(),
        None => d.name.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase(),
    }
}

fn purl_base(p: &str) -> &str {
    let p = p.trim();
    let end = p.find(['?', '#']).unwrap_or(p.len());
    let p = &p[..end];
    // The version follows the last '@' after the type (an npm scope's '@' is percent-encoded
    // as %40 in a canonical purl, but tolerate a raw one right after the type).
    match p.rfind('@') {
        Some(i) if p[..i].contains('/') && !p[..i].ends_with('/') => &p[..i],
        _ => p,
    }
}

/// Count suppliers per provider. `per_supplier` holds each supplier's declared dependencies
/// (one entry per supplier; a provider named twice by one supplier counts once).
pub fn concentration(per_supplier: &[Vec<CriticalDependency>], threshold: usize) -> Concentration {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    // The spelling shown for a provider: the one most suppliers used, then the first in order.
    let mut spellings: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for deps in per_supplier {
        let mut mine = BTreeSet::new();
        for d in deps {
            let key = provider_key(d);
            if key.is_empty() || !mine.insert(key.clone()) {
                continue;
            }
            *counts.entry(key.clone()).or_default() += 1;
            let shown = match &d.purl {
                Some(p) => purl_base(p).to_string(),
                None => d.name.split_whitespace().collect::<Vec<_>>().join(" "),
            };
            *spellings.entry(key).or_default().entry(shown).or_default() += 1;
        }
    }
    let mut providers = Vec::new();
    let mut other = 0;
    for (key, n) in counts {
        if n >= threshold.max(1) {
            let shown = spellings
                .get(&key)
                .and_then(|s| s.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(k, _)| k.clone()))
                .unwrap_or(key);
            providers.push((shown, n));
        } else {
            other += 1;
        }
    }
    providers.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Concentration { suppliers: per_supplier.len(), providers, other_providers: other, threshold }
}

/// Whether `text` contains `needle` as whole words, ignoring case (`AWS` in "AWS outage", not
/// in "laws").
fn mentions(text: &str, needle: &str) -> bool {
    let (text, needle) = (text.to_lowercase(), needle.trim().to_lowercase());
    if needle.is_empty() {
        return false;
    }
    let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
    let mut from = 0;
    while let Some(i) = text[from..].find(&needle) {
        let start = from + i;
        let end = start + needle.len();
        if boundary(text[..start].chars().next_back()) && boundary(text[end..].chars().next()) {
            return true;
        }
        from = start + needle.chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// Whether `advisory` concerns the declared dependency `dep`: the same package URL (versions
/// aside) among its affected products, or the provider's name in its title or in an affected
/// vendor or product.
pub fn dependency_named_by(advisory: &Advisory, dep: &CriticalDependency) -> bool {
    if let Some(p) = &dep.purl {
        let want = purl_base(p).to_ascii_lowercase();
        if advisory.affected.iter().filter_map(|a| a.purl.as_deref()).any(|a| purl_base(a).to_ascii_lowercase() == want)
        {
            return true;
        }
    }
    let name = dep.name.trim();
    if name.len() < 2 {
        return false;
    }
    mentions(&advisory.title, name)
        || advisory
            .affected
            .iter()
            .any(|a| [a.vendor.as_deref(), a.product.as_deref()].into_iter().flatten().any(|v| mentions(v, name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::items::{Affected, Category};

    fn dep(n: &str) -> CriticalDependency {
        CriticalDependency { name: n.into(), purl: None }
    }

    #[test]
    fn counts_suppliers_and_hides_small_groups() {
        let per = vec![
            vec![dep("ExampleCloud"), dep("TinyHost"), dep("examplecloud")],
            vec![dep("ExampleCloud"), dep("Microsoft 365")],
            vec![dep("Example Cloud"), dep("exampleCLOUD"), dep("Microsoft  365")],
        ];
        let c = concentration(&per, CONCENTRATION_THRESHOLD);
        assert_eq!(c.suppliers, 3);
        // "Example Cloud" is another provider name (one supplier), "Microsoft 365" has two.
        assert_eq!(c.providers, vec![("ExampleCloud".to_string(), 3)]);
        assert_eq!(c.other_providers, 3);
        let c = concentration(&per, 2);
        assert_eq!(c.providers, vec![("ExampleCloud".to_string(), 3), ("Microsoft 365".to_string(), 2)]);
        assert_eq!(concentration(&[], 3), Concentration { threshold: 3, ..Default::default() });
    }

    #[test]
    fn packages_count_by_purl_without_version() {
        let p = |s: &str| CriticalDependency { name: "lodash".into(), purl: Some(s.into()) };
        let per = vec![vec![p("pkg:npm/lodash@4.17.21")], vec![p("pkg:npm/lodash@4.17.20")], vec![p("pkg:npm/lodash")]];
        assert_eq!(concentration(&per, 3).providers, vec![("pkg:npm/lodash".to_string(), 3)]);
    }

    #[test]
    fn advisories_name_providers_by_word_or_purl() {
        let mut a = Advisory {
            reference_id: String::new(),
            title: "ExampleCloud storage outage exposes tokens".into(),
            summary: String::new(),
            category: Category::Incident,
            severity: None,
            aliases: vec![],
            affected: vec![],
            references: vec![],
            remediation: None,
            published_ms: 0,
            updated_ms: 0,
            source: None,
        };
        assert!(dependency_named_by(&a, &dep("examplecloud")));
        assert!(!dependency_named_by(&a, &dep("Example")));
        assert!(!dependency_named_by(&a, &dep("TinyHost")));
        a.title = "Flaw in the laws module".into();
        assert!(!dependency_named_by(&a, &dep("AWS")));
        a.affected.push(Affected {
            vendor: Some("Microsoft".into()),
            product: Some("Microsoft 365".into()),
            ..Default::default()
        });
        assert!(dependency_named_by(&a, &dep("Microsoft 365")));
        a.affected.push(Affected { purl: Some("pkg:npm/lodash@4.17.20".into()), ..Default::default() });
        assert!(dependency_named_by(
            &a,
            &CriticalDependency { name: "lodash".into(), purl: Some("pkg:npm/lodash@4.17.21".into()) }
        ));
    }
}
