# GuideBlocks.cmake -- every program in the user guide (docs/guide.md) is compiled and run by ctest.
#
# Conventions of the guide (repeated in an HTML comment at its top):
#   ```fortran, ```c   a block whose info string is exactly `fortran` or `c` is a complete
#                      program. It is extracted to <build>/guide/guide_NN.f90 or .c (NN: its
#                      number among such blocks, in document order), built against
#                      diffstruc::diffstruc and registered as the ctest test guide_NN (label
#                      `guide`). It must exit with status 0.
#   ```text            right after a program block (only blank lines in between): the program's
#                      expected standard output. The test fails unless the program prints exactly
#                      that (trailing blanks on a line and trailing empty lines are ignored).
#   ```c snippet       (any second word) code shown with C or Fortran highlighting that is not a
#   ```fortran snippet complete program: not compiled. So is every other language (```sh, ```cmake,
#                      ```toml, a ```text block that does not follow a program).
#   Fences are ``` at the start of a line (not indented; ~~~ is not recognised).
#
# Two modes:
#   include(cmake/GuideBlocks.cmake)                    configure time: defines
#   diffstruc_add_guide_tests(<guide.md>)               the function that extracts and registers
#   cmake -DPROGRAM=<exe> [-DEXPECTED=<file>] [-DSOURCE=<where, for messages>]
#         -P cmake/GuideBlocks.cmake                    a test: run PROGRAM, check its output
# The extraction runs at configure time; the guide is a configure dependency, so editing it
# reconfigures at the next build, which rebuilds the programs whose text or position changed.

if(CMAKE_SCRIPT_MODE_FILE)
  # ---- run one program --------------------------------------------------------------------
  # (message(NOTICE) prints the outputs as they are; FATAL_ERROR would re-wrap them)
  execute_process(COMMAND "${PROGRAM}" RESULT_VARIABLE rc
    OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(NOTICE "--- stdout:\n${out}--- stderr:\n${err}---")
    message(FATAL_ERROR "${PROGRAM} (the program of ${SOURCE}) failed: exit ${rc}")
  endif()
  if(EXPECTED)
    file(READ "${EXPECTED}" want)
    foreach(v out want)
      string(REGEX REPLACE "[ \t]+\n" "\n" ${v} "${${v}}")
      string(REGEX REPLACE "[ \t\n]+$" "" ${v} "${${v}}")
    endforeach()
    if(NOT out STREQUAL want)
      message(NOTICE "--- printed:\n${out}\n--- the guide shows:\n${want}\n"
                     "--- stderr:\n${err}---")
      message(FATAL_ERROR "the output of the program of ${SOURCE} differs from the one the "
                          "guide shows after it")
    endif()
    message(STATUS "output as in the guide:\n${out}")
  else()
    message(STATUS "exit 0; output:\n${out}")
  endif()
  return()
endif()

# ---- configure time ---------------------------------------------------------------------------
# Writes `content` to `file` unless it already holds exactly that (keeps its timestamp, so a
# program is not rebuilt when the guide changes only after it).
function(_diffstruc_guide_write file content)
  if(EXISTS "${file}")
    file(READ "${file}" old)
    if(old STREQUAL content)
      return()
    endif()
  endif()
  file(WRITE "${file}" "${content}")
endfunction()

# Extracts the programs of `guide` (see the conventions above) into <binary dir>/guide and
# registers one test per program. Fortran programs only when the Fortran module is built.
function(diffstruc_add_guide_tests guide)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${guide}")
  set(out_dir "${CMAKE_CURRENT_BINARY_DIR}/guide")
  file(MAKE_DIRECTORY "${out_dir}")
  file(RELATIVE_PATH guide_rel "${PROJECT_SOURCE_DIR}" "${guide}")

  file(READ "${guide}" text)
  string(REPLACE "\r\n" "\n" text "${text}")
  if(NOT text MATCHES "\n$")
    string(APPEND text "\n")
  endif()

  # Line by line, without CMake lists (code holds semicolons and brackets).
  set(line_no 0)
  set(in_block FALSE)
  set(kind "")          # of the open block: fortran, c, expected or skip
  set(body "")
  set(open_line 0)
  set(last_program "")  # the program block a ```text block may follow
  set(count 0)
  set(programs "")      # guide_NN names (no semicolons in them: a plain list is safe)
  while(NOT text STREQUAL "")
    string(FIND "${text}" "\n" eol)
    string(SUBSTRING "${text}" 0 ${eol} line)
    math(EXPR next "${eol} + 1")
    string(SUBSTRING "${text}" ${next} -1 text)
    math(EXPR line_no "${line_no} + 1")

    if(NOT in_block)
      if(line MATCHES "^```(.*)$")
        string(STRIP "${CMAKE_MATCH_1}" info)
        set(in_block TRUE)
        set(body "")
        set(open_line ${line_no})
        if(info STREQUAL "fortran" OR info STREQUAL "c")
          set(kind "${info}")
        elseif(info STREQUAL "text" AND last_program)
          set(kind expected)
        else()
          set(kind skip)
        endif()
      elseif(NOT line MATCHES "^[ \t]*$")
        set(last_program "")
      endif()
      continue()
    endif()

    if(NOT line MATCHES "^```[ \t]*$")
      string(APPEND body "${line}\n")
      continue()
    endif()

    # the block ends here
    set(in_block FALSE)
    math(EXPR first "${open_line} + 1")
    math(EXPR last "${line_no} - 1")
    if(kind STREQUAL "fortran" OR kind STREQUAL "c")
      math(EXPR count "${count} + 1")
      if(count LESS 10)
        set(name "guide_0${count}")
      else()
        set(name "guide_${count}")
      endif()
      if(kind STREQUAL "fortran")
        set(ext f90)
        set(comment "!")
      else()
        set(ext c)
        set(comment "//")
      endif()
      # Appended, so that line n of the file is line (first - 1 + n) of the guide.
      string(APPEND body "${comment} Extracted from ${guide_rel}, lines ${first}-${last}, by "
                         "cmake/GuideBlocks.cmake: edit the guide, not this file.\n")
      _diffstruc_guide_write("${out_dir}/${name}.${ext}" "${body}")
      set(${name}_kind ${kind})
      set(${name}_lines "${first}-${last}")
      set(${name}_expected "")
      list(APPEND programs ${name})
      set(last_program ${name})
    elseif(kind STREQUAL "expected")
      _diffstruc_guide_write("${out_dir}/${last_program}.expected" "${body}")
      set(${last_program}_expected "${out_dir}/${last_program}.expected")
      set(last_program "")
    else()
      set(last_program "")
    endif()
  endwhile()
  if(in_block)
    message(FATAL_ERROR "${guide}:${open_line}: the code block opened here is not closed")
  endif()

  # Files of programs the guide no longer has.
  file(GLOB old_files "${out_dir}/guide_*.f90" "${out_dir}/guide_*.c" "${out_dir}/guide_*.expected")
  foreach(f IN LISTS old_files)
    get_filename_component(stem "${f}" NAME_WE)
    get_filename_component(ext "${f}" LAST_EXT)
    if(NOT stem IN_LIST programs OR (ext STREQUAL ".expected" AND NOT ${stem}_expected))
      file(REMOVE "${f}")
    endif()
  endforeach()

  set(skipped "")
  foreach(name IN LISTS programs)
    if(${name}_kind STREQUAL "fortran")
      if(NOT DIFFSTRUC_BUILD_FORTRAN)
        list(APPEND skipped ${name})
        continue()
      endif()
      add_executable(${name} "${out_dir}/${name}.f90")
      target_link_libraries(${name} PRIVATE diffstruc::diffstruc)
      # gfortran: standard Fortran, warnings (errors with DIFFSTRUC_WERROR), run-time checks
      target_compile_options(${name} PRIVATE
        $<$<Fortran_COMPILER_ID:GNU>:-std=f2018 -Wall -Wextra -Wno-maybe-uninitialized ${DIFFSTRUC_WERROR_FLAGS} -g -fcheck=all>)
      set_target_properties(${name} PROPERTIES
        Fortran_MODULE_DIRECTORY "${out_dir}/mod/${name}")
    else()
      diffstruc_add_c_program(${name} "${out_dir}/${name}.c" diffstruc::diffstruc)
      target_compile_options(${name} PRIVATE -pedantic ${DIFFSTRUC_WERROR_FLAGS})
    endif()
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY "${out_dir}")
    add_test(NAME ${name}
      COMMAND "${CMAKE_COMMAND}" "-DPROGRAM=$<TARGET_FILE:${name}>"
              "-DEXPECTED=${${name}_expected}"
              "-DSOURCE=${guide_rel}, lines ${${name}_lines}"
              -P "${CMAKE_CURRENT_FUNCTION_LIST_FILE}"
      WORKING_DIRECTORY "${out_dir}")
    set_tests_properties(${name} PROPERTIES
      LABELS guide
      TIMEOUT 120
      # the threads section prints the default thread count
      ENVIRONMENT_MODIFICATION "DIFFSTRUC_NUM_THREADS=unset:")
  endforeach()
  set(registered ${programs})
  if(skipped)
    list(REMOVE_ITEM registered ${skipped})
  endif()
  list(JOIN registered " " names)
  message(STATUS "guide: the programs of ${guide_rel} are the tests (label guide): ${names}")
  if(skipped)
    list(JOIN skipped " " names)
    message(STATUS "guide: without the Fortran module, not registered: ${names}")
  endif()
endfunction()
