// host/json.h: a tiny writer for the flat JSON objects golf emits (summary.json, metrics.jsonl lines).
#ifndef GOLF_HOST_JSON_H_
#define GOLF_HOST_JSON_H_

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

namespace golf::host {

class JsonObject {
 public:
  void add(const std::string& key, double v) {
    char buf[40];
    if (std::isfinite(v)) std::snprintf(buf, sizeof buf, "%.10g", v);
    else std::snprintf(buf, sizeof buf, "null");  // JSON has no NaN/inf
    raw(key, buf);
  }
  void add(const std::string& key, int64_t v) { raw(key, std::to_string(v)); }
  void add(const std::string& key, int v) { raw(key, std::to_string(v)); }
  void add(const std::string& key, bool v) { raw(key, v ? "true" : "false"); }
  void add(const std::string& key, const std::string& v) { raw(key, quote(v)); }
  void add(const std::string& key, const char* v) { raw(key, quote(v)); }
  // `json` must already be valid JSON (a nested object or array).
  void raw(const std::string& key, const std::string& json) {
    body_ += (body_.empty() ? "" : ", ") + quote(key) + ": " + json;
  }
  std::string str() const { return "{" + body_ + "}"; }

  static std::string quote(const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
      if (c == '"' || c == '\\') out += '\\', out += char(c);
      else if (c == '\n') out += "\\n";
      else if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else out += char(c);
    }
    return out + "\"";
  }

 private:
  std::string body_;
};

}  // namespace golf::host

#endif  // GOLF_HOST_JSON_H_
