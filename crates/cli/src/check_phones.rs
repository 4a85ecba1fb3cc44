//! `rapport check-phones --tenant acme`: lists the stored phone numbers of a
//! tenant that the phone parser now reads differently or refuses, or that
//! look like what the earlier parser did to other countries' numbers (it
//! dropped the default region's national prefix, ADR 0111). It reads through
//! the REST API and changes nothing: the original of an altered number
//! cannot be recovered from the stored value alone, so a person decides.

use anyhow::Context;
use rapport_contacts::domain::{Region, StoredPhoneProblem, check_stored_phone};
use serde_json::{Value, json};

use crate::api_client::{ApiArgs, send_json};

/// Records read per search page (the API's maximum).
const PAGE_SIZE: usize = 1000;

/// Arguments of `rapport check-phones`.
#[derive(Debug, clap::Args)]
pub(crate) struct CheckPhonesArgs {
    #[command(flatten)]
    api: ApiArgs,
    /// User id of the minted dev token.
    #[arg(long, default_value = "rapport-check-phones")]
    user: String,
}

/// One stored number to review.
#[derive(Debug, PartialEq, Eq)]
struct Finding {
    object_type: &'static str,
    id: String,
    field: String,
    stored: String,
    problem: String,
    possible_originals: Vec<String>,
}

pub(crate) async fn check_phones(args: CheckPhonesArgs) -> anyhow::Result<()> {
    let token = args.api.token(&args.user)?;
    let api = args.api.base();
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{api}{path}")).bearer_auth(&token);

    let settings: Value =
        send_json(get("/v1/contact-settings"), "read the contact settings").await?;
    let code = settings["default_phone_region"].as_str().unwrap_or("US");
    let region = Region::parse(code).with_context(|| format!("default phone region {code:?}"))?;
    let defs: Value = send_json(get("/v1/custom-fields"), "list the custom fields").await?;

    println!("object_type\tid\tfield\tstored\tproblem\tpossible_originals");
    let (mut records, mut numbers, mut findings) = (0usize, 0usize, 0usize);
    for (object_type, path, list) in [
        ("person", "/v1/contacts:search", "contacts"),
        ("company", "/v1/companies:search", "companies"),
    ] {
        let phone_fields = phone_custom_fields(&defs, object_type);
        let mut page_token = String::new();
        loop {
            let page: Value = send_json(
                client
                    .post(format!("{api}{path}"))
                    .bearer_auth(&token)
                    .json(&json!({"page_size": PAGE_SIZE, "page_token": page_token})),
                "search the records",
            )
            .await?;
            for record in page[list].as_array().into_iter().flatten() {
                records += 1;
                for (field, stored) in phones_of(record, &phone_fields) {
                    numbers += 1;
                    if let Some(f) = check(object_type, record, field, stored, region) {
                        findings += 1;
                        println!(
                            "{}\t{}\t{}\t{}\t{}\t{}",
                            f.object_type,
                            f.id,
                            f.field,
                            f.stored,
                            f.problem,
                            f.possible_originals.join(" ")
                        );
                    }
                }
            }
            page_token = page["next_page_token"].as_str().unwrap_or("").to_owned();
            if page_token.is_empty() {
                break;
            }
        }
    }
    eprintln!(
        "checked {numbers} phone numbers of {records} records (default region {region}): {findings} to review"
    );
    Ok(())
}

/// Keys of the custom fields of type phone for `object_type`.
fn phone_custom_fields(defs: &Value, object_type: &str) -> Vec<String> {
    defs["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["type"] == "phone" && d["object_type"] == object_type)
        .filter_map(|d| d["key"].as_str().map(str::to_owned))
        .collect()
}

/// Every stored phone of a record as (field, value).
fn phones_of(record: &Value, phone_fields: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(p) = record["phone"].as_str().filter(|p| !p.is_empty()) {
        out.push(("phone".to_owned(), p.to_owned()));
    }
    for (i, p) in record["additional_phones"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .enumerate()
    {
        out.push((format!("additional_phones[{i}]"), p.to_owned()));
    }
    for key in phone_fields {
        if let Some(p) = record["custom_fields"][key].as_str() {
            out.push((format!("custom_fields.{key}"), p.to_owned()));
        }
    }
    out
}

fn check(
    object_type: &'static str,
    record: &Value,
    field: String,
    stored: String,
    region: Region,
) -> Option<Finding> {
    let finding = check_stored_phone(&stored, region)?;
    let problem = match finding.problem {
        StoredPhoneProblem::Invalid(e) => format!("invalid: {e}"),
        StoredPhoneProblem::ReadsAs(e) => format!("reads as {e}"),
        StoredPhoneProblem::MayHaveLostDigits => "may have lost a digit".to_owned(),
    };
    Some(Finding {
        object_type,
        id: record["id"].as_str().unwrap_or("").to_owned(),
        field,
        stored,
        problem,
        possible_originals: finding.possible_originals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_phone_of_a_record_is_checked() {
        let record = json!({
            "id": "r1",
            "phone": "+14155552671",
            "additional_phones": ["+880911234567"],
            "custom_fields": {"mobile": "+35881234567", "note": "+880911234567"},
        });
        let phones = phones_of(&record, &["mobile".to_owned()]);
        assert_eq!(phones.len(), 3, "{phones:?}");
        let us = Region::default();
        let findings: Vec<Finding> = phones
            .into_iter()
            .filter_map(|(f, p)| check("person", &record, f, p, us))
            .collect();
        assert_eq!(findings.len(), 2, "{findings:?}");
        assert_eq!(findings[0].field, "additional_phones[0]");
        assert!(findings[0].problem.starts_with("invalid"));
        assert_eq!(findings[0].possible_originals, ["+8801911234567"]);
        assert_eq!(findings[1].field, "custom_fields.mobile");
        assert_eq!(findings[1].possible_originals, ["+358181234567"]);
    }

    #[test]
    fn only_phone_custom_fields_of_the_kind_count() {
        let defs = json!({"fields": [
            {"key": "mobile", "type": "phone", "object_type": "person"},
            {"key": "switchboard", "type": "phone", "object_type": "company"},
            {"key": "industry", "type": "text", "object_type": "person"},
        ]});
        assert_eq!(phone_custom_fields(&defs, "person"), ["mobile"]);
        assert_eq!(phone_custom_fields(&defs, "company"), ["switchboard"]);
    }
}
