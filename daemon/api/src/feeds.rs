//! What the node and the CLI both need to know about feeds (`trellis feed add`): the kinds of
//! source and the period between runs. The feeds themselves run in the daemon
//! (`trellis_daemon::feeds`).

/// The least time between two runs of a feed: 60 seconds.
pub const MIN_EVERY_SECS: u64 = 60;

/// What a feed follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum FeedKind {
    /// A CSAF provider (its provider-metadata.json).
    #[default]
    Csaf,
    /// OSV records: a local directory, a local zip (the `all.zip` layout) or a zip's https URL.
    Osv,
    /// A MISP feed (`manifest.json` and one file per event): a directory or an https URL.
    Misp,
    /// A TAXII 2.1 collection, polled with `added_after`.
    Taxii,
}

impl FeedKind {
    /// Every kind, in the order help texts list them.
    pub const ALL: [FeedKind; 4] = [FeedKind::Csaf, FeedKind::Osv, FeedKind::Misp, FeedKind::Taxii];

    /// The kind's word on the API and on the command line: `csaf`, `osv`, `misp` or `taxii`.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedKind::Csaf => "csaf",
            FeedKind::Osv => "osv",
            FeedKind::Misp => "misp",
            FeedKind::Taxii => "taxii",
        }
    }
}

impl std::fmt::Display for FeedKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for FeedKind {
    type Err = String;

    /// `csaf`, `osv`, `misp` or `taxii`, in any case, surrounding spaces ignored.
    fn from_str(s: &str) -> Result<FeedKind, String> {
        let t = s.trim();
        FeedKind::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(t)).ok_or_else(|| {
            format!(
                "unknown feed kind {s:?}: csaf (a CSAF provider), osv (OSV records: a directory or a zip), \
                 misp (a MISP feed) or taxii (a TAXII 2.1 collection)"
            )
        })
    }
}

/// Parse a feed period: `90s`, `30m`, `1h`, `1d` (a bare number is seconds), at least
/// [`MIN_EVERY_SECS`]. Returns seconds.
pub fn parse_every(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num.parse().map_err(|_| format!("{s:?} is not a period: write 90s, 30m, 1h or 1d"))?;
    let secs = match unit {
        "" | "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => return Err(format!("{s:?} is not a period: write 90s, 30m, 1h or 1d")),
    }
    .ok_or_else(|| format!("{s:?} is too long a period"))?;
    if secs < MIN_EVERY_SECS {
        return Err(format!("{s:?} is too often: a feed runs at most once a minute"));
    }
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        assert_eq!(parse_every("1h"), Ok(3600));
        assert_eq!(parse_every("90s"), Ok(90));
        assert_eq!(parse_every("90"), Ok(90));
        assert_eq!(parse_every(" 2D "), Ok(172_800));
        assert!(parse_every("10s").unwrap_err().contains("too often"));
        assert!(parse_every("1 week").unwrap_err().contains("not a period"));
        assert!(parse_every("99999999999999999999d").is_err());
        assert!(parse_every("999999999999999999d").unwrap_err().contains("too long"));
    }

    #[test]
    fn kinds() {
        assert_eq!("OSV".parse::<FeedKind>(), Ok(FeedKind::Osv));
        assert_eq!("csaf".parse::<FeedKind>(), Ok(FeedKind::Csaf));
        let e = "rss".parse::<FeedKind>().unwrap_err();
        assert!(e.contains("csaf") && e.contains("osv"), "{e}");
        for k in FeedKind::ALL {
            assert_eq!(k.as_str().parse::<FeedKind>(), Ok(k));
        }
    }
}
