//! How each contender is started: which program, and its command line.
//!
//! The matrix's runner and the scenarios start every server from here, so
//! a contender is described in one place: its program (this sockbench, or
//! a reference server built as an example) and its arguments (`serve`'s
//! engine flags, then what the caller adds, the address and the service).
//! A server sockbench did not write is started from its own command
//! instead ([`super::foreign`], [`crate::external`]): it has no program
//! here.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::matrix::{Contender, Transport};
use crate::service::ServiceKind;

/// Where the contenders' programs are.
#[derive(Debug, Clone, Copy)]
pub struct Programs<'a> {
    /// The `sockbench` binary that serves the engine rows.
    pub sockbench_exe: &'a Path,
    /// Where `tokio_echo` and `epoll_raw` were built.
    pub examples_dir: &'a Path,
}

impl Programs<'_> {
    /// The program that serves `contender`, whether or not it is built;
    /// empty for a server sockbench did not write, which is started from
    /// its own command.
    pub fn program(&self, contender: Contender) -> PathBuf {
        match contender {
            Contender::Engine(_) | Contender::ReactorX2 | Contender::PreforkX2 => {
                self.sockbench_exe.to_path_buf()
            }
            Contender::Tokio => self.examples_dir.join("tokio_echo"),
            Contender::EpollRaw => self.examples_dir.join("epoll_raw"),
            Contender::Foreign(_) => PathBuf::new(),
        }
    }

    /// The program that serves `contender`, or an error saying how to
    /// build it.
    pub fn built(&self, contender: Contender) -> io::Result<PathBuf> {
        if let Contender::Foreign(foreign) = contender {
            return Err(io::Error::other(format!(
                "{foreign} is not a sockbench server: it is started from its own command"
            )));
        }
        let path = self.program(contender);
        if path.is_file() {
            return Ok(path);
        }
        let build = if contender.serve_args().is_some() {
            "cargo build --release --bins"
        } else {
            "cargo build --release --examples"
        };
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "the {contender} server is not built: {} does not exist. \
                 Build it with `{build}` (./scripts/compare.sh does), \
                 point --examples-dir at it, or leave it out with --engines",
                path.display()
            ),
        ))
    }
}

/// The arguments of `contender`'s program: for a sockbench row, `serve`,
/// its engine flags and `serve_flags` (which the reference servers do
/// not take); then where to listen (port 0, or a fresh Unix socket) and
/// the service (`epoll-raw` speaks echo only and takes no flag for it).
pub fn server_args(
    contender: Contender,
    serve_flags: &[String],
    transport: Transport,
    service: ServiceKind,
) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    if let Some(engine_flags) = contender.serve_args() {
        args.push("serve".into());
        args.extend(engine_flags.into_iter().map(String::from));
        args.extend(serve_flags.iter().cloned());
    }
    match transport {
        Transport::Tcp4 => args.extend(["--addr".into(), "127.0.0.1:0".into()]),
        Transport::Tcp6 => args.extend(["--addr".into(), "[::1]:0".into()]),
        Transport::Unix => args.extend(["--unix".into(), fresh_unix_socket_path()]),
    }
    if contender != Contender::EpollRaw {
        args.extend(["--service".into(), service.name().into()]);
    }
    args
}

/// A socket path in the temp directory that no other server of this run
/// uses (a server removes its file when it stops).
fn fresh_unix_socket_path() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir()
        .join(format!("sockbench-compare-{}-{n}.sock", std::process::id()))
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineKind;

    /// A sockbench row is `serve`, its engine flags, the caller's flags,
    /// the address and the service; a reference server gets the address
    /// (and the service, but for epoll-raw) only.
    #[test]
    fn server_args_put_serve_flags_only_on_sockbench_rows() {
        let flags = ["--work".to_string(), "none".to_string()];
        assert_eq!(
            server_args(
                Contender::Engine(EngineKind::Pool),
                &flags,
                Transport::Tcp6,
                ServiceKind::Echo
            )
            .join(" "),
            "serve --engine pool --work none --addr [::1]:0 --service echo"
        );
        assert_eq!(
            server_args(
                Contender::EpollRaw,
                &flags,
                Transport::Tcp4,
                ServiceKind::Echo
            )
            .join(" "),
            "--addr 127.0.0.1:0"
        );
        let unix = server_args(Contender::Tokio, &[], Transport::Unix, ServiceKind::Frame);
        assert_eq!(unix[0], "--unix");
        assert_ne!(
            unix[1],
            server_args(Contender::Tokio, &[], Transport::Unix, ServiceKind::Frame)[1],
            "every server gets a socket path of its own"
        );
    }

    /// A missing program is an error that says how to build it.
    #[test]
    fn a_missing_program_says_how_to_build_it() {
        let programs = Programs {
            sockbench_exe: Path::new("/no/such/sockbench"),
            examples_dir: Path::new("/no/such/dir"),
        };
        let err = programs.built(Contender::EpollRaw).unwrap_err();
        assert!(
            err.to_string().contains("cargo build --release --examples"),
            "{err}"
        );
        let err = programs.built(Contender::ReactorX2).unwrap_err();
        assert!(err.to_string().contains("--bins"), "{err}");
    }
}
