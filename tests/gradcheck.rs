//! Every operation of the core, checked in forward mode, reverse mode and to second order
//! against finite differences, including broadcast forms and batch > 1.
//! (real32 arrays; gradcheck_f64.rs runs the same cases for real64.)

mod common;

type R = f32;
const H: R = 4e-3;
const TOL: R = 2e-3;

include!("gradcheck/cases.rs");
