program broken
  this is not Fortran
end program broken
