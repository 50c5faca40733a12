// What a fake returns for one request: the response plus what the request log needs.
//
// Thread safety: plain data.
#ifndef ONSYNC_TESTS_SANDBOX_FAKE_RESULT_H_
#define ONSYNC_TESTS_SANDBOX_FAKE_RESULT_H_

#include <string>

#include "common/http_server.h"

namespace onsync::sandbox {

struct FakeResult {
  http::Response response;
  std::string route;  // normalised route (the call-count key)
  std::string user;   // the authenticated user, "" when none (never a secret)
  // The request body as the log may show it (empty = log the body as received); the token
  // endpoint sets it to the form without its secrets.
  std::string log_body;
  bool log_body_set = false;
};

}  // namespace onsync::sandbox

#endif  // ONSYNC_TESTS_SANDBOX_FAKE_RESULT_H_
