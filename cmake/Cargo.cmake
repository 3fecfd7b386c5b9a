# Cargo.cmake -- build a Rust crate with cargo and expose it to CMake.
#
# A deliberately small, in-tree replacement for Corrosion (which cannot be
# fetched here). It only supports what this project needs: one crate whose
# [lib] is built as `staticlib` + `cdylib`, on Linux, with the `release`
# profile.
#
#   include(Cargo)
#   cargo_add_crate(<lib-name> [INCLUDE_DIR <dir>] [NO_SHARED_ALIAS])
#
# creates
#   <lib-name>_cargo              custom target running `cargo build` (in ALL)
#   <lib-name>_static             IMPORTED static library lib<lib-name>.a, with
#                                 the native libraries a Rust staticlib needs
#   <lib-name>_shared             IMPORTED shared library lib<lib-name>.so
#   <lib-name>::<lib-name>        ALIAS of <lib-name>_shared (not with NO_SHARED_ALIAS: the
#                                 caller defines that name itself)
#   <lib-name>::<lib-name>_static ALIAS of <lib-name>_static
# and sets, in the caller's scope,
#   <lib-name>_CARGO_LIBDIR         directory cargo puts the libraries in
#   <lib-name>_STATIC_LIBRARY       full path of the .a
#   <lib-name>_SHARED_LIBRARY       full path of the .so
#   <lib-name>_NATIVE_STATIC_LIBS   link items the .a needs (for package configs)
#   <lib-name>_CARGO_STAMP          file touched after every cargo run (see below)
#
# The crate is the one whose Cargo.toml sits in CMAKE_CURRENT_SOURCE_DIR;
# cargo's target directory is <binary dir>/cargo, so `rm -rf build` really is
# a clean build and the source tree's /target is left alone.

include_guard(GLOBAL)

# --- cargo --------------------------------------------------------------------
# rustup installs into ~/.cargo/bin, which is often not on PATH in
# non-interactive shells (CI), so look there after PATH.
set(_cargo_hints "$ENV{HOME}/.cargo/bin")
if(DEFINED ENV{CARGO_HOME})
  list(PREPEND _cargo_hints "$ENV{CARGO_HOME}/bin")
endif()
find_program(CARGO_EXECUTABLE cargo PATHS ${_cargo_hints}
  DOC "cargo, the Rust build tool")
if(NOT CARGO_EXECUTABLE)
  message(FATAL_ERROR
    "cargo was not found on PATH nor in ${_cargo_hints}. Install the Rust "
    "toolchain (https://rustup.rs) or pass -DCARGO_EXECUTABLE=/path/to/cargo.")
endif()
execute_process(COMMAND "${CARGO_EXECUTABLE}" --version
  OUTPUT_VARIABLE _cargo_version OUTPUT_STRIP_TRAILING_WHITESPACE)
message(STATUS "Found cargo: ${CARGO_EXECUTABLE} (${_cargo_version})")

if(NOT CMAKE_SYSTEM_NAME STREQUAL "Linux")
  # Library file names and the native link libraries below are Linux ones.
  message(WARNING "Cargo.cmake is only tested on Linux; "
                  "expect to adjust library names and native libs.")
endif()

# A Rust staticlib does not carry its dependencies on the C runtime. On Linux
# glibc, `cargo rustc -- --print=native-static-libs` reports
#   -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
# (libc is linked anyway). Hardcoded rather than queried, since asking needs a
# full build at configure time.
find_package(Threads REQUIRED)
set(CARGO_LINUX_NATIVE_STATIC_LIBS gcc_s util rt Threads::Threads m ${CMAKE_DL_LIBS})

function(cargo_add_crate lib)
  cmake_parse_arguments(PARSE_ARGV 1 arg "NO_SHARED_ALIAS" "INCLUDE_DIR" "")
  if(NOT arg_INCLUDE_DIR)
    set(arg_INCLUDE_DIR "${CMAKE_CURRENT_SOURCE_DIR}/include")
  endif()
  set(crate_dir "${CMAKE_CURRENT_SOURCE_DIR}")
  # A nested build (the flang test, the consumer and clients tests) may share the outer build's
  # cargo output. The outer build owns those files: the nested one keeps its stamp in its own
  # binary dir and does not declare the libraries as its byproducts, or its `clean` (which
  # `ctest --build-and-test` runs first) would delete them while other tests use them.
  if(DIFFSTRUC_CARGO_TARGET_DIR)
    set(target_dir "${DIFFSTRUC_CARGO_TARGET_DIR}")
    set(stamp "${CMAKE_CURRENT_BINARY_DIR}/${lib}-cargo.stamp")
    set(byproducts "")
  else()
    set(target_dir "${CMAKE_CURRENT_BINARY_DIR}/cargo")
    set(stamp "${target_dir}/${lib}.stamp")
    set(byproducts BYPRODUCTS "${target_dir}/release/lib${lib}.a"
                              "${target_dir}/release/lib${lib}.so")
  endif()
  set(libdir "${target_dir}/release")
  set(static_lib "${libdir}/lib${lib}.a")
  set(shared_lib "${libdir}/lib${lib}.so")

  # Everything cargo's decision to rebuild depends on (short of environment
  # variables such as RUSTFLAGS). CONFIGURE_DEPENDS re-globs on every build,
  # so adding or removing a module (or a cbindgen.toml) is noticed without
  # re-running cmake by hand. Only src/ is searched recursively: a recursive
  # glob from the crate root would crawl the build and target directories.
  file(GLOB_RECURSE rust_sources CONFIGURE_DEPENDS "${crate_dir}/src/*.rs")
  file(GLOB crate_files CONFIGURE_DEPENDS
    "${crate_dir}/build.rs"
    "${crate_dir}/Cargo.toml"
    "${crate_dir}/Cargo.lock"
    "${crate_dir}/cbindgen.toml"
    "${crate_dir}/.cargo/config.toml")
  list(APPEND rust_sources ${crate_files})

  # The command writes a stamp as its OUTPUT and declares the libraries as
  # BYPRODUCTS: Ninja then knows which rule produces them (so executables
  # linking them get ordered after cargo) and, because byproducts are
  # `restat`, relinks dependents only when cargo really changed a library.
  # cargo itself is incremental, so a spurious run costs well under a second.
  # (A nested build that reuses a cargo dir has no BYPRODUCTS here: see above.)
  add_custom_command(
    OUTPUT "${stamp}"
    ${byproducts}
    COMMAND "${CARGO_EXECUTABLE}" build --locked --release --lib
            --manifest-path "${crate_dir}/Cargo.toml"
            --target-dir "${target_dir}"
    COMMAND "${CMAKE_COMMAND}" -E touch "${stamp}"
    DEPENDS ${rust_sources}
    WORKING_DIRECTORY "${crate_dir}"
    COMMENT "Building Rust crate ${lib} with cargo (release)"
    USES_TERMINAL # show cargo's progress live; runs in Ninja's console pool
    VERBATIM)
  add_custom_target(${lib}_cargo ALL DEPENDS "${stamp}")

  # IMPORTED targets must point at an existing include directory at generate
  # time; include/ only holds the generated header, so make sure it exists.
  file(MAKE_DIRECTORY "${arg_INCLUDE_DIR}")

  set(native_libs ${CARGO_LINUX_NATIVE_STATIC_LIBS})
  add_library(${lib}_static STATIC IMPORTED GLOBAL)
  set_target_properties(${lib}_static PROPERTIES
    IMPORTED_LOCATION "${static_lib}"
    INTERFACE_INCLUDE_DIRECTORIES "${arg_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${native_libs}")

  add_library(${lib}_shared SHARED IMPORTED GLOBAL)
  set_target_properties(${lib}_shared PROPERTIES
    IMPORTED_LOCATION "${shared_lib}"
    # rustc does not give a cdylib a DT_SONAME. Linking such a library by
    # full path would record that absolute path as DT_NEEDED; with
    # IMPORTED_NO_SONAME CMake links it as -L<dir> -l<lib> instead.
    IMPORTED_NO_SONAME TRUE
    INTERFACE_INCLUDE_DIRECTORIES "${arg_INCLUDE_DIR}")

  # Imported targets' include directories are -isystem by default, which
  # would hide warnings in our own generated header from the -Werror tests.
  set_target_properties(${lib}_static ${lib}_shared PROPERTIES SYSTEM FALSE)

  # Dependencies of imported targets are followed by whatever links them, so
  # anything using the libraries (or their header) is built after cargo.
  add_dependencies(${lib}_static ${lib}_cargo)
  add_dependencies(${lib}_shared ${lib}_cargo)

  # Namespaced names, matching the installed package (diffstrucConfig.cmake).
  # ALIASes of (global) imported targets are fine since CMake 3.18.
  if(NOT arg_NO_SHARED_ALIAS)
    add_library(${lib}::${lib} ALIAS ${lib}_shared)
  endif()
  add_library(${lib}::${lib}_static ALIAS ${lib}_static)

  set(${lib}_CARGO_LIBDIR "${libdir}" PARENT_SCOPE)
  set(${lib}_STATIC_LIBRARY "${static_lib}" PARENT_SCOPE)
  set(${lib}_SHARED_LIBRARY "${shared_lib}" PARENT_SCOPE)
  set(${lib}_NATIVE_STATIC_LIBS "${native_libs}" PARENT_SCOPE)
  # build.rs rewrites the C header in the source tree, where it cannot be a
  # declared output (Ninja's `clean` would delete the committed file), so
  # Ninja does not notice in the same run that objects including it are
  # stale. Sources that include the header should list this stamp in their
  # OBJECT_DEPENDS: they are then recompiled whenever cargo ran.
  set(${lib}_CARGO_STAMP "${stamp}" PARENT_SCOPE)
endfunction()
