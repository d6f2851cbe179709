//! memcached's text protocol: `get KEY` and `set KEY VALUE` from a
//! `--command`, and the reply checked from the front of the read buffer.
//!
//! Requests, `{n}` replaced by the caller's key number:
//!
//! | `--command` | sent |
//! |---|---|
//! | `get k:{n}` | `get k:17\r\n` |
//! | `set k:{n} hello` | `set k:17 0 0 5\r\nhello\r\n` (flags 0, no expiry) |
//!
//! Replies are lines, and a `get` hit is a block of lines:
//! `VALUE <key> <flags> <bytes> [<cas>]\r\n<data>\r\n`, once per value
//! found, then `END\r\n`. The one-line replies are `END` (a miss),
//! `STORED`, `NOT_STORED`, `EXISTS`, `DELETED`, `NOT_FOUND`, `TOUCHED`, and
//! the errors `ERROR`, `CLIENT_ERROR <text>`, `SERVER_ERROR <text>`: whole
//! answers that are failures, after which the connection goes on.
//!
//! A `get` is of a key the generator sets first ([`Command::write_priming_request`]:
//! the key itself as its value), so the reply must be that one value: a
//! miss or a value of another key or with other data is a failure. A
//! `set` wants `STORED`.

use std::io::Write;
use std::ops::Range;

use super::command::{self, Word, MAX_KEY_DIGITS};
use super::{find_crlf, Answer, Exchange, FailureKind, Limits, RequestError, Verdict};

/// memcached refuses longer keys.
pub const MAX_KEY_BYTES: usize = 250;

/// A memcached request, and what its reply must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    verb: Verb,
    key: Word,
    limits: Limits,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Verb {
    /// `get KEY`: wants the value set by the priming request.
    Get,
    /// `set KEY VALUE`: wants `STORED`.
    Set(Word),
}

impl Command {
    /// Parse a `--command`: `get KEY` or `set KEY VALUE`, words split as a
    /// shell would, `{n}` replaced by the caller's key number.
    pub fn parse(command: &str) -> Result<Command, RequestError> {
        let mut words = command::split(command)?.into_iter();
        let (verb, key, value) = (words.next(), words.next(), words.next());
        let extra = words.next();
        let verb = match (verb, &key, value, extra) {
            (Some(verb), Some(_), None, None) if verb.is("get") => Verb::Get,
            (Some(verb), Some(_), Some(value), None) if verb.is("set") => Verb::Set(value),
            _ => {
                return Err(RequestError::new(format!(
                    "--command {command:?} is not one sockbench sends to memcached: \
                     give 'get KEY' or 'set KEY VALUE' (quote a value with spaces)"
                )))
            }
        };
        let key = key.expect("matched above");
        check_key(&key)?;
        Ok(Command {
            verb,
            key,
            limits: Limits::DEFAULT,
        })
    }

    /// The same command with other limits on its replies.
    pub fn with_limits(self, limits: Limits) -> Command {
        Command { limits, ..self }
    }

    /// For a `get`, append the `set` that stores key number `key` with the
    /// value the `get` will want (the key itself), to send before the
    /// measured window; `false` for a `set`, which needs none. Its reply is
    /// `STORED`.
    pub fn write_priming_request(&self, key: u64, out: &mut Vec<u8>) -> bool {
        if self.verb != Verb::Get {
            return false;
        }
        write_set(&self.key, &self.key, key, out);
        true
    }

    /// The reply a `get` of key number `key` must have, without its `END`:
    /// the `VALUE` line's key, and the data.
    fn wanted_value(&self, key: u64) -> Vec<u8> {
        let mut wanted = Vec::with_capacity(self.key.len_for(key));
        self.key.write(key, &mut wanted);
        wanted
    }
}

/// A memcached key: 1 to 250 bytes with no space or control byte. With
/// `{n}` the longest number is counted.
fn check_key(key: &Word) -> Result<(), RequestError> {
    let literal = key.template_bytes();
    if literal
        .iter()
        .any(|byte| byte.is_ascii_whitespace() || byte.is_ascii_control())
    {
        return Err(RequestError::new(format!(
            "memcached key {:?} has a space or a control byte, which the protocol cannot carry",
            String::from_utf8_lossy(&literal)
        )));
    }
    if literal.is_empty() || key.max_len() > MAX_KEY_BYTES {
        return Err(RequestError::new(format!(
            "memcached key {:?} must be 1 to {MAX_KEY_BYTES} bytes (each {{n}} counted as {MAX_KEY_DIGITS} digits)",
            String::from_utf8_lossy(&literal)
        )));
    }
    Ok(())
}

/// `set KEY 0 0 BYTES\r\nVALUE\r\n`.
fn write_set(key_word: &Word, value: &Word, key: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(b"set ");
    key_word.write(key, out);
    write!(out, " 0 0 {}\r\n", value.len_for(key)).expect("writing to a Vec cannot fail");
    value.write(key, out);
    out.extend_from_slice(b"\r\n");
}

impl Exchange for Command {
    fn write_request(&self, key: u64, out: &mut Vec<u8>) {
        match &self.verb {
            Verb::Get => {
                out.extend_from_slice(b"get ");
                self.key.write(key, out);
                out.extend_from_slice(b"\r\n");
            }
            Verb::Set(value) => write_set(&self.key, value, key, out),
        }
    }

    fn check(&self, key: u64, input: &[u8]) -> Verdict {
        let reply = match parse_reply(input, &self.limits) {
            Ok(Some(reply)) => reply,
            Ok(None) => return Verdict::Incomplete,
            Err(why) => return Verdict::Invalid(why),
        };
        let len = reply.len_bytes;
        let answer = match (&self.verb, reply.kind) {
            (_, Kind::Error) => Answer::failure(len, FailureKind::ErrorReply, reply.first_line),
            (Verb::Get, Kind::Values { count: 0, .. }) => {
                Answer::failure(len, FailureKind::Miss, reply.first_line)
            }
            (
                Verb::Get,
                Kind::Values {
                    count: 1,
                    key: found,
                    data,
                },
            ) => {
                let wanted = self.wanted_value(key);
                if input[found] == wanted[..] && input[data] == wanted[..] {
                    Answer::success(len)
                } else {
                    Answer::failure(len, FailureKind::Unexpected, reply.first_line)
                }
            }
            (Verb::Set(_), Kind::Line("STORED")) => Answer::success(len),
            _ => Answer::failure(len, FailureKind::Unexpected, reply.first_line),
        };
        Verdict::Answer(answer)
    }
}

/// The first reply in a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Its length in bytes.
    pub len_bytes: usize,
    /// What it is.
    pub kind: Kind,
    /// Its first line without the `\r\n`, to show it.
    pub first_line: Range<usize>,
}

/// What a reply is; text as ranges into the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `VALUE` blocks then `END`: how many, and the first one's key and
    /// data (empty ranges for none).
    Values {
        /// How many values.
        count: usize,
        /// The first value's key.
        key: Range<usize>,
        /// The first value's data.
        data: Range<usize>,
    },
    /// A one-line reply that is not an error: `STORED`, `DELETED`, ...
    Line(&'static str),
    /// `ERROR`, `CLIENT_ERROR ...` or `SERVER_ERROR ...`.
    Error,
}

/// The one-line replies that are not errors (`END` alone is a `get` miss).
const STATUS_LINES: [&str; 6] = [
    "STORED",
    "NOT_STORED",
    "EXISTS",
    "DELETED",
    "NOT_FOUND",
    "TOUCHED",
];

/// Parse the first reply at the front of `input`: `Ok(None)` while it is
/// incomplete, `Err` with the reason when it is not one or breaks a limit.
pub fn parse_reply(input: &[u8], limits: &Limits) -> Result<Option<Reply>, String> {
    let Some(first) = line_at(input, 0, limits)? else {
        return Ok(None);
    };
    let reply = |len_bytes, kind| {
        Ok(Some(Reply {
            len_bytes,
            kind,
            first_line: first.clone(),
        }))
    };
    let line = &input[first.clone()];
    if line == b"ERROR" || line.starts_with(b"CLIENT_ERROR ") || line.starts_with(b"SERVER_ERROR ")
    {
        return reply(first.end + 2, Kind::Error);
    }
    if let Some(&status) = STATUS_LINES.iter().find(|status| line == status.as_bytes()) {
        return reply(first.end + 2, Kind::Line(status));
    }
    let mut values = Kind::Values {
        count: 0,
        key: 0..0,
        data: 0..0,
    };
    let mut at = 0;
    loop {
        let Some(line) = line_at(input, at, limits)? else {
            return Ok(None);
        };
        if &input[line.clone()] == b"END" {
            return reply(line.end + 2, values);
        }
        let (key, len) = value_line(input, line.clone())?;
        // Checked before the data arrives, and before adding: `len` is the
        // server's word, as large as it likes.
        if len > limits.max_body_bytes.saturating_sub(line.end + 2) {
            return Err(format!(
                "memcached values longer than the {}-byte limit",
                limits.max_body_bytes
            ));
        }
        let data = line.end + 2..line.end + 2 + len;
        if input.len() < data.end + 2 {
            return Ok(None);
        }
        if &input[data.end..data.end + 2] != b"\r\n" {
            return Err(format!(
                "memcached value of {len} bytes does not end in \\r\\n"
            ));
        }
        at = data.end + 2;
        if let Kind::Values {
            count,
            key: first_key,
            data: first_data,
        } = &mut values
        {
            if *count == 0 {
                *first_key = key;
                *first_data = data;
            }
            *count += 1;
        }
    }
}

/// The key and data length of `VALUE <key> <flags> <bytes> [<cas>]`.
fn value_line(input: &[u8], line: Range<usize>) -> Result<(Range<usize>, usize), String> {
    let text = &input[line.clone()];
    let refuse = || format!("not a memcached reply: {:?}", String::from_utf8_lossy(text));
    let mut fields = text.split(|&byte| byte == b' ');
    if fields.next() != Some(b"VALUE") {
        return Err(refuse());
    }
    let key = fields
        .next()
        .filter(|key| !key.is_empty())
        .ok_or_else(refuse)?;
    let key_start = line.start + "VALUE ".len();
    let number = |field: Option<&[u8]>| {
        field
            .filter(|digits| !digits.is_empty() && digits.iter().all(u8::is_ascii_digit))
            .and_then(|digits| std::str::from_utf8(digits).ok()?.parse::<u64>().ok())
    };
    let (flags, bytes, cas) = (fields.next(), fields.next(), fields.next());
    let len = number(bytes).ok_or_else(refuse)?;
    if number(flags).is_none()
        || (cas.is_some() && number(cas).is_none())
        || fields.next().is_some()
    {
        return Err(refuse());
    }
    let len = usize::try_from(len).map_err(|_| refuse())?;
    Ok((key_start..key_start + key.len(), len))
}

/// The line starting at `at`, without its `\r\n`; `None` while incomplete.
fn line_at(input: &[u8], at: usize, limits: &Limits) -> Result<Option<Range<usize>>, String> {
    let rest = &input[at..];
    match find_crlf(rest) {
        Some(len) if len <= limits.max_head_bytes => Ok(Some(at..at + len)),
        None if rest.len() <= limits.max_head_bytes => Ok(None),
        _ => Err(format!(
            "memcached reply line longer than the {}-byte limit",
            limits.max_head_bytes
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::assert_incomplete_until_whole;
    use super::*;

    fn command(text: &str) -> Command {
        Command::parse(text).unwrap()
    }

    fn request(text: &str, key: u64) -> Vec<u8> {
        let mut out = Vec::new();
        command(text).write_request(key, &mut out);
        out
    }

    fn answer(command: &Command, key: u64, input: &[u8]) -> Answer {
        match command.check(key, input) {
            Verdict::Answer(answer) => answer,
            other => panic!("{:?} judged {other:?}", String::from_utf8_lossy(input)),
        }
    }

    /// get and set are written as the text protocol wants, `{n}` filled in.
    #[test]
    fn get_and_set_are_encoded_with_the_key_number() {
        assert_eq!(request("get k:{n}", 17), b"get k:17\r\n");
        assert_eq!(request("set k:{n} 'a b'", 5), b"set k:5 0 0 3\r\na b\r\n");
        assert_eq!(request("set k v{n}", 123), b"set k 0 0 4\r\nv123\r\n");
    }

    /// A get primes its key with the key as the value; a set needs nothing.
    #[test]
    fn get_primes_its_key_and_set_does_not() {
        let mut out = Vec::new();
        assert!(command("get k:{n}").write_priming_request(9, &mut out));
        assert_eq!(out, b"set k:9 0 0 3\r\nk:9\r\n");
        assert!(!command("set k v").write_priming_request(9, &mut Vec::new()));
    }

    /// Keys the protocol cannot carry, other verbs and extra words are
    /// refused before the run, each with what is supported.
    #[test]
    fn commands_memcached_cannot_express_are_refused() {
        let too_long = format!("get {}", "k".repeat(MAX_KEY_BYTES + 1));
        let hole_too_long = format!("get {}{{n}}", "k".repeat(MAX_KEY_BYTES - 5));
        for bad in [
            "get 'a b'",
            "get \"a\tb\"",
            "get ''",
            too_long.as_str(),
            hole_too_long.as_str(),
            "delete k",
            "get",
            "get a b",
            "set k",
            "set k v extra",
        ] {
            assert!(Command::parse(bad).is_err(), "{bad}");
        }
        assert!(Command::parse(&format!("get {}", "k".repeat(MAX_KEY_BYTES))).is_ok());
    }

    /// A multi-line VALUE block is incomplete at every split, whole at END,
    /// and a success when its key and data are the primed ones.
    #[test]
    fn get_hit_is_whole_at_end_and_checked_against_the_key() {
        let get = command("get k:{n}");
        let hit = b"VALUE k:42 0 4 99\r\nk:42\r\nEND\r\n";
        let whole = assert_incomplete_until_whole(|input| get.check(42, input), hit);
        assert!(whole.is_success());
        assert_eq!(
            answer(&get, 41, hit).failure.unwrap().kind,
            FailureKind::Unexpected
        );
        assert_eq!(
            answer(&get, 42, b"END\r\n").failure.unwrap().kind,
            FailureKind::Miss
        );
    }

    /// Several values in one reply are parsed to the END; the first is kept.
    #[test]
    fn several_values_are_one_reply() {
        let input = b"VALUE a 1 3\r\nx\r\n\r\nVALUE bb 2 0\r\n\r\nEND\r\nSTORED\r\n";
        let reply = parse_reply(input, &Limits::DEFAULT).unwrap().unwrap();
        assert_eq!(reply.len_bytes, input.len() - 8);
        let Kind::Values { count, key, data } = reply.kind else {
            panic!("a VALUE block");
        };
        assert_eq!(
            (count, &input[key], &input[data]),
            (2, &b"a"[..], &b"x\r\n"[..])
        );
        let next = parse_reply(&input[reply.len_bytes..], &Limits::DEFAULT).unwrap();
        assert_eq!(next.unwrap().kind, Kind::Line("STORED"));
    }

    /// set wants STORED; errors are whole answers that are failures, with
    /// their text; NOT_STORED is well formed but not what set wants.
    #[test]
    fn set_wants_stored_and_errors_are_failures() {
        let set = command("set k v");
        assert!(answer(&set, 0, b"STORED\r\n").is_success());
        let input = b"CLIENT_ERROR bad data chunk\r\n";
        let failure = answer(&set, 0, input).failure.unwrap();
        assert_eq!(failure.kind, FailureKind::ErrorReply);
        assert_eq!(&input[failure.text], b"CLIENT_ERROR bad data chunk");
        for error in [&b"ERROR\r\n"[..], b"SERVER_ERROR out of memory\r\n"] {
            assert_eq!(
                answer(&set, 0, error).failure.unwrap().kind,
                FailureKind::ErrorReply
            );
        }
        assert_eq!(
            answer(&set, 0, b"NOT_STORED\r\n").failure.unwrap().kind,
            FailureKind::Unexpected
        );
    }

    /// Malformed lines, a value without its terminator and sizes past the
    /// limits are invalid, the size before the data arrives.
    #[test]
    fn malformed_and_oversized_replies_are_invalid() {
        let limits = Limits {
            max_head_bytes: 32,
            max_body_bytes: 64,
        };
        let get = command("get k").with_limits(limits);
        for input in [
            &b"HELLO\r\n"[..],
            b"VALUE k x 3\r\n",
            b"VALUE k 0 3 1 2\r\n",
            b"VALUE k 0 3\r\nabcd\r\n",
            b"VALUE k 0 100\r\n",
            b"VALUE k 0 18446744073709551615\r\n",
            b"VALUE a-key-long-enough-to-break-the-line-limit 0 1\r\n",
            b"STORED and more bytes than the line limit allows",
        ] {
            assert!(
                matches!(get.check(0, input), Verdict::Invalid(_)),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    /// Replies captured from memcached 1.6 to a set, a get of it, a get
    /// miss, an unknown command and a set whose data is longer than it said.
    #[test]
    fn real_memcached_replies_are_judged() {
        let replies = b"STORED\r\nVALUE k:1 0 3\r\nk:1\r\nEND\r\nEND\r\nERROR\r\nCLIENT_ERROR bad data chunk\r\n";
        let kinds = [
            None,
            None,
            Some(FailureKind::Miss),
            Some(FailureKind::ErrorReply),
            Some(FailureKind::ErrorReply),
        ];
        let commands = [
            "set k:{n} k:{n}",
            "get k:{n}",
            "get k:{n}",
            "get k:{n}",
            "set k x",
        ];
        let mut rest = &replies[..];
        for (text, kind) in commands.into_iter().zip(kinds) {
            let failure = answer(&command(text), 1, rest);
            assert_eq!(failure.failure.map(|failure| failure.kind), kind, "{text}");
            rest = &rest[failure.len_bytes..];
        }
        assert!(rest.is_empty());
    }

    proptest::proptest! {
        /// No input panics, and a whole reply's prefixes are all incomplete.
        #[test]
        fn no_input_panics(input in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let get = command("get k");
            if let Verdict::Answer(answer) = get.check(0, &input) {
                proptest::prop_assert!(answer.len_bytes <= input.len());
                for cut in 0..answer.len_bytes {
                    proptest::prop_assert_eq!(get.check(0, &input[..cut]), Verdict::Incomplete);
                }
            }
            let _ = get.check_at_eof(0, &input);
        }

        /// Input made of the protocol's own lines reaches deep into the parser.
        #[test]
        fn memcached_shaped_input_never_panics(pieces in proptest::collection::vec(
            proptest::sample::select(vec!["VALUE k 0 3\r\n", "abc\r\n", "VALUE k 0 3 7\r\n", "VALUE k 0 18446744073709551615\r\n", "END\r\n", "STORED\r\n", "ERROR\r\n", "\r\n", "VALUE "]),
            0..30,
        )) {
            let input = pieces.concat();
            let _ = command("get k").check(0, input.as_bytes());
        }
    }
}
