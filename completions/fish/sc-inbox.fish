# fish completion for sc-inbox(1). Install as
# /usr/share/fish/vendor_completions.d/sc-inbox.fish (or ~/.config/fish/completions/).

# the operand is the inbox directory
complete -c sc-inbox -s n -l name -x -d 'The name to authenticate as'
complete -c sc-inbox -s k -l key -r -F -d 'Accept a peer that holds this pre-shared key'
complete -c sc-inbox -s p -l peers -r -F -d 'Accept any peer of this peers file'
complete -c sc-inbox -s t -l timeout -x -d 'Give up when the handshake takes longer'
complete -c sc-inbox -s h -l help -d 'Show help and exit'
complete -c sc-inbox -l version -d 'Show the version and exit'
