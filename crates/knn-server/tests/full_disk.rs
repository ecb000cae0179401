//! The real binary with its data directory on a filesystem that fills up: every acknowledged
//! write survives, a full disk is a 507 naming the cause, writes work again once space is freed,
//! and nothing acknowledged is lost across a restart.

mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};
use support::namespace::{self, MountNamespace};

const DIMENSION: usize = 32;
const BATCH: usize = 10;
/// Bytes of the filesystem taken by a file of the test's own, freed to make room again. Each
/// commit appends the pages it changed to the WAL (about 20 KiB for a batch here), so this is room
/// for the writes after the disk was full, and for the restart.
const FILLER_BYTES: usize = 384 * 1024;
/// Upserts that must succeed once the filler is gone.
const WRITES_AFTER_FREEING: usize = 6;
/// 507s to see before space is freed: the first one and the writes after it are the path that
/// used to leave a connection inside a transaction.
const FULL_ANSWERS: usize = 8;

/// A vector that identifies its id: as a query, it finds its own id at distance 0.
fn vector_of(n: usize) -> Vec<f32> {
    let mut values = vec![0.5f32; DIMENSION];
    values[0] = n as f32;
    values[1] = (n % 7) as f32;
    values
}

fn batch(first: usize) -> (Vec<usize>, Value) {
    let numbers: Vec<usize> = (first..first + BATCH).collect();
    let vectors: Vec<Value> = numbers
        .iter()
        .map(|&n| json!({"id": format!("v{n:06}"), "values": vector_of(n)}))
        .collect();
    (numbers, json!({ "vectors": vectors }))
}

#[test]
fn acknowledged_writes_survive_a_full_disk_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mount_point = dir.path().join("small");
    std::fs::create_dir(&mount_point).unwrap();
    let Some(namespace) = namespace::or_skip(
        "acknowledged_writes_survive_a_full_disk_and_a_restart",
        MountNamespace::new().and_then(|ns| ns.mount_tmpfs(&mount_point, "1m").map(|()| ns)),
    ) else {
        return;
    };
    let filler = namespace.path(&mount_point.join("filler"));
    std::fs::write(&filler, vec![0xa5u8; FILLER_BYTES]).unwrap();
    let data_dir = mount_point.join("data");
    let server = support::start_wrapped(&namespace.wrapper(), &data_dir, &[]);

    let (status, body) = server.request(
        "POST",
        "/collections",
        Some(&json!({"name": "c", "dimension": DIMENSION, "metric": "l2"})),
    );
    assert_eq!(status, 201, "{body}");
    let mut acknowledged: BTreeSet<usize> = BTreeSet::new();
    let mut collections = vec!["c".to_owned()];
    let mut full_answers = 0;
    let mut next = 0;
    let mut requests = 0;
    while full_answers < FULL_ANSWERS {
        assert!(requests < 5000, "the 1 MiB filesystem never filled");
        requests += 1;
        let (numbers, body) = batch(next);
        next += BATCH;
        let (status, answer) = server.request("POST", "/collections/c/upsert", Some(&body));
        match status {
            200 => acknowledged.extend(numbers),
            507 => {
                full_answers += 1;
                assert_eq!(
                    answer["error"],
                    "storage full: database or disk is full; nothing of this request was stored",
                    "{answer}"
                );
                // A collection is a write too; it must be refused the same way, or kept.
                let name = format!("full-{full_answers}");
                let (status, answer) = server.request(
                    "POST",
                    "/collections",
                    Some(&json!({"name": name, "dimension": 2, "metric": "dot"})),
                );
                match status {
                    201 => collections.push(name),
                    507 => {}
                    other => panic!("create on a full disk: {other} {answer}"),
                }
            }
            other => panic!("upsert {requests}: {other} {answer}"),
        }
    }
    let acknowledged_while_filling = acknowledged.len();

    // Space comes back: every write succeeds again.
    std::fs::remove_file(&filler).unwrap();
    for _ in 0..WRITES_AFTER_FREEING {
        let (numbers, body) = batch(next);
        next += BATCH;
        let (status, answer) = server.request("POST", "/collections/c/upsert", Some(&body));
        assert_eq!(status, 200, "upsert after space was freed: {answer}");
        acknowledged.extend(numbers);
    }
    let (status, answer) = server.request(
        "POST",
        "/collections",
        Some(&json!({"name": "after", "dimension": 2, "metric": "dot"})),
    );
    assert_eq!(status, 201, "{answer}");
    collections.push("after".to_owned());
    let (_, answer) = server.request("GET", "/collections/c", None);
    assert_eq!(answer["count"], acknowledged.len(), "{answer}");

    // SIGKILL, then the same data directory in the same namespace.
    support::signal(&server.child, "KILL");
    let _ = server.wait_exit(Duration::from_secs(10));
    let server = support::start_wrapped(&namespace.wrapper(), &data_dir, &[]);
    let (status, answer) = server.request("GET", "/collections", None);
    assert_eq!(status, 200, "{answer}");
    let present: BTreeSet<String> = answer["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    let (_, answer) = server.request("GET", "/collections/c", None);
    let count_after_restart = answer["count"].as_u64().unwrap() as usize;

    // Every acknowledged id is there with its values: each vector, as a query, finds itself.
    let numbers: Vec<usize> = acknowledged.iter().copied().collect();
    let mut found = 0;
    for chunk in numbers.chunks(1000) {
        let queries: Vec<Vec<f32>> = chunk.iter().map(|&n| vector_of(n)).collect();
        let (status, answer) = server.request(
            "POST",
            "/collections/c/query",
            Some(&json!({"vectors": queries, "k": 1})),
        );
        assert_eq!(status, 200, "{answer}");
        for (n, result) in chunk.iter().zip(answer["results"].as_array().unwrap()) {
            let hit = &result["hits"][0];
            assert_eq!(hit["id"], format!("v{n:06}"), "{result}");
            assert_eq!(hit["score"], 0.0, "{result}");
            found += 1;
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "full disk: {requests} upserts of {BATCH} until {FULL_ANSWERS} answers 507, \
         {acknowledged_while_filling} vectors acknowledged while filling, {} in all; \
         {found} of them and {count_after_restart} vectors present after the restart; \
         collections acknowledged {collections:?}, present {present:?}",
        acknowledged.len()
    );
    assert_eq!(found, acknowledged.len());
    assert_eq!(
        count_after_restart,
        acknowledged.len(),
        "no unacknowledged batch is stored"
    );
    for name in &collections {
        assert!(
            present.contains(name),
            "collection {name} lost: {present:?}"
        );
    }
}
