# Installs the libraries, their headers and a CMake package, so that an
# outside project can `find_package(processpype)` and link
# `processpype::processpype` (component `development`), and the server
# binary (component `server`). The Debian packages are these two components
# (cmake/Packaging.cmake).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set_target_properties(processpype PROPERTIES EXPORT_NAME processpype)
install(TARGETS processpype ${processpype_library_targets}
  EXPORT processpypeTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development)
install(TARGETS processpype_server RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT server)
foreach(layer ${PROCESSPYPE_LIBRARIES})
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${layer}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
    COMPONENT development)
endforeach()
install(FILES ${PROJECT_BINARY_DIR}/runtime/include/processpype/version.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/processpype COMPONENT development)

set(config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/processpype)
install(EXPORT processpypeTargets NAMESPACE processpype:: DESTINATION ${config_dir}
  COMPONENT development)
configure_package_config_file(cmake/processpypeConfig.cmake.in
  ${PROJECT_BINARY_DIR}/processpypeConfig.cmake INSTALL_DESTINATION ${config_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/processpypeConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/processpypeConfig.cmake
  ${PROJECT_BINARY_DIR}/processpypeConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/FindCAF.cmake
  DESTINATION ${config_dir} COMPONENT development)
