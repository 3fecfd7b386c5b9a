//! The thread setting (see [`crate::core::threads`]).

use super::status::{boundary, boundary_value, ds_status};

/// Sets how many threads GEMM and large element-wise kernels may use (1 to 1024; default 1, or
/// the environment variable `DIFFSTRUC_NUM_THREADS` read at first use). Element-wise results are
/// bit-identical whatever the setting. DS_ERR_ARGUMENT for a number out of range.
#[no_mangle]
pub extern "C" fn ds_set_num_threads(n: i32) -> ds_status {
    boundary(|| {
        let n = usize::try_from(n).unwrap_or(0);
        crate::core::set_num_threads(n)
    })
}

/// The number of threads the library may use (see `ds_set_num_threads`).
#[no_mangle]
pub extern "C" fn ds_get_num_threads() -> i32 {
    boundary_value(1, || {
        i32::try_from(crate::core::num_threads()).unwrap_or(i32::MAX)
    })
}
