//! The book's `flags2_threadpool.py`: a pool of `max_req` OS threads, each taking the next
//! code and doing blocking I/O on its own kept-alive connection.
//!
//! Outcomes travel back over a channel, so the caller sees them on its own thread, in the
//! order they finish, exactly as the async mode delivers them.

use super::{blocking, Job, Outcome};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;

/// Stack size of a pool thread: `get_flag` needs little, and 1,000 default 8 MiB stacks
/// would reserve 8 GiB of address space.
const STACK_SIZE: usize = 256 * 1024;

pub fn download_many(job: &Job, on_outcome: &mut dyn FnMut(Outcome)) -> anyhow::Result<()> {
    let workers = job.max_req.min(job.codes.len()).max(1);
    let agent = blocking::agent(job, workers);
    // The next code to take: a counter rather than a queue, since the list is fixed.
    let next = AtomicUsize::new(0);
    let (sender, receiver) = mpsc::channel();
    thread::scope(|scope| -> anyhow::Result<()> {
        let mut started = 0;
        for i in 0..workers {
            let sender = sender.clone();
            let (agent, next) = (&agent, &next);
            let worker = move || {
                while let Some(cc) = job.codes.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if sender.send(blocking::download_one(agent, job, cc)).is_err() {
                        break;
                    }
                }
            };
            match thread::Builder::new()
                .name(format!("flags-{i}"))
                .stack_size(STACK_SIZE)
                .spawn_scoped(scope, worker)
            {
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
        for outcome in receiver {
            on_outcome(outcome);
        }
        Ok(())
    })
}
