# ClientsKit.cmake -- builds and runs the real diffstruc clients (../shared/clients: athena
# 2.0.0 and its test programs, diffstruc v1.1.1's own test programs) against this source tree,
# for the `clients` tests (tests/clients/CMakeLists.txt). One script, several actions:
#
#   cmake -DACTION=build -DCLIENTS_DIR=<kit> -DKIT_DIR=<binary dir> -DSOURCE_DIR=<this tree>
#         -DCARGO_TARGET_DIR=<outer cargo dir> -DGENERATOR=<gen> -DFortran_COMPILER=<fc>
#         -DC_COMPILER=<cc> -DBUILD_TYPE=<type> [-DJOBS=2] -P ClientsKit.cmake
#       Configures the kit (diffstruc-rs as its subproject, cargo's output reused) and builds it
#       with -k 0, again while a round that fails still completes other steps (with CMake 3.25
#       and flang, CMake can order a submodule before its parent module: a round may even fail
#       more steps than the one before, once the steps a failure held back are tried). Fails only
#       when the kit cannot be configured: programs that do not compile are reported by the
#       tests below.
#   cmake -DACTION=athena -DCLIENTS_DIR=... -DKIT_DIR=... -DKNOWN_FAILURES=<file> -P ...
#       Runs the kit's athena tests (ctest) and reports e.g.
#         athena: 47/49 passed with GNU 12.2.0; failed: test_x (did not compile), ...
#       Fails when a test fails that KNOWN_FAILURES does not list for this compiler.
#   cmake -DACTION=program -DNAME=diffstruc_test_functions -DEXPECTED=<file> -DCOMPARE=<script>
#         -DCLIENTS_DIR=... -DKIT_DIR=... -DKNOWN_FAILURES=<file> -P ...
#       Runs one of the kit's programs and compares the numbers it prints with EXPECTED
#       (CompareOutput.cmake's tolerance); without EXPECTED, skipped once the program ran.
#   cmake -DACTION=memcheck -DPROGRAMS=<a|b|...> -DVALGRIND=<valgrind> -DFILTER=<vgfilter>
#         [-DLEAKS=ON] -DCLIENTS_DIR=... -DKIT_DIR=... -DKNOWN_FAILURES=<file> -P ...
#       Runs those kit programs under valgrind; fails when one does not exit normally or when
#       vgfilter (tests/clients/vgfilter.c) finds an error that involves this library (with
#       LEAKS, also blocks it allocated that are definitely lost). The clients' own errors are
#       counted, not failed on.
#
# A test is skipped (not passed, not failed) when CLIENTS_DIR is absent: the script then prints
# "diffstruc-clients SKIPPED: <why>", which the tests' SKIP_REGULAR_EXPRESSION recognises
# (cmake_language(EXIT) for a skip return code needs CMake 3.29).

cmake_minimum_required(VERSION 3.25)

macro(skip reason)
  message("diffstruc-clients SKIPPED: ${reason}")
  if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.29)
    cmake_language(EXIT 77)
  endif()
  return()
endmacro()

if(NOT EXISTS "${CLIENTS_DIR}/CMakeLists.txt")
  skip("no clients kit at '${CLIENTS_DIR}' (set DIFFSTRUC_CLIENTS_DIR to the folder holding "
       "athena, coreutils, graphstruc, diffstruc-tests and their CMakeLists.txt)")
endif()
if(NOT JOBS)
  set(JOBS 2)
endif()
set(build_log "${KIT_DIR}/diffstruc-clients-build.log")

# The kit's Fortran compiler, as "GNU 12.2.0", and its id (GNU, LLVMFlang, ...).
function(kit_compiler out_id out_text)
  file(GLOB compiler_files "${KIT_DIR}/CMakeFiles/*/CMakeFortranCompiler.cmake")
  set(${out_id} "unknown" PARENT_SCOPE)
  set(${out_text} "an unknown compiler (the kit is not configured)" PARENT_SCOPE)
  if(compiler_files)
    list(GET compiler_files 0 compiler_file)
    include("${compiler_file}")
    set(${out_id} "${CMAKE_Fortran_COMPILER_ID}" PARENT_SCOPE)
    set(${out_text} "${CMAKE_Fortran_COMPILER_ID} ${CMAKE_Fortran_COMPILER_VERSION}" PARENT_SCOPE)
  endif()
endfunction()

# Known failures (KNOWN_FAILURES, tests/clients/known_failures.cmake) for the kit's compiler:
# known_<test> is set to the explanation of each test listed for it, known_tests lists them.
set(known_tests "")
function(diffstruc_clients_known_failure compiler why)
  if(compiler STREQUAL kit_compiler_id)
    foreach(test IN LISTS ARGN)
      set(known_${test} "${why}" PARENT_SCOPE)
    endforeach()
    set(known_tests ${known_tests} ${ARGN} PARENT_SCOPE)
  endif()
endfunction()

# The compiler errors of the last build (file:line: message), at most `max` of them.
function(build_errors out max)
  set(${out} "" PARENT_SCOPE)
  if(NOT EXISTS "${build_log}")
    set(${out} "(no build log)" PARENT_SCOPE)
    return()
  endif()
  file(STRINGS "${build_log}" lines ENCODING UTF-8)
  set(errors "")
  set(where "")
  set(n 0)
  foreach(line IN LISTS lines)
    if(line MATCHES "^(/[^ ]+:[0-9]+:[0-9]+):$")         # gfortran: location, then the message
      set(where "${CMAKE_MATCH_1}")
    elseif(line MATCHES "^(Fatal )?Error: ")
      list(APPEND errors "${where}: ${line}")
      math(EXPR n "${n} + 1")
    elseif(line MATCHES "^/[^ ]+:[0-9]+:[0-9]+: (fatal )?error: ")   # flang, gcc
      list(APPEND errors "${line}")
      math(EXPR n "${n} + 1")
    elseif(line MATCHES "^CMake Error|undefined reference to")
      list(APPEND errors "${line}")
      math(EXPR n "${n} + 1")
    endif()
    if(n GREATER_EQUAL max)
      break()
    endif()
  endforeach()
  list(REMOVE_DUPLICATES errors)
  string(REPLACE ";" "\n  " errors "${errors}")
  if(NOT errors)
    set(errors "(no compiler error found in the log)")
  endif()
  set(${out} "${errors}" PARENT_SCOPE)
endfunction()

# ---------------------------------------------------------------------------------------------
if(ACTION STREQUAL "build")
  file(MAKE_DIRECTORY "${KIT_DIR}")
  set(configure_args -S "${CLIENTS_DIR}" -B "${KIT_DIR}" -G "${GENERATOR}"
    "-DDIFFSTRUC_SOURCE_DIR=${SOURCE_DIR}"
    "-DDIFFSTRUC_CARGO_TARGET_DIR=${CARGO_TARGET_DIR}"
    "-DCMAKE_Fortran_COMPILER=${Fortran_COMPILER}"
    "-DCMAKE_C_COMPILER=${C_COMPILER}"
    "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}")
  string(JOIN " " shown ${configure_args})
  message(STATUS "configuring the clients kit: cmake ${shown}")
  execute_process(COMMAND "${CMAKE_COMMAND}" ${configure_args}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  file(WRITE "${KIT_DIR}/diffstruc-clients-configure.log" "${out}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "the clients kit could not be configured (exit ${rc}):\n${out}")
  endif()
  if(out MATCHES "diffstruc: (real32 is [^\n]*)")
    message(STATUS "${CMAKE_MATCH_1}")
  endif()
  kit_compiler(id compiler)

  # Another round is worth it while the last one completed steps besides its failures (Ninja
  # numbers the steps it finishes, [n/total]); with other generators, while it failed fewer.
  if(GENERATOR MATCHES "Ninja")
    set(keep_going -k 0)
    set(failed_regex "(^|\n)FAILED: ")
  else()
    set(keep_going -k)
    # the step that failed (a compiler's or linker's exit 1), not the recursive makes above it
    set(failed_regex "\\*\\*\\* \\[[^\n]*\\] Error 1(\n|$)")
  endif()
  set(previous -1)
  set(round 0)
  set(all_logs "")
  while(TRUE)
    math(EXPR round "${round} + 1")
    execute_process(COMMAND "${CMAKE_COMMAND}" --build "${KIT_DIR}" -j ${JOBS} -- ${keep_going}
      RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    file(WRITE "${build_log}" "${out}")
    string(APPEND all_logs "==== round ${round}\n${out}")
    string(REGEX MATCHALL "${failed_regex}" failures "${out}")
    list(LENGTH failures failed)
    set(finished 0)
    string(REPLACE "[" "<" steps "${out}")   # a "[" in a list element hides the ";" after it
    string(REGEX MATCHALL "(^|\n)<[0-9]+/" steps "${steps}")
    foreach(step IN LISTS steps)
      string(REGEX REPLACE "[^0-9]" "" step "${step}")
      if(step GREATER finished)
        set(finished ${step})
      endif()
    endforeach()
    math(EXPR succeeded "${finished} - ${failed}")
    if(GENERATOR MATCHES "Ninja")
      message(STATUS "build round ${round}: exit ${rc}, ${failed} steps failed, "
                     "${succeeded} succeeded")
    else()
      message(STATUS "build round ${round}: exit ${rc}, ${failed} steps failed")
    endif()
    if(rc EQUAL 0 OR round GREATER_EQUAL 10)
      break()
    elseif(GENERATOR MATCHES "Ninja" AND succeeded LESS_EQUAL 0)
      break()
    elseif(NOT GENERATOR MATCHES "Ninja" AND previous GREATER_EQUAL 0
           AND failed GREATER_EQUAL previous)
      break()
    endif()
    set(previous ${failed})
  endwhile()
  file(WRITE "${KIT_DIR}/diffstruc-clients-build-all-rounds.log" "${all_logs}")
  if(rc EQUAL 0)
    message(STATUS "clients kit built with ${compiler} (${round} rounds)")
  else()
    build_errors(errors 12)
    message(STATUS "clients kit built with ${compiler} in ${round} rounds, ${failed} steps "
      "failing (the tests that need them report them; full log ${build_log}); first errors:\n  "
      "${errors}")
  endif()
  return()
endif()

# ---------------------------------------------------------------------------------------------
kit_compiler(id compiler)
set(kit_compiler_id "${id}")
if(KNOWN_FAILURES AND EXISTS "${KNOWN_FAILURES}")
  include("${KNOWN_FAILURES}")
endif()
if(NOT EXISTS "${KIT_DIR}/CMakeCache.txt")
  message(FATAL_ERROR "the clients kit is not configured in ${KIT_DIR} (see the clients_build "
                      "test)")
endif()

if(ACTION STREQUAL "athena")
  # Every athena test the kit registers, and the result of a run of all of them.
  execute_process(COMMAND "${CMAKE_CTEST_COMMAND}" -N -R "^athena_"
    WORKING_DIRECTORY "${KIT_DIR}" OUTPUT_VARIABLE listing RESULT_VARIABLE rc)
  string(REGEX MATCHALL "Test +#[0-9]+: athena_[A-Za-z0-9_]+" all_tests "${listing}")
  list(TRANSFORM all_tests REPLACE "Test +#[0-9]+: " "")
  list(LENGTH all_tests total)
  if(total EQUAL 0)
    message(FATAL_ERROR "the clients kit registers no athena test:\n${listing}")
  endif()
  execute_process(COMMAND "${CMAKE_CTEST_COMMAND}" -R "^athena_" -j ${JOBS}
    WORKING_DIRECTORY "${KIT_DIR}" OUTPUT_VARIABLE out ERROR_VARIABLE out RESULT_VARIABLE rc)
  # Its per-test lines only (a program that was not built adds a dozen lines of search paths).
  string(REGEX MATCHALL "[^\n]*Test +#[0-9]+: [^\n]*" test_lines "${out}")
  string(REPLACE ";" "\n" test_lines "${test_lines}")
  message(NOTICE "${test_lines}")
  string(REGEX MATCHALL "\n[ \t]+[0-9]+ - athena_[A-Za-z0-9_]+ \\([^)\n]+\\)" failed_lines "${out}")
  set(failed "")
  foreach(line IN LISTS failed_lines)
    string(REGEX MATCH "(athena_[A-Za-z0-9_]+) \\(([^)]+)\\)" _ "${line}")
    set(test "${CMAKE_MATCH_1}")
    set(how "${CMAKE_MATCH_2}")
    if(NOT EXISTS "${KIT_DIR}/tests/${test}")
      set(how "did not compile")
    endif()
    list(APPEND failed "${test}")
    set(how_${test} "${how}")
  endforeach()
  if(NOT rc EQUAL 0 AND NOT failed)
    message(FATAL_ERROR "the kit's ctest failed (exit ${rc}) and no failing test was found in "
                        "its output")
  endif()

  list(LENGTH failed n_failed)
  math(EXPR passed "${total} - ${n_failed}")
  # The failures grouped by what happened ("did not compile", "Failed", "SEGFAULT", ...), those
  # known for this compiler apart.
  set(unexpected "")
  set(expected "")
  set(hows "")
  set(not_built 0)
  foreach(test IN LISTS failed)
    string(REGEX REPLACE "^athena_" "" short "${test}")
    if(how_${test} STREQUAL "did not compile")
      math(EXPR not_built "${not_built} + 1")
    endif()
    if(DEFINED known_${test})
      list(APPEND expected "${short} (${how_${test}}: ${known_${test}})")
    else()
      list(APPEND unexpected "${test}")
      list(APPEND hows "${how_${test}}")
      string(MAKE_C_IDENTIFIER "${how_${test}}" key)
      list(APPEND group_${key} "${short}")
    endif()
  endforeach()
  list(REMOVE_DUPLICATES hows)
  set(now_passing "")
  foreach(test IN LISTS known_tests)
    if(test MATCHES "^athena_" AND NOT test IN_LIST failed AND test IN_LIST all_tests)
      string(REGEX REPLACE "^athena_" "" short "${test}")
      list(APPEND now_passing "${short}")
    endif()
  endforeach()

  set(summary "athena: ${passed}/${total} passed with ${compiler}")
  if(unexpected)
    list(LENGTH unexpected n)
    string(APPEND summary "; failed (${n}):")
    foreach(how IN LISTS hows)
      string(MAKE_C_IDENTIFIER "${how}" key)
      list(LENGTH group_${key} n)
      string(REPLACE ";" " " names "${group_${key}}")
      string(APPEND summary " ${how} (${n}): ${names};")
    endforeach()
    string(REGEX REPLACE ";$" "" summary "${summary}")
  endif()
  if(expected)
    string(REPLACE ";" ", " text "${expected}")
    string(APPEND summary "\nknown failures (tests/clients/known_failures.cmake): ${text}")
  endif()
  if(now_passing)
    string(REPLACE ";" ", " text "${now_passing}")
    string(APPEND summary "\nlisted as known failures but passed (remove them): ${text}")
  endif()
  if(not_built GREATER 0)
    build_errors(errors 12)
    string(APPEND summary "\n${not_built} tests did not compile; first errors of the kit's "
      "build (${build_log}):\n  ${errors}")
  endif()
  # Printed as is (FATAL_ERROR would re-wrap it), then the verdict.
  message(NOTICE "${summary}")
  if(unexpected)
    message(FATAL_ERROR "athena: ${passed}/${total} passed with ${compiler}, unexpected "
      "failures (details: ${KIT_DIR}/Testing/Temporary/LastTest.log)")
  endif()

# ---------------------------------------------------------------------------------------------
elseif(ACTION STREQUAL "program")
  set(program "${KIT_DIR}/tests/${NAME}")
  set(run_dir "${KIT_DIR}/run-compare/${NAME}")
  file(MAKE_DIRECTORY "${run_dir}")
  set(problem "")
  if(NOT EXISTS "${program}")
    build_errors(errors 12)
    set(problem "${NAME} did not compile with ${compiler}; first errors of the kit's build "
                "(${build_log}):\n  ${errors}")
  elseif(EXISTS "${EXPECTED}")
    execute_process(COMMAND "${CMAKE_COMMAND}" "-DPROGRAM=${program}" "-DEXPECTED=${EXPECTED}"
                            -P "${COMPARE}"
      WORKING_DIRECTORY "${run_dir}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    if(NOT rc EQUAL 0)
      set(problem "${NAME} (${compiler}) does not print the numbers of ${EXPECTED}:\n${out}")
    else()
      message(STATUS "${NAME} (${compiler}): ${out}")
    endif()
  else()
    execute_process(COMMAND "${program}" WORKING_DIRECTORY "${run_dir}"
      RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
      set(problem "${NAME} (${compiler}) failed (exit ${rc})\nstdout:\n${out}\nstderr:\n${err}")
    endif()
  endif()
  if(problem AND DEFINED known_${NAME})
    message(STATUS "known failure with ${id} (tests/clients/known_failures.cmake: "
                   "${known_${NAME}}):\n${problem}")
  elseif(problem)
    message(FATAL_ERROR "${problem}")
  elseif(NOT EXISTS "${EXPECTED}")
    skip("${NAME} ran (exit 0) with ${compiler}, but there is no reference output ${EXPECTED} "
         "to compare its numbers with")
  endif()

# ---------------------------------------------------------------------------------------------
elseif(ACTION STREQUAL "memcheck")
  string(REPLACE "|" ";" programs "${PROGRAMS}")
  set(filter_options "")
  set(leak_note "leaks not checked")
  if(LEAKS)
    set(filter_options --leaks)
    set(leak_note "leaks checked")
  endif()
  set(results "")
  set(bad "")
  set(clean 0)
  foreach(name IN LISTS programs)
    set(program "${KIT_DIR}/tests/${name}")
    set(run_dir "${KIT_DIR}/run-memcheck/${name}")
    file(MAKE_DIRECTORY "${run_dir}")
    if(DEFINED known_${name})
      list(APPEND results "${name}: not run, known failure (${known_${name}})")
      continue()
    endif()
    if(NOT EXISTS "${program}")
      list(APPEND results "${name}: did not compile")
      list(APPEND bad "${name} (did not compile)")
      continue()
    endif()
    set(log "${run_dir}/valgrind.log")
    string(TIMESTAMP start "%s")
    execute_process(COMMAND "${VALGRIND}" --leak-check=full
              --show-leak-kinds=definite,indirect,possible --num-callers=40
              "--log-file=${log}" "${program}"
      WORKING_DIRECTORY "${run_dir}" RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
    string(TIMESTAMP stop "%s")
    math(EXPR seconds "${stop} - ${start}")
    execute_process(COMMAND "${FILTER}" ${filter_options} "${log}"
      RESULT_VARIABLE frc OUTPUT_VARIABLE found)
    string(REGEX MATCH "vgfilter: [^\n]*" line "${found}")
    if(rc EQUAL 0 AND frc EQUAL 0)
      math(EXPR clean "${clean} + 1")
      list(APPEND results "${name}: clean (${seconds} s); ${line}")
    else()
      list(APPEND results "${name}: exit ${rc} (${seconds} s); ${line}")
      list(APPEND bad "${name} (exit ${rc}, ${line})")
      message("---- ${name} under valgrind (log: ${log}), exit ${rc}:\n${found}")
    endif()
  endforeach()
  list(LENGTH programs total)
  string(REPLACE ";" "\n  " results "${results}")
  string(REPLACE ";" ", " bad "${bad}")
  set(summary "clients memcheck: ${clean}/${total} clean with ${compiler} (${leak_note})\n  ${results}")
  if(bad)
    message(FATAL_ERROR "${summary}\nfailed: ${bad}")
  endif()
  message(STATUS "${summary}")

else()
  message(FATAL_ERROR "ACTION must be build, athena, program or memcheck, not '${ACTION}'")
endif()
