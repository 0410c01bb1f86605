//! Which country codes a run fetches: the book's `expand_cc_args`.
//!
//! Arguments are two-letter codes or single letters (B means BA…BZ), case-insensitive; no
//! arguments means the book's top 20 by population; `--all` is the 194 codes of the data set
//! and `--every` all 676 pairs AA…ZZ. The result is upper case, sorted, without repeats, and
//! cut to `--limit`. Parsing one argument is [`parse_cc_arg`], so clap and standard input
//! give the same error for the same mistake.
//!
//! Standard input is read up to [`MAX_STDIN`] bytes, and a bad word is quoted short and
//! escaped ([`crate::text::quoted_short`]): what is piped in is not trusted to be small or
//! printable.

use crate::countries;
use std::fmt;

/// The book's 20 most populous countries (`POP20_CC` in flags2_common.py).
pub const POP20_CC: [&str; 20] = [
    "CN", "IN", "US", "ID", "BR", "PK", "NG", "BD", "RU", "JP", "MX", "PH", "VN", "ET", "EG", "DE",
    "IR", "TR", "CD", "FR",
];

/// One command-line code argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CcArg {
    /// A full code, upper case.
    Code(String),
    /// A single letter: the 26 codes that start with it.
    Letter(char),
    /// `-`: read codes from standard input.
    Stdin,
}

/// The most standard input may hold: every one of the 676 codes fits in 2 KiB, so more
/// than this is not a list of codes, and is not read into memory.
pub const MAX_STDIN: usize = 64 * 1024;

/// Why an argument is not a country code. The argument is quoted short and escaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} is not a country code: give two letters (BR) or one letter for all the codes that start with it (B)", crate::text::quoted_short(.0))]
pub struct BadCode(pub String);

/// Parses one argument: `BR`, `br`, `B`, or `-`.
pub fn parse_cc_arg(arg: &str) -> Result<CcArg, BadCode> {
    if arg == "-" {
        return Ok(CcArg::Stdin);
    }
    let upper = arg.to_ascii_uppercase();
    match upper.as_bytes() {
        [a] if a.is_ascii_uppercase() => Ok(CcArg::Letter(*a as char)),
        [a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => Ok(CcArg::Code(upper)),
        _ => Err(BadCode(arg.to_string())),
    }
}

impl fmt::Display for CcArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CcArg::Code(code) => f.write_str(code),
            CcArg::Letter(letter) => write!(f, "{letter}"),
            CcArg::Stdin => f.write_str("-"),
        }
    }
}

/// How the codes were chosen, before expansion.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub args: Vec<CcArg>,
    pub all: bool,
    pub every: bool,
    pub limit: Option<usize>,
}

/// All 676 two-letter pairs, AA…ZZ.
pub fn every_code() -> Vec<String> {
    letter_codes()
        .flat_map(|a| letter_codes().map(move |b| format!("{a}{b}")))
        .collect()
}

fn letter_codes() -> impl Iterator<Item = char> + Clone {
    'A'..='Z'
}

/// Expands a selection into the sorted, de-duplicated list of codes to fetch.
///
/// `read_stdin` is called once, only if `-` is among the arguments; it returns the text to
/// split on whitespace and commas, or an error of kind `FileTooLarge` past [`MAX_STDIN`].
pub fn expand_cc_args(
    selection: &Selection,
    read_stdin: impl FnOnce() -> std::io::Result<String>,
) -> Result<Vec<String>, ExpandError> {
    let mut codes: Vec<String> = if selection.every {
        every_code()
    } else if selection.all {
        countries::all_codes()
            .iter()
            .map(|c| c.to_string())
            .collect()
    } else if selection.args.is_empty() {
        POP20_CC.iter().map(|c| c.to_string()).collect()
    } else {
        let mut codes = Vec::new();
        let mut stdin = Some(read_stdin);
        for arg in &selection.args {
            match arg {
                CcArg::Code(code) => codes.push(code.clone()),
                CcArg::Letter(letter) => {
                    codes.extend(letter_codes().map(|b| format!("{letter}{b}")));
                }
                CcArg::Stdin => {
                    // `-` twice would find standard input already empty; read it once.
                    let Some(read) = stdin.take() else { continue };
                    let text = read().map_err(|e| match e.kind() {
                        std::io::ErrorKind::FileTooLarge => ExpandError::StdinTooLarge,
                        _ => ExpandError::Stdin(e),
                    })?;
                    for word in text.split(|c: char| c.is_whitespace() || c == ',') {
                        if word.is_empty() {
                            continue;
                        }
                        match parse_cc_arg(word)? {
                            CcArg::Code(code) => codes.push(code),
                            CcArg::Letter(letter) => {
                                codes.extend(letter_codes().map(|b| format!("{letter}{b}")));
                            }
                            CcArg::Stdin => return Err(BadCode(word.to_string()).into()),
                        }
                    }
                }
            }
        }
        codes
    };
    codes.sort_unstable();
    codes.dedup();
    if let Some(limit) = selection.limit {
        codes.truncate(limit);
    }
    if codes.is_empty() {
        return Err(ExpandError::Empty);
    }
    Ok(codes)
}

/// [`expand_cc_args`] with this process's standard input behind `-`.
pub fn expand_from_stdin(selection: &Selection) -> Result<Vec<String>, ExpandError> {
    expand_cc_args(selection, || {
        read_bounded(std::io::stdin().lock(), MAX_STDIN)
    })
}

/// Reads `input` as UTF-8 text of at most `max` bytes: one byte more is an error of kind
/// `FileTooLarge`, and nothing past it is read.
fn read_bounded(input: impl std::io::Read, max: usize) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut input.take(max as u64 + 1), &mut bytes)?;
    if bytes.len() > max {
        return Err(std::io::ErrorKind::FileTooLarge.into());
    }
    String::from_utf8(bytes).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "it is not UTF-8 text; give codes such as BR CN",
        )
    })
}

/// Why a selection gave no list of codes.
#[derive(Debug, thiserror::Error)]
pub enum ExpandError {
    #[error(transparent)]
    BadCode(#[from] BadCode),
    #[error("cannot read country codes from standard input: {0}")]
    Stdin(std::io::Error),
    #[error("standard input holds more than {} KiB, which is not a list of country codes (all 676 fit in 2 KiB); pipe in codes only, as in `echo BR CN | flags-dl -`", MAX_STDIN / 1024)]
    StdinTooLarge,
    #[error("no country codes to fetch: standard input held none; pipe some in, as in `echo BR CN | flags-dl -`")]
    Empty,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(args: &[&str], all: bool, every: bool, limit: Option<usize>) -> Vec<String> {
        let selection = Selection {
            args: args.iter().map(|a| parse_cc_arg(a).unwrap()).collect(),
            all,
            every,
            limit,
        };
        expand_cc_args(&selection, || Ok("  cn, us\nbr  ".into())).unwrap()
    }

    #[test]
    fn no_arguments_gives_the_top_20_sorted() {
        let codes = expand(&[], false, false, None);
        assert_eq!(codes.len(), 20);
        assert_eq!(codes.first().unwrap(), "BD");
        assert_eq!(codes.last().unwrap(), "VN");
    }

    #[test]
    fn a_letter_means_the_26_codes_that_start_with_it() {
        let codes = expand(&["b"], false, false, None);
        assert_eq!(codes.len(), 26);
        assert_eq!(codes[0], "BA");
        assert_eq!(codes[25], "BZ");
    }

    #[test]
    fn codes_are_upper_cased_sorted_and_deduplicated() {
        assert_eq!(
            expand(&["us", "BR", "br"], false, false, None),
            ["BR", "US"]
        );
    }

    #[test]
    fn all_every_and_limit() {
        assert_eq!(expand(&[], true, false, None).len(), 194);
        let every = expand(&[], false, true, None);
        assert_eq!(
            (every.len(), every[0].as_str(), every[675].as_str()),
            (676, "AA", "ZZ")
        );
        assert_eq!(expand(&[], true, false, Some(3)), ["AD", "AE", "AF"]);
    }

    #[test]
    fn stdin_codes_split_on_whitespace_and_commas() {
        assert_eq!(
            expand(&["-", "fr"], false, false, None),
            ["BR", "CN", "FR", "US"]
        );
    }

    #[test]
    fn bad_codes_are_named() {
        for bad in ["", "BRA", "b1", "é", "--"] {
            let err = parse_cc_arg(bad).unwrap_err();
            assert!(err.to_string().contains(&format!("'{bad}'")), "{err}");
        }
        let selection = Selection {
            args: vec![CcArg::Stdin],
            ..Selection::default()
        };
        let err = expand_cc_args(&selection, || Ok("BR X7".into())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "'X7' is not a country code: give two letters (BR) or one letter for all the codes that start with it (B)"
        );
    }

    #[test]
    fn standard_input_is_read_up_to_its_bound() {
        let codes = "BR ".repeat(100);
        assert_eq!(read_bounded(codes.as_bytes(), 300).unwrap(), codes);
        let err = read_bounded(codes.as_bytes(), 299).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::FileTooLarge);
        let selection = Selection {
            args: vec![CcArg::Stdin],
            ..Selection::default()
        };
        let err = expand_cc_args(&selection, || Err(err)).unwrap_err();
        assert!(matches!(err, ExpandError::StdinTooLarge), "{err}");
        assert!(read_bounded(&b"BR \xff"[..], 10).is_err());
    }

    #[test]
    fn a_bad_word_is_quoted_short_and_escaped() {
        let word = "\x1b[2J".repeat(10_000);
        let message = BadCode(word).to_string();
        assert!(message.len() < 300, "{} bytes", message.len());
        assert!(!message.contains('\x1b'), "{message}");
    }
}
