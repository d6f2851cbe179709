//! Before a run's first connection: a memcached `get` needs its keys to
//! exist, so every one of them is set once (`--keys N`), in batches over
//! one connection of its own. Other requests need nothing.

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::config::Target;
use super::wire_request::{memcached_command, WireRequest};

/// Keys primed per write: the replies of one batch fit the socket buffers,
/// so neither side waits on the other.
const PRIME_BATCH_KEYS: u64 = 1000;

/// A memcached `get`: set each of its keys once, so that every `get` of the
/// run has a value to find. Anything else needs nothing. Fails, saying
/// what to check, when the server does not store them.
pub(crate) fn prime(request: &WireRequest, target: &Target, timeout: Duration) -> io::Result<()> {
    let WireRequest::Memcached { command, keys } = request else {
        return Ok(());
    };
    let command = memcached_command(command).map_err(io::Error::other)?;
    let mut out = Vec::new();
    if !command.write_priming_request(0, &mut out) {
        return Ok(()); // a `set` stores what it needs itself
    }
    let failed = |why: String| {
        io::Error::other(format!(
            "memcached at {target}: the keys of the get could not be set before the run ({why}): is memcached listening there, with room for {keys} keys?"
        ))
    };
    let stream: Box<dyn ReadWrite> = match target {
        Target::Tcp(addr) => {
            let stream =
                TcpStream::connect_timeout(addr, timeout).map_err(|err| failed(err.to_string()))?;
            stream.set_read_timeout(Some(timeout))?;
            Box::new(stream)
        }
        Target::Unix(path) => {
            let stream = UnixStream::connect(path).map_err(|err| failed(err.to_string()))?;
            stream.set_read_timeout(Some(timeout))?;
            Box::new(stream)
        }
        Target::Udp(_) => return Err(failed("memcached is loaded over TCP".into())),
    };
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    for first in (0..*keys).step_by(PRIME_BATCH_KEYS as usize) {
        let batch = first..(first + PRIME_BATCH_KEYS).min(*keys);
        out.clear();
        for key in batch.clone() {
            command.write_priming_request(key, &mut out);
        }
        reader
            .get_mut()
            .write_all(&out)
            .map_err(|err| failed(err.to_string()))?;
        for _ in batch {
            line.clear();
            reader
                .read_line(&mut line)
                .map_err(|err| failed(err.to_string()))?;
            if line != "STORED\r\n" {
                return Err(failed(format!("it answered {:?}", line.trim_end())));
            }
        }
    }
    Ok(())
}

/// A blocking stream to prime over: TCP or Unix.
trait ReadWrite: io::Read + Write {}
impl<T: io::Read + Write> ReadWrite for T {}
