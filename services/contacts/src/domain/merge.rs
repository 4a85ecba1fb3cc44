//! Merge rules: the survivor keeps its values and gains what it lacks.

use super::{Fields, LifecycleStage};

/// Fills the survivor's empty fields from `other`; lists (e-mails, phones,
/// tags, companies, types) become unions, the other's primary e-mail and
/// phone become additional ones, custom fields are filled key by key.
pub fn merge_into(survivor: &mut Fields, other: &Fields) {
    for (mine, theirs) in [
        (&mut survivor.given_name, &other.given_name),
        (&mut survivor.family_name, &other.family_name),
        (&mut survivor.display_name, &other.display_name),
        (&mut survivor.external_id, &other.external_id),
        (&mut survivor.company_name, &other.company_name),
        (&mut survivor.job_title, &other.job_title),
        (&mut survivor.parent_company_id, &other.parent_company_id),
        (&mut survivor.website, &other.website),
        (&mut survivor.owner, &other.owner),
        (&mut survivor.team, &other.team),
        (&mut survivor.source_channel, &other.source_channel),
        (&mut survivor.birthday, &other.birthday),
    ] {
        if mine.is_empty() {
            mine.clone_from(theirs);
        }
    }
    if survivor.address.is_empty() {
        survivor.address = other.address.clone();
    }
    survivor.lifecycle_stage = furthest(survivor.lifecycle_stage, other.lifecycle_stage);
    union_contact_points(
        &mut survivor.email,
        &mut survivor.additional_emails,
        other.emails(),
    );
    union_contact_points(
        &mut survivor.phone,
        &mut survivor.additional_phones,
        other.phones(),
    );
    for tag in &other.tags {
        if !survivor
            .tags
            .iter()
            .any(|t| t.to_lowercase() == tag.to_lowercase())
        {
            survivor.tags.push(tag.clone());
        }
    }
    // Whoever saw a merged record still sees the survivor.
    for share in &other.shared_with {
        if !survivor.shared_with.contains(share) {
            survivor.shared_with.push(share.clone());
        }
    }
    for link in &other.companies {
        if !survivor
            .companies
            .iter()
            .any(|c| c.company_id == link.company_id)
        {
            survivor.companies.push(link.clone());
        }
    }
    for t in &other.company_types {
        if !survivor.company_types.contains(t) {
            survivor.company_types.push(*t);
        }
    }
    survivor.company_types.sort();
    for (key, value) in &other.custom_fields {
        survivor
            .custom_fields
            .entry(key.clone())
            .or_insert_with(|| value.clone());
    }
}

/// A customer stays a customer when merged with a lead.
fn furthest(a: Option<LifecycleStage>, b: Option<LifecycleStage>) -> Option<LifecycleStage> {
    let rank = |s: Option<LifecycleStage>| match s {
        None => 0,
        Some(LifecycleStage::Lead) => 1,
        Some(LifecycleStage::Prospect) => 2,
        Some(LifecycleStage::FormerCustomer) => 3,
        Some(LifecycleStage::Customer) => 4,
    };
    if rank(b) > rank(a) { b } else { a }
}

fn union_contact_points<'a>(
    primary: &mut String,
    additional: &mut Vec<String>,
    others: impl Iterator<Item = &'a str>,
) {
    for value in others {
        if primary.is_empty() {
            *primary = value.to_owned();
        } else if primary != value && !additional.iter().any(|a| a == value) {
            additional.push(value.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::CompanyLink;

    #[test]
    fn survivor_keeps_its_values_and_gains_the_rest() {
        let mut survivor = Fields {
            display_name: "Ada Lovelace".into(),
            email: "ada@example.com".into(),
            tags: vec!["VIP".into()],
            lifecycle_stage: Some(LifecycleStage::Lead),
            custom_fields: [("tier".to_owned(), json!("gold"))].into(),
            ..Default::default()
        };
        let other = Fields {
            display_name: "A. Lovelace".into(),
            job_title: "Analyst".into(),
            email: "ada@work.example".into(),
            phone: "+442079460958".into(),
            tags: vec!["vip".into(), "math".into()],
            lifecycle_stage: Some(LifecycleStage::Customer),
            companies: vec![CompanyLink {
                company_id: "c1".into(),
                role: crate::domain::CompanyRole::WorksAt,
            }],
            custom_fields: [
                ("tier".to_owned(), json!("silver")),
                ("region".to_owned(), json!("EU")),
            ]
            .into(),
            ..Default::default()
        };
        merge_into(&mut survivor, &other);
        assert_eq!(survivor.display_name, "Ada Lovelace");
        assert_eq!(survivor.job_title, "Analyst");
        assert_eq!(survivor.email, "ada@example.com");
        assert_eq!(survivor.additional_emails, ["ada@work.example"]);
        assert_eq!(survivor.phone, "+442079460958");
        assert_eq!(survivor.tags, ["VIP", "math"]);
        assert_eq!(survivor.lifecycle_stage, Some(LifecycleStage::Customer));
        assert_eq!(survivor.companies.len(), 1);
        assert_eq!(survivor.custom_fields["tier"], json!("gold"));
        assert_eq!(survivor.custom_fields["region"], json!("EU"));
    }
}
