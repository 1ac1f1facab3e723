//! Where the third-party corpora live: `../shared/` beside the repository (`data/` with real
//! advisories and SBOMs, `conformance/` with the standards' own test files), or the directory
//! named by `TRELLIS_SHARED_DIR`. They are not part of the repository, so a test that needs one
//! says it was skipped and why when it is absent — unless `TRELLIS_REQUIRE_CONFORMANCE=1` (set
//! by `.ci/run`), which turns the absence into a failure.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

fn shared_root() -> PathBuf {
    match std::env::var_os("TRELLIS_SHARED_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
    }
}

/// `shared/<sub>` if it is present; otherwise prints the skip (or fails when required).
pub fn corpus(sub: &str) -> Option<PathBuf> {
    let dir = shared_root().join(sub);
    if dir.is_dir() {
        return Some(dir);
    }
    let required = std::env::var("TRELLIS_REQUIRE_CONFORMANCE").is_ok_and(|v| v == "1");
    assert!(!required, "TRELLIS_REQUIRE_CONFORMANCE=1 but {} is not present", dir.display());
    eprintln!("skipped: ../shared/{sub} not present ({})", dir.display());
    None
}

/// Rows of a corpus folder's `MANIFEST.tsv`: (file, expected, spec_version, why).
pub fn manifest(dir: &Path) -> Vec<(String, String, String, String)> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut f = l.split('\t').map(str::to_string);
            let mut next = || f.next().unwrap_or_default();
            (next(), next(), next(), next())
        })
        .collect()
}
