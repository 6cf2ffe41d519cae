# Installs the libraries, their headers and a CMake package, so that an
# outside project can `find_package(processpype)` and link
# `processpype::processpype`.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set_target_properties(processpype PROPERTIES EXPORT_NAME processpype)
install(TARGETS processpype processpype_runtime processpype_state processpype_actors processpype_rest
  EXPORT processpypeTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS processpype_server RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
foreach(layer runtime state actors rest)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${layer}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endforeach()
install(FILES ${PROJECT_BINARY_DIR}/runtime/include/processpype/version.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/processpype)

set(config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/processpype)
install(EXPORT processpypeTargets NAMESPACE processpype:: DESTINATION ${config_dir})
configure_package_config_file(cmake/processpypeConfig.cmake.in
  ${PROJECT_BINARY_DIR}/processpypeConfig.cmake INSTALL_DESTINATION ${config_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/processpypeConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/processpypeConfig.cmake
  ${PROJECT_BINARY_DIR}/processpypeConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/FindCAF.cmake
  DESTINATION ${config_dir})
