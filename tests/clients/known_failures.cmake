# Known failures of the real clients (tests/clients/CMakeLists.txt), per Fortran compiler: the
# one place to declare them. A listed test may fail (not compile, fail, crash, print other
# numbers) without failing ctest; it is still reported, with its explanation, and a listed
# athena test that passes is reported as such ("remove it"). Listed programs are left out of
# clients_memcheck.
#
#   diffstruc_clients_known_failure(<compiler id> "<explanation>" <test>...)
#
# <compiler id> is CMake's CMAKE_Fortran_COMPILER_ID (GNU, LLVMFlang, IntelLLVM, ...); <test> is
# the kit's test name: athena_test_<name>, diffstruc_test_functions or diffstruc_test_memory.
# For example:
#   diffstruc_clients_known_failure(LLVMFlang
#     "fails with flang whatever the diffstruc (v1.1.1 too)" athena_test_dropout_layer)
#
diffstruc_clients_known_failure(GNU
  "gfortran 12 crashes in athena's ONNX attribute export (export_attributes_*, reached from \
every layer's print_to_unit): a compiler defect, reproduced without diffstruc by \
tests/clients/compiler_bugs/gfortran12_pure_allocatable_character_components.f90; the same \
tests crash with diffstruc v1.1.1"
  athena_test_activation_layer athena_test_activations athena_test_conv1d_layer
  athena_test_conv2d_layer athena_test_conv3d_layer athena_test_duvenaud_msgpass_layer
  athena_test_full_layer athena_test_network athena_test_onnx athena_test_recurrent_layer)

diffstruc_clients_known_failure(LLVMFlang
  "flang's random_number returns exactly 0.0 first after random_seed(put=0), which the test's \
dropout mask (r > rate, rate 0) does not keep: tests/clients/compiler_bugs/\
flang_random_seed_zero.f90; fails with diffstruc v1.1.1 too"
  athena_test_dropout_layer)
