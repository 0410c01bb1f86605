//! The book's data, read independently of the code under test: its country codes, the 20
//! most populous countries, the real flags beside the repository; and a check that bytes
//! are a GIF that decodes.

use std::path::{Path, PathBuf};

/// The book's 20 most populous countries, sorted: what a run with no codes fetches.
pub const POP20_SORTED: [&str; 20] = [
    "BD", "BR", "CD", "CN", "DE", "EG", "ET", "FR", "ID", "IN", "IR", "JP", "MX", "NG", "PH", "PK",
    "RU", "TR", "US", "VN",
];

/// The 194 codes of the data set, upper case and sorted, from the repository's
/// `flags/country_codes.txt` (the book's file).
pub fn all_codes() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("flags/country_codes.txt");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut codes: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    codes.sort();
    assert_eq!(codes.len(), 194, "{} should hold 194 codes", path.display());
    codes
}

/// `<cc>.gif` file names, lower case and sorted, for the given codes.
pub fn gif_names<S: AsRef<str>>(codes: &[S]) -> Vec<String> {
    let mut names: Vec<String> = codes
        .iter()
        .map(|cc| format!("{}.gif", cc.as_ref().to_ascii_lowercase()))
        .collect();
    names.sort();
    names
}

/// The book's real flags, `../shared/flags` beside the repository, if present.
pub fn shared_flags() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/flags");
    path.join("br/br.gif").is_file().then_some(path)
}

/// Fails unless `bytes` is a GIF89a that decodes to at least one frame; returns its
/// logical screen size.
pub fn assert_decodable_gif(name: &str, bytes: &[u8]) -> (u16, u16) {
    assert!(bytes.starts_with(b"GIF89a"), "{name} is not a GIF89a");
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    let mut decoder = options
        .read_info(bytes)
        .unwrap_or_else(|e| panic!("{name}: no GIF header: {e}"));
    let size = (decoder.width(), decoder.height());
    let frame = decoder
        .read_next_frame()
        .unwrap_or_else(|e| panic!("{name}: truncated or corrupt ({} bytes): {e}", bytes.len()));
    assert!(frame.is_some(), "{name}: no frame");
    size
}
