//! The book's `flags2_sequential.py`: one code after another on the calling thread, over
//! one kept-alive connection. The baseline that shows what concurrency buys.

use super::{blocking, Job, Outcome};

pub fn download_many(job: &Job, on_outcome: &mut dyn FnMut(Outcome)) -> anyhow::Result<()> {
    let agent = blocking::agent(job, 1);
    for cc in &job.codes {
        on_outcome(blocking::download_one(&agent, job, cc));
    }
    Ok(())
}
