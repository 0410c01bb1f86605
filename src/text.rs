//! Text from outside (a server's country names, the user's arguments and standard input)
//! made safe to put in a file name or on a terminal.
//!
//! The characters that matter are those of the Unicode general categories Cc (controls:
//! escape sequences, carriage return), Cf (format: the right-to-left override U+202E that
//! makes `<U+202E>gpj.exe-bb.gif` read as another name, zero-width characters), Zl and Zp (line
//! and paragraph separators, which split a line). They are dropped from file names
//! ([`is_hidden`]) and shown escaped, never raw, in what is printed ([`escaped`]); a long
//! value is quoted short ([`quoted_short`]). This module does not decide what is valid
//! input, only how it is shown.

use std::borrow::Cow;
use unicode_general_category::{get_general_category, GeneralCategory};

/// How many characters of an offending value an error message quotes.
pub const QUOTE_CHARS: usize = 80;

/// Whether `c` is a control, format, line separator or paragraph separator character
/// (categories Cc, Cf, Zl, Zp): invisible, or able to move the cursor or reorder text.
pub fn is_hidden(c: char) -> bool {
    matches!(
        get_general_category(c),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

/// `text` with each [`is_hidden`] character written as an escape (`\t`, `\n`, `\r`, or
/// `\u{202e}`), the rest unchanged. Borrowed when there is nothing to escape.
pub fn escaped(text: &str) -> Cow<'_, str> {
    escaped_except(text, |_| false)
}

/// [`escaped`], keeping the characters for which `keep` is true raw (a newline between the
/// lines of a multi-line message).
pub fn escaped_except(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_hidden(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            c if keep(c) || !is_hidden(c) => out.push(c),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(out)
}

/// An offending value quoted for an error message: `'BRA'`, escaped, and cut to
/// [`QUOTE_CHARS`] characters with its length in bytes when longer
/// (`'AAAAAAAA…' (1048576 bytes)`), so that one bad word cannot flood the terminal.
pub fn quoted_short(value: &str) -> String {
    let shown = short(value);
    if value.chars().nth(QUOTE_CHARS).is_none() {
        return format!("'{shown}'");
    }
    format!("'{shown}' ({} bytes)", value.len())
}

/// `value` escaped and cut to [`QUOTE_CHARS`] characters, `…` marking a cut: for a
/// message that puts its own quotes around it.
pub fn short(value: &str) -> String {
    short_to(value, QUOTE_CHARS)
}

/// [`short`] with another length.
pub fn short_to(value: &str, max_chars: usize) -> String {
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(max_chars).collect();
    let cut = if chars.next().is_some() { "…" } else { "" };
    format!("{}{cut}", escaped(&head))
}

/// A line of JSON with every [`is_hidden`] character inside its strings written as a
/// `\uXXXX` escape. The value is the same JSON (a reader decodes the same strings); only
/// the bytes differ, so that NDJSON read on a terminal cannot rewrite it. serde_json
/// already escapes Cc; this adds Cf, Zl and Zp, which it writes raw.
pub fn json_escaped(json: &str) -> Cow<'_, str> {
    if !json.chars().any(is_hidden) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    let mut units = [0u16; 2];
    for c in json.chars() {
        if is_hidden(c) {
            // Outside strings JSON has no such character, so each is inside one.
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_formats_and_separators_are_hidden_letters_and_spaces_are_not() {
        for c in [
            '\0',
            '\x1b',
            '\n',
            '\u{7f}',
            '\u{85}',
            '\u{200b}',
            '\u{200e}',
            '\u{202e}',
            '\u{2066}',
            '\u{feff}',
            '\u{2028}',
            '\u{2029}',
            '\u{e0001}',
        ] {
            assert!(is_hidden(c), "{:x}", c as u32);
        }
        for c in ['a', 'é', 'ô', ' ', '\u{a0}', '-', '_', '中', '\u{301}'] {
            assert!(!is_hidden(c), "{:x}", c as u32);
        }
    }

    #[test]
    fn hidden_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(escaped("Côte d'Ivoire"), "Côte d'Ivoire");
        assert_eq!(
            escaped("\u{202e}gpj.exe\x1b[2J\r\u{2028}\t"),
            "\\u{202e}gpj.exe\\u{1b}[2J\\r\\u{2028}\\t"
        );
        assert_eq!(escaped_except("a\nb\rc", |c| c == '\n'), "a\nb\\rc");
    }

    #[test]
    fn long_values_are_quoted_short() {
        assert_eq!(quoted_short("X7"), "'X7'");
        let long = "A".repeat(1 << 20);
        assert_eq!(
            quoted_short(&long),
            format!("'{}…' (1048576 bytes)", "A".repeat(QUOTE_CHARS))
        );
        assert_eq!(quoted_short("\x1b]0;pwned\x07"), "'\\u{1b}]0;pwned\\u{7}'");
    }

    #[test]
    fn json_stays_the_same_value_without_raw_hidden_characters() {
        let value = serde_json::json!({ "path": "a\u{202e}b\u{2028}c\u{e0001}" });
        let json = serde_json::to_string(&value).unwrap();
        let safe = json_escaped(&json);
        assert!(!safe.chars().any(is_hidden), "{safe}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&safe).unwrap(),
            value
        );
    }
}
