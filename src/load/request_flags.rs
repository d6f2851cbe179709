//! What a run speaks, as `load` and `compare` both take it from the
//! command line: the service ([`LoadService`]: one of sockbench's, or the
//! protocol of a server it did not write) and the flags of the request to
//! such a server ([`RequestFlags`]: `--method`, `--header`, `--body`,
//! `--expect-status`, `--expect-body`, `--command`, `--keys`), written
//! once here and flattened into both commands' options, so the two cannot
//! drift apart.
//!
//! [`RequestFlags::request`] turns them into the [`WireRequest`] of one
//! run; [`RequestFlags::check_used`] refuses a flag that no service of
//! the run would send, rather than ignoring it.

use std::fmt;
use std::str::FromStr;

use super::numbers::positive_count;
use super::wire::http1::Method;
use super::wire::RequestError;
use super::wire_request::WireRequest;
use crate::service::ServiceKind;

/// What a load run speaks: one of sockbench's services, or the protocol
/// of a server it did not write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadService {
    /// sockbench's own.
    Own(ServiceKind),
    /// Redis, RESP2 (PING unless `--command`).
    Redis,
    /// memcached, text protocol (a `get` unless `--command`).
    Memcached,
}

impl LoadService {
    /// The spelling on the command line and in the CSV.
    pub fn name(self) -> &'static str {
        match self {
            LoadService::Own(service) => service.name(),
            LoadService::Redis => "redis",
            LoadService::Memcached => "memcached",
        }
    }

    /// sockbench's own service, if it is one.
    pub fn own(self) -> Option<ServiceKind> {
        match self {
            LoadService::Own(service) => Some(service),
            LoadService::Redis | LoadService::Memcached => None,
        }
    }

    /// Whether `--command` and `--keys` go with it.
    pub fn is_keyed(self) -> bool {
        matches!(self, LoadService::Redis | LoadService::Memcached)
    }
}

impl From<ServiceKind> for LoadService {
    fn from(service: ServiceKind) -> Self {
        LoadService::Own(service)
    }
}

impl fmt::Display for LoadService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LoadService {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "redis" => Ok(LoadService::Redis),
            "memcached" => Ok(LoadService::Memcached),
            _ => <ServiceKind as clap::ValueEnum>::from_str(name, false)
                .map(LoadService::Own)
                .map_err(|_| {
                    format!("'{name}' is not a service: give echo, upper, frame, http, length, redis or memcached")
                }),
        }
    }
}

/// `--command`'s help. clap turns every `{n}` of a help text into a line
/// break, so the key hole is written with an (invisible) style reset
/// inside it, `{\x1b[0mn}`: clap drops the escape where the output is no
/// terminal, and a terminal shows nothing for it.
const COMMAND_HELP: &str = "Redis or memcached (load --service, compare --services): the command, {\x1b[0mn} replaced by a key number drawn from --keys ('GET k', 'SET k:{\x1b[0mn} v'; memcached 'get k:{\x1b[0mn}', its keys set once before the run, or 'set k:{\x1b[0mn} v')";

/// The request flags for a server sockbench did not write, shared by
/// `load` (with `--url`) and `compare` (with `--path`, every contender of
/// the run asked the same).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct RequestFlags {
    /// HTTP (load --url, compare --path): GET, HEAD or POST.
    #[arg(long, default_value = "GET", value_parser = parse_method)]
    pub method: Method,

    /// HTTP: an extra request header 'Name: value' (repeatable).
    #[arg(long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,

    /// HTTP, with --method POST: the request body.
    #[arg(long)]
    pub body: Option<String>,

    /// HTTP: success is this status only [default: any 2xx].
    #[arg(long, value_name = "CODE")]
    pub expect_status: Option<u16>,

    /// HTTP: success needs exactly this body too.
    #[arg(long, value_name = "TEXT")]
    pub expect_body: Option<String>,

    /// Redis or memcached: the command (see `COMMAND_HELP`).
    #[arg(long, help = COMMAND_HELP)]
    pub command: Option<String>,

    /// Redis or memcached: how many key numbers a command's holes are
    /// drawn from.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = positive_count::<u64>)]
    pub keys: u64,
}

impl Default for RequestFlags {
    fn default() -> Self {
        RequestFlags {
            method: Method::Get,
            headers: Vec::new(),
            body: None,
            expect_status: None,
            expect_body: None,
            command: None,
            keys: 1,
        }
    }
}

fn parse_method(method: &str) -> Result<Method, String> {
    method.parse().map_err(|err: RequestError| err.to_string())
}

impl RequestFlags {
    /// Whether a flag of an HTTP request was given.
    pub fn has_http(&self) -> bool {
        self.method != Method::Get
            || !self.headers.is_empty()
            || self.body.is_some()
            || self.expect_status.is_some()
            || self.expect_body.is_some()
    }

    /// Whether `--command` or `--keys` was given.
    pub fn has_keyed(&self) -> bool {
        self.command.is_some() || self.keys != 1
    }

    /// Refuse the flags no request of the run would carry: HTTP ones
    /// unless it sends `http_via` (`--url`, `--path`), `--command` and
    /// `--keys` unless it speaks redis or memcached.
    pub fn check_used(&self, sends_http: bool, keyed: bool, http_via: &str) -> Result<(), String> {
        if !keyed && self.has_keyed() {
            return Err(format!(
                "--command and --keys go with --service redis or memcached (with {http_via}, give --method, --header and --body)"
            ));
        }
        if !sends_http && self.has_http() {
            return Err(format!(
                "--method, --header, --body, --expect-status and --expect-body go with {http_via}"
            ));
        }
        Ok(())
    }

    /// The request of a run speaking `service`: HTTP to `http_url` when
    /// one is given, redis or memcached with `--command`, or `None` for
    /// one of sockbench's services, which needs none.
    pub fn request(&self, service: LoadService, http_url: Option<String>) -> Option<WireRequest> {
        let (command, keys) = (self.command.clone(), self.keys);
        match (http_url, service) {
            (Some(url), _) => Some(WireRequest::Http {
                url,
                method: self.method,
                headers: self.headers.clone(),
                body: self.body.clone(),
                expect_status: self.expect_status,
                expect_body: self.expect_body.clone(),
            }),
            (None, LoadService::Redis) => Some(WireRequest::Redis { command, keys }),
            (None, LoadService::Memcached) => Some(WireRequest::Memcached { command, keys }),
            (None, LoadService::Own(_)) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Services parse by name, sockbench's and the others, and name
    /// themselves back; a wrong name lists the right ones.
    #[test]
    fn services_parse_and_name_themselves() {
        for name in ["echo", "http", "length", "redis", "memcached"] {
            assert_eq!(name.parse::<LoadService>().unwrap().name(), name);
        }
        assert_eq!(
            "redis".parse::<LoadService>().unwrap().own(),
            None,
            "redis is not one of sockbench's"
        );
        let err = "postgres".parse::<LoadService>().unwrap_err();
        assert!(err.contains("redis or memcached"), "{err}");
    }

    /// Flags for a kind of server the run does not speak are refused,
    /// each saying what they go with.
    #[test]
    fn flags_for_another_kind_of_server_are_refused() {
        let command = RequestFlags {
            command: Some("GET k".into()),
            ..RequestFlags::default()
        };
        assert!(command.check_used(false, true, "--url").is_ok());
        let err = command.check_used(true, false, "--url").unwrap_err();
        assert!(err.contains("go with --service redis"), "{err}");
        let header = RequestFlags {
            headers: vec!["Accept: text/plain".into()],
            ..RequestFlags::default()
        };
        assert!(header.check_used(true, false, "--path").is_ok());
        let err = header.check_used(false, true, "--path").unwrap_err();
        assert!(err.ends_with("go with --path"), "{err}");
        assert!(RequestFlags::default()
            .check_used(false, false, "--url")
            .is_ok());
    }

    /// The request follows the service: HTTP where a URL is given, the
    /// command for redis and memcached, none for sockbench's own.
    #[test]
    fn the_request_follows_the_service() {
        let flags = RequestFlags {
            method: Method::Head,
            command: Some("SET k:{n} v".into()),
            keys: 10,
            ..RequestFlags::default()
        };
        let http = flags.request(
            LoadService::Own(ServiceKind::Http),
            Some("http://127.0.0.1:1/a".into()),
        );
        assert!(matches!(
            http,
            Some(WireRequest::Http {
                method: Method::Head,
                ..
            })
        ));
        assert_eq!(
            flags.request(LoadService::Redis, None),
            Some(WireRequest::Redis {
                command: Some("SET k:{n} v".into()),
                keys: 10
            })
        );
        assert!(matches!(
            flags.request(LoadService::Memcached, None),
            Some(WireRequest::Memcached { keys: 10, .. })
        ));
        assert_eq!(
            flags.request(LoadService::Own(ServiceKind::Echo), None),
            None
        );
    }
}
