//! `trellis help-request …` and `trellis helper …`: ask the people around you for help, answer
//! in a thread, mark it resolved; offer help on topics in a sector group.

use clap::{Args, Subcommand};
use trellis_api::types::{AskHelp, HelpRequestView, HelperOffer, HelperView};
use trellis_api::types::{Created, CreatedMany};

use crate::Ctx;
use crate::output::{self, Table, clip, safe, short, time};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct HelpRequestArgs {
    #[command(subcommand)]
    cmd: Option<HelpRequestCommand>,
    #[command(flatten)]
    ask: AskArgs,
}

#[derive(Args, Debug)]
pub struct AskArgs {
    /// The group to ask in (name or id)
    #[arg(required = true)]
    group: Option<String>,
    /// What it is about (see `trellis resource topics`)
    #[arg(long, required = true)]
    topic: Option<String>,
    /// The question, in plain words (at most 16 KiB)
    #[arg(long, required = true)]
    text: Option<String>,
    /// Ask these orgs instead (fingerprints or ids)
    #[arg(long, value_name = "ORG")]
    to: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum HelpRequestCommand {
    /// List the requests for help you asked or were asked, with their status
    #[command(after_help = "Examples:\n  trellis help-request list\n  trellis --json help-request list")]
    List,
    /// Show one request and its thread of answers
    #[command(after_help = "Example:\n  trellis help-request show k3vq2mfa")]
    Show {
        /// Request id (or its first 8+ characters)
        id: String,
    },
    /// Answer a request; the asker and everyone the request was addressed to read it
    #[command(
        after_help = "Example:\n  trellis help-request answer k3vq2mfa --text \"We use a second account for admin work\""
    )]
    Answer {
        /// Request id (or its first 8+ characters)
        id: String,
        /// The answer
        #[arg(long)]
        text: String,
    },
    /// Mark your request resolved (only the organization that asked can)
    #[command(after_help = "Example:\n  trellis help-request resolve k3vq2mfa")]
    Resolve {
        /// Request id (or its first 8+ characters)
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum HelperCommand {
    /// Offer help on topics to the members of your sector groups (or one group)
    #[command(
        after_help = "Examples:\n  trellis helper on --topic backups --topic incident-response\n  trellis helper on --topic identity-and-access --group water"
    )]
    On {
        /// A topic you can help with (repeatable; see `trellis resource topics`)
        #[arg(long, required = true)]
        topic: Vec<String>,
        /// Only this group [default: every sector group you are in]
        #[arg(long)]
        group: Option<String>,
    },
    /// Stop offering help
    #[command(after_help = "Example:\n  trellis helper off")]
    Off {
        /// Only this group [default: every sector group you are in]
        #[arg(long)]
        group: Option<String>,
    },
    /// List who offers help on what in your groups
    #[command(after_help = "Example:\n  trellis helper list")]
    List,
}

pub async fn run(ctx: &Ctx, args: HelpRequestArgs) -> anyhow::Result<()> {
    match args.cmd {
        None => {
            let a = args.ask;
            let req = AskHelp {
                group: a.group.unwrap_or_default(),
                topic: a.topic.unwrap_or_default(),
                text: a.text.unwrap_or_default(),
                to: a.to,
            };
            let c: Created = ctx.client.ask_help(&req).await?;
            if ctx.json {
                return output::print_json(&c);
            }
            println!("asked in {}: request {}", safe(&req.group), c.id);
            println!("follow it with: trellis help-request show {}", short(&c.id));
            Ok(())
        }
        Some(HelpRequestCommand::List) => {
            let list: Vec<HelpRequestView> = ctx.client.help_requests().await?;
            if ctx.json {
                return output::print_json(&list);
            }
            if list.is_empty() {
                println!("no requests for help");
                return Ok(());
            }
            let mut t = Table::new(&["ID", "STATUS", "TOPIC", "FROM", "GROUP", "ASKED", "ANSWERS", "QUESTION"]);
            for r in &list {
                t.row(vec![
                    short(&r.id),
                    r.status.clone(),
                    r.topic.clone(),
                    r.asker_name.clone().unwrap_or_else(|| r.asker_fingerprint.clone()),
                    r.group_name.clone(),
                    time(r.asked_ms),
                    r.answers.len().to_string(),
                    clip(&r.text, 50),
                ]);
            }
            t.print()
        }
        Some(HelpRequestCommand::Show { id }) => {
            let r: HelpRequestView = ctx.client.help_request(&id).await?;
            if ctx.json {
                return output::print_json(&r);
            }
            println!(
                "{} asked in {} on {} ({}), {}:",
                safe(&r.asker_name.clone().unwrap_or_else(|| r.asker_fingerprint.clone())),
                safe(&r.group_name),
                time(r.asked_ms),
                r.topic,
                r.status
            );
            println!("{}", output::safe_block(&r.text));
            for a in &r.answers {
                println!();
                println!(
                    "-- {} on {}:",
                    safe(&a.from_name.clone().unwrap_or_else(|| a.from_fingerprint.clone())),
                    time(a.answered_ms)
                );
                println!("{}", output::safe_block(&a.text));
            }
            Ok(())
        }
        Some(HelpRequestCommand::Answer { id, text }) => {
            let c: Created = ctx.client.answer_help(&id, &text).await?;
            if ctx.json {
                return output::print_json(&c);
            }
            println!("answered; the asker and the helpers addressed read it (item {})", short(&c.id));
            Ok(())
        }
        Some(HelpRequestCommand::Resolve { id }) => {
            let c: Created = ctx.client.resolve_help(&id).await?;
            if ctx.json {
                return output::print_json(&c);
            }
            println!("marked resolved");
            Ok(())
        }
    }
}

pub async fn helper(ctx: &Ctx, cmd: HelperCommand) -> anyhow::Result<()> {
    let offer = match cmd {
        HelperCommand::List => {
            let list: Vec<HelperView> = ctx.client.helpers().await?;
            if ctx.json {
                return output::print_json(&list);
            }
            if list.is_empty() {
                println!("nobody offers help in your groups yet (offer yours with `trellis helper on --topic TOPIC`)");
                return Ok(());
            }
            let mut t = Table::new(&["GROUP", "ORG", "NAME", "TOPICS"]);
            for h in &list {
                t.row(vec![
                    h.group_name.clone(),
                    h.fingerprint.clone(),
                    h.name.clone().unwrap_or_default(),
                    h.topics.join(", "),
                ]);
            }
            return t.print();
        }
        HelperCommand::On { topic, group } => HelperOffer { on: true, topics: topic, group },
        HelperCommand::Off { group } => HelperOffer { on: false, topics: vec![], group },
    };
    let r: CreatedMany = ctx.client.offer_help(&offer).await?;
    if ctx.json {
        return output::print_json(&r);
    }
    if offer.on {
        println!("offering help on {} in {} group(s)", offer.topics.join(", "), r.ids.len());
    } else {
        println!("no longer offering help in {} group(s)", r.ids.len());
    }
    Ok(())
}
