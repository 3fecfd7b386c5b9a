/*
 * Helpers of the Fortran module diffstruc (not part of the C API).
 *
 * Some compilers pass a parenthesised operand such as `x * (y * 2.0)` as a shallow copy of the
 * object and, after the call, free the copy's allocatable components, which are the original's.
 * The module detects such copies and makes their shared components unallocated first, without
 * freeing them, through these functions: each receives the component's C descriptor
 * (CFI_cdesc_t, whose first member is always base_addr) and clears its base address.
 */
#include <stddef.h>

void diffstruc_forget_int1(void **descriptor) { *descriptor = NULL; }
void diffstruc_forget_int2(void **descriptor) { *descriptor = NULL; }
void diffstruc_forget_real1(void **descriptor) { *descriptor = NULL; }
