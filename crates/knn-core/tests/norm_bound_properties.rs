//! Property tests over extreme values: within `Metric::max_norm`, every score the CPU backend
//! returns is finite, close to the exact value and in the contract order; beyond it, a vector is
//! what `check_norm` rejects.

use knn_core::cpu::CpuBackend;
use knn_core::{Backend, MAX_NORM, Matrix, Metric, norm, reference};
use proptest::prelude::*;

/// Components from the whole finite `f32` range, with the extremes (±f32::MAX, values whose
/// squares overflow, subnormals, zeros) over-represented.
fn component() -> impl Strategy<Value = f32> {
    prop_oneof![
        Just(f32::MAX),
        Just(-f32::MAX),
        Just(3e38f32),
        Just(-3e38f32),
        Just(1.9e19f32),
        Just(-1.9e19f32),
        Just(f32::MIN_POSITIVE / 4.0),
        Just(0.0f32),
        Just(-0.0f32),
        -1e6f32..1e6,
        any::<f32>().prop_filter("finite", |v| v.is_finite()),
    ]
}

fn vector(dim: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(component(), dim)
}

/// `values` scaled (in `f64`) so that its length is `fraction` of the bound, the direction kept.
/// Rounding to `f32` may land a hair above the bound; such vectors are scaled down once more.
fn scaled_to_bound(values: &[f32], fraction: f64) -> Option<Vec<f32>> {
    let length = norm(values);
    if length == 0.0 {
        return None;
    }
    let mut factor = MAX_NORM * fraction / length;
    for _ in 0..2 {
        let scaled: Vec<f32> = values
            .iter()
            .map(|&v| (f64::from(v) * factor) as f32)
            .collect();
        if norm(&scaled) <= MAX_NORM {
            return Some(scaled);
        }
        factor *= 1.0 - 1e-6;
    }
    None
}

fn dot_and_l2() -> impl Strategy<Value = Metric> {
    prop_oneof![Just(Metric::Dot), Just(Metric::L2)]
}

/// Collection and queries of one dimension whose rows are at 1/1000 to the full bound.
fn bounded_inputs() -> impl Strategy<Value = (usize, Vec<Vec<f32>>, Vec<Vec<f32>>)> {
    (1usize..=12, 1usize..=24, 1usize..=4).prop_flat_map(|(dim, rows, queries)| {
        let row = move || (vector(dim), prop_oneof![Just(1.0), 0.001f64..1.0]);
        (
            Just(dim),
            prop::collection::vec(row(), rows),
            prop::collection::vec(row(), queries),
        )
            .prop_map(|(dim, rows, queries)| {
                let scale = |rows: Vec<(Vec<f32>, f64)>| -> Vec<Vec<f32>> {
                    rows.into_iter()
                        .filter_map(|(v, f)| scaled_to_bound(&v, f))
                        .collect()
                };
                (dim, scale(rows), scale(queries))
            })
    })
}

fn matrix(dim: usize, rows: &[Vec<f32>]) -> Matrix {
    Matrix::new(dim, rows.concat()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Two vectors that `check_norm` accepts have a dot product and squared distance within the
    /// `f32` range; so the bound never lets an overflowing score through.
    #[test]
    fn accepted_pairs_have_finite_exact_scores(
        (a, b) in (1usize..=16).prop_flat_map(|dim| (vector(dim), vector(dim))),
        metric in dot_and_l2(),
    ) {
        if metric.check_norm(&a).is_ok() && metric.check_norm(&b).is_ok() {
            let exact = reference::score(metric, &a, &b);
            prop_assert!(exact.is_finite(), "{metric} {a:?} {b:?}: {exact}");
        }
    }

    /// At and below the bound, with the largest components the bound allows, the CPU backend's
    /// `f32` scores are finite, within rounding of the exact score and in the contract order.
    #[test]
    fn cpu_scores_within_the_bound_are_finite_close_and_ordered(
        (dim, rows, queries) in bounded_inputs(),
        metric in dot_and_l2(),
        k in 1usize..=30,
    ) {
        prop_assume!(!rows.is_empty() && !queries.is_empty());
        for v in rows.iter().chain(&queries) {
            prop_assert!(metric.check_norm(v).is_ok());
        }
        let vectors = matrix(dim, &rows);
        let query_matrix = matrix(dim, &queries);
        let prepared = CpuBackend::new().upload(&vectors, metric).unwrap();
        let results = prepared.search(&query_matrix, k).unwrap();
        for (q, hits) in results.iter().enumerate() {
            prop_assert_eq!(hits.len(), k.min(rows.len()));
            for pair in hits.windows(2) {
                prop_assert!(metric.compare_hits(&pair[0], &pair[1]).is_lt(), "{pair:?}");
            }
            for hit in hits {
                prop_assert!(hit.score.is_finite(), "{metric}: {hit:?}");
                let row = &rows[hit.row as usize];
                let exact = f64::from(reference::score(metric, row, &queries[q]));
                // f32 accumulation errs relative to the terms, not to the (possibly cancelled)
                // result: the scale is ‖a‖‖b‖ for dot and (‖a‖ + ‖b‖)² for l2.
                let scale = match metric {
                    Metric::L2 => (norm(row) + norm(&queries[q])).powi(2),
                    _ => norm(row) * norm(&queries[q]),
                };
                prop_assert!(
                    (f64::from(hit.score) - exact).abs() <= 1e-3 * scale,
                    "{metric}: {} vs exact {exact} (scale {scale})", hit.score
                );
            }
        }
    }
}

/// The worst cases of the proof in `norm.rs`: opposite and equal vectors at the bound, spread over
/// the largest dimension, give finite scores.
#[test]
fn the_worst_cases_at_the_bound_are_finite() {
    let dim = knn_core::MAX_DIM;
    let component = (MAX_NORM / (dim as f64).sqrt()) as f32;
    let plus = vec![component; dim];
    let minus = vec![-component; dim];
    assert!(Metric::Dot.check_norm(&plus).is_ok());
    let vectors = matrix(dim, &[plus.clone(), minus]);
    for metric in [Metric::Dot, Metric::L2] {
        let prepared = CpuBackend::new().upload(&vectors, metric).unwrap();
        let hits = prepared
            .search(&matrix(dim, std::slice::from_ref(&plus)), 2)
            .unwrap();
        for hit in &hits[0] {
            assert!(hit.score.is_finite(), "{metric}: {hit:?}");
        }
        let best = hits[0][0];
        assert_eq!(best.row, 0, "{metric}: the vector itself is best");
    }
}
