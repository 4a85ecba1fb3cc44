//! Name folding for search: [`fold`] (shared with the other services, see
//! `rapport_platform::text`) and the words of a name.

use unicode_normalization::char::is_combining_mark;

pub use rapport_platform::text::fold;

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
