//! The bound on vector length that keeps every score finite.
//!
//! Backends accumulate in `f32`, in whatever order their hardware prefers. Finite inputs can
//! still overflow that accumulation: `[3e38, -3e38]` against `[3e38, 3e38]` has a dot product of
//! zero, but its first product is already infinite and `inf - inf` is NaN. Rather than make every
//! backend compute in wider precision, vectors of a `dot` or `l2` collection and the queries
//! against it are bounded in Euclidean length by [`MAX_NORM`].
//!
//! Why that bound is enough, for any summation order: with `‖a‖, ‖b‖ <= 2^62`, Cauchy-Schwarz
//! bounds every partial sum of products `|Σ a_i b_i|` over any subset of coordinates by
//! `‖a‖‖b‖ <= 2^124`; every partial sum of squared differences by `(‖a‖ + ‖b‖)^2 <= 2^126`; and
//! the terms of the expanded form `‖a‖^2 + ‖b‖^2 - 2 a·b` by `2^125`. `f32::MAX` is just under
//! `2^128`, which leaves a factor of nearly 4 for rounding (an `n`-term `f32` sum is off by at most
//! `n · 2^-24` relative, 2.4e-4 for `n = 4096`). Cosine needs no bound: its vectors are scaled to
//! unit length (with the norm taken in `f64`) before any backend sees them.

use crate::metric::Metric;

/// Largest Euclidean length, `2^62` (about 4.6e18), of a vector or query under [`Metric::Dot`]
/// and [`Metric::L2`].
pub const MAX_NORM: f64 = 4_611_686_018_427_387_904.0;

/// The Euclidean length of `values`, computed in `f64` so that it is exact enough and cannot
/// overflow for any finite `f32` input.
pub fn norm(values: &[f32]) -> f64 {
    values
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt()
}

impl Metric {
    /// The largest length a vector may have under this metric, `None` where any finite vector
    /// is fine.
    pub fn max_norm(self) -> Option<f64> {
        match self {
            Metric::Cosine => None,
            Metric::Dot | Metric::L2 => Some(MAX_NORM),
        }
    }

    /// `Err(norm)` where `values` is longer than [`Metric::max_norm`] allows.
    pub fn check_norm(self, values: &[f32]) -> Result<(), f64> {
        match self.max_norm() {
            Some(max) => {
                let norm = norm(values);
                if norm > max { Err(norm) } else { Ok(()) }
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_two_to_the_62() {
        assert_eq!(MAX_NORM, 2f64.powi(62));
        // The worst case of the proof stays below f32::MAX with room for rounding.
        assert!((2.0 * MAX_NORM).powi(2) * 2.0 < f64::from(f32::MAX));
    }

    #[test]
    fn norm_does_not_overflow_for_the_largest_floats() {
        let n = norm(&[f32::MAX, f32::MAX]);
        assert!(n.is_finite());
        assert!((n / (f64::from(f32::MAX) * 2f64.sqrt()) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn dot_and_l2_reject_over_the_bound_and_cosine_takes_any_finite_vector() {
        let at_bound = [MAX_NORM as f32, 0.0];
        let over = [3e38, -3e38];
        for metric in [Metric::Dot, Metric::L2] {
            assert_eq!(metric.check_norm(&at_bound), Ok(()));
            let err = metric.check_norm(&over).unwrap_err();
            assert!(err > 4.2e38 && err < 4.3e38, "{err}");
        }
        assert_eq!(Metric::Cosine.check_norm(&over), Ok(()));
        assert_eq!(Metric::Cosine.max_norm(), None);
    }
}
