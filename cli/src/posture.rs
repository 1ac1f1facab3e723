//! `trellis posture …`: a supplier describes its security posture once, in plain language, and
//! publishes it to its customers' channels; a customer reads it, sees what lapsed and what its
//! own node could verify, follows its history, and an auditor co-signs answers.
//!
//! `init` needs no daemon: it walks a person through each baseline indicator (what it means, why
//! a customer asks, an example answer), reading one answer per line from stdin — a terminal or a
//! pipe — or from `--answers FILE`, and writes an editable JSON document. Everything else is one
//! call to the local API.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use trellis_api::types::{
    CosignRequest, Created, PostureDiffView, PostureRequestBody, PostureSummary, PostureView, PublishPosture,
};
use trellis_proto::posture::{AnswerKind, DEFAULT_VALIDITY_DAYS, GUIDES, PostureDocument, parse_value};

use crate::output::{self, Table, or_dash, safe, short, time};
use crate::{Ctx, shown};

/// The document `init` writes and `publish` reads when no file is named, in the node's home.
pub const DEFAULT_FILE: &str = "posture.json";

/// Answers in a row that do not fit one question before `init` gives up: piped input that
/// never fits (`yes | trellis posture init`) must end, not ask forever.
const MAX_MISFITS: usize = 10;

/// Most dependencies an attestation carries (the protocol's list limit): piped input that never
/// ends must not grow the document without bound.
const MAX_LIST: usize = trellis_proto::limits::MAX_LIST;

#[derive(Subcommand, Debug)]
pub enum PostureCommand {
    /// Answer the baseline questions in plain language; writes an editable posture file
    #[command(after_help = concat!(
        "Examples:\n",
        "  trellis posture init\n",
        "  trellis posture init --out posture.json --answers answers.txt\n\n",
        "Each question takes one line: the answer (blank to skip), then where a customer can\n",
        "check it (a URL such as https://example.com/.well-known/security.txt, blank if nowhere).\n",
        "Then how many days the answers stay valid, and your critical providers, one per line."
    ))]
    Init {
        /// Where to write the file [default: posture.json in the node's home]
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Read the answers from this file (one per line) instead of stdin
        #[arg(long, value_name = "FILE")]
        answers: Option<PathBuf>,
        /// Replace an existing file
        #[arg(long)]
        force: bool,
    },
    /// Publish the posture file to a group (in a supply-chain channel: AMBER to its admins)
    #[command(
        after_help = "Examples:\n  trellis posture publish prime-suppliers\n  trellis posture publish water --tlp amber --to k3vq-2mfa-x8rt-pq4z --file posture.json\n\nAt AMBER and RED the group the name or id designates is shown first (name, founder,\nmembers) and, on a terminal, confirmed (--yes skips the question)."
    )]
    Publish {
        /// Group name or id
        group: String,
        /// The posture file [default: posture.json in the node's home]
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// TLP label [default: amber]
        #[arg(long, value_parser = crate::advisory::tlp_label)]
        tlp: Option<trellis_proto::Tlp>,
        /// Recipient organization (repeatable; default in a supply-chain channel: its admins)
        #[arg(long, value_name = "ORG")]
        to: Vec<String>,
        /// Publish at AMBER or RED without asking to confirm the group on a terminal
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Show an organization's latest attestation: expired answers, checks made here, co-signatures
    #[command(
        after_help = "Examples:\n  trellis posture show k3vq-2mfa-x8rt-pq4z\n  trellis posture show \"Beta Pumps\" --group prime-suppliers"
    )]
    Show {
        /// Organization: fingerprint, id or name
        org: String,
        /// Only attestations published in this group
        #[arg(long, value_name = "GROUP")]
        group: Option<String>,
    },
    /// List every attestation of an organization this node can read, newest first
    #[command(after_help = "Example:\n  trellis posture history k3vq-2mfa-x8rt-pq4z")]
    History {
        /// Organization: fingerprint, id or name
        org: String,
    },
    /// What changed in an organization's latest attestation since its previous one
    #[command(after_help = "Example:\n  trellis posture diff k3vq-2mfa-x8rt-pq4z")]
    Diff {
        /// Organization: fingerprint, id or name
        org: String,
    },
    /// As an auditor, co-sign answers of another organization's latest attestation
    #[command(
        after_help = "Example:\n  trellis posture cosign k3vq-2mfa-x8rt-pq4z mfa sbom-per-release --note \"audit 2025-03\""
    )]
    Cosign {
        /// Organization: fingerprint, id or name
        org: String,
        /// Indicators to co-sign, e.g. mfa code-review
        #[arg(required = true)]
        indicators: Vec<String>,
        /// Only the attestation published in this group
        #[arg(long, value_name = "GROUP")]
        group: Option<String>,
        /// A note shown with the co-signature
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
    },
    /// Ask the members of a channel to publish their posture (they see it in watch and status)
    #[command(
        after_help = "Example:\n  trellis posture request prime-suppliers --message \"Annual review: please update by March\""
    )]
    Request {
        /// Group name or id
        group: String,
        /// What you ask for
        #[arg(long, value_name = "TEXT")]
        message: Option<String>,
    },
}

pub async fn run(ctx: &Ctx, cmd: PostureCommand) -> anyhow::Result<()> {
    match cmd {
        PostureCommand::Init { out, answers, force } => init(ctx, out, answers, force),
        PostureCommand::Publish { group, file, tlp, to, yes } => {
            let path = file.unwrap_or_else(|| ctx.home.join(DEFAULT_FILE));
            let document = read_document(&path)?;
            let label = tlp.unwrap_or(trellis_proto::Tlp::Amber);
            // At AMBER and RED, sent to the group shown, by its full id.
            let target = if label.needs_recipients() {
                crate::advisory::confirm_group(ctx, &group, label, yes).await?
            } else {
                group.clone()
            };
            let req = PublishPosture { group: target, tlp: Some(label), to, document };
            let c: Created = ctx.client.publish_posture(&req).await?;
            if ctx.json {
                return output::print_json(&c);
            }
            println!("published posture to {} (id {})", output::safe(&group), short(&c.id));
            Ok(())
        }
        PostureCommand::Show { org, group } => {
            let v: PostureView = ctx.client.posture(&org, group.as_deref()).await?;
            if ctx.json {
                return output::print_json(&v);
            }
            print!("{}", output::safe_block(&render_show(&v)));
            Ok(())
        }
        PostureCommand::History { org } => {
            let h: Vec<PostureSummary> = ctx.client.posture_history(&org).await?;
            if ctx.json {
                return output::print_json(&h);
            }
            if h.is_empty() {
                println!("no attestation of {org} readable here");
                return Ok(());
            }
            let mut t =
                Table::new(&["PUBLISHED", "ID", "GROUP", "TLP", "ANSWERS", "EXPIRED", "DEPENDENCIES", "PROBLEMS"]);
            for s in &h {
                t.row(vec![
                    time(s.published_ms),
                    short(&s.id),
                    s.group_name.clone(),
                    s.tlp.to_string(),
                    s.claims.to_string(),
                    s.expired.to_string(),
                    s.dependencies.to_string(),
                    or_dash(Some(&s.problems.join("; "))),
                ]);
            }
            t.print()
        }
        PostureCommand::Diff { org } => {
            let d: PostureDiffView = ctx.client.posture_diff(&org).await?;
            if ctx.json {
                return output::print_json(&d);
            }
            print!("{}", output::safe_block(&render_diff(&d)));
            Ok(())
        }
        PostureCommand::Cosign { org, indicators, group, note } => {
            let req = CosignRequest { indicators: indicators.clone(), group, note };
            let c: Created = ctx.client.posture_cosign(&org, &req).await?;
            if ctx.json {
                return output::print_json(&c);
            }
            println!("co-signed {} of {org} (id {})", indicators.join(", "), short(&c.id));
            Ok(())
        }
        PostureCommand::Request { group, message } => {
            let c: Created = ctx.client.posture_request(&group, &PostureRequestBody { message }).await?;
            if ctx.json {
                return output::print_json(&c);
            }
            println!("asked the members of {group} for their posture (id {})", short(&c.id));
            Ok(())
        }
    }
}

fn read_document(path: &Path) -> anyhow::Result<PostureDocument> {
    let bytes = crate::input::read_bounded(path, crate::input::MAX_DOCUMENT_BYTES, "posture file")
        .context("create one with `trellis posture init`")?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not a posture file", shown(path)))
}

fn init(ctx: &Ctx, out: Option<PathBuf>, answers: Option<PathBuf>, force: bool) -> anyhow::Result<()> {
    let path = out.unwrap_or_else(|| ctx.home.join(DEFAULT_FILE));
    if path.exists() && !force {
        bail!("{} exists; edit it, or start over with --force", shown(&path));
    }
    let now = crate::now_ms();
    let mut prompts = std::io::stderr().lock();
    let doc = match answers {
        Some(a) => {
            let f = std::fs::File::open(&a).with_context(|| format!("opening the answers file {}", shown(&a)))?;
            walk_through(&mut std::io::BufReader::new(f), &mut prompts, now)?
        }
        None => walk_through(&mut std::io::stdin().lock(), &mut prompts, now)?,
    };
    drop(prompts);
    if doc.claims.is_empty() && doc.critical_dependencies.is_empty() {
        bail!(
            "no answers were given (the input ended or every question was skipped), so nothing was written; \
             run `trellis posture init` in a terminal, or give --answers FILE with one answer per line"
        );
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", shown(dir)))?;
    }
    let text = serde_json::to_string_pretty(&doc)? + "\n";
    std::fs::write(&path, text).with_context(|| format!("writing {}", shown(&path)))?;
    if ctx.json {
        return output::print_json(
            &serde_json::json!({ "file": shown(&path), "answers": doc.claims.len(), "dependencies": doc.critical_dependencies.len() }),
        );
    }
    println!(
        "wrote {} ({} answers, {} critical dependencies)",
        shown(&path),
        doc.claims.len(),
        doc.critical_dependencies.len()
    );
    println!("check it, edit it if needed, then publish it with: trellis posture publish GROUP");
    Ok(())
}

/// Read one line; `None` at end of input.
fn read_answer(input: &mut impl BufRead) -> anyhow::Result<Option<String>> {
    let mut line = String::new();
    let limit = crate::input::MAX_LINE_BYTES;
    if std::io::Read::take(&mut *input, limit + 1).read_line(&mut line).context("reading an answer")? == 0 {
        return Ok(None);
    }
    if line.len() as u64 > limit && !line.ends_with('\n') {
        bail!("an answer is longer than {}; answers are one short line each", crate::input::bytes(limit));
    }
    Ok(Some(line.trim().to_string()))
}

/// Walk through every baseline indicator, reading answers from `input` and writing the
/// explanations and prompts to `out`. A blank answer skips the indicator; an answer that does
/// not fit is explained and asked again; the end of input skips what is left.
pub fn walk_through(input: &mut impl BufRead, out: &mut impl Write, now_ms: u64) -> anyhow::Result<PostureDocument> {
    writeln!(
        out,
        "Your customers want to know how you handle security. Answer what you can: one line per\nanswer, Enter to skip a question. Nothing is sent until you run `trellis posture publish`.\n"
    )?;
    // (indicator, value, evidence) per answer; dates are set once the validity is known.
    let mut answered = Vec::new();
    let mut ended = false;
    for (n, g) in GUIDES.iter().enumerate() {
        if ended {
            break;
        }
        writeln!(out, "[{}/{}] {}", n + 1, GUIDES.len(), g.title)?;
        writeln!(out, "  What it means: {}", g.meaning)?;
        writeln!(out, "  Why customers ask: {}", g.why)?;
        writeln!(out, "  Example answer: {}", g.example)?;
        let hint = match g.answer {
            AnswerKind::YesNo => "yes/no".to_string(),
            AnswerKind::Number { unit } => format!("number of {unit}"),
            AnswerKind::Contact => "e-mail or URL".to_string(),
        };
        let mut misfits = 0;
        let value = loop {
            write!(out, "  {} ({hint}, Enter to skip): ", g.question)?;
            out.flush()?;
            let Some(line) = read_answer(input)? else {
                ended = true;
                break None;
            };
            if line.is_empty() {
                break None;
            }
            match parse_value(g.indicator, &line) {
                Ok(v) => break Some(v),
                Err(e) => {
                    misfits += 1;
                    if misfits >= MAX_MISFITS {
                        bail!(
                            "{MAX_MISFITS} answers in a row did not fit \"{}\" ({e}); nothing was written",
                            g.question
                        );
                    }
                    writeln!(out, "  That answer does not fit: {e}. Try again.")?
                }
            }
        };
        let Some(value) = value else {
            writeln!(out)?;
            continue;
        };
        write!(out, "  Where can a customer check this? A URL, e.g. your security.txt (Enter if nowhere): ")?;
        out.flush()?;
        let evidence = read_answer(input)?.filter(|e| !e.is_empty());
        writeln!(out)?;
        answered.push((g.indicator, value, evidence));
    }
    let mut days = DEFAULT_VALIDITY_DAYS;
    if !ended {
        let mut misfits = 0;
        loop {
            write!(out, "How many days should these answers stay valid? [{DEFAULT_VALIDITY_DAYS}]: ")?;
            out.flush()?;
            match read_answer(input)? {
                None => break,
                Some(l) if l.is_empty() => break,
                Some(l) => match l.parse::<u64>() {
                    Ok(d) if (1..=3 * 365).contains(&d) => {
                        days = d;
                        break;
                    }
                    _ => {
                        misfits += 1;
                        if misfits >= MAX_MISFITS {
                            bail!("{MAX_MISFITS} answers in a row were not a number of days; nothing was written");
                        }
                        writeln!(out, "  Give a number of days between 1 and {}.", 3 * 365)?
                    }
                },
            }
        }
    }
    let mut deps = Vec::new();
    writeln!(
        out,
        "\nWhich providers or packages could you not work without? For example: AWS, Microsoft 365,\npkg:npm/lodash. One per line; an empty line to finish."
    )?;
    loop {
        write!(out, "  provider or package: ")?;
        out.flush()?;
        match read_answer(input)? {
            Some(l) if !l.is_empty() => {
                if let Some(d) = PostureDocument::dependency_from_line(&l) {
                    if deps.len() == MAX_LIST {
                        bail!(
                            "more than {MAX_LIST} dependencies were given, the most an attestation carries; \
                             nothing was written"
                        );
                    }
                    deps.push(d);
                }
            }
            _ => break,
        }
    }
    writeln!(out)?;
    Ok(PostureDocument::from_answers(answered, deps, now_ms, days))
}

/// The attestation as text. Every field another organization wrote is made safe one by one
/// ([`safe`]): a line break in a note or a dependency name cannot forge a line of its own.
fn render_show(v: &PostureView) -> String {
    let mut s = String::new();
    let who = match &v.name {
        Some(n) => format!("{} ({})", safe(n), v.fingerprint),
        None => v.fingerprint.clone(),
    };
    s.push_str(&format!("organization: {who}\n"));
    s.push_str(&format!(
        "attestation:  {} in {} [{}], published {}\n",
        short(&v.id),
        safe(&v.group_name),
        v.tlp.as_str(),
        time(v.published_ms)
    ));
    if !v.expired.is_empty() {
        s.push_str(&format!("EXPIRED:      {} (ask for a new attestation)\n", safe(&v.expired.join(", "))));
    }
    let mut t = Table::new(&["INDICATOR", "ANSWER", "METHOD", "VALID UNTIL", "CHECKED HERE", "CO-SIGNED BY"]);
    for c in &v.claims {
        t.row(vec![
            c.indicator.clone(),
            c.value.clone(),
            c.method.clone(),
            if c.expired { format!("{} EXPIRED", time(c.valid_until_ms)) } else { time(c.valid_until_ms) },
            c.check.as_ref().map(|k| k.status.clone()).unwrap_or_else(|| "-".into()),
            or_dash(Some(&c.cosigned_by.join(", "))),
        ]);
    }
    s.push_str(&t.render());
    for c in &v.claims {
        if let Some(k) = &c.check {
            s.push_str(&format!("  {} {}: {}\n", safe(&c.indicator), safe(&k.status), safe(&k.detail)));
        }
    }
    if !v.critical_dependencies.is_empty() {
        let deps: Vec<String> = v
            .critical_dependencies
            .iter()
            .map(|d| match &d.purl {
                Some(p) if p != &d.name => format!("{} ({})", safe(&d.name), safe(p)),
                _ => safe(&d.name),
            })
            .collect();
        s.push_str(&format!("depends on:   {}\n", deps.join(", ")));
    }
    for c in &v.cosignatures {
        let who = safe(c.name.as_deref().unwrap_or(&c.fingerprint));
        let note = c.note.as_deref().map(|n| format!(" — {}", safe(n))).unwrap_or_default();
        s.push_str(&format!(
            "co-signed by {who} on {}: {}{note}\n",
            time(c.published_ms),
            safe(&c.indicators.join(", "))
        ));
    }
    s
}

/// The changes as text, each field from the publisher made safe on its own (see [`render_show`]).
fn render_diff(d: &PostureDiffView) -> String {
    let mut s = String::new();
    match &d.previous {
        Some(p) => s.push_str(&format!(
            "from {} ({}) to {} ({})\n",
            short(&p.id),
            time(p.published_ms),
            short(&d.latest.id),
            time(d.latest.published_ms)
        )),
        None => s.push_str(&format!(
            "first attestation {} ({}): everything is new\n",
            short(&d.latest.id),
            time(d.latest.published_ms)
        )),
    }
    if d.changes.is_empty() && d.dependencies_added.is_empty() && d.dependencies_removed.is_empty() {
        s.push_str("no change\n");
    }
    for c in &d.changes {
        let line = match c.change.as_str() {
            "added" => format!("+ {}: {}", safe(&c.indicator), safe(&or_dash(c.after.as_deref()))),
            "removed" => format!("- {}: {}", safe(&c.indicator), safe(&or_dash(c.before.as_deref()))),
            other => format!(
                "~ {} {}: {} -> {}",
                safe(&c.indicator),
                safe(other),
                safe(&or_dash(c.before.as_deref())),
                safe(&or_dash(c.after.as_deref()))
            ),
        };
        s.push_str(&line);
        s.push('\n');
    }
    for dep in &d.dependencies_added {
        s.push_str(&format!("+ depends on {}\n", safe(dep)));
    }
    for dep in &d.dependencies_removed {
        s.push_str(&format!("- no longer depends on {}\n", safe(dep)));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_through_reads_piped_answers_and_reasks_what_does_not_fit() {
        // security-contact + evidence, disclosure skipped, machine-readable "maybe" (re-asked) → no,
        // then the input ends: the rest is skipped, validity defaults, no dependencies.
        let answers = "security@example.com\nhttp://127.0.0.1/.well-known/security.txt\n\nmaybe\nno\n\n";
        let mut prompts = Vec::new();
        let doc = walk_through(&mut answers.as_bytes(), &mut prompts, 1_735_689_600_000).unwrap();
        let text = String::from_utf8(prompts).unwrap();
        assert!(text.contains("Why customers ask"), "{text}");
        assert!(text.contains("does not fit"), "{text}");
        assert_eq!(doc.claims.len(), 2);
        assert_eq!(doc.claims[0].method, "observed");
        assert_eq!(doc.claims[1].indicator, "machine-readable-advisories");
        assert_eq!(doc.claims[1].value, "no");
        assert_eq!(doc.claims[1].valid_until, "2026-01-01T00:00:00.000Z");
        assert!(doc.critical_dependencies.is_empty());
    }

    #[test]
    fn endless_piped_input_ends_with_an_error() {
        // `yes no | trellis posture init`: the first question takes an e-mail or URL, and
        // "no" never fits it.
        let endless = "no\n".repeat(1000);
        let e = walk_through(&mut endless.as_bytes(), &mut Vec::new(), 0).unwrap_err();
        assert!(e.to_string().contains("10 answers in a row did not fit"), "{e}");
        // Every question skipped, default validity, then endless dependencies.
        let mut input = "\n".repeat(GUIDES.len() + 1);
        input.push_str(&"ExampleCloud\n".repeat(MAX_LIST + 1));
        let e = walk_through(&mut input.as_bytes(), &mut Vec::new(), 0).unwrap_err();
        assert!(e.to_string().contains("more than 1024 dependencies"), "{e}");
        // At the limit it is accepted.
        let mut input = "\n".repeat(GUIDES.len() + 1);
        input.push_str(&"ExampleCloud\n".repeat(MAX_LIST));
        assert_eq!(
            walk_through(&mut input.as_bytes(), &mut Vec::new(), 0).unwrap().critical_dependencies.len(),
            MAX_LIST
        );
    }

    #[test]
    fn remote_text_in_a_posture_cannot_forge_a_line() {
        let forged = "x\nEXPIRED:      everything\u{1b}[2J";
        let v = PostureView {
            id: "id".into(),
            org: "org".into(),
            fingerprint: "k3vq-2mfa".into(),
            name: Some(forged.into()),
            group: "g".into(),
            group_name: forged.into(),
            tlp: trellis_proto::Tlp::Green,
            published_ms: 0,
            claims: vec![],
            critical_dependencies: vec![trellis_api::types::DependencyView {
                name: forged.into(),
                purl: Some(forged.into()),
            }],
            cosignatures: vec![trellis_api::types::CosignView {
                id: "c".into(),
                org: "o".into(),
                fingerprint: "f".into(),
                name: Some(forged.into()),
                indicators: vec![forged.into()],
                note: Some(forged.into()),
                published_ms: 0,
            }],
            expired: vec![],
        };
        let text = render_show(&v);
        assert_eq!(text.lines().count(), 5, "{text}");
        assert!(!text.lines().any(|l| l.starts_with("EXPIRED")), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
        let summary = trellis_api::types::PostureSummary {
            id: "l".into(),
            org: "o".into(),
            group: "g".into(),
            group_name: "n".into(),
            tlp: trellis_proto::Tlp::Green,
            published_ms: 0,
            claims: 0,
            expired: 0,
            dependencies: 0,
            problems: vec![],
        };
        let d = PostureDiffView {
            org: "o".into(),
            name: None,
            previous: None,
            latest: summary,
            changes: vec![trellis_api::types::ClaimChangeView {
                indicator: forged.into(),
                change: forged.into(),
                before: Some(forged.into()),
                after: Some(forged.into()),
            }],
            dependencies_added: vec![forged.into()],
            dependencies_removed: vec![forged.into()],
        };
        let text = render_diff(&d);
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
    }

    #[test]
    fn init_writes_an_editable_file_from_an_answers_file_and_refuses_to_overwrite() {
        let dir = std::env::temp_dir().join(format!("trellis-posture-init-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let answers = dir.join("answers.txt");
        // Every question in order: contact + evidence, then yes/no answers with no evidence,
        // the two numbers, code review; 180 days; two providers and a package.
        let mut lines = vec!["security@example.com", "https://example.com/.well-known/security.txt"];
        for a in ["yes", "no", "yes", "no", "yes", "yes", "yes", "30", "72", "yes"] {
            lines.push(a);
            lines.push("");
        }
        lines.extend(["180", "ExampleCloud", "Microsoft 365", "pkg:npm/lodash@4.17.21", ""]);
        std::fs::write(&answers, lines.join("\n")).unwrap();
        let out = dir.join("posture.json");
        let _ = std::fs::remove_file(&out);
        let ctx = Ctx { client: trellis_api::client::Client::new(&dir), home: dir.clone(), json: true };
        init(&ctx, Some(out.clone()), Some(answers.clone()), false).unwrap();
        let doc: PostureDocument = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(doc.claims.len(), 11);
        assert_eq!(doc.claims[0].method, "observed");
        assert!(doc.claims[1..].iter().all(|c| c.method == "self-attested"));
        let days = doc.claims.iter().find(|c| c.indicator == "critical-remediation-days").unwrap();
        assert_eq!(days.value, "30");
        let att = doc.to_attestation().unwrap();
        assert!(trellis_proto::posture::validate(&att).is_empty());
        let c = &att.claims[0];
        assert_eq!((c.valid_until_ms - c.observed_ms) / (24 * 3600 * 1000), 180);
        let names: Vec<&str> = doc.critical_dependencies.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["ExampleCloud", "Microsoft 365", "lodash"]);
        assert!(init(&ctx, Some(out.clone()), Some(answers), false).unwrap_err().to_string().contains("--force"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
