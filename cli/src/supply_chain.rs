//! `trellis supply-chain …`: a customer's view across its suppliers. `concentration` counts, from
//! the suppliers' posture attestations this node can read in a channel, how many suppliers
//! depend on each provider — counts only, and providers named by fewer suppliers than the
//! threshold are folded into one "other" line so no supplier can be picked out. Also here: the
//! lines `advisory show` adds when an advisory names a provider some suppliers depend on.

use clap::Subcommand;
use trellis_api::types::{AdvisoryView, ConcentrationView};

use crate::Ctx;
use crate::output::{self, Table};

#[derive(Subcommand, Debug)]
pub enum SupplyChainCommand {
    /// How many of a channel's suppliers depend on each provider (small counts folded together)
    #[command(after_help = "Example:\n  trellis supply-chain concentration prime-suppliers")]
    Concentration {
        /// Supply-chain group name or id
        group: String,
    },
}

pub async fn run(ctx: &Ctx, cmd: SupplyChainCommand) -> anyhow::Result<()> {
    match cmd {
        SupplyChainCommand::Concentration { group } => {
            let c: ConcentrationView = ctx.client.concentration(&group).await?;
            if ctx.json {
                return output::print_json(&c);
            }
            print!("{}", output::safe_block(&render_concentration(&c)));
            Ok(())
        }
    }
}

fn render_concentration(c: &ConcentrationView) -> String {
    let mut s = format!(
        "{}: {} supplier attestations readable here; providers named by fewer than {} suppliers are not shown\n",
        output::safe(&c.group_name),
        c.suppliers,
        c.threshold
    );
    if c.suppliers == 0 {
        s.push_str(
            "no supplier has published a posture attestation you can read; ask with `trellis posture request GROUP`\n",
        );
        return s;
    }
    let mut t = Table::new(&["PROVIDER", "SUPPLIERS"]);
    for p in &c.providers {
        t.row(vec![p.provider.clone(), p.suppliers.to_string()]);
    }
    if c.other_providers > 0 {
        let n = c.other_providers;
        t.row(vec![format!("other (below threshold; {n} provider{})", if n == 1 { "" } else { "s" }), "-".into()]);
    }
    s.push_str(&t.render());
    s
}

/// What `advisory show` adds: the suppliers in this org's channels whose declared critical
/// dependencies the advisory names (empty text when none).
pub fn affected_suppliers_text(a: &AdvisoryView) -> String {
    if a.affected_suppliers.is_empty() {
        return String::new();
    }
    let mut s = String::from("suppliers that declared a dependency this advisory names:\n");
    for name in &a.affected_suppliers {
        // A supplier's name is its own text: made safe here, so it is one line.
        s.push_str(&format!("  {}\n", output::safe(name)));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use trellis_api::types::ProviderCount;

    #[test]
    fn folds_small_providers_into_one_line() {
        let c = ConcentrationView {
            group: "g".into(),
            group_name: "prime".into(),
            suppliers: 3,
            threshold: 3,
            providers: vec![ProviderCount { provider: "ExampleCloud".into(), suppliers: 3 }],
            other_providers: 1,
        };
        let text = render_concentration(&c);
        let rows: Vec<Vec<&str>> =
            text.lines().skip(2).map(|l| l.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect()).collect();
        assert_eq!(rows, vec![vec!["ExampleCloud", "3"], vec!["other (below threshold; 1 provider)", "-"]], "{text}");
    }
}
