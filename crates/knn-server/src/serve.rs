//! The `serve` subcommand: storage, backend, router, listener and graceful shutdown.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use knn_core::Backend;
use tokio::net::TcpListener;

use crate::api::{self, ApiSettings};
use crate::backends;
use crate::collections::{Registry, StoreLimits};
use crate::storage::{EmptyFile, Storage};

/// What a service accepts: its API's settings and how much it stores.
pub struct ServiceSettings {
    pub api: ApiSettings,
    pub store: StoreLimits,
}

/// Opens the data directory, loads every collection into `backend` and builds the router, with
/// no authentication and no limit but the body's. A database file that holds nothing is refused
/// (see [`build_app_with`]).
pub async fn build_app(
    data_dir: &Path,
    backend: Arc<dyn Backend>,
    max_body_bytes: usize,
) -> anyhow::Result<(Router, Arc<Registry>)> {
    let settings = ServiceSettings {
        api: ApiSettings::open(max_body_bytes),
        store: StoreLimits::NONE,
    };
    build_app_with(data_dir, EmptyFile::Refuse, backend, &settings).await
}

/// [`build_app`] with `settings`, and `empty` saying whether an existing database file that
/// holds nothing (zero bytes, or SQLite without tables) may become a new store.
pub async fn build_app_with(
    data_dir: &Path,
    empty: EmptyFile,
    backend: Arc<dyn Backend>,
    settings: &ServiceSettings,
) -> anyhow::Result<(Router, Arc<Registry>)> {
    let storage = Storage::open(data_dir, empty)
        .await
        .with_context(|| format!("opening storage in {}", data_dir.display()))?;
    let registry = Arc::new(
        Registry::load(backend, storage, settings.store)
            .await
            .context("loading collections")?,
    );
    Ok((api::router(registry.clone(), &settings.api), registry))
}

/// Refuses to serve a non-loopback address without keys unless told to: anyone who reaches
/// the port could read, replace and delete every collection.
pub fn check_exposure(
    listen: SocketAddr,
    settings: &ApiSettings,
    insecure_no_auth: bool,
) -> anyhow::Result<()> {
    if settings.keys.is_none() && !listen.ip().is_loopback() && !insecure_no_auth {
        anyhow::bail!(
            "refusing to listen on {listen} without API keys: anyone who can reach it could \
             read, replace and delete every collection. Pass --api-key-file FILE (or set \
             KNN_API_KEYS_FILE), or --insecure-no-auth where something else guards the port"
        );
    }
    Ok(())
}

pub async fn serve(
    listen: SocketAddr,
    data_dir: &Path,
    empty: EmptyFile,
    backend: Arc<dyn Backend>,
    settings: ServiceSettings,
) -> anyhow::Result<()> {
    #[cfg(unix)]
    if let Some(keys) = &settings.api.keys {
        crate::api_keys::reload_on_sighup(keys.clone()).context("listening for SIGHUP")?;
        tracing::info!(
            keys = keys.count(),
            "API keys required on every route but /health"
        );
    }
    let device = backend.info();
    tracing::info!(
        backend = %device.backend,
        device = %device.device,
        details = %backends::details_line(&device),
        "backend selected"
    );
    let shutdown = shutdown_signal()?;
    let (app, registry) = build_app_with(data_dir, empty, backend, &settings).await?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let address = listener.local_addr().context("reading the bound address")?;
    tracing::info!(%address, data_dir = %data_dir.display(), "listening on {address}");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")?;
    registry.close().await;
    tracing::info!("shut down");
    Ok(())
}

/// A future that resolves on ctrl-c or SIGTERM; in-flight requests then finish before the server
/// exits. The handlers are installed here, before the server listens: a signal that arrives as
/// soon as it is up (a supervisor's stop) must shut it down gracefully, not kill it.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("listening for ctrl-c")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => tracing::info!("ctrl-c received, shutting down"),
                _ = terminate.recv() => tracing::info!("SIGTERM received, shutting down"),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            match tokio::signal::ctrl_c().await {
                Ok(()) => tracing::info!("ctrl-c received, shutting down"),
                Err(error) => {
                    tracing::error!(%error, "cannot listen for ctrl-c");
                    std::future::pending::<()>().await;
                }
            }
        })
    }
}
