! Compiler defect behind athena's gfortran-12 failures (tests/clients/known_failures.cmake); no
! diffstruc involved. A pure type-bound function whose result is an allocatable array of a type
! with allocatable character components, filled by assigning structure results to its elements,
! crashes (SIGSEGV in the function) with gfortran 12.2; LLVM flang 22 prints "sigmoid scale"
! three times. athena's ONNX attribute export (export_attributes_* of every activation, called
! by print_to_unit of every layer) has this shape.
!   gfortran gfortran12_pure_allocatable_character_components.f90 && ./a.out
module m
  implicit none
  type :: attr
     character(64), allocatable :: name
     character(10), allocatable :: type
     character(len=:), allocatable :: val
  end type
  type, abstract :: base
     character(len=:), allocatable :: name
   contains
     procedure(ex), deferred :: export
  end type
  abstract interface
     pure function ex(this) result(a)
       import :: base, attr
       class(base), intent(in) :: this
       type(attr), allocatable :: a(:)
     end function
  end interface
  type, extends(base) :: sig
   contains
     procedure :: export => export_sig
  end type
contains
  pure function mk(n, t, v) result(a)
    character(*), intent(in) :: n, t, v
    type(attr) :: a
    a%name = n; a%type = t; a%val = v
  end function
  pure function export_sig(this) result(a)
    class(sig), intent(in) :: this
    type(attr), allocatable :: a(:)
    character(50) :: buffer
    allocate(a(2))
    write(buffer, '(A)') this%name
    a(1) = mk('name', 'string', trim(buffer))
    a(2) = mk('scale', 'float', '1.0')
  end function
end module
program p
  use m
  class(base), allocatable :: s
  type(attr), allocatable :: at(:)
  integer :: i
  allocate(sig :: s)
  s%name = 'sigmoid'
  do i = 1, 3
    at = s%export()
    print *, trim(at(1)%val), ' ', trim(at(2)%name)
  end do
end program
