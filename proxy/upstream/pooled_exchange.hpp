#pragma once
// One upstream response read over an upstream_connection: its head, then its body as a
// body_source, kept to the body's pace (idle_timeout, min_body_rate, body_timeout). A connection
// whose response was read to its end goes back to the pool. Include only from the upstream
// room's .cpp files: it brings in Beast and Asio.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "proxy/upstream/body_pace.hpp"
#include "proxy/upstream/upstream_client.hpp"
#include "proxy/upstream/upstream_connection.hpp"
#include "util/net/net.hpp"

namespace recgate {

class pooled_exchange final : public upstream_exchange {
 public:
  pooled_exchange(std::unique_ptr<upstream_connection> conn,
                  std::shared_ptr<upstream_client::pool> pool, const config::upstream_config& cfg,
                  std::shared_ptr<upstream_error_counts> errors, const std::string& request_id);
  ~pooled_exchange() override;

  // The response head, within `timeout`; for a HEAD request the body is not expected.
  net::awaitable<upstream_step> read_head(bool head_request, config::duration timeout);

  unsigned status() const override;
  const http::fields& headers() const override;
  std::optional<std::uint64_t> content_length() const override;
  // Body bytes read with the head (a small body usually arrives whole with it; not counted for
  // a chunked body), or no body at all.
  bool first_bytes_at_hand() const override;
  net::awaitable<std::size_t> read_some(net::mutable_buffer buffer, beast::error_code& ec) override;

 private:
  // A connection whose response was read to its end, with nothing after it, goes back to the
  // pool for the next request to that origin: as soon as the end is read, before the client
  // has the last bytes (so a client's next request finds it there).
  void release();
  // A body that broke off (reset, closed short of its length), stalled or came too slowly:
  // counted and logged here, the one place every upstream body is read through.
  void body_failed(const beast::error_code& ec, std::string_view why = {});

  std::unique_ptr<upstream_connection> conn_;
  std::shared_ptr<upstream_client::pool> pool_;
  config::duration idle_timeout_;
  body_pace pace_;
  std::shared_ptr<upstream_error_counts> errors_;
  std::string request_id_;
  std::uint64_t body_bytes_ = 0;
  bool failed_ = false;
  http::response_parser<http::buffer_body> parser_;
};

}  // namespace recgate
