//! What a run asks of a server sockbench did not write (`--url`,
//! `--service redis`, `--service memcached`), kept as the user gave it so
//! a generator process can be handed the same flags, and turned once, when
//! the run starts, into the [`Exchange`] that writes each request and
//! judges its answer ([`WireRequest::exchange`]).
//!
//! The `{n}` of a `--command` is drawn from `--keys N` per request here and
//! nowhere else (`key_of`), from the request's id, so the check of an
//! answer knows which key it asked for without remembering it.
//!
//! A memcached `get` also needs its keys to exist before the run: `prime.rs`
//! sets them, with the same command this file parses.

use std::sync::Arc;

use super::wire::http1::{self, Method, Url};
use super::wire::{memcached, resp, Exchange, RequestError};

/// What `--service memcached` sends without a `--command`.
pub const DEFAULT_MEMCACHED_COMMAND: &str = "get key:{n}";

/// The request of a run against a server sockbench did not write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireRequest {
    /// HTTP/1.1 to any server (`--url`).
    Http {
        /// `http://HOST:PORT/PATH`, loopback only.
        url: String,
        /// `--method`.
        method: Method,
        /// Each `--header 'Name: value'`.
        headers: Vec<String>,
        /// `--body`, POST only.
        body: Option<String>,
        /// `--expect-status`: success is this status only (else any 2xx).
        expect_status: Option<u16>,
        /// `--expect-body`: success needs this body too.
        expect_body: Option<String>,
    },
    /// Redis's RESP2 (`--service redis`): `command`, or `PING`.
    Redis {
        /// `--command`, `{n}` drawn from `keys`.
        command: Option<String>,
        /// `--keys`: how many key numbers `{n}` takes.
        keys: u64,
    },
    /// memcached's text protocol (`--service memcached`).
    Memcached {
        /// `--command`, or [`DEFAULT_MEMCACHED_COMMAND`].
        command: Option<String>,
        /// `--keys`: how many key numbers `{n}` takes.
        keys: u64,
    },
}

impl WireRequest {
    /// The protocol's name, as reports and CSV rows show it.
    pub fn protocol(&self) -> &'static str {
        match self {
            WireRequest::Http { .. } => "http1",
            WireRequest::Redis { .. } => "redis",
            WireRequest::Memcached { .. } => "memcached",
        }
    }

    /// What is asked, for the report's first line: `GET /path`, `PING`.
    pub fn describe(&self) -> String {
        match self {
            WireRequest::Http { url, method, .. } => format!("{} {url}", method.as_str()),
            WireRequest::Redis { command, .. } => command.as_deref().unwrap_or("PING").to_owned(),
            WireRequest::Memcached { command, .. } => command
                .as_deref()
                .unwrap_or(DEFAULT_MEMCACHED_COMMAND)
                .to_owned(),
        }
    }

    /// How many key numbers `{n}` is drawn from (1 for HTTP: no `{n}`).
    pub fn keys(&self) -> u64 {
        match self {
            WireRequest::Http { .. } => 1,
            WireRequest::Redis { keys, .. } | WireRequest::Memcached { keys, .. } => *keys,
        }
    }

    /// Where an HTTP request goes: the URL's address (`None` for the
    /// others, or a URL that does not parse).
    pub fn url_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            WireRequest::Http { url, .. } => Url::parse(url).ok().map(|url| url.addr()),
            _ => None,
        }
    }

    /// The request checked and encoded; refused with one line saying what
    /// is supported.
    pub fn exchange(&self) -> Result<Arc<dyn Exchange>, RequestError> {
        Ok(match self {
            WireRequest::Http {
                url,
                method,
                headers,
                body,
                expect_status,
                expect_body,
            } => {
                let url = Url::parse(url)?;
                let mut request = http1::Request::new(
                    *method,
                    &url,
                    headers,
                    body.as_deref().map(str::as_bytes),
                )?;
                if let Some(status) = expect_status {
                    request = request.expecting_status(*status)?;
                }
                if let Some(body) = expect_body {
                    request = request.expecting_body(body.as_bytes());
                }
                Arc::new(request)
            }
            WireRequest::Redis { command, .. } => Arc::new(match command {
                Some(command) => resp::Command::parse(command)?,
                None => resp::Command::ping(),
            }),
            WireRequest::Memcached { command, .. } => Arc::new(memcached_command(command)?),
        })
    }
}

pub(crate) fn memcached_command(
    command: &Option<String>,
) -> Result<memcached::Command, RequestError> {
    memcached::Command::parse(command.as_deref().unwrap_or(DEFAULT_MEMCACHED_COMMAND))
}

/// The key number request `id` asks for: drawn from `0..keys`, the same
/// for the same id (so the answer's check asks the same), spread evenly
/// (splitmix64's finaliser: consecutive ids land far apart).
pub(crate) fn key_of(id: u64, keys: u64) -> u64 {
    if keys <= 1 {
        return 0;
    }
    let mut z = id.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % keys
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Key numbers stay in range, repeat for the same id, and cover the
    /// range over consecutive ids.
    #[test]
    fn key_of_draws_every_key_in_range() {
        assert_eq!(key_of(12345, 1), 0);
        let mut seen = [0u32; 10];
        for id in 0..1000 {
            let key = key_of(id, 10);
            assert_eq!(key, key_of(id, 10));
            seen[key as usize] += 1;
        }
        assert!(seen.iter().all(|&count| count > 50), "{seen:?}");
    }

    /// Each protocol names itself and what it asks; a command the protocol
    /// cannot carry is refused before any connection.
    #[test]
    fn requests_describe_themselves_and_refuse_what_cannot_be_sent() {
        let redis = WireRequest::Redis {
            command: None,
            keys: 1,
        };
        assert_eq!(
            (redis.protocol(), redis.describe()),
            ("redis", "PING".into())
        );
        assert!(redis.exchange().is_ok());
        let subscribe = WireRequest::Redis {
            command: Some("SUBSCRIBE c".into()),
            keys: 1,
        };
        assert!(subscribe.exchange().is_err());
        let memcached = WireRequest::Memcached {
            command: Some("delete k".into()),
            keys: 1,
        };
        let why = memcached.exchange().unwrap_err().to_string();
        assert!(why.contains("give 'get KEY' or 'set KEY VALUE'"), "{why}");
        let https = WireRequest::Http {
            url: "https://127.0.0.1/".into(),
            method: Method::Get,
            headers: Vec::new(),
            body: None,
            expect_status: None,
            expect_body: None,
        };
        assert!(https.exchange().unwrap_err().to_string().contains("https"));
    }
}
