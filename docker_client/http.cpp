#include "docker_client/http.hpp"

#include "messages/error.hpp"

#include <curl/curl.h>

#include <cctype>
#include <mutex>

namespace sb::docker {

namespace {

size_t write_body(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

/// Collects "Name: value" header lines (names lowercased, values trimmed).
size_t write_header(char* data, size_t size, size_t count, void* user) {
  std::string line{data, size * count};
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    auto name = line.substr(0, colon);
    for (auto& ch : name)
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    auto value = line.substr(colon + 1);
    auto first = value.find_first_not_of(" \t");
    auto last = value.find_last_not_of(" \t\r\n");
    (*static_cast<std::map<std::string, std::string>*>(user))[name]
      = first == std::string::npos ? std::string{}
                                   : value.substr(first, last - first + 1);
  }
  return size * count;
}

/// Resets the handle and sets what every request shares: socket, URL,
/// method, no signals, the total timeout and a connect timeout of at most 5 s.
void prepare(CURL* c, const std::string& unix_socket, const std::string& method,
             const std::string& url, std::chrono::milliseconds timeout) {
  curl_easy_reset(c);
  if (!unix_socket.empty())
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, unix_socket.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<int64_t>(timeout.count(), 5000)));
}

void global_init() {
  static std::once_flag flag;
  std::call_once(flag, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

} // namespace

struct http_client::impl {
  CURL* curl = nullptr;
  std::string unix_socket;
};

http_client::http_client(std::string unix_socket) : impl_(new impl) {
  global_init();
  impl_->curl = curl_easy_init();
  impl_->unix_socket = std::move(unix_socket);
}

http_client::~http_client() {
  if (impl_->curl)
    curl_easy_cleanup(impl_->curl);
}

caf::expected<http_response>
http_client::request(const std::string& method, const std::string& url,
                     const std::string& body, std::chrono::milliseconds timeout,
                     const std::vector<std::string>& extra_headers) {
  auto* c = impl_->curl;
  if (c == nullptr)
    return make_error(ec::docker_failure, "cannot initialize libcurl");
  http_response res;
  prepare(c, impl_->unix_socket, method, url, timeout);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &res.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, write_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &res.headers);
  struct curl_slist* headers = nullptr;
  for (auto& h : extra_headers)
    headers = curl_slist_append(headers, h.c_str());
  if (!body.empty() || method == "POST") {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  if (headers)
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  auto rc = curl_easy_perform(c);
  if (headers)
    curl_slist_free_all(headers);
  // The URL never carries a secret; bodies are never part of an error.
  auto where
    = impl_->unix_socket.empty() ? url : impl_->unix_socket + " (" + url + ")";
  switch (rc) {
  case CURLE_OK:
    break;
  case CURLE_COULDNT_CONNECT:
  case CURLE_COULDNT_RESOLVE_HOST:
    return make_error(ec::docker_unreachable, "cannot connect to " + where);
  case CURLE_OPERATION_TIMEDOUT:
    return make_error(ec::timeout, "no answer from " + where + " within "
                                     + std::to_string(timeout.count()) + " ms");
  default:
    return make_error(ec::docker_failure,
                      std::string{"request to "} + where
                        + " failed: " + curl_easy_strerror(rc));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res.status);
  return res;
}

namespace {

struct stream_sink {
  const std::function<bool(const char*, size_t)>* on_data;
  bool stopped = false;
};

size_t write_stream(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<stream_sink*>(user);
  if (!(*sink->on_data)(data, size * count)) {
    sink->stopped = true;
    return 0; // makes libcurl abort the transfer
  }
  return size * count;
}

} // namespace

caf::expected<long>
http_client::stream(const std::string& method, const std::string& url,
                    const std::function<bool(const char*, size_t)>& on_data,
                    std::chrono::milliseconds timeout) {
  auto* c = impl_->curl;
  if (c == nullptr)
    return make_error(ec::docker_failure, "cannot initialize libcurl");
  stream_sink sink{&on_data};
  prepare(c, impl_->unix_socket, method, url, timeout);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_stream);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  auto rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && sink.stopped)
      || (rc == CURLE_OPERATION_TIMEDOUT && status != 0))
    return status;
  auto where = impl_->unix_socket.empty() ? url : impl_->unix_socket;
  if (rc == CURLE_COULDNT_CONNECT)
    return make_error(ec::docker_unreachable, "cannot connect to " + where);
  if (rc == CURLE_OPERATION_TIMEDOUT)
    return make_error(ec::timeout, "no answer from " + where);
  return make_error(ec::docker_failure, "stream from " + where + " failed: "
                                          + curl_easy_strerror(rc));
}

} // namespace sb::docker
