# fish completion for sc-seal(1). Install as
# /usr/share/fish/vendor_completions.d/sc-seal.fish (or ~/.config/fish/completions/).

# the operand is the INPUT file (default: standard input)
complete -c sc-seal -s k -l key -r -F -d 'The pre-shared key file, for sealed files (- for stdin)'
complete -c sc-seal -s r -l recipient -x -d 'Seal to this public key (repeat for more recipients)'
complete -c sc-seal -s R -l recipients-file -r -F -d 'Seal to the public keys in FILE, one per line'
complete -c sc-seal -s i -l identity -r -F -d 'With -r/-R: seal as this identity (authenticated sender)'
complete -c sc-seal -s a -l armor -d 'Write the sealed file as text (base64 between BEGIN/END lines)'
complete -c sc-seal -s s -l session -r -F -d 'A live session written by sc-handshake'
complete -c sc-seal -l binary -d 'With -s: send raw input as it comes instead of line by line'
complete -c sc-seal -l receipts-from -r -F -d 'With -s: send a receipt for each message number read from FILE'
complete -c sc-seal -s o -l output -r -F -d 'Write to OUTPUT instead of standard output'
complete -c sc-seal -l log -r -F -d 'With -s: append an entry per message to LOGFILE'
complete -c sc-seal -l log-key -r -F -d "The log's sealing key (made by sc-keygen --log)"
complete -c sc-seal -l checkpoint-entries -x -d 'Public log: a checkpoint at least every N entries'
complete -c sc-seal -l checkpoint-seconds -x -d 'Public log: a checkpoint at least every SECONDS'
complete -c sc-seal -l checkpoints-to -r -F -d 'Public log: append each checkpoint line to FILE too'
complete -c sc-seal -l check-log -d 'Check that LOGFILE can be appended to with SEALKEY and exit'
complete -c sc-seal -s h -l help -d 'Show help and exit'
complete -c sc-seal -l version -d 'Show the version and exit'
