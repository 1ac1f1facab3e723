//! `trellis export`: write what this node holds as CSAF, OSV, STIX 2.1 or a MISP feed, for the
//! tools an organization already runs. The daemon decides what TLP allows (CLEAR only) and
//! renders the files; this command writes them into a directory and says how many advisories
//! were withheld, by label, so nothing is held back silently.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;
use trellis_api::types::{ExportRequest, ExportResult};

use crate::{Ctx, output};

/// Progress is shown on a terminal from this many files on.
const PROGRESS_FROM: usize = 20;

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Output format: csaf (one document per advisory), osv (one record per advisory), stix (one
    /// bundle), misp (a MISP feed: manifest.json and one event file per advisory)
    #[arg(long, value_parser = ["csaf", "osv", "stix", "misp"])]
    format: String,
    /// Directory to write into (created if missing; files of the same name are replaced)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Only advisories of this group (name or id)
    #[arg(long, value_name = "GROUP")]
    group: Option<String>,
    /// Only advisories received at or after this time (RFC 3339, e.g. 2024-05-01T00:00:00Z)
    #[arg(long, value_name = "RFC3339")]
    since: Option<String>,
}

/// What `--json` prints: the counts and the paths written.
#[derive(Serialize)]
struct Written<'a> {
    format: &'a str,
    exported: usize,
    withheld: usize,
    withheld_by_label: &'a std::collections::BTreeMap<String, usize>,
    files: Vec<String>,
}

/// A bare file name from the daemon: never a path that could leave `--out`.
fn safe_name(name: &str) -> anyhow::Result<&str> {
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\', '\0']) {
        bail!("trellisd returned an unsafe export file name {name:?}; nothing more was written");
    }
    Ok(name)
}

/// "exported 3, withheld 2 (by label TLP:AMBER 1, TLP:GREEN 1)".
pub fn summary(r: &ExportResult) -> String {
    let mut s = format!("exported {}, withheld {}", r.exported, r.withheld);
    if !r.withheld_by_label.is_empty() {
        let parts: Vec<String> = r.withheld_by_label.iter().map(|(l, n)| format!("{l} {n}")).collect();
        s.push_str(&format!(" (by label {})", parts.join(", ")));
    }
    s
}

/// `name` if no earlier file of this export took it, else `name` with `-2`, `-3`… before its
/// extensions: two advisories can carry the same document id, and the second must not
/// overwrite the first while the count says both were written.
fn unique_name(name: &str, taken: &mut std::collections::HashSet<String>) -> String {
    if taken.insert(name.to_string()) {
        return name.to_string();
    }
    let (stem, ext) = match name.find('.') {
        Some(i) => (&name[..i], &name[i..]),
        None => (name, ""),
    };
    let mut n = 2;
    loop {
        let candidate = format!("{stem}-{n}{ext}");
        if taken.insert(candidate.clone()) {
            return candidate;
        }
        n += 1;
    }
}

fn write_files(r: &ExportResult, out: &Path) -> anyhow::Result<Vec<String>> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let progress = std::io::stderr().is_terminal() && r.files.len() >= PROGRESS_FROM;
    let mut written = Vec::new();
    let mut taken = std::collections::HashSet::new();
    for (i, f) in r.files.iter().enumerate() {
        let path = out.join(unique_name(safe_name(&f.name)?, &mut taken));
        std::fs::write(&path, &f.content).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path.display().to_string());
        if progress {
            eprint!("\rwriting {}/{}", i + 1, r.files.len());
            let _ = std::io::stderr().flush();
        }
    }
    if progress {
        eprintln!();
    }
    Ok(written)
}

pub async fn run(ctx: &Ctx, a: ExportArgs) -> anyhow::Result<()> {
    let since_ms = match &a.since {
        Some(t) => Some(
            trellis_proto::formats::time::parse_unix_ms(t)
                .with_context(|| format!("--since {t:?} is not an RFC 3339 time such as 2024-05-01T00:00:00Z"))?,
        ),
        None => None,
    };
    let req = ExportRequest { format: a.format.clone(), group: a.group, since_ms };
    let r: ExportResult = ctx.client.export(&req).await?;
    let files = write_files(&r, &a.out)?;
    if ctx.json {
        return output::print_json(&Written {
            format: &r.format,
            exported: r.exported,
            withheld: r.withheld,
            withheld_by_label: &r.withheld_by_label,
            files,
        });
    }
    output::print_line(&format!("{} into {} ({} files)", summary(&r), a.out.display(), files.len()))?;
    for (label, why) in &r.reasons {
        output::print_line(&format!("  {label}: {why}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape_the_directory() {
        assert!(safe_name("RHSA-2019_1862.csaf.json").is_ok());
        for bad in ["", "../x", ".hidden", "a/b", "a\\b"] {
            assert!(safe_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_repeated_name_gets_a_suffix_instead_of_overwriting() {
        let mut taken = Default::default();
        assert_eq!(unique_name("A-1.csaf.json", &mut taken), "A-1.csaf.json");
        assert_eq!(unique_name("A-1.csaf.json", &mut taken), "A-1-2.csaf.json");
        assert_eq!(unique_name("A-1.csaf.json", &mut taken), "A-1-3.csaf.json");
        assert_eq!(unique_name("manifest", &mut taken), "manifest");
        assert_eq!(unique_name("manifest", &mut taken), "manifest-2");
    }

    #[test]
    fn summary_counts_by_label() {
        let mut r = ExportResult {
            format: "csaf".into(),
            exported: 3,
            withheld: 0,
            withheld_by_label: Default::default(),
            reasons: Default::default(),
            files: vec![],
        };
        assert_eq!(summary(&r), "exported 3, withheld 0");
        r.withheld = 2;
        r.withheld_by_label.insert("TLP:GREEN".into(), 1);
        r.withheld_by_label.insert("TLP:AMBER".into(), 1);
        assert_eq!(summary(&r), "exported 3, withheld 2 (by label TLP:AMBER 1, TLP:GREEN 1)");
    }
}
