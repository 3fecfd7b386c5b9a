!> The real kinds of module diffstruc: `real32` (diffstruc's), and `real64` (an extension:
!> arrays allocated from real64 data).
!>
!> diffstruc 1.1.1 takes `real32` from the coreutils package and re-exports it, and its users
!> write `use diffstruc` next to `use coreutils, only: real32`. That is only legal when both
!> names are the same entity, so when coreutils is available the build defines
!> DIFFSTRUC_WITH_COREUTILS and `real32` is coreutils' own. Otherwise it is iso_fortran_env's,
!> which is the same kind (selected_real_kind(6, 37)) and what earlier builds of this module
!> exported, so programs that take `real32` from iso_fortran_env keep compiling.
module diffstruc_kinds
#ifdef DIFFSTRUC_WITH_COREUTILS
  use coreutils, only: real32
#else
  use, intrinsic :: iso_fortran_env, only: real32
#endif
  use, intrinsic :: iso_fortran_env, only: real64
  implicit none
  private
  public :: real32, real64
end module diffstruc_kinds
