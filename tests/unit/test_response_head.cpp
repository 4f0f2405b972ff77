#include <string>

#include <doctest/doctest.h>

#include "proxy/http/response_head.hpp"

using recgate::response_head;

TEST_CASE("response_head renders the status line, the common fields and the framing") {
  response_head head(206, "Sun, 06 Dec 2026 20:00:00 GMT", "req-1");
  head.add("Content-Type", "audio/x-wav");
  head.add("Content-Range", "bytes 0-9/100");
  head.content_length(10);
  head.finish(true);
  CHECK(std::string(head.text()) ==
        "HTTP/1.1 206 Partial Content\r\n"
        "Date: Sun, 06 Dec 2026 20:00:00 GMT\r\n"
        "X-Request-Id: req-1\r\n"
        "Content-Type: audio/x-wav\r\n"
        "Content-Range: bytes 0-9/100\r\n"
        "Content-Length: 10\r\n"
        "\r\n");

  response_head closing(502, "d", "r");
  closing.chunked();
  closing.finish(false);
  CHECK(std::string(closing.text()) ==
        "HTTP/1.1 502 Bad Gateway\r\nDate: d\r\nX-Request-Id: r\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
}

TEST_CASE("response_head leaves out framing fields a caller gives and fields that would break it") {
  response_head head(200, "d", "r");
  head.add("content-length", "5");           // the writer's, from the body
  head.add("Transfer-Encoding", "chunked");  // likewise
  head.add("Connection", "keep-alive");      // likewise, from the request
  head.add("X-Evil", "a\r\nSet-Cookie: x=1");
  head.add("X-Nul", std::string("a\0b", 3));
  head.add("Bad Name", "v");
  head.add("Bad:Name", "v");
  head.add("", "v");
  head.add("ETag", "\"abc\"");
  head.content_length(0);
  head.finish(true);
  CHECK(std::string(head.text()) ==
        "HTTP/1.1 200 OK\r\nDate: d\r\nX-Request-Id: r\r\nETag: \"abc\"\r\nContent-Length: "
        "0\r\n\r\n");
}

TEST_CASE("reason phrases and chunk size lines") {
  CHECK(response_head::reason(304) == "Not Modified");
  CHECK(response_head::reason(416) == "Range Not Satisfiable");
  CHECK(response_head::reason(431) == "Request Header Fields Too Large");
  CHECK(response_head::reason(299) == "Unknown");
  char line[20];
  CHECK(recgate::chunk_size_line(0x1f, line) == "1f\r\n");
  CHECK(recgate::chunk_size_line(262144, line) == "40000\r\n");
  CHECK(recgate::chunk_size_line(SIZE_MAX, line) == "ffffffffffffffff\r\n");
}
