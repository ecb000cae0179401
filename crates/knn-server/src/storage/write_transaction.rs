//! A write transaction whose connection goes back to the pool only when SQLite is known to be out
//! of any transaction.
//!
//! sqlx's own `Transaction` counts nesting itself and issues `ROLLBACK` when dropped after an
//! error. On a full disk SQLite answers the `COMMIT` with `SQLITE_FULL` and has already rolled the
//! transaction back, so that `ROLLBACK` fails ("no transaction is active") and sqlx's count stays
//! at one. The connection goes back to the pool believing it is inside a transaction: its next
//! `begin` issues `SAVEPOINT` instead of `BEGIN`, a later failed statement is undone with
//! `ROLLBACK TO`, which leaves the savepoint (and the write lock) open, and from then on every
//! "commit" on that connection only releases a nested savepoint. Those writes were acknowledged
//! and never committed, and every other connection waited for the lock until its busy timeout.
//!
//! Here `BEGIN IMMEDIATE` and `COMMIT` are plain statements, so sqlx's count is never involved;
//! after any error the connection is rolled back and closed instead of being returned, because
//! SQLite may or may not have rolled back by itself and a connection in an unknown state must not
//! serve another request. A dropped (cancelled) transaction closes its connection too, which
//! rolls back whatever it had written.

use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};

use super::StorageError;

pub struct WriteTransaction {
    /// `Some` while the transaction is open.
    connection: Option<PoolConnection<Sqlite>>,
}

impl WriteTransaction {
    /// Takes a connection and starts a transaction that holds the write lock from the start,
    /// so that it waits for other writers (up to the busy timeout) instead of failing midway.
    pub async fn begin(pool: &SqlitePool) -> Result<Self, StorageError> {
        let connection = pool.acquire().await?;
        let mut transaction = Self {
            connection: Some(connection),
        };
        match sqlx::query("BEGIN IMMEDIATE")
            .execute(transaction.connection())
            .await
        {
            Ok(_) => Ok(transaction),
            Err(error) => Err(transaction.abandon(error.into()).await),
        }
    }

    pub fn connection(&mut self) -> &mut SqliteConnection {
        self.connection
            .as_deref_mut()
            .expect("a write transaction is used only while open")
    }

    pub async fn commit(mut self) -> Result<(), StorageError> {
        match sqlx::query("COMMIT").execute(self.connection()).await {
            Ok(_) => {
                // Committed: SQLite is in autocommit mode again, so the connection may be reused.
                self.connection = None;
                Ok(())
            }
            Err(error) => Err(self.abandon(error.into()).await),
        }
    }

    /// Rolls back (which fails harmlessly where SQLite already did) and closes the connection;
    /// returns `error` for the caller to pass on.
    pub async fn abandon(mut self, error: StorageError) -> StorageError {
        if let Some(mut connection) = self.connection.take() {
            if let Err(rollback) = sqlx::query("ROLLBACK").execute(&mut *connection).await {
                tracing::debug!(%rollback, "rollback after a failed write");
            }
            if let Err(close) = connection.close().await {
                tracing::warn!(%close, "closing a connection after a failed write");
            }
        }
        error
    }
}

impl Drop for WriteTransaction {
    fn drop(&mut self) {
        if let Some(mut connection) = self.connection.take() {
            // Closing the connection rolls back its open transaction.
            connection.close_on_drop();
        }
    }
}
