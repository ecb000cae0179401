//! The CPU backend: exact, multithreaded with rayon, scanning the collection in cache-sized
//! blocks.
//!
//! Each rayon task takes a block of rows small enough to stay in L2 and scores it against every
//! query, four queries at a time so that each row is loaded once per four queries. Every worker
//! keeps its own [`TopK`] per query; the workers' selections are merged at the end. Because
//! [`TopK`] is exact and independent of push order, the result equals a sequential scan.

use rayon::prelude::*;

use crate::backend::{Backend, BackendError, DeviceInfo, Prepared, check_query_dim};
use crate::matrix::Matrix;
use crate::metric::{Hit, Metric};
use crate::topk::TopK;

/// Bytes of collection rows per block: half of a typical 256 KiB–1 MiB L2, leaving room for the
/// queries and the per-query heaps.
const BLOCK_BYTES: usize = 128 * 1024;
/// Blocks never get smaller than this, so that per-block overhead stays negligible.
const MIN_BLOCK_ROWS: usize = 16;
/// Queries scored together against one row; 4 x 8 accumulators fit the vector registers.
const QUERY_GROUP: usize = 4;
/// Accumulator lanes per query: one AVX register, two SSE/NEON registers.
const LANES: usize = 8;

#[derive(Debug, Default, Clone)]
pub struct CpuBackend;

impl CpuBackend {
    pub fn new() -> Self {
        Self
    }
}

impl Backend for CpuBackend {
    fn info(&self) -> DeviceInfo {
        let kernel = match Kernel::detect() {
            Kernel::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Fma => "avx2+fma",
        };
        DeviceInfo {
            backend: "cpu".to_owned(),
            device: format!(
                "{} threads, {} {kernel} kernel",
                rayon::current_num_threads(),
                std::env::consts::ARCH
            ),
        }
    }

    fn upload(&self, vectors: &Matrix, metric: Metric) -> Result<Box<dyn Prepared>, BackendError> {
        Ok(Box::new(CpuCollection {
            vectors: vectors.clone(),
            metric,
            kernel: Kernel::detect(),
        }))
    }
}

struct CpuCollection {
    vectors: Matrix,
    metric: Metric,
    kernel: Kernel,
}

impl Prepared for CpuCollection {
    fn rows(&self) -> usize {
        self.vectors.rows()
    }

    fn search(&self, queries: &Matrix, k: usize) -> Result<Vec<Vec<Hit>>, BackendError> {
        check_query_dim(self.vectors.dim(), queries)?;
        let empty = || vec![TopK::new(k, self.metric); queries.rows()];
        if k == 0 || queries.rows() == 0 || self.vectors.rows() == 0 {
            return Ok(empty().into_iter().map(TopK::into_sorted_vec).collect());
        }
        let dim = self.vectors.dim();
        let block_rows = self.block_rows();
        let tops = self
            .vectors
            .as_slice()
            .par_chunks(block_rows * dim)
            .enumerate()
            .fold(empty, |mut tops, (block, rows)| {
                let first_row = (block * block_rows) as u32;
                self.kernel
                    .scan(self.metric, rows, first_row, queries, &mut tops);
                tops
            })
            .reduce_with(|mut left, right| {
                for (l, r) in left.iter_mut().zip(right) {
                    l.merge(r);
                }
                left
            })
            .unwrap_or_else(empty);
        Ok(tops.into_iter().map(TopK::into_sorted_vec).collect())
    }
}

impl CpuCollection {
    /// Rows per block: cache-sized, but small enough that every thread gets several blocks even
    /// for small collections.
    fn block_rows(&self) -> usize {
        let cache_rows = BLOCK_BYTES / (self.vectors.dim() * size_of::<f32>());
        let balanced_rows = self
            .vectors
            .rows()
            .div_ceil(rayon::current_num_threads() * 4);
        cache_rows.min(balanced_rows).max(MIN_BLOCK_ROWS)
    }
}

/// The instruction set the scoring loop is compiled for, chosen once at run time.
#[derive(Debug, Clone, Copy)]
enum Kernel {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
}

impl Kernel {
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Kernel::Avx2Fma;
        }
        Kernel::Portable
    }

    fn scan(
        self,
        metric: Metric,
        rows: &[f32],
        first_row: u32,
        queries: &Matrix,
        tops: &mut [TopK],
    ) {
        match self {
            Kernel::Portable => scan_block::<false>(metric, rows, first_row, queries, tops),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `detect` chose this variant only after confirming the CPU has AVX2 and FMA.
            Kernel::Avx2Fma => unsafe {
                scan_block_avx2_fma(metric, rows, first_row, queries, tops)
            },
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn scan_block_avx2_fma(
    metric: Metric,
    rows: &[f32],
    first_row: u32,
    queries: &Matrix,
    tops: &mut [TopK],
) {
    scan_block::<true>(metric, rows, first_row, queries, tops);
}

/// Scores a block of rows against all queries. Inlined into each instruction-set wrapper so the
/// same source is vectorised for each.
#[inline(always)]
fn scan_block<const FMA: bool>(
    metric: Metric,
    rows: &[f32],
    first_row: u32,
    queries: &Matrix,
    tops: &mut [TopK],
) {
    let dim = queries.dim();
    let query_count = queries.rows();
    for group_start in (0..query_count).step_by(QUERY_GROUP) {
        // A short last group repeats its final query; the extra scores are discarded.
        let group: [&[f32]; QUERY_GROUP] =
            std::array::from_fn(|j| queries.row((group_start + j).min(query_count - 1)));
        let members = (query_count - group_start).min(QUERY_GROUP);
        for (offset, row) in rows.chunks_exact(dim).enumerate() {
            let scores = match metric {
                Metric::L2 => group_scores::<FMA, true>(row, &group),
                Metric::Cosine | Metric::Dot => group_scores::<FMA, false>(row, &group),
            };
            let row_index = first_row + offset as u32;
            for (j, &score) in scores.iter().take(members).enumerate() {
                tops[group_start + j].push(row_index, score);
            }
        }
    }
}

/// Dot products (or squared distances when `L2`) of one row with four queries.
#[inline(always)]
fn group_scores<const FMA: bool, const L2: bool>(
    row: &[f32],
    group: &[&[f32]; QUERY_GROUP],
) -> [f32; QUERY_GROUP] {
    let mut acc = [[0f32; LANES]; QUERY_GROUP];
    let (row_chunks, row_tail) = row.as_chunks::<LANES>();
    let query_chunks: [&[[f32; LANES]]; QUERY_GROUP] =
        std::array::from_fn(|j| group[j].as_chunks::<LANES>().0);
    for (c, r) in row_chunks.iter().enumerate() {
        for j in 0..QUERY_GROUP {
            let q = &query_chunks[j][c];
            for l in 0..LANES {
                acc[j][l] = term::<FMA, L2>(r[l], q[l], acc[j][l]);
            }
        }
    }
    let tail_start = row_chunks.len() * LANES;
    std::array::from_fn(|j| {
        let mut sum = acc[j].iter().sum::<f32>();
        for (i, &r) in row_tail.iter().enumerate() {
            sum = term::<FMA, L2>(r, group[j][tail_start + i], sum);
        }
        sum
    })
}

/// One accumulation step. `mul_add` only where the CPU fuses it in hardware; elsewhere it would
/// be a slow library call.
#[inline(always)]
fn term<const FMA: bool, const L2: bool>(a: f32, b: f32, acc: f32) -> f32 {
    let (x, y) = if L2 { (a - b, a - b) } else { (a, b) };
    if FMA { x.mul_add(y, acc) } else { x * y + acc }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;
    use crate::testing::{
        DEFAULT_TOLERANCE, assert_same_hits, random_integer_matrix, random_matrix,
    };

    fn search(vectors: &Matrix, queries: &Matrix, metric: Metric, k: usize) -> Vec<Vec<Hit>> {
        let prepared = CpuBackend::new().upload(vectors, metric).unwrap();
        assert_eq!(prepared.rows(), vectors.rows());
        prepared.search(queries, k).unwrap()
    }

    #[test]
    fn matches_reference_across_many_blocks_for_every_metric() {
        // 3000 rows of dim 37: many blocks, a dimension that is not a multiple of the lanes and a
        // query count that is not a multiple of the group.
        let vectors = random_matrix(3000, 37, 1);
        let queries = random_matrix(7, 37, 2);
        for metric in Metric::ALL {
            let v = metric.prepare(vectors.clone()).unwrap();
            let q = metric.prepare(queries.clone()).unwrap();
            let expected = reference::search(&vectors, &queries, metric, 25);
            assert_same_hits(&expected, &search(&v, &q, metric, 25), DEFAULT_TOLERANCE);
        }
    }

    #[test]
    fn exact_ties_are_broken_by_row_across_blocks() {
        // Integer data scores exactly, so ties are real and the order must equal the reference's.
        let vectors = random_integer_matrix(5000, 3, 1, 3);
        let queries = random_integer_matrix(5, 3, 1, 4);
        for metric in [Metric::Dot, Metric::L2] {
            let expected = reference::search(&vectors, &queries, metric, 100);
            assert_eq!(
                search(&vectors, &queries, metric, 100),
                expected,
                "{metric}"
            );
        }
    }

    #[test]
    fn k_larger_than_rows_returns_every_row() {
        let vectors = random_matrix(5, 4, 5);
        let queries = random_matrix(1, 4, 6);
        let hits = search(&vectors, &queries, Metric::L2, 1000);
        assert_eq!(hits[0].len(), 5);
    }

    #[test]
    fn empty_inputs_and_k_zero_give_empty_lists() {
        let empty = Matrix::empty(4).unwrap();
        let queries = random_matrix(2, 4, 7);
        assert_eq!(
            search(&empty, &queries, Metric::Dot, 3),
            vec![vec![], vec![]]
        );
        let vectors = random_matrix(10, 4, 8);
        assert_eq!(
            search(&vectors, &queries, Metric::Dot, 0),
            vec![vec![], vec![]]
        );
        assert!(search(&vectors, &Matrix::empty(4).unwrap(), Metric::Dot, 3).is_empty());
    }

    #[test]
    fn query_of_another_dimension_is_invalid_input() {
        let prepared = CpuBackend::new()
            .upload(&random_matrix(10, 4, 9), Metric::Dot)
            .unwrap();
        let err = prepared.search(&random_matrix(1, 5, 10), 3).unwrap_err();
        assert!(matches!(err, BackendError::InvalidInput(_)), "{err}");
    }

    #[test]
    fn portable_and_detected_kernels_agree() {
        let vectors = random_matrix(500, 64, 11);
        let queries = random_matrix(6, 64, 12);
        let mut portable = vec![TopK::new(10, Metric::Dot); 6];
        let mut detected = portable.clone();
        Kernel::Portable.scan(Metric::Dot, vectors.as_slice(), 0, &queries, &mut portable);
        Kernel::detect().scan(Metric::Dot, vectors.as_slice(), 0, &queries, &mut detected);
        let portable: Vec<_> = portable.into_iter().map(TopK::into_sorted_vec).collect();
        let detected: Vec<_> = detected.into_iter().map(TopK::into_sorted_vec).collect();
        assert_same_hits(&portable, &detected, DEFAULT_TOLERANCE);
    }

    #[test]
    fn info_names_the_cpu_backend() {
        assert_eq!(CpuBackend::new().info().backend, "cpu");
    }
}
