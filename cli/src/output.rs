//! Formatting for people and for scripts. With `--json` a command prints exactly one JSON value
//! (the API types serialize directly); without it, aligned tables and `key: value` lines.
//! Times are UTC RFC 3339 computed by hand from Unix milliseconds (no date crate for one
//! function); organizations print as fingerprints in tables, full ids only in detail views.

use std::io::Write;

use serde::Serialize;
use trellis_proto::ids::OrgId;

/// Print `value` as one pretty JSON document on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(())
}

/// Print one line on stdout and flush it (used by streams, where a pipe reader waits on it).
pub fn print_line(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// Whether `e` is a write to a closed pipe (`trellis … | head`): not worth an error message.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

/// A table whose columns are padded to their widest cell (the last column is not padded).
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Table { rows: vec![headers.iter().map(|h| h.to_string()).collect()] }
    }

    /// Add a row. Every cell goes through [`safe`]: a cell is one line of plain text whatever
    /// a remote member put in it, so a row stays a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells.iter().map(|c| safe(c)).collect());
    }

    /// The rendered table, one line per row, each ending in a newline.
    pub fn render(&self) -> String {
        let cols = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0usize; cols];
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i + 1 < row.len() {
                    line.push_str(cell);
                    let pad = widths[i] - cell.chars().count() + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                } else {
                    line.push_str(cell);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// Print the table on stdout.
    pub fn print(&self) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(self.render().as_bytes())?;
        out.flush()?;
        Ok(())
    }
}

/// Unix milliseconds as UTC RFC 3339 with second precision, e.g. `2024-05-01T12:30:00Z`.
/// Zero (unknown) prints as `-`.
pub fn time(ms: u64) -> String {
    if ms == 0 {
        return "-".to_string();
    }
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The fingerprint of an org given in full text form; anything unparsable is shown as is.
pub fn fingerprint(org: &str) -> String {
    OrgId::parse(org).map(|o| o.fingerprint()).unwrap_or_else(|_| org.to_string())
}

/// The first 12 characters of an id, enough to type back (the daemon accepts prefixes).
pub fn short(id: &str) -> String {
    id.chars().take(12).collect()
}

/// An optional value, or `-`.
pub fn or_dash(v: Option<&str>) -> String {
    match v {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => "-".to_string(),
    }
}

/// Text from another organization, a file or the daemon, made safe to print on a terminal as
/// part of one line. Control characters (C0, DEL, C1: escape sequences, BEL, CR, newlines)
/// become visible escapes (`\e`, `\n`, `\x07`, `\u{9b}`); characters that reorder or hide text
/// (bidi overrides and isolates, zero-width characters, other invisible format characters)
/// become `<U+202E>`-style marks. Everything else prints as it is. `--json` output never goes
/// through here: it keeps the exact text, escaped by JSON.
pub fn safe(s: &str) -> String {
    if !s.chars().any(needs_escape) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        push_safe(&mut out, c);
    }
    out
}

/// Like [`safe`], but keeps line breaks (`\n`) as line breaks: for multi-line fields such as
/// a summary, printed indented under their key. Each line is safe on its own.
pub fn safe_lines(s: &str) -> Vec<String> {
    s.split('\n').map(safe).collect()
}

/// A block of lines we laid out (a detail view) whose fields hold remote text: every line
/// made safe with [`safe_lines`], line breaks kept.
pub fn safe_block(s: &str) -> String {
    safe_lines(s).join("\n")
}

fn needs_escape(c: char) -> bool {
    c.is_control() || invisible(c)
}

/// Characters that change the order or visibility of the text around them.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}'                  // soft hyphen
        | '\u{061C}'                // Arabic letter mark
        | '\u{115F}' | '\u{1160}'   // Hangul fillers
        | '\u{180E}'                // Mongolian vowel separator
        | '\u{200B}'..='\u{200F}'   // zero-width space/joiners, LRM, RLM
        | '\u{2028}' | '\u{2029}'   // line and paragraph separators
        | '\u{202A}'..='\u{202E}'   // bidi embeddings and overrides
        | '\u{2060}'..='\u{206F}'   // word joiner, invisible operators, bidi isolates
        | '\u{3164}'                // Hangul filler
        | '\u{FE00}'..='\u{FE0F}'   // variation selectors
        | '\u{FEFF}'                // zero-width no-break space
        | '\u{FFA0}'                // halfwidth Hangul filler
        | '\u{FFF9}'..='\u{FFFB}'   // interlinear annotation
        | '\u{E0000}'..='\u{E007F}' // tags
    )
}

fn push_safe(out: &mut String, c: char) {
    use std::fmt::Write as _;
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{1b}' => out.push_str("\\e"),
        c if (c as u32) < 0x20 || c == '\u{7f}' => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if c.is_control() => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c if invisible(c) => {
            let _ = write!(out, "<U+{:04X}>", c as u32);
        }
        c => out.push(c),
    }
}

/// Cut `s` to at most `max` characters, marking the cut with `…`.
/// A title led by the document's own id (an OSV id, a CSAF tracking id) when it has one that the
/// title does not already name: "[GO-2020-0001] Title".
pub fn with_source_id(source_id: Option<&str>, title: &str) -> String {
    match source_id.map(str::trim) {
        Some(id) if !id.is_empty() && !title.contains(id) => format!("[{id}] {title}"),
        _ => title.to_string(),
    }
}

pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_matches_known_instants() {
        assert_eq!(time(1), "1970-01-01T00:00:00Z");
        assert_eq!(time(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(time(1_709_251_199_000), "2024-02-29T23:59:59Z");
        assert_eq!(time(1_735_689_600_123), "2025-01-01T00:00:00Z");
        assert_eq!(time(4_102_444_800_000), "2100-01-01T00:00:00Z");
        assert_eq!(time(0), "-");
    }

    #[test]
    fn table_aligns_columns_by_characters() {
        let mut t = Table::new(&["A", "LONGER", "C"]);
        t.row(vec!["ééé".into(), "x".into(), "last".into()]);
        assert_eq!(t.render(), "A    LONGER  C\nééé  x       last\n");
    }

    #[test]
    fn safe_escapes_controls_and_marks_invisible_characters() {
        assert_eq!(safe("plain é ✓"), "plain é ✓");
        assert_eq!(safe("a\u{1b}]0;owned\u{7}b"), "a\\e]0;owned\\x07b");
        assert_eq!(safe("row\nforged\r"), "row\\nforged\\r");
        assert_eq!(safe("\u{9b}2J\u{85}"), "\\u{9b}2J\\u{85}");
        assert_eq!(safe("abc\u{202e}fed\u{200b}"), "abc<U+202E>fed<U+200B>");
        assert_eq!(safe("\u{7f}\u{0}"), "\\x7f\\x00");
        assert_eq!(safe_lines("one\ntwo\u{1b}"), vec!["one".to_string(), "two\\e".to_string()]);
        for c in (0u32..0x110000).filter_map(char::from_u32) {
            let s = safe(&c.to_string());
            assert!(!s.chars().any(|x| x.is_control() || invisible(x)), "{c:?} -> {s:?}");
        }
    }

    #[test]
    fn table_rows_stay_one_line_each() {
        let mut t = Table::new(&["A", "B"]);
        t.row(vec!["x\ny".into(), "\u{1b}[2J".into()]);
        assert_eq!(t.render().lines().count(), 2);
        assert!(!t.render().contains('\u{1b}'));
    }

    #[test]
    fn clip_marks_the_cut() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }
}
