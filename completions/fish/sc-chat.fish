# fish completion for sc-chat(1). Install as
# /usr/share/fish/vendor_completions.d/sc-chat.fish (or ~/.config/fish/completions/).
#
#   sc-chat [options] listen [PORT]
#   sc-chat [options] connect HOST PORT
#   sc-chat [options] connect PEER
#   sc-chat [options] pipe initiator|responder COMMAND [ARG ...]
#   sc-chat [options] peers
#   sc-chat [options] peers add PEER HOST PORT KEYFILE|PUBKEY [NAME]
#   sc-chat [options] peers remove PEER

# The options of sc-chat, for argparse
function __sc_chat_option_specs
    printf '%s\n' n/name= i/identity= k/key= accept-new p/peers= b/bind= t/timeout= no-reconnect once accept-unverified log= log-key= checkpoints-to= \
        h/help version
end

# The words before the cursor that follow the options: the subcommand and its arguments.
function __sc_chat_words
    set -l tokens (commandline -opc)
    set -e tokens[1]
    argparse -s (__sc_chat_option_specs) -- $tokens 2>/dev/null
    or return 1
    set -q argv[1]; and printf '%s\n' $argv
    return 0
end

function __sc_chat_needs_subcommand
    set -l words (__sc_chat_words)
    test (count $words) -eq 0
end

# __sc_chat_argument SUBCOMMAND N: the cursor is on the Nth argument of SUBCOMMAND
function __sc_chat_argument
    set -l words (__sc_chat_words)
    test "$words[1]" = $argv[1]; and test (count $words) -eq $argv[2]
end

# __sc_chat_peers_argument ACTION N: the cursor is on the Nth argument of `peers ACTION`
function __sc_chat_peers_argument
    set -l words (__sc_chat_words)
    test "$words[1]" = peers; and test "$words[2]" = $argv[1]; and test (count $words) -eq (math $argv[2] + 1)
end

function __sc_chat_in_pipe_command
    set -l words (__sc_chat_words)
    test "$words[1]" = pipe; and test (count $words) -ge 2
end

# pipe ROLE COMMAND [ARG ...]: the command line after the role, completed on its own
function __sc_chat_complete_pipe_command
    set -l words (__sc_chat_words)
    __fish_complete_subcommand --commandline $words[3..-1] (commandline -ct)
end

# __sc_chat_peer_labels [address]: the labels of the entries of the peers file (given with
# -p/--peers, or the default one); with "address", only those that have a HOST.
function __sc_chat_peer_labels
    set -l address "$argv[1]"
    set -l tokens (commandline -opc)
    set -e tokens[1]
    argparse -s (__sc_chat_option_specs) -- $tokens 2>/dev/null
    or return 1
    set -l file
    if set -q _flag_peers[1]
        set file $_flag_peers[-1]
    else
        set -l config "$XDG_CONFIG_HOME"
        string match -q -- '/*' "$config"; or set config $HOME/.config
        set file $config/securechat/peers
    end
    set file (string replace -r -- '^~/' "$HOME/" $file)
    string match -q -- '/*' $file; or set file ./$file
    test -r $file; or return 1
    # line 1 is the header; blank lines and comments (first field beginning with #) are skipped
    awk -v address="$address" 'NR > 1 && NF && $1 !~ /^#/ && !(address != "" && $2 == "-") { print $1 }' \
        $file 2>/dev/null
end

complete -c sc-chat -f
complete -c sc-chat -n __sc_chat_needs_subcommand -s n -l name -x -d 'The name to authenticate as (asked on a terminal if missing)'
complete -c sc-chat -n __sc_chat_needs_subcommand -s i -l identity -r -F -d 'Your identity (sc-keygen --identity)'
complete -c sc-chat -n __sc_chat_needs_subcommand -s k -l key -r -F -d 'The pre-shared key file'
complete -c sc-chat -n __sc_chat_needs_subcommand -l accept-new -d 'Accept and pin a peer whose key is not yet known'
complete -c sc-chat -n __sc_chat_needs_subcommand -s p -l peers -r -F -d 'The peers file, the address book'
complete -c sc-chat -n __sc_chat_needs_subcommand -s b -l bind -x -d 'With listen: the local address to listen on'
complete -c sc-chat -n __sc_chat_needs_subcommand -s t -l timeout -x -d 'Give up when the handshake takes longer (default 30)'
complete -c sc-chat -n __sc_chat_needs_subcommand -l no-reconnect -d 'When the connection breaks, end the chat instead of reconnecting'
complete -c sc-chat -n __sc_chat_needs_subcommand -l once -d 'With listen: end at a failed handshake instead of listening again'
complete -c sc-chat -n __sc_chat_needs_subcommand -l accept-unverified -d 'Accept a reconnect that does not continue the verified session'
complete -c sc-chat -n __sc_chat_needs_subcommand -l log -r -F -d 'Append every message sent and received to a tamper-evident log'
complete -c sc-chat -n __sc_chat_needs_subcommand -l log-key -r -F -d "The log's sealing key (made by sc-keygen --log)"
complete -c sc-chat -n __sc_chat_needs_subcommand -l checkpoints-to -r -F -d 'With a public log: append a copy of each checkpoint to FILE'
complete -c sc-chat -n __sc_chat_needs_subcommand -s h -l help -d 'Show help and exit'
complete -c sc-chat -n __sc_chat_needs_subcommand -l version -d 'Show the version and exit'

complete -c sc-chat -n __sc_chat_needs_subcommand -a listen -d 'Wait for a peer on a TCP port and answer the handshake'
complete -c sc-chat -n __sc_chat_needs_subcommand -a connect -d 'Connect to a peer (by host and port, or by its label) and start the handshake'
complete -c sc-chat -n __sc_chat_needs_subcommand -a pipe -d 'Chat over the standard input and output of a command (e.g. ssh)'
complete -c sc-chat -n __sc_chat_needs_subcommand -a peers -d 'List, add or remove the peers of the address book'

complete -c sc-chat -n '__sc_chat_argument connect 1' -a '(__sc_chat_peer_labels address)' -d Peer
complete -c sc-chat -n '__sc_chat_argument connect 1' -a '(__fish_print_hostnames)' -d Host
complete -c sc-chat -n '__sc_chat_argument pipe 1' -a initiator -d 'Speak first (the side that connects)'
complete -c sc-chat -n '__sc_chat_argument pipe 1' -a responder -d 'Answer (the side that listens)'
complete -c sc-chat -n __sc_chat_in_pipe_command -a '(__sc_chat_complete_pipe_command)'
complete -c sc-chat -n '__sc_chat_argument peers 1' -a add -d 'Add a peer: PEER HOST PORT KEYFILE|PUBKEY [NAME]'
complete -c sc-chat -n '__sc_chat_argument peers 1' -a remove -d 'Remove a peer'
complete -c sc-chat -n '__sc_chat_peers_argument remove 1' -a '(__sc_chat_peer_labels)' -d Peer
complete -c sc-chat -n '__sc_chat_peers_argument add 2' -a '(__fish_print_hostnames)' -d Host
complete -c sc-chat -n '__sc_chat_peers_argument add 4' -F
