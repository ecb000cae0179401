//! API keys: `Authorization: Bearer <key>` on every route but `/health`.
//!
//! Keys come from a file, one a line (blank lines and `#` comments skipped), read at start and
//! again on SIGHUP; a reload that fails keeps the keys in force and logs why. Keys are compared
//! in constant time and never logged.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use thiserror::Error;

use crate::api_error::ApiError;

#[derive(Debug, Error)]
pub enum KeysError {
    #[error("cannot read the API key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the API key file {path} holds no key (one a line; blank lines and # comments are skipped)"
    )]
    Empty { path: PathBuf },
    #[error("line {line} of the API key file {path} has a key shorter than 16 characters")]
    TooShort { path: PathBuf, line: usize },
}

/// The keys in force, replaced whole on reload.
pub struct ApiKeys {
    path: PathBuf,
    keys: RwLock<Arc<Vec<Vec<u8>>>>,
}

fn read_keys(path: &Path) -> Result<Vec<Vec<u8>>, KeysError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeysError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut keys = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let key = line.trim();
        if key.is_empty() || key.starts_with('#') {
            continue;
        }
        if key.len() < 16 {
            return Err(KeysError::TooShort {
                path: path.to_path_buf(),
                line: index + 1,
            });
        }
        keys.push(key.as_bytes().to_vec());
    }
    if keys.is_empty() {
        return Err(KeysError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(keys)
}

/// Equal in time that depends on the lengths only, not on where the bytes differ.
fn same_key(a: &[u8], b: &[u8]) -> bool {
    let mut difference = a.len() ^ b.len();
    for (index, &byte) in a.iter().enumerate() {
        difference |= usize::from(byte ^ b.get(index).copied().unwrap_or(!byte));
    }
    difference == 0
}

impl ApiKeys {
    pub fn load(path: &Path) -> Result<ApiKeys, KeysError> {
        Ok(ApiKeys {
            path: path.to_path_buf(),
            keys: RwLock::new(Arc::new(read_keys(path)?)),
        })
    }

    /// Reads the file again; on error the keys in force stay.
    pub fn reload(&self) -> Result<usize, KeysError> {
        let keys = read_keys(&self.path)?;
        let count = keys.len();
        *self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(keys);
        Ok(count)
    }

    pub fn count(&self) -> usize {
        self.current().len()
    }

    fn current(&self) -> Arc<Vec<Vec<u8>>> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Whether `presented` is one of the keys; every key is compared, so the time does not say
    /// which one matched.
    pub fn accepts(&self, presented: &[u8]) -> bool {
        self.current()
            .iter()
            .fold(false, |found, key| same_key(key, presented) | found)
    }
}

/// Reloads `keys` on every SIGHUP, for as long as the process runs.
#[cfg(unix)]
pub fn reload_on_sighup(keys: Arc<ApiKeys>) -> std::io::Result<()> {
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            match keys.reload() {
                Ok(count) => tracing::info!(keys = count, "API keys reloaded"),
                Err(error) => {
                    tracing::error!(%error, "API keys not reloaded; the previous keys stay in force")
                }
            }
        }
    });
    Ok(())
}

/// Refuses a request without a key in force, with 401 and the header to send.
pub async fn require_key(
    State(keys): State<Arc<ApiKeys>>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path() == "/health" {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "));
    match presented {
        Some(key) if keys.accepts(key) => next.run(request).await,
        Some(_) => unauthorized("the key in the Authorization header is not valid"),
        None => unauthorized("this route needs an Authorization header: Bearer <API key>"),
    }
}

fn unauthorized(message: &str) -> Response {
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, Some("authorization"), message).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_whole_and_only_whole() {
        assert!(same_key(b"0123456789abcdef", b"0123456789abcdef"));
        assert!(!same_key(b"0123456789abcdef", b"0123456789abcdeg"));
        assert!(!same_key(b"0123456789abcdef", b"0123456789abcde"));
        assert!(!same_key(b"0123456789abcde", b"0123456789abcdef"));
        assert!(!same_key(b"", b"x"));
    }

    #[test]
    fn a_file_of_keys_skips_comments_and_refuses_short_or_no_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        std::fs::write(
            &path,
            "# team a\n\n  0123456789abcdef  \nfedcba9876543210\n",
        )
        .unwrap();
        let keys = ApiKeys::load(&path).unwrap();
        assert_eq!(keys.count(), 2);
        assert!(keys.accepts(b"0123456789abcdef"));
        assert!(!keys.accepts(b"# team a"));
        std::fs::write(&path, "# none\n").unwrap();
        assert!(matches!(keys.reload(), Err(KeysError::Empty { .. })));
        assert!(
            keys.accepts(b"fedcba9876543210"),
            "a failed reload keeps the keys"
        );
        std::fs::write(&path, "short\n").unwrap();
        assert!(matches!(
            ApiKeys::load(&path),
            Err(KeysError::TooShort { line: 1, .. })
        ));
    }
}
