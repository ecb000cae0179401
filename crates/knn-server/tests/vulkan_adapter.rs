//! `--backend vulkan` on the Vulkan driver present (Mesa's lavapipe in CI, a CPU adapter): which
//! adapter `/info` reports, and that `--vulkan-require-hardware` refuses a CPU adapter at start.
//! Without a Vulkan device the tests print why and return, unless `KNN_REQUIRE_VULKAN=1`.
#![cfg(feature = "vulkan")]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use knn_server::backends::{self, BackendChoice, BackendSettings};
use knn_server::serve::build_app;
use serde_json::Value;
use tower::ServiceExt;

/// The Vulkan backend as `serve --backend vulkan` opens it, or `None` (after saying why) where
/// no Vulkan device opens and `KNN_REQUIRE_VULKAN` is not `1`.
fn vulkan_or_skip() -> Option<std::sync::Arc<dyn knn_core::Backend>> {
    match backends::select(BackendChoice::Vulkan, &BackendSettings::default()) {
        Ok(backend) => Some(backend),
        Err(error) if std::env::var("KNN_REQUIRE_VULKAN").as_deref() == Ok("1") => {
            panic!("KNN_REQUIRE_VULKAN=1 but the vulkan backend cannot start: {error}")
        }
        Err(error) => {
            eprintln!("SKIPPED: {error}");
            None
        }
    }
}

/// Whether the loader was pointed at lavapipe's ICD alone, as `scripts/test.sh` does.
fn lavapipe_only() -> bool {
    ["VK_DRIVER_FILES", "VK_ICD_FILENAMES"].iter().any(|name| {
        std::env::var(name).is_ok_and(|files| {
            !files.is_empty() && files.split(':').all(|file| file.contains("lvp_icd"))
        })
    })
}

#[tokio::test]
async fn info_reports_the_adapter_its_type_and_driver() {
    let Some(backend) = vulkan_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (router, _) = build_app(&dir.path().join("data"), backend, 1 << 20)
        .await
        .unwrap();
    let response = router
        .oneshot(Request::get("/info").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["backend"], "vulkan", "{body}");
    let details = &body["details"];
    let adapter = details["adapter"].as_str().unwrap();
    assert!(!adapter.is_empty(), "{body}");
    assert!(body["device"].as_str().unwrap().contains(adapter), "{body}");
    for key in ["device_type", "driver", "driver_info", "adapters_found"] {
        assert!(details[key].is_string(), "{key} missing: {body}");
    }
    if lavapipe_only() {
        assert_eq!(details["device_type"], "Cpu", "{body}");
        assert_eq!(details["driver"], "llvmpipe", "{body}");
    }
}

#[test]
fn requiring_hardware_on_a_cpu_adapter_fails_at_start_naming_it() {
    if !lavapipe_only() || vulkan_or_skip().is_none() {
        eprintln!("SKIPPED: needs the loader pointed at lavapipe alone (VK_DRIVER_FILES)");
        return;
    }
    for (flag, variable) in [(Some("--vulkan-require-hardware"), None), (None, Some("1"))] {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let mut command = Command::new(env!("CARGO_BIN_EXE_knn-server"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--backend", "vulkan"])
            .arg("--data-dir")
            .arg(&data_dir)
            .args(flag)
            .env_remove("KNN_VULKAN_REQUIRE_HARDWARE")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(value) = variable {
            command.env("KNN_VULKAN_REQUIRE_HARDWARE", value);
        }
        let mut child = command.spawn().unwrap();
        // A server that accepted the adapter would listen forever.
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("knn-server started on a CPU adapter ({flag:?}, {variable:?})");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let output = child.wait_with_output().unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("refusing the CPU Vulkan adapter llvmpipe")
                && stderr.contains("(Cpu, driver llvmpipe"),
            "{stderr}"
        );
        assert!(
            !data_dir.exists(),
            "the refused server created {data_dir:?}"
        );
    }
}
