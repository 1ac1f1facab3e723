//! "Am I affected?": does an advisory's [`Affected`] entry cover a component at a version, and
//! why. Identity first — by package URL (type, namespace, name; PyPI names normalized), by CPE
//! (vendor and product), or by vendor/product names for advisories that carry neither, as CISA's
//! ICS advisories do — then the version, by the OSV schema's event evaluation under the
//! ecosystem's ordering ([`super::version`]). The answer says what matched and the fixed version
//! when the advisory names one, because "upgrade to X" is what the person asking does next.

use std::cmp::Ordering;

use crate::items::{Advisory, Affected, RangeKind, VersionEvent, VersionRange};

use super::cyclonedx::{Sbom, VexState};
use super::ident::{Cpe, Purl};
use super::version::Scheme;

/// What a component is known by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ComponentId {
    Purl(Purl),
    Cpe(Cpe),
    Name { vendor: Option<String>, product: String },
}

impl ComponentId {
    /// `pkg:...` is a purl, `cpe:...` a CPE, anything else a product name.
    pub fn parse(text: &str) -> ComponentId {
        let t = text.trim();
        if let Some(p) = Purl::parse(t) {
            return ComponentId::Purl(p);
        }
        if let Some(c) = Cpe::parse(t) {
            return ComponentId::Cpe(c);
        }
        ComponentId::Name { vendor: None, product: t.to_string() }
    }

    /// The version the identifier itself carries (`pkg:npm/x@1.2.3`, a CPE's version field).
    pub fn embedded_version(&self) -> Option<&str> {
        match self {
            ComponentId::Purl(p) => p.version.as_deref(),
            ComponentId::Cpe(c) => c.version.as_deref(),
            ComponentId::Name { .. } => None,
        }
    }
}

/// Which identity matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchedBy {
    Purl,
    Cpe,
    Name,
}

/// Which version statement covered the component's version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VersionRule {
    /// The entry names the product without versions: every version is affected.
    AllVersions,
    /// The version is in the entry's explicit list.
    Listed,
    /// The version falls in range number `index` of the entry.
    InRange { index: usize },
    /// The component's version is not known, so only the identity could be checked.
    VersionUnknown,
}

/// Why a component is affected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchReason {
    pub by: MatchedBy,
    pub rule: VersionRule,
    /// The lowest fixed version above the component's version, when the advisory names one.
    pub fixed: Option<String>,
}

fn norm_name(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Whether the entry names the component, and how; also the ordering its versions use.
fn identity(a: &Affected, c: &ComponentId) -> Option<(MatchedBy, Scheme)> {
    let a_purl = a.purl.as_deref().and_then(Purl::parse);
    let a_cpe = a.cpe.as_deref().and_then(Cpe::parse);
    match c {
        ComponentId::Purl(p) => {
            if let Some(ap) = &a_purl {
                return ap.same_package(p).then(|| (MatchedBy::Purl, Scheme::for_purl_type(&p.kind)));
            }
            // An entry named only by vendor and product can still be meant: require both the
            // vendor (as the purl namespace's last segment) and the product to agree, so that
            // a product called "debug" does not match every npm `debug`.
            let vendor = a.vendor.as_deref()?;
            let product = a.product.as_deref()?;
            let ns_last = p.namespace.rsplit('/').next().unwrap_or("");
            (a_cpe.is_none() && norm_name(vendor) == norm_name(ns_last) && norm_name(product) == norm_name(&p.name))
                .then_some((MatchedBy::Name, Scheme::Generic))
        }
        ComponentId::Cpe(cpe) => {
            let ac = a_cpe.as_ref()?;
            ac.same_product(cpe).then_some((MatchedBy::Cpe, Scheme::Generic))
        }
        ComponentId::Name { vendor, product } => {
            let a_product = a
                .product
                .clone()
                .or_else(|| a_purl.as_ref().map(|p| p.name.clone()))
                .or_else(|| a_cpe.as_ref().map(|c| c.product.clone()))?;
            if norm_name(&a_product) != norm_name(product) {
                return None;
            }
            if let (Some(want), Some(have)) = (vendor, &a.vendor)
                && norm_name(want) != norm_name(have)
            {
                return None;
            }
            let scheme = a_purl.map_or(Scheme::Generic, |p| Scheme::for_purl_type(&p.kind));
            Some((MatchedBy::Name, scheme))
        }
    }
}

fn event_version(e: &VersionEvent) -> &str {
    let (VersionEvent::Introduced(v) | VersionEvent::Fixed(v) | VersionEvent::LastAffected(v) | VersionEvent::Limit(v)) =
        e;
    v
}

/// The ordering a range's versions use: SEMVER ranges are semver whatever the ecosystem.
fn range_scheme(range: &VersionRange, scheme: Scheme) -> Scheme {
    match (range.kind, scheme) {
        (RangeKind::Semver, Scheme::Go) => Scheme::Go,
        (RangeKind::Semver, _) => Scheme::Semver,
        _ => scheme,
    }
}

/// Whether `version` is inside `range`, evaluated as the OSV schema specifies: events sorted by
/// version (`introduced: "0"` before everything), then each `introduced` at or below the
/// version opens the range, each `fixed` at or below it closes it, each `last_affected` below
/// it closes it; a `limit` at or below the version puts it out of scope. `None` for GIT ranges,
/// whose commits cannot be ordered without the repository (the entry's version list, which
/// OSV fills from the tags, answers those).
pub fn range_includes(range: &VersionRange, scheme: Scheme, version: &str) -> Option<bool> {
    if range.kind == RangeKind::Git {
        return None;
    }
    let scheme = range_scheme(range, scheme);
    let cmp = |a: &str, b: &str| -> Ordering {
        match (a == "0", b == "0") {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            _ => scheme.compare(a, b),
        }
    };
    let mut events: Vec<&VersionEvent> = range.events.iter().collect();
    events.sort_by(|a, b| cmp(event_version(a), event_version(b)));
    let mut affected = false;
    for e in events {
        let at = event_version(e);
        match e {
            VersionEvent::Introduced(_) if at == "0" || cmp(version, at) != Ordering::Less => {
                affected = true;
            }
            VersionEvent::Fixed(_) if cmp(version, at) != Ordering::Less => affected = false,
            VersionEvent::LastAffected(_) if cmp(version, at) == Ordering::Greater => {
                affected = false;
            }
            VersionEvent::Limit(_) if cmp(version, at) != Ordering::Less => return Some(false),
            _ => {}
        }
    }
    Some(affected)
}

/// The lowest `fixed` event above `version` in any of the entry's ranges.
fn next_fix(a: &Affected, scheme: Scheme, version: Option<&str>) -> Option<String> {
    let mut fixes: Vec<(Scheme, &str)> = a
        .ranges
        .iter()
        .flat_map(|r| {
            let s = range_scheme(r, scheme);
            r.events.iter().filter_map(move |e| match e {
                VersionEvent::Fixed(v) if r.kind != RangeKind::Git => Some((s, v.as_str())),
                _ => None,
            })
        })
        .filter(|(s, f)| version.is_none_or(|v| s.compare(f, v) == Ordering::Greater))
        .collect();
    fixes.sort_by(|(s, a), (_, b)| s.compare(a, b));
    fixes.first().map(|(_, f)| f.to_string())
}

/// Whether the advisory entry `affected` covers the component at `version` (empty: take the
/// version the identifier carries, if any), and why.
pub fn is_affected(affected: &Affected, component: &ComponentId, version: &str) -> Option<MatchReason> {
    let (by, scheme) = identity(affected, component)?;
    let version = Some(version.trim()).filter(|v| !v.is_empty()).or_else(|| component.embedded_version());
    let Some(v) = version else {
        return Some(MatchReason { by, rule: VersionRule::VersionUnknown, fixed: next_fix(affected, scheme, None) });
    };
    let fixed = || next_fix(affected, scheme, Some(v));
    let evaluable_ranges = affected
        .ranges
        .iter()
        .any(|r| r.kind != RangeKind::Git && r.events.iter().any(|e| matches!(e, VersionEvent::Introduced(_))));
    if affected.versions.is_empty() && !evaluable_ranges {
        // No version statement at all (fixed-only ranges record a fix, not an affected set).
        let git_only = affected.ranges.iter().any(|r| r.kind == RangeKind::Git);
        return (!git_only).then(|| MatchReason { by, rule: VersionRule::AllVersions, fixed: fixed() });
    }
    if affected.versions.iter().any(|listed| scheme.compare(listed, v) == Ordering::Equal) {
        return Some(MatchReason { by, rule: VersionRule::Listed, fixed: fixed() });
    }
    let index = affected.ranges.iter().position(|r| range_includes(r, scheme, v) == Some(true))?;
    Some(MatchReason { by, rule: VersionRule::InRange { index }, fixed: fixed() })
}

/// One component of an SBOM that an advisory covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Index into [`Sbom::all_components`] (0 is the SBOM's subject when it has one).
    pub component: usize,
    /// Index into the advisory's `affected`.
    pub affected: usize,
    pub reason: MatchReason,
    /// The SBOM's own VEX statement about this vulnerability and component, if any.
    pub vex: Option<VexState>,
}

impl Finding {
    /// Whether the finding stands after VEX: a `not_affected`, `false_positive` or `resolved`
    /// statement from the SBOM's author clears it.
    pub fn stands(&self) -> bool {
        self.vex.as_ref().is_none_or(|s| !s.clears())
    }
}

/// Every component of `sbom` that `advisory` covers, with the SBOM's VEX verdict attached. The
/// advisory's reference id and aliases are the vulnerability ids VEX statements are looked up by.
pub fn match_sbom(advisory: &Advisory, sbom: &Sbom) -> Vec<Finding> {
    let ids: Vec<String> = std::iter::once(&advisory.reference_id)
        .chain(advisory.aliases.iter())
        .map(|s| s.to_ascii_uppercase())
        .collect();
    let mut out = Vec::new();
    for (ci, comp) in sbom.all_components().enumerate() {
        let id = match (&comp.purl, &comp.cpe) {
            (Some(p), _) if Purl::parse(p).is_some() => ComponentId::parse(p),
            (_, Some(c)) if Cpe::parse(c).is_some() => ComponentId::parse(c),
            _ => ComponentId::Name { vendor: comp.group.clone(), product: comp.name.clone() },
        };
        let version = comp.version.as_deref().unwrap_or("");
        for (ai, a) in advisory.affected.iter().enumerate() {
            let Some(reason) = is_affected(a, &id, version) else {
                continue;
            };
            let vex = sbom
                .vex
                .iter()
                .find(|s| {
                    ids.contains(&s.vuln_id.to_ascii_uppercase())
                        && (comp.bom_ref.as_deref() == Some(s.component_ref.as_str())
                            || (s.purl.is_some() && s.purl == comp.purl))
                })
                .and_then(|s| s.state.clone());
            out.push(Finding { component: ci, affected: ai, reason, vex });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use VersionEvent::*;

    fn range(kind: RangeKind, events: Vec<VersionEvent>) -> VersionRange {
        VersionRange { kind, events }
    }

    fn s(v: &str) -> String {
        v.to_string()
    }

    fn npm(name: &str, ranges: Vec<VersionRange>, versions: &[&str]) -> Affected {
        Affected {
            purl: Some(format!("pkg:npm/{name}")),
            versions: versions.iter().map(|v| s(v)).collect(),
            ranges,
            ..Affected::default()
        }
    }

    fn hit(a: &Affected, c: &str, v: &str) -> Option<MatchReason> {
        is_affected(a, &ComponentId::parse(c), v)
    }

    #[test]
    fn fixed_exactly_at_the_installed_version_is_not_affected() {
        let a = npm("x", vec![range(RangeKind::Semver, vec![Introduced(s("0")), Fixed(s("1.4.1"))])], &[]);
        assert!(hit(&a, "pkg:npm/x", "1.4.1").is_none());
        assert!(hit(&a, "pkg:npm/x", "1.4.2").is_none());
        let r = hit(&a, "pkg:npm/x", "1.4.0").unwrap();
        assert_eq!(r.rule, VersionRule::InRange { index: 0 });
        assert_eq!(r.fixed.as_deref(), Some("1.4.1"));
        // The prerelease of the fixed version is still before it.
        assert!(hit(&a, "pkg:npm/x", "1.4.1-rc.1").is_some());
        assert!(hit(&a, "pkg:npm/x", "0.0.1").is_some());
    }

    #[test]
    fn introduced_only_last_affected_and_several_ranges() {
        let a = npm("x", vec![range(RangeKind::Semver, vec![Introduced(s("2.0.0"))])], &[]);
        assert!(hit(&a, "pkg:npm/x", "1.9.9").is_none());
        assert!(hit(&a, "pkg:npm/x", "2.0.0").is_some());
        assert!(hit(&a, "pkg:npm/x", "99.0.0").unwrap().fixed.is_none());

        let la = npm("x", vec![range(RangeKind::Semver, vec![Introduced(s("1.0.0")), LastAffected(s("1.2.0"))])], &[]);
        assert!(hit(&la, "pkg:npm/x", "1.2.0").is_some(), "last_affected is inclusive");
        assert!(hit(&la, "pkg:npm/x", "1.2.1").is_none());
        assert!(hit(&la, "pkg:npm/x", "0.9.0").is_none());

        // Two intervals in one range, events deliberately out of order, plus a second range.
        let multi = npm(
            "x",
            vec![
                range(
                    RangeKind::Semver,
                    vec![Fixed(s("1.5.0")), Introduced(s("3.0.0")), Introduced(s("1.0.0")), Fixed(s("3.1.0"))],
                ),
                range(RangeKind::Semver, vec![Introduced(s("5.0.0")), Limit(s("6.0.0"))]),
            ],
            &[],
        );
        for (v, want) in [
            ("0.9.0", None),
            ("1.0.0", Some(0)),
            ("1.4.9", Some(0)),
            ("1.5.0", None),
            ("2.9.9", None),
            ("3.0.5", Some(0)),
            ("3.1.0", None),
            ("5.2.0", Some(1)),
            ("6.0.0", None),
        ] {
            let got = hit(&multi, "pkg:npm/x", v).map(|r| r.rule);
            assert_eq!(got, want.map(|index| VersionRule::InRange { index }), "{v}");
        }
        assert_eq!(hit(&multi, "pkg:npm/x", "1.2.0").unwrap().fixed.as_deref(), Some("1.5.0"));
        assert_eq!(hit(&multi, "pkg:npm/x", "3.0.0").unwrap().fixed.as_deref(), Some("3.1.0"));
    }

    #[test]
    fn identity_rules() {
        let a = Affected {
            purl: Some(s("pkg:pypi/Django_REST-framework")),
            ranges: vec![range(RangeKind::Ecosystem, vec![Introduced(s("0")), Fixed(s("3.0rc1"))])],
            ..Affected::default()
        };
        // PyPI name normalization, qualifiers and version in the purl ignored for identity.
        let r = hit(&a, "pkg:pypi/django.rest.framework@2.9?arch=x", "").unwrap();
        assert_eq!(r.by, MatchedBy::Purl);
        // PEP 440: 3.0b2 < 3.0rc1 (affected), 3.0rc1 is the fix, 3.0.dev1 < 3.0b2.
        assert!(hit(&a, "pkg:pypi/django-rest-framework", "3.0b2").is_some());
        assert!(hit(&a, "pkg:pypi/django-rest-framework", "3.0.dev1").is_some());
        assert!(hit(&a, "pkg:pypi/django-rest-framework", "3.0rc1").is_none());
        assert!(hit(&a, "pkg:pypi/django-rest-framework", "3.0").is_none());
        assert!(hit(&a, "pkg:npm/django-rest-framework", "1.0").is_none(), "other type");
        // Version unknown: identity only.
        assert_eq!(hit(&a, "pkg:pypi/django-rest-framework", "").unwrap().rule, VersionRule::VersionUnknown);
    }

    #[test]
    fn maven_qualifiers_and_go_pseudo_versions() {
        let log4j = Affected {
            purl: Some(s("pkg:maven/org.apache.logging.log4j/log4j-core")),
            ranges: vec![range(RangeKind::Ecosystem, vec![Introduced(s("2.0-beta9")), Fixed(s("2.15.0"))])],
            ..Affected::default()
        };
        let c = "pkg:maven/org.apache.logging.log4j/log4j-core";
        assert!(hit(&log4j, c, "2.0-alpha1").is_none());
        assert!(hit(&log4j, c, "2.0-beta9").is_some());
        assert!(hit(&log4j, c, "2.0-rc1").is_some());
        assert!(hit(&log4j, c, "2.14.1").is_some());
        assert!(hit(&log4j, c, "2.15.0-SNAPSHOT").is_some());
        assert!(hit(&log4j, c, "2.15.0").is_none());

        let go = Affected {
            purl: Some(s("pkg:golang/golang.org/x/net")),
            ranges: vec![range(RangeKind::Semver, vec![Introduced(s("0")), Fixed(s("0.7.0"))])],
            ..Affected::default()
        };
        let c = "pkg:golang/golang.org/x/net";
        assert!(hit(&go, c, "v0.0.0-20220722155237-a158d28d115b").is_some());
        assert!(hit(&go, c, "v0.6.1-0.20230101000000-abcdefabcdef").is_some());
        assert!(hit(&go, c, "v0.7.0").is_none());
        assert!(hit(&go, c, "v0.7.1-0.20230101000000-abcdefabcdef").is_none());
    }

    #[test]
    fn names_cpe_listed_versions_and_fixed_only_ranges() {
        // The shape a CISA ICS advisory imports to: names, a listed version, a fix recorded by
        // a range with only a fixed event.
        let a = Affected {
            vendor: Some(s("Advantech")),
            product: Some(s("WebAccess/SCADA")),
            versions: vec![s("9.1.5U")],
            ranges: vec![range(RangeKind::Ecosystem, vec![Fixed(s("9.1.6"))])],
            ..Affected::default()
        };
        let named = |vendor: Option<&str>, product: &str| ComponentId::Name {
            vendor: vendor.map(str::to_string),
            product: product.to_string(),
        };
        let r = is_affected(&a, &named(Some("ADVANTECH"), "webaccess/scada"), "9.1.5u").unwrap();
        assert_eq!((r.by, r.rule.clone(), r.fixed.as_deref()), (MatchedBy::Name, VersionRule::Listed, Some("9.1.6")));
        assert!(is_affected(&a, &named(None, "WebAccess/SCADA"), "9.1.5U").is_some());
        assert!(is_affected(&a, &named(Some("Siemens"), "WebAccess/SCADA"), "9.1.5U").is_none());
        assert!(
            is_affected(&a, &named(None, "WebAccess/SCADA"), "9.1.4").is_none(),
            "a fixed-only range affects nothing"
        );
        // A purl with the vendor as namespace reaches a names-only entry; without it, not.
        assert_eq!(hit(&a, "pkg:generic/advantech/webaccess%2Fscada", "9.1.5U").unwrap().by, MatchedBy::Name);
        let plain = Affected { vendor: Some(s("acme")), product: Some(s("widget")), ..Affected::default() };
        assert_eq!(hit(&plain, "pkg:generic/acme/widget", "1").unwrap().rule, VersionRule::AllVersions);
        assert!(hit(&plain, "pkg:npm/widget", "1").is_none());

        let cpe = Affected {
            cpe: Some(s("cpe:2.3:a:csaf-tools:cvrf-csaf-converter:*:*:*:*:*:*:*:*")),
            versions: vec![s("1.0.0-rc1")],
            ..Affected::default()
        };
        let r = hit(&cpe, "cpe:/a:csaf-tools:cvrf-csaf-converter:1.0.0-rc1", "").unwrap();
        assert_eq!((r.by, r.rule), (MatchedBy::Cpe, VersionRule::Listed));
        assert!(hit(&cpe, "cpe:/a:csaf-tools:cvrf-csaf-converter:1.0.0-rc2", "").is_none());
        assert!(hit(&cpe, "cpe:/a:other:cvrf-csaf-converter:1.0.0-rc1", "").is_none());
    }

    #[test]
    fn git_ranges_defer_to_the_version_list() {
        let a = Affected {
            purl: Some(s("pkg:github/acme/widget")),
            versions: vec![s("v1.0.0")],
            ranges: vec![range(RangeKind::Git, vec![Introduced(s("0")), Fixed(s("abc123"))])],
            ..Affected::default()
        };
        assert!(hit(&a, "pkg:github/acme/widget", "v1.0.0").is_some());
        assert!(hit(&a, "pkg:github/acme/widget", "v2.0.0").is_none());
        let only_git = Affected { versions: vec![], ..a };
        assert!(hit(&only_git, "pkg:github/acme/widget", "v1.0.0").is_none());
    }
}
