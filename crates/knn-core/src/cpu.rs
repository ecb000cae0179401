//! The CPU backend: exact, multithreaded with rayon, scanning the collection in cache-sized
//! blocks.
//!
//! Each rayon task takes a block of rows small enough to stay in L2 and scores it against every
//! query in tiles of two rows by four queries, so that each loaded row serves four queries and
//! each loaded query two rows. Every worker keeps its own [`TopK`] per query; the workers'
//! selections are merged at the end. Because [`TopK`] is exact and independent of push order,
//! the result equals a sequential scan.

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
/// Queries scored together against a tile of rows: each row is loaded once per four queries.
const QUERY_GROUP: usize = 4;
/// Rows scored together against a group of queries: each query is loaded once per two rows, and
/// the 2 x 4 accumulators fill half of the 16 vector registers.
const ROW_TILE: usize = 2;
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
        let threads = rayon::current_num_threads();
        DeviceInfo {
            backend: "cpu".to_owned(),
            device: format!(
                "{threads} threads, {} {kernel} kernel",
                std::env::consts::ARCH
            ),
            details: [
                ("threads".to_owned(), threads.to_string()),
                ("kernel".to_owned(), kernel.to_owned()),
            ]
            .into(),
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
        let row_count = rows.len() / dim;
        for first in (0..row_count).step_by(ROW_TILE) {
            // A short last tile repeats its final row; the extra scores are discarded.
            let tile: [&[f32]; ROW_TILE] = std::array::from_fn(|i| {
                let r = (first + i).min(row_count - 1);
                &rows[r * dim..(r + 1) * dim]
            });
            let scores = match (metric, AVX2) {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `AVX2` is only true inside `scan_block_avx2_fma`, which runs only
                // after `Kernel::detect` confirmed AVX2 and FMA.
                (Metric::L2, true) => unsafe { avx2::tile_scores::<true>(&tile, &group) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as above.
                (Metric::Cosine | Metric::Dot, true) => unsafe {
                    avx2::tile_scores::<false>(&tile, &group)
                },
                (Metric::L2, _) => tile.map(|row| portable_group_scores::<true>(row, &group)),
                (Metric::Cosine | Metric::Dot, _) => {
                    tile.map(|row| portable_group_scores::<false>(row, &group))
                }
            };
            for (i, row_scores) in scores.iter().take(row_count - first).enumerate() {
                let row_index = first_row + (first + i) as u32;
                for (j, &score) in row_scores.iter().take(members).enumerate() {
                    tops[group_start + j].push(row_index, score);
                }
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
        __m256, _mm_add_ps, _mm_storeu_ps, _mm256_castps256_ps128, _mm256_extractf128_ps,
        _mm256_fmadd_ps, _mm256_hadd_ps, _mm256_loadu_ps, _mm256_setzero_ps, _mm256_sub_ps,
    };

    use super::{QUERY_GROUP, ROW_TILE};

    /// Dot products (or squared distances when `L2`) of two rows with four queries. The eight
    /// row-query pairs give eight independent FMA chains, enough to keep both FMA units busy, and
    /// each 8-float step loads 6 vectors for 8 FMAs.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub(super) fn tile_scores<const L2: bool>(
        tile: &[&[f32]; ROW_TILE],
        group: &[&[f32]; QUERY_GROUP],
    ) -> [[f32; QUERY_GROUP]; ROW_TILE] {
        let dim = tile[0].len();
        assert!(
            tile.iter().chain(group).all(|v| v.len() == dim),
            "rows and queries of one dimension"
        );
        #[inline(always)]
        fn step<const L2: bool>(r: __m256, q: __m256, acc: __m256) -> __m256 {
            // SAFETY: only inlined into `tile_scores`, which has AVX2 and FMA enabled.
            unsafe {
                if L2 {
                    let d = _mm256_sub_ps(r, q);
                    _mm256_fmadd_ps(d, d, acc)
                } else {
                    _mm256_fmadd_ps(r, q, acc)
                }
            }
        }
        let mut acc = [[_mm256_setzero_ps(); QUERY_GROUP]; ROW_TILE];
        let mut i = 0;
        // SAFETY: every load reads 8 floats at an offset `i` with `i + 8 <= dim`, and all rows
        // and queries have length `dim` (asserted above).
        unsafe {
            while i + 8 <= dim {
                let r = tile.map(|row| _mm256_loadu_ps(row.as_ptr().add(i)));
                for (j, query) in group.iter().enumerate() {
                    let q = _mm256_loadu_ps(query.as_ptr().add(i));
                    for (acc_row, &r) in acc.iter_mut().zip(&r) {
                        acc_row[j] = step::<L2>(r, q, acc_row[j]);
                    }
                }
                i += 8;
            }
        }
        let mut sums = [[0f32; QUERY_GROUP]; ROW_TILE];
        for (row_sums, [a, b, c, d]) in sums.iter_mut().zip(acc) {
            // SAFETY: `row_sums` holds exactly 4 floats; the rest are register operations.
            unsafe {
                // Three horizontal adds and one cross-lane add reduce four queries at once.
                let abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
                let total = _mm_add_ps(
                    _mm256_castps256_ps128(abcd),
                    _mm256_extractf128_ps::<1>(abcd),
                );
                _mm_storeu_ps(row_sums.as_mut_ptr(), total);
            }
        }
        for (row_sums, row) in sums.iter_mut().zip(tile) {
            for (sum, query) in row_sums.iter_mut().zip(group) {
                for (&r, &q) in row[i..].iter().zip(&query[i..]) {
                    let (x, y) = if L2 { (r - q, r - q) } else { (r, q) };
                    *sum = x.mul_add(y, *sum);
                }
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
