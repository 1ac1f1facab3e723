//! The console's pages. Each handler calls the engine functions the local API's handlers call
//! (`Engine::advisories`, `publish_advisory`, `invite`, `join`, `affected`, …) and renders the
//! result; no rule is decided here.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::{Method, Response, StatusCode};

use super::templates::*;
use super::{Body, Ctx, html, redirect, text};
use crate::api::types::{AdvisoryView, Event, ExportRequest, ImportAdvisory, PublishAdvisory, PublishPosture};
use crate::engine::{ActionError, Engine};

fn render(t: &impl Template) -> Response<Body> {
    match t.render() {
        Ok(s) => html(StatusCode::OK, s),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("the page could not be rendered: {e}\n")),
    }
}

fn render_status(status: StatusCode, t: &impl Template) -> Response<Body> {
    let mut r = render(t);
    *r.status_mut() = status;
    r
}

/// `2024-05-01 13:45 UTC`.
pub fn when(ms: impl std::borrow::Borrow<u64>) -> String {
    let ms = *ms.borrow();
    if ms == 0 {
        return "-".into();
    }
    let t = trellis_proto::formats::time::format_rfc3339_ms(ms);
    format!("{} {} UTC", &t[..10], &t[11..16])
}

fn chrome(ctx: &Ctx, title: &str, nav: &'static str) -> Chrome {
    Chrome {
        title: title.to_string(),
        org: ctx.engine.my_name(),
        fingerprint: ctx.engine.me().fingerprint(),
        csrf: ctx.session.csrf.clone(),
        nav,
        notice: None,
        error: None,
    }
}

/// `GET /login?token=…`: spend a one-time token and start a session.
pub fn login(engine: &Engine, listening: &super::auth::Listening, q: &super::forms::Form) -> Response<Body> {
    let token = q.get("token");
    if token.is_empty() {
        return render_status(StatusCode::UNAUTHORIZED, &LoginPage { failed: false });
    }
    let Some(id) = engine.console().login(token) else {
        return render_status(StatusCode::UNAUTHORIZED, &LoginPage { failed: true });
    };
    let secure = if listening.tls { "; Secure" } else { "" };
    let cookie = format!(
        "{}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        super::cookie_name(listening),
        super::auth::SESSION_IDLE_MS / 1000
    );
    // A page that moves on to the inbox (rather than a redirect), so the cookie is sent by a
    // navigation the console itself starts, whatever opened the link.
    let mut r = html(
        StatusCode::OK,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Signed in · Trellis</title>\
         <meta http-equiv=\"refresh\" content=\"0;url=/\"><link rel=\"stylesheet\" href=\"/static/app.css\"></head>\
         <body><main id=\"main\"><p>Signed in. <a href=\"/\">Open the inbox</a>.</p></main></body></html>"
            .to_string(),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(hyper::header::SET_COOKIE, v);
    }
    r
}

pub async fn route(ctx: Ctx, method: &Method, path: &str) -> Response<Body> {
    let segs: Vec<String> = crate::http::path_segments(path).into_iter().filter(|s| !s.is_empty()).collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (method, segs.as_slice()) {
        (&Method::GET, []) => inbox(&ctx).await,
        (&Method::GET, ["events"]) => events(&ctx),
        (&Method::GET, ["cvss"]) => cvss(&ctx),
        (&Method::GET, ["advisory", id]) => advisory(&ctx, id, None, None).await,
        (&Method::POST, ["advisory", id, "endorse"]) => endorse(&ctx, id).await,
        (&Method::POST, ["advisory", id, "reshare"]) => reshare(&ctx, id).await,
        (&Method::POST, ["advisory", id, "export"]) => export(&ctx, id).await,
        (&Method::GET, ["publish"]) => publish_form(&ctx, PublishValues::default(), None, None).await,
        (&Method::POST, ["publish"]) => publish(&ctx).await,
        (&Method::GET, ["affected"]) => affected(&ctx, None, None, vec![]),
        (&Method::POST, ["affected"]) => sbom_upload(&ctx),
        (&Method::GET, ["groups"]) => groups(&ctx, None, None, None).await,
        (&Method::POST, ["groups", "create"]) => group_create(&ctx).await,
        (&Method::POST, ["groups", "invite"]) => group_invite(&ctx).await,
        (&Method::POST, ["groups", "join"]) => group_join(&ctx).await,
        (&Method::GET, ["posture"]) => posture(&ctx, None, None).await,
        (&Method::POST, ["posture"]) => posture_publish(&ctx).await,
        (&Method::GET, ["concentration"]) => concentration(&ctx).await,
        (&Method::GET, ["node"]) => node(&ctx).await,
        (&Method::POST, ["logout"]) => {
            ctx.engine.console().logout(&ctx.session_id);
            let mut r = redirect("/login");
            let gone = format!("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0", super::cookie_name(&ctx.listening));
            if let Ok(v) = hyper::header::HeaderValue::from_str(&gone) {
                r.headers_mut().insert(hyper::header::SET_COOKIE, v);
            }
            r
        }
        _ => text(StatusCode::NOT_FOUND, format!("no page {method} {path}\n")),
    }
}

// ---------------------------------------------------------------------------------------------
// Inbox

/// The inbox's filters, from the query.
struct Filter {
    group: Option<String>,
    tlp: Option<trellis_proto::Tlp>,
    severity: String,
    affects: bool,
    by_confidence: bool,
}

impl Filter {
    fn from(ctx: &Ctx) -> Result<Filter, ActionError> {
        let q = &ctx.query;
        let group = match q.opt("group") {
            Some(g) => Some(ctx.engine.resolve_group(&g)?.to_text()),
            None => None,
        };
        let tlp = match q.opt("tlp") {
            Some(t) => {
                Some(t.parse().map_err(|e: trellis_proto::tlp::UnknownTlp| ActionError::BadRequest(e.to_string()))?)
            }
            None => None,
        };
        Ok(Filter {
            group,
            tlp,
            severity: q.get("severity").to_ascii_lowercase(),
            affects: q.get("affects") == "1",
            by_confidence: q.get("sort") == "confidence",
        })
    }

    /// Whether an advisory passes the group, label and severity filters.
    fn keep(&self, a: &AdvisoryView) -> bool {
        let rating =
            a.score.map(|s| trellis_proto::formats::cvss::severity_name((s * 10.0).round() as u8).to_ascii_lowercase());
        self.group.as_ref().is_none_or(|g| *g == a.group)
            && self.tlp.is_none_or(|t| a.tlp == t)
            && match self.severity.as_str() {
                "" => true,
                "unscored" => rating.is_none(),
                s => rating.as_deref() == Some(s),
            }
    }
}

fn severity_text(a: &AdvisoryView) -> String {
    match (a.score, &a.severity) {
        (Some(s), _) => {
            format!("{s:.1} {}", trellis_proto::formats::cvss::severity_name((s * 10.0).round() as u8).to_lowercase())
        }
        (None, Some(v)) => v.clone(),
        (None, None) => "-".into(),
    }
}

fn publisher_text(a: &AdvisoryView) -> String {
    match &a.publisher_name {
        Some(n) => format!("{n} ({})", a.publisher_fingerprint),
        None => a.publisher_fingerprint.clone(),
    }
}

fn row(a: &AdvisoryView, affecting: &HashSet<String>) -> Row {
    Row {
        id: a.id.clone(),
        short: a.id.chars().take(12).collect(),
        title: match &a.source_id {
            Some(s) => format!("{s}: {}", a.title),
            None => a.title.clone(),
        },
        tlp: tlp_badge(a.tlp.as_str()),
        severity: severity_text(a),
        confidence: format!("{:.2}", a.confidence),
        group: a.group_name.clone(),
        publisher: publisher_text(a),
        received: when(a.received_ms),
        affects_me: affecting.contains(&a.id),
    }
}

/// Ids of the advisories that affect a component of one of this org's SBOMs (not cleared by VEX).
fn affecting(engine: &Engine) -> HashSet<String> {
    engine.affected().unwrap_or_default().into_iter().filter(|m| !m.suppressed).map(|m| m.advisory).collect()
}

async fn inbox(ctx: &Ctx) -> Response<Body> {
    let mut page = chrome(ctx, "Inbox", "/");
    let filter = match Filter::from(ctx) {
        Ok(f) => f,
        Err(e) => {
            page.error = Some(e.to_string());
            Filter { group: None, tlp: None, severity: String::new(), affects: false, by_confidence: false }
        }
    };
    let mut list = match ctx.engine.advisories(None) {
        Ok(l) => l,
        Err(e) => {
            page.error = Some(e.to_string());
            vec![]
        }
    };
    if filter.by_confidence {
        crate::engine::views::sort_by_confidence(&mut list);
    }
    let affecting = affecting(&ctx.engine);
    let rows: Vec<Row> = list
        .iter()
        .filter(|a| filter.keep(a) && (!filter.affects || affecting.contains(&a.id)))
        .map(|a| row(a, &affecting))
        .collect();
    let mut groups = vec![Opt::new("", "All groups", filter.group.is_none())];
    for g in group_infos(&ctx.engine).await {
        let selected = filter.group.as_deref() == Some(g.id.as_str());
        groups.push(Opt::new(g.id.clone(), g.name.clone(), selected));
    }
    let mut tlps = vec![Opt::new("", "All labels", filter.tlp.is_none())];
    for t in trellis_proto::Tlp::ALL {
        tlps.push(Opt::new(t.as_str(), t.label(), filter.tlp == Some(t)));
    }
    let severities = ["", "critical", "high", "medium", "low", "none", "unscored"]
        .iter()
        .map(|s| {
            let label = if s.is_empty() { "Any severity".to_string() } else { capitalize(s) };
            Opt::new(*s, label, filter.severity == *s)
        })
        .collect();
    let sorts = vec![
        Opt::new("time", "Newest first", !filter.by_confidence),
        Opt::new("confidence", "Most confident first", filter.by_confidence),
    ];
    let events_url = format!("/events?{}", ctx.query_string());
    let filtered = filter.group.is_some() || filter.tlp.is_some() || !filter.severity.is_empty() || filter.affects;
    render(&InboxPage { page, rows, groups, tlps, severities, sorts, affects: filter.affects, filtered, events_url })
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The groups, as `trellis group list` shows them.
async fn group_infos(engine: &Engine) -> Vec<crate::api::types::GroupInfo> {
    engine.group_list().await
}

impl Ctx {
    fn query_string(&self) -> String {
        ["group", "tlp", "severity", "affects"]
            .iter()
            .filter_map(|k| self.query.opt(k).map(|v| format!("{k}={}", encode(&v))))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Percent-encode for a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `GET /events`: the inbox's live stream (Server-Sent Events). Each advisory the node stores
/// that passes the page's filters comes as one `advisory` event whose data is the row as JSON;
/// the page's script adds it to the table. A comment every 15 s keeps the connection open.
fn events(ctx: &Ctx) -> Response<Body> {
    let filter = match Filter::from(ctx) {
        Ok(f) => f,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("{e}\n")),
    };
    let rx = ctx.engine.events().subscribe();
    let engine = Arc::clone(&ctx.engine);
    let state = (rx, filter, engine, true);
    let stream = futures::stream::unfold(state, |(mut rx, filter, engine, first)| async move {
        if first {
            let hello = Bytes::from_static(b": live\nretry: 3000\n\n");
            return Some((Ok::<_, Infallible>(Frame::data(hello)), (rx, filter, engine, false)));
        }
        let stopped = engine.console().stopped();
        tokio::pin!(stopped);
        loop {
            let next = tokio::select! {
                _ = &mut stopped => return None,
                n = tokio::time::timeout(Duration::from_secs(15), rx.recv()) => n,
            };
            let ev = match next {
                Err(_) => {
                    let ping = Bytes::from_static(b": keep-alive\n\n");
                    return Some((Ok(Frame::data(ping)), (rx, filter, engine, false)));
                }
                Ok(Ok(ev)) => ev,
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
                Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return None,
            };
            let view = match ev {
                Event::Advisory { advisory } if !filter.affects => Some(*advisory),
                Event::Affected { affected } if filter.affects => engine.advisory(&affected.advisory).ok(),
                // A new advisory's SBOM matches come right after it: mark its row.
                Event::Affected { affected } => {
                    let data = serde_json::json!({ "id": affected.advisory }).to_string();
                    let frame = Bytes::from(format!("event: affects\ndata: {data}\n\n"));
                    return Some((Ok(Frame::data(frame)), (rx, filter, engine, false)));
                }
                _ => None,
            };
            let Some(view) = view.filter(|v| filter.keep(v)) else { continue };
            let affecting: HashSet<String> =
                if filter.affects { std::iter::once(view.id.clone()).collect() } else { HashSet::new() };
            let data = serde_json::to_string(&row(&view, &affecting)).unwrap_or_default();
            let frame = Bytes::from(format!("event: advisory\ndata: {data}\n\n"));
            return Some((Ok(Frame::data(frame)), (rx, filter, engine, false)));
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-store")
        .body(BodyExt::boxed_unsync(StreamBody::new(stream.boxed())))
        .unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "stream"))
}

/// `GET /cvss?vector=…`: the score the node gives a severity, as the publish form types it
/// (the same parsing as publishing: [`crate::engine::actions::parse_severity`]).
fn cvss(ctx: &Ctx) -> Response<Body> {
    let v = ctx.query.get("vector");
    let body = if v.is_empty() {
        serde_json::json!({ "score": null })
    } else {
        match crate::engine::actions::parse_severity(v) {
            Ok(s) => serde_json::json!({
                "score": format!("{:.1}", f32::from(s.score_tenths) / 10.0),
                "rating": trellis_proto::formats::cvss::severity_name(s.score_tenths),
            }),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        }
    };
    let mut r = text(StatusCode::OK, body.to_string());
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    r
}

// ---------------------------------------------------------------------------------------------
// Advisory

async fn advisory(ctx: &Ctx, id: &str, notice: Option<String>, error: Option<String>) -> Response<Body> {
    let mut page = chrome(ctx, "Advisory", "/");
    let a = match ctx.engine.advisory(id) {
        Ok(a) => a,
        Err(e) => {
            let status =
                if matches!(e, ActionError::NotFound(_)) { StatusCode::NOT_FOUND } else { StatusCode::BAD_REQUEST };
            page.title = "Advisory not shown".into();
            page.error = Some(e.to_string());
            return render_status(status, &MessagePage { page });
        }
    };
    page.title = a.title.clone();
    page.notice = notice.or_else(|| match ctx.query.get("done") {
        "published" => Some(format!(
            "Published to {}. Member nodes connected now, which received it at once: {}. The others get it when they connect.",
            a.group_name,
            ctx.query.get("peers")
        )),
        "endorse" => Some("Your endorsement was published to the group.".into()),
        _ => None,
    });
    page.error = error;
    let label: trellis_proto::Tlp = a.tlp;
    let (reshare_refused, reshare_named) = match label.reshare() {
        trellis_proto::tlp::Reshare::Anywhere => (None, false),
        trellis_proto::tlp::Reshare::NamedOrgsLogged => (None, true),
        trellis_proto::tlp::Reshare::Refused(why) => (Some(why.to_string()), false),
    };
    let matches = ctx.engine.affected().unwrap_or_default().into_iter().filter(|m| m.advisory == a.id).collect();
    let explain = ctx.engine.trust_explain(&a.id).map(|e| e.lines).unwrap_or_default();
    let products = a
        .affected
        .iter()
        .map(|p| ProductRow {
            what: p.purl.clone().or_else(|| p.cpe.clone()).unwrap_or_else(|| {
                format!("{} {}", p.vendor.as_deref().unwrap_or("-"), p.product.as_deref().unwrap_or("-"))
            }),
            range: p.range.clone().unwrap_or_else(|| "every version".into()),
            fixed: p.fixed.clone().unwrap_or_else(|| "-".into()),
        })
        .collect();
    let groups = group_infos(&ctx.engine).await.into_iter().map(|g| Opt::new(g.id, g.name, false)).collect();
    let page = AdvisoryPage {
        page,
        tlp: tlp_badge(a.tlp.as_str()),
        severity: severity_text(&a),
        published: when(a.published_ms),
        received: when(a.received_ms),
        confidence: format!("{:.2}", a.confidence),
        publisher: publisher_text(&a),
        recipients: a.recipients.iter().map(|r| fingerprint_of(r)).collect(),
        products,
        references: a
            .references
            .iter()
            .map(|r| {
                let lower = r.to_ascii_lowercase();
                let link = (lower.starts_with("https://") || lower.starts_with("http://"))
                    && !r.chars().any(|c| c.is_whitespace() || c.is_control());
                (r.clone(), link)
            })
            .collect(),
        matches,
        explain,
        reshare_refused,
        reshare_named,
        exportable: label.exportable(),
        groups,
        a,
    };
    render(&page)
}

fn fingerprint_of(org: &str) -> String {
    trellis_proto::OrgId::parse(org).map(|o| o.fingerprint()).unwrap_or_else(|_| org.to_string())
}

async fn endorse(ctx: &Ctx, id: &str) -> Response<Body> {
    use crate::api::types::word::Word;
    let kind = match trellis_proto::items::EndorsementKind::from_word(ctx.form.get("kind")) {
        Ok(k) => k,
        Err(e) => return advisory(ctx, id, None, Some(e)).await,
    };
    match ctx.engine.endorse(id, kind, ctx.form.opt("comment")).await {
        Ok(_) => redirect(&format!("/advisory/{}?done=endorse", encode(id))),
        Err(e) => advisory(ctx, id, None, Some(e.to_string())).await,
    }
}

async fn reshare(ctx: &Ctx, id: &str) -> Response<Body> {
    let to = list_field(ctx.form.raw("to"));
    match ctx.engine.reshare(id, ctx.form.get("group"), &to).await {
        Ok(new) => {
            let msg = format!("Re-shared as {}.", new.to_text());
            advisory(ctx, id, Some(msg), None).await
        }
        Err(e) => advisory(ctx, id, None, Some(e.to_string())).await,
    }
}

/// Export one CLEAR advisory as CSAF or OSV: the file `trellis export` writes for it.
async fn export(ctx: &Ctx, id: &str) -> Response<Body> {
    let a = match ctx.engine.advisory(id) {
        Ok(a) => a,
        Err(e) => return text(StatusCode::NOT_FOUND, format!("{e}\n")),
    };
    let format = ctx.form.get("format").to_string();
    let req = ExportRequest { format: format.clone(), group: Some(a.group.clone()), since_ms: Some(a.received_ms) };
    let result = match ctx.engine.export(&req) {
        Ok(r) => r,
        Err(e) => return advisory(ctx, id, None, Some(e.to_string())).await,
    };
    let stem = crate::engine::formats::file_stem(a.source_id.as_deref().unwrap_or(&a.id));
    let Some(file) = result.files.into_iter().find(|f| f.name.starts_with(&format!("{stem}."))) else {
        let why = result.reasons.values().next().cloned().unwrap_or_else(|| "nothing to export".into());
        return advisory(ctx, id, None, Some(format!("not exported: {why}"))).await;
    };
    let mut r = text(StatusCode::OK, file.content);
    let h = r.headers_mut();
    h.insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    if let Ok(v) = hyper::header::HeaderValue::from_str(&format!("attachment; filename=\"{}\"", file.name)) {
        h.insert(hyper::header::CONTENT_DISPOSITION, v);
    }
    r
}

/// Recipients or aliases typed one per line or separated by commas or spaces.
fn list_field(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Publish

async fn publish_page(ctx: &Ctx, page: Chrome, v: PublishValues) -> PublishPage {
    let f = &ctx.form;
    let group = f.get("group");
    let groups = group_infos(&ctx.engine)
        .await
        .into_iter()
        .filter(|g| g.role != Some(trellis_proto::group::Role::Reader))
        .map(|g| {
            let label = format!("{} ({}, {} members)", g.name, g.kind, g.members);
            Opt::new(g.id.clone(), label, g.id == group)
        })
        .collect();
    let tlp = f.get("tlp");
    let tlps = trellis_proto::Tlp::ALL
        .iter()
        .map(|t| {
            Opt::new(t.as_str(), t.label(), tlp == t.as_str() || (tlp.is_empty() && *t == trellis_proto::Tlp::Green))
        })
        .collect();
    let cat = f.get("category");
    let categories = ["vulnerability", "incident", "threat", "guidance"]
        .iter()
        .map(|c| Opt::new(*c, capitalize(c), cat == *c))
        .collect();
    PublishPage { page, groups, tlps, categories, v }
}

async fn publish_form(
    ctx: &Ctx,
    v: PublishValues,
    error: Option<String>,
    status: Option<StatusCode>,
) -> Response<Body> {
    let mut page = chrome(ctx, "Publish an advisory", "/publish");
    page.error = error;
    render_status(status.unwrap_or(StatusCode::OK), &publish_page(ctx, page, v).await)
}

async fn publish(ctx: &Ctx) -> Response<Body> {
    let f = &ctx.form;
    let v = PublishValues {
        title: f.get("title").into(),
        summary: f.raw("summary").trim().into(),
        severity: f.get("severity").into(),
        affects: f.raw("affects").trim().into(),
        aliases: f.raw("aliases").trim().into(),
        references: f.raw("references").trim().into(),
        remediation: f.raw("remediation").trim().into(),
        to: f.raw("to").trim().into(),
    };
    let group = f.get("group").to_string();
    let tlp = match f.get("tlp").parse::<trellis_proto::Tlp>() {
        Ok(t) => t,
        Err(e) => {
            return publish_form(ctx, v, Some(e.to_string()), Some(StatusCode::UNPROCESSABLE_ENTITY)).await;
        }
    };
    let to = list_field(&v.to);
    let result = if let Some((name, bytes)) = f.files.get("document") {
        // A CSAF 2.0 document or an OSV record, published whole as `advisory publish --file` does.
        match String::from_utf8(bytes.clone()) {
            Ok(document) => {
                ctx.engine
                    .import_advisory(&ImportAdvisory { group: group.clone(), tlp, to, format: None, document })
                    .await
            }
            Err(_) => Err(ActionError::BadRequest(format!("{name} is not UTF-8 text, so it is not a JSON document"))),
        }
    } else {
        let req = PublishAdvisory {
            group: group.clone(),
            tlp,
            title: v.title.clone(),
            summary: v.summary.clone(),
            category: f.opt("category"),
            severity: Some(v.severity.clone()).filter(|s| !s.is_empty()),
            aliases: list_field(&v.aliases),
            affects: v.affects.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect(),
            references: list_field(&v.references),
            remediation: Some(v.remediation.clone()).filter(|s| !s.is_empty()),
            to,
        };
        ctx.engine.publish_advisory(&req).await
    };
    match result {
        Ok(id) => {
            let peers = match ctx.engine.resolve_group(&group) {
                Ok(gid) => ctx.engine.group_info(&gid).await.map_or(0, |g| g.peers),
                Err(_) => 0,
            };
            redirect(&format!("/advisory/{}?done=published&peers={peers}", id.to_text()))
        }
        Err(e) => {
            let status = match e {
                ActionError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            publish_form(ctx, v, Some(e.to_string()), Some(status)).await
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Affected and SBOMs

fn affected(ctx: &Ctx, notice: Option<String>, error: Option<String>, warnings: Vec<String>) -> Response<Body> {
    let mut page = chrome(ctx, "Affected", "/affected");
    page.notice = notice;
    page.error = error;
    let matches = match ctx.engine.affected() {
        Ok(m) => m,
        Err(e) => {
            page.error = Some(e.to_string());
            vec![]
        }
    };
    let suppressed = matches.iter().filter(|m| m.suppressed).count();
    render(&AffectedPage { page, matches, suppressed, sboms: ctx.engine.sbom_list(), warnings })
}

fn sbom_upload(ctx: &Ctx) -> Response<Body> {
    let Some((file, bytes)) = ctx.form.files.get("sbom") else {
        return affected(ctx, None, Some("choose a CycloneDX JSON file to upload".into()), vec![]);
    };
    let name = ctx.form.opt("name").unwrap_or_else(|| file.clone());
    let lenient = ctx.form.get("lenient") == "1";
    match ctx.engine.sbom_add_bytes(&name, bytes, lenient) {
        Ok(added) => {
            let live = added.matches.iter().filter(|m| !m.suppressed).count();
            let msg = format!(
                "Added {} ({} components, {} VEX statements): {live} advisories held here affect it.",
                added.sbom.name, added.sbom.components, added.sbom.vex_statements
            );
            affected(ctx, Some(msg), None, added.warnings)
        }
        Err(e) => affected(ctx, None, Some(e.to_string()), vec![]),
    }
}

// ---------------------------------------------------------------------------------------------
// Groups

async fn groups(
    ctx: &Ctx,
    notice: Option<String>,
    error: Option<String>,
    invite: Option<(String, String)>,
) -> Response<Body> {
    let mut page = chrome(ctx, "Groups", "/groups");
    page.notice = notice;
    page.error = error;
    let card = ctx.engine.id_info().await.card;
    let mut blocks = Vec::new();
    let mut admin_groups = Vec::new();
    for g in ctx.engine.group_list().await {
        let mut members: Vec<MemberRow> = ctx
            .engine
            .members(&g.id)
            .unwrap_or_default()
            .into_iter()
            .map(|m| MemberRow {
                name: m.name.unwrap_or_else(|| "(name not known yet)".into()),
                fingerprint: m.fingerprint,
                role: m.role.to_string(),
                since: when(m.since_ms),
                is_self: m.is_self,
            })
            .collect();
        members.sort_by(|a, b| (!a.is_self, &a.name).cmp(&(!b.is_self, &b.name)));
        if g.role == Some(trellis_proto::group::Role::Admin) {
            let selected = ctx.form.get("group") == g.id;
            admin_groups.push(Opt::new(g.id.clone(), g.name.clone(), selected));
        }
        let founder = match &g.founder_name {
            Some(n) => format!("{n} ({})", g.founder_fingerprint),
            None => g.founder_fingerprint.clone(),
        };
        blocks.push(GroupBlock { info: g, founder, members });
    }
    let kind = ctx.form.get("kind");
    let kinds = vec![
        Opt::new("sector", "Sector group (peers share with each other)", kind != "supply-chain"),
        Opt::new(
            "supply-chain",
            "Supply-chain channel (you, the customer, and your suppliers)",
            kind == "supply-chain",
        ),
    ];
    let (invite_token, invite_for) = match invite {
        Some((t, who)) => (Some(t), who),
        None => (None, String::new()),
    };
    let keep_input = page.error.is_some();
    render(&GroupsPage {
        page,
        card,
        groups: blocks,
        admin_groups,
        kinds,
        invite_token,
        invite_for,
        join_token: if keep_input { ctx.form.get("token").into() } else { String::new() },
        invite_card: if keep_input { ctx.form.get("card").into() } else { String::new() },
    })
}

async fn group_create(ctx: &Ctx) -> Response<Body> {
    let kind = match ctx.form.get("kind").parse::<trellis_proto::group::GroupKind>() {
        Ok(k) => k,
        Err(e) => return groups(ctx, None, Some(e.to_string()), None).await,
    };
    match ctx.engine.create_group(ctx.form.get("name"), kind).await {
        Ok(_) => groups(ctx, Some(format!("Created the group {:?}.", ctx.form.get("name"))), None, None).await,
        Err(e) => groups(ctx, None, Some(e.to_string()), None).await,
    }
}

async fn group_invite(ctx: &Ctx) -> Response<Body> {
    let card = ctx.form.get("card");
    let role = Some(ctx.form.get("role")).filter(|r| !r.is_empty()).unwrap_or("member");
    let role = match role.parse::<trellis_proto::group::Role>() {
        Ok(r) => r,
        Err(e) => return groups(ctx, None, Some(e.to_string()), None).await,
    };
    match ctx.engine.invite(ctx.form.get("group"), card, role).await {
        Ok(token) => {
            let who = trellis_proto::ContactCard::parse(card, ctx.engine.clock().now_ms())
                .map(|c| format!("{} ({})", c.name, c.org().fingerprint()))
                .unwrap_or_default();
            let msg = "Invited. Send the token below to the organization; it pastes it under \"Join a group\".";
            groups(ctx, Some(msg.into()), None, Some((token, who))).await
        }
        Err(e) => groups(ctx, None, Some(e.to_string()), None).await,
    }
}

async fn group_join(ctx: &Ctx) -> Response<Body> {
    match ctx.engine.join(ctx.form.get("token")).await {
        Ok(g) => {
            let founder = g.founder_name.clone().unwrap_or_else(|| g.founder_fingerprint.clone());
            let msg = format!(
                "Joined {} (founded by {founder}). Its advisories arrive in the inbox as members' nodes connect.",
                g.name
            );
            groups(ctx, Some(msg), None, None).await
        }
        Err(e) => groups(ctx, None, Some(e.to_string()), None).await,
    }
}

// ---------------------------------------------------------------------------------------------
// Posture

async fn posture(ctx: &Ctx, notice: Option<String>, error: Option<String>) -> Response<Body> {
    use trellis_proto::posture::{AnswerKind, GUIDES};
    let mut page = chrome(ctx, "Posture", "/posture");
    page.notice = notice;
    page.error = error;
    let me = ctx.engine.me().to_text();
    let mine = ctx.engine.posture_show(&me, None).await.ok();
    let f = &ctx.form;
    let questions = GUIDES
        .iter()
        .map(|g| {
            let key = g.indicator.as_str();
            let previous = mine.as_ref().and_then(|m| m.claims.iter().find(|c| c.indicator == key));
            let value = match f.opt(key) {
                Some(v) => v,
                None => previous.map(|c| c.value.clone()).unwrap_or_default(),
            };
            let evidence = match f.opt(&format!("{key}-evidence")) {
                Some(v) => v,
                None => previous.and_then(|c| c.evidence.clone()).unwrap_or_default(),
            };
            Question {
                indicator: key,
                title: g.title,
                question: g.question,
                meaning: g.meaning,
                why: g.why,
                example: g.example,
                hint: match g.answer {
                    AnswerKind::YesNo => "yes or no".into(),
                    AnswerKind::Number { unit } => format!("a number of {unit}"),
                    AnswerKind::Contact => "an e-mail address or a URL".into(),
                },
                value,
                evidence,
            }
        })
        .collect();
    let mut groups = Vec::new();
    let mut suppliers = Vec::new();
    for g in group_infos(&ctx.engine).await {
        if g.kind != trellis_proto::group::GroupKind::SupplyChain {
            continue;
        }
        if g.role == Some(trellis_proto::group::Role::Admin) {
            for m in ctx.engine.members(&g.id).unwrap_or_default() {
                if m.is_self || m.role == trellis_proto::group::Role::Admin {
                    continue;
                }
                let who = match &m.name {
                    Some(n) => format!("{n} ({}) in {}", m.fingerprint, g.name),
                    None => format!("{} in {}", m.fingerprint, g.name),
                };
                let (view, problem) = match ctx.engine.posture_show(&m.org, Some(&g.id)).await {
                    Ok(v) => (Some(v), None),
                    Err(e) => (None, Some(e.to_string())),
                };
                let changes = ctx
                    .engine
                    .posture_diff(&m.org)
                    .ok()
                    .filter(|d| d.previous.is_some())
                    .map(|d| {
                        d.changes
                            .iter()
                            .map(|c| {
                                format!(
                                    "{}: {} ({} → {})",
                                    c.indicator,
                                    c.change,
                                    c.before.as_deref().unwrap_or("-"),
                                    c.after.as_deref().unwrap_or("-")
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                suppliers.push(SupplierPosture { who, view, problem, changes });
            }
        } else {
            let selected = f.get("group") == g.id;
            groups.push(Opt::new(g.id.clone(), g.name.clone(), selected));
        }
    }
    let dependencies = match f.opt("dependencies") {
        Some(d) => d,
        None => mine
            .as_ref()
            .map(|m| {
                m.critical_dependencies
                    .iter()
                    .map(|d| d.purl.clone().unwrap_or(d.name.clone()))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default(),
    };
    let days = f.opt("days").unwrap_or_else(|| trellis_proto::posture::DEFAULT_VALIDITY_DAYS.to_string());
    render(&PosturePage { page, questions, groups, dependencies, days, mine, suppliers })
}

async fn posture_publish(ctx: &Ctx) -> Response<Body> {
    use trellis_proto::posture::{GUIDES, PostureDocument, parse_value};
    let f = &ctx.form;
    let mut answers = Vec::new();
    for g in GUIDES.iter() {
        let key = g.indicator.as_str();
        let Some(text) = f.opt(key) else { continue };
        match parse_value(g.indicator, &text) {
            Ok(v) => answers.push((g.indicator, v, f.opt(&format!("{key}-evidence")))),
            Err(e) => return posture(ctx, None, Some(format!("\"{}\": {e}", g.question))).await,
        }
    }
    let days = match f.get("days").parse::<u64>() {
        Ok(d) if (1..=3 * 365).contains(&d) => d,
        _ => return posture(ctx, None, Some(format!("give a number of days between 1 and {}", 3 * 365))).await,
    };
    let deps = f.lines("dependencies").iter().filter_map(|l| PostureDocument::dependency_from_line(l)).collect();
    let document = PostureDocument::from_answers(answers, deps, ctx.engine.clock().now_ms(), days);
    if document.claims.is_empty() && document.critical_dependencies.is_empty() {
        return posture(ctx, None, Some("no answers were given, so nothing was published".into())).await;
    }
    let req = PublishPosture { group: f.get("group").to_string(), tlp: None, to: vec![], document };
    match ctx.engine.publish_posture(&req).await {
        Ok(id) => posture(ctx, Some(format!("Published your attestation ({}).", id.to_text())), None).await,
        Err(e) => posture(ctx, None, Some(e.to_string())).await,
    }
}

// ---------------------------------------------------------------------------------------------
// Concentration and node

async fn concentration(ctx: &Ctx) -> Response<Body> {
    let page = chrome(ctx, "Concentration", "/concentration");
    let mut charts = Vec::new();
    for g in group_infos(&ctx.engine).await {
        if g.kind != trellis_proto::group::GroupKind::SupplyChain || g.role != Some(trellis_proto::group::Role::Admin) {
            continue;
        }
        match ctx.engine.concentration(&g.id) {
            Ok(c) => {
                let max = c.providers.iter().map(|p| p.suppliers).max().unwrap_or(1).max(1);
                let bars: Vec<Bar> = c
                    .providers
                    .iter()
                    .enumerate()
                    .map(|(i, p)| Bar {
                        label: p.provider.clone(),
                        count: p.suppliers,
                        width: (p.suppliers * 100 / max).max(1),
                        y: i * 32,
                    })
                    .collect();
                let height = bars.len() * 32;
                charts.push(Chart {
                    group: c.group_name,
                    suppliers: c.suppliers,
                    threshold: c.threshold,
                    other: c.other_providers,
                    bars,
                    height,
                    error: None,
                });
            }
            Err(e) => charts.push(Chart {
                group: g.name,
                suppliers: 0,
                threshold: 0,
                other: 0,
                bars: vec![],
                height: 0,
                error: Some(e.to_string()),
            }),
        }
    }
    render(&ConcentrationPage { page, charts })
}

async fn node(ctx: &Ctx) -> Response<Body> {
    let page = chrome(ctx, "Node", "/node");
    let status = ctx.engine.status().await;
    let peers = ctx.engine.peers().await;
    let store = std::fs::metadata(ctx.engine.home().join(crate::home::STORE_FILE))
        .map(|m| human_bytes(m.len()))
        .unwrap_or_else(|_| "-".into());
    render(&NodePage { page, status, peers, store, console: ctx.listening.base_url() })
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n} bytes") } else { format!("{v:.1} {}", UNITS[u]) }
}
