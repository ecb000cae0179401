//! Which Vulkan adapter the backend opens. A container or host can expose several: the GPU's
//! own driver and Mesa's lavapipe, a Vulkan driver on the CPU that is about ten times slower
//! than the CPU backend. The choice is made here over every adapter the loader lists, so it can
//! be reported, and refused when it is a CPU, instead of taking whatever wgpu answers first.

use std::collections::BTreeMap;
use std::fmt;

/// The environment variable that makes [`AdapterPolicy::from_env`] refuse CPU adapters.
pub const REQUIRE_HARDWARE_ENV: &str = "KNN_VULKAN_REQUIRE_HARDWARE";

/// What the loader says about one adapter: the part of `wgpu::AdapterInfo` that identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterSummary {
    pub name: String,
    pub device_type: wgpu::DeviceType,
    /// The driver's name, e.g. `NVIDIA` or `llvmpipe`.
    pub driver: String,
    /// The driver's version text, e.g. `Mesa 22.3.6 (LLVM 15.0.6)`.
    pub driver_info: String,
}

impl AdapterSummary {
    pub fn from_info(info: &wgpu::AdapterInfo) -> Self {
        Self {
            name: info.name.clone(),
            device_type: info.device_type,
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
        }
    }

    /// Lavapipe, SwiftShader and other software implementations report [`wgpu::DeviceType::Cpu`].
    pub fn is_cpu(&self) -> bool {
        self.device_type == wgpu::DeviceType::Cpu
    }

    /// The facts `/info` reports, under stable keys.
    pub fn details(&self) -> BTreeMap<String, String> {
        [
            ("adapter", self.name.clone()),
            ("device_type", format!("{:?}", self.device_type)),
            ("driver", self.driver.clone()),
            ("driver_info", self.driver_info.clone()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
    }
}

impl fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({:?}, driver {} {})",
            self.name, self.device_type, self.driver, self.driver_info
        )
    }
}

/// How eagerly an adapter of this type is chosen; lower is better. Hardware first, fastest kind
/// first; `Other` (a driver that does not say) before a CPU, which is known to be slow.
fn rank(device_type: wgpu::DeviceType) -> u8 {
    match device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// The index of the adapter to open: the best-ranked type, and among adapters of one type the
/// first the loader listed (its order follows the ICD files, which the operator controls).
/// `None` when there is no adapter at all.
pub fn choose(adapters: &[AdapterSummary]) -> Option<usize> {
    adapters
        .iter()
        .enumerate()
        .min_by_key(|(index, adapter)| (rank(adapter.device_type), *index))
        .map(|(index, _)| index)
}

/// Whether a CPU adapter may be used when it is the best there is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdapterPolicy {
    /// Fail instead of running on a CPU adapter (lavapipe): a GPU host whose driver the loader
    /// does not find would otherwise serve slowly without an error.
    pub require_hardware: bool,
}

impl AdapterPolicy {
    /// Any adapter, unless `KNN_VULKAN_REQUIRE_HARDWARE` is set to `1`/`true`/`yes`.
    pub fn from_env() -> Result<Self, String> {
        let require_hardware = match std::env::var(REQUIRE_HARDWARE_ENV) {
            Ok(text) => parse_flag(&text).ok_or_else(|| {
                format!("{REQUIRE_HARDWARE_ENV}={text:?} is not one of 1, 0, true, false, yes, no")
            })?,
            Err(_) => false,
        };
        Ok(Self { require_hardware })
    }

    /// The index of the adapter to open among `adapters`, or why none is acceptable.
    pub fn select(&self, adapters: &[AdapterSummary]) -> Result<usize, String> {
        let index =
            choose(adapters).ok_or_else(|| "the Vulkan loader found no adapter".to_owned())?;
        let chosen = &adapters[index];
        if self.require_hardware && chosen.is_cpu() {
            return Err(format!(
                "refusing the CPU Vulkan adapter {chosen}: a hardware adapter is required \
                 ({REQUIRE_HARDWARE_ENV}=1 or --vulkan-require-hardware) and the loader found \
                 none (adapters: {}); check that the GPU driver's ICD file is in the loader's \
                 search path (VK_DRIVER_FILES, VK_ADD_DRIVER_FILES)",
                list(adapters)
            ));
        }
        Ok(index)
    }
}

/// The adapters as one line, for logs and errors.
pub fn list(adapters: &[AdapterSummary]) -> String {
    adapters
        .iter()
        .map(|adapter| format!("{} ({:?})", adapter.name, adapter.device_type))
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_flag(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Some(true),
        "" | "0" | "false" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wgpu::DeviceType;

    fn adapter(name: &str, device_type: DeviceType) -> AdapterSummary {
        AdapterSummary {
            name: name.to_owned(),
            device_type,
            driver: format!("{name}-driver"),
            driver_info: "1.0".to_owned(),
        }
    }

    fn chosen_name(adapters: &[AdapterSummary]) -> &str {
        &adapters[choose(adapters).unwrap()].name
    }

    #[test]
    fn hardware_is_preferred_over_the_cpu_whatever_the_loader_order() {
        let lavapipe = adapter("llvmpipe", DeviceType::Cpu);
        let nvidia = adapter("H100", DeviceType::DiscreteGpu);
        let intel = adapter("UHD 770", DeviceType::IntegratedGpu);
        let virtio = adapter("virgl", DeviceType::VirtualGpu);
        let unknown = adapter("mystery", DeviceType::Other);
        let all = [
            lavapipe.clone(),
            unknown.clone(),
            virtio.clone(),
            intel.clone(),
            nvidia.clone(),
        ];
        assert_eq!(chosen_name(&all), "H100");
        assert_eq!(chosen_name(&all[..4]), "UHD 770");
        assert_eq!(chosen_name(&all[..3]), "virgl");
        assert_eq!(chosen_name(&all[..2]), "mystery");
        assert_eq!(chosen_name(&all[..1]), "llvmpipe");
        let reversed: Vec<_> = all.iter().rev().cloned().collect();
        assert_eq!(chosen_name(&reversed), "H100");
        assert_eq!(choose(&[]), None);
    }

    #[test]
    fn among_adapters_of_one_type_the_first_listed_wins() {
        let adapters = [
            adapter("llvmpipe", DeviceType::Cpu),
            adapter("gpu-a", DeviceType::DiscreteGpu),
            adapter("gpu-b", DeviceType::DiscreteGpu),
        ];
        assert_eq!(choose(&adapters), Some(1));
    }

    #[test]
    fn requiring_hardware_refuses_a_cpu_adapter_and_names_it() {
        let lavapipe = adapter("llvmpipe (LLVM 15.0.6, 256 bits)", DeviceType::Cpu);
        let only_cpu = [lavapipe.clone()];
        let any = AdapterPolicy::default();
        let hardware = AdapterPolicy {
            require_hardware: true,
        };
        assert_eq!(any.select(&only_cpu), Ok(0));
        let message = hardware.select(&only_cpu).unwrap_err();
        assert!(
            message.contains("llvmpipe (LLVM 15.0.6, 256 bits) (Cpu, driver llvmpipe")
                && message.contains(REQUIRE_HARDWARE_ENV),
            "{message}"
        );
        let with_gpu = [lavapipe, adapter("H100", DeviceType::DiscreteGpu)];
        assert_eq!(hardware.select(&with_gpu), Ok(1));
        assert!(any.select(&[]).unwrap_err().contains("no adapter"));
    }

    #[test]
    fn flag_values_parse_and_junk_is_rejected() {
        for (text, expected) in [
            ("1", Some(true)),
            ("TRUE", Some(true)),
            (" yes ", Some(true)),
            ("0", Some(false)),
            ("no", Some(false)),
            ("", Some(false)),
            ("2", None),
            ("on-ish", None),
        ] {
            assert_eq!(parse_flag(text), expected, "{text:?}");
        }
    }

    #[test]
    fn details_carry_the_type_and_driver_under_stable_keys() {
        let details = adapter("llvmpipe", DeviceType::Cpu).details();
        assert_eq!(details["device_type"], "Cpu");
        assert_eq!(details["adapter"], "llvmpipe");
        assert_eq!(details["driver"], "llvmpipe-driver");
        assert_eq!(details["driver_info"], "1.0");
    }
}
