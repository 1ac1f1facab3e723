//! RFC 9116 `security.txt`: the file an organization serves at
//! `/.well-known/security.txt` to say how to report a vulnerability to it. A posture answer
//! "security-contact" with method "observed" points at one; the receiving node fetches it (the
//! daemon does the I/O) and judges it here: the fields are parsed (§2.5), `Contact` must appear
//! (§2.5.3), `Expires` must appear exactly once (§2.5.5), be an RFC 3339 date-time and lie in the
//! future. The OpenPGP cleartext-signed form (§2.3) is unwrapped, its signature is not checked
//! (no OpenPGP implementation here): [`SecurityTxt::signed`] says it was signed, not verified.

use crate::formats::time::parse_rfc3339_ms;

/// Largest file accepted; real ones are a few hundred bytes.
pub const MAX_SECURITY_TXT_BYTES: usize = 32 * 1024;

/// The fields of a valid security.txt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecurityTxt {
    pub contacts: Vec<String>,
    pub expires_ms: u64,
    pub encryption: Vec<String>,
    pub acknowledgments: Vec<String>,
    pub canonical: Vec<String>,
    pub policy: Vec<String>,
    pub hiring: Vec<String>,
    pub csaf: Vec<String>,
    pub preferred_languages: Option<String>,
    /// The file was in the OpenPGP cleartext-signed form. The signature was NOT verified.
    pub signed: bool,
}

/// Why a security.txt is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecurityTxtError {
    #[error("the file is larger than {MAX_SECURITY_TXT_BYTES} bytes")]
    TooLarge,
    #[error("line {line} is neither a field, a comment nor blank: {text:?}")]
    BadLine { line: usize, text: String },
    #[error("no Contact field (RFC 9116 §2.5.3 requires at least one)")]
    NoContact,
    #[error("Contact {0:?} is not a mailto:, tel: or https: URI")]
    BadContact(String),
    #[error("no Expires field (RFC 9116 §2.5.5 requires one)")]
    NoExpires,
    #[error("Expires appears more than once (RFC 9116 §2.5.5 allows one)")]
    RepeatedExpires,
    #[error("Expires {0:?} is not an RFC 3339 date-time")]
    BadExpires(String),
    #[error("expired: Expires {0} is in the past")]
    Expired(String),
    #[error("{0} appears more than once")]
    RepeatedField(&'static str),
    #[error("malformed OpenPGP signed form: {0}")]
    BadSignedForm(&'static str),
}

const SIGNED_BEGIN: &str = "-----BEGIN PGP SIGNED MESSAGE-----";
const SIGNATURE_BEGIN: &str = "-----BEGIN PGP SIGNATURE-----";
const SIGNATURE_END: &str = "-----END PGP SIGNATURE-----";

/// The content lines of the file: the cleartext of a signed file, dash-escapes removed.
/// Numbered lines (from 1) of a file.
type Lines<'a> = Vec<(usize, &'a str)>;

fn content_lines(text: &str) -> Result<(Lines<'_>, bool), SecurityTxtError> {
    let lines: Vec<(usize, &str)> = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end_matches('\r'))).collect();
    let first = lines.iter().position(|(_, l)| !l.trim().is_empty());
    let Some(first) = first.filter(|&i| lines[i].1.trim() == SIGNED_BEGIN) else {
        return Ok((lines, false));
    };
    // Armor headers (`Hash: SHA256`) up to a blank line, then the cleartext up to the signature.
    let rest = &lines[first + 1..];
    let blank = rest
        .iter()
        .position(|(_, l)| l.trim().is_empty())
        .ok_or(SecurityTxtError::BadSignedForm("no blank line after the armor headers"))?;
    let body = &rest[blank + 1..];
    let sig = body
        .iter()
        .position(|(_, l)| l.trim() == SIGNATURE_BEGIN)
        .ok_or(SecurityTxtError::BadSignedForm("no signature block"))?;
    if !body[sig..].iter().any(|(_, l)| l.trim() == SIGNATURE_END) {
        return Err(SecurityTxtError::BadSignedForm("the signature block is not closed"));
    }
    let cleartext = body[..sig].iter().map(|(n, l)| (*n, l.strip_prefix("- ").unwrap_or(l))).collect();
    Ok((cleartext, true))
}

/// Parse a security.txt without judging its expiry (see [`check`]).
pub fn parse(text: &str) -> Result<SecurityTxt, SecurityTxtError> {
    if text.len() > MAX_SECURITY_TXT_BYTES {
        return Err(SecurityTxtError::TooLarge);
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (lines, signed) = content_lines(text)?;
    let mut out = SecurityTxt { signed, ..Default::default() };
    let mut expires: Option<String> = None;
    for (n, line) in lines {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let Some((name, value)) = l.split_once(':').filter(|(n, _)| is_field_name(n)) else {
            return Err(SecurityTxtError::BadLine { line: n, text: clip(l) });
        };
        let value = value.trim().to_string();
        match name.to_ascii_lowercase().as_str() {
            "contact" => {
                let lower = value.to_ascii_lowercase();
                if !["mailto:", "tel:", "https://"].iter().any(|s| lower.starts_with(s)) {
                    return Err(SecurityTxtError::BadContact(clip(&value)));
                }
                out.contacts.push(value);
            }
            "expires" => {
                if expires.is_some() {
                    return Err(SecurityTxtError::RepeatedExpires);
                }
                expires = Some(value);
            }
            "encryption" => out.encryption.push(value),
            "acknowledgments" | "acknowledgements" => out.acknowledgments.push(value),
            "canonical" => out.canonical.push(value),
            "policy" => out.policy.push(value),
            "hiring" => out.hiring.push(value),
            "csaf" => out.csaf.push(value),
            "preferred-languages" if out.preferred_languages.is_some() => {
                return Err(SecurityTxtError::RepeatedField("Preferred-Languages"));
            }
            "preferred-languages" => out.preferred_languages = Some(value),
            // §2.4: unknown fields are extensions; ignored.
            _ => {}
        }
    }
    if out.contacts.is_empty() {
        return Err(SecurityTxtError::NoContact);
    }
    let expires = expires.ok_or(SecurityTxtError::NoExpires)?;
    out.expires_ms = parse_rfc3339_ms(&expires)
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| SecurityTxtError::BadExpires(clip(&expires)))?;
    Ok(out)
}

/// Parse a security.txt and require its `Expires` to be after `now_ms`.
pub fn check(text: &str, now_ms: u64) -> Result<SecurityTxt, SecurityTxtError> {
    let s = parse(text)?;
    if s.expires_ms <= now_ms {
        return Err(SecurityTxtError::Expired(crate::formats::time::format_rfc3339_ms(s.expires_ms)));
    }
    Ok(s)
}

/// RFC 5322 field names: printable ASCII without spaces or colons.
fn is_field_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && b != b':')
}

fn clip(s: &str) -> String {
    s.chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_735_689_600_000; // 2025-01-01

    const GOOD: &str = "# Our security policy\r\nContact: mailto:security@example.com\r\nContact: https://example.com/report\r\nExpires: 2030-01-01T00:00:00.000Z\r\nEncryption: https://example.com/pgp.asc\r\nPreferred-Languages: en, fr\r\nPolicy: https://example.com/disclosure\r\nX-Custom: ignored\r\n";

    #[test]
    fn parses_a_valid_file() {
        let s = check(GOOD, NOW).unwrap();
        assert_eq!(s.contacts, vec!["mailto:security@example.com", "https://example.com/report"]);
        assert_eq!(s.expires_ms, 1_893_456_000_000);
        assert_eq!(s.policy, vec!["https://example.com/disclosure"]);
        assert_eq!(s.preferred_languages.as_deref(), Some("en, fr"));
        assert!(!s.signed);
    }

    #[test]
    fn rejects_each_rule_with_its_reason() {
        assert_eq!(check("Expires: 2030-01-01T00:00:00Z\n", NOW), Err(SecurityTxtError::NoContact));
        assert_eq!(check("Contact: mailto:a@b.c\n", NOW), Err(SecurityTxtError::NoExpires));
        assert_eq!(
            check("Contact: mailto:a@b.c\nExpires: 2020-01-01T00:00:00Z\n", NOW),
            Err(SecurityTxtError::Expired("2020-01-01T00:00:00.000Z".into()))
        );
        assert!(
            check("Contact: mailto:a@b.c\nExpires: 2030-01-01T00:00:00Z\nExpires: 2031-01-01T00:00:00Z\n", NOW)
                .is_err()
        );
        assert_eq!(
            check("Contact: mailto:a@b.c\nExpires: soon\n", NOW),
            Err(SecurityTxtError::BadExpires("soon".into()))
        );
        assert_eq!(
            check("Contact: security@example.com\nExpires: 2030-01-01T00:00:00Z\n", NOW),
            Err(SecurityTxtError::BadContact("security@example.com".into()))
        );
        assert!(matches!(check("<html>not found</html>\n", NOW), Err(SecurityTxtError::BadLine { line: 1, .. })));
        assert_eq!(check(&"#".repeat(MAX_SECURITY_TXT_BYTES + 1), NOW), Err(SecurityTxtError::TooLarge));
    }

    #[test]
    fn unwraps_the_signed_form_without_claiming_to_verify_it() {
        let signed = format!(
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n{GOOD}- # dash-escaped comment\n-----BEGIN PGP SIGNATURE-----\n\niQIz...\n-----END PGP SIGNATURE-----\n"
        );
        let s = check(&signed, NOW).unwrap();
        assert!(s.signed);
        assert_eq!(s.contacts.len(), 2);
        let open = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nContact: mailto:a@b.c\n";
        assert!(matches!(check(open, NOW), Err(SecurityTxtError::BadSignedForm(_))));
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in ["", ":", "\u{feff}", "a:b:c", "Contact:", "\n\n\n", "-----BEGIN PGP SIGNED MESSAGE-----"] {
            let _ = check(s, NOW);
        }
    }
}
