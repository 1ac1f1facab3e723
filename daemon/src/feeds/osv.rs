//! An OSV source, followed by each record's `modified`: a directory of OSV records (`*.json`, a
//! checkout of a vulnerability database or an unpacked `all.zip`), or a zip of records — the
//! per-ecosystem `all.zip` of OSV's bucket — as a local file or an https URL. A record seen for
//! the first time is published; a later `modified` of a record this org published is a
//! revision of it (a record with `withdrawn` withdraws it, PROTOCOL.md §4.9); an unchanged one
//! is not read again (in a zip: its declared CRC-32 and size unchanged). Each record is read up
//! to the size an advisory may embed; a zip is read under [`super::archive::LIMITS`].
//!
//! The records are read on a blocking thread and handed one at a time, through a small bounded
//! channel, to the run that publishes them: memory stays bounded by a few records whatever the
//! source's size.

use std::collections::HashMap;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use tokio::sync::mpsc::Sender;
use trellis_proto::limits::MAX_SOURCE_DOC_BYTES;

use super::archive;

/// At most this many files of a directory are looked at per run.
pub const MAX_FILES_PER_RUN: usize = 50_000;

/// Where the records are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Dir(PathBuf),
    ZipFile(PathBuf),
    ZipUrl(String),
}

impl Source {
    /// The source as a user gives it: an absolute path to a directory or a `.zip` file, or the
    /// https URL of a zip. `check_exists`: the path must be there now.
    pub fn parse(source: &str, check_exists: bool) -> Result<Source, String> {
        let s = source.trim();
        if s.starts_with("http://") {
            return Err(format!("{s}: OSV archives are fetched over https only"));
        }
        if s.starts_with("https://") {
            if s.len() > 2048 || s.contains(char::is_whitespace) || !s.trim_end_matches('/').contains(".zip") {
                return Err(format!("{s:?}: an OSV URL names a zip of records (such as …/PyPI/all.zip)"));
            }
            return Ok(Source::ZipUrl(s.to_string()));
        }
        let p = PathBuf::from(s);
        if !p.is_absolute() {
            return Err(format!("{s:?}: give the OSV directory or zip as an absolute path, or a zip's https URL"));
        }
        let is_zip = p.extension().is_some_and(|x| x.eq_ignore_ascii_case("zip"));
        if check_exists {
            if is_zip && !p.is_file() {
                return Err(format!("{}: not a file this node can read", p.display()));
            }
            if !is_zip && !p.is_dir() {
                return Err(format!("{}: not a directory this node can read (a zip must end in .zip)", p.display()));
            }
        }
        Ok(if is_zip { Source::ZipFile(p) } else { Source::Dir(p) })
    }

    /// How the source is stored and shown.
    pub fn display(&self) -> String {
        match self {
            Source::Dir(p) | Source::ZipFile(p) => p.display().to_string(),
            Source::ZipUrl(u) => u.clone(),
        }
    }
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

/// A record's bytes and its `modified` (the change marker).
pub fn check_record(bytes: Vec<u8>) -> Result<(Vec<u8>, String), String> {
    if bytes.len() > MAX_SOURCE_DOC_BYTES {
        return Err(format!("larger than {MAX_SOURCE_DOC_BYTES} bytes, the most an advisory may embed"));
    }
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
    let modified = v.get("modified").and_then(serde_json::Value::as_str).ok_or("no \"modified\" field")?;
    let modified = modified.chars().take(64).collect();
    Ok((bytes, modified))
}

/// Read one record file, bounded.
pub fn read(path: &Path) -> Result<(Vec<u8>, String), String> {
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    let mut bytes = Vec::new();
    f.take(MAX_SOURCE_DOC_BYTES as u64 + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read it: {e}"))?;
    check_record(bytes)
}

/// What the reading thread hands to the run.
#[derive(Debug)]
pub enum Msg {
    /// How many records there are to look at.
    Total(u64),
    /// A record read (or why it cannot be): its key, its zip digest, its bytes and `modified`.
    Record { key: String, digest: Option<String>, read: Result<(Vec<u8>, String), String> },
    /// A zip entry whose digest is the one seen last run: not decompressed.
    Unchanged(String),
}

/// The key of a zip entry: the source and the entry's name.
pub fn entry_key(source: &str, name: &str) -> String {
    format!("{source}#{name}")
}

/// Read the records of `source` (a zip's bytes already fetched for a URL) and send them to
/// the run, skipping zip entries whose digest is in `digests` unchanged. `Err`: the source as a
/// whole cannot be read (no directory, not a zip, a zip over its bounds). Returns early when
/// the run stops listening.
pub fn produce(
    source: Source,
    fetched: Option<Vec<u8>>,
    digests: HashMap<String, String>,
    tx: Sender<Msg>,
) -> Result<(), String> {
    let shown = source.display();
    match (source, fetched) {
        (Source::Dir(dir), _) => {
            let files = list(&dir)?;
            let _ = tx.blocking_send(Msg::Total(files.len() as u64));
            for path in files {
                let msg = Msg::Record { key: path.display().to_string(), digest: None, read: read(&path) };
                if tx.blocking_send(msg).is_err() {
                    return Ok(());
                }
            }
            Ok(())
        }
        (Source::ZipFile(p), _) => {
            let f = std::fs::File::open(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            let len = f.metadata().map_err(|e| format!("{}: {e}", p.display()))?.len();
            produce_zip(&shown, std::io::BufReader::new(f), len, &digests, &tx)
        }
        (Source::ZipUrl(_), Some(bytes)) => {
            let len = bytes.len() as u64;
            produce_zip(&shown, std::io::Cursor::new(bytes), len, &digests, &tx)
        }
        (Source::ZipUrl(u), None) => Err(format!("{u}: nothing fetched")),
    }
}

fn produce_zip<R: Read + Seek>(
    shown: &str,
    reader: R,
    len: u64,
    digests: &HashMap<String, String>,
    tx: &Sender<Msg>,
) -> Result<(), String> {
    let mut a = archive::open(reader, len, &archive::LIMITS).map_err(|e| format!("{shown}: {e}"))?;
    let _ = tx.blocking_send(Msg::Total((a.entries.len() + a.refused.len()) as u64));
    for (name, reason) in std::mem::take(&mut a.refused) {
        let msg = Msg::Record { key: entry_key(shown, &name), digest: None, read: Err(reason) };
        if tx.blocking_send(msg).is_err() {
            return Ok(());
        }
    }
    for e in a.entries.clone() {
        let key = entry_key(shown, &e.name);
        let digest = e.digest();
        let msg = if digests.get(&key) == Some(&digest) {
            Msg::Unchanged(key)
        } else {
            let read = a.read(&e).and_then(check_record);
            Msg::Record { key, digest: Some(digest), read }
        };
        if tx.blocking_send(msg).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        assert_eq!(
            Source::parse("https://osv.example/PyPI/all.zip", false).unwrap(),
            Source::ZipUrl("https://osv.example/PyPI/all.zip".into())
        );
        assert!(Source::parse("https://osv.example/PyPI/", false).is_err());
        assert!(Source::parse("http://osv.example/all.zip", false).is_err());
        assert_eq!(Source::parse("/srv/osv/all.zip", false).unwrap(), Source::ZipFile("/srv/osv/all.zip".into()));
        assert_eq!(Source::parse("/srv/osv", false).unwrap(), Source::Dir("/srv/osv".into()));
        assert!(Source::parse("osv", false).is_err());
        assert!(Source::parse("/nonexistent/dir", true).is_err());
    }
}
