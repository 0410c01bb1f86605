//! A pool of worker threads doing blocking downloads: the engine of the thread-pool mode
//! (many workers) and of the sequential mode (one).
//!
//! Workers take work from a shared queue: codes not yet tried, in order, and retries that
//! have waited out their backoff. A failed attempt goes back on the queue with the time it
//! may run again, and its worker moves on to other codes, so a retry's wait never holds up
//! another code's request. Outcomes travel back over a channel, so the caller sees them on
//! its own thread as they finish.
//!
//! The workers are detached, not scoped: on Ctrl-C the caller must be able to report and
//! exit while a worker is still blocked in a read, rather than wait out its timeout.

use super::attempts::{Attempts, Step};
use super::blocking::{self, get_flag_blocking};
use super::outcome::{DownloadStatus, Outcome};
use super::response::FlagFetch;
use super::{Event, Job};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Stack size of a worker: `get_flag` needs little, and 1,000 default 8 MiB stacks would
/// reserve 8 GiB of address space.
const STACK_SIZE: usize = 256 * 1024;

/// How often waiting threads look at the cancellation token.
const POLL: Duration = Duration::from_millis(50);

/// One unit of work: code `index`, and its attempts so far.
#[derive(Debug)]
struct Task {
    /// When it may run.
    at: Instant,
    index: usize,
    attempts: Attempts,
}

/// Tasks are ordered by when they may run, for the queue's heap.
impl Ord for Task {
    fn cmp(&self, other: &Task) -> std::cmp::Ordering {
        (self.at, self.index).cmp(&(other.at, other.index))
    }
}

impl PartialOrd for Task {
    fn partial_cmp(&self, other: &Task) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Task {
    fn eq(&self, other: &Task) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Task {}

#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    changed: Condvar,
}

#[derive(Default)]
struct QueueState {
    /// The next code never tried.
    next: usize,
    /// Retries, earliest first.
    retries: BinaryHeap<Reverse<Task>>,
}

impl Queue {
    /// The next task to run, waiting for a retry's backoff if that is all that is left;
    /// `None` when there is nothing left for this worker, or the run is cancelled.
    fn take(&self, job: &Job) -> Option<Task> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if job.cancel.is_cancelled() {
                return None;
            }
            let now = Instant::now();
            // A run that gave up on the server ends every retry's wait: the code is then
            // refused at once, not after the wait.
            let given_up = job.pace.refused().is_some();
            if state
                .retries
                .peek()
                .is_some_and(|Reverse(task)| task.at <= now || given_up)
            {
                return state.retries.pop().map(|Reverse(task)| task);
            }
            if state.next < job.codes.len() {
                state.next += 1;
                return Some(Task {
                    at: now,
                    index: state.next - 1,
                    attempts: Attempts::default(),
                });
            }
            // Only retries that are not due yet: wait for the first of them (or a new one,
            // or cancellation). Another worker's attempt in flight is its own to retry.
            let Reverse(first) = state.retries.peek()?;
            let wait = first.at.saturating_duration_since(now).min(POLL);
            state = self
                .changed
                .wait_timeout(state, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn retry(&self, task: Task) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.retries.push(Reverse(task));
        self.changed.notify_all();
    }
}

/// Downloads every code of `job` with `workers` threads.
pub fn run_workers(
    job: &Job,
    workers: usize,
    on_event: &mut dyn FnMut(Event),
) -> anyhow::Result<()> {
    let workers = workers.min(job.codes.len()).max(1);
    let job = Arc::new(job.clone());
    let agent = Arc::new(blocking::agent(&job, workers));
    let queue = Arc::new(Queue::default());
    let (sender, receiver) = mpsc::channel::<(usize, Outcome)>();
    let mut started = 0;
    for i in 0..workers {
        let (job, agent, queue, sender) =
            (job.clone(), agent.clone(), queue.clone(), sender.clone());
        let spawned = thread::Builder::new()
            .name(format!("flags-{i}"))
            .stack_size(STACK_SIZE)
            .spawn(move || work(&job, &agent, &queue, &sender));
        match spawned {
            Ok(_) => started += 1,
            // Out of threads: the ones already running share the remaining codes.
            Err(e) if started > 0 => {
                eprintln!("flags-dl: warning: started only {started} of {workers} threads ({e}); continuing with {started}");
                break;
            }
            Err(e) => return Err(anyhow::anyhow!("cannot start a download thread: {e}")),
        }
    }
    drop(sender);

    let mut reported = vec![false; job.codes.len()];
    loop {
        let received = receiver.recv_timeout(POLL);
        // The pace's news within a poll of happening: a wait the server asked for is shown
        // as it begins.
        super::tell_news(&job, on_event);
        match received {
            Ok((index, outcome)) => {
                reported[index] = true;
                on_event(Event::Outcome(outcome));
            }
            Err(RecvTimeoutError::Timeout) if job.cancel.is_cancelled() => break,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    // Cancelled: whatever has not been reported never will be, workers still blocked in a
    // read included. Each such code is counted once, as cancelled.
    queue.changed.notify_all();
    for (index, cc) in job.codes.iter().enumerate() {
        if !reported[index] {
            on_event(Event::Outcome(Outcome::without_request(
                cc,
                DownloadStatus::Cancelled,
            )));
        }
    }
    Ok(())
}

/// A worker: take a task, attempt it, then report it or queue its retry.
fn work(job: &Job, agent: &ureq::Agent, queue: &Queue, sender: &mpsc::Sender<(usize, Outcome)>) {
    while let Some(mut task) = queue.take(job) {
        let cc = &job.codes[task.index];
        let outcome = match attempt(job, agent, cc, &mut task.attempts) {
            Some(Ok(outcome)) => outcome,
            Some(Err(wait)) => {
                let at = Instant::now() + wait;
                queue.retry(Task { at, ..task });
                continue;
            }
            None => return,
        };
        if sender.send((task.index, outcome)).is_err() {
            return;
        }
    }
}

/// One attempt at `cc`, with its resends, as [`Attempts`] rules them: the code's outcome,
/// or the wait before its next attempt. `None` once the run is cancelled.
fn attempt(
    job: &Job,
    agent: &ureq::Agent,
    cc: &str,
    attempts: &mut Attempts,
) -> Option<Result<Outcome, Duration>> {
    if let Some(skipped) = attempts.skipped(job, cc) {
        return Some(Ok(skipped));
    }
    let ticket = match job.pace.admit_blocking(|| job.cancel.is_cancelled())? {
        Ok(ticket) => ticket,
        Err(refused) => return Some(Ok(attempts.refused(job, cc, &refused))),
    };
    attempts.begin();
    let track = || thread::current().name().unwrap_or("worker").to_string();
    loop {
        let fetched = get_flag_blocking(agent, FlagFetch::new(job, cc, &ticket));
        match attempts.next_step(job, cc, fetched, track) {
            Step::Resend => {}
            Step::Retry(wait) => return Some(Err(wait)),
            Step::Done(outcome) => return Some(Ok(*outcome)),
        }
    }
}
