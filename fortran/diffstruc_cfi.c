/*
 * Helpers of the Fortran module diffstruc (not part of the C API): they set the descriptor of
 * an allocatable rank-2 real array so that it holds a buffer of the library (zero-copy `val`).
 *
 * Each function receives the array's C descriptor (ISO_Fortran_binding.h's CFI_cdesc_t). Only
 * the fields that gfortran's and LLVM flang's layouts share are used: `base_addr` first, and
 * the `dim` array at offset 24 (both compilers, 64-bit); a run-time check in the module tests
 * this layout once, with the compiler in use, before any buffer is handed over.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diffstruc.h"

typedef struct {
  ptrdiff_t lower_bound, extent, sm;
} ds_f_dim;

typedef struct {
  void *base_addr;
  size_t elem_len;
  int version;
  unsigned char rank_type_attribute[4];
  ds_f_dim dim[2];
} ds_f_desc2;

/* Points the (unallocated) array at `data`, shape (rows, cols), lower bounds 1. */
void diffstruc_point_real2(ds_f_desc2 *d, float *data, int64_t rows, int64_t cols) {
  d->base_addr = data;
  d->dim[0].lower_bound = 1;
  d->dim[0].extent = (ptrdiff_t)rows;
  d->dim[0].sm = (ptrdiff_t)sizeof(float);
  d->dim[1].lower_bound = 1;
  d->dim[1].extent = (ptrdiff_t)cols;
  d->dim[1].sm = (ptrdiff_t)(sizeof(float) * (size_t)rows);
}

/* Makes the array unallocated without freeing its buffer. */
void diffstruc_forget_real2(ds_f_desc2 *d) { d->base_addr = NULL; }

/* Reads back what the descriptor says (for the layout check). */
void diffstruc_describe_real2(const ds_f_desc2 *d, void **base, int64_t *extents) {
  *base = d->base_addr;
  extents[0] = (int64_t)d->dim[0].extent;
  extents[1] = (int64_t)d->dim[1].extent;
}

/* True for a NULL address; a function call, so that the optimiser cannot assume a dummy
 * argument's address is non-null (gfortran 12 calls final procedures on null objects). */
_Bool diffstruc_is_null(const void *p) { return p == NULL; }

/*
 * The library calls a final procedure makes, as functions of value arguments only, so that the
 * module can declare them pure (they change only the library's own tables).
 */

/* Frees the handle bound to `token` if it is `a` (ds_binding_release). */
bool diffstruc_unbind(const void *token, const ds_array *a) {
  bool released = false;
  return ds_binding_release(token, a, &released) == DS_OK && released;
}

/* ds_object_unregister: 0 unknown, 1 was live, 2 was in quarantine. */
int32_t diffstruc_unregister(const void *object, uint64_t serial) {
  int32_t state = 0;
  return ds_object_unregister(object, serial, &state) == DS_OK ? state : 0;
}

/* ds_object_live. */
bool diffstruc_object_live(const void *object, uint64_t serial) {
  bool live = false;
  return ds_object_live(object, serial, &live) == DS_OK && live;
}

/* ds_array_reclaim: true if the caller's descriptor still held the buffer. */
bool diffstruc_reclaim(const ds_array *a) {
  bool kept = false;
  return ds_array_reclaim(a, &kept) == DS_OK && kept;
}
