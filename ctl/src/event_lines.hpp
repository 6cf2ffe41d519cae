#pragma once

// One line per event, as `events` prints them (docs/cli.md, "events").

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "processpype/ctl/table.hpp"

namespace processpype::ctl {

/// The headings of an events table: TIME NODE SERVICE STATE CAUSE ERROR.
Table events_table();

/// Adds `event` (a record of docs/supervision.md, "Events") to `table`.
void add_event_row(Table& table, const nlohmann::json& event);

/// `event` as one line in the columns of events_table(), for a stream
/// (padded to fixed widths: later lines are not known yet). No '\n'.
std::string event_line(const nlohmann::json& event, bool colour);

/// The line of a stream's `event: gap` for `node` ("" when the stream is
/// one node's: the node at the URL or --node): events were lost.
std::string gap_line(std::string_view node, const nlohmann::json& gap, bool colour);

/// The line of an `event: node_down`.
std::string node_down_line(std::string_view node, bool colour);

}  // namespace processpype::ctl
