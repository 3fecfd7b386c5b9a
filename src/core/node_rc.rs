//! [`NodeRc`]: the reference-counted pointer to a graph node (what `Arc<Node<T>>` would be),
//! with the node's memory allocated fallibly and recycled through a small per-thread cache.
//!
//! Graphs create and free nodes in bursts (a training step frees the whole previous graph,
//! then builds the next one). The system allocator's per-thread cache keeps only a few blocks
//! of a node's size, so most of a burst took its slow paths: about a quarter of the scalar
//! workload's instructions. Here freed node blocks go to a per-thread list of up to
//! [`CACHE_BLOCKS`] and the next node takes one from it. A block freed on another thread than
//! the one that allocated it simply joins that thread's list: blocks are plain memory of one
//! layout, shared by both element types.
//!
//! Out of memory for a node reports an error to the nearest guard (see [`super::alloc`])
//! instead of aborting, as `Arc::new` would.

use std::alloc::{alloc, dealloc, Layout};
use std::cell::RefCell;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicUsize, Ordering};

use super::real::Real;
use super::tensor::Node;

/// Most node blocks one thread keeps for reuse (a few hundred bytes each).
pub(crate) const CACHE_BLOCKS: usize = 256;

/// The reference count and the node, in one block.
struct Inner<T: Real> {
    count: AtomicUsize,
    node: Node<T>,
}

/// The layout of every node block: large and aligned enough for either element type.
const BLOCK: Layout = {
    let (a, b) = (Layout::new::<Inner<f32>>(), Layout::new::<Inner<f64>>());
    let size = if a.size() > b.size() {
        a.size()
    } else {
        b.size()
    };
    let align = if a.align() > b.align() {
        a.align()
    } else {
        b.align()
    };
    match Layout::from_size_align(size, align) {
        Ok(l) => l,
        Err(_) => panic!("node block layout"),
    }
};

/// One thread's free node blocks; released to the allocator when the thread ends.
struct Blocks(Vec<NonNull<u8>>);

impl Drop for Blocks {
    fn drop(&mut self) {
        for p in self.0.drain(..) {
            // SAFETY: every cached block was allocated with `BLOCK` and is unused.
            unsafe { dealloc(p.as_ptr(), BLOCK) };
        }
    }
}

thread_local! {
    static FREE: RefCell<Blocks> = const { RefCell::new(Blocks(Vec::new())) };
}

/// A block from this thread's cache, or a new one (None: out of memory).
fn take_block() -> Option<NonNull<u8>> {
    let cached = FREE
        .try_with(|f| f.try_borrow_mut().ok().and_then(|mut f| f.0.pop()))
        .ok()
        .flatten();
    // SAFETY: `BLOCK` has a non-zero size.
    cached.or_else(|| NonNull::new(unsafe { alloc(BLOCK) }))
}

/// Gives an unused block back: to this thread's cache if it has room, else to the allocator.
fn give_block(p: NonNull<u8>) {
    let kept = FREE
        .try_with(|f| {
            let Ok(mut f) = f.try_borrow_mut() else {
                return false;
            };
            let room = f.0.len() < CACHE_BLOCKS && f.0.try_reserve(1).is_ok();
            if room {
                f.0.push(p);
            }
            room
        })
        .unwrap_or(false);
    if !kept {
        // SAFETY: `p` was allocated with `BLOCK` and is no longer used.
        unsafe { dealloc(p.as_ptr(), BLOCK) };
    }
}

/// A shared, reference-counted pointer to a node. Cloning shares the node; the last pointer
/// dropped drops the node and frees its block.
pub(crate) struct NodeRc<T: Real> {
    ptr: NonNull<Inner<T>>,
    _owns: PhantomData<Inner<T>>,
}

// SAFETY: as `Arc<Node<T>>`: the count is atomic, and the node is shared between threads only
// through `&Node<T>`, so it must be `Send + Sync` itself.
unsafe impl<T: Real> Send for NodeRc<T> where Node<T>: Send + Sync {}
// SAFETY: see `Send`.
unsafe impl<T: Real> Sync for NodeRc<T> where Node<T>: Send + Sync {}

impl<T: Real> NodeRc<T> {
    /// Moves `node` into a new block. Out of memory: the node is dropped and the failure
    /// reported to the nearest guard.
    pub(crate) fn new(node: Node<T>) -> NodeRc<T> {
        const {
            let own = Layout::new::<Inner<T>>();
            assert!(own.size() <= BLOCK.size() && own.align() <= BLOCK.align());
        }
        let Some(block) = take_block() else {
            drop(node);
            super::alloc::fail(BLOCK.size());
        };
        let ptr = block.cast::<Inner<T>>();
        let inner = Inner {
            count: AtomicUsize::new(1),
            node,
        };
        // SAFETY: the block is unused, and large and aligned enough for `Inner<T>` (above).
        unsafe { ptr.as_ptr().write(inner) };
        NodeRc {
            ptr,
            _owns: PhantomData,
        }
    }

    fn inner(&self) -> &Inner<T> {
        // SAFETY: the block stays initialised while any pointer to it exists.
        unsafe { self.ptr.as_ref() }
    }

    /// True if both point to the same node.
    pub(crate) fn ptr_eq(a: &NodeRc<T>, b: &NodeRc<T>) -> bool {
        a.ptr == b.ptr
    }

    /// The node's address (unique among live nodes).
    pub(crate) fn as_ptr(this: &NodeRc<T>) -> *const Node<T> {
        &this.inner().node
    }

    /// The node, if this was its last pointer (its block is freed); None otherwise.
    pub(crate) fn into_inner(this: NodeRc<T>) -> Option<Node<T>> {
        let this = ManuallyDrop::new(this);
        if this.inner().count.fetch_sub(1, Ordering::Release) != 1 {
            return None;
        }
        fence(Ordering::Acquire);
        // SAFETY: this was the last pointer: nothing else reads the node, which is moved out
        // exactly once before its block is freed.
        let node = unsafe { std::ptr::read(&this.ptr.as_ref().node) };
        give_block(this.ptr.cast());
        Some(node)
    }
}

impl<T: Real> Clone for NodeRc<T> {
    fn clone(&self) -> Self {
        // (Relaxed, as `Arc`: a new pointer is made from an existing one, which keeps the
        // node alive)
        let old = self.inner().count.fetch_add(1, Ordering::Relaxed);
        if old > isize::MAX as usize {
            // as `Arc`: unreachable without leaking about 2^63 pointers
            std::process::abort();
        }
        NodeRc {
            ptr: self.ptr,
            _owns: PhantomData,
        }
    }
}

impl<T: Real> std::ops::Deref for NodeRc<T> {
    type Target = Node<T>;
    fn deref(&self) -> &Node<T> {
        &self.inner().node
    }
}

impl<T: Real> Drop for NodeRc<T> {
    fn drop(&mut self) {
        if self.inner().count.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        // SAFETY: this was the last pointer; the node is dropped once, then its block freed.
        unsafe { std::ptr::drop_in_place(&mut (*self.ptr.as_ptr()).node) };
        give_block(self.ptr.cast());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Tensor;

    fn cached() -> usize {
        FREE.with(|f| f.borrow().0.len())
    }

    #[test]
    fn blocks_are_reused_and_the_cache_is_bounded() {
        let many: Vec<Tensor> = (0..CACHE_BLOCKS + 50)
            .map(|i| Tensor::scalar(i as f32))
            .collect();
        let before = cached();
        drop(many);
        // every block went back to the cache until it was full, the rest to the allocator
        assert_eq!(cached(), CACHE_BLOCKS);
        assert!(before < CACHE_BLOCKS);
        let t = Tensor::<f64>::scalar(1.0);
        assert_eq!(
            cached(),
            CACHE_BLOCKS - 1,
            "an f64 node takes a cached block too"
        );
        assert_eq!(t.values()[0], 1.0);
        drop(t);
        assert_eq!(cached(), CACHE_BLOCKS);
    }

    #[test]
    fn a_node_freed_on_another_thread_is_dropped_once() {
        let x = Tensor::full(&[3], 2, 2.0f32).unwrap();
        x.set_requires_grad(true);
        let y = crate::ops::arith::mul(&x, &x).unwrap();
        let clones: Vec<Tensor> = (0..8).map(|_| y.clone()).collect();
        let handles: Vec<_> = clones
            .into_iter()
            .map(|c| std::thread::spawn(move || drop(c)))
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        // y is still whole after the other threads dropped their pointers
        assert_eq!(&y.values()[..], &[4.0; 6]);
        let moved = y.clone();
        let last = std::thread::spawn(move || NodeRc::into_inner(moved.0).is_none());
        assert!(
            last.join().unwrap(),
            "not the last pointer: into_inner gives nothing"
        );
        let node = NodeRc::into_inner(y.0);
        assert!(node.is_some(), "the last pointer gives the node back");
    }
}
