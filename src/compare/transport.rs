//! How the load generator reaches a server: the matrix's transports, and
//! what a server sockbench did not write listens on.

use std::fmt;

/// How the load generator reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Transport {
    /// TCP over IPv4 loopback (`127.0.0.1`).
    Tcp4,
    /// TCP over IPv6 loopback (`[::1]`).
    Tcp6,
    /// A Unix domain stream socket in the temp directory.
    Unix,
}

impl Transport {
    /// The spelling used on the command line and in the CSV.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp4 => "tcp4",
            Transport::Tcp6 => "tcp6",
            Transport::Unix => "unix",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
