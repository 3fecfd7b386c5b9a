! Why athena's test_dropout_layer fails with LLVM flang 22 (tests/clients/known_failures.cmake);
! no diffstruc involved. After `random_seed(put=<all zeros>)` flang's first random_number is
! exactly 0.0 (gfortran's is not); the test seeds with zeros, draws a mask `r > rate` with
! rate 0 and expects every element kept.
!   flang-new-22 flang_random_seed_zero.f90 && ./a.out    (prints zeros: 1, first: 0.)
program rn
  integer :: n
  integer, allocatable :: seed(:)
  real :: r(1000)
  call random_seed(size = n)
  allocate(seed(n), source=0)
  call random_seed(put = seed)
  call random_number(r)
  print *, 'seed size', n, 'zeros:', count(r == 0.0), ' first:', r(1:4)
end program
