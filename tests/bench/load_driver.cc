// load_driver: a small load generator for onsync's HTTP gateway and gRPC server, used by
// tests/bench/load_bench (see BENCHMARKS.md). Not a test.
//
// Modes:
//   closed loop  --concurrency=N: N callers, each sends its next request when the previous one
//                answered, for --duration seconds (or --requests requests);
//   open loop    --rate=R: requests sent on a fixed schedule (R per second) whatever the answers,
//                for --duration seconds; latency is measured from each request's SCHEDULED send
//                time, so a stalled target is charged for the requests it delayed (no coordinated
//                omission).
// Targets:
//   HTTP  --url=http://HOST:PORT/path: POST (or --method) of the bodies, through ONE CurlTransport
//         (libcurl multi, one event-loop thread, keep-alive connections; --connections at most);
//   gRPC  --grpc_target=HOST:PORT --grpc_method=/package.Service/Method: a unary call of a method
//         compiled into this binary (onsync.v1.SyncService, grpc.health.v1.Health), the bodies
//         being its request as proto3 JSON, through gRPC's callback API on one channel.
// Bodies: --body=TEXT (one body) or --body_file=FILE (one body per non-empty line, cycled in
// order); default `{}`. Headers: --header='Name: value' (repeatable); a body gets
// `Content-Type: application/json` unless a Content-Type header is given.
//
// Output (stdout): one JSON object with the mode, the counts (`requests`, `ok`, `errors` by
// status: HTTP status code, `grpc:<CODE>` or `transport:<CODE>`), the latency percentiles in ms
// (p50, p90, p99, max, mean; over every completed request), the elapsed time, the achieved rate,
// the latest a request was sent relative to its schedule (open loop) and the driver's own CPU.
// Exit status: 0 when every request succeeded (2xx or gRPC OK), 1 otherwise, 2 for bad flags.
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/status.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/http/curl_transport.h"
#include "clients/http/http_transport.h"
#include "common/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/health/v1/health.pb.h"
#include "onsync/v1/sync_service.pb.h"

namespace {

using ::onsync::ToAbsl;
using ::onsync::clients::CurlTransport;
using ::onsync::clients::CurlTransportOptions;
using ::onsync::clients::HttpRequest;
using ::onsync::clients::HttpResponse;
using Clock = std::chrono::steady_clock;

struct Flags {
  std::string url;
  std::string method = "POST";
  std::string grpc_target;
  std::string grpc_method;
  std::vector<std::string> bodies;
  std::vector<std::pair<std::string, std::string>> headers;
  int concurrency = 0;  // closed loop when > 0
  double rate = 0;      // open loop when > 0
  double duration_s = 10;
  int64_t requests = 0;  // 0: no limit but the duration
  int connections = 64;  // HTTP: connections to the target at most
  double timeout_s = 30;
};

void Usage() {
  std::fprintf(
      stderr,
      "usage: load_driver (--url=URL [--method=POST] | --grpc_target=HOST:PORT\n"
      "                    --grpc_method=/package.Service/Method)\n"
      "                   (--concurrency=N | --rate=R) [--duration=S (10)] [--requests=N]\n"
      "                   [--body=TEXT | --body_file=FILE] [--header='Name: value']...\n"
      "                   [--connections=C (64)] [--timeout=S (30)]\n");
}

bool ReadBodies(const std::string& path, std::vector<std::string>& bodies) {
  std::ifstream in(path);
  if (!in) return false;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") != std::string::npos) bodies.push_back(line);
  }
  return !bodies.empty();
}

bool ParseFlags(int argc, char** argv, Flags& flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const size_t eq = arg.find('=');
    if (arg.substr(0, 2) != "--" || eq == std::string_view::npos) {
      std::fprintf(stderr, "bad argument: %s\n", argv[i]);
      return false;
    }
    const std::string_view name = arg.substr(2, eq - 2);
    const std::string value(arg.substr(eq + 1));
    bool ok = true;
    if (name == "url") {
      flags.url = value;
    } else if (name == "method") {
      flags.method = value;
    } else if (name == "grpc_target") {
      flags.grpc_target = value;
    } else if (name == "grpc_method") {
      flags.grpc_method = value;
    } else if (name == "body") {
      flags.bodies.push_back(value);
    } else if (name == "body_file") {
      ok = ReadBodies(value, flags.bodies);
    } else if (name == "header") {
      const size_t colon = value.find(':');
      ok = colon != std::string::npos && colon > 0;
      if (ok) {
        const size_t start = value.find_first_not_of(' ', colon + 1);
        flags.headers.emplace_back(value.substr(0, colon), start == std::string::npos
                                                               ? std::string()
                                                               : value.substr(start));
      }
    } else if (name == "concurrency") {
      ok = absl::SimpleAtoi(value, &flags.concurrency) && flags.concurrency > 0;
    } else if (name == "rate") {
      ok = absl::SimpleAtod(value, &flags.rate) && flags.rate > 0;
    } else if (name == "duration") {
      ok = absl::SimpleAtod(value, &flags.duration_s) && flags.duration_s > 0;
    } else if (name == "requests") {
      ok = absl::SimpleAtoi(value, &flags.requests) && flags.requests > 0;
    } else if (name == "connections") {
      ok = absl::SimpleAtoi(value, &flags.connections) && flags.connections > 0;
    } else if (name == "timeout") {
      ok = absl::SimpleAtod(value, &flags.timeout_s) && flags.timeout_s > 0;
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "bad flag: %s\n", argv[i]);
      return false;
    }
  }
  if (flags.bodies.empty()) flags.bodies.push_back("{}");
  const bool http = !flags.url.empty();
  const bool grpc = !flags.grpc_target.empty() && !flags.grpc_method.empty();
  return http != grpc && (flags.concurrency > 0) != (flags.rate > 0);
}

// Every completed request: its latency and outcome. Thread-safe.
class Recorder {
 public:
  void Reserve(size_t n) { latencies_us_.reserve(n); }

  void Add(Clock::duration latency, bool ok, const std::string& status, std::string_view detail) {
    absl::MutexLock lock(&mu_);
    latencies_us_.push_back(std::chrono::duration_cast<std::chrono::microseconds>(latency).count());
    ++status_counts_[status];
    if (ok) {
      ++ok_;
    } else if (first_error_.empty()) {
      first_error_ = absl::StrCat(status, ": ", ToAbsl(detail.substr(0, 300)));
    }
  }

  size_t completed() const {
    absl::MutexLock lock(&mu_);
    return latencies_us_.size();
  }

  mutable absl::Mutex mu_;
  std::vector<int64_t> latencies_us_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> status_counts_ ABSL_GUARDED_BY(mu_);
  int64_t ok_ ABSL_GUARDED_BY(mu_) = 0;
  std::string first_error_ ABSL_GUARDED_BY(mu_);
};

// Sends request number `index` (its body is bodies[index % size]) and calls `done` with whether
// it succeeded, its status label and an error detail, on a thread of the sender's own.
class Sender {
 public:
  using Done = std::function<void(bool ok, std::string status, std::string detail)>;
  virtual ~Sender() = default;
  virtual void Send(int64_t index, Done done) = 0;
};

class HttpSender final : public Sender {
 public:
  HttpSender(const Flags& flags, CurlTransport& transport) : flags_(flags), transport_(transport) {
    headers_ = flags.headers;
    const bool has_type = std::any_of(headers_.begin(), headers_.end(), [](const auto& header) {
      return absl::AsciiStrToLower(header.first) == "content-type";
    });
    if (!has_type) headers_.emplace_back("Content-Type", "application/json");
  }

  void Send(int64_t index, Done done) override {
    HttpRequest request;
    request.method = flags_.method;
    request.url = flags_.url;
    request.headers = headers_;
    request.body = flags_.bodies[index % flags_.bodies.size()];
    request.deadline = absl::Now() + absl::Seconds(flags_.timeout_s);
    request.idempotent = false;  // the driver never retries (CurlTransport does not either)
    transport_.Send(std::move(request), [done =
                                             std::move(done)](absl::StatusOr<HttpResponse> result) {
      if (!result.ok()) {
        done(false, absl::StrCat("transport:", absl::StatusCodeToString(result.status().code())),
             std::string(result.status().message()));
        return;
      }
      const bool ok = result->status >= 200 && result->status < 300;
      done(ok, absl::StrCat(result->status), ok ? std::string() : result->body);
    });
  }

 private:
  const Flags& flags_;
  CurlTransport& transport_;
  std::vector<std::pair<std::string, std::string>> headers_;
};

class GrpcSender final : public Sender {
 public:
  static absl::StatusOr<std::unique_ptr<GrpcSender>> Create(const Flags& flags) {
    // Makes sure onsync's and the health service's descriptors are linked in and registered.
    (void)onsync::v1::SyncRecordRequest::descriptor();
    (void)grpc::health::v1::HealthCheckRequest::descriptor();
    const std::string& path = flags.grpc_method;
    const size_t slash = path.rfind('/');
    if (path.empty() || path[0] != '/' || slash == 0) {
      return absl::InvalidArgumentError("--grpc_method must be /package.Service/Method");
    }
    const std::string full_name =
        absl::StrCat(path.substr(1, slash - 1), ".", path.substr(slash + 1));
    const google::protobuf::MethodDescriptor* method =
        google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(full_name);
    if (method == nullptr || method->client_streaming() || method->server_streaming()) {
      return absl::NotFoundError(absl::StrCat("no unary method ", full_name));
    }
    auto sender = std::unique_ptr<GrpcSender>(new GrpcSender(flags));
    const google::protobuf::Message* prototype =
        google::protobuf::MessageFactory::generated_factory()->GetPrototype(method->input_type());
    for (const std::string& body : flags.bodies) {
      std::unique_ptr<google::protobuf::Message> message(prototype->New());
      const auto parsed = google::protobuf::util::JsonStringToMessage(body, message.get());
      if (!parsed.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("body is not a ",
                                                       method->input_type()->full_name(), ": ",
                                                       parsed.message().as_string()));
      }
      sender->requests_.push_back(message->SerializeAsString());
    }
    grpc::ChannelArguments arguments;
    arguments.SetMaxReceiveMessageSize(64 << 20);
    sender->channel_ =
        grpc::CreateCustomChannel(flags.grpc_target, grpc::InsecureChannelCredentials(), arguments);
    if (!sender->channel_->WaitForConnected(std::chrono::system_clock::now() +
                                            std::chrono::seconds(10))) {
      return absl::UnavailableError(absl::StrCat("cannot connect to ", flags.grpc_target));
    }
    sender->stub_ = std::make_unique<grpc::GenericStub>(sender->channel_);
    return sender;
  }

  void Send(int64_t index, Done done) override {
    struct Call {
      grpc::ClientContext context;
      grpc::ByteBuffer request;
      grpc::ByteBuffer response;
      Done done;
    };
    auto* call = new Call;
    call->done = std::move(done);
    call->context.set_deadline(
        std::chrono::system_clock::now() +
        std::chrono::microseconds(static_cast<int64_t>(flags_.timeout_s * 1e6)));
    grpc::Slice slice(requests_[index % requests_.size()]);
    call->request = grpc::ByteBuffer(&slice, 1);
    stub_->UnaryCall(
        &call->context, flags_.grpc_method, grpc::StubOptions(), &call->request, &call->response,
        [call](grpc::Status status) {
          const bool ok = status.ok();
          call->done(
              ok,
              ok ? std::string("grpc:OK")
                 : absl::StrCat("grpc:", absl::StatusCodeToString(
                                             static_cast<absl::StatusCode>(status.error_code()))),
              status.error_message());
          delete call;
        });
  }

 private:
  explicit GrpcSender(const Flags& flags) : flags_(flags) {}

  const Flags& flags_;
  std::vector<std::string> requests_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::GenericStub> stub_;
};

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

void SleepUntil(Clock::time_point when) {
  const auto since_epoch = when.time_since_epoch();
  timespec ts{};
  ts.tv_sec = std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count();
  ts.tv_nsec =
      std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch).count() % 1'000'000'000;
  // steady_clock is CLOCK_MONOTONIC with libstdc++.
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) != 0) {
  }
}

struct Run {
  Clock::time_point start;
  Clock::time_point end;  // when the last request completed
  int64_t sent = 0;
  Clock::duration max_send_lag{};  // open loop: the latest a request left after its schedule
  bool timed_out = false;          // requests still in flight at the end
};

// Closed loop: `concurrency` chains of requests; each completion sends the chain's next request
// until the duration or the request count is reached.
Run ClosedLoop(const Flags& flags, Sender& sender, Recorder& recorder) {
  struct State {
    Sender* sender;
    Recorder* recorder;
    Clock::time_point stop_sending;
    int64_t limit;
    std::atomic<int64_t> next{0};
    std::atomic<int> active_chains{0};
    absl::Mutex mu;
    bool done = false;
  };
  auto state = std::make_shared<State>();
  state->sender = &sender;
  state->recorder = &recorder;
  state->limit = flags.requests > 0 ? flags.requests : INT64_MAX;

  struct Chain {
    static void Next(const std::shared_ptr<State>& state) {
      const int64_t index = state->next.fetch_add(1);
      if (index >= state->limit || Clock::now() >= state->stop_sending) {
        state->next.fetch_sub(1);
        if (state->active_chains.fetch_sub(1) == 1) {
          absl::MutexLock lock(&state->mu);
          state->done = true;
        }
        return;
      }
      const Clock::time_point sent = Clock::now();
      state->sender->Send(index, [state, sent](bool ok, std::string status, std::string detail) {
        state->recorder->Add(Clock::now() - sent, ok, status, detail);
        Next(state);
      });
    }
  };

  Run run;
  run.start = Clock::now();
  state->stop_sending =
      run.start + std::chrono::microseconds(static_cast<int64_t>(flags.duration_s * 1e6));
  state->active_chains = flags.concurrency;
  for (int i = 0; i < flags.concurrency; ++i) Chain::Next(state);
  absl::MutexLock lock(&state->mu);
  run.timed_out =
      !state->mu.AwaitWithTimeout(absl::Condition(
                                      +[](bool* done) { return *done; }, &state->done),
                                  absl::Seconds(flags.duration_s + flags.timeout_s + 5));
  run.end = Clock::now();
  run.sent = state->next.load();
  return run;
}

// Open loop: request i is due at start + i / rate; the main thread sends every due request, then
// sleeps until the next one is due. Latency counts from the due time.
Run OpenLoop(const Flags& flags, Sender& sender, Recorder& recorder) {
  int64_t total = static_cast<int64_t>(flags.rate * flags.duration_s);
  if (flags.requests > 0) total = std::min(total, flags.requests);
  recorder.Reserve(total);
  const double interval_ns = 1e9 / flags.rate;
  Run run;
  run.start = Clock::now() + std::chrono::milliseconds(1);
  for (int64_t i = 0; i < total; ++i) {
    const Clock::time_point due =
        run.start + std::chrono::nanoseconds(static_cast<int64_t>(i * interval_ns));
    if (Clock::now() < due) SleepUntil(due);
    run.max_send_lag = std::max(run.max_send_lag, Clock::now() - due);
    sender.Send(i, [&recorder, due](bool ok, std::string status, std::string detail) {
      recorder.Add(Clock::now() - due, ok, status, detail);
    });
  }
  run.sent = total;
  const Clock::time_point give_up =
      Clock::now() + std::chrono::microseconds(static_cast<int64_t>((flags.timeout_s + 5) * 1e6));
  while (static_cast<int64_t>(recorder.completed()) < total) {
    if (Clock::now() > give_up) {
      run.timed_out = true;
      break;
    }
    SleepUntil(Clock::now() + std::chrono::milliseconds(1));
  }
  run.end = Clock::now();
  return run;
}

double PercentileMs(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  // Nearest rank.
  size_t rank = static_cast<size_t>(p * sorted.size() + 0.999999);
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1] / 1000.0;
}

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppend(&out, "\\u00", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, flags)) {
    Usage();
    return 2;
  }

  std::unique_ptr<CurlTransport> transport;
  std::unique_ptr<Sender> sender;
  if (!flags.url.empty()) {
    CurlTransportOptions options;
    options.max_connections_per_host = std::max(flags.connections, flags.concurrency);
    absl::StatusOr<std::unique_ptr<CurlTransport>> created = CurlTransport::Create(options);
    if (!created.ok()) {
      std::fprintf(stderr, "CurlTransport: %s\n", created.status().ToString().c_str());
      return 1;
    }
    transport = *std::move(created);
    sender = std::make_unique<HttpSender>(flags, *transport);
  } else {
    absl::StatusOr<std::unique_ptr<GrpcSender>> created = GrpcSender::Create(flags);
    if (!created.ok()) {
      std::fprintf(stderr, "gRPC: %s\n", created.status().ToString().c_str());
      return 1;
    }
    sender = *std::move(created);
  }

  Recorder recorder;
  const double cpu_before = CpuSeconds();
  const Run run = flags.concurrency > 0 ? ClosedLoop(flags, *sender, recorder)
                                        : OpenLoop(flags, *sender, recorder);
  const double cpu = CpuSeconds() - cpu_before;
  if (transport != nullptr) transport->Shutdown();

  absl::MutexLock lock(&recorder.mu_);
  std::vector<int64_t> sorted = recorder.latencies_us_;
  std::sort(sorted.begin(), sorted.end());
  double sum_us = 0;
  for (const int64_t value : sorted) sum_us += value;
  const double elapsed_s = std::chrono::duration<double>(run.end - run.start).count();
  const int64_t completed = static_cast<int64_t>(sorted.size());
  const int64_t failed = completed - recorder.ok_ + (run.sent - completed);

  std::string errors;
  std::string statuses;
  for (const auto& [status, count] : recorder.status_counts_) {
    absl::StrAppend(&statuses, statuses.empty() ? "" : ", ", JsonString(status), ": ", count);
    const bool ok = status == "grpc:OK" || (status.size() == 3 && status[0] == '2');
    if (!ok) absl::StrAppend(&errors, errors.empty() ? "" : ", ", JsonString(status), ": ", count);
  }
  if (run.sent > completed) {
    absl::StrAppend(&errors, errors.empty() ? "" : ", ", "\"unanswered\": ", run.sent - completed);
  }
  std::printf(
      "{\"mode\": \"%s\", \"target\": %s, \"concurrency\": %d, \"target_rate\": %.1f,\n"
      " \"requests\": %lld, \"completed\": %lld, \"ok\": %lld, \"failed\": %lld,\n"
      " \"statuses\": {%s}, \"errors\": {%s}, \"first_error\": %s,\n"
      " \"elapsed_s\": %.3f, \"achieved_rate\": %.1f,\n"
      " \"latency_ms\": {\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"max\": %.3f, "
      "\"mean\": %.3f},\n"
      " \"max_send_lag_ms\": %.3f, \"driver_cpu_ms\": %.1f}\n",
      flags.concurrency > 0 ? "closed" : "open",
      JsonString(flags.url.empty() ? flags.grpc_target + flags.grpc_method : flags.url).c_str(),
      flags.concurrency, flags.rate, static_cast<long long>(run.sent),
      static_cast<long long>(completed), static_cast<long long>(recorder.ok_),
      static_cast<long long>(failed), statuses.c_str(), errors.c_str(),
      JsonString(recorder.first_error_).c_str(), elapsed_s,
      elapsed_s > 0 ? completed / elapsed_s : 0.0, PercentileMs(sorted, 0.50),
      PercentileMs(sorted, 0.90), PercentileMs(sorted, 0.99),
      sorted.empty() ? 0.0 : sorted.back() / 1000.0,
      completed > 0 ? sum_us / completed / 1000.0 : 0.0,
      std::chrono::duration<double, std::milli>(run.max_send_lag).count(), cpu * 1000);
  std::fflush(stdout);
  return failed == 0 && !run.timed_out ? 0 : 1;
}
