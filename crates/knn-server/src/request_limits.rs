//! Limits on requests in flight: how many at once (503 with `Retry-After` beyond it) and how long
//! each may take to arrive and to be answered (408). The time limit is a [`Deadline`] in the
//! request's extensions, which the body extractor and the query honour; a write, once handed to
//! storage, runs to its end, so a 408 always means nothing was changed. `/health` is outside
//! both limits, so a flood of slow requests leaves it answering.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::api_error::ApiError;

#[derive(Clone)]
pub struct RequestLimits {
    slots: Arc<Semaphore>,
    max_concurrent: usize,
    timeout: Duration,
}

impl RequestLimits {
    pub fn new(max_concurrent: usize, timeout: Duration) -> RequestLimits {
        RequestLimits {
            slots: Arc::new(Semaphore::new(max_concurrent)),
            max_concurrent,
            timeout,
        }
    }
}

/// When the request must be answered by, for the steps that can stop without changing anything.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    pub at: tokio::time::Instant,
    limit: Duration,
}

impl Deadline {
    pub fn exceeded(&self) -> ApiError {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            None,
            format!(
                "the request took longer than {} s (--request-timeout-secs); nothing was changed",
                self.limit.as_secs_f64()
            ),
        )
    }

    /// `work`, or 408 if the deadline comes first.
    pub async fn run<T>(&self, work: impl Future<Output = T>) -> Result<T, ApiError> {
        tokio::time::timeout_at(self.at, work)
            .await
            .map_err(|_| self.exceeded())
    }
}

pub async fn limit(
    State(limits): State<RequestLimits>,
    mut request: Request,
    next: Next,
) -> Response {
    if request.uri().path() == "/health" {
        return next.run(request).await;
    }
    let Ok(_slot) = limits.slots.clone().try_acquire_owned() else {
        let mut response = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            format!(
                "{} requests are in progress, the limit (--max-concurrent-requests); retry later",
                limits.max_concurrent
            ),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    request.extensions_mut().insert(Deadline {
        at: tokio::time::Instant::now() + limits.timeout,
        limit: limits.timeout,
    });
    next.run(request).await
}
