//! What was wrong with a JSON body that parsed but did not fit the endpoint's shape, told in the
//! caller's language: which field, and what it should have been. Never the value that was sent:
//! serde's own message quotes it, and it may be a name or an e-mail address.

use std::collections::BTreeMap;
use std::error::Error;

use pactum_policy::Lang;
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_path_to_error::Segment;

/// A JSON object of field names to values (a sign-up's `fields`, an order's `buyer`). A name given
/// twice is refused, never settled silently by taking one of the two values.
#[derive(Debug, Default)]
pub struct FieldMap(pub BTreeMap<String, String>);

impl<'de> Deserialize<'de> for FieldMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = FieldMap;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FieldMap, A::Error> {
                let mut fields = BTreeMap::new();
                while let Some(name) = map.next_key::<String>()? {
                    if fields.contains_key(&name) {
                        return Err(serde::de::Error::custom(format!("duplicate field `{name}`")));
                    }
                    let value = map.next_value::<String>()?;
                    fields.insert(name, value);
                }
                Ok(FieldMap(fields))
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

/// One problem with a JSON body: the field's path (`participants[0].email`) and what is wrong.
pub struct JsonProblem {
    pub field: String,
    pub message: String,
}

/// Finds serde's account of the problem under `error` (an axum JSON data rejection) and retells it.
pub fn describe(error: &(dyn Error + 'static), lang: Lang) -> JsonProblem {
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(found) = e.downcast_ref::<serde_path_to_error::Error<serde_json::Error>>() {
            return retell(&path_of(found.path()), &found.inner().to_string(), lang);
        }
        source = e.source();
    }
    retell("", "", lang)
}

/// The field's path, with map keys the caller chose shown only when they look like field names.
fn path_of(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(if field_like(key) { key } else { "…" });
            }
            Segment::Unknown => {}
        }
    }
    out
}

fn field_like(name: &str) -> bool {
    !name.is_empty() && name.len() <= 40 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The name between the first pair of backticks in serde's message (`unknown field `x``).
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(&message[start..end])
}

/// What serde expected, from its `…, expected <what>` (at line …), in Danish and English.
fn expected(message: &str) -> Option<(&'static str, &'static str)> {
    let after = &message[message.find(", expected ")? + ", expected ".len()..];
    let what = after.split(" at line ").next().unwrap_or(after).trim();
    Some(match what {
        w if w.starts_with("struct ") || w == "a map" => ("et JSON-objekt", "a JSON object"),
        "a string" | "a borrowed string" => ("en tekst", "a string"),
        "a boolean" => ("true eller false", "true or false"),
        "a sequence" => ("en liste", "a list"),
        "UUID" => {
            ("et id som 0190e8a4-5f2b-7c3d-9e1f-2a3b4c5d6e7f", "an id such as 0190e8a4-5f2b-7c3d-9e1f-2a3b4c5d6e7f")
        }
        w if w.starts_with('u') || w.starts_with('i') || w.contains("integer") => ("et helt tal", "a whole number"),
        _ => return None,
    })
}

/// Serde's `message` about the value at `field` (the path, empty for the body itself), retold.
fn retell(field: &str, message: &str, lang: Lang) -> JsonProblem {
    let name = || quoted(message).map(|n| if field_like(n) { n } else { "…" }).unwrap_or_default();
    let (field, da, en) = if message.starts_with("missing field") {
        // The path ends at the object the field is missing from.
        let full = if field.is_empty() { name().to_string() } else { format!("{field}.{}", name()) };
        let da = format!("Feltet «{full}» mangler. Tilføj det og send igen.");
        let en = format!("The field «{full}» is missing. Add it and send again.");
        (full, da, en)
    } else if message.starts_with("unknown field") {
        // The path already ends at the unknown field.
        let full = if field.is_empty() { name().to_string() } else { field.to_string() };
        let da = format!("Feltet «{full}» kendes ikke her. Fjern det og send igen.");
        let en = format!("The field «{full}» is not known here. Remove it and send again.");
        (full, da, en)
    } else if message.starts_with("duplicate field") {
        // The path ends at the object the field stands twice in.
        let full = if field.is_empty() { name().to_string() } else { format!("{field}.{}", name()) };
        let da = format!("Feltet «{full}» står to gange. Send det én gang.");
        let en = format!("The field «{full}» is given twice. Send it once.");
        (full, da, en)
    } else {
        let shown = if field.is_empty() { "(body)".to_string() } else { field.to_string() };
        let (da, en) = match expected(message) {
            Some((da, en)) => {
                (format!("Feltet «{shown}» skal være {da}."), format!("The field «{shown}» must be {en}."))
            }
            None => (
                format!("Feltet «{shown}» har en værdi af forkert slags. Ret den og send igen."),
                format!("The field «{shown}» has a value of the wrong kind. Fix it and send again."),
            ),
        };
        (shown, da, en)
    };
    JsonProblem {
        field,
        message: match lang {
            Lang::Da => da,
            Lang::En => en,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        session_id: uuid::Uuid,
        fields: FieldMap,
        seats: Option<u32>,
        participants: Option<Vec<Participant>>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Participant {
        email: String,
    }

    fn problem(json: &str, lang: Lang) -> JsonProblem {
        let de = &mut serde_json::Deserializer::from_str(json);
        let err = serde_path_to_error::deserialize::<_, Body>(de).expect_err("the body does not fit");
        describe(&err, lang)
    }

    const ID: &str = "\"0190e8a4-5f2b-7c3d-9e1f-2a3b4c5d6e7f\"";

    #[test]
    fn a_wrong_type_names_the_field_and_the_kind_but_never_the_value() {
        let p = problem(&format!("{{\"session_id\":{ID},\"fields\":\"Jens Jensen jens@eksempel.dk\"}}"), Lang::Da);
        assert_eq!(p.field, "fields");
        assert_eq!(p.message, "Feltet «fields» skal være et JSON-objekt.");
        let p = problem(&format!("{{\"session_id\":{ID},\"fields\":{{}},\"seats\":\"jens@eksempel.dk\"}}"), Lang::En);
        assert_eq!(p.message, "The field «seats» must be a whole number.");
        assert!(!p.message.contains("jens"));
    }

    #[test]
    fn nested_fields_missing_and_unknown_fields_are_named() {
        let p = problem(&format!("{{\"session_id\":{ID},\"fields\":{{}},\"participants\":[{{}}]}}"), Lang::En);
        assert_eq!(p.field, "participants[0].email");
        assert_eq!(p.message, "The field «participants[0].email» is missing. Add it and send again.");
        let p = problem(&format!("{{\"session_id\":{ID},\"fields\":{{}},\"foo\":1}}"), Lang::Da);
        assert_eq!(p.message, "Feltet «foo» kendes ikke her. Fjern det og send igen.");
        let p = problem("{\"fields\":{}}", Lang::Da);
        assert_eq!(p.message, "Feltet «session_id» mangler. Tilføj det og send igen.");
    }

    #[test]
    fn a_field_given_twice_is_named_and_refused() {
        let p = problem(
            &format!("{{\"session_id\":{ID},\"fields\":{{\"email\":\"a@b.dk\",\"email\":\"c@d.dk\"}}}}"),
            Lang::En,
        );
        assert_eq!(p.field, "fields.email");
        assert_eq!(p.message, "The field «fields.email» is given twice. Send it once.");
        let p = problem(&format!("{{\"session_id\":{ID},\"session_id\":{ID},\"fields\":{{}}}}"), Lang::Da);
        assert_eq!(p.field, "session_id");
        assert_eq!(p.message, "Feltet «session_id» står to gange. Send det én gang.");
        let p = problem(
            &format!("{{\"session_id\":{ID},\"fields\":{{\"jens@x.dk\":\"a\",\"jens@x.dk\":\"b\"}}}}"),
            Lang::En,
        );
        assert_eq!(p.field, "fields.…");
        assert!(!p.message.contains("jens"), "{}", p.message);
    }

    #[test]
    fn a_map_key_that_is_not_a_field_name_is_not_echoed() {
        let p = problem(&format!("{{\"session_id\":{ID},\"fields\":{{\"jens@eksempel.dk\":5}}}}"), Lang::En);
        assert_eq!(p.field, "fields.…");
        assert!(!p.message.contains("jens"), "{}", p.message);
        let p = problem("{\"session_id\":\"jens@eksempel.dk\",\"fields\":{}}", Lang::En);
        assert!(!p.message.contains("jens"), "{}", p.message);
        assert_eq!(p.field, "session_id");
    }
}
