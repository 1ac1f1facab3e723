//! Re-sharing a received advisory (PROTOCOL.md §5.3): the TLP label decides. CLEAR may go
//! anywhere; GREEN stays in the community it was shared in; AMBER may be passed on to named
//! organizations only by an explicit command, which is written to the node's audit log;
//! AMBER+STRICT and RED are never re-shared. The re-shared item is a new item of this org that
//! names the original in its references, under the same (or a stricter) label.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;

use trellis_proto::envelope::Envelope;
use trellis_proto::tlp::Reshare;
use trellis_proto::{ItemId, Payload};

use super::actions::Audience;
use super::{ActionError, Engine};

/// File in the home where explicit re-shares are recorded, one JSON object per line.
pub const AUDIT_LOG: &str = "audit.log";

impl Engine {
    /// Re-share advisory `id` into `group` (to `to` for AMBER). Refused per label.
    pub async fn reshare(self: &Arc<Self>, id: &str, group: &str, to: &[String]) -> Result<ItemId, ActionError> {
        let view = self.advisory(id)?;
        if let Some(why) = &view.withdrawn {
            return Err(ActionError::BadRequest(format!(
                "advisory {} is withdrawn by its publisher ({why}): not re-shared",
                view.id
            )));
        }
        // The advisory as it now reads: its latest revision (PROTOCOL.md §4.9).
        let iid = ItemId::parse(view.revision_id.as_deref().unwrap_or(&view.id))
            .map_err(|e| ActionError::Internal(e.to_string()))?;
        let item = self.store.get_item(&iid)?.ok_or_else(|| ActionError::NotFound("advisory vanished".into()))?;
        let env = Envelope::decode(&item.bytes).map_err(|e| ActionError::Internal(e.to_string()))?;
        let tlp = env.header.tlp;
        let target = self.resolve_group(group)?;
        // The label's rule is proto's (`Tlp::reshare`, §5.3): one decision, used here.
        let audience = match tlp.reshare() {
            Reshare::Anywhere => Audience::Clear,
            Reshare::NamedOrgsLogged => {
                if to.is_empty() {
                    return Err(ActionError::BadRequest(format!(
                        "re-sharing {} needs the organizations that need to know: add --to ORG",
                        tlp.label()
                    )));
                }
                Audience::Orgs(self.named_recipients(&target, tlp, to)?)
            }
            Reshare::Refused(why) => return Err(ActionError::BadRequest(why.to_string())),
        };
        let (_, payload) =
            item.open().ok_or_else(|| ActionError::BadRequest("this org cannot read that item".into()))?;
        let mut adv = match payload {
            Payload::Advisory(a) => a,
            Payload::Revision(r) => r.advisory,
            _ => return Err(ActionError::BadRequest("not an advisory".into())),
        };
        adv.references.push(format!("trellis:item:{} (re-shared; first published by {})", view.id, view.publisher));
        let audience_text = match &audience {
            Audience::Orgs(o) => o.iter().map(|x| x.to_text()).collect::<Vec<_>>(),
            _ => Vec::new(),
        };
        let (new_id, _) = self.publish_payload(target, tlp, Payload::Advisory(adv), audience).await?;
        if tlp.reshare() == Reshare::NamedOrgsLogged {
            self.audit(&serde_json::json!({
                "at_ms": self.clock.now_ms(),
                "action": "reshare",
                "tlp": tlp.as_str(),
                "original": view.id,
                "original_publisher": view.publisher,
                "new_item": new_id.to_text(),
                "group": target.to_text(),
                "to": audience_text,
            }))?;
        }
        Ok(new_id)
    }

    /// Append one line to the audit log (mode 0600).
    fn audit(&self, entry: &serde_json::Value) -> Result<(), ActionError> {
        let path = self.home.join(AUDIT_LOG);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| ActionError::Internal(format!("{}: {e}", path.display())))?;
        writeln!(f, "{entry}")
            .and_then(|_| f.sync_all())
            .map_err(|e| ActionError::Internal(format!("{}: {e}", path.display())))
    }
}
