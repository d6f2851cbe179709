//! The terminal side of the live view: take the terminal over, refresh the
//! view a few times a second, listen for `q`, give the terminal back.
//!
//! The terminal is restored in every case: when the view ends, when its
//! thread fails or panics ([`Screen`]'s `Drop`), and when any thread of
//! the process panics (`ratatui::try_init` installs a panic hook that
//! restores it before the message is printed). A panic elsewhere also
//! stops the view from drawing again over the message ([`GIVEN_BACK`]).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use crossterm::event::{self, Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::DefaultTerminal;

use super::model::Dashboard;
use super::{render, Event};

/// Time between two refreshes.
const REFRESH: Duration = Duration::from_millis(250);

/// The view's thread name, which the panic hook recognises.
pub(super) const THREAD_NAME: &str = "sockbench-live";

/// Held while a frame is drawn: a panic on another thread waits for the
/// frame to end before it gives the terminal back.
static FRAME: Mutex<()> = Mutex::new(());

/// Set by the panic hook when it gives the terminal back: no frame is
/// drawn after it, and nothing restores the terminal a second time (which
/// would move the cursor back over the panic's message).
static GIVEN_BACK: AtomicBool = AtomicBool::new(false);

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
        let terminal = ratatui::try_init()?;
        // Around ratatui's hook (restore, then the usual message): first
        // stop the view, after the frame it may be drawing. A panic on the
        // view's own thread may come while it holds that lock: it must not
        // wait for itself.
        let restore_and_report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _frame = (std::thread::current().name() != Some(THREAD_NAME))
                .then(|| FRAME.lock().unwrap_or_else(|e| e.into_inner()));
            GIVEN_BACK.store(true, Ordering::SeqCst);
            restore_and_report(info);
        }));
        Ok(Screen { terminal })
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
                let drawing = FRAME.lock().unwrap_or_else(|e| e.into_inner());
                if GIVEN_BACK.load(Ordering::SeqCst) {
                    return Ok(()); // a panic elsewhere: its message is on screen
                }
                // A resize is seen here: ratatui resizes its buffers and
                // clears the screen before drawing at the new size.
                self.terminal
                    .draw(|frame| render::draw(frame, &dashboard, now))?;
                drop(drawing);
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
        if GIVEN_BACK.load(Ordering::SeqCst) {
            return; // by the panic hook, already
        }
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
