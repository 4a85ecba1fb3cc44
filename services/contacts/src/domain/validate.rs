//! Validation and normalisation of a record's fields on every write.

use chrono::{Datelike, NaiveDate, Utc};
use rapport_platform::{error::FieldViolation, identity::normalize_holding};

use super::{
    CustomFieldDef, Email, Fields, Kind, RecordId, Region, custom_field::check_url, normalize_phone,
};

/// Longest name, title or other short text (characters).
const MAX_TEXT: usize = 200;
/// Most tags, e-mails or phones per record.
const MAX_ITEMS: usize = 100;
/// Longest tag (characters).
const MAX_TAG: usize = 50;

/// What validation needs besides the fields.
#[derive(Clone, Copy, Debug)]
pub struct WriteRules<'a> {
    /// Person or company.
    pub kind: Kind,
    /// Region for phone numbers without a country code.
    pub region: Region,
    /// The tenant's custom field definitions for `kind`.
    pub custom_fields: &'a [CustomFieldDef],
    /// The stored fields, on update (unchanged custom values are not
    /// re-validated: their definition may have been removed).
    pub previous: Option<&'a Fields>,
}

impl Fields {
    /// Validates and normalises every field in place, reporting every
    /// invalid one (paths prefixed with `contact.` or `company.`).
    pub fn normalize(&mut self, rules: WriteRules<'_>) -> Vec<FieldViolation> {
        let p = rules.kind.field_prefix();
        let mut v = Vec::new();
        let mut bad =
            |field: &str, why: String| v.push(FieldViolation::new(format!("{p}.{field}"), why));

        for (field, value) in [
            ("given_name", &mut self.given_name),
            ("family_name", &mut self.family_name),
            (name_field(rules.kind), &mut self.display_name),
            ("company_name", &mut self.company_name),
            ("job_title", &mut self.job_title),
            ("team", &mut self.team),
            ("external_id", &mut self.external_id),
            ("address.street", &mut self.address.street),
            ("address.city", &mut self.address.city),
            ("address.region", &mut self.address.region),
            ("address.postal_code", &mut self.address.postal_code),
        ] {
            // Line breaks (a quoted newline in a spreadsheet cell) become
            // spaces; other control characters are refused.
            *value = value
                .split(['\r', '\n', '\t'])
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
                .trim()
                .to_owned();
            if let Err(why) = short_text(value) {
                bad(field, why);
            }
        }
        self.source_channel = self
            .source_channel
            .trim()
            .to_lowercase()
            .replace([' ', '-'], "_");
        if let Err(why) = short_text(&self.source_channel) {
            bad("source_channel", why);
        }

        match rules.kind {
            Kind::Person => {
                if self.display_name.is_empty() {
                    self.display_name = [self.given_name.as_str(), self.family_name.as_str()]
                        .into_iter()
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join(" ");
                }
                if self.display_name.is_empty() {
                    bad(
                        "given_name",
                        "a contact needs a given_name, family_name or display_name".into(),
                    );
                } else if let Err(why) = short_text(&self.display_name) {
                    // A name derived from long given and family names.
                    bad("display_name", why);
                }
                for (field, set) in [
                    ("company_types", !self.company_types.is_empty()),
                    ("parent_company_id", !self.parent_company_id.is_empty()),
                    ("website", !self.website.is_empty()),
                ] {
                    if set {
                        bad(field, "only companies have this field".into());
                    }
                }
            }
            Kind::Company => {
                if self.display_name.is_empty() {
                    bad("name", "a company needs a name".into());
                }
                for (field, set) in [
                    ("given_name", !self.given_name.is_empty()),
                    ("family_name", !self.family_name.is_empty()),
                    ("company_name", !self.company_name.is_empty()),
                    ("job_title", !self.job_title.is_empty()),
                    ("companies", !self.companies.is_empty()),
                    ("birthday", !self.birthday.is_empty()),
                ] {
                    if set {
                        bad(field, "only people have this field".into());
                    }
                }
            }
        }

        // E-mails and phones: the primary first, no repeats.
        let mut emails = Vec::new();
        for (i, raw) in std::iter::once(&self.email)
            .chain(&self.additional_emails)
            .enumerate()
        {
            if raw.trim().is_empty() {
                continue;
            }
            match Email::parse(raw) {
                Ok(e) if !emails.contains(&e.to_string()) => emails.push(e.to_string()),
                Ok(_) => {}
                Err(e) => bad(
                    &indexed("email", "additional_emails", i),
                    format!("not a valid e-mail address: {e}"),
                ),
            }
        }
        let mut phones = Vec::new();
        for (i, raw) in std::iter::once(&self.phone)
            .chain(&self.additional_phones)
            .enumerate()
        {
            if raw.trim().is_empty() {
                continue;
            }
            match normalize_phone(raw, rules.region) {
                Ok(e164) if !phones.contains(&e164) => phones.push(e164),
                Ok(_) => {}
                Err(e) => bad(
                    &indexed("phone", "additional_phones", i),
                    format!("not a phone number: {e}"),
                ),
            }
        }
        if emails.len() > MAX_ITEMS || phones.len() > MAX_ITEMS {
            bad(
                "additional_emails",
                format!("at most {MAX_ITEMS} e-mails and phones"),
            );
        }
        (self.email, self.additional_emails) = split_primary(emails);
        (self.phone, self.additional_phones) = split_primary(phones);

        // Tags: trimmed, case-insensitively unique, first spelling kept.
        let mut tags: Vec<String> = Vec::new();
        for tag in &self.tags {
            let tag = tag.trim();
            if tag.is_empty() {
                continue;
            }
            if tag.chars().count() > MAX_TAG || tag.chars().any(char::is_control) {
                bad(
                    "tags",
                    format!(
                        "tag {tag:?} is longer than {MAX_TAG} characters or has control characters"
                    ),
                );
            } else if !tags.iter().any(|t| t.to_lowercase() == tag.to_lowercase()) {
                tags.push(tag.to_owned());
            }
        }
        if tags.len() > MAX_ITEMS {
            bad("tags", format!("at most {MAX_ITEMS} tags"));
        }
        self.tags = tags;

        // Teams are paths since record-level access; a free-text team
        // stored before stays as long as it is not changed.
        let team_kept = rules.previous.is_some_and(|p| p.team == self.team.trim());
        for (field, why) in normalize_holding(
            &mut self.owner,
            &mut self.team,
            &mut self.shared_with,
            team_kept,
        ) {
            bad(field, why);
        }

        let mut companies: Vec<super::CompanyLink> = Vec::new();
        for (i, link) in self.companies.iter().enumerate() {
            match RecordId::parse(&link.company_id) {
                Ok(id) if !companies.iter().any(|c| c.company_id == id.to_string()) => companies
                    .push(super::CompanyLink {
                        company_id: id.to_string(),
                        role: link.role,
                    }),
                Ok(_) => {}
                Err(_) => bad(
                    &format!("companies[{i}].company_id"),
                    "not a company id".into(),
                ),
            }
        }
        self.companies = companies;
        self.company_types.sort();
        self.company_types.dedup();
        self.parent_company_id = self.parent_company_id.trim().to_owned();
        if !self.parent_company_id.is_empty() {
            match RecordId::parse(&self.parent_company_id) {
                Ok(id) => self.parent_company_id = id.to_string(),
                Err(_) => bad("parent_company_id", "not a company id".into()),
            }
        }
        self.website = self.website.trim().to_owned();
        if rules.kind == Kind::Company
            && !self.website.is_empty()
            && let Err(why) = check_url(&self.website)
        {
            bad("website", why);
        }

        self.birthday = self.birthday.trim().to_owned();
        if !self.birthday.is_empty() {
            match NaiveDate::parse_from_str(&self.birthday, "%Y-%m-%d") {
                Ok(d) if d <= Utc::now().date_naive() && d.year() >= 1900 => {}
                Ok(_) => bad("birthday", "must be between 1900-01-01 and today".into()),
                Err(_) => bad("birthday", "must be a date YYYY-MM-DD".into()),
            }
        }
        self.address.country_code = self.address.country_code.trim().to_ascii_uppercase();
        let cc = &self.address.country_code;
        if !cc.is_empty() && (cc.len() != 2 || !cc.bytes().all(|b| b.is_ascii_uppercase())) {
            bad(
                "address.country_code",
                "must be an ISO 3166-1 alpha-2 code such as \"DE\"".into(),
            );
        }

        // Custom fields: changed values are checked against their
        // definition; unchanged values of removed definitions are kept.
        let previous = rules.previous.map(|f| &f.custom_fields);
        let mut custom = std::collections::BTreeMap::new();
        for (key, value) in std::mem::take(&mut self.custom_fields) {
            if value.is_null() {
                continue;
            }
            let unchanged = previous.and_then(|p| p.get(&key)) == Some(&value);
            match rules.custom_fields.iter().find(|d| d.key == key) {
                _ if unchanged => {
                    custom.insert(key, value);
                }
                Some(def) => match def.check(&value, rules.region) {
                    Ok(normal) => {
                        custom.insert(key, normal);
                    }
                    Err(why) => bad(&format!("custom_fields.{key}"), why),
                },
                None => bad(
                    &format!("custom_fields.{key}"),
                    "no such custom field".into(),
                ),
            }
        }
        for def in rules.custom_fields.iter().filter(|d| d.required) {
            let had = previous.is_some_and(|p| p.contains_key(&def.key));
            if !custom.contains_key(&def.key) && (rules.previous.is_none() || had) {
                bad(&format!("custom_fields.{}", def.key), "required".into());
            }
        }
        self.custom_fields = custom;
        v
    }
}

/// The API name of the name field: `display_name` or a company's `name`.
pub fn name_field(kind: Kind) -> &'static str {
    match kind {
        Kind::Person => "display_name",
        Kind::Company => "name",
    }
}

fn short_text(s: &str) -> Result<(), String> {
    if s.chars().count() > MAX_TEXT {
        return Err(format!("longer than {MAX_TEXT} characters"));
    }
    if s.chars().any(char::is_control) {
        return Err("contains control characters".into());
    }
    Ok(())
}

fn indexed(primary: &str, list: &str, i: usize) -> String {
    if i == 0 {
        primary.to_owned()
    } else {
        format!("{list}[{}]", i - 1)
    }
}

/// The first value is the primary one; an additional value is promoted when
/// no primary was given, so a record with any e-mail has a primary e-mail.
fn split_primary(mut values: Vec<String>) -> (String, Vec<String>) {
    if values.is_empty() {
        return (String::new(), values);
    }
    let primary = values.remove(0);
    (primary, values)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::{CustomFieldDef, FieldType};

    fn rules(defs: &[CustomFieldDef]) -> WriteRules<'_> {
        WriteRules {
            kind: Kind::Person,
            region: Region::parse("GB").unwrap(),
            custom_fields: defs,
            previous: None,
        }
    }

    fn tier(required: bool) -> CustomFieldDef {
        CustomFieldDef {
            key: "tier".into(),
            kind: Kind::Person,
            label: "Tier".into(),
            field_type: FieldType::SingleChoice,
            required,
            choices: vec!["gold".into(), "silver".into()],
            min: None,
            max: None,
            max_length: 0,
            create_time: Utc::now(),
            created_by: "admin".into(),
        }
    }

    #[test]
    fn normalises_contact_details() {
        let mut f = Fields {
            given_name: " Ada ".into(),
            family_name: "Lovelace".into(),
            email: "ADA@Example.com".into(),
            additional_emails: vec!["ada@example.com".into(), "a.l@Example.org".into()],
            phone: "020 7946 0958".into(),
            tags: vec!["VIP".into(), "vip".into(), " key ".into()],
            ..Default::default()
        };
        assert!(f.normalize(rules(&[])).is_empty());
        assert_eq!(f.display_name, "Ada Lovelace");
        assert_eq!(f.email, "ada@example.com");
        assert_eq!(f.additional_emails, ["a.l@example.org"]);
        assert_eq!(f.phone, "+442079460958");
        assert_eq!(f.tags, ["VIP", "key"]);
    }

    #[test]
    fn reports_every_invalid_field() {
        let mut f = Fields {
            email: "not-an-email".into(),
            phone: "call me".into(),
            birthday: "2999-01-01".into(),
            website: "x".into(),
            custom_fields: [
                ("tier".to_owned(), json!("bronze")),
                ("nope".to_owned(), json!(1)),
            ]
            .into(),
            ..Default::default()
        };
        let defs = [tier(false)];
        let fields: Vec<String> = f
            .normalize(rules(&defs))
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(
            fields,
            [
                "contact.given_name",
                "contact.website",
                "contact.email",
                "contact.phone",
                "contact.birthday",
                "contact.custom_fields.nope",
                "contact.custom_fields.tier",
            ]
        );
    }

    #[test]
    fn removed_definitions_keep_stored_values() {
        let previous = Fields {
            display_name: "A".into(),
            custom_fields: [("legacy".to_owned(), json!("kept"))].into(),
            ..Default::default()
        };
        let mut f = previous.clone();
        f.tags = vec!["new".into()];
        let r = WriteRules {
            previous: Some(&previous),
            ..rules(&[])
        };
        assert!(f.normalize(r).is_empty());
        assert_eq!(f.custom_fields["legacy"], json!("kept"));
    }

    #[test]
    fn required_custom_fields_on_create() {
        let defs = [tier(true)];
        let mut f = Fields {
            display_name: "A".into(),
            ..Default::default()
        };
        let v = f.normalize(rules(&defs));
        assert_eq!(v[0].field, "contact.custom_fields.tier");
    }

    #[test]
    fn accepts_past_birthdays_only() {
        let mut f = Fields {
            display_name: "A".into(),
            birthday: "1985-12-10".into(),
            ..Default::default()
        };
        assert!(f.normalize(rules(&[])).is_empty());
        f.birthday = "1899-12-31".into();
        assert_eq!(f.normalize(rules(&[]))[0].field, "contact.birthday");
    }

    #[test]
    fn accepts_international_names() {
        let mut f = Fields {
            given_name: "রবীন্দ্রনাথ".into(),
            family_name: "ঠাকুর".into(),
            phone: "+91 98765 43210".into(),
            ..Default::default()
        };
        assert!(f.normalize(rules(&[])).is_empty());
        assert_eq!(f.display_name, "রবীন্দ্রনাথ ঠাকুর");
    }
}
