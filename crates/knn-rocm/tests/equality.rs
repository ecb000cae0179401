//! The ROCm backend against knn-core's reference search and CPU backend, on HIP device 0:
//! knn-core's shared equality suite ([`knn_core::testing::conformance`]). Without a driver or
//! device the tests print why and return, unless `KNN_REQUIRE_ROCM=1`, which turns the missing
//! device into a failure (for runs on an AMD GPU machine).

use knn_core::testing::SharedDevice;
use knn_core::testing::conformance::DeviceSuite;
use knn_rocm::{RocmBackend, RocmOptions};

static ROCM: DeviceSuite<RocmBackend> = DeviceSuite {
    device: SharedDevice::new("rocm", "KNN_REQUIRE_ROCM", RocmBackend::new),
    with_small_sizes: |device, dim, chunk_rows| device.with_same_device(tiny(dim, chunk_rows)),
    with_room_for: |device, dim, resident_bytes| {
        let mut options = tiny(dim, 1000);
        options.memory_budget_bytes = Some(options.search_working_bytes(dim) + resident_bytes);
        device.with_same_device(options)
    },
    with_budget: |device, budget_bytes| {
        device.with_same_device(RocmOptions {
            memory_budget_bytes: Some(budget_bytes),
            ..RocmOptions::default()
        })
    },
};

/// Chunks of `chunk_rows` rows and score buffers so small that one search is many query batches
/// and many row tiles per chunk.
fn tiny(dim: usize, chunk_rows: u64) -> RocmOptions {
    RocmOptions {
        max_chunk_bytes: chunk_rows * dim as u64 * 4,
        // Two queries of 128 rows per launch.
        max_scores_bytes: 2 * 128 * 4,
        max_query_batch: 6,
        ..RocmOptions::default()
    }
}

#[test]
fn without_a_driver_the_backend_is_unavailable_with_the_reason() {
    ROCM.without_a_driver_the_backend_is_unavailable_with_the_reason(knn_rocm::missing_library());
}

#[test]
fn matches_the_reference_across_metrics_k_and_dimensions_with_many_chunks() {
    // Dimensions below, at and off the 128-thread block; 1000 rows in chunks of 97 leave a ragged
    // last chunk, and 13 queries leave a ragged last query tile and batch.
    ROCM.matches_the_reference_across_metrics_k_and_dimensions_with_many_chunks(&[3, 128, 130], 97);
}

#[test]
fn matches_the_reference_with_default_sizes() {
    // One tile of 20 000 rows: k up to 100 is cut down by a threshold on the device; k 1000
    // has fewer segments than k, so every row is a candidate and the scores are read back.
    ROCM.matches_the_reference_with_default_sizes(20_000, &[1, 10, 100, 1000]);
}

#[test]
fn queries_with_more_candidates_than_slots_read_their_scores_back_with_the_same_results() {
    ROCM.queries_with_more_candidates_than_slots_read_their_scores_back_with_the_same_results(
        |device, slots| {
            device.with_same_device(RocmOptions {
                max_candidates_per_query: slots,
                ..RocmOptions::default()
            })
        },
    );
}

#[test]
fn a_collection_over_the_memory_budget_is_streamed_with_the_same_results() {
    ROCM.a_collection_over_the_memory_budget_is_streamed_with_the_same_results();
}

#[test]
fn exact_ties_are_broken_by_the_lower_row_across_chunk_boundaries() {
    ROCM.exact_ties_are_broken_by_the_lower_row_across_chunk_boundaries();
}

#[test]
fn edge_cases_k_zero_k_above_rows_empty_collection_and_wrong_dimension() {
    ROCM.edge_cases_k_zero_k_above_rows_empty_collection_and_wrong_dimension();
}

#[test]
fn a_budget_below_one_row_is_an_out_of_memory_error_with_the_sizes() {
    ROCM.a_budget_below_one_row_is_an_out_of_memory_error_with_the_sizes();
}

#[test]
fn info_names_the_backend_and_the_device() {
    if let Some(device) = ROCM.info_names_the_backend_and_the_device() {
        assert!(device.contains(knn_rocm::UNTESTED_NOTE), "{device}");
    }
}
