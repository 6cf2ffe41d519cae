#include "listen_probe.hpp"

#include <cerrno>

#include <fmt/format.h>
// RESTinio's asio, with the definitions its target sets, as the listener.
#include <restinio/asio_include.hpp>

namespace processpype {

namespace {

namespace ip = restinio::asio_ns::ip;

/// The address RESTinio 0.6's acceptor binds for `host`
/// (acceptor_t::try_extract_actual_address_from_variant): its two names of
/// loopback, else a literal IP address; it looks up no other name.
std::optional<ip::address> listener_address(const std::string& host) {
  std::string literal = host == "localhost" ? "127.0.0.1" : host == "ip6-localhost" ? "::1" : host;
  restinio::asio_ns::error_code error;
  auto address = ip::make_address(literal, error);
  if (error) return std::nullopt;
  return address;
}

std::string describe(const restinio::asio_ns::error_code& error) {
  // The usual mistake behind EADDRNOTAVAIL, which its text does not name.
  // asio's category maps no errno to std::errc: compared in its own.
  if (error == restinio::asio_ns::error_code{EADDRNOTAVAIL, restinio::asio_ns::system_category()})
    return fmt::format("not an address of this machine ({})", error.message());
  return error.message();
}

}  // namespace

std::optional<std::string> listen_problem(const std::string& host, std::uint16_t port) {
  auto address = listener_address(host);
  if (!address) return "not an IP address, localhost or ip6-localhost";
  restinio::asio_ns::io_context io;
  ip::tcp::acceptor acceptor{io};
  ip::tcp::endpoint endpoint{*address, port};
  restinio::asio_ns::error_code error;
  // The options RESTinio 0.6's acceptor sets by default (settings.hpp):
  // SO_REUSEADDR alone, so that a socket in TIME_WAIT does not count as
  // taken here while a listening one does, as for the listener.
  acceptor.open(endpoint.protocol(), error);
  if (!error) acceptor.set_option(ip::tcp::acceptor::reuse_address(true), error);
  if (!error) acceptor.bind(endpoint, error);
  if (error) return describe(error);
  return std::nullopt;
}

}  // namespace processpype
