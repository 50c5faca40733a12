#include "tests/sandbox/onspring_filter.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/string_view.h"

namespace onsync::sandbox {
namespace {

struct Token {
  enum class Kind { kWord, kNumber, kString, kDateTime, kOpen, kClose, kEnd } kind;
  std::string text;  // word lower-cased; string unescaped
  size_t position = 0;
};

absl::StatusOr<std::vector<Token>> Tokenize(std::string_view text) {
  std::vector<Token> tokens;
  size_t i = 0;
  auto error = [&](std::string_view what, size_t at) {
    return absl::InvalidArgumentError(
        absl::StrCat("Invalid filter: ", ToAbsl(what), " at position ", at));
  };
  // Reads a quoted literal starting at text[start] == '\''; doubled quotes are one quote.
  auto quoted = [&](size_t start, std::string* out) -> absl::StatusOr<size_t> {
    size_t j = start + 1;
    while (true) {
      if (j >= text.size()) return error("unterminated string literal", start);
      if (text[j] == '\'') {
        if (j + 1 < text.size() && text[j + 1] == '\'') {
          out->push_back('\'');
          j += 2;
          continue;
        }
        return j + 1;
      }
      out->push_back(text[j++]);
    }
  };
  while (i < text.size()) {
    const char c = text[i];
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    Token token{Token::Kind::kEnd, "", i};
    if (c == '(' || c == ')') {
      token.kind = c == '(' ? Token::Kind::kOpen : Token::Kind::kClose;
      ++i;
    } else if (c == '\'') {
      token.kind = Token::Kind::kString;
      absl::StatusOr<size_t> next = quoted(i, &token.text);
      if (!next.ok()) return next.status();
      i = *next;
    } else if (absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.') {
      size_t j = i + 1;
      while (j < text.size() &&
             (absl::ascii_isdigit(static_cast<unsigned char>(text[j])) || text[j] == '.')) {
        ++j;
      }
      token.kind = Token::Kind::kNumber;
      token.text = std::string(text.substr(i, j - i));
      double ignored = 0;
      if (!absl::SimpleAtod(ToAbsl(token.text), &ignored)) return error("invalid number", i);
      i = j;
    } else if (absl::ascii_isalpha(static_cast<unsigned char>(c))) {
      size_t j = i;
      while (j < text.size() && absl::ascii_isalpha(static_cast<unsigned char>(text[j]))) ++j;
      token.text = absl::AsciiStrToLower(ToAbsl(text.substr(i, j - i)));
      if (token.text == "datetime" && j < text.size() && text[j] == '\'') {
        token.kind = Token::Kind::kDateTime;
        token.text.clear();
        absl::StatusOr<size_t> next = quoted(j, &token.text);
        if (!next.ok()) return next.status();
        i = *next;
      } else {
        token.kind = Token::Kind::kWord;
        i = j;
      }
    } else {
      return error(absl::StrCat("unexpected character '", std::string(1, c), "'"), i);
    }
    tokens.push_back(std::move(token));
  }
  tokens.push_back({Token::Kind::kEnd, "", text.size()});
  return tokens;
}

class Parser {
 public:
  Parser(std::vector<Token> tokens, const OsStore& store, const OsApp& app)
      : tokens_(std::move(tokens)), store_(store), app_(app) {}

  absl::StatusOr<std::unique_ptr<OsFilterNode>> ParseAll() {
    absl::StatusOr<std::unique_ptr<OsFilterNode>> node = ParseOr();
    if (!node.ok()) return node;
    if (Peek().kind != Token::Kind::kEnd) return Error("unexpected token");
    return node;
  }

 private:
  const Token& Peek() const { return tokens_[position_]; }
  Token Next() { return tokens_[position_ == tokens_.size() - 1 ? position_ : position_++]; }
  bool PeekWord(std::string_view word) const {
    return Peek().kind == Token::Kind::kWord && Peek().text == word;
  }
  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("Invalid filter: ", ToAbsl(what), " at position ", Peek().position));
  }

  absl::StatusOr<std::unique_ptr<OsFilterNode>> ParseOr() {
    absl::StatusOr<std::unique_ptr<OsFilterNode>> left = ParseAnd();
    if (!left.ok()) return left;
    if (!PeekWord("or")) return left;
    auto node = std::make_unique<OsFilterNode>();
    node->kind = OsFilterNode::Kind::kOr;
    node->children.push_back(*std::move(left));
    while (PeekWord("or")) {
      Next();
      absl::StatusOr<std::unique_ptr<OsFilterNode>> right = ParseAnd();
      if (!right.ok()) return right;
      node->children.push_back(*std::move(right));
    }
    return node;
  }

  absl::StatusOr<std::unique_ptr<OsFilterNode>> ParseAnd() {
    absl::StatusOr<std::unique_ptr<OsFilterNode>> left = ParseUnary();
    if (!left.ok()) return left;
    if (!PeekWord("and")) return left;
    auto node = std::make_unique<OsFilterNode>();
    node->kind = OsFilterNode::Kind::kAnd;
    node->children.push_back(*std::move(left));
    while (PeekWord("and")) {
      Next();
      absl::StatusOr<std::unique_ptr<OsFilterNode>> right = ParseUnary();
      if (!right.ok()) return right;
      node->children.push_back(*std::move(right));
    }
    return node;
  }

  absl::StatusOr<std::unique_ptr<OsFilterNode>> ParseUnary() {
    if (PeekWord("not")) {
      Next();
      absl::StatusOr<std::unique_ptr<OsFilterNode>> inner = ParseUnary();
      if (!inner.ok()) return inner;
      auto node = std::make_unique<OsFilterNode>();
      node->kind = OsFilterNode::Kind::kNot;
      node->children.push_back(*std::move(inner));
      return node;
    }
    if (Peek().kind == Token::Kind::kOpen) {
      Next();
      absl::StatusOr<std::unique_ptr<OsFilterNode>> inner = ParseOr();
      if (!inner.ok()) return inner;
      if (Peek().kind != Token::Kind::kClose) return Error("expected ')'");
      Next();
      return inner;
    }
    return ParsePredicate();
  }

  absl::StatusOr<std::unique_ptr<OsFilterNode>> ParsePredicate() {
    if (Peek().kind != Token::Kind::kNumber) return Error("expected a field id");
    auto node = std::make_unique<OsFilterNode>();
    if (!absl::SimpleAtoi(ToAbsl(Peek().text), &node->field_id)) return Error("invalid field id");
    const OsField* field = store_.FindField(node->field_id);
    if (field == nullptr || field->app_id != app_.id) {
      return Error(absl::StrCat("field ", node->field_id, " is not a field of app ", app_.id));
    }
    Next();
    if (Peek().kind != Token::Kind::kWord) return Error("expected an operator");
    node->op = Next().text;
    if (node->op == "isnull" || node->op == "notnull") return node;
    if (node->op != "eq" && node->op != "ne" && node->op != "gt" && node->op != "lt" &&
        node->op != "contains") {
      return Error(absl::StrCat("unknown operator '", node->op, "'"));
    }
    const bool ordered = node->op == "gt" || node->op == "lt";
    if (ordered && (field->type == OsFieldType::kList || field->type == OsFieldType::kReference)) {
      return Error(absl::StrCat("operator '", node->op, "' does not apply to field ", field->id));
    }
    const Token literal = Next();
    switch (literal.kind) {
      case Token::Kind::kNumber:
        node->literal.kind = OsFilterLiteral::Kind::kNumber;
        (void)absl::SimpleAtod(ToAbsl(literal.text), &node->literal.number);
        break;
      case Token::Kind::kString:
        node->literal.kind = OsFilterLiteral::Kind::kString;
        break;
      case Token::Kind::kDateTime:
        node->literal.kind = OsFilterLiteral::Kind::kDateTime;
        break;
      default:
        return Error("expected a literal");
    }
    node->literal.text = literal.text;
    if (field->type == OsFieldType::kDate ||
        node->literal.kind == OsFilterLiteral::Kind::kDateTime) {
      if (node->literal.kind != OsFilterLiteral::Kind::kNumber &&
          !NormalizeDate(node->literal.text).has_value()) {
        return Error(absl::StrCat("invalid date '", node->literal.text, "'"));
      }
    }
    return node;
  }

  std::vector<Token> tokens_;
  size_t position_ = 0;
  const OsStore& store_;
  const OsApp& app_;
};

bool EvaluatePredicate(const OsFilterNode& node, const OsStore& store, const OsRecord& record,
                       bool case_sensitive) {
  const OsField& field = *store.FindField(node.field_id);
  const auto it = record.values.find(node.field_id);
  const bool empty = it == record.values.end() || IsEmptyValue(it->second);
  if (node.op == "isnull") return empty;
  if (node.op == "notnull") return !empty;
  if (empty) return node.op == "ne";
  const OsValue& value = it->second;
  const std::string& op = node.op;
  auto fold = [&](std::string_view text) {
    return case_sensitive ? std::string(text) : absl::AsciiStrToLower(ToAbsl(text));
  };
  auto by_order = [&](int cmp) {
    if (op == "eq") return cmp == 0;
    if (op == "ne") return cmp != 0;
    if (op == "gt") return cmp > 0;
    if (op == "lt") return cmp < 0;
    return false;
  };
  switch (field.type) {
    case OsFieldType::kText:
    case OsFieldType::kFormula: {
      const std::string lhs = fold(std::get<std::string>(value));
      const std::string rhs = fold(node.literal.text);
      if (op == "contains") return absl::StrContains(lhs, rhs);
      return by_order(lhs.compare(rhs));
    }
    case OsFieldType::kNumber:
    case OsFieldType::kAutoNumber: {
      const double lhs = std::holds_alternative<double>(value)
                             ? std::get<double>(value)
                             : static_cast<double>(std::get<int64_t>(value));
      double rhs = node.literal.number;
      if (node.literal.kind != OsFilterLiteral::Kind::kNumber &&
          !absl::SimpleAtod(ToAbsl(node.literal.text), &rhs)) {
        return op == "ne";
      }
      if (op == "contains") return lhs == rhs;
      return by_order(lhs < rhs ? -1 : (lhs > rhs ? 1 : 0));
    }
    case OsFieldType::kDate: {
      const std::optional<std::string> rhs = NormalizeDate(node.literal.text);
      if (!rhs.has_value()) return op == "ne";
      return by_order(std::get<std::string>(value).compare(*rhs));
    }
    case OsFieldType::kList: {
      bool found = false;
      for (const std::string& guid : std::get<std::vector<std::string>>(value)) {
        const OsListValue* list_value = store.FindListValue(field, guid, false);
        found =
            found || absl::EqualsIgnoreCase(guid, node.literal.text) ||
            (list_value != nullptr && absl::EqualsIgnoreCase(list_value->name, node.literal.text));
      }
      return op == "ne" ? !found : found;
    }
    case OsFieldType::kReference: {
      double rhs = node.literal.number;
      if (node.literal.kind != OsFilterLiteral::Kind::kNumber &&
          !absl::SimpleAtod(ToAbsl(node.literal.text), &rhs)) {
        return op == "ne";
      }
      const auto& ids = std::get<std::vector<int64_t>>(value);
      const bool found = std::find(ids.begin(), ids.end(), static_cast<int64_t>(rhs)) != ids.end();
      return op == "ne" ? !found : found;
    }
  }
  return false;
}

bool Evaluate(const OsFilterNode& node, const OsStore& store, const OsRecord& record,
              bool case_sensitive) {
  switch (node.kind) {
    case OsFilterNode::Kind::kAnd:
      for (const auto& child : node.children) {
        if (!Evaluate(*child, store, record, case_sensitive)) return false;
      }
      return true;
    case OsFilterNode::Kind::kOr:
      for (const auto& child : node.children) {
        if (Evaluate(*child, store, record, case_sensitive)) return true;
      }
      return false;
    case OsFilterNode::Kind::kNot:
      return !Evaluate(*node.children.front(), store, record, case_sensitive);
    case OsFilterNode::Kind::kPredicate:
      return EvaluatePredicate(node, store, record, case_sensitive);
  }
  return false;
}

}  // namespace

absl::StatusOr<OsFilter> OsFilter::Parse(std::string_view text, const OsStore& store,
                                         const OsApp& app) {
  OsFilter filter;
  if (absl::StripAsciiWhitespace(ToAbsl(text)).empty()) return filter;
  absl::StatusOr<std::vector<Token>> tokens = Tokenize(text);
  if (!tokens.ok()) return tokens.status();
  Parser parser(*std::move(tokens), store, app);
  absl::StatusOr<std::unique_ptr<OsFilterNode>> root = parser.ParseAll();
  if (!root.ok()) return root.status();
  filter.root_ = *std::move(root);
  return filter;
}

bool OsFilter::Matches(const OsStore& store, const OsRecord& record, bool case_sensitive) const {
  return root_ == nullptr || Evaluate(*root_, store, record, case_sensitive);
}

}  // namespace onsync::sandbox
