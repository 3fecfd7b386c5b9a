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
# None for now.
