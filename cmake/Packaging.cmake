# The Debian packages, one per install component (docs/packaging.md;
# scripts/package.sh builds them and runs lintian):
#
#   processpype      component `server`: /usr/bin/processpype, its systemd
#                    unit, /etc/processpype/processpype.yaml (a conffile), the
#                    man page, and maintainer scripts that create the system
#                    user and enable and start the unit
#   processpype-dev  component `development`: the static libraries, headers
#                    and CMake package of cmake/Install.cmake
#
# The files below are EXCLUDE_FROM_ALL: only a component install (CPack's)
# writes them, so a plain `cmake --install` into any prefix never touches
# /etc or /lib/systemd.
include(GNUInstallDirs)

set(PROCESSPYPE_PACKAGE_MAINTAINER
  "ProcessPype C++ maintainers <maintainers@users.noreply.r-seed-3e808c06.example>"
  CACHE STRING "Maintainer of the Debian packages (as in packaging/debian/changelog)")
set(PROCESSPYPE_PACKAGE_HOMEPAGE "" CACHE STRING
  "Homepage field of the Debian packages (none when empty)")

set(packaging_dir ${PROJECT_SOURCE_DIR}/packaging)
set(packaging_build_dir ${PROJECT_BINARY_DIR}/packaging)

# The version of the packages is the latest entry of the Debian changelog:
# the upstream part must be the project's.
file(STRINGS ${packaging_dir}/debian/changelog latest_entry LIMIT_COUNT 1)
if(NOT latest_entry MATCHES "^processpype \\(([^)-]+)-([^)]+)\\)")
  message(FATAL_ERROR "packaging/debian/changelog: no 'processpype (VERSION-REVISION)' first line")
endif()
set(package_revision ${CMAKE_MATCH_2})
if(NOT CMAKE_MATCH_1 STREQUAL PROJECT_VERSION)
  message(WARNING "packaging/debian/changelog: the latest entry is for ${CMAKE_MATCH_1}, the "
                  "project is ${PROJECT_VERSION}: add an entry before building packages")
endif()

# Changelogs and man pages are compressed with gzip -9n, as Debian Policy
# asks (no file name or time inside: the same bytes every build).
function(processpype_gzip source output)
  execute_process(COMMAND gzip -9nc ${source} OUTPUT_FILE ${output} RESULT_VARIABLE failed)
  if(failed)
    message(FATAL_ERROR "gzip ${source}: ${failed}")
  endif()
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${source})
endfunction()
configure_file(${packaging_dir}/processpype.1.in ${packaging_build_dir}/processpype.1 @ONLY)
processpype_gzip(${packaging_build_dir}/processpype.1 ${packaging_build_dir}/processpype.1.gz)
processpype_gzip(${packaging_dir}/debian/changelog ${packaging_build_dir}/changelog.Debian.gz)

install(FILES ${packaging_dir}/processpype.service
  DESTINATION /lib/systemd/system COMPONENT server EXCLUDE_FROM_ALL)
install(FILES ${packaging_dir}/processpype.yaml
  DESTINATION /etc/processpype COMPONENT server EXCLUDE_FROM_ALL)
install(FILES ${packaging_build_dir}/processpype.1.gz
  DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT server EXCLUDE_FROM_ALL)
foreach(package_component processpype:server processpype-dev:development)
  string(REPLACE ":" ";" package_component ${package_component})
  list(GET package_component 0 package)
  list(GET package_component 1 component)
  install(FILES ${packaging_dir}/debian/copyright ${packaging_build_dir}/changelog.Debian.gz
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${package} COMPONENT ${component} EXCLUDE_FROM_ALL)
  install(FILES ${packaging_dir}/debian/${package}.lintian-overrides
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides RENAME ${package}
    COMPONENT ${component} EXCLUDE_FROM_ALL)
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME processpype)
set(CPACK_PACKAGE_VENDOR "ProcessPype C++")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT ${PROCESSPYPE_PACKAGE_MAINTAINER})
# Each package's synopsis is the first line of its description below
# (CPack would put the project's DESCRIPTION before both).
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL server development)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${package_revision})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${PROCESSPYPE_PACKAGE_MAINTAINER})
if(PROCESSPYPE_PACKAGE_HOMEPAGE)
  set(CPACK_DEBIAN_PACKAGE_HOMEPAGE ${PROCESSPYPE_PACKAGE_HOMEPAGE})
endif()
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Maintainer scripts 0755, conffiles 0644, as lintian wants them.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_SERVER_PACKAGE_NAME processpype)
set(CPACK_DEBIAN_SERVER_PACKAGE_SECTION admin)
# With the shared libraries dpkg-shlibdeps finds; adduser for postinst.
set(CPACK_DEBIAN_SERVER_PACKAGE_DEPENDS adduser)
set(CPACK_DEBIAN_SERVER_PACKAGE_CONTROL_EXTRA
  ${packaging_dir}/debian/conffiles ${packaging_dir}/debian/postinst
  ${packaging_dir}/debian/prerm ${packaging_dir}/debian/postrm)
set(CPACK_DEBIAN_SERVER_DESCRIPTION
  "actor-model runtime for long-running services
ProcessPype runs services as CAF actors under a supervisor: each has a
lifecycle state machine, a validated configuration and REST endpoints, and
is restarted when it fails. Nodes form a cluster.

This package holds the processpype server and its command-line client,
a hardened systemd unit (Type=notify, with a watchdog) and a default
configuration in /etc/processpype.")

set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME processpype-dev)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
# What the CMake package's find_dependency calls look for.
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS
  "libcaf-dev, librestinio-dev, libasio-dev, libhttp-parser-dev, libfmt-dev, nlohmann-json3-dev, libspdlog-dev, libyaml-cpp-dev, libsqlite3-dev, libssl-dev, libcurl4-openssl-dev | libcurl-dev")
set(CPACK_DEBIAN_DEVELOPMENT_DESCRIPTION
  "actor-model runtime for long-running services (development files)
ProcessPype runs services as CAF actors under a supervisor: each has a
lifecycle state machine, a validated configuration and REST endpoints, and
is restarted when it fails.

This package holds the static libraries, headers and CMake package to embed
the runtime in a program: find_package(processpype) and link
processpype::processpype.")

include(CPack)
