// make_bridge without hiredis (PARLEY_WITH_REDIS=OFF): refuses.
#include "broker/bridge.hpp"

namespace parley::detail {

const bool kBridgeBuilt = false;

Result<std::unique_ptr<Bridge>> make_bridge(net::Loop&, const RedisOptions&, Bridge::Events) {
  return Error(make_error_code(BrokerError::not_built), "ServerOptions::redis is set, but parley was built without hiredis");
}

}  // namespace parley::detail
