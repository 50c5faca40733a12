#include "server/config/config_loader.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "google/protobuf/duration.pb.h"
#include "gtest/gtest.h"
#include "onsync/v1/config.pb.h"
#include "tests/server/config/fake_secret_source.h"

namespace onsync::config {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

using testing::FakeSecretSource;
using testing::kSecret;
using testing::Message;

// Every secret the test configs name resolves to kSecret.
FakeSecretSource Secrets() {
  FakeSecretSource source;
  for (const char* file : {"/run/secrets/sn_password", "/run/secrets/onspring",
                           "/run/secrets/gateway_key", "/run/secrets/oauth_client"}) {
    source.files[file] = std::string(kSecret) + "\n";
  }
  for (const char* name :
       {"ONSPRING_API_KEY", "OUTCOME_PASSWORD", "WEBHOOK_SECRET", "SN_PASSWORD", "PG_DSN"}) {
    source.env[name] = kSecret;
  }
  return source;
}

// The PoC's business-application scenario (reference/poc-outcome.md) as a profile, with every
// section of the file exercised once.
constexpr char kFullConfig[] = R"yaml(
servicenow:
  instance_url: https://acme.service-now.com
  auth:
    basic: {username: svc_onsync, password_file: /run/secrets/sn_password}
onspring:
  base_url: https://api.onspring.com
  api_key: ${ONSPRING_API_KEY}
profiles:
  business_app:
    description: ServiceNow business applications into Onspring's Business Applications app
    source: {table: cmdb_ci_business_app, key_field: name}
    target: {app_id: 300, key_field_id: 3001}
    trigger: {record_id: recordId, key: name}
    mode: respond
    fields:
      appName:     {from: name, to_field: 3001}
      shortName:   {from: number, to_field: 3002}
      description: {from: short_description, to_field: 3003}
      installType: {from: install_type, to_field: 3004, list: {}}
      cloudModel:  {from: u_cloud_model, to_field: 3005, list: {output: name}}
      appOwner:
        from: it_application_owner.name
        to_field: 3006
        reference: &user
          app_id: 100
          match_field_id: 1005          # full name
          on_missing: CREATE
          create:
            1001: "{value|first_word}"
            1002: "{value|rest_words}"
            1003: "{value|first_space_to_dot|lower}"
            1004: "{value|first_space_to_dot|lower}@example.com"
            1006: 7f3c2a10-0000-4000-8000-000000000001   # status
            1007: 7f3c2a10-0000-4000-8000-000000000002   # tier
      itOwner: {from: u_primary_it_owner.name, to_field: 3007, reference: *user}
      l3:      {from: u_l3_name.name, to_field: 3008, reference: *user}
      l2:      {from: u_l3_name.name, to_field: 3009, reference: *user}
      regulatory:
        from: u_regulatory_legal_and_compliance
        to_field: 3010
        split: ","
        join: "|"
        reference: {app_id: 200, match_field_id: 2001, on_missing: skip}
    schedule: {every: 15m}
    auth:
      - basic:
          username: onspring
          password: ${OUTCOME_PASSWORD}     # block style: no quotes needed
server:
  listen: 127.0.0.1:50051
  shutdown_grace: 10s
  max_in_flight_syncs: 256
  admin_listen: "[::1]:9090"
  inline_sync:
    allowed_servicenow_hosts: [acme.service-now.com]
    pass_through_credentials: TRUE
  cache_ttl: 2m
  cache_entries: 5000
gateway:
  listen: 0.0.0.0:8080
  server: 127.0.0.1:50051
  threads: 2
  read_timeout: 1.5s
  default_deadline: 25s
  max_deadline: 2m
  auth:
    - api_key: {header: x-api-key, key_file: /run/secrets/gateway_key}
    - signed_webhook: {secret: "${WEBHOOK_SECRET}", tolerance: 5m}
jobs:
  sqlite: {path: /var/lib/onsync/jobs.db}
  workers: 8
  initial_backoff: 250ms
  max_backoff: 5m
  lease: 30s
  dedupe_window: 24h
logging: {level: debug}
upstream:
  connect_timeout: 5s
  max_attempts: "4"
  retry_budget_ratio: 0.1
  initial_backoff: 100ms
  max_backoff: 1h30m
)yaml";

// A minimal valid config that the error tests below change one thing in.
constexpr char kMinimalProfile[] = R"yaml(
profiles:
  business_app:
    source: {table: cmdb_ci_business_app, key_field: name}
    fields:
      appName: {from: name}
)yaml";

absl::StatusOr<v1::Config> Parse(const std::string& yaml) {
  return ParseConfigYaml(yaml, Secrets());
}

// The error of parsing `yaml`, checked to be INVALID_ARGUMENT and free of the secret.
std::string ErrorOf(const std::string& yaml) {
  absl::StatusOr<v1::Config> config = Parse(yaml);
  EXPECT_FALSE(config.ok()) << yaml;
  if (config.ok()) return "";
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << config.status();
  EXPECT_THAT(Message(config.status()), Not(HasSubstr(kSecret)));
  return std::string(Message(config.status()));
}

// kMinimalProfile plus `extra` (top-level sections).
std::string WithMinimal(const std::string& extra) { return std::string(kMinimalProfile) + extra; }

// A profile `p` whose body is `body` (indented by the caller as under `p:`).
std::string Profile(const std::string& body) { return "profiles:\n  p:\n" + body; }

TEST(ParseConfigYamlTest, FullConfigLandsInTheRightFields) {
  absl::StatusOr<v1::Config> parsed = Parse(kFullConfig);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const v1::Config& config = *parsed;

  EXPECT_EQ(config.servicenow().instance_url(), "https://acme.service-now.com");
  EXPECT_EQ(config.servicenow().auth().basic().username(), "svc_onsync");
  EXPECT_EQ(config.servicenow().auth().basic().password_file(), "/run/secrets/sn_password");
  // Secrets stay references; nothing resolved is kept.
  EXPECT_EQ(config.onspring().api_key(), "${ONSPRING_API_KEY}");
  EXPECT_THAT(config.DebugString(), Not(HasSubstr(kSecret)));

  ASSERT_EQ(config.profiles().count("business_app"), 1u);
  const v1::Profile& profile = config.profiles().at("business_app");
  EXPECT_EQ(profile.source().table(), "cmdb_ci_business_app");
  EXPECT_EQ(profile.source().key_field(), "name");
  EXPECT_EQ(profile.target().app_id(), 300);
  EXPECT_EQ(profile.target().key_field_id(), 3001);
  EXPECT_EQ(profile.trigger().record_id(), "recordId");
  EXPECT_EQ(profile.mode(), v1::PROFILE_MODE_RESPOND);
  EXPECT_EQ(profile.fields_size(), 10);
  EXPECT_EQ(profile.fields().at("installType").kind_case(), v1::OutputField::kList);
  EXPECT_EQ(profile.fields().at("cloudModel").list().output(), v1::ListKind::OUTPUT_NAME);
  EXPECT_EQ(profile.fields().at("appName").kind_case(), v1::OutputField::KIND_NOT_SET);

  const v1::ReferenceKind& owner = profile.fields().at("appOwner").reference();
  EXPECT_EQ(owner.app_id(), 100);
  EXPECT_EQ(owner.match_field_id(), 1005);
  EXPECT_EQ(owner.on_missing(), v1::ON_MISSING_CREATE);
  ASSERT_EQ(owner.create_size(), 6);
  EXPECT_EQ(owner.create().at(1003), "{value|first_space_to_dot|lower}");
  EXPECT_EQ(owner.create().at(1004), "{value|first_space_to_dot|lower}@example.com");
  EXPECT_EQ(owner.create().at(1006), "7f3c2a10-0000-4000-8000-000000000001");
  // The alias gives the other user references the same settings.
  EXPECT_EQ(profile.fields().at("l2").reference().create().at(1001), "{value|first_word}");
  EXPECT_EQ(profile.fields().at("l2").to_field(), 3009);

  const v1::OutputField& regulatory = profile.fields().at("regulatory");
  EXPECT_EQ(regulatory.split(), ",");
  EXPECT_EQ(regulatory.join(), "|");
  EXPECT_EQ(regulatory.reference().app_id(), 200);
  EXPECT_EQ(regulatory.reference().on_missing(), v1::ON_MISSING_SKIP);
  EXPECT_EQ(profile.schedule().every().seconds(), 900);
  ASSERT_EQ(profile.auth_size(), 1);
  EXPECT_EQ(profile.auth(0).basic().password(), "${OUTCOME_PASSWORD}");

  EXPECT_EQ(config.server().listen(), "127.0.0.1:50051");
  EXPECT_EQ(config.server().shutdown_grace().seconds(), 10);
  EXPECT_EQ(config.server().max_in_flight_syncs(), 256);
  EXPECT_EQ(config.gateway().read_timeout().seconds(), 1);
  EXPECT_EQ(config.gateway().read_timeout().nanos(), 500'000'000);
  EXPECT_EQ(config.gateway().max_deadline().seconds(), 120);
  ASSERT_EQ(config.gateway().auth_size(), 2);
  EXPECT_EQ(config.gateway().auth(0).api_key().header(), "x-api-key");
  EXPECT_EQ(config.gateway().auth(1).signed_webhook().tolerance().seconds(), 300);
  EXPECT_THAT(config.server().inline_sync().allowed_servicenow_hosts(),
              ::testing::ElementsAre("acme.service-now.com"));
  EXPECT_TRUE(config.server().inline_sync().pass_through_credentials());
  EXPECT_EQ(config.server().cache_ttl().seconds(), 120);
  EXPECT_EQ(config.server().cache_entries(), 5000);

  EXPECT_EQ(config.jobs().sqlite().path(), "/var/lib/onsync/jobs.db");
  EXPECT_EQ(config.jobs().workers(), 8);
  EXPECT_EQ(config.jobs().initial_backoff().nanos(), 250'000'000);
  EXPECT_EQ(config.jobs().dedupe_window().seconds(), 86'400);
  EXPECT_EQ(config.logging().level(), v1::LoggingConfig::LEVEL_DEBUG);
  EXPECT_EQ(config.upstream().max_attempts(), 4);  // Written as the string "4".
  EXPECT_DOUBLE_EQ(config.upstream().retry_budget_ratio(), 0.1);
  EXPECT_EQ(config.upstream().max_backoff().seconds(), 5'400);
}

TEST(ParseConfigYamlTest, EmptyDocumentIsAnEmptyConfig) {
  for (const char* yaml : {"", "\n", "# only a comment\n", "---\n", "~\n"}) {
    absl::StatusOr<v1::Config> config = Parse(yaml);
    ASSERT_TRUE(config.ok()) << "[" << yaml << "] " << config.status();
    EXPECT_EQ(config->ByteSizeLong(), 0u);
  }
}

TEST(ParseConfigYamlTest, AcceptsJsonNamesAndEnumSpellings) {
  absl::StatusOr<v1::Config> config = Parse(R"yaml(
servicenow:
  instanceUrl: https://acme.service-now.com/
  auth: {oauth: {grantType: client_credentials, clientId: onsync,
                 clientSecretFile: /run/secrets/oauth_client}}
profiles:
  a-1:
    source: {table: t, keyField: k}
    mode: PROFILE_MODE_WRITE_BACK
    target: {appId: 1, keyFieldId: 2}
    fields:
      x: {from: y, toField: 3, list: {output: Id, createMissing: true}}
  b_2:
    source: {table: t, key_field: k}
    mode: Async
    target: {app_id: 1, key_field_id: 2}
    fields: {x: {from: y, to_field: 3}}
logging: {level: LEVEL_WARN}
)yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->servicenow().auth().oauth().grant_type(),
            v1::ServiceNowOAuth::GRANT_TYPE_CLIENT_CREDENTIALS);
  EXPECT_EQ(config->profiles().at("a-1").mode(), v1::PROFILE_MODE_WRITE_BACK);
  EXPECT_EQ(config->profiles().at("a-1").fields().at("x").list().output(), v1::ListKind::OUTPUT_ID);
  EXPECT_TRUE(config->profiles().at("a-1").fields().at("x").list().create_missing());
  EXPECT_EQ(config->profiles().at("b_2").mode(), v1::PROFILE_MODE_ASYNC);
  EXPECT_EQ(config->logging().level(), v1::LoggingConfig::LEVEL_WARN);
}

TEST(ParseConfigYamlTest, ScalarsBecomeTheFieldsType) {
  absl::StatusOr<v1::Config> config = Parse(Profile(R"yaml(
    source: {table: 80, key_field: true}
    target: {app_id: "300", key_field_id: +7}
    trigger: {key: 1.5}
    fields: {x: {from: y}}
)yaml"));
  ASSERT_TRUE(config.ok()) << config.status();
  const v1::Profile& p = config->profiles().at("p");
  EXPECT_EQ(p.source().table(), "80");
  EXPECT_EQ(p.source().key_field(), "true");
  EXPECT_EQ(p.target().app_id(), 300);
  EXPECT_EQ(p.target().key_field_id(), 7);
  EXPECT_EQ(p.trigger().key(), "1.5");
}

TEST(ParseConfigYamlTest, NullValuesMeanUnsetOrEmptyMessage) {
  absl::StatusOr<v1::Config> config = Parse(Profile(R"yaml(
    description:
    source: {table: t, key_field: k}
    fields:
      x: {from: y, text: }
      z: {from: w, date: ~, split: }
    auth:
)yaml"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->profiles().at("p").fields().at("x").kind_case(), v1::OutputField::kText);
  EXPECT_EQ(config->profiles().at("p").fields().at("z").kind_case(), v1::OutputField::kDate);
}

// --- Errors: keys, shapes, scalar types ------------------------------------------------------

TEST(ParseConfigYamlTest, UnknownTopLevelKey) {
  EXPECT_THAT(ErrorOf(WithMinimal("servicenoww: {}\n")),
              HasSubstr("servicenoww: unknown key (known: servicenow, onspring, profiles, server, "
                        "gateway, jobs, logging, upstream)"));
}

TEST(ParseConfigYamlTest, UnknownKeyInsideAMapValue) {
  EXPECT_THAT(
      ErrorOf(Profile("    source: {tabel: t, key_field: k}\n")),
      StartsWith("profiles.p.source.tabel: unknown key (known: table, key_field) (line 3)"));
  EXPECT_THAT(ErrorOf(Profile("    source: {table: t, key_field: k}\n"
                              "    fields: {appOwner: {from: x, reference: {appid: 1}}}\n")),
              HasSubstr("profiles.p.fields.appOwner.reference.appid: unknown key (known: app_id, "
                        "match_field_id, on_missing, create)"));
}

TEST(ParseConfigYamlTest, WrongShapes) {
  EXPECT_THAT(ErrorOf(Profile("    source: [cmdb_ci_business_app, name]\n")),
              HasSubstr("profiles.p.source: expected a mapping, got a list"));
  EXPECT_THAT(ErrorOf(Profile("    source: {table: {name: x}, key_field: k}\n")),
              HasSubstr("profiles.p.source.table: expected a scalar, got a mapping"));
  EXPECT_THAT(ErrorOf(WithMinimal("gateway: {auth: {basic: {}}}\n")),
              HasSubstr("gateway.auth: expected a list, got a mapping"));
  EXPECT_THAT(ErrorOf(WithMinimal("server: {inline_sync: {allowed_servicenow_hosts: a.b}}\n")),
              HasSubstr("server.inline_sync.allowed_servicenow_hosts: expected a list, got a "
                        "scalar"));
  EXPECT_THAT(ErrorOf("profiles: [a, b]\n"), HasSubstr("profiles: expected a mapping, got a list"));
  EXPECT_THAT(ErrorOf("- a\n"), StartsWith("(top level): expected a mapping, got a list"));
  EXPECT_THAT(ErrorOf(WithMinimal("gateway: {auth: [{basic: [x]}]}\n")),
              HasSubstr("gateway.auth[0].basic: expected a mapping, got a list"));
}

TEST(ParseConfigYamlTest, WrongScalarTypes) {
  EXPECT_THAT(ErrorOf(Profile("    source: {table: t, key_field: k}\n"
                              "    target: {app_id: three hundred}\n")),
              HasSubstr("profiles.p.target.app_id: expected an integer (32-bit signed), got "
                        "\"three hundred\""));
  EXPECT_THAT(ErrorOf(Profile("    source: {table: t, key_field: k}\n"
                              "    target: {app_id: 99999999999}\n")),
              HasSubstr("profiles.p.target.app_id: expected an integer"));
  EXPECT_THAT(ErrorOf(Profile("    source: {table: t, key_field: k}\n"
                              "    target: {app_id: 1.0}\n")),
              HasSubstr("profiles.p.target.app_id: expected an integer"));
  EXPECT_THAT(ErrorOf(WithMinimal("server: {inline_sync: {pass_through_credentials: yes}}\n")),
              HasSubstr("server.inline_sync.pass_through_credentials: expected a boolean (true or "
                        "false), got \"yes\""));
  EXPECT_THAT(ErrorOf(WithMinimal("upstream: {retry_budget_ratio: lots}\n")),
              HasSubstr("upstream.retry_budget_ratio: expected a number"));
  EXPECT_THAT(ErrorOf(WithMinimal("upstream: {retry_budget_ratio: .nan}\n")),
              HasSubstr("upstream.retry_budget_ratio: expected a number"));
}

TEST(ParseConfigYamlTest, MapKeysOfIntegerMapsMustBeIntegers) {
  EXPECT_THAT(ErrorOf(Profile(R"yaml(
    source: {table: t, key_field: k}
    fields:
      owner:
        from: x
        reference: {app_id: 1, match_field_id: 2, on_missing: create, create: {first: "{value}"}}
)yaml")),
              HasSubstr("profiles.p.fields.owner.reference.create.first: the key must be an "
                        "integer, got \"first\""));
}

TEST(ParseConfigYamlTest, BadEnum) {
  EXPECT_THAT(ErrorOf(Profile("    source: {table: t, key_field: k}\n    mode: sideways\n")),
              HasSubstr("profiles.p.mode: unknown value \"sideways\" (known: respond, write_back, "
                        "async)"));
  EXPECT_THAT(ErrorOf(WithMinimal("logging: {level: unspecified}\n")),
              HasSubstr("logging.level: unknown value \"unspecified\" (known: debug, info, warn, "
                        "error)"));
  EXPECT_THAT(ErrorOf(WithMinimal("logging: {level: 2}\n")),
              HasSubstr("logging.level: unknown value \"2\""));
}

TEST(ParseConfigYamlTest, BadDuration) {
  EXPECT_THAT(ErrorOf(Profile("    source: {table: t, key_field: k}\n"
                              "    schedule: {every: 5 minutes}\n")),
              HasSubstr("profiles.p.schedule.every: expected a duration like 30s"));
  EXPECT_THAT(ErrorOf(WithMinimal("server: {shutdown_grace: -5s}\n")),
              HasSubstr("server.shutdown_grace: must not be negative"));
  EXPECT_THAT(ErrorOf(WithMinimal("server: {shutdown_grace: 30}\n")),
              HasSubstr("server.shutdown_grace: expected a duration"));
  EXPECT_THAT(ErrorOf(WithMinimal("server: {shutdown_grace: {seconds: 3}}\n")),
              HasSubstr("server.shutdown_grace: expected a duration like 30s, got a mapping"));
}

TEST(ParseConfigYamlTest, DuplicateKeys) {
  EXPECT_THAT(ErrorOf(Profile("    source: {table: t, key_field: k, table: u}\n")),
              HasSubstr("profiles.p.source.table: duplicate key"));
  EXPECT_THAT(ErrorOf(Profile("    source: {table: t, key_field: k, keyField: u}\n")),
              HasSubstr("profiles.p.source.keyField: duplicate key (also set as key_field)"));
  EXPECT_THAT(ErrorOf(std::string(kMinimalProfile) + "  business_app: {}\n"),
              HasSubstr("profiles.business_app: duplicate key"));
}

TEST(ParseConfigYamlTest, OneofMembersConflict) {
  EXPECT_THAT(ErrorOf(Profile(R"yaml(
    source: {table: t, key_field: k}
    fields:
      x: {from: y, list: {}, reference: {app_id: 1, match_field_id: 2}}
)yaml")),
              HasSubstr("profiles.p.fields.x.reference: conflicts with list (set only one of "
                        "text, number, date, list, reference)"));
}

TEST(ParseConfigYamlTest, SyntaxErrorHasLineAndColumn) {
  const std::string error = ErrorOf("profiles:\n  p: {source: [a, b}\n");
  EXPECT_THAT(error, StartsWith("line 2, column "));
  EXPECT_THAT(error, HasSubstr("YAML error"));
}

TEST(ParseConfigYamlTest, SyntaxErrorHintsAtUnquotedEnvReferencesInFlowMappings) {
  // `{` and `}` end a plain scalar inside `{...}`, so `${NAME}` must be quoted there.
  EXPECT_THAT(ErrorOf("onspring: {base_url: https://api.onspring.com, api_key: ${KEY}}\n"),
              AllOf(StartsWith("line 1, column "), HasSubstr("quote ${ENV} references")));
}

TEST(ParseConfigYamlTest, MoreThanOneDocument) {
  EXPECT_THAT(ErrorOf("logging: {level: info}\n---\nlogging: {level: warn}\n"),
              HasSubstr("expected one YAML document, found more"));
}

// Found by the config_yaml fuzzer: Debian's yaml-cpp LoadAll loops forever on these.
TEST(ConfigLoaderTest, StreamsThatHangYamlCppsLoadAllAreRefusedAtOnce) {
  FakeSecretSource secrets;
  for (const std::string yaml : {",", ",a: b\n", ",servicenow:\n  x: y\n"}) {
    SCOPED_TRACE(yaml);
    EXPECT_EQ(ParseConfigYaml(yaml, secrets).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(ParseConfigYamlTest, AliasBombIsCut) {
  // 100 profiles x 100 fields x 100 create entries from about 110 lines of YAML.
  std::string yaml = "profiles:\n  p0: &p\n    source: {table: t, key_field: k}\n    fields:\n";
  for (int i = 0; i < 100; ++i) {
    yaml += "      f" + std::to_string(i) + (i == 0 ? ": &f " : ": *f\n");
    if (i == 0) {
      yaml += "{from: x, reference: {app_id: 1, match_field_id: 2, on_missing: create, create: {";
      for (int k = 1; k <= 100; ++k) {
        yaml += std::to_string(k) + ": \"{value|first_space_to_dot|lower}@example.com\", ";
      }
      yaml += "}}}\n";
    }
  }
  for (int i = 1; i < 100; ++i) yaml += "  p" + std::to_string(i) + ": *p\n";
  EXPECT_THAT(ErrorOf(yaml), HasSubstr("the config is too large"));
}

// --- Errors: required values -----------------------------------------------------------------

TEST(ParseConfigYamlTest, MissingRequiredValues) {
  EXPECT_THAT(ErrorOf(Profile("    source: {key_field: name}\n")),
              HasSubstr("profiles.p.source.table: required"));
  EXPECT_THAT(ErrorOf(Profile("    source: {table: t}\n")),
              HasSubstr("profiles.p.source.key_field: required"));
  EXPECT_THAT(ErrorOf(Profile("    description: no source\n")),
              HasSubstr("profiles.p.source: required"));
  EXPECT_THAT(ErrorOf(Profile("    source: {table: t, key_field: k}\n"
                              "    fields: {appName: {to_field: 3}}\n")),
              HasSubstr("profiles.p.fields.appName.from: required"));
  EXPECT_THAT(ErrorOf(WithMinimal("servicenow: {auth: {basic: {username: u, password: "
                                  "\"${SN_PASSWORD}\"}}}\n")),
              HasSubstr("servicenow.instance_url: required"));
  EXPECT_THAT(ErrorOf(WithMinimal("servicenow: {instance_url: https://acme.service-now.com}\n")),
              HasSubstr("servicenow.auth: required"));
  EXPECT_THAT(ErrorOf(WithMinimal("servicenow: {instance_url: https://a.service-now.com, auth: "
                                  "{}}\n")),
              HasSubstr("servicenow.auth: set exactly one of basic, oauth"));
  EXPECT_THAT(ErrorOf(WithMinimal("onspring: {api_key_file: /run/secrets/onspring}\n")),
              HasSubstr("onspring.base_url: required"));
  EXPECT_THAT(ErrorOf(Profile("    source: {table: t, key_field: k}\n"
                              "    fields: {o: {from: x, reference: {on_missing: skip}}}\n")),
              AllOf(HasSubstr("profiles.p.fields.o.reference.app_id: required (an id > 0)"),
                    HasSubstr("profiles.p.fields.o.reference.match_field_id: required")));
  EXPECT_THAT(ErrorOf(WithMinimal("gateway: {auth: [{}]}\n")),
              HasSubstr("gateway.auth[0]: set exactly one of basic, api_key, bearer, "
                        "signed_webhook"));
}

TEST(ParseConfigYamlTest, ReportsEveryProblemAtOnce) {
  const std::string error = ErrorOf(R"yaml(
servicenow: {auth: {basic: {username: u}}}
profiles:
  p:
    source: {}
    fields: {a: {}}
)yaml");
  EXPECT_THAT(error, HasSubstr("servicenow.instance_url: required (line 2)"));
  EXPECT_THAT(error, HasSubstr("servicenow.auth.basic.password: required"));
  EXPECT_THAT(error, HasSubstr("profiles.p.source.table: required (line 5)"));
  EXPECT_THAT(error, HasSubstr("profiles.p.source.key_field: required"));
  EXPECT_THAT(error, HasSubstr("profiles.p.fields.a.from: required (line 6)"));
}

TEST(ParseConfigYamlTest, ValidationPathsUseTheKeysAsWritten) {
  EXPECT_THAT(ErrorOf(Profile("    source: {table: t, keyField: k}\n"
                              "    fields: {a: {from: x, toField: -1}}\n")),
              StartsWith("profiles.p.fields.a.toField: must not be negative (line 4)"));
}

// --- Errors: cross-field rules -----------------------------------------------------------------

TEST(ParseConfigYamlTest, CrossFieldRules) {
  const std::string src = "    source: {table: t, key_field: k}\n";
  EXPECT_THAT(ErrorOf("profiles:\n  BusinessApp:\n" + src),
              HasSubstr("profiles.BusinessApp: profile names must match [a-z][a-z0-9_-]{0,62}"));
  EXPECT_THAT(ErrorOf("profiles:\n  " + std::string(64, 'a') + ":\n" + src),
              HasSubstr("profile names must match"));
  EXPECT_THAT(ErrorOf(Profile(src + "    fields: {o: {from: x, reference: {app_id: 1, "
                                    "match_field_id: 2, on_missing: create}}}\n")),
              HasSubstr("profiles.p.fields.o.reference.create: required with on_missing: create"));
  EXPECT_THAT(ErrorOf(Profile(src + "    fields: {o: {from: x, reference: {app_id: 1, "
                                    "match_field_id: 2, on_missing: create, create: {5: "
                                    "\"{value|upcase}\"}}}}\n")),
              HasSubstr("profiles.p.fields.o.reference.create.5: template \"{value|upcase}\": "
                        "unknown transform \"upcase\""));
  EXPECT_THAT(ErrorOf(Profile(src + "    fields: {o: {from: x, reference: {app_id: 1, "
                                    "match_field_id: 2, on_missing: create, create: {5: "
                                    "\"{value|lower\"}}}}\n")),
              HasSubstr("profiles.p.fields.o.reference.create.5: template \"{value|lower\": "
                        "unbalanced braces"));
  EXPECT_THAT(ErrorOf(Profile(src + "    fields: {o: {from: x, reference: {app_id: 1, "
                                    "match_field_id: 2, on_missing: create, create: {5: "
                                    "\"value}\"}}}}\n")),
              HasSubstr("profiles.p.fields.o.reference.create.5: template \"value}\": "
                        "unbalanced braces"));
  EXPECT_THAT(ErrorOf(Profile(src + "    fields: {o: {from: x, reference: {app_id: 1, "
                                    "match_field_id: 2, on_missing: create, create: {5: "
                                    "\"{name}\"}}}}\n")),
              HasSubstr("create.5: template \"{name}\": unknown placeholder {name}"));
  EXPECT_THAT(ErrorOf(Profile(src + "    fields: {o: {from: x, join: \"|\"}}\n")),
              HasSubstr("profiles.p.fields.o.join: needs split"));
  EXPECT_THAT(ErrorOf(Profile(src + "    fields: {o: {from: x, split: \",\", number: {}}}\n")),
              HasSubstr("profiles.p.fields.o.split: only applies to text, list and reference"));
  EXPECT_THAT(ErrorOf(Profile(src + "    fields: {o: {from: x, list: {output: id}}}\n")),
              HasSubstr("profiles.p.fields.o.to_field: required for a list with output: id"));
  EXPECT_THAT(
      ErrorOf(Profile(src + "    fields: {o: {from: x, to_field: 5, list: {output: id}}}\n")),
      HasSubstr("profiles.p.target.app_id: required by fields.o (list ids come from"));
  EXPECT_THAT(ErrorOf(Profile(src + "    fields: {o: {from: x, list: {create_missing: true}}}\n")),
              HasSubstr("profiles.p.fields.o.to_field: required for a list"));
  EXPECT_THAT(ErrorOf(Profile(src + "    mode: write_back\n    fields: {o: {from: x}}\n")),
              AllOf(HasSubstr("profiles.p.target.app_id: required for mode: write_back"),
                    HasSubstr("profiles.p.target.key_field_id: required for mode: write_back"),
                    HasSubstr("profiles.p.fields: mode: write_back needs at least one field with "
                              "to_field")));
  EXPECT_THAT(ErrorOf(Profile(src + "    schedule: {every: 30s}\n")),
              AllOf(HasSubstr("profiles.p.schedule.every: must be at least 60s"),
                    HasSubstr("profiles.p.target.app_id: required for scheduled batch runs")));
  EXPECT_THAT(ErrorOf(Profile(src + "    fields: {a: {from: x, to_field: 5}, b: {from: y, "
                                    "to_field: 5}}\n")),
              HasSubstr("profiles.p.fields.b.to_field: field 5 is also written by a"));
}

TEST(ParseConfigYamlTest, ConnectionRules) {
  const std::string auth =
      ", auth: {basic: {username: u, password_file: /run/secrets/sn_password}}";
  EXPECT_THAT(ErrorOf(WithMinimal("servicenow: {instance_url: https://acme.service-now.com/api" +
                                  auth + "}\n")),
              HasSubstr("servicenow.instance_url: must be the instance's origin without a path"));
  EXPECT_THAT(
      ErrorOf(WithMinimal("servicenow: {instance_url: acme.service-now.com" + auth + "}\n")),
      HasSubstr("servicenow.instance_url: must be an http:// or https:// URL"));
  const std::string with_credentials =
      ErrorOf(WithMinimal("servicenow: {instance_url: \"https://admin:" + std::string(kSecret) +
                          "@acme.service-now.com\"" + auth + "}\n"));
  EXPECT_THAT(with_credentials, HasSubstr("servicenow.instance_url: must not contain credentials"));
  EXPECT_THAT(ErrorOf(WithMinimal("servicenow: {instance_url: \"https://\"" + auth + "}\n")),
              HasSubstr("servicenow.instance_url: must have a valid host"));
  EXPECT_THAT(
      ErrorOf(WithMinimal("onspring: {base_url: ftp://x, api_key: \"${ONSPRING_API_KEY}\"}\n")),
      HasSubstr("onspring.base_url: must be an http:// or https:// URL"));
  EXPECT_THAT(ErrorOf(WithMinimal("servicenow: {instance_url: https://a.service-now.com, auth: "
                                  "{basic: {username: u, password: \"${SN_PASSWORD}\", "
                                  "password_file: /run/secrets/sn_password}}}\n")),
              HasSubstr("servicenow.auth.basic.password: set only one of password and "
                        "password_file"));
  EXPECT_THAT(ErrorOf(WithMinimal("servicenow: {instance_url: https://a.service-now.com, auth: "
                                  "{oauth: {grant_type: password, client_id: c, "
                                  "client_secret_file: /run/secrets/oauth_client}}}\n")),
              AllOf(HasSubstr("servicenow.auth.oauth.password: required"),
                    HasSubstr("servicenow.auth.oauth.username: required with grant_type: "
                              "password")));
  EXPECT_THAT(ErrorOf(WithMinimal("servicenow: {instance_url: https://a.service-now.com, auth: "
                                  "{oauth: {client_id: c, client_secret: \"${SN_PASSWORD}\"}}}\n")),
              HasSubstr("servicenow.auth.oauth.grant_type: required"));
  EXPECT_THAT(ErrorOf(WithMinimal("onspring: {base_url: https://api.onspring.com}\n")),
              HasSubstr("onspring.api_key: required (set api_key_file or api_key: ${ENV})"));
}

TEST(ParseConfigYamlTest, ProcessRules) {
  EXPECT_THAT(ErrorOf(WithMinimal("server: {listen: 50051}\n")),
              HasSubstr("server.listen: expected host:port"));
  EXPECT_THAT(ErrorOf(WithMinimal("gateway: {listen: \"localhost:99999\"}\n")),
              HasSubstr("gateway.listen: expected host:port"));
  EXPECT_THAT(ErrorOf(WithMinimal("gateway: {server: \"not a target\"}\n")),
              HasSubstr("gateway.server: expected host:port or a gRPC target"));
  EXPECT_THAT(ErrorOf(WithMinimal("jobs: {workers: -1}\n")),
              HasSubstr("jobs.workers: must not be negative"));
  EXPECT_THAT(ErrorOf(WithMinimal("jobs: {initial_backoff: 10s, max_backoff: 1s}\n")),
              HasSubstr("jobs.max_backoff: must not be less than initial_backoff"));
  EXPECT_THAT(ErrorOf(WithMinimal("upstream: {retry_budget_ratio: 1.5}\n")),
              HasSubstr("upstream.retry_budget_ratio: must be between 0 and 1"));
  EXPECT_THAT(ErrorOf(WithMinimal("server: {tls: {key_file: /k.pem}}\n")),
              HasSubstr("server.tls.cert_file: required to serve TLS"));
  EXPECT_THAT(ErrorOf(WithMinimal("jobs: {postgres: {pool_size: 4}}\n")),
              HasSubstr("jobs.postgres.dsn: required"));
  EXPECT_TRUE(Parse(WithMinimal("gateway: {server: \"dns:///onsync-server:50051\"}\n")).ok());
  EXPECT_TRUE(Parse(WithMinimal("server: {listen: \"[::]:0\"}\n")).ok());
}

// --- Errors: secrets ---------------------------------------------------------------------------

TEST(ParseConfigYamlTest, InlineSecretsAreRejectedWithoutEchoingThem) {
  const std::string s(kSecret);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"onspring: {base_url: https://api.onspring.com, api_key: " + s + "}\n", "onspring.api_key"},
      {"servicenow: {instance_url: https://a.service-now.com, auth: {basic: {username: u, "
       "password: " +
           s + "}}}\n",
       "servicenow.auth.basic.password"},
      {"servicenow: {instance_url: https://a.service-now.com, auth: {oauth: {grant_type: "
       "client_credentials, client_id: c, client_secret: " +
           s + "}}}\n",
       "servicenow.auth.oauth.client_secret"},
      {"gateway: {auth: [{bearer: {token: " + s + "}}]}\n", "gateway.auth[0].bearer.token"},
      {"gateway: {auth: [{api_key: {key: " + s + "}}]}\n", "gateway.auth[0].api_key.key"},
      {"gateway: {auth: [{signed_webhook: {secret: \"$" + s + "\"}}]}\n",
       "gateway.auth[0].signed_webhook.secret"},
      {"jobs: {postgres: {dsn: \"postgres://u:" + s + "@db/onsync\"}}\n", "jobs.postgres.dsn"},
  };
  for (const auto& [yaml, path] : cases) {
    EXPECT_THAT(ErrorOf(WithMinimal(yaml)), HasSubstr(path + ": secrets are never inline: use "));
  }
  EXPECT_THAT(
      ErrorOf(WithMinimal("onspring: {base_url: https://api.onspring.com, api_key: " + s + "}\n")),
      HasSubstr("onspring.api_key: secrets are never inline: use api_key_file or ${ENV}"));
}

TEST(ParseConfigYamlTest, UnsetEnvironmentReference) {
  EXPECT_THAT(ErrorOf(WithMinimal("onspring: {base_url: https://api.onspring.com, api_key: "
                                  "\"${ONSPRING_KEY_TYPO}\"}\n")),
              HasSubstr("onspring.api_key: environment variable ONSPRING_KEY_TYPO is not set"));
}

TEST(ParseConfigYamlTest, MissingSecretFile) {
  EXPECT_THAT(ErrorOf(WithMinimal("onspring: {base_url: https://api.onspring.com, api_key_file: "
                                  "/run/secrets/typo}\n")),
              AllOf(StartsWith("onspring.api_key_file: "), HasSubstr("/run/secrets/typo"),
                    HasSubstr("(line ")));
  EXPECT_THAT(ErrorOf(Profile("    source: {table: t, key_field: k}\n"
                              "    auth: [{basic: {username: u, password_file: /nope}}]\n")),
              HasSubstr("profiles.p.auth[0].basic.password_file: cannot open /nope"));
}

TEST(ParseConfigYamlTest, ResolvedSecretsNeverAppearInErrors) {
  // Every secret resolves (to kSecret); the errors are elsewhere. ErrorOf checks the message.
  const std::string error = ErrorOf(std::string(kFullConfig) + "extra: 1\n");
  EXPECT_THAT(error, HasSubstr("extra: unknown key"));
  std::string full(kFullConfig);
  full.replace(full.find("key_field: name}"), 16, "key_field: \"\"}");
  EXPECT_THAT(ErrorOf(full), HasSubstr("profiles.business_app.source.key_field: required"));
}

// --- Files -------------------------------------------------------------------------------------

class LoadConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("config_loader_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& contents) {
    const std::filesystem::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << contents;
    return path.string();
  }

  std::filesystem::path dir_;
};

TEST_F(LoadConfigFileTest, MissingFileIsNotFoundNamingThePath) {
  const std::string path = (dir_ / "missing.yaml").string();
  absl::StatusOr<v1::Config> config = LoadConfigFile(path, Secrets());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(config.status()), HasSubstr(path));
}

TEST_F(LoadConfigFileTest, EmptyFileIsAValidEmptyConfig) {
  absl::StatusOr<v1::Config> config = LoadConfigFile(Write("empty.yaml", ""), Secrets());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->ByteSizeLong(), 0u);
}

TEST_F(LoadConfigFileTest, LoadsAndValidates) {
  absl::StatusOr<v1::Config> config = LoadConfigFile(Write("full.yaml", kFullConfig), Secrets());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->profiles().at("business_app").target().app_id(), 300);

  absl::StatusOr<v1::Config> bad =
      LoadConfigFile(Write("bad.yaml", "profiles: {p: {source: {}}}\n"), Secrets());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(bad.status()), StartsWith("profiles.p.source.table: required"));
}

// --- YamlToJson --------------------------------------------------------------------------------

TEST(YamlToJsonTest, SmallCase) {
  absl::StatusOr<std::string> json = YamlToJson(R"yaml(
profiles:
  p:
    source: {table: cmdb_ci_business_app, keyField: name}
    mode: write_back
    fields:
      owner:
        from: "it_application_owner.name"
        toField: "3003"
        reference: {app_id: 100, match_field_id: 1005, on_missing: create,
                    create: {1001: "{value|first_word}", 1002: 'say "hi"\'}}
    schedule: {every: 1.5s}
    auth: [{basic: {username: 80, password: "${P}"}}]
logging: {level: debug}
upstream: {retry_budget_ratio: 0.5}
server: {inline_sync: {pass_through_credentials: false}}
)yaml",
                                                *v1::Config::descriptor());
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json,
            R"({"profiles":{"p":{"source":{"table":"cmdb_ci_business_app","key_field":"name"},)"
            R"("mode":"PROFILE_MODE_WRITE_BACK","fields":{"owner":{"from":)"
            R"("it_application_owner.name","to_field":3003,"reference":{"app_id":100,)"
            R"("match_field_id":1005,"on_missing":"ON_MISSING_CREATE","create":{"1001":)"
            R"("{value|first_word}","1002":"say \"hi\"\\"}}}},"schedule":{"every":"1.500s"},)"
            R"("auth":[{"basic":{"username":"80","password":"${P}"}}]}},)"
            R"("logging":{"level":"LEVEL_DEBUG"},"upstream":{"retry_budget_ratio":0.5},)"
            R"("server":{"inline_sync":{"pass_through_credentials":false}}})");
}

TEST(YamlToJsonTest, Durations) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"30s", "30s"},
      {"1.5s", "1.500s"},
      {"250ms", "0.250s"},
      {"5m", "300s"},
      {"2h", "7200s"},
      {"1h30m", "5400s"},
      {"0", "0s"},
      {"0s", "0s"},
      {"1.000000001s", "1.000000001s"},
      {"1500us", "0.001500s"},
      {"7ns", "0.000000007s"},
      {".5s", "0.500s"},
      {"1.5h", "5400s"},
      {"2562047h", "9223369200s"},
  };
  for (const auto& [text, expected] : cases) {
    absl::StatusOr<std::string> json = YamlToJson("every: " + text, *v1::Schedule::descriptor());
    ASSERT_TRUE(json.ok()) << text << ": " << json.status();
    EXPECT_EQ(*json, "{\"every\":\"" + expected + "\"}") << text;
  }
  for (const std::string bad : {"-1s", "1", "1 s", "1sec", "s", "1.s5", "1d", "1e3s", "inf",
                                "99999999999999999h", "\"\""}) {
    absl::StatusOr<std::string> json = YamlToJson("every: " + bad, *v1::Schedule::descriptor());
    EXPECT_EQ(json.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(Message(json.status()), StartsWith("every: ")) << bad;
  }
}

TEST(YamlToJsonTest, EscapesStringsAndRejectsBadUtf8) {
  absl::StatusOr<std::string> json =
      YamlToJson("table: \"a\\tb\\u0001\\\\\"\nkey_field: \"h\u00e9\"", *v1::Source::descriptor());
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json, "{\"table\":\"a\\tb\\u0001\\\\\",\"key_field\":\"h\u00e9\"}");

  absl::StatusOr<std::string> bad = YamlToJson("table: a\xff\n", *v1::Source::descriptor());
  EXPECT_THAT(Message(bad.status()), HasSubstr("table: the value is not valid UTF-8"));
}

// --- ValidateConfig / ValidateProfile on protos built in code ---------------------------------

TEST(ValidateProfileTest, InlineProfileUsesThePrefixAndChecksSecretShapeOnly) {
  v1::Profile profile;
  profile.mutable_source()->set_table("cmdb_ci_business_app");
  profile.mutable_source()->set_key_field("name");
  (*profile.mutable_fields())["appName"].set_from("name");
  v1::BasicAuth* basic = profile.add_auth()->mutable_basic();
  basic->set_username("u");
  basic->set_password("${NOT_SET_ANYWHERE}");
  EXPECT_TRUE(ValidateProfile("profile", profile).ok());

  basic->set_password(kSecret);
  (*profile.mutable_fields())["bad"].set_join("|");
  const absl::Status status = ValidateProfile("request.profile", profile);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      Message(status),
      AllOf(HasSubstr("request.profile.auth[0].basic.password: secrets are never inline"),
            HasSubstr("request.profile.fields.bad.from: required"),
            HasSubstr("request.profile.fields.bad.join: needs split"), Not(HasSubstr(kSecret))));
}

TEST(ValidateConfigTest, ChecksProtosBuiltInCode) {
  v1::Config config;
  config.mutable_server()->mutable_shutdown_grace()->set_seconds(-1);
  config.mutable_gateway()->set_max_body_bytes(-5);
  (*config.mutable_profiles())["p"];
  const absl::Status status = ValidateConfig(config, Secrets());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), AllOf(HasSubstr("server.shutdown_grace: must not be negative"),
                                     HasSubstr("gateway.max_body_bytes: must not be negative"),
                                     HasSubstr("profiles.p.source: required")));
  EXPECT_TRUE(ValidateConfig(v1::Config(), Secrets()).ok());
}

}  // namespace
}  // namespace onsync::config
