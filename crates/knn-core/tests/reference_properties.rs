//! Property tests: the CPU backend and `TopK` equal the naive reference for arbitrary inputs.

use knn_core::cpu::CpuBackend;
use knn_core::testing::{DEFAULT_TOLERANCE, assert_same_hits};
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

fn has_zero_row(m: &Matrix) -> bool {
    (0..m.rows()).any(|i| m.row(i).iter().all(|&v| v == 0.0))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn cpu_backend_equals_reference((vectors, queries) in collection_and_queries(), metric in metric(), k in 0usize..=40) {
        prop_assume!(metric != Metric::Cosine || !(has_zero_row(&vectors) || has_zero_row(&queries)));
        let expected = reference::search(&vectors, &queries, metric, k);
        let prepared = CpuBackend::new().upload(&metric.prepare(vectors).unwrap(), metric).unwrap();
        let actual = prepared.search(&metric.prepare(queries).unwrap(), k).unwrap();
        assert_same_hits(&expected, &actual, DEFAULT_TOLERANCE);
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
