//! Sans-IO service throughput: bytes/s through the protocol state machines,
//! with no sockets, threads or engine involved.
//!
//! What is timed: one `Session::handle_input` call on an input holding many
//! complete requests, through the same `Box<dyn Session>` an engine uses,
//! then clearing the output buffer (its capacity is kept, so the timed part
//! does not allocate once warmed up). Building the input, the session and the
//! expected answer happens once, before timing. Every iteration asserts that
//! the whole input was consumed and the answer has the expected length.
//!
//! Ids: `service/frame/64B` and `service/frame/4KiB` (256 and 16 frames per
//! input), `service/http/pipelined16` (16 pipelined GETs per input),
//! `service/upper/64B-lines` (256 lines per input). Throughput is the input
//! bytes.
//!
//! Run with `cargo bench --bench service`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sockbench::service::frame::{encode_frame, Frame};
use sockbench::service::http::{Http, GET_REQUEST, OK_RESPONSE};
use sockbench::service::upper::Upper;
use sockbench::service::{Peer, Service};

/// Time `service` answering `input` (complete requests only) with
/// `expected_output_bytes` of output.
fn bench_input(
    c: &mut Criterion,
    id: &str,
    service: &dyn Service,
    input: &[u8],
    expected_output_bytes: usize,
) {
    let mut group = c.benchmark_group("service");
    group.throughput(Throughput::Bytes(input.len() as u64));
    let mut session = service.new_session(&Peer::Unix);
    let mut output = Vec::with_capacity(expected_output_bytes);
    group.bench_function(id, |b| {
        b.iter(|| {
            let progress = session
                .handle_input(black_box(input), &mut output)
                .expect("the bench input is well-formed");
            assert_eq!(progress.consumed, input.len());
            assert_eq!(output.len(), expected_output_bytes);
            output.clear();
        })
    });
    group.finish();
}

/// Frames are echoed: the output is the input.
fn frame(c: &mut Criterion) {
    for (id, payload_bytes, frames) in [("frame/64B", 64, 256), ("frame/4KiB", 4096, 16)] {
        let mut input = Vec::new();
        for _ in 0..frames {
            encode_frame(&vec![0x5a; payload_bytes], &mut input);
        }
        bench_input(c, id, &Frame::default(), &input, input.len());
    }
}

/// Sixteen pipelined keep-alive GETs, each answered with `OK_RESPONSE`.
fn http(c: &mut Criterion) {
    const PIPELINED: usize = 16;
    let input = GET_REQUEST.repeat(PIPELINED);
    let expected = OK_RESPONSE.len() * PIPELINED;
    bench_input(c, "http/pipelined16", &Http::default(), &input, expected);
}

/// 64-byte lines (63 mixed-case bytes and a newline), answered in capitals.
fn upper(c: &mut Criterion) {
    let line = b"The quick brown fox jumps over the lazy dog, 0123456789 times!!\n";
    assert_eq!(line.len(), 64);
    let input = line.repeat(256);
    bench_input(c, "upper/64B-lines", &Upper::default(), &input, input.len());
}

criterion_group!(benches, frame, http, upper);
criterion_main!(benches);
