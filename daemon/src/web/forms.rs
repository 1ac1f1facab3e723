//! Form bodies: `application/x-www-form-urlencoded` and `multipart/form-data` (for file
//! uploads), parsed into name → values. Only what browsers send for plain HTML forms.

use std::collections::HashMap;

/// A submitted form: each field's values in order, and uploaded files.
#[derive(Debug, Default)]
pub struct Form {
    fields: HashMap<String, Vec<String>>,
    /// Field name → (file name, bytes), for `<input type=file>` with a file chosen.
    pub files: HashMap<String, (String, Vec<u8>)>,
}

impl Form {
    /// The first value of a field, trimmed ("" when absent).
    pub fn get(&self, name: &str) -> &str {
        self.fields.get(name).and_then(|v| v.first()).map(|s| s.trim()).unwrap_or("")
    }

    /// A field's value, or None when absent or blank.
    pub fn opt(&self, name: &str) -> Option<String> {
        Some(self.get(name)).filter(|s| !s.is_empty()).map(str::to_string)
    }

    /// A field's value as it was sent (not trimmed).
    pub fn raw(&self, name: &str) -> &str {
        self.fields.get(name).and_then(|v| v.first()).map(String::as_str).unwrap_or("")
    }

    /// A multi-line field as its non-blank lines, trimmed.
    pub fn lines(&self, name: &str) -> Vec<String> {
        self.raw(name).lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
    }

    fn push(&mut self, name: String, value: String) {
        self.fields.entry(name).or_default().push(value);
    }

    /// Parse a body by its content type.
    pub fn parse(content_type: &str, body: &[u8]) -> Result<Form, String> {
        let ct = content_type.to_ascii_lowercase();
        if ct.starts_with("application/x-www-form-urlencoded") {
            return Ok(urlencoded(body));
        }
        if ct.starts_with("multipart/form-data") {
            let boundary = content_type
                .split(';')
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
                .map(|(_, v)| v.trim().trim_matches('"').to_string())
                .ok_or("a multipart form without a boundary")?;
            return multipart(&boundary, body);
        }
        Err(format!("a form was expected, not {content_type:?}"))
    }
}

/// Decode a urlencoded value: `+` is a space, `%XX` a byte.
pub fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned()
}

/// Parse `a=1&b=2`.
pub fn urlencoded(body: &[u8]) -> Form {
    let mut f = Form::default();
    for pair in String::from_utf8_lossy(body).split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        f.push(decode(k), decode(v));
    }
    f
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len()).find(|&i| &hay[i..i + needle.len()] == needle)
}

/// Parse a `multipart/form-data` body (RFC 7578).
fn multipart(boundary: &str, body: &[u8]) -> Result<Form, String> {
    let mut f = Form::default();
    let delim = format!("--{boundary}").into_bytes();
    let mut pos = find(body, &delim, 0).ok_or("the multipart body has no part")? + delim.len();
    loop {
        if body[pos..].starts_with(b"--") {
            return Ok(f);
        }
        let head_start = pos + 2; // CRLF after the delimiter
        let head_end = find(body, b"\r\n\r\n", head_start).ok_or("a multipart part without headers")?;
        let headers = String::from_utf8_lossy(&body[head_start.min(head_end)..head_end]).to_string();
        let content_start = head_end + 4;
        let mut next_delim = b"\r\n".to_vec();
        next_delim.extend_from_slice(&delim);
        let content_end = find(body, &next_delim, content_start).ok_or("a multipart part that does not end")?;
        let content = &body[content_start..content_end];
        let disposition = headers
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .unwrap_or("")
            .to_string();
        let param = |name: &str| {
            disposition.split(';').map(str::trim).find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim().eq_ignore_ascii_case(name).then(|| v.trim().trim_matches('"').to_string())
            })
        };
        if let Some(name) = param("name") {
            match param("filename") {
                Some(file) if !file.is_empty() => {
                    f.files.insert(name, (file, content.to_vec()));
                }
                Some(_) => {} // a file input with no file chosen
                None => f.push(name, String::from_utf8_lossy(content).into_owned()),
            }
        }
        pos = content_end + next_delim.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded_fields() {
        let f = urlencoded(b"title=Log4Shell+in+pumps&tlp=green&affects=pkg%3Anpm%2Fx%40%3C1%0D%0Apkg%3Anpm%2Fy");
        assert_eq!(f.get("title"), "Log4Shell in pumps");
        assert_eq!(f.lines("affects"), vec!["pkg:npm/x@<1", "pkg:npm/y"]);
        assert_eq!(f.get("missing"), "");
        assert_eq!(f.opt("missing"), None);
    }

    #[test]
    fn multipart_fields_and_files() {
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n--XX\r\nContent-Disposition: form-data; name=\"sbom\"; filename=\"bom.json\"\r\nContent-Type: application/json\r\n\r\n{\"a\":\r\n1}\r\n--XX\r\nContent-Disposition: form-data; name=\"empty\"; filename=\"\"\r\n\r\n\r\n--XX--\r\n";
        let f = Form::parse("multipart/form-data; boundary=XX", body).unwrap();
        assert_eq!(f.get("csrf"), "abc");
        let (name, bytes) = &f.files["sbom"];
        assert_eq!(name, "bom.json");
        assert_eq!(bytes, b"{\"a\":\r\n1}");
        assert!(!f.files.contains_key("empty"));
    }
}
