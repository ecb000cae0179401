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
}

impl Registry {
    /// Loads every stored collection and uploads it to the backend, so the first query does not
    /// pay for it.
    pub async fn load(
        backend: Arc<dyn Backend>,
        storage: Storage,
    ) -> Result<Self, CollectionError> {
        let mut collections = BTreeMap::new();
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
        })
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
        collections.remove(name);
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
        self.storage
            .upsert(collection.key, &batch)
            .await
            .map_err(|e| gone_as_unknown(e, collection))?;
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
            for id in ids {
                state.vectors.remove(id);
            }
            state.index = None;
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
