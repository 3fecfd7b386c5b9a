program stop
  error stop 3
end program stop
