//! The real binary: durability across `kill -9`, graceful shutdown and startup errors.

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::json;

#[test]
fn acknowledged_upsert_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let server = support::start(&data_dir);
    let (status, body) = server.request(
        "POST",
        "/collections",
        Some(&json!({"name": "docs", "dimension": 3, "metric": "l2"})),
    );
    assert_eq!(status, 201, "{body}");
    let vectors: Vec<_> = (0..50)
        .map(|i| json!({"id": format!("doc-{i:02}"), "values": [i as f32, 0.0, 1.0]}))
        .collect();
    let (status, body) = server.request(
        "POST",
        "/collections/docs/upsert",
        Some(&json!({ "vectors": vectors })),
    );
    assert_eq!(status, 200, "{body}");

    // SIGKILL: no shutdown hook, no WAL checkpoint; only what was committed survives.
    support::signal(&server.child, "KILL");
    let (status, _) = server.wait_exit(Duration::from_secs(10));
    assert!(!status.success());

    let server = support::start(&data_dir);
    let (status, body) = server.request(
        "POST",
        "/collections/docs/query",
        Some(&json!({"vector": [10.2, 0.0, 1.0], "k": 3})),
    );
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["doc-10", "doc-11", "doc-09"]);
    let (_, body) = server.request("GET", "/collections/docs", None);
    assert_eq!(body["count"], 50);
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let server = support::start(&dir.path().join("data"));
    let (status, body) = server.request("GET", "/health", None);
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    support::signal(&server.child, "TERM");
    let (status, log) = server.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "exit status {status}");
    assert!(
        log.iter().any(|l| l.contains("SIGTERM received")),
        "{log:?}"
    );
    assert!(log.iter().any(|l| l.contains("shut down")), "{log:?}");
}

#[test]
fn explicit_backend_that_is_not_compiled_in_fails_at_start() {
    if cfg!(feature = "vulkan") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_knn-server"))
        .args(["serve", "--listen", "127.0.0.1:0", "--backend", "vulkan"])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--features vulkan"), "{stderr}");
}

#[test]
fn bench_reports_throughput() {
    let output = Command::new(env!("CARGO_BIN_EXE_knn-server"))
        .args(["bench", "--backend", "cpu", "--rows", "2000", "--dim", "16"])
        .args(["--batch", "4", "--seconds", "0"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("queries/s"), "{stdout}");
    assert!(stdout.contains("GB/s effective"), "{stdout}");
}
