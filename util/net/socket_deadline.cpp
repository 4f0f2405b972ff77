#include "util/net/socket_deadline.hpp"

#include <algorithm>

namespace recgate {

net::execution_context::id deadline_sweeper::id;

deadline_sweeper::deadline_sweeper(net::io_context& io)
    : net::execution_context::service(io), timer_(io.get_executor()) {}

void socket_deadline::join(clock::time_point at) {
  if (!listed_) {
    if (socket_ == nullptr) return;  // nothing to close yet
    if (sweeper_ == nullptr) {
      // Once per socket: the lookup takes the io_context's service registry lock.
      auto& context = net::query(socket_->get_executor(), net::execution::context);
      sweeper_ = &net::use_service<deadline_sweeper>(static_cast<net::io_context&>(context));
    }
    sweeper_->add(*this);
    listed_ = true;
  }
  if (at < sweeper_->armed_) sweeper_->arm(at);
}

void socket_deadline::release() {
  if (listed_) sweeper_->remove(*this);
  listed_ = false;
  at_ = clock::time_point::max();
}

void deadline_sweeper::add(socket_deadline& d) {
  d.prev_ = nullptr;
  d.next_ = head_;
  if (head_ != nullptr) head_->prev_ = &d;
  head_ = &d;
  ++count_;
}

void deadline_sweeper::remove(socket_deadline& d) {
  if (d.prev_ != nullptr)
    d.prev_->next_ = d.next_;
  else
    head_ = d.next_;
  if (d.next_ != nullptr) d.next_->prev_ = d.prev_;
  d.prev_ = d.next_ = nullptr;
  --count_;
}

void deadline_sweeper::arm(socket_deadline::clock::time_point at) {
  if (shut_) return;
  armed_ = at;
  // Moving the expiry cancels the wait in progress: its handler sees operation_aborted and
  // leaves the sweep to the new one.
  timer_.expires_at(at);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec != net::error::operation_aborted) sweep();
  });
}

void deadline_sweeper::sweep() {
  armed_ = socket_deadline::clock::time_point::max();
  const auto now = socket_deadline::clock::now();
  auto next = socket_deadline::clock::time_point::max();
  for (auto* d = head_; d != nullptr; d = d->next_) {
    if (d->at_ <= now) {
      // Closing only queues the socket's pending handlers: nothing runs here that could change
      // the list.
      d->at_ = socket_deadline::clock::time_point::max();
      d->expired_ = true;
      boost::system::error_code ignored;
      d->socket_->close(ignored);
    } else {
      next = std::min(next, d->at_);
    }
  }
  if (next != socket_deadline::clock::time_point::max()) arm(next);
}

void deadline_sweeper::shutdown() {
  shut_ = true;
  armed_ = socket_deadline::clock::time_point::min();  // nothing joins the timer any more
  timer_.cancel();
}

}  // namespace recgate
