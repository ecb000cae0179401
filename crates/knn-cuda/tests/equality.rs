//! The CUDA backend against knn-core's reference search and CPU backend, on CUDA device 0.
//! Without a driver or device the tests print why and return, unless `KNN_REQUIRE_CUDA=1`, which
//! turns the missing device into a failure (for runs on a GPU machine).

use std::io::Write;
use std::sync::OnceLock;

use knn_core::testing::{
    DEFAULT_TOLERANCE, assert_same_hits, random_integer_matrix, random_matrix,
};
use knn_core::{Backend, BackendError, CpuBackend, Hit, Matrix, Metric, reference};
use knn_cuda::{CudaBackend, CudaOptions};

/// Says on the terminal, past the test harness's output capture, which test did not run and
/// why: the harness itself can only report it as passed.
fn skip(reason: &str) {
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
}

fn device() -> Option<&'static CudaBackend> {
    static DEVICE: OnceLock<Result<CudaBackend, String>> = OnceLock::new();
    let opened = DEVICE.get_or_init(|| CudaBackend::new().map_err(|e| e.to_string()));
    match opened {
        Ok(backend) => Some(backend),
        Err(reason) if std::env::var("KNN_REQUIRE_CUDA").as_deref() == Ok("1") => {
            panic!("KNN_REQUIRE_CUDA=1 but the CUDA backend cannot start: {reason}")
        }
        Err(reason) => {
            skip(reason);
            None
        }
    }
}

/// Chunks of `chunk_rows` rows and score buffers so small that one search is many query batches
/// and many row tiles per chunk.
fn tiny(dim: usize, chunk_rows: u64) -> CudaOptions {
    CudaOptions {
        max_chunk_bytes: chunk_rows * dim as u64 * 4,
        // Two queries of 128 rows per launch.
        max_scores_bytes: 2 * 128 * 4,
        max_query_batch: 6,
        ..CudaOptions::default()
    }
}

fn check(backend: &CudaBackend, vectors: &Matrix, queries: &Matrix, metric: Metric, ks: &[usize]) {
    let vectors = metric.prepare(vectors.clone()).unwrap();
    let queries = metric.prepare(queries.clone()).unwrap();
    let prepared = backend.upload(&vectors, metric).unwrap();
    let cpu = CpuBackend::new().upload(&vectors, metric).unwrap();
    // The order is total (score, then row), so a smaller k is a prefix of the largest one:
    // the slow oracle runs once.
    let largest = ks.iter().copied().max().unwrap_or(0);
    let reference_hits = reference::search(&vectors, &queries, metric, largest);
    let cpu_hits = cpu.search(&queries, largest).unwrap();
    let prefix = |lists: &[Vec<Hit>], k: usize| -> Vec<Vec<Hit>> {
        lists
            .iter()
            .map(|hits| hits[..k.min(hits.len())].to_vec())
            .collect()
    };
    for &k in ks {
        let actual = prepared.search(&queries, k).unwrap();
        assert_eq!(actual.len(), queries.rows());
        assert!(
            actual
                .iter()
                .all(|hits| hits.len() == k.min(vectors.rows()))
        );
        assert_same_hits(&prefix(&reference_hits, k), &actual, DEFAULT_TOLERANCE);
        assert_same_hits(&prefix(&cpu_hits, k), &actual, DEFAULT_TOLERANCE);
    }
}

#[test]
fn without_a_driver_the_backend_is_unavailable_with_the_reason() {
    let Some(reason) = knn_cuda::missing_library() else {
        eprintln!("CUDA libraries present: the device tests cover this machine");
        return;
    };
    match CudaBackend::new() {
        Err(BackendError::Unavailable {
            backend,
            reason: got,
        }) => {
            assert_eq!(backend, "cuda");
            assert_eq!(got, reason);
        }
        Err(other) => panic!("expected unavailable, got {other}"),
        Ok(_) => panic!("a backend started although {reason}"),
    }
}

#[test]
fn matches_the_reference_across_metrics_k_and_dimensions_with_many_chunks() {
    let Some(device) = device() else { return };
    // Dimensions below, at and off the 128-thread block; 1000 rows in chunks of 97 leave a ragged
    // last chunk, and 13 queries leave a ragged last query tile and batch.
    for (seed, dim) in [(1, 3), (2, 128), (3, 130)] {
        let vectors = random_matrix(1000, dim, seed);
        let queries = random_matrix(13, dim, seed + 100);
        let backend = device.with_same_device(tiny(dim, 97));
        for metric in Metric::ALL {
            check(&backend, &vectors, &queries, metric, &[1, 10, 100]);
        }
    }
}

#[test]
fn matches_the_reference_with_default_sizes() {
    let Some(device) = device() else { return };
    // One tile of 20 000 rows: k up to 100 is cut down by a threshold on the device; k 1000
    // has fewer segments than k, so every row is a candidate and the scores are read back.
    let vectors = random_matrix(20_000, 96, 7);
    let queries = random_matrix(64, 96, 8);
    for metric in Metric::ALL {
        check(device, &vectors, &queries, metric, &[1, 10, 100, 1000]);
    }
}

#[test]
fn queries_with_more_candidates_than_slots_read_their_scores_back_with_the_same_results() {
    let Some(device) = device() else { return };
    // Values in -2..=2 over 4 dimensions: hundreds of rows tie at each score, far more than the
    // 3 candidate slots, so every query overflows and is selected from its whole score row.
    let vectors = random_integer_matrix(5000, 4, 2, 51);
    let queries = random_integer_matrix(9, 4, 2, 52);
    let backend = device.with_same_device(CudaOptions {
        max_candidates_per_query: 3,
        ..CudaOptions::default()
    });
    for metric in [Metric::Dot, Metric::L2] {
        let prepared = backend.upload(&vectors, metric).unwrap();
        for k in [1, 10, 100] {
            let expected = reference::search(&vectors, &queries, metric, k);
            assert_eq!(
                prepared.search(&queries, k).unwrap(),
                expected,
                "{metric} k={k}"
            );
        }
    }
}

#[test]
fn a_collection_over_the_memory_budget_is_streamed_with_the_same_results() {
    let Some(device) = device() else { return };
    let dim = 33;
    let vectors = random_matrix(700, dim, 11);
    let queries = random_matrix(9, dim, 12);
    let mut options = tiny(dim, 1000);
    // The working set plus a quarter of the collection: streamed in chunks of 175 rows.
    options.memory_budget_bytes = Some(options.search_working_bytes(dim) + 175 * dim as u64 * 4);
    let backend = device.with_same_device(options);
    for metric in Metric::ALL {
        check(&backend, &vectors, &queries, metric, &[1, 10, 100]);
    }
}

#[test]
fn exact_ties_are_broken_by_the_lower_row_across_chunk_boundaries() {
    let Some(device) = device() else { return };
    let vectors = random_integer_matrix(600, 5, 2, 21);
    let queries = random_integer_matrix(7, 5, 2, 22);
    let backend = device.with_same_device(tiny(5, 50));
    for metric in [Metric::Dot, Metric::L2] {
        let prepared = backend.upload(&vectors, metric).unwrap();
        for k in [1, 10, 100] {
            let expected = reference::search(&vectors, &queries, metric, k);
            assert_eq!(
                prepared.search(&queries, k).unwrap(),
                expected,
                "{metric} k={k}"
            );
        }
    }
}

#[test]
fn edge_cases_k_zero_k_above_rows_empty_collection_and_wrong_dimension() {
    let Some(device) = device() else { return };
    let vectors = random_matrix(5, 4, 31);
    let queries = random_matrix(2, 4, 32);
    let prepared = device.upload(&vectors, Metric::L2).unwrap();
    assert_eq!(prepared.search(&queries, 0).unwrap(), vec![vec![], vec![]]);
    let all = prepared.search(&queries, 50).unwrap();
    assert_same_hits(
        &reference::search(&vectors, &queries, Metric::L2, 50),
        &all,
        DEFAULT_TOLERANCE,
    );
    assert_eq!(all[0].len(), 5);
    let empty = device
        .upload(&Matrix::empty(4).unwrap(), Metric::Dot)
        .unwrap();
    assert_eq!(empty.search(&queries, 3).unwrap(), vec![vec![], vec![]]);
    assert!(matches!(
        prepared.search(&random_matrix(1, 5, 33), 3),
        Err(BackendError::InvalidInput(_))
    ));
}

#[test]
fn a_budget_below_one_row_is_an_out_of_memory_error_with_the_sizes() {
    let Some(device) = device() else { return };
    let backend = device.with_same_device(CudaOptions {
        memory_budget_bytes: Some(100),
        ..CudaOptions::default()
    });
    match backend.upload(&random_matrix(3, 64, 41), Metric::Dot) {
        Err(BackendError::OutOfMemory {
            available_bytes,
            requested_bytes,
        }) => {
            assert_eq!(available_bytes, 100);
            assert!(requested_bytes > 100);
        }
        Err(other) => panic!("expected out of memory, got {other}"),
        Ok(_) => panic!("expected out of memory, got a collection"),
    }
}

#[test]
fn info_names_the_backend_and_the_device() {
    let Some(device) = device() else { return };
    let info = device.info();
    assert_eq!(info.backend, "cuda");
    assert!(info.device.contains("compute capability"));
}
