#include "server/engine/template.h"

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace onsync::engine {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string Render(std::string_view tmpl, std::string_view value) {
  absl::StatusOr<Template> parsed = Template::Parse(tmpl);
  EXPECT_TRUE(parsed.ok()) << tmpl << ": " << parsed.status();
  if (!parsed.ok()) return "<parse error>";
  return parsed->Render(value);
}

std::string ParseError(std::string_view tmpl) {
  absl::StatusOr<Template> parsed = Template::Parse(tmpl);
  EXPECT_FALSE(parsed.ok()) << tmpl;
  if (parsed.ok()) return "";
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(parsed.status().message());
}

// The PoC's user-creation rules.
constexpr std::string_view kFirstName = "{value|first_word}";
constexpr std::string_view kLastName = "{value|rest_words}";
constexpr std::string_view kUsername = "{value|first_space_to_dot|lower}";
constexpr std::string_view kEmail = "{value|first_space_to_dot|lower}@example.com";

TEST(TemplatePocTest, ThreeWordName) {
  EXPECT_EQ(Render(kFirstName, "Mary Ann Smith"), "Mary");
  EXPECT_EQ(Render(kLastName, "Mary Ann Smith"), "Ann Smith");
  // The PoC replaces only the FIRST space, then lower-cases.
  EXPECT_EQ(Render(kUsername, "Mary Ann Smith"), "mary.ann smith");
  EXPECT_EQ(Render(kEmail, "Mary Ann Smith"), "mary.ann smith@example.com");
  EXPECT_EQ(Render("{value}", "Mary Ann Smith"), "Mary Ann Smith");
}

TEST(TemplatePocTest, TwoWordName) {
  EXPECT_EQ(Render(kFirstName, "John Doe"), "John");
  EXPECT_EQ(Render(kLastName, "John Doe"), "Doe");
  EXPECT_EQ(Render(kUsername, "John Doe"), "john.doe");
  EXPECT_EQ(Render(kEmail, "John Doe"), "john.doe@example.com");
}

TEST(TemplatePocTest, UnicodeNameLowersAsciiOnly) {
  EXPECT_EQ(Render(kFirstName, "Zoë Müller"), "Zoë");
  EXPECT_EQ(Render(kLastName, "Zoë Müller"), "Müller");
  EXPECT_EQ(Render(kUsername, "Zoë Müller"), "zoë.müller");
  EXPECT_EQ(Render(kEmail, "Zoë Müller"), "zoë.müller@example.com");
  // Non-ASCII letters are left unchanged by lower/upper.
  EXPECT_EQ(Render("{value|lower}", "ÉMILE"), "Émile");
  EXPECT_EQ(Render("{value|upper}", "zoë"), "ZOë");
}

TEST(TemplatePocTest, OneWordName) {
  EXPECT_EQ(Render(kFirstName, "Cher"), "Cher");
  EXPECT_EQ(Render(kLastName, "Cher"), "");
  EXPECT_EQ(Render(kUsername, "Cher"), "cher");
  EXPECT_EQ(Render(kEmail, "Cher"), "cher@example.com");
}

TEST(TemplatePocTest, EmptyValue) {
  EXPECT_EQ(Render(kFirstName, ""), "");
  EXPECT_EQ(Render(kLastName, ""), "");
  EXPECT_EQ(Render(kUsername, ""), "");
  EXPECT_EQ(Render(kEmail, ""), "@example.com");
}

TEST(TemplatePocTest, ExtraSpaces) {
  EXPECT_EQ(Render(kFirstName, "  Mary   Ann  Smith  "), "Mary");
  EXPECT_EQ(Render(kLastName, "  Mary   Ann  Smith  "), "Ann  Smith");
  // first_space_to_dot does not trim: the first space is the leading one.
  EXPECT_EQ(Render(kUsername, " Mary Ann"), ".mary ann");
  EXPECT_EQ(Render("{value|trim|first_space_to_dot|lower}", " Mary Ann "), "mary.ann");
  EXPECT_EQ(Render(kFirstName, "   "), "");
  EXPECT_EQ(Render(kLastName, "   "), "");
}

TEST(TemplateTransformTest, EachTransform) {
  EXPECT_EQ(Template::Apply(Template::Transform::kFirstSpaceToDot, "a b c"), "a.b c");
  EXPECT_EQ(Template::Apply(Template::Transform::kFirstSpaceToDot, "abc"), "abc");
  EXPECT_EQ(Template::Apply(Template::Transform::kFirstWord, "a b c"), "a");
  EXPECT_EQ(Template::Apply(Template::Transform::kRestWords, "a b c"), "b c");
  EXPECT_EQ(Template::Apply(Template::Transform::kLower, "MiXeD 123"), "mixed 123");
  EXPECT_EQ(Template::Apply(Template::Transform::kUpper, "MiXeD 123"), "MIXED 123");
  EXPECT_EQ(Template::Apply(Template::Transform::kTrim, " \t a b \r\n"), "a b");
  EXPECT_EQ(Render("{value|first_space_to_dot}", "Mary Ann Smith"), "Mary.Ann Smith");
  EXPECT_EQ(Render("{value|first_word}", "Mary Ann Smith"), "Mary");
  EXPECT_EQ(Render("{value|rest_words}", "Mary Ann Smith"), "Ann Smith");
  EXPECT_EQ(Render("{value|lower}", "Mary Ann Smith"), "mary ann smith");
  EXPECT_EQ(Render("{value|upper}", "Mary Ann Smith"), "MARY ANN SMITH");
  EXPECT_EQ(Render("{value|trim}", "\t Mary Ann Smith \n"), "Mary Ann Smith");
}

TEST(TemplateTransformTest, PipesApplyLeftToRight) {
  EXPECT_EQ(Render("{value|rest_words|first_word|upper}", "Mary Ann Smith"), "ANN");
  EXPECT_EQ(Render("{value|rest_words|rest_words}", "Mary Ann Smith"), "Smith");
  EXPECT_EQ(Render("{value|lower|upper}", "Mary"), "MARY");
  EXPECT_EQ(Render("{value|upper|lower}", "Mary"), "mary");
  EXPECT_EQ(Render("{value|first_space_to_dot|first_space_to_dot}", "a b c"), "a.b.c");
  EXPECT_EQ(Render("{value|trim|first_word|lower|trim}", "  Mary Ann "), "mary");
}

TEST(TemplateSyntaxTest, LiteralTextAndConcatenation) {
  EXPECT_EQ(Render("", "x"), "");
  EXPECT_EQ(Render("constant", "x"), "constant");
  EXPECT_EQ(Render("{value|first_word}.{value|rest_words}@corp", "Mary Ann"), "Mary.Ann@corp");
  EXPECT_EQ(Render("[{value}] [{value|upper}]", "ab"), "[ab] [AB]");
  EXPECT_EQ(Render("{value}{value}", "ab"), "abab");
  EXPECT_EQ(Render("mailto: {value|lower} |x", "AB"), "mailto: ab |x");
}

TEST(TemplateSyntaxTest, SpacesAroundTokens) {
  EXPECT_EQ(Render("{ value }", "Ab"), "Ab");
  EXPECT_EQ(Render("{ value | first_space_to_dot | lower }@example.com", "Mary Ann Smith"),
            "mary.ann smith@example.com");
  EXPECT_EQ(Render("{\tvalue|\tupper\t}", "ab"), "AB");
}

TEST(TemplateSyntaxTest, ValueIsNotReinterpreted) {
  // Braces and pipes in the value are data, not syntax.
  EXPECT_EQ(Render("{value|lower}", "{VALUE|UPPER}"), "{value|upper}");
}

TEST(TemplateSyntaxTest, SourceIsKept) {
  absl::StatusOr<Template> parsed = Template::Parse(kEmail);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->source(), kEmail);
}

TEST(TemplateParseErrorTest, UnbalancedBraces) {
  EXPECT_THAT(ParseError("{value"), AllOf(HasSubstr("unbalanced braces"), HasSubstr("offset 0")));
  EXPECT_THAT(ParseError("abc}"), AllOf(HasSubstr("unbalanced braces"), HasSubstr("offset 3")));
  EXPECT_THAT(ParseError("{value}}"), HasSubstr("unbalanced braces: '}' at offset 7"));
  EXPECT_THAT(ParseError("{{value}}"), HasSubstr("unbalanced braces: '{' at offset 0"));
  EXPECT_THAT(ParseError("{value{value}"), HasSubstr("is not closed"));
  EXPECT_THAT(ParseError("x{"), HasSubstr("offset 1"));
}

TEST(TemplateParseErrorTest, UnknownPlaceholder) {
  EXPECT_THAT(ParseError("{name}"), HasSubstr("unknown placeholder {name}"));
  EXPECT_THAT(ParseError("{}"), HasSubstr("unknown placeholder {}"));
  EXPECT_THAT(ParseError("{Value}"), HasSubstr("unknown placeholder {Value}"));
  EXPECT_THAT(ParseError("{|lower}"), HasSubstr("unknown placeholder"));
}

TEST(TemplateParseErrorTest, UnknownTransform) {
  EXPECT_THAT(ParseError("{value|capitalize}"),
              AllOf(HasSubstr("unknown transform \"capitalize\""),
                    HasSubstr("first_space_to_dot, first_word, rest_words, lower, upper, trim")));
  EXPECT_THAT(ParseError("{value|lower|}"), HasSubstr("unknown transform \"\""));
  EXPECT_THAT(ParseError("{value||lower}"), HasSubstr("unknown transform \"\""));
  EXPECT_THAT(ParseError("{value|LOWER}"), HasSubstr("unknown transform \"LOWER\""));
  EXPECT_THAT(ParseError("{value|lower upper}"), HasSubstr("unknown transform \"lower upper\""));
}

TEST(TemplateParseErrorTest, ErrorNamesTheTemplate) {
  EXPECT_THAT(ParseError("x {value|nope}"), HasSubstr("template \"x {value|nope}\""));
}

}  // namespace
}  // namespace onsync::engine
