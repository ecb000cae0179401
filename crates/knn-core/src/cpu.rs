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
/// same source is compiled for each.
#[inline(always)]
fn scan_block<const AVX2: bool>(
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
            let scores = match (metric, AVX2) {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `AVX2` is only true inside `scan_block_avx2_fma`, which runs only
                // after `Kernel::detect` confirmed AVX2 and FMA.
                (Metric::L2, true) => unsafe { avx2::group_scores::<true>(row, &group) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as above.
                (Metric::Cosine | Metric::Dot, true) => unsafe {
                    avx2::group_scores::<false>(row, &group)
                },
                (Metric::L2, _) => portable_group_scores::<true>(row, &group),
                (Metric::Cosine | Metric::Dot, _) => portable_group_scores::<false>(row, &group),
            };
            let row_index = first_row + offset as u32;
            for (j, &score) in scores.iter().take(members).enumerate() {
                tops[group_start + j].push(row_index, score);
            }
        }
    }
}

/// Dot products (or squared distances when `L2`) of one row with four queries, in plain Rust
/// for any CPU.
#[inline(always)]
fn portable_group_scores<const L2: bool>(
    row: &[f32],
    group: &[&[f32]; QUERY_GROUP],
) -> [f32; QUERY_GROUP] {
    std::array::from_fn(|j| {
        let query = &group[j][..row.len()];
        let mut acc = [0f32; LANES];
        let (row_chunks, row_tail) = row.as_chunks::<LANES>();
        let (query_chunks, query_tail) = query.as_chunks::<LANES>();
        for (r, q) in row_chunks.iter().zip(query_chunks) {
            for l in 0..LANES {
                let (x, y) = if L2 {
                    (r[l] - q[l], r[l] - q[l])
                } else {
                    (r[l], q[l])
                };
                acc[l] += x * y;
            }
        }
        let mut sum = acc.iter().sum::<f32>();
        for (&r, &q) in row_tail.iter().zip(query_tail) {
            let (x, y) = if L2 { (r - q, r - q) } else { (r, q) };
            sum += x * y;
        }
        sum
    })
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{
        __m256, _mm_add_ps, _mm_storeu_ps, _mm256_add_ps, _mm256_castps256_ps128,
        _mm256_extractf128_ps, _mm256_fmadd_ps, _mm256_hadd_ps, _mm256_loadu_ps, _mm256_setzero_ps,
        _mm256_sub_ps,
    };

    use super::QUERY_GROUP;

    /// Dot products (or squared distances when `L2`) of one row with four queries: two 8-wide
    /// accumulators per query give eight independent FMA chains, enough to keep both FMA units
    /// busy.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub(super) fn group_scores<const L2: bool>(
        row: &[f32],
        group: &[&[f32]; QUERY_GROUP],
    ) -> [f32; QUERY_GROUP] {
        let dim = row.len();
        assert!(
            group.iter().all(|q| q.len() == dim),
            "query of another dimension"
        );
        let mut acc: [__m256; 2 * QUERY_GROUP] = [_mm256_setzero_ps(); 2 * QUERY_GROUP];
        let mut i = 0;
        #[inline(always)]
        fn step<const L2: bool>(r: __m256, q: __m256, acc: __m256) -> __m256 {
            // SAFETY: only inlined into `group_scores`, which has AVX2 and FMA enabled.
            unsafe {
                if L2 {
                    let d = _mm256_sub_ps(r, q);
                    _mm256_fmadd_ps(d, d, acc)
                } else {
                    _mm256_fmadd_ps(r, q, acc)
                }
            }
        }
        // SAFETY: every load reads 8 floats at an offset `i` with `i + 8 <= dim` (16 for the
        // pair), and the row and all queries have length `dim` (asserted above).
        unsafe {
            while i + 16 <= dim {
                let r0 = _mm256_loadu_ps(row.as_ptr().add(i));
                let r1 = _mm256_loadu_ps(row.as_ptr().add(i + 8));
                for (j, query) in group.iter().enumerate() {
                    let q0 = _mm256_loadu_ps(query.as_ptr().add(i));
                    let q1 = _mm256_loadu_ps(query.as_ptr().add(i + 8));
                    acc[2 * j] = step::<L2>(r0, q0, acc[2 * j]);
                    acc[2 * j + 1] = step::<L2>(r1, q1, acc[2 * j + 1]);
                }
                i += 16;
            }
            if i + 8 <= dim {
                let r0 = _mm256_loadu_ps(row.as_ptr().add(i));
                for (j, query) in group.iter().enumerate() {
                    let q0 = _mm256_loadu_ps(query.as_ptr().add(i));
                    acc[2 * j] = step::<L2>(r0, q0, acc[2 * j]);
                }
                i += 8;
            }
        }
        let mut sums = [0f32; QUERY_GROUP];
        // SAFETY: `sums` holds exactly 4 floats; the rest are register operations.
        unsafe {
            let [a, b, c, d] = std::array::from_fn(|j| _mm256_add_ps(acc[2 * j], acc[2 * j + 1]));
            // Three horizontal adds and one cross-lane add reduce four queries at once.
            let ab = _mm256_hadd_ps(a, b);
            let cd = _mm256_hadd_ps(c, d);
            let abcd = _mm256_hadd_ps(ab, cd);
            let total = _mm_add_ps(
                _mm256_castps256_ps128(abcd),
                _mm256_extractf128_ps::<1>(abcd),
            );
            _mm_storeu_ps(sums.as_mut_ptr(), total);
        }
        for (sum, query) in sums.iter_mut().zip(group) {
            for (&r, &q) in row[i..].iter().zip(&query[i..]) {
                let (x, y) = if L2 { (r - q, r - q) } else { (r, q) };
                *sum = x.mul_add(y, *sum);
            }
        }
        sums
    }
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
