#pragma once

// Every atom of the wire protocol and of the internal messages, in one place.
// CAF 0.17 atoms are at most 10 characters; the same text is the same type.

#include <caf/atom.hpp>

namespace sb {

#define SB_ATOM(name, text) using name = caf::atom_constant<caf::atom(text)>

// -- CAF's own atoms, re-exported ---------------------------------------------
using caf::add_atom;
using caf::delete_atom;
using caf::get_atom;
using caf::ok_atom;
using caf::put_atom;
using caf::tick_atom;

// -- front door: client requests ----------------------------------------------
SB_ATOM(ping_atom, "ping");
SB_ATOM(status_atom, "status");
SB_ATOM(report_atom, "report");
SB_ATOM(sub_add_atom, "sub_add");
SB_ATOM(sub_list_atom, "sub_list");
SB_ATOM(sub_rm_atom, "sub_rm");
SB_ATOM(agent_add_atom, "agent_add");
SB_ATOM(agent_ls_atom, "agent_ls");
SB_ATOM(agent_get_atom, "agent_get");
SB_ATOM(agent_rm_atom, "agent_rm");
SB_ATOM(agent_set_atom, "agent_set");
SB_ATOM(assign_atom, "assign");
SB_ATOM(lifecycle_atom, "lifecycle");
SB_ATOM(settings_atom, "settings");
SB_ATOM(setting_atom, "setting");
SB_ATOM(events_atom, "events");
SB_ATOM(history_atom, "history");
SB_ATOM(notes_atom, "notes");
SB_ATOM(watch_atom, "watch");
SB_ATOM(backup_atom, "backup");
SB_ATOM(observe_atom, "observe");

// -- internal messages
// ----------------------------------------------------------
SB_ATOM(flush_atom, "flush");
SB_ATOM(event_atom, "event");
SB_ATOM(commit_atom, "commit");
SB_ATOM(applied_atom, "applied");
SB_ATOM(notify_atom, "notify");
SB_ATOM(retention_atom, "retention");
SB_ATOM(counts_atom, "counts");
SB_ATOM(select_atom, "select");
SB_ATOM(release_atom, "release");
SB_ATOM(failure_atom, "failure");
SB_ATOM(token_atom, "token");
SB_ATOM(join_atom, "join");
SB_ATOM(leave_atom, "leave");
SB_ATOM(rotate_atom, "rotate");
SB_ATOM(unassign_atom, "unassign");
SB_ATOM(apply_atom, "apply");
SB_ATOM(reconcile_atom, "reconcile");
SB_ATOM(shutdown_atom, "shutdown");
SB_ATOM(progress_atom, "progress");
SB_ATOM(pending_atom, "pending");
SB_ATOM(delivered_atom, "delivered");
SB_ATOM(generation_atom, "generation");
SB_ATOM(apply_wait_atom, "applywait");
SB_ATOM(evidence_atom, "evidence");
SB_ATOM(lease_atom, "lease");
SB_ATOM(owner_atom, "owner");
SB_ATOM(adopt_atom, "adopt");
SB_ATOM(advertise_atom, "advertise");
SB_ATOM(shared_atom, "shared");
SB_ATOM(sub_state_atom, "substate");
SB_ATOM(sub_set_atom, "subset");
SB_ATOM(move_atom, "move");
SB_ATOM(refresh_atom, "refresh");
SB_ATOM(sink_add_atom, "sink_add");
SB_ATOM(sink_rm_atom, "sink_rm");
SB_ATOM(sink_list_atom, "sink_list");
SB_ATOM(delivery_atom, "delivery");
SB_ATOM(sink_show_atom, "sink_show");
SB_ATOM(sink_test_atom, "sink_test");

#undef SB_ATOM

} // namespace sb
