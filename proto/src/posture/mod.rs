//! Posture attestations in plain language (§4.2): the baseline indicators explained for a person
//! with no security training, the editable document a supplier fills in, and the pure checks a
//! receiver applies — validation, expiry at a given time, what changed between two attestations
//! ([`check`]), RFC 9116 security.txt ([`security_txt`]), and provider concentration with a
//! k-anonymity threshold ([`concentration`]). Co-signatures and posture requests travel inside
//! existing item kinds ([`signals`]), so the wire format does not change.
//!
//! Like the rest of the crate this module owns no clock: every time is an argument.

pub mod check;
pub mod concentration;
pub mod document;
pub mod security_txt;
pub mod signals;

use crate::items::{Indicator, IndicatorValue};

pub use check::{ClaimChange, PostureDiff, PostureProblem, diff, expired_indicators, validate};
pub use concentration::{CONCENTRATION_THRESHOLD, Concentration, concentration, dependency_named_by};
pub use document::{ClaimDocument, DependencyDocument, PostureDocument};

/// Default lifetime of an answer: a year, after which a customer should ask again.
pub const DEFAULT_VALIDITY_DAYS: u64 = 365;

/// What kind of answer an indicator takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerKind {
    /// yes or no.
    YesNo,
    /// A whole number in `unit`.
    Number { unit: &'static str },
    /// Where to reach someone (an e-mail address or a URL); yes/no also accepted.
    Contact,
}

/// One baseline indicator explained in plain language.
#[derive(Clone, Copy, Debug)]
pub struct IndicatorGuide {
    pub indicator: Indicator,
    /// A short title.
    pub title: &'static str,
    /// The question asked.
    pub question: &'static str,
    /// What it means, without jargon.
    pub meaning: &'static str,
    /// Why a customer asks.
    pub why: &'static str,
    /// An example answer.
    pub example: &'static str,
    pub answer: AnswerKind,
}

/// The baseline, in [`Indicator::ALL`] order.
pub const GUIDES: [IndicatorGuide; 11] = [
    IndicatorGuide {
        indicator: Indicator::SecurityContact,
        title: "Security contact",
        question: "Where should someone write to report a security problem to you?",
        meaning: "A mailbox or web form that a named person reads, just for security reports.",
        why: "When a customer or a researcher finds a problem in what you sell, they need to reach someone fast.",
        example: "security@example.com",
        answer: AnswerKind::Contact,
    },
    IndicatorGuide {
        indicator: Indicator::DisclosurePolicy,
        title: "Disclosure policy",
        question: "Do you publish how you handle security reports (what you do, how fast, no legal threats)?",
        meaning: "A public page saying how you deal with people who report problems to you.",
        why: "Reporters and customers know what to expect, and problems get reported instead of sold or ignored.",
        example: "yes",
        answer: AnswerKind::YesNo,
    },
    IndicatorGuide {
        indicator: Indicator::MachineReadableAdvisories,
        title: "Machine-readable advisories",
        question: "When you fix a security problem, do you publish a notice in a standard format (CSAF or OSV)?",
        meaning: "Your security notices can be read by your customers' tools, not only by people.",
        why: "Customers with hundreds of suppliers can only keep up if their tools read the notices.",
        example: "no",
        answer: AnswerKind::YesNo,
    },
    IndicatorGuide {
        indicator: Indicator::SbomPerRelease,
        title: "Software bill of materials",
        question: "Do you produce a list of the components inside each release (an SBOM)?",
        meaning: "For every version you ship, a file listing the libraries and parts it contains.",
        why: "When a component has a flaw (like Log4Shell), customers can tell in minutes whether you are affected.",
        example: "yes",
        answer: AnswerKind::YesNo,
    },
    IndicatorGuide {
        indicator: Indicator::BuildProvenance,
        title: "Build provenance",
        question: "Can you show where and how each release was built (a signed build record)?",
        meaning: "A record, made by your build system, of which source code produced which file.",
        why: "It shows the file customers install is the one your team built, not one an attacker swapped in.",
        example: "no",
        answer: AnswerKind::YesNo,
    },
    IndicatorGuide {
        indicator: Indicator::SignedReleases,
        title: "Signed releases",
        question: "Are the files you ship digitally signed?",
        meaning: "Each download or update carries a signature customers can check before installing.",
        why: "A signature stops a tampered update from being installed silently.",
        example: "yes",
        answer: AnswerKind::YesNo,
    },
    IndicatorGuide {
        indicator: Indicator::Mfa,
        title: "Multi-factor sign-in",
        question: "Does everyone need a second factor (app, key, code) to sign in to e-mail and admin tools?",
        meaning: "A stolen password alone is not enough to get into your accounts.",
        why: "Most break-ins at small suppliers start with one stolen password.",
        example: "yes",
        answer: AnswerKind::YesNo,
    },
    IndicatorGuide {
        indicator: Indicator::DependencyScanning,
        title: "Dependency scanning",
        question: "Does a tool check the components you use for known security flaws, automatically?",
        meaning: "Something warns you when a library in your product has a published vulnerability.",
        why: "Known flaws in components are the most common way products get attacked.",
        example: "yes",
        answer: AnswerKind::YesNo,
    },
    IndicatorGuide {
        indicator: Indicator::CriticalRemediationDays,
        title: "Time to fix critical flaws",
        question: "How many days, at most, do you take to fix a critical security flaw in your product?",
        meaning: "Your target from learning about a serious flaw to shipping the fix.",
        why: "Customers plan around it: the shorter, the less time they are exposed.",
        example: "30",
        answer: AnswerKind::Number { unit: "days" },
    },
    IndicatorGuide {
        indicator: Indicator::BreachNotificationHours,
        title: "Breach notification",
        question: "Within how many hours do you tell customers after you discover a breach that affects them?",
        meaning: "How soon customers hear from you if attackers got into something of theirs.",
        why: "Customers often must report incidents themselves within 24 to 72 hours.",
        example: "72",
        answer: AnswerKind::Number { unit: "hours" },
    },
    IndicatorGuide {
        indicator: Indicator::CodeReview,
        title: "Code review",
        question: "Does a second person review every change before it goes into your product?",
        meaning: "No single person can change what you ship without someone else looking.",
        why: "It catches mistakes and makes a single compromised account much less dangerous.",
        example: "yes",
        answer: AnswerKind::YesNo,
    },
];

/// The plain-language guide of an indicator.
pub fn guide(indicator: Indicator) -> &'static IndicatorGuide {
    // GUIDES is in Indicator::ALL order, which is the enum's declaration order.
    &GUIDES[Indicator::ALL.iter().position(|i| *i == indicator).unwrap_or(0)]
}

/// An indicator from its stable name (`mfa`, `security-contact`, …); case and `_` tolerated.
pub fn parse_indicator(s: &str) -> Option<Indicator> {
    let want = s.trim().to_ascii_lowercase().replace('_', "-");
    Indicator::ALL.into_iter().find(|i| i.as_str() == want)
}

/// Read an answer for `indicator`: `yes`/`no`, a number, or (for a contact) text.
pub fn parse_value(indicator: Indicator, text: &str) -> Result<IndicatorValue, PostureProblem> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    let yes_no = match lower.as_str() {
        "yes" | "y" | "true" => Some(IndicatorValue::Yes),
        "no" | "n" | "false" => Some(IndicatorValue::No),
        _ => None,
    };
    let wrong = |expected: &'static str| PostureProblem::WrongValue { indicator, expected, found: t.to_string() };
    match guide(indicator).answer {
        AnswerKind::YesNo => yes_no.ok_or_else(|| wrong("yes or no")),
        AnswerKind::Number { .. } => t.parse::<u32>().map(IndicatorValue::Number).map_err(|_| wrong("a whole number")),
        AnswerKind::Contact => match yes_no {
            Some(v) => Ok(v),
            None if t.is_empty() => Err(wrong("an e-mail address or a URL")),
            None => Ok(IndicatorValue::Text(t.to_string())),
        },
    }
}

/// An answer as text (the inverse of [`parse_value`]).
pub fn format_value(v: &IndicatorValue) -> String {
    match v {
        IndicatorValue::Yes => "yes".into(),
        IndicatorValue::No => "no".into(),
        IndicatorValue::Number(n) => n.to_string(),
        IndicatorValue::Text(t) => t.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_indicator_has_its_guide_in_order() {
        for (g, i) in GUIDES.iter().zip(Indicator::ALL) {
            assert_eq!(g.indicator, i);
            assert_eq!(guide(i).indicator, i);
            assert_eq!(parse_indicator(i.as_str()), Some(i));
            // The example answer is itself a valid answer.
            assert!(parse_value(i, g.example).is_ok(), "{}", i.as_str());
        }
        assert_eq!(parse_indicator("Critical_Remediation_Days"), Some(Indicator::CriticalRemediationDays));
        assert_eq!(parse_indicator("firewall"), None);
    }

    #[test]
    fn answers_are_read_by_kind() {
        assert_eq!(parse_value(Indicator::Mfa, " Yes "), Ok(IndicatorValue::Yes));
        assert!(parse_value(Indicator::Mfa, "mostly").is_err());
        assert_eq!(parse_value(Indicator::CriticalRemediationDays, "30"), Ok(IndicatorValue::Number(30)));
        assert!(parse_value(Indicator::CriticalRemediationDays, "a month").is_err());
        assert_eq!(
            parse_value(Indicator::SecurityContact, "security@example.com"),
            Ok(IndicatorValue::Text("security@example.com".into()))
        );
        for v in [IndicatorValue::Yes, IndicatorValue::Number(7), IndicatorValue::Text("x@y".into())] {
            let i = if matches!(v, IndicatorValue::Number(_)) {
                Indicator::BreachNotificationHours
            } else {
                Indicator::SecurityContact
            };
            assert_eq!(parse_value(i, &format_value(&v)), Ok(v));
        }
    }
}
