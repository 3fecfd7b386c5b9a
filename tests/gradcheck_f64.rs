//! Every gradient check of gradcheck.rs for real64 arrays: forward mode, reverse mode and second
//! order against f64 finite differences, with a tolerance 10^4 times tighter than for real32.

mod common;

type R = f64;
/// Central differences in f64: truncation error ~H^2, rounding ~1e-16/H.
const H: R = 1e-5;
const TOL: R = 2e-7;

include!("gradcheck/cases.rs");
