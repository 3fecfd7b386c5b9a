# MpiAgreement.cmake -- an `mpi` test: runs an MPI training example (examples/mpi) with one rank
# (the single-process reference) and with each count of NP_LIST, and checks with COMPARE
# (compare_params) that the final parameters agree within float summation-order tolerance.
#
#   cmake -DPROGRAM=<train_mpi> -DCOMPARE=<compare_params> -DWORK_DIR=<dir>
#         -DMPIEXEC=<mpiexec> -DNUMPROC_FLAG=<-n> -DPREFLAGS=<a|b|...> -DPOSTFLAGS=<a|b|...>
#         -DFALLBACK_FLAGS=<a|b|...> -DNP_LIST=<2|3> -DREL_TOL=<1e-5> -DABS_TOL=<1e-6>
#         -P MpiAgreement.cmake
#   cmake -DSKIP_REASON=<why> -P MpiAgreement.cmake          (prints "mpi SKIPPED: <why>")
#
# Lists are given with '|' between items (a ';' would split the test's command line).
# PREFLAGS go before the program (for Open MPI: --oversubscribe, as a test may start more ranks
# than there are cores, and --allow-run-as-root, which Open MPI also accepts from other users).
# If a run fails, it is repeated once with FALLBACK_FLAGS added (for Open MPI: TCP instead of
# shared memory between the ranks, for containers where shared memory does not work).
cmake_minimum_required(VERSION 3.25)

if(DEFINED SKIP_REASON)
  message("mpi SKIPPED: ${SKIP_REASON}")
  if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.29)
    cmake_language(EXIT 77)
  endif()
  return()
endif()

foreach(var IN ITEMS PREFLAGS POSTFLAGS FALLBACK_FLAGS NP_LIST)
  string(REPLACE "|" ";" ${var} "${${var}}")
endforeach()
get_filename_component(name "${PROGRAM}" NAME)
file(MAKE_DIRECTORY "${WORK_DIR}")

# Runs PROGRAM on `np` ranks, writing its parameters to `out_file`.
function(run_ranks np out_file)
  file(REMOVE "${out_file}")
  set(extra "")
  foreach(attempt IN ITEMS 1 2)
    set(cmd "${MPIEXEC}" ${NUMPROC_FLAG} ${np} ${PREFLAGS} ${extra} "${PROGRAM}" ${POSTFLAGS}
      "${out_file}")
    string(REPLACE ";" " " shown "${cmd}")
    message(STATUS "${shown}")
    execute_process(COMMAND ${cmd} WORKING_DIRECTORY "${WORK_DIR}" TIMEOUT 120
      RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    message("${out}")
    if(rc EQUAL 0 AND EXISTS "${out_file}")
      message(STATUS "${name} on ${np} rank(s): ok")
      return()
    endif()
    message("${err}")
    if(attempt EQUAL 2 OR NOT FALLBACK_FLAGS)
      message(FATAL_ERROR "${name} on ${np} rank(s) failed (exit ${rc})")
    endif()
    string(REPLACE ";" " " fallback "${FALLBACK_FLAGS}")
    message(STATUS "${name} on ${np} rank(s) failed (exit ${rc}): again with ${fallback}")
    set(extra ${FALLBACK_FLAGS})
  endforeach()
endfunction()

set(reference "${WORK_DIR}/params_np1.txt")
run_ranks(1 "${reference}")
set(failed "")
set(summary "")
foreach(np IN LISTS NP_LIST)
  set(params "${WORK_DIR}/params_np${np}.txt")
  run_ranks(${np} "${params}")
  execute_process(COMMAND "${COMPARE}" "${reference}" "${params}" ${REL_TOL} ${ABS_TOL}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  string(STRIP "${out}" out)
  message("1 vs ${np} ranks: ${out}")
  string(APPEND summary "\n  1 vs ${np} ranks: ${out}")
  if(NOT rc EQUAL 0)
    list(APPEND failed ${np})
  endif()
endforeach()
message("${name}: parameters trained on 1 rank and on several${summary}")
if(failed)
  message(FATAL_ERROR "${name}: the parameters of 1 rank and of ${failed} ranks disagree")
endif()
