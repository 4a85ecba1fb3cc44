//! `/v1/deals`.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::IntoResponse,
};
use rapport_proto::{
    common::v1::Money,
    deals::v1::{self as pb, CreateDealRequest, GetDealRequest},
};
use serde::{Deserialize, Serialize};

use super::{non_empty, rfc3339};
use crate::{AppState, auth::Caller, json::JsonBody, problem::Problem};

/// An amount as JSON: a decimal string and an ISO 4217 currency, so no
/// precision is lost to floating point.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MoneyJson {
    /// Decimal amount, e.g. "1250.50".
    amount: String,
    /// ISO 4217 code, e.g. "EUR".
    currency: String,
}

/// Body of `POST /v1/deals`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateDeal {
    title: Option<String>,
    contact_id: Option<String>,
    amount: Option<MoneyJson>,
    pipeline_id: Option<String>,
    stage: Option<String>,
    owner: Option<String>,
    team: Option<String>,
    shared_with: Option<Vec<String>>,
}

/// A deal as REST returns it.
#[derive(Debug, Serialize)]
pub(crate) struct DealJson {
    id: String,
    title: String,
    contact_id: Option<String>,
    amount: Option<MoneyJson>,
    pipeline_id: String,
    stage: String,
    owner: String,
    team: Option<String>,
    shared_with: Vec<String>,
    etag: String,
    create_time: Option<String>,
    created_by: String,
}

/// Parses "1250.50" into units and nanos.
fn parse_decimal(s: &str) -> Option<(i64, i32)> {
    let s = s.trim();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty()
        || frac.len() > 9
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let units: i64 = whole.parse().ok()?;
    let nanos: i32 = format!("{frac:0<9}").parse().ok()?;
    Some(if neg {
        (-units, -nanos)
    } else {
        (units, nanos)
    })
}

fn format_decimal(units: i64, nanos: i32) -> String {
    let neg = units < 0 || nanos < 0;
    let frac = format!("{:09}", nanos.unsigned_abs());
    let frac = frac.trim_end_matches('0');
    let sign = if neg { "-" } else { "" };
    if frac.is_empty() {
        format!("{sign}{}", units.unsigned_abs())
    } else {
        format!("{sign}{}.{frac}", units.unsigned_abs())
    }
}

impl From<pb::Deal> for DealJson {
    fn from(d: pb::Deal) -> Self {
        let audit = d.audit.unwrap_or_default();
        DealJson {
            id: d.id,
            title: d.title,
            contact_id: non_empty(d.contact_id),
            amount: d.amount.map(|m| MoneyJson {
                amount: format_decimal(m.units, m.nanos),
                currency: m.currency_code,
            }),
            pipeline_id: d.pipeline_id,
            stage: d.stage,
            owner: d.owner,
            team: non_empty(d.team),
            shared_with: d.shared_with,
            etag: d.etag,
            create_time: rfc3339(audit.create_time.as_ref()),
            created_by: audit.created_by,
        }
    }
}

/// `POST /v1/deals` -> 201 with the deal.
pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(principal): Caller,
    JsonBody(body): JsonBody<CreateDeal>,
) -> Result<impl IntoResponse, Problem> {
    let amount = match body.amount {
        None => None,
        Some(m) => match parse_decimal(&m.amount) {
            Some((units, nanos)) => Some(Money {
                currency_code: m.currency,
                units,
                nanos,
            }),
            None => {
                return Err(Problem::invalid(
                    "INVALID_DEAL",
                    "invalid deal",
                    vec![rapport_platform::error::FieldViolation::new(
                        "amount.amount",
                        "a decimal string such as \"1250.50\" (at most 9 decimals)",
                    )],
                ));
            }
        },
    };
    let req = principal.request(CreateDealRequest {
        deal: Some(pb::Deal {
            title: body.title.unwrap_or_default(),
            contact_id: body.contact_id.unwrap_or_default(),
            amount,
            pipeline_id: body.pipeline_id.unwrap_or_default(),
            stage: body.stage.unwrap_or_default(),
            owner: body.owner.unwrap_or_default(),
            team: body.team.unwrap_or_default(),
            shared_with: body.shared_with.unwrap_or_default(),
            ..Default::default()
        }),
    });
    let deal = state
        .peers
        .deals
        .clone()
        .create_deal(req)
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok((StatusCode::CREATED, axum::Json(DealJson::from(deal))))
}

/// `GET /v1/deals/{id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<DealJson>, Problem> {
    let deal = state
        .peers
        .deals
        .clone()
        .get_deal(principal.request(GetDealRequest { id }))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok(axum::Json(deal.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_round_trip_exactly() {
        for s in ["0", "1250.5", "-3.14", "0.000000001", "99999999999.99"] {
            let (u, n) = parse_decimal(s).unwrap();
            assert_eq!(format_decimal(u, n), s);
        }
        for bad in ["", "1.2.3", "abc", "1.0000000001", "1e5", ".5"] {
            assert!(parse_decimal(bad).is_none(), "{bad:?}");
        }
    }
}
