#pragma once
// One way for a call that can fail to say so, used at every boundary between rooms: a value or
// an error, in the spirit of RocksDB's Status and of C++23's std::expected (which C++20 and
// GCC 12's library do not have; this is the small subset the code uses, written by hand).
//
//   result<std::unique_ptr<store>> open(...);     // a value, or why not (a message)
//   result<void> flush();                         // nothing, or why not
//   result<recording_request, route_error> route(...);   // a value, or a structured error
//
//   if (auto s = flush(); !s.ok()) log(s.error());
//   return fail("the folder is not writable");     // from any function returning a result
//
// [[nodiscard]]: a failure that nobody looks at is a bug the compiler reports. Asking a result for
// what it does not hold asserts (and throws when asserts are off); `make()->member` and `*make()`
// are for use within the expression, as with std::optional. When T and E are the same type (a
// message either way), only fail() makes an error: `return text;` is a success. No conversion to
// bool: the code this replaced had results whose truth meant failure (an optional error message)
// beside others whose truth meant success, and `ok()` cannot be read the wrong way round.

#include <cassert>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace recgate {

// An error on its way into a result (std::unexpected's role).
template <class E>
struct failure {
  E error;
};

template <class E>
failure<std::decay_t<E>> fail(E&& error) {
  return {std::forward<E>(error)};
}
inline failure<std::string> fail(const char* message) { return {std::string(message)}; }

template <class T, class E = std::string>
class [[nodiscard]] result {
 public:
  using value_type = T;
  using error_type = E;

  // NOLINTNEXTLINE(google-explicit-constructor): returning a value is the success path
  result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  template <class G>
  // NOLINTNEXTLINE(google-explicit-constructor): `return fail(...)` is the failure path
  result(failure<G> f) : state_(std::in_place_index<1>, E(std::move(f.error))) {}

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const = delete;

  T& value() & {
    assert(ok());
    return std::get<0>(state_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(state_);
  }
  // From a temporary, by value: `for (auto& x : make().value())` must not dangle.
  T value() && {
    assert(ok());
    return std::get<0>(std::move(state_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const E& error() const& {
    assert(!ok());
    return std::get<1>(state_);
  }
  E error() && {  // by value, as value() &&
    assert(!ok());
    return std::get<1>(std::move(state_));
  }
  // Says at the call that a failure needs nothing from the caller (it was logged or counted
  // where it happened, say): what [[nodiscard]] asks the caller to decide.
  void ignore() const {}

 private:
  std::variant<T, E> state_;
};

// Nothing on success.
template <class E>
class [[nodiscard]] result<void, E> {
 public:
  using error_type = E;

  result() = default;
  template <class G>
  // NOLINTNEXTLINE(google-explicit-constructor): `return fail(...)` is the failure path
  result(failure<G> f) : error_(E(std::move(f.error))) {}

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const = delete;

  const E& error() const& {
    assert(!ok());
    return error_.value();  // throws rather than reads nothing when asserts are off
  }
  E error() && {
    assert(!ok());
    return std::move(error_.value());
  }
  void ignore() const {}  // as result<T>::ignore

 private:
  std::optional<E> error_;
};

}  // namespace recgate
