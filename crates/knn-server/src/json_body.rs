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
use crate::request_limits::Deadline;

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
        let deadline = req.extensions().get::<Deadline>().copied();
        let read = Bytes::from_request(req, state);
        let read = match deadline {
            Some(deadline) => deadline.run(read).await?,
            None => read.await,
        };
        let bytes = read.map_err(|rejection| match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                Some("body"),
                "request body exceeds the size limit",
            ),
            status => ApiError::new(status, Some("body"), rejection.body_text()),
        })?;
        parse(&bytes).map(JsonBody)
    }
}

/// Deserialises `bytes`, naming the field on failure.
///
/// The top level must be a JSON object: serde's derived structs also accept an array of the
/// fields in order, so `[[{"id": …}]]` would otherwise pass as an upsert.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if let Some(kind) = top_level_kind(bytes)
        && kind != "an object"
    {
        return Err(ApiError::bad_request(
            "body",
            format!("the request body must be a JSON object, got {kind}"),
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = match lone_surrogate(bytes, inner.line(), inner.column()) {
            Some(escape) => format!(
                "invalid string escape {escape} at line {} column {}: a UTF-16 surrogate must \
                 come as a pair, \\uD800-\\uDBFF followed by \\uDC00-\\uDFFF; alone it is not \
                 a character",
                inner.line(),
                inner.column()
            ),
            None => inner.to_string(),
        };
        ApiError::bad_request(field_of(&path, &message), message)
    })?;
    deserializer
        .end()
        .map_err(|error| ApiError::bad_request("body", error.to_string()))?;
    Ok(value)
}

/// What the body holds at the top level, judged by its first significant byte; `None` where
/// that is not the start of any JSON value (the parser then says what is wrong).
fn top_level_kind(bytes: &[u8]) -> Option<&'static str> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    Some(match first? {
        b'{' => "an object",
        b'[' => "an array",
        b'"' => "a string",
        b'-' | b'0'..=b'9' => "a number",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        _ => return None,
    })
}

/// The `\uXXXX` escape of a surrogate without its partner on `line` before `column`, where
/// serde_json stopped (its own messages for this, "unexpected end of hex escape" or "lone leading
/// surrogate in hex escape", do not say what is wrong). The scan starts at the line's start, which
/// is never inside a string (JSON strings hold no raw newline), and steps over every escape whole,
/// so `\\u` (an escaped backslash and a `u`) is not taken for an escape.
fn lone_surrogate(bytes: &[u8], line: usize, column: usize) -> Option<String> {
    let line_start = if line <= 1 {
        0
    } else {
        bytes
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .nth(line - 2)
            .map(|(i, _)| i + 1)?
    };
    let error_at = line_start + column;
    let mut i = line_start;
    while i < error_at && i + 1 < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        if bytes[i + 1] != b'u' {
            i += 2;
            continue;
        }
        let code = bytes
            .get(i + 2..i + 6)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u16::from_str_radix(hex, 16).ok());
        match code {
            Some(0xD800..=0xDBFF) if low_surrogate_at(bytes, i + 6) => i += 12,
            Some(0xD800..=0xDFFF) => {
                return Some(String::from_utf8_lossy(&bytes[i..i + 6]).into_owned());
            }
            _ => i += 6,
        }
    }
    None
}

fn low_surrogate_at(bytes: &[u8], at: usize) -> bool {
    bytes.get(at..at + 6).is_some_and(|escape| {
        escape.starts_with(b"\\u")
            && std::str::from_utf8(&escape[2..])
                .ok()
                .and_then(|hex| u16::from_str_radix(hex, 16).ok())
                .is_some_and(|code| (0xDC00..=0xDFFF).contains(&code))
    })
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
    fn a_top_level_other_than_an_object_is_named() {
        for (body, kind) in [
            (r#"[[{"id":"a","values":[1]}]]"#, "an array"),
            (r#" "x""#, "a string"),
            ("12", "a number"),
            ("true", "a boolean"),
            ("null", "null"),
        ] {
            let error = parse::<Batch>(body.as_bytes()).unwrap_err();
            assert_eq!(error.field.as_deref(), Some("body"));
            assert_eq!(
                error.message,
                format!("the request body must be a JSON object, got {kind}")
            );
        }
    }

    #[test]
    fn a_lone_surrogate_is_named_with_its_escape_and_field() {
        for (body, escape) in [
            (r#"{"vectors":[{"id":"a\ud800","values":[1]}]}"#, r"\ud800"),
            (r#"{"vectors":[{"id":"a\ud800b","values":[1]}]}"#, r"\ud800"),
            (r#"{"vectors":[{"id":"\uDC00","values":[1]}]}"#, r"\uDC00"),
            (
                r#"{"vectors":[{"id":"x\ud800\ud800","values":[1]}]}"#,
                r"\ud800",
            ),
            (
                "{\"vectors\":[\n{\"id\":\"ok\",\"values\":[1]},\n{\"id\":\"\\ud83d\\ude00\\udbff\"}]}",
                r"\udbff",
            ),
        ] {
            let error = parse::<Batch>(body.as_bytes()).unwrap_err();
            assert!(
                error
                    .message
                    .starts_with(&format!("invalid string escape {escape} at line")),
                "{body}: {}",
                error.message
            );
            assert!(error.message.contains("surrogate"), "{}", error.message);
            assert!(
                error.field.as_deref().is_some_and(|f| f.ends_with(".id")),
                "{body}: {:?}",
                error.field
            );
        }
        // A proper pair is a character and parses.
        let batch =
            parse::<Batch>(r#"{"vectors":[{"id":"\ud83d\ude00","values":[1]}]}"#.as_bytes())
                .unwrap();
        assert_eq!(batch.vectors[0].id, "\u{1F600}");
    }

    #[test]
    fn malformed_json_and_trailing_data_blame_the_body() {
        assert_eq!(field("{").as_deref(), Some("body"));
        assert_eq!(field(r#"{"vectors":[]} x"#).as_deref(), Some("body"));
    }
}
