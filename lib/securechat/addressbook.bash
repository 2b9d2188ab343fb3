# shellcheck shell=bash disable=SC2154
# sc-chat's address book (sc-chat(1), The address book) and its questions on a terminal, sourced
# by bin/sc-chat: they use its fail, usage_error, $program and $peers_file.
#
# The address book (docs/FORMATS.md §10): "PEER HOST PORT KEYFILE NAME" lines after the header
# line securechat-peers-v1, where KEYFILE may also be the peer's public key (scpub1...). sc-handshake --peers parses it in full; here it is read to look a
# peer up, to list, add and remove entries, with the same rules for what each field may hold.

readonly peers_header=securechat-peers-v1
readonly label_pattern='^[A-Za-z0-9._@+][A-Za-z0-9._@+-]{0,63}$'
readonly name_pattern='^[A-Za-z0-9._@+-]{1,64}$'
readonly host_pattern='^(-|[A-Za-z0-9._][A-Za-z0-9._-]{0,252}|\[[0-9A-Fa-f:.]{2,45}\])$'
readonly port_pattern='^(-|[1-9][0-9]{0,4})$'

# A peers file holds no secret but says whom its owner talks to: like a key file, it must not
# be open to group or others.
check_peers_file() {
  local mode
  [ -e "$peers_file" ] || return 0
  [ -f "$peers_file" ] || fail 2 "peers file $peers_file is not a regular file"
  mode=$(stat -L -c %a "$peers_file") || fail 2 "cannot read peers file $peers_file"
  if (((8#$mode & 8#077) != 0)); then
    fail 2 "peers file $peers_file is open to others (mode $(printf '%04o' "$((8#$mode))"))" \
      "restrict it with: chmod 600 $peers_file"
  fi
  [ -r "$peers_file" ] || fail 2 "cannot read peers file $peers_file"
}

# Reads the entries into entry_label/host/port/key/name and entry_line (the line number),
# key files resolved as §10.2 says (relative to the directory of the peers file), public keys
# in lower case (is_public_key, credentials.bash).
entry_label=() entry_host=() entry_port=() entry_key=() entry_name=() entry_line=()
read_peers() {
  entry_label=() entry_host=() entry_port=() entry_key=() entry_name=() entry_line=()
  [ -e "$peers_file" ] || return 0
  check_peers_file
  local line number=0 fields directory where
  directory=${peers_file%/*}
  [[ $peers_file == */* ]] || directory=.
  [ -n "$directory" ] || directory=/
  while IFS= read -r line || [ -n "$line" ]; do
    number=$((number + 1))
    line=${line%$'\r'}
    where="peers file $peers_file: line $number"
    if [ "$number" -eq 1 ]; then
      [ "$line" = "$peers_header" ] || fail 2 "$where: not a SecureChat peers file (no $peers_header)"
      continue
    fi
    read -r -a fields <<<"$line"
    [ "${#fields[@]}" -eq 0 ] && continue
    [[ ${fields[0]} == \#* ]] && continue
    [ "${#fields[@]}" -eq 5 ] ||
      fail 2 "$where: ${#fields[@]} fields where 5 are needed: PEER HOST PORT KEYFILE NAME"
    [[ ${fields[0]} =~ $label_pattern ]] || fail 2 "$where: bad peer label '${fields[0]}'"
    [[ ${fields[1]} =~ $host_pattern ]] || fail 2 "$where: bad host '${fields[1]}'"
    [[ ${fields[2]} =~ $port_pattern ]] || fail 2 "$where: bad port '${fields[2]}'"
    [[ ${fields[4]} =~ $name_pattern ]] || fail 2 "$where: bad name '${fields[4]}'"
    entry_label+=("${fields[0]}")
    entry_host+=("${fields[1]}")
    entry_port+=("${fields[2]}")
    if [[ ${fields[3],,} == scpub1* ]]; then entry_key+=("${fields[3],,}")
    elif [[ ${fields[3]} == /* ]]; then entry_key+=("${fields[3]}")
    else entry_key+=("$directory/${fields[3]}"); fi
    entry_name+=("${fields[4]}")
    entry_line+=("$number")
  done <"$peers_file"
}

# find_peer LABEL: sets $found to the index of its entry; returns 1 when there is none.
find_peer() {
  local i
  for i in "${!entry_label[@]}"; do
    if [ "${entry_label[$i]}" = "$1" ]; then
      found=$i
      return 0
    fi
  done
  return 1
}

no_such_peer() { # no_such_peer LABEL [WHAT FIRST]
  local lead=${2:-}
  if [ -e "$peers_file" ]; then
    usage_error "${lead}no peer '$1' in $peers_file"
  fi
  usage_error "${lead}no peer '$1' (there is no peers file at $peers_file; sc-chat peers add adds one)"
}

list_peers() {
  read_peers
  if [ "${#entry_label[@]}" -eq 0 ]; then
    printf '%s: no peers in %s yet; add one with: sc-chat peers add PEER HOST PORT PUBKEY|KEYFILE [NAME]\n' \
      "$program" "$peers_file" >&2
    return 0
  fi
  # Columns two spaces apart, each as wide as its widest value.
  local i w1=4 w2=4 w3=4 w4=4
  for i in "${!entry_label[@]}"; do
    ((${#entry_label[$i]} > w1)) && w1=${#entry_label[$i]}
    ((${#entry_host[$i]} > w2)) && w2=${#entry_host[$i]}
    ((${#entry_port[$i]} > w3)) && w3=${#entry_port[$i]}
    ((${#entry_name[$i]} > w4)) && w4=${#entry_name[$i]}
  done
  printf '%-*s  %-*s  %-*s  %-*s  %s\n' "$w1" PEER "$w2" HOST "$w3" PORT "$w4" NAME KEY
  for i in "${!entry_label[@]}"; do
    printf '%-*s  %-*s  %-*s  %-*s  %s\n' "$w1" "${entry_label[$i]}" "$w2" "${entry_host[$i]}" \
      "$w3" "${entry_port[$i]}" "$w4" "${entry_name[$i]}" "${entry_key[$i]}"
  done
}

# The key's fingerprint; nothing when the file is not a usable pre-shared key file.
fingerprint() { sc-keygen -y "$1" 2>/dev/null; }

add_peer() { # add_peer PEER HOST PORT KEYFILE|PUBKEY [NAME]
  { [ $# -ge 4 ] && [ $# -le 5 ]; } || usage_error "peers add takes PEER HOST PORT KEYFILE|PUBKEY [NAME]"
  local label=$1 peer_host=$2 peer_port=$3 key_path=$4 peer_name=${5:-$1} print i problem
  [[ $label =~ $label_pattern ]] ||
    usage_error "a peer label is 1 to 64 letters, digits and . _ - @ +, not beginning with -"
  [[ $peer_name =~ $name_pattern ]] || usage_error "a name is 1 to 64 letters, digits and . _ - @ +"
  [[ $peer_host =~ $host_pattern ]] || usage_error "a host is -, a host name, an IPv4 address or [an IPv6 address]"
  if ! [[ $peer_port =~ $port_pattern ]] || { [ "$peer_port" != - ] && [ "$peer_port" -gt 65535 ]; }; then
    usage_error "the port is - or a number from 1 to 65535"
  fi
  if [ "$peer_host" = - ] && [ "$peer_port" != - ] || [ "$peer_host" != - ] && [ "$peer_port" = - ]; then
    usage_error "HOST and PORT are both - (a peer that only connects to you) or both given"
  fi
  command -v sc-keygen >/dev/null || fail 2 "sc-keygen not found in PATH"
  if [[ ${key_path,,} == scpub1* ]]; then
    # A public key: sc-keygen -y checks it (checksum, length, a point of low order) and prints
    # its fingerprint, to compare with the peer.
    if ! print=$(sc-keygen -y <(printf '%s\n' "$key_path") 2>&1); then
      fail 2 "$(sed -n 's/^sc-keygen: error: //p' <<<"$print" | sed 's| in /dev/fd/[0-9]* line 1||' | head -n 1)"
    fi
    print=${print%% *}
    key_path=${key_path,,}
  else
    # Stored absolute: a relative path in the file would be read relative to the file's directory.
    [[ $key_path == /* ]] || key_path=$PWD/$key_path
    [[ $key_path =~ [[:space:]] ]] && usage_error "the key file's path must not contain blanks"
    print=$(fingerprint "$key_path")
    if [ -z "$print" ]; then
      problem=$(sc-keygen -y "$key_path" 2>&1 >/dev/null | sed -n 's/^sc-keygen: error: //p' | head -n 1)
      fail 2 "$key_path is not a usable key file${problem:+: $problem}"
    fi
  fi
  read_peers
  if find_peer "$label"; then
    fail 2 "there is already a peer '$label' in $peers_file" "remove it first with: sc-chat peers remove $label"
  fi
  # sc-handshake --peers refuses a file of more (docs/FORMATS.md §10.2): one more would make it
  # unusable for listening.
  if [ "${#entry_label[@]}" -ge 64 ]; then
    fail 2 "$peers_file already holds 64 peers, the most a peers file may hold" "remove one first with: sc-chat peers remove PEER"
  fi
  # The listener tells peers apart by their keys: a key must belong to one entry.
  for i in "${!entry_label[@]}"; do
    if [ "${entry_key[$i]}" = "$key_path" ] ||
      { [[ ${entry_key[$i]} != scpub1* ]] && [ "$(fingerprint "${entry_key[$i]}")" = "$print" ]; }; then
      fail 2 "peer '${entry_label[$i]}' already has this key ($print)" \
        "each peer needs a key of its own: sc-keygen -o FILE"
    fi
  done
  if [ ! -e "$peers_file" ]; then
    mkdir -p "$(dirname "$peers_file")" || fail 2 "cannot make the directory of $peers_file"
    (set -o noclobber && printf '%s\n' "$peers_header" >"$peers_file") 2>/dev/null ||
      fail 2 "cannot write $peers_file"
  fi
  # The last line may lack its newline.
  if [ -n "$(tail -c 1 "$peers_file")" ]; then printf '\n' >>"$peers_file"; fi
  printf '%s %s %s %s %s\n' "$label" "$peer_host" "$peer_port" "$key_path" "$peer_name" >>"$peers_file" ||
    fail 2 "cannot write $peers_file"
  printf "%s: added peer '%s' to %s (key fingerprint %s)\n" "$program" "$label" "$peers_file" "$print" >&2
}

remove_peer() { # remove_peer PEER
  [ $# -eq 1 ] || usage_error "peers remove takes one operand, PEER"
  read_peers
  find_peer "$1" || no_such_peer "$1"
  local temporary
  temporary=$(mktemp "$peers_file.XXXXXX") || fail 2 "cannot write beside $peers_file"
  # Every other line, comments included, as it was.
  if ! sed "${entry_line[$found]}d" "$peers_file" >"$temporary" || ! mv -f "$temporary" "$peers_file"; then
    rm -f "$temporary"
    fail 2 "cannot rewrite $peers_file"
  fi
  printf "%s: removed peer '%s' from %s\n" "$program" "$1" "$peers_file" >&2
}

# No command, on a terminal: choose one of the peers of the address book that have an address;
# sets $chosen to its label (or to what was typed).
choose_peer() {
  local choices=() i entry answer
  read_peers
  for i in "${!entry_label[@]}"; do
    [ "${entry_host[$i]}" != - ] && choices+=("$i")
  done
  [ "${#choices[@]}" -gt 0 ] || usage_error "say listen, connect, pipe or peers (no peer in $peers_file has an address)"
  printf 'Peers in %s:\n' "$peers_file"
  for i in "${!choices[@]}"; do
    entry=${choices[$i]}
    printf '  %d) %s  (%s port %s, authenticates as %s)\n' "$((i + 1))" "${entry_label[$entry]}" \
      "${entry_host[$entry]}" "${entry_port[$entry]}" "${entry_name[$entry]}"
  done
  IFS= read -r -p "Chat with (number or name): " answer || exit 2
  if [[ $answer =~ ^[0-9]+$ ]] && [ "$answer" -ge 1 ] && [ "$answer" -le "${#choices[@]}" ]; then
    answer=${entry_label[${choices[$((answer - 1))]}]}
  fi
  # shellcheck disable=SC2034 # for sc-chat
  chosen=$answer
}

# Asks for a missing value on a terminal; otherwise it is a usage error.
ask() { # ask VARIABLE WHAT PROMPT
  local answer
  if [ -t 0 ]; then
    IFS= read -r -p "$3: " answer || exit 2
    printf -v "$1" '%s' "$answer"
  else
    usage_error "no $2 given"
  fi
}
