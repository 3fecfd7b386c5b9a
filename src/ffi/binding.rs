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
//! * **Lending.** `ds_array_lend` hands an array's value buffer to a caller allocatable (zero
//!   copy, the caller then frees it with `free`), `ds_array_reclaim` takes it back.

use std::collections::{HashMap, VecDeque};
use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};

use super::any::{each, map, Elem};
use super::handle::{self, ds_array};
use super::status::{boundary, ds_status, non_null, write_out};
use crate::core::{Error, UserData};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// token address -> raw handle owned by the binding
static BINDINGS: LazyLock<Mutex<HashMap<usize, usize>>> = LazyLock::new(Default::default);

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

#[derive(Clone, Copy, PartialEq, Eq)]
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
}

struct Objects {
    /// object address -> entry
    map: HashMap<usize, Object>,
    /// token address -> object address
    by_token: HashMap<usize, usize>,
    /// retired objects, oldest first, with the bytes of values each keeps
    retired: VecDeque<(usize, usize)>,
    retired_bytes: usize,
    quarantine: VecDeque<usize>,
}

static OBJECTS: LazyLock<Mutex<Objects>> = LazyLock::new(|| {
    Mutex::new(Objects {
        map: HashMap::new(),
        by_token: HashMap::new(),
        retired: VecDeque::new(),
        retired_bytes: 0,
        quarantine: VecDeque::new(),
    })
});
static SERIAL: AtomicU64 = AtomicU64::new(1);
/// Most released objects kept in quarantine.
const QUARANTINE: usize = 4096;
/// Most retired objects kept with their contents, and most bytes of values they may keep.
const RETIRED: usize = 64;
const RETIRED_BYTES: usize = 16 << 20;

impl Objects {
    fn forget(&mut self, object: usize) -> Option<Object> {
        let e = self.map.remove(&object)?;
        self.by_token.remove(&e.token);
        match e.state {
            ObjectState::Retired => {
                if let Some(i) = self.retired.iter().position(|&(a, _)| a == object) {
                    if let Some((_, b)) = self.retired.remove(i) {
                        self.retired_bytes -= b;
                    }
                }
            }
            ObjectState::Quarantined => self.quarantine.retain(|&a| a != object),
            ObjectState::Live => {}
        }
        Some(e)
    }
    /// Takes the oldest retired object out of the retired queue (live again: the caller
    /// quarantines it next); NULL when none is retired.
    fn pop_retired(&mut self) -> *mut c_void {
        match self.retired.pop_front() {
            Some((a, b)) => {
                self.retired_bytes -= b;
                if let Some(e) = self.map.get_mut(&a) {
                    e.state = ObjectState::Live;
                }
                std::ptr::with_exposed_provenance_mut(a)
            }
            None => std::ptr::null_mut(),
        }
    }

    /// The entry of `object` if its serial is `serial` (0: whatever its serial).
    fn get(&self, object: usize, serial: u64) -> Option<Object> {
        self.map
            .get(&object)
            .copied()
            .filter(|e| serial == 0 || e.serial == serial)
    }
}

fn state_code(s: ObjectState) -> i32 {
    match s {
        ObjectState::Live => 1,
        ObjectState::Quarantined => 2,
        ObjectState::Retired => 3,
    }
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
        let mut o = lock(&OBJECTS);
        o.forget(object as usize);
        if let Some(old) = o.by_token.get(&(token as usize)).copied() {
            o.forget(old);
        }
        o.map.insert(
            object as usize,
            Object {
                serial: s,
                state: ObjectState::Live,
                token: token as usize,
            },
        );
        o.by_token.insert(token as usize, object as usize);
        write_out(serial, s, "serial")
    })
}

/// Moves the registration of the object spoken for by the token at `old` to the token at
/// `new` (the object got a new token).
#[no_mangle]
pub extern "C" fn ds_object_retoken(old: *const c_void, new: *const c_void) -> ds_status {
    boundary(|| {
        non_null(new, "new")?;
        let mut o = lock(&OBJECTS);
        if let Some(object) = o.by_token.remove(&(old as usize)) {
            if let Some(e) = o.map.get_mut(&object) {
                e.token = new as usize;
            }
            o.by_token.insert(new as usize, object);
        }
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
        let o = lock(&OBJECTS);
        let found = o
            .by_token
            .get(&(token as usize))
            .and_then(|&a| o.map.get(&a).map(|e| (a, *e)));
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
        let mut o = lock(&OBJECTS);
        let was = match o.by_token.get(&(token as usize)).copied() {
            Some(object) => o.forget(object).map_or(0, |e| state_code(e.state)),
            None => 0,
        };
        if !state.is_null() {
            write_out(state, was, "state")?;
        }
        Ok(())
    })
}

/// True if `object` is a registered object with serial `serial` whose contents are intact
/// (live or retired).
pub(crate) fn object_live(object: usize, serial: u64) -> bool {
    lock(&OBJECTS)
        .get(object, serial)
        .is_some_and(|e| e.state != ObjectState::Quarantined)
}

/// Writes whether `object` is a registered object with serial `serial` whose contents are
/// intact (live, or retired but not yet released). Serial 0 (never given out) matches any
/// serial: whether the address is that of an intact registered object, safe to read.
#[no_mangle]
pub extern "C" fn ds_object_live(object: *const c_void, serial: u64, live: *mut bool) -> ds_status {
    boundary(|| write_out(live, object_live(object as usize, serial), "live"))
}

/// Retires a live object whose owner gave it up but which the program may still use: it keeps
/// its contents (`bytes` of values) for a while. When more than a few objects, or too many
/// bytes, are retired, the oldest is written to `*evicted` (the caller releases its contents and
/// quarantines it; call again with a NULL `object` until `*evicted` is NULL). Does nothing for
/// an object that is not live.
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
        if !object.is_null() {
            if let Some(e) = o.map.get_mut(&(object as usize)) {
                if e.serial == serial && e.state == ObjectState::Live {
                    e.state = ObjectState::Retired;
                    o.retired.push_back((object as usize, bytes));
                    o.retired_bytes += bytes;
                }
            }
        }
        let over =
            o.retired.len() > RETIRED || (o.retired_bytes > RETIRED_BYTES && o.retired.len() > 1);
        let out = if over {
            o.pop_retired()
        } else {
            std::ptr::null_mut()
        };
        write_out(evicted, out, "evicted")
    })
}

/// Writes the oldest retired object to `*evicted` (NULL when none is retired), whatever the
/// limits: the caller releases its contents and quarantines it, as for `ds_object_retire`.
/// Calling it until NULL releases every retired object now (the program promises it no longer
/// uses any of them by name).
#[no_mangle]
pub extern "C" fn ds_object_retired_oldest(evicted: *mut *mut c_void) -> ds_status {
    boundary(|| {
        non_null(evicted, "evicted")?;
        let out = lock(&OBJECTS).pop_retired();
        write_out(evicted, out, "evicted")
    })
}

/// Moves a live or retired object to the quarantine (its contents must have been released),
/// its token now the one at `token` (a small one that only speaks for it). When the
/// quarantine is full, the oldest object in it is forgotten and written to `*evicted` (the
/// caller frees it now); otherwise `*evicted` is NULL. Does nothing (NULL) if the object is not
/// registered with this serial.
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
        let mut out = std::ptr::null_mut();
        if let Some(e) = o.get(object as usize, serial) {
            if e.state != ObjectState::Quarantined {
                if e.state == ObjectState::Retired {
                    if let Some(i) = o.retired.iter().position(|&(a, _)| a == object as usize) {
                        if let Some((_, b)) = o.retired.remove(i) {
                            o.retired_bytes -= b;
                        }
                    }
                }
                o.by_token.remove(&e.token);
                o.by_token.insert(token as usize, object as usize);
                o.map.insert(
                    object as usize,
                    Object {
                        serial,
                        state: ObjectState::Quarantined,
                        token: token as usize,
                    },
                );
                o.quarantine.push_back(object as usize);
                if o.quarantine.len() > QUARANTINE {
                    if let Some(a) = o.quarantine.pop_front() {
                        o.forget(a);
                        out = std::ptr::with_exposed_provenance_mut(a);
                    }
                }
            }
        }
        write_out(evicted, out, "evicted")
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
