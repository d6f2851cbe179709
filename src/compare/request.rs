//! What every contender of a comparison is asked, beyond the service: the
//! request flags `load` takes too ([`RequestFlags`]: `--method`,
//! `--header`, `--body`, `--expect-status`, `--expect-body`, `--command`,
//! `--keys`) and `--path`, the HTTP path, for a URL that names each
//! contender's own fresh address. The same request goes to every
//! contender of the run, so their answers are judged alike.
//!
//! Without any of them a run speaks sockbench's own services (each answer
//! checked byte by byte against its request), and redis's `PING` or
//! memcached's `get`.

use std::io;

use crate::engine::ListenAddr;
use crate::load::{LoadService, RequestFlags, WireRequest};
use crate::service::ServiceKind;

/// The request of every contender of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunRequest {
    /// `--path`: HTTP requests go to this path (with the query, if any).
    pub path: Option<String>,
    /// The request flags shared with `load`.
    pub flags: RequestFlags,
}

impl RunRequest {
    /// Refuse, before anything runs, a flag no service of the run would
    /// send, and a path that is not one.
    pub fn check(&self, services: &[LoadService]) -> Result<(), String> {
        let http = services.contains(&LoadService::Own(ServiceKind::Http));
        let keyed = services.iter().any(|service| service.is_keyed());
        self.flags
            .check_used(http, keyed, "--path (and --services http)")?;
        match &self.path {
            Some(_) if !http => return Err("--path goes with --services http".to_string()),
            Some(path) if !path.starts_with('/') => {
                return Err(format!(
                    "--path {path}: give a path from the root, e.g. /static.txt"
                ))
            }
            _ => {}
        }
        // Each request built once now, so that one its protocol cannot
        // carry (a header without a colon, memcached's `delete`) is
        // refused before any server starts; the address is a stand-in.
        let stand_in = ListenAddr::Tcp(([127, 0, 0, 1], 1).into());
        for &service in services {
            let wire = self
                .wire(service, &stand_in)
                .map_err(|err| err.to_string())?;
            if let Some(wire) = wire {
                wire.exchange()
                    .map_err(|err| format!("--services {service}: {err}"))?;
            }
        }
        Ok(())
    }

    /// The request for a run of `service` against `addr`: HTTP to
    /// `http://ADDR/PATH` when a path or an HTTP flag was given, redis's
    /// and memcached's commands, or `None` (sockbench's own protocol).
    pub fn wire(&self, service: LoadService, addr: &ListenAddr) -> io::Result<Option<WireRequest>> {
        let sends_url = service == LoadService::Own(ServiceKind::Http)
            && (self.path.is_some() || self.flags.has_http());
        let url = match addr {
            _ if !sends_url => None,
            ListenAddr::Tcp(addr) => Some(format!(
                "http://{addr}{}",
                self.path.as_deref().unwrap_or("/")
            )),
            ListenAddr::Unix(_) | ListenAddr::Udp(_) => {
                return Err(io::Error::other(
                    "--path and the HTTP flags are sent over TCP only: drop --transports unix",
                ))
            }
        };
        Ok(self.flags.request(service, url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::wire::http1::Method;

    /// A path is sent to each contender's own address; the flags of a
    /// service the run does not speak, or a path without http, are
    /// refused before it runs.
    #[test]
    fn the_path_goes_to_each_address_and_stray_flags_are_refused() {
        let http = LoadService::Own(ServiceKind::Http);
        let asked = RunRequest {
            path: Some("/static.txt".into()),
            flags: RequestFlags {
                method: Method::Head,
                ..RequestFlags::default()
            },
        };
        asked.check(&[http]).unwrap();
        let addr = ListenAddr::Tcp("127.0.0.1:8080".parse().unwrap());
        match asked.wire(http, &addr).unwrap() {
            Some(WireRequest::Http { url, method, .. }) => {
                assert_eq!(url, "http://127.0.0.1:8080/static.txt");
                assert_eq!(method, Method::Head);
            }
            other => panic!("{other:?}"),
        }
        let echo = LoadService::Own(ServiceKind::Echo);
        assert_eq!(asked.wire(echo, &addr).unwrap(), None);
        assert!(asked
            .check(&[echo])
            .unwrap_err()
            .contains("--services http"));
        let relative = RunRequest {
            path: Some("static.txt".into()),
            ..RunRequest::default()
        };
        assert!(relative.check(&[http]).unwrap_err().contains("/static.txt"));
        let command = RunRequest {
            flags: RequestFlags {
                command: Some("GET k".into()),
                ..RequestFlags::default()
            },
            ..RunRequest::default()
        };
        assert!(command.check(&[http]).is_err());
        command.check(&[http, LoadService::Redis]).unwrap();
        let incr = RunRequest {
            flags: RequestFlags {
                command: Some("INCR k".into()),
                ..RequestFlags::default()
            },
            ..RunRequest::default()
        };
        incr.check(&[LoadService::Redis]).unwrap();
        let err = incr
            .check(&[LoadService::Redis, LoadService::Memcached])
            .unwrap_err();
        assert!(err.starts_with("--services memcached: "), "{err}");
        assert!(matches!(
            command.wire(LoadService::Redis, &addr).unwrap(),
            Some(WireRequest::Redis { .. })
        ));
        assert_eq!(
            RunRequest::default().wire(http, &addr).unwrap(),
            None,
            "without a path, sockbench's own http check"
        );
    }
}
