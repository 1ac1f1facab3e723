//! The API's enum fields keep the wire format of the strings they replaced: the same lower-case
//! words out, the same words in, and a bad word refused with the allowed ones named.

use serde_json::json;
use trellis_api::types::{
    EndorseRequest, EndorsementKind, FeedAdd, FeedKind, InviteLinkInfo, PublishResource, ReviseAdvisory, Role, Tlp,
};

#[test]
fn words_on_the_wire_are_unchanged() {
    let r: PublishResource = serde_json::from_value(json!({
        "group": "water", "title": "t", "topic": "incident-response", "tlp": "amber+strict"
    }))
    .unwrap();
    assert_eq!(r.tlp, Tlp::AmberStrict);
    assert_eq!(serde_json::to_value(&r).unwrap()["tlp"], "amber+strict");

    let rev: ReviseAdvisory = serde_json::from_value(json!({ "tlp": "red" })).unwrap();
    assert_eq!(rev.tlp, Some(Tlp::Red));
    let none: ReviseAdvisory = serde_json::from_value(json!({})).unwrap();
    assert_eq!(none.tlp, None);
    assert_eq!(serde_json::to_value(&none).unwrap()["tlp"], serde_json::Value::Null);

    let add: FeedAdd = serde_json::from_value(json!({ "group": "g", "source": "/srv/osv", "kind": "osv" })).unwrap();
    assert_eq!(add.kind, Some(FeedKind::Osv));
    assert_eq!(serde_json::to_value(&add).unwrap()["kind"], "osv");

    let e: EndorseRequest = serde_json::from_value(json!({ "kind": "seen" })).unwrap();
    assert_eq!(e.kind, EndorsementKind::Sighting);
    assert_eq!(serde_json::to_value(&e).unwrap()["kind"], "sighting");

    let link = json!({
        "id": "x", "group": "g", "group_name": "water", "role": "reader", "max_uses": 1, "used": 0,
        "created_ms": 1, "expires_ms": 2, "revoked_ms": null, "state": "active", "uses": []
    });
    let l: InviteLinkInfo = serde_json::from_value(link).unwrap();
    assert_eq!(l.role, Role::Reader);
    assert_eq!(serde_json::to_value(&l).unwrap()["role"], "reader");
}

#[test]
fn bad_words_are_refused_with_the_allowed_ones() {
    let e = serde_json::from_value::<PublishResource>(json!({
        "group": "water", "title": "t", "topic": "x", "tlp": "white-ish"
    }))
    .unwrap_err()
    .to_string();
    assert!(e.contains("clear") && e.contains("amber+strict"), "{e}");
    let e = serde_json::from_value::<FeedAdd>(json!({ "group": "g", "source": "s", "kind": "rss" }))
        .unwrap_err()
        .to_string();
    assert!(e.contains("csaf") && e.contains("osv"), "{e}");
    let e = serde_json::from_value::<EndorseRequest>(json!({ "kind": "like" })).unwrap_err().to_string();
    assert!(e.contains("confirm, sighting or dispute"), "{e}");
    assert!(serde_json::from_value::<ReviseAdvisory>(json!({ "tlp": 3 })).is_err());
}
