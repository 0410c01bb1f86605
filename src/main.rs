//! The `flags-dl` binary: parse the command line, run it, turn the result into an exit
//! status. Everything else lives in the library, where the tests can reach it.

use clap::Parser;
use flags_dl::cli::Cli;
use flags_dl::error::{Error, Exit};
use flags_dl::text;
use std::process::ExitCode;

fn main() -> ExitCode {
    // clap prints its own usage errors and exits with 2.
    let cli = Cli::parse();
    match flags_dl::run(cli) {
        Ok(exit) => exit.into(),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // The message may quote what the user or a server gave: never raw on a terminal.
            eprintln!("flags-dl: {}", text::escaped(&format!("{e:#}")));
            e.downcast_ref::<Error>()
                .map_or(Exit::Failure, Error::exit)
                .into()
        }
    }
}

/// A reader that stopped reading (`flags-dl ... | head -1`) is not an error of ours.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}
