# shellcheck shell=bash disable=SC2154
# Which keys sc-chat authenticates with (sc-chat(1), Identities and keys), sourced by bin/sc-chat:
# it uses its fail, read_peers, $mode, $key, $identity, $peer_key, $peers_file, $config_home,
# $listen_with_peers and $accept_new.
#
# An identity (sc-keygen --identity) proves a public key; a pre-shared key file proves that both
# sides hold the same secret; with both, the handshake needs both (docs/PROTOCOL.md §11).

# is_public_key TEXT: TEXT is a public key (docs/FORMATS.md §12.1), not the path of a key file.
is_public_key() { [[ ${1,,} == scpub1* ]]; }

# Whether the peers file has an entry of each kind: sets $peers_with_public_key and
# $peers_with_key_file to true or false.
count_peer_kinds() {
  local i
  peers_with_public_key=false peers_with_key_file=false
  read_peers
  for i in "${!entry_key[@]}"; do
    if is_public_key "${entry_key[$i]}"; then peers_with_public_key=true; else peers_with_key_file=true; fi
  done
}

# choose_credentials: after the command line and the peer's entry were read, sets $identity,
# $key and $listen_with_peers. In order:
#   - a peer whose entry holds a public key: your identity (-i, or the default one);
#   - -i and/or -k as given;
#   - listen without either: the peers file's entries, with the default identity if some entries
#     hold public keys and you have one, else with their key files;
#   - otherwise the default identity if you have one, else the default pre-shared key chat.key.
# The peer's key, with an identity: its entry's public key (--peer-key), the peers file's public
# keys (listen, --peers), or the key pinned for its name in known_peers.
choose_credentials() {
  local default_identity=$config_home/securechat/identity
  local default_key=$config_home/securechat/chat.key
  if [ -n "$peer_key" ]; then
    [ -n "$identity" ] || identity=$default_identity
    [ -e "$identity" ] || fail 2 "peer '$peer_label' has a public key, and you have no identity at $identity" \
      "make one with: sc-keygen --identity -o $identity (and give its public key to $peer_label)"
    return 0
  fi
  if [ "$mode" = listen ] && [ -z "$key" ] && [ -e "$peers_file" ]; then
    count_peer_kinds
    if [ -z "$identity" ] && $peers_with_public_key && [ -e "$default_identity" ]; then
      identity=$default_identity
    fi
    if [ -n "$identity" ] && $peers_with_public_key; then
      listen_with_peers=true
      return 0
    elif [ -z "$identity" ] && $peers_with_key_file; then
      listen_with_peers=true
      return 0
    elif [ -z "$identity" ] && ! $peers_with_public_key; then
      [ -e "$default_identity" ] || [ -e "$default_key" ] ||
        fail 2 "no key given, and the peers file $peers_file has no peers" \
          "add one with: sc-chat peers add PEER HOST PORT PUBKEY|KEYFILE [NAME], or give -i IDENTITY or -k KEYFILE"
    fi
  fi
  [ -n "$identity" ] || [ -n "$key" ] && return 0
  if [ -e "$default_identity" ]; then
    identity=$default_identity
  elif [ -e "$default_key" ]; then
    key=$default_key
  else
    fail 2 "no identity at $default_identity and no key file at $default_key" \
      "make an identity with: sc-keygen --identity -o $default_identity (then give its public key to your peer)"
  fi
}

# key_arguments: sets handshake_keys to sc-handshake's arguments for the keys of this attempt.
key_arguments() {
  handshake_keys=()
  if [ -z "$identity" ]; then
    if $listen_with_peers && [ -z "$key" ]; then handshake_keys=(--peers "$peers_file"); else handshake_keys=(-k "$key"); fi
    return 0
  fi
  handshake_keys=(-i "$identity")
  [ -n "$key" ] && handshake_keys+=(-k "$key")
  if [ -n "$peer_key" ]; then
    handshake_keys+=(--peer-key "$peer_key")
  elif $listen_with_peers; then
    handshake_keys+=(--peers "$peers_file")
  elif $accept_new; then
    handshake_keys+=(--accept-new)
  fi
}
