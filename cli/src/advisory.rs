//! `trellis advisory …`: publish an advisory to a group (from flags, from a file, or both, the
//! flags overriding or extending the file), list the advisories this node can read, and show
//! one in full. The TLP label is always given explicitly: an unlabelled advisory is never
//! assumed to be CLEAR.
//!
//! `--file` goes through [`detect`]: a native JSON file becomes [`AdvisoryFields`]; a CSAF 2.0
//! document or an OSV record is sent whole to the daemon, which maps it, keeps it inside the
//! signed item and refuses a `--tlp` looser than the document's own label.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde::Deserialize;
use trellis_daemon::api::types::{AdvisoryView, Created, EndorseRequest, PublishAdvisory, ReshareRequest};

use crate::output::{self, Table, clip, fingerprint, or_dash, short, time};
use crate::{Ctx, encode};

#[derive(Subcommand, Debug)]
pub enum AdvisoryCommand {
    /// Sign, encrypt and publish an advisory to a group; prints its id
    #[command(after_help = concat!(
        "Examples:\n",
        "  trellis advisory publish water --tlp green --title \"SCADA HMI auth bypass\" \\\n",
        "      --summary \"Unauthenticated access to the HMI web UI\" --severity 9.8 \\\n",
        "      --affects 'pkg:generic/acme-hmi@<2.4.1' --alias CVE-2024-12345\n",
        "  trellis advisory publish water --tlp amber --to abcd-efgh-ijkl-mnop --file advisory.json\n\n",
        "  trellis advisory publish water --tlp clear --file cisa-icsa-24-081-01.json   # CSAF 2.0\n",
        "  trellis advisory publish water --tlp green --file GO-2020-0001.json --format osv\n\n",
        "A --file is a CSAF 2.0 document, an OSV record (both detected, or --format), or Trellis JSON\n",
        "with any of: title, summary, severity, aliases, affects, references, remediation, category;\n",
        "for Trellis JSON, flags override its values and add to its lists. A CSAF or OSV document is\n",
        "published whole: content flags are refused, and --tlp may not be looser than its own label."
    ))]
    Publish(Box<PublishArgs>),
    /// List the advisories this node can read, newest first
    #[command(after_help = "Examples:\n  trellis advisory list\n  trellis advisory list --group water")]
    List {
        /// Only advisories of this group (name or id)
        #[arg(long, value_name = "GROUP")]
        group: Option<String>,
        /// Order: newest first (time) or most confident first (confidence)
        #[arg(long, default_value = "time", value_parser = ["time", "confidence"])]
        sort: String,
        /// Only advisories with at least this confidence (0.0–1.0)
        #[arg(long, value_name = "C")]
        min_confidence: Option<f64>,
    },
    /// Endorse an advisory, report a sighting of it, or dispute it; raises or lowers its
    /// confidence for every member, weighted by the trust each has in you
    #[command(
        after_help = "Examples:\n  trellis advisory endorse k3v9q2m7xa4d --comment \"reproduced in our lab\"\n  trellis advisory endorse k3v9q2m7xa4d --kind sighting\n  trellis advisory endorse k3v9q2m7xa4d --kind dispute --comment \"version range is wrong\""
    )]
    Endorse {
        /// Advisory id, or a prefix of at least 8 characters
        id: String,
        /// confirm (default), sighting, or dispute
        #[arg(long, default_value = "confirm", value_parser = ["confirm", "sighting", "dispute"])]
        kind: String,
        /// A short comment
        #[arg(long)]
        comment: Option<String>,
    },
    /// Show every field of one advisory
    #[command(after_help = "Example:\n  trellis advisory show k3v9q2m7xa4d")]
    Show {
        /// Advisory id, or a prefix of at least 8 characters
        id: String,
    },
    /// Re-share an advisory you received, as the TLP label allows: CLEAR anywhere; AMBER only to
    /// named organizations, recorded in the node's audit.log; GREEN, AMBER+STRICT and RED never
    #[command(after_help = "Example:\n  trellis advisory reshare 5fq3k2xa --group water --to k3vq-2mfa-x8rt-pq4z")]
    Reshare {
        /// Advisory id, or a prefix of at least 8 characters
        id: String,
        /// Group to publish the re-shared item in
        #[arg(long)]
        group: String,
        /// Recipient organization (fingerprint or id), repeatable; required for AMBER
        #[arg(long)]
        to: Vec<String>,
    },
}

#[derive(Args, Debug)]
pub struct PublishArgs {
    /// Group name or id
    group: String,
    /// Traffic Light Protocol label (required: amber, amber+strict and red also need --to)
    #[arg(long, value_parser = ["clear", "green", "amber", "amber+strict", "red"])]
    tlp: String,
    /// One-line title
    #[arg(long, required_unless_present = "file")]
    title: Option<String>,
    /// What is wrong and who is affected
    #[arg(long, required_unless_present = "file")]
    summary: Option<String>,
    /// CVSS v3/v4 vector, a score such as 7.5, or both: '9.8 CVSS:3.1/AV:N/...'
    #[arg(long, value_name = "CVSS")]
    severity: Option<String>,
    /// Affected package as PURL@RANGE, e.g. 'pkg:npm/lodash@<4.17.21' (repeatable)
    #[arg(long, value_name = "PURL@RANGE")]
    affects: Vec<String>,
    /// Read the advisory from a file: CSAF 2.0, OSV or Trellis JSON (flags override Trellis JSON)
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,
    /// The --file's format [default: detected from its structure]
    #[arg(long, requires = "file", value_parser = ["csaf", "osv", "json"])]
    format: Option<String>,
    /// Recipient organization, fingerprint or full id (repeatable; for amber, amber+strict, red)
    #[arg(long, value_name = "ORG")]
    to: Vec<String>,
    /// Another identifier of the same issue, e.g. CVE-2024-12345 (repeatable)
    #[arg(long, value_name = "CVE")]
    alias: Vec<String>,
    /// A URL with more information (repeatable)
    #[arg(long, value_name = "URL")]
    reference: Vec<String>,
    /// What to do about it
    #[arg(long, value_name = "TEXT")]
    remediation: Option<String>,
    /// Kind of advisory [default: vulnerability]
    #[arg(long, value_parser = ["vulnerability", "incident", "threat", "guidance"])]
    category: Option<String>,
}

/// The content fields of an advisory, as read from a file (every field optional here; what is
/// required is checked after the flags are merged in).
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AdvisoryFields {
    title: Option<String>,
    summary: Option<String>,
    category: Option<String>,
    severity: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    affects: Vec<String>,
    #[serde(default)]
    references: Vec<String>,
    remediation: Option<String>,
}

/// Formats `--file` understands.
#[derive(Debug, PartialEq, Eq)]
enum FileFormat {
    /// A JSON object with the [`AdvisoryFields`] names.
    TrellisJson,
    /// A CSAF 2.0 document or an OSV record, imported by the daemon (`csaf` or `osv`).
    Document(&'static str),
}

/// Decide the format of a file: `--format` if given, else by structure (never by file name).
fn detect(forced: Option<&str>, bytes: &[u8]) -> FileFormat {
    use trellis_proto::formats::DetectedFormat;
    match forced {
        Some("csaf") => FileFormat::Document("csaf"),
        Some("osv") => FileFormat::Document("osv"),
        Some(_) => FileFormat::TrellisJson,
        None => match trellis_proto::formats::detect(bytes) {
            Ok(DetectedFormat::Csaf) => FileFormat::Document("csaf"),
            Ok(DetectedFormat::Osv) => FileFormat::Document("osv"),
            _ => FileFormat::TrellisJson,
        },
    }
}

/// The import request for a CSAF or OSV `--file`, or None for Trellis JSON. Content flags are
/// refused with a document: it is published whole, as its author wrote it.
fn document_request(args: &PublishArgs) -> anyhow::Result<Option<trellis_daemon::api::types::ImportAdvisory>> {
    let Some(path) = &args.file else { return Ok(None) };
    let bytes = std::fs::read(path).with_context(|| format!("cannot read advisory file {}", path.display()))?;
    let FileFormat::Document(format) = detect(args.format.as_deref(), &bytes) else { return Ok(None) };
    let content_flags = args.title.is_some()
        || args.summary.is_some()
        || args.severity.is_some()
        || !args.affects.is_empty()
        || !args.alias.is_empty()
        || !args.reference.is_empty()
        || args.remediation.is_some()
        || args.category.is_some();
    if content_flags {
        bail!(
            "{} is {}, published whole: remove --title/--summary/--severity/--affects/--alias/\
             --reference/--remediation/--category (edit the document instead)",
            path.display(),
            if format == "csaf" { "a CSAF document" } else { "an OSV record" }
        );
    }
    let document = String::from_utf8(bytes)
        .with_context(|| format!("{} is not UTF-8 text, so it is not a JSON document", path.display()))?;
    Ok(Some(trellis_daemon::api::types::ImportAdvisory {
        group: args.group.clone(),
        tlp: args.tlp.clone(),
        to: args.to.clone(),
        format: Some(format.to_string()),
        document,
    }))
}

/// Parse the bytes of an advisory file; errors name the file and what is wrong.
fn parse_file(path: &Path, bytes: &[u8]) -> anyhow::Result<AdvisoryFields> {
    let shown = path.display();
    let doc: serde_json::Value = serde_json::from_slice(bytes).with_context(|| format!("{shown} is not valid JSON"))?;
    if !doc.is_object() {
        bail!("{shown}: expected a JSON object with at least \"title\" and \"summary\"");
    }
    let fields = serde_json::from_value::<AdvisoryFields>(doc).with_context(|| {
        format!(
            "{shown} is not a Trellis advisory file (fields: title, summary, severity, \
             aliases, affects, references, remediation, category)"
        )
    })?;
    Ok(fields)
}

fn read_file(path: &Path) -> anyhow::Result<AdvisoryFields> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read advisory file {}", path.display()))?;
    parse_file(path, &bytes)
}

/// Add `extra` to `list`, skipping values already present.
fn extend_unique(list: &mut Vec<String>, extra: Vec<String>) {
    for v in extra {
        if !list.contains(&v) {
            list.push(v);
        }
    }
}

/// Merge the file (if any) and the flags into the API request.
fn build_request(args: PublishArgs, file: Option<AdvisoryFields>) -> anyhow::Result<PublishAdvisory> {
    let from_file = file.is_some();
    let mut f = file.unwrap_or_default();
    let nonempty = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let title = nonempty(args.title).or(nonempty(f.title.take()));
    let summary = nonempty(args.summary).or(nonempty(f.summary.take()));
    let where_ = match (&args.file, from_file) {
        (Some(p), true) => format!("{} has no", p.display()),
        _ => "missing".to_string(),
    };
    let Some(title) = title else {
        bail!("{where_} \"title\": give --title or put a \"title\" in the file");
    };
    let Some(summary) = summary else {
        bail!("{where_} \"summary\": give --summary or put a \"summary\" in the file");
    };
    extend_unique(&mut f.aliases, args.alias);
    extend_unique(&mut f.affects, args.affects);
    extend_unique(&mut f.references, args.reference);
    Ok(PublishAdvisory {
        group: args.group,
        tlp: args.tlp,
        title,
        summary,
        category: args.category.or(f.category),
        severity: args.severity.or(f.severity),
        aliases: f.aliases,
        affects: f.affects,
        references: f.references,
        remediation: args.remediation.or(f.remediation),
        to: args.to,
    })
}

pub async fn run(ctx: &Ctx, cmd: AdvisoryCommand) -> anyhow::Result<()> {
    match cmd {
        AdvisoryCommand::Publish(args) => {
            if let Some(req) = document_request(&args)? {
                let created: Created = ctx.post("/v1/advisories/import", &req).await?;
                return if ctx.json { output::print_json(&created) } else { output::print_line(&created.id) };
            }
            let file = args.file.as_deref().map(read_file).transpose()?;
            let req = build_request(*args, file)?;
            let created: Created = ctx.post("/v1/advisories", &req).await?;
            if ctx.json {
                return output::print_json(&created);
            }
            output::print_line(&created.id)
        }
        AdvisoryCommand::Endorse { id, kind, comment } => {
            let c: Created =
                ctx.post(&format!("/v1/advisories/{}/endorse", encode(&id)), &EndorseRequest { kind, comment }).await?;
            if ctx.json {
                return output::print_json(&c);
            }
            output::print_line(&c.id)
        }
        AdvisoryCommand::List { group, sort, min_confidence } => {
            let path = match &group {
                Some(g) => format!("/v1/advisories?group={}", encode(g)),
                None => "/v1/advisories".to_string(),
            };
            let mut list: Vec<AdvisoryView> = ctx.get(&path).await?;
            if let Some(min) = min_confidence {
                list.retain(|a| a.confidence >= min);
            }
            if sort == "confidence" {
                list.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
            }
            if ctx.json {
                return output::print_json(&list);
            }
            if list.is_empty() {
                println!("no advisories");
                return Ok(());
            }
            let mut t = Table::new(&["ID", "PUBLISHED", "TLP", "SEVERITY", "CONF", "GROUP", "PUBLISHER", "TITLE"]);
            for a in &list {
                t.row(vec![
                    short(&a.id),
                    time(a.published_ms),
                    a.tlp.clone(),
                    severity_cell(a),
                    format!("{:.2}", a.confidence),
                    a.group_name.clone(),
                    a.publisher_fingerprint.clone(),
                    clip(&a.title, 70),
                ]);
            }
            t.print()
        }
        AdvisoryCommand::Reshare { id, group, to } => {
            let c: Created =
                ctx.post(&format!("/v1/advisories/{}/reshare", encode(&id)), &ReshareRequest { group, to }).await?;
            if ctx.json {
                return output::print_json(&c);
            }
            output::print_line(&c.id)
        }
        AdvisoryCommand::Show { id } => {
            let a: AdvisoryView = ctx.get(&format!("/v1/advisories/{}", encode(&id))).await?;
            if ctx.json {
                return output::print_json(&a);
            }
            print!("{}", render_show(&a));
            print!("{}", crate::supply_chain::affected_suppliers_text(&a));
            Ok(())
        }
    }
}

/// The severity in a table cell or an event line: the score, else the start of the vector.
pub fn severity_cell(a: &AdvisoryView) -> String {
    match (a.score, &a.severity) {
        (Some(s), _) => format!("{s:.1}"),
        (None, Some(v)) => clip(v, 12),
        (None, None) => "-".to_string(),
    }
}

/// `key: value` lines with aligned values, plus indented continuation lines.
#[derive(Default)]
struct Fields(String);

impl Fields {
    fn kv(&mut self, key: &str, value: impl AsRef<str>) {
        let line = format!("{:<14}{}", format!("{key}:"), value.as_ref());
        self.more(&line);
    }

    fn more(&mut self, line: &str) {
        self.0.push_str(line.trim_end());
        self.0.push('\n');
    }
}

/// Every field of an advisory as `key: value` lines; lists one item per line.
fn render_show(a: &AdvisoryView) -> String {
    let mut f = Fields::default();
    f.kv("id", &a.id);
    f.kv("title", &a.title);
    f.kv("tlp", &a.tlp);
    f.kv("category", &a.category);
    f.kv(
        "severity",
        match (&a.severity, a.score) {
            (Some(v), Some(s)) if v.trim() != format!("{s}") => format!("{v} (score {s:.1})"),
            (Some(v), _) => v.clone(),
            (None, Some(s)) => format!("{s:.1}"),
            (None, None) => "-".into(),
        },
    );
    f.kv("group", format!("{} ({})", a.group_name, a.group));
    f.kv("publisher", format!("{} ({})", or_dash(a.publisher_name.as_deref()), a.publisher_fingerprint));
    f.kv("publisher id", &a.publisher);
    f.kv("published", time(a.published_ms));
    f.kv("received", time(a.received_ms));
    f.kv("seq", a.seq.to_string());
    f.kv("aliases", list_or_dash(&a.aliases, ", "));
    let recipients: Vec<String> = a.recipients.iter().map(|r| fingerprint(r)).collect();
    f.kv(
        "recipients",
        if recipients.is_empty() { "- (every member of the group)".to_string() } else { recipients.join(", ") },
    );
    f.kv("remediation", or_dash(a.remediation.as_deref()));
    if a.affected.is_empty() {
        f.kv("affected", "-");
    } else {
        f.kv("affected", "");
        for p in &a.affected {
            let what = p
                .purl
                .clone()
                .or_else(|| p.cpe.clone())
                .unwrap_or_else(|| format!("{} {}", or_dash(p.vendor.as_deref()), or_dash(p.product.as_deref())));
            let mut s = format!("  - {what}");
            if let Some(r) = &p.range {
                s.push_str(&format!("  range {r}"));
            }
            if let Some(x) = &p.fixed {
                s.push_str(&format!("  fixed {x}"));
            }
            f.more(&s);
        }
    }
    if a.references.is_empty() {
        f.kv("references", "-");
    } else {
        f.kv("references", "");
        for r in &a.references {
            f.more(&format!("  - {r}"));
        }
    }
    f.kv("summary", "");
    for l in a.summary.lines() {
        f.more(&format!("  {l}"));
    }
    f.0
}

fn list_or_dash(v: &[String], sep: &str) -> String {
    if v.is_empty() { "-".into() } else { v.join(sep) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct P {
        #[command(flatten)]
        a: PublishArgs,
    }

    fn args(extra: &[&str]) -> PublishArgs {
        let mut v = vec!["x", "water", "--tlp", "green"];
        v.extend_from_slice(extra);
        P::parse_from(v).a
    }

    #[test]
    fn invalid_json_names_the_file() {
        let e = parse_file(Path::new("adv.json"), b"{ not json").unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("adv.json is not valid JSON"), "{msg}");
    }

    #[test]
    fn unknown_field_and_non_object_are_explained() {
        let e = parse_file(Path::new("a.json"), br#"{"titel":"x"}"#).unwrap_err();
        assert!(format!("{e:#}").contains("titel"), "{e:#}");
        let e = parse_file(Path::new("a.json"), b"[1]").unwrap_err();
        assert!(format!("{e:#}").contains("expected a JSON object"), "{e:#}");
    }

    #[test]
    fn file_without_title_is_refused_naming_the_file() {
        let f = parse_file(Path::new("a.json"), br#"{"summary":"s"}"#).unwrap();
        let e = build_request(args(&["--file", "a.json"]), Some(f)).unwrap_err();
        assert!(e.to_string().contains("a.json has no \"title\""), "{e}");
    }

    #[test]
    fn flags_override_scalars_and_extend_lists() {
        let f = parse_file(
            Path::new("a.json"),
            br#"{"title":"file title","summary":"file summary","severity":"5.0",
                 "aliases":["CVE-1"],"affects":["pkg:npm/a@<1"],"category":"threat"}"#,
        )
        .unwrap();
        let req = build_request(
            args(&[
                "--file",
                "a.json",
                "--title",
                "flag title",
                "--alias",
                "CVE-2",
                "--alias",
                "CVE-1",
                "--to",
                "abcd-efgh",
            ]),
            Some(f),
        )
        .unwrap();
        assert_eq!(req.title, "flag title");
        assert_eq!(req.summary, "file summary");
        assert_eq!(req.severity.as_deref(), Some("5.0"));
        assert_eq!(req.category.as_deref(), Some("threat"));
        assert_eq!(req.aliases, vec!["CVE-1", "CVE-2"]);
        assert_eq!(req.affects, vec!["pkg:npm/a@<1"]);
        assert_eq!(req.to, vec!["abcd-efgh"]);
        assert_eq!(req.tlp, "green");
        assert_eq!(req.group, "water");
    }

    #[test]
    fn csaf_and_osv_files_are_detected_by_structure() {
        assert_eq!(detect(None, br#"{"document":{"csaf_version":"2.0"}}"#), FileFormat::Document("csaf"));
        assert_eq!(detect(None, br#"{"id":"GO-1","modified":"2021-01-01T00:00:00Z"}"#), FileFormat::Document("osv"));
        assert_eq!(detect(None, br#"{"title":"t","summary":"s"}"#), FileFormat::TrellisJson);
        assert_eq!(detect(Some("osv"), br#"{"title":"t"}"#), FileFormat::Document("osv"));
        assert_eq!(detect(Some("json"), br#"{"document":{"csaf_version":"2.0"}}"#), FileFormat::TrellisJson);
    }

    #[test]
    fn title_and_summary_are_required_without_a_file() {
        let r = P::try_parse_from(["x", "water", "--tlp", "green", "--title", "t"]);
        assert!(r.is_err());
    }
}
