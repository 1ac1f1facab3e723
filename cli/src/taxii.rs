//! `trellis taxii token`: create or replace the bearer token of the node's read-only TAXII 2.1
//! server. The node keeps only the token's SHA-256; the token is printed once, here.

use clap::Subcommand;
use trellis_api::types::TaxiiToken;

use crate::{Ctx, output};

#[derive(Subcommand, Debug)]
pub enum TaxiiCommand {
    /// Create (or rotate) the TAXII bearer token and print it once; the previous one stops working
    #[command(after_help = concat!(
        "Example:\n",
        "  trellis taxii token > taxii-token.txt   # then: trellisd --taxii-listen 127.0.0.1:9443\n",
        "  curl -H \"Authorization: Bearer $(cat taxii-token.txt)\" http://127.0.0.1:9443/taxii2/"
    ))]
    Token,
}

pub async fn run(ctx: &Ctx, cmd: TaxiiCommand) -> anyhow::Result<()> {
    match cmd {
        TaxiiCommand::Token => {
            let t: TaxiiToken = ctx.client.taxii_token().await?;
            if ctx.json {
                return output::print_json(&t);
            }
            output::print_line(&t.token)?;
            match &t.listen {
                Some(a) => eprintln!("TAXII 2.1 discovery: http://{a}/taxii2/ (the token is shown only now)"),
                None => eprintln!(
                    "the token is shown only now; the TAXII server is off: set taxii_listen in config.toml, \
                     TRELLIS_TAXII_LISTEN or trellisd --taxii-listen"
                ),
            }
            Ok(())
        }
    }
}
