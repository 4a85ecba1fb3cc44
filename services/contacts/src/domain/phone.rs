//! Phone numbers, stored in E.164 ("+442079460958").
//!
//! Parsing uses libphonenumber's metadata (the `phonenumber` crate): numbers
//! written without a country code are read in the tenant's default region.

use std::{fmt, str::FromStr};

use phonenumber::{Mode, country};

/// A region to read national numbers in (ISO 3166-1 alpha-2, e.g. `GB`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region(country::Id);

impl Region {
    /// Parses a region code, case-insensitively.
    pub fn parse(code: &str) -> Result<Self, PhoneError> {
        country::Id::from_str(&code.trim().to_ascii_uppercase())
            .map(Region)
            .map_err(|_| PhoneError("not a known ISO 3166-1 region code"))
    }

    /// The region code, upper case.
    pub fn code(&self) -> &str {
        self.0.as_ref()
    }
}

impl Default for Region {
    fn default() -> Self {
        Region(country::Id::US)
    }
}

/// Why a phone number was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct PhoneError(&'static str);

/// Longest input considered (anything longer is not a phone number).
const MAX_INPUT: usize = 64;

/// Parses `input` (any common notation: spaces, dashes, brackets, `00`
/// or `+` prefixes, `tel:` URIs) and returns it in E.164.
pub fn normalize_phone(input: &str, region: Region) -> Result<String, PhoneError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(PhoneError("empty"));
    }
    if input.len() > MAX_INPUT || input.chars().any(char::is_control) {
        return Err(PhoneError("not a phone number"));
    }
    let number =
        phonenumber::parse(Some(region.0), input).map_err(|_| PhoneError("not a phone number"))?;
    if !number.is_valid() {
        return Err(PhoneError(
            "not a valid number for its region (add the country code, e.g. +44)",
        ));
    }
    Ok(number.format().mode(Mode::E164).to_string())
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn gb() -> Region {
        Region::parse("gb").unwrap()
    }

    #[test]
    fn national_and_international_notations_agree() {
        for input in [
            "+44 20 7946 0958",
            "020 7946 0958",
            "(020) 7946-0958",
            "0044 20 7946 0958",
            "+44 (0)20 7946 0958",
            "tel:+44-20-7946-0958",
        ] {
            assert_eq!(
                normalize_phone(input, gb()).as_deref(),
                Ok("+442079460958"),
                "{input}"
            );
        }
    }

    #[test]
    fn the_default_region_decides_national_numbers() {
        let us = Region::parse("US").unwrap();
        assert_eq!(
            normalize_phone("(201) 555-0123", us).as_deref(),
            Ok("+12015550123")
        );
        assert_eq!(
            normalize_phone("+91 98765 43210", us).as_deref(),
            Ok("+919876543210")
        );
    }

    #[test]
    fn refuses_what_is_not_a_number() {
        for input in ["", "call me", "12", "+44 20", "+999 1234567"] {
            assert!(normalize_phone(input, gb()).is_err(), "{input}");
        }
        assert!(Region::parse("XX").is_err());
    }

    proptest! {
        // Normalising is idempotent and never panics, whatever the input.
        #[test]
        fn normalising_is_idempotent(input in "\\PC{0,40}") {
            if let Ok(e164) = normalize_phone(&input, gb()) {
                prop_assert!(e164.starts_with('+'));
                prop_assert_eq!(normalize_phone(&e164, gb()), Ok(e164.clone()));
            }
        }

        // Any valid GB number reads the same with spaces, dashes or brackets.
        #[test]
        fn separators_do_not_matter(
            digits in "[0-9]{4}",
            sep in prop::sample::select(vec![" ", "-", ".", ""]),
        ) {
            let plain = format!("+44207946{digits}");
            let spaced = format!("+44{sep}20{sep}7946{sep}{digits}");
            prop_assert_eq!(normalize_phone(&plain, gb()), normalize_phone(&spaced, gb()));
        }
    }
}
