//! `trellis feed …`: follow public sources into a group. The node fetches, checks and publishes;
//! this file only asks it and prints what it did.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::Subcommand;
use trellis_api::types::{FeedAdd, FeedInfo, FeedKind, FeedProgress, FeedReport, Tlp};

use crate::Ctx;
use crate::output::{self, Table, clip, time};

#[derive(Subcommand, Debug)]
pub enum FeedCommand {
    /// Follow a source — a CSAF provider, OSV records (a directory or an all.zip), a MISP feed
    /// or a TAXII 2.1 collection: its advisories are published into GROUP by this node, as this
    /// organization, at CLEAR (or --tlp green) or the label the source gives, never looser
    #[command(after_help = concat!(
        "Examples:\n",
        "  trellis feed add water psirt.example.com\n",
        "  trellis feed add water https://psirt.example.com/.well-known/csaf/provider-metadata.json --every 6h\n\n",
        "SOURCE is a CSAF provider's domain (its /.well-known/csaf/provider-metadata.json is read)\n",
        "or the URL of its provider-metadata.json, over https. Each run reads the provider's ROLIE\n",
        "feeds (or its directory's changes.csv), fetches only documents that changed since the last\n",
        "run, checks each one's .sha512 and its OpenPGP signature (.asc) against the provider's\n",
        "public keys (their fingerprints as provider-metadata.json lists them; the keys seen on the\n",
        "first run are pinned, and new keys are refused until the feed is added again), and\n",
        "publishes it: a first version as a new advisory, a later /document/tracking/version as a\n",
        "revision of it. Documents that fail a check are refused and reported. Every item names its\n",
        "document's URL in its references. AMBER and RED documents are refused: a person chooses\n",
        "who reads those. Runs start at once and then every --every; a failed run is retried after\n",
        "1 minute, then 2, 4, ... up to --every. Addresses and CAs follow the evidence settings\n",
        "(evidence_allow_private, evidence_ca_file in config.toml).\n\n",
        "--kind osv follows OSV records: a directory of them (one level of subdirectories is\n",
        "read), or a zip of them as OSV publishes per ecosystem (all.zip), as an absolute path or an\n",
        "https URL. A record is read again when its `modified` changes (in a zip: when its CRC-32\n",
        "or size does) and published as a revision of the advisory it was before; a record with\n",
        "`withdrawn` withdraws it. A zip is refused as a whole past 512 MiB, 500000 entries or\n",
        "4 GiB of records uncompressed; an entry over 200 KiB, larger than it declares, or whose\n",
        "path leaves the archive (`..`, absolute) is refused and reported. A URL is fetched again\n",
        "only when it changed (ETag / Last-Modified).\n",
        "  trellis feed add water /var/lib/osv/PyPI --kind osv --every 6h\n",
        "  trellis feed add water https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip --kind osv --every 1d\n\n",
        "--kind misp follows a MISP feed: a directory or https URL holding manifest.json and one\n",
        "<uuid>.json per event (the layout MISP's feeds and `trellis export --format misp` write).\n",
        "An event is read when its manifest timestamp changes; a later timestamp is a revision of\n",
        "the advisory it was. Its tlp: tags give its label (never looser than --tlp); AMBER and\n",
        "RED events are refused.\n",
        "  trellis feed add water https://misp.example.org/feeds/osint/ --kind misp\n",
        "  trellis feed add water /srv/misp-export --kind misp --tlp green\n\n",
        "--kind taxii polls a TAXII 2.1 collection: SOURCE is its URL (https://HOST/API-ROOT/\n",
        "collections/ID/); each run asks for the objects added after the last run's\n",
        "X-TAXII-Date-Added-Last and follows `next` for up to 100 pages. STIX vulnerability and\n",
        "indicator objects become advisories (their TLP marking gives the label; a later\n",
        "`modified` is a revision, `revoked` withdraws); other objects are skipped. A server that\n",
        "asks for a bearer token gets --token-file's content (kept in the node's home).\n",
        "  trellis feed add water https://taxii.example.org/api1/collections/91a7b528-80eb-42ed-a74d-c6fbd5a26116/ --kind taxii --token-file ~/taxii.token"
    ))]
    Add {
        /// Group name or id
        group: String,
        /// csaf: the provider's domain or its provider-metadata.json URL (https); osv: a directory
        /// or .zip (absolute path) or a zip's https URL; misp: the feed's directory or https URL;
        /// taxii: the collection's https URL
        source: String,
        /// Time between runs: 90s, 30m, 1h, 1d (at least 1 minute)
        #[arg(long, default_value = "1h", value_parser = trellis_api::feeds::parse_every)]
        every: u64,
        /// What SOURCE is: csaf (a CSAF provider), osv (OSV records: a directory or a zip),
        /// misp (a MISP feed), taxii (a TAXII 2.1 collection)
        #[arg(long, default_value = "csaf", value_parser = str::parse::<FeedKind>)]
        kind: FeedKind,
        /// The label the feed's items carry at least; a document's stricter label wins
        #[arg(long, default_value = "clear", value_parser = ["clear", "green"])]
        tlp: String,
        /// A file holding the bearer token the TAXII server asks for (one line)
        #[arg(long, value_name = "PATH")]
        token_file: Option<std::path::PathBuf>,
    },
    /// List the feeds with their state: last run, failures, documents, last report
    #[command(after_help = "Examples:\n  trellis feed list\n  trellis --json feed list")]
    List,
    /// Stop following a feed (what it published stays)
    #[command(after_help = "Example:\n  trellis feed remove q3xk2m7a")]
    Remove {
        /// Feed id (from `feed list`) or its source URL
        id: String,
    },
    /// Run a feed now and print its report: new, revised, unchanged and refused documents
    #[command(after_help = concat!(
        "Examples:\n  trellis feed run q3xk2m7a\n  trellis feed run q3xk2m7a --progress 2>progress.log\n\n",
        "While the run goes on, its progress (documents looked at, of how many once the source's\n",
        "listing is read) is shown on stderr when stderr is a terminal, or always with --progress.\n",
        "--json prints only the report."
    ))]
    Run {
        /// Feed id (from `feed list`) or its source URL
        id: String,
        /// Show progress on stderr even when it is not a terminal (one line per second)
        #[arg(long)]
        progress: bool,
    },
}

pub async fn run(ctx: &Ctx, cmd: FeedCommand) -> anyhow::Result<()> {
    match cmd {
        FeedCommand::Add { group, source, every, kind, tlp, token_file } => {
            let tlp: Tlp = tlp.parse()?;
            let token = match token_file {
                None => None,
                Some(p) => {
                    let t = std::fs::read_to_string(&p)
                        .map_err(|e| anyhow::anyhow!("cannot read the token file {}: {e}", p.display()))?;
                    Some(t.trim().to_string())
                }
            };
            let req = FeedAdd { group, source, kind: Some(kind), every_secs: Some(every), tlp: Some(tlp), token };
            let f: FeedInfo = ctx.client.add_feed(&req).await?;
            if ctx.json {
                return output::print_json(&f);
            }
            output::print_line(&f.id)?;
            eprintln!(
                "following {} into {} every {}; the first run starts within 15 s (or now: trellis feed run {})",
                output::safe(&f.source),
                output::safe(&f.group_name),
                period(f.every_secs),
                f.id
            );
            Ok(())
        }
        FeedCommand::List => {
            let list: Vec<FeedInfo> = ctx.client.feeds().await?;
            if ctx.json {
                return output::print_json(&list);
            }
            if list.is_empty() {
                return output::print_line("no feeds; add one with `trellis feed add GROUP SOURCE`");
            }
            let mut t = Table::new(&[
                "ID", "GROUP", "KIND", "EVERY", "LAST RUN", "DOCS", "NEW", "REVISED", "REFUSED", "STATE", "SOURCE",
            ]);
            for f in &list {
                let state = match (&f.last_error, f.last_run_ms) {
                    (Some(e), _) => format!("failing x{}: {}", f.failures, clip(e, 60)),
                    (None, None) => "not run yet".into(),
                    (None, Some(_)) => "ok".into(),
                };
                t.row(vec![
                    f.id.clone(),
                    f.group_name.clone(),
                    f.kind.to_string(),
                    period(f.every_secs),
                    f.last_run_ms.map(time).unwrap_or_else(|| "-".into()),
                    f.documents.to_string(),
                    f.totals.new.to_string(),
                    f.totals.revised.to_string(),
                    f.totals.refused.to_string(),
                    state,
                    clip(&f.source, 60),
                ]);
            }
            t.print()
        }
        FeedCommand::Remove { id } => {
            let f: FeedInfo = ctx.client.remove_feed(&id).await?;
            if ctx.json {
                return output::print_json(&f);
            }
            output::print_line(&format!("removed feed {} ({}); what it published stays", f.id, output::safe(&f.source)))
        }
        FeedCommand::Run { id, progress } => {
            let tty = std::io::stderr().is_terminal();
            let show = progress || (tty && !ctx.json);
            let r: FeedReport =
                if show { run_with_progress(ctx, &id, tty).await? } else { ctx.client.run_feed(&id).await? };
            if ctx.json {
                return output::print_json(&r);
            }
            print!("{}", render_report(&r));
            if let Some(e) = &r.error {
                anyhow::bail!("the run failed: {e}");
            }
            Ok(())
        }
    }
}

/// Run the feed while polling its progress and drawing it on stderr: one line rewritten in
/// place on a terminal, else a line when the figure changed, at most one a second.
async fn run_with_progress(ctx: &Ctx, id: &str, tty: bool) -> anyhow::Result<FeedReport> {
    let client = ctx.client.clone();
    let run_id = id.to_string();
    let mut run = tokio::spawn(async move { client.run_feed(&run_id).await });
    let mut last: Option<(u64, Option<u64>)> = None;
    let mut err = std::io::stderr();
    let report = loop {
        tokio::select! {
            r = &mut run => break r?,
            _ = tokio::time::sleep(Duration::from_millis(if tty { 250 } else { 1000 })) => {}
        }
        let Ok(p) = ctx.client.feed_progress(id).await else { continue };
        if !p.running || last == Some((p.done, p.total)) {
            continue;
        }
        last = Some((p.done, p.total));
        let line = progress_line(&p);
        let _ = if tty { write!(err, "\r\x1b[2K{line}") } else { writeln!(err, "{line}") };
        let _ = err.flush();
    };
    let r = report?;
    let done = r.new.len() as u64 + r.revised.len() as u64 + r.unchanged + r.refused_count;
    let end = progress_line(&FeedProgress {
        feed: r.feed.clone(),
        running: false,
        done,
        total: Some(done),
        started_ms: None,
    });
    let _ = if tty { writeln!(err, "\r\x1b[2K{end}") } else { writeln!(err, "{end}") };
    Ok(r)
}

/// `feed ID: 120/4000 documents (3%)`, or without a total while it is not known.
fn progress_line(p: &FeedProgress) -> String {
    match p.total {
        Some(t) if t > 0 => format!("feed {}: {}/{t} documents ({}%)", p.feed, p.done, p.done.min(t) * 100 / t),
        Some(_) => format!("feed {}: {} documents", p.feed, p.done),
        None => format!("feed {}: {} documents so far", p.feed, p.done),
    }
}

fn period(secs: u64) -> String {
    match secs {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn render_report(r: &FeedReport) -> String {
    let mut out = format!(
        "feed {}: {} new, {} revised, {} unchanged, {} refused ({:.1} s)\n",
        r.feed,
        r.new.len(),
        r.revised.len(),
        r.unchanged,
        r.refused_count,
        r.finished_ms.saturating_sub(r.started_ms) as f64 / 1000.0
    );
    for d in &r.new {
        out.push_str(&format!("  new      {}  {}\n", output::short(&d.item), output::safe(&d.url)));
    }
    for d in &r.revised {
        out.push_str(&format!("  revised  {}  {}\n", output::short(&d.item), output::safe(&d.url)));
    }
    for x in &r.refused {
        out.push_str(&format!("  refused  {}: {}\n", output::safe(&x.url), output::safe(&x.reason)));
    }
    out
}
