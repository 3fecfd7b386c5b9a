program numbers
  write(*,*) 'f =', 1.5, 'df =', -2.25e-3
end program numbers
