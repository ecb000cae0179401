//! Durable storage: one SQLite database in WAL mode under the data directory.
//!
//! Durability: `synchronous=FULL` makes every commit fsync the WAL before the commit returns, so
//! an acknowledged write survives not only `kill -9` but also a power cut or kernel crash. With
//! `NORMAL`, a commit is already in the WAL file (in the OS page cache) when it returns, which
//! survives the death of the process but not of the machine; since upserts arrive in batches of
//! one transaction each, the extra fsync per batch is a small price for the stronger promise.

mod store_file;
mod write_transaction;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use knn_core::Metric;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Row, SqliteConnection};
use thiserror::Error;

use store_file::FileState;
use write_transaction::WriteTransaction;

pub const DATABASE_FILE: &str = "knn.sqlite3";

/// Written to the database header (`PRAGMA application_id`, "knns") so that a store can be told
/// from another program's SQLite file. Stores created before it was set have 0.
const APPLICATION_ID: i64 = 0x6b6e_6e73;

/// The tables of a store; a file with other tables is another program's.
const TABLES: [&str; 2] = ["collections", "vectors"];

#[derive(Debug, Error)]
pub enum StorageError {
    #[error("cannot create data directory {path}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is read-only")]
    ReadOnly {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot access {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a knn-server store: {reason}")]
    NotAStore { path: PathBuf, reason: String },
    #[error("collection {0:?} already exists")]
    AlreadyExists(String),
    #[error("the collection was deleted concurrently")]
    CollectionGone,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// SQLite's `SQLITE_FULL`: the disk (or the database's size limit) is full. The write was
    /// rolled back; writes succeed again once space is freed.
    #[error("storage full: {0}")]
    Full(String),
    /// The database could not be written for now (`SQLITE_BUSY`, `SQLITE_LOCKED`, an I/O error).
    /// The write was rolled back.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StorageError {
    fn from(error: sqlx::Error) -> Self {
        let primary_code = match &error {
            sqlx::Error::Database(e) => e.code().and_then(|c| c.parse::<i32>().ok()),
            _ => None,
        };
        // SQLite's extended result codes carry the primary code in their low byte.
        match (primary_code.map(|c| c & 0xff), &error) {
            (Some(13), sqlx::Error::Database(e)) => Self::Full(e.message().to_owned()),
            (Some(5 | 6 | 10), sqlx::Error::Database(e)) => {
                Self::Unavailable(e.message().to_owned())
            }
            _ => Self::Database(error),
        }
    }
}

/// How [`Storage::open`] treats a database file that exists but holds nothing: zero bytes, or an
/// SQLite database without tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmptyFile {
    /// Refuse to start: an empty file where a store is expected may be a store that was lost.
    #[default]
    Refuse,
    /// Create a new store in it.
    Initialize,
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
    /// Opens the store in `data_dir`, creating the directory and a new store where there is no
    /// database file. A database file that holds nothing is refused unless `empty` says to
    /// initialise it; one that holds anything but a store is always refused and left untouched.
    pub async fn open(data_dir: &Path, empty: EmptyFile) -> Result<Self, StorageError> {
        store_file::prepare_data_dir(data_dir)?;
        let file = data_dir.join(DATABASE_FILE);
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(&file)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let refuse_empty = |what: &str| StorageError::NotAStore {
            path: file.clone(),
            reason: format!(
                "it is {what}; start with --initialize-empty-database to create a new store in it"
            ),
        };
        match store_file::inspect(&file)? {
            FileState::Missing => {}
            FileState::Empty if empty == EmptyFile::Refuse => {
                return Err(refuse_empty("empty (0 bytes)"));
            }
            FileState::Empty => {}
            FileState::Sqlite => {
                // Looked at over a connection that changes nothing (no journal mode, no schema),
                // so another program's database is refused as it was found.
                let not_a_database = |error: sqlx::Error| match &error {
                    // SQLITE_NOTADB: the header is there, the pages are not SQLite's.
                    sqlx::Error::Database(e) if e.code().as_deref() == Some("26") => {
                        StorageError::NotAStore {
                            path: file.clone(),
                            reason: format!(
                                "SQLite cannot read it ({}); it is left untouched",
                                e.message()
                            ),
                        }
                    }
                    _ => error.into(),
                };
                let mut connection = SqliteConnection::connect_with(&options)
                    .await
                    .map_err(not_a_database)?;
                let found = tables_and_application_id(&mut connection).await;
                connection.close().await?;
                let (tables, application_id) = found.map_err(not_a_database)?;
                if tables.is_empty() && application_id == 0 {
                    if empty == EmptyFile::Refuse {
                        return Err(refuse_empty("an SQLite database with no tables"));
                    }
                } else if application_id != 0 && application_id != APPLICATION_ID {
                    return Err(StorageError::NotAStore {
                        path: file.clone(),
                        reason: format!(
                            "its application id {application_id:#x} belongs to another program; \
                             it is left untouched"
                        ),
                    });
                } else if !TABLES.iter().all(|t| tables.iter().any(|found| found == t)) {
                    return Err(StorageError::NotAStore {
                        path: file.clone(),
                        reason: format!(
                            "it holds the tables [{}], not [{}]; it is left untouched",
                            tables.join(", "),
                            TABLES.join(", ")
                        ),
                    });
                }
            }
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        let storage = Self { pool };
        storage
            .write(async |connection| {
                for statement in SCHEMA {
                    sqlx::query(statement).execute(&mut *connection).await?;
                }
                sqlx::query(&format!("PRAGMA application_id = {APPLICATION_ID}"))
                    .execute(&mut *connection)
                    .await?;
                Ok(())
            })
            .await?;
        Ok(storage)
    }

    /// Runs `body` in one write transaction: committed if it returns `Ok`, otherwise rolled back,
    /// and in no case is a connection left inside a transaction (see [`WriteTransaction`]).
    async fn write<T>(
        &self,
        body: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut transaction = WriteTransaction::begin(&self.pool).await?;
        match body(transaction.connection()).await {
            Ok(value) => {
                transaction.commit().await?;
                Ok(value)
            }
            Err(error) => Err(transaction.abandon(error).await),
        }
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
        self.write(async |connection| {
            let result =
                sqlx::query("INSERT INTO collections (name, dimension, metric) VALUES (?, ?, ?)")
                    .bind(name)
                    .bind(dimension as i64)
                    .bind(metric.as_str())
                    .execute(&mut *connection)
                    .await;
            match result {
                Ok(done) => Ok(done.last_insert_rowid()),
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    Err(StorageError::AlreadyExists(name.to_owned()))
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// Deletes a collection and, by cascade, its vectors.
    pub async fn delete_collection(&self, key: i64) -> Result<(), StorageError> {
        self.write(async |connection| {
            sqlx::query("DELETE FROM collections WHERE key = ?")
                .bind(key)
                .execute(&mut *connection)
                .await?;
            Ok(())
        })
        .await
    }

    /// Inserts or replaces a batch of vectors in one transaction: all or nothing.
    pub async fn upsert(
        &self,
        key: i64,
        vectors: &[(String, Vec<f32>)],
    ) -> Result<(), StorageError> {
        self.write(async |connection| {
            for (id, values) in vectors {
                let result = sqlx::query(
                    "INSERT OR REPLACE INTO vectors (collection, id, data) VALUES (?, ?, ?)",
                )
                .bind(key)
                .bind(id)
                .bind(encode(values))
                .execute(&mut *connection)
                .await;
                match result {
                    Ok(_) => {}
                    Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                        return Err(StorageError::CollectionGone);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        })
        .await
    }

    /// Deletes the given ids in one transaction; returns how many existed.
    pub async fn delete_vectors(&self, key: i64, ids: &[String]) -> Result<u64, StorageError> {
        self.write(async |connection| {
            let mut deleted = 0;
            for id in ids {
                deleted += sqlx::query("DELETE FROM vectors WHERE collection = ? AND id = ?")
                    .bind(key)
                    .bind(id)
                    .execute(&mut *connection)
                    .await?
                    .rows_affected();
            }
            Ok(deleted)
        })
        .await
    }
}

/// The names of the tables in the database (SQLite's own excepted) and its application id.
async fn tables_and_application_id(
    connection: &mut SqliteConnection,
) -> Result<(Vec<String>, i64), sqlx::Error> {
    let tables = sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         ORDER BY name",
    )
    .fetch_all(&mut *connection)
    .await?;
    let application_id = sqlx::query_scalar("PRAGMA application_id")
        .fetch_one(&mut *connection)
        .await?;
    Ok((tables, application_id))
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
        let storage = Storage::open(&data_dir, EmptyFile::Refuse).await.unwrap();
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

        let storage = Storage::open(&data_dir, EmptyFile::Refuse).await.unwrap();
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

    /// How many of the pool's idle connections SQLite reports inside a transaction.
    async fn connections_in_a_transaction(storage: &Storage) -> usize {
        let mut held = Vec::new();
        let mut inside = 0;
        for _ in 0..storage.pool.size() {
            let mut connection = storage.pool.acquire().await.unwrap();
            // `BEGIN` fails exactly where a transaction is already open.
            match sqlx::query("BEGIN").execute(&mut *connection).await {
                Ok(_) => {
                    sqlx::query("ROLLBACK")
                        .execute(&mut *connection)
                        .await
                        .unwrap();
                }
                Err(_) => inside += 1,
            }
            held.push(connection);
        }
        inside
    }

    #[tokio::test]
    async fn failed_and_cancelled_writes_leave_no_connection_in_a_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path(), EmptyFile::Refuse).await.unwrap();
        let key = storage
            .create_collection("c", 1, Metric::Dot)
            .await
            .unwrap();
        // A statement fails midway (unknown collection key: a foreign key violation), over and
        // over, so that every pooled connection would have met it.
        for i in 0..8 {
            let batch = [(format!("x{i}"), vec![1.0])];
            assert!(matches!(
                storage.upsert(key + 1, &batch).await,
                Err(StorageError::CollectionGone)
            ));
        }
        // A write dropped after its first statement, as when a client goes away.
        let batch: Vec<(String, Vec<f32>)> =
            (0..2000).map(|i| (format!("d{i:04}"), vec![1.0])).collect();
        let cancelled =
            tokio::time::timeout(Duration::from_micros(50), storage.upsert(key, &batch));
        let _ = cancelled.await;
        assert_eq!(connections_in_a_transaction(&storage).await, 0);
        for i in 0..8 {
            storage
                .upsert(key, &[(format!("ok{i}"), vec![f32::from(i as u8)])])
                .await
                .unwrap();
        }
        storage.close().await;
        let storage = Storage::open(dir.path(), EmptyFile::Refuse).await.unwrap();
        let loaded = storage.load_all().await.unwrap();
        let ids: Vec<&str> = loaded[0]
            .vectors
            .iter()
            .map(|(id, _)| id.as_str())
            .collect();
        let ok: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| id.starts_with("ok"))
            .collect();
        assert_eq!(ok, ["ok0", "ok1", "ok2", "ok3", "ok4", "ok5", "ok6", "ok7"]);
        // The cancelled batch is all or nothing.
        let cancelled = ids.iter().filter(|id| id.starts_with('d')).count();
        assert!(cancelled == 0 || cancelled == 2000, "{cancelled}");
        let application_id: i64 = sqlx::query_scalar("PRAGMA application_id")
            .fetch_one(&storage.pool)
            .await
            .unwrap();
        assert_eq!(application_id, APPLICATION_ID);
    }

    #[tokio::test]
    async fn database_runs_in_wal_mode_with_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path(), EmptyFile::Refuse).await.unwrap();
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
