//! Fuzz target `formats_parse`: the parsers of outside formats — format detection, CSAF 2.0 and
//! OSV import, CycloneDX (with VEX) — on arbitrary bytes, and SBOM matching of whatever parses.
//! Nothing may panic; an imported advisory must pass the protocol's own field limits or be
//! reported as a problem, never accepted silently oversize.

#![no_main]

use libfuzzer_sys::fuzz_target;
use trellis_proto::formats::{csaf, cyclonedx, detect, matching, osv};

fuzz_target!(|data: &[u8]| {
    let _ = detect(data);
    let mut imported = Vec::new();
    if let Ok(i) = csaf::import(data) {
        imported.push(i.advisory);
    }
    if let Ok(i) = osv::import(data) {
        imported.push(i.advisory);
    }
    if let Ok(sbom) = cyclonedx::parse(data) {
        for a in &imported {
            let _ = matching::match_sbom(a, &sbom);
        }
    }
});
