program fail
  write(*,*) 'test failed one or more tests'
end program fail
