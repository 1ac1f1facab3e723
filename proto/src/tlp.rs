//! TLP 2.0 labels (§5). The label travels inside the signed header, so nobody downstream can
//! lower it; the body form it requires is what makes it enforceable (who can decrypt).

use serde::{Deserialize, Serialize};

/// The five labels of TLP 2.0 (FIRST, 2022), ordered from least to most restrictive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tlp {
    /// Anyone may read and re-share.
    Clear,
    /// Members of the group (the community) may read.
    Green,
    /// Named recipient organizations, for their internal use.
    Amber,
    /// Named recipient organizations only, no further sharing at all.
    AmberStrict,
    /// Named recipients only, for their eyes, delivered directly and never stored by relays.
    Red,
}

impl Tlp {
    /// All labels, in order of restriction.
    pub const ALL: [Tlp; 5] = [Tlp::Clear, Tlp::Green, Tlp::Amber, Tlp::AmberStrict, Tlp::Red];

    /// The label as TLP 2.0 writes it, e.g. `TLP:AMBER+STRICT`.
    pub fn label(self) -> &'static str {
        match self {
            Tlp::Clear => "TLP:CLEAR",
            Tlp::Green => "TLP:GREEN",
            Tlp::Amber => "TLP:AMBER",
            Tlp::AmberStrict => "TLP:AMBER+STRICT",
            Tlp::Red => "TLP:RED",
        }
    }

    /// The lower-case word used on the command line and in JSON: `clear`, `green`, `amber`,
    /// `amber+strict`, `red`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "clear",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "amber+strict",
            Tlp::Red => "red",
        }
    }

    /// Whether this label names its readers (AMBER, AMBER+STRICT, RED): such items need at least
    /// one recipient and are encrypted to each recipient's key (§5.2).
    pub fn needs_recipients(self) -> bool {
        matches!(self, Tlp::Amber | Tlp::AmberStrict | Tlp::Red)
    }

    /// Whether a node may export the item to outside formats or public feeds (§5.3).
    pub fn exportable(self) -> bool {
        matches!(self, Tlp::Clear)
    }

    /// What a receiving node may do to pass an item of this label on (§5.3). This is the one
    /// place the policy is decided; the daemon's `advisory reshare` follows it.
    pub fn reshare(self) -> Reshare {
        match self {
            Tlp::Clear => Reshare::Anywhere,
            Tlp::Green => Reshare::Refused(
                "TLP:GREEN may be shared within the community it was given to (its group) but not beyond; \
                 ask the publisher to share it wider",
            ),
            Tlp::Amber => Reshare::NamedOrgsLogged,
            Tlp::AmberStrict => Reshare::Refused(
                "TLP:AMBER+STRICT restricts sharing to the recipient organization only: it cannot be re-shared",
            ),
            Tlp::Red => {
                Reshare::Refused("TLP:RED is for the eyes of the named recipients only: it cannot be re-shared")
            }
        }
    }

    /// Whether an item of this label may be re-shared outside the group it came in: CLEAR
    /// anywhere, AMBER to named organizations with a logged step; GREEN, AMBER+STRICT and RED
    /// never (§5.3).
    pub fn reshareable(self) -> bool {
        !matches!(self.reshare(), Reshare::Refused(_))
    }
}

/// The re-share rule of a label (§5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reshare {
    /// CLEAR: anywhere, no record needed.
    Anywhere,
    /// AMBER: only to named organizations that need to know, by an explicit step the node
    /// records in its audit log.
    NamedOrgsLogged,
    /// Never, with the reason to show.
    Refused(&'static str),
}

impl std::fmt::Display for Tlp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for an unknown TLP word.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown TLP label {0:?}: use one of clear, green, amber, amber+strict, red")]
pub struct UnknownTlp(pub String);

impl std::str::FromStr for Tlp {
    type Err = UnknownTlp;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        let t = t.strip_prefix("tlp:").unwrap_or(&t);
        Ok(match t {
            "clear" | "white" => Tlp::Clear,
            "green" => Tlp::Green,
            "amber" => Tlp::Amber,
            "amber+strict" | "amber-strict" | "amber_strict" => Tlp::AmberStrict,
            "red" => Tlp::Red,
            _ => return Err(UnknownTlp(s.to_string())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trip() {
        for t in Tlp::ALL {
            assert_eq!(t.as_str().parse::<Tlp>().unwrap(), t);
            assert_eq!(t.label().parse::<Tlp>().unwrap(), t);
        }
        assert!("purple".parse::<Tlp>().is_err());
        assert!(Tlp::Clear < Tlp::Red);
        for (word, t) in
            [("GREEN", Tlp::Green), ("TLP:AMBER", Tlp::Amber), ("white", Tlp::Clear), (" tlp:Red ", Tlp::Red)]
        {
            assert_eq!(word.parse::<Tlp>().unwrap(), t, "{word}");
        }
    }

    #[test]
    fn only_clear_and_amber_are_reshared() {
        let allowed: Vec<Tlp> = Tlp::ALL.into_iter().filter(|t| t.reshareable()).collect();
        assert_eq!(allowed, vec![Tlp::Clear, Tlp::Amber]);
        assert_eq!(Tlp::Amber.reshare(), Reshare::NamedOrgsLogged);
        assert!(matches!(Tlp::Green.reshare(), Reshare::Refused(why) if why.contains("not beyond")));
    }
}
