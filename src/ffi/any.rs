//! [`Array`]: an array of either element type, as a handle refers to it, and the macros that
//! run one generic core function on it.
//!
//! Operations take handles of either type and give a result of the same type; operands of two
//! types are an error (`DS_ERR_TYPE`). Functions that exchange element buffers with the caller
//! come in two flavours, `float` and `_f64` (`double`), each checking the array's type.

use crate::core::{Dtype, Error, ErrorKind, Real, Result, Tensor};

/// An array of `f32` or `f64` values.
#[derive(Clone)]
pub enum Array {
    /// `real32` / `float`
    F32(Tensor<f32>),
    /// `real64` / `double`
    F64(Tensor<f64>),
}

/// Runs `$body` with `$t` bound to the typed tensor, whichever the type (the body is compiled
/// once per type).
macro_rules! each {
    ($a:expr, $t:ident => $body:expr) => {
        match $a {
            $crate::ffi::any::Array::F32($t) => $body,
            $crate::ffi::any::Array::F64($t) => $body,
        }
    };
}

/// As [`each`], wrapping the body's tensor (of the same type) back into an [`Array`].
macro_rules! map {
    ($a:expr, $t:ident => $body:expr) => {
        match $a {
            $crate::ffi::any::Array::F32($t) => $crate::ffi::any::Array::F32($body),
            $crate::ffi::any::Array::F64($t) => $crate::ffi::any::Array::F64($body),
        }
    };
}

/// Two operands of one type: runs `$body` with both typed tensors and wraps its tensor; operands
/// of different types return a `DS_ERR_TYPE` error naming `$what` (from the enclosing closure).
macro_rules! map2 {
    ($what:expr, $a:expr, $b:expr, ($x:ident, $y:ident) => $body:expr) => {
        match ($a, $b) {
            ($crate::ffi::any::Array::F32($x), $crate::ffi::any::Array::F32($y)) => {
                $crate::ffi::any::Array::F32($body)
            }
            ($crate::ffi::any::Array::F64($x), $crate::ffi::any::Array::F64($y)) => {
                $crate::ffi::any::Array::F64($body)
            }
            (x, y) => return Err($crate::ffi::any::mixed($what, &[&x, &y])),
        }
    };
}

pub(crate) use {each, map, map2};

/// The error for operands of different element types.
pub(crate) fn mixed(what: &str, operands: &[&Array]) -> Error {
    let list: Vec<String> = operands.iter().map(|a| a.describe()).collect();
    Error::new(
        ErrorKind::Type,
        format!(
            "{what}: operands have different element types ({}); convert one first (mixed \
             precision is not promoted)",
            list.join(", ")
        ),
    )
}

/// An element type as the C ABI sees it.
pub trait Elem: Real {
    /// The typed tensor, if `a` holds this type.
    fn view(a: &Array) -> Option<&Tensor<Self>>;
    /// Wraps a typed tensor.
    fn wrap(t: Tensor<Self>) -> Array;
    /// The C type's name, for messages.
    const C_NAME: &'static str;
    /// The suffix of the functions for this type (`""` or `"_f64"`).
    const SUFFIX: &'static str;
}

impl Elem for f32 {
    fn view(a: &Array) -> Option<&Tensor<f32>> {
        match a {
            Array::F32(t) => Some(t),
            Array::F64(_) => None,
        }
    }
    fn wrap(t: Tensor<f32>) -> Array {
        Array::F32(t)
    }
    const C_NAME: &'static str = "float";
    const SUFFIX: &'static str = "";
}

impl Elem for f64 {
    fn view(a: &Array) -> Option<&Tensor<f64>> {
        match a {
            Array::F64(t) => Some(t),
            Array::F32(_) => None,
        }
    }
    fn wrap(t: Tensor<f64>) -> Array {
        Array::F64(t)
    }
    const C_NAME: &'static str = "double";
    const SUFFIX: &'static str = "_f64";
}

impl From<Tensor<f32>> for Array {
    fn from(t: Tensor<f32>) -> Array {
        Array::F32(t)
    }
}

impl From<Tensor<f64>> for Array {
    fn from(t: Tensor<f64>) -> Array {
        Array::F64(t)
    }
}

/// Forwards type-independent methods to the typed tensor.
macro_rules! forward {
    ($($(#[$m:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)*) $(-> $ret:ty)?;)*) => {$(
        $(#[$m])*
        pub fn $name(&self $(, $arg: $ty)*) $(-> $ret)? {
            each!(self, t => t.$name($($arg),*))
        }
    )*};
}

impl Array {
    /// The element type.
    pub fn dtype(&self) -> Dtype {
        match self {
            Array::F32(_) => Dtype::F32,
            Array::F64(_) => Dtype::F64,
        }
    }

    /// The typed tensor, or a `DS_ERR_TYPE` error for `what` (a `float` function given a
    /// `double` array, or the reverse).
    pub fn typed<T: Elem>(&self, what: &str) -> Result<&Tensor<T>> {
        T::view(self).ok_or_else(|| {
            let other = if T::SUFFIX.is_empty() { "_f64" } else { "" };
            Error::new(
                ErrorKind::Type,
                format!(
                    "{what}{}: the array holds {} values, not {}; use {what}{other}",
                    T::SUFFIX,
                    self.dtype().name(),
                    T::DTYPE.name()
                ),
            )
        })
    }

    /// `"real64 [2, 3] with batch 4"`, for error messages.
    pub fn describe(&self) -> String {
        format!(
            "{} {}",
            self.dtype().name(),
            each!(self, t => crate::ops::describe(t))
        )
    }

    /// True if both refer to the same node.
    pub fn same(&self, other: &Array) -> bool {
        match (self, other) {
            (Array::F32(a), Array::F32(b)) => a.same(b),
            (Array::F64(a), Array::F64(b)) => a.same(b),
            _ => false,
        }
    }

    /// The gradient, if any.
    pub fn grad(&self) -> Option<Array> {
        each!(self, t => t.grad().map(Array::from))
    }

    /// The inputs of the node's operation.
    pub fn inputs(&self) -> Vec<Array> {
        each!(self, t => t.inputs().into_iter().map(Array::from).collect())
    }

    /// Per-sample shape.
    pub fn shape(&self) -> Vec<usize> {
        each!(self, t => t.shape().to_vec())
    }

    forward! {
        /// Samples.
        fn batch(&self) -> usize;
        /// Elements per sample.
        fn elems(&self) -> usize;
        /// Flag bits.
        fn flag_bits(&self) -> u32;
        /// Sets flag bits.
        fn set_flag_bits(&self, mask: u32, values: u32);
        /// See [`Tensor::mark_modified`].
        fn mark_modified(&self);
        /// See [`Tensor::version`].
        fn version(&self) -> u32;
        /// See [`Tensor::clear_direction`].
        fn clear_direction(&self);
        /// See [`Tensor::zero_grad`].
        fn zero_grad(&self);
        /// See [`Tensor::nullify_graph`].
        fn nullify_graph(&self);
        /// See [`Tensor::detach`].
        fn detach(&self);
        /// See [`Tensor::id`].
        fn id(&self) -> i64;
        /// See [`Tensor::set_id`].
        fn set_id(&self, id: i64);
        /// See [`Tensor::operation`].
        fn operation(&self) -> String;
        /// See [`Tensor::set_operation`].
        fn set_operation(&self, name: &str);
        /// See [`Tensor::owns_input`].
        fn owns_input(&self, i: usize) -> bool;
        /// See [`Tensor::num_inputs`].
        fn num_inputs(&self) -> usize;
        /// See [`Tensor::is_sample_dependent`].
        fn is_sample_dependent(&self) -> bool;
        /// See [`Tensor::is_scalar`].
        fn is_scalar(&self) -> bool;
        /// See [`Tensor::requires_grad`].
        fn requires_grad(&self) -> bool;
        /// See [`Tensor::check_values`].
        fn check_values(&self) -> Result<()>;
        /// See [`Tensor::reclaim`].
        fn reclaim(&self) -> bool;
        /// See [`Tensor::is_lent`].
        fn is_lent(&self) -> bool;
        /// See [`Tensor::user_data`].
        fn user_data(&self) -> *mut std::ffi::c_void;
        /// See [`Tensor::is_leaf`].
        fn is_leaf(&self) -> bool;
    }
}
