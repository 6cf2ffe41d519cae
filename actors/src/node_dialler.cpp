#include "node_dialler.hpp"

#include <fmt/format.h>
#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>

#include "processpype/actors/node_directory.hpp"

namespace processpype {
namespace {

/// True when CAF could not open a TCP connection at all (its context is
/// ("ip_connect failed", host, port)), as opposed to a handshake failure.
bool nothing_listens(const caf::error& error) {
  const auto& context = error.context();
  return !context.empty() && context.match_element<std::string>(0) &&
         context.get_as<std::string>(0) == "ip_connect failed";
}

}  // namespace

void NodeDialler::dial(const std::string& address, Reply reply) {
  auto parsed = parse_node_address(address);
  if (!parsed)
    return reply_to(address, reply, make_error(ErrorCode::bad_request, "not a node address"));
  if (tls_ && !self_->system().has_openssl_manager())
    return reply_to(address, reply,
                    make_error(ErrorCode::bad_request,
                               "node TLS needs CAF's OpenSSL module in the actor system"));
  dialling_.insert(address);
  log_->debug("Dialling {}", address);
  self_->request(connector(), peer_timeout, caf::connect_atom::value, parsed->first, parsed->second)
      .then(
          [this, address, reply](const caf::node_id&, caf::strong_actor_ptr& peer,
                                 const std::set<std::string>&) {
            if (!peer)
              return reply_to(
                  address, reply,
                  make_error(ErrorCode::node_unavailable, "no node is published there"));
            say_hello(caf::actor_cast<NodeActor>(peer), address, reply);
          },
          [this, address, reply](caf::error& error) {
            reply_to(address, reply, connection_error(error));
          });
}

void NodeDialler::say_hello(const NodeActor& peer, const std::string& address, Reply reply) {
  self_->request(peer, peer_timeout, hello_atom::value, me_)
      .then([this, address,
             reply](Welcome& welcome) { reply_to(address, reply, std::move(welcome)); },
            // A refusal is one of ours; CAF's own errors (no answer, the
            // connection closed) stay as they are for hello_lost.
            [this, address, reply](caf::error& error) { reply_to(address, reply, error); });
}

bool NodeDialler::hello_lost(const caf::error& failure) {
  return failure && failure.category() != error_category;
}

void NodeDialler::reply_to(const std::string& address, const Reply& reply,
                           caf::expected<Welcome> outcome) {
  dialling_.erase(address);
  reply(std::move(outcome));
}

caf::io::middleman_actor NodeDialler::connector() const {
  return tls_ ? self_->system().openssl_manager().actor_handle()
              : self_->system().middleman().actor_handle();
}

caf::error NodeDialler::connection_error(const caf::error& error) const {
  if (error == caf::sec::request_timeout)
    return make_error(ErrorCode::node_unavailable,
                      fmt::format("no node handshake within {} s (not a node port, or node TLS "
                                  "on one side only)",
                                  peer_timeout.count()));
  auto text = self_->system().render(error);
  // Nothing listens there yet: nodes of a cluster start in any order. CAF
  // 0.17 reports a refused TCP connection and a failed handshake with the
  // same code; only the former carries "ip_connect failed", and only the
  // former is worth trying again (a peer that answers in another protocol,
  // or with node TLS on one side only, stays wrong).
  if (error == caf::sec::cannot_connect_to_node && nothing_listens(error))
    return make_error(ErrorCode::unreachable, std::move(text));
  if (error == caf::sec::cannot_connect_to_node && !tls_)
    text += " (something answers there but not as a node: node TLS on the peer only?)";
  if (tls_)
    text += " (with node TLS: does the peer use node TLS with a certificate of the same CA?)";
  return make_error(ErrorCode::node_unavailable, std::move(text));
}

}  // namespace processpype
