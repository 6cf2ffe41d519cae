# Makes the Debian packages of the build at BUILD_DIR in PACKAGE_DIR with
# CPack (run with -DCPACK= -DBUILD_DIR= -DPACKAGE_DIR=), for tests/debian.
file(REMOVE_RECURSE ${PACKAGE_DIR})
execute_process(
  COMMAND ${CPACK} -G DEB --config ${BUILD_DIR}/CPackConfig.cmake -B ${PACKAGE_DIR}
  RESULT_VARIABLE result)
if(result)
  message(FATAL_ERROR "cpack failed: ${result}")
endif()
file(GLOB packages ${PACKAGE_DIR}/*.deb)
message(STATUS "Packages: ${packages}")
