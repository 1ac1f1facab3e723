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

/// Serde for `Vec<u8>` fields as one byte string instead of a sequence of `u8` values.
///
/// The postcard encoding is the same (a varint length, then the bytes), so the wire format
/// (§3.2) does not change; decoding copies the bytes in one go instead of visiting each one,
/// which matters for ciphertexts and payloads of several KiB. Other formats (JSON) still
/// accept a sequence of numbers.
pub mod bytes {
    use serde::de::{Deserializer, SeqAccess, Visitor};
    use serde::ser::Serializer;

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_byte_buf(BytesVisitor)
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("a byte string")
        }

        fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            // The size hint comes from the input: cap the preallocation.
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }

    /// The same for `Option<Vec<u8>>`.
    pub mod option {
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        struct Ref<'a>(&'a [u8]);

        impl Serialize for Ref<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }

        struct Owned(Vec<u8>);

        impl<'de> Deserialize<'de> for Owned {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                super::deserialize(d).map(Owned)
            }
        }

        pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
            match v {
                Some(b) => s.serialize_some(&Ref(b)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
            Ok(Option::<Owned>::deserialize(d)?.map(|w| w.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Plain {
        a: Vec<u8>,
        b: Option<Vec<u8>>,
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct AsBytes {
        #[serde(with = "super::bytes")]
        a: Vec<u8>,
        #[serde(with = "super::bytes::option")]
        b: Option<Vec<u8>>,
    }

    /// The byte-string form must not change the wire format: same bytes as a sequence of `u8`,
    /// and each decodes the other's encoding.
    #[test]
    fn bytes_encoding_is_the_sequence_encoding() {
        for len in [0usize, 1, 127, 128, 300, 16_384, 70_000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            for b in [None, Some(vec![]), Some(data.clone())] {
                let plain = Plain { a: data.clone(), b: b.clone() };
                let fast = AsBytes { a: data.clone(), b };
                let pe = super::encode(&plain);
                assert_eq!(pe, super::encode(&fast), "len {len}");
                let back: AsBytes = super::decode(&pe, usize::MAX).unwrap();
                assert_eq!(back.a, plain.a);
                assert_eq!(back.b, plain.b);
            }
        }
        // A length prefix longer than the input is an error, not an allocation.
        let mut bad = super::encode(&AsBytes { a: vec![1; 10], b: None });
        bad[0] = 0xff;
        bad[1] = 0xff;
        assert!(super::decode::<AsBytes>(&bad, usize::MAX).is_err());
        // JSON (used by the API for some of these types) still reads arrays of numbers.
        let json = serde_json::to_string(&Plain { a: vec![1, 2, 3], b: Some(vec![4]) }).unwrap();
        let back: AsBytes = serde_json::from_str(&json).unwrap();
        assert_eq!((back.a, back.b), (vec![1, 2, 3], Some(vec![4])));
    }
}
