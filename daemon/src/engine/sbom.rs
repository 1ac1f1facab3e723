//! "Am I affected?" at the node: the organization's CycloneDX SBOMs (and VEX documents), kept in
//! the home and never published, matched against every advisory this node can read.
//!
//! Storage is plain files under `<home>/sbom/` — `<id>.cdx.json` holds the document exactly as
//! added, `<id>.meta.json` what listing needs — because SBOMs are local, few, and an operator may
//! want to look at or back them up with the rest of the home. The id is the start of the SHA-256
//! of the bytes, so adding the same file twice is noticed.
//!
//! VEX statements apply across documents: a standalone VEX file (CycloneDX with only
//! `vulnerabilities`) speaks about components of the SBOMs added before or after it, by bom-ref
//! or package URL, as the CISA VEX use cases publish them. Matches are computed when asked
//! (`affected`), when an advisory is stored (by the reactions thread, `crate::reactions`, against
//! a [`Snapshot`] taken once per batch) and when an SBOM is added; the last two emit an [`Event::Affected`] per standing match.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use trellis_proto::envelope::Envelope;
use trellis_proto::formats::cyclonedx::{self, Sbom, VexState, VexStatement};
use trellis_proto::formats::ident::{Cpe, Purl};
use trellis_proto::formats::matching::{ComponentId, Finding, MatchReason, MatchedBy, VersionRule, is_affected};
use trellis_proto::formats::spdx;
use trellis_proto::items::{Advisory, Affected};

use super::{ActionError, Engine};
use crate::api::types::{AffectedMatch, Event, SbomAdd, SbomAdded, SbomInfo};

const SBOM_DIR: &str = "sbom";

fn bad(msg: impl Into<String>) -> ActionError {
    ActionError::BadRequest(msg.into())
}

fn io(e: std::io::Error) -> ActionError {
    ActionError::Internal(format!("SBOM store: {e}"))
}

/// What `<id>.meta.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SbomMeta {
    id: String,
    name: String,
    added_ms: u64,
}

/// A stored SBOM, parsed.
struct StoredSbom {
    info: SbomInfo,
    sbom: Sbom,
    index: NameIndex,
}

/// A component's product name with case and punctuation squashed away: two names that matching
/// could take for the same product (however it normalizes them) have the same key.
fn squash(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// The components of one SBOM by squashed product name (a purl's name, a CPE's product, or the
/// component's name), each with the identity matching reads it by. An advisory is then checked
/// against the few components that could be the products it names, not against every
/// component: with 200,000 components and thousands of advisories, that is the difference
/// between milliseconds and hours.
struct NameIndex {
    ids: Vec<ComponentId>,
    by_name: HashMap<String, Vec<usize>>,
}

impl NameIndex {
    fn new(sbom: &Sbom) -> NameIndex {
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        let ids: Vec<ComponentId> = sbom.all_components().map(component_id).collect();
        for (i, id) in ids.iter().enumerate() {
            let name = match id {
                ComponentId::Purl(p) => &p.name,
                ComponentId::Cpe(c) => &c.product,
                ComponentId::Name { product, .. } => product,
            };
            by_name.entry(squash(name)).or_default().push(i);
        }
        NameIndex { ids, by_name }
    }

    /// Indexes of the components an advisory entry could name, ascending.
    fn candidates(&self, a: &Affected) -> Vec<usize> {
        let mut names = Vec::new();
        if let Some(p) = a.purl.as_deref().and_then(Purl::parse) {
            names.push(squash(&p.name));
        }
        if let Some(c) = a.cpe.as_deref().and_then(Cpe::parse) {
            names.push(squash(&c.product));
        }
        if let Some(p) = &a.product {
            names.push(squash(p));
        }
        let mut out: Vec<usize> = names.iter().filter_map(|n| self.by_name.get(n)).flatten().copied().collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// How matching reads a component: by purl, else CPE, else vendor and product name.
fn component_id(comp: &cyclonedx::Component) -> ComponentId {
    match (&comp.purl, &comp.cpe) {
        (Some(p), _) if Purl::parse(p).is_some() => ComponentId::parse(p),
        (_, Some(c)) if Cpe::parse(c).is_some() => ComponentId::parse(c),
        _ => ComponentId::Name { vendor: comp.group.clone(), product: comp.name.clone() },
    }
}

/// [`match_sbom`] through the index, with the VEX statements of every stored document: the same
/// findings, in the same order.
fn indexed_matches(advisory: &Advisory, s: &StoredSbom, vex: &[VexStatement]) -> Vec<Finding> {
    let ids: Vec<String> = std::iter::once(&advisory.reference_id)
        .chain(advisory.aliases.iter())
        .map(|s| s.to_ascii_uppercase())
        .collect();
    let comps: Vec<&cyclonedx::Component> = s.sbom.all_components().collect();
    let mut hits: Vec<(usize, usize)> = Vec::new();
    for (ai, a) in advisory.affected.iter().enumerate() {
        hits.extend(s.index.candidates(a).into_iter().map(|ci| (ci, ai)));
    }
    hits.sort_unstable();
    let mut out = Vec::new();
    for (ci, ai) in hits {
        let comp = comps[ci];
        let version = comp.version.as_deref().unwrap_or("");
        let Some(reason) = is_affected(&advisory.affected[ai], &s.index.ids[ci], version) else { continue };
        let vex = vex
            .iter()
            .find(|v| {
                ids.contains(&v.vuln_id.to_ascii_uppercase())
                    && (comp.bom_ref.as_deref() == Some(v.component_ref.as_str())
                        || (v.purl.is_some() && v.purl == comp.purl))
            })
            .and_then(|v| v.state.clone());
        out.push(Finding { component: ci, affected: ai, reason, vex });
    }
    out
}

fn dir(home: &Path) -> PathBuf {
    home.join(SBOM_DIR)
}

fn info_of(meta: &SbomMeta, sbom: &Sbom) -> SbomInfo {
    SbomInfo {
        id: meta.id.clone(),
        name: meta.name.clone(),
        added_ms: meta.added_ms,
        spec_version: sbom.spec_version.clone(),
        subject: sbom
            .subject
            .as_ref()
            .map(|s| format!("{}{}", s.name, s.version.as_deref().map(|v| format!(" {v}")).unwrap_or_default())),
        components: sbom.all_components().count(),
        vex_statements: sbom.vex.len(),
    }
}

/// A BOM-Link (`urn:cdx:serial/version#bom-ref`) designates the bom-ref after `#`.
fn local_ref(r: &str) -> &str {
    match r.strip_prefix("urn:cdx:").and_then(|rest| rest.split_once('#')) {
        Some((_, frag)) => frag,
        None => r,
    }
}

/// What the SBOM directory holds: each file's name, size and modification time. The parsed
/// SBOMs are reused while it stays the same.
type DirState = Vec<(std::ffi::OsString, u64, Option<std::time::SystemTime>)>;

fn dir_state(home: &Path) -> DirState {
    let Ok(entries) = std::fs::read_dir(dir(home)) else { return Vec::new() };
    let mut v: DirState = entries
        .flatten()
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((e.file_name(), m.len(), m.modified().ok()))
        })
        .collect();
    v.sort();
    v
}

/// The SBOM owner's state: the parsed SBOMs of this engine's home with the directory state they
/// were read from, so an advisory arriving does not parse a 60 MB SBOM again, only a change to
/// the directory does. One per engine (`Engine::sbom_cache`); its lock is private and held only
/// to look at or replace the cached value (parsing happens outside it). A poisoned lock is
/// recovered: the value is replaced whole, never changed in place.
#[derive(Default)]
pub struct SbomCache {
    loaded: std::sync::Mutex<Option<(DirState, std::sync::Arc<Vec<StoredSbom>>)>>,
}

impl std::fmt::Debug for SbomCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SbomCache").finish_non_exhaustive()
    }
}

impl SbomCache {
    /// Every stored document under `home` (see [`read_all`]), parsed once per change of the
    /// directory.
    fn load_all(&self, home: &Path) -> std::sync::Arc<Vec<StoredSbom>> {
        let state = dir_state(home);
        {
            let cache = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((s, sboms)) = cache.as_ref()
                && *s == state
            {
                return sboms.clone();
            }
        }
        let sboms = std::sync::Arc::new(read_all(home));
        *self.loaded.lock().unwrap_or_else(|p| p.into_inner()) = Some((state, sboms.clone()));
        sboms
    }
}

/// Every stored document, oldest first. Unreadable files are skipped with a warning: one damaged
/// file must not hide the others' matches.
fn read_all(home: &Path) -> Vec<StoredSbom> {
    let Ok(entries) = std::fs::read_dir(dir(home)) else { return Vec::new() };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        let Some(stem) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".meta.json")) else {
            continue;
        };
        let meta = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<SbomMeta>(&b).ok());
        let doc = std::fs::read(dir(home).join(format!("{stem}.cdx.json"))).ok();
        match (meta, doc.map(|d| spdx::parse_any(&d))) {
            (Some(meta), Some(Ok(mut sbom))) => {
                for s in &mut sbom.vex {
                    s.component_ref = local_ref(&s.component_ref).to_string();
                }
                out.push(StoredSbom { info: info_of(&meta, &sbom), index: NameIndex::new(&sbom), sbom });
            }
            _ => tracing::warn!(file = %path.display(), "skipping an unreadable stored SBOM"),
        }
    }
    out.sort_by(|a, b| (a.info.added_ms, &a.info.id).cmp(&(b.info.added_ms, &b.info.id)));
    out
}

fn why(reason: &MatchReason, version: Option<&str>) -> String {
    let by = match reason.by {
        MatchedBy::Purl => "package URL",
        MatchedBy::Cpe => "CPE",
        MatchedBy::Name => "vendor/product name",
    };
    let v = version.unwrap_or("?");
    let rule = match &reason.rule {
        VersionRule::AllVersions => "the advisory names no versions: all are affected".to_string(),
        VersionRule::Listed => format!("version {v} is listed as affected"),
        VersionRule::InRange { index } => format!("version {v} is in affected range {}", index + 1),
        VersionRule::VersionUnknown => "the SBOM gives no version: identity only".to_string(),
    };
    format!("{by} matches; {rule}")
}

fn vex_name(s: &VexState) -> String {
    match s {
        VexState::Resolved => "resolved".into(),
        VexState::ResolvedWithPedigree => "resolved_with_pedigree".into(),
        VexState::Exploitable => "exploitable".into(),
        VexState::InTriage => "in_triage".into(),
        VexState::FalsePositive => "false_positive".into(),
        VexState::NotAffected => "not_affected".into(),
        VexState::Other(o) => o.clone(),
    }
}

/// The advisory's facts a match row repeats.
pub struct AdvisoryRef<'a> {
    pub id: String,
    pub title: &'a str,
    pub tlp: trellis_proto::Tlp,
    pub group: String,
    pub group_name: String,
}

/// Match one advisory against the stored documents, VEX of every document applied to all.
fn matches_of(
    adv: &Advisory,
    r: &AdvisoryRef<'_>,
    sboms: &[StoredSbom],
    all_vex: &[VexStatement],
) -> Vec<AffectedMatch> {
    let mut out = Vec::new();
    for s in sboms {
        if s.sbom.subject.is_none() && s.sbom.components.is_empty() {
            continue; // a VEX-only document: its statements are in `all_vex`
        }
        let comps: Vec<_> = s.sbom.all_components().collect();
        for f in indexed_matches(adv, s, all_vex) {
            let Some(c) = comps.get(f.component) else { continue };
            let stands = f.stands();
            let vex_statement = f.vex.as_ref().and_then(|state| {
                all_vex.iter().find(|v| {
                    v.state.as_ref() == Some(state)
                        && (c.bom_ref.as_deref() == Some(v.component_ref.as_str())
                            || (v.purl.is_some() && v.purl == c.purl))
                })
            });
            out.push(AffectedMatch {
                advisory: r.id.clone(),
                source_id: (!adv.reference_id.is_empty()).then(|| adv.reference_id.clone()),
                title: r.title.to_string(),
                aliases: adv.aliases.clone(),
                tlp: r.tlp,
                group: r.group.clone(),
                group_name: r.group_name.clone(),
                sbom: s.info.id.clone(),
                sbom_name: s.info.name.clone(),
                component: c.group.as_ref().map(|g| format!("{g}/{}", c.name)).unwrap_or_else(|| c.name.clone()),
                component_id: c.purl.clone().or_else(|| c.cpe.clone()),
                installed: c.version.clone(),
                fixed: f.reason.fixed.clone(),
                why: why(&f.reason, c.version.as_deref()),
                vex: f.vex.as_ref().map(vex_name),
                vex_justification: vex_statement.and_then(|v| v.justification.clone()),
                suppressed: !stands,
            });
        }
    }
    out
}

fn all_vex(sboms: &[StoredSbom]) -> Vec<VexStatement> {
    sboms.iter().flat_map(|s| s.sbom.vex.iter().cloned()).collect()
}

impl Engine {
    /// `POST /v1/sbom`: store a CycloneDX SBOM or VEX document; returns it with its matches.
    pub fn sbom_add(&self, req: &SbomAdd) -> Result<SbomAdded, ActionError> {
        self.sbom_add_bytes(&req.name, req.document.as_bytes(), req.lenient)
    }

    /// `POST /v1/sbom/upload`: the same for a document sent as the request body itself, up to
    /// [`cyclonedx::MAX_SBOM_BYTES`] (real SBOMs run to tens of megabytes).
    pub fn sbom_add_bytes(&self, name: &str, bytes: &[u8], lenient: bool) -> Result<SbomAdded, ActionError> {
        let (sbom, warnings) = spdx::parse_any_checked(bytes, lenient).map_err(|problems| {
            let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            let lenient_helps = problems.iter().any(|p| {
                p.reason.starts_with("CycloneDX ") || (p.reason.starts_with("SPDX: ") && !p.reason.contains("SPDX 3.0"))
            });
            let hint = if lenient_helps { "\n(--lenient adds it anyway, with these as warnings)" } else { "" };
            bad(format!(
                "not a valid SBOM (CycloneDX or SPDX 2.3 JSON); nothing was added:\n{}{hint}",
                lines.join("\n")
            ))
        })?;
        let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        let id = data_encoding::HEXLOWER.encode(&Sha256::digest(bytes)[..6]);
        let d = dir(&self.home);
        std::fs::create_dir_all(&d).map_err(io)?;
        let meta_path = d.join(format!("{id}.meta.json"));
        if meta_path.exists() {
            return Err(ActionError::Conflict(format!("this SBOM is already added as {id}; see `trellis sbom list`")));
        }
        let name = name.trim();
        let meta = SbomMeta {
            id: id.clone(),
            name: if name.is_empty() { id.clone() } else { name.chars().take(200).collect() },
            added_ms: self.clock.now_ms(),
        };
        // Document first, metadata last: a listing never shows an SBOM whose bytes are missing.
        std::fs::write(d.join(format!("{id}.cdx.json")), bytes).map_err(io)?;
        let meta_bytes = serde_json::to_vec_pretty(&meta).map_err(|e| ActionError::Internal(e.to_string()))?;
        std::fs::write(&meta_path, meta_bytes).map_err(io)?;
        tracing::info!(sbom = %id, components = sbom.all_components().count(), vex = sbom.vex.len(), "SBOM added");
        let matches: Vec<AffectedMatch> = self.affected()?.into_iter().filter(|m| m.sbom == id).collect();
        for m in matches.iter().filter(|m| !m.suppressed) {
            let _ = self.events.send(Event::Affected { affected: Box::new(m.clone()) });
        }
        Ok(SbomAdded { sbom: info_of(&meta, &sbom), matches, warnings })
    }

    /// `GET /v1/sbom`.
    pub fn sbom_list(&self) -> Vec<SbomInfo> {
        self.sbom_cache().load_all(&self.home).iter().map(|s| s.info.clone()).collect()
    }

    /// `DELETE /v1/sbom/{id}` (a unique id prefix is enough).
    pub fn sbom_remove(&self, id: &str) -> Result<SbomInfo, ActionError> {
        let want = id.trim().to_ascii_lowercase();
        let found: Vec<SbomInfo> = self.sbom_list().into_iter().filter(|s| s.id.starts_with(&want)).collect();
        let s = match (want.is_empty(), found.len()) {
            (false, 1) => found.into_iter().next().ok_or_else(|| ActionError::Internal("vanished".into()))?,
            (false, 0) | (true, _) => {
                return Err(ActionError::NotFound(format!("no SBOM {id:?}; see `trellis sbom list`")));
            }
            _ => return Err(bad(format!("{id:?} matches several SBOMs; give more characters"))),
        };
        let d = dir(&self.home);
        std::fs::remove_file(d.join(format!("{}.meta.json", s.id))).map_err(io)?;
        let _ = std::fs::remove_file(d.join(format!("{}.cdx.json", s.id)));
        tracing::info!(sbom = %s.id, "SBOM removed");
        Ok(s)
    }

    /// `GET /v1/affected`: every match of every readable advisory against every stored SBOM,
    /// VEX-suppressed ones included and marked.
    pub fn affected(&self) -> Result<Vec<AffectedMatch>, ActionError> {
        let sboms = self.sbom_cache().load_all(&self.home);
        if sboms.is_empty() {
            return Ok(Vec::new());
        }
        let vex = all_vex(&sboms);
        let mut out = Vec::new();
        for gid in self.group_ids() {
            let group_name = self.groups.name(&gid);
            // Each advisory as its latest revision reads; a withdrawn one raises nothing (§4.9).
            for held in self.held_advisories(&gid)? {
                if held.withdrawn().is_some() {
                    continue;
                }
                let (latest, env, _) = held.latest();
                let adv = &latest.advisory;
                let r = AdvisoryRef {
                    id: held.id().to_text(),
                    title: &adv.title,
                    tlp: env.header.tlp,
                    group: gid.to_text(),
                    group_name: group_name.clone().unwrap_or_default(),
                };
                out.extend(matches_of(adv, &r, &sboms, &vex));
            }
        }
        Ok(out)
    }

    /// Match a newly stored advisory against the SBOMs and tell watchers about each standing
    /// match. A no-op when no SBOM is stored.
    pub(crate) fn match_new_advisory(&self, env: &Envelope, advisory: &Advisory) {
        if advisory.affected.is_empty() {
            return;
        }
        self.match_advisory_with(&self.sbom_snapshot(), env, advisory);
    }

    /// The stored SBOMs as they are now, parsed and indexed (parsed again only when the SBOM
    /// directory changed): the reactions thread takes one per batch of stored advisories.
    pub fn sbom_snapshot(&self) -> Snapshot {
        let sboms = self.sbom_cache().load_all(&self.home);
        let vex = all_vex(&sboms);
        Snapshot { sboms, vex }
    }

    /// [`Self::match_new_advisory`] against a snapshot of the SBOMs (`crate::reactions`).
    pub(crate) fn match_advisory_with(&self, snapshot: &Snapshot, env: &Envelope, advisory: &Advisory) {
        if advisory.affected.is_empty() || snapshot.sboms.is_empty() {
            return;
        }
        let group_name = self.groups.name(&env.header.group);
        let r = AdvisoryRef {
            id: env.id.to_text(),
            title: &advisory.title,
            tlp: env.header.tlp,
            group: env.header.group.to_text(),
            group_name: group_name.unwrap_or_default(),
        };
        for m in matches_of(advisory, &r, &snapshot.sboms, &snapshot.vex) {
            if m.suppressed {
                tracing::info!(item = %env.id.short(), component = %m.component, vex = ?m.vex, "match suppressed by VEX");
                continue;
            }
            tracing::info!(item = %env.id.short(), sbom = %m.sbom, component = %m.component, "SBOM component affected");
            let _ = self.events.send(Event::Affected { affected: Box::new(m) });
        }
    }
}

/// The stored SBOMs at one moment, parsed, indexed by package name, with every VEX statement.
pub struct Snapshot {
    sboms: std::sync::Arc<Vec<StoredSbom>>,
    vex: Vec<VexStatement>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("sboms", &self.sboms.len()).field("vex", &self.vex.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_finds_what_a_full_scan_finds() {
        let fixture =
            |n: &str| std::fs::read(format!("{}/../proto/tests/fixtures/{n}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let mut sbom = cyclonedx::parse(&fixture("cyclonedx-npm-app.json")).unwrap();
        // Names differing in case and punctuation, a CPE and a bare name are found too.
        sbom.components.push(cyclonedx::Component {
            name: "MiniMist".into(),
            version: Some("0.0.5".into()),
            ..Default::default()
        });
        sbom.components.push(cyclonedx::Component {
            name: "gm".into(),
            cpe: Some("cpe:2.3:a:example-industrial:gateway_manager:2.0.1:*:*:*:*:*:*:*".into()),
            ..Default::default()
        });
        let s = StoredSbom {
            info: SbomInfo {
                id: "x".into(),
                name: "x".into(),
                added_ms: 0,
                spec_version: "1.4".into(),
                subject: None,
                components: 0,
                vex_statements: 0,
            },
            index: NameIndex::new(&sbom),
            sbom: sbom.clone(),
        };
        for adv in [
            trellis_proto::formats::osv::import(&fixture("osv-synthetic-npm.json")).unwrap().advisory,
            trellis_proto::formats::csaf::import(&fixture("csaf-gateway-advisory.json")).unwrap().advisory,
        ] {
            let key = |f: &Finding| (f.component, f.affected, f.reason.fixed.clone());
            let full: Vec<_> = trellis_proto::formats::matching::match_sbom(&adv, &sbom).iter().map(key).collect();
            let indexed: Vec<_> = indexed_matches(&adv, &s, &sbom.vex).iter().map(key).collect();
            assert!(!full.is_empty(), "{}", adv.title);
            assert_eq!(indexed, full, "{}", adv.title);
        }
    }

    #[test]
    fn bom_links_designate_their_fragment() {
        assert_eq!(local_ref("urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#pkg:npm/ws@6.2.1"), "pkg:npm/ws@6.2.1");
        assert_eq!(local_ref("product-ABC"), "product-ABC");
    }
}
