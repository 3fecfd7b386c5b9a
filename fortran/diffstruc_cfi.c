/*
 * Helpers of the Fortran module diffstruc (not part of the C API): descriptors of allocatable
 * arrays, for the module's zero-copy `val`, and the library calls its final procedure makes.
 *
 * The descriptor functions receive an array's C descriptor. Its layout is the Fortran
 * compiler's: this file must be compiled against that compiler's ISO_Fortran_binding.h (the
 * build adds LLVM flang's include directory when the module is built with flang; gcc finds
 * gfortran's on its own). Each call checks the descriptor's version against the header's, so a
 * mismatch is reported, never used.
 */
#include <ISO_Fortran_binding.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "diffstruc.h"

/* Makes an allocated rank-2 real array hold `data`, shape (rows, cols), lower bounds 1: the
 * array's current buffer (a 1 x 1 allocation made by the caller, so that the compiler has set
 * up every field of its descriptor) is freed and replaced. Returns false (and changes nothing)
 * if the descriptor is not of this header's layout or not allocated. */
bool diffstruc_point_real2(CFI_cdesc_t *d, float *data, int64_t rows, int64_t cols) {
  if (d->version != CFI_VERSION || d->rank != 2 || d->base_addr == NULL ||
      d->elem_len != sizeof(float))
    return false;
  free(d->base_addr);
  d->base_addr = data;
  d->dim[0].lower_bound = 1;
  d->dim[0].extent = (CFI_index_t)rows;
  d->dim[0].sm = (CFI_index_t)sizeof(float);
  d->dim[1].lower_bound = 1;
  d->dim[1].extent = (CFI_index_t)cols;
  d->dim[1].sm = (CFI_index_t)(sizeof(float) * (size_t)rows);
  return true;
}

/* Reads back what the descriptor says (for the module's one-time layout check). */
void diffstruc_describe_real2(const CFI_cdesc_t *d, void **base, int64_t *extents) {
  *base = d->base_addr;
  extents[0] = d->rank == 2 ? (int64_t)d->dim[0].extent : -1;
  extents[1] = d->rank == 2 ? (int64_t)d->dim[1].extent : -1;
}

/* Makes an allocatable (any type and rank: only `base_addr`, the first member, is written)
 * unallocated without freeing its memory. */
void diffstruc_forget(void **descriptor) { *descriptor = NULL; }

/* The same for a default-logical allocatable, called as an external Fortran procedure (not
 * interoperable, so the compiler passes its own descriptor; both compilers put the base address
 * first and append one underscore to external names). */
void diffstruc_forget_logical2_(void **descriptor) { *descriptor = NULL; }

/*
 * The library calls a final procedure makes, as subroutines (void, results through pointers),
 * so that the module can declare them pure: they change only the library's own tables, and a
 * call statement, unlike a pure function reference, is never left out by the compiler.
 */

/* Frees the handle bound to `token` (ds_binding_drop): the token's address is all that is
 * needed, so nothing is read through a component of the object being finalised. */
void diffstruc_unbind(const void *token) { (void)ds_binding_drop(token); }

/* ds_object_unregister: 0 unknown, 1 was live, 2 was in quarantine. */
void diffstruc_unregister(const void *object, uint64_t serial, int32_t *state) {
  *state = 0;
  if (ds_object_unregister(object, serial, state) != DS_OK) *state = 0;
}

/* ds_object_live. */
void diffstruc_object_live(const void *object, uint64_t serial, bool *live) {
  *live = false;
  if (ds_object_live(object, serial, live) != DS_OK) *live = false;
}

/* ds_array_reclaim: true if the caller's descriptor still held the buffer. */
void diffstruc_reclaim(const ds_array *a, bool *kept) {
  *kept = false;
  if (ds_array_reclaim(a, kept) != DS_OK) *kept = false;
}

/* A custom result released before it was ever used (never linked to its operands) still owns
 * its constant operands: the result's array adopts `object` (registering it first if `*serial`
 * is 0), so that it is released (through `destroy`) when the array goes. Nothing happens if the
 * array is linked already. */
void diffstruc_adopt_pending(const ds_array *owner, void *object, uint64_t *serial,
                             ds_destroy_fn destroy) {
  size_t n = 1;
  if (ds_array_num_inputs(owner, &n) != DS_OK || n != 0) return;
  if (*serial == 0 && ds_object_register(object, serial) != DS_OK) return;
  (void)ds_array_adopt_object(owner, object, *serial, destroy);
}

/* True for a NULL address; a call, so that the optimiser cannot assume a dummy argument's
 * address is non-null (gfortran 12 calls final procedures on null objects). */
void diffstruc_is_null(const void *p, bool *null) { *null = p == NULL; }
