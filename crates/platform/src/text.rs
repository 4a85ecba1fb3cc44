//! Text folding for comparison: case- and accent-insensitive, any script.
//!
//! Folding decomposes (NFKD), drops the combining diacritics of Latin,
//! Greek and Cyrillic letters (U+0300 block and its extensions), recomposes
//! (NFC) and lower-cases. Marks that are part of a letter in other scripts
//! (Bengali and Devanagari vowel signs, virama, nukta) are kept, so
//! "রবীন্দ্রনাথ" stays searchable by "রবী". Contacts index names with it;
//! deals compare stage names with it.

use unicode_normalization::UnicodeNormalization;

/// Folds `s` for comparison and indexing.
pub fn fold(s: &str) -> String {
    s.nfkd()
        .filter(|c| !is_diacritic(*c))
        .nfc()
        .flat_map(char::to_lowercase)
        .collect()
}

fn is_diacritic(c: char) -> bool {
    matches!(
        c as u32,
        0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F
    )
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn folds_case_and_latin_accents_but_keeps_indic_signs() {
        assert_eq!(fold("Négociation"), fold("NEGOCIATION"));
        assert_eq!(fold("Zoë"), "zoe");
        assert_eq!(fold("রবীন্দ্রনাথ"), "রবীন্দ্রনাথ");
    }
}
