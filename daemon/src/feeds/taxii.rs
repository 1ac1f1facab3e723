//! A TAXII 2.1 collection, polled: `GET {collection}/objects/` with
//! `Accept: application/taxii+json;version=2.1`, `added_after` set to the
//! `X-TAXII-Date-Added-Last` of the last run's last page, and `next` followed while the server
//! says `more`, at most [`MAX_PAGES`] pages per run. Pure functions, no I/O; the run is in the
//! parent module.
//!
//! STIX objects become advisories: a `vulnerability` (its name, description, `cve` external
//! references as aliases, external URLs as references) and an `indicator` (its name, its
//! description and pattern as the summary) each become one, with the object id as the advisory's
//! `reference_id` and its `modified` as the advisory's time, so a later `modified` is a
//! revision and `revoked: true` withdraws it. The label comes from the object's TLP marking
//! (TLP 2.0 or TLP 1.0 marking definitions); other object types are skipped.

use serde_json::Value;
use trellis_proto::Tlp;
use trellis_proto::formats::csaf::is_cve;
use trellis_proto::formats::stix;
use trellis_proto::formats::time::parse_unix_ms;
use trellis_proto::items::{Advisory, Category};
use trellis_proto::limits::{MAX_LIST, MAX_SHORT, MAX_TEXT, MAX_TITLE};

use super::publish::Native;

/// The media type asked for and expected.
pub const MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
/// The response header that says up to when a page's objects were added.
pub const ADDED_LAST: &str = "x-taxii-date-added-last";
/// Bounds on one run.
pub const MAX_PAGE_BYTES: usize = 8 * 1024 * 1024;
pub const MAX_PAGES: usize = 100;
/// Objects asked for per page.
pub const PAGE_LIMIT: usize = 500;

/// The TLP 1.0 marking definitions of STIX 2.1 (section 7.2.1.4 of the specification).
const TLP1: [(&str, Tlp); 4] = [
    ("marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9", Tlp::Clear),
    ("marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", Tlp::Green),
    ("marking-definition--f88d31f6-486f-44da-b317-01333bde0b82", Tlp::Amber),
    ("marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed", Tlp::Red),
];

/// The collection URL as a user gives it: https, ending in `/collections/{id}/`.
pub fn collection_url(source: &str) -> Result<String, String> {
    let s = source.trim();
    if s.starts_with("http://") {
        return Err(format!("{s}: TAXII collections are polled over https only"));
    }
    if !s.starts_with("https://") || s.len() > 2048 || s.contains(char::is_whitespace) || s.contains(['?', '#']) {
        return Err(format!("{s:?} is not a TAXII collection URL (https://HOST/API-ROOT/collections/ID/)"));
    }
    let base = s.trim_end_matches('/').trim_end_matches("/objects");
    let parts: Vec<&str> = base.rsplitn(3, '/').collect();
    if parts.len() < 3 || parts[1] != "collections" || parts[0].is_empty() {
        return Err(format!("{s}: a TAXII collection URL ends in /collections/ID/"));
    }
    Ok(format!("{base}/"))
}

/// The URL of one page of objects.
pub fn objects_url(collection: &str, added_after: Option<&str>, next: Option<&str>) -> String {
    let enc = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let mut u = format!("{collection}objects/?limit={PAGE_LIMIT}");
    if let Some(a) = added_after {
        u.push_str(&format!("&added_after={}", enc(a)));
    }
    if let Some(n) = next {
        u.push_str(&format!("&next={}", enc(n)));
    }
    u
}

/// One page of a collection: its objects, and the `next` to ask for when there are more.
#[derive(Debug, Default)]
pub struct Page {
    pub objects: Vec<Value>,
    pub next: Option<String>,
}

/// Read a TAXII envelope.
pub fn parse_envelope(bytes: &[u8]) -> Result<Page, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("the TAXII envelope is not JSON: {e}"))?;
    if !v.is_object() {
        return Err("the TAXII envelope is not an object".into());
    }
    let objects = match v.get("objects") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err("the TAXII envelope's objects is not a list".into()),
    };
    let more = v.get("more").and_then(Value::as_bool).unwrap_or(false);
    let next = v.get("next").and_then(Value::as_str).filter(|n| !n.is_empty() && n.len() <= 512).map(String::from);
    if more && next.is_none() {
        return Err("the server says there are more objects but gives no next".into());
    }
    Ok(Page { objects, next: if more { next } else { None } })
}

/// The label of an object's TLP marking, the strictest if several; `None` if none.
fn marking_tlp(obj: &Value) -> Option<Tlp> {
    let refs = obj.get("object_marking_refs").and_then(Value::as_array)?;
    let mut out: Option<Tlp> = None;
    for r in refs.iter().take(64).filter_map(Value::as_str) {
        let found = Tlp::ALL
            .iter()
            .copied()
            .find(|t| stix::tlp_marking_id(*t) == r)
            .or_else(|| TLP1.iter().find(|(id, _)| *id == r).map(|(_, t)| *t));
        if let Some(t) = found {
            out = Some(out.map_or(t, |o| o.max(t)));
        }
    }
    out
}

fn clip(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

fn text<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

/// The id and `modified` of a STIX object, if it is one this feed maps (a vulnerability or an
/// indicator); `None` for other types.
pub fn mapped(obj: &Value) -> Option<(String, String)> {
    let kind = text(obj, "type")?;
    if !matches!(kind, "vulnerability" | "indicator") {
        return None;
    }
    let id = text(obj, "id").unwrap_or("").chars().take(MAX_SHORT).collect();
    let modified = text(obj, "modified").or_else(|| text(obj, "created")).unwrap_or("").chars().take(64).collect();
    Some((id, modified))
}

/// Map a `vulnerability` or `indicator` to an advisory.
pub fn to_native(obj: &Value) -> Result<Native, String> {
    let kind = text(obj, "type").unwrap_or("");
    let id = text(obj, "id").ok_or("the object has no id")?;
    if !id.starts_with(&format!("{kind}--")) || id.len() > 200 {
        return Err("the object's id is not of its type".into());
    }
    let modified = text(obj, "modified").and_then(parse_unix_ms).ok_or("the object has no valid modified time")?;
    let created = text(obj, "created").and_then(parse_unix_ms).unwrap_or(modified);
    let name = text(obj, "name");
    let description = text(obj, "description");
    let mut a = Advisory::text("", "", created);
    a.updated_ms = modified;
    a.reference_id = id.to_string();
    for r in
        obj.get("external_references").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]).iter().take(MAX_LIST)
    {
        let ext = text(r, "external_id").map(str::to_ascii_uppercase);
        if text(r, "source_name").is_some_and(|s| s.eq_ignore_ascii_case("cve"))
            && let Some(c) = ext.filter(|c| is_cve(c))
            && !a.aliases.contains(&c)
            && a.aliases.len() < MAX_LIST
        {
            a.aliases.push(c);
        }
        if let Some(u) = text(r, "url").filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            && u.len() <= MAX_SHORT
            && !a.references.iter().any(|x| x == u)
            && a.references.len() < MAX_LIST
        {
            a.references.push(u.to_string());
        }
    }
    match kind {
        "vulnerability" => {
            a.category = Category::Vulnerability;
            let title = name.ok_or("the vulnerability has no name")?;
            if is_cve(&title.to_ascii_uppercase()) && !a.aliases.contains(&title.to_ascii_uppercase()) {
                a.aliases.insert(0, title.to_ascii_uppercase());
            }
            a.title = clip(title, MAX_TITLE);
            a.summary = clip(description.unwrap_or(title), MAX_TEXT);
        }
        "indicator" => {
            a.category = Category::Threat;
            let pattern = text(obj, "pattern").ok_or("the indicator has no pattern")?;
            let pattern_type = text(obj, "pattern_type").unwrap_or("stix");
            a.title = clip(name.map(String::from).unwrap_or_else(|| format!("Indicator {id}")).as_str(), MAX_TITLE);
            let mut s = String::new();
            if let Some(d) = description {
                s.push_str(d);
                s.push_str("\n\n");
            }
            s.push_str(&format!("Pattern ({pattern_type}): {pattern}"));
            if let Some(from) = text(obj, "valid_from") {
                s.push_str(&format!("\nValid from {from}"));
            }
            if let Some(until) = text(obj, "valid_until") {
                s.push_str(&format!(" until {until}"));
            }
            a.summary = clip(&s, MAX_TEXT);
        }
        other => return Err(format!("a {other} object is not mapped to an advisory")),
    }
    let withdrawn =
        (obj.get("revoked").and_then(Value::as_bool) == Some(true)).then(|| "revoked by its source".to_string());
    a.check_limits().map_err(|e| format!("the object maps to an advisory out of bounds: {e}"))?;
    Ok(Native { advisory: a, tlp: marking_tlp(obj), withdrawn })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn collection_urls() {
        assert_eq!(
            collection_url("https://h.example/api1/collections/abc").unwrap(),
            "https://h.example/api1/collections/abc/"
        );
        assert_eq!(
            collection_url("https://h.example/api1/collections/abc/objects/").unwrap(),
            "https://h.example/api1/collections/abc/"
        );
        assert!(collection_url("https://h.example/api1/").is_err());
        assert!(collection_url("http://h.example/api1/collections/abc/").is_err());
        let u = objects_url("https://h/r/collections/c/", Some("2024-01-01T00:00:00.000Z"), Some("a b"));
        assert_eq!(u, "https://h/r/collections/c/objects/?limit=500&added_after=2024-01-01T00%3A00%3A00.000Z&next=a+b");
    }

    #[test]
    fn envelopes() {
        let p = parse_envelope(br#"{"more": true, "next": "2", "objects": [{"type": "indicator"}]}"#).unwrap();
        assert_eq!((p.objects.len(), p.next.as_deref()), (1, Some("2")));
        assert!(parse_envelope(br#"{"more": false}"#).unwrap().objects.is_empty());
        assert!(parse_envelope(br#"{"more": true}"#).is_err());
        assert!(parse_envelope(b"[]").is_err());
    }

    #[test]
    fn objects_map_to_advisories() {
        let v = json!({"type": "vulnerability", "id": "vulnerability--1b1e6a4e-7f3c-4f3e-9d0a-1c2b3d4e5f60",
            "created": "2024-05-01T00:00:00.000Z", "modified": "2024-05-02T00:00:00.000Z", "name": "CVE-2024-3400",
            "description": "Command injection.", "object_marking_refs": [stix::tlp_marking_id(Tlp::Green)],
            "external_references": [{"source_name": "cve", "external_id": "CVE-2024-3400"}, {"source_name": "x", "url": "https://x.example/a"}]});
        let n = to_native(&v).unwrap();
        assert_eq!(n.tlp, Some(Tlp::Green));
        assert_eq!(n.advisory.aliases, ["CVE-2024-3400"]);
        assert_eq!(n.advisory.references, ["https://x.example/a"]);
        assert_eq!(n.advisory.category, Category::Vulnerability);
        let mut revoked = v.clone();
        revoked["revoked"] = true.into();
        assert!(to_native(&revoked).unwrap().withdrawn.is_some());
        let i = json!({"type": "indicator", "id": "indicator--031778a4-057f-48e6-9db9-c8d72b81ccd5",
            "created": "2015-05-15T09:12:16.432Z", "modified": "2015-05-15T09:12:16.432Z", "name": "HTRAN Hop Point Accessor",
            "pattern": "[ipv4-addr:value = '223.166.0.0/15']", "pattern_type": "stix", "valid_from": "2015-05-15T09:12:16.432678Z",
            "object_marking_refs": ["marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"]});
        let n = to_native(&i).unwrap();
        assert_eq!((n.tlp, n.advisory.category), (Some(Tlp::Clear), Category::Threat));
        assert!(n.advisory.summary.contains("223.166.0.0/15"));
        assert!(to_native(&json!({"type": "indicator", "id": "malware--x", "modified": "2015-05-15T09:12:16.432Z", "pattern": "x"})).is_err());
        assert_eq!(mapped(&json!({"type": "malware", "id": "malware--x"})), None);
    }
}
