//! The standards' own conformance files (`../shared/conformance/`, see its README) through the
//! importers: every valid file accepted, every invalid one refused with the rule it breaks. The
//! files are not in the repository: without them these tests say they were skipped (see
//! `shared/mod.rs`), unless TRELLIS_REQUIRE_CONFORMANCE=1.

mod shared;

use trellis_proto::formats::matching::{ComponentId, is_affected};
use trellis_proto::formats::{csaf, cyclonedx, osv};

/// `...-6-1-<TT>-<NN>.json` or `...-6-1-27-<SS>-<NN>.json`: the test number ("6.1.14",
/// "6.1.27.9") and whether the file is written to fail it (NN below 10).
fn csaf_test_of(file: &str) -> Option<(String, bool)> {
    let stem = file.rsplit('/').next()?.strip_suffix(".json")?;
    let tail = stem.split("-6-1-").nth(1)?;
    let parts: Vec<u32> = tail.split('-').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let (test, nn) = match parts.as_slice() {
        [t, n] => (format!("6.1.{t}"), *n),
        [t, s, n] => (format!("6.1.{t}.{s}"), *n),
        _ => return None,
    };
    Some((test, nn < 10))
}

/// Tests whose failing files are not expected to be refused (none: every mandatory test the
/// corpus exercises is run).
const NOT_RUN: [&str; 0] = [];

#[test]
fn csaf_mandatory_tests_and_examples() {
    let Some(dir) = shared::corpus("conformance/csaf") else { return };
    let rows = shared::manifest(&dir);
    let (mut refused, mut invalid, mut accepted, mut valid) = (0, 0, 0, 0);
    let mut wrong = Vec::new();
    for (file, expected, _, _) in &rows {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let result = csaf::import(&bytes);
        if expected == "valid" {
            valid += 1;
            match result {
                Ok(_) => accepted += 1,
                Err(e) => wrong.push(format!("{file}: valid but refused: {}", e[0])),
            }
            continue;
        }
        invalid += 1;
        let (test, fails) = csaf_test_of(file).unwrap_or_else(|| panic!("{file}: no test number in the name"));
        assert!(fails, "{file} is labelled invalid");
        if NOT_RUN.contains(&test.as_str()) {
            println!("not counted: {file} ({test} is not run)");
            invalid -= 1;
            continue;
        }
        match result {
            Ok(_) => wrong.push(format!("{file}: fails {test} but was accepted")),
            Err(e)
                if e.iter().any(|p| {
                    p.reason.starts_with(&format!("{test} ")) || p.reason.contains(&format!("(test {test})"))
                }) =>
            {
                refused += 1
            }
            Err(e) => wrong.push(format!(
                "{file}: refused, but not for {test}: {}",
                e.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
            )),
        }
    }
    println!("CSAF: {refused}/{invalid} invalid refused with their test named, {accepted}/{valid} valid accepted");
    assert!(wrong.is_empty(), "{} wrong:\n{}", wrong.len(), wrong.join("\n"));
    assert_eq!((refused, accepted), (invalid, valid));
    assert!(invalid > 50 && valid > 60, "the corpus is complete: {invalid} invalid, {valid} valid");
}

#[test]
fn cyclonedx_schema_tests() {
    let Some(dir) = shared::corpus("conformance/cyclonedx") else { return };
    let (mut refused, mut invalid, mut accepted, mut valid) = (0, 0, 0, 0);
    let mut wrong = Vec::new();
    for (file, expected, _, why) in shared::manifest(&dir) {
        let bytes = std::fs::read(dir.join(&file)).unwrap();
        let strict = cyclonedx::parse_checked(&bytes, false);
        if expected == "valid" {
            valid += 1;
            match strict {
                Ok((_, warnings)) if warnings.is_empty() => accepted += 1,
                Ok((_, w)) => wrong.push(format!("{file}: valid but warned: {}", w[0])),
                Err(e) => wrong.push(format!("{file}: valid but refused: {}", e[0])),
            }
            continue;
        }
        invalid += 1;
        match strict {
            Ok(_) => wrong.push(format!("{file}: accepted ({why})")),
            Err(e) => {
                assert!(e.iter().all(|p| p.path.starts_with('/')), "{file}: {e:?}");
                refused += 1;
                // Leniently, what can be read is read and every problem is a warning.
                if let Ok((_, w)) = cyclonedx::parse_checked(&bytes, true) {
                    assert_eq!(w, e, "{file}");
                }
            }
        }
    }
    println!("CycloneDX: {refused}/{invalid} invalid refused, {accepted}/{valid} valid accepted");
    assert!(wrong.is_empty(), "{} wrong:\n{}", wrong.len(), wrong.join("\n"));
    assert!(invalid > 60 && valid > 80, "the corpus is complete: {invalid} invalid, {valid} valid");
}

#[test]
fn osv_records() {
    let Some(dir) = shared::corpus("conformance/osv") else { return };
    let (mut refused, mut invalid, mut accepted, mut valid) = (0, 0, 0, 0);
    let mut wrong = Vec::new();
    for (file, expected, _, why) in shared::manifest(&dir) {
        let bytes = std::fs::read(dir.join(&file)).unwrap();
        match (expected.as_str(), osv::import(&bytes)) {
            ("valid", Ok(imp)) => {
                accepted += 1;
                let id: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                assert_eq!(imp.advisory.reference_id, id["id"].as_str().unwrap(), "{file}: stored under its id");
            }
            ("valid", Err(e)) => wrong.push(format!("{file}: valid but refused: {}", e[0])),
            (_, Ok(_)) => wrong.push(format!("{file}: accepted ({why})")),
            (_, Err(e)) => {
                println!("{file}: {}", e[0]);
                refused += 1;
            }
        }
        if expected == "valid" {
            valid += 1;
        } else {
            invalid += 1;
        }
    }
    println!("OSV: {refused}/{invalid} invalid refused, {accepted}/{valid} valid accepted");
    assert!(wrong.is_empty(), "{} wrong:\n{}", wrong.len(), wrong.join("\n"));
    assert!(invalid >= 4 && valid >= 21, "the corpus is complete: {invalid} invalid, {valid} valid");

    // Withdrawn stays withdrawn: listed as such, and matched against nothing.
    let w = osv::import(&std::fs::read(dir.join("GHSA-35c4-f3rq-f9g3.json")).unwrap()).unwrap().advisory;
    assert!(w.title.starts_with("Withdrawn: ") && w.affected.is_empty(), "{}", w.title);
    // Events listed out of order are evaluated in version order.
    let mixin = osv::import(&std::fs::read(dir.join("GHSA-fhjf-83wg-r2j9.json")).unwrap()).unwrap().advisory;
    let c = ComponentId::parse("pkg:npm/mixin-deep");
    for (v, hit) in [("1.3.1", true), ("1.3.2", false), ("1.9.0", false), ("2.0.0", true), ("2.0.1", false)] {
        assert_eq!(is_affected(&mixin.affected[0], &c, v).is_some(), hit, "mixin-deep {v}");
    }
    let passenger = osv::import(&std::fs::read(dir.join("GHSA-9qj7-jvg4-qr2x.json")).unwrap()).unwrap().advisory;
    let c = ComponentId::parse("pkg:gem/passenger");
    for (v, hit) in [("3.0.20", true), ("3.0.21", false), ("4.0.0", false), ("4.0.4", true), ("4.0.5", false)] {
        assert_eq!(is_affected(&passenger.affected[0], &c, v).is_some(), hit, "passenger {v}");
    }
}
