//! A JSON body extractor whose errors name the offending field.
//!
//! axum's `Json` reports a position in the text; clients need the field. Deserialising through
//! `serde_path_to_error` yields the path (`vectors[3].values[1]`) of whatever failed: a wrong type,
//! a number that does not fit, an unknown or missing field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::api_error::ApiError;

pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Some("content-type"),
                "expected content-type application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    Some("body"),
                    "request body exceeds the size limit",
                ),
                status => ApiError::new(status, Some("body"), rejection.body_text()),
            }
        })?;
        parse(&bytes).map(JsonBody)
    }
}

/// Deserialises `bytes`, naming the field on failure.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = inner.to_string();
        ApiError::bad_request(field_of(&path, &message), message)
    })?;
    deserializer
        .end()
        .map_err(|error| ApiError::bad_request("body", error.to_string()))?;
    Ok(value)
}

/// The path of the failing field. A missing field fails at its parent, so its name is taken
/// from serde's message ("missing field `k`").
fn field_of(path: &str, message: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    // serde_path_to_error writes the root as "." and a position it could not track as "?".
    match (path, missing) {
        ("." | "?", Some(name)) => name.to_owned(),
        ("." | "?", None) => "body".to_owned(),
        (parent, Some(name)) => format!("{parent}.{name}"),
        (path, None) => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        id: String,
        values: Vec<f32>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Batch {
        vectors: Vec<Item>,
    }

    fn field(body: &str) -> Option<String> {
        parse::<Batch>(body.as_bytes()).unwrap_err().field
    }

    #[test]
    fn names_the_nested_field_of_a_type_error() {
        let body = r#"{"vectors":[{"id":"a","values":[1]},{"id":"b","values":[1,"x"]}]}"#;
        assert_eq!(field(body).as_deref(), Some("vectors[1].values[1]"));
    }

    #[test]
    fn names_a_number_that_overflows_json() {
        let body = r#"{"vectors":[{"id":"a","values":[1e999]}]}"#;
        assert_eq!(field(body).as_deref(), Some("vectors[0].values[0]"));
    }

    #[test]
    fn names_missing_and_unknown_fields() {
        assert_eq!(
            field(r#"{"vectors":[{"id":"a"}]}"#).as_deref(),
            Some("vectors[0].values")
        );
        assert_eq!(field(r#"{}"#).as_deref(), Some("vectors"));
        assert_eq!(
            field(r#"{"vectors":[],"extra":1}"#).as_deref(),
            Some("extra")
        );
    }

    #[test]
    fn malformed_json_and_trailing_data_blame_the_body() {
        assert_eq!(field("{").as_deref(), Some("body"));
        assert_eq!(field(r#"{"vectors":[]} x"#).as_deref(), Some("body"));
    }
}
