//! Canonical binary encoding (§3.2) and the text forms of ids and tokens (§2.3).
//!
//! Binary: postcard 1.x, default features off. Decoding always uses `take_from_bytes` and then
//! rejects any trailing byte, so one value has exactly one accepted encoding length, and the
//! input length is checked against a limit before anything is decoded.

use serde::{Serialize, de::DeserializeOwned};

use crate::error::ProtoError;

/// Encode a value canonically.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // postcard only fails on serializer errors that our types cannot produce (no maps with
    // non-string keys, no unsized sequences); an empty vector would then fail every decode.
    postcard::to_allocvec(value).unwrap_or_default()
}

/// Decode exactly one value from `bytes`, which must be at most `max` long and have no
/// trailing bytes.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], max: usize) -> Result<T, ProtoError> {
    if bytes.len() > max {
        return Err(ProtoError::Oversize { len: bytes.len(), max });
    }
    let (value, rest) = postcard::take_from_bytes::<T>(bytes).map_err(|e| ProtoError::Decode(e.to_string()))?;
    if !rest.is_empty() {
        return Err(ProtoError::TrailingBytes(rest.len()));
    }
    Ok(value)
}

/// Lower-case RFC 4648 base32 without padding: the text form of 32-byte ids.
pub fn base32(bytes: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(bytes).to_ascii_lowercase()
}

/// Parse lower- or upper-case unpadded base32.
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    data_encoding::BASE32_NOPAD.decode(text.trim().to_ascii_uppercase().as_bytes()).ok()
}

/// URL-safe base64 without padding: the body of cards and tokens.
pub fn base64url(bytes: &[u8]) -> String {
    data_encoding::BASE64URL_NOPAD.encode(bytes)
}

/// Parse URL-safe unpadded base64.
pub fn from_base64url(text: &str) -> Option<Vec<u8>> {
    data_encoding::BASE64URL_NOPAD.decode(text.trim().as_bytes()).ok()
}

/// Wrap a postcard-encoded value into a prefixed text token: `PREFIX` + base64url.
pub fn to_token<T: Serialize>(prefix: &str, value: &T) -> String {
    format!("{prefix}{}", base64url(&encode(value)))
}

/// Parse a text token made by [`to_token`]. `what` names the token in errors.
pub fn from_token<T: DeserializeOwned>(prefix: &str, text: &str, what: &'static str) -> Result<T, ProtoError> {
    let text = text.trim();
    if text.len() > crate::limits::MAX_TOKEN_CHARS {
        return Err(ProtoError::BadText {
            what,
            why: format!("longer than {} characters", crate::limits::MAX_TOKEN_CHARS),
        });
    }
    let body = text
        .strip_prefix(prefix)
        .ok_or_else(|| ProtoError::BadText { what, why: format!("it must start with {prefix:?}") })?;
    let bytes = from_base64url(body).ok_or_else(|| ProtoError::BadText {
        what,
        why: "the text after the prefix is not valid base64url (was it cut off when copied?)".into(),
    })?;
    decode(&bytes, crate::limits::MAX_TOKEN_CHARS)
        .map_err(|e| ProtoError::BadText { what, why: format!("it does not decode: {e}") })
}
