//! Which adapter the backend opens, on whatever Vulkan driver is present (Mesa's lavapipe in
//! CI, a CPU adapter). Without a device the tests print why and return, unless
//! `KNN_REQUIRE_VULKAN=1`.

use knn_core::testing::SharedDevice;
use knn_core::{Backend, BackendError};
use knn_vulkan::{AdapterPolicy, VulkanBackend, VulkanOptions};

static VULKAN: SharedDevice<VulkanBackend> =
    SharedDevice::new("vulkan", "KNN_REQUIRE_VULKAN", || {
        VulkanBackend::with_options(VulkanOptions::default())
    });

#[test]
fn info_reports_the_chosen_adapter_its_type_and_driver() {
    VULKAN.run_or_skip(|backend| {
        let adapter = backend.adapter();
        let info = backend.info();
        assert_eq!(info.details["adapter"], adapter.name);
        assert_eq!(
            info.details["device_type"],
            format!("{:?}", adapter.device_type)
        );
        assert_eq!(info.details["driver"], adapter.driver);
        assert_eq!(info.details["driver_info"], adapter.driver_info);
        assert!(info.device.contains(&adapter.name), "{}", info.device);
        let found = backend.adapters_found();
        assert!(found.contains(adapter), "{found:?}");
        for other in found {
            assert!(
                info.details["adapters_found"].contains(&other.name),
                "{}",
                info.details["adapters_found"]
            );
        }
        // A CPU adapter is chosen only when nothing else is there to choose.
        if adapter.is_cpu() {
            assert!(
                found.iter().all(|other| other.is_cpu()),
                "a hardware adapter was passed over: {found:?}"
            );
        }
        if is_lavapipe_only() {
            assert_eq!(info.details["device_type"], "Cpu");
            assert_eq!(info.details["driver"], "llvmpipe");
        }
    });
}

#[test]
fn requiring_hardware_refuses_a_cpu_adapter_with_its_name() {
    VULKAN.run_or_skip(|backend| {
        let adapter = backend.adapter().clone();
        let opened = VulkanBackend::open(
            AdapterPolicy {
                require_hardware: true,
            },
            VulkanOptions::default(),
        );
        match opened {
            Err(BackendError::Unavailable { backend, reason }) if adapter.is_cpu() => {
                assert_eq!(backend, "vulkan");
                assert!(
                    reason.contains(&format!("refusing the CPU Vulkan adapter {adapter}")),
                    "{reason}"
                );
            }
            Ok(hardware) if !adapter.is_cpu() => assert_eq!(hardware.adapter(), &adapter),
            Err(error) => panic!("adapter {adapter}: unexpected error {error}"),
            Ok(other) => panic!("a CPU adapter was accepted: {}", other.adapter()),
        }
    });
}

/// Whether the loader was pointed at lavapipe's ICD alone, as `scripts/test.sh` does.
fn is_lavapipe_only() -> bool {
    ["VK_DRIVER_FILES", "VK_ICD_FILENAMES"].iter().any(|name| {
        std::env::var(name).is_ok_and(|files| {
            !files.is_empty() && files.split(':').all(|file| file.contains("lvp_icd"))
        })
    })
}
