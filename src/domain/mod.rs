//! Pure rules, no I/O: validated inputs, roles and statuses.

pub mod account;
pub mod audit;
pub mod commission;
pub mod filter;
pub mod ledger;
pub mod money;
pub mod offer;
pub mod payouts;
pub mod request;
pub mod stats;
pub mod status;
pub mod throttle;
pub mod when;

use std::collections::BTreeMap;
use std::fmt;

/// Messages for the fields of a refused form, keyed by the field's name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<&'static str, String>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(field: &'static str, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    /// Records the first message for `field`; later ones for it are dropped.
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.entry(field).or_insert_with(|| message.into());
    }

    /// Keeps the value when `result` is ok, records its message otherwise.
    pub fn check<T>(&mut self, field: &'static str, result: Result<T, String>) -> Option<T> {
        result.map_err(|message| self.add(field, message)).ok()
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was recorded.
    pub fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, FieldErrors> {
        match (self.is_empty(), value()) {
            (true, Some(value)) => Ok(value),
            _ => Err(self),
        }
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (field, message) in &self.0 {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{field}: {message}")?;
        }
        Ok(())
    }
}

/// Characters that change how the text around them is shown without being
/// seen themselves: bidirectional embeddings, overrides and isolates
/// (U+202A–U+202E, U+2066–U+2069) and zero-width characters (U+200B–U+200D,
/// U+2060, U+FEFF). They can make a name read as something it is not. The
/// zero-width non-joiner and joiner (U+200C, U+200D) are part of writing
/// Nepali and other Indic scripts (they choose a conjunct's form), so between
/// two letters of those scripts they are kept.
fn has_invisible_format(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    chars.iter().enumerate().any(|(i, &c)| match c {
        '\u{200C}' | '\u{200D}' => {
            let indic = |n: Option<&char>| n.is_some_and(|c| ('\u{0900}'..='\u{0DFF}').contains(c));
            !(i > 0 && indic(chars.get(i - 1)) && indic(chars.get(i + 1)))
        }
        '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}'
        | '\u{200B}'
        | '\u{2060}'
        | '\u{FEFF}' => true,
        _ => false,
    })
}

/// Trims `raw` and checks it holds between `min` and `max` characters, no
/// control characters (newlines allowed only when `multiline`) and no
/// invisible formatting characters.
pub fn clean_text(raw: &str, min: usize, max: usize, multiline: bool) -> Result<String, String> {
    let text = raw.trim();
    let bad_char =
        |c: char| c.is_control() && !(multiline && (c == '\n' || c == '\r' || c == '\t'));
    if text.chars().any(bad_char) {
        return Err("Please remove the control characters.".into());
    }
    if has_invisible_format(text) {
        return Err(
            "Please remove the invisible formatting characters (direction marks or \
                    zero-width spaces, often pasted in by accident)."
                .into(),
        );
    }
    let len = text.chars().count();
    if len < min {
        return Err(if min == 1 {
            "This field is required.".into()
        } else {
            format!("Please enter at least {min} characters.")
        });
    }
    if len > max {
        return Err(format!(
            "Please keep this under {max} characters (you entered {len})."
        ));
    }
    Ok(text.replace("\r\n", "\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_trims_and_bounds() {
        assert_eq!(clean_text("  hi  ", 1, 10, false), Ok("hi".into()));
        assert!(clean_text("   ", 1, 10, false).is_err());
        assert!(clean_text("abcdefghijk", 1, 10, false).is_err());
        assert!(clean_text("a\u{0}b", 0, 10, false).is_err());
        assert!(clean_text("a\nb", 0, 10, false).is_err());
        assert_eq!(clean_text("a\r\nb", 0, 10, true), Ok("a\nb".into()));
    }

    #[test]
    fn clean_text_refuses_direction_overrides_and_zero_width_characters() {
        for bad in [
            "Sita\u{202E}amrahS",
            "\u{202A}Sita",
            "\u{2066}Sita\u{2069}",
            "Si\u{200B}ta",
            "Si\u{200D}ta",
            "Si\u{2060}ta",
            "Sita\u{FEFF}Sharma",
        ] {
            let err = clean_text(bad, 1, 100, true).unwrap_err();
            assert!(err.contains("invisible formatting"), "{bad:?}: {err}");
        }
        assert_eq!(
            clean_text("सीता शर्मा", 1, 100, false),
            Ok("सीता शर्मा".into())
        );
        // Joiners inside Nepali words shape conjuncts and stay.
        for nepali in ["क्\u{200D}ष", "र्\u{200C}य"] {
            assert_eq!(clean_text(nepali, 1, 100, false), Ok(nepali.into()));
        }
        for stray in ["\u{200D}क", "क\u{200C}", "a\u{200C}b"] {
            assert!(clean_text(stray, 1, 100, false).is_err(), "{stray:?}");
        }
    }

    #[test]
    fn field_errors_keep_the_first_message() {
        let mut errors = FieldErrors::new();
        errors.add("email", "first");
        errors.add("email", "second");
        assert_eq!(errors.get("email"), Some("first"));
        assert_eq!(
            errors.finish(|| Some(1)),
            Err(FieldErrors::single("email", "first"))
        );
    }
}
