//! A per-thread cache of freed value buffers (one per element type), so that the large arrays a training loop frees and
//! allocates again every iteration are reused instead of being returned to the kernel and
//! page-faulted in again (which otherwise costs about a third of an element-wise workload).
//!
//! Only buffers of at least [`MIN_LEN`] values are cached, at most [`MAX_BUFFERS`] of them and
//! [`MAX_BYTES`] in all per thread. Buffers of at most [`SMALL_LEN`] values (scalar
//! workloads' values, a node each) are all allocated with that capacity and up to
//! [`MAX_SMALL`] are kept, since graphs free and create them in bursts larger than the system
//! allocator's own per-thread cache. Everything else goes straight back to the allocator.
//!
//! New buffers are reserved fallibly (see [`super::alloc`]): when memory runs out, the nearest
//! operation or differentiation pass reports an out-of-memory error instead of aborting.

use super::real::Real;

/// Smallest buffer worth caching (16 KiB); smaller ones are cheap for malloc.
pub(crate) const MIN_LEN: usize = 4096;
/// Most buffers kept per thread.
pub(crate) const MAX_BUFFERS: usize = 32;
/// Most bytes kept per thread.
pub(crate) const MAX_BYTES: usize = 64 << 20;

/// Capacity of every buffer of at most this many values.
pub(crate) const SMALL_LEN: usize = 4;
/// Most small buffers kept per thread.
pub(crate) const MAX_SMALL: usize = 256;

/// One thread's cached buffers of one element type (see [`Real::with_pool`]).
pub struct Pool<T> {
    buffers: Vec<Vec<T>>,
    bytes: usize,
    small: Vec<Vec<T>>,
}

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Pool {
            buffers: Vec::new(),
            bytes: 0,
            small: Vec::new(),
        }
    }
}

/// An empty vector with room for at least `n` values, reused from the cache when possible.
/// An allocation failure is reported to the nearest [`super::alloc::guard`].
pub(crate) fn with_capacity<T: Real>(n: usize) -> Vec<T> {
    if n <= SMALL_LEN {
        let reused = T::with_pool(|p| p.try_borrow_mut().ok().and_then(|mut p| p.small.pop()));
        if let Some(Some(mut v)) = reused {
            v.clear();
            return v;
        }
        let mut v = Vec::new();
        if v.try_reserve_exact(SMALL_LEN).is_ok() {
            return v;
        }
        return super::alloc::with_capacity(n);
    }
    if n >= MIN_LEN {
        let reused = T::with_pool(|p| {
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
            p.bytes -= v.capacity() * size_of::<T>();
            v.clear();
            Some(v)
        });
        if let Some(Some(v)) = reused {
            return v;
        }
    }
    let mut v = Vec::new();
    if v.try_reserve_exact(n).is_ok() {
        return v;
    }
    // out of memory: give the cached buffers back to the allocator and try once more
    let _ = T::with_pool(|p| {
        let mut p = p.borrow_mut();
        p.buffers.clear();
        p.bytes = 0;
    });
    super::alloc::with_capacity(n)
}

/// `n` copies of `value`.
pub(crate) fn filled<T: Real>(n: usize, value: T) -> Vec<T> {
    let mut v = with_capacity(n);
    v.resize(n, value);
    v
}

/// Collects an iterator of known length into a (possibly reused) buffer.
pub(crate) fn collect<T: Real>(n: usize, it: impl Iterator<Item = T>) -> Vec<T> {
    let mut v = with_capacity(n);
    v.extend(it);
    v
}

/// A copy of a slice in a (possibly reused) buffer.
pub(crate) fn copy<T: Real>(x: &[T]) -> Vec<T> {
    let mut v = with_capacity(x.len());
    v.extend_from_slice(x);
    v
}

/// Gives a buffer back: cached if it is large and the cache has room, freed otherwise.
pub(crate) fn recycle<T: Real>(v: Vec<T>) {
    let cap = v.capacity();
    if cap == SMALL_LEN {
        let _ = T::with_pool(|p| {
            if let Ok(mut p) = p.try_borrow_mut() {
                if p.small.len() < MAX_SMALL && p.small.try_reserve(1).is_ok() {
                    p.small.push(v);
                }
            }
        });
        return;
    }
    if cap < MIN_LEN {
        return;
    }
    let _ = T::with_pool(|p| {
        let mut p = p.borrow_mut();
        // (the cache's own list is reserved fallibly: this runs in destructors)
        if p.buffers.len() < MAX_BUFFERS
            && p.bytes + cap * size_of::<T>() <= MAX_BYTES
            && p.buffers.try_reserve(1).is_ok()
        {
            p.bytes += cap * size_of::<T>();
            p.buffers.push(v);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_cached() -> usize {
        f32::with_pool(|p| p.borrow().small.len()).unwrap_or(0)
    }

    #[test]
    fn small_buffers_are_reused_up_to_the_bound() {
        let bufs: Vec<Vec<f32>> = (0..MAX_SMALL + 10).map(|_| with_capacity(1)).collect();
        assert!(bufs
            .iter()
            .all(|b| b.capacity() == SMALL_LEN && b.is_empty()));
        let first = bufs[0].as_ptr();
        for b in bufs {
            recycle(b);
        }
        assert_eq!(small_cached(), MAX_SMALL);
        // the most recently recycled buffer comes back first, emptied
        let v = filled(3, 7.0f32);
        assert_eq!(v, [7.0; 3]);
        assert_eq!(small_cached(), MAX_SMALL - 1);
        assert_ne!(
            v.as_ptr(),
            first,
            "a stack: the last buffer kept comes back first"
        );
        // a buffer of another capacity is not cached as a small one
        recycle(Vec::<f32>::with_capacity(3));
        assert_eq!(small_cached(), MAX_SMALL - 1);
    }
}
