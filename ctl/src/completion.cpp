#include "completion.hpp"

#include <map>
#include <set>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

namespace processpype::ctl {

namespace {

/// The states an instance can be in (docs/rest-api.md): `list --state`.
constexpr const char* states = "initialized configured starting running stopping stopped error";

/// Options whose value says where requests go: passed on to the queries the
/// script makes for names and ids.
const std::set<std::string> connection_options = {"--url", "--node", "--token-file", "--ca-file"};

struct OptionFacts {
  std::vector<std::string> names;  ///< "--state", "-q"
  bool takes_value = false;
  std::string kind;  ///< the type name: what its value is
};

struct CommandFacts {
  std::string name;
  std::vector<OptionFacts> options;
  std::vector<std::string> arguments;  ///< the kinds of its positional arguments
  bool last_repeats = false;
};

/// What an option's value is: its type name ("STATE"), without what CLI11
/// appends for its checks ("STATE:{initialized,...}").
std::string kind_of(const CLI::Option& option) {
  auto name = option.get_type_name();
  return name.substr(0, name.find(':'));
}

std::vector<OptionFacts> options_of(const CLI::App& app) {
  std::vector<OptionFacts> facts;
  for (const auto* option : app.get_options()) {
    if (!option->nonpositional()) continue;
    OptionFacts fact;
    for (const auto& name : option->get_lnames()) fact.names.push_back("--" + name);
    for (const auto& name : option->get_snames()) fact.names.push_back("-" + name);
    fact.takes_value = option->get_expected_max() > 0;  // flags expect none
    if (fact.takes_value) fact.kind = kind_of(*option);
    facts.push_back(std::move(fact));
  }
  return facts;
}

CommandFacts command_of(const CLI::App& app) {
  CommandFacts facts{app.get_name(), options_of(app), {}, false};
  for (const auto* option : app.get_options()) {
    if (option->nonpositional()) continue;
    facts.arguments.push_back(kind_of(*option));
    facts.last_repeats = option->get_items_expected_max() > 1;
  }
  return facts;
}

std::string joined(const std::vector<std::string>& words) {
  return fmt::format("{}", fmt::join(words, " "));
}

std::string flag_words(const std::vector<OptionFacts>& options) {
  std::vector<std::string> words;
  for (const auto& option : options)
    words.insert(words.end(), option.names.begin(), option.names.end());
  return joined(words);
}

/// The shell command that completes a value of `kind` ("" when nothing is
/// known about it).
std::string completer_of(const std::string& kind) {
  if (kind == "NAME") return "_processpype_ctl_reply \"$(_processpype_ctl_query list -q)\"";
  if (kind == "ID") return "_processpype_ctl_reply \"$(_processpype_ctl_query nodes -q)\"";
  if (kind == "FILE") return "COMPREPLY=($(compgen -f -- \"$cur\"))";
  if (kind == "STATE") return fmt::format("_processpype_ctl_reply \"{}\"", states);
  if (kind == "SHELL") return "_processpype_ctl_reply bash";
  return "";
}

/// `case $prev in` arms: what follows each option that takes a value.
std::string value_cases(const std::vector<OptionFacts>& options) {
  std::map<std::string, std::set<std::string>> by_completer;
  for (const auto& option : options) {
    if (!option.takes_value) continue;
    auto completer = completer_of(option.kind);
    by_completer[completer.empty() ? "COMPREPLY=()" : completer].insert(option.names.begin(),
                                                                        option.names.end());
  }
  std::string text;
  for (const auto& [completer, names] : by_completer)
    text += fmt::format("    {}) {}; return 0 ;;\n", fmt::join(names, "|"), completer);
  return text;
}

/// `case $word in` arms of the scan over the words typed so far.
std::string scan_cases(const std::vector<OptionFacts>& options) {
  std::set<std::string> connection, valued;
  for (const auto& option : options)
    for (const auto& name : option.names) {
      if (connection_options.count(name) != 0)
        connection.insert(name);
      else if (option.takes_value)
        valued.insert(name);
    }
  std::string text;
  if (!connection.empty())
    text += fmt::format(
        "      {}) _processpype_ctl_context+=(\"$word\" \"${{words[i+1]}}\"); (( i++ )) ;;\n",
        fmt::join(connection, "|"));
  if (!valued.empty()) text += fmt::format("      {}) (( i++ )) ;;\n", fmt::join(valued, "|"));
  return text;
}

std::string command_cases(const std::vector<CommandFacts>& commands) {
  std::string text;
  for (const auto& command : commands) {
    text += fmt::format("    {})\n", command.name);
    if (command.arguments.empty()) {
      text += "      return 0 ;;\n";
      continue;
    }
    auto last = command.arguments.size() - 1;
    text += "      index=${#arguments[@]}\n";
    if (command.last_repeats) text += fmt::format("      (( index > {0} )) && index={0}\n", last);
    text += "      case $index in\n";
    for (std::size_t index = 0; index < command.arguments.size(); ++index) {
      auto completer = completer_of(command.arguments[index]);
      text += fmt::format("        {}) {} ;;\n", index, completer.empty() ? ":" : completer);
    }
    text += "      esac ;;\n";
  }
  return text;
}

}  // namespace

std::string bash_completion(const CLI::App& ctl) {
  auto globals = options_of(ctl);
  std::vector<CommandFacts> commands;
  std::vector<std::string> command_names;
  std::vector<OptionFacts> every_option = globals;
  for (const auto* sub : ctl.get_subcommands([](const CLI::App*) { return true; })) {
    commands.push_back(command_of(*sub));
    command_names.push_back(sub->get_name());
    every_option.insert(every_option.end(), commands.back().options.begin(),
                        commands.back().options.end());
  }
  return fmt::format(
      R"(# bash completion for `processpype ctl` (docs/cli.md). Load it with
#   source <(processpype ctl completion bash)
# or save it as /etc/bash_completion.d/processpype.

# Offers the words of $1 that start with the word being completed.
_processpype_ctl_reply() {{
  COMPREPLY=($(compgen -W "$1" -- "$cur"))
  # Node ids hold ':', which bash splits words at.
  if declare -F __ltrim_colon_completions >/dev/null; then __ltrim_colon_completions "$cur"; fi
}}

# Asks the node for names to offer, with the --url, --node and --token-file
# typed so far; nothing when it does not answer within 2 s.
_processpype_ctl_query() {{
  "${{words[0]}}" ctl "${{_processpype_ctl_context[@]}}" --timeout 2 "$@" 2>/dev/null
}}

_processpype() {{
  local cur prev words cword
  if declare -F _get_comp_words_by_ref >/dev/null; then
    _get_comp_words_by_ref -n =: cur prev words cword
  else
    words=("${{COMP_WORDS[@]}}")
    cword=$COMP_CWORD
    cur=${{words[cword]}}
    prev=${{words[cword-1]}}
  fi
  COMPREPLY=()
  if (( cword == 1 )); then
    _processpype_ctl_reply ctl
    return 0
  fi
  [[ ${{words[1]}} == ctl ]] || return 0

  local command="" word i index flags
  local -a arguments=()
  _processpype_ctl_context=()
  for (( i = 2; i < cword; i++ )); do
    word=${{words[i]}}
    case $word in
{scan}      -*) ;;
      *) if [[ -z $command ]]; then command=$word; else arguments+=("$word"); fi ;;
    esac
  done

  case $prev in
{values}  esac

  local global_flags="{global_flags}"
  if [[ -z $command ]]; then
    if [[ $cur == -* ]]; then
      _processpype_ctl_reply "$global_flags"
    else
      _processpype_ctl_reply "{commands}"
    fi
    return 0
  fi

  if [[ $cur == -* ]]; then
    case $command in
{flag_cases}    esac
    _processpype_ctl_reply "$flags $global_flags"
    return 0
  fi
  case $command in
{command_cases}  esac
  return 0
}}

complete -F _processpype processpype
)",
      fmt::arg("scan", scan_cases(every_option)), fmt::arg("values", value_cases(every_option)),
      fmt::arg("global_flags", flag_words(globals)), fmt::arg("commands", joined(command_names)),
      fmt::arg("flag_cases",
               [&] {
                 std::string text;
                 for (const auto& command : commands)
                   text += fmt::format("      {}) flags=\"{}\" ;;\n", command.name,
                                       flag_words(command.options));
                 return text;
               }()),
      fmt::arg("command_cases", command_cases(commands)));
}

}  // namespace processpype::ctl
