//! Every file of the standards' conformance corpora (`../shared/conformance/`: CycloneDX, CSAF,
//! OSV; see its README) through the real `trellis` CLI against one running `trellisd`, as a user
//! would: each valid file is accepted (`sbom add`, `advisory publish --file`), each invalid one
//! refused with a message that names where or which rule, leaving the stored SBOMs and
//! advisories unchanged; after every file the node still answers `status`.
//!
//! The corpora are not in the repository: without them this test says it was skipped, unless
//! TRELLIS_REQUIRE_CONFORMANCE=1 (set by `.ci/run`). Needs the binaries built first.

use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};
use serde_json::Value;
use trellis_tests::{Bins, Daemon, workspace_root};

fn corpus() -> Option<PathBuf> {
    let root = match std::env::var_os("TRELLIS_SHARED_DIR") {
        Some(d) => PathBuf::from(d),
        None => workspace_root().join("../shared"),
    };
    let dir = root.join("conformance");
    if dir.is_dir() {
        return Some(dir);
    }
    let required = std::env::var("TRELLIS_REQUIRE_CONFORMANCE").is_ok_and(|v| v == "1");
    assert!(!required, "TRELLIS_REQUIRE_CONFORMANCE=1 but {} is not present", dir.display());
    eprintln!("skipped: ../shared/conformance not present ({})", dir.display());
    None
}

/// (file, expected) rows of a folder's MANIFEST.tsv.
fn manifest(dir: &Path) -> anyhow::Result<Vec<(String, bool)>> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).context("MANIFEST.tsv")?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some((f.next()?.to_string(), f.next()? == "valid"))
        })
        .collect())
}

/// Invalid files the importer is known not to refuse, and why. Each must still be accepted (so
/// that this list shrinks when the check arrives, rather than going stale).
const KNOWN_GAPS: [(&str, &str); 0] = [];

fn count(bins: &Bins, home: &Path, args: &[&str]) -> anyhow::Result<usize> {
    match bins.json(home, args)? {
        Value::Array(a) => Ok(a.len()),
        other => anyhow::bail!("expected an array from {args:?}, got {other}"),
    }
}

#[test]
fn every_conformance_file_through_the_cli() -> anyhow::Result<()> {
    let Some(dir) = corpus() else { return Ok(()) };
    let bins = Bins::locate()?;
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("node");
    bins.json(&home, &["init", "--name", "Conformance"])?;
    let _node = Daemon::start(&bins, "node", &home, &[])?;
    bins.json(&home, &["group", "create", "corpus", "--kind", "sector"])?;
    let mut failures = Vec::new();
    let mut summary = Vec::new();
    for (folder, kind) in [("cyclonedx", "sbom"), ("csaf", "advisory"), ("osv", "advisory")] {
        let d = dir.join(folder);
        let (mut ok, mut total) = (0, 0);
        for (file, valid) in manifest(&d)? {
            total += 1;
            let path = d.join(&file);
            let path_s = path.to_string_lossy().into_owned();
            let list: &[&str] = if kind == "sbom" { &["sbom", "list"] } else { &["advisory", "list"] };
            let before = count(&bins, &home, list)?;
            let out = if kind == "sbom" {
                bins.trellis(&home, &["sbom", "add", &path_s])
            } else {
                bins.trellis(&home, &["advisory", "publish", "corpus", "--tlp", "clear", "--file", &path_s])
            };
            // The node answers after every file, whatever the file did.
            ensure!(bins.trellis(&home, &["--json", "status"]).code == Some(0), "node stopped answering after {file}");
            let after = count(&bins, &home, list)?;
            let gap = KNOWN_GAPS.iter().find(|(f, _)| *f == format!("{folder}/{file}"));
            let valid = valid || gap.is_some();
            if let Some((f, why)) = gap {
                println!("known gap, expected accepted: {f} ({why})");
            }
            let good = match (valid, out.code) {
                (true, Some(0)) => after == before + 1,
                (false, Some(c)) if c != 0 => {
                    // Refused with a reason that names where (a JSON pointer) or which test.
                    let named = out.stderr.contains(": /") || out.stderr.contains("\n/") || out.stderr.contains("6.1.");
                    named && after == before
                }
                _ => false,
            };
            if good {
                ok += 1;
            } else {
                failures.push(format!(
                    "{folder}/{file} ({}): exit {:?}, {before} -> {after} stored\n  {}",
                    if valid { "valid" } else { "invalid" },
                    out.code,
                    out.stderr.trim().replace('\n', "\n  ")
                ));
            }
        }
        summary.push(format!("{folder}: {ok}/{total} as expected"));
    }
    // An imported record is found by its own id, which `show` and `affected` carry.
    let shown = bins.json(&home, &["advisory", "show", "RUSTSEC-2020-0071"])?;
    ensure!(shown["source_id"] == "RUSTSEC-2020-0071", "{shown}");
    let by_alias = bins.json(&home, &["advisory", "show", "GHSA-wcg3-cvx6-7396"])?;
    ensure!(by_alias["id"] == shown["id"], "{by_alias}");
    // `advisory list --id` finds it by its own id or an alias, and the text output names it.
    for id in ["RUSTSEC-2020-0071", "ghsa-wcg3-cvx6-7396"] {
        let listed = bins.json(&home, &["advisory", "list", "--id", id])?;
        ensure!(listed.as_array().map(Vec::len) == Some(1) && listed[0]["id"] == shown["id"], "{id}: {listed}");
    }
    let text = bins.trellis(&home, &["advisory", "show", "RUSTSEC-2020-0071"]);
    ensure!(text.stdout.contains("source id") && text.stdout.contains("RUSTSEC-2020-0071"), "{}", text.stdout);
    let text = bins.trellis(&home, &["advisory", "list", "--id", "GHSA-wcg3-cvx6-7396"]);
    ensure!(text.stdout.contains("RUSTSEC-2020-0071"), "{}", text.stdout);
    println!("{}", summary.join("; "));
    ensure!(failures.is_empty(), "{} files not handled as expected:\n{}", failures.len(), failures.join("\n"));
    Ok(())
}
