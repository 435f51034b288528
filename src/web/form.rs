//! A form field as the templates draw it: label, typed value, error.

use std::borrow::Cow;

use crate::domain::FieldErrors;

#[derive(Debug, Clone)]
pub struct FormField {
    pub name: &'static str,
    pub label: &'static str,
    /// The input's `type`, or `textarea`.
    pub kind: &'static str,
    pub value: String,
    pub autocomplete: &'static str,
    /// The keypad a phone shows (`inputmode`), empty for the default.
    pub inputmode: &'static str,
    pub max: usize,
    pub hint: Cow<'static, str>,
    /// Values offered as the user types (a `datalist`); others are allowed.
    pub suggestions: &'static [&'static str],
    pub error: Option<String>,
}

impl FormField {
    pub fn new(name: &'static str, label: &'static str, kind: &'static str, max: usize) -> Self {
        Self {
            name,
            label,
            kind,
            value: String::new(),
            autocomplete: "off",
            inputmode: "",
            max,
            hint: Cow::Borrowed(""),
            suggestions: &[],
            error: None,
        }
    }

    pub fn inputmode(mut self, inputmode: &'static str) -> Self {
        self.inputmode = inputmode;
        self
    }

    pub fn autocomplete(mut self, autocomplete: &'static str) -> Self {
        self.autocomplete = autocomplete;
        self
    }

    pub fn hint(mut self, hint: impl Into<Cow<'static, str>>) -> Self {
        self.hint = hint.into();
        self
    }

    pub fn suggestions(mut self, values: &'static [&'static str]) -> Self {
        self.suggestions = values;
        self
    }

    /// Whether the input takes a `maxlength` (HTML allows it only on the
    /// text-like types, not on dates or numbers).
    pub fn has_maxlength(&self) -> bool {
        matches!(
            self.kind,
            "text" | "email" | "password" | "search" | "tel" | "url"
        )
    }

    /// The ids of the hint and the error that describe the input, if any.
    pub fn described_by(&self) -> String {
        let hint = (!self.hint.is_empty()).then(|| format!("{}-hint", self.name));
        let error = self.error.as_ref().map(|_| format!("{}-error", self.name));
        [hint, error]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Fills in what the user typed (never for passwords) and the field's error.
    pub fn with(mut self, value: &str, errors: &FieldErrors) -> Self {
        if self.kind != "password" {
            self.value = value.to_owned();
        }
        self.error = errors.get(self.name).map(str::to_owned);
        self
    }
}

/// One line of an [`ErrorSummary`]: the message and the id of its field.
#[derive(Debug, Clone)]
pub struct ErrorLink {
    pub id: String,
    pub message: String,
}

/// The errors of a refused form, listed at its top with a link to each
/// field (`partials/error_summary.html`), so a phone user sees them at once.
#[derive(Debug, Clone, Default)]
pub struct ErrorSummary(Vec<ErrorLink>);

impl ErrorSummary {
    /// The errors of `fields`, in their order on the form.
    pub fn of(fields: &[FormField]) -> Self {
        Self::default().and_all(fields)
    }

    /// Adds the errors of `fields`, in their order on the form.
    pub fn and_all(mut self, fields: &[FormField]) -> Self {
        for field in fields {
            self = self.and(field.name, field.error.as_deref());
        }
        self
    }

    /// Adds an error drawn outside a [`FormField`] (a fieldset, a reason box),
    /// linking to the element with `id`.
    pub fn and(mut self, id: &str, message: Option<&str>) -> Self {
        if let Some(message) = message {
            self.0.push(ErrorLink {
                id: id.to_owned(),
                message: message.to_owned(),
            });
        }
        self
    }

    pub fn links(&self) -> &[ErrorLink] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn title(&self) -> String {
        match self.0.len() {
            1 => "Please fix 1 thing".to_owned(),
            n => format!("Please fix {n} things"),
        }
    }
}

/// A fresh key for a form whose resending must not act twice (an admin's
/// refund): 128 random bits as 32 hex digits.
pub fn request_key() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_is_described_by_its_hint_and_its_error() {
        let errors = FieldErrors::single("city", "Enter a city.");
        let plain = FormField::new("city", "City", "text", 60);
        assert_eq!(plain.described_by(), "");
        let hinted = plain.hint("Laundries find requests by city.");
        assert_eq!(hinted.described_by(), "city-hint");
        assert_eq!(
            hinted.with("", &errors).described_by(),
            "city-hint city-error"
        );
        let refused = FormField::new("city", "City", "text", 60).with("", &errors);
        assert_eq!(refused.described_by(), "city-error");
    }

    #[test]
    fn only_text_like_inputs_take_a_maxlength() {
        assert!(FormField::new("email", "Email", "email", 254).has_maxlength());
        assert!(!FormField::new("pickup_at", "Pickup", "datetime-local", 20).has_maxlength());
        assert!(!FormField::new("hours", "Hours", "number", 3).has_maxlength());
    }

    #[test]
    fn the_summary_lists_errors_in_form_order_and_counts_them() {
        let mut errors = FieldErrors::new();
        errors.add("city", "Enter a city.");
        errors.add("area", "Too long.");
        let fields = [
            FormField::new("area", "Area", "text", 60).with("x", &errors),
            FormField::new("notes", "Notes", "textarea", 60).with("", &errors),
            FormField::new("city", "City", "text", 60).with("", &errors),
        ];
        let summary = ErrorSummary::of(&fields).and("qty_wash", Some("Pick a service."));
        let ids: Vec<&str> = summary.links().iter().map(|l| l.id.as_str()).collect();
        assert_eq!(ids, ["area", "city", "qty_wash"]);
        assert_eq!(summary.title(), "Please fix 3 things");
        assert!(ErrorSummary::of(&fields[1..2]).is_empty());
        assert_eq!(
            ErrorSummary::default().and("a", Some("b")).title(),
            "Please fix 1 thing"
        );
    }
}
