//! A MISP feed, read as hostile input: `manifest.json` (an object keyed by event uuid, each
//! with its `timestamp`) and one `<uuid>.json` per event (`{"Event": {...}}`) — the layout
//! MISP's "MISP feed" format and `trellis export --format misp` both write. Pure functions, no
//! I/O; the run that reads the files is in the parent module.
//!
//! An event becomes an advisory: `info` its title, its `text` attribute commented `summary` its
//! summary (else a line naming the event), `vulnerability` attributes its aliases, `link`
//! attributes its references, a `text` attribute commented `remediation` its remediation; its
//! uuid is the advisory's `reference_id` and its `timestamp` the advisory's time, so a later
//! `timestamp` is a revision. The event's `tlp:` tags give its label (the strictest if several);
//! an unknown `tlp:` tag refuses the event rather than guess.

use std::path::PathBuf;

use serde_json::Value;
use trellis_proto::Tlp;
use trellis_proto::formats::csaf::is_cve;
use trellis_proto::items::{Advisory, Category};
use trellis_proto::limits::{MAX_LIST, MAX_SHORT, MAX_TEXT, MAX_TITLE};

use super::publish::Native;

/// Bounds on what a MISP feed can make the node read.
pub const MAX_MANIFEST_BYTES: usize = 16 * 1024 * 1024;
pub const MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;
/// At most this many events are read per run (unchanged ones cost nothing and do not count);
/// the rest wait for the next run.
pub const MAX_EVENTS_PER_RUN: usize = 5_000;
/// Attributes looked at per event (a large event's IOCs are not an advisory's business).
const MAX_ATTRIBUTES: usize = 20_000;

/// Where the feed is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A directory holding `manifest.json` and the events.
    Dir(PathBuf),
    /// The https URL of the directory (no trailing slash).
    Url(String),
}

impl Source {
    /// The source as a user gives it: an absolute directory path, or an https URL of the feed's
    /// directory or of its `manifest.json`. `check_exists`: the directory must be there now.
    pub fn parse(source: &str, check_exists: bool) -> Result<Source, String> {
        let s = source.trim();
        if s.starts_with("http://") {
            return Err(format!("{s}: MISP feeds are fetched over https only"));
        }
        if let Some(rest) = s.strip_prefix("https://") {
            if rest.is_empty() || s.len() > 2048 || s.contains(char::is_whitespace) || s.contains(['?', '#']) {
                return Err(format!("{s:?} is not a feed URL"));
            }
            let base = s.strip_suffix("manifest.json").unwrap_or(s).trim_end_matches('/');
            return Ok(Source::Url(base.to_string()));
        }
        let p = PathBuf::from(s);
        if !p.is_absolute() {
            return Err(format!("{s:?}: give a MISP feed as an https URL or the absolute path of its directory"));
        }
        let p = if p.file_name().is_some_and(|n| n == "manifest.json") {
            p.parent().map(PathBuf::from).unwrap_or(p)
        } else {
            p
        };
        if check_exists && !p.join("manifest.json").is_file() {
            return Err(format!("{}: no manifest.json there", p.display()));
        }
        Ok(Source::Dir(p))
    }

    /// How the source is stored and shown.
    pub fn display(&self) -> String {
        match self {
            Source::Dir(p) => p.display().to_string(),
            Source::Url(u) => format!("{u}/"),
        }
    }

    /// Where an event is: a URL, or a file in the directory.
    pub fn event_location(&self, uuid: &str) -> String {
        match self {
            Source::Dir(p) => p.join(format!("{uuid}.json")).display().to_string(),
            Source::Url(u) => format!("{u}/{uuid}.json"),
        }
    }
}

/// Whether `s` is a uuid in its text form (so it is safe as a file name and in a URL).
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes()
            .enumerate()
            .all(|(i, b)| if matches!(i, 8 | 13 | 18 | 23) { b == b'-' } else { b.is_ascii_hexdigit() })
}

/// A MISP timestamp (seconds since the epoch, as a string or a number).
fn seconds(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// Entries refused from a listing: (what, why).
pub type Refusals = Vec<(String, String)>;

/// One event the manifest lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub uuid: String,
    /// Its `timestamp`, as text: the change marker.
    pub timestamp: String,
}

/// Read `manifest.json`: the events it lists, oldest change first (so a feed larger than one
/// run's bound is taken in over several runs), and the keys refused with why.
pub fn parse_manifest(bytes: &[u8]) -> Result<(Vec<Listed>, Refusals), String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("manifest.json is not JSON: {e}"))?;
    let obj = v.as_object().ok_or("manifest.json is not an object keyed by event uuid")?;
    let mut listed = Vec::new();
    let mut refused = Vec::new();
    for (key, entry) in obj {
        let shown: String = key.chars().take(64).collect();
        if !is_uuid(key) {
            refused.push((shown, "the manifest key is not an event uuid".to_string()));
            continue;
        }
        match seconds(entry.get("timestamp")) {
            Some(t) => listed.push(Listed { uuid: key.to_ascii_lowercase(), timestamp: t.to_string() }),
            None => refused.push((shown, "the manifest gives the event no timestamp".to_string())),
        }
    }
    listed.sort_by(|a, b| {
        (a.timestamp.parse::<u64>().unwrap_or(0), &a.uuid).cmp(&(b.timestamp.parse().unwrap_or(0), &b.uuid))
    });
    Ok((listed, refused))
}

/// The label a `tlp:` tag names, `Ok(None)` for a tag of another taxonomy.
fn tag_tlp(name: &str) -> Result<Option<Tlp>, String> {
    let n = name.trim().to_ascii_lowercase();
    let Some(t) = n.strip_prefix("tlp:") else { return Ok(None) };
    Ok(Some(match t.trim_matches('"') {
        "white" | "clear" => Tlp::Clear,
        "green" => Tlp::Green,
        "amber" => Tlp::Amber,
        "amber+strict" => Tlp::AmberStrict,
        "red" => Tlp::Red,
        other => {
            return Err(format!(
                "the event's tag tlp:{} is not a TLP label Trellis knows",
                other.chars().take(32).collect::<String>()
            ));
        }
    }))
}

fn clip(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Map one event file to an advisory. `uuid` is the one the manifest listed it under, `url`
/// where it was read from when that is a URL (named in the references).
pub fn parse_event(bytes: &[u8], uuid: &str, url: Option<&str>) -> Result<Native, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let ev = v.get("Event").ok_or("not a MISP event: no \"Event\" object")?;
    let ev_uuid = ev.get("uuid").and_then(Value::as_str).unwrap_or("");
    if !ev_uuid.eq_ignore_ascii_case(uuid) {
        return Err(format!(
            "the event's uuid {:?} is not the {uuid} the manifest lists it under",
            ev_uuid.chars().take(64).collect::<String>()
        ));
    }
    let updated_s = seconds(ev.get("timestamp")).ok_or("the event has no timestamp")?;
    let title = ev
        .get("info")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or("the event has no info (its title)")?;
    let published_ms = ev
        .get("date")
        .and_then(Value::as_str)
        .and_then(|d| trellis_proto::formats::time::parse_unix_ms(&format!("{}T00:00:00Z", d.trim())))
        .or_else(|| seconds(ev.get("publish_timestamp")).map(|s| s * 1000))
        .unwrap_or(updated_s * 1000);
    let mut tlp: Option<Tlp> = None;
    for t in ev.get("Tag").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]).iter().take(MAX_LIST) {
        if let Some(found) = tag_tlp(t.get("name").and_then(Value::as_str).unwrap_or(""))? {
            tlp = Some(tlp.map_or(found, |x| x.max(found)));
        }
    }
    let mut a = Advisory::text(&clip(title, MAX_TITLE), "", published_ms);
    a.updated_ms = updated_s * 1000;
    a.reference_id = uuid.to_ascii_lowercase();
    a.category = Category::Threat;
    // Attributes of the event and of its objects.
    let direct = ev.get("Attribute").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let in_objects = ev
        .get("Object")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .take(MAX_ATTRIBUTES)
        .flat_map(|o| o.get("Attribute").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]));
    let mut summary = None;
    let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
    for attr in direct.iter().chain(in_objects).take(MAX_ATTRIBUTES) {
        if attr.get("deleted").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let kind = attr.get("type").and_then(Value::as_str).unwrap_or("").trim();
        let value = attr.get("value").and_then(Value::as_str).unwrap_or("").trim();
        let comment = attr.get("comment").and_then(Value::as_str).unwrap_or("").trim();
        if kind.is_empty() || value.is_empty() {
            continue;
        }
        *kinds.entry(clip(kind, 32)).or_default() += 1;
        match (kind, comment) {
            ("vulnerability", _) => {
                let id = value.to_ascii_uppercase();
                if is_cve(&id) && !a.aliases.contains(&id) && a.aliases.len() < MAX_LIST {
                    a.aliases.push(id);
                }
            }
            ("link", _)
                if (value.starts_with("https://") || value.starts_with("http://"))
                    && value.len() <= MAX_SHORT
                    && !a.references.iter().any(|r| r == value)
                    && a.references.len() < MAX_LIST - 1 =>
            {
                a.references.push(value.to_string());
            }
            ("text", "summary") if summary.is_none() => summary = Some(clip(value, MAX_TEXT)),
            ("text", "remediation") if a.remediation.is_none() => a.remediation = Some(clip(value, MAX_TEXT)),
            _ => {}
        }
    }
    if !a.aliases.is_empty() {
        a.category = Category::Vulnerability;
    }
    let org = ev.pointer("/Orgc/name").and_then(Value::as_str).map(|n| clip(n.trim(), 200)).filter(|n| !n.is_empty());
    a.summary = summary.unwrap_or_else(|| {
        let counts: Vec<String> = kinds.iter().take(12).map(|(k, n)| format!("{n} {k}")).collect();
        format!(
            "MISP event {uuid}{}{}",
            org.as_deref().map(|o| format!(" by {o}")).unwrap_or_default(),
            if counts.is_empty() { String::new() } else { format!(": {}", counts.join(", ")) }
        )
    });
    if let Some(u) = url
        && u.len() <= MAX_SHORT
        && !a.references.iter().any(|r| r == u)
    {
        a.references.push(u.to_string());
    }
    a.check_limits().map_err(|e| format!("the event maps to an advisory out of bounds: {e}"))?;
    Ok(Native { advisory: a, tlp, withdrawn: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "5f1c3e4a-9b2d-4c8e-a1f0-123456789abc";

    #[test]
    fn sources() {
        assert_eq!(
            Source::parse("https://x.org/feed/manifest.json", false).unwrap(),
            Source::Url("https://x.org/feed".into())
        );
        assert_eq!(
            Source::parse("https://x.org/feed/", false).unwrap().event_location(U),
            format!("https://x.org/feed/{U}.json")
        );
        assert!(Source::parse("http://x.org/feed", false).is_err());
        assert!(Source::parse("relative/dir", false).is_err());
        assert_eq!(Source::parse("/srv/misp/manifest.json", false).unwrap(), Source::Dir("/srv/misp".into()));
    }

    #[test]
    fn manifests_list_only_uuids_with_timestamps() {
        let m = format!(
            r#"{{"{U}": {{"timestamp": "1700000000"}}, "../../etc/passwd": {{"timestamp": "1"}}, "5f1c3e4a-9b2d-4c8e-a1f0-123456789abd": {{}}}}"#
        );
        let (listed, refused) = parse_manifest(m.as_bytes()).unwrap();
        assert_eq!(listed, vec![Listed { uuid: U.into(), timestamp: "1700000000".into() }]);
        assert_eq!(refused.len(), 2);
        assert!(parse_manifest(b"[1]").is_err());
    }

    #[test]
    fn events_map_to_advisories() {
        let ev = serde_json::json!({"Event": {
            "uuid": U, "info": "Phishing wave against water utilities", "date": "2024-05-01", "timestamp": "1714600000",
            "Orgc": {"name": "CERT-X"},
            "Tag": [{"name": "tlp:green"}, {"name": "misp-galaxy:threat-actor=\"X\""}],
            "Attribute": [
                {"type": "vulnerability", "value": "cve-2024-1234"},
                {"type": "link", "value": "https://cert-x.example/a"},
                {"type": "ip-dst", "value": "198.51.100.7"},
                {"type": "text", "value": "Patch the gateway.", "comment": "remediation"}
            ],
            "Object": [{"Attribute": [{"type": "domain", "value": "evil.example"}]}]
        }});
        let n = parse_event(&serde_json::to_vec(&ev).unwrap(), U, Some("https://f.example/x.json")).unwrap();
        assert_eq!(n.tlp, Some(Tlp::Green));
        let a = &n.advisory;
        assert_eq!((a.reference_id.as_str(), a.updated_ms), (U, 1_714_600_000_000));
        assert_eq!(a.aliases, ["CVE-2024-1234"]);
        assert_eq!(a.category, Category::Vulnerability);
        assert_eq!(a.references, ["https://cert-x.example/a", "https://f.example/x.json"]);
        assert_eq!(a.remediation.as_deref(), Some("Patch the gateway."));
        assert!(a.summary.contains("by CERT-X") && a.summary.contains("1 ip-dst"), "{}", a.summary);
        // The uuid must be the one listed; an unknown TLP tag refuses.
        assert!(parse_event(&serde_json::to_vec(&ev).unwrap(), "5f1c3e4a-9b2d-4c8e-a1f0-000000000000", None).is_err());
        let mut odd = ev.clone();
        odd["Event"]["Tag"] = serde_json::json!([{"name": "tlp:purple"}]);
        assert!(parse_event(&serde_json::to_vec(&odd).unwrap(), U, None).unwrap_err().contains("tlp:purple"));
    }
}
