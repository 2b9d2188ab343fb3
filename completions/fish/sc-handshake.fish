# fish completion for sc-handshake(1). Install as
# /usr/share/fish/vendor_completions.d/sc-handshake.fish (or ~/.config/fish/completions/).

# sc-handshake takes no operands
complete -c sc-handshake -f
complete -c sc-handshake -l initiator -d 'Speak first (the side that connects)'
complete -c sc-handshake -l responder -d 'Answer (the side that listens)'
complete -c sc-handshake -s k -l key -r -F -d 'The pre-shared key file'
complete -c sc-handshake -s i -l identity -r -F -d 'Authenticate with this identity (sc-keygen --identity)'
complete -c sc-handshake -l peer-key -x -d 'With -i: the public key the peer must prove'
complete -c sc-handshake -l known-peers -r -F -d 'With -i: the known peers file'
complete -c sc-handshake -l accept-new -d 'With -i: accept a peer not yet known, and add it to the known peers'
complete -c sc-handshake -l peers -r -F -d 'Accept every peer of this peers file (with --responder)'
complete -c sc-handshake -s n -l name -x -d 'The name to authenticate as (letters, digits, . _ - @ +)'
complete -c sc-handshake -l peer-name -x -d 'The name the peer must authenticate as (with -k)'
complete -c sc-handshake -s o -l output -r -F -d 'Write the session here (created 0600, never overwritten)'
complete -c sc-handshake -l continue-from -r -F -d 'Continue the session of this continuation file'
complete -c sc-handshake -l continuation-to -r -F -d "Write this session's continuation file here (0600)"
complete -c sc-handshake -l log -r -F -d 'Append an entry to LOGFILE when the handshake fails'
complete -c sc-handshake -l log-key -r -F -d "The log's sealing key (made by sc-keygen --log)"
complete -c sc-handshake -l peer-address -x -d 'With --log: where the connection came from, for the entry'
complete -c sc-handshake -l timeout -x -d 'Give up when the handshake takes longer (default 30)'
complete -c sc-handshake -s h -l help -d 'Show help and exit'
complete -c sc-handshake -l version -d 'Show the version and exit'
