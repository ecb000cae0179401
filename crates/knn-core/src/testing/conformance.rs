//! The equality suite every device backend runs: the same scenarios against
//! [`reference::search`] and the CPU backend, so that no backend passes a weaker version of
//! them. What differs between backends (how a device opens, how its chunk, score and memory
//! sizes are set, what its device description says) is a [`DeviceSuite`]'s fields and its
//! scenarios' arguments; each scenario is named after the test that runs it.

use crate::backend::{Backend, BackendError};
use crate::cpu::CpuBackend;
use crate::matrix::Matrix;
use crate::metric::{Hit, Metric};
use crate::reference;
use crate::testing::{
    DEFAULT_TOLERANCE, SharedDevice, assert_same_hits, random_integer_matrix, random_matrix,
};

/// A device backend under test: its shared device and how to give it other sizes. Meant for a
/// `static`; every scenario skips or fails as [`SharedDevice::run_or_skip`] says where the device
/// does not open.
pub struct DeviceSuite<B> {
    pub device: SharedDevice<B>,
    /// `(device, dim, chunk_rows)`: the device with chunks of `chunk_rows` rows of dimension
    /// `dim` and score buffers so small that one search is many query batches and row tiles.
    pub with_small_sizes: fn(&B, usize, u64) -> B,
    /// `(device, dim, resident_bytes)`: the device with chunks that could hold a whole test
    /// collection of dimension `dim`, and a memory budget that leaves room for `resident_bytes`
    /// of it next to what a search needs.
    pub with_room_for: fn(&B, usize, u64) -> B,
    /// `(device, budget_bytes)`: the device with default sizes and a memory budget of
    /// `budget_bytes`.
    pub with_budget: fn(&B, u64) -> B,
}

impl<B: Backend> DeviceSuite<B> {
    /// [`SharedDevice::run_or_skip`], for a backend's own tests.
    pub fn run_or_skip<T>(&self, test: impl FnOnce(&B) -> T) -> Option<T> {
        self.device.run_or_skip(test)
    }

    /// For a backend that loads its runtime at run time: where `missing_library` says why the
    /// runtime does not load, opening the device must fail as [`BackendError::Unavailable`] for
    /// this backend with that reason. Runs without the shared device.
    pub fn without_a_driver_the_backend_is_unavailable_with_the_reason(
        &self,
        missing_library: Option<String>,
    ) {
        let backend = self.device.backend();
        let Some(reason) = missing_library else {
            eprintln!("{backend} runtime libraries present: the device tests cover this machine");
            return;
        };
        match self.device.open_another() {
            Err(BackendError::Unavailable {
                backend: got_backend,
                reason: got_reason,
            }) => {
                assert_eq!(got_backend, backend);
                assert_eq!(got_reason, reason);
            }
            Err(other) => panic!("expected unavailable, got {other}"),
            Ok(_) => panic!("a backend started although {reason}"),
        }
    }

    /// 1000 rows and 13 queries of each dimension of `dims` (seeds 1, 2, 3, … in order), every
    /// metric, k 1, 10 and 100, with small sizes and chunks of `chunk_rows` rows; one that does
    /// not divide 1000 leaves a ragged last chunk.
    pub fn matches_the_reference_across_metrics_k_and_dimensions_with_many_chunks(
        &self,
        dims: &[usize],
        chunk_rows: u64,
    ) {
        self.run_or_skip(|device| {
            for (seed, &dim) in (1..).zip(dims) {
                let vectors = random_matrix(1000, dim, seed);
                let queries = random_matrix(13, dim, seed + 100);
                let backend = (self.with_small_sizes)(device, dim, chunk_rows);
                for metric in Metric::ALL {
                    check(&backend, &vectors, &queries, metric, &[1, 10, 100]);
                }
            }
        });
    }

    /// `rows` rows and 64 queries of dimension 96, every metric and every k of `ks`, on the
    /// device with its default sizes.
    pub fn matches_the_reference_with_default_sizes(&self, rows: usize, ks: &[usize]) {
        self.run_or_skip(|device| {
            let vectors = random_matrix(rows, 96, 7);
            let queries = random_matrix(64, 96, 8);
            for metric in Metric::ALL {
                check(device, &vectors, &queries, metric, ks);
            }
        });
    }

    /// 700 rows of dimension 33 with room for a quarter of them: streamed in chunks of 175 rows.
    pub fn a_collection_over_the_memory_budget_is_streamed_with_the_same_results(&self) {
        self.run_or_skip(|device| {
            let dim = 33;
            let vectors = random_matrix(700, dim, 11);
            let queries = random_matrix(9, dim, 12);
            let backend = (self.with_room_for)(device, dim, 175 * dim as u64 * 4);
            for metric in Metric::ALL {
                check(&backend, &vectors, &queries, metric, &[1, 10, 100]);
            }
        });
    }

    /// For backends that select top-k candidates on the device into a bounded number of slots
    /// per query: `with_candidate_slots` builds one with that many slots. Values in -2..=2 over 4
    /// dimensions make hundreds of rows tie at each score, far more than 3 slots, so every query
    /// overflows and must be selected from its whole score row, exactly.
    pub fn queries_with_more_candidates_than_slots_read_their_scores_back_with_the_same_results(
        &self,
        with_candidate_slots: impl FnOnce(&B, usize) -> B,
    ) {
        self.run_or_skip(|device| {
            let vectors = random_integer_matrix(5000, 4, 2, 51);
            let queries = random_integer_matrix(9, 4, 2, 52);
            check_exact(
                &with_candidate_slots(device, 3),
                &vectors,
                &queries,
                &[Metric::Dot, Metric::L2],
                &[1, 10, 100],
            );
        });
    }

    /// [`check_exact`] with small sizes and chunks of 50 rows.
    pub fn exact_ties_are_broken_by_the_lower_row_across_chunk_boundaries(&self) {
        self.run_or_skip(|device| {
            // Small integers: every score is exact in f32 on any device, so the only freedom
            // left is the tie order, which must be by row, including between rows of different
            // chunks.
            let vectors = random_integer_matrix(600, 5, 2, 21);
            let queries = random_integer_matrix(7, 5, 2, 22);
            check_exact(
                &(self.with_small_sizes)(device, 5, 50),
                &vectors,
                &queries,
                &[Metric::Dot, Metric::L2],
                &[1, 10, 100],
            );
        });
    }

    pub fn edge_cases_k_zero_k_above_rows_empty_collection_and_wrong_dimension(&self) {
        self.run_or_skip(|device| {
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
            let no_queries = Matrix::empty(4).unwrap();
            assert!(prepared.search(&no_queries, 3).unwrap().is_empty());

            let empty = device
                .upload(&Matrix::empty(4).unwrap(), Metric::Dot)
                .unwrap();
            assert_eq!(empty.rows(), 0);
            assert_eq!(empty.search(&queries, 3).unwrap(), vec![vec![], vec![]]);

            match prepared.search(&random_matrix(1, 5, 33), 3) {
                Err(BackendError::InvalidInput(message)) => {
                    assert!(message.contains('5'), "{message}")
                }
                other => panic!("expected a dimension error, got {other:?}"),
            }
        });
    }

    /// Uploads 3 rows of dimension 64 with a budget of 100 bytes: refused with the budget as the
    /// available size and more than it as the requested size, which it returns for the
    /// backend's own arithmetic (`None` where the device did not open).
    pub fn a_budget_below_one_row_is_an_out_of_memory_error_with_the_sizes(&self) -> Option<u64> {
        self.run_or_skip(|device| {
            let budget = 100;
            let backend = (self.with_budget)(device, budget);
            match backend.upload(&random_matrix(3, 64, 41), Metric::Dot) {
                Err(BackendError::OutOfMemory {
                    available_bytes,
                    requested_bytes,
                }) => {
                    assert_eq!(available_bytes, budget);
                    assert!(requested_bytes > budget);
                    requested_bytes
                }
                Err(other) => panic!("expected out of memory, got {other}"),
                Ok(_) => panic!("expected out of memory, got a collection"),
            }
        })
    }

    /// The device reports this backend's name and a device description, which it returns for
    /// the backend's own expectations (`None` where the device did not open).
    pub fn info_names_the_backend_and_the_device(&self) -> Option<String> {
        self.run_or_skip(|device| {
            let info = device.info();
            assert_eq!(info.backend, self.device.backend());
            assert!(!info.device.is_empty());
            info.device
        })
    }
}

/// Searches `vectors` for `queries` on `backend` with every k of `ks` and compares the hits with
/// the reference's and the CPU backend's. Prepares both matrices for `metric` first.
pub fn check(
    backend: &dyn Backend,
    vectors: &Matrix,
    queries: &Matrix,
    metric: Metric,
    ks: &[usize],
) {
    let vectors = metric.prepare(vectors.clone()).unwrap();
    let queries = metric.prepare(queries.clone()).unwrap();
    let prepared = backend.upload(&vectors, metric).unwrap();
    assert_eq!(prepared.rows(), vectors.rows());
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

/// Exact equality with the reference, ties and their order included, for every metric of
/// `metrics` and k of `ks`: for data whose scores are exact in `f32` on any device (small
/// integers), where no rounding can excuse a difference.
pub fn check_exact(
    backend: &dyn Backend,
    vectors: &Matrix,
    queries: &Matrix,
    metrics: &[Metric],
    ks: &[usize],
) {
    for &metric in metrics {
        let prepared = backend.upload(vectors, metric).unwrap();
        for &k in ks {
            let expected = reference::search(vectors, queries, metric, k);
            assert_eq!(
                prepared.search(queries, k).unwrap(),
                expected,
                "{metric} k={k}"
            );
        }
    }
}
