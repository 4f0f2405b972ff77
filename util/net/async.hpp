#pragma once
// The part of Asio the cache uses: coroutines, timers, a thread pool. No Beast, no sockets.
// Include only from .cpp files and from headers that .cpp files with I/O include.

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility> (fails on g++ 12).
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>

namespace net = boost::asio;
