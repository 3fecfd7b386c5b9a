# Known failures for the self-test's stand-in kit, whatever the compiler.
foreach(id IN ITEMS GNU LLVMFlang IntelLLVM Intel NAG NVHPC Flang)
  diffstruc_clients_known_failure(${id} "fails on purpose" athena_test_known)
endforeach()
