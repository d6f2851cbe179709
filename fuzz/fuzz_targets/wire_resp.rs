//! Fuzz the RESP2 reply parser: every type, nested arrays, nulls, lengths
//! of any value, pipelined.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockbench::load::wire::resp::Command;

mod answers;

fuzz_target!(|data: &[u8]| {
    let command = Command::parse("GET k").unwrap().with_limits(answers::LIMITS);
    answers::judge(&command, data);
});
