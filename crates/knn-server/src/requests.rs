//! Request bodies and their validation. Every check names the field it rejects, using the same
//! path syntax as JSON parse errors (`vectors[2].values[7]`).

use std::collections::HashMap;

use knn_core::{MAX_DIM, MAX_NORM, Matrix, Metric};
use serde::Deserialize;

use crate::api_error::ApiError;
use crate::parse_budget::{self, Budgeted};

/// Largest `k` a query may ask for.
pub const MAX_K: usize = 1000;
/// Most query vectors in one request: bounds the response size (`MAX_K` hits each).
pub const MAX_QUERY_BATCH: usize = 1024;
/// Most vectors in one upsert; larger loads are split by the client.
pub const MAX_UPSERT_BATCH: usize = 100_000;
const MAX_NAME_LEN: usize = 128;
const MAX_ID_LEN: usize = 512;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCollection {
    pub name: String,
    pub dimension: usize,
    pub metric: Metric,
}

impl CreateCollection {
    pub fn validate(&self) -> Result<(), ApiError> {
        validate_name(&self.name)?;
        if !(1..=MAX_DIM).contains(&self.dimension) {
            return Err(ApiError::bad_request(
                "dimension",
                format!("dimension {} is out of range 1..={MAX_DIM}", self.dimension),
            ));
        }
        Ok(())
    }
}

/// Names appear in URLs, so they are restricted to characters that need no escaping; that already
/// keeps out `/`, `\`, control characters and spaces. `.` and `..` are excluded as well: clients
/// and proxies resolve them as path segments (`/collections/..` becomes `/`), so such a
/// collection could be created but never reached.
fn validate_name(name: &str) -> Result<(), ApiError> {
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if name.is_empty() || name.len() > MAX_NAME_LEN || !valid_chars {
        return Err(ApiError::bad_request(
            "name",
            format!("name must be 1 to {MAX_NAME_LEN} characters of A-Z, a-z, 0-9, '-', '_', '.'"),
        ));
    }
    if name == "." || name == ".." {
        return Err(ApiError::bad_request(
            "name",
            format!("name {name:?} is a relative path segment, which URLs cannot address"),
        ));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpsertBatch {
    #[serde(deserialize_with = "parse_budget::charged")]
    pub vectors: Vec<VectorItem>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorItem {
    #[serde(deserialize_with = "parse_budget::charged")]
    pub id: String,
    #[serde(deserialize_with = "parse_budget::charged")]
    pub values: Vec<f32>,
}

impl<'de> Budgeted<'de> for VectorItem {
    fn deserialize_budgeted<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Self, D::Error> {
        Deserialize::deserialize(deserializer)
    }
}

impl UpsertBatch {
    /// Checks the whole batch before anything is stored, and returns it as `(id, values)` pairs.
    pub fn validate(
        self,
        dimension: usize,
        metric: Metric,
    ) -> Result<Vec<(String, Vec<f32>)>, ApiError> {
        check_batch_size("vectors", self.vectors.len(), MAX_UPSERT_BATCH)?;
        let mut first_seen: HashMap<&str, usize> = HashMap::with_capacity(self.vectors.len());
        for (i, item) in self.vectors.iter().enumerate() {
            let field = format!("vectors[{i}]");
            validate_id(&item.id, &format!("{field}.id"))?;
            if let Some(first) = first_seen.insert(&item.id, i) {
                return Err(ApiError::bad_request(
                    format!("{field}.id"),
                    format!(
                        "duplicate id {:?} in one batch (also at vectors[{first}])",
                        item.id
                    ),
                ));
            }
            validate_values(&item.values, dimension, metric, &format!("{field}.values"))?;
        }
        Ok(self.vectors.into_iter().map(|v| (v.id, v.values)).collect())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteIds {
    #[serde(deserialize_with = "parse_budget::charged")]
    pub ids: Vec<String>,
}

impl DeleteIds {
    pub fn validate(&self) -> Result<(), ApiError> {
        check_batch_size("ids", self.ids.len(), MAX_UPSERT_BATCH)?;
        for (i, id) in self.ids.iter().enumerate() {
            validate_id(id, &format!("ids[{i}]"))?;
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    #[serde(default, deserialize_with = "parse_budget::charged")]
    pub vector: Option<Vec<f32>>,
    #[serde(default, deserialize_with = "parse_budget::charged")]
    pub vectors: Option<Vec<Vec<f32>>>,
    #[serde(default = "default_k")]
    pub k: usize,
}

fn default_k() -> usize {
    10
}

/// A validated query: the query rows and whether the client sent a single `vector`.
pub struct ValidQuery {
    pub queries: Matrix,
    pub single: bool,
    pub k: usize,
}

impl Query {
    pub fn validate(self, dimension: usize, metric: Metric) -> Result<ValidQuery, ApiError> {
        if !(1..=MAX_K).contains(&self.k) {
            return Err(ApiError::bad_request(
                "k",
                format!("k {} is out of range 1..={MAX_K}", self.k),
            ));
        }
        let (rows, single) = match (self.vector, self.vectors) {
            (Some(vector), None) => {
                validate_values(&vector, dimension, metric, "vector")?;
                (vec![vector], true)
            }
            (None, Some(vectors)) => {
                check_batch_size("vectors", vectors.len(), MAX_QUERY_BATCH)?;
                for (i, vector) in vectors.iter().enumerate() {
                    validate_values(vector, dimension, metric, &format!("vectors[{i}]"))?;
                }
                (vectors, false)
            }
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_request(
                    "vector",
                    "give either vector or vectors, not both",
                ));
            }
            (None, None) => {
                return Err(ApiError::bad_request(
                    "vector",
                    "give vector (one query) or vectors (a batch)",
                ));
            }
        };
        let queries = Matrix::new(dimension, rows.concat())
            .map_err(|e| ApiError::bad_request("vectors", e.to_string()))?;
        Ok(ValidQuery {
            queries,
            single,
            k: self.k,
        })
    }
}

fn check_batch_size(field: &str, len: usize, max: usize) -> Result<(), ApiError> {
    if len == 0 {
        return Err(ApiError::bad_request(field, format!("{field} is empty")));
    }
    if len > max {
        return Err(ApiError::bad_request(
            field,
            format!("{len} entries exceed the batch limit of {max}"),
        ));
    }
    Ok(())
}

fn validate_id(id: &str, field: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(ApiError::bad_request(
            field,
            format!("id must be 1 to {MAX_ID_LEN} bytes"),
        ));
    }
    Ok(())
}

/// Dimension, finiteness (JSON has no NaN, but a number beyond the `f32` range such as `1e39`
/// parses to infinity), for dot and l2 a length within [`knn_core::MAX_NORM`] (so that no score
/// overflows, in any backend) and, for cosine, a non-zero length.
fn validate_values(
    values: &[f32],
    dimension: usize,
    metric: Metric,
    field: &str,
) -> Result<(), ApiError> {
    if values.len() != dimension {
        return Err(ApiError::bad_request(
            field,
            format!("expected {dimension} values, got {}", values.len()),
        ));
    }
    if let Some(j) = values.iter().position(|v| !v.is_finite()) {
        return Err(ApiError::bad_request(
            format!("{field}[{j}]"),
            "value is not a finite 32-bit float (beyond ±3.4e38)",
        ));
    }
    if let Err(norm) = metric.check_norm(values) {
        return Err(ApiError::bad_request(
            field,
            format!(
                "vector length {norm:.3e} exceeds {:.3e} (2^62), the most a {metric} vector may \
                 have so that its scores cannot overflow 32-bit floats",
                MAX_NORM
            ),
        ));
    }
    if metric == Metric::Cosine && values.iter().all(|&v| v == 0.0) {
        return Err(ApiError::bad_request(
            field,
            "a zero vector has no direction for cosine similarity",
        ));
    }
    Ok(())
}
