//! Value buffers: owned by the core, borrowed from the caller without a copy, or lent to a
//! caller's allocatable (Fortran) and taken back later.

use std::ptr::NonNull;

use super::error::{Error, ErrorKind, Result};
use super::real::Real;

/// Who owns the memory of a [`Storage`].
enum Kind<T> {
    /// A vector of this capacity allocated by the library.
    Owned(usize),
    /// Caller memory (`ds_array_wrap`): never freed here.
    Borrowed,
    /// A vector of this capacity allocated by the library and handed over to a caller's
    /// allocatable array, whose descriptor starts at `desc` with the base address. The caller
    /// frees it (or gives it back with [`Storage::reclaim`]); while lent, the descriptor must
    /// still hold the buffer for the values to be read.
    Lent { cap: usize, desc: NonNull<*mut T> },
    /// Was lent, and the caller's descriptor no longer holds it: the values are gone.
    Lost,
}

/// A fixed-size buffer of values. Its address never changes for its whole life, so C and Fortran
/// callers may keep a pointer to it while the array is alive.
pub(crate) struct Storage<T: Real> {
    ptr: NonNull<T>,
    len: usize,
    kind: Kind<T>,
}

// SAFETY: the buffer is plain float data; access is synchronised by the `RwLock` that holds the
// storage inside a node, and borrowed or lent buffers are documented to follow the same rule.
unsafe impl<T: Real> Send for Storage<T> {}
unsafe impl<T: Real> Sync for Storage<T> {}

impl<T: Real> Storage<T> {
    /// Takes ownership of a vector.
    pub(crate) fn from_vec(v: Vec<T>) -> Self {
        let mut v = std::mem::ManuallyDrop::new(v);
        let (len, cap) = (v.len(), v.capacity());
        // SAFETY: a Vec's pointer is never null (dangling but aligned when empty).
        let ptr = unsafe { NonNull::new_unchecked(v.as_mut_ptr()) };
        Storage {
            ptr,
            len,
            kind: Kind::Owned(cap),
        }
    }

    /// Borrows caller memory.
    ///
    /// # Safety
    /// `ptr` must be valid for reads and writes of `len` values, suitably aligned, for as long
    /// as the storage (and so the array) lives, and must not be freed before that.
    pub(crate) unsafe fn borrowed(ptr: NonNull<T>, len: usize) -> Self {
        Storage {
            ptr,
            len,
            kind: Kind::Borrowed,
        }
    }

    /// Fails if the values cannot be read: a lent buffer that its holder has given up.
    pub(crate) fn check(&self) -> Result<()> {
        match self.kind {
            Kind::Lent { desc, .. } => {
                // SAFETY: the lending contract keeps the descriptor's object alive while lent.
                let held = unsafe { desc.as_ptr().read_volatile() };
                if held == self.ptr.as_ptr() {
                    Ok(())
                } else {
                    Err(lost())
                }
            }
            Kind::Lost => Err(lost()),
            _ => Ok(()),
        }
    }

    /// Hands the buffer over to a caller's allocatable whose descriptor starts at `desc`: the
    /// caller stores the returned address there and frees it with its allocator (this buffer
    /// comes from the system allocator, as `malloc`). The values stay readable here while the
    /// descriptor holds the buffer.
    ///
    /// # Safety
    /// `desc` must point to the descriptor's base address word, and stay valid until the buffer
    /// is reclaimed or the caller frees it.
    pub(crate) unsafe fn lend(&mut self, desc: NonNull<*mut T>) -> Result<*mut T> {
        match self.kind {
            Kind::Owned(cap) if self.len > 0 => {
                self.kind = Kind::Lent { cap, desc };
                Ok(self.ptr.as_ptr())
            }
            Kind::Owned(_) => Err(Error::argument("lend: the array has no values")),
            Kind::Borrowed => Err(Error::argument(
                "lend: the array uses caller memory (ds_array_wrap), which cannot be lent",
            )),
            Kind::Lent { .. } => Err(Error::argument("lend: the values are already lent")),
            Kind::Lost => Err(lost()),
        }
    }

    /// Takes a lent buffer back. Returns false (and the values are gone) if the caller's
    /// descriptor no longer holds it; the caller must then not free it either.
    pub(crate) fn reclaim(&mut self) -> bool {
        match self.kind {
            Kind::Lent { cap, desc } => {
                // SAFETY: as in `check`.
                let held = unsafe { desc.as_ptr().read_volatile() };
                if held == self.ptr.as_ptr() {
                    self.kind = Kind::Owned(cap);
                    true
                } else {
                    self.kind = Kind::Lost;
                    false
                }
            }
            Kind::Lost => false,
            _ => true,
        }
    }

    /// The values. A lent buffer that the caller has given up is reported by a panic carrying
    /// the [`Error`], which the C boundary turns into a status and message.
    pub(crate) fn as_slice(&self) -> &[T] {
        if let Err(e) = self.check() {
            std::panic::panic_any(e);
        }
        // SAFETY: ptr is valid for len reads (owned vector, the caller's contract, or a lent
        // buffer that its descriptor still holds).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        if let Err(e) = self.check() {
            std::panic::panic_any(e);
        }
        // SAFETY: as above, and `&mut self` gives exclusive access from Rust.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    pub(crate) fn as_ptr(&self) -> *mut T {
        self.ptr.as_ptr()
    }

    pub(crate) fn is_borrowed(&self) -> bool {
        matches!(self.kind, Kind::Borrowed)
    }

    pub(crate) fn is_lent(&self) -> bool {
        matches!(self.kind, Kind::Lent { .. })
    }
}

/// The error for values that were lent to a caller and freed by it.
fn lost() -> Error {
    Error::new(
        ErrorKind::Argument,
        "the values of an array were deallocated by the program (deallocate(x%val) or a \
         reallocation of x%val on an operation result) while a graph still uses them",
    )
}

impl<T: Real> Drop for Storage<T> {
    fn drop(&mut self) {
        if let Kind::Owned(cap) = self.kind {
            // SAFETY: these are the parts of the Vec taken apart in from_vec (or reclaimed).
            let v = unsafe { Vec::from_raw_parts(self.ptr.as_ptr(), self.len, cap) };
            super::pool::recycle(v);
        }
    }
}
