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
    /// Join a group with an invite token an admin sent you
    #[command(after_help = "Example:\n  trellis group join \"$(cat invite.txt)\"")]
    Join {
        /// The invite token printed by the admin's `trellis group invite`
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
