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

/// A fixture written for this repository (`proto/tests/fixtures/`).
pub fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A Log4Shell advisory naming `product` (for the VEX tests).
pub fn log4shell_for(product: &str) -> trellis_proto::items::Advisory {
    use trellis_proto::items::{Advisory, Affected, Category};
    Advisory {
        reference_id: "TRELLIS-LOG4SHELL".into(),
        title: "Log4Shell in products".into(),
        summary: String::new(),
        category: Category::Vulnerability,
        severity: None,
        aliases: vec!["CVE-2021-44228".into()],
        affected: vec![Affected { product: Some(product.into()), ..Affected::default() }],
        references: vec![],
        remediation: None,
        published_ms: 0,
        updated_ms: 0,
        source: None,
    }
}

/// The purls of `sbom`'s components that `adv` affects, with the fixed version, sorted.
pub fn purl_hits(
    adv: &trellis_proto::items::Advisory,
    sbom: &trellis_proto::formats::cyclonedx::Sbom,
) -> Vec<(String, Option<String>)> {
    let comps: Vec<_> = sbom.all_components().collect();
    let mut hits: Vec<(String, Option<String>)> = trellis_proto::formats::matching::match_sbom(adv, sbom)
        .into_iter()
        .map(|f| (comps[f.component].purl.clone().unwrap_or_default(), f.reason.fixed))
        .collect();
    hits.sort();
    hits
}
