//! The Vulkan backend against knn-core's reference search and CPU backend, on whatever Vulkan
//! device is present (Mesa's lavapipe in CI): knn-core's shared equality suite
//! ([`knn_core::testing::conformance`]). Without a device the tests print why and return,
//! unless `KNN_REQUIRE_VULKAN=1`, which turns the missing device into a failure.

use knn_core::testing::SharedDevice;
use knn_core::testing::conformance::DeviceSuite;
use knn_vulkan::{VulkanBackend, VulkanOptions};

static VULKAN: DeviceSuite<VulkanBackend> = DeviceSuite {
    device: SharedDevice::new("vulkan", "KNN_REQUIRE_VULKAN", || {
        VulkanBackend::with_options(VulkanOptions::default())
    }),
    with_small_sizes: |device, dim, chunk_rows| device.with_same_device(tiny(dim, chunk_rows)),
    with_room_for: |device, dim, resident_bytes| {
        device.with_same_device(VulkanOptions {
            // The budget counts the collection only: what fits of it is resident at a time.
            memory_budget_bytes: resident_bytes,
            ..tiny(dim, 1000)
        })
    },
    with_budget: |device, budget_bytes| {
        device.with_same_device(VulkanOptions {
            memory_budget_bytes: budget_bytes,
            ..VulkanOptions::default()
        })
    },
};

/// Chunks of `chunk_rows` rows and score buffers so small that one search is many query batches
/// and, for chunks over 256 rows, several row tiles per chunk.
fn tiny(dim: usize, chunk_rows: u64) -> VulkanOptions {
    VulkanOptions {
        max_chunk_bytes: chunk_rows * dim as u64 * 4,
        // Two queries of 256 rows (one workgroup of four-row invocations) per dispatch.
        max_scores_bytes: 2 * 256 * 4,
        ..VulkanOptions::default()
    }
}

#[test]
fn matches_the_reference_across_metrics_k_and_dimensions_with_many_chunks() {
    // Dimensions below, at and off the 64-wide workgroup; 1000 rows in chunks of 300 are tiles
    // of 256 and 44 rows with a ragged last chunk of 100, and 13 queries in batches of two leave
    // a ragged last batch and query tile.
    VULKAN
        .matches_the_reference_across_metrics_k_and_dimensions_with_many_chunks(&[3, 64, 130], 300);
}

#[test]
fn matches_the_reference_with_default_sizes() {
    VULKAN.matches_the_reference_with_default_sizes(5000, &[1, 10, 100]);
}

#[test]
fn a_collection_over_the_memory_budget_is_streamed_with_the_same_results() {
    VULKAN.a_collection_over_the_memory_budget_is_streamed_with_the_same_results();
}

#[test]
fn exact_ties_are_broken_by_the_lower_row_across_chunk_boundaries() {
    VULKAN.exact_ties_are_broken_by_the_lower_row_across_chunk_boundaries();
}

#[test]
fn edge_cases_k_zero_k_above_rows_empty_collection_and_wrong_dimension() {
    VULKAN.edge_cases_k_zero_k_above_rows_empty_collection_and_wrong_dimension();
}

#[test]
fn a_budget_below_one_row_is_an_out_of_memory_error_with_the_sizes() {
    if let Some(requested_bytes) =
        VULKAN.a_budget_below_one_row_is_an_out_of_memory_error_with_the_sizes()
    {
        // The smallest chunk: one row tile, four rows of 64 four-byte values.
        assert_eq!(requested_bytes, 4 * 256);
    }
}

#[test]
fn info_names_the_backend_and_the_device() {
    VULKAN.info_names_the_backend_and_the_device();
}
