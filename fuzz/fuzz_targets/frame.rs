//! Fuzz the `frame` parser: length prefixes of any value, truncated
//! frames, split anywhere. Output is at most the input (frames are echoed).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockbench::service::ServiceKind;

mod common;

fuzz_target!(|data: &[u8]| {
    common::drive(ServiceKind::Frame, data, 1, 0);
});
