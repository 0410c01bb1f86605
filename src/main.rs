//! The `flags-dl` binary: parse the command line, run it, turn the result into an exit
//! status. Everything else lives in the library, where the tests can reach it.

#![forbid(unsafe_code)]

use clap::error::{ContextKind, ContextValue};
use clap::Parser;
use flags_dl::error::{Error, Exit};
use flags_dl::Cli;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    match flags_dl::run(cli) {
        Ok(exit) => exit.into(),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // The message may quote what the user or a server gave: never raw on a terminal.
            eprintln!("flags-dl: {}", flags_dl::escaped(&format!("{e:#}")));
            e.downcast_ref::<Error>()
                .map_or(Exit::Failure, Error::exit)
                .into()
        }
    }
}

/// The context entries in which clap quotes what was typed (or set in the environment).
const QUOTED: [ContextKind; 3] = [
    ContextKind::InvalidValue,
    ContextKind::InvalidArg,
    ContextKind::InvalidSubcommand,
];

/// The longest line of a usage error, a backstop for a value parser's message that
/// quotes its input whole.
const MAX_LINE_CHARS: usize = 400;

/// Prints clap's usage error (or help, or version) and says how to exit: 2 for an error.
///
/// clap quotes an offending value whole and raw (`invalid value '<1 MB of escapes>'`),
/// and on a terminal passes its escape sequences through. When a quoted value is long,
/// holds a control or format character, or a password, it is replaced by its short,
/// escaped, masked form and the message printed plain; otherwise clap prints as it always
/// does.
fn usage_error(mut e: clap::Error) -> ExitCode {
    let mut replaced = Vec::new();
    for kind in QUOTED {
        if let Some(ContextValue::String(value)) = e.get(kind) {
            let shown = flags_dl::short(&flags_dl::shown_url(value));
            if shown != *value {
                replaced.push((value.clone(), shown.clone()));
                e.insert(kind, ContextValue::String(shown));
            }
        }
    }
    if replaced.is_empty() {
        e.exit();
    }
    // A value parser's own message may quote the value too.
    let mut message = e.to_string();
    for (value, shown) in &replaced {
        message = message.replace(value.as_str(), shown);
    }
    for line in flags_dl::escaped_except(&message, |c| c == '\n').lines() {
        eprintln!("{}", flags_dl::short_to(line, MAX_LINE_CHARS));
    }
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}

/// A reader that stopped reading (`flags-dl ... | head -1`) is not an error of ours.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}
