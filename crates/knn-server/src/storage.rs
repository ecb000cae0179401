//! Durable storage: one SQLite database in WAL mode under the data directory.
//!
//! Durability: `synchronous=FULL` makes every commit fsync the WAL before the commit returns, so
//! an acknowledged write survives not only `kill -9` but also a power cut or kernel crash. With
//! `NORMAL`, a commit is already in the WAL file (in the OS page cache) when it returns, which
//! survives the death of the process but not of the machine; since upserts arrive in batches of
//! one transaction each, the extra fsync per batch is a small price for the stronger promise.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use knn_core::Metric;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use thiserror::Error;

pub const DATABASE_FILE: &str = "knn.sqlite3";

#[derive(Debug, Error)]
pub enum StorageError {
    #[error("cannot create data directory {path}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("collection {0:?} already exists")]
    AlreadyExists(String),
    #[error("the collection was deleted concurrently")]
    CollectionGone,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A collection as stored, with its vectors in id order.
#[derive(Debug)]
pub struct StoredCollection {
    pub key: i64,
    pub name: String,
    pub dimension: usize,
    pub metric: Metric,
    pub vectors: Vec<(String, Vec<f32>)>,
}

#[derive(Debug, Clone)]
pub struct Storage {
    pool: SqlitePool,
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS collections (
        key INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        dimension INTEGER NOT NULL CHECK (dimension BETWEEN 1 AND 4096),
        metric TEXT NOT NULL CHECK (metric IN ('cosine', 'dot', 'l2'))
    )",
    // Vectors are little-endian f32 blobs of `dimension * 4` bytes. WITHOUT ROWID clusters them by
    // (collection, id), which is the order the backend needs at load.
    "CREATE TABLE IF NOT EXISTS vectors (
        collection INTEGER NOT NULL REFERENCES collections(key) ON DELETE CASCADE,
        id TEXT NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (collection, id)
    ) WITHOUT ROWID",
];

impl Storage {
    /// Opens (creating if needed) the database in `data_dir`, which is created too.
    pub async fn open(data_dir: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StorageError::CreateDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(data_dir.join(DATABASE_FILE))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        for statement in SCHEMA {
            sqlx::query(statement).execute(&pool).await?;
        }
        Ok(Self { pool })
    }

    /// Waits for open connections to finish and closes them, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn load_all(&self) -> Result<Vec<StoredCollection>, StorageError> {
        let rows =
            sqlx::query("SELECT key, name, dimension, metric FROM collections ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        let mut collections = Vec::with_capacity(rows.len());
        for row in rows {
            let key: i64 = row.try_get("key")?;
            let name: String = row.try_get("name")?;
            let dimension: i64 = row.try_get("dimension")?;
            let metric: String = row.try_get("metric")?;
            let metric = Metric::from_str(&metric).map_err(StorageError::Corrupt)?;
            let dimension = usize::try_from(dimension).map_err(|_| {
                StorageError::Corrupt(format!("collection {name:?} has dimension {dimension}"))
            })?;
            let vectors = self.load_vectors(key, &name, dimension).await?;
            collections.push(StoredCollection {
                key,
                name,
                dimension,
                metric,
                vectors,
            });
        }
        Ok(collections)
    }

    async fn load_vectors(
        &self,
        key: i64,
        name: &str,
        dimension: usize,
    ) -> Result<Vec<(String, Vec<f32>)>, StorageError> {
        let rows = sqlx::query("SELECT id, data FROM vectors WHERE collection = ? ORDER BY id")
            .bind(key)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                let id: String = row.try_get("id")?;
                let data: Vec<u8> = row.try_get("data")?;
                let values = decode(&data, dimension).ok_or_else(|| {
                    StorageError::Corrupt(format!(
                        "vector {id:?} of collection {name:?} has {} bytes, expected {}",
                        data.len(),
                        dimension * 4
                    ))
                })?;
                Ok((id, values))
            })
            .collect()
    }

    /// Creates a collection and returns its key.
    pub async fn create_collection(
        &self,
        name: &str,
        dimension: usize,
        metric: Metric,
    ) -> Result<i64, StorageError> {
        let result =
            sqlx::query("INSERT INTO collections (name, dimension, metric) VALUES (?, ?, ?)")
                .bind(name)
                .bind(dimension as i64)
                .bind(metric.as_str())
                .execute(&self.pool)
                .await;
        match result {
            Ok(done) => Ok(done.last_insert_rowid()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StorageError::AlreadyExists(name.to_owned()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a collection and, by cascade, its vectors.
    pub async fn delete_collection(&self, key: i64) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM collections WHERE key = ?")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Inserts or replaces a batch of vectors in one transaction: all or nothing.
    pub async fn upsert(
        &self,
        key: i64,
        vectors: &[(String, Vec<f32>)],
    ) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        for (id, values) in vectors {
            let result = sqlx::query(
                "INSERT OR REPLACE INTO vectors (collection, id, data) VALUES (?, ?, ?)",
            )
            .bind(key)
            .bind(id)
            .bind(encode(values))
            .execute(&mut *tx)
            .await;
            match result {
                Ok(_) => {}
                Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                    return Err(StorageError::CollectionGone);
                }
                Err(e) => return Err(e.into()),
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes the given ids in one transaction; returns how many existed.
    pub async fn delete_vectors(&self, key: i64, ids: &[String]) -> Result<u64, StorageError> {
        let mut tx: Transaction<'_, Sqlite> = self.pool.begin().await?;
        let mut deleted = 0;
        for id in ids {
            deleted += sqlx::query("DELETE FROM vectors WHERE collection = ? AND id = ?")
                .bind(key)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(deleted)
    }
}

fn encode(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn decode(bytes: &[u8], dimension: usize) -> Option<Vec<f32>> {
    if bytes.len() != dimension * 4 {
        return None;
    }
    let (chunks, _) = bytes.as_chunks::<4>();
    Some(chunks.iter().map(|c| f32::from_le_bytes(*c)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_little_endian_f32() {
        let bytes = encode(&[1.0, -2.5]);
        assert_eq!(bytes, [0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0]);
        assert_eq!(decode(&bytes, 2), Some(vec![1.0, -2.5]));
        assert_eq!(decode(&bytes, 3), None);
    }

    #[tokio::test]
    async fn round_trips_collections_and_vectors_and_cascades_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("nested/data");
        let storage = Storage::open(&data_dir).await.unwrap();
        assert!(data_dir.join(DATABASE_FILE).exists());
        let key = storage.create_collection("c", 2, Metric::L2).await.unwrap();
        assert!(matches!(
            storage.create_collection("c", 2, Metric::L2).await,
            Err(StorageError::AlreadyExists(_))
        ));
        let batch = vec![
            ("b".to_owned(), vec![1.0, 2.0]),
            ("a".to_owned(), vec![3.0, 4.0]),
        ];
        storage.upsert(key, &batch).await.unwrap();
        storage
            .upsert(key, &[("b".to_owned(), vec![5.0, 6.0])])
            .await
            .unwrap();
        assert_eq!(
            storage
                .delete_vectors(key, &["a".to_owned(), "zz".to_owned()])
                .await
                .unwrap(),
            1
        );
        storage.close().await;

        let storage = Storage::open(&data_dir).await.unwrap();
        let loaded = storage.load_all().await.unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].name, "c");
        assert_eq!(loaded[0].dimension, 2);
        assert_eq!(loaded[0].metric, Metric::L2);
        assert_eq!(loaded[0].vectors, vec![("b".to_owned(), vec![5.0, 6.0])]);

        storage.delete_collection(key).await.unwrap();
        assert!(storage.load_all().await.unwrap().is_empty());
        assert!(matches!(
            storage.upsert(key, &batch).await,
            Err(StorageError::CollectionGone)
        ));
        let orphans: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM vectors")
            .fetch_one(&storage.pool)
            .await
            .unwrap();
        assert_eq!(orphans, 0);
    }

    #[tokio::test]
    async fn database_runs_in_wal_mode_with_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&storage.pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&storage.pool)
            .await
            .unwrap();
        assert_eq!(sync, 2, "FULL");
    }
}
