//! `flags-dl bench`: the book's timing experiment as one command.
//!
//! (Being written: see issue 5. The command line below is the agreed shape.)

use crate::cli::{CodeArgs, ServerArgs};
use crate::error::Exit;
use clap::Args;

/// `flags-dl bench [CODES] [SERVER] [OPTIONS]`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub codes: CodeArgs,

    #[command(flatten)]
    pub server: ServerArgs,
}

/// Runs the benchmark and prints its table.
pub fn run_bench(_args: &BenchArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("flags-dl bench is not available yet")
}
