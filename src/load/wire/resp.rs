//! Redis's protocol, RESP2: a `--command` sent as an array of bulk
//! strings, and the reply checked from the front of the read buffer.
//!
//! A reply is one value, told apart by its first byte:
//!
//! | first byte | value | example |
//! |---|---|---|
//! | `+` | simple string | `+PONG\r\n` |
//! | `-` | error (a whole answer that is a failure, its text kept) | `-ERR unknown command\r\n` |
//! | `:` | integer | `:42\r\n` |
//! | `$` | bulk string of a length, or null | `$5\r\nhello\r\n`, `$-1\r\n` |
//! | `*` | array of values, nested, or null | `*2\r\n:1\r\n$1\r\na\r\n`, `*-1\r\n` |
//!
//! Lengths come from the server and are not trusted: a line, a bulk
//! string, an array's element count and the nesting depth all have limits
//! ([`Limits`], [`MAX_DEPTH`]), checked before the bytes arrive. RESP3's
//! types (sent only after `HELLO 3`, which is refused) are invalid here.
//!
//! What counts as success depends on the request: `PING` wants `+PONG`,
//! `SET key value` wants `+OK`, any other command any reply but an error.

use std::io::Write;
use std::ops::Range;

use super::command::{self, Word};
use super::{find_crlf, Answer, Exchange, FailureKind, Limits, RequestError, Verdict};

/// Arrays nested deeper than this are refused (Redis's own replies nest a
/// few levels at most; the limit keeps a hostile reply from recursing far).
pub const MAX_DEPTH: usize = 32;

/// Commands that break "one request, one reply", so cannot be measured
/// that way: they push replies of their own, or change the protocol.
const REFUSED_COMMANDS: [&str; 6] = [
    "SUBSCRIBE",
    "PSUBSCRIBE",
    "SSUBSCRIBE",
    "MONITOR",
    "HELLO",
    "QUIT",
];

/// A Redis command, and what its reply must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    words: Vec<Word>,
    wants: Wants,
    limits: Limits,
}

/// What a reply must be, besides not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wants {
    /// This simple string (`PONG` for `PING`, `OK` for `SET k v`).
    Simple(&'static str),
    /// Any reply.
    Any,
}

impl Command {
    /// `PING`, the default: the cheapest command, answered `+PONG`.
    pub fn ping() -> Command {
        Command::parse("PING").expect("PING is a command")
    }

    /// Parse a `--command` such as `GET k` or `SET k:{n} v`: words split
    /// as a shell would, `{n}` replaced by the caller's key number.
    pub fn parse(command: &str) -> Result<Command, RequestError> {
        let words = command::split(command)?;
        if let Some(name) = REFUSED_COMMANDS.iter().find(|name| words[0].is(name)) {
            return Err(RequestError::new(format!(
                "--command {name} does not answer each request with one reply: \
                 give a command such as PING, GET k or SET k v"
            )));
        }
        let wants = if words.len() == 1 && words[0].is("PING") {
            Wants::Simple("PONG")
        } else if words.len() == 3 && words[0].is("SET") {
            Wants::Simple("OK")
        } else {
            Wants::Any
        };
        Ok(Command {
            words,
            wants,
            limits: Limits::DEFAULT,
        })
    }

    /// The same command with other limits on its replies.
    pub fn with_limits(self, limits: Limits) -> Command {
        Command { limits, ..self }
    }
}

impl Exchange for Command {
    /// `*<words>\r\n` then `$<len>\r\n<word>\r\n` for each word.
    fn write_request(&self, key: u64, out: &mut Vec<u8>) {
        write!(out, "*{}\r\n", self.words.len()).expect("writing to a Vec cannot fail");
        for word in &self.words {
            write!(out, "${}\r\n", word.len_for(key)).expect("writing to a Vec cannot fail");
            word.write(key, out);
            out.extend_from_slice(b"\r\n");
        }
    }

    fn check(&self, _key: u64, input: &[u8]) -> Verdict {
        let reply = match parse_reply(input, &self.limits) {
            Ok(Some(reply)) => reply,
            Ok(None) => return Verdict::Incomplete,
            Err(why) => return Verdict::Invalid(why),
        };
        let answer = match (reply.value, self.wants) {
            (Value::Error(text), _) => {
                Answer::failure(reply.len_bytes, FailureKind::ErrorReply, text)
            }
            (Value::Simple(text), Wants::Simple(wanted))
                if input[text.clone()] == *wanted.as_bytes() =>
            {
                Answer::success(reply.len_bytes)
            }
            (_, Wants::Simple(_)) => {
                Answer::failure(reply.len_bytes, FailureKind::Unexpected, reply.first_line)
            }
            (_, Wants::Any) => Answer::success(reply.len_bytes),
        };
        Verdict::Answer(answer)
    }
}

/// The first reply in a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Its length in bytes.
    pub len_bytes: usize,
    /// What kind of value it is (an array's elements are checked, not kept).
    pub value: Value,
    /// Its first line without the `\r\n`, to show it.
    pub first_line: Range<usize>,
}

/// The top-level value of a reply; text as ranges into the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `+text`.
    Simple(Range<usize>),
    /// `-text`: the text after the `-`.
    Error(Range<usize>),
    /// `:n`.
    Integer(i64),
    /// `$len` and that many bytes; `None` for the null bulk string `$-1`.
    Bulk(Option<Range<usize>>),
    /// `*count` and that many values; `None` for the null array `*-1`.
    Array(Option<usize>),
}

/// Parse the first reply at the front of `input`: `Ok(None)` while it is
/// incomplete, `Err` with the reason when it is not RESP2 or breaks a limit.
pub fn parse_reply(input: &[u8], limits: &Limits) -> Result<Option<Reply>, String> {
    let Some((end, value)) = parse_value(input, 0, 0, limits)? else {
        if input.len() > limits.max_body_bytes {
            return Err(too_long(limits));
        }
        return Ok(None);
    };
    if end > limits.max_body_bytes {
        return Err(too_long(limits));
    }
    let first_line = 0..find_crlf(input).expect("a whole reply has a line");
    Ok(Some(Reply {
        len_bytes: end,
        value,
        first_line,
    }))
}

fn too_long(limits: &Limits) -> String {
    format!(
        "RESP reply longer than the {}-byte limit",
        limits.max_body_bytes
    )
}

/// Parse the value starting at `at`, nested `depth` arrays deep: where it
/// ends, and what it is; `None` while incomplete.
fn parse_value(
    input: &[u8],
    at: usize,
    depth: usize,
    limits: &Limits,
) -> Result<Option<(usize, Value)>, String> {
    let Some(line) = line_at(input, at, limits)? else {
        return Ok(None);
    };
    let after_line = line.end + 2;
    let text = line.start + 1..line.end;
    let value = match input[line.start] {
        b'+' => Value::Simple(text),
        b'-' => Value::Error(text),
        b':' => Value::Integer(integer(&input[text], "integer")?),
        b'$' => match length(&input[text], "bulk string")? {
            None => Value::Bulk(None),
            Some(len) if len > limits.max_body_bytes => {
                return Err(format!(
                    "RESP bulk string of {len} bytes is over the {}-byte limit",
                    limits.max_body_bytes
                ))
            }
            Some(len) => {
                let end = after_line + len;
                if input.len() < end + 2 {
                    return Ok(None);
                }
                if &input[end..end + 2] != b"\r\n" {
                    return Err(format!(
                        "RESP bulk string of {len} bytes does not end in \\r\\n"
                    ));
                }
                return Ok(Some((end + 2, Value::Bulk(Some(after_line..end)))));
            }
        },
        b'*' => match length(&input[text], "array")? {
            None => Value::Array(None),
            Some(count) => return parse_elements(input, after_line, count, depth, limits),
        },
        other => return Err(unknown_type(other, &input[line])),
    };
    Ok(Some((after_line, value)))
}

/// Parse `count` elements of an array, the first starting at `at`.
fn parse_elements(
    input: &[u8],
    at: usize,
    count: usize,
    depth: usize,
    limits: &Limits,
) -> Result<Option<(usize, Value)>, String> {
    if count > 0 && depth + 1 > MAX_DEPTH {
        return Err(format!("RESP arrays nested deeper than {MAX_DEPTH}"));
    }
    // The smallest element is 3 bytes (`+\r\n`): a count that cannot fit
    // the limit is refused before its elements are waited for.
    if count > limits.max_body_bytes / 3 {
        return Err(format!(
            "RESP array of {count} elements cannot fit the {}-byte limit",
            limits.max_body_bytes
        ));
    }
    let mut end = at;
    for _ in 0..count {
        match parse_value(input, end, depth + 1, limits)? {
            Some((next, _)) => end = next,
            None => return Ok(None),
        }
    }
    Ok(Some((end, Value::Array(Some(count)))))
}

/// The line starting at `at` (its type byte included, its `\r\n` not);
/// `None` while incomplete.
fn line_at(input: &[u8], at: usize, limits: &Limits) -> Result<Option<Range<usize>>, String> {
    let rest = &input[at..];
    match find_crlf(rest) {
        Some(0) => Err("RESP value with an empty line, no type byte".into()),
        Some(len) if len > limits.max_head_bytes => Err(line_too_long(limits)),
        Some(len) => Ok(Some(at..at + len)),
        None if rest.len() > limits.max_head_bytes => Err(line_too_long(limits)),
        None => Ok(None),
    }
}

fn line_too_long(limits: &Limits) -> String {
    format!(
        "RESP line longer than the {}-byte limit",
        limits.max_head_bytes
    )
}

/// A RESP integer: an optional `-`, then digits, fitting 64 bits.
fn integer(text: &[u8], what: &str) -> Result<i64, String> {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    let parsed = if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
        std::str::from_utf8(text)
            .ok()
            .and_then(|text| text.parse().ok())
    } else {
        None
    };
    parsed.ok_or_else(|| {
        format!(
            "RESP {what} {:?} is not a 64-bit integer",
            String::from_utf8_lossy(text)
        )
    })
}

/// A bulk string's or array's length: `None` for the null `-1`.
fn length(text: &[u8], what: &str) -> Result<Option<usize>, String> {
    match integer(text, what)? {
        -1 => Ok(None),
        len => usize::try_from(len)
            .map(Some)
            .map_err(|_| format!("RESP {what} length {len} is negative")),
    }
}

fn unknown_type(first: u8, line: &[u8]) -> String {
    let line = String::from_utf8_lossy(line);
    if b"_,#!=(%~>|".contains(&first) {
        format!("RESP3 reply {line:?}: sockbench speaks RESP2 (do not send HELLO 3)")
    } else {
        format!("not a RESP reply: {line:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::assert_incomplete_until_whole;
    use super::*;

    fn check(command: &Command, input: &[u8]) -> Verdict {
        command.check(0, input)
    }

    fn any_command() -> Command {
        Command::parse("GET k").unwrap()
    }

    fn request(command: &str, key: u64) -> Vec<u8> {
        let mut out = Vec::new();
        Command::parse(command)
            .unwrap()
            .write_request(key, &mut out);
        out
    }

    /// A command goes out as an array of bulk strings, `{n}` filled in.
    #[test]
    fn commands_are_encoded_as_arrays_of_bulk_strings() {
        assert_eq!(request("PING", 0), b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(
            request("SET k:{n} 'a b'", 1234),
            b"*3\r\n$3\r\nSET\r\n$6\r\nk:1234\r\n$3\r\na b\r\n"
        );
    }

    /// Commands that answer more than once, or change the protocol, and
    /// broken quoting, are refused before the run.
    #[test]
    fn commands_that_cannot_be_measured_are_refused() {
        for bad in ["subscribe news", "MONITOR", "HELLO 3", "SET k \"v"] {
            assert!(Command::parse(bad).is_err(), "{bad}");
        }
    }

    /// PING wants +PONG, split at every byte; another simple string is a
    /// well-formed but unexpected reply.
    #[test]
    fn ping_wants_pong() {
        let ping = Command::ping();
        let answer = assert_incomplete_until_whole(|input| check(&ping, input), b"+PONG\r\n");
        assert!(answer.is_success());
        let Verdict::Answer(other) = check(&ping, b"+OK\r\n") else {
            panic!("+OK is a whole reply");
        };
        assert_eq!(other.failure.unwrap().kind, FailureKind::Unexpected);
    }

    /// `-ERR ...` is a whole answer that is an error, its text kept.
    #[test]
    fn error_replies_are_failures_with_their_text() {
        let input = b"-ERR unknown command 'FOO'\r\n+PONG\r\n";
        let Verdict::Answer(answer) = check(&any_command(), input) else {
            panic!("an error reply is a whole answer");
        };
        assert_eq!(answer.len_bytes, 28);
        let failure = answer.failure.unwrap();
        assert_eq!(failure.kind, FailureKind::ErrorReply);
        assert_eq!(&input[failure.text], b"ERR unknown command 'FOO'");
    }

    /// Bulk strings, null, integers and nested arrays, each split at every
    /// byte: incomplete until whole, then the value it is.
    #[test]
    fn every_reply_type_is_incomplete_until_whole() {
        let cases: [(&[u8], Value); 6] = [
            (b"$5\r\nhello\r\n", Value::Bulk(Some(4..9))),
            (b"$0\r\n\r\n", Value::Bulk(Some(4..4))),
            (b"$-1\r\n", Value::Bulk(None)),
            (b":-42\r\n", Value::Integer(-42)),
            (b"*-1\r\n", Value::Array(None)),
            (
                b"*3\r\n*2\r\n:1\r\n$1\r\na\r\n*0\r\n-ERR inner\r\n",
                Value::Array(Some(3)),
            ),
        ];
        for (input, value) in cases {
            assert_incomplete_until_whole(|input| check(&any_command(), input), input);
            let reply = parse_reply(input, &Limits::DEFAULT).unwrap().unwrap();
            assert_eq!(reply.value, value);
        }
    }

    /// Two replies back to back: the first is judged alone, then the next.
    #[test]
    fn pipelined_replies_are_taken_one_at_a_time() {
        let input = b"+PONG\r\n+PONG\r\n";
        let Verdict::Answer(first) = check(&Command::ping(), input) else {
            panic!("first reply is whole");
        };
        assert_eq!(first.len_bytes, 7);
        assert_eq!(
            check(&Command::ping(), &input[7..]),
            Verdict::Answer(Answer::success(7))
        );
    }

    /// Lengths and depths past the limits are refused before the bytes
    /// arrive; malformed lengths, terminators and RESP3 types are invalid.
    #[test]
    fn limits_and_malformed_replies_are_invalid() {
        let limits = Limits {
            max_head_bytes: 16,
            max_body_bytes: 100,
        };
        let small = any_command().with_limits(limits);
        let deep = "*1\r\n".repeat(MAX_DEPTH + 1) + ":1\r\n";
        let invalid: [&[u8]; 9] = [
            b"$101\r\n",
            b"*34\r\n",
            b"+this line is longer than sixteen",
            deep.as_bytes(),
            b"$3\r\nabcd\r\n",
            b":12a\r\n",
            b"$-2\r\n",
            b"%1\r\n",
            b"hello\r\n",
        ];
        for input in invalid {
            let limited = if input == deep.as_bytes() {
                any_command()
            } else {
                small.clone()
            };
            assert!(
                matches!(check(&limited, input), Verdict::Invalid(_)),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let nested_to_the_limit = "*1\r\n".repeat(MAX_DEPTH) + ":1\r\n";
        assert!(matches!(
            check(&any_command(), nested_to_the_limit.as_bytes()),
            Verdict::Answer(_)
        ));
    }

    /// Replies captured from redis-server 7.0 to PING, SET, GET (hit and
    /// miss), an unknown command and a wrong one, pipelined.
    #[test]
    fn real_redis_replies_are_judged() {
        let replies = b"+PONG\r\n+OK\r\n$2\r\nhi\r\n$-1\r\n-ERR unknown command 'FOO', with args beginning with: \r\n-ERR wrong number of arguments for 'lrange' command\r\n";
        let commands = [
            "PING",
            "SET k:{n} hi",
            "GET k:{n}",
            "GET none",
            "FOO",
            "LRANGE l 0",
        ];
        let mut rest = &replies[..];
        for (command, is_success) in commands
            .into_iter()
            .zip([true, true, true, true, false, false])
        {
            let Verdict::Answer(answer) = Command::parse(command).unwrap().check(1, rest) else {
                panic!("{command}: a whole reply");
            };
            assert_eq!(answer.is_success(), is_success, "{command}");
            rest = &rest[answer.len_bytes..];
        }
        assert!(rest.is_empty());
    }

    proptest::proptest! {
        /// No input panics, and a whole reply's prefixes are all incomplete.
        #[test]
        fn no_input_panics(input in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let command = any_command();
            if let Verdict::Answer(answer) = command.check(0, &input) {
                proptest::prop_assert!(answer.len_bytes <= input.len());
                for cut in 0..answer.len_bytes {
                    proptest::prop_assert_eq!(command.check(0, &input[..cut]), Verdict::Incomplete);
                }
            }
            let _ = command.check_at_eof(0, &input);
        }

        /// Random bytes made of RESP's own pieces reach deep into the parser.
        #[test]
        fn resp_shaped_input_never_panics(pieces in proptest::collection::vec(
            proptest::sample::select(vec!["*2\r\n", "*-1\r\n", "$3\r\nabc\r\n", "$-1\r\n", ":7\r\n", "+OK\r\n", "-ERR x\r\n", "\r\n", "$", "*"]),
            0..40,
        )) {
            let input = pieces.concat();
            let _ = any_command().check(0, input.as_bytes());
        }
    }
}
