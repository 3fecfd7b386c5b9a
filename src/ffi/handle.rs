//! The handle table. A `ds_array *` is not a Rust pointer: it encodes a slot number and the
//! slot's generation, so a freed or stale handle is detected (never dereferenced) and reported.

use std::sync::{Mutex, PoisonError};

use crate::core::{Error, ErrorKind, Result, Tensor};

/// Opaque handle to an array. Created by the library, released with `ds_array_free`.
pub struct ds_array {
    _private: [u8; 0],
}

struct Slot {
    generation: u32,
    tensor: Option<Tensor>,
    /// Claimed by `ds_array_adopt` (the object holding this handle belongs to a graph).
    claimed: bool,
}

struct Table {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
}

static TABLE: Mutex<Table> = Mutex::new(Table {
    slots: Vec::new(),
    free: Vec::new(),
    live: 0,
});

fn table() -> std::sync::MutexGuard<'static, Table> {
    TABLE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn encode(index: u32, generation: u32) -> *mut ds_array {
    let raw = (u64::from(generation) << 32) | (u64::from(index) + 1);
    std::ptr::without_provenance_mut(raw as usize)
}

fn decode(h: *const ds_array) -> (usize, u32) {
    let raw = h as usize as u64;
    (
        ((raw & 0xffff_ffff) as usize).wrapping_sub(1),
        (raw >> 32) as u32,
    )
}

/// Registers a tensor and returns a new handle to it.
pub(crate) fn insert(t: Tensor) -> *mut ds_array {
    let mut tb = table();
    tb.live += 1;
    if let Some(i) = tb.free.pop() {
        let slot = &mut tb.slots[i as usize];
        slot.tensor = Some(t);
        slot.claimed = false;
        encode(i, slot.generation)
    } else {
        let i = tb.slots.len() as u32;
        tb.slots.push(Slot {
            generation: 1,
            tensor: Some(t),
            claimed: false,
        });
        encode(i, 1)
    }
}

fn bad_handle(what: &str) -> Error {
    Error::new(
        ErrorKind::Handle,
        format!("{what} is not a live array handle (already freed, or not created by diffstruc)"),
    )
}

/// The tensor behind a handle.
pub(crate) fn get(h: *const ds_array, what: &str) -> Result<Tensor> {
    if h.is_null() {
        return Err(Error::new(ErrorKind::Null, format!("{what} is NULL")));
    }
    let (i, generation) = decode(h);
    let tb = table();
    match tb.slots.get(i) {
        Some(Slot {
            generation: g,
            tensor: Some(t),
            ..
        }) if *g == generation => Ok(t.clone()),
        _ => Err(bad_handle(what)),
    }
}

/// Releases a handle. The tensor itself lives on while other handles or nodes refer to it.
pub(crate) fn remove(h: *const ds_array, what: &str) -> Result<()> {
    if h.is_null() {
        return Err(Error::new(ErrorKind::Null, format!("{what} is NULL")));
    }
    let (i, generation) = decode(h);
    let tensor = {
        let mut tb = table();
        let tb = &mut *tb;
        let slot = match tb.slots.get_mut(i) {
            Some(s) if s.generation == generation && s.tensor.is_some() => s,
            _ => return Err(bad_handle(what)),
        };
        slot.generation = slot.generation.wrapping_add(1).max(1);
        let t = slot.tensor.take();
        tb.free.push(i as u32);
        tb.live -= 1;
        t
    };
    // Dropped outside the lock: freeing a large graph takes time and needs no table access.
    drop(tensor);
    Ok(())
}

/// True if the raw handle value names a live handle.
pub(crate) fn is_live_raw(raw: usize) -> bool {
    if raw == 0 {
        return false;
    }
    let (i, generation) = decode(std::ptr::without_provenance(raw));
    let tb = table();
    matches!(tb.slots.get(i), Some(s) if s.generation == generation && s.tensor.is_some())
}

/// Marks a live handle as claimed; returns false if it already was.
pub(crate) fn claim(h: *const ds_array, what: &str) -> Result<bool> {
    if h.is_null() {
        return Err(Error::new(ErrorKind::Null, format!("{what} is NULL")));
    }
    let (i, generation) = decode(h);
    let mut tb = table();
    match tb.slots.get_mut(i) {
        Some(s) if s.generation == generation && s.tensor.is_some() => {
            Ok(!std::mem::replace(&mut s.claimed, true))
        }
        _ => Err(bad_handle(what)),
    }
}

/// Number of live handles.
pub(crate) fn live() -> usize {
    table().live
}
