# clients_selftest: cmake/ClientsKit.cmake against the stand-in kit (kit/), checking what it
# reports; the real kit's results cannot be predicted, its plumbing can.
#   cmake -DDRIVER=<ClientsKit.cmake> -DCOMPARE=<CompareOutput.cmake> -DHERE=<this folder>
#         -DWORK=<binary dir> -DFortran_COMPILER=<fc> -DGENERATOR=<gen> -P run.cmake
cmake_minimum_required(VERSION 3.25)
file(REMOVE_RECURSE "${WORK}")
set(kit "-DCLIENTS_DIR=${HERE}/kit" "-DKIT_DIR=${WORK}" "-DKNOWN_FAILURES=${HERE}/known_failures.cmake")

# expect(<name> <0|1: exit> <regex> <args>...): run the driver, check its exit and output
function(expect name want_fail regex)
  execute_process(COMMAND "${CMAKE_COMMAND}" ${kit} ${ARGN} -P "${DRIVER}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(want_fail AND rc EQUAL 0)
    message(FATAL_ERROR "${name}: the driver should have failed\n${out}")
  elseif(NOT want_fail AND NOT rc EQUAL 0)
    message(FATAL_ERROR "${name}: the driver failed (${rc})\n${out}")
  endif()
  if(NOT out MATCHES "${regex}")
    message(FATAL_ERROR "${name}: output does not match '${regex}'\n${out}")
  endif()
  message(STATUS "${name}: ok")
endfunction()

expect(build 0 "build round 2: exit [^,]*, 1 steps failed"
  -DACTION=build -DSOURCE_DIR=unused -DCARGO_TARGET_DIR=unused "-DGENERATOR=${GENERATOR}"
  "-DFortran_COMPILER=${Fortran_COMPILER}" -DC_COMPILER=unused -DBUILD_TYPE=Debug)
expect(athena 1
  "athena: 1/5 passed with [^;\n]+; failed \\(3\\): [^\n]*did not compile \\(1\\): test_broken[^\n]*\nknown failures \\(tests/clients/known_failures.cmake\\): test_known \\(Failed: fails on purpose\\)\n1 tests did not compile; first errors of the kit's build[^\n]*\n  [^\n]*broken.f90:2"
  -DACTION=athena)
expect(athena_names 1 "Failed \\(2\\): test_fail test_stop|Failed \\(2\\): test_stop test_fail"
  -DACTION=athena)
expect(compare_ok 0 "2 numbers match"
  -DACTION=program -DNAME=diffstruc_test_functions "-DEXPECTED=${HERE}/expected_ok.txt"
  "-DCOMPARE=${COMPARE}")
expect(compare_bad 1 "number 1: got [^,]*, expected -2.26E-03"
  -DACTION=program -DNAME=diffstruc_test_functions "-DEXPECTED=${HERE}/expected_bad.txt"
  "-DCOMPARE=${COMPARE}")
expect(compare_missing 0 "diffstruc-clients SKIPPED: diffstruc_test_functions ran"
  -DACTION=program -DNAME=diffstruc_test_functions "-DEXPECTED=${HERE}/missing.txt"
  "-DCOMPARE=${COMPARE}")
expect(not_compiled 1 "diffstruc_test_memory did not compile"
  -DACTION=program -DNAME=diffstruc_test_memory "-DEXPECTED=${HERE}/missing.txt"
  "-DCOMPARE=${COMPARE}")
expect(skip 0 "diffstruc-clients SKIPPED: no clients kit at" -DACTION=athena
  -DCLIENTS_DIR=${HERE}/missing)
message(STATUS "the clients driver reports as it should")
