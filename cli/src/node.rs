//! Commands about this node and organization: `init` (local, no daemon: creates the identity
//! files in the home), `status`, `id`, `peers` and `watch` (the event stream).

use crate::now_ms;
use clap::Args;
use trellis_api::types::{Event, IdInfo, PeerInfo, Status};
use trellis_home::home::Identity;

use crate::output::{self, Table, clip, fingerprint, or_dash, safe, time};
use crate::{Ctx, shown};

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Organization name shown to other members (e.g. "Acme Water"); asked for on a terminal
    /// when not given
    #[arg(long)]
    name: Option<String>,
    /// Encrypt the identity key with a passphrase, asked twice on the terminal (see `trellis
    /// keys protect --help`)
    #[arg(long)]
    passphrase: bool,
    /// Encrypt the identity key with the passphrase in this file (one line, mode 0600)
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<std::path::PathBuf>,
}

#[derive(Args, Debug)]
pub struct WatchArgs {
    /// Only events of this group (name or id)
    #[arg(long, value_name = "GROUP")]
    group: Option<String>,
}

/// `trellis init`: create the org identity in the home. Needs no daemon. Without `--name` it
/// asks on a terminal, and refuses elsewhere: an organization is never created unnamed by
/// accident (a mistyped `--home`, say).
pub fn init(ctx: &Ctx, args: InitArgs) -> anyhow::Result<()> {
    let typed = match args.name {
        Some(n) => n,
        None => ask_name(&ctx.home)?,
    };
    let name = trellis_api::names::check_org_name(&typed).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    let name = name.as_str();
    let pass = match (args.passphrase, &args.passphrase_file) {
        (false, None) => None,
        (_, file) => Some(crate::keys_care::passphrase(file.as_deref(), true, "the identity key")?),
    };
    // HomeError's messages already name the home and say what to do.
    let identity = Identity::create_with(&ctx.home, name, now_ms(), pass.as_ref())?;
    let org = identity.keys.org_id();
    let home = shown(&ctx.home);
    if ctx.json {
        return output::print_json(&serde_json::json!({
            "org": org.to_text(),
            "fingerprint": org.fingerprint(),
            "home": home,
            "protected": identity.protected(),
        }));
    }
    println!("created organization {} ({})", org.fingerprint(), identity.name);
    println!("  id:   {}", org.to_text());
    println!("  home: {home}");
    if identity.protected() {
        println!("  key:  encrypted with the passphrase");
        println!(
            "start the node with: trellisd --home {home} --passphrase-file FILE (or type it when asked), or in \
             the background: TRELLIS_PASSPHRASE_FILE=FILE trellis --home {home} up"
        );
    } else {
        println!("start the node with: trellis --home {home} up");
    }
    Ok(())
}

/// Ask for the organization's name on a terminal; refuse when there is none to ask on.
pub fn ask_name(home: &std::path::Path) -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal, Read, Write};
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "give the organization's name: trellis --home {} init --name \"Your Organization\" \
             (other members see it; `trellis rename` changes it later)",
            shown(home)
        );
    }
    eprint!("Creating an organization in {}.\nIts name, as other members will see it: ", shown(home));
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().take(512).read_line(&mut line)?;
    if line.trim().is_empty() {
        anyhow::bail!("no name given; nothing was created");
    }
    Ok(line)
}

/// `trellis rename NAME`.
pub async fn rename(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    let r = ctx.client.rename(name).await?;
    if ctx.json {
        return output::print_json(&r);
    }
    println!("renamed to {}; members see it when their nodes next connect to yours", safe(&r.name));
    Ok(())
}

/// `trellis status`.
pub async fn status(ctx: &Ctx) -> anyhow::Result<()> {
    let s: Status = ctx.client.status().await?;
    if ctx.json {
        return output::print_json(&s);
    }
    println!("org:       {} ({})", s.fingerprint, safe(&s.name));
    println!("org id:    {}", s.org);
    println!("node:      {}", s.peer_id);
    println!("version:   {}", s.version);
    println!("home:      {}", s.home);
    println!("socket:    {}", s.socket);
    match s.listen_addrs.split_first() {
        None => println!("listening: (none)"),
        Some((first, rest)) => {
            println!("listening: {first}");
            for a in rest {
                println!("           {a}");
            }
        }
    }
    println!("peers:     {} connected", s.peers);
    if !s.rejects.is_empty() {
        let r: Vec<String> = s.rejects.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("rejected:  {}", r.join(" "));
    }
    for r in &s.posture_requests {
        let from = r.from_name.clone().unwrap_or_else(|| r.from_fingerprint.clone());
        println!(
            "posture:   {} asked {} for your posture on {}: {}",
            safe(&from),
            safe(&r.group_name),
            time(r.requested_ms),
            safe(&clip(&r.message, 200))
        );
    }
    if s.groups.is_empty() {
        println!("groups:    none (create one with `trellis group create NAME --kind sector`)");
        return Ok(());
    }
    println!("groups:");
    crate::group::groups_table(&s.groups).print()?;
    let mut t = Table::new(&["GROUP", "SYNC PEER", "ORG", "LAST OK", "FETCHED", "LAST ERROR"]);
    let mut any = false;
    for g in &s.groups {
        for p in &g.sync {
            any = true;
            t.row(vec![
                g.name.clone(),
                output::short(&p.peer_id),
                p.org.as_deref().map(fingerprint).unwrap_or_else(|| "-".into()),
                p.last_ok_ms.map(time).unwrap_or_else(|| "never".into()),
                p.items_fetched.to_string(),
                or_dash(p.last_error.as_deref()),
            ]);
        }
    }
    if any {
        println!("catch-up sync:");
        t.print()?;
    }
    Ok(())
}

/// `trellis id`: the contact card on one line, so it can be copied or redirected.
pub async fn id(ctx: &Ctx) -> anyhow::Result<()> {
    let info: IdInfo = ctx.client.id().await?;
    if ctx.json {
        return output::print_json(&info);
    }
    output::print_line(&info.card)?;
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!(
            "# {} ({}): give the line above to a group admin, who runs `trellis group invite GROUP CARD`",
            info.name, info.fingerprint
        );
    }
    Ok(())
}

/// `trellis peers`.
pub async fn peers(ctx: &Ctx) -> anyhow::Result<()> {
    let peers: Vec<PeerInfo> = ctx.client.peers().await?;
    if ctx.json {
        return output::print_json(&peers);
    }
    if peers.is_empty() {
        println!("no connected peers");
        return Ok(());
    }
    let mut t = Table::new(&["PEER", "ORG", "NAME", "ADDRESS"]);
    for p in &peers {
        t.row(vec![
            p.peer_id.clone(),
            p.org.as_deref().map(fingerprint).unwrap_or_else(|| "-".into()),
            or_dash(p.org_name.as_deref()),
            or_dash(p.addrs.first().map(String::as_str)),
        ]);
    }
    t.print()
}

/// `trellis watch`: follow the event stream until the daemon closes it.
pub async fn watch(ctx: &Ctx, args: WatchArgs) -> anyhow::Result<()> {
    let mut stream = ctx.client.events(args.group.as_deref()).await?;
    // On stderr in both modes: stdout stays pure JSON with --json, and a script (or the e2e
    // test) can tell when the stream is open, so no event it triggers afterwards is missed.
    eprintln!("watching events (Ctrl-C to stop)");
    while let Some(line) = stream.next_line().await? {
        let parsed = serde_json::from_str::<Event>(&line);
        let text = match (ctx.json, parsed) {
            // Forward the daemon's line verbatim: one JSON object, even for event kinds this
            // CLI does not know yet.
            (true, _) => line,
            (false, Ok(ev)) => describe(&ev),
            (false, Err(_)) => format!("{}  (unrecognised event) {}", time(now_ms()), safe(&clip(&line, 200))),
        };
        output::print_line(&text)?;
    }
    if !ctx.json {
        eprintln!("trellisd closed the event stream");
    }
    Ok(())
}

/// One readable line for an event: every field from the network made safe, so an event is
/// exactly one line and carries no terminal control sequence.
fn describe(ev: &Event) -> String {
    let now = time(now_ms());
    let safe = |s: &str| safe(&clip(s, 200));
    match ev {
        Event::Advisory { advisory: a } => format!(
            "{now}  advisory  {}  [{}] {}  from {}  in {}  (id {})",
            safe(&crate::advisory::severity_cell(a)),
            a.tlp.as_str(),
            safe(&a.title),
            safe(&a.publisher_name.clone().unwrap_or_else(|| a.publisher_fingerprint.clone())),
            safe(&a.group_name),
            safe(&output::short(&a.id))
        ),
        Event::Membership { group_name, members, epoch, .. } => {
            format!("{now}  membership  {}: {members} members, epoch {epoch}", safe(group_name))
        }
        Event::PostureRequested { request: r } => format!(
            "{now}  posture request  from {}  in {}: {}  (answer with `trellis posture publish {}`)",
            safe(&r.from_name.clone().unwrap_or_else(|| r.from_fingerprint.clone())),
            safe(&r.group_name),
            safe(&r.message),
            r.group
        ),
        Event::Affected { affected: m } => format!("{now}  {}", safe(&crate::sbom::describe(m))),
        Event::Resource { resource: r } => format!("{now}  {}", safe(&crate::resource::describe(r))),
        Event::Help { help: h } => format!(
            "{now}  help {}  from {}  in {}: {}  (see `trellis help-request show {}`)",
            safe(&h.step),
            safe(&h.from_name.clone().unwrap_or_else(|| h.from_fingerprint.clone())),
            safe(&h.group_name),
            safe(&h.text),
            output::short(&h.request)
        ),
        Event::Rejected { group, reason, peer } => format!(
            "{now}  rejected  {}  group {}  peer {}",
            safe(reason),
            group.as_deref().map(output::short).map(|g| safe(&g)).unwrap_or_else(|| "-".into()),
            safe(&or_dash(peer.as_deref()))
        ),
    }
}
