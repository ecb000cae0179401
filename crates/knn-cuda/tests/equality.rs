//! The CUDA backend against knn-core's reference search and CPU backend, on CUDA device 0:
//! knn-core's shared equality suite ([`knn_core::testing::conformance`]) and the CUDA-only
//! cases. Without a driver or device the tests print why and return, unless
//! `KNN_REQUIRE_CUDA=1`, which turns the missing device into a failure (for runs on a GPU
//! machine).

use knn_core::testing::SharedDevice;
use knn_core::testing::conformance::DeviceSuite;
use knn_cuda::{CudaBackend, CudaOptions};

static CUDA: DeviceSuite<CudaBackend> = DeviceSuite {
    device: SharedDevice::new("cuda", "KNN_REQUIRE_CUDA", CudaBackend::new),
    with_small_sizes: |device, dim, chunk_rows| device.with_same_device(tiny(dim, chunk_rows)),
    with_room_for: |device, dim, resident_bytes| {
        let mut options = tiny(dim, 1000);
        options.memory_budget_bytes = Some(options.search_working_bytes(dim) + resident_bytes);
        device.with_same_device(options)
    },
    with_budget: |device, budget_bytes| {
        device.with_same_device(CudaOptions {
            memory_budget_bytes: Some(budget_bytes),
            ..CudaOptions::default()
        })
    },
};

/// Chunks of `chunk_rows` rows and score buffers so small that one search is many query batches
/// and many row tiles per chunk.
fn tiny(dim: usize, chunk_rows: u64) -> CudaOptions {
    CudaOptions {
        max_chunk_bytes: chunk_rows * dim as u64 * 4,
        // Two queries of 128 rows per launch.
        max_scores_bytes: 2 * 128 * 4,
        max_query_batch: 6,
        ..CudaOptions::default()
    }
}

#[test]
fn without_a_driver_the_backend_is_unavailable_with_the_reason() {
    CUDA.without_a_driver_the_backend_is_unavailable_with_the_reason(knn_cuda::missing_library());
}

#[test]
fn matches_the_reference_across_metrics_k_and_dimensions_with_many_chunks() {
    // Dimensions below, at and off the 128-thread block; 1000 rows in chunks of 97 leave a ragged
    // last chunk, and 13 queries leave a ragged last query tile and batch.
    CUDA.matches_the_reference_across_metrics_k_and_dimensions_with_many_chunks(&[3, 128, 130], 97);
}

#[test]
fn matches_the_reference_with_default_sizes() {
    // One tile of 20 000 rows: k up to 100 is cut down by a threshold on the device; k 1000
    // has fewer segments than k, so every row is a candidate and the scores are read back.
    CUDA.matches_the_reference_with_default_sizes(20_000, &[1, 10, 100, 1000]);
}

#[test]
fn queries_with_more_candidates_than_slots_read_their_scores_back_with_the_same_results() {
    CUDA.queries_with_more_candidates_than_slots_read_their_scores_back_with_the_same_results(
        |device, slots| {
            device.with_same_device(CudaOptions {
                max_candidates_per_query: slots,
                ..CudaOptions::default()
            })
        },
    );
}

#[test]
fn a_collection_over_the_memory_budget_is_streamed_with_the_same_results() {
    CUDA.a_collection_over_the_memory_budget_is_streamed_with_the_same_results();
}

#[test]
fn exact_ties_are_broken_by_the_lower_row_across_chunk_boundaries() {
    CUDA.exact_ties_are_broken_by_the_lower_row_across_chunk_boundaries();
}

#[test]
fn edge_cases_k_zero_k_above_rows_empty_collection_and_wrong_dimension() {
    CUDA.edge_cases_k_zero_k_above_rows_empty_collection_and_wrong_dimension();
}

#[test]
fn a_budget_below_one_row_is_an_out_of_memory_error_with_the_sizes() {
    CUDA.a_budget_below_one_row_is_an_out_of_memory_error_with_the_sizes();
}

#[test]
fn info_names_the_backend_and_the_device() {
    if let Some(device) = CUDA.info_names_the_backend_and_the_device() {
        assert!(device.contains("compute capability"), "{device}");
    }
}
