//! `trellis resource publish|list|show|get|endorse|topics`: guidance, playbooks and templates
//! shared in a group, with a topic from a small vocabulary, a TLP label like advisories, and
//! a text, a link or a file (up to 64 MiB; files over 24 KiB travel beside the item in
//! encrypted chunks that members fetch from each other).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use trellis_api::types::Created;
use trellis_api::types::{PublishResource, ResourceView};
use trellis_proto::resource::{MAX_FILE, Topic};

use crate::output::{self, Table, clip, safe, short, time};
use crate::{Ctx, shown};

const TOPICS_HELP: &str = "Topics: vulnerability-management, identity-and-access, incident-response, backups, \
                           awareness, secure-development, supplier-management, asset-inventory, logging, governance";

#[derive(Subcommand, Debug)]
pub enum ResourceCommand {
    /// Share a resource (playbook, policy template, guidance, exercise plan) with a group
    #[command(after_help = concat!(
        "Exactly one of --file, --url, --text is the resource; --text may also go with --file or --url as a summary.\n",
        "A file of up to 24 KiB travels inside the item; a larger one (up to 64 MiB) travels beside it in 1 MiB\n",
        "chunks encrypted under a key inside the item, fetched by every member from whoever holds them.\n",
        "Topics: vulnerability-management, identity-and-access, incident-response, backups, awareness,\n",
        "secure-development, supplier-management, asset-inventory, logging, governance.\n\n",
        "Examples:\n",
        "  trellis resource publish water --tlp green --topic backups --audience small-orgs \\\n",
        "    --title \"Backup checklist for small utilities\" --file backup-checklist.pdf\n",
        "  trellis resource publish water --tlp clear --topic awareness --title \"Phishing poster\" \\\n",
        "    --url https://example.org/poster.pdf\n",
        "  trellis resource publish acme-suppliers --tlp amber --topic identity-and-access \\\n",
        "    --title \"How we manage suppliers' privileged access\" --text \"1. Named accounts only ...\""
    ))]
    Publish(PublishArgs),
    /// List the resources this node can read, newest first
    #[command(
        after_help = "Examples:\n  trellis resource list\n  trellis resource list --topic backups\n  trellis --json resource list --group water"
    )]
    List {
        /// Only this topic
        #[arg(long)]
        topic: Option<String>,
        /// Only this group (name or id)
        #[arg(long)]
        group: Option<String>,
    },
    /// Show one resource: its text, link and file
    #[command(after_help = "Example:\n  trellis resource show k3vq2mfa")]
    Show {
        /// Resource id (or its first 8+ characters)
        id: String,
    },
    /// Write a resource's file to PATH (fetching the chunks this node lacks first), checked
    /// against the SHA-256 its publisher signed
    #[command(after_help = "Example:\n  trellis resource get k3vq2mfa --out ./backup-checklist.pdf")]
    Get {
        /// Resource id (or its first 8+ characters)
        id: String,
        /// Where to write the file (refused if it exists)
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
    },
    /// Say a resource helped you ("this playbook helped us"): a confirmation its group sees
    #[command(
        after_help = "Example:\n  trellis resource endorse k3vq2mfa --comment \"Used it for our first restore test\""
    )]
    Endorse {
        /// Resource id (or its first 8+ characters)
        id: String,
        /// A few words on how it helped
        #[arg(long)]
        comment: Option<String>,
    },
    /// List the topics a resource can have
    #[command(after_help = "Example:\n  trellis resource topics")]
    Topics,
}

#[derive(Args, Debug)]
pub struct PublishArgs {
    /// The group (name or id)
    group: String,
    /// Title, one line
    #[arg(long)]
    title: String,
    /// Topic (see `trellis resource topics`)
    #[arg(long, help = format!("Topic. {TOPICS_HELP}"))]
    topic: String,
    /// Who it is written for: everyone or small-orgs
    #[arg(long, default_value = "everyone")]
    audience: String,
    /// TLP label: clear, green, amber or amber+strict (not red: files are fetched from any member)
    #[arg(long, value_parser = crate::advisory::tlp_label)]
    tlp: trellis_proto::Tlp,
    /// AMBER recipients (fingerprints or ids); in a supply-chain channel the admins by default
    #[arg(long, value_name = "ORG")]
    to: Vec<String>,
    /// A file: the resource itself
    #[arg(long, value_name = "PATH", conflicts_with = "url")]
    file: Option<PathBuf>,
    /// A link to the resource (http or https)
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// The text of the resource, or a summary of its file or link (at most 16 KiB)
    #[arg(long)]
    text: Option<String>,
}

pub async fn run(ctx: &Ctx, cmd: ResourceCommand) -> anyhow::Result<()> {
    match cmd {
        ResourceCommand::Publish(a) => publish(ctx, a).await,
        ResourceCommand::List { topic, group } => {
            let list: Vec<ResourceView> = ctx.client.resources(topic.as_deref(), group.as_deref()).await?;
            if ctx.json {
                return output::print_json(&list);
            }
            if list.is_empty() {
                println!("no resources{}", topic.map(|t| format!(" on {t}")).unwrap_or_default());
                return Ok(());
            }
            let mut t = Table::new(&["ID", "TOPIC", "TLP", "TITLE", "FROM", "GROUP", "CONTENT", "HELPED"]);
            for r in &list {
                t.row(vec![
                    short(&r.id),
                    r.topic.clone(),
                    r.tlp.to_string(),
                    clip(&r.title, 60),
                    r.publisher_name.clone().unwrap_or_else(|| r.publisher_fingerprint.clone()),
                    r.group_name.clone(),
                    content_cell(r),
                    r.endorsements.to_string(),
                ]);
            }
            t.print()
        }
        ResourceCommand::Show { id } => {
            let r: ResourceView = ctx.client.resource(&id).await?;
            if ctx.json {
                return output::print_json(&r);
            }
            println!("{}", safe(&r.title));
            println!("  id:        {}", r.id);
            println!("  topic:     {} (for {})", r.topic, r.audience);
            println!("  tlp:       {}", r.tlp);
            println!(
                "  from:      {} ({})",
                safe(&r.publisher_name.clone().unwrap_or_default()),
                r.publisher_fingerprint
            );
            println!("  group:     {}", safe(&r.group_name));
            println!("  published: {}", time(r.published_ms));
            println!("  helped:    {} organization(s)", r.endorsements);
            if let Some(u) = &r.url {
                println!("  link:      {}", safe(u));
            }
            if let Some(f) = &r.file {
                println!(
                    "  file:      {} ({} bytes, sha256 {}, {}; get it with `trellis resource get {} --out PATH`)",
                    safe(&f.name),
                    f.size,
                    f.sha256,
                    if f.carried == "inline" {
                        "inside the item".to_string()
                    } else {
                        format!("{} of {} chunks here", f.chunks_held, f.chunks)
                    },
                    short(&r.id)
                );
            }
            if !r.text.is_empty() {
                println!();
                println!("{}", output::safe_block(&r.text));
            }
            Ok(())
        }
        ResourceCommand::Get { id, out } => get(ctx, &id, &out).await,
        ResourceCommand::Endorse { id, comment } => {
            let c: Created = ctx.client.endorse_resource(&id, comment.as_deref()).await?;
            if ctx.json {
                return output::print_json(&c);
            }
            println!("endorsed; the group sees your confirmation (item {})", short(&c.id));
            Ok(())
        }
        ResourceCommand::Topics => {
            let names: Vec<&str> = Topic::ALL.iter().map(|t| t.as_str()).collect();
            if ctx.json {
                return output::print_json(&names);
            }
            for n in names {
                println!("{n}");
            }
            Ok(())
        }
    }
}

fn content_cell(r: &ResourceView) -> String {
    match (&r.file, &r.url) {
        (Some(f), _) if f.carried == "inline" || f.chunks_held == f.chunks => format!("file {} B", f.size),
        (Some(f), _) => format!("file {} B ({}/{} chunks)", f.size, f.chunks_held, f.chunks),
        (None, Some(_)) => "link".into(),
        (None, None) => "text".into(),
    }
}

async fn publish(ctx: &Ctx, a: PublishArgs) -> anyhow::Result<()> {
    let (file_name, body) = match &a.file {
        Some(p) => {
            let meta = std::fs::metadata(p).with_context(|| shown(p))?;
            if meta.len() > MAX_FILE {
                bail!("{} is {} bytes; a resource's file may have at most {MAX_FILE} (64 MiB)", shown(p), meta.len());
            }
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .with_context(|| format!("{} has no file name that is UTF-8", shown(p)))?
                .to_string();
            (Some(name), std::fs::read(p).with_context(|| shown(p))?)
        }
        None => (None, Vec::new()),
    };
    if a.file.is_none() && a.url.is_none() && a.text.is_none() {
        bail!("give the resource: --file PATH, --url URL or --text TEXT");
    }
    let meta = PublishResource {
        group: a.group.clone(),
        title: a.title,
        topic: a.topic,
        audience: Some(a.audience),
        tlp: a.tlp,
        to: a.to,
        text: a.text,
        url: a.url,
        file_name,
    };
    let c: Created = ctx.client.publish_resource(&meta, body).await?;
    if ctx.json {
        return output::print_json(&c);
    }
    println!("published resource {} in {}", c.id, safe(&a.group));
    Ok(())
}

async fn get(ctx: &Ctx, id: &str, out: &Path) -> anyhow::Result<()> {
    if out.exists() {
        bail!("{} exists; remove it or choose another --out (nothing was written)", shown(out));
    }
    let bytes = ctx.client.resource_content(id, MAX_FILE as usize + 1).await?;
    let tmp = out.with_extension("trellis-partial");
    std::fs::write(&tmp, &bytes).with_context(|| shown(&tmp))?;
    std::fs::rename(&tmp, out).with_context(|| shown(out))?;
    if ctx.json {
        return output::print_json(&serde_json::json!({ "out": shown(out), "bytes": bytes.len() }));
    }
    println!("wrote {} ({} bytes, checked against the publisher's SHA-256)", shown(out), bytes.len());
    Ok(())
}

/// One line for `watch`.
pub fn describe(r: &ResourceView) -> String {
    format!(
        "resource  [{}] {}  ({})  from {}  in {}  (id {})",
        r.tlp,
        r.title,
        r.topic,
        r.publisher_name.clone().unwrap_or_else(|| r.publisher_fingerprint.clone()),
        r.group_name,
        short(&r.id)
    )
}
