//! The test oracle: a naive, single-threaded exact search that every backend is compared with.
//!
//! Deliberately independent of the backends' code paths: it accumulates in `f64`, computes cosine
//! from the raw vectors with the full formula (so it does not care whether the inputs were
//! normalised) and sorts every score instead of selecting.

use crate::matrix::Matrix;
use crate::metric::{Hit, Metric};

/// Exact top-`k` of every query row against every collection row, in the contract order.
///
/// Panics if the dimensions differ, or for cosine if a vector is zero: an oracle has no error path.
pub fn search(vectors: &Matrix, queries: &Matrix, metric: Metric, k: usize) -> Vec<Vec<Hit>> {
    assert_eq!(vectors.dim(), queries.dim(), "dimension mismatch");
    (0..queries.rows())
        .map(|q| {
            let query = queries.row(q);
            let mut hits: Vec<Hit> = (0..vectors.rows())
                .map(|r| Hit {
                    row: r as u32,
                    score: score(metric, vectors.row(r), query),
                })
                .collect();
            metric.sort_hits(&mut hits);
            hits.truncate(k);
            hits
        })
        .collect()
}

/// The score of one pair under `metric`, computed in `f64` and rounded once.
pub fn score(metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum();
    match metric {
        Metric::Dot => dot as f32,
        Metric::Cosine => {
            let norm_a: f64 = a.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
            let norm_b: f64 = b.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
            assert!(
                norm_a > 0.0 && norm_b > 0.0,
                "cosine of a zero vector is undefined"
            );
            (dot / (norm_a * norm_b)) as f32
        }
        Metric::L2 => a
            .iter()
            .zip(b)
            .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
            .sum::<f64>() as f32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_match_hand_computed_values() {
        let a = [1.0, 2.0, 2.0];
        let b = [2.0, 0.0, 1.0];
        assert_eq!(score(Metric::Dot, &a, &b), 4.0);
        assert_eq!(score(Metric::L2, &a, &b), 1.0 + 4.0 + 1.0);
        let expected = 4.0 / (3.0 * 5.0f64.sqrt());
        assert!((f64::from(score(Metric::Cosine, &a, &b)) - expected).abs() < 1e-7);
    }

    #[test]
    fn cosine_ignores_length() {
        let a = [1.0, 1.0];
        assert!((score(Metric::Cosine, &a, &[5.0, 5.0]) - 1.0).abs() < 1e-7);
        assert!((score(Metric::Cosine, &a, &[-2.0, -2.0]) + 1.0).abs() < 1e-7);
    }

    #[test]
    fn search_orders_best_first_with_row_ties() {
        let vectors = Matrix::new(1, vec![3.0, 1.0, 2.0, 1.0]).unwrap();
        let queries = Matrix::new(1, vec![1.0, 0.0]).unwrap();
        let dot = search(&vectors, &queries, Metric::Dot, 3);
        let rows: Vec<u32> = dot[0].iter().map(|h| h.row).collect();
        assert_eq!(rows, [0, 2, 1]);
        let l2 = search(&vectors, &queries, Metric::L2, 10);
        let rows: Vec<u32> = l2[0].iter().map(|h| h.row).collect();
        assert_eq!(rows, [1, 3, 2, 0]);
        // The second query is all zeros: every dot is 0, so the order is by row alone.
        let rows: Vec<u32> = dot[1].iter().map(|h| h.row).collect();
        assert_eq!(rows, [0, 1, 2]);
    }
}
