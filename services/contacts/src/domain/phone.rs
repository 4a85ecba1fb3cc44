//! Phone numbers, stored in E.164 ("+442079460958").
//!
//! Parsing uses libphonenumber's metadata through `rlibphonenumber`, a port
//! that agrees with libphonenumber on every example number of every region
//! (the corpus in `tests/data/phone_corpus.tsv`; ADR 0111). Numbers written
//! without a country code are read in the tenant's default region.

use std::{fmt, sync::LazyLock};

use rlibphonenumber::{
    CountryCodeSource, PHONE_NUMBER_UTIL, ParseError, PhoneNumber, PhoneNumberFormat,
};

/// Every region libphonenumber has metadata for, in code order.
static SUPPORTED: LazyLock<Vec<rlibphonenumber::Region>> = LazyLock::new(|| {
    let mut regions: Vec<_> = PHONE_NUMBER_UTIL
        .get_supported_regions()
        .filter(|r| *r != rlibphonenumber::Region::World)
        .collect();
    regions.sort();
    regions
});

/// A region to read national numbers in (ISO 3166-1 alpha-2, e.g. `GB`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    id: rlibphonenumber::Region,
    code: [u8; 2],
}

impl Region {
    /// Parses a region code, case-insensitively. Only regions with
    /// numbering metadata are accepted.
    pub fn parse(code: &str) -> Result<Self, PhoneError> {
        let upper = code.trim().to_ascii_uppercase();
        let unknown = PhoneError("not a known ISO 3166-1 region code");
        let [a, b] = <[u8; 2]>::try_from(upper.as_bytes()).map_err(|_| unknown.clone())?;
        let id = rlibphonenumber::Region::from_code(&upper).map_err(|_| unknown.clone())?;
        if SUPPORTED.binary_search(&id).is_err() {
            return Err(unknown);
        }
        Ok(Region { id, code: [a, b] })
    }

    /// The region code, upper case.
    pub fn code(&self) -> &str {
        // Built from two ASCII letters in `parse`.
        std::str::from_utf8(&self.code).unwrap_or("US")
    }
}

impl Default for Region {
    fn default() -> Self {
        Region {
            id: rlibphonenumber::Region::US,
            code: *b"US",
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why a phone number was refused.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct PhoneError(&'static str);

/// Longest input considered (anything longer is not a phone number).
const MAX_INPUT: usize = 64;

/// Parses `input` in `region`, keeping where its country code came from.
fn parse(input: &str, region: Region) -> Result<PhoneNumber, PhoneError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(PhoneError("empty"));
    }
    if input.len() > MAX_INPUT || input.chars().any(char::is_control) {
        return Err(PhoneError("not a phone number"));
    }
    PHONE_NUMBER_UTIL
        .parse_and_keep_raw_input(input, Some(region.id))
        .map_err(|e| {
            PhoneError(match e {
                ParseError::InvalidCountryCode => "unknown country code",
                ParseError::TooShortAfterIdd | ParseError::TooShortNsn => "too short",
                ParseError::TooLongNsn => "too long",
                ParseError::NotANumber(_) => "not a phone number",
            })
        })
}

fn e164(number: &PhoneNumber) -> String {
    number.format_as(PhoneNumberFormat::E164).into_owned()
}

/// Parses `input` (any common notation: spaces, dashes, brackets, `00`
/// or `+` prefixes, `tel:` URIs) and returns it in E.164, exactly as
/// libphonenumber formats it, or says why it is refused.
pub fn normalize_phone(input: &str, region: Region) -> Result<String, PhoneError> {
    let number = parse(input, region)?;
    if !number.is_valid() {
        return Err(PhoneError(
            "not a valid number for its region (add the country code, e.g. +44)",
        ));
    }
    Ok(e164(&number))
}

/// What a phone number written in a lookup may stand for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneReadings {
    /// Its reading in the tenant's region, when valid there.
    pub in_region: Option<String>,
    /// When it carries no country code of its own: its valid readings as a
    /// national number of every other region (a caller's number written
    /// the way its own country writes it, `01812-345678` in Bangladesh).
    pub elsewhere: Vec<String>,
}

/// Reads `input` in `region` and, only when `elsewhere` is asked for and
/// the number has no country code, in every other region.
pub fn phone_readings(
    input: &str,
    region: Region,
    elsewhere: bool,
) -> Result<PhoneReadings, PhoneError> {
    let number = parse(input, region)?;
    let own_code = number.country_code_source() != CountryCodeSource::FromDefaultCountry;
    let in_region = number.is_valid().then(|| e164(&number));
    let mut others: Vec<String> = Vec::new();
    if elsewhere && !own_code {
        for other in SUPPORTED.iter().filter(|r| **r != region.id) {
            if let Ok(n) = PHONE_NUMBER_UTIL.parse(input.trim(), Some(*other))
                && n.is_valid()
            {
                let e = e164(&n);
                if Some(&e) != in_region.as_ref() && !others.contains(&e) {
                    others.push(e);
                }
            }
        }
    }
    if in_region.is_none() && (own_code || (elsewhere && others.is_empty())) {
        return Err(PhoneError(
            "not a valid number in any region (add the country code, e.g. +44)",
        ));
    }
    Ok(PhoneReadings {
        in_region,
        elsewhere: others,
    })
}

/// What is wrong with a stored number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredPhoneProblem {
    /// The stored value is not a valid number.
    Invalid(PhoneError),
    /// The stored value now reads as another number.
    ReadsAs(String),
    /// Valid, but a number of another country that, with the tenant's
    /// national prefix after the country code, is valid too: the shape of
    /// what the earlier parser did to it. Worth a look, not certainly wrong.
    MayHaveLostDigits,
}

/// A stored number to review, with the numbers it may have been.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPhoneFinding {
    /// What is wrong.
    pub problem: StoredPhoneProblem,
    /// Valid numbers one digit longer that it may have been written as.
    pub possible_originals: Vec<String>,
}

/// The digit a national number of `region` may start with that parsing
/// strips (its national prefix: `1` in the US, `0` in Great Britain), found
/// by reading the region's example number with each digit before it.
fn national_prefix(region: Region) -> Option<String> {
    let example = PHONE_NUMBER_UTIL.get_example_number(region.id).ok()?;
    let nsn = example.get_national_significant_number();
    (0..10).map(|d| d.to_string()).find(|d| {
        PHONE_NUMBER_UTIL
            .parse(format!("{d}{nsn}"), Some(region.id))
            .is_ok_and(|n| n == example)
    })
}

/// Checks a stored E.164 value written by a tenant whose default region is
/// `region`: `None` when it reads back unchanged and shows no sign of the
/// earlier parser's defect (it dropped the default region's national prefix
/// from the start of other countries' national numbers, ADR 0111). The
/// original cannot always be recovered from the stored value alone.
pub fn check_stored_phone(stored: &str, region: Region) -> Option<StoredPhoneFinding> {
    let parsed = PHONE_NUMBER_UTIL.parse(stored.trim(), None).ok();
    let insert = |digits: &str| -> Option<String> {
        let n = parsed.as_ref()?;
        let candidate = format!(
            "+{}{digits}{}",
            n.country_code,
            n.get_national_significant_number()
        );
        (normalize_phone(&candidate, region).ok()? == candidate).then_some(candidate)
    };
    match normalize_phone(stored, region) {
        Ok(e) if e == stored => {
            let other_country = parsed.as_ref().map(|n| n.country_code)
                != PHONE_NUMBER_UTIL.get_country_code_for_region(region.id);
            let original = national_prefix(region)
                .and_then(|prefix| insert(&prefix))
                .filter(|_| other_country);
            original.map(|o| StoredPhoneFinding {
                problem: StoredPhoneProblem::MayHaveLostDigits,
                possible_originals: vec![o],
            })
        }
        Ok(e) => Some(StoredPhoneFinding {
            problem: StoredPhoneProblem::ReadsAs(e),
            possible_originals: Vec::new(),
        }),
        Err(e) => Some(StoredPhoneFinding {
            problem: StoredPhoneProblem::Invalid(e),
            possible_originals: (0..10).filter_map(|d| insert(&d.to_string())).collect(),
        }),
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

    /// The numbers users reported, read in the product's default region
    /// (US, whose national prefix `1` the earlier parser stripped from
    /// other countries' numbers).
    #[test]
    fn bangladeshi_and_other_reported_numbers_are_kept_whole() {
        let us = Region::default();
        for (input, e164) in [
            ("+8801711000000", "+8801711000000"),
            ("+880 1711-000111", "+8801711000111"),
            ("+8801911234567", "+8801911234567"),
            ("+54 11 2345-6789", "+541123456789"),
            ("+43 1 234567890", "+431234567890"),
            ("+358 18 1234567", "+358181234567"),
            ("+91 98765 43210", "+919876543210"),
            ("+44 20 7946 0000", "+442079460000"),
            ("+1 415 555 2671", "+14155552671"),
            ("+7 912 345-67-89", "+79123456789"),
        ] {
            assert_eq!(normalize_phone(input, us).as_deref(), Ok(e164), "{input}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_number() {
        for input in ["", "call me", "12", "+44 20", "+999 1234567"] {
            assert!(normalize_phone(input, gb()).is_err(), "{input}");
        }
        for code in ["XX", "001", "G", "GBR", ""] {
            assert!(Region::parse(code).is_err(), "{code}");
        }
        assert_eq!(Region::parse(" bd ").unwrap().code(), "BD");
    }

    /// libphonenumber's own example numbers for every region and type, in
    /// international, E.164, `00`, `tel:` and national notation, with what
    /// libphonenumber makes of each (generated by
    /// `tests/data/generate_phone_corpus.py`).
    #[test]
    fn agrees_with_libphonenumber_on_its_example_numbers() {
        let corpus = include_str!("../../tests/data/phone_corpus.tsv");
        let mut rows = 0;
        let mut wrong = Vec::new();
        for line in corpus.lines().filter(|l| !l.starts_with('#')).skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            let [region, kind, notation, default, input, expected] = cols[..] else {
                panic!("malformed corpus line {line:?}");
            };
            rows += 1;
            let got = match normalize_phone(input, Region::parse(default).unwrap()) {
                Ok(e) => e,
                Err(_) => "invalid".to_owned(),
            };
            if got != expected {
                wrong.push(format!(
                    "{region} {kind} {notation} {input:?} in {default}: {got}, want {expected}"
                ));
            }
        }
        assert!(rows > 9000, "the corpus has {rows} rows");
        assert!(
            wrong.is_empty(),
            "{} of {rows} disagree:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
    }

    #[test]
    fn a_national_number_of_another_region_has_readings_there() {
        let us = Region::default();
        let r = phone_readings("01812-345678", us, true).unwrap();
        assert_eq!(r.in_region, None);
        assert!(r.elsewhere.contains(&"+8801812345678".to_owned()), "{r:?}");
        // The tenant's reading is kept apart from the others.
        let r = phone_readings("(201) 555-0123", us, false).unwrap();
        assert_eq!(r.in_region.as_deref(), Some("+12015550123"));
        assert!(r.elsewhere.is_empty());
        // A number with its own country code means only that.
        let r = phone_readings("+880 1812-345678", us, true).unwrap();
        assert_eq!(r.in_region.as_deref(), Some("+8801812345678"));
        assert!(r.elsewhere.is_empty());
        assert!(phone_readings("+880 18", us, true).is_err());
        assert!(phone_readings("call me", us, true).is_err());
    }

    /// What phonenumber 0.3.10 stored for libphonenumber's example numbers
    /// read in a US tenant, and what the check makes of it.
    #[test]
    fn stored_numbers_the_old_parser_altered_are_found() {
        let us = Region::default();
        assert_eq!(check_stored_phone("+8801911234567", us), None);
        assert_eq!(check_stored_phone("+14155552671", us), None);
        // "+8801911234567" was stored as "+880911234567": invalid, and the
        // one valid number a digit longer is the original.
        let f = check_stored_phone("+880911234567", us).unwrap();
        assert!(matches!(f.problem, StoredPhoneProblem::Invalid(_)), "{f:?}");
        assert_eq!(f.possible_originals, vec!["+8801911234567".to_owned()]);
        // "+358 18 1234567" was stored as "+35881234567", which is valid
        // too: flagged for review with the original beside it.
        let f = check_stored_phone("+35881234567", us).unwrap();
        assert_eq!(f.problem, StoredPhoneProblem::MayHaveLostDigits);
        assert_eq!(f.possible_originals, vec!["+358181234567".to_owned()]);
        // A GB tenant's parser never stripped a "1".
        assert_eq!(check_stored_phone("+35881234567", gb()), None);
        assert!(matches!(
            check_stored_phone("not a number", us).map(|f| f.problem),
            Some(StoredPhoneProblem::Invalid(_))
        ));
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
