#include "common/http_server.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/http_test_client.h"

namespace onsync::http {
namespace {

using ::onsync::testing::HttpRequest;
using ::onsync::testing::HttpResult;
using ::onsync::testing::HttpTestConnection;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::StartsWith;

constexpr char kLoopback[] = "127.0.0.1";
// Upper bound for anything the server is expected to do "soon"; never a timing assertion.
constexpr absl::Duration kPatience = absl::Seconds(5);

// Small limits; timeouts long enough not to interfere unless a test shortens them.
ServerOptions TestOptions() {
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.threads = 2;
  options.max_body_bytes = 1024;
  options.max_header_bytes = 1024;
  options.read_timeout = absl::Seconds(3);
  options.idle_timeout = absl::Seconds(3);
  options.write_timeout = absl::Seconds(3);
  return options;
}

std::unique_ptr<Server> StartServer(ServerOptions options, Handler handler) {
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Start(std::move(options), std::move(handler));
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

HttpTestConnection ConnectOrDie(int port) {
  absl::StatusOr<HttpTestConnection> connection =
      HttpTestConnection::Connect(kLoopback, port, kPatience);
  EXPECT_TRUE(connection.ok()) << connection.status();
  return *std::move(connection);
}

// Polls `condition` until it holds or kPatience passes.
template <typename Condition>
bool Eventually(Condition condition) {
  const absl::Time deadline = absl::Now() + kPatience;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

// Records every request and answers 200 with the request path as body.
class Recorder {
 public:
  Handler handler() {
    return [this](Request request, Respond respond) {
      Response response;
      response.body = request.path;
      response.headers.emplace_back("X-Test", "yes");
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back(std::move(request));
      }
      std::move(respond)(std::move(response));
    };
  }

  std::vector<Request> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Request> requests_;
};

// Keeps each Respond for the test to call (or drop) later.
class HeldResponds {
 public:
  Handler handler() {
    return [this](Request request, Respond respond) {
      std::lock_guard<std::mutex> lock(mu_);
      held_.push_back(std::move(respond));
      cv_.notify_all();
    };
  }

  // Waits up to `wait` for the next request and returns its Respond.
  std::optional<Respond> Take(absl::Duration wait = kPatience) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, absl::ToChronoMilliseconds(wait), [this] { return !held_.empty(); })) {
      return std::nullopt;
    }
    Respond respond = std::move(held_.front());
    held_.erase(held_.begin());
    return respond;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Respond> held_;
};

// Answers each request from a separate thread after `delay`.
class DelayedResponder {
 public:
  explicit DelayedResponder(absl::Duration delay) : delay_(delay) {}
  ~DelayedResponder() { JoinAll(); }

  Handler handler() {
    return [this](Request request, Respond respond) {
      std::lock_guard<std::mutex> lock(mu_);
      threads_.emplace_back([delay = delay_, respond = std::move(respond)]() mutable {
        absl::SleepFor(delay);
        Response response;
        response.body = "late";
        std::move(respond)(std::move(response));
      });
    };
  }

  void JoinAll() {
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mu_);
      threads.swap(threads_);
    }
    for (std::thread& t : threads) t.join();
  }

 private:
  const absl::Duration delay_;
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

TEST(HttpServerTest, ReportsBoundAddress) {
  Recorder recorder;
  std::unique_ptr<Server> server = StartServer(TestOptions(), recorder.handler());
  ASSERT_NE(server, nullptr);
  EXPECT_GT(server->port(), 0);
  EXPECT_EQ(server->address(), absl::StrCat("127.0.0.1:", server->port()));
  EXPECT_EQ(server->in_flight(), 0);
}

TEST(HttpServerTest, GetReachesHandler) {
  Recorder recorder;
  std::unique_ptr<Server> server = StartServer(TestOptions(), recorder.handler());
  ASSERT_NE(server, nullptr);

  absl::StatusOr<HttpResult> result = HttpRequest(
      kLoopback, server->port(), "GET", "/v1/jobs/a%20b?x=1&y=2", "", {{"X-Custom", "Value"}});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->body, "/v1/jobs/a%20b");
  EXPECT_EQ(result->Header("content-length"), std::to_string(result->body.size()));
  EXPECT_EQ(result->Header("content-type"), "application/json");
  EXPECT_EQ(result->Header("x-test"), "yes");
  EXPECT_EQ(result->Header("connection"), "close");
  EXPECT_EQ(result->Header("server"), std::nullopt);

  std::vector<Request> requests = recorder.requests();
  ASSERT_EQ(requests.size(), 1u);
  const Request& request = requests[0];
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.target, "/v1/jobs/a%20b?x=1&y=2");
  EXPECT_EQ(request.path, "/v1/jobs/a%20b");
  EXPECT_EQ(request.query, "x=1&y=2");
  EXPECT_EQ(request.version, 11);
  EXPECT_THAT(request.headers, Contains(Pair("x-custom", "Value")));
  EXPECT_THAT(request.headers, Contains(Pair("host", absl::StrCat("127.0.0.1:", server->port()))));
  EXPECT_EQ(request.Header("X-CUSTOM"), "Value");
  EXPECT_EQ(request.Header("x-missing"), std::nullopt);
  EXPECT_EQ(request.body, "");
  EXPECT_THAT(request.remote_address, StartsWith("127.0.0.1:"));
}

TEST(HttpServerTest, PostReachesHandlerWithBody) {
  Recorder recorder;
  std::unique_ptr<Server> server = StartServer(TestOptions(), recorder.handler());
  ASSERT_NE(server, nullptr);

  absl::StatusOr<HttpResult> result =
      HttpRequest(kLoopback, server->port(), "POST", "/v1/jobs", R"({"name":"x"})",
                  {{"Content-Type", "application/json"}});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200);

  std::vector<Request> requests = recorder.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].path, "/v1/jobs");
  EXPECT_EQ(requests[0].query, "");
  EXPECT_EQ(requests[0].body, R"({"name":"x"})");
  EXPECT_EQ(requests[0].Header("content-type"), "application/json");
}

TEST(HttpServerTest, ChunkedBodyIsReassembled) {
  Recorder recorder;
  std::unique_ptr<Server> server = StartServer(TestOptions(), recorder.handler());
  ASSERT_NE(server, nullptr);
  HttpTestConnection connection = ConnectOrDie(server->port());

  ASSERT_TRUE(connection
                  .SendRaw("POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                           "Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
                  .ok());
  absl::StatusOr<HttpResult> result = connection.ReadResponse();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200);
  std::vector<Request> requests = recorder.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].body, "hello world");
}

TEST(HttpServerTest, ExpectContinueGetsInterimResponse) {
  Recorder recorder;
  std::unique_ptr<Server> server = StartServer(TestOptions(), recorder.handler());
  ASSERT_NE(server, nullptr);
  HttpTestConnection connection = ConnectOrDie(server->port());

  ASSERT_TRUE(connection
                  .SendRaw("PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                           "Expect: 100-continue\r\n\r\n")
                  .ok());
  absl::StatusOr<HttpResult> interim = connection.ReadResponse();
  ASSERT_TRUE(interim.ok()) << interim.status();
  EXPECT_EQ(interim->status, 100);

  ASSERT_TRUE(connection.SendRaw("abcde").ok());
  absl::StatusOr<HttpResult> result = connection.ReadResponse();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200);
  std::vector<Request> requests = recorder.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].body, "abcde");
}

TEST(HttpServerTest, ExpectContinueOverLimitIs413WithoutInterimResponse) {
  Recorder recorder;
  std::unique_ptr<Server> server = StartServer(TestOptions(), recorder.handler());
  ASSERT_NE(server, nullptr);
  HttpTestConnection connection = ConnectOrDie(server->port());

  ASSERT_TRUE(connection
                  .SendRaw("PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n"
                           "Expect: 100-continue\r\n\r\n")
                  .ok());
  absl::StatusOr<HttpResult> result = connection.ReadResponse();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 413);
  EXPECT_TRUE(recorder.requests().empty());
}

TEST(HttpServerTest, HandlerRespondsLaterFromAnotherThread) {
  HeldResponds held;
  std::unique_ptr<Server> server = StartServer(TestOptions(), held.handler());
  ASSERT_NE(server, nullptr);
  HttpTestConnection connection = ConnectOrDie(server->port());
  ASSERT_TRUE(connection.SendRaw("GET /later HTTP/1.1\r\nHost: x\r\n\r\n").ok());

  std::optional<Respond> respond = held.Take();
  ASSERT_TRUE(respond.has_value());
  EXPECT_EQ(server->in_flight(), 1);
  std::thread responder([respond = std::move(*respond)]() mutable {
    absl::SleepFor(absl::Milliseconds(50));
    Response response;
    response.status = 202;
    response.body = R"({"later":true})";
    std::move(respond)(std::move(response));
  });

  absl::StatusOr<HttpResult> result = connection.ReadResponse();
  responder.join();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 202);
  EXPECT_EQ(result->body, R"({"later":true})");
  EXPECT_TRUE(Eventually([&] { return server->in_flight() == 0; }));
}

TEST(HttpServerTest, KeepAliveServesSequentialRequestsOnOneConnection) {
  Recorder recorder;
  std::unique_ptr<Server> server = StartServer(TestOptions(), recorder.handler());
  ASSERT_NE(server, nullptr);
  HttpTestConnection connection = ConnectOrDie(server->port());

  for (const char* path : {"/first", "/second"}) {
    ASSERT_TRUE(
        connection.SendRaw(absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: x\r\n\r\n")).ok());
    absl::StatusOr<HttpResult> result = connection.ReadResponse();
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->status, 200);
    EXPECT_EQ(result->body, path);
    EXPECT_EQ(result->Header("connection"), "keep-alive");
  }
  std::vector<Request> requests = recorder.requests();
  ASSERT_EQ(requests.size(), 2u);
  const std::string client = absl::StrCat("127.0.0.1:", connection.local_port());
  EXPECT_EQ(requests[0].remote_address, client);
  EXPECT_EQ(requests[1].remote_address, client);
}

TEST(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  Recorder recorder;
  std::unique_ptr<Server> server = StartServer(TestOptions(), recorder.handler());
  ASSERT_NE(server, nullptr);
  HttpTestConnection connection = ConnectOrDie(server->port());

  ASSERT_TRUE(connection
                  .SendRaw("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                           "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
                  .ok());
  absl::StatusOr<HttpResult> first = connection.ReadResponse();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->body, "/a");
  absl::StatusOr<HttpResult> second = connection.ReadResponse();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->body, "/b");
  std::vector<Request> requests = recorder.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].body, "hi");
}

TEST(HttpServerTest, ConnectionCloseIsHonoured) {
  Recorder recorder;
  std::unique_ptr<Server> server = StartServer(TestOptions(), recorder.handler());
  ASSERT_NE(server, nullptr);
  HttpTestConnection connection = ConnectOrDie(server->port());

  ASSERT_TRUE(connection.SendRaw("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok());
  absl::StatusOr<HttpResult> result = connection.ReadResponse();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->Header("connection"), "close");
  EXPECT_TRUE(connection.IsClosedByPeer(kPatience));
}

TEST(HttpServerTest, Http10ClosesUnlessKeepAliveIsRequested) {
  Recorder recorder;
  std::unique_ptr<Server> server = StartServer(TestOptions(), recorder.handler());
  ASSERT_NE(server, nullptr);

  HttpTestConnection plain = ConnectOrDie(server->port());
  ASSERT_TRUE(plain.SendRaw("GET /old HTTP/1.0\r\n\r\n").ok());
  absl::StatusOr<HttpResult> result = plain.ReadResponse();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->Header("connection"), "close");
  EXPECT_TRUE(plain.IsClosedByPeer(kPatience));

  HttpTestConnection keep = ConnectOrDie(server->port());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(keep.SendRaw("GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").ok());
    result = keep.ReadResponse();
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->status, 200);
    EXPECT_EQ(result->Header("connection"), "keep-alive");
  }
  EXPECT_EQ(recorder.requests().at(0).version, 10);
}

TEST(HttpServerTest, BodyAnnouncedOverLimitIs413) {
  Recorder recorder;
  std::unique_ptr<Server> server = StartServer(TestOptions(), recorder.handler());
  ASSERT_NE(server, nullptr);
  HttpTestConnection connection = ConnectOrDie(server->port());

  ASSERT_TRUE(
      connection.SendRaw("POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n").ok());
  absl::StatusOr<HttpResult> result = connection.ReadResponse();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 413);
  EXPECT_EQ(result->Header("content-type"), "application/json");
  EXPECT_EQ(result->Header("connection"), "close");
  EXPECT_THAT(result->body, HasSubstr(R"("code":8)"));
  EXPECT_THAT(result->body, HasSubstr(R"("details":[])"));
  EXPECT_TRUE(connection.IsClosedByPeer(kPatience));
  EXPECT_TRUE(recorder.requests().empty());
}

TEST(HttpServerTest, ChunkedBodyOverLimitIs413) {
  Recorder recorder;
  std::unique_ptr<Server> server = StartServer(TestOptions(), recorder.handler());
  ASSERT_NE(server, nullptr);
  HttpTestConnection connection = ConnectOrDie(server->port());

  const std::string chunk(800, 'z');
  ASSERT_TRUE(
      connection
          .SendRaw(absl::StrCat("POST /big HTTP/1.1\r\nHost: x\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n",
                                "320\r\n", chunk, "\r\n", "320\r\n", chunk, "\r\n", "0\r\n\r\n"))
          .ok());
  absl::StatusOr<HttpResult> result = connection.ReadResponse();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 413);
  EXPECT_THAT(result->body, HasSubstr(R"("code":8)"));
  EXPECT_TRUE(connection.IsClosedByPeer(kPatience));
  EXPECT_TRUE(recorder.requests().empty());
}

TEST(HttpServerTest, HeadOverLimitIs431) {
  Recorder recorder;
  std::unique_ptr<Server> server = StartServer(TestOptions(), recorder.handler());
  ASSERT_NE(server, nullptr);
  HttpTestConnection connection = ConnectOrDie(server->port());

  ASSERT_TRUE(connection
                  .SendRaw(absl::StrCat(
                      "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ", std::string(2000, 'a'), "\r\n\r\n"))
                  .ok());
  absl::StatusOr<HttpResult> result = connection.ReadResponse();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 431);
  EXPECT_THAT(result->body, HasSubstr(R"("code":8)"));
  EXPECT_TRUE(connection.IsClosedByPeer(kPatience));
  EXPECT_TRUE(recorder.requests().empty());
}

TEST(HttpServerTest, MalformedRequestIs400) {
  Recorder recorder;
  std::unique_ptr<Server> server = StartServer(TestOptions(), recorder.handler());
  ASSERT_NE(server, nullptr);

  for (const char* garbage :
       {"\x01\x02 garbage\r\n\r\n", "GET / HTTP/1.1\r\nno colon here\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: nope\r\n\r\n", "GET / HTTP/2.0\r\n\r\n"}) {
    SCOPED_TRACE(garbage);
    HttpTestConnection connection = ConnectOrDie(server->port());
    ASSERT_TRUE(connection.SendRaw(garbage).ok());
    absl::StatusOr<HttpResult> result = connection.ReadResponse();
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->status, 400);
    EXPECT_EQ(result->Header("content-type"), "application/json");
    EXPECT_THAT(result->body, HasSubstr(R"("code":3)"));
    EXPECT_TRUE(connection.IsClosedByPeer(kPatience));
  }
  EXPECT_TRUE(recorder.requests().empty());
}

TEST(HttpServerTest, SlowLorisIsDroppedWithoutResponse) {
  Recorder recorder;
  ServerOptions options = TestOptions();
  options.read_timeout = absl::Milliseconds(300);
  options.idle_timeout = absl::Seconds(30);
  std::unique_ptr<Server> server = StartServer(options, recorder.handler());
  ASSERT_NE(server, nullptr);
  HttpTestConnection connection = ConnectOrDie(server->port());

  ASSERT_TRUE(connection.SendRaw("GET / HTTP/1.1\r\nHost: x\r\n").ok());
  // The connection's 5 s timeout bounds the wait; the server must close well before that.
  absl::StatusOr<HttpResult> result = connection.ReadResponse();
  EXPECT_TRUE(absl::IsUnavailable(result.status())) << result.status();
  EXPECT_THAT(std::string(result.status().message()), StartsWith("connection closed"));
  EXPECT_TRUE(recorder.requests().empty());
}

TEST(HttpServerTest, IdleConnectionsAreClosed) {
  Recorder recorder;
  ServerOptions options = TestOptions();
  options.idle_timeout = absl::Milliseconds(300);
  std::unique_ptr<Server> server = StartServer(options, recorder.handler());
  ASSERT_NE(server, nullptr);

  HttpTestConnection used = ConnectOrDie(server->port());
  ASSERT_TRUE(used.SendRaw("GET / HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  absl::StatusOr<HttpResult> result = used.ReadResponse();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->Header("connection"), "keep-alive");
  HttpTestConnection silent = ConnectOrDie(server->port());

  EXPECT_TRUE(used.IsClosedByPeer(kPatience));
  EXPECT_TRUE(silent.IsClosedByPeer(kPatience));
}

TEST(HttpServerTest, DroppedRespondAnswers500) {
  ServerOptions options = TestOptions();
  std::unique_ptr<Server> server = StartServer(options, [](Request, Respond) {});
  ASSERT_NE(server, nullptr);

  absl::StatusOr<HttpResult> result = HttpRequest(kLoopback, server->port(), "GET", "/");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 500);
  EXPECT_EQ(result->Header("content-type"), "application/json");
  EXPECT_THAT(result->body, HasSubstr(R"("code":13)"));
  EXPECT_TRUE(Eventually([&] { return server->in_flight() == 0; }));
}

TEST(HttpServerTest, ThrowingHandlerAnswers500) {
  std::unique_ptr<Server> server =
      StartServer(TestOptions(), [](Request, Respond) { throw std::runtime_error("handler bug"); });
  ASSERT_NE(server, nullptr);

  absl::StatusOr<HttpResult> result = HttpRequest(kLoopback, server->port(), "GET", "/");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 500);
  // The I/O threads survived.
  result = HttpRequest(kLoopback, server->port(), "GET", "/");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 500);
}

TEST(HttpServerTest, InvalidStatusAnswers500) {
  std::unique_ptr<Server> server = StartServer(TestOptions(), [](Request, Respond respond) {
    Response response;
    response.status = 42;
    std::move(respond)(std::move(response));
  });
  ASSERT_NE(server, nullptr);

  absl::StatusOr<HttpResult> result = HttpRequest(kLoopback, server->port(), "GET", "/");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 500);
}

TEST(HttpServerTest, ResponseHeadersAreSanitised) {
  std::unique_ptr<Server> server = StartServer(TestOptions(), [](Request request, Respond respond) {
    Response response;
    response.status = request.path == "/empty" ? 204 : 201;
    response.content_type = "text/plain";
    response.body = "body";
    response.headers = {{"X-Ok", "1"},
                        {"Bad Name", "x"},
                        {"X-Injected", "a\r\nSet-Cookie: evil"},
                        {"Content-Length", "999"},
                        {"Connection", "keep-alive"}};
    std::move(respond)(std::move(response));
  });
  ASSERT_NE(server, nullptr);

  absl::StatusOr<HttpResult> result = HttpRequest(kLoopback, server->port(), "GET", "/");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 201);
  EXPECT_EQ(result->body, "body");
  EXPECT_EQ(result->Header("content-type"), "text/plain");
  EXPECT_EQ(result->Header("content-length"), "4");
  EXPECT_EQ(result->Header("connection"), "close");
  EXPECT_EQ(result->Header("x-ok"), "1");
  EXPECT_EQ(result->Header("bad name"), std::nullopt);
  EXPECT_EQ(result->Header("x-injected"), std::nullopt);
  EXPECT_EQ(result->Header("set-cookie"), std::nullopt);

  // 204 carries neither body nor Content-Length; read it raw to see exactly that.
  HttpTestConnection connection = ConnectOrDie(server->port());
  ASSERT_TRUE(connection.SendRaw("GET /empty HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  result = connection.ReadResponse();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 204);
  EXPECT_EQ(result->Header("content-length"), std::nullopt);
  ASSERT_TRUE(connection.SendRaw("GET / HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  result = connection.ReadResponse();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 201);
  EXPECT_EQ(result->body, "body");
}

TEST(HttpServerTest, ErrorResponseOverrideIsUsed) {
  ServerOptions options = TestOptions();
  options.error_response = [](int status, std::string_view message) {
    Response response;
    response.status = 299;  // ignored: the core decides the status
    response.content_type = "text/plain";
    response.body = absl::StrCat("custom ", status);
    return response;
  };
  std::unique_ptr<Server> server = StartServer(options, [](Request, Respond) {});
  ASSERT_NE(server, nullptr);

  HttpTestConnection connection = ConnectOrDie(server->port());
  ASSERT_TRUE(connection.SendRaw("BAD\x01 / HTTP/1.1\r\n\r\n").ok());
  absl::StatusOr<HttpResult> result = connection.ReadResponse();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 400);
  EXPECT_EQ(result->Header("content-type"), "text/plain");
  EXPECT_EQ(result->body, "custom 400");

  result = HttpRequest(kLoopback, server->port(), "GET", "/");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 500);
  EXPECT_EQ(result->body, "custom 500");
}

TEST(HttpServerTest, ExtraConnectionsBeyondLimitAreClosed) {
  Recorder recorder;
  ServerOptions options = TestOptions();
  options.max_connections = 1;
  std::unique_ptr<Server> server = StartServer(options, recorder.handler());
  ASSERT_NE(server, nullptr);

  std::optional<HttpTestConnection> first = ConnectOrDie(server->port());
  ASSERT_TRUE(first->SendRaw("GET / HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  ASSERT_TRUE(first->ReadResponse().ok());  // now certainly accepted and counted

  HttpTestConnection second = ConnectOrDie(server->port());
  EXPECT_TRUE(second.IsClosedByPeer(kPatience));

  first.reset();  // frees the slot once the server notices
  EXPECT_TRUE(Eventually([&] {
    absl::StatusOr<HttpResult> result = HttpRequest(kLoopback, server->port(), "GET", "/again");
    return result.ok() && result->status == 200;
  }));
}

TEST(HttpServerTest, ShutdownFinishesInFlightRequestAndRefusesNewConnections) {
  DelayedResponder responder(absl::Milliseconds(200));
  std::unique_ptr<Server> server = StartServer(TestOptions(), responder.handler());
  ASSERT_NE(server, nullptr);
  const int port = server->port();

  HttpTestConnection idle = ConnectOrDie(port);
  ASSERT_TRUE(idle.SendRaw("GET /idle HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  absl::StatusOr<HttpResult> result = idle.ReadResponse();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->Header("connection"), "keep-alive");
  ASSERT_TRUE(Eventually([&] { return server->in_flight() == 0; }));

  HttpTestConnection busy = ConnectOrDie(port);
  ASSERT_TRUE(busy.SendRaw("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  ASSERT_TRUE(Eventually([&] { return server->in_flight() == 1; }));

  std::jthread stopper([&] { server->Shutdown(kPatience); });  // joined even if an ASSERT fails
  EXPECT_TRUE(idle.IsClosedByPeer(kPatience));
  result = busy.ReadResponse();
  stopper.join();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->body, "late");
  EXPECT_EQ(result->Header("connection"), "close");
  EXPECT_TRUE(busy.IsClosedByPeer(kPatience));
  EXPECT_EQ(server->in_flight(), 0);

  absl::StatusOr<HttpTestConnection> late = HttpTestConnection::Connect(kLoopback, port, kPatience);
  EXPECT_TRUE(absl::IsUnavailable(late.status())) << late.status();
}

TEST(HttpServerTest, RequestCompletedDuringShutdownGets503) {
  HeldResponds held;
  std::unique_ptr<Server> server = StartServer(TestOptions(), held.handler());
  ASSERT_NE(server, nullptr);
  const int port = server->port();

  HttpTestConnection partial = ConnectOrDie(port);
  ASSERT_TRUE(partial.SendRaw("GET /x HTTP/1.1\r\nHost: x\r\n").ok());
  // Holds one request in flight so that Shutdown keeps waiting while we finish `partial`.
  HttpTestConnection busy = ConnectOrDie(port);
  ASSERT_TRUE(busy.SendRaw("GET /busy HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  std::optional<Respond> busy_respond = held.Take();
  ASSERT_TRUE(busy_respond.has_value());

  std::jthread stopper([&] { server->Shutdown(kPatience); });  // joined even if an ASSERT fails
  // Once connections are refused, shutdown has begun.
  ASSERT_TRUE(Eventually([&] { return !HttpTestConnection::Connect(kLoopback, port).ok(); }));
  ASSERT_TRUE(partial.SendRaw("\r\n").ok());
  absl::StatusOr<HttpResult> result = partial.ReadResponse();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 503);
  EXPECT_THAT(result->body, HasSubstr(R"("code":14)"));
  EXPECT_EQ(result->Header("connection"), "close");

  std::move (*busy_respond)(Response{});
  busy_respond.reset();
  stopper.join();
  result = busy.ReadResponse();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200);
}

TEST(HttpServerTest, RespondAfterServerIsGoneIsHarmless) {
  HeldResponds held;
  std::unique_ptr<Server> server = StartServer(TestOptions(), held.handler());
  ASSERT_NE(server, nullptr);
  HttpTestConnection connection = ConnectOrDie(server->port());
  ASSERT_TRUE(connection.SendRaw("GET / HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  std::optional<Respond> respond = held.Take();
  ASSERT_TRUE(respond.has_value());

  server->Shutdown(absl::Milliseconds(50));  // grace expires with the request unanswered
  EXPECT_EQ(server->in_flight(), 0);
  absl::StatusOr<HttpResult> result = connection.ReadResponse();
  EXPECT_TRUE(absl::IsUnavailable(result.status())) << result.status();
  server.reset();
  std::move (*respond)(Response{});  // dropped silently
}

TEST(HttpServerTest, ShutdownFromHandlerDoesNotDeadlock) {
  std::atomic<Server*> server_ptr{nullptr};
  std::atomic<bool> shut_down{false};
  std::unique_ptr<Server> server = StartServer(TestOptions(), [&](Request, Respond respond) {
    server_ptr.load()->Shutdown(kPatience);
    shut_down = true;
    std::move(respond)(Response{});  // dropped: the server has stopped
  });
  ASSERT_NE(server, nullptr);
  server_ptr = server.get();

  HttpTestConnection connection = ConnectOrDie(server->port());
  ASSERT_TRUE(connection.SendRaw("GET / HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  EXPECT_TRUE(connection.IsClosedByPeer(kPatience));
  EXPECT_TRUE(Eventually([&] { return shut_down.load(); }));
  server->Shutdown(absl::ZeroDuration());  // returns at once: already stopped
  server.reset();
}

TEST(HttpServerTest, ShutdownIsIdempotent) {
  Recorder recorder;
  std::unique_ptr<Server> server = StartServer(TestOptions(), recorder.handler());
  ASSERT_NE(server, nullptr);
  server->Shutdown(absl::ZeroDuration());
  server->Shutdown(absl::Seconds(1));
  server.reset();
}

TEST(HttpServerTest, InvalidListenAddressIsInvalidArgument) {
  for (const char* listen : {"", "nonsense", "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999",
                             "127.0.0.1:-1", "127.0.0.1:8x", ":8080", "[::1", "[::1]", "[::1]8080",
                             "::1:8080", "1.2.3.4.5:80", "example.com:80", "[127.0.0.1]:80"}) {
    SCOPED_TRACE(listen);
    ServerOptions options = TestOptions();
    options.listen = listen;
    absl::StatusOr<std::unique_ptr<Server>> server =
        Server::Start(options, [](Request, Respond) {});
    EXPECT_TRUE(absl::IsInvalidArgument(server.status())) << server.status();
  }
  ServerOptions options = TestOptions();
  options.threads = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(Server::Start(options, [](Request, Respond) {}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(Server::Start(TestOptions(), nullptr).status()));
}

TEST(HttpServerTest, LocalhostMeansIpv4Loopback) {
  Recorder recorder;
  ServerOptions options = TestOptions();
  options.listen = "localhost:0";
  std::unique_ptr<Server> server = StartServer(options, recorder.handler());
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->address(), absl::StrCat("127.0.0.1:", server->port()));
}

TEST(HttpServerTest, PortInUseIsUnavailable) {
  Recorder recorder;
  std::unique_ptr<Server> first = StartServer(TestOptions(), recorder.handler());
  ASSERT_NE(first, nullptr);

  ServerOptions options = TestOptions();
  options.listen = first->address();
  absl::StatusOr<std::unique_ptr<Server>> second = Server::Start(options, recorder.handler());
  EXPECT_TRUE(absl::IsUnavailable(second.status())) << second.status();
  EXPECT_THAT(std::string(second.status().message()), HasSubstr(first->address()));
}

TEST(HttpServerTest, ServesIpv6Loopback) {
  Recorder recorder;
  ServerOptions options = TestOptions();
  options.listen = "[::1]:0";
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options, recorder.handler());
  if (absl::IsUnavailable(server.status())) {
    GTEST_SKIP() << "cannot bind [::1] here: " << server.status();
  }
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->address(), absl::StrCat("[::1]:", (*server)->port()));

  absl::StatusOr<HttpResult> result = HttpRequest("::1", (*server)->port(), "GET", "/v6");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->body, "/v6");
  ASSERT_EQ(recorder.requests().size(), 1u);
  EXPECT_THAT(recorder.requests()[0].remote_address, StartsWith("[::1]:"));
}

}  // namespace
}  // namespace onsync::http
