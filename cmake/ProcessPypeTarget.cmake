# Common settings for every ProcessPype target: warnings and the layer's
# public include directory (usable from the build and the install tree).
function(processpype_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
endfunction()

function(processpype_add_library name)
  add_library(processpype_${name} ${ARGN})
  add_library(processpype::${name} ALIAS processpype_${name})
  set_target_properties(processpype_${name} PROPERTIES EXPORT_NAME ${name})
  target_include_directories(processpype_${name} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:include>)
  processpype_set_warnings(processpype_${name})
endfunction()
