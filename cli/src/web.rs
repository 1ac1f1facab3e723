//! `trellis web`: open the node's web console. Asks the daemon (over the API socket, which only
//! the node's user can open) for a one-time sign-in link, prints it, and opens it in the desktop's
//! browser when there is a desktop and `--no-open` is not given.

use clap::Args;
use trellis_api::types::WebLogin;

use crate::{Ctx, output};

#[derive(Args, Debug)]
pub struct WebArgs {
    /// Only print the link; do not start a browser
    #[arg(long)]
    no_open: bool,
}

/// Whether a graphical session is there to open a browser in.
fn desktop() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
}

/// How long `trellis web` waits for a daemon that is still starting (the one-line start
/// `trellisd --web-listen … & trellis web` runs both at once).
const START_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Ask for a sign-in link, waiting up to [`START_WAIT`] for a daemon that has not opened its
/// socket (or created its identity) yet.
async fn request_login(ctx: &Ctx) -> anyhow::Result<WebLogin> {
    use trellis_api::client::ClientError;
    let deadline = std::time::Instant::now() + START_WAIT;
    let mut said = false;
    loop {
        match ctx.client.web_login().await {
            Ok(l) => return Ok(l),
            Err(ClientError::NotRunning { .. } | ClientError::NoHome { .. } | ClientError::StaleSocket { .. })
                if std::time::Instant::now() < deadline =>
            {
                if !said {
                    eprintln!("waiting for trellisd to start…");
                    said = true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

pub async fn run(ctx: &Ctx, args: WebArgs) -> anyhow::Result<()> {
    let login = request_login(ctx).await?;
    if ctx.json {
        return output::print_json(&login);
    }
    output::print_line(&login.url)?;
    let secs = login.expires_ms.saturating_sub(crate::now_ms()) / 1000;
    eprintln!(
        "this link signs one browser in to the console at {} once, within {} minutes; run `trellis web` again for another",
        login.console,
        secs.div_ceil(60)
    );
    if args.no_open || !desktop() {
        return Ok(());
    }
    // The link goes to xdg-open as one argument, never through a shell.
    match std::process::Command::new("xdg-open")
        .arg(&login.url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(_) => eprintln!("opening it in your browser"),
        Err(e) => eprintln!("could not start a browser ({e}): open the link above yourself"),
    }
    Ok(())
}
