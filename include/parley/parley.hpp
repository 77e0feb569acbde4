// parley/parley.hpp — the whole public API of parley in one include.
#pragma once

#include "parley/close_code.hpp"
#include "parley/error.hpp"
#include "parley/export.hpp"
#include "parley/net/endpoint.hpp"
#include "parley/net/loop.hpp"
#include "parley/net/tcp.hpp"
#include "parley/protocol/engine.hpp"
#include "parley/protocol/frame.hpp"
#include "parley/protocol/handshake.hpp"
#include "parley/protocol/headers.hpp"
#include "parley/protocol/http.hpp"
#include "parley/protocol/mask.hpp"
#include "parley/protocol/uri.hpp"
#include "parley/protocol/utf8.hpp"
#include "parley/version.hpp"
