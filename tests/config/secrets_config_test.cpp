// docs/secrets.md: the `secrets` section of the application file, its
// backends' formats (dotenv edge cases, a YAML file with ${VAR}, prefixes,
// globs), the resolution of ${secret:...} references in the file and their
// refusals, which name the reference and never a value.
#include <cstdlib>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "processpype/config/application_config.hpp"
#include "processpype/config/secrets.hpp"
#include "processpype/config/validation.hpp"
#include "processpype/testing/process.hpp"

#include "config_read.hpp"

using nlohmann::json;
using processpype::ApplicationConfig;
using processpype::testing::TempDirectory;

namespace {

using config_tests::Read;
using config_tests::read;

/// A file whose `secrets` section has one backend, `name`, of `type` on `path`.
std::string with_backend(const std::string& name, const std::string& type, const std::string& path,
                         const std::string& rest, const std::string& extra = "") {
  return "secrets:\n  backends:\n    " + name + ": {type: " + type +
         (path.empty() ? "" : ", path: '" + path + "'") + extra + "}\n" + rest;
}

const json& configuration_of(const ApplicationConfig& config, const std::string& name) {
  for (const auto& instance : config.services)
    if (instance.name == name) return instance.configuration;
  FAIL("no instance " << name);
  static const json none;
  return none;
}

}  // namespace

// -- dotenv ---------------------------------------------------------------------------

TEST_CASE("dotenv: export, quotes, comments, blank lines, '=' in values, empty values") {
  auto values = processpype::parse_dotenv(
      "# a comment\n"
      "\n"
      "   \n"
      "PLAIN=value\n"
      "export EXPORTED=yes\n"
      "export\tTABBED=too\n"
      "  SPACED  =  padded  \n"
      "DOUBLE=\"a b # not a comment\"\n"
      "SINGLE='it''s \\n raw'\n"
      "ESCAPES=\"line1\\nline2\\ttab \\\"q\\\" back\\\\slash \\x\"\n"
      "EQUALS=a=b=c\n"
      "EMPTY=\n"
      "EMPTY_QUOTED=\"\"\n"
      "INLINE=value # kept: no inline comments\n"
      "UNBALANCED=\"open\n"
      "CRLF=windows\r\n"
      "PLAIN=last one wins\n"
      "exported_lower=ok");
  CHECK(values.at("PLAIN") == "last one wins");
  CHECK(values.at("EXPORTED") == "yes");
  CHECK(values.at("TABBED") == "too");
  CHECK(values.at("SPACED") == "padded");
  CHECK(values.at("DOUBLE") == "a b # not a comment");
  CHECK(values.at("SINGLE") == "it''s \\n raw");
  CHECK(values.at("ESCAPES") == "line1\nline2\ttab \"q\" back\\slash \\x");
  CHECK(values.at("EQUALS") == "a=b=c");
  CHECK(values.at("EMPTY").empty());
  CHECK(values.at("EMPTY_QUOTED").empty());
  CHECK(values.at("INLINE") == "value # kept: no inline comments");
  CHECK(values.at("UNBALANCED") == "\"open");
  CHECK(values.at("CRLF") == "windows");
  CHECK(values.at("exported_lower") == "ok");
  CHECK(values.size() == 14);
}

TEST_CASE("dotenv: a line without '=' or with a spaced key is refused by number, not text") {
  auto text = GENERATE(as<std::string>{}, "A=1\nsecret-without-equals\n", "A=1\nTWO WORDS=x\n",
                       "A=1\n=no key\n");
  try {
    processpype::parse_dotenv(text);
    FAIL("accepted");
  } catch (const std::runtime_error& error) {
    std::string message = error.what();
    CHECK(message.find("line 2") != std::string::npos);
    CHECK(message.find("secret-without") == std::string::npos);
    CHECK(message.find("no key") == std::string::npos);
  }
}

// -- the YAML file backend -------------------------------------------------------------

TEST_CASE("file backend: scalars as written, ${VAR} replaced, empty values, nested refused") {
  ::setenv("PROCESSPYPE_SECRET_FILE_TEST", "from-env", 1);
  auto values = processpype::parse_secrets_yaml(
      "db_password: ${PROCESSPYPE_SECRET_FILE_TEST}\n"
      "with_default: ${PROCESSPYPE_SECRET_UNSET_VARIABLE:-fallback}\n"
      "pin: 0123456\n"
      "ratio: 1e3\n"
      "quoted: 'x: y'\n"
      "empty:\n"
      "flag: true\n"
      "kept: ${secret:other:key}\n");
  ::unsetenv("PROCESSPYPE_SECRET_FILE_TEST");
  CHECK(values.at("db_password") == "from-env");
  CHECK(values.at("with_default") == "fallback");
  CHECK(values.at("pin") == "0123456");  // the text, not a number
  CHECK(values.at("ratio") == "1e3");
  CHECK(values.at("quoted") == "x: y");
  CHECK(values.at("empty").empty());
  CHECK(values.at("flag") == "true");
  CHECK(values.at("kept") == "${secret:other:key}");  // never resolved inside a backend

  CHECK_THROWS_WITH(processpype::parse_secrets_yaml("db:\n  password: hunter22\n"),
                    Catch::Contains("'db' must be text"));
  CHECK_THROWS_WITH(processpype::parse_secrets_yaml("a: ${PROCESSPYPE_SECRET_UNSET_VARIABLE}\n"),
                    Catch::Contains("PROCESSPYPE_SECRET_UNSET_VARIABLE is not set"));
  CHECK_THROWS_WITH(processpype::parse_secrets_yaml("- a\n- b\n"),
                    Catch::Contains("must be a mapping"));
}

// -- references in the application file -------------------------------------------------

TEST_CASE("references resolve in every section, a whole-reference scalar stays a string") {
  TempDirectory directory;
  auto dotenv = directory.write(".env", "PIN=123456\nTOKEN=admin-secret\nHOST=127.0.0.1\n");
  auto file = read(with_backend("dot", "dotenv", dotenv, R"(
app:
  title: "App ${secret:dot:HOST}"
server:
  host: ${secret:dot:HOST}
  auth:
    admin_token: ${secret:dot:TOKEN}
services:
  echo:
    prefix: ${secret:dot:PIN}
)"));
  INFO(file.errors.size());
  CHECK(file.errors.empty());
  CHECK(file.config.app.title == "App 127.0.0.1");
  CHECK(file.config.server.http.host == "127.0.0.1");
  CHECK(file.config.server.auth.admin_token == std::optional<std::string>{"admin-secret"});
  // echo's prefix is not a secret field: resolved now, a string, and warned about.
  CHECK(configuration_of(file.config, "echo")["prefix"] == "123456");
  CHECK(file.mentions("services.echo.prefix: holds a secret reference but is not a secret field"));
}

TEST_CASE("a secret field of an instance keeps its reference, other fields resolve") {
  TempDirectory directory;
  ::setenv("PROCESSPYPE_SECRET_FILE_PART", "from-env", 1);
  auto secrets =
      directory.write("secrets.yaml", "store_password: ${PROCESSPYPE_SECRET_FILE_PART}-pw\n");
  auto file = read(with_backend("vault", "file", secrets, R"(
services:
  store:
    capacity: 3
    password: ${secret:vault:store_password}
)"));
  CHECK(file.errors.empty());
  CHECK(configuration_of(file.config, "store")["password"] == "${secret:vault:store_password}");
  REQUIRE(file.config.secret_backends);
  CHECK(file.config.secret_backends->find("vault", "store_password") ==
        std::optional<std::string>{"from-env-pw"});
  CHECK(file.warnings.empty());
  ::unsetenv("PROCESSPYPE_SECRET_FILE_PART");
}

TEST_CASE("prefixes apply to every backend type") {
  TempDirectory directory;
  auto dotenv = directory.write(".env", "PROD_PIN=1\nPIN=2\n");
  auto yaml = directory.write("s.yaml", "PROD_PIN: '3'\nPIN: '4'\n");
  ::setenv("PROCESSPYPE_PREFIXED_PIN", "5", 1);
  auto file = read(R"(
secrets:
  backends:
    dot: {type: dotenv, path: ')" +
                   dotenv + R"(', prefix: PROD_}
    yaml: {type: file, path: ')" +
                   yaml + R"(', prefix: PROD_}
    env: {type: env, prefix: PROCESSPYPE_PREFIXED_}
app:
  title: "${secret:dot:PIN} ${secret:yaml:PIN} ${secret:env:PIN}"
)");
  ::unsetenv("PROCESSPYPE_PREFIXED_PIN");
  CHECK(file.errors.empty());
  CHECK(file.config.app.title == "1 3 5");
}

TEST_CASE("a missing secret, backend or malformed reference is an error naming it, not a value") {
  TempDirectory directory;
  auto dotenv = directory.write(".env", "PRESENT=the-value-itself\n");
  struct Case {
    std::string reference;
    std::string expected;
  };
  for (const auto& [reference, expected] : std::vector<Case>{
           {"${secret:dot:ABSENT}", "app.title: secret ${secret:dot:ABSENT} not found"},
           {"${secret:nowhere:PRESENT}", "no secrets backend named 'nowhere'"},
           {"${secret:dot}", "malformed secret reference '${secret:dot}'"},
       }) {
    auto file = read(with_backend("dot", "dotenv", dotenv, "app: {title: '" + reference + "'}\n"));
    INFO(reference);
    REQUIRE(file.errors.size() == 1);
    CHECK(file.errors[0].find(expected) != std::string::npos);
    CHECK(file.errors[0].find("the-value-itself") == std::string::npos);
  }
  // The same in a secret field of an instance, checked though kept.
  auto file = read(with_backend("dot", "dotenv", dotenv,
                                "services:\n  store: {capacity: 1, password: "
                                "'${secret:dot:ABSENT}'}\n"));
  REQUIRE(file.errors.size() == 1);
  CHECK(file.errors[0].find("services.store.password: secret ${secret:dot:ABSENT} not found") !=
        std::string::npos);
}

TEST_CASE("a reference in type or depends_on or nodes is refused quoting it and never resolved") {
  // Lists, statuses and "unknown service type '...'" quote these keys.
  TempDirectory directory;
  auto dotenv = directory.write(".env", "STORE_PASSWORD=rotated-pass-2\n");
  auto file = read(with_backend("dot", "dotenv", dotenv, R"(
services:
  a:
    type: "${secret:dot:STORE_PASSWORD}"
    depends_on: ["${secret:dot:STORE_PASSWORD}"]
  b:
    type: echo
    placement: "${secret:dot:STORE_PASSWORD}"
    nodes: ["${secret:dot:STORE_PASSWORD}"]
)"));
  INFO(file.all());
  CHECK_FALSE(file.mentions("rotated-pass-2"));
  for (const auto* key :
       {"services.a.type", "services.a.depends_on.0", "services.b.placement", "services.b.nodes.0"})
    CHECK(file.mentions(std::string{key} +
                        ": '${secret:dot:STORE_PASSWORD}': secret references cannot name"));
}

TEST_CASE("an error about a value taken from a secret shows stars instead of the value") {
  // Keys such as cluster.store or node.join may hold credentials (a URL
  // with a token): their errors quote what they hold.
  TempDirectory directory;
  auto dotenv = directory.write(
      ".env", "ETCD=etcd.internal:2379/?token=hunter22-abc\nPEER=peer-secret-9\nPIN=ab\n");
  auto file = read(with_backend("dot", "dotenv", dotenv, R"(
cluster:
  store: ["${secret:dot:ETCD}"]
node:
  join: ["${secret:dot:PEER}", "${secret:dot:PIN}"]
)"));
  INFO(file.all());
  CHECK_FALSE(file.mentions("hunter22-abc"));
  CHECK_FALSE(file.mentions("peer-secret-9"));
  CHECK(file.mentions("cluster.store: '***' must start with http:// or https://"));
  CHECK(file.mentions("node.join: '***' is not a node address"));
  // Shorter values are not searched for, as in failure texts.
  CHECK(file.mentions("node.join: 'ab' is not a node address"));
}

TEST_CASE("a secret reference is an error without a secrets section and inside it") {
  auto without = read("app: {title: '${secret:env:HOME}'}\n");
  REQUIRE(without.errors.size() == 1);
  CHECK(without.errors[0].find("no secrets backend named 'env'") != std::string::npos);

  auto inside = read(R"(
secrets:
  backends:
    dot: {type: dotenv, path: '${secret:dot:PATH}'}
)");
  CHECK(inside.mentions(
      "secrets.backends.dot.path: secret references cannot be used inside secrets"));
}

TEST_CASE("the secrets section refuses backends without a type, or with a path they cannot use") {
  auto file = read(R"(
secrets:
  backends:
    nopath: {type: file}
    wrongtype: {type: vault}
    withpath: {type: env, path: x}
app: {title: '${secret:nopath:x}'}
)");
  CHECK(file.mentions("secrets.backends.nopath: a file backend needs a path"));
  CHECK(file.mentions("secrets.backends.wrongtype.type: must be one of env, file, dotenv"));
  CHECK(file.mentions("secrets.backends.withpath: an env backend has no path"));
  CHECK(file.errors.size() == 3);  // nothing resolves before the section is right
}

TEST_CASE("an unreadable backend and bad load entries are errors, an empty glob a warning") {
  TempDirectory directory;
  auto dotenv = directory.write(".env", "API_ONE=1\nAPI_TWO=2\nDB=3\n");
  auto absent = (directory.path() / "absent.env").string();
  auto file = read(R"(
secrets:
  backends:
    dot: {type: dotenv, path: ')" +
                   dotenv + R"('}
    missing: {type: dotenv, path: ')" +
                   absent + R"('}
    device: {type: file, path: /dev/zero}
  load: ["dot:API_*", "dot:NOTHING_*", "nocolon", "ghost:*", "missing:*"]
)");
  CHECK(file.mentions("secrets.backends.missing: " + absent + ": cannot read the file"));
  CHECK(file.mentions("secrets.load.2: 'nocolon' is not backend:glob"));
  CHECK(file.mentions("secrets.load.3: 'ghost:*': no secrets backend named 'ghost'"));
  CHECK(file.mentions("secrets.backends.device: /dev/zero: is not a regular file"));
  CHECK(file.errors.size() == 4);  // missing:* is said by its backend's own error
  CHECK(file.warnings ==
        std::vector<std::string>{"secrets.load.1: 'dot:NOTHING_*' matches no secret"});
}

TEST_CASE("secrets.load preloads the keys its globs match") {
  TempDirectory directory;
  auto dotenv = directory.write(".env", "API_ONE=1\nAPI_TWO=2\nDB=3\n");
  auto file = read(with_backend("dot", "dotenv", dotenv, "", ", prefix: API_") +
                   "  load: ['dot:*', 'dot:T*']\n");
  CHECK(file.errors.empty());
  REQUIRE(file.config.secret_backends);
  CHECK(file.config.secret_backends->preloaded() == std::vector<std::string>{"dot:ONE", "dot:TWO"});
  CHECK(processpype::unmatched_preloads(file.config.secrets, *file.config.secret_backends).empty());
}

TEST_CASE("ProcessPype's secrets keys enabled and cache_enabled are accepted") {
  auto file = read(
      "secrets:\n  enabled: true\n  cache_enabled: false\n  backends:\n"
      "    env: {type: env}\n  load: ['env:HOME']\n");
  CHECK(file.errors.empty());
  auto disabled = read(
      "secrets:\n  enabled: false\n  backends:\n    env: {type: env}\n"
      "app: {title: '${secret:env:HOME}'}\n");
  CHECK(disabled.mentions("no secrets backend named 'env'"));
}

TEST_CASE("the file's JSON Schema describes the secrets section") {
  auto schema = processpype::application_config_schema();
  auto secrets = schema["properties"]["secrets"];
  CHECK(secrets["properties"].contains("load"));
  auto backend = secrets["properties"]["backends"]["additionalProperties"];
  CHECK(backend["properties"]["type"]["enum"] == json{"env", "file", "dotenv"});
  CHECK(backend["additionalProperties"] == false);
  auto store = schema["properties"]["services"]["additionalProperties"]["allOf"];
  bool masked = false;
  for (const auto& branch : store)
    if (branch["then"]["properties"].contains("password"))
      masked = branch["then"]["properties"]["password"]["x-processpype-secret"] == true;
  CHECK(masked);
}
