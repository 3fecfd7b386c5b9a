//! The data-movement checks of movement.rs for real64 arrays, against f64 finite differences.

mod common;

type R = f64;
/// Central differences in f64: truncation error ~H^2, rounding ~1e-16/H.
const H: R = 1e-5;
const TOL: R = 2e-7;

include!("movement/cases.rs");
