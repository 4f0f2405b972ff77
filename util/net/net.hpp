#pragma once
// The one header that brings in Asio and Beast, with the namespace aliases the project uses.
// It is heavy (~20 s of compile time per translation unit): include it only from .cpp files
// that do network I/O, never from a header that pure code includes.

#include <utility>  // before Asio: see async.hpp

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "util/net/async.hpp"

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
