#pragma once

#include <memory>
#include <string>

#include "processpype/runtime/service_registry.hpp"

namespace processpype {

/// A stand-in for a class this node does not have (a state file or a
/// cluster record names a class that is gone): its instances stay in error,
/// and a start says why (missing_class_reason).
std::shared_ptr<const ServiceClass> missing_class(const std::string& key);

/// "Service class '<key>' is not registered on this node".
std::string missing_class_reason(const std::string& key);

}  // namespace processpype
