//! The live collections: what is stored, mirrored in memory and uploaded to the backend.
//!
//! Each collection keeps its vectors in a map ordered by id, so row `i` of the uploaded matrix is
//! the `i`-th id and the backend's "score, then row" order is the API's "score, then id" order.
//! A write first commits to SQLite, then updates the map and drops the uploaded index; the next
//! query rebuilds it. That makes a query after a write cost one upload of the collection, which
//! suits the bulk-load-then-query use this service is built for.

use std::collections::BTreeMap;
use std::sync::Arc;

use knn_core::{Backend, BackendError, Hit, Matrix, MatrixError, Metric, Prepared};
use thiserror::Error;
use tokio::sync::{Mutex, RwLock};

use crate::storage::{Storage, StorageError};

#[derive(Debug, Error)]
pub enum CollectionError {
    #[error("collection {0:?} does not exist")]
    Unknown(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("vectors of the collection are invalid: {0}")]
    Matrix(#[from] MatrixError),
    #[error("a background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error(
        "{what} would exceed the limit of {limit} ({flag}); nothing of this request was stored"
    )]
    LimitReached {
        what: &'static str,
        limit: u64,
        flag: &'static str,
    },
}

/// How much the service keeps, checked before a write is accepted. Every vector is held in
/// memory (and an index rebuild briefly holds a second copy), so these bound its memory too.
#[derive(Debug, Clone, Copy)]
pub struct StoreLimits {
    pub max_collections: usize,
    pub max_rows_per_collection: usize,
    /// Bytes of vectors and their ids over all collections.
    pub max_stored_bytes: u64,
}

impl StoreLimits {
    /// No limit: for tests and tools that load data they made.
    pub const NONE: StoreLimits = StoreLimits {
        max_collections: usize::MAX,
        max_rows_per_collection: usize::MAX,
        max_stored_bytes: u64::MAX,
    };
}

/// What one row of `dimension` values with id `id` counts against the stored-bytes limit.
fn row_bytes(dimension: usize, id: &str) -> u64 {
    (dimension * std::mem::size_of::<f32>() + id.len()) as u64
}

/// Summary of a collection for listings.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CollectionInfo {
    pub name: String,
    pub dimension: usize,
    pub metric: Metric,
    pub count: usize,
}

pub struct Collection {
    key: i64,
    name: String,
    dimension: usize,
    metric: Metric,
    state: Mutex<State>,
}

struct State {
    vectors: BTreeMap<String, Vec<f32>>,
    index: Option<Arc<Index>>,
}

/// The uploaded form of a collection plus the ids of its rows.
struct Index {
    prepared: Arc<dyn Prepared>,
    ids: Vec<String>,
}

/// One query's hits, with ids instead of rows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct IdHit {
    pub id: String,
    pub score: f32,
}

impl Collection {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn dimension(&self) -> usize {
        self.dimension
    }

    pub fn metric(&self) -> Metric {
        self.metric
    }

    pub async fn info(&self) -> CollectionInfo {
        CollectionInfo {
            name: self.name.clone(),
            dimension: self.dimension,
            metric: self.metric,
            count: self.state.lock().await.vectors.len(),
        }
    }
}

pub struct Registry {
    backend: Arc<dyn Backend>,
    storage: Storage,
    collections: RwLock<BTreeMap<String, Arc<Collection>>>,
    limits: StoreLimits,
    /// Bytes counted against `limits.max_stored_bytes`; a write reserves its growth here before
    /// it is stored and gives it back if storing fails.
    stored_bytes: std::sync::Mutex<u64>,
}

impl Registry {
    /// Loads every stored collection and uploads it to the backend, so the first query does not
    /// pay for it.
    pub async fn load(
        backend: Arc<dyn Backend>,
        storage: Storage,
        limits: StoreLimits,
    ) -> Result<Self, CollectionError> {
        let mut collections = BTreeMap::new();
        let mut stored_bytes = 0u64;
        for stored in storage.load_all().await? {
            let collection = Arc::new(Collection {
                key: stored.key,
                name: stored.name.clone(),
                dimension: stored.dimension,
                metric: stored.metric,
                state: Mutex::new(State {
                    vectors: stored.vectors.into_iter().collect(),
                    index: None,
                }),
            });
            let (count, over_bound) = {
                let state = collection.state.lock().await;
                let over_bound = state
                    .vectors
                    .values()
                    .filter(|values| stored.metric.check_norm(values).is_err())
                    .count();
                stored_bytes += state
                    .vectors
                    .keys()
                    .map(|id| row_bytes(stored.dimension, id))
                    .sum::<u64>();
                (state.vectors.len(), over_bound)
            };
            if over_bound > 0 {
                // Stored before the bound existed: kept as they are, and the operator is told.
                tracing::warn!(
                    collection = %stored.name,
                    vectors = over_bound,
                    "vectors longer than the norm bound (2^62) can give non-finite scores; \
                     re-upsert them scaled down or delete them"
                );
            }
            index_of(&collection, &backend).await?;
            tracing::info!(collection = %stored.name, vectors = count, "loaded collection");
            collections.insert(stored.name, collection);
        }
        Ok(Self {
            backend,
            storage,
            collections: RwLock::new(collections),
            limits,
            stored_bytes: std::sync::Mutex::new(stored_bytes),
        })
    }

    /// Reserves `bytes` against the stored-bytes limit, or refuses.
    fn reserve(&self, bytes: u64) -> Result<(), CollectionError> {
        let mut stored = self
            .stored_bytes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if stored.saturating_add(bytes) > self.limits.max_stored_bytes {
            return Err(CollectionError::LimitReached {
                what: "the stored vectors' size",
                limit: self.limits.max_stored_bytes,
                flag: "--max-stored-bytes",
            });
        }
        *stored += bytes;
        Ok(())
    }

    fn release(&self, bytes: u64) {
        let mut stored = self
            .stored_bytes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *stored = stored.saturating_sub(bytes);
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    pub async fn close(&self) {
        self.storage.close().await;
    }

    pub async fn get(&self, name: &str) -> Result<Arc<Collection>, CollectionError> {
        self.collections
            .read()
            .await
            .get(name)
            .cloned()
            .ok_or_else(|| CollectionError::Unknown(name.to_owned()))
    }

    pub async fn list(&self) -> Vec<CollectionInfo> {
        let collections: Vec<Arc<Collection>> =
            self.collections.read().await.values().cloned().collect();
        let mut infos = Vec::with_capacity(collections.len());
        for collection in collections {
            infos.push(collection.info().await);
        }
        infos
    }

    pub async fn create(
        &self,
        name: &str,
        dimension: usize,
        metric: Metric,
    ) -> Result<CollectionInfo, CollectionError> {
        // Held across the insert so that two creates of one name cannot both reach the map.
        let mut collections = self.collections.write().await;
        if collections.len() >= self.limits.max_collections && !collections.contains_key(name) {
            return Err(CollectionError::LimitReached {
                what: "the number of collections",
                limit: self.limits.max_collections as u64,
                flag: "--max-collections",
            });
        }
        let key = self
            .storage
            .create_collection(name, dimension, metric)
            .await?;
        let collection = Arc::new(Collection {
            key,
            name: name.to_owned(),
            dimension,
            metric,
            state: Mutex::new(State {
                vectors: BTreeMap::new(),
                index: None,
            }),
        });
        let info = collection.info().await;
        collections.insert(name.to_owned(), collection);
        Ok(info)
    }

    pub async fn delete(&self, name: &str) -> Result<(), CollectionError> {
        let mut collections = self.collections.write().await;
        let collection = collections
            .get(name)
            .ok_or_else(|| CollectionError::Unknown(name.to_owned()))?;
        self.storage.delete_collection(collection.key).await?;
        let freed: u64 = {
            let state = collection.state.lock().await;
            state
                .vectors
                .keys()
                .map(|id| row_bytes(collection.dimension, id))
                .sum()
        };
        collections.remove(name);
        self.release(freed);
        Ok(())
    }

    /// Stores a validated batch (unique ids, right dimension, finite values) in one transaction,
    /// then applies it in memory. Returns the collection's new size.
    pub async fn upsert(
        &self,
        collection: &Collection,
        batch: Vec<(String, Vec<f32>)>,
    ) -> Result<usize, CollectionError> {
        let mut state = collection.state.lock().await;
        let new_ids: Vec<&String> = batch
            .iter()
            .map(|(id, _)| id)
            .filter(|id| !state.vectors.contains_key(*id))
            .collect();
        if state.vectors.len() + new_ids.len() > self.limits.max_rows_per_collection {
            return Err(CollectionError::LimitReached {
                what: "the collection's number of vectors",
                limit: self.limits.max_rows_per_collection as u64,
                flag: "--max-rows-per-collection",
            });
        }
        let growth: u64 = new_ids
            .iter()
            .map(|id| row_bytes(collection.dimension, id))
            .sum();
        self.reserve(growth)?;
        if let Err(error) = self.storage.upsert(collection.key, &batch).await {
            self.release(growth);
            return Err(gone_as_unknown(error, collection));
        }
        state.vectors.extend(batch);
        state.index = None;
        Ok(state.vectors.len())
    }

    /// Deletes ids; returns how many existed.
    pub async fn delete_vectors(
        &self,
        collection: &Collection,
        ids: &[String],
    ) -> Result<u64, CollectionError> {
        let mut state = collection.state.lock().await;
        let deleted = self
            .storage
            .delete_vectors(collection.key, ids)
            .await
            .map_err(|e| gone_as_unknown(e, collection))?;
        if deleted > 0 {
            let mut freed = 0;
            for id in ids {
                if state.vectors.remove(id).is_some() {
                    freed += row_bytes(collection.dimension, id);
                }
            }
            state.index = None;
            self.release(freed);
        }
        Ok(deleted)
    }

    /// Top-`k` for each query row (dimension already checked, not yet normalised).
    pub async fn search(
        &self,
        collection: &Collection,
        queries: Matrix,
        k: usize,
    ) -> Result<Vec<Vec<IdHit>>, CollectionError> {
        let index = index_of(collection, &self.backend).await?;
        let metric = collection.metric;
        let hits = tokio::task::spawn_blocking(move || -> Result<_, CollectionError> {
            let queries = metric.prepare(queries)?;
            let hits = index.prepared.search(&queries, k)?;
            Ok(hits
                .into_iter()
                .map(|hits| {
                    hits.into_iter()
                        .map(|hit| to_id_hit(&index.ids, hit))
                        .collect()
                })
                .collect())
        })
        .await??;
        Ok(hits)
    }
}

fn to_id_hit(ids: &[String], hit: Hit) -> IdHit {
    IdHit {
        id: ids[hit.row as usize].clone(),
        score: hit.score,
    }
}

fn gone_as_unknown(error: StorageError, collection: &Collection) -> CollectionError {
    match error {
        StorageError::CollectionGone => CollectionError::Unknown(collection.name.clone()),
        other => other.into(),
    }
}

/// The collection's uploaded index, building it if a write invalidated it.
async fn index_of(
    collection: &Collection,
    backend: &Arc<dyn Backend>,
) -> Result<Arc<Index>, CollectionError> {
    let mut state = collection.state.lock().await;
    if let Some(index) = &state.index {
        return Ok(index.clone());
    }
    let ids: Vec<String> = state.vectors.keys().cloned().collect();
    let mut data = Vec::with_capacity(ids.len() * collection.dimension);
    for values in state.vectors.values() {
        data.extend_from_slice(values);
    }
    let (dimension, metric, backend) = (collection.dimension, collection.metric, backend.clone());
    let prepared = tokio::task::spawn_blocking(move || -> Result<_, CollectionError> {
        let matrix = metric.prepare(Matrix::new(dimension, data)?)?;
        Ok(Arc::<dyn Prepared>::from(backend.upload(&matrix, metric)?))
    })
    .await??;
    let index = Arc::new(Index { prepared, ids });
    state.index = Some(index.clone());
    Ok(index)
}
