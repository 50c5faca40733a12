// transport_bench: throughput, latency and thread count of ONE CurlTransport driving many
// concurrent requests. Not a test (no pass/fail); see README.md.
//
// By default it forks a child process that serves HTTP on 127.0.0.1 with onsync::http::Server, so
// the thread count it reports is the client's alone; --url targets an existing server instead.
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/http/curl_transport.h"
#include "clients/http/http_transport.h"
#include "common/http_server.h"
#include "common/string_view.h"

namespace {

using ::onsync::ToAbsl;
using ::onsync::clients::CurlTransport;
using ::onsync::clients::CurlTransportOptions;
using ::onsync::clients::HttpRequest;
using ::onsync::clients::HttpResponse;

struct Flags {
  int requests = 20000;
  int concurrency = 1000;
  int warmup = 1000;
  int server_threads = 2;
  int max_connections_per_host = 32;
  std::string url;  // empty: fork a loopback server
};

void Usage() {
  std::fprintf(stderr,
               "usage: transport_bench [--requests=N (20000)] [--concurrency=C (1000)]\n"
               "                       [--warmup=W (1000)] [--server_threads=T (2)]\n"
               "                       [--max_connections_per_host=M (32)] [--url=URL]\n");
}

bool ParseFlags(int argc, char** argv, Flags& flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const size_t eq = arg.find('=');
    if (arg.substr(0, 2) != "--" || eq == std::string_view::npos) return false;
    const std::string_view name = arg.substr(2, eq - 2);
    const std::string_view value = arg.substr(eq + 1);
    int* target = nullptr;
    if (name == "requests") target = &flags.requests;
    if (name == "concurrency") target = &flags.concurrency;
    if (name == "warmup") target = &flags.warmup;
    if (name == "server_threads") target = &flags.server_threads;
    if (name == "max_connections_per_host") target = &flags.max_connections_per_host;
    if (name == "url") {
      flags.url = std::string(value);
      continue;
    }
    if (target == nullptr || !absl::SimpleAtoi(ToAbsl(value), target) || *target < 0) {
      return false;
    }
  }
  return flags.requests > 0 && flags.concurrency > 0;
}

int ThreadCount() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
  }
  return -1;
}

absl::Duration CpuTime() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return absl::DurationFromTimeval(usage.ru_utime) + absl::DurationFromTimeval(usage.ru_stime);
}

// Child: serve until the parent closes `stop_fd` (or dies). Reports the port on `port_fd`.
[[noreturn]] void ServeInChild(int server_threads, int port_fd, int stop_fd) {
  onsync::http::ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.threads = server_threads;
  options.max_connections = 100000;
  absl::StatusOr<std::unique_ptr<onsync::http::Server>> server = onsync::http::Server::Start(
      options, [](onsync::http::Request request, onsync::http::Respond respond) {
        onsync::http::Response response;
        response.body = R"({"result":[{"sys_id":"0123456789abcdef0123456789abcdef"}]})";
        std::move(respond)(std::move(response));
      });
  int port = server.ok() ? (*server)->port() : -1;
  if (!server.ok()) std::fprintf(stderr, "server: %s\n", server.status().ToString().c_str());
  (void)!write(port_fd, &port, sizeof(port));
  close(port_fd);
  char byte;
  while (read(stop_fd, &byte, 1) < 0 && errno == EINTR) {
  }
  if (server.ok()) (*server)->Shutdown(absl::ZeroDuration());
  _exit(0);
}

struct RunResult {
  absl::Duration elapsed;
  absl::Duration cpu;
  std::vector<int64_t> latency_us;
  int errors = 0;
  int non_200 = 0;
  int peak_threads = 0;
  int threads_at_full_concurrency = -1;
  std::string first_error;
};

// Drives `total` requests with `concurrency` in flight from one transport: the main thread sends
// the first `concurrency`, each callback (on the loop thread) sends the next.
RunResult Drive(CurlTransport& transport, const std::string& url, int total, int concurrency) {
  struct State {
    CurlTransport* transport;
    std::string url;
    int total;
    std::atomic<int> next{0};
    std::atomic<int> completed{0};
    std::atomic<int> errors{0};
    std::atomic<int> non_200{0};
    std::vector<absl::Time> sent_at;
    std::vector<int64_t> latency_us;
    absl::Notification done;
    std::string first_error;  // written once under the flag below
    std::atomic<bool> error_recorded{false};
  };
  auto state = std::make_shared<State>();
  state->transport = &transport;
  state->url = url;
  state->total = total;
  state->sent_at.resize(total);
  state->latency_us.resize(total);

  // Sends request number `index`; its callback sends the next unsent one.
  struct Sender {
    static void Send(const std::shared_ptr<State>& state, int index) {
      HttpRequest request;
      request.method = "GET";
      request.url = state->url;
      request.headers = {{"Accept", "application/json"}};
      request.deadline = absl::Now() + absl::Seconds(30);
      state->sent_at[index] = absl::Now();
      state->transport->Send(std::move(request),
                             [state, index](absl::StatusOr<HttpResponse> result) {
                               OnDone(state, index, std::move(result));
                             });
    }
    static void OnDone(const std::shared_ptr<State>& state, int index,
                       absl::StatusOr<HttpResponse> result) {
      state->latency_us[index] = absl::ToInt64Microseconds(absl::Now() - state->sent_at[index]);
      if (!result.ok()) {
        state->errors.fetch_add(1);
        if (!state->error_recorded.exchange(true)) state->first_error = result.status().ToString();
      } else if (result->status != 200) {
        state->non_200.fetch_add(1);
      }
      const int next = state->next.fetch_add(1);
      if (next < state->total) Send(state, next);
      if (state->completed.fetch_add(1) + 1 == state->total) state->done.Notify();
    }
  };

  RunResult run;
  const absl::Duration cpu_before = CpuTime();
  const absl::Time start = absl::Now();
  const int initial = std::min(concurrency, total);
  for (int i = 0; i < initial; ++i) Sender::Send(state, state->next.fetch_add(1));
  while (!state->done.WaitForNotificationWithTimeout(absl::Milliseconds(5))) {
    const int threads = ThreadCount();
    run.peak_threads = std::max(run.peak_threads, threads);
    if (run.threads_at_full_concurrency < 0 &&
        transport.in_flight() >= static_cast<size_t>(concurrency)) {
      run.threads_at_full_concurrency = threads;
    }
  }
  run.elapsed = absl::Now() - start;
  run.cpu = CpuTime() - cpu_before;
  run.peak_threads = std::max(run.peak_threads, ThreadCount());
  run.latency_us = state->latency_us;
  run.errors = state->errors.load();
  run.non_200 = state->non_200.load();
  run.first_error = state->first_error;
  return run;
}

int64_t Percentile(std::vector<int64_t> sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t index = std::min(sorted.size() - 1, static_cast<size_t>(p * (sorted.size() - 1)));
  return sorted[index];
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, flags)) {
    Usage();
    return 2;
  }

  pid_t child = -1;
  int stop_write_fd = -1;
  std::string url = flags.url;
  if (url.empty()) {
    // Fork before this process starts any thread.
    int port_pipe[2];
    int stop_pipe[2];
    if (pipe(port_pipe) != 0 || pipe(stop_pipe) != 0) {
      std::perror("pipe");
      return 1;
    }
    child = fork();
    if (child < 0) {
      std::perror("fork");
      return 1;
    }
    if (child == 0) {
      close(port_pipe[0]);
      close(stop_pipe[1]);
      ServeInChild(flags.server_threads, port_pipe[1], stop_pipe[0]);
    }
    close(port_pipe[1]);
    close(stop_pipe[0]);
    stop_write_fd = stop_pipe[1];
    int port = -1;
    if (read(port_pipe[0], &port, sizeof(port)) != sizeof(port) || port <= 0) {
      std::fprintf(stderr, "the server child did not start\n");
      return 1;
    }
    close(port_pipe[0]);
    url = absl::StrCat("http://127.0.0.1:", port, "/api/now/table/cmdb_ci_business_app");
  }

  const int threads_before = ThreadCount();
  CurlTransportOptions options;
  options.max_connections_per_host = flags.max_connections_per_host;
  absl::StatusOr<std::unique_ptr<CurlTransport>> transport = CurlTransport::Create(options);
  if (!transport.ok()) {
    std::fprintf(stderr, "CurlTransport: %s\n", transport.status().ToString().c_str());
    return 1;
  }

  if (flags.warmup > 0) Drive(**transport, url, flags.warmup, std::min(flags.concurrency, 100));
  const RunResult run = Drive(**transport, url, flags.requests, flags.concurrency);

  std::vector<int64_t> sorted = run.latency_us;
  std::sort(sorted.begin(), sorted.end());
  const double seconds = absl::ToDoubleSeconds(run.elapsed);
  std::printf("target               %s%s\n", url.c_str(),
              flags.url.empty() ? " (forked loopback server)" : "");
  std::printf("requests             %d (concurrency %d, max %d connections per host)\n",
              flags.requests, flags.concurrency, flags.max_connections_per_host);
  std::printf("elapsed              %.3f s\n", seconds);
  std::printf("throughput           %.0f requests/s\n", flags.requests / seconds);
  std::printf("latency p50          %.3f ms\n", Percentile(sorted, 0.50) / 1000.0);
  std::printf("latency p99          %.3f ms\n", Percentile(sorted, 0.99) / 1000.0);
  std::printf("latency max          %.3f ms\n", (sorted.empty() ? 0 : sorted.back()) / 1000.0);
  std::printf("client CPU           %.3f s (%.1f us per request)\n", absl::ToDoubleSeconds(run.cpu),
              absl::ToDoubleMicroseconds(run.cpu) / flags.requests);
  std::printf("threads before       %d\n", threads_before);
  std::printf("threads at %d in flight  %d\n", flags.concurrency, run.threads_at_full_concurrency);
  std::printf("threads peak         %d\n", run.peak_threads);
  std::printf("errors               %d transport, %d non-200\n", run.errors, run.non_200);
  if (!run.first_error.empty()) std::printf("first error          %s\n", run.first_error.c_str());

  (*transport)->Shutdown();
  if (child > 0) {
    close(stop_write_fd);
    int status = 0;
    waitpid(child, &status, 0);
  }
  return run.errors == 0 ? 0 : 1;
}
