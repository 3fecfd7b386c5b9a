program known
  error stop 4
end program known
