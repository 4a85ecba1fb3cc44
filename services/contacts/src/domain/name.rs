//! Name folding for search: case- and accent-insensitive, any script.
//!
//! Folding decomposes (NFKD), drops the combining diacritics of Latin,
//! Greek and Cyrillic letters (U+0300 block and its extensions), recomposes
//! (NFC) and lower-cases. Marks that are part of a letter in other scripts
//! (Bengali and Devanagari vowel signs, virama, nukta) are kept, so
//! "রবীন্দ্রনাথ" stays searchable by "রবী".

use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

/// Folds `s` for comparison and indexing.
pub fn fold(s: &str) -> String {
    s.nfkd()
        .filter(|c| !is_diacritic(*c))
        .nfc()
        .flat_map(char::to_lowercase)
        .collect()
}

/// The folded words of a name, in order, without repeats.
pub fn tokens(s: &str) -> Vec<String> {
    let folded = fold(s);
    let mut out: Vec<String> = Vec::new();
    for word in folded.split(|c: char| !(c.is_alphanumeric() || is_combining_mark(c))) {
        if !word.is_empty() && !out.iter().any(|w| w == word) {
            out.push(word.to_owned());
        }
    }
    out
}

fn is_diacritic(c: char) -> bool {
    matches!(
        c as u32,
        0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_accents_fold_away() {
        assert_eq!(fold("José Müller-Łukasz"), "jose muller-łukasz");
        assert_eq!(fold("ÅSA"), "asa");
        assert_eq!(fold("Ёлка"), "елка");
        assert_eq!(
            tokens("Ana-María  de la O"),
            ["ana", "maria", "de", "la", "o"]
        );
    }

    #[test]
    fn indic_scripts_keep_their_vowel_signs() {
        let bengali = tokens("রবীন্দ্রনাথ ঠাকুর");
        assert_eq!(bengali.len(), 2);
        assert!(bengali[0].starts_with(&fold("রবী")));
        let devanagari = tokens("प्रियंका चोपड़ा");
        assert_eq!(devanagari.len(), 2);
        assert!(devanagari[1].starts_with(&fold("चोप")));
        // The nukta form and its decomposed spelling fold alike.
        assert_eq!(fold("ड़"), fold("\u{0921}\u{093C}"));
    }
}
