//! `trellis group …`: create a group, list this node's groups, invite an organization by its
//! contact card, join with an invite token, and list a group's members. Groups are named by
//! name or id; both are percent-encoded into the API path.

use clap::Subcommand;
use trellis_api::types::{Created, GroupInfo, InviteToken, MemberInfo};

use crate::Ctx;
use crate::output::{self, Table, clip, or_dash, safe, time};

#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// Create a group with this organization as its first admin; prints the group id
    #[command(after_help = "Example:\n  trellis group create water --kind sector")]
    Create {
        /// Group name, shown to members: unique on this node (names differing only in case,
        /// spacing or invisible characters count as the same) and not shaped like a group id
        name: String,
        /// `sector`: peers in one sector; `supply-chain`: a customer's channel to its suppliers
        #[arg(long, value_parser = ["sector", "supply-chain"])]
        kind: String,
    },
    /// List the groups this node belongs to
    #[command(after_help = "Example:\n  trellis group list")]
    List,
    /// Invite an organization (by its contact card from `trellis id`); prints a token to send it
    #[command(after_help = "Example:\n  trellis group invite water \"$(cat partner-card.txt)\" --role member")]
    Invite {
        /// Group name or id
        group: String,
        /// The invitee's contact card, as printed by its `trellis id`
        card: String,
        /// Role given to the invitee
        #[arg(long, default_value = "member", value_parser = ["admin", "member", "reader"])]
        role: String,
    },
    /// Join a group with an invite link or an invite token an admin sent you
    #[command(
        after_help = "Examples:\n  trellis group join \"$(cat invite-link.txt)\"\n  trellis group join \"$(cat invite.txt)\"\n\nAn invite link (trellis-link1:…, from `trellis group invite-link`) makes this node ask the\ninviter's node to admit this organization: nothing to send back first. An invite token\n(trellis-invite1:…, from `trellis group invite`) was made for this organization's card."
    )]
    Join {
        /// The invite link (`trellis group invite-link`) or invite token (`trellis group invite`)
        token: String,
    },
    /// List a group's members and their roles
    #[command(after_help = "Example:\n  trellis group members water")]
    Members {
        /// Group name or id
        group: String,
    },
    /// Remove an organization (admins only); the group key is replaced so it cannot read what follows
    #[command(after_help = "Example:\n  trellis group remove water k3vq-2mfa-x8rt-pq4z")]
    Remove {
        /// Group name or id
        group: String,
        /// The member's fingerprint or full id (see `trellis group members`)
        org: String,
    },
    /// Change a member's role (admins only)
    #[command(after_help = "Example:\n  trellis group role water k3vq-2mfa-x8rt-pq4z admin")]
    Role {
        /// Group name or id
        group: String,
        /// The member's fingerprint or full id
        org: String,
        /// The new role
        #[arg(value_parser = ["admin", "member", "reader"])]
        role: String,
    },
    /// Leave a group; an admin then replaces the group key
    #[command(after_help = "Example:\n  trellis group leave water")]
    Leave {
        /// Group name or id
        group: String,
    },
    /// Issue an invite link (admins): one token that admits whoever redeems it, no card needed;
    /// or revoke one with --revoke
    #[command(after_help = concat!(
        "Examples:\n",
        "  trellis group invite-link acme-suppliers                       # one use, valid 7 days\n",
        "  trellis group invite-link water --role reader --uses 20 --expires 2w\n",
        "  trellis group invite-link --revoke 4xq7m2ab3cd5ef6gh7ij2kl3mn\n\n",
        "The newcomer runs `trellis up LINK` (or `trellis group join LINK`): its node sends the link's\n",
        "secret and its contact card to this node, which admits it with an ordinary Add op, as\n",
        "`trellis group invite` does. This node must be running and reachable when the link is used.\n",
        "The link never carries the group key; only a hash of its secret is kept here. Uses are\n",
        "listed by `trellis group invite-links GROUP` and written to audit.log in the home."
    ))]
    InviteLink {
        /// Group name or id
        #[arg(required_unless_present = "revoke")]
        group: Option<String>,
        /// Role given to whoever joins with the link
        #[arg(long, default_value = "member", value_parser = ["member", "reader"])]
        role: String,
        /// How many organizations may join with it (1 to 1000)
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
        uses: u32,
        /// How long it is valid: seconds, minutes, hours, days or weeks (90s, 30m, 12h, 7d, 2w; at most 90 days)
        #[arg(long, default_value = "7d", value_parser = crate::invite_link::parse_validity)]
        expires: u64,
        /// Revoke the link with this id instead (ids are listed by `trellis group invite-links GROUP`)
        #[arg(long, value_name = "ID", conflicts_with = "group")]
        revoke: Option<String>,
    },
    /// List the invite links this node issued for a group, their uses and who joined with them
    #[command(after_help = "Example:\n  trellis group invite-links acme-suppliers")]
    InviteLinks {
        /// Group name or id
        group: String,
    },
}

pub async fn run(ctx: &Ctx, cmd: GroupCommand) -> anyhow::Result<()> {
    match cmd {
        GroupCommand::Create { name, kind } => {
            let created: Created = ctx.client.create_group(&name, kind.parse()?).await?;
            if ctx.json {
                return output::print_json(&created);
            }
            output::print_line(&created.id)
        }
        GroupCommand::List => {
            let groups: Vec<GroupInfo> = ctx.client.groups().await?;
            if ctx.json {
                return output::print_json(&groups);
            }
            if groups.is_empty() {
                println!("no groups (create one with `trellis group create NAME --kind sector`)");
                return Ok(());
            }
            groups_table(&groups).print()
        }
        GroupCommand::Invite { group, card, role } => {
            let tok: InviteToken = ctx.client.invite(&group, card.trim(), role.parse()?).await?;
            if ctx.json {
                return output::print_json(&tok);
            }
            output::print_line(&tok.token)
        }
        GroupCommand::Join { token } => {
            let g: GroupInfo = ctx.client.join(token.trim()).await?;
            if ctx.json {
                return output::print_json(&g);
            }
            let founder = founder_cell(&g);
            match g.role {
                Some(role) => println!(
                    "joined group {} ({}, founded by {founder}) as {role}; {} members",
                    safe(&g.name),
                    g.kind,
                    g.members
                ),
                // The invite's Add op waits for the group's earlier ops, which sync brings.
                None => println!(
                    "joined group {} ({}, founded by {founder}); your membership is confirmed once the group's \
                     history arrives from the inviter's node (see `trellis group members {}`)",
                    safe(&g.name),
                    g.kind,
                    g.id
                ),
            }
            println!("  id: {}", g.id);
            Ok(())
        }
        GroupCommand::Remove { group, org } => {
            let c: Created = ctx.client.remove_member(&group, &org).await?;
            if ctx.json {
                return output::print_json(&c);
            }
            println!("removed; the group key was replaced (op {})", output::short(&c.id));
            Ok(())
        }
        GroupCommand::Role { group, org, role } => {
            let c: Created = ctx.client.set_role(&group, &org, role.parse()?).await?;
            if ctx.json {
                return output::print_json(&c);
            }
            println!("role set to {role} (op {})", output::short(&c.id));
            Ok(())
        }
        GroupCommand::Leave { group } => {
            let c: Created = ctx.client.leave(&group).await?;
            if ctx.json {
                return output::print_json(&c);
            }
            println!("left {} (op {})", safe(&group), output::short(&c.id));
            Ok(())
        }
        GroupCommand::InviteLink { revoke: Some(id), .. } => crate::invite_link::revoke(ctx, &id).await,
        GroupCommand::InviteLink { group, role, uses, expires, revoke: None } => {
            let group = group.ok_or_else(|| anyhow::anyhow!("give the group: trellis group invite-link GROUP"))?;
            crate::invite_link::create(ctx, &group, role, uses, expires).await
        }
        GroupCommand::InviteLinks { group } => crate::invite_link::list(ctx, &group).await,
        GroupCommand::Members { group } => {
            let members: Vec<MemberInfo> = ctx.client.members(&group).await?;
            if ctx.json {
                return output::print_json(&members);
            }
            let mut t = Table::new(&["ORG", "NAME", "ROLE", "SINCE"]);
            for m in &members {
                let name = or_dash(m.name.as_deref());
                t.row(vec![
                    m.fingerprint.clone(),
                    if m.is_self { format!("{name} (you)") } else { name },
                    m.role.to_string(),
                    time(m.since_ms),
                ]);
            }
            t.print()
        }
    }
}

/// Who founded a group: name (fingerprint), or the fingerprint alone. Made safe.
pub fn founder_cell(g: &GroupInfo) -> String {
    match g.founder_name.as_deref() {
        Some(n) => format!("{} ({})", safe(&clip(n, 40)), g.founder_fingerprint),
        None => g.founder_fingerprint.clone(),
    }
}

/// The table of groups shared by `group list` and `status`.
pub fn groups_table(groups: &[GroupInfo]) -> Table {
    let mut t = Table::new(&["NAME", "FOUNDER", "KIND", "ROLE", "MEMBERS", "PEERS", "ITEMS", "EPOCH", "ID", "JOINED"]);
    for g in groups {
        t.row(vec![
            clip(&g.name, 40),
            founder_cell(g),
            g.kind.to_string(),
            or_dash(g.role.map(|r| r.as_str())),
            g.members.to_string(),
            g.peers.to_string(),
            g.items.to_string(),
            g.epoch.to_string(),
            output::short(&g.id),
            time(g.joined_ms),
        ]);
    }
    t
}
