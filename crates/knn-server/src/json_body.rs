//! A JSON body extractor whose errors name the offending field.
//!
//! axum's `Json` reports a position in the text; clients need the field. Deserialising through
//! `serde_path_to_error` yields the path (`vectors[3].values[1]`) of whatever failed: a wrong type,
//! a number that does not fit, an unknown or missing field.

use std::io::{self, Read};

use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use tokio::runtime::Handle;

use crate::api_error::ApiError;
use crate::body_reader::{BodyFailure, BodyReader};
use crate::parse_budget;
use crate::request_limits::Deadline;

/// The most bytes one string of a body (a key or a value) may take as sent. The longest any field
/// accepts is an id of 512 bytes, up to six bytes of JSON each (`\u0000`); the parser holds a
/// whole string at once, so this also bounds what it holds besides the parsed request.
pub const MAX_STRING_TOKEN: usize = 64 * 1024;

/// The body limit, which bounds both the body as sent and what it becomes parsed.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send + 'static,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
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
        let limit = req.extensions().get::<BodyLimit>().map(|limit| limit.0);
        let runtime = Handle::current();
        let body = req.into_body();
        // The parser reads as the body arrives, so it runs where it may wait.
        let parsed = tokio::task::spawn_blocking(move || {
            let mut reader = BodyReader::new(body, runtime, deadline.map(|d| d.at));
            // A read that failed is named by the reader's failure, after the parse.
            let parse = |reader: &mut BodyReader| match reader.first_significant_byte() {
                Ok(first) => decode(reader, first).map_err(Some),
                Err(_) => Err(None),
            };
            let (parsed, over_budget) = match limit {
                Some(limit) => parse_budget::within(limit, || parse(&mut reader)),
                None => (parse(&mut reader), false),
            };
            match (reader.failure, over_budget) {
                (Some(failure), _) => Err(body_failure(failure, limit, deadline)),
                (None, true) => Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    Some("body"),
                    format!(
                        "the request body would take more than {} bytes of memory parsed, the \
                         body limit (--max-body-bytes); send fewer vectors a request",
                        limit.unwrap_or_default()
                    ),
                )),
                (None, false) => parsed.map_err(|error| {
                    error.unwrap_or_else(|| {
                        ApiError::bad_request("body", "the body could not be read")
                    })
                }),
            }
        })
        .await
        .map_err(|error| ApiError::internal("parsing a request body", &error))?;
        parsed.map(JsonBody)
    }
}

fn body_failure(
    failure: BodyFailure,
    limit: Option<usize>,
    deadline: Option<Deadline>,
) -> ApiError {
    match (failure, deadline) {
        (BodyFailure::TooLarge, _) => ApiError::body_too_large(limit.unwrap_or_default()),
        (BodyFailure::Deadline, Some(deadline)) => deadline.exceeded(),
        _ => ApiError::bad_request(
            "body",
            "the request body could not be read (connection closed or not valid gzip)",
        ),
    }
}

/// Deserialises `bytes`, naming the field on failure.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().copied().find(|b| !b.is_ascii_whitespace());
    decode(bytes, first)
}

/// Deserialises what `source` reads, naming the field on failure; `first` is its first byte
/// that is not whitespace.
///
/// The top level must be a JSON object: serde's derived structs also accept an array of the
/// fields in order, so `[[{"id": …}]]` would otherwise pass as an upsert.
fn decode<T: DeserializeOwned>(source: impl Read, first: Option<u8>) -> Result<T, ApiError> {
    if let Some(kind) = first.and_then(top_level_kind)
        && kind != "an object"
    {
        return Err(ApiError::bad_request(
            "body",
            format!("the request body must be a JSON object, got {kind}"),
        ));
    }
    let mut scanner = Scanner::new(source);
    let parsed = {
        let mut deserializer = serde_json::Deserializer::from_reader(&mut scanner);
        serde_path_to_error::deserialize::<_, T>(&mut deserializer).map(|value| {
            deserializer
                .end()
                .map(|()| value)
                .map_err(|error| ApiError::bad_request("body", error.to_string()))
        })
    };
    parsed.map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let surrogate = inner.is_syntax().then(|| lone_surrogate(&scanner.recent()));
        let message = match surrogate.flatten() {
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
    })?
}

/// What a body holds at the top level, judged by its first significant byte; `None` where
/// that is not the start of any JSON value (the parser then says what is wrong).
fn top_level_kind(first: u8) -> Option<&'static str> {
    Some(match first {
        b'{' => "an object",
        b'[' => "an array",
        b'"' => "a string",
        b'-' | b'0'..=b'9' => "a number",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        _ => return None,
    })
}

/// How many of the last bytes read are kept to name a bad escape.
const RECENT: usize = 64;

/// Passes the body to the parser, refusing a string longer than [`MAX_STRING_TOKEN`] and
/// keeping the last [`RECENT`] bytes.
struct Scanner<R> {
    source: R,
    in_string: bool,
    escaped: bool,
    string_len: usize,
    recent: [u8; RECENT],
    read: usize,
}

impl<R: Read> Scanner<R> {
    fn new(source: R) -> Self {
        Scanner {
            source,
            in_string: false,
            escaped: false,
            string_len: 0,
            recent: [0; RECENT],
            read: 0,
        }
    }

    /// The last bytes read, oldest first, and whether they start at the body's start.
    fn recent(&self) -> Recent {
        let kept = self.read.min(RECENT);
        let bytes = (self.read - kept..self.read)
            .map(|i| self.recent[i % RECENT])
            .collect();
        Recent {
            bytes,
            whole_body: self.read <= RECENT,
        }
    }
}

impl<R: Read> Read for Scanner<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.source.read(buf)?;
        for &byte in &buf[..n] {
            self.recent[self.read % RECENT] = byte;
            self.read += 1;
            if !self.in_string {
                self.in_string = byte == b'"';
                self.string_len = 0;
                continue;
            }
            if self.escaped {
                self.escaped = false;
            } else if byte == b'\\' {
                self.escaped = true;
            } else if byte == b'"' {
                self.in_string = false;
                continue;
            }
            self.string_len += 1;
            if self.string_len > MAX_STRING_TOKEN {
                return Err(io::Error::other(format!(
                    "a string longer than {MAX_STRING_TOKEN} bytes; no field takes one"
                )));
            }
        }
        Ok(n)
    }
}

struct Recent {
    bytes: Vec<u8>,
    /// Whether `bytes` starts at the body's start, so that a run of backslashes at its start
    /// is the whole run.
    whole_body: bool,
}

/// The `\uXXXX` escape of a surrogate without its partner, where serde_json stopped: within the
/// last bytes it read (its own messages for this, "unexpected end of hex escape", "lone leading
/// surrogate in hex escape" or "invalid unicode code point", do not say what is wrong). An escape
/// is one whose backslash follows an even run of backslashes, so `\\u` (an escaped backslash
/// and a `u`) is not taken for one.
fn lone_surrogate(recent: &Recent) -> Option<String> {
    let bytes = &recent.bytes;
    // serde_json stops at most one byte past the escape and its partner's start.
    let near_end = bytes.len().saturating_sub(14);
    let is_escape = |i: usize| {
        let run = bytes[..=i]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        (run <= i || recent.whole_body) && run % 2 == 1
    };
    let surrogate_at = |i: usize| -> Option<u16> {
        if bytes.get(i) != Some(&b'\\') || bytes.get(i + 1) != Some(&b'u') || !is_escape(i) {
            return None;
        }
        let hex = std::str::from_utf8(bytes.get(i + 2..i + 6)?).ok()?;
        u16::from_str_radix(hex, 16)
            .ok()
            .filter(|code| (0xD800..=0xDFFF).contains(code))
    };
    let last = (near_end..bytes.len())
        .rev()
        .find(|&i| surrogate_at(i).is_some())?;
    let code = surrogate_at(last)?;
    let paired = (0xDC00..=0xDFFF).contains(&code)
        && last >= 6
        && surrogate_at(last - 6).is_some_and(|high| (0xD800..=0xDBFF).contains(&high));
    if paired {
        return None;
    }
    Some(String::from_utf8_lossy(&bytes[last..last + 6]).into_owned())
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
    fn a_lone_surrogate_far_into_the_body_is_named() {
        let items: Vec<String> = (0..50)
            .map(|i| format!(r#"{{"id":"v{i}","values":[1]}}"#))
            .collect();
        let body = format!(
            r#"{{"vectors":[{},{{"id":"x\\\ud800","values":[1]}}]}}"#,
            items.join(",")
        );
        let error = parse::<Batch>(body.as_bytes()).unwrap_err();
        assert!(
            error
                .message
                .starts_with(r"invalid string escape \ud800 at line 1"),
            "{}",
            error.message
        );
        assert_eq!(error.field.as_deref(), Some("vectors[50].id"));
    }

    #[test]
    fn an_escaped_backslash_before_u_is_no_escape() {
        let batch = parse::<Batch>(br#"{"vectors":[{"id":"a\\ud800","values":[1]}]}"#).unwrap();
        assert_eq!(batch.vectors[0].id, r"a\ud800");
    }

    #[test]
    fn a_string_longer_than_any_field_takes_is_refused_with_its_field() {
        let long = "x".repeat(MAX_STRING_TOKEN + 1);
        let body = format!(r#"{{"vectors":[{{"id":"{long}","values":[1]}}]}}"#);
        let error = parse::<Batch>(body.as_bytes()).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("vectors[0].id"));
        assert!(
            error
                .message
                .contains(&format!("longer than {MAX_STRING_TOKEN} bytes")),
            "{}",
            error.message
        );
        // One byte shorter is a string like any other (the id's own limit is checked later).
        let body = format!(r#"{{"vectors":[{{"id":"{}","values":[1]}}]}}"#, &long[1..]);
        assert_eq!(
            parse::<Batch>(body.as_bytes()).unwrap().vectors[0].id.len(),
            MAX_STRING_TOKEN
        );
    }

    #[test]
    fn malformed_json_and_trailing_data_blame_the_body() {
        assert_eq!(field("{").as_deref(), Some("body"));
        assert_eq!(field(r#"{"vectors":[]} x"#).as_deref(), Some("body"));
    }
}
