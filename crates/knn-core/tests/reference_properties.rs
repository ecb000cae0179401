//! Property tests: the CPU backend and `TopK` equal the naive reference for arbitrary inputs.

use knn_core::cpu::CpuBackend;
use knn_core::testing::{DEFAULT_TOLERANCE, assert_same_hits_at_scale, term_scale};
use knn_core::{Backend, Hit, Matrix, Metric, TopK, reference};
use proptest::prelude::*;

fn metric() -> impl Strategy<Value = Metric> {
    prop_oneof![Just(Metric::Cosine), Just(Metric::Dot), Just(Metric::L2)]
}

/// A collection and a batch of queries of one dimension. Values come from a small set half of the
/// time so that exact ties occur.
fn collection_and_queries() -> impl Strategy<Value = (Matrix, Matrix)> {
    (1usize..=20, 0usize..=300, 1usize..=6, any::<bool>()).prop_flat_map(
        |(dim, rows, queries, coarse)| {
            let value = if coarse {
                (-2i8..=2).prop_map(f32::from).boxed()
            } else {
                (-100.0f32..100.0).boxed()
            };
            (
                prop::collection::vec(value.clone(), rows * dim),
                prop::collection::vec(value, queries * dim),
            )
                .prop_map(move |(v, q)| {
                    (Matrix::new(dim, v).unwrap(), Matrix::new(dim, q).unwrap())
                })
        },
    )
}

/// The CPU backend's hits against the reference's, within the rounding of the terms summed
/// (cosine normalises, so its terms stay within 1).
fn assert_equals_reference(vectors: Matrix, queries: Matrix, metric: Metric, k: usize) {
    let scale = if metric == Metric::Cosine {
        1.0
    } else {
        term_scale(&vectors, &queries)
    };
    let expected = reference::search(&vectors, &queries, metric, k);
    let prepared = CpuBackend::new()
        .upload(&metric.prepare(vectors).unwrap(), metric)
        .unwrap();
    let actual = prepared
        .search(&metric.prepare(queries).unwrap(), k)
        .unwrap();
    assert_same_hits_at_scale(&expected, &actual, DEFAULT_TOLERANCE, scale);
}

/// Found by the property below (in the flake's nextest check): terms of about ±7500 cancel to
/// 0.71, and the CPU backend's eight-lane f32 sum lands 1.3e-3 from the reference's f64 sum.
#[test]
fn cancelling_terms_are_compared_at_their_own_scale() {
    let row = [
        36.48746, 83.46755, 87.1118, 73.37836, -47.125847, -96.59616, -89.55993, 22.45371,
        55.158108, 31.967678,
    ];
    let query = [
        85.8674, -36.225708, 61.457844, 61.85301, -47.1539, 57.603374, 84.25211, -39.182423,
        17.117748, 25.720886,
    ];
    let mut vectors = vec![0.0f32; 27 * 10];
    vectors.extend_from_slice(&row);
    let mut queries = vec![0.0f32; 3 * 10];
    queries.extend_from_slice(&query);
    assert_equals_reference(
        Matrix::new(10, vectors).unwrap(),
        Matrix::new(10, queries).unwrap(),
        Metric::Dot,
        37,
    );
}

fn has_zero_row(m: &Matrix) -> bool {
    (0..m.rows()).any(|i| m.row(i).iter().all(|&v| v == 0.0))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn cpu_backend_equals_reference((vectors, queries) in collection_and_queries(), metric in metric(), k in 0usize..=40) {
        prop_assume!(metric != Metric::Cosine || !(has_zero_row(&vectors) || has_zero_row(&queries)));
        assert_equals_reference(vectors, queries, metric, k);
    }

    #[test]
    fn topk_equals_full_sort(scores in prop::collection::vec(-5i8..=5, 0..200), k in 0usize..=30, metric in metric()) {
        let mut hits: Vec<Hit> = scores.iter().enumerate().map(|(row, &s)| Hit { row: row as u32, score: f32::from(s) }).collect();
        let mut top = TopK::new(k, metric);
        // Push in reverse to show the result does not depend on arrival order.
        for hit in hits.iter().rev() {
            top.push(hit.row, hit.score);
        }
        metric.sort_hits(&mut hits);
        hits.truncate(k);
        prop_assert_eq!(top.into_sorted_vec(), hits);
    }
}
