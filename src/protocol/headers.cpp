// Header fields, the HTTP list grammar (HeaderValue) and extensions.
#include "parley/protocol/headers.hpp"

#include <algorithm>

#include "http_text.hpp"

namespace parley::protocol {

using text::iequals;

// ---- Headers ---------------------------------------------------------------

void Headers::add(std::string_view name, std::string_view value) {
  fields_.push_back(Field{std::string(name), std::string(value)});
}

void Headers::set(std::string_view name, std::string_view value) {
  auto first = std::find_if(fields_.begin(), fields_.end(), [&](const Field& f) { return iequals(f.name, name); });
  if (first == fields_.end()) {
    add(name, value);
    return;
  }
  first->name.assign(name);
  first->value.assign(value);
  fields_.erase(std::remove_if(first + 1, fields_.end(), [&](const Field& f) { return iequals(f.name, name); }),
                fields_.end());
}

std::optional<std::string_view> Headers::get(std::string_view name) const noexcept {
  for (const Field& f : fields_) {
    if (iequals(f.name, name)) return std::string_view(f.value);
  }
  return std::nullopt;
}

std::vector<std::string_view> Headers::get_all(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const Field& f : fields_) {
    if (iequals(f.name, name)) out.emplace_back(f.value);
  }
  return out;
}

bool Headers::has(std::string_view name) const noexcept { return get(name).has_value(); }

std::size_t Headers::count(std::string_view name) const noexcept {
  return static_cast<std::size_t>(
      std::count_if(fields_.begin(), fields_.end(), [&](const Field& f) { return iequals(f.name, name); }));
}

std::size_t Headers::remove(std::string_view name) {
  const std::size_t before = fields_.size();
  fields_.erase(std::remove_if(fields_.begin(), fields_.end(), [&](const Field& f) { return iequals(f.name, name); }),
                fields_.end());
  return before - fields_.size();
}

bool Headers::has_token(std::string_view name, std::string_view token) const noexcept {
  for (const Field& f : fields_) {
    if (iequals(f.name, name) &&
        text::any_list_element(f.value, [&](std::string_view element) { return iequals(element, token); })) {
      return true;
    }
  }
  return false;
}

void Headers::serialize_to(std::string& out) const {
  for (const Field& f : fields_) {
    out.append(f.name).append(": ").append(f.value).append("\r\n");
  }
}

bool Headers::valid_name(std::string_view name) noexcept { return text::is_token(name); }

bool Headers::valid_value(std::string_view value) noexcept {
  if (!value.empty() && (text::is_ows(value.front()) || text::is_ows(value.back()))) return false;
  return text::is_field_value(value);
}

// ---- HeaderValue -----------------------------------------------------------

namespace {

// qdtext (RFC 7230 §3.2.6): HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text.
bool is_qdtext(unsigned char c) noexcept {
  return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}

// The character after a backslash in a quoted-pair: HTAB / SP / VCHAR / obs-text.
bool is_quotable(unsigned char c) noexcept { return c == '\t' || (c >= 0x20 && c != 0x7f); }

// A strict recursive-descent parser over one header value.
class ListParser {
 public:
  ListParser(std::string_view s, bool extension_rules) : s_(s), extension_rules_(extension_rules) {}

  Result<std::vector<HeaderValue>> run() {
    std::vector<HeaderValue> out;
    while (true) {
      skip_ows();
      if (at_end()) break;
      if (peek() == ',') {  // an empty element
        ++pos_;
        continue;
      }
      std::string_view name = token();
      if (name.empty()) return fail("expected a token");
      HeaderValue element{std::string(name)};
      skip_ows();
      while (!at_end() && peek() == ';') {
        ++pos_;
        skip_ows();
        std::string_view pname = token();
        if (pname.empty()) return fail("expected a parameter name");
        std::optional<std::string> pvalue;
        if (!at_end() && peek() == '=') {
          ++pos_;
          if (!at_end() && peek() == '"') {
            std::string q;
            if (!quoted_string(q)) return fail("malformed quoted-string");
            if (extension_rules_ && !text::is_token(q)) return fail("quoted extension parameter value is not a token");
            pvalue = std::move(q);
          } else {
            std::string_view v = token();
            if (v.empty()) return fail("expected a parameter value");
            pvalue = std::string(v);
          }
        }
        element.add_param(std::string(pname), std::move(pvalue));
        skip_ows();
      }
      out.push_back(std::move(element));
      if (at_end()) break;
      if (peek() != ',') return fail("expected ',' or ';'");
      ++pos_;
    }
    return out;
  }

 private:
  bool at_end() const noexcept { return pos_ >= s_.size(); }
  char peek() const noexcept { return s_[pos_]; }
  void skip_ows() noexcept {
    while (!at_end() && text::is_ows(peek())) ++pos_;
  }
  std::string_view token() noexcept {
    const std::size_t start = pos_;
    while (!at_end() && text::is_tchar(static_cast<unsigned char>(peek()))) ++pos_;
    return s_.substr(start, pos_ - start);
  }
  // At a DQUOTE; on success leaves pos_ after the closing DQUOTE.
  bool quoted_string(std::string& out) {
    ++pos_;
    while (!at_end()) {
      const auto c = static_cast<unsigned char>(s_[pos_++]);
      if (c == '"') return true;
      if (c == '\\') {
        if (at_end() || !is_quotable(static_cast<unsigned char>(peek()))) return false;
        out += s_[pos_++];
      } else if (is_qdtext(c)) {
        out += static_cast<char>(c);
      } else {
        return false;
      }
    }
    return false;  // unterminated
  }
  Error fail(std::string_view what) const {
    std::string msg = "bad header value at offset ";
    msg += std::to_string(pos_);
    msg += ": ";
    msg += what;
    return Error(HandshakeError::bad_extension_header, std::move(msg));
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  bool extension_rules_;
};

void append_element(std::string& out, const HeaderValue& v) {
  out += v.value();
  for (const HeaderParam& p : v.params()) {
    out += "; ";
    out += p.name;
    if (!p.value) continue;
    out += '=';
    if (text::is_token(*p.value)) {
      out += *p.value;
      continue;
    }
    out += '"';
    for (char c : *p.value) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
}

}  // namespace

const HeaderParam* HeaderValue::find_param(std::string_view name) const noexcept {
  for (const HeaderParam& p : params_) {
    if (iequals(p.name, name)) return &p;
  }
  return nullptr;
}

void HeaderValue::add_param(std::string name, std::optional<std::string> value) {
  params_.push_back(HeaderParam{std::move(name), std::move(value)});
}

std::string HeaderValue::to_string() const {
  std::string out;
  append_element(out, *this);
  return out;
}

bool HeaderValue::valid() const noexcept {
  if (!text::is_token(value_)) return false;
  for (const HeaderParam& p : params_) {
    if (!text::is_token(p.name)) return false;
    if (p.value && !text::is_field_value(*p.value)) return false;
  }
  return true;
}

Result<std::vector<HeaderValue>> HeaderValue::parse_list(std::string_view header) {
  return ListParser(header, false).run();
}

std::string HeaderValue::join(const std::vector<HeaderValue>& values) {
  std::string out;
  for (const HeaderValue& v : values) {
    if (!out.empty()) out += ", ";
    append_element(out, v);
  }
  return out;
}

// ---- Extension -------------------------------------------------------------

bool Extension::valid() const noexcept {
  if (!text::is_token(name())) return false;
  for (const HeaderParam& p : params()) {
    if (!text::is_token(p.name)) return false;
    if (p.value && !text::is_token(*p.value)) return false;
  }
  return true;
}

Result<std::vector<Extension>> Extension::parse_list(std::string_view header) {
  auto parsed = ListParser(header, true).run();
  if (!parsed) return parsed.error();
  std::vector<Extension> out;
  out.reserve(parsed->size());
  for (HeaderValue& v : *parsed) out.emplace_back(std::move(v));
  return out;
}

std::string Extension::join(const std::vector<Extension>& extensions) {
  std::string out;
  for (const Extension& e : extensions) {
    if (!out.empty()) out += ", ";
    append_element(out, e);
  }
  return out;
}

}  // namespace parley::protocol
