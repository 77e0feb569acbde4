// parley/protocol/headers.hpp — HTTP header fields (`Headers`), the list
// grammar of Sec-WebSocket-Extensions / -Protocol (`HeaderValue`), and one
// offered or accepted WebSocket extension (`Extension`).
#pragma once

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "parley/error.hpp"
#include "parley/export.hpp"

namespace parley::protocol {

/// HTTP header fields: ordered, multi-valued, with case-insensitive (ASCII)
/// names. Fields keep the order they were added in and the spelling of their
/// name. `add` and `set` do not validate; `valid_name` / `valid_value` say
/// whether a field may be written on the wire, and the handshake builders
/// check user-supplied fields with them.
class PARLEY_EXPORT Headers {
 public:
  /// One header field as written: `name: value`.
  struct Field {
    std::string name;   ///< as spelled when added
    std::string value;  ///< without leading/trailing whitespace
  };
  /// Iterates over the fields in order.
  using const_iterator = std::vector<Field>::const_iterator;

  /// No fields.
  Headers() = default;
  /// These fields in this order, e.g. `{{"Set-Cookie", "id=42"}, {"X-Node", "a"}}`.
  Headers(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
    for (const auto& [name, value] : fields) add(name, value);
  }

  /// Appends a field (an existing field of the same name is kept).
  void add(std::string_view name, std::string_view value);
  /// Replaces every field named `name` with one field: the first such field
  /// keeps its position and takes the new value, the others are removed; if
  /// there is none, the field is appended.
  void set(std::string_view name, std::string_view value);
  /// The value of the first field named `name`, if any. The view is valid
  /// until the Headers is modified.
  std::optional<std::string_view> get(std::string_view name) const noexcept;
  /// The values of every field named `name`, in order.
  std::vector<std::string_view> get_all(std::string_view name) const;
  /// True when at least one field is named `name`.
  bool has(std::string_view name) const noexcept;
  /// How many fields are named `name`.
  std::size_t count(std::string_view name) const noexcept;
  /// Removes every field named `name`; returns how many were removed.
  std::size_t remove(std::string_view name);
  /// True when `token` (compared case-insensitively) is an element of the
  /// comma-separated list in any field named `name`, e.g.
  /// `has_token("Connection", "upgrade")` for `Connection: keep-alive, Upgrade`.
  bool has_token(std::string_view name, std::string_view token) const noexcept;

  /// The number of fields (not of distinct names).
  std::size_t size() const noexcept { return fields_.size(); }
  /// True when there is no field.
  bool empty() const noexcept { return fields_.empty(); }
  /// Removes every field.
  void clear() noexcept { fields_.clear(); }
  /// The first field (fields are in the order they were added).
  const_iterator begin() const noexcept { return fields_.begin(); }
  /// Past the last field.
  const_iterator end() const noexcept { return fields_.end(); }

  /// Appends `name: value\r\n` for every field to `out`.
  void serialize_to(std::string& out) const;

  /// True when `name` is an RFC 7230 token (a legal field name).
  static bool valid_name(std::string_view name) noexcept;
  /// True when `value` holds no control character other than HTAB (no CR,
  /// LF or NUL: nothing that could split a header), and has no leading or
  /// trailing whitespace.
  static bool valid_value(std::string_view value) noexcept;

 private:
  std::vector<Field> fields_;
};

/// One parameter of a HeaderValue: `name` or `name=value`.
struct HeaderParam {
  std::string name;                  ///< a token, as written
  std::optional<std::string> value;  ///< absent for a bare `name`; unescaped when it was a quoted-string

  /// Equal when every field is equal.
  friend bool operator==(const HeaderParam&, const HeaderParam&) = default;
};

/// One element of an HTTP list header such as Sec-WebSocket-Extensions:
/// a token followed by `;`-separated parameters, e.g.
/// `permessage-deflate; client_max_window_bits; server_max_window_bits=10`.
///
/// Grammar (RFC 7230 §3.2.6, §7; RFC 6455 §9.1), strictly:
/// `list = [element] *(OWS "," OWS [element])`,
/// `element = token *(OWS ";" OWS param)`,
/// `param = token [ "=" (token / quoted-string) ]` (no whitespace around `=`),
/// `quoted-string = DQUOTE *(qdtext / "\" (HTAB / SP / VCHAR / obs-text)) DQUOTE`.
/// Empty list elements (`a, , b`) are ignored as RFC 7230 §7 requires.
class PARLEY_EXPORT HeaderValue {
 public:
  /// An empty value (no token, no parameters).
  HeaderValue() = default;
  /// A value with parameters.
  explicit HeaderValue(std::string value, std::vector<HeaderParam> params = {})
      : value_(std::move(value)), params_(std::move(params)) {}

  /// The leading token (e.g. the extension name).
  const std::string& value() const noexcept { return value_; }
  /// The parameters in order (duplicates are kept).
  const std::vector<HeaderParam>& params() const noexcept { return params_; }
  /// The first parameter named `name` (case-insensitive), or nullptr.
  const HeaderParam* find_param(std::string_view name) const noexcept;
  /// True when a parameter named `name` (case-insensitive) is present.
  bool has_param(std::string_view name) const noexcept { return find_param(name) != nullptr; }
  /// Appends a parameter (`value` absent for a bare name).
  void add_param(std::string name, std::optional<std::string> value = std::nullopt);

  /// The element as it goes on the wire: `value; a; b=token; c="quoted \"x\""`.
  /// Parameter values that are tokens are written bare, others (including
  /// the empty string) as quoted-strings with `"` and `\` escaped.
  std::string to_string() const;
  /// True when the value and the parameter names are tokens and the
  /// parameter values hold no control character other than HTAB, so that
  /// `to_string()` parses back to an equal HeaderValue.
  bool valid() const noexcept;

  /// Parses a whole header value (one field, or several fields joined with
  /// ", ") into its elements. Errors: `HandshakeError::bad_extension_header`
  /// with a message naming the offset.
  static Result<std::vector<HeaderValue>> parse_list(std::string_view header);
  /// Writes elements joined by ", ".
  static std::string join(const std::vector<HeaderValue>& values);

  /// Equal when every field is equal.
  friend bool operator==(const HeaderValue&, const HeaderValue&) = default;

 private:
  std::string value_;
  std::vector<HeaderParam> params_;
};

/// One WebSocket extension as offered by a client or accepted by a server
/// (RFC 6455 §9.1): a name and parameters, e.g. `permessage-deflate;
/// client_max_window_bits`. Same grammar as HeaderValue, plus the RFC 6455
/// rule that a quoted parameter value must be a token once unescaped.
/// Extension names are compared case-insensitively by the handshake.
class PARLEY_EXPORT Extension : public HeaderValue {
 public:
  using HeaderValue::HeaderValue;
  /// An extension with the name and parameters of a parsed HeaderValue.
  explicit Extension(HeaderValue v) : HeaderValue(std::move(v)) {}
  /// The extension's name.
  const std::string& name() const noexcept { return value(); }
  /// True when the name, the parameter names and the parameter values are
  /// tokens (what RFC 6455 §9.1 allows in Sec-WebSocket-Extensions).
  bool valid() const noexcept;

  /// Parses a whole Sec-WebSocket-Extensions value into its extensions.
  /// Errors: `HandshakeError::bad_extension_header`.
  static Result<std::vector<Extension>> parse_list(std::string_view header);
  /// Writes extensions joined by ", " (a Sec-WebSocket-Extensions value).
  static std::string join(const std::vector<Extension>& extensions);
};

}  // namespace parley::protocol
