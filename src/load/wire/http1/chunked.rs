//! HTTP/1.1 bodies, and the chunked transfer coding (RFC 9112 §7.1):
//! where a body ends, and whether it is the one `--expect-body` wants.
//!
//! A chunked body is chunks, each a size line (hex digits, then optional
//! extensions `;name=value`) and that many bytes and `\r\n`, then a
//! zero-size chunk and trailer fields up to an empty line:
//!
//! ```text
//! 5;lang=en\r\nHello\r\n0\r\nExpires: never\r\n\r\n
//! ```
//!
//! The whole framed body counts against the body limit, so a server
//! cannot make the client buffer more by cutting it into many small
//! chunks; each size line and the trailers have limits of their own.

use super::super::{find_crlf, Limits};
use super::request::is_token_byte;

/// A chunk's size line (extensions included) longer than this is refused.
const MAX_CHUNK_LINE_BYTES: usize = 1024;

/// Trailer fields beyond this many are refused.
const MAX_TRAILERS: usize = 32;

/// Compares a body, piece by piece as it is framed, with the one wanted.
#[derive(Debug)]
pub(super) struct BodyMatch<'a> {
    /// The body wanted, `None` when any body will do.
    wanted: Option<&'a [u8]>,
    /// How many bytes of body have been compared.
    seen: usize,
    /// Whether all of them matched.
    is_matching: bool,
}

impl<'a> BodyMatch<'a> {
    pub(super) fn new(wanted: Option<&'a [u8]>) -> Self {
        BodyMatch {
            wanted,
            seen: 0,
            is_matching: true,
        }
    }

    /// The next piece of body.
    pub(super) fn feed(&mut self, piece: &[u8]) {
        if let Some(wanted) = self.wanted {
            let end = self.seen + piece.len();
            self.is_matching &= wanted.get(self.seen..end) == Some(piece);
            self.seen = end;
        }
    }

    /// Whether the whole body was the one wanted (or any was).
    pub(super) fn is_match(&self) -> bool {
        self.wanted
            .map_or(true, |wanted| self.is_matching && self.seen == wanted.len())
    }
}

/// The length of the chunked body at the front of `body`, its chunks fed
/// to `matcher`: `Ok(None)` while incomplete, `Err` when it is malformed or
/// over a limit.
pub(super) fn chunked_len(
    body: &[u8],
    limits: &Limits,
    matcher: &mut BodyMatch<'_>,
) -> Result<Option<usize>, String> {
    let over_limit = || {
        format!(
            "chunked HTTP body longer than the {}-byte limit",
            limits.max_body_bytes
        )
    };
    let mut at = 0;
    loop {
        let rest = &body[at..];
        let line_len = match find_crlf(rest) {
            Some(len) if len <= MAX_CHUNK_LINE_BYTES => len,
            None if rest.len() <= MAX_CHUNK_LINE_BYTES => {
                return if body.len() > limits.max_body_bytes {
                    Err(over_limit())
                } else {
                    Ok(None)
                };
            }
            _ => {
                return Err(format!(
                    "chunk size line longer than {MAX_CHUNK_LINE_BYTES} bytes"
                ))
            }
        };
        let size = chunk_size(&rest[..line_len])?;
        let data_start = at + line_len + 2;
        if size == 0 {
            return trailers_len(&body[data_start..], limits)
                .map(|len| len.map(|len| data_start + len));
        }
        // Checked before the data arrives: a huge size is refused at once.
        let data_end = match usize::try_from(size) {
            Ok(size) if size <= limits.max_body_bytes.saturating_sub(data_start + 2) => {
                data_start + size
            }
            _ => return Err(over_limit()),
        };
        if body.len() < data_end + 2 {
            return Ok(None);
        }
        if &body[data_end..data_end + 2] != b"\r\n" {
            return Err(format!("HTTP chunk of {size} bytes does not end in \\r\\n"));
        }
        matcher.feed(&body[data_start..data_end]);
        at = data_end + 2;
    }
}

/// The length of the trailer section (fields, then an empty line).
fn trailers_len(input: &[u8], limits: &Limits) -> Result<Option<usize>, String> {
    let mut trailers = [httparse::EMPTY_HEADER; MAX_TRAILERS];
    match httparse::parse_headers(input, &mut trailers) {
        Ok(httparse::Status::Complete((len, _))) if len <= limits.max_head_bytes => Ok(Some(len)),
        Ok(httparse::Status::Partial) if input.len() <= limits.max_head_bytes => Ok(None),
        Ok(_) => Err(format!(
            "HTTP trailers longer than the {}-byte limit",
            limits.max_head_bytes
        )),
        Err(httparse::Error::TooManyHeaders) => {
            Err(format!("more than {MAX_TRAILERS} HTTP trailer fields"))
        }
        Err(error) => Err(format!("malformed HTTP trailers ({error})")),
    }
}

/// A chunk size line: hex digits, then `;name[=value]` extensions (the
/// value a token or a quoted string), with optional spaces around.
fn chunk_size(line: &[u8]) -> Result<u64, String> {
    let refuse = || {
        format!(
            "malformed HTTP chunk size line {:?}",
            String::from_utf8_lossy(line)
        )
    };
    let digits = line
        .iter()
        .take_while(|byte| byte.is_ascii_hexdigit())
        .count();
    let size = std::str::from_utf8(&line[..digits])
        .ok()
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .ok_or_else(refuse)?;
    let mut rest = &line[digits..];
    loop {
        rest = skip_spaces(rest);
        let Some(extension) = rest.strip_prefix(b";") else {
            return if rest.is_empty() {
                Ok(size)
            } else {
                Err(refuse())
            };
        };
        rest = skip_spaces(extension);
        let name = rest.iter().take_while(|&&byte| is_token_byte(byte)).count();
        if name == 0 {
            return Err(refuse());
        }
        rest = skip_spaces(&rest[name..]);
        if let Some(value) = rest.strip_prefix(b"=") {
            rest = skip_spaces(value);
            let value = if rest.starts_with(b"\"") {
                quoted_string_len(rest)
            } else {
                Some(rest.iter().take_while(|&&byte| is_token_byte(byte)).count())
            };
            match value {
                Some(len) if len > 0 => rest = &rest[len..],
                _ => return Err(refuse()),
            }
        }
    }
}

/// The length of the quoted string at the front of `input` (quotes
/// included, `\` escaping the next byte), `None` if it is not closed.
fn quoted_string_len(input: &[u8]) -> Option<usize> {
    let mut at = 1;
    while at < input.len() {
        match input[at] {
            b'"' => return Some(at + 1),
            b'\\' => at += 2,
            _ => at += 1,
        }
    }
    None
}

fn skip_spaces(input: &[u8]) -> &[u8] {
    let spaces = input
        .iter()
        .take_while(|&&byte| byte == b' ' || byte == b'\t')
        .count();
    &input[spaces..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(chunked: &[u8], wanted: Option<&[u8]>) -> (Result<Option<usize>, String>, bool) {
        let mut matcher = BodyMatch::new(wanted);
        let len = chunked_len(chunked, &Limits::DEFAULT, &mut matcher);
        (len, matcher.is_match())
    }

    /// Extensions (tokens, quoted strings with escapes) and trailers are
    /// parsed; the body is the chunks' data joined.
    #[test]
    fn extensions_and_trailers_are_parsed() {
        let chunked = b"5 ; lang=en;q=\"a \\\" b\"\r\nHello\r\n1;x\r\n!\r\n0\r\nExpires: never\r\nX: y\r\n\r\n";
        assert_eq!(
            body_of(chunked, Some(b"Hello!")),
            (Ok(Some(chunked.len())), true)
        );
        assert!(!body_of(chunked, Some(b"Hello")).1);
        assert!(!body_of(chunked, Some(b"Hello!!")).1);
    }

    /// Bad size lines and terminators are malformed; sizes past the limit
    /// are refused before the data.
    #[test]
    fn malformed_and_oversized_chunks_are_refused() {
        for bad in [
            &b"x\r\n"[..],
            b"5;\r\n",
            b"5;=v\r\n",
            b"5;a=\r\n",
            b"5;a=\"open\r\n",
            b"5 junk\r\n",
            b"3\r\nabcd\r\n",
            b"fffffffffffffffff\r\n",
            b"ffffffffffffffff\r\n",
            b"100001\r\n",
            b"0\r\nBad Trailer\r\n\r\n",
        ] {
            assert!(
                body_of(bad, None).0.is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long_line = [b'1'; MAX_CHUNK_LINE_BYTES + 1];
        assert!(body_of(&long_line, None).0.is_err());
    }
}
