//! One device per test binary, shared by its tests, which skip where it does not open.

use std::io::Write;
use std::sync::OnceLock;

use crate::backend::BackendError;

/// A device opened once per test binary, on first use, and shared by its tests (opening one can
/// take long, e.g. to compile kernels). Meant for a `static`.
///
/// A device backend's tests may run where its device is missing. They then print why they did
/// not run and return, unless the backend's require variable is `1`, which turns the missing
/// device into a failure (for runs on a machine that has the device).
pub struct SharedDevice<B> {
    /// The backend's name in its [`DeviceInfo`](crate::DeviceInfo), e.g. `"cuda"`.
    backend: &'static str,
    /// e.g. `"KNN_REQUIRE_CUDA"`.
    require_variable: &'static str,
    open: fn() -> Result<B, BackendError>,
    opened: OnceLock<Result<B, String>>,
}

impl<B> SharedDevice<B> {
    pub const fn new(
        backend: &'static str,
        require_variable: &'static str,
        open: fn() -> Result<B, BackendError>,
    ) -> Self {
        Self {
            backend,
            require_variable,
            open,
            opened: OnceLock::new(),
        }
    }

    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Opens a device of its own, not the shared one: for tests of how opening fails.
    pub fn open_another(&self) -> Result<B, BackendError> {
        (self.open)()
    }

    /// Runs `test` on the device, or, when it does not open, prints `SKIPPED <test>: <reason>`
    /// and returns `None`. Panics with the reason instead when the require variable is `1`.
    pub fn run_or_skip<T>(&self, test: impl FnOnce(&B) -> T) -> Option<T> {
        let opened = self
            .opened
            .get_or_init(|| (self.open)().map_err(|e| e.to_string()));
        match opened {
            Ok(backend) => Some(test(backend)),
            Err(reason) if std::env::var(self.require_variable).as_deref() == Ok("1") => {
                panic!(
                    "{}=1 but the {} backend cannot start: {reason}",
                    self.require_variable, self.backend
                )
            }
            Err(reason) => {
                skip(reason);
                None
            }
        }
    }
}

/// Says on the terminal, past the test harness's output capture, which test did not run and
/// why: the harness itself can only report it as passed.
fn skip(reason: &str) {
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
}
