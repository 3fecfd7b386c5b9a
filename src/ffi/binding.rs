//! Support for language layers whose objects the compiler copies bitwise (the Fortran module).
//!
//! A Fortran `array_type` can be copied by the compiler without any hook (`allocate(source=)`,
//! intrinsic assignment of a derived type that contains it, function results, array
//! assignment), and its final procedure may run on a copy, on a temporary, several times or not
//! at all. So an object cannot own a handle by holding it. Instead:
//!
//! * **Bindings.** An object owns a handle when the *binding table* says so: the key is the
//!   address of a small allocatable component of the object (its *token*), which every deep
//!   copy the compiler makes gets afresh and every move keeps. `ds_binding_set` gives a handle
//!   to a token, `ds_binding_release` frees it, `ds_binding_owner` tells a copy (which holds the
//!   same handle value under another token) from the owner. A copy never frees anything; an
//!   owner that vanished without its final procedure leaves an entry behind, which is freed when
//!   the allocator gives its token address to another binding.
//! * **Objects.** Heap objects that the layer allocated itself (operation results) are
//!   registered with a serial number and the address of their token: `ds_object_live` tells
//!   whether a pointer still names that object, and only that token can unregister it, so that
//!   an object released by its owner and by the program is released once. A released object
//!   can be retired (contents kept for a while) or parked in a bounded *quarantine*, so that a
//!   late use or release by the program finds a valid object.
//! * **Queues per thread.** The retired and quarantine queues belong to the thread that put the
//!   object there, and only that thread evicts from them ("for a while" means: until that
//!   thread's later retirements or releases push the object out). Evicting releases or frees
//!   the object, and the thread that queued it may still be using it: the program by name (a
//!   late `deallocate`), or the Fortran module itself, which quarantines an object before it
//!   installs the object's tomb token. With one queue per process, a thread could free an object
//!   that another thread had just quarantined (glibc heap corruption under OpenMP). The entries
//!   themselves stay in one table, so any thread may still look an object up, unregister it or
//!   move it to its own queue (a graph handed over to another thread). A thread's queues go to
//!   the next thread that starts using the registry after it exits.
//! * **Lending.** `ds_array_lend` hands an array's value buffer to a caller allocatable (zero
//!   copy, the caller then frees it with `free`), `ds_array_reclaim` takes it back.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::ffi::c_void;
use std::hash::BuildHasherDefault;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};

use super::any::{each, map, Elem};
use super::handle::{self, ds_array};
use super::status::{boundary, ds_status, non_null, write_out};
use crate::core::small::PtrHasher;
use crate::core::{Error, UserData};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// token address -> raw handle owned by the binding
static BINDINGS: LazyLock<Mutex<AddressMap<usize>>> = LazyLock::new(Default::default);

/// Gives `handle` to the binding of `token`: from now on the handle belongs to the table and is
/// freed by `ds_binding_release`. A different handle left under the same token by an object
/// that vanished without releasing it is freed.
#[no_mangle]
pub extern "C" fn ds_binding_set(token: *const c_void, a: *mut ds_array) -> ds_status {
    boundary(|| {
        non_null(token, "token")?;
        handle::get(a, "a")?;
        let old = lock(&BINDINGS).insert(token as usize, a as usize);
        match old {
            Some(h) if h != a as usize => {
                let _ = handle::remove(std::ptr::without_provenance(h), "stale binding");
            }
            _ => {}
        }
        Ok(())
    })
}

/// Frees the handle bound to `token` if it is `a` (writes `*released = true`); does nothing
/// for a token that does not own `a` (a copy's).
#[no_mangle]
pub extern "C" fn ds_binding_release(
    token: *const c_void,
    a: *const ds_array,
    released: *mut bool,
) -> ds_status {
    boundary(|| {
        let owned = take(token, a);
        if owned {
            handle::remove(a, "a")?;
        }
        if !released.is_null() {
            write_out(released, owned, "released")?;
        }
        Ok(())
    })
}

/// Frees whatever handle is bound to `token` (for a final procedure, which may not read the
/// handle itself: a compiler may pass it an object it has partly freed already).
#[no_mangle]
pub extern "C" fn ds_binding_drop(token: *const c_void) -> ds_status {
    boundary(|| {
        let h = lock(&BINDINGS).remove(&(token as usize));
        if let Some(h) = h {
            handle::remove(std::ptr::without_provenance(h), "binding")?;
        }
        Ok(())
    })
}

/// Removes the binding of `token` to `a` without freeing the handle, which then belongs to the
/// caller (`*taken = true`). Nothing changes if `token` does not own `a`.
#[no_mangle]
pub extern "C" fn ds_binding_take(
    token: *const c_void,
    a: *const ds_array,
    taken: *mut bool,
) -> ds_status {
    boundary(|| write_out(taken, take(token, a), "taken"))
}

fn take(token: *const c_void, a: *const ds_array) -> bool {
    let mut b = lock(&BINDINGS);
    if b.get(&(token as usize)) == Some(&(a as usize)) && !a.is_null() {
        b.remove(&(token as usize));
        true
    } else {
        false
    }
}

/// Writes whether `token` owns handle `a`.
#[no_mangle]
pub extern "C" fn ds_binding_owner(
    token: *const c_void,
    a: *const ds_array,
    owner: *mut bool,
) -> ds_status {
    boundary(|| {
        let b = lock(&BINDINGS);
        write_out(
            owner,
            !a.is_null() && b.get(&(token as usize)) == Some(&(a as usize)),
            "owner",
        )
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ObjectState {
    Live,
    /// given up by its owner, contents intact (the program may still use it)
    Retired,
    /// contents released, memory kept (a late release by the program finds it)
    Quarantined,
}

/// A registered object: its serial, state, and the address of its token (the only token that
/// may speak for it: a copy of the object has another).
#[derive(Clone, Copy)]
struct Object {
    serial: u64,
    state: ObjectState,
    token: usize,
    /// While retired or quarantined: the stamp of its entry in that queue (entries with
    /// another stamp are stale).
    stamp: u64,
    /// While retired: the bytes of values it keeps.
    bytes: usize,
    /// While retired or quarantined: the slot of the thread whose queue holds it.
    slot: usize,
}

impl Object {
    /// A live (registered, in use) object.
    fn live(serial: u64, token: usize) -> Object {
        Object {
            serial,
            state: ObjectState::Live,
            token,
            stamp: 0,
            bytes: 0,
            slot: 0,
        }
    }
}

/// A first-in first-out queue of objects in one state (retired, or quarantined) with O(1)
/// removal from the middle: an object leaves by changing state (or being forgotten), which
/// leaves its entry behind *stale*; stale entries are skipped when popped, and dropped all at
/// once when they outnumber the live ones (so the queue stays within twice its length, and
/// each stale entry costs O(1) amortised).
#[derive(Default)]
struct Queue {
    /// (object address, stamp), oldest first; some stale
    entries: VecDeque<(usize, u64)>,
    /// entries that are not stale
    len: usize,
}

/// Stale entries tolerated beyond the live ones before a queue is compacted.
const STALE_SLACK: usize = 32;

/// `HashMap` keyed by an address (SipHash took a fair part of the registry's time).
type AddressMap<V> = HashMap<usize, V, BuildHasherDefault<PtrHasher>>;

/// Capacities of the registry's queues.
#[derive(Clone, Copy)]
struct Limits {
    /// most released objects kept in quarantine
    quarantine: usize,
    /// most retired objects kept with their contents
    retired: usize,
    /// most bytes of values retired objects may keep (beyond one object)
    retired_bytes: usize,
}

/// The queues of one thread (its slot): the objects it retired or quarantined, which only it
/// evicts.
#[derive(Default)]
struct Queues {
    /// retired objects, oldest first (bytes of values each keeps: in its entry)
    retired: Queue,
    retired_bytes: usize,
    quarantine: Queue,
}

struct Objects {
    /// object address -> entry
    map: AddressMap<Object>,
    /// token address -> object address
    by_token: AddressMap<usize>,
    /// the queues of each slot (see `ThreadSlot`)
    queues: Vec<Queues>,
    /// slots of threads that have exited (their queues wait for the next new thread)
    free_slots: Vec<usize>,
    /// stamp of the next queue entry
    stamp: u64,
    limits: Limits,
}

static OBJECTS: LazyLock<Mutex<Objects>> =
    LazyLock::new(|| Mutex::new(Objects::new(Limits::from_env())));
static SERIAL: AtomicU64 = AtomicU64::new(1);
/// Most released objects kept in quarantine (per thread).
const QUARANTINE: usize = 4096;
/// Most retired objects kept with their contents, and most bytes of values they may keep (per
/// thread).
const RETIRED: usize = 64;
const RETIRED_BYTES: usize = 16 << 20;

impl Limits {
    /// The capacities: the defaults, or for tests `DIFFSTRUC_OBJECT_QUEUES=<quarantine>,<retired>`
    /// read at the first use of the registry (small queues make eviction frequent).
    fn from_env() -> Limits {
        let mut l = Limits {
            quarantine: QUARANTINE,
            retired: RETIRED,
            retired_bytes: RETIRED_BYTES,
        };
        if let Ok(v) = std::env::var("DIFFSTRUC_OBJECT_QUEUES") {
            let mut n = v.split(',').map(|x| x.trim().parse::<usize>().ok());
            if let Some(Some(q)) = n.next() {
                l.quarantine = q;
            }
            if let Some(Some(r)) = n.next() {
                l.retired = r;
            }
        }
        l
    }
}

/// No slot yet (or the thread is exiting).
const NO_SLOT: usize = usize::MAX;

/// The calling thread's slot in the registry: the index of its queues, taken when the thread
/// first retires or quarantines an object, and given back when the thread exits (the next
/// thread that takes the slot inherits what is left in its queues: nobody else evicts from
/// them meanwhile).
struct ThreadSlot(Cell<usize>);

impl Drop for ThreadSlot {
    fn drop(&mut self) {
        let s = self.0.replace(NO_SLOT);
        if s != NO_SLOT {
            lock(&OBJECTS).free_slots.push(s);
        }
    }
}

thread_local! {
    static SLOT: ThreadSlot = const { ThreadSlot(Cell::new(NO_SLOT)) };
}

/// The calling thread's slot, taken now if it has none; None while the thread is exiting (its
/// slot given back already).
fn thread_slot(o: &mut Objects) -> Option<usize> {
    SLOT.try_with(|s| {
        if s.0.get() == NO_SLOT {
            s.0.set(o.new_slot());
        }
        s.0.get()
    })
    .ok()
}

impl Objects {
    fn new(limits: Limits) -> Self {
        Objects {
            map: AddressMap::default(),
            by_token: AddressMap::default(),
            queues: Vec::new(),
            free_slots: Vec::new(),
            stamp: 0,
            limits,
        }
    }

    /// A slot for a thread: one given back by a thread that exited, or a new one.
    fn new_slot(&mut self) -> usize {
        self.free_slots.pop().unwrap_or_else(|| {
            self.queues.push(Queues::default());
            self.queues.len() - 1
        })
    }

    /// The entries, and the queue of slot `slot` for objects in `state` (none for live
    /// objects).
    fn parts(
        &mut self,
        state: ObjectState,
        slot: usize,
    ) -> (&AddressMap<Object>, Option<&mut Queue>) {
        let q = match state {
            ObjectState::Live => None,
            ObjectState::Retired => Some(&mut self.queues[slot].retired),
            ObjectState::Quarantined => Some(&mut self.queues[slot].quarantine),
        };
        (&self.map, q)
    }

    /// Appends `object` (registered) to slot `slot`'s queue of `state` and puts it in that
    /// state.
    fn enqueue(&mut self, object: usize, state: ObjectState, slot: usize) {
        self.stamp += 1;
        let stamp = self.stamp;
        if let Some(e) = self.map.get_mut(&object) {
            e.state = state;
            e.stamp = stamp;
            e.slot = slot;
        }
        if let (_, Some(q)) = self.parts(state, slot) {
            q.entries.push_back((object, stamp));
            q.len += 1;
        }
    }

    /// Bookkeeping for `e` leaving the queue of its state (its entry there becomes stale; the
    /// caller changes or forgets the entry).
    fn leave(&mut self, e: &Object) {
        if e.state == ObjectState::Retired {
            self.queues[e.slot].retired_bytes -= e.bytes;
        }
        let state = e.state;
        if let (map, Some(q)) = self.parts(state, e.slot) {
            q.len -= 1;
            if q.entries.len() > 2 * q.len + STALE_SLACK {
                q.entries.retain(|&(a, s)| is_current(map, a, s, state));
            }
        }
    }

    /// Removes and returns the oldest object in slot `slot`'s queue of `state` (its entry still
    /// in the map, in that state); stale entries before it are dropped.
    fn pop(&mut self, state: ObjectState, slot: usize) -> Option<usize> {
        let (map, q) = self.parts(state, slot);
        let q = q?;
        while let Some((a, s)) = q.entries.pop_front() {
            if is_current(map, a, s, state) {
                q.len -= 1;
                return Some(a);
            }
        }
        None
    }

    fn forget(&mut self, object: usize) -> Option<Object> {
        let e = self.map.remove(&object)?;
        self.by_token.remove(&e.token);
        self.leave(&e);
        Some(e)
    }

    /// Takes the oldest retired object out of slot `slot`'s retired queue (live again: the
    /// caller quarantines it next); None when none is retired.
    fn pop_retired(&mut self, slot: usize) -> Option<usize> {
        let a = self.pop(ObjectState::Retired, slot)?;
        if let Some(e) = self.map.get_mut(&a) {
            e.state = ObjectState::Live;
            self.queues[slot].retired_bytes -= e.bytes;
            e.bytes = 0;
        }
        Some(a)
    }

    /// See `ds_object_retired_oldest`: the oldest object retired by the thread of `slot` (None:
    /// a thread that is exiting), else by a thread that has exited.
    fn retired_oldest(&mut self, slot: Option<usize>) -> Option<usize> {
        if let Some(a) = slot.and_then(|s| self.pop_retired(s)) {
            return Some(a);
        }
        (0..self.free_slots.len()).find_map(|i| self.pop_retired(self.free_slots[i]))
    }

    /// The entry of `object` if its serial is `serial` (0: whatever its serial).
    fn get(&self, object: usize, serial: u64) -> Option<Object> {
        self.map
            .get(&object)
            .copied()
            .filter(|e| serial == 0 || e.serial == serial)
    }

    /// See `ds_object_register` (`serial`: the new serial).
    fn register(&mut self, object: usize, token: usize, serial: u64) {
        self.forget(object);
        if let Some(old) = self.by_token.get(&token).copied() {
            self.forget(old);
        }
        self.map.insert(object, Object::live(serial, token));
        self.by_token.insert(token, object);
    }

    /// See `ds_object_retoken`.
    fn retoken(&mut self, old: usize, new: usize) {
        if let Some(object) = self.by_token.remove(&old) {
            if let Some(e) = self.map.get_mut(&object) {
                e.token = new;
            }
            self.by_token.insert(new, object);
        }
    }

    /// The object the token at `token` speaks for, and its entry.
    fn of_token(&self, token: usize) -> Option<(usize, Object)> {
        self.by_token
            .get(&token)
            .and_then(|&a| self.map.get(&a).map(|e| (a, *e)))
    }

    /// See `ds_object_unregister`: the state the object was in.
    fn unregister(&mut self, token: usize) -> Option<ObjectState> {
        let object = self.by_token.get(&token).copied()?;
        self.forget(object).map(|e| e.state)
    }

    /// See `ds_object_live`.
    fn live(&self, object: usize, serial: u64) -> bool {
        self.get(object, serial)
            .is_some_and(|e| e.state != ObjectState::Quarantined)
    }

    /// See `ds_object_retire` (`object` 0: none), for the thread of `slot`: the evicted object.
    /// A thread that is exiting (no slot) keeps nothing: the object is evicted at once.
    fn retire(
        &mut self,
        slot: Option<usize>,
        object: usize,
        serial: u64,
        bytes: usize,
    ) -> Option<usize> {
        let live = object != 0
            && self
                .get(object, serial)
                .is_some_and(|e| e.serial == serial && e.state == ObjectState::Live);
        let Some(slot) = slot else {
            return live.then_some(object);
        };
        if live {
            if let Some(e) = self.map.get_mut(&object) {
                e.bytes = bytes;
            }
            self.queues[slot].retired_bytes += bytes;
            self.enqueue(object, ObjectState::Retired, slot);
        }
        let qs = &self.queues[slot];
        let n = qs.retired.len;
        let over =
            n > self.limits.retired || (qs.retired_bytes > self.limits.retired_bytes && n > 1);
        if over {
            self.pop_retired(slot)
        } else {
            None
        }
    }

    /// See `ds_object_quarantine`, for the thread of `slot`: the evicted object (forgotten). A
    /// thread that is exiting (no slot) keeps nothing: the object is evicted at once.
    fn quarantine(
        &mut self,
        slot: Option<usize>,
        object: usize,
        serial: u64,
        token: usize,
    ) -> Option<usize> {
        let e = self.get(object, serial)?;
        if e.state == ObjectState::Quarantined {
            return None;
        }
        let Some(slot) = slot else {
            self.forget(object);
            return Some(object);
        };
        self.by_token.remove(&e.token);
        self.by_token.insert(token, object);
        self.map.insert(object, Object::live(serial, token));
        self.leave(&e);
        self.enqueue(object, ObjectState::Quarantined, slot);
        if self.queues[slot].quarantine.len > self.limits.quarantine {
            let a = self.pop(ObjectState::Quarantined, slot)?;
            self.forget_popped(a);
            return Some(a);
        }
        None
    }

    /// Forgets an object just popped from its queue (its entry there is gone already).
    fn forget_popped(&mut self, object: usize) {
        if let Some(e) = self.map.remove(&object) {
            self.by_token.remove(&e.token);
            if e.state == ObjectState::Retired {
                self.queues[e.slot].retired_bytes -= e.bytes;
            }
        }
    }
}

/// Whether a queue entry `(object, stamp)` of a queue of `state` is current (not stale; stamps
/// are unique across all queues).
fn is_current(map: &AddressMap<Object>, object: usize, stamp: u64, state: ObjectState) -> bool {
    map.get(&object)
        .is_some_and(|e| e.state == state && e.stamp == stamp)
}

fn state_code(s: ObjectState) -> i32 {
    match s {
        ObjectState::Live => 1,
        ObjectState::Quarantined => 2,
        ObjectState::Retired => 3,
    }
}

fn address_ptr(a: Option<usize>) -> *mut c_void {
    a.map_or(std::ptr::null_mut(), std::ptr::with_exposed_provenance_mut)
}

/// Registers a heap object at `object`, spoken for by the token at `token`, and writes its new
/// serial number (never 0). An earlier entry for the same object or token (an object freed
/// without its token's final procedure) is forgotten.
#[no_mangle]
pub extern "C" fn ds_object_register(
    object: *const c_void,
    token: *const c_void,
    serial: *mut u64,
) -> ds_status {
    boundary(|| {
        non_null(object, "object")?;
        non_null(token, "token")?;
        let s = SERIAL.fetch_add(1, Ordering::Relaxed);
        lock(&OBJECTS).register(object as usize, token as usize, s);
        write_out(serial, s, "serial")
    })
}

/// Moves the registration of the object spoken for by the token at `old` to the token at
/// `new` (the object got a new token).
#[no_mangle]
pub extern "C" fn ds_object_retoken(old: *const c_void, new: *const c_void) -> ds_status {
    boundary(|| {
        non_null(new, "new")?;
        lock(&OBJECTS).retoken(old as usize, new as usize);
        Ok(())
    })
}

/// The object the token at `token` speaks for: writes its address, serial and state (0 and
/// NULL if the token speaks for none: the token of a variable, or of a copy).
#[no_mangle]
pub extern "C" fn ds_object_of_token(
    token: *const c_void,
    object: *mut *mut c_void,
    serial: *mut u64,
    state: *mut i32,
) -> ds_status {
    boundary(|| {
        let found = lock(&OBJECTS).of_token(token as usize);
        let (a, s, st) = found.map_or((0, 0, 0), |(a, e)| (a, e.serial, state_code(e.state)));
        write_out(object, std::ptr::with_exposed_provenance_mut(a), "object")?;
        write_out(serial, s, "serial")?;
        write_out(state, st, "state")
    })
}

/// Forgets the object spoken for by the token at `token`, whatever its state (its memory is
/// then the caller's to free). Writes the state it was in: 0 none, 1 live, 2 in quarantine,
/// 3 retired.
#[no_mangle]
pub extern "C" fn ds_object_unregister(token: *const c_void, state: *mut i32) -> ds_status {
    boundary(|| {
        let was = lock(&OBJECTS)
            .unregister(token as usize)
            .map_or(0, state_code);
        if !state.is_null() {
            write_out(state, was, "state")?;
        }
        Ok(())
    })
}

/// True if `object` is a registered object with serial `serial` whose contents are intact
/// (live or retired).
pub(crate) fn object_live(object: usize, serial: u64) -> bool {
    lock(&OBJECTS).live(object, serial)
}

/// Writes whether `object` is a registered object with serial `serial` whose contents are
/// intact (live, or retired but not yet released). Serial 0 (never given out) matches any
/// serial: whether the address is that of an intact registered object, safe to read.
#[no_mangle]
pub extern "C" fn ds_object_live(object: *const c_void, serial: u64, live: *mut bool) -> ds_status {
    boundary(|| write_out(live, object_live(object as usize, serial), "live"))
}

/// Retires a live object whose owner gave it up but which the program may still use: it keeps
/// its contents (`bytes` of values) for a while. When the calling thread has retired more than a
/// few objects, or too many bytes, the oldest of them is written to `*evicted` (the caller
/// releases its contents and quarantines it; call again with a NULL `object` until `*evicted` is
/// NULL). Objects retired by other threads are never evicted here. Does nothing for an object
/// that is not live.
#[no_mangle]
pub extern "C" fn ds_object_retire(
    object: *const c_void,
    serial: u64,
    bytes: usize,
    evicted: *mut *mut c_void,
) -> ds_status {
    boundary(|| {
        non_null(evicted, "evicted")?;
        let mut o = lock(&OBJECTS);
        let slot = thread_slot(&mut o);
        let out = o.retire(slot, object as usize, serial, bytes);
        drop(o);
        write_out(evicted, address_ptr(out), "evicted")
    })
}

/// Writes the oldest object retired by the calling thread (or, when it has none, by a thread
/// that has exited) to `*evicted` (NULL when there is none), whatever the limits: the caller
/// releases its contents and quarantines it, as for `ds_object_retire`. Calling it until NULL
/// releases every such retired object now (the program promises it no longer uses any of them
/// by name). Objects retired by other running threads are left to them.
#[no_mangle]
pub extern "C" fn ds_object_retired_oldest(evicted: *mut *mut c_void) -> ds_status {
    boundary(|| {
        non_null(evicted, "evicted")?;
        let mut o = lock(&OBJECTS);
        let slot = thread_slot(&mut o);
        let out = o.retired_oldest(slot);
        drop(o);
        write_out(evicted, address_ptr(out), "evicted")
    })
}

/// Moves a live or retired object to the calling thread's quarantine (its contents must have
/// been released), its token now the one at `token` (a small one that only speaks for it). When
/// that quarantine is full, the oldest object in it is forgotten and written to `*evicted` (the
/// caller frees it now); otherwise `*evicted` is NULL. Objects quarantined by other threads are
/// never evicted here. Does nothing (NULL) if the object is not registered with this serial.
#[no_mangle]
pub extern "C" fn ds_object_quarantine(
    object: *const c_void,
    serial: u64,
    token: *const c_void,
    evicted: *mut *mut c_void,
) -> ds_status {
    boundary(|| {
        non_null(evicted, "evicted")?;
        let mut o = lock(&OBJECTS);
        let slot = thread_slot(&mut o);
        let out = o.quarantine(slot, object as usize, serial, token as usize);
        drop(o);
        write_out(evicted, address_ptr(out), "evicted")
    })
}

fn lend<T: Elem>(a: *const ds_array, desc: *mut *mut T, data: *mut *mut T) -> ds_status {
    boundary(|| {
        non_null(data, "data")?;
        let desc = NonNull::new(desc)
            .ok_or_else(|| Error::new(crate::core::ErrorKind::Null, "desc is NULL"))?;
        let arr = handle::get(a, "a")?;
        let t = arr.typed::<T>("ds_array_lend")?;
        // SAFETY: the caller's contract documented at `ds_array_lend`.
        let p = unsafe { t.lend(desc)? };
        write_out(data, p, "data")
    })
}

/// Hands the value buffer of the `float` array `a` over to the caller's allocatable array whose
/// descriptor begins at `desc` (its first word is the base address): `*data` receives the
/// buffer, which the caller stores in the descriptor and from then on owns (it frees it with
/// `free`, or gives it back with `ds_array_reclaim`). While lent, the array reads its values
/// from the buffer only if the descriptor still holds it; otherwise its operations fail with
/// DS_ERR_ARGUMENT.
///
/// Errors: DS_ERR_ARGUMENT if the values are caller memory (`ds_array_wrap`) or already lent.
#[no_mangle]
pub extern "C" fn ds_array_lend(
    a: *const ds_array,
    desc: *mut *mut f32,
    data: *mut *mut f32,
) -> ds_status {
    lend(a, desc, data)
}

/// `ds_array_lend` for a `double` array.
#[no_mangle]
pub extern "C" fn ds_array_lend_f64(
    a: *const ds_array,
    desc: *mut *mut f64,
    data: *mut *mut f64,
) -> ds_status {
    lend(a, desc, data)
}

/// Takes back a buffer lent with `ds_array_lend`: `*kept = true` if the caller's descriptor
/// still held it (the caller must then clear its descriptor without freeing), false if the
/// caller had freed or replaced it (the array's values are then gone). For an array whose
/// values are not lent, `*kept = true` and nothing changes.
#[no_mangle]
pub extern "C" fn ds_array_reclaim(a: *const ds_array, kept: *mut bool) -> ds_status {
    boundary(|| write_out(kept, handle::get(a, "a")?.reclaim(), "kept"))
}

/// Writes whether the values of `a` are currently lent to a caller.
#[no_mangle]
pub extern "C" fn ds_array_is_lent(a: *const ds_array, lent: *mut bool) -> ds_status {
    boundary(|| write_out(lent, handle::get(a, "a")?.is_lent(), "lent"))
}

/// A new array standing for the same value as `a`: a copy of its values, flags, tag and
/// direction, linked to the same operation and inputs (gradients flow through it to them), with
/// no gradient of its own. The value assignment of diffstruc.
#[no_mangle]
pub extern "C" fn ds_array_clone(a: *const ds_array, out: *mut *mut ds_array) -> ds_status {
    boundary(|| {
        non_null(out, "out")?;
        let t = handle::get(a, "a")?;
        t.check_values()?;
        let c = map!(t, t => crate::core::alloc::guard(
            || format!("array_clone ({})", crate::ops::describe(&t)),
            || Ok(t.clone_node()),
        )?);
        write_out(out, handle::insert(c), "out")
    })
}

fn sync<T: Elem>(a: *const ds_array, data: *const T, len: usize, changed: *mut bool) -> ds_status {
    boundary(|| {
        non_null(data, "data")?;
        let arr = handle::get(a, "a")?;
        let t = arr.typed::<T>("ds_array_sync")?;
        // SAFETY: non-null; the caller provides `len` readable values.
        let d = unsafe { std::slice::from_raw_parts(data, len) };
        let c = t.sync_values(d)?;
        if !changed.is_null() {
            write_out(changed, c, "changed")?;
        }
        Ok(())
    })
}

/// Copies `len = E * S` `float` values from `data` into `a` if they differ from its values
/// (`*changed` says whether they did).
#[no_mangle]
pub extern "C" fn ds_array_sync(
    a: *const ds_array,
    data: *const f32,
    len: usize,
    changed: *mut bool,
) -> ds_status {
    sync(a, data, len, changed)
}

/// `ds_array_sync` for a `double` array.
#[no_mangle]
pub extern "C" fn ds_array_sync_f64(
    a: *const ds_array,
    data: *const f64,
    len: usize,
    changed: *mut bool,
) -> ds_status {
    sync(a, data, len, changed)
}

/// Attaches caller data to the array node (replacing and releasing any previous data):
/// `destroy(data)` runs once when the node is freed or the data replaced, at the end of the
/// outermost `ds_` call that released it (never in the middle of a computation, so it may call
/// `ds_` functions). NULL data removes it.
#[no_mangle]
pub extern "C" fn ds_array_set_user_data(
    a: *const ds_array,
    data: *mut c_void,
    destroy: Option<unsafe extern "C" fn(*mut c_void)>,
) -> ds_status {
    boundary(|| {
        let t = handle::get(a, "a")?;
        let user = (!data.is_null()).then(|| {
            let release = destroy.map(|f| super::ownership::deferred(data, f));
            UserData::new(data, release)
        });
        each!(t, t => t.set_user_data(user));
        Ok(())
    })
}

/// Writes the caller data attached to the array node (NULL if none).
#[no_mangle]
pub extern "C" fn ds_array_user_data(a: *const ds_array, data: *mut *mut c_void) -> ds_status {
    boundary(|| write_out(data, handle::get(a, "a")?.user_data(), "data"))
}

/// Makes `g` the gradient of `a` (same extents; reverse mode then accumulates into `g`'s
/// values), or removes the gradient if `g` is NULL.
///
/// Errors: DS_ERR_SHAPE for other extents; DS_ERR_GRAPH if `g` is computed from `a`.
#[no_mangle]
pub extern "C" fn ds_array_set_grad(a: *const ds_array, g: *const ds_array) -> ds_status {
    boundary(|| {
        let t = handle::get(a, "a")?;
        if g.is_null() {
            return each!(t, t => t.set_grad(None));
        }
        let g = handle::get(g, "g")?;
        match (t, g) {
            (super::any::Array::F32(t), super::any::Array::F32(g)) => t.set_grad(Some(g)),
            (super::any::Array::F64(t), super::any::Array::F64(g)) => t.set_grad(Some(g)),
            (t, g) => Err(super::any::mixed("ds_array_set_grad", &[&t, &g])),
        }
    })
}

#[cfg(test)]
mod tests {
    //! The object registry against a straightforward model of it (linear-scan queues, one pair
    //! per thread slot), with small capacities so that eviction happens often.
    use super::*;

    /// The registry as a model: queues scanned linearly on every removal.
    #[derive(Default)]
    struct Model {
        /// object -> (serial, state, token, slot of its queue)
        map: HashMap<usize, (u64, ObjectState, usize, usize)>,
        by_token: HashMap<usize, usize>,
        /// per slot
        retired: Vec<VecDeque<(usize, usize)>>,
        retired_bytes: Vec<usize>,
        quarantine: Vec<VecDeque<usize>>,
        /// slots of exited threads
        free_slots: Vec<usize>,
    }

    impl Model {
        fn with_slots(n: usize) -> Model {
            Model {
                retired: vec![VecDeque::new(); n],
                retired_bytes: vec![0; n],
                quarantine: vec![VecDeque::new(); n],
                ..Model::default()
            }
        }
        fn forget(&mut self, object: usize) -> Option<ObjectState> {
            let (_, state, token, slot) = self.map.remove(&object)?;
            self.by_token.remove(&token);
            self.leave(object, state, slot);
            Some(state)
        }
        fn leave(&mut self, object: usize, state: ObjectState, slot: usize) {
            match state {
                ObjectState::Retired => {
                    let q = &mut self.retired[slot];
                    let i = q.iter().position(|&(a, _)| a == object).unwrap();
                    let (_, b) = q.remove(i).unwrap();
                    self.retired_bytes[slot] -= b;
                }
                ObjectState::Quarantined => self.quarantine[slot].retain(|&a| a != object),
                ObjectState::Live => {}
            }
        }
        fn pop_retired(&mut self, slot: usize) -> Option<usize> {
            let (a, b) = self.retired[slot].pop_front()?;
            self.retired_bytes[slot] -= b;
            self.map.get_mut(&a).unwrap().1 = ObjectState::Live;
            Some(a)
        }
        fn retired_oldest(&mut self, slot: Option<usize>) -> Option<usize> {
            if let Some(a) = slot.and_then(|s| self.pop_retired(s)) {
                return Some(a);
            }
            let free = self.free_slots.clone();
            free.into_iter().find_map(|s| self.pop_retired(s))
        }
        fn get(&self, object: usize, serial: u64) -> Option<(u64, ObjectState, usize, usize)> {
            self.map
                .get(&object)
                .copied()
                .filter(|e| serial == 0 || e.0 == serial)
        }
        fn register(&mut self, object: usize, token: usize, serial: u64) {
            self.forget(object);
            if let Some(old) = self.by_token.get(&token).copied() {
                self.forget(old);
            }
            self.map
                .insert(object, (serial, ObjectState::Live, token, 0));
            self.by_token.insert(token, object);
        }
        fn retoken(&mut self, old: usize, new: usize) {
            if let Some(object) = self.by_token.remove(&old) {
                if let Some(e) = self.map.get_mut(&object) {
                    e.2 = new;
                }
                self.by_token.insert(new, object);
            }
        }
        fn unregister(&mut self, token: usize) -> Option<ObjectState> {
            let object = self.by_token.get(&token).copied()?;
            self.forget(object)
        }
        fn retire(
            &mut self,
            l: Limits,
            slot: Option<usize>,
            object: usize,
            serial: u64,
            bytes: usize,
        ) -> Option<usize> {
            let live = self
                .map
                .get(&object)
                .is_some_and(|e| e.0 == serial && e.1 == ObjectState::Live);
            let Some(slot) = slot else {
                // a thread that is exiting keeps nothing
                return live.then_some(object);
            };
            if live {
                let e = self.map.get_mut(&object).unwrap();
                e.1 = ObjectState::Retired;
                e.3 = slot;
                self.retired[slot].push_back((object, bytes));
                self.retired_bytes[slot] += bytes;
            }
            let n = self.retired[slot].len();
            if n > l.retired || (self.retired_bytes[slot] > l.retired_bytes && n > 1) {
                self.pop_retired(slot)
            } else {
                None
            }
        }
        fn quarantine(
            &mut self,
            l: Limits,
            slot: Option<usize>,
            object: usize,
            serial: u64,
            token: usize,
        ) -> Option<usize> {
            let e = self.get(object, serial)?;
            if e.1 == ObjectState::Quarantined {
                return None;
            }
            let Some(slot) = slot else {
                self.forget(object);
                return Some(object);
            };
            self.leave(object, e.1, e.3);
            self.by_token.remove(&e.2);
            self.by_token.insert(token, object);
            self.map
                .insert(object, (serial, ObjectState::Quarantined, token, slot));
            self.quarantine[slot].push_back(object);
            if self.quarantine[slot].len() > l.quarantine {
                let a = self.quarantine[slot].pop_front().unwrap();
                self.forget(a);
                return Some(a);
            }
            None
        }
    }

    const LIMITS: Limits = Limits {
        quarantine: 5,
        retired: 3,
        retired_bytes: 100,
    };

    /// A registry with `n` slots (0..n).
    fn with_slots(limits: Limits, n: usize) -> Objects {
        let mut o = Objects::new(limits);
        for i in 0..n {
            assert_eq!(o.new_slot(), i);
        }
        o
    }

    fn check_same(o: &Objects, m: &Model, objects: &[usize], tokens: &[usize]) {
        for &a in objects {
            let got = o.get(a, 0).map(|e| {
                let slot = if e.state == ObjectState::Live {
                    0
                } else {
                    e.slot
                };
                (e.serial, e.state, e.token, slot)
            });
            let want = m.get(a, 0).map(|e| {
                (
                    e.0,
                    e.1,
                    e.2,
                    if e.1 == ObjectState::Live { 0 } else { e.3 },
                )
            });
            assert_eq!(got, want, "entry of object {a}");
            assert_eq!(
                o.live(a, 0),
                m.get(a, 0).is_some_and(|e| e.1 != ObjectState::Quarantined)
            );
        }
        for &t in tokens {
            let got = o.of_token(t).map(|(a, e)| (a, e.serial, e.state));
            let want = m
                .by_token
                .get(&t)
                .and_then(|&a| m.map.get(&a).map(|e| (a, e.0, e.1)));
            assert_eq!(got, want, "object of token {t}");
        }
        let mut got: Vec<(usize, usize)> = o.by_token.iter().map(|(&t, &a)| (t, a)).collect();
        let mut want: Vec<(usize, usize)> = m.by_token.iter().map(|(&t, &a)| (t, a)).collect();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "token table");
        for (slot, qs) in o.queues.iter().enumerate() {
            assert_eq!(qs.retired.len, m.retired[slot].len(), "slot {slot}");
            assert_eq!(qs.retired_bytes, m.retired_bytes[slot], "slot {slot}");
            assert_eq!(qs.quarantine.len, m.quarantine[slot].len(), "slot {slot}");
            for q in [&qs.retired, &qs.quarantine] {
                assert!(
                    q.entries.len() <= 2 * q.len + STALE_SLACK + 1,
                    "stale entries pile up"
                );
            }
        }
    }

    /// A small xorshift generator (the sequence only needs to be varied and repeatable).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// Random operations from three threads (slots 0, 1, 2; slot 2's thread exits half-way,
    /// and now and then a call comes from a thread that is exiting: no slot).
    #[test]
    fn registry_matches_the_model() {
        let objects: Vec<usize> = (1..=12).map(|i| 0x1000 + 16 * i).collect();
        let tokens: Vec<usize> = (1..=20).map(|i| 0x9000 + 8 * i).collect();
        for seed in 1..=20u64 {
            let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ seed.wrapping_mul(0x9e37_79b9));
            let mut o = with_slots(LIMITS, 3);
            let mut m = Model::with_slots(3);
            let mut serial = 0u64;
            for step in 0..6000 {
                if step == 3000 {
                    o.free_slots.push(2);
                    m.free_slots.push(2);
                }
                let threads = if step < 3000 { 3 } else { 2 };
                let slot = match rng.next(16) {
                    0 => None,
                    _ => Some(rng.next(threads)),
                };
                let a = objects[rng.next(objects.len())];
                let t = tokens[rng.next(tokens.len())];
                // the object's serial mostly, sometimes 0 or a wrong one
                let s = match rng.next(8) {
                    0 => 0,
                    1 => serial + 1,
                    _ => m.map.get(&a).map_or(0, |e| e.0),
                };
                match rng.next(7) {
                    0 => {
                        serial += 1;
                        o.register(a, t, serial);
                        m.register(a, t, serial);
                    }
                    1 => {
                        let t2 = tokens[rng.next(tokens.len())];
                        o.retoken(t, t2);
                        m.retoken(t, t2);
                    }
                    2 => assert_eq!(o.unregister(t), m.unregister(t)),
                    3 => {
                        let bytes = 10 * rng.next(6);
                        let a = if rng.next(4) == 0 { 0 } else { a };
                        assert_eq!(
                            o.retire(slot, a, s, bytes),
                            m.retire(LIMITS, slot, a, s, bytes)
                        );
                    }
                    4 => assert_eq!(o.retired_oldest(slot), m.retired_oldest(slot)),
                    _ => assert_eq!(
                        o.quarantine(slot, a, s, t),
                        m.quarantine(LIMITS, slot, a, s, t)
                    ),
                }
                check_same(&o, &m, &objects, &tokens);
            }
        }
    }

    /// The interleaving that corrupted the heap under OpenMP: thread A quarantines an object
    /// (the Fortran module then installs its tomb token, and the program may still deallocate
    /// it by name) while thread B releases objects of its own. B's releases must not evict A's
    /// object, nor B's retirements A's retired one.
    #[test]
    fn threads_evict_only_their_own_objects() {
        let mut o = with_slots(LIMITS, 2);
        let (a, b) = (Some(0), Some(1));
        let obj = |i: usize| 0x1000 + 16 * i;
        let token = |i: usize| 0x5000 + 8 * i;
        let tomb = |i: usize| 0x9000 + 8 * i;
        for i in 1..=30 {
            o.register(obj(i), token(i), i as u64);
        }
        // A: object 1 quarantined, object 2 retired
        assert_eq!(o.quarantine(a, obj(1), 1, tomb(1)), None);
        assert_eq!(o.retire(a, obj(2), 2, 10), None);
        // B: more than its queues keep; only its own objects leave them, oldest first
        let mut evicted = Vec::new();
        for i in 3..=12 {
            evicted.extend(o.quarantine(b, obj(i), i as u64, tomb(i)));
        }
        assert_eq!(evicted, [obj(3), obj(4), obj(5), obj(6), obj(7)]);
        let mut released = Vec::new();
        for i in 13..=20 {
            released.extend(o.retire(b, obj(i), i as u64, 10));
        }
        while let Some(x) = o.retired_oldest(b) {
            released.push(x);
        }
        assert_eq!(released, (13..=20).map(obj).collect::<Vec<_>>());
        // A's objects are as A left them
        assert_eq!(
            o.of_token(tomb(1)).map(|(x, e)| (x, e.state)),
            Some((obj(1), ObjectState::Quarantined))
        );
        assert_eq!(
            o.of_token(token(2)).map(|(x, e)| (x, e.state)),
            Some((obj(2), ObjectState::Retired))
        );
        // B may still act on A's objects by name (a graph handed over): they leave A's queues
        assert_eq!(o.unregister(tomb(1)), Some(ObjectState::Quarantined));
        assert_eq!(o.quarantine(b, obj(2), 2, tomb(2)), Some(obj(8)));
        assert_eq!(o.queues[0].quarantine.len, 0);
        assert_eq!((o.queues[0].retired.len, o.queues[0].retired_bytes), (0, 0));
        assert_eq!(o.queues[1].quarantine.len, LIMITS.quarantine);
        // ... and evicts them as its own from then on
        for i in 21..=24 {
            assert_eq!(
                o.quarantine(b, obj(i), i as u64, tomb(i)),
                Some(obj(i - 12))
            );
        }
        assert_eq!(o.quarantine(b, obj(25), 25, tomb(25)), Some(obj(2)));
    }

    #[test]
    fn exited_threads_leave_their_queues_to_others() {
        let mut o = with_slots(LIMITS, 2);
        let obj = |i: usize| 0x1000 + 16 * i;
        for i in 1..=8 {
            o.register(obj(i), 0x5000 + 8 * i, i as u64);
        }
        assert_eq!(o.retire(Some(1), obj(1), 1, 10), None);
        assert_eq!(o.quarantine(Some(1), obj(2), 2, 0x9000), None);
        // slot 1's thread exits: a running thread may release its retired objects
        o.free_slots.push(1);
        assert_eq!(o.retired_oldest(Some(0)), Some(obj(1)));
        assert_eq!(o.retired_oldest(Some(0)), None);
        // a new thread takes the slot, and its quarantine with it
        assert_eq!(o.new_slot(), 1);
        assert_eq!(o.new_slot(), 2);
        for i in 3..=6 {
            assert_eq!(
                o.quarantine(Some(1), obj(i), i as u64, 0x9000 + 8 * i),
                None
            );
        }
        assert_eq!(o.quarantine(Some(1), obj(7), 7, 0x9100), Some(obj(2)));
        // a thread that is exiting (no slot) keeps nothing: evicted at once
        o.register(obj(9), 0x5100, 9);
        assert_eq!(o.retire(None, obj(9), 9, 10), Some(obj(9)));
        assert_eq!(o.get(obj(9), 9).map(|e| e.state), Some(ObjectState::Live));
        assert_eq!(o.quarantine(None, obj(9), 9, 0x9200), Some(obj(9)));
        assert!(o.get(obj(9), 0).is_none() && o.of_token(0x9200).is_none());
    }

    #[test]
    fn quarantine_evicts_the_oldest_once() {
        let mut o = with_slots(LIMITS, 1);
        let t = Some(0);
        let obj = |i: usize| 0x1000 + 16 * i;
        let tomb = |i: usize| 0x9000 + 8 * i;
        for i in 1..=7 {
            o.register(obj(i), 0x5000 + 8 * i, i as u64);
        }
        // quarantine 1..=5 (full), then forget 2 (in the middle)
        for i in 1..=5 {
            assert_eq!(o.quarantine(t, obj(i), i as u64, tomb(i)), None);
        }
        assert_eq!(o.unregister(tomb(2)), Some(ObjectState::Quarantined));
        assert!(o.get(obj(2), 0).is_none());
        // one more fits; the next evicts the oldest (1), then 3: 2 is not evicted again
        assert_eq!(o.quarantine(t, obj(6), 6, tomb(6)), None);
        assert_eq!(o.quarantine(t, obj(7), 7, tomb(7)), Some(obj(1)));
        assert!(o.get(obj(1), 0).is_none() && o.of_token(tomb(1)).is_none());
        o.register(obj(1), 0x5000 + 8, 8);
        assert_eq!(o.quarantine(t, obj(1), 8, tomb(1)), Some(obj(3)));
        // re-registered at a quarantined object's address: that object leaves the queue
        o.register(obj(4), 0x5000 + 32, 9);
        o.register(obj(2), 0x5000 + 16, 10);
        assert_eq!(o.quarantine(t, obj(2), 10, tomb(2)), None);
        assert_eq!(o.quarantine(t, obj(4), 9, tomb(4)), Some(obj(5)));
        assert_eq!(o.queues[0].quarantine.len, LIMITS.quarantine);
    }

    #[test]
    fn retired_objects_leave_in_order_within_the_budget() {
        let mut o = with_slots(LIMITS, 1);
        let t = Some(0);
        let obj = |i: usize| 0x1000 + 16 * i;
        for i in 1..=6 {
            o.register(obj(i), 0x5000 + 8 * i, i as u64);
        }
        assert_eq!(o.retire(t, obj(1), 1, 40), None);
        assert_eq!(o.retire(t, obj(2), 2, 40), None);
        // 2 quarantined straight from retirement: its bytes no longer count
        assert_eq!(o.quarantine(t, obj(2), 2, 0x9000), None);
        assert_eq!(o.queues[0].retired_bytes, 40);
        assert_eq!(o.retire(t, obj(3), 3, 50), None);
        // 140 bytes > 100: the oldest (1) goes, live again
        assert_eq!(o.retire(t, obj(4), 4, 50), Some(obj(1)));
        assert!(o.live(obj(1), 1) && o.get(obj(1), 1).unwrap().state == ObjectState::Live);
        assert_eq!(o.queues[0].retired_bytes, 100);
        // at the byte budget (not over it): the count decides
        assert_eq!(o.retire(t, obj(5), 5, 0), None);
        assert_eq!(o.retire(t, obj(6), 6, 0), Some(obj(3)));
        assert_eq!(o.retire(t, obj(1), 1, 0), Some(obj(4)));
        let mut order = Vec::new();
        while let Some(a) = o.retired_oldest(t) {
            order.push(a);
        }
        assert_eq!(order, [obj(5), obj(6), obj(1)]);
        assert_eq!((o.queues[0].retired.len, o.queues[0].retired_bytes), (0, 0));
    }

    #[test]
    fn stale_entries_are_compacted() {
        let mut o = with_slots(
            Limits {
                quarantine: 1 << 20,
                ..LIMITS
            },
            1,
        );
        let t = Some(0);
        for i in 0..10_000usize {
            o.register(0x1000 + 16 * i, 0x100_0000 + 8 * i, i as u64 + 1);
            o.quarantine(t, 0x1000 + 16 * i, i as u64 + 1, 0x200_0000 + 8 * i);
            if i % 10 != 0 {
                o.unregister(0x200_0000 + 8 * i);
            }
            let q = &o.queues[0].quarantine;
            assert!(q.entries.len() <= 2 * q.len + STALE_SLACK + 1);
        }
        assert_eq!(o.queues[0].quarantine.len, 1000);
        assert_eq!(o.pop(ObjectState::Quarantined, 0), Some(0x1000));
    }
}
