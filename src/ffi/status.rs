//! Status codes, the thread-local last-error message and the panic boundary.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::core::{Error, ErrorKind};

/// Result of every `ds_` function. Numbers are stable and never reused.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ds_status {
    /// Success.
    DS_OK = 0,
    /// A required pointer argument was NULL.
    DS_ERR_NULL = 1,
    /// A handle was freed, stale, or never created by this library.
    DS_ERR_HANDLE = 2,
    /// Shapes or lengths do not conform: operands of an operation (the message names the
    /// operation and both shapes), or a data, seed, direction or real-array length that differs
    /// from what the array's shape requires.
    DS_ERR_SHAPE = 3,
    /// An argument is out of range: a dim, a zero or negative size, an index, an unknown
    /// operation or flag code, a caller buffer too small.
    DS_ERR_ARGUMENT = 4,
    /// Differentiation with respect to an array that does not require a gradient.
    DS_ERR_NO_GRAD = 5,
    /// The computation graph is malformed (for example it has a cycle).
    DS_ERR_GRAPH = 6,
    /// An internal error (a bug in diffstruc): please report it with the message.
    DS_ERR_INTERNAL = 7,
    /// Out of memory: a buffer the call needs (a result, an intermediate, a gradient, a copy)
    /// could not be allocated. The message names the operation, its operands and the bytes
    /// asked for. Nothing was created or changed; the process goes on.
    DS_ERR_MEMORY = 8,
    /// Differentiation needs values that an operation used, and an array holding them was
    /// written since (`ds_array_data_mut`, `ds_array_mark_written`): the
    /// message names the operation and which of its arrays. Nothing was changed.
    DS_ERR_MODIFIED = 9,
    /// Element types do not match: operands of one operation are `real32` and `real64` (the
    /// message names both), or a `float` buffer function was used on a `double` array or the
    /// reverse (the message names the function to use).
    DS_ERR_TYPE = 10,
}

impl From<ErrorKind> for ds_status {
    fn from(k: ErrorKind) -> Self {
        match k {
            ErrorKind::Shape => ds_status::DS_ERR_SHAPE,
            ErrorKind::Argument => ds_status::DS_ERR_ARGUMENT,
            ErrorKind::NoGradient => ds_status::DS_ERR_NO_GRAD,
            ErrorKind::Graph => ds_status::DS_ERR_GRAPH,
            ErrorKind::Null => ds_status::DS_ERR_NULL,
            ErrorKind::Handle => ds_status::DS_ERR_HANDLE,
            ErrorKind::Internal => ds_status::DS_ERR_INTERNAL,
            ErrorKind::OutOfMemory => ds_status::DS_ERR_MEMORY,
            ErrorKind::Modified => ds_status::DS_ERR_MODIFIED,
            ErrorKind::Type => ds_status::DS_ERR_TYPE,
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// The calling thread's last error message.
pub(crate) fn last_error_message() -> String {
    LAST_ERROR.with(|e| e.borrow().to_string_lossy().into_owned())
}

/// The error kind a status stands for (`DS_OK` and unknown values map to `Internal`).
pub(crate) fn kind_of(status: ds_status) -> ErrorKind {
    match status {
        ds_status::DS_ERR_NULL => ErrorKind::Null,
        ds_status::DS_ERR_HANDLE => ErrorKind::Handle,
        ds_status::DS_ERR_SHAPE => ErrorKind::Shape,
        ds_status::DS_ERR_ARGUMENT => ErrorKind::Argument,
        ds_status::DS_ERR_NO_GRAD => ErrorKind::NoGradient,
        ds_status::DS_ERR_GRAPH => ErrorKind::Graph,
        ds_status::DS_ERR_MEMORY => ErrorKind::OutOfMemory,
        ds_status::DS_ERR_MODIFIED => ErrorKind::Modified,
        ds_status::DS_ERR_TYPE => ErrorKind::Type,
        _ => ErrorKind::Internal,
    }
}

fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// Runs the body of an exported function: converts errors to a status and a last-error message,
/// and catches panics so that nothing unwinds into C or Fortran.
pub(crate) fn boundary(f: impl FnOnce() -> Result<(), Error>) -> ds_status {
    quiet_error_panics();
    let outermost = super::ownership::enter();
    let result = catch_unwind(AssertUnwindSafe(f));
    // Destructors of objects released by this call run now, outside the body and iteratively;
    // a panic inside them is contained as well.
    let drained = catch_unwind(AssertUnwindSafe(|| super::ownership::leave(outermost)));
    if drained.is_err() {
        set_last_error("internal error (please report): panic while releasing adopted objects");
        return ds_status::DS_ERR_INTERNAL;
    }
    match result {
        Ok(Ok(())) => ds_status::DS_OK,
        Ok(Err(e)) => {
            set_last_error(e.message());
            e.kind().into()
        }
        Err(payload) => {
            if let Some(e) = payload.downcast_ref::<Error>() {
                // an error raised where no Result can carry it (see `quiet_error_panics`)
                set_last_error(e.message());
                return e.kind().into();
            }
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            set_last_error(&format!("internal error (please report): {what}"));
            ds_status::DS_ERR_INTERNAL
        }
    }
}

/// Deep inside a computation, a few checks (values of a lent buffer that its holder gave up)
/// report an [`Error`] by panicking with it as the payload; [`boundary`] turns it into a status.
/// Such panics are expected, so the panic hook stays silent for them (others are reported by
/// the previous hook as usual). Installed once, on the first call through the C ABI.
fn quiet_error_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<Error>().is_none() {
                previous(info);
            }
        }));
    });
}

/// Like [`boundary`] for functions that return a value instead of a status; `fallback` is
/// returned if the body panics.
pub(crate) fn boundary_value<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

/// Message describing the last failure on the calling thread ("" if none). The pointer stays
/// valid until the next failing call on this thread.
#[no_mangle]
pub extern "C" fn ds_last_error() -> *const c_char {
    boundary_value(c"".as_ptr(), || LAST_ERROR.with(|e| e.borrow().as_ptr()))
}

/// Sets the calling thread's last error message, so that a custom-operation callback can report
/// its own failure (return a non-OK status after calling this). NULL clears the message.
#[no_mangle]
pub extern "C" fn ds_set_last_error(message: *const c_char) {
    boundary_value((), || {
        let text = if message.is_null() {
            String::new()
        } else {
            // SAFETY: non-null; the caller passes a NUL-terminated string.
            unsafe { std::ffi::CStr::from_ptr(message) }
                .to_string_lossy()
                .into_owned()
        };
        set_last_error(&text);
    })
}

/// Short constant name of a status code, e.g. "DS_ERR_SHAPE" (never NULL).
#[no_mangle]
pub extern "C" fn ds_status_name(status: i32) -> *const c_char {
    let names: [&std::ffi::CStr; 11] = [
        c"DS_OK",
        c"DS_ERR_NULL",
        c"DS_ERR_HANDLE",
        c"DS_ERR_SHAPE",
        c"DS_ERR_ARGUMENT",
        c"DS_ERR_NO_GRAD",
        c"DS_ERR_GRAPH",
        c"DS_ERR_INTERNAL",
        c"DS_ERR_MEMORY",
        c"DS_ERR_MODIFIED",
        c"DS_ERR_TYPE",
    ];
    usize::try_from(status)
        .ok()
        .and_then(|i| names.get(i))
        .map_or(c"DS_UNKNOWN_STATUS".as_ptr(), |n| n.as_ptr())
}

/// Null-checks a pointer argument.
pub(crate) fn non_null<T>(p: *const T, what: &str) -> Result<(), Error> {
    if p.is_null() {
        Err(Error::new(ErrorKind::Null, format!("{what} is NULL")))
    } else {
        Ok(())
    }
}

/// Writes an output value after a NULL check.
pub(crate) fn write_out<T>(out: *mut T, value: T, what: &str) -> Result<(), Error> {
    non_null(out, what)?;
    // SAFETY: non-null checked; the caller provides writable storage for one T.
    unsafe { out.write(value) };
    Ok(())
}
