# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_netlab_global_optspecs
    string join \n json jsonl color= timeout= q/quiet v/verbose h/help V/version
end

function __fish_netlab_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_netlab_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_netlab_using_subcommand
    set -l cmd (__fish_netlab_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c netlab -n "__fish_netlab_needs_command" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when stdout is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c netlab -n "__fish_netlab_needs_command" -l timeout -d 'Timeout of each network operation (200ms, 2s); the command\'s default otherwise' -r
complete -c netlab -n "__fish_netlab_needs_command" -l json -d 'Print one JSON document (the whole report) on stdout'
complete -c netlab -n "__fish_netlab_needs_command" -l jsonl -d 'Print JSON Lines: one object per event as it happens, then a summary object'
complete -c netlab -n "__fish_netlab_needs_command" -s q -l quiet -d 'Only the summary'
complete -c netlab -n "__fish_netlab_needs_command" -s v -l verbose -d 'More detail (repeat for more)'
complete -c netlab -n "__fish_netlab_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_needs_command" -s V -l version -d 'Print version'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "tcp" -d 'TCP: handshake timing and teardown'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "lab" -d 'Serve a local mini-internet (loopback or namespaces) for demos and tests'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "generate" -d 'Write man pages and shell completions (for packagers and `make docs`)'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and not __fish_seen_subcommand_from handshake help" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when stdout is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and not __fish_seen_subcommand_from handshake help" -l timeout -d 'Timeout of each network operation (200ms, 2s); the command\'s default otherwise' -r
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and not __fish_seen_subcommand_from handshake help" -l json -d 'Print one JSON document (the whole report) on stdout'
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and not __fish_seen_subcommand_from handshake help" -l jsonl -d 'Print JSON Lines: one object per event as it happens, then a summary object'
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and not __fish_seen_subcommand_from handshake help" -s q -l quiet -d 'Only the summary'
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and not __fish_seen_subcommand_from handshake help" -s v -l verbose -d 'More detail (repeat for more)'
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and not __fish_seen_subcommand_from handshake help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and not __fish_seen_subcommand_from handshake help" -f -a "handshake" -d 'Time the three-way handshake from kernel packet timestamps, like ping for a TCP port'
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and not __fish_seen_subcommand_from handshake help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and __fish_seen_subcommand_from handshake" -s c -l count -d 'Number of probes' -r
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and __fish_seen_subcommand_from handshake" -s i -l interval -d 'Time between probes (200ms, 1s, 0.5)' -r
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and __fish_seen_subcommand_from handshake" -l source -d 'Send from this local address' -r
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and __fish_seen_subcommand_from handshake" -s I -l interface -d 'Leave by this interface (SO_BINDTODEVICE) and capture on it' -r
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and __fish_seen_subcommand_from handshake" -l hold -d 'With --close: wait this long for the server to send data or close first' -r
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and __fish_seen_subcommand_from handshake" -l pcap -d 'Write the captured packets to FILE (pcap, nanosecond timestamps; needs CAP_NET_RAW)' -r -F
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and __fish_seen_subcommand_from handshake" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when stdout is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and __fish_seen_subcommand_from handshake" -l timeout -d 'Timeout of each network operation (200ms, 2s); the command\'s default otherwise' -r
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and __fish_seen_subcommand_from handshake" -s 4 -d 'Only IPv4 addresses of HOST'
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and __fish_seen_subcommand_from handshake" -s 6 -d 'Only IPv6 addresses of HOST'
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and __fish_seen_subcommand_from handshake" -l syn -d 'Half-open probe: a crafted SYN with a new source port and random ISN per probe; the kernel\'s RST closes it (needs CAP_NET_RAW)'
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and __fish_seen_subcommand_from handshake" -l close -d 'After the handshake, close and show the teardown: who sent FIN first, each FIN and ACK with its time, and which side holds TIME_WAIT'
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and __fish_seen_subcommand_from handshake" -l json -d 'Print one JSON document (the whole report) on stdout'
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and __fish_seen_subcommand_from handshake" -l jsonl -d 'Print JSON Lines: one object per event as it happens, then a summary object'
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and __fish_seen_subcommand_from handshake" -s q -l quiet -d 'Only the summary'
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and __fish_seen_subcommand_from handshake" -s v -l verbose -d 'More detail (repeat for more)'
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and __fish_seen_subcommand_from handshake" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and __fish_seen_subcommand_from help" -f -a "handshake" -d 'Time the three-way handshake from kernel packet timestamps, like ping for a TCP port'
complete -c netlab -n "__fish_netlab_using_subcommand tcp; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l prefix -d 'Namespace name prefix (PREFIX-c, PREFIX-m, PREFIX-s)' -r
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l port-base -d 'First port: open, closed, slow, closes-first, filtered, unreachable follow in order. 0 lets the kernel pick (loopback mode only)' -r
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l bind -d 'Loopback address to serve on (loopback mode)' -r
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l delay -d 'One-way delay the bridge adds in each direction (netns mode)' -r
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l slow -d 'How long the slow server waits before its greeting' -r
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l duration -d 'Stop by itself after this long (default: run until Ctrl-C)' -r
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when stdout is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l timeout -d 'Timeout of each network operation (200ms, 2s); the command\'s default otherwise' -r
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l netns -d 'Build client / middle / server network namespaces (198.18.0.0/24, 2001:2::/64) with a delay bridge in the middle, and serve from the server namespace (needs root)'
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l json -d 'Print one JSON document (the whole report) on stdout'
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l jsonl -d 'Print JSON Lines: one object per event as it happens, then a summary object'
complete -c netlab -n "__fish_netlab_using_subcommand lab" -s q -l quiet -d 'Only the summary'
complete -c netlab -n "__fish_netlab_using_subcommand lab" -s v -l verbose -d 'More detail (repeat for more)'
complete -c netlab -n "__fish_netlab_using_subcommand lab" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand generate" -l out-dir -d 'Directory that receives `man/` and `completions/`' -r -F
complete -c netlab -n "__fish_netlab_using_subcommand generate" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when stdout is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c netlab -n "__fish_netlab_using_subcommand generate" -l timeout -d 'Timeout of each network operation (200ms, 2s); the command\'s default otherwise' -r
complete -c netlab -n "__fish_netlab_using_subcommand generate" -l json -d 'Print one JSON document (the whole report) on stdout'
complete -c netlab -n "__fish_netlab_using_subcommand generate" -l jsonl -d 'Print JSON Lines: one object per event as it happens, then a summary object'
complete -c netlab -n "__fish_netlab_using_subcommand generate" -s q -l quiet -d 'Only the summary'
complete -c netlab -n "__fish_netlab_using_subcommand generate" -s v -l verbose -d 'More detail (repeat for more)'
complete -c netlab -n "__fish_netlab_using_subcommand generate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from tcp lab generate help" -f -a "tcp" -d 'TCP: handshake timing and teardown'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from tcp lab generate help" -f -a "lab" -d 'Serve a local mini-internet (loopback or namespaces) for demos and tests'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from tcp lab generate help" -f -a "generate" -d 'Write man pages and shell completions (for packagers and `make docs`)'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from tcp lab generate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netlab -n "__fish_netlab_using_subcommand help; and __fish_seen_subcommand_from tcp" -f -a "handshake" -d 'Time the three-way handshake from kernel packet timestamps, like ping for a TCP port'
