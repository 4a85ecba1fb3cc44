//! Protobuf <-> domain conversions.

use std::collections::BTreeMap;

use prost_types::{ListValue, Struct, Value as PbValue, value::Kind as PbKind};
use rapport_platform::proto_time::to_timestamp;
use rapport_proto::{common::v1::AuditStamp, contacts::v1 as pb};
use serde_json::Value;

use crate::domain::{
    Address, CompanyLink, CompanyRole, CompanyType, CustomFieldDef, FieldType, Fields, Kind,
    LifecycleStage, Record,
};

/// Custom field values shown: only those with a definition.
fn shown_custom_fields(
    f: &Fields,
    defs: &[CustomFieldDef],
) -> std::collections::HashMap<String, PbValue> {
    f.custom_fields
        .iter()
        .filter(|(k, _)| defs.iter().any(|d| &d.key == *k))
        .map(|(k, v)| (k.clone(), to_pb_value(v)))
        .collect()
}

fn audit(r: &Record) -> AuditStamp {
    AuditStamp {
        create_time: Some(to_timestamp(r.data.create_time)),
        created_by: r.data.created_by.clone(),
        update_time: Some(to_timestamp(r.data.update_time)),
        updated_by: r.data.updated_by.clone(),
    }
}

fn address_to_pb(a: &Address) -> Option<pb::PostalAddress> {
    (!a.is_empty()).then(|| pb::PostalAddress {
        street: a.street.clone(),
        city: a.city.clone(),
        region: a.region.clone(),
        postal_code: a.postal_code.clone(),
        country_code: a.country_code.clone(),
    })
}

fn address_from_pb(a: Option<pb::PostalAddress>) -> Address {
    let a = a.unwrap_or_default();
    Address {
        street: a.street,
        city: a.city,
        region: a.region,
        postal_code: a.postal_code,
        country_code: a.country_code,
    }
}

/// A person as the API shows it.
pub(super) fn contact_to_pb(r: &Record, defs: &[CustomFieldDef]) -> pb::Contact {
    let f = r.fields();
    pb::Contact {
        id: r.id.to_string(),
        given_name: f.given_name.clone(),
        family_name: f.family_name.clone(),
        display_name: f.display_name.clone(),
        email: f.email.clone(),
        phone: f.phone.clone(),
        company_name: f.company_name.clone(),
        etag: r.etag(),
        audit: Some(audit(r)),
        external_id: f.external_id.clone(),
        additional_emails: f.additional_emails.clone(),
        additional_phones: f.additional_phones.clone(),
        job_title: f.job_title.clone(),
        companies: f
            .companies
            .iter()
            .map(|l| pb::CompanyRelation {
                company_id: l.company_id.clone(),
                role: role_to_pb(l.role) as i32,
            })
            .collect(),
        owner: f.owner.clone(),
        team: f.team.clone(),
        shared_with: f.shared_with.clone(),
        tags: f.tags.clone(),
        lifecycle_stage: stage_to_pb(f.lifecycle_stage) as i32,
        source_channel: f.source_channel.clone(),
        birthday: f.birthday.clone(),
        address: address_to_pb(&f.address),
        custom_fields: shown_custom_fields(f, defs),
    }
}

/// A company as the API shows it.
pub(super) fn company_to_pb(r: &Record, defs: &[CustomFieldDef]) -> pb::Company {
    let f = r.fields();
    pb::Company {
        id: r.id.to_string(),
        name: f.display_name.clone(),
        types: f
            .company_types
            .iter()
            .map(|t| type_to_pb(*t) as i32)
            .collect(),
        parent_company_id: f.parent_company_id.clone(),
        external_id: f.external_id.clone(),
        email: f.email.clone(),
        phone: f.phone.clone(),
        website: f.website.clone(),
        owner: f.owner.clone(),
        team: f.team.clone(),
        shared_with: f.shared_with.clone(),
        tags: f.tags.clone(),
        lifecycle_stage: stage_to_pb(f.lifecycle_stage) as i32,
        source_channel: f.source_channel.clone(),
        address: address_to_pb(&f.address),
        custom_fields: shown_custom_fields(f, defs),
        etag: r.etag(),
        audit: Some(audit(r)),
    }
}

/// The fields a request carries for a person (not yet validated).
pub(super) fn contact_fields(c: pb::Contact) -> Result<Fields, String> {
    Ok(Fields {
        given_name: c.given_name,
        family_name: c.family_name,
        display_name: c.display_name,
        email: c.email,
        additional_emails: c.additional_emails,
        phone: c.phone,
        additional_phones: c.additional_phones,
        external_id: c.external_id,
        company_name: c.company_name,
        job_title: c.job_title,
        companies: c
            .companies
            .into_iter()
            .map(|l| {
                Ok(CompanyLink {
                    company_id: l.company_id,
                    role: role_from_pb(l.role)?,
                })
            })
            .collect::<Result<_, String>>()?,
        owner: c.owner,
        team: c.team,
        shared_with: c.shared_with,
        tags: c.tags,
        lifecycle_stage: stage_from_pb(c.lifecycle_stage)?,
        source_channel: c.source_channel,
        birthday: c.birthday,
        address: address_from_pb(c.address),
        custom_fields: custom_values(c.custom_fields),
        ..Default::default()
    })
}

/// The fields a request carries for a company (not yet validated).
pub(super) fn company_fields(c: pb::Company) -> Result<Fields, String> {
    Ok(Fields {
        display_name: c.name,
        company_types: c
            .types
            .into_iter()
            .map(type_from_pb)
            .collect::<Result<_, String>>()?,
        parent_company_id: c.parent_company_id,
        external_id: c.external_id,
        email: c.email,
        phone: c.phone,
        website: c.website,
        owner: c.owner,
        team: c.team,
        shared_with: c.shared_with,
        tags: c.tags,
        lifecycle_stage: stage_from_pb(c.lifecycle_stage)?,
        source_channel: c.source_channel,
        address: address_from_pb(c.address),
        custom_fields: custom_values(c.custom_fields),
        ..Default::default()
    })
}

/// Custom field values of a request, as JSON.
fn custom_values(values: std::collections::HashMap<String, PbValue>) -> BTreeMap<String, Value> {
    values
        .into_iter()
        .map(|(k, v)| (k, from_pb_value(v)))
        .collect()
}

/// Stage from its proto enum (unspecified = none).
pub(super) fn stage_from_pb(v: i32) -> Result<Option<LifecycleStage>, String> {
    Ok(match pb::LifecycleStage::try_from(v) {
        Ok(pb::LifecycleStage::Unspecified) => None,
        Ok(pb::LifecycleStage::Lead) => Some(LifecycleStage::Lead),
        Ok(pb::LifecycleStage::Prospect) => Some(LifecycleStage::Prospect),
        Ok(pb::LifecycleStage::Customer) => Some(LifecycleStage::Customer),
        Ok(pb::LifecycleStage::FormerCustomer) => Some(LifecycleStage::FormerCustomer),
        Err(_) => return Err(format!("unknown lifecycle stage {v}")),
    })
}

fn stage_to_pb(s: Option<LifecycleStage>) -> pb::LifecycleStage {
    match s {
        None => pb::LifecycleStage::Unspecified,
        Some(LifecycleStage::Lead) => pb::LifecycleStage::Lead,
        Some(LifecycleStage::Prospect) => pb::LifecycleStage::Prospect,
        Some(LifecycleStage::Customer) => pb::LifecycleStage::Customer,
        Some(LifecycleStage::FormerCustomer) => pb::LifecycleStage::FormerCustomer,
    }
}

fn role_from_pb(v: i32) -> Result<CompanyRole, String> {
    match pb::CompanyRole::try_from(v) {
        Ok(pb::CompanyRole::Unspecified | pb::CompanyRole::WorksAt) => Ok(CompanyRole::WorksAt),
        Ok(pb::CompanyRole::FormerEmployee) => Ok(CompanyRole::FormerEmployee),
        Ok(pb::CompanyRole::DecisionMaker) => Ok(CompanyRole::DecisionMaker),
        Err(_) => Err(format!("unknown company role {v}")),
    }
}

fn role_to_pb(r: CompanyRole) -> pb::CompanyRole {
    match r {
        CompanyRole::WorksAt => pb::CompanyRole::WorksAt,
        CompanyRole::FormerEmployee => pb::CompanyRole::FormerEmployee,
        CompanyRole::DecisionMaker => pb::CompanyRole::DecisionMaker,
    }
}

fn type_from_pb(v: i32) -> Result<CompanyType, String> {
    match pb::CompanyType::try_from(v) {
        Ok(pb::CompanyType::Customer) => Ok(CompanyType::Customer),
        Ok(pb::CompanyType::Supplier) => Ok(CompanyType::Supplier),
        Ok(pb::CompanyType::Partner) => Ok(CompanyType::Partner),
        _ => Err(format!("unknown company type {v}")),
    }
}

fn type_to_pb(t: CompanyType) -> pb::CompanyType {
    match t {
        CompanyType::Customer => pb::CompanyType::Customer,
        CompanyType::Supplier => pb::CompanyType::Supplier,
        CompanyType::Partner => pb::CompanyType::Partner,
    }
}

/// Object type from its enum; `None` for unspecified.
pub(super) fn kind_from_pb(v: i32) -> Result<Option<Kind>, String> {
    match pb::ObjectType::try_from(v) {
        Ok(pb::ObjectType::Unspecified) => Ok(None),
        Ok(pb::ObjectType::Person) => Ok(Some(Kind::Person)),
        Ok(pb::ObjectType::Company) => Ok(Some(Kind::Company)),
        Err(_) => Err(format!("unknown object type {v}")),
    }
}

fn kind_to_pb(k: Kind) -> pb::ObjectType {
    match k {
        Kind::Person => pb::ObjectType::Person,
        Kind::Company => pb::ObjectType::Company,
    }
}

/// Field type from its enum.
pub(super) fn field_type_from_pb(v: i32) -> Result<FieldType, String> {
    use pb::FieldType as P;
    Ok(
        match P::try_from(v).map_err(|_| format!("unknown field type {v}"))? {
            P::Unspecified => return Err("field type is required".into()),
            P::Text => FieldType::Text,
            P::Number => FieldType::Number,
            P::Decimal => FieldType::Decimal,
            P::Date => FieldType::Date,
            P::Boolean => FieldType::Boolean,
            P::SingleChoice => FieldType::SingleChoice,
            P::MultiChoice => FieldType::MultiChoice,
            P::Url => FieldType::Url,
            P::Email => FieldType::Email,
            P::Phone => FieldType::Phone,
        },
    )
}

fn field_type_to_pb(t: FieldType) -> pb::FieldType {
    use pb::FieldType as P;
    match t {
        FieldType::Text => P::Text,
        FieldType::Number => P::Number,
        FieldType::Decimal => P::Decimal,
        FieldType::Date => P::Date,
        FieldType::Boolean => P::Boolean,
        FieldType::SingleChoice => P::SingleChoice,
        FieldType::MultiChoice => P::MultiChoice,
        FieldType::Url => P::Url,
        FieldType::Email => P::Email,
        FieldType::Phone => P::Phone,
    }
}

/// A definition as the API shows it.
pub(super) fn custom_field_to_pb(d: &CustomFieldDef) -> pb::CustomField {
    pb::CustomField {
        key: d.key.clone(),
        object_type: kind_to_pb(d.kind) as i32,
        label: d.label.clone(),
        r#type: field_type_to_pb(d.field_type) as i32,
        required: d.required,
        choices: d.choices.clone(),
        min: d.min,
        max: d.max,
        max_length: d.max_length as i32,
        audit: Some(AuditStamp {
            create_time: Some(to_timestamp(d.create_time)),
            created_by: d.created_by.clone(),
            update_time: Some(to_timestamp(d.create_time)),
            updated_by: d.created_by.clone(),
        }),
    }
}

/// JSON value -> protobuf `Value`.
pub(super) fn to_pb_value(v: &Value) -> PbValue {
    let kind = match v {
        Value::Null => PbKind::NullValue(0),
        Value::Bool(b) => PbKind::BoolValue(*b),
        Value::Number(n) => PbKind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => PbKind::StringValue(s.clone()),
        Value::Array(items) => PbKind::ListValue(ListValue {
            values: items.iter().map(to_pb_value).collect(),
        }),
        Value::Object(m) => PbKind::StructValue(Struct {
            fields: m.iter().map(|(k, v)| (k.clone(), to_pb_value(v))).collect(),
        }),
    };
    PbValue { kind: Some(kind) }
}

/// Protobuf `Value` -> JSON value. Whole numbers stay integers.
pub(super) fn from_pb_value(v: PbValue) -> Value {
    match v.kind {
        None | Some(PbKind::NullValue(_)) => Value::Null,
        Some(PbKind::BoolValue(b)) => Value::Bool(b),
        Some(PbKind::NumberValue(n)) => {
            if n.fract() == 0.0 && n.abs() < 9.0e15 {
                Value::from(n as i64)
            } else {
                serde_json::Number::from_f64(n)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
        }
        Some(PbKind::StringValue(s)) => Value::String(s),
        Some(PbKind::ListValue(l)) => {
            Value::Array(l.values.into_iter().map(from_pb_value).collect())
        }
        Some(PbKind::StructValue(s)) => Value::Object(
            s.fields
                .into_iter()
                .map(|(k, v)| (k, from_pb_value(v)))
                .collect::<BTreeMap<_, _>>()
                .into_iter()
                .collect(),
        ),
    }
}
