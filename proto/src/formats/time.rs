//! RFC 3339 timestamps to and from Unix milliseconds, by hand: the formats carry dates as text,
//! the protocol as milliseconds, and a calendar library would be the crate's largest dependency
//! for two small functions. Days from civil date follow Howard Hinnant's algorithm.

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parse an RFC 3339 date-time (`2024-03-21T06:00:00.000000Z`, `2022-03-14T13:10:55+01:00`) to
/// milliseconds since the Unix epoch; may be negative for dates before 1970. `None` when the text
/// is not a valid date-time (a date without a time, a 30th of February, no offset...).
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.len() < 20 || !s.is_ascii() {
        return None;
    }
    let b = s.as_bytes();
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(&s[0..4])? as i64, num(&s[5..7])?, num(&s[8..10])?);
    let (h, mi, se) = (num(&s[11..13])?, num(&s[14..16])?, num(&s[17..19])?);
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 {
        return None;
    }
    // A leap second (60) is legal RFC 3339; it folds into the next second.
    if se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let digits = &frac[..n];
        let first3: String = digits.chars().chain("000".chars()).take(3).collect();
        millis = i64::from(num(&first3)?);
        rest = &frac[n..];
    }
    let offset_s: i64 = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(&rest[0..1], "+" | "-") && &rest[3..4] == ":" => {
            let (oh, om) = (num(&rest[1..3])?, num(&rest[4..6])?);
            if oh > 23 || om > 59 {
                return None;
            }
            let v = i64::from(oh * 3600 + om * 60);
            if &rest[0..1] == "-" { -v } else { v }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + se) - offset_s;
    Some(secs * 1000 + millis)
}

/// Like [`parse_rfc3339_ms`] for dates at or after 1970 (placeholders such as OSV's
/// `0001-01-01T00:00:00Z` give `None`).
pub fn parse_unix_ms(s: &str) -> Option<u64> {
    parse_rfc3339_ms(s).and_then(|v| u64::try_from(v).ok())
}

/// `2024-03-21T06:00:00.000Z`: RFC 3339 in UTC with milliseconds, as STIX wants it.
pub fn format_rfc3339_ms(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", sod / 3600, sod % 3600 / 60, sod % 60, ms % 1000)
}

/// `2024-03-21`: the UTC calendar date.
pub fn format_date(ms: u64) -> String {
    format_rfc3339_ms(ms)[..10].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_shapes_found_in_real_documents() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        // CISA: six fractional digits.
        assert_eq!(parse_unix_ms("2024-03-21T06:00:00.000000Z"), Some(1_711_000_800_000));
        // BSI: milliseconds.
        assert_eq!(parse_unix_ms("2022-03-17T13:03:42.105Z"), Some(1_647_522_222_105));
        // An offset: 13:10:55+01:00 is 12:10:55Z.
        assert_eq!(parse_rfc3339_ms("2022-03-14T13:10:55.000+01:00"), parse_rfc3339_ms("2022-03-14T12:10:55Z"));
        assert_eq!(parse_rfc3339_ms("2000-01-01T00:00:00-05:30"), parse_rfc3339_ms("2000-01-01T05:30:00Z"));
        // OSV's placeholder parses but predates the epoch.
        assert!(parse_rfc3339_ms("0001-01-01T00:00:00Z").unwrap() < 0);
        assert_eq!(parse_unix_ms("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_unix_ms("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
    }

    #[test]
    fn rejects_what_is_not_a_date_time() {
        for bad in [
            "",
            "2024-03-21",
            "2024-03-21T06:00:00",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+0100",
            "yesterday at noon, roughly",
            "2024-01-01T00:00:00Zjunk",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for ms in [0u64, 1_647_522_222_105, 1_711_000_800_000, 4_102_444_800_999] {
            assert_eq!(parse_unix_ms(&format_rfc3339_ms(ms)), Some(ms));
        }
        assert_eq!(format_rfc3339_ms(1_711_000_800_000), "2024-03-21T06:00:00.000Z");
        assert_eq!(format_date(1_711_000_800_000), "2024-03-21");
    }
}
