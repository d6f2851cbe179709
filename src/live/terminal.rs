//! The terminal side of the live view: take the terminal over, refresh the
//! view a few times a second, listen for `q`, give the terminal back.
//!
//! The terminal is restored in every case: when the view ends, when its
//! thread fails or panics ([`Screen`]'s `Drop`), and when any thread of
//! the process panics (`ratatui::try_init` installs a panic hook that
//! restores it before the message is printed).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use crossterm::event::{self, Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::DefaultTerminal;

use super::model::Dashboard;
use super::{render, Event};

/// Time between two refreshes.
const REFRESH: Duration = Duration::from_millis(250);

/// The terminal, in raw mode on the alternate screen while this lives.
pub(super) struct Screen {
    terminal: DefaultTerminal,
}

impl std::fmt::Debug for Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Screen")
    }
}

impl Screen {
    /// Raw mode, the alternate screen, and the panic hook that undoes both.
    pub(super) fn take() -> io::Result<Screen> {
        Ok(Screen {
            terminal: ratatui::try_init()?,
        })
    }

    /// Show `dashboard` as `events` come, until `done`; a quit key sets
    /// `stop` (and so does a signal handler elsewhere: either way the view
    /// says it is stopping).
    pub(super) fn run(
        mut self,
        mut dashboard: Dashboard,
        events: Receiver<Event>,
        stop: Arc<AtomicBool>,
        done: Arc<AtomicBool>,
    ) -> io::Result<()> {
        let mut next_draw = Instant::now();
        while !done.load(Ordering::Relaxed) {
            for event in events.try_iter() {
                dashboard.apply(event);
            }
            if stop.load(Ordering::Relaxed) && !dashboard.stopping {
                dashboard.stopping = true;
                next_draw = Instant::now();
            }
            let now = Instant::now();
            if now >= next_draw {
                // A resize is seen here: ratatui resizes its buffers and
                // clears the screen before drawing at the new size.
                self.terminal
                    .draw(|frame| render::draw(frame, &dashboard, now))?;
                next_draw = now + REFRESH;
            }
            // Wait for a key until the next refresh.
            if event::poll(next_draw.saturating_duration_since(Instant::now()))? {
                match event::read()? {
                    TermEvent::Key(key) if is_quit(&key) => {
                        stop.store(true, Ordering::Relaxed);
                    }
                    TermEvent::Resize(..) => next_draw = Instant::now(),
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        // Nothing better to do if the terminal refuses: the shell's
        // `reset` fixes it, and the error would hide the run's results.
        let _ = ratatui::try_restore();
    }
}

/// `q`, Esc or Ctrl-C (in raw mode Ctrl-C is a key, not SIGINT).
fn is_quit(key: &KeyEvent) -> bool {
    key.kind == KeyEventKind::Press
        && match key.code {
            KeyCode::Char('q' | 'Q') | KeyCode::Esc => true,
            KeyCode::Char('c') => key.modifiers.contains(KeyModifiers::CONTROL),
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// q, Esc and Ctrl-C quit; a plain c and other keys do not.
    #[test]
    fn quit_keys_are_q_esc_and_ctrl_c() {
        let key = |code, modifiers| KeyEvent::new(code, modifiers);
        assert!(is_quit(&key(KeyCode::Char('q'), KeyModifiers::NONE)));
        assert!(is_quit(&key(KeyCode::Esc, KeyModifiers::NONE)));
        assert!(is_quit(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        assert!(!is_quit(&key(KeyCode::Char('c'), KeyModifiers::NONE)));
        assert!(!is_quit(&key(KeyCode::Char('x'), KeyModifiers::NONE)));
    }
}
