#include "tests/fault/jobs_fixture.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <random>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace onsync::testing {
namespace {

using sandbox::FakeKind;

constexpr char kApiKey[] = "sandbox-key";
constexpr char kActive[] = "6f0caae9-2f2d-5073-8d41-592671697963";
constexpr char kTier3[] = "9e34f1a4-7bbb-5b84-af5b-0b954f359412";
constexpr char kSyncNo[] = "0c5062ad-4e0b-5836-83af-7834d0bf2229";
constexpr absl::Duration kRpcTimeout = absl::Seconds(10);

// A top-level key's line ("jobs:", "profiles:"), not a comment or an indented line.
bool IsTopLevel(std::string_view line) {
  return !line.empty() && line[0] != ' ' && line[0] != '\t' && line[0] != '#';
}

// The index of the line after the block that starts at `start` (the next top-level line).
size_t EndOfBlock(const std::vector<std::string>& lines, size_t start) {
  size_t end = start + 1;
  while (end < lines.size() && !IsTopLevel(lines[end])) ++end;
  return end;
}

// `YYYY-MM-DD HH:MM:SS`, `seconds` after 2024-06-01 00:00:00 UTC.
std::string SnTime(int seconds) {
  return absl::FormatTime(
      "%Y-%m-%d %H:%M:%S",
      absl::FromCivil(absl::CivilSecond(2024, 6, 1, 0, 0, 0), absl::UTCTimeZone()) +
          absl::Seconds(seconds),
      absl::UTCTimeZone());
}

std::string JsonText(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return buffer.GetString();
}

rapidjson::Value* FindByName(rapidjson::Value& array, const char* key, std::string_view name) {
  for (rapidjson::Value& item : array.GetArray()) {
    if (item[key].IsString() && std::string_view(item[key].GetString()) == name) return &item;
  }
  return nullptr;
}

rapidjson::Value* FindById(rapidjson::Value& array, int id) {
  for (rapidjson::Value& item : array.GetArray()) {
    if (item["id"].GetInt() == id) return &item;
  }
  return nullptr;
}

void SetDeadline(grpc::ClientContext& context) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + kRpcTimeout));
}

}  // namespace

std::string AsyncConfigYaml(const std::string& example_yaml, const JobsSettings& jobs) {
  std::vector<std::string> lines = absl::StrSplit(example_yaml, '\n');
  for (size_t i = 0; i < lines.size(); ++i) {
    if (absl::StartsWith(lines[i], "jobs:")) {
      lines.erase(lines.begin() + i, lines.begin() + EndOfBlock(lines, i));
      break;
    }
  }
  const auto profiles = std::find(lines.begin(), lines.end(), "profiles:");
  if (profiles == lines.end()) {
    ADD_FAILURE() << "no line \"profiles:\" in the example config";
    return example_yaml;
  }
  const size_t end = EndOfBlock(lines, profiles - lines.begin());
  const std::vector<std::string> async_profile = {
      "  business_app_async:",
      "    description: Like business_app_write_back, as a durable job (202 at once)",
      "    mode: async",
      "    source: *business_app_source",
      "    target: *business_app_target",
      "    trigger: *business_app_trigger",
      "    fields: *business_app_fields",
  };
  // An example that has the profile already keeps its own.
  if (std::find(lines.begin(), lines.end(), async_profile.front()) == lines.end()) {
    lines.insert(lines.begin() + end, async_profile.begin(), async_profile.end());
  }
  std::string text = absl::StrJoin(lines, "\n");
  if (!text.empty() && text.back() != '\n') text.push_back('\n');
  absl::StrAppend(&text, "jobs:\n  workers: ", jobs.workers, "\n");
  if (jobs.max_attempts > 0) absl::StrAppend(&text, "  max_attempts: ", jobs.max_attempts, "\n");
  absl::StrAppend(&text, "  initial_backoff: ", jobs.initial_backoff,
                  "\n  max_backoff: ", jobs.max_backoff, "\n  lease: ", jobs.lease, "\n");
  return text;
}

GenSeed MakeGenSeed(const GenSeedOptions& options) {
  GenSeed out;
  std::mt19937_64 random(options.random_seed);
  auto sys_id = [&random] { return absl::StrFormat("%016x%016x", random(), random()); };
  for (int i = 0; i < options.users; ++i) {
    out.users.push_back(
        {sys_id(), absl::StrFormat("Gen%02d Owner", i), i < options.users_in_onspring ? 4 + i : 0});
  }
  for (int i = 0; i < options.apps; ++i) {
    GenApp app;
    app.sys_id = sys_id();
    app.name = absl::StrFormat("Gen App %04d", i);
    app.number = absl::StrFormat("APM3%06d", i);
    app.updated_on = SnTime(i / options.apps_per_second);
    app.owner = static_cast<int>(random() % options.users);
    app.it_owner = static_cast<int>(random() % options.users);
    app.l3 = static_cast<int>(random() % options.users);
    app.record_id = options.targets_in_onspring ? 8 + i : 0;  // the seed's apps are 1-7
    out.apps.push_back(std::move(app));
  }

  rapidjson::Document seed;
  const std::string_view text = sandbox::Sandbox::DefaultSeed();
  seed.Parse(text.data(), text.size());
  auto& alloc = seed.GetAllocator();
  auto object = [&alloc](std::initializer_list<std::pair<const char*, std::string>> members) {
    rapidjson::Value value(rapidjson::kObjectType);
    for (const auto& [name, text] : members) {
      value.AddMember(rapidjson::Value(name, alloc), rapidjson::Value(text.c_str(), alloc), alloc);
    }
    return value;
  };
  rapidjson::Value& tables = seed["servicenow"]["tables"];
  rapidjson::Value* users = FindByName(tables, "name", "sys_user");
  rapidjson::Value* apps = FindByName(tables, "name", "cmdb_ci_business_app");
  rapidjson::Value* os_users = FindById(seed["onspring"]["apps"], 100);
  rapidjson::Value* os_apps = FindById(seed["onspring"]["apps"], 300);
  if (users == nullptr || apps == nullptr || os_users == nullptr || os_apps == nullptr) {
    ADD_FAILURE() << "the default seed lacks sys_user, cmdb_ci_business_app, app 100 or app 300";
    return out;
  }
  for (const GenUser& user : out.users) {
    const std::vector<std::string> words = absl::StrSplit(user.name, ' ');
    const std::string user_name = absl::AsciiStrToLower(absl::StrJoin(words, "."));
    (*users)["rows"].PushBack(object({{"sys_id", user.sys_id},
                                      {"user_name", user_name},
                                      {"first_name", words[0]},
                                      {"last_name", words[1]},
                                      {"name", user.name},
                                      {"email", user_name + "@example.com"},
                                      {"active", "true"},
                                      {"sys_created_on", "2024-01-15 08:00:00"},
                                      {"sys_updated_on", "2024-03-01 09:00:00"}}),
                              alloc);
    if (user.record_id == 0) continue;
    rapidjson::Value record(rapidjson::kObjectType);
    record.AddMember("recordId", user.record_id, alloc);
    record.AddMember("fields",
                     object({{"1001", words[0]},
                             {"1002", words[1]},
                             {"1003", user_name},
                             {"1004", user_name + "@example.com"},
                             {"1006", kActive},
                             {"1007", kTier3}}),
                     alloc);
    (*os_users)["records"].PushBack(record, alloc);
  }
  const char* kInstallTypes[] = {"On Premise", "Cloud", "Hybrid", "Third Party Hosted"};
  int i = 0;
  for (const GenApp& app : out.apps) {
    (*apps)["rows"].PushBack(object({{"sys_id", app.sys_id},
                                     {"name", app.name},
                                     {"number", app.number},
                                     {"short_description", "Generated: " + app.name},
                                     {"install_type", kInstallTypes[i++ % 4]},
                                     {"u_cloud_model", "SaaS"},
                                     {"it_application_owner", out.users[app.owner].sys_id},
                                     {"u_primary_it_owner", out.users[app.it_owner].sys_id},
                                     {"u_l3_name", out.users[app.l3].sys_id},
                                     {"u_regulatory_legal_and_compliance", "SOX, GDPR"},
                                     {"sys_created_on", "2024-01-01 00:00:00"},
                                     {"sys_updated_on", app.updated_on}}),
                             alloc);
    if (app.record_id == 0) continue;
    rapidjson::Value record(rapidjson::kObjectType);
    record.AddMember("recordId", app.record_id, alloc);
    record.AddMember("fields", object({{"3001", app.name}, {"3011", kSyncNo}}), alloc);
    (*os_apps)["records"].PushBack(record, alloc);
  }
  out.json = JsonText(seed);
  return out;
}

std::string Quoted(const std::string& text) {
  rapidjson::Value value(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  return JsonText(value);
}

absl::Time TimeOf(const google::protobuf::Timestamp& timestamp) {
  if (timestamp.seconds() == 0 && timestamp.nanos() == 0) return absl::InfinitePast();
  return absl::FromUnixSeconds(timestamp.seconds()) + absl::Nanoseconds(timestamp.nanos());
}

std::string StateName(onsync::v1::JobState state) {
  std::string name = onsync::v1::JobState_Name(state);
  if (absl::StartsWith(name, "JOB_STATE_")) name.erase(0, 10);
  return name;
}

// Every user named in `seed`'s apps has exactly one Onspring user record (the ones already in
// Onspring keep their id), and no full name appears twice. Returns name -> record id.
std::map<std::string, int64_t> ExpectUsersOnce(const std::vector<OsRecord>& users,
                                               const GenSeed& seed) {
  std::map<std::string, std::vector<int64_t>> by_name;  // JSON text of Full Name -> ids
  for (const OsRecord& user : users) {
    const auto name = user.fields.find(1005);
    by_name[name == user.fields.end() ? "<none>" : name->second].push_back(user.record_id);
  }
  int duplicates = 0;
  for (const auto& [name, ids] : by_name) {
    if (ids.size() > 1 && ++duplicates <= 10) {
      ADD_FAILURE() << "user " << name << " exists " << ids.size()
                    << " times: " << absl::StrJoin(ids, ", ");
    }
  }
  EXPECT_EQ(duplicates, 0) << "users created twice";
  std::set<int> referenced;
  for (const GenApp& app : seed.apps) referenced.insert({app.owner, app.it_owner, app.l3});
  std::map<std::string, int64_t> ids;
  for (int index : referenced) {
    const GenUser& user = seed.users[index];
    const auto found = by_name.find(Quoted(user.name));
    if (found == by_name.end()) {
      ADD_FAILURE() << "user " << user.name << " was never created";
      continue;
    }
    EXPECT_EQ(found->second.size(), 1u) << user.name;
    if (user.record_id != 0) {
      EXPECT_EQ(found->second.front(), user.record_id) << user.name;
    }
    ids[user.name] = found->second.front();
  }
  return ids;
}

// Every generated app has exactly one Business Applications record, holding the row's values.
// Returns the number of apps whose record is wrong or missing.
int ExpectAppRecords(const std::vector<OsRecord>& records, const GenSeed& seed,
                     const std::map<std::string, int64_t>& user_ids) {
  std::map<std::string, std::vector<const OsRecord*>> by_name;
  for (const OsRecord& record : records) {
    const auto name = record.fields.find(3001);
    by_name[name == record.fields.end() ? "<none>" : name->second].push_back(&record);
  }
  int wrong = 0;
  auto user = [&](int index) {
    const auto id = user_ids.find(seed.users[index].name);
    return id == user_ids.end() ? std::string("<no user>") : absl::StrCat("[", id->second, "]");
  };
  auto field = [](const OsRecord& record, int id) {
    const auto value = record.fields.find(id);
    return value == record.fields.end() ? std::string("<empty>") : value->second;
  };
  for (const GenApp& app : seed.apps) {
    const auto found = by_name.find(Quoted(app.name));
    std::string problem;
    if (found == by_name.end()) {
      problem = "no record";
    } else if (found->second.size() != 1) {
      problem = absl::StrCat(found->second.size(), " records");
    } else {
      const OsRecord& record = *found->second.front();
      if (app.record_id != 0 && record.record_id != app.record_id) {
        problem = absl::StrCat("record id ", record.record_id, ", not ", app.record_id);
      } else if (field(record, 3002) != Quoted(app.number)) {
        problem = absl::StrCat("short name ", field(record, 3002), ", not ", app.number);
      } else if (field(record, 3003) != Quoted("Generated: " + app.name)) {
        problem = absl::StrCat("description ", field(record, 3003));
      } else if (field(record, 3006) != user(app.owner) ||
                 field(record, 3007) != user(app.it_owner) || field(record, 3008) != user(app.l3) ||
                 field(record, 3009) != user(app.l3)) {
        problem = absl::StrCat("owners ", field(record, 3006), " ", field(record, 3007), " ",
                               field(record, 3008), " ", field(record, 3009), ", not ",
                               user(app.owner), " ", user(app.it_owner), " ", user(app.l3));
      } else if (field(record, 3010) != "[2,1]" && field(record, 3010) != "[1,2]") {
        problem = absl::StrCat("regulatory ", field(record, 3010));  // SOX (2), GDPR (1)
      }
    }
    if (!problem.empty() && ++wrong <= 10) ADD_FAILURE() << app.name << ": " << problem;
  }
  return wrong;
}

void JobsE2eTest::TearDown() {
  // This process's channel goes first: while it is open and idle, the server's graceful shutdown
  // waits ~4 s for it (an idle synchronous client answers the server's GOAWAY late).
  stub_.reset();
  channel_.reset();
  // Both stop cleanly on SIGTERM; a server killed with -9 and not restarted has exited already.
  for (std::optional<ChildProcess>* process : {&gateway_, &server_}) {
    if (!process->has_value()) continue;
    if (process == &server_ && server_killed_) continue;
    (*process)->Signal(SIGTERM);
    const absl::StatusOr<int> code = (*process)->Wait(absl::Seconds(20));
    EXPECT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(code.value_or(0), 0) << (*process)->Stderr();
  }
  if (HasFailure()) std::cerr << Stderrs();
  if (sandbox_ != nullptr) sandbox_->Shutdown();
  for (const std::string& path : temp_files_) std::remove(path.c_str());
  if (!jobs_db_.empty()) {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      std::remove((jobs_db_ + suffix).c_str());
    }
  }
}

std::string JobsE2eTest::Stderrs() const {
  std::string text;
  if (!killed_server_stderr_.empty()) {
    absl::StrAppend(&text, "killed onsync-server stderr (tail):\n",
                    killed_server_stderr_.substr(killed_server_stderr_.size() > 20000
                                                     ? killed_server_stderr_.size() - 20000
                                                     : 0),
                    "\n");
  }
  for (const auto* process : {&server_, &gateway_}) {
    if (!process->has_value()) continue;
    const std::string err = (*process)->Stderr();
    absl::StrAppend(&text, process == &server_ ? "onsync-server" : "onsync-gateway",
                    " stderr (tail):\n", err.substr(err.size() > 20000 ? err.size() - 20000 : 0),
                    "\n");
  }
  return text;
}

void JobsE2eTest::StartSandbox(const std::string& seed_json, absl::Duration latency) {
  sandbox::SandboxOptions options;
  options.seed_json = seed_json;
  options.latency = latency;
  auto started = sandbox::Sandbox::Start(options);
  ASSERT_TRUE(started.ok()) << started.status();
  sandbox_ = *std::move(started);
}

void JobsE2eTest::StartStack(const JobsSettings& jobs) {
  ASSERT_NE(sandbox_, nullptr) << "StartSandbox first";
  const std::string yaml =
      AsyncConfigYaml(ReadTextFile(SourcePath("deploy/examples/business-app.yaml")), jobs);
  ASSERT_FALSE(HasFailure());
  config_path_ = WriteTempFile(WithSandboxConnections(yaml, sandbox_->servicenow_url(),
                                                      sandbox_->onspring_url(), temp_files_));
  temp_files_.push_back(config_path_);
  // A fresh store file for this test (its directory exists; the server creates the file).
  const std::string db = WriteTempFile("");
  temp_files_.push_back(db);
  ASSERT_NO_FATAL_FAILURE(StartServer(config_path_, db + ".jobs.db"));
  ASSERT_NO_FATAL_FAILURE(RestartClient());
  ASSERT_NO_FATAL_FAILURE(StartGateway());
}

void JobsE2eTest::RestartClient() {
  grpc::ChannelArguments args;
  // A channel of its own (no subchannel shared with an earlier one, and its reconnect backoff),
  // reconnecting quickly after a restart.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  channel_ = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_port_),
                                       grpc::InsecureChannelCredentials(), args);
  stub_ = onsync::v1::SyncService::NewStub(channel_);
  ASSERT_TRUE(channel_->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(10))))
      << "no gRPC connection to the server on port " << server_port_;
}

void JobsE2eTest::KillServer() {
  ASSERT_TRUE(server_.has_value());
  server_->Signal(SIGKILL);
  const absl::StatusOr<int> code = server_->Wait(absl::Seconds(10));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 128 + SIGKILL);
  server_killed_ = true;
  absl::StrAppend(&killed_server_stderr_, server_->Stderr());
}

void JobsE2eTest::RestartServer() {
  const std::string listen = absl::StrCat("127.0.0.1:", server_port_);
  // The port was the killed process's: bind it again (a few tries, should anything else have
  // taken it meanwhile), so that the gateway finds the new process where it was.
  absl::Status last = absl::UnknownError("not started");
  for (int attempt = 0; attempt < 10; ++attempt) {
    if (attempt > 0) absl::SleepFor(absl::Milliseconds(200));
    auto server = ChildProcess::Start({BinaryPath("onsync-server"), "--config", config_path_,
                                       "--listen", listen, "--jobs_db", jobs_db_});
    ASSERT_TRUE(server.ok()) << server.status();
    server_.emplace(*std::move(server));
    server_killed_ = false;
    absl::StatusOr<std::string> line =
        server_->WaitForLine("onsync-server listening on", kStartTimeout);
    if (line.ok()) {
      ASSERT_EQ(PortFromReadyLine(*line), server_port_) << *line;
      ASSERT_NO_FATAL_FAILURE(RestartClient());
      return;
    }
    last = line.status();
    if (!absl::StrContains(last.message(), "cannot listen")) break;
  }
  FAIL() << "onsync-server did not start again on " << listen << ": " << last;
}

grpc::Status JobsE2eTest::Enqueue(const std::string& profile, const std::string& key,
                                  onsync::v1::Job* job, bool* deduplicated) {
  grpc::ClientContext context;
  SetDeadline(context);
  onsync::v1::EnqueueSyncRequest request;
  request.set_profile(profile);
  request.mutable_trigger()->set_key(key);
  onsync::v1::EnqueueSyncResponse response;
  grpc::Status status = stub_->EnqueueSync(&context, request, &response);
  if (job != nullptr) *job = response.job();
  if (deduplicated != nullptr) *deduplicated = response.deduplicated();
  return status;
}

absl::StatusOr<onsync::v1::Job> JobsE2eTest::GetJob(const std::string& id) {
  grpc::ClientContext context;
  SetDeadline(context);
  onsync::v1::GetJobRequest request;
  request.set_job_id(id);
  onsync::v1::GetJobResponse response;
  const grpc::Status status = stub_->GetJob(&context, request, &response);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  }
  return response.job();
}

absl::StatusOr<std::vector<onsync::v1::Job>> JobsE2eTest::ListAllJobs(
    onsync::v1::ListJobsRequest request) {
  std::vector<onsync::v1::Job> jobs;
  request.set_page_size(500);
  for (int page = 0; page < 1000; ++page) {
    grpc::ClientContext context;
    SetDeadline(context);
    onsync::v1::ListJobsResponse response;
    const grpc::Status status = stub_->ListJobs(&context, request, &response);
    if (!status.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          status.error_message());
    }
    for (onsync::v1::Job& job : *response.mutable_jobs()) jobs.push_back(std::move(job));
    if (response.next_page_token().empty()) return jobs;
    request.set_page_token(response.next_page_token());
  }
  return absl::InternalError("ListJobs: more than 1000 pages");
}

grpc::Status JobsE2eTest::CancelJob(const std::string& id, onsync::v1::Job* job) {
  grpc::ClientContext context;
  SetDeadline(context);
  onsync::v1::CancelJobRequest request;
  request.set_job_id(id);
  onsync::v1::CancelJobResponse response;
  grpc::Status status = stub_->CancelJob(&context, request, &response);
  if (job != nullptr) *job = response.job();
  return status;
}

grpc::Status JobsE2eTest::RetryJob(const std::string& id, onsync::v1::Job* job) {
  grpc::ClientContext context;
  SetDeadline(context);
  onsync::v1::RetryJobRequest request;
  request.set_job_id(id);
  onsync::v1::RetryJobResponse response;
  grpc::Status status = stub_->RetryJob(&context, request, &response);
  if (job != nullptr) *job = response.job();
  return status;
}

grpc::Status JobsE2eTest::StartBatch(const std::string& profile, onsync::v1::Job* job) {
  grpc::ClientContext context;
  SetDeadline(context);
  onsync::v1::StartBatchSyncRequest request;
  request.set_profile(profile);
  request.mutable_batch()->set_full(true);
  onsync::v1::StartBatchSyncResponse response;
  grpc::Status status = stub_->StartBatchSync(&context, request, &response);
  if (job != nullptr) *job = response.job();
  return status;
}

onsync::v1::Job JobsE2eTest::WaitForJob(const std::string& id,
                                        const std::function<bool(const onsync::v1::Job&)>& done,
                                        absl::Duration timeout, absl::Duration every,
                                        std::vector<onsync::v1::Job>* seen) {
  const absl::Time deadline = absl::Now() + timeout;
  onsync::v1::Job last;
  absl::Status last_error;
  while (true) {
    absl::StatusOr<onsync::v1::Job> job = GetJob(id);
    if (job.ok()) {
      last = *job;
      if (seen != nullptr) seen->push_back(last);
      if (done(last)) return last;
    } else {
      last_error = job.status();
    }
    if (absl::Now() >= deadline) break;
    absl::SleepFor(every);
  }
  ADD_FAILURE() << "job " << id << " not done within " << absl::FormatDuration(timeout)
                << "; last read: " << last.ShortDebugString() << "; last error: " << last_error;
  return last;
}

onsync::v1::Job JobsE2eTest::WaitForState(const std::string& id, onsync::v1::JobState state,
                                          absl::Duration timeout) {
  return WaitForJob(
      id, [state](const onsync::v1::Job& job) { return job.state() == state; }, timeout);
}

absl::StatusOr<HttpResult> JobsE2eTest::PostOutcome(const std::string& profile,
                                                    const std::string& body) {
  return HttpRequest("127.0.0.1", gateway_port_, "POST", absl::StrCat("/v1/outcomes/", profile),
                     body, {{"Content-Type", "application/json"}});
}

HttpResult JobsE2eTest::Gateway(std::string_view method, const std::string& target,
                                const std::string& body) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
  auto result = HttpRequest("127.0.0.1", gateway_port_, method, target, body, headers);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.value_or(HttpResult{});
}

HttpResult JobsE2eTest::Onspring(std::string_view method, const std::string& target,
                                 const std::string& body) {
  std::vector<std::pair<std::string, std::string>> headers = {{"X-ApiKey", kApiKey}};
  if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
  auto result = HttpRequest("127.0.0.1", sandbox_->onspring_port(), method, target, body, headers);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.value_or(HttpResult{});
}

std::vector<OsRecord> JobsE2eTest::QueryAll(int app_id, const std::string& filter) {
  std::vector<OsRecord> records;
  const std::string body =
      absl::StrCat(R"({"appId": )", app_id, R"(, "filter": )", Quoted(filter), "}");
  for (int page = 1; page <= 1000; ++page) {
    const HttpResult result =
        Onspring("POST", absl::StrCat("/Records/Query?PageNumber=", page, "&PageSize=1000"), body);
    EXPECT_EQ(result.status, 200) << result.body;
    rapidjson::Document json;
    json.Parse(result.body.c_str(), result.body.size());
    if (json.HasParseError() || !json.IsObject() || !json.HasMember("items")) {
      ADD_FAILURE() << "not a page of records: " << result.body.substr(0, 500);
      return records;
    }
    for (const auto& item : json["items"].GetArray()) {
      OsRecord record;
      record.record_id = item["recordId"].GetInt64();
      for (const auto& field : item["fieldData"].GetArray()) {
        record.fields[field["fieldId"].GetInt()] = JsonText(field["value"]);
      }
      records.push_back(std::move(record));
    }
    if (page >= json["totalPages"].GetInt64()) break;
  }
  return records;
}

OsRecord JobsE2eTest::GetRecord(int app_id, int64_t record_id) {
  const HttpResult result =
      Onspring("GET", absl::StrCat("/Records/appId/", app_id, "/recordId/", record_id));
  EXPECT_EQ(result.status, 200) << result.body;
  rapidjson::Document item;
  item.Parse(result.body.c_str(), result.body.size());
  OsRecord record;
  if (item.HasParseError() || !item.IsObject() || !item.HasMember("fieldData")) return record;
  record.record_id = item["recordId"].GetInt64();
  for (const auto& field : item["fieldData"].GetArray()) {
    record.fields[field["fieldId"].GetInt()] = JsonText(field["value"]);
  }
  return record;
}

std::vector<JobsE2eTest::ListRead> JobsE2eTest::AppListReads() {
  std::vector<ListRead> reads;
  for (const auto& entry : sandbox_->request_log().Entries(FakeKind::kServiceNow)) {
    if (entry.route != kSnAppsRoute) continue;
    ListRead read;
    read.sequence = entry.sequence;
    read.counted = true;  // ServiceNow counts unless told not to
    for (const auto& [key, value] : entry.query) {
      if (key == "sysparm_query") read.query = value;
      if (key == "sysparm_offset") read.offset = value;
      if (key == "sysparm_no_count") read.counted = value != "true";
    }
    reads.push_back(std::move(read));
  }
  return reads;
}

uint64_t JobsE2eTest::LastLogSequence() {
  const std::vector<sandbox::RequestLogEntry> entries = sandbox_->request_log().Entries();
  return entries.empty() ? 0 : entries.back().sequence;
}

}  // namespace onsync::testing
