//! The load loop over UDP: a datagram is a whole answer, judged alone, and
//! a request with no answer in time is lost, not resent. The rest of the
//! loop (timers, sending, counting) is the same as over TCP (`mod.rs`).

use std::io::Read;
use std::time::Instant;

use super::connection::Close;
use super::Worker;
use crate::io_util::{interrupted, would_block};
use crate::load::protocol::Datagram;
use crate::load::stats::ErrorKind;

impl Worker {
    /// UDP: read every datagram that arrived (edge-triggered readiness:
    /// until `WouldBlock`, a short one proves nothing) and judge each alone.
    /// An answer to a request already given up as lost is ignored.
    pub(super) fn read_datagrams(&mut self, index: usize, now: Instant) -> Result<(), Close> {
        let slot = &self.slots[index];
        let sent = slot.sent_ids();
        if slot.conn.is_none() {
            return Ok(());
        }
        let mut is_server_seen = false;
        let result = loop {
            // Borrowed again each time round: `count_answer` needs `self`.
            let conn = self.slots[index].conn.as_mut().expect("still open");
            let len = match conn.stream.read(&mut self.read_buf) {
                Ok(len) => len,
                Err(err) if would_block(&err) => break Ok(()),
                Err(err) if interrupted(&err) => continue,
                // ECONNREFUSED here: an earlier datagram found nobody.
                Err(err) => break Err(Close::Error(ErrorKind::of_io(&err))),
            };
            is_server_seen = true;
            let current = conn.in_flight.front().copied();
            let verdict = self.protocol.check_datagram(
                current.map(|request| request.id),
                sent.clone(),
                &self.read_buf[..len],
                &mut self.scratch,
            );
            let request = match (verdict, current) {
                (Datagram::Answer(_), Some(request)) => request,
                (Datagram::Late, _) => continue, // counted as lost already
                (Datagram::Invalid(why), _) => {
                    self.failed_answers.note_invalid(why);
                    break Err(Close::Error(ErrorKind::Invalid));
                }
                (Datagram::Answer(_), None) => break Err(Close::Error(ErrorKind::Invalid)),
            };
            conn.in_flight.pop_front();
            self.count_answer(request, len, now);
        };
        if is_server_seen {
            // Any datagram, even a late or wrong one, proves the server is there.
            self.server_seen(now);
        }
        result
    }

    /// UDP: the outstanding request of slot `index` waited too long. It is
    /// lost: counted, not resent; the slot goes on with its next request.
    pub(super) fn lose(&mut self, index: usize, now: Instant) {
        let Some(conn) = self.slots[index].conn.as_mut() else {
            return;
        };
        if let Some(request) = conn.in_flight.pop_front() {
            self.in_flight_total -= 1;
            if request.measured {
                self.current.errors.add(ErrorKind::Lost);
            }
        }
        self.send_more(index, now);
    }
}
