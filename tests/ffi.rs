//! The unsafe parts of the crate exercised from Rust through the C ABI, so that they also run
//! under the address sanitizer (`cargo +nightly test` with `-Zsanitizer=address`, the ctest
//! `rust_asan`): caller buffers used in place, zero-copy pointers, the handle table with stale
//! and invented handles, objects adopted by nodes, and custom-operation callbacks.
use std::ffi::{c_void, CStr};
use std::ptr::{null, null_mut};
use std::sync::Mutex;

use diffstruc::ffi::array::*;
use diffstruc::ffi::autodiff::*;
use diffstruc::ffi::custom::*;
use diffstruc::ffi::ops::*;
use diffstruc::ffi::ownership::*;
use diffstruc::ffi::status::*;
use diffstruc::ffi::{ds_array, ds_status};

/// The live counts are process-wide: these tests run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn ok(s: ds_status) {
    assert_eq!(s, ds_status::DS_OK, "{:?}", unsafe {
        CStr::from_ptr(ds_last_error())
    });
}

fn from(shape: &[i64], batch: i64, v: &[f32]) -> *mut ds_array {
    let mut a = null_mut();
    ok(ds_array_from_data(
        shape.as_ptr(),
        shape.len(),
        batch,
        v.as_ptr(),
        v.len(),
        &mut a,
    ));
    a
}

#[test]
fn wrapped_buffers_and_zero_copy_pointers() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut buf = vec![1.0f32, 2.0, 3.0, 4.0];
    let mut x = null_mut();
    ok(ds_array_wrap(
        [2].as_ptr(),
        1,
        2,
        buf.as_mut_ptr(),
        4,
        &mut x,
    ));
    ok(ds_array_set_flag(x, DS_FLAG_REQUIRES_GRAD, true));
    let mut y = null_mut();
    ok(ds_binary(DS_MUL, x, x, &mut y));
    let mut p = null_mut();
    ok(ds_array_data(y, &mut p));
    let yv = unsafe { std::slice::from_raw_parts(p, 4) };
    assert_eq!(yv, [1.0, 4.0, 9.0, 16.0]);
    ok(ds_grad_reverse(y, null(), 0));
    ok(ds_array_grad_data(x, &mut p));
    assert_eq!(
        unsafe { std::slice::from_raw_parts(p, 4) },
        [2.0, 4.0, 6.0, 8.0]
    );
    // the wrapped array reads the caller's buffer in place
    ok(ds_array_data(x, &mut p));
    assert_eq!(p, buf.as_mut_ptr());
    ok(ds_array_free(y));
    ok(ds_array_free(x));
    assert_eq!((ds_live_arrays(), ds_live_handles()), (0, 0));
    drop(buf);
}

#[test]
fn stale_invented_and_null_handles_are_refused() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let a = from(&[2], 1, &[1.0, 2.0]);
    ok(ds_array_free(a));
    let mut out = null_mut();
    assert_eq!(ds_array_free(a), ds_status::DS_ERR_HANDLE);
    assert_eq!(ds_unary(DS_EXP, a, &mut out), ds_status::DS_ERR_HANDLE);
    for invented in [1usize, 8, 0xdead_beef, usize::MAX - 7] {
        let h = invented as *mut ds_array;
        assert_eq!(ds_array_free(h), ds_status::DS_ERR_HANDLE);
        assert_eq!(ds_binary(DS_ADD, h, h, &mut out), ds_status::DS_ERR_HANDLE);
    }
    assert_eq!(ds_array_free(null_mut()), ds_status::DS_ERR_NULL);
    let b = from(&[1], 1, &[1.0]);
    assert_eq!(ds_unary(DS_EXP, b, null_mut()), ds_status::DS_ERR_NULL);
    // a handle slot reused after a free does not revive the old handle
    ok(ds_array_free(b));
    let c = from(&[1], 1, &[2.0]);
    assert_eq!(ds_array_free(b), ds_status::DS_ERR_HANDLE);
    ok(ds_array_free(c));
    assert_eq!((ds_live_arrays(), ds_live_handles()), (0, 0));
}

/// Issue 10: invented values of the form `generation << 32 | slot + 1` (what a naive table
/// hands out first) name no live array, for any of the first slots and generations.
#[test]
fn small_invented_values_name_no_live_array() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let live: Vec<_> = (0..64).map(|i| from(&[1], 1, &[i as f32])).collect();
    let mut out = null_mut();
    for generation in 0..64usize {
        for slot in 0..128usize {
            let raw = (generation << 32) | (slot + 1);
            if live.iter().any(|&h| h as usize == raw) {
                continue; // (chance 2^-32 per handle)
            }
            let h = raw as *mut ds_array;
            assert_eq!(
                ds_array_extents(h, &mut 0, null_mut()),
                ds_status::DS_ERR_HANDLE
            );
            assert_eq!(ds_unary(DS_EXP, h, &mut out), ds_status::DS_ERR_HANDLE);
        }
    }
    assert_ne!(
        ds_array_extents(0x1_0000_0001usize as *mut ds_array, &mut 0, null_mut()),
        ds_status::DS_OK
    );
    live.into_iter().for_each(|h| ok(ds_array_free(h)));
    assert_eq!(ds_live_handles(), 0);
}

/// Issue 10: a slot whose generation would wrap around to a value it has already used is
/// retired, so a freed handle stays invalid for the life of the process.
#[test]
fn a_slot_is_retired_before_its_generation_wraps() {
    use diffstruc::ffi::handle::testing::{age_slot, slot_of};
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let a = from(&[1], 1, &[1.0]);
    let slot = slot_of(a);
    // two frees left: this handle, then one more use of the slot
    let a = age_slot(a, 2).expect("live");
    let mut e = 0;
    ok(ds_array_extents(a, &mut e, null_mut()));
    ok(ds_array_free(a));
    let b = from(&[1], 1, &[2.0]);
    assert_eq!(
        slot_of(b),
        slot,
        "the slot is reused while generations remain"
    );
    ok(ds_array_free(b));
    // the slot has used every generation: it is never handed out again
    let later: Vec<_> = (0..256).map(|i| from(&[1], 1, &[i as f32])).collect();
    assert!(later.iter().all(|&h| slot_of(h) != slot));
    for h in [a, b] {
        assert_eq!(ds_array_free(h), ds_status::DS_ERR_HANDLE);
        assert_eq!(
            ds_array_extents(h, &mut e, null_mut()),
            ds_status::DS_ERR_HANDLE
        );
    }
    later.into_iter().for_each(|h| ok(ds_array_free(h)));
    assert_eq!(ds_live_handles(), 0);
}

/// The lock-free handle table under concurrent use: threads create, look up and free their own
/// handles while all of them look up one shared handle; every lookup sees the right array and
/// nothing is lost.
#[test]
fn handle_table_under_concurrent_use() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let shared = from(&[3], 1, &[1.0, 2.0, 3.0]) as usize;
    std::thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || {
                for k in 0..2000 {
                    let v = (t * 10000 + k) as f32;
                    let own: Vec<_> = (0..3).map(|j| from(&[1], 1, &[v + j as f32])).collect();
                    let mut e = 0;
                    ok(ds_array_extents(
                        shared as *mut ds_array,
                        &mut e,
                        null_mut(),
                    ));
                    assert_eq!(e, 3);
                    for (j, &h) in own.iter().enumerate() {
                        let mut p = null_mut();
                        ok(ds_array_data(h, &mut p));
                        assert_eq!(unsafe { *p }, v + j as f32);
                    }
                    own.into_iter().for_each(|h| ok(ds_array_free(h)));
                }
            });
        }
    });
    ok(ds_array_free(shared as *mut ds_array));
    assert_eq!((ds_live_arrays(), ds_live_handles()), (0, 0));
}

/// Stale handles under concurrent reuse: while two threads free and create arrays (so slots are
/// reused at once), two others check that every handle freed so far is refused and that every
/// live one still names its own value.
#[test]
fn stale_handles_stay_dead_under_concurrent_reuse() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let freed: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..2 {
            let (freed, done) = (&freed, &done);
            s.spawn(move || {
                for k in 0..3000 {
                    let v = (t * 100_000 + k) as f32;
                    let h = from(&[1], 1, &[v]);
                    let mut p = null_mut();
                    ok(ds_array_data(h, &mut p));
                    assert_eq!(unsafe { *p }, v);
                    ok(ds_array_free(h));
                    freed
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(h as usize);
                }
                done.store(true, Ordering::Release);
            });
        }
        for _ in 0..2 {
            let (freed, done) = (&freed, &done);
            s.spawn(move || {
                while !done.load(Ordering::Acquire) {
                    let seen: Vec<usize> = freed.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    for &h in seen.iter().rev().take(200) {
                        let mut e = 0;
                        assert_eq!(
                            ds_array_extents(h as *mut ds_array, &mut e, null_mut()),
                            ds_status::DS_ERR_HANDLE
                        );
                    }
                }
            });
        }
    });
    let freed = freed.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut unique = freed.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        freed.len(),
        "a handle value was handed out twice"
    );
    assert_eq!((ds_live_arrays(), ds_live_handles()), (0, 0));
}

static DESTROYED: Mutex<Vec<usize>> = Mutex::new(Vec::new());

unsafe extern "C" fn record_destroy(object: *mut c_void) {
    // SAFETY: the test passes pointers to boxed handles it owns.
    let h = unsafe { Box::from_raw(object.cast::<*mut ds_array>()) };
    DESTROYED.lock().unwrap().push(*h as usize);
    ok(ds_array_free(*h));
}

#[test]
fn adopted_objects_are_released_once_after_their_owner() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    DESTROYED.lock().unwrap().clear();
    let x = from(&[3], 1, &[1.0, 2.0, 3.0]);
    ok(ds_array_set_flag(x, DS_FLAG_REQUIRES_GRAD, true));
    let (mut t, mut f) = (null_mut(), null_mut());
    ok(ds_unary(DS_EXP, x, &mut t));
    ok(ds_unary(DS_SIN, t, &mut f));
    let object = Box::into_raw(Box::new(t)).cast::<c_void>();
    let mut adopted = false;
    ok(ds_array_adopt(
        f,
        t,
        object,
        Some(record_destroy),
        &mut adopted,
    ));
    assert!(adopted);
    let mut again = false;
    ok(ds_array_adopt(
        f,
        t,
        object,
        Some(record_destroy),
        &mut again,
    ));
    assert!(!again, "an object is adopted once");
    ok(ds_array_free(f));
    assert_eq!(*DESTROYED.lock().unwrap(), [t as usize]);
    ok(ds_array_free(x));
    assert_eq!((ds_live_arrays(), ds_live_handles()), (0, 0));
}

unsafe extern "C" fn twice_jvp(
    _: *mut c_void,
    _: *const ds_array,
    _: *const *const ds_array,
    _: usize,
    _: usize,
    tangent: *const ds_array,
    contribution: *mut *mut ds_array,
) -> ds_status {
    ds_binary_scalar(DS_MUL, tangent, 2.0, contribution)
}

unsafe extern "C" fn twice_vjp(
    _: *mut c_void,
    out: *const ds_array,
    _: *const *const ds_array,
    _: usize,
    _: usize,
    upstream: *const f32,
    grad: *mut f32,
    grad_batch: usize,
) -> ds_status {
    let (mut e, mut s) = (0i64, 0i64);
    ok(ds_array_extents(out, &mut e, &mut s));
    let n = e as usize * grad_batch;
    // SAFETY: the library passes E_out * S_out upstream values and E_k * grad_batch gradients.
    let (up, g) = unsafe {
        (
            std::slice::from_raw_parts(upstream, n),
            std::slice::from_raw_parts_mut(grad, n),
        )
    };
    g.iter_mut().zip(up).for_each(|(g, u)| *g = 2.0 * u);
    ds_status::DS_OK
}

unsafe extern "C" fn count_free(user: *mut c_void) {
    // SAFETY: the user data is a leaked Box<u32> owned by the operation.
    let n = unsafe { Box::from_raw(user.cast::<u32>()) };
    assert_eq!(*n, 7);
}

#[test]
fn custom_operation_callbacks_and_user_data() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rules = ds_custom_rules {
        user_data: Box::into_raw(Box::new(7u32)).cast(),
        jvp: Some(twice_jvp),
        vjp: Some(twice_vjp),
        destroy: Some(count_free),
    };
    let mut op = null_mut();
    ok(ds_custom_op_create(c"twice".as_ptr(), &rules, &mut op));
    let x = from(&[2], 2, &[1.0, 2.0, 3.0, 4.0]);
    ok(ds_array_set_flag(x, DS_FLAG_REQUIRES_GRAD, true));
    let values = [2.0f32, 4.0, 6.0, 8.0];
    let mut y = null_mut();
    let inputs = [x.cast_const()];
    ok(ds_custom_apply(
        op,
        inputs.as_ptr(),
        1,
        [2].as_ptr(),
        1,
        2,
        values.as_ptr(),
        &mut y,
    ));
    ok(ds_custom_op_free(op));
    let mut dy = null_mut();
    ok(ds_grad_forward(y, x, &mut dy));
    let mut p = null_mut();
    ok(ds_array_data(dy, &mut p));
    assert_eq!(unsafe { std::slice::from_raw_parts(p, 4) }, [2.0; 4]);
    ok(ds_grad_reverse(y, null(), 0));
    ok(ds_array_grad_data(x, &mut p));
    assert_eq!(unsafe { std::slice::from_raw_parts(p, 4) }, [2.0; 4]);
    for h in [dy, y, x] {
        ok(ds_array_free(h));
    }
    assert_eq!((ds_live_arrays(), ds_live_handles()), (0, 0));
}
