//! The console's pages as askama templates (checked when the daemon compiles: a field a page
//! names that its struct lacks is a build error) and its assets, embedded in the binary.
//! Templates escape every value as HTML; nothing another organization wrote is ever marked safe.

use askama::Template;
use serde::Serialize;

use crate::api::types::{AdvisoryView, AffectedMatch, GroupInfo, PeerInfo, PostureView, SbomInfo, Status};

pub const APP_CSS: &str = include_str!("static/app.css");
pub const APP_JS: &str = include_str!("static/app.js");
pub const LOGO_SVG: &str = include_str!("static/logo.svg");

/// What every signed-in page shows around its content.
pub struct Chrome {
    pub title: String,
    pub org: String,
    pub fingerprint: String,
    pub csrf: String,
    /// The navigation entry of this page.
    pub nav: &'static str,
    pub notice: Option<String>,
    pub error: Option<String>,
}

impl Chrome {
    pub const NAV: [(&'static str, &'static str); 7] = [
        ("/", "Inbox"),
        ("/publish", "Publish"),
        ("/affected", "Affected"),
        ("/groups", "Groups"),
        ("/posture", "Posture"),
        ("/concentration", "Concentration"),
        ("/node", "Node"),
    ];

    pub fn nav_items(&self) -> Vec<(&'static str, &'static str, bool)> {
        Self::NAV.iter().map(|(h, l)| (*h, *l, *h == self.nav)).collect()
    }
}

/// A TLP label as FIRST's TLP 2.0 shows it: the text and the colour class.
#[derive(Clone, Debug, Serialize)]
pub struct TlpBadge {
    pub label: &'static str,
    pub class: &'static str,
}

/// A role as its word, or `none` when there is none.
pub fn role_word(role: &Option<trellis_proto::group::Role>, none: &'static str) -> &'static str {
    role.map_or(none, |r| r.as_str())
}

pub fn tlp_badge(tlp: &str) -> TlpBadge {
    match tlp.parse::<trellis_proto::Tlp>() {
        Ok(t) => TlpBadge {
            label: t.label(),
            class: match t {
                trellis_proto::Tlp::Clear => "tlp-clear",
                trellis_proto::Tlp::Green => "tlp-green",
                trellis_proto::Tlp::Amber => "tlp-amber",
                trellis_proto::Tlp::AmberStrict => "tlp-amber",
                trellis_proto::Tlp::Red => "tlp-red",
            },
        },
        Err(_) => TlpBadge { label: "TLP:?", class: "tlp-unknown" },
    }
}

/// A choice in a `<select>`.
#[derive(Clone, Debug)]
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Opt {
    pub fn new(value: impl Into<String>, label: impl Into<String>, selected: bool) -> Opt {
        Opt { value: value.into(), label: label.into(), selected }
    }
}

/// A page that only says something (an advisory not found, say).
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub page: Chrome,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub failed: bool,
}

/// One advisory in the inbox (also sent as JSON over the live stream).
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub id: String,
    pub short: String,
    pub title: String,
    pub tlp: TlpBadge,
    pub severity: String,
    pub confidence: String,
    pub group: String,
    pub publisher: String,
    pub received: String,
    pub affects_me: bool,
}

#[derive(Template)]
#[template(path = "inbox.html")]
pub struct InboxPage {
    pub page: Chrome,
    pub rows: Vec<Row>,
    pub groups: Vec<Opt>,
    pub tlps: Vec<Opt>,
    pub severities: Vec<Opt>,
    pub sorts: Vec<Opt>,
    pub affects: bool,
    pub filtered: bool,
    /// The live stream with the same filters.
    pub events_url: String,
}

/// An affected product as shown.
pub struct ProductRow {
    pub what: String,
    pub range: String,
    pub fixed: String,
}

#[derive(Template)]
#[template(path = "advisory.html")]
pub struct AdvisoryPage {
    pub page: Chrome,
    pub a: AdvisoryView,
    pub tlp: TlpBadge,
    pub severity: String,
    pub published: String,
    pub received: String,
    pub confidence: String,
    pub publisher: String,
    pub recipients: Vec<String>,
    pub products: Vec<ProductRow>,
    /// References, and whether each is an http(s) URL (only those are links: a publisher's
    /// node may not have checked them).
    pub references: Vec<(String, bool)>,
    pub matches: Vec<AffectedMatch>,
    pub explain: Vec<String>,
    /// Why the label refuses re-sharing (None: it may be re-shared).
    pub reshare_refused: Option<String>,
    /// AMBER: re-sharing names organizations and is logged.
    pub reshare_named: bool,
    pub exportable: bool,
    pub groups: Vec<Opt>,
}

#[derive(Template)]
#[template(path = "affected.html")]
pub struct AffectedPage {
    pub page: Chrome,
    pub matches: Vec<AffectedMatch>,
    pub suppressed: usize,
    pub sboms: Vec<SbomInfo>,
    pub warnings: Vec<String>,
}

pub struct MemberRow {
    pub name: String,
    pub fingerprint: String,
    pub role: String,
    pub since: String,
    pub is_self: bool,
}

pub struct GroupBlock {
    pub info: GroupInfo,
    pub founder: String,
    pub members: Vec<MemberRow>,
}

#[derive(Template)]
#[template(path = "groups.html")]
pub struct GroupsPage {
    pub page: Chrome,
    pub card: String,
    pub groups: Vec<GroupBlock>,
    pub admin_groups: Vec<Opt>,
    pub kinds: Vec<Opt>,
    /// The token of an invite just made, and for whom.
    pub invite_token: Option<String>,
    pub invite_for: String,
    pub join_token: String,
    pub invite_card: String,
}

/// The publish form's values, kept when the form comes back with an error.
#[derive(Default)]
pub struct PublishValues {
    pub title: String,
    pub summary: String,
    pub severity: String,
    pub affects: String,
    pub aliases: String,
    pub references: String,
    pub remediation: String,
    pub to: String,
}

#[derive(Template)]
#[template(path = "publish.html")]
pub struct PublishPage {
    pub page: Chrome,
    pub groups: Vec<Opt>,
    pub tlps: Vec<Opt>,
    pub categories: Vec<Opt>,
    pub v: PublishValues,
}

pub struct Question {
    pub indicator: &'static str,
    pub title: &'static str,
    pub question: &'static str,
    pub meaning: &'static str,
    pub why: &'static str,
    pub example: &'static str,
    pub hint: String,
    pub value: String,
    pub evidence: String,
}

pub struct SupplierPosture {
    pub who: String,
    pub view: Option<PostureView>,
    pub problem: Option<String>,
    pub changes: Vec<String>,
}

#[derive(Template)]
#[template(path = "posture.html")]
pub struct PosturePage {
    pub page: Chrome,
    pub questions: Vec<Question>,
    pub groups: Vec<Opt>,
    pub dependencies: String,
    pub days: String,
    pub mine: Option<PostureView>,
    pub suppliers: Vec<SupplierPosture>,
}

pub struct Bar {
    pub label: String,
    pub count: usize,
    /// Width in percent of the widest bar.
    pub width: usize,
    pub y: usize,
}

pub struct Chart {
    pub group: String,
    pub suppliers: usize,
    pub threshold: usize,
    pub other: usize,
    pub bars: Vec<Bar>,
    pub height: usize,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "concentration.html")]
pub struct ConcentrationPage {
    pub page: Chrome,
    pub charts: Vec<Chart>,
}

#[derive(Template)]
#[template(path = "node.html")]
pub struct NodePage {
    pub page: Chrome,
    pub status: Status,
    pub peers: Vec<PeerInfo>,
    pub store: String,
    pub console: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrome() -> Chrome {
        Chrome {
            title: "Inbox".into(),
            org: "Alpha <b>Water</b>".into(),
            fingerprint: "abcd".into(),
            csrf: "tok\"en".into(),
            nav: "/",
            notice: None,
            error: None,
        }
    }

    #[test]
    fn text_other_organizations_wrote_is_escaped() {
        let row = Row {
            id: "id1".into(),
            short: "id1".into(),
            title: "<script>alert(1)</script>".into(),
            tlp: tlp_badge("green"),
            severity: "-".into(),
            confidence: "0.50".into(),
            group: "water\" onmouseover=\"x".into(),
            publisher: "Evil & Co".into(),
            received: "-".into(),
            affects_me: false,
        };
        let page = InboxPage {
            page: chrome(),
            rows: vec![row],
            groups: vec![],
            tlps: vec![],
            severities: vec![],
            sorts: vec![],
            affects: false,
            filtered: false,
            events_url: "/events?group=a&tlp=b".into(),
        }
        .render()
        .unwrap();
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(page.contains("&#60;script&#62;") || page.contains("&lt;script&gt;"), "{page}");
        assert!(!page.contains("water\" onmouseover"), "{page}");
        assert!(!page.contains("<b>Water</b>"));
        assert!(!page.contains("tok\"en"));
        // No inline script: the page's only script is the console's own file.
        assert_eq!(page.matches("<script").count(), 1);
        assert!(page.contains("<script src=\"/static/app.js\" defer></script>"));
    }

    #[test]
    fn labels_are_tlp_2_0() {
        let b = tlp_badge("amber+strict");
        assert_eq!((b.label, b.class), ("TLP:AMBER+STRICT", "tlp-amber"));
        assert_eq!(tlp_badge("clear").label, "TLP:CLEAR");
        assert_eq!(tlp_badge("red").class, "tlp-red");
        assert_eq!(tlp_badge("purple").label, "TLP:?");
        // FIRST's colours, on black.
        for rule in [".tlp-green { color: #33ff00; }", ".tlp-amber { color: #ffc000; }", ".tlp-red { color: #ff2b2b; }"]
        {
            assert!(APP_CSS.contains(rule), "{rule}");
        }
        assert!(APP_CSS.contains(".tlp { display: inline-block; background: #000;"));
    }
}
