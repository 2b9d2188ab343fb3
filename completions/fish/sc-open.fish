# fish completion for sc-open(1). Install as
# /usr/share/fish/vendor_completions.d/sc-open.fish (or ~/.config/fish/completions/).

# the operand is the INPUT file (default: standard input)
complete -c sc-open -s k -l key -r -F -d 'The pre-shared key file, for sealed files (- for stdin)'
complete -c sc-open -s i -l identity -r -F -d 'Open a file sealed to recipients with this identity'
complete -c sc-open -l from -x -d 'With -i: fail unless the file was sealed by PUBKEY'
complete -c sc-open -s s -l session -r -F -d 'A live session written by sc-handshake'
complete -c sc-open -s o -l output -r -F -d 'Write to OUTPUT instead of standard output'
complete -c sc-open -l escape -d 'With -s: show control and bidi characters as ^X, \xNN, \uNNNN even through a pipe'
complete -c sc-open -l receipts-to -r -F -d 'With -s: write the number of each message shown to FILE'
complete -c sc-open -l delivered -r -F -d 'With -s: write the message numbers the peer acknowledges to FILE'
complete -c sc-open -l log -r -F -d 'With -s: append an entry per message to LOGFILE'
complete -c sc-open -l log-key -r -F -d "The log's sealing key (made by sc-keygen --log)"
complete -c sc-open -l checkpoint-entries -x -d 'Public log: a checkpoint at least every N entries'
complete -c sc-open -l checkpoint-seconds -x -d 'Public log: a checkpoint at least every SECONDS'
complete -c sc-open -l checkpoints-to -r -F -d 'Public log: append each checkpoint line to FILE too'
complete -c sc-open -s h -l help -d 'Show help and exit'
complete -c sc-open -l version -d 'Show the version and exit'
