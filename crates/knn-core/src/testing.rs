//! Helpers shared by every backend's tests: seeded random matrices and a comparison of hit lists
//! that tolerates the rounding differences between backends.
//!
//! # Tolerance
//! `f32` addition is not associative. The reference sums in `f64`, the CPU backend in eight `f32`
//! lanes, a GPU in whatever order its reduction tree gives, possibly with fused multiply-add. The
//! same pair can therefore score slightly differently per backend, and two rows whose true scores
//! are closer than that difference (a near-tie) may come out in either order, or trade places at
//! the k-th boundary. [`compare_hits`] accepts exactly that and nothing more:
//! - the score at every rank matches the reference score at that rank within the tolerance;
//! - a row that sits at another rank than in the reference is accepted only if its reference score
//!   is within the tolerance of the reference score of the rank it took (a near-tie swap);
//! - a row the reference did not return, or a reference row missing from the result, is accepted
//!   only if its score is within the tolerance of the reference's k-th score (a boundary tie).
//!
//! Tolerances are relative to the magnitude of the scores, with an absolute floor at the magnitude
//! of the terms summed (`scale`, 1 for [`compare_hits`]): two scores `a`, `b` are close when
//! `|a - b| <= tolerance * max(scale, |a|, |b|)`. Rounding error of a dot product grows with the
//! magnitude of the terms, not of their sum: terms of ±5000 that cancel to 0.7 leave an error of
//! about 1e-3 however the sum is ordered, so data of large values passes their magnitude as
//! `scale` ([`compare_hits_at_scale`], [`term_scale`]). [`DEFAULT_TOLERANCE`] leaves a wide margin
//! for dimensions up to 4096 while a wrong row, a wrong metric or a missing normalisation still
//! moves scores by far more.

pub mod conformance;
mod shared_device;

pub use shared_device::SharedDevice;

use crate::matrix::Matrix;
use crate::metric::Hit;

/// See the module documentation.
pub const DEFAULT_TOLERANCE: f32 = 1e-3;

/// A small deterministic generator (SplitMix64): reproducible test data without a dependency.
#[derive(Debug, Clone)]
pub struct SeededRng(u64);

impl SeededRng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[-1, 1)`.
    pub fn next_f32(&mut self) -> f32 {
        // 24 random bits give every representable step of the unit interval's top binade.
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        unit * 2.0 - 1.0
    }
}

/// `rows x dim` values uniform in `[-1, 1)`, the same for the same seed on every platform.
/// Panics if `dim` is out of range (a test setup error).
pub fn random_matrix(rows: usize, dim: usize, seed: u64) -> Matrix {
    let mut rng = SeededRng::new(seed);
    let data = (0..rows * dim).map(|_| rng.next_f32()).collect();
    Matrix::new(dim, data).expect("test matrix dimension in range")
}

/// `rows x dim` small integers in `-max_abs..=max_abs`. Sums of such values are exact in `f32`
/// on every backend, so this data produces exact score ties that exercise the row tie-break.
pub fn random_integer_matrix(rows: usize, dim: usize, max_abs: u32, seed: u64) -> Matrix {
    let mut rng = SeededRng::new(seed);
    let span = u64::from(max_abs) * 2 + 1;
    let data = (0..rows * dim)
        .map(|_| (rng.next_u64() % span) as f32 - max_abs as f32)
        .collect();
    Matrix::new(dim, data).expect("test matrix dimension in range")
}

fn close(a: f32, b: f32, tolerance: f32, scale: f32) -> bool {
    (a - b).abs() <= tolerance * scale.max(a.abs()).max(b.abs())
}

/// The largest magnitude of the terms any score of `vectors` against `queries` sums, for
/// [`compare_hits_at_scale`]: `max Σ (|v_i| + |q_i|)²` over every pair, which bounds the terms of
/// a dot product and of a squared distance computed either directly or as `|v|² + |q|² - 2 v·q`.
/// At least 1.
pub fn term_scale(vectors: &Matrix, queries: &Matrix) -> f32 {
    let mut scale = 1f32;
    for q in 0..queries.rows() {
        for v in 0..vectors.rows() {
            let terms: f32 = vectors
                .row(v)
                .iter()
                .zip(queries.row(q))
                .map(|(a, b)| (a.abs() + b.abs()).powi(2))
                .sum();
            scale = scale.max(terms);
        }
    }
    scale
}

/// Checks `actual` against the reference's `expected` (one list per query) under the rules of
/// the module documentation; the error says which query and rank break them.
pub fn compare_hits(
    expected: &[Vec<Hit>],
    actual: &[Vec<Hit>],
    tolerance: f32,
) -> Result<(), String> {
    compare_hits_at_scale(expected, actual, tolerance, 1.0)
}

/// [`compare_hits`] for scores whose terms reach `scale` in magnitude ([`term_scale`]).
pub fn compare_hits_at_scale(
    expected: &[Vec<Hit>],
    actual: &[Vec<Hit>],
    tolerance: f32,
    scale: f32,
) -> Result<(), String> {
    if expected.len() != actual.len() {
        return Err(format!(
            "{} result lists for {} queries",
            actual.len(),
            expected.len()
        ));
    }
    for (query, (expected, actual)) in expected.iter().zip(actual).enumerate() {
        compare_query(expected, actual, tolerance, scale)
            .map_err(|e| format!("query {query}: {e}"))?;
    }
    Ok(())
}

fn compare_query(
    expected: &[Hit],
    actual: &[Hit],
    tolerance: f32,
    scale: f32,
) -> Result<(), String> {
    let close = |a, b| close(a, b, tolerance, scale);
    if expected.len() != actual.len() {
        return Err(format!(
            "{} hits, the reference has {}",
            actual.len(),
            expected.len()
        ));
    }
    let Some(boundary) = expected.last() else {
        return Ok(());
    };
    let mut seen = std::collections::HashSet::new();
    for (rank, (want, got)) in expected.iter().zip(actual).enumerate() {
        if !seen.insert(got.row) {
            return Err(format!("row {} appears twice (rank {rank})", got.row));
        }
        if !close(want.score, got.score) {
            return Err(format!(
                "rank {rank}: score {} (row {}), the reference has {} (row {})",
                got.score, got.row, want.score, want.row
            ));
        }
        if got.row == want.row {
            continue;
        }
        match expected.iter().find(|h| h.row == got.row) {
            Some(reference) if !close(reference.score, want.score) => {
                return Err(format!(
                    "rank {rank}: row {} (reference score {}) took the place of row {} (reference score {}), not a near-tie",
                    got.row, reference.score, want.row, want.score
                ));
            }
            Some(_) => {}
            None if !close(got.score, boundary.score) => {
                return Err(format!(
                    "rank {rank}: row {} (score {}) is not in the reference and not tied with its last score {}",
                    got.row, got.score, boundary.score
                ));
            }
            None => {}
        }
    }
    for missing in expected.iter().filter(|h| !seen.contains(&h.row)) {
        if !close(missing.score, boundary.score) {
            return Err(format!(
                "row {} (reference score {}) is missing and not tied with the last score {}",
                missing.row, missing.score, boundary.score
            ));
        }
    }
    Ok(())
}

/// [`compare_hits`] that panics with the reason; for use in tests.
#[track_caller]
pub fn assert_same_hits(expected: &[Vec<Hit>], actual: &[Vec<Hit>], tolerance: f32) {
    assert_same_hits_at_scale(expected, actual, tolerance, 1.0);
}

/// [`compare_hits_at_scale`] that panics with the reason; for use in tests.
#[track_caller]
pub fn assert_same_hits_at_scale(
    expected: &[Vec<Hit>],
    actual: &[Vec<Hit>],
    tolerance: f32,
    scale: f32,
) {
    if let Err(reason) = compare_hits_at_scale(expected, actual, tolerance, scale) {
        panic!("hits differ from the reference: {reason}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(pairs: &[(u32, f32)]) -> Vec<Hit> {
        pairs
            .iter()
            .map(|&(row, score)| Hit { row, score })
            .collect()
    }

    #[test]
    fn random_matrices_are_seeded_and_in_range() {
        let a = random_matrix(10, 8, 42);
        assert_eq!(a, random_matrix(10, 8, 42));
        assert_ne!(a, random_matrix(10, 8, 43));
        assert!(a.as_slice().iter().all(|v| (-1.0..1.0).contains(v)));
        let ints = random_integer_matrix(50, 4, 2, 1);
        assert!(
            ints.as_slice()
                .iter()
                .all(|v| v.fract() == 0.0 && v.abs() <= 2.0)
        );
        assert!(ints.as_slice().contains(&-2.0) && ints.as_slice().contains(&2.0));
    }

    #[test]
    fn identical_lists_pass() {
        let e = vec![hits(&[(1, 0.9), (0, 0.5)])];
        assert_eq!(compare_hits(&e, &e, 1e-6), Ok(()));
    }

    #[test]
    fn near_tie_swap_passes_and_distinct_swap_fails() {
        let expected = vec![hits(&[(1, 0.900_000), (2, 0.899_999), (0, 0.5)])];
        let swapped = vec![hits(&[(2, 0.900_000), (1, 0.899_999), (0, 0.5)])];
        assert_eq!(compare_hits(&expected, &swapped, 1e-4), Ok(()));
        let expected = vec![hits(&[(1, 0.9), (2, 0.8), (0, 0.5)])];
        let swapped = vec![hits(&[(2, 0.9), (1, 0.8), (0, 0.5)])];
        assert!(compare_hits(&expected, &swapped, 1e-4).is_err());
    }

    #[test]
    fn boundary_tie_with_an_outside_row_passes_only_when_tied() {
        let expected = vec![hits(&[(1, 0.9), (0, 0.5)])];
        let tied = vec![hits(&[(1, 0.9), (7, 0.499_99)])];
        assert_eq!(compare_hits(&expected, &tied, 1e-4), Ok(()));
        let wrong = vec![hits(&[(1, 0.9), (7, 0.4)])];
        assert!(compare_hits(&expected, &wrong, 1e-4).is_err());
    }

    #[test]
    fn wrong_length_duplicate_rows_and_score_drift_fail() {
        let expected = vec![hits(&[(1, 0.9), (0, 0.5)])];
        assert!(compare_hits(&expected, &[hits(&[(1, 0.9)])], 1e-4).is_err());
        assert!(compare_hits(&expected, &[], 1e-4).is_err());
        assert!(compare_hits(&expected, &[hits(&[(1, 0.9), (1, 0.9)])], 1e-4).is_err());
        assert!(compare_hits(&expected, &[hits(&[(1, 0.95), (0, 0.5)])], 1e-4).is_err());
    }

    #[test]
    fn tolerance_scales_with_magnitude() {
        assert!(close(1000.0, 1000.05, 1e-4, 1.0));
        assert!(!close(1.0, 1.05, 1e-4, 1.0));
        assert!(close(0.0, 0.00005, 1e-4, 1.0));
    }

    #[test]
    fn the_floor_is_the_magnitude_of_the_terms() {
        // terms of ±7500 summed to 0.7: an error of 1.3e-3 is rounding, not a wrong row
        assert!(!close(0.7047, 0.7061, 1e-3, 1.0));
        assert!(close(0.7047, 0.7061, 1e-3, 7500.0));
        assert!(!close(0.7, 9.0, 1e-3, 7500.0));
        let row = Matrix::new(2, vec![3.0, -4.0]).unwrap();
        let query = Matrix::new(2, vec![1.0, 2.0]).unwrap();
        assert_eq!(term_scale(&row, &query), 16.0 + 36.0);
        let small = Matrix::new(2, vec![0.1, 0.1]).unwrap();
        assert_eq!(term_scale(&small, &small), 1.0);
    }

    #[test]
    #[should_panic(expected = "query 0: rank 0")]
    fn assert_same_hits_panics_with_the_reason() {
        assert_same_hits(&[hits(&[(0, 1.0)])], &[hits(&[(0, 2.0)])], 1e-4);
    }
}
