//! Fuzz the HTTP/1.1 response parser: heads, 1xx, Content-Length, chunked
//! (extensions, trailers), close-delimited bodies, pipelined, for a GET
//! wanting a body and for a HEAD.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockbench::load::wire::http1::{Method, Request, Url};

mod answers;

fuzz_target!(|data: &[u8]| {
    let url = Url::parse("http://127.0.0.1:8080/").unwrap();
    let method = if data.first().is_some_and(|byte| byte & 1 == 1) {
        Method::Head
    } else {
        Method::Get
    };
    let request = Request::new(method, &url, &[], None)
        .unwrap()
        .expecting_body(b"Hello from sockbench\n")
        .with_limits(answers::LIMITS);
    answers::judge(&request, data);
});
