//! The editable posture document: what `trellis posture init` writes and `trellis posture
//! publish` reads. It says the same as a [`PostureAttestation`] in words a person can edit —
//! indicator names, `yes`/`no`, RFC 3339 dates — and converts both ways.

use serde::{Deserialize, Serialize};

use crate::formats::time::{format_rfc3339_ms, parse_unix_ms};
use crate::items::{CriticalDependency, IndicatorClaim, Method, PostureAttestation};

use super::{PostureProblem, format_value, parse_indicator, parse_value};

/// A posture attestation as an editable file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostureDocument {
    pub claims: Vec<ClaimDocument>,
    #[serde(default)]
    pub critical_dependencies: Vec<DependencyDocument>,
}

/// One answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimDocument {
    /// The indicator's name, e.g. `mfa` (see `trellis posture init`).
    pub indicator: String,
    /// `yes`, `no`, a number, or a contact address.
    pub value: String,
    /// `self-attested`, `observed` (checkable at `evidence`) or `third-party`.
    #[serde(default = "self_attested")]
    pub method: String,
    /// RFC 3339, e.g. `2025-01-31T00:00:00Z`.
    pub observed_at: String,
    pub valid_until: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

/// A provider or package the organization cannot work without.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DependencyDocument {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
}

fn self_attested() -> String {
    "self-attested".into()
}

/// A method's name in documents.
pub fn method_name(m: Method) -> &'static str {
    match m {
        Method::SelfAttested => "self-attested",
        Method::Observed => "observed",
        Method::ThirdParty => "third-party",
    }
}

/// A method from its name.
pub fn parse_method(s: &str) -> Option<Method> {
    match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
        "self-attested" | "self" => Some(Method::SelfAttested),
        "observed" => Some(Method::Observed),
        "third-party" => Some(Method::ThirdParty),
        _ => None,
    }
}

impl PostureDocument {
    /// The attestation this document describes (not yet [`super::validate`]d).
    pub fn to_attestation(&self) -> Result<PostureAttestation, PostureProblem> {
        let mut claims = Vec::new();
        for c in &self.claims {
            let indicator = parse_indicator(&c.indicator).ok_or_else(|| {
                PostureProblem::Unreadable(format!(
                    "unknown indicator {:?}; known: {}",
                    c.indicator,
                    crate::items::Indicator::ALL.map(|i| i.as_str()).join(", ")
                ))
            })?;
            let time = |field: &str, s: &str| {
                parse_unix_ms(s).ok_or_else(|| {
                    PostureProblem::Unreadable(format!(
                        "{}: {field} {s:?} is not an RFC 3339 date-time like 2025-01-31T00:00:00Z",
                        c.indicator
                    ))
                })
            };
            claims.push(IndicatorClaim {
                indicator,
                value: parse_value(indicator, &c.value)?,
                method: parse_method(&c.method).ok_or_else(|| {
                    PostureProblem::Unreadable(format!(
                        "{}: method {:?} is not self-attested, observed or third-party",
                        c.indicator, c.method
                    ))
                })?,
                observed_ms: time("observed_at", &c.observed_at)?,
                valid_until_ms: time("valid_until", &c.valid_until)?,
                evidence: c.evidence.as_ref().map(|e| e.trim().to_string()).filter(|e| !e.is_empty()),
            });
        }
        let critical_dependencies = self
            .critical_dependencies
            .iter()
            .map(|d| CriticalDependency {
                name: d.name.trim().to_string(),
                purl: d.purl.as_ref().map(|p| p.trim().to_string()).filter(|p| !p.is_empty()),
            })
            .collect();
        Ok(PostureAttestation { claims, critical_dependencies })
    }

    /// The document of an attestation.
    pub fn from_attestation(att: &PostureAttestation) -> PostureDocument {
        PostureDocument {
            claims: att
                .claims
                .iter()
                .map(|c| ClaimDocument {
                    indicator: c.indicator.as_str().to_string(),
                    value: format_value(&c.value),
                    method: method_name(c.method).to_string(),
                    observed_at: format_rfc3339_ms(c.observed_ms),
                    valid_until: format_rfc3339_ms(c.valid_until_ms),
                    evidence: c.evidence.clone(),
                })
                .collect(),
            critical_dependencies: att
                .critical_dependencies
                .iter()
                .map(|d| DependencyDocument { name: d.name.clone(), purl: d.purl.clone() })
                .collect(),
        }
    }

    /// The document of answers given at `now_ms` and valid for `days` days, as `posture init`
    /// and the web console's posture form make it: an answer with a place a customer can check
    /// it (`evidence`, a URL) is `observed`, any other `self-attested`.
    pub fn from_answers(
        answers: Vec<(crate::items::Indicator, crate::items::IndicatorValue, Option<String>)>,
        critical_dependencies: Vec<DependencyDocument>,
        now_ms: u64,
        days: u64,
    ) -> PostureDocument {
        const DAY_MS: u64 = 24 * 3600 * 1000;
        let valid_until = now_ms.saturating_add(days.saturating_mul(DAY_MS));
        let claims = answers
            .into_iter()
            .map(|(indicator, value, evidence)| ClaimDocument {
                indicator: indicator.as_str().to_string(),
                value: format_value(&value),
                method: if evidence.is_some() { "observed" } else { "self-attested" }.to_string(),
                observed_at: format_rfc3339_ms(now_ms),
                valid_until: format_rfc3339_ms(valid_until),
                evidence,
            })
            .collect();
        PostureDocument { claims, critical_dependencies }
    }

    /// A dependency line as a person types it: a package URL (`pkg:npm/lodash`) or a provider
    /// name (`Microsoft 365`).
    pub fn dependency_from_line(line: &str) -> Option<DependencyDocument> {
        let line = line.trim();
        if line.is_empty() {
            return None;
        }
        if line.starts_with("pkg:") {
            // The name is the package's own: the last path segment before any version or qualifier.
            let path = line.split(['@', '?', '#']).next().unwrap_or(line);
            let name = path.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or(path);
            return Some(DependencyDocument { name: name.to_string(), purl: Some(line.to_string()) });
        }
        Some(DependencyDocument { name: line.to_string(), purl: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::items::{Indicator, IndicatorValue};

    #[test]
    fn round_trips_through_the_attestation() {
        let doc = PostureDocument {
            claims: vec![
                ClaimDocument {
                    indicator: "security-contact".into(),
                    value: "security@example.com".into(),
                    method: "observed".into(),
                    observed_at: "2025-01-01T00:00:00.000Z".into(),
                    valid_until: "2026-01-01T00:00:00.000Z".into(),
                    evidence: Some("https://example.com/.well-known/security.txt".into()),
                },
                ClaimDocument {
                    indicator: "critical-remediation-days".into(),
                    value: "30".into(),
                    method: "self-attested".into(),
                    observed_at: "2025-01-01T00:00:00.000Z".into(),
                    valid_until: "2026-01-01T00:00:00.000Z".into(),
                    evidence: None,
                },
            ],
            critical_dependencies: vec![PostureDocument::dependency_from_line("pkg:npm/lodash@4.17.21").unwrap()],
        };
        let att = doc.to_attestation().unwrap();
        assert_eq!(att.claims[0].method, Method::Observed);
        assert_eq!(att.claims[1].value, IndicatorValue::Number(30));
        assert_eq!(att.claims[1].indicator, Indicator::CriticalRemediationDays);
        assert_eq!(att.critical_dependencies[0].name, "lodash");
        assert_eq!(PostureDocument::from_attestation(&att), doc);
        assert!(super::super::validate(&att).is_empty());
    }

    #[test]
    fn unreadable_fields_are_named() {
        let mut doc = PostureDocument {
            claims: vec![ClaimDocument {
                indicator: "firewall".into(),
                value: "yes".into(),
                method: "self-attested".into(),
                observed_at: "2025-01-01T00:00:00Z".into(),
                valid_until: "2026-01-01T00:00:00Z".into(),
                evidence: None,
            }],
            critical_dependencies: vec![],
        };
        assert!(doc.to_attestation().unwrap_err().to_string().contains("unknown indicator"));
        doc.claims[0].indicator = "mfa".into();
        doc.claims[0].valid_until = "next year".into();
        assert!(doc.to_attestation().unwrap_err().to_string().contains("valid_until"));
        assert_eq!(PostureDocument::dependency_from_line("  "), None);
        assert_eq!(PostureDocument::dependency_from_line("AWS").unwrap().name, "AWS");
    }
}
