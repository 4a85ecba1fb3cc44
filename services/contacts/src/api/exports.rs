//! CSV export of a filtered list, streamed page by page.

use futures::Stream;
use rapport_platform::identity::{Action, Permission, Principal};

use super::{ContactsApi, SearchQuery};
use crate::domain::{ContactError, CustomFieldDef, Kind, Record};

/// Records per page read (and CSV chunk sent).
const EXPORT_PAGE: usize = 1000;

/// Columns in the order written; the names are those the import maps back.
fn header(kind: Kind, defs: &[CustomFieldDef]) -> Vec<String> {
    let shared = [
        "external_id",
        "email",
        "additional_emails",
        "phone",
        "additional_phones",
        "owner",
        "team",
        "tags",
        "lifecycle_stage",
        "source_channel",
        "street",
        "city",
        "region",
        "postal_code",
        "country_code",
    ];
    let specific: &[&str] = match kind {
        Kind::Person => &[
            "given_name",
            "family_name",
            "display_name",
            "company_name",
            "job_title",
            "birthday",
            "company_ids",
        ],
        Kind::Company => &["name", "types", "parent_company_id", "website"],
    };
    std::iter::once("id")
        .chain(specific.iter().copied())
        .chain(shared)
        .map(str::to_owned)
        .chain(defs.iter().map(|d| format!("custom_fields.{}", d.key)))
        .chain(["create_time".to_owned(), "update_time".to_owned()])
        .collect()
}

fn row(r: &Record, defs: &[CustomFieldDef]) -> Vec<String> {
    let f = r.fields();
    let list = |v: &[String]| v.join("; ");
    let specific = match r.kind() {
        Kind::Person => vec![
            f.given_name.clone(),
            f.family_name.clone(),
            f.display_name.clone(),
            f.company_name.clone(),
            f.job_title.clone(),
            f.birthday.clone(),
            list(
                &f.companies
                    .iter()
                    .map(|c| c.company_id.clone())
                    .collect::<Vec<_>>(),
            ),
        ],
        Kind::Company => vec![
            f.display_name.clone(),
            list(
                &f.company_types
                    .iter()
                    .map(|t| t.as_str().to_owned())
                    .collect::<Vec<_>>(),
            ),
            f.parent_company_id.clone(),
            f.website.clone(),
        ],
    };
    let custom = defs.iter().map(|d| match f.custom_fields.get(&d.key) {
        None => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str())
            .collect::<Vec<_>>()
            .join("; "),
        Some(other) => other.to_string(),
    });
    std::iter::once(r.id.to_string())
        .chain(specific)
        .chain([
            f.external_id.clone(),
            f.email.clone(),
            list(&f.additional_emails),
            f.phone.clone(),
            list(&f.additional_phones),
            f.owner.clone(),
            f.team.clone(),
            f.tags.join(", "),
            f.lifecycle_stage
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            f.source_channel.clone(),
            f.address.street.clone(),
            f.address.city.clone(),
            f.address.region.clone(),
            f.address.postal_code.clone(),
            f.address.country_code.clone(),
        ])
        .chain(custom)
        .chain([
            r.data.create_time.to_rfc3339(),
            r.data.update_time.to_rfc3339(),
        ])
        .collect()
}

/// A cell a spreadsheet would run as a formula (`=`, `@`, `+`/`-` not
/// starting a number, tab, carriage return) gets a leading `'`, so text a
/// web form stored cannot execute when the export is opened in Excel.
/// Phone numbers (`+44...`) and negative numbers are left as they are.
fn neutralize(cell: String) -> String {
    let mut chars = cell.chars();
    let risky = match chars.next() {
        Some('=' | '@' | '\t' | '\r') => true,
        Some('+' | '-') => !chars
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == ' ' || c == '('),
        _ => false,
    };
    if risky { format!("'{cell}") } else { cell }
}

fn encode(rows: impl IntoIterator<Item = Vec<String>>) -> Result<Vec<u8>, ContactError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        let r: Vec<String> = r.into_iter().map(neutralize).collect();
        w.write_record(&r)
            .map_err(|e| ContactError::FailedPrecondition(format!("csv: {e}")))?;
    }
    w.into_inner()
        .map_err(|e| ContactError::FailedPrecondition(format!("csv: {e}")))
}

impl ContactsApi {
    /// The CSV of every record matching `query`, in chunks: header first,
    /// then one chunk per page. Memory holds one page at a time.
    pub async fn export_csv(
        self: std::sync::Arc<Self>,
        p: Principal,
        mut query: SearchQuery,
    ) -> Result<impl Stream<Item = Result<Vec<u8>, ContactError>>, ContactError> {
        p.require(Permission::Record(query.kind.object(), Action::Export))?;
        let defs = self
            .store
            .custom_fields(&p.tenant, Some(query.kind))
            .await?;
        // Validate the filter before the stream starts, so a bad filter is
        // an error status rather than a broken download.
        query.page_size = 1;
        self.search(&p, query.clone()).await?;
        // Who took a copy of which records is audited before the first row.
        let entry = super::audit::now(
            &p,
            rapport_platform::audit::AuditDraft::new(
                format!("exports/{}", uuid::Uuid::now_v7()),
                rapport_platform::audit::Change::Read,
            )
            .with_note(format!(
                "CSV export of {} records (query {:?}, filter {:?})",
                query.kind.as_str(),
                query.query,
                query.filter
            )),
        );
        self.store.record_audit(&p.tenant, &[entry]).await?;
        query.page_size = EXPORT_PAGE;
        query.page_token.clear();
        let first = encode([header(query.kind, &defs)])?;
        let state = Some((query, true));
        Ok(futures::stream::unfold(
            (self, p, defs, state, Some(first)),
            |(api, p, defs, state, header)| async move {
                if let Some(h) = header {
                    return Some((Ok(h), (api, p, defs, state, None)));
                }
                let (query, _) = state?;
                match api.search(&p, query.clone()).await {
                    Err(e) => Some((Err(e), (api, p, defs, None, None))),
                    Ok(page) => {
                        let chunk = encode(page.records.iter().map(|r| row(r, &defs)));
                        let next = (!page.next_page_token.is_empty()).then_some((
                            SearchQuery {
                                page_token: page.next_page_token,
                                ..query
                            },
                            true,
                        ));
                        Some((chunk, (api, p, defs, next, None)))
                    }
                }
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_but_phones_are_not() {
        assert_eq!(neutralize("=HYPERLINK(\"x\")".into()), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralize("@SUM(A1)".into()), "'@SUM(A1)");
        assert_eq!(neutralize("-cmd".into()), "'-cmd");
        assert_eq!(neutralize("+442079460958".into()), "+442079460958");
        assert_eq!(neutralize("-12.5".into()), "-12.5");
        assert_eq!(neutralize("Ada".into()), "Ada");
    }
}
