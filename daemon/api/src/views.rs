//! Orderings of the API's views that the node (its web console) and the CLI share.

use crate::types::AdvisoryView;

/// Most confident first, newest first among equals (`advisory list --sort confidence` and the
/// console's inbox): a stable sort of a list that comes newest first from the node.
pub fn sort_by_confidence(list: &mut [AdvisoryView]) {
    list.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
}
