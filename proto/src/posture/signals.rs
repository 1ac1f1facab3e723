//! Two posture signals carried inside existing item kinds, so the wire format (§4) does not
//! change and older nodes store and relay them as ordinary items:
//!
//! - a **co-signature**: an auditor confirms specific indicators of another organization's
//!   attestation. It is an [`Endorsement`] of kind `Confirm` of the attestation's item id whose
//!   comment starts with [`COSIGN_TAG`] followed by the indicator names.
//! - a **posture request**: a customer asks its channel for current attestations. It is a
//!   [`Resource`] whose first link is [`REQUEST_LINK`].

use crate::ids::ItemId;
use crate::items::{Endorsement, EndorsementKind, Indicator, Resource};

use super::parse_indicator;

/// First line of a co-signature's comment, before the space-separated indicator names.
pub const COSIGN_TAG: &str = "trellis-cosign/v1:";

/// The marker link of a posture request.
pub const REQUEST_LINK: &str = "trellis:posture-request/v1";

/// An auditor's confirmation of some indicators of one attestation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoSignature {
    pub attestation: ItemId,
    pub indicators: Vec<Indicator>,
    pub note: Option<String>,
}

impl CoSignature {
    /// The endorsement that carries it.
    pub fn to_endorsement(&self) -> Endorsement {
        let names: Vec<&str> = self.indicators.iter().map(|i| i.as_str()).collect();
        let mut comment = format!("{COSIGN_TAG} {}", names.join(" "));
        if let Some(n) = self.note.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            comment.push('\n');
            comment.push_str(n);
        }
        Endorsement { item: self.attestation, kind: EndorsementKind::Confirm, comment: Some(comment) }
    }

    /// The co-signature an endorsement carries, if it is one. Unknown indicator names (from a
    /// newer vocabulary) are skipped; a co-signature of no known indicator is none.
    pub fn from_endorsement(e: &Endorsement) -> Option<CoSignature> {
        if e.kind != EndorsementKind::Confirm {
            return None;
        }
        let comment = e.comment.as_deref()?;
        let (first, note) = comment.split_once('\n').unwrap_or((comment, ""));
        let names = first.strip_prefix(COSIGN_TAG)?;
        let indicators: Vec<Indicator> = names.split_whitespace().filter_map(parse_indicator).collect();
        if indicators.is_empty() {
            return None;
        }
        let note = Some(note.trim().to_string()).filter(|n| !n.is_empty());
        Some(CoSignature { attestation: e.item, indicators, note })
    }
}

/// A posture request with an optional message.
pub fn posture_request(message: Option<&str>) -> Resource {
    Resource {
        title: "Posture request".into(),
        body: message.map(str::trim).unwrap_or("Please publish your current posture attestation.").to_string(),
        links: vec![REQUEST_LINK.into()],
    }
}

/// Whether a resource is a posture request.
pub fn is_posture_request(r: &Resource) -> bool {
    r.links.first().is_some_and(|l| l == REQUEST_LINK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosignatures_round_trip_and_plain_endorsements_are_not_ones() {
        let c = CoSignature {
            attestation: ItemId([7; 32]),
            indicators: vec![Indicator::Mfa, Indicator::SbomPerRelease],
            note: Some("audited 2025-03".into()),
        };
        let e = c.to_endorsement();
        assert_eq!(CoSignature::from_endorsement(&e), Some(c));
        let plain =
            Endorsement { item: ItemId([7; 32]), kind: EndorsementKind::Confirm, comment: Some("agree".into()) };
        assert_eq!(CoSignature::from_endorsement(&plain), None);
        let dispute = Endorsement { kind: EndorsementKind::Dispute, ..e };
        assert_eq!(CoSignature::from_endorsement(&dispute), None);
    }

    #[test]
    fn requests_are_recognised_by_their_link() {
        assert!(is_posture_request(&posture_request(None)));
        assert!(!is_posture_request(&Resource { title: "Posture request".into(), body: String::new(), links: vec![] }));
    }
}
