//! REST names of the contacts API's enums: lower-case snake_case strings
//! (`lead`, `works_at`, `single_choice`), never the proto's prefixed
//! upper-case names or numbers. `UNSPECIFIED` has no REST name: it is
//! written as `null` and read from `null` (or an absent field).

use rapport_proto::contacts::v1 as pb;
use serde::{Deserialize, Deserializer, Serialize, de::DeserializeOwned};

/// Declares a REST enum mirroring a proto enum, variant for variant, with
/// its wire name; serde's "unknown variant" error then lists the choices
/// and names the field.
macro_rules! rest_enum {
    ($(#[$meta:meta])* $name:ident => $pb:ty { $($variant:ident = $rest:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
        pub(crate) enum $name {
            $(
                #[allow(missing_docs)]
                #[serde(rename = $rest)]
                $variant,
            )*
        }

        impl $name {
            /// The proto value.
            #[allow(dead_code)]
            pub(crate) fn to_proto(self) -> i32 {
                match self {
                    $( Self::$variant => <$pb>::$variant as i32, )*
                }
            }

            /// The REST value of a proto value; `None` for unspecified or
            /// unknown numbers.
            #[allow(dead_code)]
            pub(crate) fn from_proto(v: i32) -> Option<Self> {
                match <$pb>::try_from(v).ok()? {
                    $( <$pb>::$variant => Some(Self::$variant), )*
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }

            /// The wire name.
            #[allow(dead_code)]
            pub(crate) fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $rest, )*
                }
            }
        }
    };
}

rest_enum! {
    /// Where a person or company is in the customer lifecycle.
    LifecycleStage => pb::LifecycleStage {
        Lead = "lead",
        Prospect = "prospect",
        Customer = "customer",
        FormerCustomer = "former_customer",
    }
}

rest_enum! {
    /// A person's role at a company.
    CompanyRole => pb::CompanyRole {
        WorksAt = "works_at",
        FormerEmployee = "former_employee",
        DecisionMaker = "decision_maker",
    }
}

rest_enum! {
    /// What a company is to the tenant.
    CompanyType => pb::CompanyType {
        Customer = "customer",
        Supplier = "supplier",
        Partner = "partner",
    }
}

rest_enum! {
    /// People or companies.
    ObjectType => pb::ObjectType {
        Person = "person",
        Company = "company",
    }
}

rest_enum! {
    /// The value type of a custom field.
    FieldType => pb::FieldType {
        Text = "text",
        Number = "number",
        Decimal = "decimal",
        Date = "date",
        Boolean = "boolean",
        SingleChoice = "single_choice",
        MultiChoice = "multi_choice",
        Url = "url",
        Email = "email",
        Phone = "phone",
    }
}

rest_enum! {
    /// What an import does with a row whose e-mail, phone or external id exists.
    DuplicatePolicy => pb::DuplicatePolicy {
        Skip = "skip",
        Update = "update",
        Create = "create",
    }
}

rest_enum! {
    /// Where an import is.
    ImportState => pb::ImportState {
        Pending = "pending",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
    }
}

/// The proto value of an optional REST enum (unspecified when absent).
pub(crate) fn opt_to_proto<E>(e: Option<E>, f: impl Fn(E) -> i32) -> i32 {
    e.map(f).unwrap_or(0)
}

/// Reads an optional field where `null` and `""` both mean "not given":
/// REST writes empty strings as `null`, so either must round-trip.
pub(crate) fn empty_as_none<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    use serde::de::Error;
    match Option::<serde_json::Value>::deserialize(d)? {
        None => Ok(None),
        Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
        Some(v) => T::deserialize(v).map(Some).map_err(D::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_proto() {
        for s in [
            LifecycleStage::Lead,
            LifecycleStage::Prospect,
            LifecycleStage::Customer,
            LifecycleStage::FormerCustomer,
        ] {
            assert_eq!(LifecycleStage::from_proto(s.to_proto()), Some(s));
        }
        assert_eq!(LifecycleStage::from_proto(0), None);
        assert_eq!(
            FieldType::SingleChoice.to_proto(),
            pb::FieldType::SingleChoice as i32
        );
        assert_eq!(
            serde_json::to_string(&CompanyRole::WorksAt).unwrap(),
            "\"works_at\""
        );
    }

    #[test]
    fn unknown_names_list_the_choices() {
        let e = serde_json::from_str::<ObjectType>("\"people\"").unwrap_err();
        assert!(e.to_string().contains("person"), "{e}");
    }
}
