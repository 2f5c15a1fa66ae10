// agent-server: the reference agent server of Switchboard.
//
// This small HTTP server runs inside an agent's Docker container. It is what
// Switchboard talks to when it applies a new subscription token to a running
// agent ("hot reload"), and it doubles as the documentation of that contract:
// an agent image that implements the endpoints below the same way can be
// managed by Switchboard without being recreated.
//
// THE CONTRACT
//
//   GET  /health
//        200 {"status":"ok"}
//        Liveness. Switchboard polls it after (re)creating a container.
//
//   POST /api/credentials/reload-token
//        body {"token": "<oauth token>", "remove_api_key": true|false,
//              "generation": N (optional),
//              "expires_at": ms since the epoch (optional, 0 = unknown),
//              "scopes": ["user:inference", ...] (optional),
//              "kind": "token" | "oauth" (optional)}
//        200 {"status":"success","reloaded":true}
//        400 {"error":"..."}  body not JSON / not an object, "token" missing,
//                             not a string or empty, "remove_api_key" present
//                             but not a boolean
//        500 {"error":"..."}  the token could not be written to disk
//        The token is first written to --token-file atomically (temporary file
//        with mode 0600 in the same directory, fsync, rename over the target,
//        so a crash leaves either the old or the new token, never a mix), then
//        becomes the current token: the next request uses it. With
//        "remove_api_key": true the variables ANTHROPIC_API_KEY and
//        ANTHROPIC_AUTH_TOKEN are removed from the process environment, so an
//        API key can no longer take precedence over the subscription token.
//        "generation" is Switchboard's generation of the agent whose token
//        this is; it is kept beside the token (file <token-file>.generation)
//        and named in every /api/task answer. --reload-delay-ms N answers
//        (and switches) only after N ms: a slow agent server, for tests.
//        "expires_at" and "scopes" are kept beside the token (file
//        <token-file>.terms) and, with --claude-credentials FILE, written with
//        the token into FILE as Claude Code's credential document:
//          {"claudeAiOauth": {"accessToken": "<token>",
//                             "expiresAt": <ms>, "scopes": [...]}}
//        exactly these three fields (never a refresh token: Switchboard alone
//        refreshes), atomically with mode 0600, so a running `claude` reads
//        the new token on its next request. A token without an expiry (a
//        setup token) gets one year from now; without scopes,
//        ["user:inference"]. The document is also written at startup.
//        With --no-reload the endpoint does not exist (404): this is how an
//        older image without hot reload looks, and Switchboard then falls back
//        to recreating the container with the new token in its environment.
//
//   GET  /api/credentials/status
//        200 {"token_sha256": "<hex>" | null, "generation": N | null,
//             "reloads": N, "api_key_present": true|false}
//        token_sha256 is the SHA-256 of the current token (null if there is
//        none), so a caller that knows the token can check which one is in
//        force without the token ever leaving the container. reloads counts
//        successful reloads since start. api_key_present is true when
//        ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN is set and non-empty.
//
//   POST /api/task
//        A stand-in for "a request on the agent" (the body is ignored):
//        401 {"error":"not authenticated"}                  no token
//        429 {"error":"rate limit reached for this subscription"}
//            the current token is an exact line of --exhausted-file (trailing
//            spaces, tabs and \r are ignored; the file is re-read on every
//            request; a missing file means no token is exhausted)
//        200 {"status":"ok","token_sha256":"<hex>"}
//        Every answer with a token carries the headers
//          X-Switchboard-Token-Sha256: <hex of the token this request used>
//          X-Switchboard-Generation: N    (when the generation is known)
//        so the caller can tell Switchboard which credential failed:
//          switchboard report AGENT --status 429 --token-sha256 <hex>
//        Tests use it to simulate a subscription that hit its usage limit.
//
//   Any other path answers 404 {"error":"not found"}.
//
// STARTUP TOKEN
//   The content of --token-file if that file exists and is not empty (trailing
//   whitespace, e.g. a final newline, is ignored), else the value of the
//   environment variable named by --token-env (which may be unset or empty:
//   then there is no token until the first reload). The file wins because it
//   holds the most recent reload, which must survive a container restart,
//   while the environment holds the token the container was created with.
//   The generation comes from the same place: <token-file>.generation, else
//   the variable SWITCHBOARD_GENERATION; the expiry and scopes from
//   <token-file>.terms, else SWITCHBOARD_TOKEN_EXPIRES_AT (ms) and
//   SWITCHBOARD_TOKEN_SCOPES (separated by spaces).
//
// SECRECY
//   The token is never returned, never logged and never part of an error
//   message; only its SHA-256 is. Each request is logged as one line on
//   stderr: time, method, path, status.
//
// SIGNALS
//   SIGTERM and SIGINT stop the server and exit with status 0 promptly, so
//   `docker stop` is fast, whether the server is PID 1 or runs under an init
//   (`docker run --init`).
//
// OPTIONS
//   --host HOST            address to listen on (default 127.0.0.1; beyond
//                          loopback only with a secret)
//   --secret-file PATH     the secret a reload must carry in
//                          X-Switchboard-Secret (compared in constant time;
//                          else 401). Also from SWITCHBOARD_AGENT_SECRET.
//   --port PORT            port to listen on (default 8000; 0 = any free port,
//                          the chosen one is logged)
//   --token-env NAME       variable holding the startup token
//                          (default CLAUDE_CODE_OAUTH_TOKEN)
//   --token-file PATH      where reloaded tokens are stored
//                          (default /var/lib/agent-server/oauth-token)
//   --exhausted-file PATH  tokens that answer 429 on /api/task, one per line
//                          (default /data/exhausted-tokens)
//   --claude-credentials PATH  write Claude Code's .credentials.json there
//                          (startup and every reload; see the reload)
//   --no-reload            do not offer the reload endpoint (404)
//   --reload-delay-ms N    take N ms to answer (and apply) a reload

#include "messages/sha256.hpp"

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using json = nlohmann::json;

// -- small helpers ------------------------------------------------------------

/// Logs one line on stderr, prefixed with the UTC time and the program name.
/// Callers must never pass a token.
void log_line(const std::string& text) {
  char stamp[32] = "";
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              now.time_since_epoch())
              .count()
            % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
  // One fprintf per line keeps lines of concurrent requests whole.
  std::fprintf(stderr, "%s.%03dZ agent-server: %s\n", stamp,
               static_cast<int>(ms), text.c_str());
}

/// Removes trailing spaces, tabs, \r and \n.
std::string trim_right(std::string s) {
  auto end = s.find_last_not_of(" \t\r\n");
  s.erase(end == std::string::npos ? 0 : end + 1);
  return s;
}

using sb::sha256_hex;

/// Compares two secrets in constant time: their SHA-256 digests, so neither
/// the bytes nor the length leak through timing.
bool same_secret(const std::string& given, const std::string& expected) {
  auto a = sb::sha256(given);
  auto b = sb::sha256(expected);
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool loopback_host(const std::string& host) {
  return host == "127.0.0.1" || host == "::1" || host == "localhost"
         || host.rfind("127.", 0) == 0;
}

/// The whole content of `path`, or nothing if it cannot be opened.
std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return std::nullopt;
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

/// True if `token` is an exact line of `path` (trailing whitespace ignored).
/// A missing or unreadable file means no token is exhausted.
bool is_exhausted(const std::string& path, const std::string& token) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (trim_right(line) == token)
      return true;
  return false;
}

std::string errno_text(const char* what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

/// mkdir -p with mode 0700 for every directory it creates. The path names a
/// directory; existing components are left as they are.
void make_directories(const std::string& dir) {
  if (dir.empty())
    return;
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      throw std::runtime_error(dir + " exists and is not a directory");
    return;
  }
  auto slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0)
    make_directories(dir.substr(0, slash));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    throw std::runtime_error(errno_text("cannot create directory", errno));
}

/// Writes `content` to `path` atomically: a new temporary file in the same
/// directory (O_CREAT|O_EXCL, mode 0600, so no other user can ever read it,
/// not even briefly), write, fchmod 0600 (independent of the umask), fsync,
/// rename over `path`, fsync of the directory. Readers see either the old or
/// the new content. Throws std::runtime_error with a message that never
/// contains `content`.
void write_file_atomically(const std::string& path,
                           const std::string& content) {
  auto slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "."
                    : slash == 0               ? "/"
                                               : path.substr(0, slash);
  make_directories(dir);
  static std::atomic<unsigned> counter{0};
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    tmp = path + ".tmp." + std::to_string(::getpid()) + "."
          + std::to_string(counter++);
    fd = ::open(tmp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0 && (errno != EEXIST || attempt > 100))
      throw std::runtime_error(
        errno_text("cannot create temporary file", errno));
  }
  auto fail = [&](const char* what) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    throw std::runtime_error(errno_text(what, err));
  };
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      fail("cannot write temporary file");
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fchmod(fd, 0600) != 0)
    fail("cannot set mode of temporary file");
  if (::fsync(fd) != 0)
    fail("cannot sync temporary file");
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error(errno_text("cannot close temporary file", err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error(errno_text("cannot rename temporary file", err));
  }
  // Make the rename itself durable. A failure here is not fatal: the new
  // content is in place either way.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

// -- state --------------------------------------------------------------------

/// What a token comes with: its expiry (ms, 0 = unknown) and scopes.
struct token_terms {
  int64_t expires_at = 0;
  std::vector<std::string> scopes;
};

/// A setup token's lifetime when nobody said when it expires.
constexpr int64_t static_token_lifetime_ms = int64_t{365} * 24 * 3600 * 1000;

/// Claude Code's .credentials.json for `token`: exactly accessToken, a
/// future expiresAt and non-empty scopes (anything missing reads as "Not
/// logged in").
std::string claude_document(const std::string& token, const token_terms& t) {
  auto expires = t.expires_at;
  if (expires <= 0)
    expires = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count()
              + static_token_lifetime_ms;
  auto scopes
    = t.scopes.empty() ? std::vector<std::string>{"user:inference"} : t.scopes;
  json doc
    = {{"claudeAiOauth",
        {{"accessToken", token}, {"expiresAt", expires}, {"scopes", scopes}}}};
  return doc.dump();
}

/// The current token and the reload counter. Also guards every access to the
/// process environment (getenv/unsetenv are not thread-safe against each
/// other, and requests are served by a thread pool).
class credentials {
public:
  credentials(std::string token, std::string generation, token_terms terms,
              std::string document)
      : token_(std::move(token)), generation_(std::move(generation)),
        terms_(std::move(terms)), document_(std::move(document)) {
    if (!document_.empty() && !token_.empty())
      write_file_atomically(document_, claude_document(token_, terms_));
  }

  token_terms terms() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return terms_;
  }

  /// The current token; empty means "no token".
  std::string token() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return token_;
  }

  /// The token and Switchboard's generation of it ("" = unknown), as one.
  std::pair<std::string, std::string> current() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return {token_, generation_};
  }

  int reloads() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return reloads_;
  }

  /// Stores `token` in `file`, then makes it current. Reloads are serialized:
  /// the file and the in-memory token always agree on the last one.
  void reload(const std::string& file, const std::string& token,
              const std::string& generation, const token_terms& terms,
              bool remove_api_key) {
    std::lock_guard<std::mutex> guard{mtx_};
    // The credential document first: a crash in between leaves the old
    // token file, which startup writes into the document again.
    if (!document_.empty())
      write_file_atomically(document_, claude_document(token, terms));
    write_file_atomically(file, token);
    write_file_atomically(file + ".generation", generation);
    write_file_atomically(
      file + ".terms",
      json{{"expires_at", terms.expires_at}, {"scopes", terms.scopes}}.dump());
    token_ = token;
    generation_ = generation;
    terms_ = terms;
    ++reloads_;
    if (remove_api_key) {
      ::unsetenv("ANTHROPIC_API_KEY");
      ::unsetenv("ANTHROPIC_AUTH_TOKEN");
    }
  }

  bool api_key_present() const {
    std::lock_guard<std::mutex> guard{mtx_};
    for (const char* name : {"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"}) {
      const char* value = std::getenv(name);
      if (value != nullptr && *value != '\0')
        return true;
    }
    return false;
  }

private:
  mutable std::mutex mtx_;
  std::string token_;
  std::string generation_;
  token_terms terms_;
  /// Claude Code's credential file ("" = none).
  std::string document_;
  int reloads_ = 0;
};

/// Names the credential a request used, so its caller can tell Switchboard.
void identify(httplib::Response& res, const std::string& token,
              const std::string& generation) {
  res.set_header("X-Switchboard-Token-Sha256", sha256_hex(token));
  if (!generation.empty())
    res.set_header("X-Switchboard-Generation", generation);
}

// -- HTTP handlers ------------------------------------------------------------

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void reply_error(httplib::Response& res, int status, const std::string& msg) {
  reply(res, status, json{{"error", msg}});
}

struct options {
  std::string host = "127.0.0.1";
  std::string secret_file;
  /// The shared secret ("" = none: loopback only).
  std::string secret;
  int port = 8000;
  std::string token_env = "CLAUDE_CODE_OAUTH_TOKEN";
  std::string token_file = "/var/lib/agent-server/oauth-token";
  std::string exhausted_file = "/data/exhausted-tokens";
  bool no_reload = false;
  int reload_delay_ms = 0;
  /// Where to write Claude Code's .credentials.json ("" = nowhere).
  std::string claude_credentials;
};

/// The optional "expires_at" and "scopes" of a reload; an error text if
/// they are malformed.
std::string read_terms(const json& body, token_terms& out) {
  auto exp = body.find("expires_at");
  if (exp != body.end() && !exp->is_null()) {
    if (!exp->is_number_unsigned())
      return "expires_at must be a non-negative integer (ms)";
    out.expires_at = static_cast<int64_t>(
      std::min<uint64_t>(exp->get<uint64_t>(), 253402300799000));
  }
  auto scopes = body.find("scopes");
  if (scopes != body.end() && !scopes->is_null()) {
    if (!scopes->is_array() || scopes->size() > 32)
      return "scopes must be an array of at most 32 strings";
    for (auto& x : *scopes) {
      if (!x.is_string() || x.get<std::string>().empty()
          || x.get<std::string>().size() > 128)
        return "each scope must be a string of 1 to 128 characters";
      out.scopes.push_back(x.get<std::string>());
    }
  }
  auto kind = body.find("kind");
  if (kind != body.end() && !kind->is_null() && !kind->is_string())
    return "kind must be a string";
  return {};
}

/// Requests being served (see the pre-routing handler and the logger).
std::atomic<int> in_flight{0};
thread_local bool counted_request = false;

void install_routes(httplib::Server& svr, const options& opts,
                    credentials& creds) {
  svr.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, json{{"status", "ok"}});
  });

  if (!opts.no_reload) {
    svr.Post("/api/credentials/reload-token", [&opts, &creds](
                                                const httplib::Request& req,
                                                httplib::Response& res) {
      if (!opts.secret.empty()
          && !same_secret(req.get_header_value("X-Switchboard-Secret"),
                          opts.secret))
        return reply_error(res, 401,
                           "a reload needs the shared secret in "
                           "X-Switchboard-Secret");
      auto body = json::parse(req.body, nullptr, false);
      if (body.is_discarded() || !body.is_object())
        return reply_error(res, 400, "body must be a JSON object");
      auto tok = body.find("token");
      if (tok == body.end())
        return reply_error(res, 400, "missing field: token");
      if (!tok->is_string())
        return reply_error(res, 400, "token must be a string");
      auto token = tok->get<std::string>();
      if (token.empty())
        return reply_error(res, 400, "token must not be empty");
      bool remove_api_key = false;
      auto rak = body.find("remove_api_key");
      if (rak != body.end() && !rak->is_null()) {
        if (!rak->is_boolean())
          return reply_error(res, 400, "remove_api_key must be a boolean");
        remove_api_key = rak->get<bool>();
      }
      std::string generation;
      auto gen = body.find("generation");
      if (gen != body.end() && !gen->is_null()) {
        if (!gen->is_number_unsigned())
          return reply_error(res, 400,
                             "generation must be a non-negative integer");
        generation = std::to_string(gen->get<uint64_t>());
      }
      token_terms terms;
      if (auto bad = read_terms(body, terms); !bad.empty())
        return reply_error(res, 400, bad);
      if (opts.reload_delay_ms > 0)
        std::this_thread::sleep_for(
          std::chrono::milliseconds(opts.reload_delay_ms));
      try {
        creds.reload(opts.token_file, token, generation, terms, remove_api_key);
      } catch (const std::exception& e) {
        // The message names the failing step, never the token.
        log_line(std::string("reload failed: ") + e.what());
        return reply_error(res, 500,
                           std::string("cannot store token: ") + e.what());
      }
      log_line("token reloaded (sha256 " + sha256_hex(token) + ")");
      reply(res, 200, json{{"status", "success"}, {"reloaded", true}});
    });
  }

  svr.Get("/api/credentials/status", [&creds](const httplib::Request&,
                                              httplib::Response& res) {
    auto [token, generation] = creds.current();
    json body;
    body["token_sha256"]
      = token.empty() ? json(nullptr) : json(sha256_hex(token));
    body["generation"]
      = generation.empty() ? json(nullptr) : json(std::stoull(generation));
    body["reloads"] = creds.reloads();
    body["api_key_present"] = creds.api_key_present();
    auto terms = creds.terms();
    body["expires_at"]
      = terms.expires_at > 0 ? json(terms.expires_at) : json(nullptr);
    body["scopes"] = terms.scopes;
    reply(res, 200, body);
  });

  // Registered with a content reader so that the (ignored) body is only read
  // when the request announces one: cpp-httplib 0.11 would otherwise wait for
  // the connection to close on a POST without Content-Length (`curl -X POST`)
  // and answer 400 after its read timeout.
  svr.Post("/api/task", [&opts, &creds](const httplib::Request& req,
                                        httplib::Response& res,
                                        const httplib::ContentReader& reader) {
    if (req.has_header("Content-Length")
        || req.get_header_value("Transfer-Encoding") == "chunked")
      reader([](const char*, size_t) { return true; });
    auto [token, generation] = creds.current();
    if (token.empty())
      return reply_error(res, 401, "not authenticated");
    identify(res, token, generation);
    if (is_exhausted(opts.exhausted_file, token))
      return reply_error(res, 429, "rate limit reached for this subscription");
    reply(res, 200,
          json{{"status", "ok"}, {"token_sha256", sha256_hex(token)}});
  });

  // Unknown paths (and the reload endpoint under --no-reload) get a JSON 404.
  // The error handler runs for every status >= 400, so it only fills in a body
  // when the route did not set one.
  svr.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty())
      return;
    reply_error(res, res.status,
                res.status == 404   ? "not found"
                : res.status == 413 ? "request body too large"
                                    : "HTTP " + std::to_string(res.status));
  });
  svr.set_exception_handler(
    [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "internal error";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      log_line("handler failed: " + what);
      reply_error(res, 500, what);
    });
  // Requests between routing and the end of their response are counted, so
  // that shutdown knows when no request is in flight. The same worker thread
  // runs the pre-routing handler and the logger of a request; the flag skips
  // responses that were never routed (a malformed request line).
  svr.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
    counted_request = true;
    ++in_flight;
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // One line per request: method, path (no query, no body), status.
  svr.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    log_line(req.method + " " + req.path + " " + std::to_string(res.status));
    if (counted_request) {
      counted_request = false;
      --in_flight;
    }
  });
}

/// The generation of the startup token: beside the token file if the token
/// came from there, else SWITCHBOARD_GENERATION ("" = unknown).
std::string startup_generation(const options& opts, bool from_file) {
  std::string text;
  if (from_file) {
    if (auto content = read_file(opts.token_file + ".generation"))
      text = trim_right(*content);
  } else if (const char* value = std::getenv("SWITCHBOARD_GENERATION")) {
    text = value;
  }
  bool digits = !text.empty() && text.size() < 20
                && text.find_first_not_of("0123456789") == std::string::npos;
  return digits ? text : std::string{};
}

/// The expiry and scopes of the startup token: beside the token file if the
/// token came from there, else from the environment.
token_terms startup_terms(const options& opts, bool from_file) {
  token_terms t;
  if (from_file) {
    if (auto content = read_file(opts.token_file + ".terms")) {
      auto doc = json::parse(*content, nullptr, false);
      if (doc.is_object())
        read_terms(doc, t);
    }
    return t;
  }
  if (const char* value = std::getenv("SWITCHBOARD_TOKEN_EXPIRES_AT"))
    t.expires_at = std::strtoll(value, nullptr, 10);
  if (const char* value = std::getenv("SWITCHBOARD_TOKEN_SCOPES")) {
    std::istringstream words{value};
    for (std::string w; words >> w;)
      t.scopes.push_back(w);
  }
  return t;
}

/// The startup token: the token file if it exists and is non-empty, else the
/// environment variable `env_name`. Sets `source` to where it came from.
std::string startup_token(const options& opts, std::string& source) {
  if (auto content = read_file(opts.token_file)) {
    auto token = trim_right(*content);
    if (!token.empty()) {
      source = "file " + opts.token_file;
      return token;
    }
  }
  if (const char* value = std::getenv(opts.token_env.c_str());
      value != nullptr && *value != '\0') {
    source = "environment variable " + opts.token_env;
    return value;
  }
  source = "none";
  return {};
}

extern "C" void ignore_signal(int) {
  // Never runs in practice: the signals are blocked in every thread and
  // consumed by sigwait(). Having a handler (instead of SIG_DFL) guarantees
  // that the kernel delivers SIGTERM even when this process is PID 1 of its
  // container, where signals left at SIG_DFL are dropped.
}

} // namespace

int main(int argc, char** argv) {
  options opts;
  CLI::App app{"Reference agent server of Switchboard: health, token hot "
               "reload, credential status and a simulated task endpoint."};
  app.add_option("--host", opts.host, "Address to listen on")
    ->capture_default_str();
  app.add_option("--port", opts.port, "Port to listen on (0 = any free port)")
    ->capture_default_str()
    ->check(CLI::Range(0, 65535));
  app
    .add_option("--token-env", opts.token_env,
                "Environment variable holding the startup token")
    ->capture_default_str();
  app
    .add_option("--token-file", opts.token_file,
                "File where reloaded tokens are stored (mode 0600)")
    ->capture_default_str();
  app
    .add_option("--exhausted-file", opts.exhausted_file,
                "Tokens that answer 429 on /api/task, one per line")
    ->capture_default_str();
  app.add_option("--claude-credentials", opts.claude_credentials,
                 "Write Claude Code's .credentials.json here (mode 0600) at "
                 "startup and on every reload");
  app.add_flag("--no-reload", opts.no_reload,
               "Do not offer POST /api/credentials/reload-token (404)");
  app.add_option("--secret-file", opts.secret_file,
                 "File with the secret a reload must carry in "
                 "X-Switchboard-Secret (or SWITCHBOARD_AGENT_SECRET)");
  app
    .add_option("--reload-delay-ms", opts.reload_delay_ms,
                "Take this long to answer (and apply) a reload")
    ->check(CLI::Range(0, 600000));
  CLI11_PARSE(app, argc, argv);
  if (!opts.secret_file.empty()) {
    auto text = read_file(opts.secret_file);
    if (!text) {
      log_line("cannot read the secret file " + opts.secret_file);
      return 2;
    }
    opts.secret = trim_right(*text);
  } else if (auto* env = std::getenv("SWITCHBOARD_AGENT_SECRET")) {
    opts.secret = trim_right(env);
  }
  if (!opts.no_reload && opts.secret.empty() && !loopback_host(opts.host)) {
    log_line("refusing to offer the reload endpoint on " + opts.host
             + " without a secret (--secret-file or SWITCHBOARD_AGENT_SECRET)");
    return 2;
  }

  // Block SIGTERM and SIGINT before any thread exists, so every thread
  // (including httplib's pool) inherits the mask and only sigwait() below
  // sees them.
  struct sigaction sa {};
  sa.sa_handler = ignore_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::string source;
  auto token = startup_token(opts, source);
  bool from_file = source.rfind("file", 0) == 0;
  std::optional<credentials> made;
  try {
    made.emplace(token, startup_generation(opts, from_file),
                 startup_terms(opts, from_file), opts.claude_credentials);
  } catch (const std::exception& e) {
    log_line(std::string("cannot write the credential document: ") + e.what());
    return 1;
  }
  auto& creds = *made;
  log_line("startup token: " + source);

  httplib::Server svr;
  svr.set_payload_max_length(64 * 1024);
  // Idle keep-alive connections hold a worker for at most this long; it also
  // bounds how long shutdown can wait for them.
  svr.set_keep_alive_timeout(1);
  // cpp-httplib's default sets SO_REUSEPORT, which lets a second server bind
  // the same port and silently share the connections (a stale agent-server on
  // a host-network container would answer half the requests). SO_REUSEADDR
  // alone allows a quick restart but makes a busy port an error.
  svr.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  install_routes(svr, opts, creds);

  int port = opts.port;
  if (port == 0) {
    port = svr.bind_to_any_port(opts.host);
    if (port < 0) {
      log_line("cannot listen on " + opts.host + ":0");
      return 1;
    }
  } else if (!svr.bind_to_port(opts.host, port)) {
    log_line("cannot listen on " + opts.host + ":" + std::to_string(port));
    return 1;
  }
  log_line("listening on " + opts.host + ":" + std::to_string(port)
           + (opts.no_reload ? " (reload endpoint disabled)" : ""));

  // Serve on a second thread; the main thread waits for a signal. If the
  // listener stops on its own (an error), it wakes the main thread with
  // SIGTERM, which is blocked and therefore not ignored.
  std::atomic<bool> listener_done{false};
  std::atomic<bool> listener_ok{true};
  pthread_t main_thread = pthread_self();
  std::thread listener([&] {
    listener_ok = svr.listen_after_bind();
    listener_done = true;
    pthread_kill(main_thread, SIGTERM);
  });

  int sig = 0;
  sigwait(&stop_signals, &sig);
  if (!listener_done)
    log_line(std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM")
             + ", stopping");

  // stop() closes the listening socket, so no new connection is accepted; it
  // does nothing until listen_after_bind() has really started (a signal right
  // after start-up), hence the loop. The listener itself returns only once
  // every worker is idle, and a worker holding an idle keep-alive connection
  // waits for the keep-alive timeout; so exit as soon as no request is in
  // flight (the kernel closes idle connections), and after 2 s at the latest:
  // a prompt exit matters more than a slow client.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  bool stopped_listening = false;
  while (!listener_done) {
    if (!stopped_listening) {
      // Only once, and only while running (cpp-httplib asserts that the
      // listening socket is still open).
      if (svr.is_running()) {
        svr.stop();
        stopped_listening = true;
      }
    } else if (in_flight.load() <= 0) {
      log_line("stopped");
      std::fflush(stderr);
      std::_Exit(0);
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      log_line("forced exit after 2 s");
      std::fflush(stderr);
      std::_Exit(0);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  listener.join();
  if (!listener_ok) {
    log_line("listener failed");
    return 1;
  }
  log_line("stopped");
  return 0;
}
