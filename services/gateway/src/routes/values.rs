//! Custom field values: JSON values in REST, `google.protobuf.Value` in gRPC.

use std::collections::{BTreeMap, HashMap};

use prost_types::{ListValue, Struct, Value as PbValue, value::Kind};
use serde_json::{Map, Number, Value};

/// A JSON value as a protobuf `Value`. Numbers become doubles (protobuf's
/// only number kind); exact decimals travel as strings, as the decimal
/// field type asks.
pub(crate) fn to_proto(v: Value) -> PbValue {
    let kind = match v {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s),
        Value::Array(items) => Kind::ListValue(ListValue {
            values: items.into_iter().map(to_proto).collect(),
        }),
        Value::Object(fields) => Kind::StructValue(Struct {
            fields: fields.into_iter().map(|(k, v)| (k, to_proto(v))).collect(),
        }),
    };
    PbValue { kind: Some(kind) }
}

/// A protobuf `Value` as JSON. Whole numbers are written without a
/// fraction (`42`, not `42.0`), so integers round-trip as they were sent.
pub(crate) fn from_proto(v: PbValue) -> Value {
    match v.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(b),
        Some(Kind::NumberValue(n)) => number(n),
        Some(Kind::StringValue(s)) => Value::String(s),
        Some(Kind::ListValue(l)) => Value::Array(l.values.into_iter().map(from_proto).collect()),
        Some(Kind::StructValue(s)) => Value::Object(
            s.fields
                .into_iter()
                .map(|(k, v)| (k, from_proto(v)))
                .collect(),
        ),
    }
}

/// Largest magnitude below which every whole f64 is an exact integer.
const EXACT_INT: f64 = 9_007_199_254_740_992.0; // 2^53

fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < EXACT_INT {
        Value::Number(Number::from(n as i64))
    } else {
        Number::from_f64(n)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

/// The custom fields of a request: `null` and `""` values are left out
/// (on create they mean "no value"; on update the mask path clears them).
pub(crate) fn fields_to_proto(fields: Map<String, Value>) -> HashMap<String, PbValue> {
    fields
        .into_iter()
        .filter(|(_, v)| !is_empty(v))
        .map(|(k, v)| (k, to_proto(v)))
        .collect()
}

/// The custom fields of a response, sorted by key.
pub(crate) fn fields_from_proto(fields: HashMap<String, PbValue>) -> BTreeMap<String, Value> {
    fields
        .into_iter()
        .map(|(k, v)| (k, from_proto(v)))
        .collect()
}

/// `null` or `""`: "no value" in REST.
pub(crate) fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_values_round_trip() {
        for v in [
            json!("Retail"),
            json!(42),
            json!(-3.25),
            json!(true),
            json!(["a", "b"]),
            json!({"x": 1, "y": [false, null]}),
            json!("1234.50"),
        ] {
            assert_eq!(from_proto(to_proto(v.clone())), v);
        }
    }

    #[test]
    fn empty_values_are_left_out() {
        let Value::Object(m) = json!({"a": null, "b": "", "c": 0}) else {
            unreachable!()
        };
        let p = fields_to_proto(m);
        assert_eq!(p.len(), 1);
        assert!(p.contains_key("c"));
    }
}
