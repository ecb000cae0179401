//! The real binary: durability across `kill -9`, graceful shutdown and startup errors.

mod support;

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::json;
use support::namespace::{self, MountNamespace};

/// Runs `knn-server serve` (through `wrapper`, if any) where it is expected to fail at start.
fn serve_output(wrapper: &[OsString], data_dir: &Path, extra: &[&str]) -> Output {
    let binary = OsString::from(env!("CARGO_BIN_EXE_knn-server"));
    let mut command = match wrapper.split_first() {
        Some((program, rest)) => {
            let mut command = Command::new(program);
            command.args(rest).arg(binary);
            command
        }
        None => Command::new(binary),
    };
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--backend", "cpu"])
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// Asserts a failed start whose error output contains `expected`; returns that output.
fn assert_refused(output: &Output, expected: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "started: {stderr}");
    assert!(
        stderr.contains(expected),
        "expected {expected:?} in {stderr}"
    );
    stderr
}

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

#[test]
fn a_zero_length_database_file_is_refused_unless_initialising_it_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    std::fs::create_dir(&data_dir).unwrap();
    let file = data_dir.join("knn.sqlite3");
    std::fs::write(&file, b"").unwrap();
    let output = serve_output(&[], &data_dir, &[]);
    assert_refused(
        &output,
        "knn.sqlite3 is not a knn-server store: it is empty (0 bytes); start with \
         --initialize-empty-database to create a new store in it",
    );
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 0, "left as found");

    let server = support::start_wrapped(&[], &data_dir, &["--initialize-empty-database"]);
    let (status, body) = server.request(
        "POST",
        "/collections",
        Some(&json!({"name": "c", "dimension": 2, "metric": "dot"})),
    );
    assert_eq!(status, 201, "{body}");
    drop(server);
    // Now a store: it opens without the flag.
    let server = support::start(&data_dir);
    let (status, body) = server.request("GET", "/collections/c", None);
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_file_that_is_not_a_store_is_refused_and_left_untouched_even_with_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    std::fs::create_dir(&data_dir).unwrap();
    let file = data_dir.join("knn.sqlite3");
    let text = b"name,value\nnot,a database\n";
    std::fs::write(&file, text).unwrap();
    for extra in [&[][..], &["--initialize-empty-database"][..]] {
        let output = serve_output(&[], &data_dir, extra);
        assert_refused(
            &output,
            "is not a knn-server store: it is not an SQLite database (no SQLite header); it is \
             left untouched",
        );
        assert_eq!(std::fs::read(&file).unwrap(), text);
    }

    // Another program's SQLite database: refused, not a byte changed (not even its journal mode).
    std::fs::remove_file(&file).unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use sqlx::{ConnectOptions, Executor};
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&file)
            .create_if_missing(true);
        let mut connection = options.connect().await.unwrap();
        connection
            .execute("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me')")
            .await
            .unwrap();
        sqlx::Connection::close(connection).await.unwrap();
    });
    let before = std::fs::read(&file).unwrap();
    for extra in [&[][..], &["--initialize-empty-database"][..]] {
        let output = serve_output(&[], &data_dir, extra);
        assert_refused(
            &output,
            "is not a knn-server store: it holds the tables [notes], not [collections, vectors]; \
             it is left untouched",
        );
        assert_eq!(std::fs::read(&file).unwrap(), before);
    }
    let names: Vec<String> = std::fs::read_dir(&data_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["knn.sqlite3"],
        "no WAL, no journal, no probe left behind"
    );
}

#[test]
fn a_read_only_data_directory_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let mount_point = dir.path().join("ro");
    std::fs::create_dir(&mount_point).unwrap();
    // Root writes through any mode bits, so a read-only mount is what makes a directory read-only
    // for root (as in CI).
    let Some(namespace) = namespace::or_skip(
        "a_read_only_data_directory_is_named_as_such",
        MountNamespace::new().and_then(|ns| ns.mount_tmpfs(&mount_point, "4m").map(|()| ns)),
    ) else {
        return;
    };
    let data_dir = mount_point.join("data");
    // A store made while the filesystem was writable.
    let server = support::start_wrapped(&namespace.wrapper(), &data_dir, &[]);
    let (status, body) = server.request(
        "POST",
        "/collections",
        Some(&json!({"name": "c", "dimension": 2, "metric": "dot"})),
    );
    assert_eq!(status, 201, "{body}");
    support::signal(&server.child, "TERM");
    let (status, log) = server.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status}: {log:?}");
    namespace.remount_read_only(&mount_point).unwrap();

    let output = serve_output(&namespace.wrapper(), &data_dir, &[]);
    let stderr = assert_refused(&output, &format!("{} is read-only", data_dir.display()));
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    // A data directory still to be created under the read-only mount.
    let missing = mount_point.join("new");
    let output = serve_output(&namespace.wrapper(), &missing, &[]);
    assert_refused(&output, &format!("{} is read-only", missing.display()));
}
