//! `trellis advisory …`: publish an advisory to a group (from flags, from a file, or both, the
//! flags overriding or extending the file), list the advisories this node can read, and show
//! one in full. The TLP label is always given explicitly: an unlabelled advisory is never
//! assumed to be CLEAR.
//!
//! `--file` goes through [`detect`]: a native JSON file becomes [`AdvisoryFields`]; a CSAF 2.0
//! document or an OSV record is sent whole to the daemon, which maps it, keeps it inside the
//! signed item and refuses a `--tlp` looser than the document's own label.

use std::io::{BufRead, IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde::Deserialize;
use trellis_api::types::{
    AdvisoryView, Created, EndorseRequest, EndorsementKind, GroupInfo, PublishAdvisory, Published, ReshareRequest,
};

use crate::Ctx;
use crate::output::{self, Table, clip, fingerprint, or_dash, short, time};
use trellis_api::client::ClientError;

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
        "published whole: content flags are refused, and --tlp may not be looser than its own label.\n\n",
        "At AMBER, AMBER+STRICT and RED the group the name or id designates is shown first (name,\n",
        "founder, members) and, on a terminal, confirmed (--yes skips the question). Publishing the\n",
        "same advisory again (same content, label and readers) sends the stored item, not a copy.\n",
        "A file is read up to 1 MiB."
    ))]
    Publish(Box<PublishArgs>),
    /// List the advisories this node can read, newest first
    #[command(
        after_help = "Examples:\n  trellis advisory list\n  trellis advisory list --group water --min-confidence 0.5\n  trellis advisory list --limit 20 --offset 20\n  trellis advisory list --by-vulnerability"
    )]
    List {
        /// Only advisories of this group (name or id)
        #[arg(long, value_name = "GROUP")]
        group: Option<String>,
        /// Order: newest first (time) or most confident first (confidence)
        #[arg(long, default_value = "time", value_parser = ["time", "confidence"])]
        sort: String,
        /// Only advisories with at least this confidence (0.0–1.0)
        #[arg(long, value_name = "C", value_parser = parse_confidence)]
        min_confidence: Option<f64>,
        /// Show at most N advisories [default: 100 in text, all with --json; 0: all]
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Skip the first N advisories (the next page: --offset 100)
        #[arg(long, value_name = "N", default_value_t = 0)]
        offset: usize,
        /// Only the advisory with this id: its document's own id (GO-2020-0001, a CSAF tracking
        /// id), any alias (CVE-2021-44228, GHSA-…), or a prefix of its item id
        #[arg(long, value_name = "ID")]
        id: Option<String>,
        /// One entry per vulnerability: advisories from several sources that share an
        /// identifier (CVE, GHSA, GO, a document's own id) are listed together with their sources
        #[arg(long)]
        by_vulnerability: bool,
    },
    /// Endorse an advisory, report a sighting of it, or dispute it; raises or lowers its
    /// confidence for every member, weighted by the trust each has in you
    #[command(
        after_help = "Examples:\n  trellis advisory endorse k3v9q2m7xa4d --comment \"reproduced in our lab\"\n  trellis advisory endorse k3v9q2m7xa4d --kind sighting\n  trellis advisory endorse k3v9q2m7xa4d --kind dispute --comment \"version range is wrong\""
    )]
    Endorse {
        /// Advisory id, or a prefix of at least 8 characters
        id: String,
        /// confirm (we checked it and agree), sighting (we saw it in our environment) or dispute
        /// (we believe it is wrong)
        #[arg(long, default_value = "confirm", value_parser = endorsement_kind)]
        kind: EndorsementKind,
        /// A short comment
        #[arg(long)]
        comment: Option<String>,
    },
    /// Show every field of one advisory, as its latest revision reads
    #[command(after_help = concat!(
        "Examples:\n",
        "  trellis advisory show k3v9q2m7xa4d\n",
        "  trellis advisory show k3v9q2m7xa4d --history\n\n",
        "--history lists every revision its publisher made, oldest first, each with the fields it\n",
        "changed (before -> after), and any revision this node holds that does not count: one signed\n",
        "by another organization (refused), or a second revision under a number already taken\n",
        "(outvoted: the lower item id wins on every node)."
    ))]
    Show {
        /// Advisory id, or a prefix of at least 8 characters
        id: String,
        /// Every revision and what each changed
        #[arg(long)]
        history: bool,
    },
    /// Publish a new revision of one of your advisories: fields given replace the latest
    /// revision's, the rest stay; receivers keep every revision and show the latest
    #[command(after_help = concat!(
        "Examples:\n",
        "  trellis advisory update k3v9q2m7xa4d --affects 'pkg:npm/lodash@<4.17.22'\n",
        "  trellis advisory update k3v9q2m7xa4d --severity 7.5 --summary \"Only the admin UI is exposed\"\n",
        "  trellis advisory update k3v9q2m7xa4d --tlp amber --yes\n\n",
        "Only the organization that published an advisory can revise it; every node refuses a\n",
        "revision signed by anyone else. A list flag (--affects, --alias, --reference) replaces the\n",
        "whole list: repeat it for each entry. An empty --severity or --remediation clears it. The\n",
        "label may stay or get stricter, never looser than the first publication's; AMBER and RED\n",
        "revisions go to the latest revision's recipients unless --to names others. To publish a\n",
        "new version of a CSAF document or OSV record, publish the file again\n",
        "(`advisory publish GROUP --file`): a later version of a document you published becomes a\n",
        "revision of it."
    ))]
    Update(Box<UpdateArgs>),
    /// Withdraw one of your advisories, saying why: it stays listed, marked withdrawn, and
    /// stops raising `affected` alerts on every node
    #[command(
        after_help = "Example:\n  trellis advisory withdraw k3v9q2m7xa4d --reason \"duplicate of CVE-2024-1234; the product is not affected\""
    )]
    Withdraw {
        /// Advisory id, or a prefix of at least 8 characters
        id: String,
        /// Why it is withdrawn (shown to every receiver)
        #[arg(long, value_name = "TEXT")]
        reason: String,
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
    /// Traffic Light Protocol label: clear, green, amber, amber+strict or red, in any case, with
    /// or without `TLP:` (required; amber, amber+strict and red also need --to outside a
    /// supply-chain channel)
    #[arg(long, value_parser = parse_tlp)]
    tlp: String,
    /// Publish at AMBER or RED without asking to confirm the group on a terminal
    #[arg(long, short = 'y')]
    yes: bool,
    /// One-line title
    #[arg(long, required_unless_present = "file")]
    title: Option<String>,
    /// What is wrong and who is affected
    #[arg(long, required_unless_present = "file")]
    summary: Option<String>,
    /// CVSS v2, v3.0/3.1 or v4.0 vector, a score such as 7.5, or both if they agree:
    /// '9.8 CVSS:3.1/AV:N/...' (a vector's score is computed from it)
    #[arg(long, value_name = "CVSS")]
    severity: Option<String>,
    /// Affected package as PURL@RANGE (repeatable): a range is comma-separated >=FIRST, <FIXED
    /// or <=LAST, or single versions, e.g. 'pkg:npm/lodash@<4.17.21',
    /// 'pkg:cargo/foo@>=1.0.0,<1.2.3', 'pkg:pypi/x@1.0'; a package URL alone means every version
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

#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Advisory id, or a prefix of at least 8 characters
    id: String,
    /// New one-line title
    #[arg(long)]
    title: Option<String>,
    /// New summary
    #[arg(long)]
    summary: Option<String>,
    /// New CVSS vector or score ('' clears it)
    #[arg(long, value_name = "CVSS")]
    severity: Option<String>,
    /// Affected package as PURL@RANGE; replaces the whole list (repeat for each package)
    #[arg(long, value_name = "PURL@RANGE")]
    affects: Vec<String>,
    /// Another identifier of the issue; replaces the whole list (repeatable)
    #[arg(long, value_name = "CVE")]
    alias: Vec<String>,
    /// A URL with more information; replaces the whole list (repeatable)
    #[arg(long, value_name = "URL")]
    reference: Vec<String>,
    /// What to do about it ('' clears it)
    #[arg(long, value_name = "TEXT")]
    remediation: Option<String>,
    /// Kind of advisory
    #[arg(long, value_parser = ["vulnerability", "incident", "threat", "guidance"])]
    category: Option<String>,
    /// A stricter label (never looser than the first publication's): clear, green, amber,
    /// amber+strict or red
    #[arg(long, value_parser = tlp_label)]
    tlp: Option<trellis_proto::Tlp>,
    /// Recipient organization for AMBER, AMBER+STRICT and RED (repeatable)
    #[arg(long, value_name = "ORG")]
    to: Vec<String>,
    /// Do not ask to confirm the group at AMBER or RED on a terminal
    #[arg(long, short = 'y')]
    yes: bool,
}

impl UpdateArgs {
    fn request(self) -> trellis_api::types::ReviseAdvisory {
        let list = |v: Vec<String>| (!v.is_empty()).then_some(v);
        trellis_api::types::ReviseAdvisory {
            title: self.title,
            summary: self.summary,
            category: self.category,
            severity: self.severity,
            aliases: list(self.alias),
            affects: list(self.affects),
            references: list(self.reference),
            remediation: self.remediation,
            tlp: self.tlp,
            to: self.to,
            withdraw: None,
        }
    }
}

/// Rows `advisory list` prints in text without --limit.
const DEFAULT_LIST_LIMIT: usize = 100;

/// `--min-confidence`: a number from 0.0 to 1.0 (NaN and out-of-range values are refused, not
/// silently matched by nothing).
fn parse_confidence(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(c) if (0.0..=1.0).contains(&c) => Ok(c),
        _ => Err(format!("{s:?} is not a confidence: give a number from 0.0 to 1.0, e.g. 0.5")),
    }
}

/// `--tlp`: any case, with or without the `TLP:` prefix; TLP 1.0's WHITE is accepted as CLEAR
/// (with a note when publishing). Refusals list the labels.
pub fn parse_tlp(s: &str) -> Result<String, String> {
    match s.parse::<trellis_proto::Tlp>() {
        Ok(_) => Ok(s.trim().to_string()),
        Err(_) => Err(format!(
            "{s:?} is not a TLP 2.0 label: use clear, green, amber, amber+strict or red \
             (any case, TLP: prefix allowed, e.g. TLP:AMBER)"
        )),
    }
}

/// `--tlp` where the label as typed is not needed: the label itself, parsed as [`parse_tlp`]
/// accepts it.
pub fn tlp_label(s: &str) -> Result<trellis_proto::Tlp, String> {
    parse_tlp(s)?.parse().map_err(|e: trellis_proto::tlp::UnknownTlp| e.to_string())
}

/// `--kind` of `advisory endorse`: confirm, sighting or dispute (the API's words; `endorse` and
/// `seen` are taken as synonyms).
fn endorsement_kind(s: &str) -> Result<EndorsementKind, String> {
    use trellis_api::types::word::Word;
    EndorsementKind::from_word(s)
}

/// Whether the label as typed is TLP 1.0's WHITE (published as CLEAR, its TLP 2.0 name).
fn is_white(raw: &str) -> bool {
    let t = raw.trim().to_ascii_lowercase();
    t.strip_prefix("tlp:").unwrap_or(&t) == "white"
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

/// The import request for a CSAF or OSV `--file` (read into `bytes`), or None for Trellis
/// JSON. Content flags are refused with a document: it is published whole, as its author wrote it.
fn document_request(
    args: &PublishArgs,
    bytes: Option<&[u8]>,
) -> anyhow::Result<Option<trellis_api::types::ImportAdvisory>> {
    let (Some(path), Some(bytes)) = (&args.file, bytes) else { return Ok(None) };
    let FileFormat::Document(format) = detect(args.format.as_deref(), bytes) else { return Ok(None) };
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
    let document = String::from_utf8(bytes.to_vec())
        .with_context(|| format!("{} is not UTF-8 text, so it is not a JSON document", path.display()))?;
    Ok(Some(trellis_api::types::ImportAdvisory {
        group: args.group.clone(),
        tlp: args.tlp.parse()?,
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
    if let Some(what) = other_format(&doc) {
        bail!("{shown} is {what}, not an advisory");
    }
    let fields = serde_json::from_value::<AdvisoryFields>(doc).with_context(|| {
        format!(
            "{shown} is not a Trellis advisory file (fields: title, summary, severity, \
             aliases, affects, references, remediation, category)"
        )
    })?;
    Ok(fields)
}

/// JSON documents people reach for that are not advisories, and the command that takes each.
fn other_format(doc: &serde_json::Value) -> Option<&'static str> {
    let field = |k: &str| doc.get(k).and_then(serde_json::Value::as_str);
    if field("bomFormat") == Some("CycloneDX") {
        return Some("a CycloneDX SBOM: add it with `trellis sbom add FILE` (SBOMs stay on this node)");
    }
    if field("type") == Some("bundle") && field("id").is_some_and(|i| i.starts_with("bundle--")) {
        return Some("a STIX 2.1 bundle, which Trellis exports (`trellis export --format stix`) but does not publish");
    }
    if doc.get("Event").is_some() {
        return Some("a MISP event, which Trellis exports (`trellis export --format misp`) but does not publish");
    }
    if doc.get("statements").is_some() && doc.get("claims").is_some() {
        return Some("a posture file: publish it with `trellis posture publish GROUP`");
    }
    None
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
        tlp: args.tlp.parse()?,
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
        AdvisoryCommand::Publish(args) => publish(ctx, *args).await,
        AdvisoryCommand::Endorse { id, kind, comment } => {
            let c: Created = ctx.client.endorse(&id, &EndorseRequest { kind, comment }).await?;
            if ctx.json {
                return output::print_json(&c);
            }
            output::print_line(&c.id)
        }
        AdvisoryCommand::List { group, sort, min_confidence, limit, offset, id, by_vulnerability } => {
            let mut list: Vec<AdvisoryView> = ctx.client.advisories(group.as_deref()).await?;
            if let Some(min) = min_confidence {
                list.retain(|a| a.confidence >= min);
            }
            if let Some(id) = id.as_deref().map(str::trim) {
                list.retain(|a| {
                    a.source_id.iter().chain(a.aliases.iter()).any(|s| s.trim().eq_ignore_ascii_case(id))
                        || (id.len() >= 8 && a.id.starts_with(&id.to_ascii_lowercase()))
                });
            }
            if sort == "confidence" {
                trellis_api::views::sort_by_confidence(&mut list);
            }
            if by_vulnerability {
                return print_by_vulnerability(ctx, &list);
            }
            let total = list.len();
            let limit = match (limit, ctx.json) {
                (Some(0), _) | (None, true) => usize::MAX,
                (Some(n), _) => n,
                (None, false) => DEFAULT_LIST_LIMIT,
            };
            let list: Vec<AdvisoryView> = list.into_iter().skip(offset).take(limit).collect();
            if ctx.json {
                return output::print_json(&list);
            }
            if list.is_empty() {
                if total > 0 {
                    println!("no advisories past --offset {offset} ({total} in all)");
                } else {
                    println!("no advisories");
                }
                return Ok(());
            }
            let mut t = Table::new(&["ID", "PUBLISHED", "TLP", "SEVERITY", "CONF", "GROUP", "PUBLISHER", "TITLE"]);
            for a in &list {
                t.row(vec![
                    short(&a.id),
                    time(a.published_ms),
                    a.tlp.to_string(),
                    severity_cell(a),
                    format!("{:.2}", a.confidence),
                    a.group_name.clone(),
                    a.publisher_fingerprint.clone(),
                    clip(&list_title(a), 70),
                ]);
            }
            t.print()?;
            let shown_to = offset + list.len();
            if shown_to < total {
                eprintln!(
                    "showing {}-{shown_to} of {total}; next page: --offset {shown_to}, all: --limit 0",
                    offset + 1
                );
            }
            Ok(())
        }
        AdvisoryCommand::Reshare { id, group, to } => {
            let c: Created = ctx.client.reshare(&id, &ReshareRequest { group, to }).await?;
            if ctx.json {
                return output::print_json(&c);
            }
            output::print_line(&c.id)
        }
        AdvisoryCommand::Update(args) => {
            if let Some(t) = args.tlp
                && t.needs_recipients()
            {
                let a: AdvisoryView = ctx.client.advisory(&args.id).await?;
                confirm_group(ctx, &a.group, t, args.yes).await?;
            }
            let id = args.id.clone();
            let req = args.request();
            revise(ctx, &id, &req).await
        }
        AdvisoryCommand::Withdraw { id, reason } => {
            let req = trellis_api::types::ReviseAdvisory { withdraw: Some(reason), ..Default::default() };
            revise(ctx, &id, &req).await
        }
        AdvisoryCommand::Show { id, history: true } => {
            let h: trellis_api::types::AdvisoryHistoryView = ctx.client.advisory_history(&id).await?;
            if ctx.json {
                return output::print_json(&h);
            }
            print!("{}", render_history(&h));
            Ok(())
        }
        AdvisoryCommand::Show { id, history: false } => {
            let a: AdvisoryView = ctx.client.advisory(&id).await?;
            if ctx.json {
                return output::print_json(&a);
            }
            print!("{}", render_show(&a));
            print!("{}", output::safe_block(&crate::supply_chain::affected_suppliers_text(&a)));
            Ok(())
        }
    }
}

/// `advisory publish`: build the request, confirm the group at AMBER and RED, send, and say
/// what happened (the id on stdout; on stderr whether it reached anyone and whether it was
/// already published).
async fn publish(ctx: &Ctx, mut args: PublishArgs) -> anyhow::Result<()> {
    let tlp: trellis_proto::Tlp = args.tlp.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    if is_white(&args.tlp) {
        eprintln!("note: TLP:WHITE is TLP 1.0's name for TLP:CLEAR; publishing as clear");
    }
    args.tlp = tlp.as_str().to_string();
    if tlp.needs_recipients() {
        // Sent to the group shown, by its full id, whatever the name designates by then.
        args.group = confirm_group(ctx, &args.group, tlp, args.yes).await?;
    }
    // Read once: `--file` may name a pipe (`/dev/stdin`, `<(...)`), which a second read finds empty.
    let bytes = args
        .file
        .as_deref()
        .map(|p| crate::input::read_bounded(p, crate::input::MAX_DOCUMENT_BYTES, "advisory file"))
        .transpose()?;
    let published: Published = if let Some(req) = document_request(&args, bytes.as_deref())? {
        ctx.client.import_advisory(&req).await.map_err(maybe_stored)?
    } else {
        let file = match (&args.file, &bytes) {
            (Some(path), Some(bytes)) => Some(parse_file(path, bytes)?),
            _ => None,
        };
        let req = build_request(args, file)?;
        ctx.client.publish_advisory(&req).await.map_err(maybe_stored)?
    };
    if ctx.json {
        return output::print_json(&published);
    }
    output::print_line(&published.id)?;
    if published.existing {
        eprintln!(
            "already published: this organization published the same advisory in {} before; nothing new was \
             created and the stored item was sent again",
            output::safe(&published.group_name)
        );
    }
    if published.peers == 0 && tlp != trellis_proto::Tlp::Red {
        eprintln!(
            "stored, but no member of {} is connected now: it will be delivered when one connects",
            output::safe(&published.group_name)
        );
    }
    Ok(())
}

/// `advisory list --by-vulnerability`: one block per vulnerability, its sources below it.
fn print_by_vulnerability(ctx: &Ctx, list: &[AdvisoryView]) -> anyhow::Result<()> {
    let entries = crate::by_vulnerability::correlate(list);
    if ctx.json {
        return output::print_json(&entries);
    }
    if entries.is_empty() {
        return output::print_line("no advisories");
    }
    let mut out = String::new();
    for e in &entries {
        let ids = if e.ids.is_empty() { "(no identifier)".to_string() } else { e.ids.join(", ") };
        let sev = e.max_score.map_or("-".to_string(), |s| format!("{s:.1}"));
        let state = if e.all_withdrawn { "  [WITHDRAWN]" } else { "" };
        out.push_str(&output::safe(&format!(
            "{}  severity {sev}  {} source{}{state}",
            clip(&ids, 120),
            e.sources.len(),
            if e.sources.len() == 1 { "" } else { "s" }
        )));
        out.push('\n');
        for s in &e.sources {
            let line = format!(
                "  {}  {}  {}  {}  {}{}",
                short(&s.id),
                or_dash(s.source_id.as_deref()),
                s.publisher_fingerprint,
                s.group_name,
                clip(&s.title, 60),
                if s.withdrawn { "  (withdrawn)" } else { "" }
            );
            out.push_str(&output::safe(&line));
            out.push('\n');
        }
    }
    print!("{out}");
    Ok(())
}

/// `advisory update` and `withdraw`: send the revision, print its item id.
async fn revise(ctx: &Ctx, id: &str, req: &trellis_api::types::ReviseAdvisory) -> anyhow::Result<()> {
    let published: Published = ctx.client.revise_advisory(id, req).await?;
    if ctx.json {
        return output::print_json(&published);
    }
    output::print_line(&published.id)?;
    if published.peers == 0 {
        eprintln!(
            "stored, but no member of {} is connected now: it will be delivered when one connects",
            output::safe(&published.group_name)
        );
    }
    Ok(())
}

/// `advisory show --history`: the advisory's current state, then each revision with what changed.
fn render_history(h: &trellis_api::types::AdvisoryHistoryView) -> String {
    let a = &h.advisory;
    let mut f = Fields::default();
    f.kv("advisory", &a.id);
    f.kv("title", &a.title);
    f.kv("publisher", format!("{} ({})", or_dash(a.publisher_name.as_deref()), a.publisher_fingerprint));
    f.kv("revision", format!("{} of {}", a.revision, a.revisions));
    f.kv("status", a.withdrawn.as_deref().map_or("current".to_string(), |w| format!("withdrawn: {w}")));
    for v in &h.versions {
        let mut line = format!("revision {}  {}  {}  {}", v.revision, short(&v.id), time(v.signed_ms), v.tlp);
        if v.outvoted {
            line.push_str("  OUTVOTED (a second revision under this number; the lower id counts)");
        }
        f.more("");
        f.more(&line);
        if v.revision == 1 {
            f.more(&format!("  first publication: {}", v.title));
        } else if v.changes.is_empty() {
            f.more("  no field changed");
        }
        for c in &v.changes {
            f.more(&format!("  {}: {} -> {}", c.field, clip(&c.before, 200), clip(&c.after, 200)));
        }
    }
    if !h.equivocations.is_empty() {
        f.more("");
        let nums: Vec<String> = h.equivocations.iter().map(u32::to_string).collect();
        f.more(&format!("equivocation: the publisher signed two revisions under number {}", nums.join(", ")));
    }
    for r in &h.refused {
        f.more("");
        f.more(&format!("refused {}: {}", short(&r.id), r.reason));
    }
    f.0
}

/// A publish whose reply was lost may have been stored: say that retrying is safe.
fn maybe_stored(e: ClientError) -> anyhow::Error {
    if e.is_transport() {
        return anyhow::anyhow!(
            "{e}\n  the advisory may have been stored before the connection broke; running the same command \
             again is safe: it is published once (see `trellis advisory list`)"
        );
    }
    e.into()
}

/// At AMBER and RED, show which group the name or id designates (name, founder, members)
/// before anything is sent; on a terminal, ask unless --yes. Returns the group's full id, to
/// publish to exactly the group that was shown.
pub async fn confirm_group(ctx: &Ctx, group: &str, tlp: trellis_proto::Tlp, yes: bool) -> anyhow::Result<String> {
    let g: GroupInfo = ctx.client.group(group).await?;
    let line = format!(
        "{} to group {} founded by {}, {} members (id {})",
        tlp.label(),
        output::safe(&g.name),
        crate::group::founder_cell(&g),
        g.members,
        g.id
    );
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if yes || !interactive {
        eprintln!("{line}");
        return Ok(g.id);
    }
    eprint!("{line}\npublish? [y/N] ");
    let mut answer = String::new();
    std::io::stdin().lock().take(64).read_line(&mut answer)?;
    if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        bail!("not published");
    }
    Ok(g.id)
}

/// The title cell of `advisory list`: the source id, a withdrawn mark and the revision number.
fn list_title(a: &AdvisoryView) -> String {
    let mut t = crate::output::with_source_id(a.source_id.as_deref(), &a.title);
    if a.revision > 1 {
        t = format!("(rev {}) {t}", a.revision);
    }
    if a.withdrawn.is_some() {
        t = format!("[WITHDRAWN] {t}");
    }
    t
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
    /// One `key: value` line; the value is made safe ([`output::safe`]): one line, no
    /// control or invisible characters, whatever the publisher put in it.
    fn kv(&mut self, key: &str, value: impl AsRef<str>) {
        let line = format!("{:<14}{}", format!("{key}:"), value.as_ref());
        self.more(&line);
    }

    fn more(&mut self, line: &str) {
        self.0.push_str(output::safe(line).trim_end());
        self.0.push('\n');
    }
}

/// Every field of an advisory as `key: value` lines; lists one item per line.
fn render_show(a: &AdvisoryView) -> String {
    let mut f = Fields::default();
    f.kv("id", &a.id);
    f.kv("title", &a.title);
    if let Some(w) = &a.withdrawn {
        f.kv("WITHDRAWN", w);
    }
    if a.revision > 1 {
        f.kv(
            "revision",
            format!(
                "{} (item {}, updated {}; see --history)",
                a.revision,
                a.revision_id.as_deref().map(short).unwrap_or_default(),
                time(a.updated_ms)
            ),
        );
    }
    f.kv("tlp", a.tlp.as_str());
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
    f.kv("source id", or_dash(a.source_id.as_deref()));
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
    for l in a.summary.split('\n') {
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
        assert_eq!(req.tlp, trellis_proto::Tlp::Green);
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
