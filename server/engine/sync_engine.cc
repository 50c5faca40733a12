#include "server/engine/sync_engine.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "clients/onspring/filter.h"
#include "common/string_view.h"
#include "server/engine/template.h"
#include "server/engine/values.h"

namespace onsync::engine {
namespace {

using clients::onspring::FieldValue;
using clients::onspring::Filter;
using clients::onspring::Literal;
using clients::onspring::OnspringClient;
using clients::onspring::Record;
using clients::servicenow::Row;
using google::protobuf::NullValue;
using google::protobuf::Value;
using v1::OutputField;

constexpr std::string_view kDefaultJoin = "|";
// Values quoted in messages are cut to this many bytes.
constexpr size_t kQuoteLimit = 200;

std::string Quote(std::string_view text) {
  return absl::StrCat("\"", ToAbsl(text.substr(0, kQuoteLimit)), "\"");
}

bool IsWriteMode(v1::SyncMode mode) {
  return mode == v1::SYNC_MODE_WRITE_BACK || mode == v1::SYNC_MODE_DRY_RUN;
}

// A referenced (app, match field): one batched query per group and event.
using GroupKey = std::pair<int, int>;

GroupKey GroupOf(const OutputField& spec) {
  return {spec.reference().app_id(), spec.reference().match_field_id()};
}

bool IsMulti(const OutputField& spec) { return !spec.split().empty(); }

std::string_view JoinOf(const OutputField& spec) {
  return spec.join().empty() ? kDefaultJoin : std::string_view(spec.join());
}

// Whether a list field needs its value ids (and so the target app's metadata) in this mode.
bool NeedsListIds(const OutputField& spec, v1::SyncMode mode) {
  return spec.kind_case() == OutputField::kList && spec.to_field() != 0 &&
         (IsWriteMode(mode) || spec.list().output() == v1::ListKind::OUTPUT_ID ||
          spec.list().create_missing());
}

Value NullJson() {
  Value value;
  value.set_null_value(NullValue::NULL_VALUE);
  return value;
}

Value StringJson(std::string text) {
  Value value;
  value.set_string_value(std::move(text));
  return value;
}

Value NumberJson(double number) {
  Value value;
  value.set_number_value(number);
  return value;
}

// A field value as comparable text: what a change compares and reports. Lists are sorted, so
// that an order difference alone is not a change; absent, null and "" are alike.
std::string Canonical(const FieldValue& value) {
  switch (value.type) {
    case FieldValue::Type::kNull:
      return "";
    case FieldValue::Type::kInteger:
      return absl::StrCat(value.integer);
    case FieldValue::Type::kDecimal: {
      char buffer[32];
      std::snprintf(buffer, sizeof buffer, "%.17g", value.decimal);
      return buffer;
    }
    case FieldValue::Type::kStringList:
    case FieldValue::Type::kGuidList: {
      std::vector<std::string> sorted = value.strings;
      std::sort(sorted.begin(), sorted.end());
      return absl::StrJoin(sorted, "|");
    }
    case FieldValue::Type::kIntegerList:
    case FieldValue::Type::kFileList: {
      std::vector<int64_t> sorted = value.integers;
      std::sort(sorted.begin(), sorted.end());
      return absl::StrJoin(sorted, "|");
    }
    default:
      return value.text;
  }
}

// Trimmed non-empty entries of a source value: split on `split`, or the whole trimmed value.
std::vector<std::string> EntriesOf(const OutputField& spec, std::string_view raw) {
  if (IsMulti(spec)) return SplitEntries(raw, spec.split());
  std::vector<std::string> entries;
  if (std::string_view trimmed = ToStd(absl::StripAsciiWhitespace(ToAbsl(raw))); !trimmed.empty()) {
    entries.emplace_back(trimmed);
  }
  return entries;
}

// What one output field needs and produces.
struct FieldPlan {
  std::string name = {};
  const OutputField* spec = nullptr;
  // ServiceNow returned the source field.
  bool present = false;
  std::string raw = {};
  // Trimmed non-empty entries: split on `split`, or the whole trimmed value.
  std::vector<std::string> entries = {};
};

}  // namespace

class SyncEngine::RunState : public std::enable_shared_from_this<RunState> {
 public:
  RunState(SyncEngine& engine, std::shared_ptr<const v1::Profile> profile, Upstreams upstreams,
           v1::Trigger trigger, v1::SyncMode mode, const clients::CallOptions& call, Callback done)
      : engine_(engine),
        profile_(std::move(profile)),
        upstreams_(std::move(upstreams)),
        trigger_(std::move(trigger)),
        mode_(mode),
        call_(call),
        done_(std::move(done)) {}

  void Start() {
    if (absl::Status valid = CheckMode(); !valid.ok()) return Answer(std::move(valid));
    PlanFields();
    pending_ = IsWriteMode(mode_) ? 2 : 1;
    if (IsWriteMode(mode_)) ReadTarget();
    ReadServiceNow();
  }

  // A run for a row read already (batch runs): no reads of the row or of the target record.
  void StartWithRow(const Row& row, std::optional<Record> target) {
    if (absl::Status valid = CheckMode(); !valid.ok()) return Answer(std::move(valid));
    PlanFields();
    target_ = std::move(target);
    create_target_ = IsWriteMode(mode_) && !target_.has_value();
    pending_ = 1;
    Resolve(row);
  }

 private:
  absl::Status CheckMode() const {
    if (trigger_.key().empty()) return absl::InvalidArgumentError("the trigger has no key");
    if (mode_ != v1::SYNC_MODE_RESPOND && !IsWriteMode(mode_)) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot run mode ", v1::SyncMode_Name(mode_), " as one sync"));
    }
    const v1::Target& target = profile_->target();
    if (IsWriteMode(mode_) && (target.app_id() == 0 || target.key_field_id() == 0)) {
      return absl::FailedPreconditionError(absl::StrCat(
          v1::SyncMode_Name(mode_), " needs the profile's target (app_id and key_field_id)"));
    }
    return absl::OkStatus();
  }

  void PlanFields() {
    for (const auto& [name, spec] : profile_->fields()) {
      plans_.push_back(FieldPlan{.name = name, .spec = &spec});
    }
    std::sort(plans_.begin(), plans_.end(),
              [](const FieldPlan& a, const FieldPlan& b) { return a.name < b.name; });
  }

  // --- Step 1: the ServiceNow row (and, for writes, the triggering Onspring record) ----------

  void ReadServiceNow() {
    std::vector<std::string> fields;
    for (const FieldPlan& plan : plans_) {
      if (std::find(fields.begin(), fields.end(), plan.spec->from()) == fields.end()) {
        fields.push_back(plan.spec->from());
      }
    }
    const v1::Source& source = profile_->source();
    upstreams_.servicenow->LookupByKey(
        {.table = source.table(),
         .key_field = source.key_field(),
         .value = trigger_.key(),
         .fields = std::move(fields),
         .call = call_},
        [self = shared_from_this()](absl::StatusOr<std::optional<Row>> row) {
          if (!row.ok()) return self->TaskDone(row.status());
          if (!row->has_value()) {
            const v1::Source& source = self->profile_->source();
            return self->TaskDone(absl::NotFoundError(
                absl::StrCat("no ServiceNow ", source.table(), " row has ", source.key_field(),
                             " = ", Quote(self->trigger_.key()))));
          }
          self->Resolve(**row);
        });
  }

  void ReadTarget() {
    const v1::Target& target = profile_->target();
    std::vector<int> field_ids = {target.key_field_id()};
    for (const FieldPlan& plan : plans_) {
      if (plan.spec->to_field() != 0) field_ids.push_back(plan.spec->to_field());
    }
    if (trigger_.record_id() <= 0) return QueryTarget(std::move(field_ids));
    // Onspring's {:Record Id} token need not be the API's record id: trust it only when the
    // record it names has the key.
    upstreams_.onspring->GetRecord(
        target.app_id(), trigger_.record_id(), field_ids, call_,
        [self = shared_from_this(), field_ids](absl::StatusOr<Record> record) mutable {
          if (record.ok() && self->HasKey(*record)) return self->TargetFound(*std::move(record));
          if (!record.ok() && record.status().code() != absl::StatusCode::kNotFound) {
            return self->TaskDone(record.status());
          }
          self->QueryTarget(std::move(field_ids));
        });
  }

  bool HasKey(const Record& record) const {
    auto key = record.fields.find(profile_->target().key_field_id());
    return key != record.fields.end() && Canonical(key->second) == trigger_.key();
  }

  void QueryTarget(std::vector<int> field_ids) {
    const v1::Target& target = profile_->target();
    absl::StatusOr<std::string> filter =
        Filter::Eq(target.key_field_id(), Literal::String(trigger_.key())).Build();
    if (!filter.ok()) return TaskDone(filter.status());
    upstreams_.onspring->QueryRecords(
        target.app_id(), *std::move(filter), std::move(field_ids), call_,
        [self = shared_from_this()](absl::StatusOr<std::vector<Record>> records) {
          if (!records.ok()) return self->TaskDone(records.status());
          const v1::Target& target = self->profile_->target();
          std::optional<Record> match;
          for (Record& record : *records) {
            if (!self->HasKey(record)) continue;  // Onspring's eq may ignore case.
            if (match.has_value()) {
              return self->TaskDone(absl::AbortedError(absl::StrCat(
                  "ambiguous: more than one record of Onspring app ", target.app_id(),
                  " has field ", target.key_field_id(), " = ", Quote(self->trigger_.key()),
                  " (records ", match->record_id, " and ", record.record_id, ")")));
            }
            match = std::move(record);
          }
          if (!match.has_value()) {
            return self->TaskDone(absl::NotFoundError(absl::StrCat(
                "no record of Onspring app ", target.app_id(), " has field ", target.key_field_id(),
                " = ", Quote(self->trigger_.key()), " (the record to write back to)")));
          }
          self->TargetFound(*std::move(match));
        });
  }

  void TargetFound(Record record) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      target_ = std::move(record);
    }
    TaskDone(absl::OkStatus());
  }

  // --- Step 2 and 3: references and list values ---------------------------------------------

  // Runs on the ServiceNow read's callback; finishes that task once every lookup it started has
  // been started (each holds its own count).
  void Resolve(const Row& row) {
    std::map<GroupKey, std::vector<std::string>> groups;
    bool needs_lists = false;
    for (FieldPlan& plan : plans_) {
      const clients::servicenow::FieldValue* field = row.Find(plan.spec->from());
      plan.present = field != nullptr;
      if (!plan.present) continue;
      plan.raw = field->value;
      plan.entries = EntriesOf(*plan.spec, plan.raw);
      if (plan.spec->kind_case() == OutputField::kReference) {
        auto& values = groups[GroupOf(*plan.spec)];
        values.insert(values.end(), plan.entries.begin(), plan.entries.end());
      }
      if (NeedsListIds(*plan.spec, mode_) && !plan.entries.empty()) needs_lists = true;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending_ += static_cast<int>(groups.size()) + (needs_lists ? 1 : 0);
    }
    for (auto& [group, values] : groups) {
      if (values.empty()) {
        TaskDone(absl::OkStatus());
        continue;
      }
      engine_.references_.Find(
          *upstreams_.onspring, upstreams_.onspring_scope, group.first, group.second,
          std::move(values), call_,
          [self = shared_from_this(), group](absl::StatusOr<ReferenceResolver::Matches> found) {
            if (!found.ok()) return self->TaskDone(found.status());
            self->ResolveMissing(group, *std::move(found));
          });
    }
    if (needs_lists) ResolveLists();
    TaskDone(absl::OkStatus());
  }

  void ResolveMissing(GroupKey group, ReferenceResolver::Matches found) {
    // Entries without a record, with the field whose policy applies (the first field wins when
    // two fields share an app, a match field and a value).
    std::vector<std::pair<std::string, const FieldPlan*>> missing;
    std::set<std::string, std::less<>> seen;
    for (const FieldPlan& plan : plans_) {
      if (plan.spec->kind_case() != OutputField::kReference || GroupOf(*plan.spec) != group) {
        continue;
      }
      for (const std::string& entry : plan.entries) {
        if (found.contains(entry) || !seen.insert(entry).second) continue;
        if (plan.spec->reference().on_missing() == v1::ON_MISSING_FAIL) {
          return TaskDone(absl::NotFoundError(
              absl::StrCat(plan.name, ": no record of Onspring app ", group.first, " has field ",
                           group.second, " = ", Quote(entry))));
        }
        missing.emplace_back(entry, &plan);
      }
    }
    std::vector<std::pair<std::string, const FieldPlan*>> to_create;
    {
      std::lock_guard<std::mutex> lock(mu_);
      resolved_[group].merge(found);
      for (auto& [value, plan] : missing) {
        if (plan->spec->reference().on_missing() != v1::ON_MISSING_CREATE) continue;
        if (mode_ == v1::SYNC_MODE_DRY_RUN) {
          planned_[group].insert(value);
          AddCreated(group.first, 0, value);
        } else {
          to_create.emplace_back(std::move(value), plan);
        }
      }
      pending_ += static_cast<int>(to_create.size());
    }
    for (auto& [value, plan] : to_create) Create(group, std::move(value), *plan);
    TaskDone(absl::OkStatus());
  }

  void Create(GroupKey group, std::string value, const FieldPlan& plan) {
    std::map<int, FieldValue> fields;
    for (const auto& [field_id, text] : plan.spec->reference().create()) {
      absl::StatusOr<Template> tmpl = Template::Parse(text);
      if (!tmpl.ok()) return TaskDone(tmpl.status());  // Validated with the profile already.
      std::string rendered = tmpl->Render(value);
      // An empty rendering (the last name of a one-word name) leaves the field empty.
      if (!rendered.empty()) fields.emplace(field_id, FieldValue::String(std::move(rendered)));
    }
    engine_.references_.CreateOnce(
        *upstreams_.onspring, upstreams_.onspring_scope, group.first, group.second, value,
        std::move(fields), call_,
        [self = shared_from_this(), group, value](absl::StatusOr<CreateResult> created) {
          if (!created.ok()) {
            return self->TaskDone(absl::Status(
                created.status().code(),
                absl::StrCat("creating the record of Onspring app ", group.first, " for ",
                             Quote(value), ": ", created.status().message())));
          }
          {
            std::lock_guard<std::mutex> lock(self->mu_);
            self->resolved_[group][value] = created->record_id;
            if (created->created_here) self->AddCreated(group.first, created->record_id, value);
          }
          self->TaskDone(absl::OkStatus());
        });
  }

  // Requires mu_.
  void AddCreated(int app_id, int64_t record_id, const std::string& value) {
    v1::CreatedRecord* created = result_.add_created();
    created->set_app_id(app_id);
    created->set_record_id(record_id);
    created->set_match_value(value);
  }

  void ResolveLists() {
    engine_.fields_.Get(*upstreams_.onspring, upstreams_.onspring_scope,
                        profile_->target().app_id(), call_,
                        [self = shared_from_this()](absl::StatusOr<AppFields> fields) {
                          if (!fields.ok()) return self->TaskDone(fields.status());
                          self->AddMissingListValues(*std::move(fields));
                        });
  }

  void AddMissingListValues(AppFields fields) {
    struct Add {
      int list_id;
      std::string name;
    };
    std::vector<Add> adds;
    for (const FieldPlan& plan : plans_) {
      if (!NeedsListIds(*plan.spec, mode_) || plan.entries.empty()) continue;
      auto field = fields->find(plan.spec->to_field());
      if (field == fields->end() || !field->second.list_id.has_value()) {
        return TaskDone(absl::FailedPreconditionError(
            absl::StrCat(plan.name, ": field ", plan.spec->to_field(), " of Onspring app ",
                         profile_->target().app_id(), " is not a list field")));
      }
      if (!plan.spec->list().create_missing() || mode_ == v1::SYNC_MODE_DRY_RUN) continue;
      for (const std::string& name : plan.entries) {
        if (!ListValueId(field->second, name).has_value()) {
          adds.push_back({*field->second.list_id, name});
        }
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      app_fields_ = fields;
      pending_ += static_cast<int>(adds.size());
    }
    for (Add& add : adds) {
      engine_.fields_.AddListValueOnce(*upstreams_.onspring, upstreams_.onspring_scope,
                                       profile_->target().app_id(), add.list_id, add.name, call_,
                                       [self = shared_from_this(), list_id = add.list_id,
                                        name = add.name](absl::StatusOr<std::string> id) {
                                         if (!id.ok()) return self->TaskDone(id.status());
                                         {
                                           std::lock_guard<std::mutex> lock(self->mu_);
                                           self->added_list_values_[{list_id, name}] = *id;
                                         }
                                         self->TaskDone(absl::OkStatus());
                                       });
    }
    TaskDone(absl::OkStatus());
  }

  // --- Completion ----------------------------------------------------------------------------

  // One task ended. The first error answers the call; the last task composes the result.
  void TaskDone(absl::Status status) {
    bool compose = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!status.ok() && first_error_.ok()) first_error_ = status;
      compose = --pending_ == 0 && first_error_.ok();
    }
    if (!status.ok()) return Answer(std::move(status));
    if (compose) Compose();
  }

  void Compose() {
    // Every task has ended: no other thread touches the state any more.
    result_.set_mode(mode_);
    std::map<int, FieldValue> writes;
    auto& values = *result_.mutable_values()->mutable_fields();
    for (const FieldPlan& plan : plans_) {
      auto [json, write] = Produce(plan);
      values[plan.name] = std::move(json);
      if (IsWriteMode(mode_) && plan.spec->to_field() != 0) {
        writes.emplace(plan.spec->to_field(), std::move(write));
        write_names_[plan.spec->to_field()] = plan.name;
      }
    }
    if (!IsWriteMode(mode_)) return Answer(std::move(result_));

    if (create_target_) {
      // A new target record carries its key even when no output field writes it.
      writes.try_emplace(profile_->target().key_field_id(), FieldValue::String(trigger_.key()));
      write_names_.try_emplace(profile_->target().key_field_id(), "(key)");
    } else {
      result_.set_target_record_id(target_->record_id);
    }
    static const Record kNoRecord;
    const Record& existing_record = create_target_ ? kNoRecord : *target_;
    std::map<int, FieldValue> changed;
    for (auto& [field_id, value] : writes) {
      auto existing = existing_record.fields.find(field_id);
      const std::string old_text =
          existing == existing_record.fields.end() ? "" : Canonical(existing->second);
      std::string new_text = Canonical(value);
      if (old_text == new_text) continue;
      v1::FieldChange* change = result_.add_changes();
      change->set_field(write_names_[field_id]);
      change->set_field_id(field_id);
      change->set_old_value(old_text);
      change->set_new_value(std::move(new_text));
      changed.emplace(field_id, std::move(value));
    }
    if (changed.empty() || mode_ == v1::SYNC_MODE_DRY_RUN) return Answer(std::move(result_));
    upstreams_.onspring->SaveRecord(
        profile_->target().app_id(), create_target_ ? 0 : target_->record_id, std::move(changed),
        call_, [self = shared_from_this()](absl::StatusOr<clients::onspring::SaveResult> saved) {
          if (!saved.ok()) return self->Answer(saved.status());
          self->result_.set_written(true);
          if (self->create_target_) self->result_.set_target_record_id(saved->id);
          self->Answer(std::move(self->result_));
        });
  }

  void Warn(const FieldPlan& plan, std::string code, std::string message) {
    v1::Warning* warning = result_.add_warnings();
    warning->set_code(std::move(code));
    warning->set_field(plan.name);
    warning->set_message(std::move(message));
  }

  // The flat value and the Onspring value of one field.
  std::pair<Value, FieldValue> Produce(const FieldPlan& plan) {
    const OutputField& spec = *plan.spec;
    const bool reference = spec.kind_case() == OutputField::kReference;
    if (!plan.present) {
      Warn(plan, "SOURCE_FIELD_MISSING",
           absl::StrCat("ServiceNow did not return ", spec.from(),
                        " (unknown field, or hidden from onsync's user)"));
      if (reference && IsMulti(spec)) return {StringJson(""), FieldValue::Null()};
      return {NullJson(), FieldValue::Null()};
    }
    switch (spec.kind_case()) {
      case OutputField::kNumber:
        return ProduceNumber(plan);
      case OutputField::kDate:
        return ProduceDate(plan);
      case OutputField::kList:
        return ProduceList(plan);
      case OutputField::kReference:
        return ProduceReference(plan);
      default: {
        std::string text =
            IsMulti(spec) ? JoinEntries(plan.entries, JoinOf(spec)) : std::string(plan.raw);
        FieldValue write = text.empty() ? FieldValue::Null() : FieldValue::String(text);
        return {StringJson(std::move(text)), std::move(write)};
      }
    }
  }

  std::pair<Value, FieldValue> ProduceNumber(const FieldPlan& plan) {
    if (plan.entries.empty()) return {NullJson(), FieldValue::Null()};
    absl::StatusOr<double> number = ParseNumber(plan.raw);
    if (!number.ok()) {
      Warn(plan, "INVALID_NUMBER",
           absl::StrCat(plan.spec->from(), " = ", Quote(plan.raw), " is not a number"));
      return {NullJson(), FieldValue::Null()};
    }
    return {NumberJson(*number), FieldValue::Decimal(*number)};
  }

  std::pair<Value, FieldValue> ProduceDate(const FieldPlan& plan) {
    if (plan.entries.empty()) return {NullJson(), FieldValue::Null()};
    absl::StatusOr<std::string> iso = ToIsoUtc(plan.raw);
    if (!iso.ok()) {
      Warn(plan, "INVALID_DATE",
           absl::StrCat(plan.spec->from(), " = ", Quote(plan.raw), " is not a date"));
      return {NullJson(), FieldValue::Null()};
    }
    return {StringJson(*iso), FieldValue::Date(*std::move(iso))};
  }

  std::pair<Value, FieldValue> ProduceList(const FieldPlan& plan) {
    const OutputField& spec = *plan.spec;
    std::vector<std::string> names;
    std::vector<std::string> ids;
    if (!NeedsListIds(spec, mode_)) {
      names = plan.entries;
    } else if (!plan.entries.empty()) {
      const clients::onspring::Field& field = app_fields_->at(spec.to_field());
      for (const std::string& name : plan.entries) {
        std::optional<std::string> id = ListValueId(field, name);
        if (!id.has_value()) {
          if (auto added = added_list_values_.find({*field.list_id, name});
              added != added_list_values_.end()) {
            id = added->second;
          }
        }
        if (!id.has_value()) {
          const bool planned = spec.list().create_missing();
          Warn(plan, planned ? "LIST_VALUE_PLANNED" : "LIST_VALUE_NOT_FOUND",
               absl::StrCat("the list of field ", spec.to_field(), " has no value ", Quote(name),
                            planned ? " (it would be added)" : ""));
          continue;
        }
        names.push_back(name);
        ids.push_back(*std::move(id));
      }
    }
    const std::vector<std::string>& shown =
        spec.list().output() == v1::ListKind::OUTPUT_ID ? ids : names;
    Value json = NullJson();
    if (IsMulti(spec)) {
      json = StringJson(JoinEntries(shown, JoinOf(spec)));
    } else if (!shown.empty()) {
      json = StringJson(shown.front());
    }
    FieldValue write = FieldValue::Null();
    if (IsMulti(spec) && !ids.empty()) write = FieldValue::GuidList(std::move(ids));
    if (!IsMulti(spec) && !ids.empty()) write = FieldValue::Guid(std::move(ids.front()));
    return {std::move(json), std::move(write)};
  }

  std::pair<Value, FieldValue> ProduceReference(const FieldPlan& plan) {
    const OutputField& spec = *plan.spec;
    const GroupKey group = GroupOf(spec);
    if (plan.entries.empty()) {
      Warn(plan, "EMPTY_REFERENCE",
           absl::StrCat("ServiceNow's ", spec.from(), " is empty: no record to refer to"));
    }
    std::vector<int64_t> ids;
    for (const std::string& entry : plan.entries) {
      if (auto id = resolved_[group].find(entry); id != resolved_[group].end()) {
        ids.push_back(id->second);
      } else if (!planned_[group].contains(entry)) {
        Warn(plan, "REFERENCE_NOT_FOUND",
             absl::StrCat("no record of Onspring app ", group.first, " has field ", group.second,
                          " = ", Quote(entry), "; left out"));
      }
    }
    Value json = NullJson();
    if (IsMulti(spec)) {
      json = StringJson(absl::StrJoin(ids, ToAbsl(JoinOf(spec))));
    } else if (!ids.empty()) {
      json = NumberJson(static_cast<double>(ids.front()));
    }
    if (!IsMulti(spec) && ids.size() > 1) ids.resize(1);
    FieldValue write = ids.empty() ? FieldValue::Null() : FieldValue::IntegerList(std::move(ids));
    return {std::move(json), std::move(write)};
  }

  // Delivers the outcome once; later calls (other tasks failing) are ignored.
  void Answer(absl::StatusOr<v1::SyncResult> outcome) {
    Callback done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (answered_) return;
      answered_ = true;
      done = std::move(done_);
    }
    std::move(done)(std::move(outcome));
  }

  SyncEngine& engine_;
  const std::shared_ptr<const v1::Profile> profile_;
  const Upstreams upstreams_;
  const v1::Trigger trigger_;
  const v1::SyncMode mode_;
  const clients::CallOptions call_;

  // Written by Start and Resolve (before the tasks they count start), read by Compose.
  std::vector<FieldPlan> plans_;

  std::mutex mu_;
  Callback done_;                 // guarded by mu_
  bool answered_ = false;         // guarded by mu_
  int pending_ = 0;               // guarded by mu_
  absl::Status first_error_;      // guarded by mu_
  std::optional<Record> target_;  // guarded by mu_ until Compose
  // A batch run found no target record: WRITE_BACK creates it.
  bool create_target_ = false;
  v1::SyncResult result_;  // guarded by mu_ until Compose
  AppFields app_fields_;   // guarded by mu_ until Compose
  std::map<GroupKey, std::map<std::string, int64_t, std::less<>>> resolved_;  // same
  std::map<GroupKey, std::set<std::string, std::less<>>> planned_;            // same
  std::map<std::pair<int, std::string>, std::string> added_list_values_;      // same
  // Compose only.
  std::map<int, std::string> write_names_;
};

SyncEngine::SyncEngine(const clients::Clock& clock, EngineOptions options)
    : references_(clock, options.cache, std::move(options.create_lock)),
      fields_(clock, options.cache) {}

SyncEngine::~SyncEngine() = default;

void SyncEngine::RunForRow(std::shared_ptr<const v1::Profile> profile, Upstreams upstreams,
                           clients::servicenow::Row row, std::optional<Record> target,
                           v1::SyncMode mode, const clients::CallOptions& call, Callback done) {
  v1::Trigger trigger;
  if (const auto key = row.Value(profile->source().key_field())) trigger.set_key(std::string(*key));
  if (target.has_value()) trigger.set_record_id(target->record_id);
  std::make_shared<RunState>(*this, std::move(profile), std::move(upstreams), std::move(trigger),
                             mode, call, Counted(std::move(done)))
      ->StartWithRow(row, std::move(target));
}

void SyncEngine::Run(std::shared_ptr<const v1::Profile> profile, Upstreams upstreams,
                     v1::Trigger trigger, v1::SyncMode mode, const clients::CallOptions& call,
                     Callback done) {
  std::make_shared<RunState>(*this, std::move(profile), std::move(upstreams), std::move(trigger),
                             mode, call, Counted(std::move(done)))
      ->Start();
}

void SyncEngine::PrefetchReferences(const v1::Profile& profile, const Upstreams& upstreams,
                                    const std::vector<const Row*>& rows,
                                    const clients::CallOptions& call,
                                    absl::AnyInvocable<void(absl::Status) &&> done) {
  std::map<GroupKey, std::vector<std::string>> groups;
  for (const auto& [name, spec] : profile.fields()) {
    if (spec.kind_case() != OutputField::kReference) continue;
    auto& values = groups[GroupOf(spec)];
    for (const Row* row : rows) {
      if (const auto raw = row->Value(spec.from())) {
        for (std::string& entry : EntriesOf(spec, *raw)) values.push_back(std::move(entry));
      }
    }
  }
  std::erase_if(groups, [](const auto& group) { return group.second.empty(); });
  if (groups.empty()) return std::move(done)(absl::OkStatus());
  struct Pending {
    std::mutex mu;
    size_t left;
    absl::Status first_error;
    absl::AnyInvocable<void(absl::Status) &&> done;
  };
  auto pending = std::make_shared<Pending>();
  pending->left = groups.size();
  pending->done = std::move(done);
  for (auto& [group, values] : groups) {
    references_.Find(*upstreams.onspring, upstreams.onspring_scope, group.first, group.second,
                     std::move(values), call,
                     [pending](absl::StatusOr<ReferenceResolver::Matches> found) {
                       absl::AnyInvocable<void(absl::Status) &&> finish;
                       absl::Status status;
                       {
                         std::lock_guard<std::mutex> lock(pending->mu);
                         if (!found.ok() && pending->first_error.ok()) {
                           pending->first_error = found.status();
                         }
                         if (--pending->left > 0) return;
                         finish = std::move(pending->done);
                         status = pending->first_error;
                       }
                       std::move(finish)(std::move(status));
                     });
  }
}

SyncEngine::Callback SyncEngine::Counted(Callback done) {
  return [this, done = std::move(done)](absl::StatusOr<v1::SyncResult> result) mutable {
    const size_t code = static_cast<size_t>(result.status().code());
    runs_by_code_[code < kStatusCodes ? code : static_cast<size_t>(absl::StatusCode::kUnknown)]
        .fetch_add(1, std::memory_order_relaxed);
    if (result.ok()) {
      int64_t created = 0;
      for (const v1::CreatedRecord& record : result->created()) created += record.record_id() != 0;
      records_created_.fetch_add(created, std::memory_order_relaxed);
      if (result->written()) records_written_.fetch_add(1, std::memory_order_relaxed);
    }
    std::move(done)(std::move(result));
  };
}

EngineStats SyncEngine::stats() const {
  EngineStats stats{references_.cache_stats(), fields_.cache_stats()};
  for (size_t i = 0; i < kStatusCodes; ++i) {
    stats.runs_by_code[i] = runs_by_code_[i].load(std::memory_order_relaxed);
  }
  stats.records_created = records_created_.load(std::memory_order_relaxed);
  stats.records_written = records_written_.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace onsync::engine
