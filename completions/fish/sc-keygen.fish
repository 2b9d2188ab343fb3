# fish completion for sc-keygen(1). Install as
# /usr/share/fish/vendor_completions.d/sc-keygen.fish (or ~/.config/fish/completions/).

# sc-keygen takes no operands
complete -c sc-keygen -f
complete -c sc-keygen -s C -l comment -x -d 'Add a comment line to the new key file'
complete -c sc-keygen -s o -l output -r -F -d 'Write the key to FILE (created 0600, never overwritten)'
complete -c sc-keygen -s y -l fingerprint -r -F -d 'Print the public key of an identity, or a key\'s fingerprint'
complete -c sc-keygen -l identity -d 'Create an identity (-o); its public key goes to standard output'
complete -c sc-keygen -l log -d 'Create a log key pair: the sealing key (-o) and the verification key'
complete -c sc-keygen -l verify-key -r -F -d 'With --log: where to write the verification key'
complete -c sc-keygen -l public -d 'With --log: a public log (signing key -o, audit key on stdout)'
complete -c sc-keygen -s h -l help -d 'Show help and exit'
complete -c sc-keygen -l version -d 'Show the version and exit'
