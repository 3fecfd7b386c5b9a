//! The handle table. A `ds_array *` is not a Rust pointer: it encodes a slot number and the
//! slot's generation, so a freed, stale or invented handle is detected (never dereferenced) and
//! reported.
//!
//! Design (no global lock):
//! * Slots live in chunks that never move or go away (chunk `c` holds `64 << c` slots), so a
//!   lookup finds its slot without any lock.
//! * Each slot has one atomic state word: its generation (high 32 bits), a live bit, a claimed
//!   bit and a lock bit. A lookup holds the slot's lock bit only while it clones the array's
//!   reference; lookups of different handles never touch the same word.
//! * Free slots are kept on a lock-free stack (tagged against ABA).
//! * A slot's first generation is a per-process random number, and it advances by one on every
//!   free. A slot whose generation would come back to its first value is retired (never reused),
//!   so a freed handle stays invalid for the life of the process; and an invented value names a
//!   live array only if it guesses a random 32-bit generation.

use std::cell::UnsafeCell;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use super::any::Array;
use crate::core::{Error, ErrorKind, Result};

/// Opaque handle to an array. Created by the library, released with `ds_array_free`.
pub struct ds_array {
    _private: [u8; 0],
}

const LOCK: u64 = 1;
const LIVE: u64 = 1 << 1;
const CLAIMED: u64 = 1 << 2;

/// Slots in chunk 0; chunk `c` holds `FIRST << c`.
const FIRST_BITS: u32 = 6;
const FIRST: usize = 1 << FIRST_BITS;
/// Enough chunks for every index below `u32::MAX`.
const CHUNKS: usize = 32 - FIRST_BITS as usize + 1;
/// Slot indices stay below this (the handle stores `index + 1` in 32 bits).
const MAX_SLOTS: u64 = u32::MAX as u64 - 1;

struct Slot {
    /// generation << 32 | CLAIMED | LIVE | LOCK
    state: AtomicU64,
    /// The array, written only by the thread that holds the slot (free, or locked).
    tensor: UnsafeCell<Option<Array>>,
    /// Next free slot + 1 (0: none), while on the free stack.
    next_free: AtomicU32,
}

// SAFETY: `tensor` is only accessed under the slot's lock bit, or by the single owner of a slot
// that is not live (taken from the free stack or never published).
unsafe impl Sync for Slot {}

struct Table {
    chunks: [AtomicPtr<Slot>; CHUNKS],
    /// Slots handed out so far (the next new index).
    len: AtomicU64,
    /// Free stack head: tag << 32 | (index + 1); 0 low bits = empty.
    free: AtomicU64,
    live: AtomicUsize,
}

static TABLE: Table = Table {
    chunks: [const { AtomicPtr::new(std::ptr::null_mut()) }; CHUNKS],
    len: AtomicU64::new(0),
    free: AtomicU64::new(0),
    live: AtomicUsize::new(0),
};

/// The first generation of slot `i`: random per process, fixed per slot (a splitmix64 finaliser
/// of a per-process random key and the slot number, cheap enough to compute on every free).
fn first_generation(i: u32) -> u32 {
    static KEY: OnceLock<u64> = OnceLock::new();
    let key = *KEY.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(std::process::id() as usize);
        h.finish()
    });
    let mut z = key ^ u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) as u32
}

/// Chunk number and offset of slot `i`.
fn locate(i: usize) -> (usize, usize) {
    let j = i + FIRST;
    let c = (usize::BITS - 1 - j.leading_zeros()) as usize - FIRST_BITS as usize;
    (c, j - (FIRST << c))
}

/// Slot `i` if its chunk exists.
fn slot(i: usize) -> Option<&'static Slot> {
    if i as u64 >= MAX_SLOTS {
        return None;
    }
    let (c, off) = locate(i);
    let p = TABLE.chunks[c].load(Ordering::Acquire);
    if p.is_null() {
        return None;
    }
    // SAFETY: chunk `c` holds `FIRST << c` slots (off is below that), is never freed, and was
    // published initialised (Release / Acquire).
    Some(unsafe { &*p.add(off) })
}

/// Slot `i`, creating its chunk if needed.
fn slot_or_create(i: usize) -> &'static Slot {
    let (c, off) = locate(i);
    let mut p = TABLE.chunks[c].load(Ordering::Acquire);
    if p.is_null() {
        let base = FIRST << c;
        let chunk: Box<[Slot]> = (0..FIRST << c)
            .map(|k| Slot {
                state: AtomicU64::new(u64::from(first_generation((base - FIRST + k) as u32)) << 32),
                tensor: UnsafeCell::new(None),
                next_free: AtomicU32::new(0),
            })
            .collect();
        let new = Box::into_raw(chunk).cast::<Slot>();
        match TABLE.chunks[c].compare_exchange(
            std::ptr::null_mut(),
            new,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => p = new,
            Err(existing) => {
                // another thread published this chunk first
                // SAFETY: `new` is the chunk built above, never shared.
                drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(new, base)) });
                p = existing;
            }
        }
    }
    // SAFETY: as in `slot`.
    unsafe { &*p.add(off) }
}

/// Puts slot `i` (that is `s`) on the free stack.
fn push_free(i: u32, s: &Slot) {
    let mut head = TABLE.free.load(Ordering::Relaxed);
    loop {
        s.next_free.store(head as u32, Ordering::Relaxed);
        let new = ((head >> 32).wrapping_add(1) << 32) | u64::from(i + 1);
        match TABLE
            .free
            .compare_exchange_weak(head, new, Ordering::Release, Ordering::Relaxed)
        {
            Ok(_) => return,
            Err(h) => head = h,
        }
    }
}

fn pop_free() -> Option<u32> {
    let mut head = TABLE.free.load(Ordering::Acquire);
    loop {
        let top = head as u32;
        if top == 0 {
            return None;
        }
        // (a slot on the free stack was handed out before: its chunk exists)
        let next = slot(top as usize - 1).map_or(0, |s| s.next_free.load(Ordering::Relaxed));
        let new = ((head >> 32).wrapping_add(1) << 32) | u64::from(next);
        match TABLE
            .free
            .compare_exchange_weak(head, new, Ordering::Acquire, Ordering::Acquire)
        {
            Ok(_) => return Some(top - 1),
            Err(h) => head = h,
        }
    }
}

fn encode(index: u32, generation: u32) -> *mut ds_array {
    let raw = (u64::from(generation) << 32) | (u64::from(index) + 1);
    std::ptr::without_provenance_mut(raw as usize)
}

fn decode(raw: usize) -> (usize, u32) {
    let raw = raw as u64;
    (
        ((raw & 0xffff_ffff) as usize).wrapping_sub(1),
        (raw >> 32) as u32,
    )
}

/// The live slot named by a raw handle value, without locking.
fn find(raw: usize) -> Option<(&'static Slot, u32)> {
    let (i, generation) = decode(raw);
    let s = slot(i)?;
    let st = s.state.load(Ordering::Acquire);
    ((st >> 32) as u32 == generation && st & LIVE != 0).then_some((s, generation))
}

/// Holds a slot's lock bit; releases it (with the state to leave) when dropped.
struct Locked {
    slot: &'static Slot,
    state: u64,
}

impl Drop for Locked {
    fn drop(&mut self) {
        self.slot.state.store(self.state & !LOCK, Ordering::Release);
    }
}

/// Locks the live slot named by `raw`; `None` if the handle is not live.
fn lock(raw: usize) -> Option<Locked> {
    let (i, generation) = decode(raw);
    let s = slot(i)?;
    let mut spins = 0u32;
    loop {
        let st = s.state.load(Ordering::Relaxed);
        if (st >> 32) as u32 != generation || st & LIVE == 0 {
            return None;
        }
        if st & LOCK == 0
            && s.state
                .compare_exchange_weak(st, st | LOCK, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            return Some(Locked { slot: s, state: st });
        }
        // another thread is cloning this array's reference: a few instructions
        spins += 1;
        if spins < 64 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

fn null(what: &str) -> Error {
    Error::new(ErrorKind::Null, format!("{what} is NULL"))
}

fn bad_handle(what: &str) -> Error {
    Error::new(
        ErrorKind::Handle,
        format!("{what} is not a live array handle (already freed, or not created by diffstruc)"),
    )
}

/// Registers a tensor and returns a new handle to it.
///
/// # Panics
/// When 2^32 - 2 slots are in use or retired (never in practice: a slot retires after
/// 2^32 reuses); the C boundary reports it as an error.
pub(crate) fn insert(t: impl Into<Array>) -> *mut ds_array {
    let t = t.into();
    let i = pop_free().unwrap_or_else(|| {
        let i = TABLE.len.fetch_add(1, Ordering::Relaxed);
        assert!(i < MAX_SLOTS, "the handle table is full");
        i as u32
    });
    let s = slot_or_create(i as usize);
    // SAFETY: the slot is not live and this thread took it from the free stack (or it was never
    // handed out): no other thread reads or writes its tensor.
    unsafe { *s.tensor.get() = Some(t) };
    let generation = (s.state.load(Ordering::Relaxed) >> 32) as u32;
    s.state
        .store(u64::from(generation) << 32 | LIVE, Ordering::Release);
    TABLE.live.fetch_add(1, Ordering::Relaxed);
    encode(i, generation)
}

/// The tensor behind a handle.
pub(crate) fn get(h: *const ds_array, what: &str) -> Result<Array> {
    if h.is_null() {
        return Err(null(what));
    }
    let l = lock(h as usize).ok_or_else(|| bad_handle(what))?;
    // SAFETY: the slot is live and locked by this thread.
    let t = unsafe { &*l.slot.tensor.get() };
    t.clone().ok_or_else(|| bad_handle(what))
}

/// Runs `f` on the tensor behind a handle without taking a reference (no reference count
/// traffic). `f` runs while the slot is locked: it must be short, and must neither use the
/// handle table nor drop a tensor.
pub(crate) fn with<R>(h: *const ds_array, what: &str, f: impl FnOnce(&Array) -> R) -> Result<R> {
    if h.is_null() {
        return Err(null(what));
    }
    let l = lock(h as usize).ok_or_else(|| bad_handle(what))?;
    // SAFETY: the slot is live and locked by this thread.
    let t = unsafe { &*l.slot.tensor.get() };
    t.as_ref().map(f).ok_or_else(|| bad_handle(what))
}

/// Releases a handle. The tensor itself lives on while other handles or nodes refer to it.
pub(crate) fn remove(h: *const ds_array, what: &str) -> Result<()> {
    if h.is_null() {
        return Err(null(what));
    }
    let mut l = lock(h as usize).ok_or_else(|| bad_handle(what))?;
    let (i, generation) = decode(h as usize);
    let slot = l.slot;
    // SAFETY: the slot is live and locked by this thread.
    let tensor = unsafe { (*slot.tensor.get()).take() };
    let next = generation.wrapping_add(1);
    let retire = next == first_generation(i as u32);
    l.state = u64::from(next) << 32;
    drop(l);
    TABLE.live.fetch_sub(1, Ordering::Relaxed);
    if !retire {
        push_free(i as u32, slot);
    }
    // Dropped last: freeing a large graph takes time and needs no table access.
    drop(tensor);
    Ok(())
}

/// True if the raw handle value names a live handle.
pub(crate) fn is_live_raw(raw: usize) -> bool {
    raw != 0 && find(raw).is_some()
}

/// Marks a live handle as claimed; returns false if it already was.
pub(crate) fn claim(h: *const ds_array, what: &str) -> Result<bool> {
    if h.is_null() {
        return Err(null(what));
    }
    let mut l = lock(h as usize).ok_or_else(|| bad_handle(what))?;
    let was = l.state & CLAIMED != 0;
    l.state |= CLAIMED;
    Ok(!was)
}

/// Number of live handles.
pub(crate) fn live() -> usize {
    TABLE.live.load(Ordering::Relaxed)
}

/// Test hooks (not part of the C ABI).
#[doc(hidden)]
pub mod testing {
    use super::*;

    /// Sets the generation of the slot behind the live handle `h` to `steps` frees before the
    /// slot retires, and returns the handle under its new generation (the old one is gone).
    pub fn age_slot(h: *mut ds_array, steps: u32) -> Option<*mut ds_array> {
        let mut l = lock(h as usize)?;
        let (i, _) = decode(h as usize);
        let generation = first_generation(i as u32).wrapping_sub(steps);
        l.state = (l.state & 0xffff_ffff) | u64::from(generation) << 32;
        Some(encode(i as u32, generation))
    }

    /// The slot number of a handle.
    pub fn slot_of(h: *const ds_array) -> usize {
        decode(h as usize).0
    }
}
