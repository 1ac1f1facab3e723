//! `trellis sbom add|list|remove` and `trellis affected`: this organization's SBOMs (CycloneDX
//! or SPDX 2.3 JSON) and VEX documents, kept by the local node and never published, and the advisories that
//! cover their components — with the installed and fixed versions, why each matched, and the
//! matches a VEX statement (not_affected, false_positive, resolved) suppresses.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use trellis_api::types::{AffectedMatch, SbomAdded, SbomInfo};
use trellis_proto::formats::cyclonedx;

use crate::Ctx;
use crate::output::{self, Table, clip, or_dash, short, time};

#[derive(Subcommand, Debug)]
pub enum SbomCommand {
    /// Add an SBOM (CycloneDX JSON 1.2–1.6 or SPDX 2.2/2.3 JSON) or a CycloneDX VEX document, up
    /// to 128 MiB and 500,000 components; prints the advisories already held that affect it
    #[command(after_help = "The format is told by the document itself. It is checked against the rules of its own \
                      version (CycloneDX specVersion, SPDX 2.3); --lenient adds one that breaks some anyway, printing each problem as a warning. Limits: 128 MiB (134217728 bytes) and \
                      500,000 components per SBOM.\n\nExamples:\n  trellis sbom add bom.json\n  trellis sbom add \
                      vex.json --name \"ABC VEX\"\n  trellis sbom add vendor-bom.json --lenient")]
    Add {
        /// The SBOM file (CycloneDX or SPDX JSON)
        file: PathBuf,
        /// Name to list it by [default: the file name]
        #[arg(long)]
        name: Option<String>,
        /// Add it even if it breaks a rule of its format's version (each problem is printed
        /// as a warning); without it such a document is refused
        #[arg(long)]
        lenient: bool,
    },
    /// List the SBOMs and VEX documents this node holds
    #[command(after_help = "Example:\n  trellis sbom list")]
    List,
    /// Remove an SBOM (its id or a unique prefix)
    #[command(after_help = "Example:\n  trellis sbom remove 3fa9c1")]
    Remove {
        /// SBOM id from `trellis sbom list`
        id: String,
    },
}

#[derive(Args, Debug)]
pub struct AffectedArgs {
    /// Also list the matches a VEX statement suppresses
    #[arg(long)]
    all: bool,
}

/// One line for `watch`.
pub fn describe(m: &AffectedMatch) -> String {
    format!(
        "affected  {} {} in SBOM {}  by {} (id {}){}",
        m.component,
        or_dash(m.installed.as_deref()),
        m.sbom_name,
        clip(&crate::output::with_source_id(m.source_id.as_deref(), &m.title), 60),
        short(&m.advisory),
        m.fixed.as_deref().map(|f| format!("  fixed in {f}")).unwrap_or_default()
    )
}

fn table(list: &[&AffectedMatch]) -> Table {
    let mut t = Table::new(&["ADVISORY", "COMPONENT", "INSTALLED", "FIXED", "SBOM", "WHY", "TITLE"]);
    for m in list {
        let why = match (&m.vex, m.suppressed) {
            (Some(v), true) => format!(
                "suppressed by VEX: {v}{}",
                m.vex_justification.as_deref().map(|j| format!(" ({j})")).unwrap_or_default()
            ),
            (Some(v), false) => format!("{}; VEX says {v}", m.why),
            (None, _) => m.why.clone(),
        };
        t.row(vec![
            short(&m.advisory),
            m.component.clone(),
            or_dash(m.installed.as_deref()),
            or_dash(m.fixed.as_deref()),
            m.sbom_name.clone(),
            why,
            clip(&crate::output::with_source_id(m.source_id.as_deref(), &m.title), 50),
        ]);
    }
    t
}

pub async fn run(ctx: &Ctx, cmd: SbomCommand) -> anyhow::Result<()> {
    match cmd {
        SbomCommand::Add { file, name, lenient } => {
            let bytes = read_limited(&file)?;
            let name = name.unwrap_or_else(|| {
                file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "sbom".into())
            });
            // The document goes as the request body itself: no JSON string around it to build,
            // escape and parse again.
            let added: SbomAdded = ctx.client.sbom_upload(&name, lenient, bytes).await?;
            if ctx.json {
                return output::print_json(&added);
            }
            for w in &added.warnings {
                eprintln!("warning: {w}");
            }
            let s = &added.sbom;
            let format = if s.spec_version.starts_with("SPDX") {
                s.spec_version.clone()
            } else {
                format!("CycloneDX {}", s.spec_version)
            };
            output::print_line(&format!(
                "added {} ({}: {format}, {} components, {} VEX statements)",
                s.id, s.name, s.components, s.vex_statements
            ))?;
            let standing: Vec<&AffectedMatch> = added.matches.iter().filter(|m| !m.suppressed).collect();
            if standing.is_empty() {
                return output::print_line("no advisory held by this node affects it");
            }
            table(&standing).print()
        }
        SbomCommand::List => {
            let list: Vec<SbomInfo> = ctx.client.sboms().await?;
            if ctx.json {
                return output::print_json(&list);
            }
            if list.is_empty() {
                return output::print_line("no SBOMs; add one with `trellis sbom add FILE`");
            }
            let mut t = Table::new(&["ID", "ADDED", "NAME", "SUBJECT", "SPEC", "COMPONENTS", "VEX"]);
            for s in &list {
                t.row(vec![
                    s.id.clone(),
                    time(s.added_ms),
                    s.name.clone(),
                    or_dash(s.subject.as_deref()),
                    s.spec_version.clone(),
                    s.components.to_string(),
                    s.vex_statements.to_string(),
                ]);
            }
            t.print()
        }
        SbomCommand::Remove { id } => {
            let s: SbomInfo = ctx.client.sbom_remove(&id).await?;
            if ctx.json {
                return output::print_json(&s);
            }
            output::print_line(&format!("removed {} ({})", s.id, s.name))
        }
    }
}

/// Read an SBOM file, refusing one above the daemon's limit before reading it whole (a device
/// such as /dev/zero is read only up to the limit).
fn read_limited(file: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let max = cyclonedx::MAX_SBOM_BYTES;
    let f = std::fs::File::open(file).with_context(|| format!("cannot read SBOM {}", file.display()))?;
    let mut bytes = Vec::new();
    f.take(max as u64 + 1).read_to_end(&mut bytes).with_context(|| format!("cannot read SBOM {}", file.display()))?;
    if bytes.len() > max {
        anyhow::bail!("{} is larger than the SBOM limit of {max} bytes (128 MiB); nothing was added", file.display());
    }
    if std::str::from_utf8(&bytes).is_err() {
        anyhow::bail!("{} is not UTF-8 text, so it is not a JSON SBOM", file.display());
    }
    Ok(bytes)
}

/// `trellis affected`.
pub async fn affected(ctx: &Ctx, a: AffectedArgs) -> anyhow::Result<()> {
    let list: Vec<AffectedMatch> = ctx.client.affected().await?;
    if ctx.json {
        return output::print_json(&list);
    }
    let standing: Vec<&AffectedMatch> = list.iter().filter(|m| !m.suppressed).collect();
    let suppressed: Vec<&AffectedMatch> = list.iter().filter(|m| m.suppressed).collect();
    if standing.is_empty() {
        output::print_line("no component of your SBOMs is affected by an advisory this node holds")?;
    } else {
        table(&standing).print()?;
    }
    if a.all && !suppressed.is_empty() {
        output::print_line("")?;
        table(&suppressed).print()?;
    } else if !suppressed.is_empty() {
        output::print_line(&format!("{} more suppressed by VEX statements (see --all)", suppressed.len()))?;
    }
    Ok(())
}
