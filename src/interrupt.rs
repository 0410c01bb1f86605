//! Ctrl-C during a download: the first one stops the run cleanly, the second exits at once.
//!
//! Stopping cleanly means: cancel the run's token (no new request starts, requests in
//! flight are dropped), stop the saver (no temporary is created after this point, and
//! those left are removed), and let the driver print the report so far and exit 130.
//! The handler is installed once per process and finds the current run in a static, so
//! that the library can run more than once in one process.
//!
//! Exiting at once skips every destructor, so what a destructor would have removed is
//! removed here first: the process's [`ScratchDir`]s (a bench run's temporary folder,
//! which a terminal's second Ctrl-C, sent to the bench and its run alike, left behind
//! full of flags).
//!
//! The signals themselves come through tokio's signal layer, the one the crate uses
//! ([`StopSignals`], which `serve` waits on too): the blocking modes run no runtime, so
//! the handler has a thread of its own with a small runtime that only listens.

use crate::save::Saver;
use std::io;
use std::path::{Path, PathBuf};
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
        // Failing to install only loses the clean stop: Ctrl-C then ends the process the
        // default way, and the next run clears temporaries.
        let _ = install();
    });
}

/// Starts the thread that calls [`on_interrupt`] on each stop signal, and returns once
/// the signals are registered, so that a Ctrl-C right after [`watch`] is already ours.
fn install() -> io::Result<()> {
    let (registered, outcome) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("flags-dl-signals".into())
        .spawn(move || {
            // Only the I/O driver: on Unix, tokio's signals arrive through it.
            let listening = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
                .and_then(|runtime| {
                    let signals = runtime.block_on(async { StopSignals::register() })?;
                    Ok((runtime, signals))
                });
            let (runtime, mut signals) = match listening {
                Ok(listening) => listening,
                Err(e) => {
                    let _ = registered.send(Err(e));
                    return;
                }
            };
            let _ = registered.send(Ok(()));
            // A signal that lands while `on_interrupt` runs is seen when it returns. Two
            // that land before this thread wakes for the first are one to tokio (ctrlc's
            // pipe kept them apart): they stop the run cleanly, as the first does alone.
            runtime.block_on(async move {
                while signals.recv().await {
                    on_interrupt();
                }
            });
        })?;
    outcome
        .recv()
        .unwrap_or_else(|_| Err(io::Error::other("the signal thread ended")))
}

/// Ctrl-C (SIGINT) and, on Unix, SIGTERM and SIGHUP (a closed terminal): the signals that
/// stop a run or a server, registered with tokio as one stream.
pub struct StopSignals {
    #[cfg(unix)]
    kinds: [tokio::signal::unix::Signal; 3],
}

impl StopSignals {
    /// Registers for the stop signals now (from within a tokio runtime, whose I/O driver
    /// delivers them): from here on they no longer end the process.
    pub fn register() -> io::Result<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(StopSignals {
                kinds: [
                    signal(SignalKind::interrupt())?,
                    signal(SignalKind::terminate())?,
                    signal(SignalKind::hangup())?,
                ],
            })
        }
        #[cfg(not(unix))]
        {
            Ok(StopSignals {})
        }
    }

    /// Waits for the next stop signal; false if the runtime that delivers them is gone.
    pub async fn recv(&mut self) -> bool {
        #[cfg(unix)]
        {
            let [interrupt, terminate, hangup] = &mut self.kinds;
            tokio::select! {
                got = interrupt.recv() => got.is_some(),
                got = terminate.recv() => got.is_some(),
                got = hangup.recv() => got.is_some(),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.is_ok()
        }
    }
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
        _ => {
            // Held to the end: no scratch folder can be made after these are removed.
            let scratch = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
            for dir in scratch.iter() {
                remove_folder(dir);
            }
            std::process::exit(130)
        }
    }
}

/// The [`ScratchDir`]s of this process that are still there.
static SCRATCH: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A temporary folder of the process's own that goes with it, however it ends: removed when
/// dropped (its run ended, or failed), and by the handler before a second Ctrl-C exits.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// A new folder `<prefix><random>` in the temporary directory (`TMPDIR`).
    pub fn new(prefix: &str) -> io::Result<ScratchDir> {
        // Made under the lock the handler takes, so that a Ctrl-C cannot fall between the
        // folder's making and its registering.
        let mut scratch = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
        let path = tempfile::Builder::new().prefix(prefix).tempdir()?.keep();
        scratch.push(path.clone());
        Ok(ScratchDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // Removed before it is forgotten: a Ctrl-C in between still finds it.
        remove_folder(&self.path);
        let mut scratch = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
        scratch.retain(|dir| *dir != self.path);
    }
}

/// Removes `dir` and all it holds. A writer still at work (a run's threads, being stopped)
/// may add a file while it is emptied, which fails the removal: so it is tried again
/// until the folder is gone, and once it is, nothing can be added to it. A folder the
/// system will not let us remove is litter in the temporary directory, not a failure
/// worth a word at exit.
fn remove_folder(dir: &Path) {
    for _ in 0..100 {
        match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => continue,
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scratch_folder_is_known_to_the_handler_until_it_is_removed() {
        let dir = ScratchDir::new("flags-dl-test-").unwrap();
        let path = dir.path().to_path_buf();
        std::fs::write(path.join("br.gif"), b"GIF89a").unwrap();
        assert!(SCRATCH.lock().unwrap().contains(&path));
        drop(dir);
        assert!(!path.exists(), "removed with what it held");
        assert!(!SCRATCH.lock().unwrap().contains(&path));
    }
}
