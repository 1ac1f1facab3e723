//! A zip archive of records (OSV's per-ecosystem `all.zip`), read as hostile input at bounded
//! cost: the archive's size, its entry count, each entry's declared size and the sum of the
//! declared sizes are checked against bounds from the central directory alone, before anything
//! is decompressed; each entry is then decompressed to at most its declared size plus one byte,
//! so an entry that holds more (or less) than it declares is refused, and the zip reader checks
//! its CRC-32. Names that leave the archive (`..`, absolute, a drive or a backslash) are
//! refused. What an archive can make the node do is therefore bounded by [`Limits`], whatever
//! its bytes say.

use std::io::{Read, Seek};

/// The bounds an archive is read under.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The archive itself (a download or a file).
    pub archive_bytes: u64,
    /// Entries in the central directory (directories and other files count).
    pub entries: usize,
    /// One record, uncompressed.
    pub entry_bytes: u64,
    /// All records together, uncompressed.
    pub total_bytes: u64,
}

/// The bounds an OSV `all.zip` is read under. The largest ecosystems' archives hold a few
/// hundred thousand records in some hundreds of megabytes.
pub const LIMITS: Limits = Limits {
    archive_bytes: 512 * 1024 * 1024,
    entries: 500_000,
    entry_bytes: trellis_proto::limits::MAX_SOURCE_DOC_BYTES as u64,
    total_bytes: 4 * 1024 * 1024 * 1024,
};

/// One record of the archive, as its central directory lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    index: usize,
    pub name: String,
    /// The uncompressed size it declares.
    pub size: u64,
    pub crc32: u32,
}

impl Entry {
    /// What changes when the record changes: its declared CRC-32 and size. An entry whose
    /// digest is the one seen last run is not decompressed again.
    pub fn digest(&self) -> String {
        format!("crc32:{:08x}:{}", self.crc32, self.size)
    }
}

/// An archive whose listing passed the bounds.
pub struct Archive<R> {
    zip: zip::ZipArchive<R>,
    /// The `*.json` entries, in archive order.
    pub entries: Vec<Entry>,
    /// Entries refused from the listing alone: (name, reason).
    pub refused: Vec<(String, String)>,
}

/// Whether an entry name stays inside the archive: relative, no `..` step, no backslash, no
/// NUL, no drive letter.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains('\\')
        && !name.contains('\0')
        && !name.contains(':')
        && name.split('/').all(|part| part != "..")
}

/// Bound an archive's central directory before the zip reader parses it (which allocates per
/// entry): the entry count and size its end record declares (the zip64 one if it has one),
/// found in the last 64 KiB of the file.
fn declared_entries<R: Read + Seek>(r: &mut R, len: u64, limits: &Limits) -> Result<(), String> {
    use std::io::SeekFrom;
    let le16 = |b: &[u8], at: usize| u16::from_le_bytes([b[at], b[at + 1]]) as u64;
    let le32 = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or([0; 4])) as u64;
    let le64 = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]));
    let tail_len = len.min(22 + 65_535 + 20);
    let mut tail = vec![0u8; tail_len as usize];
    r.seek(SeekFrom::Start(len - tail_len))
        .and_then(|_| r.read_exact(&mut tail))
        .map_err(|e| format!("cannot be read: {e}"))?;
    let Some(eocd) = tail.windows(4).rposition(|w| w == b"PK\x05\x06").filter(|i| i + 22 <= tail.len()) else {
        return Err("not a zip archive: no end of central directory record".into());
    };
    let (mut entries, mut cd_bytes) = (le16(&tail, eocd + 10), le32(&tail, eocd + 12));
    if (entries == 0xFFFF || cd_bytes == 0xFFFF_FFFF) && eocd >= 20 && &tail[eocd - 20..eocd - 16] == b"PK\x06\x07" {
        let at = le64(&tail, eocd - 20 + 8);
        let mut rec = [0u8; 56];
        if at + 56 <= len {
            r.seek(SeekFrom::Start(at))
                .and_then(|_| r.read_exact(&mut rec))
                .map_err(|e| format!("cannot be read: {e}"))?;
            if &rec[..4] == b"PK\x06\x06" {
                (entries, cd_bytes) = (le64(&rec, 32), le64(&rec, 40));
            }
        }
    }
    if entries > limits.entries as u64 {
        return Err(format!(
            "the archive lists {entries} entries; at most {} are read (refused as a whole)",
            limits.entries
        ));
    }
    // A central directory record is at least 46 bytes plus a name: more than 1 KiB per entry
    // on average is not a listing of records.
    if cd_bytes > (limits.entries as u64).saturating_mul(1024) || cd_bytes > len {
        return Err(format!("the archive's central directory declares {cd_bytes} bytes (refused as a whole)"));
    }
    r.seek(SeekFrom::Start(0)).map_err(|e| format!("cannot be read: {e}"))?;
    Ok(())
}

/// Open an archive and check its listing against `limits`. `Err`: the archive as a whole is
/// refused (not a zip, too many entries, too much declared data).
pub fn open<R: Read + Seek>(reader: R, archive_len: u64, limits: &Limits) -> Result<Archive<R>, String> {
    if archive_len > limits.archive_bytes {
        return Err(format!("the archive has {archive_len} bytes; at most {} are read", limits.archive_bytes));
    }
    let mut reader = reader;
    declared_entries(&mut reader, archive_len, limits)?;
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| format!("not a zip archive: {e}"))?;
    if zip.len() > limits.entries {
        return Err(format!(
            "the archive lists {} entries; at most {} are read (refused as a whole)",
            zip.len(),
            limits.entries
        ));
    }
    let mut entries = Vec::new();
    let mut refused = Vec::new();
    let mut total: u64 = 0;
    for index in 0..zip.len() {
        // The raw entry: its central directory record, nothing decompressed.
        let f = zip.by_index_raw(index).map_err(|e| format!("entry {index} is damaged: {e}"))?;
        let name: String = match f.name() {
            Ok(n) => n.chars().take(512).collect(),
            Err(e) => {
                refused.push((format!("entry {index}"), format!("its name is not readable: {e}")));
                continue;
            }
        };
        if f.is_dir() || !name.ends_with(".json") {
            continue;
        }
        if !safe_name(&name) {
            refused.push((name, "its path leaves the archive (absolute, `..` or a backslash)".into()));
            continue;
        }
        if f.is_symlink() {
            refused.push((name, "it is a symbolic link".into()));
            continue;
        }
        let size = f.size();
        if size > limits.entry_bytes {
            refused.push((
                name,
                format!(
                    "it declares {size} bytes; a record may have at most {} (an advisory's bound)",
                    limits.entry_bytes
                ),
            ));
            continue;
        }
        total = total.saturating_add(size);
        if total > limits.total_bytes {
            return Err(format!(
                "the archive declares more than {} bytes of records uncompressed (a zip bomb?): refused as a whole",
                limits.total_bytes
            ));
        }
        entries.push(Entry { index, name, size, crc32: f.crc32() });
    }
    Ok(Archive { zip, entries, refused })
}

impl<R: Read + Seek> Archive<R> {
    /// Decompress one entry, reading at most its declared size plus one byte.
    pub fn read(&mut self, e: &Entry) -> Result<Vec<u8>, String> {
        let f = self.zip.by_index(e.index).map_err(|err| format!("cannot be read: {err}"))?;
        let mut buf = Vec::with_capacity(e.size.min(1 << 20) as usize);
        f.take(e.size + 1).read_to_end(&mut buf).map_err(|err| format!("does not decompress: {err}"))?;
        if buf.len() as u64 > e.size {
            return Err(format!("holds more than the {} bytes it declares uncompressed", e.size));
        }
        if (buf.len() as u64) < e.size {
            return Err(format!("declares {} bytes uncompressed but holds {}", e.size, buf.len()));
        }
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    fn zip_of(files: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default().compression_method(method);
        for (name, bytes) in files {
            w.start_file(*name, opts).unwrap();
            w.write_all(bytes).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn open_bytes<'a>(b: &'a [u8], limits: &Limits) -> Result<Archive<Cursor<&'a [u8]>>, String> {
        open(Cursor::new(b), b.len() as u64, limits)
    }

    #[test]
    fn records_are_listed_and_read() {
        let z = zip_of(
            &[("A-1.json", b"{\"id\":\"A-1\"}"), ("README.txt", b"x"), ("sub/B-2.json", b"{}")],
            zip::CompressionMethod::Deflated,
        );
        let mut a = open_bytes(&z, &LIMITS).unwrap();
        let names: Vec<_> = a.entries.iter().map(|e| e.name.clone()).collect();
        assert_eq!(names, ["A-1.json", "sub/B-2.json"]);
        let e = a.entries[0].clone();
        assert_eq!(a.read(&e).unwrap(), b"{\"id\":\"A-1\"}");
        assert!(e.digest().starts_with("crc32:"));
    }

    #[test]
    fn escaping_names_are_refused() {
        let z = zip_of(
            &[("../evil.json", b"{}"), ("a/../../b.json", b"{}"), ("/abs.json", b"{}"), ("ok.json", b"{}")],
            zip::CompressionMethod::Stored,
        );
        let a = open_bytes(&z, &LIMITS).unwrap();
        assert_eq!(a.entries.len(), 1);
        assert_eq!(a.refused.len(), 3, "{:?}", a.refused);
        assert!(a.refused.iter().all(|(_, r)| r.contains("leaves the archive")));
    }

    #[test]
    fn bombs_are_refused_from_the_listing() {
        let big = vec![b' '; 4096];
        let z = zip_of(&[("a.json", &big), ("b.json", &big), ("c.json", &big)], zip::CompressionMethod::Deflated);
        // Per entry: refused, the others read.
        let small = Limits { entry_bytes: 1000, ..LIMITS };
        let a = open_bytes(&z, &small).unwrap();
        assert_eq!((a.entries.len(), a.refused.len()), (0, 3));
        // In total: the archive refused as a whole.
        let total = Limits { total_bytes: 10_000, ..LIMITS };
        assert!(open_bytes(&z, &total).err().unwrap().contains("zip bomb"));
        // Entry count and archive size.
        let few = Limits { entries: 2, ..LIMITS };
        assert!(open_bytes(&z, &few).err().unwrap().contains("entries"));
        let tiny = Limits { archive_bytes: 100, ..LIMITS };
        assert!(open_bytes(&z, &tiny).err().unwrap().contains("bytes"));
        assert!(open_bytes(b"not a zip at all", &LIMITS).err().unwrap().contains("not a zip"));
    }

    /// An entry whose central directory and local header declare fewer bytes than it holds.
    #[test]
    fn an_entry_larger_than_it_declares_is_refused() {
        let body = vec![b'x'; 300];
        let mut z = zip_of(&[("lie.json", &body)], zip::CompressionMethod::Deflated);
        let patch = |z: &mut Vec<u8>, sig: &[u8; 4], off: usize| {
            let at = z.windows(4).position(|w| w == sig).unwrap() + off;
            z[at..at + 4].copy_from_slice(&10u32.to_le_bytes());
        };
        patch(&mut z, b"PK\x03\x04", 22);
        patch(&mut z, b"PK\x01\x02", 24);
        let mut a = open_bytes(&z, &LIMITS).unwrap();
        let e = a.entries[0].clone();
        assert_eq!(e.size, 10);
        let err = a.read(&e).unwrap_err();
        // Caught by the zip reader (its own size check) or by ours (the read bound).
        assert!(err.contains("larger than its declared") || err.contains("more than the 10 bytes"), "{err}");
    }
}
