#include "test_pki.hpp"

namespace gateway_test {

const test_pki& pki() {
  static const test_pki instance;
  return instance;
}

}  // namespace gateway_test
