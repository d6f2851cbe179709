//! Fuzz the `sized` parser: digits, newlines and anything else, split
//! anywhere. Each answer is at most 16,384 bytes for a request of at
//! least 2 bytes (`1\n`): at most 8,192 bytes out per byte in.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockbench::service::ServiceKind;

mod common;

fuzz_target!(|data: &[u8]| {
    common::drive(ServiceKind::Sized, data, 8_192, 0);
});
