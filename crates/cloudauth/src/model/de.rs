//! Lenient serde helpers for the `CheckResult` response (`deserialize_with` functions).
//!
//! The service double-encodes its `Ext*` values (a JSON object serialized into a JSON string),
//! documents numbers that sometimes arrive as strings, and may add keys at any time. These
//! helpers accept every reasonable shape. Their error messages never quote the offending value:
//! serde's stock "invalid type: string \"…\"" messages would copy personal data into logs.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// How many times a value may be wrapped in JSON strings before we give up.
const MAX_STRING_NESTING: usize = 3;

/// Unwraps a value that may be JSON text inside a JSON string (possibly more than once).
/// `None`, `null`, `""` and whitespace-only strings mean absent.
fn unwrap_embedded(value: Option<Value>) -> Result<Option<Value>, &'static str> {
    let Some(mut value) = value else {
        return Ok(None);
    };
    for _ in 0..=MAX_STRING_NESTING {
        match value {
            Value::Null => return Ok(None),
            Value::String(text) => {
                let text = text.trim();
                if text.is_empty() {
                    return Ok(None);
                }
                value = serde_json::from_str(text)
                    .map_err(|_| "embedded json text in a response field is not valid json")?;
            }
            other => return Ok(Some(other)),
        }
    }
    Err("embedded json text is nested too deeply")
}

/// Deserializes `Option<T>` from a JSON object, or from a string containing the JSON of one
/// (decoded a second time), or from `null` / `""` / an absent key (all `None`).
///
/// Use with `#[serde(default, deserialize_with = "json_in_string")]`.
pub fn json_in_string<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = Option::<Value>::deserialize(deserializer)?;
    match unwrap_embedded(value).map_err(D::Error::custom)? {
        None => Ok(None),
        Some(value) => T::deserialize(value).map(Some).map_err(|_| {
            D::Error::custom("embedded json in a response field does not have the expected shape")
        }),
    }
}

/// Deserializes an opaque `Option<Value>`: a string holding a JSON object or array is
/// decoded; any other string (including one that merely looks like a number) is kept as that
/// string; `null` / `""` / absent are `None`; anything else is kept as is.
pub fn json_value_in_string<'de, D>(deserializer: D) -> Result<Option<Value>, D::Error>
where
    D: Deserializer<'de>,
{
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => {
            let trimmed = text.trim();
            if trimmed.is_empty() {
                return Ok(None);
            }
            if (trimmed.starts_with('{') || trimmed.starts_with('['))
                && let Ok(decoded) = serde_json::from_str::<Value>(trimmed)
            {
                return Ok(Some(decoded));
            }
            Ok(Some(Value::String(text)))
        }
        other => Ok(other),
    }
}

/// Deserializes `Option<String>` from a string, a number or a boolean (written as JSON
/// writes them), or `null` / absent (`None`). An empty string stays `Some("")`.
pub fn lenient_string<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(Value::Array(_) | Value::Object(_)) => Err(D::Error::custom(
            "expected a string, number or boolean in a response field",
        )),
    }
}

/// Deserializes `Option<f64>` from a number or a numeric string (surrounding spaces allowed);
/// `null`, `""` and absent are `None`.
pub fn lenient_f64<'de, D>(deserializer: D) -> Result<Option<f64>, D::Error>
where
    D: Deserializer<'de>,
{
    const NOT_A_NUMBER: &str = "expected a number or a numeric string in a response field";
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(D::Error::custom(NOT_A_NUMBER)),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            match s.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Some(v)),
                _ => Err(D::Error::custom(NOT_A_NUMBER)),
            }
        }
        Some(_) => Err(D::Error::custom(NOT_A_NUMBER)),
    }
}

/// Deserializes `Option<Vec<String>>` from an array of scalars, a string holding a JSON
/// array, or a comma-separated string; `null` / absent are `None`, `""` is an empty list.
pub fn lenient_string_list<'de, D>(deserializer: D) -> Result<Option<Vec<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    const SHAPE: &str = "expected a list of strings in a response field";
    fn scalar(v: Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    fn from_array<E: serde::de::Error>(items: Vec<Value>) -> Result<Vec<String>, E> {
        items
            .into_iter()
            .map(|v| scalar(v).ok_or(E::custom(SHAPE)))
            .collect()
    }
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => from_array(items).map(Some),
        Some(Value::String(s)) => {
            let t = s.trim();
            if t.starts_with('[') {
                match serde_json::from_str::<Value>(t) {
                    Ok(Value::Array(items)) => return from_array(items).map(Some),
                    _ => return Err(D::Error::custom(SHAPE)),
                }
            }
            Ok(Some(
                t.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ))
        }
        Some(_) => Err(D::Error::custom(SHAPE)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner {
        a: i32,
    }

    #[derive(Debug, Deserialize)]
    struct Outer {
        #[serde(default, deserialize_with = "json_in_string")]
        x: Option<Inner>,
        #[serde(default, deserialize_with = "json_value_in_string")]
        v: Option<Value>,
        #[serde(default, deserialize_with = "lenient_f64")]
        f: Option<f64>,
        #[serde(default, deserialize_with = "lenient_string")]
        s: Option<String>,
        #[serde(default, deserialize_with = "lenient_string_list")]
        l: Option<Vec<String>>,
    }

    fn parse(json: &str) -> Outer {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn json_in_string_shapes() {
        assert_eq!(parse(r#"{"x":"{\"a\":1}"}"#).x, Some(Inner { a: 1 }));
        assert_eq!(parse(r#"{"x":{"a":2}}"#).x, Some(Inner { a: 2 }));
        assert_eq!(
            parse(r#"{"x":"\"{\\\"a\\\":3}\""}"#).x,
            Some(Inner { a: 3 })
        );
        assert_eq!(parse(r#"{"x":""}"#).x, None);
        assert_eq!(parse(r#"{"x":"  "}"#).x, None);
        assert_eq!(parse(r#"{"x":null}"#).x, None);
        assert_eq!(parse(r#"{"x":"null"}"#).x, None);
        assert_eq!(parse(r#"{}"#).x, None);
    }

    #[test]
    fn errors_do_not_quote_values() {
        let err = serde_json::from_str::<Outer>(r#"{"x":"{not json CHAN TAI MAN"}"#).unwrap_err();
        assert!(!err.to_string().contains("CHAN"), "{err}");
        let err = serde_json::from_str::<Outer>(r#"{"x":{"a":"CHAN TAI MAN"}}"#).unwrap_err();
        assert!(!err.to_string().contains("CHAN"), "{err}");
        let err = serde_json::from_str::<Outer>(r#"{"f":"CHAN TAI MAN"}"#).unwrap_err();
        assert!(!err.to_string().contains("CHAN"), "{err}");
    }

    #[test]
    fn opaque_values_keep_non_json_strings() {
        assert_eq!(
            parse(r#"{"v":"{\"k\":[1]}"}"#).v,
            Some(serde_json::json!({"k":[1]}))
        );
        assert_eq!(
            parse(r#"{"v":"plain text"}"#).v,
            Some(Value::String("plain text".into()))
        );
        assert_eq!(
            parse(r#"{"v":{"k":1}}"#).v,
            Some(serde_json::json!({"k":1}))
        );
        assert_eq!(parse(r#"{"v":""}"#).v, None);
        assert_eq!(parse(r#"{"v":7}"#).v, Some(serde_json::json!(7)));
        assert_eq!(parse(r#"{"v":"200"}"#).v, Some(Value::String("200".into())));
        assert_eq!(
            parse(r#"{"v":"{broken"}"#).v,
            Some(Value::String("{broken".into()))
        );
    }

    #[test]
    fn numbers_and_strings_interchange() {
        assert_eq!(parse(r#"{"f":"97.5"}"#).f, Some(97.5));
        assert_eq!(parse(r#"{"f":" 80 "}"#).f, Some(80.0));
        assert_eq!(parse(r#"{"f":99.99}"#).f, Some(99.99));
        assert_eq!(parse(r#"{"f":""}"#).f, None);
        assert!(serde_json::from_str::<Outer>(r#"{"f":"NaN"}"#).is_err());
        assert_eq!(parse(r#"{"s":30}"#).s.as_deref(), Some("30"));
        assert_eq!(parse(r#"{"s":30.5}"#).s.as_deref(), Some("30.5"));
        assert_eq!(parse(r#"{"s":true}"#).s.as_deref(), Some("true"));
        assert_eq!(parse(r#"{"s":""}"#).s.as_deref(), Some(""));
        assert!(serde_json::from_str::<Outer>(r#"{"s":[1]}"#).is_err());
    }

    #[test]
    fn string_lists() {
        assert_eq!(
            parse(r#"{"l":["A","B"]}"#).l,
            Some(vec!["A".into(), "B".into()])
        );
        assert_eq!(parse(r#"{"l":"[\"A\"]"}"#).l, Some(vec!["A".into()]));
        assert_eq!(
            parse(r#"{"l":"A, B"}"#).l,
            Some(vec!["A".into(), "B".into()])
        );
        assert_eq!(parse(r#"{"l":""}"#).l, Some(vec![]));
        assert_eq!(parse(r#"{"l":[]}"#).l, Some(vec![]));
        assert_eq!(parse(r#"{}"#).l, None);
    }
}
