//! Fuzz the memcached text reply parser: VALUE blocks (with and without
//! cas), status and error lines, lengths of any value, pipelined.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockbench::load::wire::memcached::Command;

mod answers;

fuzz_target!(|data: &[u8]| {
    let command = Command::parse("get k").unwrap().with_limits(answers::LIMITS);
    answers::judge(&command, data);
});
