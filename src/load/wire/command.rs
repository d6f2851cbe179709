//! A `--command` as words with `{n}` holes: split once, before the run,
//! the way a shell splits (quotes group words, backslashes escape), then
//! written per request with the caller's key number in every hole. Shared
//! by [`super::resp`] and [`super::memcached`], which decide what the words
//! may be.

use std::io::Write;

use super::RequestError;

/// Where a key number goes in a word.
const KEY_HOLE: &str = "{n}";

/// The most digits a key number (a `u64`) takes: a word's length is checked
/// against the longest it can become.
pub(super) const MAX_KEY_DIGITS: usize = 20;

/// One word of a command: literal text around `{n}` holes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Word {
    /// The literal pieces; a key number goes between each two.
    pieces: Vec<Vec<u8>>,
}

impl Word {
    fn parse(text: &str) -> Word {
        Word {
            pieces: text
                .split(KEY_HOLE)
                .map(|piece| piece.as_bytes().to_vec())
                .collect(),
        }
    }

    /// How many `{n}` holes it has.
    fn holes(&self) -> usize {
        self.pieces.len() - 1
    }

    /// Its length for key number `key`.
    pub(super) fn len_for(&self, key: u64) -> usize {
        let literal: usize = self.pieces.iter().map(Vec::len).sum();
        literal + self.holes() * decimal_digits(key)
    }

    /// Its longest length, for any key number.
    pub(super) fn max_len(&self) -> usize {
        self.len_for(u64::MAX)
    }

    /// Append it to `out` with `key` in every hole.
    pub(super) fn write(&self, key: u64, out: &mut Vec<u8>) {
        let (first, rest) = self.pieces.split_first().expect("split yields a piece");
        out.extend_from_slice(first);
        for piece in rest {
            write!(out, "{key}").expect("writing to a Vec cannot fail");
            out.extend_from_slice(piece);
        }
    }

    /// Its literal bytes, holes left as `{n}`: for checks that do not depend
    /// on the key number (a memcached key's characters).
    pub(super) fn template_bytes(&self) -> Vec<u8> {
        self.pieces.join(KEY_HOLE.as_bytes())
    }

    /// Whether it is this word, ignoring ASCII case (a command name).
    pub(super) fn is(&self, name: &str) -> bool {
        self.holes() == 0 && self.pieces[0].eq_ignore_ascii_case(name.as_bytes())
    }
}

/// Split `command` into words, quotes respected; refused when the quoting
/// is broken or there is no word at all.
pub(super) fn split(command: &str) -> Result<Vec<Word>, RequestError> {
    let words = shell_words::split(command).map_err(|_| {
        RequestError::new(format!(
            "--command {command:?} has an unclosed quote: close it, or escape the quote with a backslash"
        ))
    })?;
    if words.is_empty() {
        return Err(RequestError::new(
            "--command is empty: give a command such as 'PING', 'GET k' or 'get k'",
        ));
    }
    Ok(words.iter().map(|word| Word::parse(word)).collect())
}

/// How many decimal digits `n` takes.
fn decimal_digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |log| log as usize + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(word: &Word, key: u64) -> String {
        let mut out = Vec::new();
        word.write(key, &mut out);
        assert_eq!(out.len(), word.len_for(key), "len_for agrees with write");
        String::from_utf8(out).unwrap()
    }

    /// Quotes group words and `{n}` becomes the key number, wherever it is.
    #[test]
    fn split_respects_quotes_and_fills_every_hole() {
        let words = split(r#"SET "user {n}:name" 'a b' x{n}y{n}"#).unwrap();
        assert_eq!(words.len(), 4);
        assert_eq!(written(&words[0], 7), "SET");
        assert_eq!(written(&words[1], 42), "user 42:name");
        assert_eq!(written(&words[2], 42), "a b");
        assert_eq!(written(&words[3], 0), "x0y0");
        assert_eq!(words[3].max_len(), 2 + 2 * MAX_KEY_DIGITS);
        assert!(words[0].is("set"));
        assert!(!words[1].is("user {n}:name"));
    }

    /// A broken quote or an empty command is refused with what to do.
    #[test]
    fn split_refuses_unclosed_quotes_and_empty_commands() {
        let unclosed = split("SET k \"v").unwrap_err().to_string();
        assert!(unclosed.contains("unclosed quote"), "{unclosed}");
        let empty = split("   ").unwrap_err().to_string();
        assert!(empty.contains("--command is empty"), "{empty}");
    }

    /// Digit counts at the edges of each power of ten.
    #[test]
    fn decimal_digits_counts_at_powers_of_ten() {
        assert_eq!(decimal_digits(0), 1);
        assert_eq!(decimal_digits(9), 1);
        assert_eq!(decimal_digits(10), 2);
        assert_eq!(decimal_digits(u64::MAX), MAX_KEY_DIGITS);
    }
}
