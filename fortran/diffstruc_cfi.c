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

/* Makes an allocated rank-2 real array (real32 or real64) hold `data`, shape (rows, cols),
 * lower bounds 1: the array's current buffer (a 1 x 1 allocation made by the caller, so that
 * the compiler has set up every field of its descriptor) is freed and replaced. Returns false
 * (and changes nothing) if the descriptor is not of this header's layout or not allocated. */
bool diffstruc_point_real2(CFI_cdesc_t *d, void *data, int64_t rows, int64_t cols) {
  if (d->version != CFI_VERSION || d->rank != 2 || d->base_addr == NULL ||
      (d->elem_len != sizeof(float) && d->elem_len != sizeof(double)))
    return false;
  free(d->base_addr);
  d->base_addr = data;
  d->dim[0].lower_bound = 1;
  d->dim[0].extent = (CFI_index_t)rows;
  d->dim[0].sm = (CFI_index_t)d->elem_len;
  d->dim[1].lower_bound = 1;
  d->dim[1].extent = (CFI_index_t)cols;
  d->dim[1].sm = (CFI_index_t)(d->elem_len * (size_t)rows);
  return true;
}

/* Index (0-based) of the first of `n` pointer-sized words at `object` that equals `want`, or -1:
 * where a component's descriptor (whose first word is the data address) sits in an object.
 * In C, so that the read happens after the compiler's writes to the descriptors (Fortran code
 * reading them through a pointer of another type may be reordered). */
int64_t diffstruc_find_word(const void *object, int64_t n, const void *want) {
  const void *const *words = (const void *const *)object;
  for (int64_t i = 0; i < n; i++)
    if (words[i] == want) return i;
  return -1;
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

/* The same for the module's token (a scalar allocatable of derived type). */
void diffstruc_forget_token_(void **descriptor) { *descriptor = NULL; }

/*
 * For the final procedure of the module's private token type: it must be pure (so that
 * array_type stays definable in pure procedures), yet it releases library state. It hands the
 * token to `going`, a module procedure, through this call, which the compiler cannot see into.
 */
void diffstruc_token_going(void (*going)(void *), void *token) { going(token); }

/* Makes the allocatable whose descriptor starts at `descriptor` unallocated, without freeing
 * its buffer (the first word of both compilers' descriptors is the base address). */
void diffstruc_forget_at(void *descriptor) { *(void **)descriptor = NULL; }

/* ds_array_partial as a subroutine, for the module's pure get_partial_*_val (a pure Fortran
 * interface may not declare a function with an output argument). */
void diffstruc_partial(const ds_array *a, size_t k, const float *upstream, size_t n_upstream,
                       float *grad, size_t n_grad, int *status) {
  *status = (int)ds_array_partial(a, k, upstream, n_upstream, grad, n_grad);
}

/* Sets flag bits of the core array `a` if the token at `token` owns it (a compiler's copy of
 * an object, which shares the handle but not the token, changes nothing): for the module's pure
 * set_requires_grad, so that the core array's flags are current before any copy is compared
 * with it. */
void diffstruc_push_owned_flags(const void *token, const ds_array *a, uint32_t mask,
                                uint32_t bits) {
  bool owner = false;
  if (token == NULL || a == NULL) return;
  if (ds_binding_owner(token, a, &owner) == DS_OK && owner) (void)ds_array_set_flags(a, mask, bits);
}
