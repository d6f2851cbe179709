//! What an `http` server must do: answer pipelined GETs in order, keep the
//! connection unless told to close, and refuse malformed or oversize
//! requests with the right status, then close.

use std::io::{BufRead, BufReader};

use super::client::{describe, Conn};
use super::{connect, send, CheckResult, Failure};
use crate::engine::ListenAddr;
use crate::service::http::{BODY, MAX_HEADER_BYTES};

/// A request that must be answered with 200, keeping the connection.
const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// A request line that must be refused with 400 and a close.
const MALFORMED: &[u8] = b"GARBAGE\r\n\r\n";

/// One parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct HttpResponse {
    /// The status code, e.g. 200.
    pub status: u16,
    /// Header names (as sent) and values.
    pub headers: Vec<(String, String)>,
    /// The body: `Content-Length` bytes, or everything up to EOF without it.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Read one response: status line, headers, then a body delimited by
/// `Content-Length` (or by EOF if the server sent none); what was wrong
/// with it otherwise.
pub fn read_http_response(reader: &mut impl BufRead) -> Result<HttpResponse, String> {
    let status_line = read_crlf_line(reader)?;
    let mut parts = status_line.splitn(3, ' ');
    if parts.next() != Some("HTTP/1.1") {
        return Err(format!("the status line {status_line:?}"));
    }
    let status = parts
        .next()
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("no status code in {status_line:?}"))?;
    let mut headers = Vec::new();
    loop {
        let line = read_crlf_line(reader)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("the malformed header line {line:?}"))?;
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let mut response = HttpResponse {
        status,
        headers,
        body: Vec::new(),
    };
    let body = match response.header("Content-Length") {
        Some(len) => {
            let len: usize = len.parse().map_err(|_| format!("Content-Length {len:?}"))?;
            response.body = vec![0u8; len];
            reader.read_exact(&mut response.body)
        }
        None => reader.read_to_end(&mut response.body).map(|_| ()),
    };
    body.map_err(|err| format!("a body cut short: {err}"))?;
    Ok(response)
}

/// One `\r\n`-terminated line, without its terminator.
fn read_crlf_line(reader: &mut impl BufRead) -> Result<String, String> {
    let mut line = Vec::new();
    reader
        .read_until(b'\n', &mut line)
        .map_err(|err| format!("{err} while reading a response"))?;
    if !line.ends_with(b"\r\n") {
        return Err(if line.is_empty() {
            "end of stream instead of a response".into()
        } else {
            format!("{} where a CRLF-terminated line belongs", describe(&line))
        });
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).map_err(|err| format!("a response head that is not text: {err}"))
}

/// A buffered reader over a second handle to `client`.
fn reader(client: &Conn, sent: &str) -> Result<BufReader<Conn>, Failure> {
    let handle = client
        .try_clone()
        .map_err(|err| Failure::new(sent, "a connection", err.to_string()))?;
    Ok(BufReader::new(handle))
}

/// The next response has `status`, and nothing but the server's close
/// follows it.
fn expect_status_then_close(reader: &mut BufReader<Conn>, sent: &str, status: u16) -> CheckResult {
    let expected = format!("a {status} response, then the server's close");
    let response = read_http_response(reader).map_err(|got| Failure::new(sent, &expected, got))?;
    if response.status != status {
        return Err(Failure::new(
            sent,
            &expected,
            format!("a {} response", response.status),
        ));
    }
    let mut rest = reader.buffer().to_vec();
    let tail = reader
        .get_mut()
        .read_to_end_with_timeout()
        .map_err(|err| Failure::new(sent, &expected, format!("the response, then {err}")))?;
    rest.extend_from_slice(&tail);
    if !rest.is_empty() {
        return Err(Failure::new(
            sent,
            &expected,
            format!("the response, then {}", describe(&rest)),
        ));
    }
    Ok(())
}

/// `pipelined-gets`: 100 pipelined GETs on one connection get 100 `200`
/// answers with the service's body; the connection stays open, and a GET
/// pipelined with a bad line gets `200` then `400`, in request order.
pub fn pipelined_gets_in_order(addr: &ListenAddr) -> CheckResult {
    let mut client = connect(addr)?;
    let sent = "100 GETs in one write";
    send(&mut client, &GET.repeat(100), sent)?;
    let mut reader = reader(&client, sent)?;
    for i in 0..100 {
        let expected = format!("response {i} of 100: 200 with body {}", describe(BODY));
        let response =
            read_http_response(&mut reader).map_err(|got| Failure::new(sent, &expected, got))?;
        if response.status != 200 || response.body != BODY {
            let got = format!("{} with body {}", response.status, describe(&response.body));
            return Err(Failure::new(sent, expected, got));
        }
    }
    // Identical answers cannot show their order; two different ones can.
    let sent = "a GET and a malformed request in one write";
    send(&mut client, &[GET, MALFORMED].concat(), sent)?;
    let first =
        read_http_response(&mut reader).map_err(|got| Failure::new(sent, "200, then 400", got))?;
    if first.status != 200 {
        return Err(Failure::new(
            sent,
            "200, then 400",
            format!("{} first", first.status),
        ));
    }
    expect_status_then_close(&mut reader, sent, 400)
}

/// `malformed-request`: a malformed request line gets `400`, then the
/// connection is closed.
pub fn malformed_request_gets_400_and_close(addr: &ListenAddr) -> CheckResult {
    let mut client = connect(addr)?;
    let sent = describe(MALFORMED);
    send(&mut client, MALFORMED, &sent)?;
    expect_status_then_close(&mut reader(&client, &sent)?, &sent, 400)
}

/// `connection-close`: `Connection: close` gets its `200`, then the
/// connection is closed.
pub fn connection_close_gets_answer_then_close(addr: &ListenAddr) -> CheckResult {
    let mut client = connect(addr)?;
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let sent = "a GET with Connection: close";
    send(&mut client, request, sent)?;
    expect_status_then_close(&mut reader(&client, sent)?, sent, 200)
}

/// `oversize-header`: a header section over 8 KiB gets `431`, then the
/// connection is closed.
pub fn oversize_header_gets_431_and_close(addr: &ListenAddr) -> CheckResult {
    let mut client = connect(addr)?;
    let filler = "a".repeat(MAX_HEADER_BYTES);
    let request = format!("GET / HTTP/1.1\r\nX-Filler: {filler}\r\n\r\n");
    let sent = "a GET with an 8 KiB header";
    send(&mut client, request.as_bytes(), sent)?;
    expect_status_then_close(&mut reader(&client, sent)?, sent, 431)
}
