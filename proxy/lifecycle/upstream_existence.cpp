#include "proxy/lifecycle/upstream_existence.hpp"

#include "proxy/upstream/upstream_origin.hpp"
#include "proxy/upstream/upstream_projects.hpp"
#include "util/net/net.hpp"

namespace recgate {

existence_probe upstream_existence(const shared_setting<const upstream_projects>& projects) {
  return [&projects](const cache::object_key& key,
                     const std::string& request_id) -> net::awaitable<existence> {
    auto project = projects.load()->find(key.account_sid);
    if (!project) co_return existence::unknown;  // a project removed by a reload
    auto request = audio_request(key);
    request.head = true;
    auto response = co_await fetch_from_upstream(project->client(), request, request_id);
    switch (response.head.status) {
      case 200:
        co_return existence::present;
      case 404:
      case 410:
        co_return existence::gone;
      default:
        co_return existence::unknown;
    }
  };
}

}  // namespace recgate
