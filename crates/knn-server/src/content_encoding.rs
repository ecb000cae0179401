//! Which request `Content-Encoding`s are accepted: `gzip` (decompressed by tower-http's
//! `RequestDecompressionLayer`, which runs next) and `identity`. Anything else is answered here
//! with 415 naming the encoding, in the API's error shape, rather than reaching the JSON parser
//! as unreadable bytes.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api_error::ApiError;

/// The encodings a request body may have, as listed in `Accept-Encoding` on a 415.
pub const SUPPORTED: &str = "gzip, identity";

pub async fn only_supported(mut request: Request, next: Next) -> Response {
    let Some(value) = request.headers().get(header::CONTENT_ENCODING) else {
        return next.run(request).await;
    };
    let encoding = String::from_utf8_lossy(value.as_bytes())
        .trim()
        .to_ascii_lowercase();
    // Encoding names are case-insensitive (RFC 9110 8.4.1); the decompression layer compares
    // bytes, so the header is rewritten to the form it knows.
    let normalized = match encoding.as_str() {
        "gzip" | "x-gzip" => Some("gzip"),
        "identity" | "" => None,
        _ => {
            let mut response = ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Some("content-encoding"),
                format!(
                    "content-encoding {encoding:?} is not supported; send the body as {SUPPORTED}"
                ),
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::ACCEPT_ENCODING, HeaderValue::from_static(SUPPORTED));
            return response;
        }
    };
    match normalized {
        Some(name) => {
            request
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
        }
        None => {
            request.headers_mut().remove(header::CONTENT_ENCODING);
        }
    }
    next.run(request).await
}
