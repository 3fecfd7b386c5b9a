//! Ownership of caller objects by graph nodes, for language layers (the Fortran module) whose
//! operation results are heap objects that the caller may never free itself.
//!
//! diffstruc's rule is that a temporary result consumed by an operation belongs to the consumer.
//! Here the consumer's node *adopts* the caller object: when the node is dropped or its graph is
//! nullified, the object's destructor is called, exactly once, unless the caller already released
//! the object's handle (which tells us the object is gone). Destructors run after the outermost
//! `ds_` call on the thread returns to its body's end, one after another from a queue: releasing
//! a graph of any depth never recurses through the caller.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;

use super::handle::{self, ds_array};
use super::status::{boundary, ds_status, write_out};

/// Destructor of an adopted caller object; called with the object pointer given to
/// `ds_array_adopt`.
pub type ds_destroy_fn = Option<unsafe extern "C" fn(object: *mut c_void)>;

struct Pending {
    alive: Alive,
    object: *mut c_void,
    destroy: unsafe extern "C" fn(*mut c_void),
}

/// How to tell, when its owner is released, that an adopted object still exists.
enum Alive {
    /// while this raw handle (held by the object) is live
    Handle(usize),
    /// while the object is registered with this serial (`ds_object_register`)
    Serial(u64),
    /// always (caller data owned by a node)
    Always,
}

/// A hook that calls `destroy(object)` at the end of the outermost `ds_` call on the thread that
/// runs it (the release of a node's caller data).
pub(crate) fn deferred(
    object: *mut c_void,
    destroy: unsafe extern "C" fn(*mut c_void),
) -> crate::core::ReleaseHook {
    let p = Pending {
        alive: Alive::Always,
        object,
        destroy,
    };
    Box::new(move || enqueue(p))
}

// SAFETY: the object pointer is only passed back to the caller's destructor; the caller's
// thread-safety contract (one graph, one thread at a time) covers its use.
unsafe impl Send for Pending {}

/// The calling thread's nesting of `ds_` calls, and whether destructors may be queued: what
/// every call looks at, in one thread-local without a destructor (always accessible, one
/// lookup per call in a shared library).
struct Calls {
    depth: Cell<u32>,
    /// set when a destructor is queued, cleared when the queue is drained
    queued: Cell<bool>,
}

thread_local! {
    static QUEUE: RefCell<Vec<Pending>> = const { RefCell::new(Vec::new()) };
    static CALLS: Calls = const {
        Calls {
            depth: Cell::new(0),
            queued: Cell::new(false),
        }
    };
}

fn enqueue(p: Pending) {
    // During thread teardown the queue may be gone: the object then simply leaks.
    if QUEUE.try_with(|q| q.borrow_mut().push(p)).is_ok() {
        CALLS.with(|c| c.queued.set(true));
    }
}

/// Marks entry into an exported function; returns true for the outermost call on this thread.
pub(crate) fn enter() -> bool {
    CALLS.with(|c| {
        let d = c.depth.get() + 1;
        c.depth.set(d);
        d == 1
    })
}

/// Marks exit; the outermost exit runs the queued destructors.
pub(crate) fn leave(outermost: bool) {
    CALLS.with(|c| {
        if outermost && c.queued.get() {
            drain(c);
        }
        c.depth.set(c.depth.get() - 1);
    })
}

fn drain(c: &Calls) {
    // the RefCell borrow ends inside the closure, so destructors may enqueue more work
    while let Some(p) = QUEUE.with(|q| q.borrow_mut().pop()) {
        let alive = match p.alive {
            Alive::Handle(h) => handle::is_live_raw(h),
            Alive::Serial(s) => super::binding::object_live(p.object as usize, s),
            Alive::Always => true,
        };
        if alive {
            // SAFETY: the caller registered this destructor for this object, and its handle is
            // still live, so the object has not been destroyed yet.
            unsafe { (p.destroy)(p.object) };
        }
    }
    c.queued.set(false);
}

/// Claims the caller object that holds handle `obj` for the array `owner`: when `owner` is
/// freed or its graph nullified, `destroy(object)` is called (once), unless `obj` has been freed
/// by then. An object can be claimed only once: `*adopted` is false (and nothing changes) if it
/// was claimed before.
#[no_mangle]
pub extern "C" fn ds_array_adopt(
    owner: *const ds_array,
    obj: *const ds_array,
    object: *mut c_void,
    destroy: ds_destroy_fn,
    adopted: *mut bool,
) -> ds_status {
    boundary(|| {
        super::status::non_null(object, "object")?;
        super::status::non_null(adopted, "adopted")?;
        let destroy = destroy.ok_or_else(|| {
            crate::core::Error::new(crate::core::ErrorKind::Null, "destroy is NULL")
        })?;
        let owner = handle::get(owner, "owner")?;
        let claimed = handle::claim(obj, "obj")?;
        if claimed {
            let p = Pending {
                alive: Alive::Handle(obj as usize),
                object,
                destroy,
            };
            super::any::each!(owner, o => o.on_release(Box::new(move || enqueue(p))));
        }
        write_out(adopted, claimed, "adopted")
    })
}

/// Gives the registered heap object `object` (see `ds_object_register`) to the array `owner`:
/// when `owner` is freed or its graph nullified, `destroy(object)` is called once, unless the
/// object is no longer registered with serial `serial` by then (released by someone else).
#[no_mangle]
pub extern "C" fn ds_array_adopt_object(
    owner: *const ds_array,
    object: *mut c_void,
    serial: u64,
    destroy: ds_destroy_fn,
) -> ds_status {
    boundary(|| {
        super::status::non_null(object, "object")?;
        let destroy = destroy.ok_or_else(|| {
            crate::core::Error::new(crate::core::ErrorKind::Null, "destroy is NULL")
        })?;
        let owner = handle::get(owner, "owner")?;
        let p = Pending {
            alive: Alive::Serial(serial),
            object,
            destroy,
        };
        super::any::each!(owner, o => o.on_release(Box::new(move || enqueue(p))));
        Ok(())
    })
}

/// Writes `*live = true` if `a` is a live handle (created and not yet freed). Never fails for
/// a stale or unknown handle: that is what it tests.
#[no_mangle]
pub extern "C" fn ds_array_is_live(a: *const ds_array, live: *mut bool) -> ds_status {
    boundary(|| write_out(live, handle::is_live_raw(a as usize), "live"))
}

/// Claims the caller object holding handle `a` without attaching it to a node, for callers
/// that keep ownership themselves (a Fortran variable assigned from a temporary result). Writes
/// `*claimed = false` if it was claimed before.
#[no_mangle]
pub extern "C" fn ds_array_claim(a: *const ds_array, claimed: *mut bool) -> ds_status {
    boundary(|| {
        super::status::non_null(claimed, "claimed")?;
        write_out(claimed, handle::claim(a, "a")?, "claimed")
    })
}
