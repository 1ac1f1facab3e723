//! OSV records (schema 1.x) in and out. The import keeps the record's bytes whole in the
//! advisory's source (§4.1) and maps the fields matching needs: packages to purls (built from
//! ecosystem and name when the record has none), ranges to [`VersionRange`]s with their events
//! unchanged, and CVSS vectors to a severity. The export writes a record that OSV tooling reads.

use serde_json::{Map, Value, json};

use crate::items::{
    Advisory, Affected, Category, RangeKind, Severity, SourceDocument, SourceFormat, VersionEvent, VersionRange,
};
use crate::limits::{MAX_LIST, MAX_SHORT, MAX_TEXT, MAX_TITLE};

use super::cvss::v3_base_score_tenths;
use super::ident::{Purl, ecosystem_for_purl_type, osv_name_for_purl, purl_from_ecosystem};
use super::time::{format_rfc3339_ms, parse_rfc3339_ms, parse_unix_ms};
use super::{Imported, Problem, array, clip, parse_json, push_unique, text};

/// The schema version the export declares.
pub const SCHEMA_VERSION: &str = "1.6.0";

fn severity_of(list: &[Value]) -> Option<Severity> {
    let mut best: Option<Severity> = None;
    for s in list {
        let (Some(kind), Some(score)) = (text(s, "type"), text(s, "score")) else {
            continue;
        };
        let tenths = match kind {
            "CVSS_V3" => v3_base_score_tenths(score),
            // v2 and v4 scores are not computed here; a vector without its score is kept only
            // when nothing better is present.
            _ => None,
        };
        if let Some(t) = tenths
            && best.as_ref().is_none_or(|b| t > b.score_tenths)
        {
            best = Some(Severity { vector: Some(score.to_string()), score_tenths: t });
        }
    }
    best
}

fn events(range: &Value, path: &str, problems: &mut Vec<Problem>) -> Vec<VersionEvent> {
    let mut out = Vec::new();
    for (j, e) in array(range, "events").iter().enumerate() {
        let p = format!("{path}/events/{j}");
        let Some(obj) = e.as_object().filter(|o| o.len() == 1) else {
            problems.push(Problem::new(p, "an event has exactly one of introduced, fixed, last_affected, limit"));
            continue;
        };
        let (k, v) = obj.iter().next().expect("one entry");
        let Some(v) = v.as_str().filter(|v| !v.is_empty() && v.len() <= MAX_SHORT) else {
            problems.push(Problem::new(format!("{p}/{k}"), "the version must be a non-empty string"));
            continue;
        };
        let v = v.to_string();
        out.push(match k.as_str() {
            "introduced" => VersionEvent::Introduced(v),
            "fixed" => VersionEvent::Fixed(v),
            "last_affected" => VersionEvent::LastAffected(v),
            "limit" => VersionEvent::Limit(v),
            other => {
                problems.push(Problem::new(format!("{p}/{other}"), "unknown event type"));
                continue;
            }
        });
    }
    if !out.iter().any(|e| matches!(e, VersionEvent::Introduced(_))) {
        problems.push(Problem::new(format!("{path}/events"), "a range needs at least one introduced event"));
    }
    out
}

fn affected(a: &Value, path: &str, problems: &mut Vec<Problem>) -> Affected {
    let pkg = a.get("package");
    let eco = pkg.and_then(|p| text(p, "ecosystem"));
    let name = pkg.and_then(|p| text(p, "name"));
    let purl = pkg
        .and_then(|p| text(p, "purl"))
        .map(|p| Purl::parse(p).map_or_else(|| p.to_string(), |x| x.base()))
        .or_else(|| purl_from_ecosystem(eco?, name?));
    if pkg.is_some() && (eco.is_none() || name.is_none()) {
        problems.push(Problem::new(format!("{path}/package"), "a package needs an ecosystem and a name"));
    }
    let mut ranges = Vec::new();
    for (i, r) in array(a, "ranges").iter().enumerate() {
        let p = format!("{path}/ranges/{i}");
        let kind = match text(r, "type") {
            Some("SEMVER") => RangeKind::Semver,
            Some("ECOSYSTEM") => RangeKind::Ecosystem,
            Some("GIT") => {
                if text(r, "repo").is_none() {
                    problems.push(Problem::new(format!("{p}/repo"), "a GIT range needs its repo"));
                }
                RangeKind::Git
            }
            _ => {
                problems.push(Problem::new(format!("{p}/type"), "the range type must be SEMVER, ECOSYSTEM or GIT"));
                continue;
            }
        };
        let evs = events(r, &p, problems);
        // A range that opens and closes at the same version or commit covers nothing: it is a
        // mistake of the record, not a statement.
        for (j, e) in evs.iter().enumerate() {
            if let VersionEvent::Fixed(f) | VersionEvent::LastAffected(f) = e
                && evs.iter().any(|x| matches!(x, VersionEvent::Introduced(i) if i == f))
            {
                problems.push(Problem::new(
                    format!("{p}/events/{j}"),
                    format!("the range opens and closes at {f:?}, so it covers nothing"),
                ));
            }
        }
        ranges.push(VersionRange { kind, events: evs });
    }
    let versions: Vec<String> = array(a, "versions")
        .iter()
        .filter_map(Value::as_str)
        .filter(|v| !v.is_empty() && v.len() <= MAX_SHORT)
        .take(MAX_LIST)
        .map(str::to_string)
        .collect();
    Affected { purl, cpe: None, vendor: None, product: name.map(str::to_string), versions, ranges }
}

/// Import an OSV record. On success the advisory carries the bytes unchanged as its source.
pub fn import(bytes: &[u8]) -> Result<Imported, Vec<Problem>> {
    let doc = parse_json(bytes)?;
    if !doc.is_object() {
        return Err(vec![Problem::new("", "an OSV record is a JSON object")]);
    }
    let mut problems = Vec::new();
    let id = text(&doc, "id").unwrap_or_default();
    if id.is_empty() {
        problems.push(Problem::new("/id", "missing: every OSV record has an id"));
    }
    let modified = text(&doc, "modified");
    match modified {
        None => problems.push(Problem::new("/modified", "missing: every OSV record has a modified date")),
        Some(m) if parse_rfc3339_ms(m).is_none() => {
            problems.push(Problem::new("/modified", format!("{m:?} is not an RFC 3339 date-time")));
        }
        _ => {}
    }
    let published = text(&doc, "published");
    if let Some(p) = published
        && parse_rfc3339_ms(p).is_none()
    {
        problems.push(Problem::new("/published", format!("{p:?} is not an RFC 3339 date-time")));
    }
    let affected: Vec<Affected> = array(&doc, "affected")
        .iter()
        .enumerate()
        .take(MAX_LIST)
        .map(|(i, a)| affected(a, &format!("/affected/{i}"), &mut problems))
        .collect();
    // A withdrawn record stays withdrawn: kept, listed as such, and matched against nothing.
    let withdrawn = match doc.get("withdrawn") {
        None => None,
        Some(w) => match w.as_str().and_then(parse_unix_ms) {
            Some(ms) => Some(ms),
            None => {
                problems.push(Problem::new("/withdrawn", format!("{w} is not an RFC 3339 date-time")));
                None
            }
        },
    };
    if affected.is_empty() && withdrawn.is_none() {
        problems.push(Problem::new(
            "/affected",
            "no affected package or range: the record names nothing that could be matched",
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let affected = if withdrawn.is_some() { Vec::new() } else { affected };
    let mut aliases = Vec::new();
    for a in array(&doc, "aliases").iter().filter_map(Value::as_str).take(MAX_LIST) {
        push_unique(&mut aliases, a);
    }
    let mut references = Vec::new();
    for r in array(&doc, "references").iter().take(MAX_LIST) {
        if let Some(u) = text(r, "url").filter(|u| u.len() <= MAX_SHORT) {
            push_unique(&mut references, u);
        }
    }
    let severity = severity_of(array(&doc, "severity")).or_else(|| {
        array(&doc, "affected").iter().filter_map(|a| severity_of(array(a, "severity"))).max_by_key(|s| s.score_tenths)
    });
    // Placeholders such as golang/vulndb's 0001-01-01 are not dates; fall back to published.
    let published_ms = published.and_then(parse_unix_ms);
    let modified_ms = modified.and_then(parse_unix_ms);
    let published_ms = published_ms.or(modified_ms).unwrap_or(0);
    let updated_ms = modified_ms.unwrap_or(published_ms).max(published_ms);
    let title = text(&doc, "summary").unwrap_or(id);
    let title = match withdrawn {
        Some(_) => format!("Withdrawn: {title}"),
        None => title.to_string(),
    };
    let remediation = fixes_text(&affected);
    let advisory = Advisory {
        reference_id: clip(id.to_string(), MAX_SHORT),
        title: clip(title, MAX_TITLE),
        summary: clip(text(&doc, "details").unwrap_or_default().to_string(), MAX_TEXT),
        category: Category::Vulnerability,
        severity,
        aliases: aliases.into_iter().filter(|a| a.len() <= MAX_SHORT).collect(),
        affected,
        references,
        remediation,
        published_ms,
        updated_ms,
        source: Some(SourceDocument { format: SourceFormat::Osv, bytes: bytes.to_vec() }),
    };
    Ok(Imported { advisory, tlp: None })
}

/// "Update X to 1.4.1 or later." for every package with a fixed version: OSV has no remediation
/// field, but the fix is what a reader acts on.
fn fixes_text(affected: &[Affected]) -> Option<String> {
    let lines: Vec<String> = affected
        .iter()
        .filter_map(|a| {
            let fixes: Vec<&str> = a
                .ranges
                .iter()
                .filter(|r| r.kind != RangeKind::Git)
                .flat_map(|r| &r.events)
                .filter_map(|e| match e {
                    VersionEvent::Fixed(v) => Some(v.as_str()),
                    _ => None,
                })
                .collect();
            let name = a.product.as_deref().or(a.purl.as_deref())?;
            (!fixes.is_empty()).then(|| format!("Update {name} to {} or later.", fixes.join(" / ")))
        })
        .collect();
    (!lines.is_empty()).then(|| clip(lines.join("\n"), MAX_TEXT))
}

fn event_json(e: &VersionEvent) -> Value {
    match e {
        VersionEvent::Introduced(v) => json!({ "introduced": v }),
        VersionEvent::Fixed(v) => json!({ "fixed": v }),
        VersionEvent::LastAffected(v) => json!({ "last_affected": v }),
        VersionEvent::Limit(v) => json!({ "limit": v }),
    }
}

/// The OSV severity type of a CVSS vector.
fn severity_type(vector: &str) -> Option<&'static str> {
    if vector.starts_with("CVSS:3.") {
        Some("CVSS_V3")
    } else if vector.starts_with("CVSS:4.") {
        Some("CVSS_V4")
    } else if vector.starts_with("AV:") {
        Some("CVSS_V2")
    } else {
        None
    }
}

/// Write `advisory` as an OSV record with the given id and modification time. Entries named by
/// purl become `affected` packages; entries named only by CPE or vendor/product, which OSV has
/// no place for, go to `database_specific.products`. Ranges OSV cannot carry (GIT ranges, whose
/// repository the native model does not keep; ranges with no `introduced`, which CSAF imports
/// use to record a fix) are left out.
pub fn export(advisory: &Advisory, id: &str, modified_ms: u64) -> Value {
    let mut rec = Map::new();
    rec.insert("schema_version".into(), json!(SCHEMA_VERSION));
    rec.insert("id".into(), json!(id));
    rec.insert("modified".into(), json!(format_rfc3339_ms(modified_ms)));
    if advisory.published_ms > 0 {
        rec.insert("published".into(), json!(format_rfc3339_ms(advisory.published_ms)));
    }
    let mut aliases: Vec<&str> = advisory.aliases.iter().map(String::as_str).collect();
    if !advisory.reference_id.is_empty() && advisory.reference_id != id {
        aliases.push(&advisory.reference_id);
    }
    if !aliases.is_empty() {
        rec.insert("aliases".into(), json!(aliases));
    }
    rec.insert("summary".into(), json!(advisory.title));
    if !advisory.summary.is_empty() {
        rec.insert("details".into(), json!(advisory.summary));
    }
    if let Some(s) = &advisory.severity
        && let Some(v) = &s.vector
        && let Some(t) = severity_type(v)
    {
        rec.insert("severity".into(), json!([{ "type": t, "score": v }]));
    }
    let mut affected = Vec::new();
    let mut products = Vec::new();
    for a in &advisory.affected {
        let Some(p) = a.purl.as_deref().and_then(Purl::parse) else {
            products.push(json!({
                "vendor": a.vendor, "product": a.product, "cpe": a.cpe, "versions": a.versions,
            }));
            continue;
        };
        let mut pkg = Map::new();
        if let Some(eco) = ecosystem_for_purl_type(&p.kind, &p.namespace) {
            pkg.insert("ecosystem".into(), json!(eco));
            pkg.insert("name".into(), json!(osv_name_for_purl(&p)));
        }
        pkg.insert("purl".into(), json!(p.base()));
        let ranges: Vec<Value> = a
            .ranges
            .iter()
            .filter(|r| r.kind != RangeKind::Git)
            .filter(|r| r.events.iter().any(|e| matches!(e, VersionEvent::Introduced(_))))
            .map(|r| {
                let t = if r.kind == RangeKind::Semver { "SEMVER" } else { "ECOSYSTEM" };
                json!({ "type": t, "events": r.events.iter().map(event_json).collect::<Vec<_>>() })
            })
            .collect();
        let mut entry = Map::new();
        entry.insert("package".into(), Value::Object(pkg));
        if !ranges.is_empty() {
            entry.insert("ranges".into(), json!(ranges));
        }
        if !a.versions.is_empty() {
            entry.insert("versions".into(), json!(a.versions));
        }
        affected.push(Value::Object(entry));
    }
    if !affected.is_empty() {
        rec.insert("affected".into(), json!(affected));
    }
    if !advisory.references.is_empty() {
        let refs: Vec<Value> = advisory.references.iter().map(|u| json!({ "type": "WEB", "url": u })).collect();
        rec.insert("references".into(), json!(refs));
    }
    let mut db = Map::new();
    db.insert("category".into(), json!(advisory.category.as_str()));
    if let Some(r) = &advisory.remediation {
        db.insert("remediation".into(), json!(r));
    }
    if !products.is_empty() {
        db.insert("products".into(), json!(products));
    }
    rec.insert("database_specific".into(), Value::Object(db));
    Value::Object(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn withdrawn_empty_and_empty_ranges() {
        let rec = |extra: &str, ranges: &str| {
            format!(
                r#"{{"id":"X-1","modified":"2024-01-01T00:00:00Z","summary":"s"{extra},
                "affected":[{{"package":{{"ecosystem":"npm","name":"x"}},"ranges":[{{"type":"SEMVER","events":{ranges}}}]}}]}}"#
            )
        };
        let ok = r#"[{"introduced":"1.0.0"},{"fixed":"1.2.0"}]"#;
        let w = import(rec(r#","withdrawn":"2024-02-01T00:00:00Z""#, ok).as_bytes()).unwrap().advisory;
        assert_eq!((w.title.as_str(), w.affected.len()), ("Withdrawn: s", 0));
        let e = import(rec(r#","withdrawn":"soon""#, ok).as_bytes()).unwrap_err();
        assert_eq!(e[0].path, "/withdrawn");
        let e = import(rec("", r#"[{"introduced":"1.0.0"},{"fixed":"1.0.0"}]"#).as_bytes()).unwrap_err();
        assert_eq!(e[0].path, "/affected/0/ranges/0/events/1");
        let e = import(br#"{"id":"X-2","modified":"2024-01-01T00:00:00Z","affected":[]}"#).unwrap_err();
        assert_eq!(e[0].path, "/affected");
    }

    #[test]
    fn problems_are_listed_with_pointers() {
        let doc = br#"{"affected":[{"package":{"name":"x"},"ranges":[{"type":"SEMVER","events":[{"fixed":"1"},{"fixed":"2","introduced":"0"}]},{"type":"RANGE"},{"type":"GIT","events":[{"introduced":"0"}]}]}],"published":"soon"}"#;
        let e = import(doc).unwrap_err();
        let paths: Vec<&str> = e.iter().map(|p| p.path.as_str()).collect();
        for want in [
            "/id",
            "/modified",
            "/published",
            "/affected/0/package",
            "/affected/0/ranges/0/events/1",
            "/affected/0/ranges/0/events",
            "/affected/0/ranges/1/type",
            "/affected/0/ranges/2/repo",
        ] {
            assert!(paths.contains(&want), "{want} missing from {paths:?}");
        }
        let e = import(b"{\"id\": }").unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(e[0].reason.contains("line 1, column"), "{}", e[0].reason);
    }

    #[test]
    fn purl_built_severity_computed_and_round_trip() {
        let doc = br#"{"id":"PYSEC-1","modified":"2023-05-01T00:00:00Z","published":"2023-04-01T00:00:00Z",
          "summary":"s","details":"d","aliases":["CVE-2023-1","CVE-2023-1"],
          "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
          "affected":[{"package":{"ecosystem":"PyPI","name":"Foo_Bar"},
            "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.0rc1"}]}],
            "versions":["1.0","1.1"]}],
          "references":[{"type":"WEB","url":"https://example.org/a"}]}"#;
        let imp = import(doc).unwrap();
        let a = &imp.advisory;
        assert_eq!(a.affected[0].purl.as_deref(), Some("pkg:pypi/foo-bar"));
        assert_eq!(a.aliases, ["CVE-2023-1"]);
        assert_eq!(a.severity.as_ref().unwrap().score_tenths, 98);
        assert_eq!(a.published_ms, 1_680_307_200_000);
        assert_eq!(a.remediation.as_deref(), Some("Update Foo_Bar to 2.0rc1 or later."));
        assert_eq!(a.source.as_ref().unwrap().bytes, doc.to_vec());
        assert!(a.check_limits().is_ok());

        let out = export(a, "TRELLIS-1", 1_700_000_000_000);
        assert_eq!(out["id"], "TRELLIS-1");
        assert_eq!(out["modified"], "2023-11-14T22:13:20.000Z");
        assert_eq!(out["affected"][0]["package"]["ecosystem"], "PyPI");
        assert_eq!(out["affected"][0]["package"]["name"], "foo-bar");
        assert_eq!(out["aliases"], json!(["CVE-2023-1", "PYSEC-1"]));
        // The export reads back to the same affected set.
        let again = import(&serde_json::to_vec(&out).unwrap()).unwrap().advisory;
        assert_eq!(again.affected[0].ranges, a.affected[0].ranges);
        assert_eq!(again.affected[0].versions, a.affected[0].versions);
        assert_eq!(again.severity, a.severity);
    }

    #[test]
    fn entries_osv_cannot_carry() {
        let a = Advisory {
            reference_id: String::new(),
            title: "t".into(),
            summary: String::new(),
            category: Category::Vulnerability,
            severity: None,
            aliases: vec![],
            affected: vec![Affected {
                vendor: Some("Advantech".into()),
                product: Some("WebAccess/SCADA".into()),
                versions: vec!["9.1.5U".into()],
                ranges: vec![VersionRange {
                    kind: RangeKind::Ecosystem,
                    events: vec![VersionEvent::Fixed("9.1.6".into())],
                }],
                ..Affected::default()
            }],
            references: vec![],
            remediation: None,
            published_ms: 0,
            updated_ms: 0,
            source: None,
        };
        let out = export(&a, "X-1", 0);
        assert!(out.get("affected").is_none());
        assert_eq!(out["database_specific"]["products"][0]["product"], "WebAccess/SCADA");
        assert!(out.get("published").is_none());
    }
}
