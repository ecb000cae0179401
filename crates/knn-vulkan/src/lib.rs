//! Exact k-nearest-neighbour search on a Vulkan device.
//!
//! A WGSL compute shader (run through wgpu's Vulkan backend, compiled to SPIR-V at run time by
//! wgpu itself, so no SDK tools are needed to build) scores a batch of queries against a tile of
//! the collection: a dot product for cosine and dot (cosine vectors arrive normalised), the
//! squared Euclidean distance for l2. The scores are copied back and the exact top-k is selected
//! on the host with [`knn_core::TopK`], so results follow knn-core's order and tie rules exactly.
//!
//! The collection is cut into chunks that fit the device's largest storage binding and the
//! configured chunk size ([`VulkanOptions`]); a collection larger than the memory budget stays on
//! the host and is streamed through the device chunk by chunk on every search.

mod adapter;
mod collection;
mod errors;
mod gpu;
mod layout;
mod options;
mod plan;
mod shader;

use std::sync::Arc;

use knn_core::{Backend, BackendError, DeviceInfo, Matrix, Metric, Prepared};

pub use adapter::{AdapterPolicy, AdapterSummary, REQUIRE_HARDWARE_ENV};
pub use options::{MEMORY_BUDGET_ENV, VulkanOptions};

use crate::collection::VulkanCollection;
use crate::gpu::Gpu;

pub struct VulkanBackend {
    gpu: Arc<Gpu>,
    options: VulkanOptions,
}

impl VulkanBackend {
    /// Opens the best Vulkan adapter (hardware before a CPU implementation such as lavapipe)
    /// with the policy and options from the environment ([`AdapterPolicy::from_env`],
    /// [`VulkanOptions::from_env`]). No Vulkan loader or adapter, or only a CPU adapter when
    /// hardware is required, is [`BackendError::Unavailable`].
    pub fn new() -> Result<Self, BackendError> {
        Self::open(
            AdapterPolicy::from_env().map_err(BackendError::InvalidInput)?,
            VulkanOptions::from_env().map_err(BackendError::InvalidInput)?,
        )
    }

    /// The best adapter, a CPU one included, with `options`.
    pub fn with_options(options: VulkanOptions) -> Result<Self, BackendError> {
        Self::open(AdapterPolicy::default(), options)
    }

    pub fn open(policy: AdapterPolicy, options: VulkanOptions) -> Result<Self, BackendError> {
        Ok(Self {
            gpu: Arc::new(Gpu::open(policy)?),
            options,
        })
    }

    /// The adapter this backend runs on.
    pub fn adapter(&self) -> &AdapterSummary {
        &self.gpu.adapter
    }

    /// Every adapter the Vulkan loader listed when this backend opened, in its order.
    pub fn adapters_found(&self) -> &[AdapterSummary] {
        &self.gpu.adapters_found
    }

    /// The same device with other size options; opening a device is slow, so tests that vary
    /// the chunking share one.
    pub fn with_same_device(&self, options: VulkanOptions) -> Self {
        Self {
            gpu: Arc::clone(&self.gpu),
            options,
        }
    }
}

impl Backend for VulkanBackend {
    fn info(&self) -> DeviceInfo {
        self.gpu.info.clone()
    }

    fn upload(&self, vectors: &Matrix, metric: Metric) -> Result<Box<dyn Prepared>, BackendError> {
        let collection = VulkanCollection::upload(
            Arc::clone(&self.gpu),
            vectors,
            metric,
            self.gpu.bounds(&self.options),
            self.options.memory_budget_bytes,
        )?;
        Ok(Box::new(collection))
    }
}
