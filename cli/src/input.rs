//! Reading what a user points the CLI at (files, stdin) with a limit: a path can name
//! `/dev/zero`, a FIFO or a 200 MB file, and none of them may make the CLI grow until memory
//! runs out. Every read stops one byte past its limit and is refused there, with the limit in
//! bytes and in a unit people read.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};

/// Largest advisory file (`advisory publish --file`) and posture file: the daemon's request
/// limit, so a file the daemon would refuse is refused before it is read whole.
pub const MAX_DOCUMENT_BYTES: u64 = 1024 * 1024;

/// Longest line read from an answers file or stdin.
pub const MAX_LINE_BYTES: u64 = 4096;

/// `n` bytes as people read them: "1048576 bytes (1 MiB)".
pub fn bytes(n: u64) -> String {
    if n >= 1024 * 1024 && n.is_multiple_of(1024 * 1024) {
        format!("{n} bytes ({} MiB)", n / (1024 * 1024))
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{n} bytes ({} KiB)", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

/// Read at most `limit` bytes of `path`; a longer input is refused, naming `what` it was for.
pub fn read_bounded(path: &Path, limit: u64, what: &str) -> anyhow::Result<Vec<u8>> {
    let shown = path.display();
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {what} {shown}"))?;
    let meta = file.metadata().with_context(|| format!("cannot read {what} {shown}"))?;
    if meta.is_dir() {
        bail!("{what} {shown} is a directory, not a file");
    }
    if meta.is_file() && meta.len() > limit {
        bail!("{what} {shown} is {} long; the limit is {}", bytes(meta.len()), bytes(limit));
    }
    let mut buf = Vec::new();
    file.take(limit + 1).read_to_end(&mut buf).with_context(|| format!("cannot read {what} {shown}"))?;
    if buf.len() as u64 > limit {
        bail!("{what} {shown} is longer than the limit of {} (it is not a regular file of that size)", bytes(limit));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_zero_is_refused_at_the_limit() {
        let e = read_bounded(Path::new("/dev/zero"), 4096, "advisory file").unwrap_err();
        assert!(e.to_string().contains("longer than the limit of 4096 bytes (4 KiB)"), "{e}");
    }

    #[test]
    fn a_file_over_the_limit_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.json");
        std::fs::write(&p, vec![b' '; 2048]).unwrap();
        let e = read_bounded(&p, 1024, "advisory file").unwrap_err();
        assert!(e.to_string().contains("is 2048 bytes (2 KiB) long; the limit is 1024 bytes (1 KiB)"), "{e}");
        assert_eq!(read_bounded(&p, 2048, "x").unwrap().len(), 2048);
    }
}
