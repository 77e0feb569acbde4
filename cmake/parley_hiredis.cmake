# Finds hiredis (the Redis client of the broker, src/broker/) and defines the
# imported target hiredis::hiredis. Used by parley's own build and, for a
# static parley, by the installed parleyConfig.cmake. hiredis 1.x installs a
# CMake package that defines the target itself; Debian's 0.14 installs none
# that does, so the header and library are looked up directly.
if(NOT TARGET hiredis::hiredis)
  find_package(hiredis CONFIG QUIET)
endif()
if(NOT TARGET hiredis::hiredis)
  find_path(PARLEY_HIREDIS_INCLUDE_DIR hiredis/async.h)
  find_library(PARLEY_HIREDIS_LIBRARY NAMES hiredis)
  mark_as_advanced(PARLEY_HIREDIS_INCLUDE_DIR PARLEY_HIREDIS_LIBRARY)
  if(PARLEY_HIREDIS_INCLUDE_DIR AND PARLEY_HIREDIS_LIBRARY)
    add_library(hiredis::hiredis UNKNOWN IMPORTED)
    set_target_properties(hiredis::hiredis PROPERTIES
      IMPORTED_LOCATION "${PARLEY_HIREDIS_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${PARLEY_HIREDIS_INCLUDE_DIR}")
  endif()
endif()
