//! Groups without an operator (§6): the signed genesis, the membership op log, epoch keys, and
//! the deterministic rules that turn a set of ops into members, roles and the current epoch.
//!
//! [`GroupLog::compute`] is a pure function of the *set* of ops: whatever order they arrived in,
//! every node computes the same state (§6.4). Ops name the ops they follow (`parents`), forming a
//! DAG rooted at the genesis. The rules:
//! 1. An op whose ancestors are not all known is *pending* and has no effect yet.
//! 2. Known ops are put in one order: a topological order of the DAG, ties between ops that are
//!    ready at the same time broken by the smaller item id.
//! 3. Ops are applied in that order; an op is void if its author lacks the role it needs at that
//!    point (admin for add/remove/role/rotate, member for leave and key updates).
//! 4. Concurrent conflicting ops (§6.5): if a valid op removes or demotes admin X, every op of X
//!    that is concurrent with it (neither its ancestor nor its descendant) is void: a removed admin
//!    cannot act through ops it backdates by naming old parents. When two such removals target
//!    each other's authors (two admins removing each other), the one by the more senior admin
//!    (who became admin earlier in the order; the founder is most senior) stands. Voiding is
//!    repeated until no conflict is left; each round voids at least one op (all concurrent ops
//!    of one removed org at once), so it ends after a few rounds.
//! 5. Every removal, and every explicit rotation, starts a new epoch whose key comes with the op,
//!    sealed to each remaining member (§6.6); the key id commits to the key.
//!
//! Which ops a node takes from peers at all is [`GroupLog::admit`] (§6.9): the defence against a
//! member, reader or removed admin that floods the log.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::crypto;
use crate::error::ProtoError;
use crate::ids::{GroupId, ItemId, OrgId, tagged_hash};
use crate::keys::{OrgKeys, Sig, SignedKeyBundle, verify_tagged};
use crate::limits::{MAX_GROUP_NAME, MAX_GROUP_OPS, MAX_OP_PARENTS, MAX_RECIPIENTS};

/// HPKE `info` for epoch key shares.
pub const EPOCH_SHARE_INFO: &[u8] = b"trellis/epoch-share/v1";

/// A group's purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupKind {
    /// A sector community: members share with each other.
    Sector,
    /// A customer's channel to its suppliers (§6.8).
    SupplyChain,
}

impl GroupKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupKind::Sector => "sector",
            GroupKind::SupplyChain => "supply-chain",
        }
    }
}

impl std::fmt::Display for GroupKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for GroupKind {
    type Err = ProtoError;
    fn from_str(s: &str) -> Result<Self, ProtoError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sector" => Ok(GroupKind::Sector),
            "supply-chain" | "supply_chain" | "supplychain" => Ok(GroupKind::SupplyChain),
            _ => Err(ProtoError::Invalid(format!("unknown group kind {s:?}: use sector or supply-chain"))),
        }
    }
}

/// A member's role (§6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Invite, remove, change roles, rotate keys; publish and read.
    Admin,
    /// Publish and read.
    Member,
    /// Read only.
    Reader,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Reader => "reader",
        }
    }
    /// Whether the role may publish content.
    pub fn can_publish(self) -> bool {
        !matches!(self, Role::Reader)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = ProtoError;
    fn from_str(s: &str) -> Result<Self, ProtoError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            "reader" => Ok(Role::Reader),
            _ => Err(ProtoError::Invalid(format!("unknown role {s:?}: use admin, member or reader"))),
        }
    }
}

/// An epoch key sealed to one member's X25519 key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedShare {
    pub to: OrgId,
    pub enc: [u8; 32],
    pub sealed: Vec<u8>,
}

/// A new epoch key: its id plus the key sealed to each member (§6.6). The id commits to the key
/// ([`epoch_key_id`]): a share that opens to a key with another id is refused, so nobody can
/// pass off a key of its own making under the id of an epoch that someone else started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEpochKey {
    pub key_id: [u8; 16],
    pub shares: Vec<SealedShare>,
}

/// The id of an epoch key: the first 16 bytes of `H("trellis/epoch-key-id/v1", key)` (§6.6).
pub fn epoch_key_id(key: &[u8; 32]) -> [u8; 16] {
    let h = tagged_hash("trellis/epoch-key-id/v1", &[key]);
    let mut id = [0u8; 16];
    id.copy_from_slice(&h[..16]);
    id
}

/// The AAD binding a share to its group and key id.
fn share_aad(group: &GroupId, key_id: &[u8; 16]) -> Vec<u8> {
    let mut aad = group.0.to_vec();
    aad.extend_from_slice(key_id);
    aad
}

/// Seal `key` to each `(org, x25519)` recipient; its id is [`epoch_key_id`]. `seed` is fresh
/// randomness. A recipient whose key cannot be sealed to (§2.2: a small-order point; key bundles
/// with one are refused, so only a caller's mistake gets here) is skipped and returned in the
/// second value, so one unusable key never stops a rekey for everyone else.
pub fn seal_epoch_key(
    group: &GroupId,
    key: &[u8; 32],
    to: &[(OrgId, [u8; 32])],
    seed: [u8; 32],
) -> (NewEpochKey, Vec<OrgId>) {
    let key_id = epoch_key_id(key);
    let aad = share_aad(group, &key_id);
    let mut shares = Vec::with_capacity(to.len());
    let mut unusable = Vec::new();
    for (i, (org, pk)) in to.iter().enumerate() {
        let s = tagged_hash("trellis/share-seed/v1", &[&seed, &(i as u64).to_be_bytes()]);
        match crypto::seal_key(pk, key, EPOCH_SHARE_INFO, &aad, s) {
            Ok((enc, sealed)) => shares.push(SealedShare { to: *org, enc, sealed }),
            Err(_) => unusable.push(*org),
        }
    }
    (NewEpochKey { key_id, shares }, unusable)
}

/// Why this org's share of an epoch key did not give the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShareError {
    /// There is no share for this org.
    NotARecipient,
    /// The share does not open with any of this org's keys.
    DoesNotOpen,
    /// The share opens, but to a key whose id is not the one claimed: the author made it wrong
    /// on purpose or by mistake; it is evidence against the author (§6.6).
    WrongKey,
}

/// Open this org's share of an epoch key, checking that the key matches its id.
pub fn open_epoch_share_checked(
    group: &GroupId,
    key_id: &[u8; 16],
    shares: &[SealedShare],
    me: &OrgKeys,
) -> Result<[u8; 32], ShareError> {
    let aad = share_aad(group, key_id);
    let mine = shares.iter().find(|s| s.to == me.org_id()).ok_or(ShareError::NotARecipient)?;
    let key = me
        .all_encryption()
        .find_map(|sk| crypto::open_key(sk, &mine.enc, &mine.sealed, EPOCH_SHARE_INFO, &aad).ok())
        .ok_or(ShareError::DoesNotOpen)?;
    if epoch_key_id(&key) != *key_id {
        return Err(ShareError::WrongKey);
    }
    Ok(key)
}

/// Open this org's share of an epoch key, if there is one for it and it matches its id.
pub fn open_epoch_share(group: &GroupId, key_id: &[u8; 16], shares: &[SealedShare], me: &OrgKeys) -> Option<[u8; 32]> {
    open_epoch_share_checked(group, key_id, shares, me).ok()
}

/// The founding record of a group (§6.1). Its hash is the group id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    pub name: String,
    pub kind: GroupKind,
    pub founder: SignedKeyBundle,
    pub created_ms: u64,
    /// Random, so two groups of the same name and founder differ.
    pub nonce: [u8; 16],
    /// Trust a member starts with, in thousandths (§7).
    pub default_trust_milli: u16,
    /// The epoch-0 key, sealed to the founder.
    pub initial_key: NewEpochKey,
}

/// A genesis with the founder's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedGenesis {
    pub genesis: Genesis,
    pub sig: Sig,
}

impl SignedGenesis {
    pub const TAG: &'static str = "trellis/genesis/v1";

    /// Found a group. `key` is the fresh epoch-0 key, `nonce` and `seed` randomness.
    pub fn create(
        founder: &OrgKeys,
        name: &str,
        kind: GroupKind,
        now_ms: u64,
        nonce: [u8; 16],
        key: &[u8; 32],
        seed: [u8; 32],
    ) -> Result<SignedGenesis, ProtoError> {
        if name.trim().is_empty() || name.len() > MAX_GROUP_NAME {
            return Err(ProtoError::Invalid(format!("a group name must have 1 to {MAX_GROUP_NAME} bytes")));
        }
        let bundle = founder.key_bundle(now_ms, 365 * 24 * 3600 * 1000);
        // The genesis is hashed into the group id, so the key is sealed under a group-less AAD:
        // the all-zero group id.
        let (initial_key, unusable) =
            seal_epoch_key(&GroupId([0; 32]), key, &[(founder.org_id(), bundle.bundle.x25519)], seed);
        if !unusable.is_empty() {
            return Err(ProtoError::BadKey);
        }
        let genesis = Genesis {
            name: name.trim().to_string(),
            kind,
            founder: bundle,
            created_ms: now_ms,
            nonce,
            default_trust_milli: 500,
            initial_key,
        };
        let sig = Sig(founder.sign(Self::TAG, &codec::encode(&genesis)));
        Ok(SignedGenesis { genesis, sig })
    }

    /// The group id: SHA-256 of the signed genesis encoding.
    pub fn group_id(&self) -> GroupId {
        GroupId(tagged_hash("trellis/group/v1", &[&codec::encode(self)]))
    }

    /// Check the founder's signature and bounds.
    pub fn verify(&self) -> Result<(), ProtoError> {
        let g = &self.genesis;
        if g.name.is_empty() || g.name.len() > MAX_GROUP_NAME || g.initial_key.shares.len() != 1 {
            return Err(ProtoError::Invalid("malformed genesis".into()));
        }
        g.founder.verify_signature()?;
        verify_tagged(&g.founder.bundle.org, Self::TAG, &codec::encode(g), &self.sig.0)
    }

    pub fn founder(&self) -> OrgId {
        self.genesis.founder.bundle.org
    }
}

/// A membership operation (§6.2), carried as the payload of a `GroupOp` envelope whose signer is
/// its author.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupOp {
    /// The ops this one follows (the author's current heads). Empty means: follows the genesis.
    pub parents: Vec<ItemId>,
    pub action: OpAction,
}

/// What an op does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpAction {
    /// Add a member with a role; `share` gives it the current epoch key.
    Add { member: SignedKeyBundle, role: Role, share: Option<NewEpochKey> },
    /// Remove a member and rekey. Items of the removed member with `seq <= cutoff_seq` stay valid.
    Remove { member: OrgId, cutoff_seq: u64, new_key: NewEpochKey },
    /// Change a member's role.
    SetRole { member: OrgId, role: Role },
    /// The author leaves. Admins then rotate the key (§6.6).
    Leave { cutoff_seq: u64 },
    /// Start a new epoch.
    Rotate { new_key: NewEpochKey },
    /// The author publishes a new encryption key bundle (§2.2); admins reseal to it.
    UpdateKey { bundle: SignedKeyBundle },
}

impl GroupOp {
    pub fn check_limits(&self) -> Result<(), ProtoError> {
        if self.parents.len() > MAX_OP_PARENTS {
            return Err(ProtoError::FieldTooLong { field: "parents", max: MAX_OP_PARENTS });
        }
        let shares = match &self.action {
            OpAction::Add { share: Some(k), .. } => k.shares.len(),
            OpAction::Remove { new_key, .. } | OpAction::Rotate { new_key } => new_key.shares.len(),
            _ => 0,
        };
        if shares > MAX_RECIPIENTS {
            return Err(ProtoError::FieldTooLong { field: "shares", max: MAX_RECIPIENTS });
        }
        Ok(())
    }
}

/// Epoch key shares sent outside an op (§6.6): to a member added concurrently with a rekey, to a
/// member whose key bundle changed, or to one that missed its share.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochKeyShares {
    pub key: NewEpochKey,
}

impl EpochKeyShares {
    pub fn check_limits(&self) -> Result<(), ProtoError> {
        if self.key.shares.len() > MAX_RECIPIENTS {
            return Err(ProtoError::FieldTooLong { field: "shares", max: MAX_RECIPIENTS });
        }
        Ok(())
    }
}

/// An op as the log rules see it: already decoded from an envelope whose signature verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogOp {
    pub id: ItemId,
    pub author: OrgId,
    pub timestamp_ms: u64,
    /// The envelope's sequence number: a `Leave` cannot keep items valid beyond it (§6.7).
    pub seq: u64,
    pub op: GroupOp,
}

/// A member in the computed state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub role: Role,
    /// Timestamp of the op that added the member (the founder: the genesis time).
    pub since_ms: u64,
    /// Its current key bundle.
    pub bundle: SignedKeyBundle,
    /// Position in the order at which it became admin (founder 0); lower is more senior.
    pub admin_rank: Option<usize>,
}

/// One epoch: its number, key id, which op started it, and who was sent its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Epoch {
    pub number: u64,
    pub key_id: [u8; 16],
    pub started_by: Option<ItemId>,
    /// The orgs that hold this epoch's key: filled for the current epoch only (no rule reads an
    /// older epoch's, and keeping each would cost a set per rotation at every compute).
    pub recipients: BTreeSet<OrgId>,
}

/// A member that left or was removed: its last valid sequence number, and the role it had, which
/// still decides what its late items may be (§6.7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Departed {
    pub cutoff_seq: u64,
    pub epoch: u64,
    pub role: Role,
}

/// The state of a group computed from its log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupState {
    pub members: BTreeMap<OrgId, Member>,
    pub departed: BTreeMap<OrgId, Departed>,
    /// All epochs, oldest first; the last is current.
    pub epochs: Vec<Epoch>,
    /// Ops applied, in order.
    pub applied: Vec<ItemId>,
    /// Ops that were void, with the reason.
    pub void: BTreeMap<ItemId, String>,
    /// Ops waiting for an ancestor.
    pub pending: BTreeSet<ItemId>,
    /// Applied ops that no other known op names as parent: what a new op should follow.
    pub heads: Vec<ItemId>,
    /// For each org that was removed, left, or lost the admin role, the applied op that did it
    /// (the last one in the order). Only ops of that org concurrent with it can still take
    /// effect (§6.5), so only those are admitted (§6.9).
    pub ended_by: BTreeMap<OrgId, ItemId>,
}

impl GroupState {
    /// The current epoch number.
    pub fn epoch(&self) -> u64 {
        self.epochs.last().map_or(0, |e| e.number)
    }

    /// The current epoch.
    pub fn current_epoch(&self) -> Option<&Epoch> {
        self.epochs.last()
    }

    pub fn role(&self, org: &OrgId) -> Option<Role> {
        self.members.get(org).map(|m| m.role)
    }

    pub fn is_admin(&self, org: &OrgId) -> bool {
        self.role(org) == Some(Role::Admin)
    }

    pub fn admins(&self) -> Vec<OrgId> {
        self.members.iter().filter(|(_, m)| m.role == Role::Admin).map(|(o, _)| *o).collect()
    }

    /// Whether an envelope of `kind` from `sender` with sequence `seq` is allowed (§6.7):
    /// current members may publish (readers only control items of their own); a departed member
    /// only items up to its cutoff sequence, and only what its role then allowed.
    pub fn check_sender(&self, sender: &OrgId, kind: crate::Kind, seq: u64) -> Result<(), ProtoError> {
        if let Some(m) = self.members.get(sender) {
            if !m.role.can_publish() && !kind.is_control() {
                return Err(ProtoError::ReaderCannotPublish(*sender));
            }
            return Ok(());
        }
        match self.departed.get(sender) {
            Some(d) if seq <= d.cutoff_seq => {
                if !d.role.can_publish() && !kind.is_control() {
                    return Err(ProtoError::ReaderCannotPublish(*sender));
                }
                Ok(())
            }
            _ => Err(ProtoError::NotAMember(*sender)),
        }
    }

    /// Members that hold no share of the current epoch key (added concurrently with a rekey,
    /// or whose key changed): an admin sends them an [`EpochKeyShares`].
    pub fn members_missing_current_key(&self) -> Vec<OrgId> {
        let Some(e) = self.epochs.last() else {
            return Vec::new();
        };
        self.members.keys().filter(|o| !e.recipients.contains(o)).copied().collect()
    }

    /// Whether the current key was given to someone who is no longer a member (a leave, or a
    /// rekey concurrent with a removal): an admin must rotate (§6.6).
    pub fn needs_rotation(&self) -> bool {
        self.epochs.last().is_some_and(|e| e.recipients.iter().any(|o| !self.members.contains_key(o)))
    }

    /// Key ids of every epoch of the computed state: the only keys that count (§6.6). A key
    /// learned from an op that ended up void is not among them.
    pub fn epoch_key_ids(&self) -> BTreeSet<[u8; 16]> {
        self.epochs.iter().map(|e| e.key_id).collect()
    }
}

/// Most `Leave` and `UpdateKey` ops one org may have in a group's log (§6.9). An org rotates its
/// encryption key rarely; this stops a member from filling the log with key updates.
pub const MAX_MEMBER_OPS: usize = 256;
/// Most ops an org that was removed or demoted may have in the log concurrent with the op that
/// did it (§6.9). Such ops matter only when two admins removed each other; beyond this bound
/// they are refused, so a removed admin cannot fill the log with backdated ops.
pub const MAX_CONCURRENT_OPS: usize = 64;

/// A group: its genesis and its ops. Computes [`GroupState`] by the rules in the module doc.
#[derive(Clone, Debug)]
pub struct GroupLog {
    pub genesis: SignedGenesis,
    pub id: GroupId,
    ops: BTreeMap<ItemId, LogOp>,
    /// Ops whose key bundle does not verify (checked once, at insert): void when applied.
    bad_bundle: HashSet<ItemId>,
    /// Kept at insert for [`GroupLog::admit`], so taking one op costs no scan of the log: ids
    /// that held ops name as parents, orgs some held op adds or makes admin, and each org's
    /// number of `Leave` and `UpdateKey` ops.
    named: HashSet<ItemId>,
    ever_member: HashSet<OrgId>,
    ever_admin: HashSet<OrgId>,
    member_ops: HashMap<OrgId, usize>,
}

impl GroupLog {
    pub fn new(genesis: SignedGenesis) -> Result<Self, ProtoError> {
        genesis.verify()?;
        let id = genesis.group_id();
        let founder = genesis.founder();
        Ok(GroupLog {
            genesis,
            id,
            ops: BTreeMap::new(),
            bad_bundle: HashSet::new(),
            named: HashSet::new(),
            ever_member: [founder].into_iter().collect(),
            ever_admin: [founder].into_iter().collect(),
            member_ops: HashMap::new(),
        })
    }

    /// Add an op (idempotent). Only the hard bound of twice [`MAX_GROUP_OPS`] applies here, so a
    /// node always loads what it stored; what a node accepts from peers is decided by
    /// [`GroupLog::admit`] first.
    pub fn insert(&mut self, op: LogOp) -> Result<(), ProtoError> {
        if self.ops.len() >= 2 * MAX_GROUP_OPS && !self.ops.contains_key(&op.id) {
            return Err(ProtoError::FieldTooLong { field: "group log", max: 2 * MAX_GROUP_OPS });
        }
        op.op.check_limits()?;
        let bundle = match &op.op.action {
            OpAction::Add { member, .. } => Some(member),
            OpAction::UpdateKey { bundle } => Some(bundle),
            _ => None,
        };
        if self.ops.contains_key(&op.id) {
            return Ok(());
        }
        if bundle.is_some_and(|b| b.verify_signature().is_err()) {
            self.bad_bundle.insert(op.id);
        }
        self.named.extend(op.op.parents.iter().copied());
        match &op.op.action {
            OpAction::Add { member, role, .. } => {
                self.ever_member.insert(member.bundle.org);
                if *role == Role::Admin {
                    self.ever_admin.insert(member.bundle.org);
                }
            }
            OpAction::SetRole { member, role: Role::Admin } => {
                self.ever_admin.insert(*member);
            }
            OpAction::Leave { .. } | OpAction::UpdateKey { .. } => {
                *self.member_ops.entry(op.author).or_default() += 1;
            }
            _ => {}
        }
        self.ops.insert(op.id, op);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn contains(&self, id: &ItemId) -> bool {
        self.ops.contains_key(id)
    }

    pub fn get(&self, id: &ItemId) -> Option<&LogOp> {
        self.ops.get(id)
    }

    pub fn ops(&self) -> impl Iterator<Item = &LogOp> {
        self.ops.values()
    }

    /// Up to `max` ids that held ops name as parents but that this log does not hold: what keeps
    /// those ops pending, to be fetched by id (§6.9, §9).
    pub fn missing_parents(&self, max: usize) -> Vec<ItemId> {
        let mut out = BTreeSet::new();
        for o in self.ops.values() {
            for p in &o.op.parents {
                if !self.ops.contains_key(p) {
                    out.insert(*p);
                    if out.len() >= max {
                        return out.into_iter().collect();
                    }
                }
            }
        }
        out.into_iter().collect()
    }

    /// Whether a node should take `op` from a peer, given the state it computed (§6.9). Refuses,
    /// before anything is stored, ops whose author never had the role the op needs in any op
    /// this node holds, and bounds what one org can add:
    /// - membership actions (add, remove, role, rotate) by an org that no held op ever made
    ///   admin are refused with `NotAnAdmin`; `Leave` and `UpdateKey` by an org no held op
    ///   ever added, with `NotAMember`. A sync retries both: the op that grants the role may
    ///   not have arrived yet;
    /// - an org that lost its role (removed, left or demoted, by an op this view applies) may
    ///   add at most [`MAX_CONCURRENT_OPS`] ops not preceding that op; they matter only when
    ///   two admins remove each other;
    /// - `Leave` and `UpdateKey` ops: at most [`MAX_MEMBER_OPS`] per org;
    /// - at [`MAX_GROUP_OPS`] ops that are applied or pending, only removals and demotions are
    ///   still taken (up to twice the bound), so a full log never stops the removal of whoever
    ///   filled it.
    ///
    /// An op that a held op names as parent is always taken (within the hard bound): refusing it
    /// would leave its descendants pending here while other nodes apply them. The refusals
    /// depend only on which ops a node holds, and more ops only allow more, so nodes that have
    /// offered each other their ops hold the same set and compute the same state; only an org
    /// that exceeds a bound can make two nodes keep different subsets of its own ops
    /// (`tests/props.rs`, `hostile`).
    pub fn admit(&self, state: &GroupState, op: &LogOp) -> Result<(), ProtoError> {
        op.op.check_limits()?;
        if self.ops.contains_key(&op.id) {
            return Ok(());
        }
        if self.ops.len() >= 2 * MAX_GROUP_OPS {
            return Err(ProtoError::FieldTooLong { field: "group log", max: 2 * MAX_GROUP_OPS });
        }
        if self.named.contains(&op.id) {
            return Ok(());
        }
        let author = op.author;
        let action = &op.op.action;
        let live = state.applied.len() + state.pending.len();
        if live >= MAX_GROUP_OPS && demotes(action).is_none() {
            return Err(ProtoError::FieldTooLong { field: "group log", max: MAX_GROUP_OPS });
        }
        let member_op = matches!(action, OpAction::Leave { .. } | OpAction::UpdateKey { .. });
        if member_op {
            if !self.ever_member.contains(&author) {
                return Err(ProtoError::NotAMember(author));
            }
            if self.member_ops.get(&author).copied().unwrap_or(0) >= MAX_MEMBER_OPS {
                return Err(ProtoError::OverQuota);
            }
        } else if !state.is_admin(&author) && !self.ever_admin.contains(&author) {
            return Err(ProtoError::NotAnAdmin(author));
        }
        let has_role = if member_op { state.members.contains_key(&author) } else { state.is_admin(&author) };
        if !has_role && let Some(ended) = state.ended_by.get(&author) {
            let before = self.ancestors(ended);
            let since =
                self.ops.values().filter(|o| o.author == author && o.id != *ended && !before.contains(&o.id)).count();
            if since >= MAX_CONCURRENT_OPS {
                return Err(ProtoError::OverQuota);
            }
        }
        Ok(())
    }

    /// Compute the state (§6.4, §6.5).
    ///
    /// Rule 4 is resolved in rounds. Each round applies the ops not yet voided and looks at the
    /// applied removals and demotions in order. One that no still-standing concurrent op
    /// challenges (no concurrent op removes or demotes its own author) voids, in one batch,
    /// every op of its target concurrent with it. When every such removal is itself challenged
    /// (admins removing each other), the op of the less senior admin is voided. Each round voids
    /// at least one op, and all of a removed admin's concurrent ops go in one round, so the
    /// number of rounds grows with the number of conflicting removals, not with the number of
    /// ops. Ops are handled by index (the i-th smallest id), and concurrency is answered from
    /// ancestor bitsets over the ops rule 4 compares.
    pub fn compute(&self) -> GroupState {
        let ix = Indexed::new(self);
        let (order, pending) = ix.order();
        let mut position = vec![usize::MAX; ix.ops.len()];
        for (p, i) in order.iter().enumerate() {
            position[*i] = p;
        }
        // Both by org index (see `Indexed`): the ops each org authored, and the removals and
        // demotions aimed at each org, in order.
        let mut by_author: Vec<Vec<usize>> = vec![Vec::new(); ix.orgs.len()];
        let mut demoters_of: Vec<Vec<usize>> = vec![Vec::new(); ix.orgs.len()];
        for &i in &order {
            by_author[ix.author[i]].push(i);
            if demotes(&ix.ops[i].op.action).is_some() {
                demoters_of[ix.target[i]].push(i);
            }
        }
        let reach = Reach::new(&ix, &order, &by_author, &demoters_of);
        let ctx =
            Conflicts { ix: &ix, position: &position, reach: &reach, by_author: &by_author, demoters_of: &demoters_of };
        let mut voided = vec![false; ix.ops.len()];
        // Why each op voided by rule 4 is void, by index.
        let mut reasons: Vec<Option<String>> = vec![None; ix.ops.len()];
        // Ops voided because a removal stood, by that removal: if the removal is voided in turn
        // (a cycle of admins removing each other), they are restored. Restoring stops after a
        // bound on rounds, so the loop always ends.
        let mut caused: FastMap<usize, Vec<usize>> = FastMap::default();
        let restore_rounds = 4 * demoters_of.iter().map(Vec::len).sum::<usize>() + 16;
        let mut round = 0;
        loop {
            round += 1;
            let (state, applied, demotions) = self.apply(&ix, &order, &voided);
            let victims = ctx.find(&order, &applied, &demotions, &voided);
            if victims.is_empty() {
                let mut state = state;
                state.pending = pending.iter().map(|i| ix.ops[*i].id).collect();
                // Index order is id order: the reasons come sorted, and the map is built in bulk.
                let mut void: Vec<(ItemId, String)> = std::mem::take(&mut state.void).into_iter().collect();
                void.extend(reasons.into_iter().enumerate().filter_map(|(i, r)| Some((ix.ops[i].id, r?))));
                void.sort_by_key(|v| v.0);
                state.void = BTreeMap::from_iter(void);
                let mut named = vec![false; ix.ops.len()];
                for (i, a) in applied.iter().enumerate() {
                    if *a {
                        for p in ix.parents(i) {
                            named[*p] = true;
                        }
                    }
                }
                state.heads = order.iter().filter(|i| applied[**i] && !named[**i]).map(|i| ix.ops[*i].id).collect();
                return state;
            }
            for (v, why, by) in victims {
                voided[v] = true;
                reasons[v] = Some(why);
                if let Some(by) = by {
                    caused.entry(by).or_default().push(v);
                }
                if round < restore_rounds
                    && let Some(restored) = caused.remove(&v)
                {
                    for u in restored {
                        voided[u] = false;
                        reasons[u] = None;
                    }
                }
            }
        }
    }

    fn initial_state(&self) -> GroupState {
        let g = &self.genesis.genesis;
        let founder = g.founder.bundle.org;
        let mut state = GroupState::default();
        state.members.insert(
            founder,
            Member { role: Role::Admin, since_ms: g.created_ms, bundle: g.founder.clone(), admin_rank: Some(0) },
        );
        state.epochs.push(Epoch {
            number: 0,
            key_id: g.initial_key.key_id,
            started_by: None,
            recipients: [founder].into_iter().collect(),
        });
        state
    }

    /// Apply the ordered ops, skipping voided ones. Returns the state, which ops applied, and,
    /// per applied op, the org it removed or demoted from admin (for conflict detection).
    fn apply(&self, ix: &Indexed<'_>, order: &[usize], voided: &[bool]) -> (GroupState, Vec<bool>, Vec<usize>) {
        let mut state = self.initial_state();
        state.applied.reserve(order.len());
        let mut applied = vec![false; ix.ops.len()];
        let mut demotions = Vec::new();
        let mut run =
            Run { admins: 1, roles: vec![None; ix.orgs.len()], epoch_shares: None, recipient_changes: Vec::new() };
        run.roles[ix.founder] = Some(Role::Admin);
        for (pos, &i) in order.iter().enumerate() {
            if voided[i] {
                continue;
            }
            let op = ix.ops[i];
            let result = if ix.bad[i] {
                Err("key bundle does not verify or its encryption key is unusable".to_string())
            } else {
                apply_one(&mut state, &mut run, ix, i, pos + 1)
            };
            match result {
                Ok(demoted) => {
                    state.applied.push(op.id);
                    applied[i] = true;
                    if let Some(d) = demoted {
                        state.ended_by.insert(d, op.id);
                        demotions.push(i);
                    }
                    if matches!(op.op.action, OpAction::Leave { .. }) {
                        state.ended_by.insert(op.author, op.id);
                    }
                }
                Err(why) => {
                    state.void.insert(op.id, why);
                }
            }
        }
        // Only the current epoch's recipients are kept (the rules and the node read no older
        // epoch's): its key's addressees, then the members added with a share of it and those
        // whose key changed since, in order.
        if let Some(e) = state.epochs.last_mut() {
            if let Some(key) = run.epoch_shares {
                e.recipients = key.shares.iter().map(|s| s.to).collect();
            }
            for (org, holds) in run.recipient_changes {
                if holds {
                    e.recipients.insert(org);
                } else {
                    e.recipients.remove(&org);
                }
            }
        }
        (state, applied, demotions)
    }

    fn ancestors(&self, id: &ItemId) -> HashSet<ItemId> {
        let mut seen = HashSet::new();
        let mut stack: Vec<ItemId> = self.ops.get(id).map(|o| o.op.parents.clone()).unwrap_or_default();
        while let Some(p) = stack.pop() {
            if seen.insert(p)
                && let Some(op) = self.ops.get(&p)
            {
                stack.extend(op.op.parents.iter().copied());
            }
        }
        seen
    }
}

/// The log by index: op `i` is the op with the i-th smallest id, with the indices of its known
/// parents (all ops' parents in one list, op `i`'s at `start[i]..start[i + 1]`).
struct Indexed<'a> {
    ops: Vec<&'a LogOp>,
    start: Vec<usize>,
    flat: Vec<usize>,
    /// Whether every parent of the op is in the log.
    complete: Vec<bool>,
    /// Whether the op carries a key bundle that does not verify (void when applied).
    bad: Vec<bool>,
    /// Every org an op names (as author, or as the member it adds, removes or changes), once;
    /// the rounds use their index in this list, so they look up roles without hashing.
    orgs: Vec<OrgId>,
    /// Per op: the index of its author, and of the member its action names (`NO_ORG` if none).
    author: Vec<usize>,
    target: Vec<usize>,
    /// The index of the founder.
    founder: usize,
}

const NO_ORG: usize = usize::MAX;

/// A hash map keyed per map by a random seed (foldhash): the keys here are ids and org ids, and
/// a randomly seeded fast hash keeps a crafted set of them from colliding on purpose while
/// costing a fraction of SipHash on 32-byte keys.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// What one round of applying carries besides the state: the number of admins, each org's role
/// by index, and what the current epoch's recipients are made of (built once, at the end).
struct Run<'a> {
    admins: usize,
    roles: Vec<Option<Role>>,
    /// The key of the op that started the current epoch (`None`: the genesis epoch).
    epoch_shares: Option<&'a NewEpochKey>,
    /// Since then: orgs that gained (`true`) or lost (`false`) the current key, in order.
    recipient_changes: Vec<(OrgId, bool)>,
}

impl<'a> Indexed<'a> {
    fn new(log: &'a GroupLog) -> Indexed<'a> {
        let ops: Vec<&LogOp> = log.ops.values().collect();
        let mut index: FastMap<ItemId, usize> = FastMap::with_capacity_and_hasher(ops.len(), Default::default());
        index.extend(ops.iter().enumerate().map(|(i, o)| (o.id, i)));
        let mut org_index: FastMap<OrgId, usize> = FastMap::default();
        let mut orgs = Vec::new();
        let mut org_ix = |org: OrgId| {
            *org_index.entry(org).or_insert_with(|| {
                orgs.push(org);
                orgs.len() - 1
            })
        };
        let founder = org_ix(log.genesis.founder());
        let mut author = Vec::with_capacity(ops.len());
        let mut target = Vec::with_capacity(ops.len());
        for o in &ops {
            author.push(org_ix(o.author));
            target.push(match &o.op.action {
                OpAction::Add { member, .. } => org_ix(member.bundle.org),
                OpAction::Remove { member, .. } | OpAction::SetRole { member, .. } => org_ix(*member),
                OpAction::Leave { .. } | OpAction::Rotate { .. } | OpAction::UpdateKey { .. } => NO_ORG,
            });
        }
        let mut start = Vec::with_capacity(ops.len() + 1);
        let mut flat = Vec::with_capacity(ops.len() * 2);
        let mut complete = Vec::with_capacity(ops.len());
        for o in &ops {
            let from = flat.len();
            start.push(from);
            let mut all_known = true;
            for p in &o.op.parents {
                match index.get(p) {
                    Some(&i) if !flat[from..].contains(&i) => flat.push(i),
                    Some(_) => {}
                    None => all_known = false,
                }
            }
            complete.push(all_known);
        }
        start.push(flat.len());
        let bad = if log.bad_bundle.is_empty() {
            vec![false; ops.len()]
        } else {
            ops.iter().map(|o| log.bad_bundle.contains(&o.id)).collect()
        };
        Indexed { ops, start, flat, complete, bad, orgs, author, target, founder }
    }

    /// The known parents of op `i`.
    fn parents(&self, i: usize) -> &[usize] {
        &self.flat[self.start[i]..self.start[i + 1]]
    }

    /// Topological order, ties by smallest id; ops with unknown ancestors are pending.
    ///
    /// Kahn's algorithm over every known op: an op becomes ready once all its parents are
    /// ordered, so an op with a missing ancestor (or, for hand-made ids, a cycle) never does and
    /// stays pending. Iterative on purpose: a recursive walk overflowed a 2 MiB thread stack on
    /// a chain of [`MAX_GROUP_OPS`] ops that any member can publish.
    fn order(&self) -> (Vec<usize>, Vec<usize>) {
        let n = self.ops.len();
        let mut indegree: Vec<usize> = (0..n).map(|i| self.parents(i).len()).collect();
        // Children in one list, op `p`'s at `child_start[p]..child_start[p + 1]`.
        let mut child_start = vec![0usize; n + 1];
        for &p in &self.flat {
            child_start[p + 1] += 1;
        }
        for p in 0..n {
            child_start[p + 1] += child_start[p];
        }
        let mut fill = child_start.clone();
        let mut children = vec![0usize; self.flat.len()];
        for i in 0..n {
            for &p in self.parents(i) {
                children[fill[p]] = i;
                fill[p] += 1;
            }
        }
        let mut ready: BinaryHeap<Reverse<usize>> =
            (0..n).filter(|i| indegree[*i] == 0 && self.complete[*i]).map(Reverse).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(Reverse(i)) = ready.pop() {
            order.push(i);
            for &c in &children[child_start[i]..child_start[i + 1]] {
                indegree[c] -= 1;
                if indegree[c] == 0 && self.complete[c] {
                    ready.push(Reverse(c));
                }
            }
        }
        let mut ordered = vec![false; n];
        for i in &order {
            ordered[*i] = true;
        }
        let pending = (0..n).filter(|i| !ordered[*i]).collect();
        (order, pending)
    }
}

/// Ancestry among the ops rule 4 compares: removals and demotions, and every op of an org that
/// one of them targets. A bitset over that set per op, built in one pass in order; an op with one
/// parent that is not compared has the same ancestors among compared ops as that parent and
/// shares its row, so a long chain costs one row, not one per op.
struct Reach {
    /// The op's bit in the sets, if it is compared.
    slot: Vec<usize>,
    words: usize,
    /// The row of each op.
    row_of: Vec<usize>,
    /// Rows of `words` words; row 0 is empty (no compared ancestor).
    rows: Vec<u64>,
}

impl Reach {
    const NONE: usize = usize::MAX;

    fn new(ix: &Indexed<'_>, order: &[usize], by_author: &[Vec<usize>], demoters_of: &[Vec<usize>]) -> Reach {
        let n = ix.ops.len();
        let mut slot = vec![Self::NONE; n];
        let mut next = 0;
        for (target, ops) in demoters_of.iter().enumerate() {
            if ops.is_empty() {
                continue;
            }
            for &i in ops.iter().chain(&by_author[target]) {
                if slot[i] == Self::NONE {
                    slot[i] = next;
                    next += 1;
                }
            }
        }
        let words = next.div_ceil(64);
        let mut row_of = vec![0usize; n];
        let mut rows = vec![0u64; words];
        if words > 0 {
            let mut row = vec![0u64; words];
            for &i in order {
                // Every parent of an ordered op is ordered before it, so its row is complete.
                let parents = ix.parents(i);
                if let [p] = parents[..]
                    && slot[p] == Self::NONE
                {
                    row_of[i] = row_of[p];
                    continue;
                }
                if parents.is_empty() {
                    continue;
                }
                row.iter_mut().for_each(|w| *w = 0);
                for &p in parents {
                    let r = row_of[p];
                    for (w, v) in row.iter_mut().zip(&rows[r * words..(r + 1) * words]) {
                        *w |= *v;
                    }
                    if slot[p] != Self::NONE {
                        row[slot[p] / 64] |= 1 << (slot[p] % 64);
                    }
                }
                row_of[i] = rows.len() / words;
                rows.extend_from_slice(&row);
            }
        }
        Reach { slot, words, row_of, rows }
    }

    /// Whether compared op `a` is an ancestor of op `b`.
    fn is_ancestor(&self, a: usize, b: usize) -> bool {
        let s = self.slot[a];
        s != Self::NONE && self.rows[self.row_of[b] * self.words + s / 64] & (1 << (s % 64)) != 0
    }

    /// Neither is an ancestor of the other (both compared ops).
    fn concurrent(&self, a: usize, b: usize) -> bool {
        a != b && !self.is_ancestor(a, b) && !self.is_ancestor(b, a)
    }
}

/// What rule 4 needs to find the next ops to void.
struct Conflicts<'a> {
    ix: &'a Indexed<'a>,
    position: &'a [usize],
    reach: &'a Reach,
    /// By org index, as in `GroupLog::compute`.
    by_author: &'a [Vec<usize>],
    demoters_of: &'a [Vec<usize>],
}

impl Conflicts<'_> {
    /// The ops to void next under rule 4 (empty when no conflict is left).
    fn find(
        &self,
        order: &[usize],
        applied: &[bool],
        demotions: &[usize],
        voided: &[bool],
    ) -> Vec<(usize, String, Option<usize>)> {
        // Seniority: the position of the first applied op that made an org admin (founder 0).
        let mut first_admin = vec![usize::MAX; self.ix.orgs.len()];
        for (pos, &i) in order.iter().enumerate() {
            if !applied[i] {
                continue;
            }
            if matches!(
                &self.ix.ops[i].op.action,
                OpAction::Add { role: Role::Admin, .. } | OpAction::SetRole { role: Role::Admin, .. }
            ) {
                let t = self.ix.target[i];
                first_admin[t] = first_admin[t].min(pos + 1);
            }
        }
        // Only ops before `before` count: an admin role gained later buys no seniority.
        let rank = |org: usize, before: usize| -> usize {
            if org == self.ix.founder {
                return 0;
            }
            match first_admin[org] {
                p if p <= before => p,
                _ => usize::MAX,
            }
        };
        let author = |i: usize| self.ix.author[i];
        let short = |i: usize| self.ix.ops[i].id.short();
        for &r in demotions {
            let (a, target) = (author(r), self.ix.target[r]);
            let mut challenged = false;
            for &c in &self.demoters_of[a] {
                if c == r || voided[c] || !self.reach.concurrent(c, r) {
                    continue;
                }
                if applied[c] {
                    challenged = true;
                    continue;
                }
                // `c` was void by rule 3: its author had already lost the role when it came in
                // the order, typically by `r` itself (two admins removing each other). The
                // more senior admin's op stands.
                let before = self.position[r].min(self.position[c]);
                if rank(author(c), before) < rank(a, before) {
                    return vec![(r, format!("concurrent with {}, by a more senior admin", short(c)), None)];
                }
            }
            if challenged {
                continue;
            }
            // Every op of the target concurrent with `r` is void, applied or not yet: voiding
            // them together keeps a flood of backdated ops from taking one round each.
            let why = format!("concurrent with {}, which removed or demoted its author", short(r));
            let victims: Vec<(usize, String, Option<usize>)> = self.by_author[target]
                .iter()
                .filter(|&&o| o != r && !voided[o] && self.reach.concurrent(o, r))
                .map(|&o| (o, why.clone(), Some(r)))
                .collect();
            if !victims.is_empty() {
                return victims;
            }
        }
        // Every removal with victims is challenged by another applied one: a cycle of admins
        // removing each other. The less senior admin's op is void.
        for &r in demotions {
            let a = author(r);
            for &c in &self.demoters_of[a] {
                if c == r || !applied[c] || !self.reach.concurrent(c, r) {
                    continue;
                }
                let before = self.position[r].min(self.position[c]);
                return if rank(a, before) <= rank(author(c), before) {
                    vec![(c, format!("concurrent with {}, by a more senior admin", short(r)), None)]
                } else {
                    vec![(r, format!("concurrent with {}, by a more senior admin", short(c)), None)]
                };
            }
        }
        Vec::new()
    }
}

/// The org an op would remove or demote from admin, if any (rule 4 looks at it even when the op
/// is void).
fn demotes(action: &OpAction) -> Option<OrgId> {
    match action {
        OpAction::Remove { member, .. } => Some(*member),
        OpAction::SetRole { member, role } if *role != Role::Admin => Some(*member),
        _ => None,
    }
}

/// Apply op `i` to the state (rule 3). `run` carries the number of admins and each org's role by
/// index (the same as in `state.members`). Returns the org removed or demoted from admin, if any.
fn apply_one<'a>(
    state: &mut GroupState,
    run: &mut Run<'a>,
    ix: &Indexed<'a>,
    i: usize,
    pos: usize,
) -> Result<Option<OrgId>, String> {
    let op = ix.ops[i];
    let (author, target) = (ix.author[i], ix.target[i]);
    let author_role = run.roles[author];
    let need_admin = || {
        if author_role == Some(Role::Admin) { Ok(()) } else { Err("author is not an admin at this point".to_string()) }
    };
    match &op.op.action {
        OpAction::Add { member, role, share } => {
            need_admin()?;
            let org = member.bundle.org;
            if run.roles[target].is_some() {
                return Err("already a member".into());
            }
            state.departed.remove(&org);
            let admin_rank = (*role == Role::Admin).then_some(pos);
            if *role == Role::Admin {
                run.admins += 1;
            }
            run.roles[target] = Some(*role);
            state
                .members
                .insert(org, Member { role: *role, since_ms: op.timestamp_ms, bundle: member.clone(), admin_rank });
            if let (Some(share), Some(e)) = (share, state.epochs.last())
                && share.key_id == e.key_id
                && share.shares.iter().any(|s| s.to == org)
            {
                run.recipient_changes.push((org, true));
            }
            Ok(None)
        }
        OpAction::Remove { member, cutoff_seq, new_key } => {
            need_admin()?;
            let Some(role) = run.roles[target] else {
                return Err("not a member".into());
            };
            if role == Role::Admin {
                if run.admins <= 1 {
                    return Err("would leave the group without an admin".into());
                }
                run.admins -= 1;
            }
            run.roles[target] = None;
            state.members.remove(member);
            let epoch = state.epoch() + 1;
            state.departed.insert(*member, Departed { cutoff_seq: *cutoff_seq, epoch, role });
            start_epoch(state, run, op.id, new_key, epoch);
            Ok(Some(*member))
        }
        OpAction::SetRole { member, role } => {
            need_admin()?;
            let Some(old) = run.roles[target] else {
                return Err("not a member".into());
            };
            let was_admin = old == Role::Admin;
            if was_admin && *role != Role::Admin && run.admins <= 1 {
                return Err("would leave the group without an admin".into());
            }
            run.roles[target] = Some(*role);
            let m = state.members.get_mut(member).expect("a member by its role");
            m.role = *role;
            if *role == Role::Admin && !was_admin {
                m.admin_rank = Some(pos);
                run.admins += 1;
            }
            if *role != Role::Admin {
                m.admin_rank = None;
                if was_admin {
                    run.admins -= 1;
                }
            }
            Ok((was_admin && *role != Role::Admin).then_some(*member))
        }
        OpAction::Leave { cutoff_seq } => {
            let Some(role) = author_role else {
                return Err("author is not a member".into());
            };
            if role == Role::Admin {
                if run.admins <= 1 {
                    return Err("the last admin cannot leave; make another member admin first".into());
                }
                run.admins -= 1;
            }
            run.roles[author] = None;
            state.members.remove(&op.author);
            // §6.7: a leaver keeps valid at most what it published before the Leave itself.
            let cutoff_seq = (*cutoff_seq).min(op.seq);
            state.departed.insert(op.author, Departed { cutoff_seq, epoch: state.epoch(), role });
            Ok(None)
        }
        OpAction::Rotate { new_key } => {
            need_admin()?;
            let epoch = state.epoch() + 1;
            start_epoch(state, run, op.id, new_key, epoch);
            Ok(None)
        }
        OpAction::UpdateKey { bundle } => {
            if bundle.bundle.org != op.author {
                return Err("key bundle is not the author's".into());
            }
            if author_role.is_none() {
                return Err("author is not a member".into());
            }
            let m = state.members.get_mut(&op.author).expect("a member by its role");
            if bundle.bundle.created_ms <= m.bundle.bundle.created_ms {
                return Err("key bundle is not newer than the current one".into());
            }
            m.bundle = bundle.clone();
            // Its old share was sealed to the old key: it needs a reshare.
            run.recipient_changes.push((op.author, false));
            Ok(None)
        }
    }
}

/// Start an epoch with the key an op carries. Its recipients are filled in when the round ends
/// (only the current epoch's are kept): every addressee counts, members or not, since a rekey
/// concurrent with a removal (ordered after it) seals the key to the removed org, and
/// `needs_rotation` must see that (§6.6).
fn start_epoch<'a>(state: &mut GroupState, run: &mut Run<'a>, op: ItemId, key: &'a NewEpochKey, number: u64) {
    run.epoch_shares = Some(key);
    run.recipient_changes.clear();
    state.epochs.push(Epoch { number, key_id: key.key_id, started_by: Some(op), recipients: BTreeSet::new() });
}

/// Open the founder's epoch-0 key from the genesis (sealed under the all-zero group AAD).
pub fn open_genesis_key(genesis: &SignedGenesis, me: &OrgKeys) -> Option<[u8; 32]> {
    let k = &genesis.genesis.initial_key;
    open_epoch_share(&GroupId([0; 32]), &k.key_id, &k.shares, me)
}
