//! Errors as values: every fallible core call returns [`Result`].

use std::fmt;

/// The category of a failure. The C ABI maps each kind to one `ds_status` code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Operand shapes are incompatible for the operation.
    Shape,
    /// An argument is out of range (a `dim`, a size, an index, a length).
    Argument,
    /// Differentiation was requested with respect to something that cannot be differentiated
    /// (for example a variable without `requires_grad`).
    NoGradient,
    /// The computation graph is malformed (for example it contains a cycle).
    Graph,
    /// A NULL pointer was passed where a value is required (C ABI only).
    Null,
    /// A handle that was freed, never created, or belongs to nothing (C ABI only).
    Handle,
    /// A Rust panic was caught at the C boundary: a bug in this library.
    Internal,
    /// A buffer could not be allocated: the result, an intermediate or a gradient does not fit
    /// in memory (the message names the operation, its operands and the bytes asked for).
    OutOfMemory,
    /// Differentiation needs the values an operation used, and one of the arrays holding them
    /// was written since (its version changed).
    Modified,
    /// Arrays of different element types (`real32` and `real64`) given to one operation, or a
    /// buffer function of one type (`float`, `double`) used on an array of the other.
    Type,
}

/// An error with a kind and a human-readable message that names the operation and its inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// Creates an error of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }
    /// Shorthand for an [`ErrorKind::Shape`] error.
    pub fn shape(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Shape, message)
    }
    /// Shorthand for an [`ErrorKind::Argument`] error.
    pub fn argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Argument, message)
    }
    /// The category of the failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// The message, without a trailing newline.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Result type of the core.
pub type Result<T> = std::result::Result<T, Error>;
