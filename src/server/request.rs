//! Check requests: JSON bodies (`CONTRACT.md` §3) turned into an engine
//! [`Check`] plus the institution and `client_ref`, or a 400 naming the
//! field at fault. The rules a check must meet (the date window) are the
//! engine's ([`Rules`]); this module only reads JSON.
//!
//! The body is read into borrowed strings in one pass (no intermediate JSON
//! tree); a field of the wrong JSON type is remembered rather than failing
//! the parse, so the error can name it. Unknown fields are ignored, so that
//! clients may send fields a later version understands.

use crate::crl::certificate::UserCertificate;
use crate::engine::rules::{RuleBroken, Rules};
use crate::engine::{Check, Query};
use crate::model::ErrorCode;
use crate::model::{CardFaceKey, Date, InstitutionCode, OnlineNumber, Serial};
use crate::server::http::response::ApiError;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

/// Longest `client_ref` echoed back, in bytes.
pub(super) const MAX_CLIENT_REF_BYTES: usize = 256;

/// Which kind of check a body asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CheckKind {
    Card,
    Number,
}

/// A validated check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct CheckRequest {
    pub institution: InstitutionCode,
    /// What the engine answers.
    pub check: Check,
    pub client_ref: Option<String>,
}

fn broken(rule: RuleBroken) -> ApiError {
    ApiError::field(rule.field, rule.problem)
}

/// A field's JSON value, as far as validation cares.
#[derive(Debug)]
enum Value<'de> {
    Str(Cow<'de, str>),
    Null,
    /// Any other JSON type, by name, for the error message.
    Other(&'static str),
}

/// Every field a check body may carry.
const FIELD_NAMES: [&str; 12] = [
    "kind",
    "institution",
    "serial",
    "certificate",
    "online_number",
    "insurer_number",
    "symbol",
    "number",
    "branch",
    "birth_date",
    "date",
    "client_ref",
];

/// The values of [`FIELD_NAMES`], in that order.
#[derive(Debug)]
struct Fields<'de> {
    values: [Option<Value<'de>>; FIELD_NAMES.len()],
}

/// Fields of the insurance-card path, refused on the card path and the
/// other way round: a body that mixes them is a client bug worth naming.
const NUMBER_FIELDS: [&str; 5] = [
    "online_number",
    "insurer_number",
    "symbol",
    "number",
    "branch",
];
const CARD_FIELDS: [&str; 2] = ["serial", "certificate"];

/// The endpoint and JSON body that ask `query` for `institution` (the
/// inverse of `parse_check`, for examples and load clients).
pub fn check_request(query: &Query, institution: &str) -> (&'static str, serde_json::Value) {
    use serde_json::json;
    let date = |d: &Option<Date>| d.map(|d| d.to_string());
    match query {
        Query::Card { serial } => (
            "/v1/check/card",
            json!({"institution": institution, "serial": serial.to_string()}),
        ),
        Query::OnlineNumber { number, birth_date } => (
            "/v1/check/number",
            json!({"institution": institution, "online_number": number.as_str(), "birth_date": date(birth_date)}),
        ),
        Query::CardFace { key, birth_date } => (
            "/v1/check/number",
            json!({
                "institution": institution,
                "insurer_number": key.insurer_number.as_str(),
                "symbol": key.symbol,
                "number": key.number,
                "branch": key.branch.map(|b| b.as_str().to_string()),
                "birth_date": date(birth_date),
            }),
        ),
    }
}

/// Parses and validates one check body. `kind` is the endpoint's kind, or
/// `None` for a bulk line (which names its kind). On failure the echoed
/// `client_ref` is returned with the error when it could be read.
pub(super) fn parse_check(
    body: &[u8],
    kind: Option<CheckKind>,
    rules: &Rules,
) -> Result<CheckRequest, (ApiError, Option<String>)> {
    let fields = Fields::parse(body).map_err(|e| (e, None))?;
    let client_ref = fields.client_ref().map_err(|e| (e, None))?;
    fields
        .validate(kind, rules, client_ref.clone())
        .map_err(|e| (e, client_ref))
}

/// The institution a body names, if that much of it can be read (for the
/// check-log record of a request refused as malformed).
pub(super) fn institution_of(body: &[u8]) -> Option<InstitutionCode> {
    let fields = Fields::parse(body).ok()?;
    InstitutionCode::parse(fields.text("institution").ok()??).ok()
}

impl<'de> Fields<'de> {
    fn parse(body: &'de [u8]) -> Result<Fields<'de>, ApiError> {
        let mut de = serde_json::Deserializer::from_slice(body);
        let fields = Fields::deserialize(&mut de).and_then(|f| de.end().map(|()| f));
        fields.map_err(|e| {
            let problem = match e.classify() {
                serde_json::error::Category::Data => format!("expected a JSON object ({e})"),
                _ => format!("not valid JSON ({e})"),
            };
            ApiError::new(ErrorCode::BadRequest, format!("body: {problem}"))
        })
    }

    fn get(&self, name: &'static str) -> Option<&Value<'de>> {
        let index = FIELD_NAMES.iter().position(|&n| n == name)?;
        self.values[index].as_ref()
    }

    /// The field as text: `None` when absent, null or empty; a 400 when it is
    /// not a string.
    fn text(&self, name: &'static str) -> Result<Option<&str>, ApiError> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Str(text)) if text.trim().is_empty() => Ok(None),
            Some(Value::Str(text)) => Ok(Some(text)),
            Some(Value::Other(kind)) => Err(ApiError::field(
                name,
                format!("must be a string, not {kind}"),
            )),
        }
    }

    fn required(&self, name: &'static str, hint: &str) -> Result<&str, ApiError> {
        self.text(name)?
            .ok_or_else(|| ApiError::field(name, format!("required{hint}")))
    }

    fn client_ref(&self) -> Result<Option<String>, ApiError> {
        match self.text("client_ref")? {
            Some(text) if text.len() > MAX_CLIENT_REF_BYTES => Err(ApiError::field(
                "client_ref",
                format!("longer than {MAX_CLIENT_REF_BYTES} bytes"),
            )),
            other => Ok(other.map(str::to_string)),
        }
    }

    fn validate(
        &self,
        kind: Option<CheckKind>,
        rules: &Rules,
        client_ref: Option<String>,
    ) -> Result<CheckRequest, ApiError> {
        let kind = match kind {
            Some(kind) => kind,
            None => match self.required("kind", " (card or number)")? {
                "card" => CheckKind::Card,
                "number" => CheckKind::Number,
                other => {
                    return Err(ApiError::field(
                        "kind",
                        format!("`{other}` is neither card nor number"),
                    ))
                }
            },
        };
        let institution = InstitutionCode::parse(self.required("institution", "")?)
            .map_err(|e| ApiError::field("institution", e))?;
        let date = self.date(rules)?;
        let (query, certificate) = match kind {
            CheckKind::Card => self.card_query()?,
            CheckKind::Number => (self.number_query()?, None),
        };
        rules.admit(&query).map_err(broken)?;
        Ok(CheckRequest {
            institution,
            check: Check {
                query,
                date,
                certificate,
            },
            client_ref,
        })
    }

    /// The treatment date asked for, within the rules' window.
    fn date(&self, rules: &Rules) -> Result<Date, ApiError> {
        let requested = self
            .text("date")?
            .map(Date::parse)
            .transpose()
            .map_err(|e| ApiError::field("date", e))?;
        rules.treatment_date(requested).map_err(broken)
    }

    fn refuse_fields(&self, names: &[&'static str], path: &str) -> Result<(), ApiError> {
        for &name in names {
            if self.text(name)?.is_some() {
                return Err(ApiError::field(
                    name,
                    format!("not a field of {path} checks"),
                ));
            }
        }
        Ok(())
    }

    fn card_query(&self) -> Result<(Query, Option<Box<UserCertificate>>), ApiError> {
        self.refuse_fields(&NUMBER_FIELDS, "card")?;
        self.refuse_fields(&["birth_date"], "card")?;
        match (self.text("serial")?, self.text("certificate")?) {
            (Some(_), Some(_)) => Err(ApiError::field(
                "certificate",
                "give serial or certificate, not both",
            )),
            (None, Some(text)) => {
                let certificate = UserCertificate::parse(text.as_bytes())
                    .map_err(|e| ApiError::field("certificate", e))?;
                let serial = certificate.serial();
                Ok((Query::Card { serial }, Some(Box::new(certificate))))
            }
            (None, None) => Err(ApiError::field("serial", "required (or certificate)")),
            (Some(serial), None) => Serial::parse(serial)
                .map(|serial| (Query::Card { serial }, None))
                .map_err(|e| ApiError::field("serial", e)),
        }
    }

    fn number_query(&self) -> Result<Query, ApiError> {
        self.refuse_fields(&CARD_FIELDS, "number")?;
        let birth_date = self
            .text("birth_date")?
            .map(Date::parse)
            .transpose()
            .map_err(|e| ApiError::field("birth_date", e))?;
        if let Some(number) = self.text("online_number")? {
            self.refuse_fields(
                &["insurer_number", "symbol", "number", "branch"],
                "online-number",
            )?;
            let number =
                OnlineNumber::parse(number).map_err(|e| ApiError::field("online_number", e))?;
            return Ok(Query::OnlineNumber { number, birth_date });
        }
        let insurer = self.required("insurer_number", " (or online_number)")?;
        let number = self.required("number", " (the card number, 番号)")?;
        let key = CardFaceKey::parse(
            insurer,
            self.text("symbol")?.unwrap_or(""),
            number,
            self.text("branch")?.unwrap_or(""),
        )
        .map_err(|(field, e)| ApiError::field(field, e))?;
        Ok(Query::CardFace { key, birth_date })
    }
}

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
                let mut fields = Fields {
                    values: std::array::from_fn(|_| None),
                };
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let index = FIELD_NAMES.iter().position(|&n| n == key);
                    match index.map(|i| &mut fields.values[i]) {
                        Some(slot) if slot.is_some() => {
                            return Err(serde::de::Error::custom(format!(
                                "field `{key}` given twice"
                            )))
                        }
                        Some(slot) => *slot = Some(map.next_value::<Value<'de>>()?),
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(fields)
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

impl<'de> Deserialize<'de> for Value<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = Value<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Value<'de>, E> {
                Ok(Value::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Value<'de>, E> {
                Ok(Value::Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Value<'de>, E> {
                Ok(Value::Str(Cow::Owned(v)))
            }
            fn visit_unit<E>(self) -> Result<Value<'de>, E> {
                Ok(Value::Null)
            }
            fn visit_none<E>(self) -> Result<Value<'de>, E> {
                Ok(Value::Null)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Value<'de>, E> {
                Ok(Value::Other("a boolean"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Value<'de>, E> {
                Ok(Value::Other("a number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Value<'de>, E> {
                Ok(Value::Other("a number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Value<'de>, E> {
                Ok(Value::Other("a number"))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Value<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Value::Other("an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Value::Other("an object"))
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            today: Date::parse("2026-11-21").unwrap(),
            max_past_days: 31,
            require_birth_date: false,
        }
    }

    fn parse(body: &str, kind: Option<CheckKind>) -> Result<CheckRequest, ApiError> {
        parse_check(body.as_bytes(), kind, &rules()).map_err(|(e, _)| e)
    }

    #[test]
    fn the_contract_examples_parse() {
        let card = parse(
            r#"{"institution": "1312345678", "serial": "0x1a2b3c", "date": "2026-11-21", "client_ref": "P-0001"}"#,
            Some(CheckKind::Card),
        )
        .unwrap();
        assert_eq!(
            card.check.query,
            Query::Card {
                serial: Serial::parse("0x1a2b3c").unwrap()
            }
        );
        assert_eq!(card.client_ref.as_deref(), Some("P-0001"));
        let number = parse(
            r#"{"institution": "1312345678", "online_number": "061390180000000000012345"}"#,
            Some(CheckKind::Number),
        )
        .unwrap();
        assert_eq!(number.check.date, rules().today);
        let face = parse(
            r#"{"kind": "number", "institution": "1312345678", "insurer_number": "06139018", "symbol": "12", "number": "345",
                "branch": "01", "birth_date": "1980-04-01", "date": "2026-11-21", "client_ref": "P-0002", "future_field": [1]}"#,
            None,
        )
        .unwrap();
        assert!(matches!(
            face.check.query,
            Query::CardFace {
                birth_date: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn every_error_names_its_field() {
        let card = Some(CheckKind::Card);
        let number = Some(CheckKind::Number);
        let cases: [(&str, Option<CheckKind>, &str); 16] = [
            (r#"{"serial": "1"}"#, card, "institution"),
            (
                r#"{"institution": "12", "serial": "1"}"#,
                card,
                "institution",
            ),
            (
                r#"{"institution": 1312345678, "serial": "1"}"#,
                card,
                "institution",
            ),
            (r#"{"institution": "1312345678"}"#, card, "serial"),
            (
                r#"{"institution": "1312345678", "serial": "0xZZ"}"#,
                card,
                "serial",
            ),
            (
                r#"{"institution": "1312345678", "serial": "1", "date": "2026-11-22"}"#,
                card,
                "date",
            ),
            (
                r#"{"institution": "1312345678", "serial": "1", "date": "2026-10-01"}"#,
                card,
                "date",
            ),
            (
                r#"{"institution": "1312345678", "serial": "1", "date": "21/11/2026"}"#,
                card,
                "date",
            ),
            (
                r#"{"institution": "1312345678", "serial": "1", "online_number": "131001000012345"}"#,
                card,
                "online_number",
            ),
            (r#"{"institution": "1312345678"}"#, number, "insurer_number"),
            (
                r#"{"institution": "1312345678", "online_number": "12"}"#,
                number,
                "online_number",
            ),
            (
                r#"{"institution": "1312345678", "insurer_number": "06139018"}"#,
                number,
                "number",
            ),
            (
                r#"{"institution": "1312345678", "insurer_number": "06139019", "number": "1"}"#,
                number,
                "insurer_number",
            ),
            (
                r#"{"institution": "1312345678", "online_number": "131001000012345", "birth_date": "x"}"#,
                number,
                "birth_date",
            ),
            (
                r#"{"institution": "1312345678", "serial": "1"}"#,
                None,
                "kind",
            ),
            (
                r#"{"kind": "fax", "institution": "1312345678"}"#,
                None,
                "kind",
            ),
        ];
        for (body, kind, field) in cases {
            let error = parse(body, kind).unwrap_err();
            assert_eq!(error.field, Some(field), "{body}: {error:?}");
            assert!(error.message.starts_with(field), "{}", error.message);
            assert_eq!(crate::server::http::response::status_of(error.code), 400);
        }
    }

    #[test]
    fn malformed_bodies_are_refused_as_a_whole() {
        for body in [
            "",
            "{",
            "[1,2]",
            "\"text\"",
            "{\"serial\": \"1\"} trailing",
            "{\"serial\":\"1\",\"serial\":\"2\"}",
        ] {
            let error = parse(body, Some(CheckKind::Card)).unwrap_err();
            assert!(
                error.message.starts_with("body: "),
                "{body}: {}",
                error.message
            );
        }
    }

    #[test]
    fn certificates_are_decoded_and_malformed_ones_refused_naming_the_field() {
        let ca = crate::gen::pki::TestCa::new(7, 0).unwrap();
        let serial = Serial::parse("0x0102030405060708090a0b0c0d0e0f1011121314").unwrap();
        let today = Date::parse("2026-11-21").unwrap();
        let pem = ca
            .issue(&serial, today.add_days(-10), today.add_days(10))
            .unwrap();
        let base64_der: String = pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        for text in [pem.clone(), base64_der.clone()] {
            let body = serde_json::json!({"institution": "1312345678", "certificate": text});
            let request = parse(&body.to_string(), Some(CheckKind::Card)).unwrap();
            assert_eq!(request.check.query, Query::Card { serial });
            assert_eq!(request.check.certificate.unwrap().serial(), serial);
        }
        let truncated = &base64_der[..base64_der.len() / 2 / 4 * 4];
        for bad in [
            "MIIB",
            "not base64 at all!",
            truncated,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
        ] {
            let body = serde_json::json!({"institution": "1312345678", "certificate": bad});
            let error = parse(&body.to_string(), Some(CheckKind::Card)).unwrap_err();
            assert_eq!(error.code, ErrorCode::BadRequest, "{bad}");
            assert_eq!(error.field, Some("certificate"), "{bad}");
            assert!(
                error.message.starts_with("certificate: "),
                "{}",
                error.message
            );
        }
    }

    #[test]
    fn escaped_strings_and_client_ref_survive() {
        let request = parse(
            r#"{"institution": "1312345678", "serial": "12", "client_ref": "P\u002d\"1\""}"#,
            Some(CheckKind::Card),
        )
        .unwrap();
        assert_eq!(request.client_ref.as_deref(), Some("P-\"1\""));
        let long = format!(
            r#"{{"institution": "1312345678", "serial": "12", "client_ref": "{}"}}"#,
            "x".repeat(MAX_CLIENT_REF_BYTES + 1)
        );
        let (error, echoed) =
            parse_check(long.as_bytes(), Some(CheckKind::Card), &rules()).unwrap_err();
        assert_eq!(error.field, Some("client_ref"));
        assert_eq!(echoed, None);
    }

    #[test]
    fn check_request_is_the_inverse_of_parse_check() {
        let queries = [
            Query::Card {
                serial: Serial::parse("0x1a2b3c").unwrap(),
            },
            Query::OnlineNumber {
                number: OnlineNumber::parse("061390180000000000012345").unwrap(),
                birth_date: Some(rules().today),
            },
            Query::CardFace {
                key: CardFaceKey::parse("06139018", "12", "345", "01").unwrap(),
                birth_date: None,
            },
        ];
        for query in queries {
            let (path, body) = check_request(&query, "1312345678");
            let kind = if path.ends_with("card") {
                CheckKind::Card
            } else {
                CheckKind::Number
            };
            let parsed = parse(&body.to_string(), Some(kind)).unwrap();
            assert_eq!(parsed.check.query, query);
        }
    }

    #[test]
    fn birth_date_can_be_required_for_card_faces() {
        let strict = Rules {
            require_birth_date: true,
            ..rules()
        };
        let body =
            br#"{"institution": "1312345678", "insurer_number": "06139018", "number": "345"}"#;
        let (error, _) = parse_check(body, Some(CheckKind::Number), &strict).unwrap_err();
        assert_eq!(error.field, Some("birth_date"));
        assert!(parse_check(body, Some(CheckKind::Number), &rules()).is_ok());
    }
}
