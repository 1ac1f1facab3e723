//! An OSV source: a directory of OSV records (`*.json`, as an ecosystem's `all.zip` unpacks, or
//! a checkout of a vulnerability database), followed by each record's `modified`. A record seen
//! for the first time is published; a later `modified` of a record this org published is a
//! revision of it (a record with `withdrawn` withdraws it, PROTOCOL.md §4.9); an unchanged one is
//! not read again. Each file is read up to the size an advisory may embed.

use std::path::{Path, PathBuf};

use trellis_proto::limits::MAX_SOURCE_DOC_BYTES;

/// At most this many files are looked at per run.
pub const MAX_FILES_PER_RUN: usize = 50_000;

/// The source as a user gives it: an absolute path to a directory.
pub fn check_source(source: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(source.trim());
    if !p.is_absolute() {
        return Err(format!("{source:?}: give the OSV directory as an absolute path"));
    }
    if !p.is_dir() {
        return Err(format!("{}: not a directory this node can read", p.display()));
    }
    Ok(p)
}

/// The `*.json` files under `dir` (one level of subdirectories, as per-ecosystem trees have),
/// sorted, at most [`MAX_FILES_PER_RUN`].
pub fn list(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let read = |d: &Path| std::fs::read_dir(d).map_err(|e| format!("{}: {e}", d.display()));
    for e in read(dir)?.flatten() {
        let p = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            for e2 in read(&p)?.flatten() {
                if e2.file_type().is_ok_and(|t| t.is_file()) && e2.path().extension().is_some_and(|x| x == "json") {
                    out.push(e2.path());
                }
            }
        } else if ft.is_file() && p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
    out.sort();
    out.truncate(MAX_FILES_PER_RUN);
    Ok(out)
}

/// Read one record, bounded; returns its bytes and its `modified` (the change marker).
pub fn read(path: &Path) -> Result<(Vec<u8>, String), String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    let mut bytes = Vec::new();
    f.take(MAX_SOURCE_DOC_BYTES as u64 + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() > MAX_SOURCE_DOC_BYTES {
        return Err(format!("larger than {MAX_SOURCE_DOC_BYTES} bytes, the most an advisory may embed"));
    }
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
    let modified = v.get("modified").and_then(serde_json::Value::as_str).ok_or("no \"modified\" field")?;
    Ok((bytes.clone(), modified.chars().take(64).collect()))
}
