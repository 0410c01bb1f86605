//! The project's country data: the book's 194 codes with each country's name and TLD.
//!
//! Both files under `flags/` are compiled into the binary, so the tool needs nothing on disk
//! at run time. `countries.tsv` is generated from ISO 3166-1 by `scripts/make-countries.py`;
//! this module only reads it. It is not the flag images: those are made by `serve::gif`.

use std::sync::OnceLock;

/// One row of `flags/countries.tsv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Country {
    /// ISO 3166-1 alpha-2 code, upper case (`BR`).
    pub code: &'static str,
    /// Common English name from ISO 3166 (`Brazil`).
    pub name: &'static str,
    /// Country-code top-level domain, with its dot (`.br`).
    pub tld: &'static str,
}

const COUNTRY_CODES: &str = include_str!("../flags/country_codes.txt");
const COUNTRIES_TSV: &str = include_str!("../flags/countries.tsv");

/// The book's 194 country codes, upper case, sorted.
pub fn all_codes() -> &'static [&'static str] {
    static CODES: OnceLock<Vec<&'static str>> = OnceLock::new();
    CODES.get_or_init(|| {
        let mut codes: Vec<&str> = COUNTRY_CODES.split_whitespace().collect();
        codes.sort_unstable();
        codes
    })
}

/// Every country of the data set, in code order.
pub fn countries() -> &'static [Country] {
    static TABLE: OnceLock<Vec<Country>> = OnceLock::new();
    TABLE.get_or_init(|| {
        COUNTRIES_TSV
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| {
                let mut fields = line.split('\t');
                // The file is ours and checked by the tests below, so a short row is a
                // build-time mistake, not a run-time condition.
                let mut next = || fields.next().expect("countries.tsv rows have 3 fields");
                Country {
                    code: next(),
                    name: next(),
                    tld: next(),
                }
            })
            .collect()
    })
}

/// Looks a country up by its code, in either case.
pub fn country(code: &str) -> Option<&'static Country> {
    let code = code.to_ascii_uppercase();
    countries()
        .binary_search_by(|c| c.code.cmp(code.as_str()))
        .ok()
        .map(|i| &countries()[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_set_has_the_books_194_codes() {
        assert_eq!(all_codes().len(), 194);
        assert_eq!(all_codes().first(), Some(&"AD"));
        assert_eq!(all_codes().last(), Some(&"ZW"));
    }

    #[test]
    fn every_code_has_a_country_row_and_no_row_is_extra() {
        let table: Vec<&str> = countries().iter().map(|c| c.code).collect();
        assert_eq!(table, all_codes());
        assert!(countries().windows(2).all(|w| w[0].code < w[1].code));
    }

    #[test]
    fn lookups_are_case_insensitive_and_keep_non_ascii_names() {
        assert_eq!(country("br").unwrap().name, "Brazil");
        assert_eq!(country("CI").unwrap().name, "Côte d'Ivoire");
        assert_eq!(country("gb").unwrap().tld, ".uk");
        assert!(country("XX").is_none());
    }
}
