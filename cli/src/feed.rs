//! `trellis feed …`: follow public sources into a group. The node fetches, checks and publishes;
//! this file only asks it and prints what it did.

use clap::Subcommand;
use trellis_api::types::{FeedAdd, FeedInfo, FeedKind, FeedReport};

use crate::Ctx;
use crate::output::{self, Table, clip, time};

#[derive(Subcommand, Debug)]
pub enum FeedCommand {
    /// Follow a CSAF provider (or a directory of OSV records, --kind osv): its advisories are
    /// published into GROUP by this node, as this organization, at CLEAR or the label the source
    /// gives (never looser)
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
        "--kind osv follows a directory of OSV records instead (the files of an ecosystem's all.zip,\n",
        "unpacked; one level of subdirectories is read): a record is read again when its\n",
        "`modified` changes, and published as a revision of the advisory it was before; a record\n",
        "with `withdrawn` withdraws it.\n",
        "  trellis feed add water /var/lib/osv/PyPI --kind osv --every 6h"
    ))]
    Add {
        /// Group name or id
        group: String,
        /// The provider's domain or its provider-metadata.json URL (https)
        source: String,
        /// Time between runs: 90s, 30m, 1h, 1d (at least 1 minute)
        #[arg(long, default_value = "1h", value_parser = trellis_api::feeds::parse_every)]
        every: u64,
        /// csaf: SOURCE is a CSAF provider; osv: SOURCE is a directory of OSV records (absolute path)
        #[arg(long, default_value = "csaf", value_parser = str::parse::<FeedKind>)]
        kind: FeedKind,
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
    #[command(after_help = "Example:\n  trellis feed run q3xk2m7a")]
    Run {
        /// Feed id (from `feed list`) or its source URL
        id: String,
    },
}

pub async fn run(ctx: &Ctx, cmd: FeedCommand) -> anyhow::Result<()> {
    match cmd {
        FeedCommand::Add { group, source, every, kind } => {
            let f: FeedInfo =
                ctx.client.add_feed(&FeedAdd { group, source, kind: Some(kind), every_secs: Some(every) }).await?;
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
                "ID", "GROUP", "EVERY", "LAST RUN", "DOCS", "NEW", "REVISED", "REFUSED", "STATE", "SOURCE",
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
        FeedCommand::Run { id } => {
            let r: FeedReport = ctx.client.run_feed(&id).await?;
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
