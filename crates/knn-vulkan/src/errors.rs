//! wgpu reports failures through error scopes rather than return values; this turns them into
//! [`BackendError`]s that carry the sizes involved.

use knn_core::BackendError;

/// The three error scopes wgpu offers, pushed together around a group of device operations.
/// Scopes are per thread in wgpu, so concurrent searches do not see each other's errors.
pub(crate) struct Scopes {
    out_of_memory: wgpu::ErrorScopeGuard,
    validation: wgpu::ErrorScopeGuard,
    internal: wgpu::ErrorScopeGuard,
}

impl Scopes {
    pub fn push(device: &wgpu::Device) -> Self {
        Self {
            out_of_memory: device.push_error_scope(wgpu::ErrorFilter::OutOfMemory),
            validation: device.push_error_scope(wgpu::ErrorFilter::Validation),
            internal: device.push_error_scope(wgpu::ErrorFilter::Internal),
        }
    }

    /// Pops the scopes (innermost first, as wgpu requires) and reports the first error caught.
    /// `requested_bytes` and `available_bytes` describe the allocations made inside the scopes.
    pub fn finish(self, requested_bytes: u64, available_bytes: u64) -> Result<(), BackendError> {
        let Self {
            out_of_memory,
            validation,
            internal,
        } = self;
        let internal = pollster::block_on(internal.pop());
        let validation = pollster::block_on(validation.pop());
        let out_of_memory = pollster::block_on(out_of_memory.pop());
        match out_of_memory.or(validation).or(internal) {
            None => Ok(()),
            Some(error) => Err(to_backend_error(error, requested_bytes, available_bytes)),
        }
    }
}

pub(crate) fn to_backend_error(
    error: wgpu::Error,
    requested_bytes: u64,
    available_bytes: u64,
) -> BackendError {
    match error {
        wgpu::Error::OutOfMemory { .. } => BackendError::OutOfMemory {
            requested_bytes,
            available_bytes,
        },
        wgpu::Error::Validation { description, .. } => {
            BackendError::Device(format!("Vulkan validation error: {description}"))
        }
        wgpu::Error::Internal { description, .. } => {
            BackendError::Device(format!("Vulkan internal error: {description}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("source")]
    struct Source;

    #[test]
    fn out_of_memory_keeps_the_sizes_and_others_keep_the_description() {
        let oom = wgpu::Error::OutOfMemory {
            source: Box::new(Source),
        };
        match to_backend_error(oom, 10, 4) {
            BackendError::OutOfMemory {
                requested_bytes: 10,
                available_bytes: 4,
            } => {}
            other => panic!("unexpected {other:?}"),
        }
        let validation = wgpu::Error::Validation {
            source: Box::new(Source),
            description: "buffer too large".into(),
        };
        let text = to_backend_error(validation, 0, 0).to_string();
        assert!(text.contains("buffer too large"), "{text}");
    }
}
