//! Fuzz target `sync_wire`: arbitrary bytes through the sync and direct-delivery codec
//! (`trellis_proto::wire`): request and response decoding, frame headers, have-list indexing.
//! Nothing may panic, decoded values re-encode stably, and the have-list index agrees with a
//! linear scan. The checks are in `sync_wire_check.rs`, shared with the plain-Rust run.

#![no_main]

use libfuzzer_sys::fuzz_target;

mod sync_wire_check;

fuzz_target!(|data: &[u8]| {
    sync_wire_check::check(data);
});
