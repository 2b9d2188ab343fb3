# shellcheck shell=bash disable=SC2154,SC2034
# (SC2034: the variables set here are read by bin/sc-chat.)
# sc-chat's continuity of a chat with a pre-shared key across reconnects (sc-chat(1), Connection
# drops and reconnecting), sourced by bin/sc-chat: it uses its session_dir, mode, host, port,
# peer, on_terminal, accept_unverified, status, fail, drop_connection and start_connection.
# A chat with an identity needs none of it (credentials.bash): settle_continuity says so.

# Continuity (docs/PROTOCOL.md §4.7). Both descriptors hold unlinked files on the private
# directory's file system (never a name on disk after the handshake that made them), opened on
# /dev/null while there is none, so that every child can be made to close them.
#   anchor_fd      the continuation file of the session the user verified (the first one, or
#                  one confirmed with /confirm): every reconnect must continue it
#   candidate_fd   the continuation file of an unverified session, until /confirm
# verified         whether the current session may be sent the user's lines
# continue_next    whether the next handshake asks to continue the anchor (an initiator whose
#                  continuation was refused tries once more as a new, unverified session)
has_anchor=false
verified=true
continue_next=true
exec {anchor_fd}</dev/null {candidate_fd}</dev/null

# keep_continuation VARIABLE FILE: the descriptor in VARIABLE now holds FILE, which is unlinked.
keep_continuation() {
  local fd=${!1}
  exec {fd}<&-
  exec {fd}<"$2" || exit 2
  rm -f "$2"
  printf -v "$1" '%s' "$fd"
}

# The unverified session was confirmed by the user (or is accepted by --accept-unverified): its
# continuation becomes the anchor.
adopt_candidate() {
  exec {anchor_fd}<&-
  anchor_fd=$candidate_fd
  exec {candidate_fd}</dev/null
  has_anchor=true
  verified=true
  continue_next=true
}

# settle_continuity PEER_ADDRESS, after a handshake that succeeded: a first session becomes the
# anchor; a reconnect either proved that it continues the anchor (verified), or is a new session
# that the user must /confirm. Returns 1 when the session was refused (a script's).
settle_continuity() {
  verified=true
  if [ -n "$identity" ]; then
    return 0 # the peer proved the key pinned for it: the same peer as before, whatever happened
  elif ! $has_anchor; then
    keep_continuation anchor_fd "$session_dir/continuation"
    has_anchor=true
  elif grep -q '^sc-handshake: continues session ' "$session_dir/handshake.err"; then
    rm -f "$session_dir/continuation" # the anchor stays that of the session the user verified
  else
    keep_continuation candidate_fd "$session_dir/continuation"
    if $accept_unverified; then
      adopt_candidate
    elif $on_terminal; then
      verified=false
    else
      drop_connection
      if [ "$mode" != listen ]; then
        fail 1 "$host port $port authenticated as $peer but does not continue the session you verified: not connected" \
          "a peer that restarted cannot continue the session: --accept-unverified accepts it"
      fi
      status "refused a connection from ${1:-somewhere} as $peer: it does not continue the session you verified (--accept-unverified accepts it)"
      start_connection
      return 1
    fi
  fi
}
