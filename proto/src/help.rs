//! Requests for help (§4.4): a member asks, helpers answer in a thread, the asker resolves. Each
//! step is a `Resource` item whose first link is [`HELP_LINK`] and whose body is [`BODY_PREFIX`]
//! followed by the base64 (RFC 4648, padded) of the postcard encoding of a [`HelpDoc`]. The
//! item's label and recipients decide who reads it (the daemon addresses a request to a
//! supply-chain channel's admins, or to the members of a sector group who offered help on its
//! topic; answers and the resolution to the asker and the helpers the request addressed).

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::error::ProtoError;
use crate::ids::ItemId;
use crate::items::Resource;
use crate::resource::Topic;

/// The first link of a help item.
pub const HELP_LINK: &str = "trellis:help/v1";
/// What a help item's body starts with.
pub const BODY_PREFIX: &str = "trellis-help1:";
/// Longest text of a request or an answer.
pub const MAX_HELP_TEXT: usize = 16 * 1024;

/// One step of a help thread.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HelpDoc {
    /// "We need help with this."
    Request { topic: Topic, text: String },
    /// A reply in the thread of `request`.
    Answer { request: ItemId, text: String },
    /// The asker marks `request` resolved (only the asker's counts).
    Resolve { request: ItemId },
    /// "We offer help on these topics in this group" (`on: false`: no longer). GREEN to the group.
    Helper { topics: Vec<Topic>, on: bool },
}

impl HelpDoc {
    fn check(&self) -> Result<(), ProtoError> {
        match self {
            HelpDoc::Request { text, .. } | HelpDoc::Answer { text, .. } => {
                if text.trim().is_empty() {
                    return Err(ProtoError::Invalid("the text is empty".into()));
                }
                if text.len() > MAX_HELP_TEXT {
                    return Err(ProtoError::FieldTooLong { field: "help text", max: MAX_HELP_TEXT });
                }
            }
            HelpDoc::Helper { topics, .. } => {
                if topics.len() > Topic::ALL.len() {
                    return Err(ProtoError::FieldTooLong { field: "helper topics", max: Topic::ALL.len() });
                }
            }
            HelpDoc::Resolve { .. } => {}
        }
        Ok(())
    }

    /// The `Resource` item carrying this step; `title` is a one-line label for nodes that show
    /// resources without knowing help threads.
    pub fn to_item(&self, title: &str) -> Result<Resource, ProtoError> {
        self.check()?;
        Ok(Resource {
            title: title.to_string(),
            body: format!("{BODY_PREFIX}{}", data_encoding::BASE64.encode(&codec::encode(self))),
            links: vec![HELP_LINK.to_string()],
        })
    }

    /// The step in a `Resource` item, if it is one; a malformed one is an error.
    pub fn from_item(r: &Resource) -> Option<Result<HelpDoc, ProtoError>> {
        if r.links.first().map(String::as_str) != Some(HELP_LINK) {
            return None;
        }
        Some((|| {
            let b64 = r
                .body
                .strip_prefix(BODY_PREFIX)
                .ok_or_else(|| ProtoError::Invalid("a help body must start with trellis-help1:".into()))?;
            let bytes = data_encoding::BASE64
                .decode(b64.as_bytes())
                .map_err(|e| ProtoError::BadText { what: "help body", why: e.to_string() })?;
            let doc: HelpDoc = codec::decode(&bytes, crate::limits::MAX_TEXT)?;
            doc.check()?;
            Ok(doc)
        })())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        for d in [
            HelpDoc::Request { topic: Topic::Backups, text: "How do we test restores?".into() },
            HelpDoc::Answer { request: ItemId([1; 32]), text: "Monthly, one file.".into() },
            HelpDoc::Resolve { request: ItemId([1; 32]) },
            HelpDoc::Helper { topics: vec![Topic::Backups], on: true },
        ] {
            let item = d.to_item("t").unwrap();
            assert_eq!(HelpDoc::from_item(&item).unwrap().unwrap(), d);
        }
        assert!(HelpDoc::Request { topic: Topic::Backups, text: " ".into() }.to_item("t").is_err());
        let big = HelpDoc::Answer { request: ItemId([1; 32]), text: "x".repeat(MAX_HELP_TEXT + 1) };
        assert!(big.to_item("t").is_err());
        let other = Resource { title: "t".into(), body: "b".into(), links: vec!["trellis:resource/v1".into()] };
        assert!(HelpDoc::from_item(&other).is_none());
        let mut bad = HelpDoc::Resolve { request: ItemId([1; 32]) }.to_item("t").unwrap();
        bad.body.truncate(bad.body.len() - 4);
        assert!(HelpDoc::from_item(&bad).unwrap().is_err());
    }
}
