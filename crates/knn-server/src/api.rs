//! The HTTP API: routes, handlers and the layers around them.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Extension, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use serde::Serialize;
use serde_json::json;
use tokio::sync::Semaphore;
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::api_error::ApiError;
use crate::api_keys::{self, ApiKeys};
use crate::backends;
use crate::collections::{CollectionError, IdHit, Registry};
use crate::content_encoding;
use crate::json_body::{BodyLimit, JsonBody};
use crate::request_limits::{self, Deadline, RequestLimits};
use crate::requests::{CreateCollection, DeleteIds, Query, UpsertBatch};
use crate::storage::StorageError;

#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
}

/// What the router asks of every request.
pub struct ApiSettings {
    /// Largest body, as decompressed; larger ones get 413.
    pub max_body_bytes: usize,
    /// Keys one of which every route but `/health` needs; None: no authentication.
    pub keys: Option<Arc<ApiKeys>>,
    pub max_concurrent_requests: usize,
    pub request_timeout: Duration,
}

impl ApiSettings {
    /// No authentication and no limit but the body's: for tests of the routes themselves.
    pub fn open(max_body_bytes: usize) -> ApiSettings {
        ApiSettings {
            max_body_bytes,
            keys: None,
            max_concurrent_requests: Semaphore::MAX_PERMITS,
            request_timeout: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// Builds the router over `registry` with `settings`' authentication and limits.
pub fn router(registry: Arc<Registry>, settings: &ApiSettings) -> Router {
    let max_body_bytes = settings.max_body_bytes;
    let limits = RequestLimits::new(settings.max_concurrent_requests, settings.request_timeout);
    let router = Router::new()
        .route("/health", get(health))
        .route("/info", get(info))
        .route(
            "/collections",
            get(list_collections).post(create_collection),
        )
        .route(
            "/collections/{name}",
            get(get_collection).delete(delete_collection),
        )
        .route("/collections/{name}/upsert", post(upsert))
        .route("/collections/{name}/delete", post(delete_vectors))
        .route("/collections/{name}/query", post(query))
        .fallback(unknown_route)
        .with_state(AppState { registry })
        // The limit is enforced by tower-http alone; axum's own 2 MB default would undercut it.
        .layer(DefaultBodyLimit::disable())
        // The limit applies to the body as decompressed, so a small gzip body cannot expand
        // past it.
        .layer(RequestBodyLimitLayer::new(max_body_bytes))
        // The same limit bounds what the body becomes parsed.
        .layer(Extension(BodyLimit(max_body_bytes)))
        .layer(RequestDecompressionLayer::new())
        .layer(middleware::from_fn(content_encoding::only_supported))
        .layer(middleware::from_fn_with_state(
            limits,
            request_limits::limit,
        ));
    // Outside the limits: a request without a key takes no slot and sends no body in.
    let router = match &settings.keys {
        Some(keys) => router.layer(middleware::from_fn_with_state(
            keys.clone(),
            api_keys::require_key,
        )),
        None => router,
    };
    router
        .layer(middleware::map_response(move |response: Response| {
            json_errors(response, max_body_bytes)
        }))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
}

/// Gives the API's JSON error shape to the plain-text or empty errors produced outside the
/// handlers: the body limit layer's 413 for an oversized `Content-Length` (answered before any
/// handler runs) and the router's 405 for a known path with the wrong method.
async fn json_errors(response: Response, limit: usize) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    match response.status() {
        _ if is_json => response,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::body_too_large(limit).into_response(),
        StatusCode::METHOD_NOT_ALLOWED => {
            let mut error = ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                None,
                "method not allowed on this path",
            )
            .into_response();
            if let Some(allow) = response.headers().get(header::ALLOW) {
                error.headers_mut().insert(header::ALLOW, allow.clone());
            }
            error
        }
        _ => response,
    }
}

impl From<CollectionError> for ApiError {
    fn from(error: CollectionError) -> Self {
        match error {
            CollectionError::Unknown(name) => ApiError::unknown_collection(&name),
            CollectionError::Storage(StorageError::AlreadyExists(name)) => ApiError::new(
                StatusCode::CONFLICT,
                Some("name"),
                format!("collection {name:?} already exists"),
            ),
            CollectionError::Storage(StorageError::Full(cause)) => ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                None,
                format!("storage full: {cause}; nothing of this request was stored"),
            ),
            limit @ CollectionError::LimitReached { .. } => {
                ApiError::new(StatusCode::INSUFFICIENT_STORAGE, None, limit.to_string())
            }
            CollectionError::Storage(StorageError::Unavailable(cause)) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                format!("storage unavailable: {cause}; nothing of this request was stored"),
            ),
            other => ApiError::internal("the request could not be completed", &other),
        }
    }
}

/// Runs a write to its end even if the client disconnects meanwhile: cancelled halfway, it could
/// leave the database and the in-memory copy disagreeing about what was stored.
async fn to_completion<T: Send + 'static>(
    write: impl Future<Output = Result<T, CollectionError>> + Send + 'static,
) -> Result<T, CollectionError> {
    tokio::spawn(write).await?
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn info(State(state): State<AppState>) -> Json<serde_json::Value> {
    let device = state.registry.backend().info();
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "variant": backends::variant(),
        "backend": device.backend,
        "device": device.device,
        "details": device.details,
    }))
}

async fn unknown_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, None, "no such route")
}

async fn list_collections(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({ "collections": state.registry.list().await }))
}

async fn create_collection(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<CreateCollection>,
) -> Result<impl IntoResponse, ApiError> {
    request.validate()?;
    let registry = state.registry.clone();
    let info = to_completion(async move {
        registry
            .create(&request.name, request.dimension, request.metric)
            .await
    })
    .await?;
    Ok((StatusCode::CREATED, Json(info)))
}

async fn get_collection(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let collection = state.registry.get(&name).await?;
    Ok(Json(collection.info().await))
}

async fn delete_collection(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let registry = state.registry.clone();
    let deleted = name.clone();
    to_completion(async move { registry.delete(&deleted).await }).await?;
    Ok(Json(json!({ "deleted": name })))
}

async fn upsert(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(batch): JsonBody<UpsertBatch>,
) -> Result<impl IntoResponse, ApiError> {
    let collection = state.registry.get(&name).await?;
    let batch = batch.validate(collection.dimension(), collection.metric())?;
    let upserted = batch.len();
    let registry = state.registry.clone();
    let count = to_completion(async move { registry.upsert(&collection, batch).await }).await?;
    Ok(Json(json!({ "upserted": upserted, "count": count })))
}

async fn delete_vectors(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(request): JsonBody<DeleteIds>,
) -> Result<impl IntoResponse, ApiError> {
    let collection = state.registry.get(&name).await?;
    request.validate()?;
    let registry = state.registry.clone();
    let deleted =
        to_completion(async move { registry.delete_vectors(&collection, &request.ids).await })
            .await?;
    Ok(Json(json!({ "deleted": deleted })))
}

#[derive(Serialize)]
struct Hits {
    hits: Vec<IdHit>,
}

async fn query(
    State(state): State<AppState>,
    Path(name): Path<String>,
    deadline: Option<Extension<Deadline>>,
    JsonBody(request): JsonBody<Query>,
) -> Result<Response, ApiError> {
    let collection = state.registry.get(&name).await?;
    let query = request.validate(collection.dimension(), collection.metric())?;
    let search = state.registry.search(&collection, query.queries, query.k);
    let mut results = match deadline {
        Some(Extension(deadline)) => deadline.run(search).await??,
        None => search.await?,
    };
    if query.single {
        let hits = results.pop().unwrap_or_default();
        Ok(Json(Hits { hits }).into_response())
    } else {
        let results: Vec<Hits> = results.into_iter().map(|hits| Hits { hits }).collect();
        Ok(Json(json!({ "results": results })).into_response())
    }
}
