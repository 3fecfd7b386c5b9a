//! The object registry of the Fortran layer (`ds_object_*`, src/ffi/binding.rs) keeps its
//! retired and quarantine queues per thread: an object one thread retired or quarantined is
//! evicted only by that thread's later retirements or releases, never by another thread's.
//!
//! Eviction releases (retired) or frees (quarantined) the object, and the thread that queued
//! it may still be using it: the Fortran module quarantines an object before it installs the
//! object's tomb token, and a program may still `deallocate` a released result by name. With one
//! queue per process, an OpenMP thread freed objects another thread had just quarantined
//! (f_test_openmp: glibc "double free" / "malloc(): unaligned fastbin chunk" in `bind` or
//! `release_adopted`). This test drives that interleaving deterministically with fake objects
//! (the registry never dereferences an object's address).
//!
//! One test function: the registry is process-wide and the harness runs tests on several threads.

use std::ffi::c_void;
use std::sync::mpsc;
use std::thread;

use diffstruc::ffi::binding::{
    ds_object_live, ds_object_of_token, ds_object_quarantine, ds_object_register, ds_object_retire,
    ds_object_retired_oldest, ds_object_unregister,
};
use diffstruc::ffi::ds_status;

/// More objects than one thread's queues keep (4096 quarantined, 64 retired).
const QUARANTINED: usize = 5000;
const RETIRED: usize = 200;

/// Distinct addresses (the elements of a vector kept alive, and never grown, for as long as
/// they are used) standing for objects and tokens.
fn blocks(n: usize) -> Vec<[u64; 2]> {
    vec![[0; 2]; n]
}

fn at(b: &[u64; 2]) -> usize {
    b.as_ptr() as usize
}

fn ptr(a: usize) -> *const c_void {
    a as *const c_void
}

fn ok(s: ds_status) {
    assert_eq!(s, ds_status::DS_OK);
}

fn register(object: usize, token: usize) -> u64 {
    let mut serial = 0;
    ok(ds_object_register(ptr(object), ptr(token), &mut serial));
    serial
}

/// Quarantines `object` under `tomb`: the evicted object, if any.
fn quarantine(object: usize, serial: u64, tomb: usize) -> Option<usize> {
    let mut evicted = std::ptr::null_mut();
    ok(ds_object_quarantine(
        ptr(object),
        serial,
        ptr(tomb),
        &mut evicted,
    ));
    (!evicted.is_null()).then_some(evicted as usize)
}

/// Retires `object`: every object evicted (the first call, then calls with no object until
/// none is evicted, as the Fortran module does).
fn retire(object: usize, serial: u64) -> Vec<usize> {
    let mut out = Vec::new();
    let mut evicted = std::ptr::null_mut();
    ok(ds_object_retire(ptr(object), serial, 64, &mut evicted));
    while !evicted.is_null() {
        out.push(evicted as usize);
        ok(ds_object_retire(std::ptr::null(), 0, 0, &mut evicted));
    }
    out
}

/// Every object `ds_object_retired_oldest` gives out until it gives none.
fn retired_oldest_all() -> Vec<usize> {
    let mut out = Vec::new();
    loop {
        let mut evicted = std::ptr::null_mut();
        ok(ds_object_retired_oldest(&mut evicted));
        if evicted.is_null() {
            return out;
        }
        out.push(evicted as usize);
    }
}

/// (object, serial, state) the token at `token` speaks for; state 1 live, 2 quarantined,
/// 3 retired.
fn of_token(token: usize) -> (usize, u64, i32) {
    let (mut object, mut serial, mut state) = (std::ptr::null_mut(), 0, 0);
    ok(ds_object_of_token(
        ptr(token),
        &mut object,
        &mut serial,
        &mut state,
    ));
    (object as usize, serial, state)
}

fn live(object: usize, serial: u64) -> bool {
    let mut l = false;
    ok(ds_object_live(ptr(object), serial, &mut l));
    l
}

#[test]
fn threads_evict_only_what_they_queued() {
    // thread A: quarantines X and retires Y, then waits while the main thread fills its own
    // queues well past their limits; then A finds X and Y as it left them
    let (to_main, from_a) = mpsc::channel::<(usize, usize)>();
    let (to_a, from_main) = mpsc::channel::<()>();
    let a = thread::spawn(move || {
        let b = blocks(5);
        let (x, x_token, x_tomb, y, y_token) =
            (at(&b[0]), at(&b[1]), at(&b[2]), at(&b[3]), at(&b[4]));
        let sx = register(x, x_token);
        let sy = register(y, y_token);
        assert_eq!(quarantine(x, sx, x_tomb), None);
        assert_eq!(retire(y, sy), Vec::<usize>::new());
        to_main.send((x, y)).unwrap();
        from_main.recv().unwrap();
        // X is still in quarantine under its tomb: a late deallocate by name finds it there
        assert_eq!(
            of_token(x_tomb),
            (x, sx, 2),
            "X was evicted by another thread"
        );
        // Y is still retired, contents intact: the program may still use it by name
        assert_eq!(
            of_token(y_token),
            (y, sy, 3),
            "Y was evicted by another thread"
        );
        assert!(live(y, sy));
        // A's own release of its retired objects gives Y (and only Y)
        assert_eq!(retired_oldest_all(), vec![y]);
        // the late deallocate of X: unregistered from A's quarantine
        let mut state = 0;
        ok(ds_object_unregister(ptr(x_tomb), &mut state));
        assert_eq!(state, 2);
        // Y released as the Fortran module does: quarantined (it was live again), then gone
        assert_eq!(quarantine(y, sy, x_tomb), None);
        ok(ds_object_unregister(ptr(x_tomb), &mut state));
        assert_eq!(state, 2);
        drop(b);
    });
    let (x, y) = from_a.recv().unwrap();

    // the main thread quarantines and retires many objects of its own
    let objects = blocks(QUARANTINED + RETIRED);
    let tokens = blocks(QUARANTINED + RETIRED);
    let tombs = blocks(QUARANTINED);
    let mut evicted = Vec::new();
    for i in 0..QUARANTINED {
        let s = register(at(&objects[i]), at(&tokens[i]));
        evicted.extend(quarantine(at(&objects[i]), s, at(&tombs[i])));
    }
    // its own quarantine still works: the oldest of its own objects go, in order
    let own: Vec<usize> = (0..QUARANTINED - 4096).map(|i| at(&objects[i])).collect();
    assert!(
        !evicted.contains(&x),
        "the main thread evicted A's quarantined object"
    );
    assert_eq!(evicted, own);
    let mut released = Vec::new();
    for i in QUARANTINED..QUARANTINED + RETIRED {
        let s = register(at(&objects[i]), at(&tokens[i]));
        released.extend(retire(at(&objects[i]), s));
    }
    released.extend(retired_oldest_all());
    assert!(
        !released.contains(&y),
        "the main thread released A's retired object"
    );
    let own: Vec<usize> = (QUARANTINED..QUARANTINED + RETIRED)
        .map(|i| at(&objects[i]))
        .collect();
    assert_eq!(released, own);

    to_a.send(()).unwrap();
    a.join().unwrap();

    // a thread that exits leaves its retired objects to the others
    let c = thread::spawn(|| {
        let b = blocks(2);
        let s = register(at(&b[0]), at(&b[1]));
        assert_eq!(retire(at(&b[0]), s), Vec::<usize>::new());
        (b, s)
    });
    let (b, s) = c.join().unwrap();
    assert_eq!(retired_oldest_all(), vec![at(&b[0])]);
    assert!(live(at(&b[0]), s));

    // clean up the main thread's entries
    for i in 0..QUARANTINED + RETIRED {
        let mut state = 0;
        ok(ds_object_unregister(ptr(at(&tokens[i])), &mut state));
        if (QUARANTINED - 4096..QUARANTINED).contains(&i) {
            ok(ds_object_unregister(ptr(at(&tombs[i])), &mut state));
            assert_eq!(state, 2);
        }
    }
    let mut state = 0;
    ok(ds_object_unregister(ptr(at(&b[1])), &mut state));
    assert_eq!(state, 1);
}
