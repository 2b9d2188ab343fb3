# fish completion for sc-logcheck(1). Install as
# /usr/share/fish/vendor_completions.d/sc-logcheck.fish (or ~/.config/fish/completions/).

# the operands are LOGFILEs
complete -c sc-logcheck -s k -l key -r -F -d "The log's verification key (made by sc-keygen --log)"
complete -c sc-logcheck -l state -r -F -d 'Remember what was verified; detect removal and rollback'
complete -c sc-logcheck -s p -l audit-key -x -d "A public log's audit key (sc-keygen --log --public)"
complete -c sc-logcheck -s P -l audit-key-file -r -F -d 'Read the audit key from FILE'
complete -c sc-logcheck -l max-unsealed -x -d 'With -p: fail when more than N entries follow the last checkpoint'
complete -c sc-logcheck -l max-age -x -d 'With -p: fail when the newest checkpoint is older (90s, 15m, 2h, 1d)'
complete -c sc-logcheck -l checkpoints -r -F -d "With -p: the writer's copy of its checkpoints"
complete -c sc-logcheck -s q -l quiet -d 'Print nothing unless there is a problem (for cron)'
complete -c sc-logcheck -s h -l help -d 'Show help and exit'
complete -c sc-logcheck -l version -d 'Show the version and exit'
