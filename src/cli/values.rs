//! How the command line names the values of the layers below it: each type's words, and
//! the help `--help` shows for each, as clap's `ValueEnum` wants them.
//!
//! The types are the download's, the report's, the server's and the bench's ([`Mode`],
//! [`PaceMode`], [`ColorChoice`], [`Preset`], [`Http`]); they know nothing of clap, so that only this module
//! decides how a value is spelled on the command line. Deriving `ValueEnum` on them would
//! have put clap, and the help text, in the layers below.

use crate::bench::plan::Http;
use crate::download::{Mode, PaceMode};
use crate::report::color::ColorChoice;
use crate::serve::Preset;
use clap::builder::PossibleValue;
use clap::ValueEnum;

impl ValueEnum for Mode {
    fn value_variants<'a>() -> &'a [Mode] {
        &[Mode::Async, Mode::Threads, Mode::Sequential]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Mode::Async => PossibleValue::new("async").help(
                "One tokio task per code, the pace admitting requests in flight (flags2_asyncio.py)",
            ),
            Mode::Threads => PossibleValue::new("threads")
                .help("A pool of OS threads doing blocking I/O (flags2_threadpool.py)"),
            Mode::Sequential => PossibleValue::new("sequential").help(
                "One request at a time over one kept-alive connection (flags2_sequential.py)",
            ),
        })
    }
}

impl ValueEnum for PaceMode {
    fn value_variants<'a>() -> &'a [PaceMode] {
        &[PaceMode::Auto, PaceMode::Off]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            PaceMode::Auto => PossibleValue::new("auto").help(
                "Every connection at once until the server's queue overflows; fewer requests while it refuses them",
            ),
            PaceMode::Off => PossibleValue::new("off").help(
                "Exactly `-m` requests at once and every connection they need, as the book's scripts do",
            ),
        })
    }
}

impl ValueEnum for ColorChoice {
    fn value_variants<'a>() -> &'a [ColorChoice] {
        &[ColorChoice::Auto, ColorChoice::Always, ColorChoice::Never]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            ColorChoice::Auto => PossibleValue::new("auto")
                .help("Colour when the output is a terminal and NO_COLOR is not set"),
            ColorChoice::Always => PossibleValue::new("always"),
            ColorChoice::Never => PossibleValue::new("never"),
        })
    }
}

impl ValueEnum for Preset {
    fn value_variants<'a>() -> &'a [Preset] {
        &[Preset::Local, Preset::Delay, Preset::Error]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Preset::Local => {
                PossibleValue::new("local").help("Port 8000, no delay: `python3 -m http.server`")
            }
            Preset::Delay => PossibleValue::new("delay")
                .help("Port 8001, a random 0.5–5 s delay per request: `slow_server.py`"),
            Preset::Error => PossibleValue::new("error")
                .help("Port 8002, a 0.5 s delay and 25% of requests answered 418 I'm a teapot"),
        })
    }
}

impl ValueEnum for Http {
    fn value_variants<'a>() -> &'a [Http] {
        &[Http::H1, Http::H2]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Http::H1 => PossibleValue::new("1.1").help(
                "HTTP/1.1 only: what `--http1.1` asks for, and all that threads and sequential speak",
            ),
            Http::H2 => PossibleValue::new("2").help(
                "HTTP/2 offered by ALPN (with HTTP/1.1 as the fallback): async's default over TLS",
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each value's word is the one its `Display` (or the server's log) uses too, so that
    /// what the report prints can be typed back.
    #[test]
    fn every_mode_reads_back_as_it_is_shown() {
        for mode in Mode::value_variants() {
            assert_eq!(Mode::from_str(&mode.to_string(), false), Ok(*mode));
        }
    }
}
