//! `trellis group invite-link` and `trellis group invite-links`: issue, revoke and list the invite
//! links of this node (PROTOCOL.md §6.10). A link is redeemed with `trellis group join LINK` or
//! `trellis up LINK` on the newcomer's node.

use trellis_api::types::{InviteLinkCreated, InviteLinkInfo, InviteLinkRequest};

use crate::Ctx;
use crate::output::{self, Table, clip, safe, time};

/// Parse a validity like `90s`, `30m`, `12h`, `7d` or `2w` into milliseconds.
pub fn parse_validity(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 =
        digits.parse().map_err(|_| format!("{text:?}: expected a number and a unit, e.g. 30m, 12h, 7d, 2w"))?;
    let unit_ms: u64 = match unit {
        "s" => 1000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => {
            return Err(format!(
                "{text:?}: the unit must be s (seconds), m (minutes), h (hours), d (days) or w (weeks)"
            ));
        }
    };
    n.checked_mul(unit_ms).filter(|ms| *ms > 0).ok_or_else(|| format!("{text:?} is not a usable duration"))
}

/// `trellis group invite-link GROUP …`: issue a link, print its token.
pub async fn create(ctx: &Ctx, group: &str, role: String, uses: u32, valid_ms: u64) -> anyhow::Result<()> {
    let req = InviteLinkRequest { role: role.parse()?, uses, valid_ms };
    let created: InviteLinkCreated = ctx.client.create_invite_link(group, &req).await?;
    if ctx.json {
        return output::print_json(&created);
    }
    output::print_line(&created.token)?;
    let i = &created.info;
    // The token alone on stdout (for `$(…)`); what it allows on stderr.
    eprintln!(
        "# invite link {}: admits {} organization{} as {} to {} until {}; anyone holding it can use it, so send it \
         privately. Revoke: trellis group invite-link --revoke {}",
        i.id,
        i.max_uses,
        if i.max_uses == 1 { "" } else { "s" },
        i.role,
        safe(&clip(&i.group_name, 60)),
        time(i.expires_ms),
        i.id
    );
    Ok(())
}

/// `trellis group invite-link --revoke ID`.
pub async fn revoke(ctx: &Ctx, id: &str) -> anyhow::Result<()> {
    let info: InviteLinkInfo = ctx.client.revoke_invite_link(id.trim()).await?;
    if ctx.json {
        return output::print_json(&info);
    }
    println!(
        "revoked invite link {} of {} ({} of {} uses taken); join requests with it are now refused",
        info.id,
        safe(&clip(&info.group_name, 60)),
        info.used,
        info.max_uses
    );
    Ok(())
}

/// `trellis group invite-links GROUP`: the links and every admission through them.
pub async fn list(ctx: &Ctx, group: &str) -> anyhow::Result<()> {
    let links: Vec<InviteLinkInfo> = ctx.client.invite_links(group).await?;
    if ctx.json {
        return output::print_json(&links);
    }
    if links.is_empty() {
        println!(
            "this node issued no invite link for {} (issue one with `trellis group invite-link GROUP`)",
            safe(group)
        );
        return Ok(());
    }
    let mut t = Table::new(&["ID", "ROLE", "USED", "STATE", "EXPIRES", "CREATED"]);
    for l in &links {
        t.row(vec![
            l.id.clone(),
            l.role.to_string(),
            format!("{}/{}", l.used, l.max_uses),
            l.state.clone(),
            time(l.expires_ms),
            time(l.created_ms),
        ]);
    }
    t.print()?;
    let uses: Vec<(&InviteLinkInfo, &trellis_api::types::InviteLinkUse)> =
        links.iter().flat_map(|l| l.uses.iter().map(move |u| (l, u))).collect();
    if !uses.is_empty() {
        println!("admitted:");
        let mut t = Table::new(&["LINK", "ORG", "NAME", "AT", "OP"]);
        for (l, u) in uses {
            t.row(vec![
                l.id.clone(),
                u.fingerprint.clone(),
                clip(&u.name, 40),
                time(u.at_ms),
                u.op.as_deref().map(output::short).unwrap_or_else(|| "-".into()),
            ]);
        }
        t.print()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_validity;

    #[test]
    fn validities() {
        assert_eq!(parse_validity("30m"), Ok(30 * 60_000));
        assert_eq!(parse_validity("90s"), Ok(90_000));
        assert_eq!(parse_validity("12h"), Ok(12 * 3_600_000));
        assert_eq!(parse_validity("7d"), Ok(7 * 86_400_000));
        assert_eq!(parse_validity("2w"), Ok(14 * 86_400_000));
        for bad in ["", "7", "d", "7y", "-1d", "0d", "99999999999999999999d", "1.5d"] {
            assert!(parse_validity(bad).is_err(), "{bad}");
        }
    }
}
