//! msgpack messages ⇄ JSON lines. Sans-IO.
//!
//! JSON has no binary strings, extension types or non-string keys, so those are written
//! in a form that reads back the same:
//! - bin: `{"$bin": "<hex>"}`;
//! - ext: `{"$ext": <type>, "$data": "<hex>"}`;
//! - a str that is not UTF-8 (a peer can send one): as bin;
//! - a map key that is not a string: its JSON text, as a string (this one does not read
//!   back as the original key);
//! - NaN and infinities: `null`.

use podnet_framing::Value;
use serde_json::{Map, Number, Value as Json};

/// A message as one line of JSON.
pub(crate) fn to_line(value: &Value) -> String {
    to_json(value).to_string()
}

fn to_json(value: &Value) -> Json {
    match value {
        Value::Nil => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Integer(i) => match (i.as_u64(), i.as_i64()) {
            (Some(u), _) => Json::from(u),
            (None, Some(s)) => Json::from(s),
            (None, None) => Json::Null,
        },
        Value::F32(f) => float(f64::from(*f)),
        Value::F64(f) => float(*f),
        Value::String(s) => match s.as_str() {
            Some(text) => Json::String(text.to_owned()),
            None => tagged_bin(s.as_bytes()),
        },
        Value::Binary(bytes) => tagged_bin(bytes),
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Value::String(s) if s.as_str().is_some() => {
                            s.as_str().unwrap_or_default().to_owned()
                        }
                        other => to_json(other).to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Value::Ext(kind, data) => {
            let mut map = Map::new();
            map.insert("$ext".into(), Json::from(*kind));
            map.insert("$data".into(), Json::String(hex(data)));
            Json::Object(map)
        }
    }
}

fn float(f: f64) -> Json {
    Number::from_f64(f).map_or(Json::Null, Json::Number)
}

fn tagged_bin(bytes: &[u8]) -> Json {
    let mut map = Map::new();
    map.insert("$bin".into(), Json::String(hex(bytes)));
    Json::Object(map)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Reads one line of JSON as a message: an object with a string `"action"`. The error
/// says what is wrong, for a message naming the line.
pub(crate) fn from_line(line: &str) -> Result<Value, String> {
    let json: Json = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let Json::Object(map) = &json else {
        return Err(
            "a message is a JSON object, like {\"action\": \"chat\", \"text\": \"hi\"}".into(),
        );
    };
    match map.get("action") {
        Some(Json::String(_)) => {}
        Some(_) => return Err("\"action\" must be a string".into()),
        None => return Err("the object has no \"action\" key".into()),
    }
    Ok(from_json(&json))
}

fn from_json(json: &Json) -> Value {
    match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Value::from(u),
            (None, Some(s), _) => Value::from(s),
            (None, None, Some(f)) => Value::F64(f),
            _ => Value::Nil,
        },
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(items) => Value::Array(items.iter().map(from_json).collect()),
        Json::Object(map) => {
            if let Some(value) = tagged(map) {
                return value;
            }
            Value::Map(
                map.iter()
                    .map(|(k, v)| (Value::from(k.as_str()), from_json(v)))
                    .collect(),
            )
        }
    }
}

/// `{"$bin": hex}` and `{"$ext": n, "$data": hex}`, exactly.
fn tagged(map: &Map<String, Json>) -> Option<Value> {
    match (
        map.len(),
        map.get("$bin"),
        map.get("$ext"),
        map.get("$data"),
    ) {
        (1, Some(Json::String(h)), _, _) => Some(Value::Binary(unhex(h)?)),
        (2, None, Some(Json::Number(n)), Some(Json::String(h))) => {
            let kind = i8::try_from(n.as_i64()?).ok()?;
            Some(Value::Ext(kind, unhex(h)?))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(line: &str) -> String {
        to_line(&from_line(line).unwrap())
    }

    #[test]
    fn messages_read_back_as_written() {
        for line in [
            r#"{"action":"move","x":10,"y":-3}"#,
            r#"{"action":"chat","text":"héllo","tags":["a","b"],"ok":true,"none":null}"#,
            r#"{"action":"f","half":0.5,"big":18446744073709551615,"neg":-9223372036854775808}"#,
            r#"{"action":"bytes","data":{"$bin":"00ff10"},"e":{"$ext":5,"$data":"0102"}}"#,
            r#"{"action":"nested","a":{"b":{"c":[1,[2,[3]]]}}}"#,
        ] {
            assert_eq!(round_trip(line), line);
        }
    }

    #[test]
    fn key_order_is_kept() {
        assert_eq!(
            round_trip(r#"{"z":1,"action":"a","m":2}"#),
            r#"{"z":1,"action":"a","m":2}"#
        );
    }

    #[test]
    fn what_json_cannot_say_is_written_readably() {
        let value = Value::Map(vec![
            (Value::from("action"), Value::from("odd")),
            (Value::from(7), Value::F64(f64::NAN)),
            (Value::from("raw"), Value::String(rmpv_invalid_utf8())),
        ]);
        assert_eq!(
            to_line(&value),
            r#"{"action":"odd","7":null,"raw":{"$bin":"ff"}}"#
        );
    }

    fn rmpv_invalid_utf8() -> rmpv::Utf8String {
        // A str whose bytes are not UTF-8, as rmpv decodes one from the wire.
        let mut wire: &[u8] = b"\xa1\xff";
        match rmpv::decode::read_value(&mut wire) {
            Ok(Value::String(s)) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        assert!(from_line("{not json").unwrap_err().starts_with("not JSON"));
        assert!(from_line("[1, 2]").unwrap_err().contains("JSON object"));
        assert!(
            from_line(r#"{"x": 1}"#)
                .unwrap_err()
                .contains("no \"action\"")
        );
        assert!(
            from_line(r#"{"action": 5}"#)
                .unwrap_err()
                .contains("must be a string")
        );
        // Tags only count when exact: a bad hex string stays a map.
        let value = from_line(r#"{"action":"a","b":{"$bin":"zz"}}"#).unwrap();
        assert_eq!(to_line(&value), r#"{"action":"a","b":{"$bin":"zz"}}"#);
    }
}
