//! Fuzz the `http` parser: request lines, headers, pipelining, split
//! anywhere. Each answer is at most a few hundred bytes and needs at least
//! a few bytes of request (the smallest request line is 16 bytes), so the
//! output is bounded by a small multiple of the input, plus one error
//! answer for a request cut off at EOF.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockbench::service::ServiceKind;

mod common;

fuzz_target!(|data: &[u8]| {
    common::drive(ServiceKind::Http, data, 64, 512);
});
