//! `--live`: a full-screen terminal view of `load` and `compare` while they
//! run (ratatui on crossterm), for the lecture hall.
//!
//! # How the data gets here
//! The load collector hands every load thread's finished second (an
//! [`Interval`](crate::load::Interval)) and a few progress states a second
//! to a [`Watch`](crate::load::Watch); [`Feed`] is that watch, and forwards
//! them as [`Event`]s over a channel to the view's thread. The view merges
//! them into its own [`Timeline`](crate::load::Timeline), the same type the
//! collector merges them into for the report and `--timeline`: one source,
//! one way of adding it up. `compare` runs its load in this process, so the
//! same feed reaches its runs; it adds which run is under way
//! ([`Event::Cell`]), each finished run's figures ([`Event::Finished`]) and
//! its progress lines ([`Lines`]).
//!
//! # Layout
//! - [`model`]: what the view knows ([`Dashboard`]), built from events only.
//! - [`render`]: drawing a dashboard on a ratatui frame (tested on
//!   ratatui's `TestBackend`).
//! - `terminal`: taking the terminal over and giving it back (in every
//!   case, a panic included), the refresh loop and the keys.
//!
//! # Stopping
//! `q`, Esc or Ctrl-C (the terminal is in raw mode, so Ctrl-C is a key
//! here, not a signal) set the stop flag handed to [`Live::start`]: `load`
//! ends its run at once, `compare` after the run under way, as it does on
//! SIGINT; both then print and write what they measured.

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Sender;

use crate::load::{RunEvent, Watch};

pub mod model;
pub mod render;
mod terminal;

pub use model::{CellHeader, Dashboard, FinishedCell};

/// What the view is told.
#[derive(Debug, Clone)]
pub enum Event {
    /// From the load run under way.
    Run(RunEvent),
    /// `compare`: a run begins.
    Cell(CellHeader),
    /// `compare`: a run ended with these figures.
    Finished(FinishedCell),
    /// A progress line (compare's `[3/16] ...`, notes).
    Line(String),
}

/// Said on stderr when `--live` cannot be shown.
pub const NO_TERMINAL: &str =
    "--live needs a terminal, and stdout is not one (piped or CI): showing the usual output instead";

/// Whether a live view can be shown: stdout is a terminal.
pub fn is_available() -> bool {
    io::stdout().is_terminal()
}

/// The sending side: a [`Watch`] for load runs, and a way to tell the view
/// about anything else.
#[derive(Debug, Clone)]
pub struct Feed {
    events: Sender<Event>,
    /// Set when the user asks to stop; `None`: the runs fed here are not
    /// cut short (compare stops between runs).
    stop: Option<Arc<AtomicBool>>,
}

impl Feed {
    /// Tell the view (nothing happens once it is gone).
    pub fn send(&self, event: Event) {
        let _ = self.events.send(event);
    }

    /// The same feed, for runs the stop flag must not cut short.
    pub fn without_stop(&self) -> Feed {
        Feed {
            events: self.events.clone(),
            stop: None,
        }
    }
}

impl Watch for Feed {
    fn see(&self, event: RunEvent) {
        self.send(Event::Run(event));
    }

    fn should_stop(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|stop| stop.load(Ordering::Relaxed))
    }
}

/// The view, on its own thread, while it owns the terminal.
#[derive(Debug)]
pub struct Live {
    feed: Feed,
    done: Arc<AtomicBool>,
    thread: JoinHandle<io::Result<()>>,
}

impl Live {
    /// Take the terminal over (alternate screen, raw mode) and show
    /// `dashboard` as events come; `q` or Ctrl-C set `stop`. Fails if the
    /// terminal cannot be set up (the caller then runs without the view).
    pub fn start(dashboard: Dashboard, stop: Arc<AtomicBool>) -> io::Result<Live> {
        let (sender, receiver) = crossbeam_channel::unbounded();
        let done = Arc::new(AtomicBool::new(false));
        let screen = terminal::Screen::take()?;
        let thread_done = Arc::clone(&done);
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(terminal::THREAD_NAME.to_string())
            .spawn(move || screen.run(dashboard, receiver, thread_stop, thread_done))?;
        Ok(Live {
            feed: Feed {
                events: sender,
                stop: Some(stop),
            },
            done,
            thread,
        })
    }

    /// Where to send events; its runs stop when the user asks.
    pub fn feed(&self) -> Feed {
        self.feed.clone()
    }

    /// Close the view and give the terminal back.
    pub fn finish(self) -> io::Result<()> {
        self.done.store(true, Ordering::Relaxed);
        match self.thread.join() {
            Ok(result) => result,
            Err(_) => Err(io::Error::other("the live view panicked")),
        }
    }
}

/// Progress output for the view: each complete line is shown in its log
/// pane, and everything is kept to be printed once the view is gone.
#[derive(Debug)]
pub struct Lines {
    feed: Feed,
    partial: Vec<u8>,
    kept: Vec<u8>,
}

impl Lines {
    /// Lines to `feed`.
    pub fn new(feed: Feed) -> Self {
        Lines {
            feed,
            partial: Vec::new(),
            kept: Vec::new(),
        }
    }

    /// Everything written.
    pub fn into_kept(self) -> Vec<u8> {
        self.kept
    }
}

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.kept.extend_from_slice(buf);
        self.partial.extend_from_slice(buf);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..end]).trim_end().to_string();
            self.feed.send(Event::Line(text));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Complete lines reach the view one by one; everything is kept.
    #[test]
    fn lines_go_to_the_view_whole_and_are_kept() {
        let (events, receiver) = crossbeam_channel::unbounded();
        let mut lines = Lines::new(Feed { events, stop: None });
        write!(lines, "[1/2] reactor").unwrap();
        writeln!(lines, " echo\n  12 req/s").unwrap();
        let seen: Vec<String> = receiver
            .try_iter()
            .map(|event| match event {
                Event::Line(line) => line,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(seen, ["[1/2] reactor echo", "  12 req/s"]);
        assert_eq!(lines.into_kept(), b"[1/2] reactor echo\n  12 req/s\n");
    }

    /// A feed without a stop flag never stops its runs; one with a flag
    /// stops them once it is set.
    #[test]
    fn feed_stops_runs_only_when_it_has_a_set_flag() {
        let (events, _receiver) = crossbeam_channel::unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let feed = Feed {
            events,
            stop: Some(Arc::clone(&stop)),
        };
        assert!(!feed.should_stop());
        stop.store(true, Ordering::Relaxed);
        assert!(feed.should_stop());
        assert!(!feed.without_stop().should_stop());
    }
}
