//! A per-thread cache of freed f32 buffers, so that the large arrays a training loop frees and
//! allocates again every iteration are reused instead of being returned to the kernel and
//! page-faulted in again (which otherwise costs about a third of an element-wise workload).
//!
//! Only buffers of at least [`MIN_LEN`] values are cached, at most [`MAX_BUFFERS`] of them and
//! [`MAX_BYTES`] in all per thread; everything else goes straight back to the allocator.
//!
//! New buffers are reserved fallibly (see [`super::alloc`]): when memory runs out, the nearest
//! operation or differentiation pass reports an out-of-memory error instead of aborting.

use std::cell::RefCell;

/// Smallest buffer worth caching (16 KiB); smaller ones are cheap for malloc.
pub(crate) const MIN_LEN: usize = 4096;
/// Most buffers kept per thread.
pub(crate) const MAX_BUFFERS: usize = 32;
/// Most bytes kept per thread.
pub(crate) const MAX_BYTES: usize = 64 << 20;

#[derive(Default)]
struct Pool {
    buffers: Vec<Vec<f32>>,
    bytes: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// An empty vector with room for at least `n` values, reused from the cache when possible.
/// An allocation failure is reported to the nearest [`super::alloc::guard`].
pub(crate) fn with_capacity(n: usize) -> Vec<f32> {
    if n >= MIN_LEN {
        let reused = POOL.try_with(|p| {
            let mut p = p.borrow_mut();
            // best fit among buffers no more than twice as large
            let best = p
                .buffers
                .iter()
                .enumerate()
                .filter(|(_, b)| b.capacity() >= n && b.capacity() <= 2 * n)
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i)?;
            let mut v = p.buffers.swap_remove(best);
            p.bytes -= v.capacity() * 4;
            v.clear();
            Some(v)
        });
        if let Ok(Some(v)) = reused {
            return v;
        }
    }
    let mut v = Vec::new();
    if v.try_reserve_exact(n).is_ok() {
        return v;
    }
    // out of memory: give the cached buffers back to the allocator and try once more
    let _ = POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        p.buffers.clear();
        p.bytes = 0;
    });
    super::alloc::with_capacity(n)
}

/// `n` copies of `value`.
pub(crate) fn filled(n: usize, value: f32) -> Vec<f32> {
    let mut v = with_capacity(n);
    v.resize(n, value);
    v
}

/// Collects an iterator of known length into a (possibly reused) buffer.
pub(crate) fn collect(n: usize, it: impl Iterator<Item = f32>) -> Vec<f32> {
    let mut v = with_capacity(n);
    v.extend(it);
    v
}

/// A copy of a slice in a (possibly reused) buffer.
pub(crate) fn copy(x: &[f32]) -> Vec<f32> {
    let mut v = with_capacity(x.len());
    v.extend_from_slice(x);
    v
}

/// Gives a buffer back: cached if it is large and the cache has room, freed otherwise.
pub(crate) fn recycle(v: Vec<f32>) {
    let cap = v.capacity();
    if cap < MIN_LEN {
        return;
    }
    let _ = POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        // (the cache's own list is reserved fallibly: this runs in destructors)
        if p.buffers.len() < MAX_BUFFERS
            && p.bytes + cap * 4 <= MAX_BYTES
            && p.buffers.try_reserve(1).is_ok()
        {
            p.bytes += cap * 4;
            p.buffers.push(v);
        }
    });
}
