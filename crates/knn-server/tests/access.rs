//! The real binary as its image runs it: API keys on every route but /health (reloaded on
//! SIGHUP), the refusal to serve a non-loopback address without them, and the limits that keep
//! one client from exhausting the service. Every limit must answer with its status, name the
//! limit, and store nothing of the refused request. Traffic goes to 127.0.0.1 only, and every
//! loop is bounded.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::Server;

const KEY: &str = "k-0123456789abcdef";
const OTHER_KEY: &str = "k-fedcba9876543210";

fn bearer(key: &str) -> String {
    format!("Authorization: Bearer {key}")
}

fn start_with(dir: &Path, extra: &[&str]) -> Server {
    support::start_wrapped(&[], &dir.join("data"), extra)
}

fn keyed(dir: &Path, keys: &str, extra: &[&str]) -> Server {
    let file = dir.join("keys");
    std::fs::write(&file, keys).unwrap();
    let mut args = vec!["--api-key-file", file.to_str().unwrap()];
    args.extend(extra);
    start_with(dir, &args)
}

/// Every route but /health, with a body where it takes one, and the status it answers with a
/// valid key on a server holding collection `docs` (dimension 3).
fn routes() -> Vec<(&'static str, &'static str, Option<Value>, u16)> {
    vec![
        ("GET", "/info", None, 200),
        ("GET", "/collections", None, 200),
        (
            "POST",
            "/collections",
            Some(json!({"name": "more", "dimension": 2, "metric": "l2"})),
            201,
        ),
        ("GET", "/collections/docs", None, 200),
        (
            "POST",
            "/collections/docs/upsert",
            Some(json!({"vectors": [{"id": "a", "values": [1, 0, 0]}]})),
            200,
        ),
        (
            "POST",
            "/collections/docs/query",
            Some(json!({"vector": [1, 0, 0], "k": 1})),
            200,
        ),
        (
            "POST",
            "/collections/docs/delete",
            Some(json!({"ids": ["a"]})),
            200,
        ),
        ("DELETE", "/collections/docs", None, 200),
    ]
}

#[test]
fn every_route_but_health_needs_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = keyed(dir.path(), &format!("# ops\n{KEY}\n{OTHER_KEY}\n"), &[]);
    let key = bearer(KEY);
    let (status, body) = server.request("GET", "/health", None);
    assert_eq!(status, 200, "/health without a key: {body}");
    let created = server.request_with(
        "POST",
        "/collections",
        &[&key],
        Some(&json!({"name": "docs", "dimension": 3, "metric": "cosine"})),
    );
    assert_eq!(created.status, 201, "{}", created.body);

    for (method, path, body, expected) in routes() {
        for (headers, what) in [
            (vec![], "no key"),
            (vec![bearer("k-not-a-key-at-all")], "a wrong key"),
            (
                vec![format!("Authorization: Basic {KEY}")],
                "another scheme",
            ),
        ] {
            let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
            let reply = server.request_with(method, path, &headers, body.as_ref());
            assert_eq!(
                reply.status, 401,
                "{method} {path} with {what}: {}",
                reply.body
            );
            assert_eq!(reply.body["field"], "authorization", "{}", reply.body);
            assert!(
                reply.body["error"]
                    .as_str()
                    .unwrap()
                    .contains("Authorization"),
                "{}",
                reply.body
            );
            assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        }
        let reply = server.request_with(method, path, &[&key], body.as_ref());
        assert_eq!(
            reply.status, expected,
            "{method} {path} with the key: {}",
            reply.body
        );
        println!("{method} {path}: 401 without a key, {expected} with it");
    }
    // A refused delete deleted nothing: the collections deleted above went with the key only.
    let (_, listed) = server.request("GET", "/health", None);
    assert_eq!(listed["status"], "ok");
}

#[test]
fn keys_are_never_logged_and_are_reloaded_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let server = keyed(dir.path(), &format!("{KEY}\n"), &[]);
    assert_eq!(
        server
            .request_with("GET", "/collections", &[&bearer(KEY)], None)
            .status,
        200
    );
    std::fs::write(dir.path().join("keys"), format!("{OTHER_KEY}\n")).unwrap();
    support::signal(&server.child, "HUP");
    server.wait_for_log("API keys reloaded", Duration::from_secs(10));
    assert_eq!(
        server
            .request_with("GET", "/collections", &[&bearer(KEY)], None)
            .status,
        401,
        "the replaced key is refused"
    );
    assert_eq!(
        server
            .request_with("GET", "/collections", &[&bearer(OTHER_KEY)], None)
            .status,
        200,
        "the new key is taken"
    );
    // A file that no longer holds a key keeps the keys in force.
    std::fs::write(dir.path().join("keys"), "# rotated out\n").unwrap();
    support::signal(&server.child, "HUP");
    let line = server.wait_for_log("not reloaded", Duration::from_secs(10));
    assert!(line.contains("holds no key"), "{line}");
    assert_eq!(
        server
            .request_with("GET", "/collections", &[&bearer(OTHER_KEY)], None)
            .status,
        200
    );
    let (status, log) = {
        support::signal(&server.child, "TERM");
        server.wait_exit(Duration::from_secs(30))
    };
    assert!(status.success());
    let all = log.join("\n");
    assert!(
        !all.contains(KEY) && !all.contains(OTHER_KEY),
        "a key was logged:\n{all}"
    );
}

#[test]
fn a_non_loopback_address_without_keys_is_refused_unless_insecure_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let output = Command::new(env!("CARGO_BIN_EXE_knn-server"))
        .args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--backend",
            "cpu",
            "--data-dir",
        ])
        .arg(&data_dir)
        .env_remove("KNN_API_KEYS_FILE")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("without API keys"), "{stderr}");
    assert!(stderr.contains("--insecure-no-auth"), "{stderr}");
    assert!(!data_dir.exists(), "nothing is created before the refusal");

    let mut child = Command::new(env!("CARGO_BIN_EXE_knn-server"))
        .args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--backend",
            "cpu",
            "--insecure-no-auth",
        ])
        .arg("--data-dir")
        .arg(&data_dir)
        .env_remove("KNN_API_KEYS_FILE")
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let port = std::io::BufRead::lines(stderr)
        .map_while(Result::ok)
        .find_map(|line| {
            let address = line
                .split("listening on ")
                .nth(1)?
                .split_whitespace()
                .next()?;
            address.parse::<std::net::SocketAddr>().ok()
        })
        .expect("a listening address")
        .port();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

#[test]
fn the_key_file_comes_from_the_environment_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys");
    std::fs::write(&file, format!("{KEY}\n")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_knn-server"))
        .args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--backend",
            "cpu",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .env("KNN_API_KEYS_FILE", dir.path().join("missing"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("cannot read the API key file"), "{stderr}");
}

/// Upserts `ids` (3 values each) into `collection` and returns the reply.
fn upsert(server: &Server, collection: &str, ids: &[&str]) -> support::Reply {
    let vectors: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "values": [1.0, 2.0, 3.0]}))
        .collect();
    server.request_with(
        "POST",
        &format!("/collections/{collection}/upsert"),
        &[],
        Some(&json!({ "vectors": vectors })),
    )
}

fn count(server: &Server) -> u64 {
    let (status, body) = server.request("GET", "/collections/docs", None);
    assert_eq!(status, 200, "{body}");
    body["count"].as_u64().unwrap()
}

fn create(server: &Server, name: &str) -> support::Reply {
    server.request_with(
        "POST",
        "/collections",
        &[],
        Some(&json!({"name": name, "dimension": 3, "metric": "l2"})),
    )
}

fn assert_limit(reply: &support::Reply, status: u16, flag: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    let message = reply.body["error"].as_str().unwrap();
    assert!(message.contains(flag), "{message}");
    assert!(
        message.contains("nothing of this request was stored"),
        "{message}"
    );
    println!("{status} {}", reply.body);
}

/// Two collections, four rows each, 70 bytes in all: rows of 3 f32 and a 2-byte id are 14 bytes.
const STORE_LIMITS: [&str; 6] = [
    "--max-collections",
    "2",
    "--max-rows-per-collection",
    "4",
    "--max-stored-bytes",
    "70",
];

#[test]
fn store_limits_refuse_a_write_whole() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), &STORE_LIMITS);
    assert_eq!(create(&server, "docs").status, 201);
    assert_eq!(create(&server, "more").status, 201);
    assert_limit(&create(&server, "third"), 507, "--max-collections");
    let (_, listed) = server.request("GET", "/collections", None);
    assert_eq!(listed["collections"].as_array().unwrap().len(), 2);

    assert_eq!(upsert(&server, "docs", &["a1", "a2", "a3"]).status, 200);
    assert_limit(
        &upsert(&server, "docs", &["a4", "a5"]),
        507,
        "--max-rows-per-collection",
    );
    assert_eq!(count(&server), 3, "nothing of the refused batch");
    // replacing rows adds none
    assert_eq!(upsert(&server, "docs", &["a1", "a2", "a3"]).status, 200);
    assert_eq!(upsert(&server, "docs", &["a4"]).status, 200);

    // 4 rows of 14 bytes stored; one more row in another collection passes 70
    let more = upsert(&server, "more", &["b1", "b2"]);
    assert_limit(&more, 507, "--max-stored-bytes");
    let (_, more_info) = server.request("GET", "/collections/more", None);
    assert_eq!(more_info["count"], 0);
    // deleting frees room
    let deleted = server.request_with(
        "POST",
        "/collections/docs/delete",
        &[],
        Some(&json!({"ids": ["a4"]})),
    );
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let one = upsert(&server, "more", &["b1"]);
    assert_eq!(one.status, 200, "{}", one.body);

    // after a restart the same data counts the same
    drop(server);
    let server = start_with(dir.path(), &STORE_LIMITS);
    assert_eq!(count(&server), 3);
    let two_more = upsert(&server, "more", &["b2", "b3"]);
    assert_limit(&two_more, 507, "--max-stored-bytes");
    let (_, more_info) = server.request("GET", "/collections/more", None);
    assert_eq!(more_info["count"], 1);
}

/// A request whose headers promise a body that never comes, held open until dropped.
fn slow_request(server: &Server) -> TcpStream {
    let mut stream = TcpStream::connect(server.address).unwrap();
    write!(
        stream,
        "POST /collections/docs/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: 1000\r\n\r\n{{\"vector\""
    )
    .unwrap();
    stream
}

fn read_status(stream: &mut TcpStream) -> (u16, String) {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(read) = stream.read(&mut buffer) {
        if read == 0 {
            break;
        }
        response.extend_from_slice(&buffer[..read]);
        if response.windows(4).any(|w| w == b"\r\n\r\n") && response.ends_with(b"}") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// A server taking `slots` requests at once, each for at most `seconds`.
fn start_limited(dir: &Path, slots: u32, seconds: u64) -> Server {
    let (slots, seconds) = (slots.to_string(), seconds.to_string());
    start_with(
        dir,
        &[
            "--max-concurrent-requests",
            &slots,
            "--request-timeout-secs",
            &seconds,
        ],
    )
}

#[test]
fn requests_beyond_the_concurrency_limit_get_503_and_slow_ones_408() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_limited(dir.path(), 2, 2);
    assert_eq!(create(&server, "docs").status, 201);
    let mut slow: Vec<TcpStream> = (0..2).map(|_| slow_request(&server)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let refused = server.request_with("GET", "/collections", &[], None);
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(
        refused.body["error"]
            .as_str()
            .unwrap()
            .contains("--max-concurrent-requests")
    );
    let (status, _) = server.request("GET", "/health", None);
    assert_eq!(status, 200, "/health answers beside the limit");
    for stream in &mut slow {
        let (status, text) = read_status(stream);
        assert_eq!(status, 408, "{text}");
        assert!(text.contains("--request-timeout-secs"), "{text}");
    }
    let (status, body) = server.request("GET", "/collections", None);
    assert_eq!(status, 200, "slots are free again: {body}");
}

#[test]
fn a_flood_of_slow_requests_leaves_health_answering() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_limited(dir.path(), 4, 3);
    assert_eq!(create(&server, "docs").status, 201);
    // bounded: 64 connections from this process, to 127.0.0.1 only
    let mut flood: Vec<TcpStream> = (0..64).map(|_| slow_request(&server)).collect();
    let mut health_times = Vec::new();
    for _ in 0..10 {
        let asked = Instant::now();
        let (status, _) = server.request("GET", "/health", None);
        assert_eq!(status, 200);
        health_times.push(asked.elapsed());
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut statuses = std::collections::BTreeMap::new();
    for stream in &mut flood {
        *statuses.entry(read_status(stream).0).or_insert(0) += 1;
    }
    println!(
        "64 slow requests: {statuses:?}; /health took at most {:?}",
        health_times.iter().max().unwrap()
    );
    assert_eq!(statuses.get(&408), Some(&4), "{statuses:?}");
    assert_eq!(statuses.get(&503), Some(&60), "{statuses:?}");
    let (status, _) = server.request("GET", "/collections", None);
    assert_eq!(status, 200);
}
