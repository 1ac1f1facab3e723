//! MISP feeds out: the directory layout MISP's "Add feed" (format: MISP feed) reads — a
//! `manifest.json` keyed by event uuid, and one `<uuid>.json` per event. Each advisory is an
//! event: its CVEs as `vulnerability` attributes, its references as `link` attributes, its TLP
//! as a `tlp:` tag of MISP's TLP taxonomy. Uuids derive from the item ids, so re-exporting
//! updates events in place instead of duplicating them.

use serde_json::{Value, json};

use crate::Tlp;

use super::csaf::is_cve;
use super::time::format_date;
use super::{ExportItem, name_uuid};

/// MISP's threat level: 1 high, 2 medium, 3 low, 4 undefined.
fn threat_level(item: &ExportItem) -> &'static str {
    match item.advisory.severity.as_ref().map(|s| s.score_tenths) {
        Some(70..) => "1",
        Some(40..=69) => "2",
        Some(_) => "3",
        None => "4",
    }
}

/// The tag name of a label in MISP's `tlp` taxonomy.
pub fn tlp_tag(t: Tlp) -> String {
    format!("tlp:{}", t.as_str())
}

/// MISP's distribution level for a label: CLEAR to all communities, GREEN to connected
/// communities, the named-recipient labels to this organization only.
fn distribution(t: Tlp) -> &'static str {
    match t {
        Tlp::Clear => "3",
        Tlp::Green => "2",
        _ => "0",
    }
}

/// The uuid of an item's event.
pub fn event_uuid(item_id: &str) -> String {
    name_uuid("trellis/misp/event", item_id)
}

/// The manifest and the events of a feed of `items`.
pub fn export_feed(items: &[ExportItem]) -> (Value, Vec<(String, Value)>) {
    let mut manifest = serde_json::Map::new();
    let mut events = Vec::new();
    for item in items {
        let a = &item.advisory;
        let uuid = event_uuid(&item.id);
        let when = if a.published_ms > 0 { a.published_ms } else { item.received_ms };
        let ts = (a.updated_ms.max(when) / 1000).to_string();
        let orgc = json!({"name": item.publisher_name, "uuid": name_uuid("trellis/misp/org", &item.publisher_id)});
        let tags = json!([{"name": tlp_tag(item.tlp)}]);
        let attr = |kind: &str, value: &str, comment: &str| {
            json!({
                "uuid": name_uuid("trellis/misp/attribute", &format!("{}/{kind}/{value}", item.id)),
                "type": kind, "category": "External analysis", "value": value,
                "to_ids": false, "distribution": "5", "timestamp": ts, "comment": comment,
            })
        };
        let mut attributes: Vec<Value> =
            a.aliases.iter().filter(|c| is_cve(c)).map(|c| attr("vulnerability", c, "")).collect();
        attributes.extend(a.references.iter().map(|u| attr("link", u, "reference")));
        if !a.summary.is_empty() {
            attributes.push(attr("text", &a.summary, "summary"));
        }
        if let Some(r) = &a.remediation {
            attributes.push(attr("text", r, "remediation"));
        }
        manifest.insert(
            uuid.clone(),
            json!({
                "info": a.title, "date": format_date(when), "threat_level_id": threat_level(item),
                "analysis": "2", "timestamp": ts, "Orgc": orgc, "Tag": tags,
            }),
        );
        let event = json!({"Event": {
            "uuid": uuid, "info": a.title, "date": format_date(when),
            "threat_level_id": threat_level(item), "analysis": "2", "published": true,
            "timestamp": ts, "publish_timestamp": ts, "distribution": distribution(item.tlp),
            "Orgc": orgc, "Tag": tags, "Attribute": attributes,
        }});
        events.push((uuid, event));
    }
    (Value::Object(manifest), events)
}
