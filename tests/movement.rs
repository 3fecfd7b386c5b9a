//! Data movement and selection (`spread` … `merge`): values against hand-worked results, every
//! form gradient-checked in forward mode, reverse mode and to second order (composed with a
//! square so that the second derivatives are not zero), and every argument error.
//! (real32 arrays; movement_f64.rs runs the same cases for real64.)

mod common;

type R = f32;
const H: R = 4e-3;
const TOL: R = 2e-3;

include!("movement/cases.rs");
