//! Which compute backend runs: chosen at start from the ones compiled into this binary.

use std::sync::Arc;

use clap::ValueEnum;
use knn_core::{Backend, BackendError, CpuBackend, DeviceInfo};
use thiserror::Error;

/// The `--backend` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// The first accelerator that works (cuda, rocm, vulkan), else cpu.
    Auto,
    Cpu,
    Vulkan,
    Cuda,
    Rocm,
}

/// The GPU backends, in the order `auto` tries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accelerator {
    Cuda,
    Rocm,
    Vulkan,
}

impl Accelerator {
    pub const AUTO_ORDER: [Accelerator; 3] =
        [Accelerator::Cuda, Accelerator::Rocm, Accelerator::Vulkan];

    /// The backend's name, which is also its cargo feature and its variant.
    pub fn name(self) -> &'static str {
        match self {
            Accelerator::Cuda => "cuda",
            Accelerator::Rocm => "rocm",
            Accelerator::Vulkan => "vulkan",
        }
    }

    pub fn compiled_in(self) -> bool {
        match self {
            Accelerator::Cuda => cfg!(feature = "cuda"),
            Accelerator::Rocm => cfg!(feature = "rocm"),
            Accelerator::Vulkan => cfg!(feature = "vulkan"),
        }
    }
}

#[derive(Debug, Error)]
pub enum SelectError {
    #[error(
        "backend {name} is not compiled into this binary; build the `{name}` variant \
         (cargo build -p knn-server --features {name})"
    )]
    NotCompiled { name: &'static str },
    #[error(transparent)]
    Failed(#[from] BackendError),
}

/// The variant this binary was built as: the enabled accelerator features joined by `+`, or
/// `cpu` when none is.
pub fn variant() -> String {
    let enabled: Vec<&str> = Accelerator::AUTO_ORDER
        .iter()
        .filter(|a| a.compiled_in())
        .map(|a| a.name())
        .collect();
    if enabled.is_empty() {
        "cpu".to_owned()
    } else {
        enabled.join("+")
    }
}

/// How the accelerators are opened, from the command line; the backends read their own
/// environment variables on top.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackendSettings {
    /// `--vulkan-require-hardware`: refuse a CPU Vulkan adapter (lavapipe), as
    /// `KNN_VULKAN_REQUIRE_HARDWARE=1` does.
    pub vulkan_require_hardware: bool,
}

/// Resolves `--backend`. An explicit accelerator must be compiled in and must start; `auto`
/// falls back to the CPU and logs why.
pub fn select(
    choice: BackendChoice,
    settings: &BackendSettings,
) -> Result<Arc<dyn Backend>, SelectError> {
    let accelerator = match choice {
        BackendChoice::Cpu => return Ok(Arc::new(CpuBackend::new())),
        BackendChoice::Auto => return Ok(select_auto(settings)),
        BackendChoice::Cuda => Accelerator::Cuda,
        BackendChoice::Rocm => Accelerator::Rocm,
        BackendChoice::Vulkan => Accelerator::Vulkan,
    };
    if !accelerator.compiled_in() {
        return Err(SelectError::NotCompiled {
            name: accelerator.name(),
        });
    }
    Ok(construct(accelerator, settings)?)
}

/// A backend's [`DeviceInfo::details`] as one line of `key="value"` pairs, for logs and `bench`.
pub fn details_line(info: &DeviceInfo) -> String {
    info.details
        .iter()
        .map(|(key, value)| format!("{key}={value:?}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn select_auto(settings: &BackendSettings) -> Arc<dyn Backend> {
    let mut reasons = Vec::new();
    for accelerator in Accelerator::AUTO_ORDER {
        if !accelerator.compiled_in() {
            reasons.push(format!("{} not compiled in", accelerator.name()));
            continue;
        }
        match construct(accelerator, settings) {
            Ok(backend) => return backend,
            Err(error) => {
                tracing::warn!(backend = accelerator.name(), %error, "accelerator unavailable");
                reasons.push(format!("{}: {error}", accelerator.name()));
            }
        }
    }
    tracing::info!(reason = %reasons.join("; "), "falling back to the cpu backend");
    Arc::new(CpuBackend::new())
}

/// The single place where compiled-in accelerator backends are constructed. A missing driver or
/// device comes back as `BackendError::Unavailable`, so `auto` falls back to the CPU and an
/// explicit request fails with the reason.
// Only the vulkan backend takes a setting.
#[cfg_attr(not(feature = "vulkan"), allow(unused_variables))]
fn construct(
    accelerator: Accelerator,
    settings: &BackendSettings,
) -> Result<Arc<dyn Backend>, BackendError> {
    match accelerator {
        #[cfg(feature = "cuda")]
        Accelerator::Cuda => Ok(Arc::new(knn_cuda::CudaBackend::new()?)),
        #[cfg(feature = "rocm")]
        Accelerator::Rocm => Ok(Arc::new(knn_rocm::RocmBackend::new()?)),
        #[cfg(feature = "vulkan")]
        Accelerator::Vulkan => {
            let mut policy =
                knn_vulkan::AdapterPolicy::from_env().map_err(BackendError::InvalidInput)?;
            policy.require_hardware |= settings.vulkan_require_hardware;
            let options =
                knn_vulkan::VulkanOptions::from_env().map_err(BackendError::InvalidInput)?;
            Ok(Arc::new(knn_vulkan::VulkanBackend::open(policy, options)?))
        }
        // Only reached for a feature that is off, which `select` rules out before calling.
        #[allow(unreachable_patterns)]
        _ => Err(BackendError::Unavailable {
            backend: accelerator.name().to_owned(),
            reason: format!("the `{}` feature is not compiled in", accelerator.name()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_auto_always_yield_a_backend() {
        assert_eq!(
            select(BackendChoice::Cpu, &BackendSettings::default())
                .unwrap()
                .info()
                .backend,
            "cpu"
        );
        let auto = select(BackendChoice::Auto, &BackendSettings::default())
            .unwrap()
            .info()
            .backend;
        if variant() == "cpu" {
            assert_eq!(auto, "cpu");
        }
    }

    #[test]
    fn explicit_accelerator_not_compiled_in_names_the_feature() {
        for (choice, accelerator) in [
            (BackendChoice::Cuda, Accelerator::Cuda),
            (BackendChoice::Rocm, Accelerator::Rocm),
            (BackendChoice::Vulkan, Accelerator::Vulkan),
        ] {
            if accelerator.compiled_in() {
                continue;
            }
            let message = select(choice, &BackendSettings::default())
                .err()
                .unwrap()
                .to_string();
            assert!(
                message.contains(&format!("--features {}", accelerator.name())),
                "{message}"
            );
        }
    }

    #[test]
    fn details_line_quotes_each_value_in_key_order() {
        let info = DeviceInfo {
            backend: "vulkan".to_owned(),
            device: "llvmpipe".to_owned(),
            details: [
                ("driver".to_owned(), "Mesa 22.3.6 (LLVM 15)".to_owned()),
                ("device_type".to_owned(), "Cpu".to_owned()),
            ]
            .into(),
        };
        assert_eq!(
            details_line(&info),
            r#"device_type="Cpu" driver="Mesa 22.3.6 (LLVM 15)""#
        );
    }

    #[test]
    fn variant_lists_compiled_features() {
        let variant = variant();
        for accelerator in Accelerator::AUTO_ORDER {
            assert_eq!(
                variant.contains(accelerator.name()),
                accelerator.compiled_in()
            );
        }
        assert_eq!(
            variant == "cpu",
            !Accelerator::AUTO_ORDER.iter().any(|a| a.compiled_in())
        );
    }
}
