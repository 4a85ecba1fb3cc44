//! Tenant-defined custom fields: definitions and value validation.

use chrono::{DateTime, NaiveDate, Utc};
use rapport_platform::error::FieldViolation;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Email, Kind, Region, normalize_phone};

/// Longest text value when the definition does not say.
const DEFAULT_MAX_LENGTH: u32 = 1000;
/// Most choices a choice field may have.
const MAX_CHOICES: usize = 500;
/// Most fields per object type and tenant.
pub const MAX_FIELDS: usize = 200;

/// The value type of a custom field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Free text.
    Text,
    /// A JSON number.
    Number,
    /// An exact decimal, kept as a string.
    Decimal,
    /// `YYYY-MM-DD`.
    Date,
    /// true or false.
    Boolean,
    /// One of the choices.
    SingleChoice,
    /// Several of the choices.
    MultiChoice,
    /// An http(s) URL.
    Url,
    /// An e-mail address.
    Email,
    /// A phone number (stored E.164).
    Phone,
}

impl FieldType {
    /// Whether values are choices (searchable with filters).
    pub fn is_choice(self) -> bool {
        matches!(self, FieldType::SingleChoice | FieldType::MultiChoice)
    }
}

/// A custom field definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomFieldDef {
    /// `[a-z][a-z0-9_]{0,39}`.
    pub key: String,
    /// Person or company.
    pub kind: Kind,
    /// Label to show.
    pub label: String,
    /// Value type.
    pub field_type: FieldType,
    /// Every new record must set it.
    pub required: bool,
    /// Allowed values of choice types.
    pub choices: Vec<String>,
    /// Inclusive lower bound of numbers and decimals.
    pub min: Option<f64>,
    /// Inclusive upper bound of numbers and decimals.
    pub max: Option<f64>,
    /// Longest text in characters.
    pub max_length: u32,
    /// When it was defined.
    pub create_time: DateTime<Utc>,
    /// Who defined it.
    pub created_by: String,
}

impl CustomFieldDef {
    /// Checks a definition a tenant admin submits, normalising it.
    pub fn validate(mut self) -> Result<Self, Vec<FieldViolation>> {
        let mut v = Vec::new();
        let key_ok = self.key.len() <= 40
            && self.key.starts_with(|c: char| c.is_ascii_lowercase())
            && self
                .key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !key_ok {
            v.push(FieldViolation::new(
                "field.key",
                "must match [a-z][a-z0-9_]{0,39}",
            ));
        }
        self.label = self.label.trim().to_owned();
        if self.label.is_empty() {
            self.label = self.key.clone();
        }
        if self.label.chars().count() > 200 {
            v.push(FieldViolation::new(
                "field.label",
                "longer than 200 characters",
            ));
        }
        if self.max_length == 0 {
            self.max_length = DEFAULT_MAX_LENGTH;
        }
        self.choices = self
            .choices
            .iter()
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect();
        let mut seen = std::collections::HashSet::new();
        if self.choices.iter().any(|c| !seen.insert(c.clone())) {
            v.push(FieldViolation::new("field.choices", "choices repeat"));
        }
        if self.field_type.is_choice() && self.choices.is_empty() {
            v.push(FieldViolation::new(
                "field.choices",
                "a choice field needs at least one choice",
            ));
        }
        if !self.field_type.is_choice() && !self.choices.is_empty() {
            v.push(FieldViolation::new(
                "field.choices",
                "only choice fields have choices",
            ));
        }
        if self.choices.len() > MAX_CHOICES || self.choices.iter().any(|c| c.chars().count() > 200)
        {
            v.push(FieldViolation::new(
                "field.choices",
                "at most 500 choices of at most 200 characters",
            ));
        }
        let bounded = matches!(self.field_type, FieldType::Number | FieldType::Decimal);
        if !bounded && (self.min.is_some() || self.max.is_some()) {
            v.push(FieldViolation::new(
                "field.min",
                "only number and decimal fields have bounds",
            ));
        }
        if let (Some(min), Some(max)) = (self.min, self.max)
            && min > max
        {
            v.push(FieldViolation::new("field.min", "min is greater than max"));
        }
        if v.is_empty() { Ok(self) } else { Err(v) }
    }

    /// Validates one value, returning its canonical form.
    pub fn check(&self, value: &Value, region: Region) -> Result<Value, String> {
        let text = || value.as_str().map(str::trim).ok_or("must be a string");
        match self.field_type {
            FieldType::Text => {
                let s = text()?;
                if s.chars().count() > self.max_length as usize {
                    return Err(format!("longer than {} characters", self.max_length));
                }
                if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                    return Err("contains control characters".into());
                }
                Ok(Value::String(s.to_owned()))
            }
            FieldType::Number => {
                let n = value
                    .as_f64()
                    .filter(|n| n.is_finite())
                    .ok_or("must be a number")?;
                self.check_bounds(n)?;
                Ok(value.clone())
            }
            FieldType::Decimal => {
                let s = match value {
                    Value::Number(n) => n.to_string(),
                    Value::String(s) => s.trim().to_owned(),
                    _ => return Err("must be a decimal string such as \"1234.50\"".into()),
                };
                let digits = s.strip_prefix('-').unwrap_or(&s);
                let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
                let well_formed = !int.is_empty()
                    && int.len() <= 30
                    && frac.len() <= 18
                    && int.bytes().all(|b| b.is_ascii_digit())
                    && frac.bytes().all(|b| b.is_ascii_digit())
                    && (!digits.contains('.') || !frac.is_empty());
                if !well_formed {
                    return Err("must be a decimal such as \"1234.50\"".into());
                }
                self.check_bounds(s.parse::<f64>().map_err(|_| "not a decimal")?)?;
                Ok(Value::String(s))
            }
            FieldType::Date => {
                let s = text()?;
                NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map_err(|_| "must be a date YYYY-MM-DD")?;
                Ok(Value::String(s.to_owned()))
            }
            FieldType::Boolean => value
                .as_bool()
                .map(Value::Bool)
                .ok_or_else(|| "must be true or false".into()),
            FieldType::SingleChoice => {
                let s = text()?;
                if self.choices.iter().any(|c| c == s) {
                    Ok(Value::String(s.to_owned()))
                } else {
                    Err(format!("must be one of {:?}", self.choices))
                }
            }
            FieldType::MultiChoice => {
                let items = value.as_array().ok_or("must be a list of choices")?;
                let mut out: Vec<Value> = Vec::new();
                for item in items {
                    let s = item
                        .as_str()
                        .map(str::trim)
                        .ok_or("must be a list of strings")?;
                    if !self.choices.iter().any(|c| c == s) {
                        return Err(format!("{s:?} is not one of {:?}", self.choices));
                    }
                    if !out.iter().any(|o| o == s) {
                        out.push(Value::String(s.to_owned()));
                    }
                }
                Ok(Value::Array(out))
            }
            FieldType::Url => {
                let s = text()?;
                check_url(s)?;
                Ok(Value::String(s.to_owned()))
            }
            FieldType::Email => Email::parse(text()?)
                .map(|e| Value::String(e.to_string()))
                .map_err(|e| format!("not a valid e-mail address: {e}")),
            FieldType::Phone => normalize_phone(text()?, region)
                .map(Value::String)
                .map_err(|e| format!("not a phone number: {e}")),
        }
    }

    fn check_bounds(&self, n: f64) -> Result<(), String> {
        if let Some(min) = self.min
            && n < min
        {
            return Err(format!("less than the minimum {min}"));
        }
        if let Some(max) = self.max
            && n > max
        {
            return Err(format!("greater than the maximum {max}"));
        }
        Ok(())
    }

    /// The choice values of a stored value, for the search index.
    pub fn choice_values(&self, value: &Value) -> Vec<String> {
        match (self.field_type, value) {
            (FieldType::SingleChoice, Value::String(s)) => vec![s.clone()],
            (FieldType::MultiChoice, Value::Array(items)) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// An absolute http(s) URL with a host and no spaces.
pub(super) fn check_url(s: &str) -> Result<(), String> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or("must start with http:// or https://")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || s.len() > 2000 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("not a valid URL".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn def(field_type: FieldType) -> CustomFieldDef {
        CustomFieldDef {
            key: "f".into(),
            kind: Kind::Person,
            label: String::new(),
            field_type,
            required: false,
            choices: if field_type.is_choice() {
                vec!["gold".into(), "silver".into()]
            } else {
                vec![]
            },
            min: None,
            max: None,
            max_length: 0,
            create_time: Utc::now(),
            created_by: "admin".into(),
        }
        .validate()
        .unwrap()
    }

    #[test]
    fn values_are_checked_and_normalised_per_type() {
        let r = Region::default();
        assert_eq!(
            def(FieldType::Decimal).check(&json!(" 12.50 "), r),
            Ok(json!("12.50"))
        );
        assert!(def(FieldType::Decimal).check(&json!("12."), r).is_err());
        assert!(def(FieldType::Date).check(&json!("2026-02-30"), r).is_err());
        assert_eq!(
            def(FieldType::MultiChoice).check(&json!(["gold", "gold", "silver"]), r),
            Ok(json!(["gold", "silver"]))
        );
        assert!(
            def(FieldType::SingleChoice)
                .check(&json!("bronze"), r)
                .is_err()
        );
        assert_eq!(
            def(FieldType::Email).check(&json!("A@B.COM"), r),
            Ok(json!("a@b.com"))
        );
        assert_eq!(
            def(FieldType::Phone).check(&json!("(201) 555-0123"), r),
            Ok(json!("+12015550123"))
        );
        assert!(def(FieldType::Url).check(&json!("ftp://x"), r).is_err());
        assert!(def(FieldType::Boolean).check(&json!("yes"), r).is_err());
        let mut bounded = def(FieldType::Number);
        bounded.max = Some(10.0);
        assert!(bounded.check(&json!(11), r).is_err());
        assert!(bounded.check(&json!(10), r).is_ok());
    }

    #[test]
    fn definitions_are_checked() {
        let mut bad = def(FieldType::Text);
        bad.key = "Bad Key".into();
        bad.choices = vec!["x".into()];
        let fields: Vec<String> = bad
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["field.key", "field.choices"]);
    }
}
