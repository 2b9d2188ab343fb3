# fish completion for sc-logcheck(1). Install as
# /usr/share/fish/vendor_completions.d/sc-logcheck.fish (or ~/.config/fish/completions/).

# the operands are LOGFILEs
complete -c sc-logcheck -s k -l key -r -F -d "The log's verification key (made by sc-keygen --log)"
complete -c sc-logcheck -l state -r -F -d 'Remember what was verified; detect removal and rollback'
complete -c sc-logcheck -s q -l quiet -d 'Print nothing unless there is a problem (for cron)'
complete -c sc-logcheck -s h -l help -d 'Show help and exit'
complete -c sc-logcheck -l version -d 'Show the version and exit'
