//! A form field as the templates draw it: label, typed value, error.

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
    pub hint: &'static str,
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
            hint: "",
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

    pub fn hint(mut self, hint: &'static str) -> Self {
        self.hint = hint;
        self
    }

    pub fn suggestions(mut self, values: &'static [&'static str]) -> Self {
        self.suggestions = values;
        self
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
