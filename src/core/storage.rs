//! Value buffers: owned by the core, or borrowed from the caller without a copy.

use std::ptr::NonNull;

/// A fixed-size f32 buffer. Its address never changes for its whole life, so C and Fortran
/// callers may keep a pointer to it while the array is alive.
pub(crate) struct Storage {
    ptr: NonNull<f32>,
    len: usize,
    /// Capacity of the owned vector, or `None` for caller memory.
    owned: Option<usize>,
}

// SAFETY: the buffer is plain f32 data; access is synchronised by the `RwLock` that holds the
// storage inside a node, and borrowed buffers are documented to follow the same rule.
unsafe impl Send for Storage {}
unsafe impl Sync for Storage {}

impl Storage {
    /// Takes ownership of a vector.
    pub(crate) fn from_vec(v: Vec<f32>) -> Self {
        let mut v = std::mem::ManuallyDrop::new(v);
        let (len, cap) = (v.len(), v.capacity());
        // SAFETY: a Vec's pointer is never null (dangling but aligned when empty).
        let ptr = unsafe { NonNull::new_unchecked(v.as_mut_ptr()) };
        Storage {
            ptr,
            len,
            owned: Some(cap),
        }
    }

    /// Borrows caller memory.
    ///
    /// # Safety
    /// `ptr` must be valid for reads and writes of `len` f32 values, suitably aligned, for as long
    /// as the storage (and so the array) lives, and must not be freed before that.
    pub(crate) unsafe fn borrowed(ptr: NonNull<f32>, len: usize) -> Self {
        Storage {
            ptr,
            len,
            owned: None,
        }
    }

    pub(crate) fn as_slice(&self) -> &[f32] {
        // SAFETY: ptr is valid for len reads (owned box or the caller's contract).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [f32] {
        // SAFETY: as above, and `&mut self` gives exclusive access from Rust.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    pub(crate) fn as_ptr(&self) -> *mut f32 {
        self.ptr.as_ptr()
    }

    pub(crate) fn is_borrowed(&self) -> bool {
        self.owned.is_none()
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let Some(cap) = self.owned {
            // SAFETY: these are the parts of the Vec taken apart in from_vec.
            let v = unsafe { Vec::from_raw_parts(self.ptr.as_ptr(), self.len, cap) };
            super::pool::recycle(v);
        }
    }
}
