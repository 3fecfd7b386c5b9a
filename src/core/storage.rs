//! Value buffers: owned by the core, or borrowed from the caller without a copy.

use std::ptr::NonNull;

/// A fixed-size f32 buffer. Its address never changes for its whole life, so C and Fortran
/// callers may keep a pointer to it while the array is alive.
pub(crate) struct Storage {
    ptr: NonNull<f32>,
    len: usize,
    owned: bool,
}

// SAFETY: the buffer is plain f32 data; access is synchronised by the `RwLock` that holds the
// storage inside a node, and borrowed buffers are documented to follow the same rule.
unsafe impl Send for Storage {}
unsafe impl Sync for Storage {}

impl Storage {
    /// Takes ownership of a vector.
    pub(crate) fn from_vec(v: Vec<f32>) -> Self {
        let len = v.len();
        let boxed: Box<[f32]> = v.into_boxed_slice();
        let raw = Box::into_raw(boxed) as *mut f32;
        // SAFETY: Box::into_raw never returns null (a dangling, aligned pointer for len 0).
        let ptr = unsafe { NonNull::new_unchecked(raw) };
        Storage {
            ptr,
            len,
            owned: true,
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
            owned: false,
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
        !self.owned
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        if self.owned {
            let slice = std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.len);
            // SAFETY: created by Box::into_raw in from_vec with this exact length.
            drop(unsafe { Box::from_raw(slice) });
        }
    }
}
