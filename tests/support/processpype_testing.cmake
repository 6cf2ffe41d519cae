# Adds the test and benchmark harness (target processpype_testing, see
# tests/support/CMakeLists.txt) once, whichever of tests/ and benchmarks/
# includes this first: each of them can be built without the other.
include_guard(GLOBAL)
add_subdirectory(${CMAKE_CURRENT_LIST_DIR} ${PROJECT_BINARY_DIR}/tests/support)
