//! The CSAF provider layout, read as hostile input: `provider-metadata.json`, its ROLIE feeds
//! or its directory with `changes.csv`, each document's `.sha512` and its OpenPGP signature
//! (`.asc`) checked against the provider's public keys. Pure functions, no I/O; the run that
//! fetches is `super::run`.

use serde_json::Value;

/// Bounds on what a provider can make the node read.
pub const MAX_METADATA_BYTES: usize = 1024 * 1024;
pub const MAX_FEED_BYTES: usize = 32 * 1024 * 1024;
pub const MAX_KEY_BYTES: usize = 256 * 1024;
pub const MAX_SIGNATURE_BYTES: usize = 64 * 1024;
pub const MAX_HASH_BYTES: usize = 4 * 1024;
/// At most this many documents are looked at per run; the rest wait for the next run.
pub const MAX_DOCUMENTS_PER_RUN: usize = 5_000;

/// The parts of `provider-metadata.json` a feed follows.
#[derive(Debug, PartialEq, Eq)]
pub struct Provider {
    pub publisher: String,
    /// ROLIE feeds: (URL, TLP label as the metadata gives it).
    pub rolie: Vec<(String, Option<String>)>,
    /// Directory distributions (base URLs, `changes.csv` inside).
    pub directories: Vec<String>,
    /// `public_openpgp_keys`: (fingerprint, URL).
    pub keys: Vec<(String, String)>,
}

/// One document a feed lists: where it is, when it last changed, and where its hash and
/// signature are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub url: String,
    pub updated: String,
    pub hash_url: String,
    pub signature_url: String,
    /// The TLP label of the feed or directory it was listed in.
    pub tlp: Option<String>,
}

fn https(u: &str) -> bool {
    u.starts_with("https://") && u.len() <= 2048 && !u.contains(char::is_whitespace)
}

/// The URL of `provider-metadata.json` for a source as a user gives it: that URL itself, or a
/// domain (`psirt.example.com`, `https://psirt.example.com`) whose `/.well-known/csaf/` holds it.
pub fn metadata_url(source: &str) -> Result<String, String> {
    let s = source.trim();
    if s.starts_with("http://") {
        return Err(format!("{s}: CSAF providers are fetched over https only"));
    }
    let with_scheme = if s.starts_with("https://") { s.to_string() } else { format!("https://{s}") };
    if !https(&with_scheme) {
        return Err(format!("{s:?} is not a URL or a domain"));
    }
    if with_scheme.ends_with(".json") {
        return Ok(with_scheme);
    }
    Ok(format!("{}/.well-known/csaf/provider-metadata.json", with_scheme.trim_end_matches('/')))
}

/// Read `provider-metadata.json`.
pub fn parse_metadata(bytes: &[u8]) -> Result<Provider, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("provider-metadata.json is not JSON: {e}"))?;
    let publisher = v.pointer("/publisher/name").and_then(Value::as_str).unwrap_or("").chars().take(200).collect();
    let mut rolie = Vec::new();
    let mut directories = Vec::new();
    let dists =
        v.get("distributions").and_then(Value::as_array).ok_or("provider-metadata.json has no distributions")?;
    for d in dists.iter().take(64) {
        if let Some(feeds) = d.pointer("/rolie/feeds").and_then(Value::as_array) {
            for f in feeds.iter().take(64) {
                if let Some(u) = f.get("url").and_then(Value::as_str).filter(|u| https(u)) {
                    let tlp = f.get("tlp_label").and_then(Value::as_str).map(|t| t.chars().take(32).collect());
                    rolie.push((u.to_string(), tlp));
                }
            }
        }
        if let Some(u) = d.get("directory_url").and_then(Value::as_str).filter(|u| https(u)) {
            directories.push(u.trim_end_matches('/').to_string());
        }
    }
    if rolie.is_empty() && directories.is_empty() {
        return Err("provider-metadata.json names no https ROLIE feed and no https directory".into());
    }
    let keys = v
        .get("public_openpgp_keys")
        .and_then(Value::as_array)
        .map(|ks| {
            ks.iter()
                .take(16)
                .filter_map(|k| {
                    let fpr = normalize_fingerprint(k.get("fingerprint")?.as_str()?)?;
                    let url = k.get("url")?.as_str().filter(|u| https(u))?;
                    Some((fpr, url.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Provider { publisher, rolie, directories, keys })
}

/// A fingerprint as upper-case hex without spaces, or None if it is not hex of 40 or 64 digits.
pub fn normalize_fingerprint(f: &str) -> Option<String> {
    let h: String = f.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
    (matches!(h.len(), 40 | 64) && h.bytes().all(|b| b.is_ascii_hexdigit())).then_some(h)
}

/// `url` with `suffix` added, unless the entry names its own.
fn with_suffix(url: &str, suffix: &str) -> String {
    format!("{url}{suffix}")
}

/// The documents a ROLIE feed lists.
pub fn parse_rolie(bytes: &[u8], tlp: Option<&str>) -> Result<Vec<Entry>, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("the ROLIE feed is not JSON: {e}"))?;
    let entries = v.pointer("/feed/entry").and_then(Value::as_array).ok_or("the ROLIE feed has no /feed/entry list")?;
    let mut out = Vec::new();
    for e in entries.iter().take(MAX_DOCUMENTS_PER_RUN) {
        let links = e.get("link").and_then(Value::as_array).cloned().unwrap_or_default();
        let link = |rel: &str| {
            links.iter().find_map(|l| {
                (l.get("rel").and_then(Value::as_str) == Some(rel))
                    .then(|| l.get("href").and_then(Value::as_str))
                    .flatten()
                    .filter(|u| https(u))
                    .map(String::from)
            })
        };
        let Some(url) = e
            .pointer("/content/src")
            .and_then(Value::as_str)
            .filter(|u| https(u))
            .map(String::from)
            .or_else(|| link("self"))
        else {
            continue;
        };
        let updated = e.get("updated").and_then(Value::as_str).unwrap_or("").chars().take(64).collect();
        let hash_url = link("hash").filter(|h| h.ends_with(".sha512")).unwrap_or_else(|| with_suffix(&url, ".sha512"));
        let signature_url = link("signature").unwrap_or_else(|| with_suffix(&url, ".asc"));
        out.push(Entry { url, updated, hash_url, signature_url, tlp: tlp.map(String::from) });
    }
    Ok(out)
}

/// The documents a directory's `changes.csv` lists (`"path","time"` per line).
pub fn parse_changes(base: &str, text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    for line in text.lines().take(MAX_DOCUMENTS_PER_RUN) {
        let mut cols = line.split(',').map(|c| c.trim().trim_matches('"'));
        let (Some(path), Some(time)) = (cols.next(), cols.next()) else { continue };
        // Only paths inside the directory: no scheme, no parent steps, no absolute path.
        if path.is_empty()
            || path.contains("..")
            || path.starts_with('/')
            || path.contains("://")
            || !path.ends_with(".json")
        {
            continue;
        }
        let url = format!("{base}/{path}");
        if !https(&url) {
            continue;
        }
        out.push(Entry {
            hash_url: with_suffix(&url, ".sha512"),
            signature_url: with_suffix(&url, ".asc"),
            url,
            updated: time.chars().take(64).collect(),
            tlp: None,
        });
    }
    out
}

/// Check a `.sha512` file (`HEX` or `HEX  name`) against `doc`.
pub fn check_sha512(doc: &[u8], file: &[u8]) -> Result<(), String> {
    use sha2::Digest;
    let text = std::str::from_utf8(file).map_err(|_| "the .sha512 file is not text".to_string())?;
    let stated = text.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
    if stated.len() != 128 || !stated.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("the .sha512 file holds no SHA-512 hash".into());
    }
    let actual = data_encoding::HEXLOWER.encode(&sha2::Sha512::digest(doc));
    if actual != stated {
        return Err(format!(
            "SHA-512 mismatch: the .sha512 file says {}…, the document hashes to {}…",
            &stated[..16],
            &actual[..16]
        ));
    }
    Ok(())
}

/// A provider's public key, parsed and with its self-signatures checked.
#[derive(Debug, Clone)]
pub struct ProviderKey {
    pub fingerprint: String,
    key: pgp::composed::SignedPublicKey,
}

/// Parse an armored (or binary) OpenPGP public key and check it is the one `fingerprint` names.
pub fn parse_key(bytes: &[u8], fingerprint: &str) -> Result<ProviderKey, String> {
    use pgp::composed::Deserializable;
    use pgp::types::KeyDetails;
    let key = match std::str::from_utf8(bytes) {
        Ok(text) if text.contains("-----BEGIN PGP") => {
            pgp::composed::SignedPublicKey::from_string(text).map(|(k, _)| k)
        }
        _ => pgp::composed::SignedPublicKey::from_bytes(bytes),
    }
    .map_err(|e| format!("not an OpenPGP public key: {e}"))?;
    key.verify_bindings().map_err(|e| format!("the key's self-signatures do not verify: {e}"))?;
    let actual = normalize_fingerprint(&hex(key.fingerprint().as_bytes())).unwrap_or_default();
    if actual != fingerprint {
        return Err(format!(
            "the key at this URL has fingerprint {actual}, not the {fingerprint} provider-metadata.json names"
        ));
    }
    Ok(ProviderKey { fingerprint: actual, key })
}

fn hex(b: &[u8]) -> String {
    data_encoding::HEXUPPER.encode(b)
}

/// Verify a detached signature (`.asc`, armored) over `doc` by one of `keys` (primary key or a
/// subkey). Returns the fingerprint of the key that verified it.
pub fn verify_signature(doc: &[u8], asc: &[u8], keys: &[ProviderKey]) -> Result<String, String> {
    use pgp::composed::{Deserializable, DetachedSignature};
    let text = std::str::from_utf8(asc).map_err(|_| "the .asc file is not text".to_string())?;
    let (sig, _) =
        DetachedSignature::from_string(text).map_err(|e| format!("the .asc file is not an OpenPGP signature: {e}"))?;
    for k in keys {
        if sig.verify(&k.key, doc).is_ok() {
            return Ok(k.fingerprint.clone());
        }
        if k.key.public_subkeys.iter().any(|sub| sig.verify(sub, doc).is_ok()) {
            return Ok(k.fingerprint.clone());
        }
    }
    Err(format!(
        "the OpenPGP signature does not verify against the provider's key{} ({})",
        if keys.len() == 1 { "" } else { "s" },
        keys.iter().map(|k| k.fingerprint.as_str()).collect::<Vec<_>>().join(", ")
    ))
}

/// The label a document from this feed travels under: the stricter of the feed's label and the
/// document's own (`WHITE` is TLP 1.0's CLEAR); never looser.
pub fn label(feed: Option<&str>, document: Option<trellis_proto::Tlp>) -> Result<trellis_proto::Tlp, String> {
    use trellis_proto::Tlp;
    let from_feed = match feed.map(|t| t.trim().to_ascii_uppercase()) {
        None => Tlp::Clear,
        Some(t) => match t.trim_start_matches("TLP:") {
            "WHITE" | "CLEAR" => Tlp::Clear,
            "GREEN" => Tlp::Green,
            "AMBER" => Tlp::Amber,
            "AMBER+STRICT" => Tlp::AmberStrict,
            "RED" => Tlp::Red,
            // An unknown label is treated as the strictest a feed may carry here.
            other => return Err(format!("the feed's TLP label {other:?} is not one Trellis knows")),
        },
    };
    Ok(from_feed.max(document.unwrap_or(Tlp::Clear)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls() {
        assert_eq!(
            metadata_url("psirt.example.com").unwrap(),
            "https://psirt.example.com/.well-known/csaf/provider-metadata.json"
        );
        assert_eq!(
            metadata_url("https://x.org/a/provider-metadata.json").unwrap(),
            "https://x.org/a/provider-metadata.json"
        );
        assert!(metadata_url("http://x.org").is_err());
        assert!(metadata_url("a b").is_err());
    }

    #[test]
    fn changes_csv_stays_inside_the_directory() {
        let e = parse_changes(
            "https://p.example/csaf",
            "\"2024/a.json\",\"2024-01-01T00:00:00Z\"\n\"../x.json\",\"t\"\n\"/etc/passwd.json\",\"t\"\n\"https://evil/x.json\",\"t\"\nbad",
        );
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].url, "https://p.example/csaf/2024/a.json");
        assert_eq!(e[0].signature_url, "https://p.example/csaf/2024/a.json.asc");
    }

    #[test]
    fn sha512_files() {
        let doc = b"hello";
        use sha2::Digest;
        let h = data_encoding::HEXLOWER.encode(&sha2::Sha512::digest(doc));
        assert!(check_sha512(doc, format!("{h}  a.json\n").as_bytes()).is_ok());
        assert!(check_sha512(b"other", h.as_bytes()).unwrap_err().contains("mismatch"));
        assert!(check_sha512(doc, b"zz").is_err());
    }

    #[test]
    fn labels_never_loosen() {
        use trellis_proto::Tlp;
        assert_eq!(label(Some("WHITE"), None).unwrap(), Tlp::Clear);
        assert_eq!(label(Some("WHITE"), Some(Tlp::Green)).unwrap(), Tlp::Green);
        assert_eq!(label(Some("GREEN"), Some(Tlp::Clear)).unwrap(), Tlp::Green);
        assert!(label(Some("PURPLE"), None).is_err());
    }
}
