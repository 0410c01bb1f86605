//! Ctrl-C during a download: the first one stops the run cleanly, the second exits at once.
//!
//! Stopping cleanly means: cancel the run's token (no new request starts, requests in
//! flight are dropped), stop the saver (no temporary is created after this point, and
//! those left are removed), and let the driver print the report so far and exit 130.
//! The handler is installed once per process and finds the current run in a static, so
//! that the library can run more than once in one process.

use crate::save::Saver;
use std::sync::{Arc, Mutex, OnceLock};
use tokio_util::sync::CancellationToken;

/// What Ctrl-C stops.
struct Watched {
    cancel: CancellationToken,
    /// The saver of a download run; `None` for a bench, whose runs save in processes of
    /// their own.
    saver: Option<Arc<Saver>>,
    /// Stop without a word: a bench's run in a child process gets the terminal's Ctrl-C
    /// along with the bench, which says it for both.
    quiet: bool,
}

/// The run that Ctrl-C stops, if one is under way.
static WATCHED: Mutex<Option<Watched>> = Mutex::new(None);

/// Makes Ctrl-C (and SIGTERM) stop the run of `cancel` and `saver`.
pub fn watch(cancel: CancellationToken, saver: Arc<Saver>) {
    watch_run(Watched {
        cancel,
        saver: Some(saver),
        quiet: false,
    });
}

/// Makes Ctrl-C stop what `cancel` stands for, with no folder to clear: the bench, whose
/// runs write in their own processes.
pub fn watch_cancel(cancel: CancellationToken) {
    watch_run(Watched {
        cancel,
        saver: None,
        quiet: false,
    });
}

/// [`watch_cancel`] without the message: for a bench's run in a child process, whose
/// bench says it.
pub fn watch_cancel_quietly(cancel: CancellationToken) {
    watch_run(Watched {
        cancel,
        saver: None,
        quiet: true,
    });
}

fn watch_run(watched: Watched) {
    *WATCHED.lock().unwrap_or_else(|e| e.into_inner()) = Some(watched);
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // Failing to install (another handler exists) only loses the clean stop: Ctrl-C
        // then ends the process the default way, and the next run clears temporaries.
        let _ = ctrlc::set_handler(on_interrupt);
    });
}

fn on_interrupt() {
    let watched = WATCHED.lock().unwrap_or_else(|e| e.into_inner());
    match &*watched {
        Some(w) if !w.cancel.is_cancelled() => {
            w.cancel.cancel();
            if let Some(saver) = &w.saver {
                saver.stop();
            }
            if !w.quiet {
                eprintln!("\nflags-dl: interrupted; stopping (press Ctrl-C again to quit at once)");
            }
        }
        _ => std::process::exit(130),
    }
}
