//! Size limits (§3.4). Every decoder checks the input length against these before it decodes,
//! and every variable-length field is checked after decoding, so a peer can neither make a node
//! allocate more than the bytes it sent nor store an item larger than the documented bounds.

/// Largest envelope on the wire, in bytes. Gossipsub's transmit size is set to this.
pub const MAX_ENVELOPE_BYTES: usize = 256 * 1024;
/// Largest decrypted payload. Slightly below the envelope bound: the envelope adds headers.
pub const MAX_PAYLOAD_BYTES: usize = 240 * 1024;
/// Largest embedded source document (a CSAF or OSV file kept whole inside an advisory).
pub const MAX_SOURCE_DOC_BYTES: usize = 200 * 1024;
/// Longest title (bytes of UTF-8).
pub const MAX_TITLE: usize = 512;
/// Longest free text field (summary, remediation, comment, resource body).
pub const MAX_TEXT: usize = 64 * 1024;
/// Longest short string (names, ids, purls, versions, URLs).
pub const MAX_SHORT: usize = 1024;
/// Most entries in any list inside an item (aliases, affected products, references, indicators...).
pub const MAX_LIST: usize = 1024;
/// Most recipients of an AMBER/RED item, and most key shares in one epoch-key item or op.
pub const MAX_RECIPIENTS: usize = 1200;
/// Most parents a group op may name.
pub const MAX_OP_PARENTS: usize = 16;
/// Most ops the group log rules evaluate for one group. Beyond it, new ops are refused.
pub const MAX_GROUP_OPS: usize = 20_000;
/// Longest group name.
pub const MAX_GROUP_NAME: usize = 128;
/// Longest invite token / contact card, in characters of text.
pub const MAX_TOKEN_CHARS: usize = 16 * 1024;
/// Items whose timestamp is further than this in the future of the receiver's clock are
/// rejected (§4.6): a sender cannot pin its items at the top of everyone's lists.
pub const MAX_CLOCK_SKEW_MS: u64 = 10 * 60 * 1000;
