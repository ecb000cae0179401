//! The Vulkan device, its queue and the two scoring pipelines, opened once per backend.

use std::sync::{Arc, Mutex};

use knn_core::{BackendError, DeviceInfo, Metric};

use crate::adapter::{self, AdapterPolicy, AdapterSummary};
use crate::errors::Scopes;
use crate::options::VulkanOptions;
use crate::plan::Bounds;
use crate::shader;

pub(crate) struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: DeviceInfo,
    /// The adapter opened, chosen by [`AdapterPolicy::select`].
    pub adapter: AdapterSummary,
    /// Every adapter the loader listed, the chosen one included.
    pub adapters_found: Vec<AdapterSummary>,
    pub layout: wgpu::BindGroupLayout,
    limits: wgpu::Limits,
    dot: wgpu::ComputePipeline,
    l2: wgpu::ComputePipeline,
    /// An error raised outside every error scope (wgpu's default would panic); reported by the
    /// next search.
    uncaptured: Arc<Mutex<Option<String>>>,
}

impl Gpu {
    pub fn open(policy: AdapterPolicy) -> Result<Self, BackendError> {
        let unavailable = |reason: String| BackendError::Unavailable {
            backend: "vulkan".into(),
            reason,
        };
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::VULKAN,
            // On drivers with VK_EXT_memory_budget, fail allocations with an out-of-memory error
            // before the device is overcommitted instead of losing the device.
            memory_budget_thresholds: wgpu::MemoryBudgetThresholds {
                for_resource_creation: Some(95),
                for_device_loss: None,
            },
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        // Every adapter, not `request_adapter`'s single answer: the choice must be reportable
        // and a CPU adapter refusable (see adapter.rs).
        let mut adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::VULKAN));
        let summaries: Vec<AdapterSummary> = adapters
            .iter()
            .map(|adapter| AdapterSummary::from_info(&adapter.get_info()))
            .collect();
        let index = policy.select(&summaries).map_err(unavailable)?;
        let adapter = adapters.swap_remove(index);
        let chosen = summaries[index].clone();
        // The adapter's own limits, not WebGPU's portable defaults: those cap storage bindings at
        // 128 MiB, which would cut large collections into needlessly many chunks.
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("knn-vulkan"),
            required_features: wgpu::Features::empty(),
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| unavailable(format!("cannot open {chosen}: {e}")))?;

        let uncaptured = Arc::new(Mutex::new(None));
        let slot = Arc::clone(&uncaptured);
        device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
            if let Ok(mut slot) = slot.lock() {
                slot.get_or_insert_with(|| error.to_string());
            }
        }));

        let scopes = Scopes::push(&device);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("knn scores"),
            source: wgpu::ShaderSource::Wgsl(shader::source().into()),
        });
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("knn scores"),
            entries: &[
                layout_entry(0, wgpu::BufferBindingType::Uniform),
                layout_entry(1, wgpu::BufferBindingType::Storage { read_only: true }),
                layout_entry(2, wgpu::BufferBindingType::Storage { read_only: true }),
                layout_entry(3, wgpu::BufferBindingType::Storage { read_only: false }),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("knn scores"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = |metric: Metric| {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(shader::entry_point(metric)),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(shader::entry_point(metric)),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        let dot = pipeline(Metric::Dot);
        let l2 = pipeline(Metric::L2);
        scopes.finish(0, 0)?;

        let mut details = chosen.details();
        details.insert("adapters_found".to_owned(), adapter::list(&summaries));
        let info = DeviceInfo {
            backend: "vulkan".into(),
            device: chosen.to_string(),
            details,
        };
        Ok(Self {
            device,
            queue,
            info,
            adapter: chosen,
            adapters_found: summaries,
            layout,
            limits,
            dot,
            l2,
            uncaptured,
        })
    }

    pub fn pipeline(&self, metric: Metric) -> &wgpu::ComputePipeline {
        match metric {
            Metric::Cosine | Metric::Dot => &self.dot,
            Metric::L2 => &self.l2,
        }
    }

    pub fn bounds(&self, options: &VulkanOptions) -> Bounds {
        Bounds {
            max_binding_bytes: self
                .limits
                .max_storage_buffer_binding_size
                .min(self.limits.max_buffer_size),
            max_workgroups: self.limits.max_compute_workgroups_per_dimension,
            max_chunk_bytes: options.max_chunk_bytes.min(options.memory_budget_bytes),
            max_scores_bytes: options.max_scores_bytes,
        }
    }

    /// Takes the error wgpu raised outside any scope, if one was.
    pub fn take_uncaptured(&self) -> Result<(), BackendError> {
        match self.uncaptured.lock().ok().and_then(|mut slot| slot.take()) {
            Some(message) => Err(BackendError::Device(message)),
            None => Ok(()),
        }
    }
}

fn layout_entry(binding: u32, ty: wgpu::BufferBindingType) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}
