//! Versions of array values, and what an operation recorded about its inputs when it was built.
//!
//! Every array has a version counter, incremented by every write the library can see (see
//! [`Tensor::mark_modified`]). When an operation that needs a gradient is recorded, it keeps the
//! versions of the arrays whose values its derivative rules read ([`Operation::saved_for`]),
//! and which inputs required a gradient. The differentiation passes check both before they use
//! the operation ([`check`]): a saved array written since, or an intermediate input whose
//! `requires_grad` was cleared since, is an error instead of a silently wrong derivative.
//!
//! Versions are compared modulo 2^32: only exactly a multiple of 2^32 writes between building
//! and differentiating could go unnoticed.

use super::error::{Error, ErrorKind, Result};
use super::real::Real;
use super::tensor::Tensor;
use crate::ops::{describe, Operation, SAVED_RESULT};

/// Slot of the result itself in an entry (inputs are 0, 1, …).
const RESULT: u32 = u32::MAX >> 1;
/// Set in an entry's slot when the array had already been written when this record was copied
/// from another node's (so the check fails whatever the array's version).
const STALE: u32 = 1 << 31;

/// Entries kept inline: binary operations save at most three arrays.
const INLINE: usize = 3;

#[derive(Clone, Default)]
enum Entries {
    #[default]
    None,
    Inline(u8, [(u32, u32); INLINE]),
    Heap(Box<[(u32, u32)]>),
}

impl Entries {
    fn as_slice(&self) -> &[(u32, u32)] {
        match self {
            Entries::None => &[],
            Entries::Inline(n, a) => &a[..usize::from(*n)],
            Entries::Heap(v) => v,
        }
    }
    fn from_list(list: &[(u32, u32)]) -> Entries {
        match list.len() {
            0 => Entries::None,
            n if n <= INLINE => {
                let mut a = [(0, 0); INLINE];
                a[..n].copy_from_slice(list);
                Entries::Inline(n as u8, a)
            }
            _ => Entries::Heap(super::alloc::copy(list).into_boxed_slice()),
        }
    }
}

/// What a node recorded about its operation's inputs when the operation was linked.
#[derive(Clone, Default)]
pub(crate) struct Saved {
    /// Bit `i`: input `i` required a gradient (inputs 64 and beyond are not tracked).
    wanted: u64,
    /// (slot, version): the arrays whose values the derivative rules read.
    entries: Entries,
}

impl Saved {
    /// The record for `op` linking `out` (its result) to `inputs`.
    pub(crate) fn record<T: Real>(
        op: &dyn Operation<T>,
        out: &Tensor<T>,
        inputs: &[Tensor<T>],
    ) -> Saved {
        let mut wanted = 0u64;
        let mut mask = 0u64;
        let mut many = false;
        for (i, t) in inputs.iter().enumerate() {
            if !t.requires_grad() {
                continue;
            }
            if i < 64 {
                wanted |= 1 << i;
            }
            mask |= op.saved_for(i);
            many |= i >= 63;
        }
        let mut list: [(u32, u32); INLINE] = [(0, 0); INLINE];
        let mut n = 0;
        let mut heap: Vec<(u32, u32)> = Vec::new();
        let mut push = |slot: u32, version: u32| {
            if n < INLINE && heap.is_empty() {
                list[n] = (slot, version);
                n += 1;
            } else {
                if heap.is_empty() {
                    heap = super::alloc::with_capacity(inputs.len() + 1);
                    heap.extend_from_slice(&list[..n]);
                }
                heap.push((slot, version));
            }
        };
        for (i, t) in inputs.iter().enumerate() {
            // inputs beyond the mask's 63 bits are recorded whenever a late one is wanted
            let saved = if i < 63 { mask & (1 << i) != 0 } else { many };
            if saved {
                push(i as u32, t.version());
            }
        }
        if mask & SAVED_RESULT != 0 {
            push(RESULT, out.version());
        }
        let entries = if heap.is_empty() {
            Entries::from_list(&list[..n])
        } else {
            Entries::Heap(heap.into_boxed_slice())
        };
        Saved { wanted, entries }
    }

    /// This record for a copy of the node (`out`, linked to `inputs`, copies of or the same as
    /// the original's): entries already stale in the original (`original`, `original_inputs`)
    /// stay stale; the others take the versions of the copy's arrays, which hold the same values.
    pub(crate) fn rebase<T: Real>(
        &self,
        original: &Tensor<T>,
        original_inputs: &[Tensor<T>],
        out: &Tensor<T>,
        inputs: &[Tensor<T>],
    ) -> Saved {
        let list: Vec<(u32, u32)> = self
            .entries
            .as_slice()
            .iter()
            .map(|&(slot, version)| {
                let (was, now) = match slot & !STALE {
                    RESULT => (Some(original), Some(out)),
                    i => (original_inputs.get(i as usize), inputs.get(i as usize)),
                };
                let stale = slot & STALE != 0 || was.is_none_or(|t| t.version() != version);
                match (stale, now) {
                    (false, Some(t)) => (slot, t.version()),
                    _ => (slot | STALE, version),
                }
            })
            .collect();
        Saved {
            wanted: self.wanted,
            entries: Entries::from_list(&list),
        }
    }
}

/// Checks, before `pass` (`"grad_reverse"` or `"grad_forward"`) differentiates through `node`
/// (the result of `op` on `inputs`), that every array its rules read still holds the values
/// the operation used, and that no intermediate input that required a gradient when the
/// operation was built has had `requires_grad` cleared since.
///
/// Errors: [`ErrorKind::Modified`] for a written array; [`ErrorKind::NoGradient`] for a
/// cleared intermediate.
pub(crate) fn check<T: Real>(
    pass: &str,
    node: &Tensor<T>,
    op: &dyn Operation<T>,
    inputs: &[Tensor<T>],
    saved: &Saved,
) -> Result<()> {
    for &(slot, version) in saved.entries.as_slice() {
        let t = match slot & !STALE {
            RESULT => node,
            i => match inputs.get(i as usize) {
                Some(t) => t,
                // the inputs were replaced (a custom link): nothing recorded applies
                None => continue,
            },
        };
        let now = t.version();
        if slot & STALE != 0 || now != version {
            // (the message is only formatted on failure: this check runs for every node of
            // every pass)
            let which = match slot & !STALE {
                RESULT => "its result".to_string(),
                i => format!("input {}", i + 1),
            };
            let when = if slot & STALE != 0 {
                "before this copy of the graph was made".to_string()
            } else {
                format!("version {version} when used, now {now}")
            };
            return Err(Error::new(
                ErrorKind::Modified,
                format!(
                    "{pass}: a value needed for gradient computation was modified in place: \
                     '{}' {which} ({}{}), {when}. A derivative would mix old and new values: \
                     compute the operation again from the new values, or write to a copy \
                     (ds_array_copy) instead",
                    op.name(),
                    describe(t),
                    id_text(t),
                ),
            ));
        }
    }
    for (i, t) in inputs.iter().enumerate().take(64) {
        if saved.wanted & (1 << i) != 0 && !t.requires_grad() && !t.is_leaf() {
            return Err(Error::new(
                ErrorKind::NoGradient,
                format!(
                    "{pass}: input {} of '{}' ({}{}, the result of '{}') required a gradient \
                     when the operation was built, and its requires_grad has been cleared \
                     since: derivatives through it would silently be zero. To stop gradients \
                     there, detach it (ds_detach) before using it; otherwise set \
                     requires_grad again",
                    i + 1,
                    op.name(),
                    describe(t),
                    id_text(t),
                    t.operation(),
                ),
            ));
        }
    }
    Ok(())
}

/// `", id 7"` when the array has an id tag.
fn id_text<T: Real>(t: &Tensor<T>) -> String {
    match t.id() {
        -1 => String::new(),
        id => format!(", id {id}"),
    }
}
