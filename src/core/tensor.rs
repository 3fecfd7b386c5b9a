//! [`Tensor<T>`]: a reference-counted handle to one node of the computation graph.
//!
//! A node holds its values, its per-sample shape, flags, an optional gradient, an optional
//! forward-mode direction and, if it was produced by an operation that needed a gradient, the
//! operation and its input nodes. A node lives while a handle or another node refers to it;
//! nothing else decides its lifetime.

use std::cell::{Cell, RefCell};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::dims::Dims;
use super::error::{Error, Result};
use super::node_rc::NodeRc;
use super::real::Real;
use super::small::{Inputs, OpRef, Shape};
use super::storage::Storage;
use super::version::Saved;

static LIVE_NODES: AtomicUsize = AtomicUsize::new(0);

/// Number of graph nodes (arrays, gradients, intermediate results) currently alive in this
/// process. Tests use it to prove that nothing leaked.
pub fn live_nodes() -> usize {
    LIVE_NODES.load(Ordering::SeqCst)
}

/// Flag bits of a node, as exchanged with the C ABI (`ds_array_flags`): bit `n - 1` is the
/// flag `DS_FLAG_*` number `n`.
pub mod bits {
    /// `requires_grad`
    pub const REQUIRES_GRAD: u32 = 1;
    /// `is_sample_dependent`
    pub const SAMPLE_DEPENDENT: u32 = 1 << 1;
    /// `is_scalar`
    pub const SCALAR: u32 = 1 << 2;
    /// `is_forward`
    pub const FORWARD: u32 = 1 << 3;
    /// `is_temporary`
    pub const TEMPORARY: u32 = 1 << 4;
    /// keep the gradient of an intermediate node
    pub const RETAIN_GRAD: u32 = 1 << 5;
    /// `fix_pointer`: the gradient is zeroed at the start of every reverse pass
    pub const FIXED: u32 = 1 << 6;
    /// every defined bit
    pub const ALL: u32 = (1 << 7) - 1;
    /// internal: the node is (or was) an input of another node
    pub(crate) const CONSUMED: u32 = 1 << 7;
    /// internal: the node is (or was) another node's gradient
    pub(crate) const GRADIENT: u32 = 1 << 8;
}
use bits::*;

/// Flags of a node, set at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flags {
    /// `is_sample_dependent`: false for one value set shared by every sample.
    pub sample_dependent: bool,
    /// `is_scalar`: the array stands for one number.
    pub scalar: bool,
}

impl Default for Flags {
    fn default() -> Self {
        Flags {
            sample_dependent: true,
            scalar: false,
        }
    }
}

pub(crate) struct Node<T: Real> {
    shape: Shape,
    dims: Dims,
    flags: AtomicU32,
    /// Incremented by every write to the values that the library sees (see
    /// [`Tensor::mark_modified`]).
    version: AtomicU32,
    values: RwLock<Storage<T>>,
    state: Mutex<State<T>>,
}

#[derive(Default)]
pub(crate) struct State<T: Real> {
    pub(crate) op: Option<OpRef<T>>,
    pub(crate) inputs: Inputs<T>,
    /// Bit `i`: input `i` was a temporary when this node consumed it (diffstruc's `owns_*`
    /// flags; informational only: reference counts decide lifetime).
    pub(crate) owns: u64,
    pub(crate) name: Option<String>,
    pub(crate) grad: Option<Tensor<T>>,
    pub(crate) direction: Option<Vec<T>>,
    /// diffstruc's `id` tag (`None` prints as -1).
    pub(crate) id: Option<i64>,
    /// Run once when the node is dropped or its graph nullified.
    pub(crate) on_release: Vec<ReleaseHook>,
    /// Data a language layer keeps with the node (freed with it).
    pub(crate) user: Option<UserData>,
    /// What the operation recorded about its inputs (versions of the values its rules read).
    pub(crate) saved: Saved,
}

/// Caller data attached to a node (see [`Tensor::set_user_data`]): a pointer, and a hook run
/// once when the node is dropped or the data replaced (to release it).
pub struct UserData {
    ptr: *mut std::ffi::c_void,
    release: Option<ReleaseHook>,
}

// SAFETY: the pointer is only handed back to the caller (and to its release hook); the caller's
// thread contract covers its use, as for custom-operation user data.
unsafe impl Send for UserData {}

impl UserData {
    /// Wraps caller data and the hook that releases it.
    pub fn new(ptr: *mut std::ffi::c_void, release: Option<ReleaseHook>) -> Self {
        UserData { ptr, release }
    }
}

impl Drop for UserData {
    fn drop(&mut self) {
        if let Some(f) = self.release.take() {
            f();
        }
    }
}

/// A callback run when a node is released (see [`Tensor::on_release`]).
pub type ReleaseHook = Box<dyn FnOnce() + Send>;

/// A handle to an array node. Cloning the handle shares the node; the node is freed when the last
/// handle and the last node referring to it are gone.
#[derive(Clone)]
pub struct Tensor<T: Real = f32>(pub(crate) NodeRc<T>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Read access to an array's values, in storage order `(E, S)` column-major.
pub struct Values<'a, T: Real = f32>(RwLockReadGuard<'a, Storage<T>>);

impl<T: Real> std::ops::Deref for Values<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.0.as_slice()
    }
}

/// Write access to an array's values.
pub struct ValuesMut<'a, T: Real = f32>(RwLockWriteGuard<'a, Storage<T>>);

impl<T: Real> std::ops::Deref for ValuesMut<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.0.as_slice()
    }
}

impl<T: Real> std::ops::DerefMut for ValuesMut<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.0.as_mut_slice()
    }
}

/// The bytes of a slice of values (equal bytes: the same values, bit for bit).
fn as_bytes<T: Real>(x: &[T]) -> &[u8] {
    // SAFETY: `T` is `f32` or `f64` (sealed `Real`): plain data without padding, so every byte
    // of the slice is initialised; the length is the slice's size in bytes.
    unsafe { std::slice::from_raw_parts(x.as_ptr().cast::<u8>(), std::mem::size_of_val(x)) }
}

/// Each input of a custom operation has the result's batch, or one sample shared by it.
fn check_batches<T: Real>(name: &str, inputs: &[Tensor<T>], batch: usize) -> Result<()> {
    match inputs
        .iter()
        .position(|t| t.batch() != 1 && t.batch() != batch)
    {
        Some(i) => Err(Error::shape(format!(
            "custom operation '{name}': input {} has batch {}, the result {batch} (an input \
             must have the result's batch or one sample)",
            i + 1,
            inputs[i].batch()
        ))),
        None => Ok(()),
    }
}

/// True if `target` is one of `from` or reachable from them through inputs.
///
/// Errors: out of memory for the walk (`what` names the caller).
fn reaches<T: Real>(what: &str, from: &[Tensor<T>], target: &Tensor<T>) -> Result<bool> {
    super::alloc::guard(
        || format!("{what}: walking the graph"),
        || {
            let mut seen: super::small::PtrMap<()> = Default::default();
            let mut stack: Vec<Tensor<T>> = super::alloc::copy(from);
            while let Some(t) = stack.pop() {
                if t.same(target) {
                    return Ok(true);
                }
                super::alloc::reserve_map(&mut seen, 1);
                if seen.insert(t.key(), ()).is_none() {
                    let inputs = t.input_list();
                    super::alloc::reserve(&mut stack, inputs.len());
                    stack.extend(inputs.iter().cloned());
                }
            }
            Ok(false)
        },
    )
}

/// Checks a per-sample shape and batch size for an array whose values this library allocates,
/// and returns the extents. (Whether the values fit in memory is found out when they are
/// allocated: see [`super::alloc`].)
pub(crate) fn checked_dims(shape: &[usize], batch: usize) -> Result<Dims> {
    extents(shape, batch)
}

/// Checks a per-sample shape and batch size and returns the extents (no allocation check: for
/// arrays over caller memory).
fn extents(shape: &[usize], batch: usize) -> Result<Dims> {
    if batch == 0 || shape.contains(&0) {
        return Err(Error::argument(format!(
            "array shape {shape:?} with batch {batch}: every extent must be positive"
        )));
    }
    let elems = shape
        .iter()
        .try_fold(1usize, |acc, &n| acc.checked_mul(n))
        .and_then(|e| e.checked_mul(batch).map(|_| e))
        .filter(|&e| {
            e.checked_mul(batch)
                .is_some_and(|n| n <= isize::MAX as usize / 4)
        })
        .ok_or_else(|| {
            Error::argument(format!(
                "array shape {shape:?} with batch {batch} is too large"
            ))
        })?;
    Ok(Dims::new(elems, batch))
}

impl<T: Real> Tensor<T> {
    fn from_storage(shape: &[usize], dims: Dims, storage: Storage<T>, flags: Flags) -> Tensor<T> {
        let mut bits = TEMPORARY;
        if flags.sample_dependent {
            bits |= SAMPLE_DEPENDENT;
        }
        if flags.scalar {
            bits |= SCALAR;
        }
        LIVE_NODES.fetch_add(1, Ordering::Relaxed);
        Tensor(NodeRc::new(Node {
            shape: Shape::new(shape),
            dims,
            flags: AtomicU32::new(bits),
            version: AtomicU32::new(0),
            values: RwLock::new(storage),
            state: Mutex::new(State::default()),
        }))
    }

    /// Creates an array of per-sample `shape` and `batch` samples from `data` (length `E * S`,
    /// stored column-major as `(E, S)`).
    ///
    /// Errors: a zero extent, or a data length that does not match the shape.
    pub fn from_vec(shape: &[usize], batch: usize, data: Vec<T>) -> Result<Tensor<T>> {
        let dims = checked_dims(shape, batch)?;
        if data.len() != dims.len() {
            return Err(Error::shape(format!(
                "array shape {shape:?} with batch {batch} needs {} values, got {}",
                dims.len(),
                data.len()
            )));
        }
        Ok(Self::from_storage(
            shape,
            dims,
            Storage::from_vec(data),
            Flags::default(),
        ))
    }

    /// Creates an array filled with `value`.
    ///
    /// Errors: a zero extent; out of memory.
    pub fn full(shape: &[usize], batch: usize, value: T) -> Result<Tensor<T>> {
        let dims = checked_dims(shape, batch)?;
        let data = super::alloc::guard(
            || format!("array shape {shape:?} with batch {batch}"),
            || Ok(super::pool::filled(dims.len(), value)),
        )?;
        Self::from_vec(shape, batch, data)
    }

    /// Creates an array filled with zeros.
    pub fn zeros(shape: &[usize], batch: usize) -> Result<Tensor<T>> {
        Self::full(shape, batch, T::ZERO)
    }

    /// Creates an array that reads and writes the caller's buffer in place (no copy).
    ///
    /// # Safety
    /// `ptr` must point to `E * S` valid, aligned T values that stay valid (and are not freed)
    /// for as long as any handle or graph node refers to the array. The caller may read and write
    /// the buffer, but not while an operation on this array runs on another thread.
    pub unsafe fn from_raw(ptr: *mut T, shape: &[usize], batch: usize) -> Result<Tensor<T>> {
        let dims = extents(shape, batch)?;
        let ptr = NonNull::new(ptr)
            .ok_or_else(|| Error::new(super::ErrorKind::Null, "wrap: data pointer is NULL"))?;
        if !(ptr.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>()) {
            return Err(Error::argument("wrap: data pointer is not aligned for T"));
        }
        // SAFETY: forwarded to the caller's contract above.
        let storage = unsafe { Storage::borrowed(ptr, dims.len()) };
        Ok(Self::from_storage(shape, dims, storage, Flags::default()))
    }

    /// A `[1]`-shaped, single-sample constant standing for one number (`is_scalar`), shared by
    /// every sample. Used for the scalar operand of `x * 2.0` and friends.
    pub fn scalar(value: T) -> Tensor<T> {
        Self::constant(&[1], 1, super::pool::filled(1, value), false, true)
    }

    /// A constant with explicit flags (no gradient, no graph).
    pub(crate) fn constant(
        shape: &[usize],
        batch: usize,
        data: Vec<T>,
        sample_dependent: bool,
        scalar: bool,
    ) -> Tensor<T> {
        let dims = Dims::new(shape.iter().product(), batch);
        debug_assert_eq!(dims.len(), data.len());
        Self::from_storage(
            shape,
            dims,
            Storage::from_vec(data),
            Flags {
                sample_dependent,
                scalar,
            },
        )
    }

    /// Creates the result node of an operation. If no input requires a gradient the result is a
    /// plain leaf and the inputs are not kept (nothing to differentiate through).
    pub(crate) fn from_op(
        shape: &[usize],
        batch: usize,
        data: Vec<T>,
        flags: Flags,
        op: OpRef<T>,
        inputs: Inputs<T>,
    ) -> Tensor<T> {
        let dims = Dims::new(shape.iter().product(), batch);
        debug_assert_eq!(dims.len(), data.len(), "{}", op.name());
        let t = Self::from_storage(shape, dims, Storage::from_vec(data), flags);
        if inputs.iter().any(Tensor::requires_grad) {
            let forward = inputs.iter().any(Tensor::is_forward);
            t.set_flag(REQUIRES_GRAD, true);
            t.set_flag(FORWARD, forward);
            let mut st = t.state();
            st.owns = inputs
                .iter()
                .take(64)
                .enumerate()
                .fold(0, |m, (i, t)| m | (u64::from(t.is_temporary()) << i));
            st.saved = Saved::record(&*op, &t, &inputs);
            st.op = Some(op);
            inputs.iter().for_each(|i| i.set_flag(CONSUMED, true));
            st.inputs = inputs;
        }
        t
    }

    /// Creates the result of a custom operation (see [`crate::ops::Operation`]): `data` holds its
    /// values (`E * S`, column-major); the node records `op` and `inputs` when any input requires
    /// a gradient, exactly as built-in operations do.
    ///
    /// Errors: a zero extent, or a data length that does not match the shape.
    pub fn from_custom(
        shape: &[usize],
        batch: usize,
        data: Vec<T>,
        op: Arc<dyn crate::ops::Operation<T>>,
        inputs: &[Tensor<T>],
    ) -> Result<Tensor<T>> {
        let dims = checked_dims(shape, batch)?;
        if data.len() != dims.len() {
            return Err(Error::shape(format!(
                "custom operation '{}': shape {shape:?} with batch {batch} needs {} values, got {}",
                op.name(),
                dims.len(),
                data.len()
            )));
        }
        check_batches(op.name(), inputs, batch)?;
        Ok(Self::from_op(
            shape,
            batch,
            data,
            Flags::default(),
            OpRef::Shared(op),
            Inputs::from_vec(inputs.to_vec()),
        ))
    }

    /// Turns this leaf into the result of `op` applied to `inputs` (its values are kept): the
    /// pattern of diffstruc's custom operations, which fill a result's values first and link its
    /// operands afterwards. The node requires a gradient if an input does.
    ///
    /// Errors: the node already has an operation; no inputs; the node is one of its own inputs.
    /// (A longer cycle is reported by the differentiation passes.)
    pub fn attach_operation(
        &self,
        op: Arc<dyn crate::ops::Operation<T>>,
        inputs: &[Tensor<T>],
    ) -> Result<()> {
        let name = op.name().to_string();
        if inputs.is_empty() {
            return Err(Error::argument(format!(
                "custom operation '{name}': no inputs to attach"
            )));
        }
        if inputs.iter().any(|t| t.same(self)) {
            return Err(Error::new(
                super::ErrorKind::Graph,
                format!("custom operation '{name}': an array cannot be its own input"),
            ));
        }
        check_batches(&name, inputs, self.batch())?;
        // A gradient is held by its array: linking it to inputs could close a cycle through
        // that array.
        if self.flag(GRADIENT) {
            return Err(Error::new(
                super::ErrorKind::Graph,
                format!(
                    "custom operation '{name}': a gradient array cannot be an operation's result"
                ),
            ));
        }
        // Only a node that is already an input somewhere can be reached from its new inputs.
        if self.flag(CONSUMED) && reaches(&format!("custom operation '{name}'"), inputs, self)? {
            return Err(Error::new(
                super::ErrorKind::Graph,
                format!("custom operation '{name}': linking these inputs would make a cycle"),
            ));
        }
        let mut st = self.state();
        if let Some(existing) = &st.op {
            return Err(Error::argument(format!(
                "custom operation '{name}': the array is already the result of '{}'",
                existing.name()
            )));
        }
        if inputs.iter().any(Tensor::requires_grad) {
            self.set_flag(REQUIRES_GRAD, true);
        }
        if inputs.iter().any(Tensor::is_forward) {
            self.set_flag(FORWARD, true);
        }
        st.owns = inputs
            .iter()
            .take(64)
            .enumerate()
            .fold(0, |m, (i, t)| m | (u64::from(t.is_temporary()) << i));
        let list = super::alloc::guard(
            || format!("custom operation '{name}'"),
            || Ok(super::alloc::copy(inputs)),
        )?;
        st.saved = Saved::record(&*op, self, inputs);
        st.op = Some(OpRef::Shared(op));
        inputs.iter().for_each(|i| i.set_flag(CONSUMED, true));
        st.inputs = Inputs::from_vec(list);
        Ok(())
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State<T>> {
        lock(&self.0.state)
    }

    fn flag(&self, bit: u32) -> bool {
        self.0.flags.load(Ordering::Relaxed) & bit != 0
    }

    fn set_flag(&self, bit: u32, on: bool) {
        if on {
            self.0.flags.fetch_or(bit, Ordering::Relaxed);
        } else {
            self.0.flags.fetch_and(!bit, Ordering::Relaxed);
        }
    }

    /// Per-sample shape (the batch dimension excluded).
    pub fn shape(&self) -> &[usize] {
        &self.0.shape
    }
    /// Number of samples `S`.
    pub fn batch(&self) -> usize {
        self.0.dims.batch
    }
    /// Elements per sample `E`.
    pub fn elems(&self) -> usize {
        self.0.dims.elems
    }
    /// Storage<T> extents `(E, S)`.
    pub fn dims(&self) -> Dims {
        self.0.dims
    }
    /// The shape followed by the batch size, as diffstruc prints and allocates it.
    pub fn full_shape(&self) -> Vec<usize> {
        let mut v = self.0.shape.to_vec();
        v.push(self.batch());
        v
    }

    /// Read access to the values.
    pub fn values(&self) -> Values<'_, T> {
        Values(self.0.values.read().unwrap_or_else(PoisonError::into_inner))
    }
    /// Write access to the values. Counts as a write (see [`Tensor::mark_modified`]): a graph
    /// that used these values before can no longer be differentiated through them.
    pub fn values_mut(&self) -> ValuesMut<'_, T> {
        let guard = self
            .0
            .values
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        self.mark_modified();
        ValuesMut(guard)
    }
    /// The version of the values: incremented by every write the library sees (through
    /// [`Tensor::values_mut`], the writing functions of the C ABI, [`Tensor::mark_modified`]).
    /// Compared modulo 2^32.
    pub fn version(&self) -> u32 {
        self.0.version.load(Ordering::Acquire)
    }
    /// Declares that the values were (or are about to be) written other than through
    /// [`Tensor::values_mut`] (through a pointer from [`Tensor::data_ptr`], or in caller memory
    /// wrapped by [`Tensor::from_raw`]): increments the version, so that differentiating a graph
    /// that used the old values fails ([`crate::ErrorKind::Modified`]) instead of mixing old and
    /// new values.
    pub fn mark_modified(&self) {
        self.0.version.fetch_add(1, Ordering::AcqRel);
    }
    /// A copy of the values. Out of memory: unwinds with the [`Error`] as payload (the C ABI
    /// reports it as `DS_ERR_MEMORY`).
    pub fn to_vec(&self) -> Vec<T> {
        super::pool::copy(&self.values())
    }
    /// The values as an `(E, S)` column-major ndarray.
    pub fn to_array(&self) -> ndarray::Array2<T> {
        use ndarray::ShapeBuilder;
        let d = self.dims();
        ndarray::Array2::from_shape_vec((d.elems, d.batch).f(), self.to_vec())
            .unwrap_or_else(|_| ndarray::Array2::zeros((d.elems, d.batch)))
    }
    /// Overwrites the values. Errors if the length differs from `E * S`.
    pub fn set_values(&self, data: &[T]) -> Result<()> {
        let mut v = self.values_mut();
        if v.len() != data.len() {
            return Err(Error::shape(format!(
                "set: array has {} values, input has {}",
                v.len(),
                data.len()
            )));
        }
        v.copy_from_slice(data);
        Ok(())
    }
    /// Address of the value buffer: stable for the node's whole life.
    pub fn data_ptr(&self) -> *mut T {
        self.values().0.as_ptr()
    }
    /// True if the values live in caller memory (created by [`Tensor::from_raw`]).
    pub fn is_borrowed(&self) -> bool {
        self.values().0.is_borrowed()
    }

    /// Hands the value buffer over to a caller's allocatable array (see the C function
    /// `ds_array_lend`); returns its address.
    ///
    /// # Safety
    /// `desc` must point to the first word (the base address) of the caller's descriptor and
    /// stay valid until [`Tensor::reclaim`] or until the caller frees the buffer.
    pub unsafe fn lend(&self, desc: NonNull<*mut T>) -> Result<*mut T> {
        // (not a write: the values are not changed by lending them)
        let mut storage = self
            .0
            .values
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // SAFETY: forwarded.
        unsafe { storage.lend(desc) }
    }
    /// Takes a lent buffer back; false if the caller gave it up (the values are then lost).
    pub fn reclaim(&self) -> bool {
        self.0
            .values
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .reclaim()
    }
    /// True while the value buffer is lent to a caller.
    pub fn is_lent(&self) -> bool {
        self.0
            .values
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_lent()
    }
    /// Fails if the values cannot be read (a lent buffer that the caller freed).
    pub fn check_values(&self) -> Result<()> {
        self.0
            .values
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .check()
    }
    /// Copies `data` into the values if they differ; returns whether they did.
    ///
    /// Errors: a length other than `E * S`.
    pub fn sync_values(&self, data: &[T]) -> Result<bool> {
        {
            let v = self.values();
            if v.len() != data.len() {
                return Err(Error::shape(format!(
                    "sync: array has {} values, input has {}",
                    v.len(),
                    data.len()
                )));
            }
            // bitwise, so that a NaN that stays a NaN is no change (compared as bytes: one
            // vectorised `memcmp` instead of a value-by-value loop, which a program's
            // variables pay on every use)
            if v.as_ptr() == data.as_ptr() || as_bytes(&v) == as_bytes(data) {
                return Ok(false);
            }
        }
        // Not counted as a write (no version change): this is a language layer's copy-in of its
        // program's values, which also restores values after a finite-difference probe; the
        // layer calls `mark_modified` (`ds_array_mark_written`) for writes it wants checked.
        self.0
            .values
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut_slice()
            .copy_from_slice(data);
        Ok(true)
    }
    /// Attaches caller data to the node, releasing any previous data.
    pub fn set_user_data(&self, data: Option<UserData>) {
        let old = std::mem::replace(&mut self.state().user, data);
        drop(old);
    }
    /// The caller data attached with [`Tensor::set_user_data`] (null if none).
    pub fn user_data(&self) -> *mut std::ffi::c_void {
        self.state()
            .user
            .as_ref()
            .map_or(std::ptr::null_mut(), |u| u.ptr)
    }

    /// Whether gradients flow to and through this node.
    pub fn requires_grad(&self) -> bool {
        self.flag(REQUIRES_GRAD)
    }
    /// Sets `requires_grad`. Existing results are not changed.
    pub fn set_requires_grad(&self, on: bool) {
        self.set_flag(REQUIRES_GRAD, on)
    }
    /// `is_sample_dependent`.
    pub fn is_sample_dependent(&self) -> bool {
        self.flag(SAMPLE_DEPENDENT)
    }
    /// Sets `is_sample_dependent`.
    pub fn set_sample_dependent(&self, on: bool) {
        self.set_flag(SAMPLE_DEPENDENT, on)
    }
    /// `is_scalar`.
    pub fn is_scalar(&self) -> bool {
        self.flag(SCALAR)
    }
    /// Sets `is_scalar`.
    pub fn set_scalar(&self, on: bool) {
        self.set_flag(SCALAR, on)
    }
    /// `is_forward`: the node belongs to a graph built by forward mode.
    pub fn is_forward(&self) -> bool {
        self.flag(FORWARD)
    }
    /// Sets `is_forward`.
    pub fn set_forward(&self, on: bool) {
        self.set_flag(FORWARD, on)
    }
    /// `is_temporary` (diffstruc's ownership hint; it never decides lifetime here).
    pub fn is_temporary(&self) -> bool {
        self.flag(TEMPORARY)
    }
    /// Sets `is_temporary`.
    pub fn set_temporary(&self, on: bool) {
        self.set_flag(TEMPORARY, on)
    }
    /// All flag bits (see [`bits`]).
    pub fn flag_bits(&self) -> u32 {
        self.0.flags.load(Ordering::Relaxed) & ALL
    }
    /// Sets the flags selected by `mask` to the values in `values` (see [`bits`]).
    pub fn set_flag_bits(&self, mask: u32, values: u32) {
        let mask = mask & ALL;
        let _ = self
            .0
            .flags
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |f| {
                Some((f & !mask) | (values & mask))
            });
    }
    /// `fix_pointer`: reverse mode zeroes this node's gradient before every pass.
    pub fn is_fixed(&self) -> bool {
        self.flag(FIXED)
    }
    /// Sets `fix_pointer`.
    pub fn set_fixed(&self, on: bool) {
        self.set_flag(FIXED, on)
    }
    /// Whether reverse mode stores a gradient on this node even though it is not a leaf.
    pub fn retains_grad(&self) -> bool {
        self.flag(RETAIN_GRAD)
    }
    /// Asks reverse mode to keep this intermediate node's gradient too.
    pub fn set_retain_grad(&self, on: bool) {
        self.set_flag(RETAIN_GRAD, on)
    }
    pub(crate) fn flags(&self) -> Flags {
        Flags {
            sample_dependent: self.is_sample_dependent(),
            scalar: self.is_scalar(),
        }
    }

    /// True if both handles refer to the same node.
    pub fn same(&self, other: &Tensor<T>) -> bool {
        NodeRc::ptr_eq(&self.0, &other.0)
    }
    pub(crate) fn key(&self) -> *const () {
        NodeRc::as_ptr(&self.0).cast()
    }

    /// True if the node has no operation (a variable, a constant or a released result).
    pub fn is_leaf(&self) -> bool {
        self.state().op.is_none()
    }
    /// The operation name as diffstruc prints it (`"none"` for leaves).
    pub fn operation(&self) -> String {
        let st = self.state();
        match (&st.name, &st.op) {
            (Some(n), _) => n.clone(),
            (None, Some(op)) => op.name().to_string(),
            (None, None) => "none".to_string(),
        }
    }
    /// Overrides the printed operation name.
    pub fn set_operation(&self, name: &str) {
        self.state().name = Some(name.to_string());
    }
    /// The input nodes of the operation that produced this node (empty for leaves).
    pub fn inputs(&self) -> Vec<Tensor<T>> {
        self.state().inputs.to_vec()
    }
    /// The number of inputs (0 for a leaf), without copying them.
    pub fn num_inputs(&self) -> usize {
        self.state().inputs.len()
    }
    /// The inputs without allocating (one or two are stored inline).
    pub(crate) fn input_list(&self) -> Inputs<T> {
        self.state().inputs.clone()
    }
    /// Whether this node consumed input `i` as a temporary (diffstruc's `owns_*_operand`).
    pub fn owns_input(&self, i: usize) -> bool {
        i < 64 && self.state().owns & (1 << i) != 0
    }
    pub(crate) fn op_and_inputs(&self) -> Option<(OpRef<T>, Inputs<T>)> {
        let st = self.state();
        st.op.as_ref().map(|op| (op.clone(), st.inputs.clone()))
    }

    /// Drops this node's links to its inputs (diffstruc's `nullify_graph`): the node keeps its
    /// values and gradient and becomes a leaf; input nodes no longer referenced anywhere are
    /// freed. Calling it again is harmless.
    pub fn nullify_graph(&self) {
        let (op, inputs, hooks) = {
            let mut st = self.state();
            st.owns = 0;
            st.saved = Saved::default();
            // the node still prints as the operation that computed it (as diffstruc's does)
            if st.name.is_none() {
                st.name = st.op.as_ref().map(|op| op.name().to_string());
            }
            (
                st.op.take(),
                std::mem::take(&mut st.inputs),
                std::mem::take(&mut st.on_release),
            )
        };
        drop(op);
        drop(inputs);
        hooks.into_iter().for_each(|h| h());
    }

    /// Registers a callback run once when this node is dropped or its graph is nullified (used by
    /// the C ABI to release objects that the graph owns, such as Fortran result wrappers).
    /// Callbacks must not block; they may run on whichever thread drops the node.
    pub fn on_release(&self, hook: ReleaseHook) {
        self.state().on_release.push(hook);
    }

    /// The gradient accumulated by reverse mode, if any.
    pub fn grad(&self) -> Option<Tensor<T>> {
        self.state().grad.clone()
    }
    /// The gradient, created as zeros if it does not exist yet (so its buffer can be aliased).
    pub fn grad_or_zeros(&self) -> Tensor<T> {
        let mut st = self.state();
        st.grad
            .get_or_insert_with(|| self.new_grad(None).into_gradient())
            .clone()
    }
    pub(crate) fn new_grad(&self, data: Option<Vec<T>>) -> Tensor<T> {
        let d = self.dims();
        let data = data.unwrap_or_else(|| super::pool::filled(d.len(), T::ZERO));
        Tensor::constant(
            &self.0.shape,
            d.batch,
            data,
            self.is_sample_dependent(),
            self.is_scalar(),
        )
    }
    /// Adds `g` (extents equal to this node's) to the gradient; `fresh` (a gradient array made
    /// from `g` by [`Tensor::new_grad`]) becomes the gradient if there is none. Allocates
    /// nothing.
    pub(crate) fn accumulate_grad(&self, g: &[T], fresh: Option<Tensor<T>>) {
        let mut st = self.state();
        match (&st.grad, fresh) {
            (None, Some(fresh)) => st.grad = Some(fresh.into_gradient()),
            // another thread made the gradient meanwhile: the values are in `fresh`
            (Some(grad), Some(fresh)) => {
                T::accumulate(&mut grad.values_mut(), &fresh.values());
            }
            (Some(grad), None) => {
                T::accumulate(&mut grad.values_mut(), g);
            }
            (None, None) => {
                debug_assert!(false, "accumulate_grad: no gradient and none given");
            }
        }
    }
    /// Whether the node has a gradient.
    pub(crate) fn has_grad(&self) -> bool {
        self.state().grad.is_some()
    }
    /// Replaces the gradient (or removes it with `None`).
    pub fn set_grad(&self, grad: Option<Tensor<T>>) -> Result<()> {
        if let Some(g) = &grad {
            if g.dims() != self.dims() {
                return Err(Error::shape(format!(
                    "set_grad: gradient has extents {:?}, array has {:?}",
                    g.dims(),
                    self.dims()
                )));
            }
        }
        if let Some(g) = &grad {
            if g.same(self) || reaches("set_grad", std::slice::from_ref(g), self)? {
                return Err(Error::new(
                    super::ErrorKind::Graph,
                    "set_grad: the gradient is computed from the array itself (a cycle)",
                ));
            }
            g.set_flag(GRADIENT, true);
        }
        self.state().grad = grad;
        Ok(())
    }
    /// Marks a node as a gradient (it can then never be linked to inputs).
    fn into_gradient(self) -> Tensor<T> {
        self.set_flag(GRADIENT, true);
        self
    }
    /// Sets the gradient's values to zero (if there is a gradient).
    pub fn zero_grad(&self) {
        if let Some(g) = self.grad() {
            g.values_mut().fill(T::ZERO);
        }
    }

    /// Sets the forward-mode direction (seed): `E` values shared by every sample, or `E * S`
    /// values, one set per sample.
    pub fn set_direction(&self, direction: &[T]) -> Result<()> {
        let d = self.dims();
        if direction.len() != d.elems && direction.len() != d.len() {
            return Err(Error::shape(format!(
                "set_direction: direction has {} values, array has {} per sample ({} in all)",
                direction.len(),
                d.elems,
                d.len()
            )));
        }
        let copy = super::alloc::guard(
            || "set_direction".to_string(),
            || Ok(super::alloc::copy(direction)),
        )?;
        self.state().direction = Some(copy);
        Ok(())
    }
    /// diffstruc's `id` tag (-1 until set), searched by [`crate::core::find_id`].
    pub fn id(&self) -> i64 {
        self.state().id.unwrap_or(-1)
    }
    /// Sets the `id` tag.
    pub fn set_id(&self, id: i64) {
        self.state().id = Some(id);
    }

    /// diffstruc's `detach`: the node keeps its values and gradient but forgets how it was
    /// computed and no longer requires a gradient (a constant from now on).
    pub fn detach(&self) {
        self.nullify_graph();
        self.state().name = None;
        self.set_flag(REQUIRES_GRAD, false);
        self.set_flag(FORWARD, false);
    }

    /// A copy of this node alone (values, shape, flags, tag, direction, printed name and a copy
    /// of its gradient), with no operation. Out of memory: unwinds to the nearest guard.
    pub(crate) fn copy_node(&self) -> Tensor<T> {
        let data = self.to_vec();
        let t = Self::from_storage(
            &self.0.shape,
            self.0.dims,
            Storage::from_vec(data),
            Flags::default(),
        );
        t.0.flags.store(
            self.0.flags.load(Ordering::Relaxed) & ALL,
            Ordering::Relaxed,
        );
        let src = self.state();
        let mut st = t.state();
        st.id = src.id;
        st.name = src.name.clone();
        st.direction = src.direction.as_deref().map(super::alloc::copy);
        st.grad = src.grad.as_ref().map(|g| g.copy_node().into_gradient());
        drop(st);
        t
    }

    /// A new node standing for the same value as this one: a copy of its values, shape, flags,
    /// tag, direction and printed name, linked to the same operation and inputs (diffstruc's
    /// value assignment, which copies a node's operand links). No gradient, no caller data.
    /// Out of memory: unwinds with the [`Error`] as payload (the C ABI reports it as
    /// `DS_ERR_MEMORY`).
    pub fn clone_node(&self) -> Tensor<T> {
        let data = super::pool::copy(&self.values());
        let t = Self::from_storage(
            &self.0.shape,
            self.0.dims,
            Storage::from_vec(data),
            Flags::default(),
        );
        t.0.flags.store(
            self.0.flags.load(Ordering::Relaxed) & ALL,
            Ordering::Relaxed,
        );
        let (op, inputs, owns, saved) = {
            let src = self.state();
            let mut st = t.state();
            st.id = src.id;
            st.name = src.name.clone();
            st.direction = src.direction.as_deref().map(super::alloc::copy);
            (
                src.op.clone(),
                src.inputs.clone(),
                src.owns,
                src.saved.clone(),
            )
        };
        if let Some(op) = op {
            let saved = saved.rebase(self, &inputs, &t, &inputs);
            t.link_copy(op, inputs, owns, saved);
        }
        t
    }

    /// Links a copy made by [`Tensor::copy_node`] to `op` and `inputs`, with the ownership
    /// marks and the record (see [`Saved::rebase`]) of the original.
    pub(crate) fn link_copy(&self, op: OpRef<T>, inputs: Inputs<T>, owns: u64, saved: Saved) {
        let mut st = self.state();
        st.op = Some(op);
        inputs.iter().for_each(|i| i.set_flag(CONSUMED, true));
        st.inputs = inputs;
        st.owns = owns;
        st.saved = saved;
    }
    /// What the operation recorded about its inputs (see [`crate::core::version`]).
    pub(crate) fn saved(&self) -> Saved {
        self.state().saved.clone()
    }
    pub(crate) fn owns_bits(&self) -> u64 {
        self.state().owns
    }

    /// Removes the direction (forward mode then seeds with ones).
    pub fn clear_direction(&self) {
        self.state().direction = None;
    }
    /// The direction, if set. Out of memory: unwinds with the [`Error`] as payload.
    pub fn direction(&self) -> Option<Vec<T>> {
        self.state().direction.as_deref().map(super::alloc::copy)
    }
    /// Runs `f` on the direction, if set, without copying it.
    pub(crate) fn with_direction<R>(&self, f: impl FnOnce(Option<&[T]>) -> R) -> R {
        f(self.state().direction.as_deref())
    }
}

impl<T: Real> std::fmt::Debug for Tensor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tensor")
            .field("operation", &self.operation())
            .field("shape", &self.shape())
            .field("batch", &self.batch())
            .field("values", &&*self.values())
            .finish()
    }
}

thread_local! {
    /// How deep node drops are nested on this thread.
    static DROP_DEPTH: Cell<u32> = const { Cell::new(0) };
    /// Nodes whose release was deferred because drops were nested too deeply (one queue per
    /// element type: see [`Real::deferred_drops`]).
    pub(crate) static DEFERRED32: RefCell<Vec<Tensor<f32>>> = const { RefCell::new(Vec::new()) };
    pub(crate) static DEFERRED64: RefCell<Vec<Tensor<f64>>> = const { RefCell::new(Vec::new()) };
}

/// Nested drops allowed before inputs are deferred to the queue (bounded stack use).
const MAX_DROP_DEPTH: u32 = 48;

impl<T: Real> Drop for Node<T> {
    /// Frees the subgraph with bounded recursion: a few levels are released directly (no
    /// allocation in the common case), deeper ones through a per-thread queue drained by the
    /// outermost drop, so a chain of any depth is released without overflowing the stack.
    fn drop(&mut self) {
        LIVE_NODES.fetch_sub(1, Ordering::Relaxed);
        let st = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        st.on_release.drain(..).for_each(|h| h());
        let inputs = std::mem::take(&mut st.inputs);
        let grad = st.grad.take();
        if inputs.is_empty() && grad.is_none() {
            return;
        }
        let Ok(depth) = DROP_DEPTH.try_with(Cell::get) else {
            // thread teardown: no thread-locals left, release iteratively with a local stack
            drop_iteratively(inputs, grad);
            return;
        };
        if depth >= MAX_DROP_DEPTH {
            // (reserved fallibly: out of memory, the inputs are released right here instead,
            // one level deeper)
            let deferred = T::deferred_drops().with(|q| {
                let mut q = q.borrow_mut();
                q.try_reserve(inputs.len() + 1).is_ok()
            });
            if deferred {
                T::deferred_drops().with(|q| {
                    let mut q = q.borrow_mut();
                    inputs.drain_into(&mut q);
                    q.extend(grad);
                });
                return;
            }
        }
        DROP_DEPTH.with(|d| d.set(depth + 1));
        drop(inputs);
        drop(grad);
        if depth == 0 {
            // the outermost drop releases whatever deeper drops deferred
            while let Some(t) = T::deferred_drops().with(|q| q.borrow_mut().pop()) {
                drop(t);
            }
        }
        DROP_DEPTH.with(|d| d.set(depth));
    }
}

fn drop_iteratively<T: Real>(inputs: Inputs<T>, grad: Option<Tensor<T>>) {
    let mut stack = Vec::new();
    if stack.try_reserve(inputs.len() + 1).is_err() {
        // out of memory: release them directly (recursively)
        return;
    }
    inputs.drain_into(&mut stack);
    stack.extend(grad);
    while let Some(t) = stack.pop() {
        if let Some(mut inner) = NodeRc::into_inner(t.0) {
            let st = inner
                .state
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner);
            let inputs = std::mem::take(&mut st.inputs);
            let grad = st.grad.take();
            if stack.try_reserve(inputs.len() + 1).is_ok() {
                inputs.drain_into(&mut stack);
                stack.extend(grad);
            }
            // `inner` drops here (out of memory for the stack: with its links, recursively)
        }
    }
}
