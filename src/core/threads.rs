//! The library's thread setting: how many threads GEMM and large element-wise kernels may use.
//!
//! One thread is the default. `DIFFSTRUC_NUM_THREADS` (read once, at the first use) or
//! [`set_num_threads`] (`ds_set_num_threads`, Fortran `diffstruc_set_num_threads`) choose more.
//! With N > 1 threads, large kernels are split into contiguous chunks run on a pool of N
//! workers (the caller's thread waits for them):
//! * element-wise kernels: each element is computed by the same code whatever the split (see
//!   [`crate::ops::vmath`]), so results are bit-identical to one thread;
//! * matrix products: the result's columns are split, so each column is the same product as
//!   with one thread (with the `f32` AVX-512 kernel, bit-identical by construction: see
//!   [`crate::ops::gemm`]).
//!
//! Reductions (`sum`, `mean`, gradient sums over a broadcast) stay on one thread so that their
//! summation order, and so their bits, never depend on the setting.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::error::{Error, Result};

/// Most threads accepted (far above any machine this runs on; guards against typos).
pub const MAX_THREADS: usize = 1024;

/// 0: not read yet; otherwise the current setting.
static SETTING: AtomicUsize = AtomicUsize::new(0);

/// The worker pool of the current setting (none for one thread).
static POOL: Mutex<Option<Arc<rayon::ThreadPool>>> = Mutex::new(None);

/// Threads the library may use (1 unless set; see the module documentation).
pub fn num_threads() -> usize {
    match SETTING.load(Ordering::Relaxed) {
        0 => {
            let n = std::env::var("DIFFSTRUC_NUM_THREADS")
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .filter(|&n| (1..=MAX_THREADS).contains(&n))
                .unwrap_or(1);
            if set_num_threads(n).is_err() {
                SETTING.store(1, Ordering::Relaxed);
            }
            SETTING.load(Ordering::Relaxed)
        }
        n => n,
    }
}

/// Sets the number of threads (1 to [`MAX_THREADS`]). Takes effect for the next kernel; a
/// kernel already running keeps its workers.
///
/// Errors: `n` out of range; the system refused to start the workers (the setting is then
/// unchanged).
pub fn set_num_threads(n: usize) -> Result<()> {
    if !(1..=MAX_THREADS).contains(&n) {
        return Err(Error::argument(format!(
            "set_num_threads: {n} threads requested; the number must be between 1 and \
             {MAX_THREADS}"
        )));
    }
    let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    let new = if n == 1 {
        None
    } else {
        let built = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("diffstruc-{i}"))
            .build()
            .map_err(|e| {
                Error::new(
                    super::ErrorKind::OutOfMemory,
                    format!("set_num_threads: cannot start {n} threads: {e}"),
                )
            })?;
        Some(Arc::new(built))
    };
    *pool = new;
    SETTING.store(n, Ordering::Relaxed);
    Ok(())
}

/// The pool to run on, if more than one thread is set.
fn pool() -> Option<Arc<rayon::ThreadPool>> {
    if num_threads() <= 1 {
        return None;
    }
    POOL.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// Runs `f` over `0..n` split into contiguous chunks, one per thread, each a multiple of `align`
/// long (except the last); on the calling thread alone when one thread is set or `n` is below
/// `min`. `f` must only write what its own chunk owns.
pub(crate) fn for_chunks(n: usize, min: usize, align: usize, f: impl Fn(usize, usize) + Sync) {
    let pool = if n >= min { pool() } else { None };
    let Some(pool) = pool else {
        f(0, n);
        return;
    };
    let threads = pool.current_num_threads().max(1);
    let align = align.max(1);
    let chunk = n.div_ceil(threads).div_ceil(align) * align;
    pool.scope(|s| {
        let f = &f;
        let mut start = chunk;
        while start < n {
            let end = (start + chunk).min(n);
            s.spawn(move |_| f(start, end));
            start = end;
        }
        f(0, chunk.min(n));
    });
}
