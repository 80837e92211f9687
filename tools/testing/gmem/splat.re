\] (WARNING:|BUG:|Oops|kernel BUG|Kernel panic|general protection fault|UBSAN:|Call Trace:|list_(add|del) corruption|INFO: task .* blocked for more than|kmemleak: unreferenced object)
