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
complete -c netlab -n "__fish_netlab_needs_command" -f -a "dns" -d 'DNS: resolution from the root, every server, every hop'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "tls" -d 'TLS: timed handshake breakdown, certificate chain and every verification problem'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "arp" -d 'ARP: who-has with wire timing, conflicts, probes, announcements, scans, the neighbour table'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "sockets" -d 'Socket-state summary: CLOSE_WAIT / TIME_WAIT by process, port and peer, and why they pile up'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "syscalls" -d 'strace-style view of a server\'s network system calls: spawn, attach, or a snapshot of what each thread is blocked in'
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
complete -c netlab -n "__fish_netlab_using_subcommand dns; and not __fish_seen_subcommand_from trace lookup help" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when stdout is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c netlab -n "__fish_netlab_using_subcommand dns; and not __fish_seen_subcommand_from trace lookup help" -l timeout -d 'Timeout of each network operation (200ms, 2s); the command\'s default otherwise' -r
complete -c netlab -n "__fish_netlab_using_subcommand dns; and not __fish_seen_subcommand_from trace lookup help" -l json -d 'Print one JSON document (the whole report) on stdout'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and not __fish_seen_subcommand_from trace lookup help" -l jsonl -d 'Print JSON Lines: one object per event as it happens, then a summary object'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and not __fish_seen_subcommand_from trace lookup help" -s q -l quiet -d 'Only the summary'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and not __fish_seen_subcommand_from trace lookup help" -s v -l verbose -d 'More detail (repeat for more)'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and not __fish_seen_subcommand_from trace lookup help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and not __fish_seen_subcommand_from trace lookup help" -f -a "trace" -d 'Resolve NAME from the root as a resolver does, asking every server of every level'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and not __fish_seen_subcommand_from trace lookup help" -f -a "lookup" -d 'What an application gets for NAME, and why: the hosts file, resolv.conf (servers, search list, ndots, options), the configured resolver\'s answer with TTLs and time, and with --compare the authoritative answer from a trace, flagging stale or different data'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and not __fish_seen_subcommand_from trace lookup help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from trace" -l root -d 'Start from these root server addresses instead of the IANA root hints' -r
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from trace" -l root-hints -d 'Start from the root servers in FILE (named.root format)' -r -F
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from trace" -l port -d 'Port every server is asked on' -r
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from trace" -l max-depth -d 'Most levels one walk may take' -r
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from trace" -l max-cname -d 'Most alias (CNAME / DNAME) steps' -r
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from trace" -l max-queries -d 'Most queries in total' -r
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from trace" -l parallel -d 'Queries in flight at once' -r
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from trace" -l deadline -d 'The whole trace ends after this long (the per-query timeout is --timeout)' -r
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from trace" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when stdout is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from trace" -l timeout -d 'Timeout of each network operation (200ms, 2s); the command\'s default otherwise' -r
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from trace" -s 4 -d 'Only IPv4 server addresses'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from trace" -s 6 -d 'Only IPv6 server addresses'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from trace" -l tcp -d 'Ask over TCP only'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from trace" -l dnssec -d 'Set the DO bit (ask for DNSSEC records)'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from trace" -l nsid -d 'Ask every server for its NSID'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from trace" -l json -d 'Print one JSON document (the whole report) on stdout'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from trace" -l jsonl -d 'Print JSON Lines: one object per event as it happens, then a summary object'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from trace" -s q -l quiet -d 'Only the summary'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from trace" -s v -l verbose -d 'More detail (repeat for more)'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from trace" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from lookup" -l root -d 'With --compare: root server addresses (default: the IANA root hints)' -r
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from lookup" -l port -d 'With --compare: the port every authoritative server is asked on' -r
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from lookup" -l resolv-conf -d 'The stub resolver configuration to read' -r -F
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from lookup" -l hosts -d 'The hosts file to read' -r -F
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from lookup" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when stdout is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from lookup" -l timeout -d 'Timeout of each network operation (200ms, 2s); the command\'s default otherwise' -r
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from lookup" -l compare -d 'Also trace the name from the root and compare the authoritative answer with the resolver\'s'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from lookup" -l json -d 'Print one JSON document (the whole report) on stdout'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from lookup" -l jsonl -d 'Print JSON Lines: one object per event as it happens, then a summary object'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from lookup" -s q -l quiet -d 'Only the summary'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from lookup" -s v -l verbose -d 'More detail (repeat for more)'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from lookup" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from help" -f -a "trace" -d 'Resolve NAME from the root as a resolver does, asking every server of every level'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from help" -f -a "lookup" -d 'What an application gets for NAME, and why: the hosts file, resolv.conf (servers, search list, ndots, options), the configured resolver\'s answer with TTLs and time, and with --compare the authoritative answer from a trace, flagging stale or different data'
complete -c netlab -n "__fish_netlab_using_subcommand dns; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netlab -n "__fish_netlab_using_subcommand tls; and not __fish_seen_subcommand_from inspect help" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when stdout is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c netlab -n "__fish_netlab_using_subcommand tls; and not __fish_seen_subcommand_from inspect help" -l timeout -d 'Timeout of each network operation (200ms, 2s); the command\'s default otherwise' -r
complete -c netlab -n "__fish_netlab_using_subcommand tls; and not __fish_seen_subcommand_from inspect help" -l json -d 'Print one JSON document (the whole report) on stdout'
complete -c netlab -n "__fish_netlab_using_subcommand tls; and not __fish_seen_subcommand_from inspect help" -l jsonl -d 'Print JSON Lines: one object per event as it happens, then a summary object'
complete -c netlab -n "__fish_netlab_using_subcommand tls; and not __fish_seen_subcommand_from inspect help" -s q -l quiet -d 'Only the summary'
complete -c netlab -n "__fish_netlab_using_subcommand tls; and not __fish_seen_subcommand_from inspect help" -s v -l verbose -d 'More detail (repeat for more)'
complete -c netlab -n "__fish_netlab_using_subcommand tls; and not __fish_seen_subcommand_from inspect help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand tls; and not __fish_seen_subcommand_from inspect help" -f -a "inspect" -d 'Timed TLS handshake breakdown: message timeline, negotiated parameters, certificate chain and every verification problem'
complete -c netlab -n "__fish_netlab_using_subcommand tls; and not __fish_seen_subcommand_from inspect help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netlab -n "__fish_netlab_using_subcommand tls; and __fish_seen_subcommand_from inspect" -l sni -d 'Send this name as SNI and check the certificate against it (connect to HOST anyway)' -r
complete -c netlab -n "__fish_netlab_using_subcommand tls; and __fish_seen_subcommand_from inspect" -l alpn -d 'Offer these ALPN protocols, comma-separated (h2,http/1.1)' -r
complete -c netlab -n "__fish_netlab_using_subcommand tls; and __fish_seen_subcommand_from inspect" -l ca -d 'Trust the CA certificates in this PEM file (instead of --roots)' -r -F
complete -c netlab -n "__fish_netlab_using_subcommand tls; and __fish_seen_subcommand_from inspect" -l roots -d 'Trust store when no --ca is given' -r -f -a "webpki\t'The Mozilla roots built into netlab (webpki-roots)'
native\t'The system\'s store (/etc/ssl/certs)'"
complete -c netlab -n "__fish_netlab_using_subcommand tls; and __fish_seen_subcommand_from inspect" -l ticket-wait -d 'After the handshake, wait this long (at least; 3 round trips when longer) for the server\'s session tickets [default: 2ms, 200ms with --resume]' -r
complete -c netlab -n "__fish_netlab_using_subcommand tls; and __fish_seen_subcommand_from inspect" -l pcap -d 'Capture the run\'s packets to FILE (pcap, nanosecond timestamps; needs CAP_NET_RAW). With --keylog, Wireshark decrypts it' -r -F
complete -c netlab -n "__fish_netlab_using_subcommand tls; and __fish_seen_subcommand_from inspect" -l keylog -d 'Append the session\'s secrets to FILE (SSLKEYLOGFILE format, for Wireshark)' -r -F
complete -c netlab -n "__fish_netlab_using_subcommand tls; and __fish_seen_subcommand_from inspect" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when stdout is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c netlab -n "__fish_netlab_using_subcommand tls; and __fish_seen_subcommand_from inspect" -l timeout -d 'Timeout of each network operation (200ms, 2s); the command\'s default otherwise' -r
complete -c netlab -n "__fish_netlab_using_subcommand tls; and __fish_seen_subcommand_from inspect" -l no-sni -d 'Send no SNI (the certificate is then checked against HOST)'
complete -c netlab -n "__fish_netlab_using_subcommand tls; and __fish_seen_subcommand_from inspect" -l tls12 -d 'Offer TLS 1.2 only'
complete -c netlab -n "__fish_netlab_using_subcommand tls; and __fish_seen_subcommand_from inspect" -l tls13 -d 'Offer TLS 1.3 only'
complete -c netlab -n "__fish_netlab_using_subcommand tls; and __fish_seen_subcommand_from inspect" -l strict -d 'Abort on the first certificate problem, like an ordinary client'
complete -c netlab -n "__fish_netlab_using_subcommand tls; and __fish_seen_subcommand_from inspect" -l no-hostname-check -d 'Do not check the certificate\'s name'
complete -c netlab -n "__fish_netlab_using_subcommand tls; and __fish_seen_subcommand_from inspect" -l resume -d 'Open a second connection that resumes the first\'s session: resumed or not, and the time and bytes it saved'
complete -c netlab -n "__fish_netlab_using_subcommand tls; and __fish_seen_subcommand_from inspect" -s 4 -d 'IPv4 only'
complete -c netlab -n "__fish_netlab_using_subcommand tls; and __fish_seen_subcommand_from inspect" -s 6 -d 'IPv6 only'
complete -c netlab -n "__fish_netlab_using_subcommand tls; and __fish_seen_subcommand_from inspect" -l json -d 'Print one JSON document (the whole report) on stdout'
complete -c netlab -n "__fish_netlab_using_subcommand tls; and __fish_seen_subcommand_from inspect" -l jsonl -d 'Print JSON Lines: one object per event as it happens, then a summary object'
complete -c netlab -n "__fish_netlab_using_subcommand tls; and __fish_seen_subcommand_from inspect" -s q -l quiet -d 'Only the summary'
complete -c netlab -n "__fish_netlab_using_subcommand tls; and __fish_seen_subcommand_from inspect" -s v -l verbose -d 'More detail (repeat for more)'
complete -c netlab -n "__fish_netlab_using_subcommand tls; and __fish_seen_subcommand_from inspect" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand tls; and __fish_seen_subcommand_from help" -f -a "inspect" -d 'Timed TLS handshake breakdown: message timeline, negotiated parameters, certificate chain and every verification problem'
complete -c netlab -n "__fish_netlab_using_subcommand tls; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and not __fish_seen_subcommand_from who-has probe announce scan table help" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when stdout is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c netlab -n "__fish_netlab_using_subcommand arp; and not __fish_seen_subcommand_from who-has probe announce scan table help" -l timeout -d 'Timeout of each network operation (200ms, 2s); the command\'s default otherwise' -r
complete -c netlab -n "__fish_netlab_using_subcommand arp; and not __fish_seen_subcommand_from who-has probe announce scan table help" -l json -d 'Print one JSON document (the whole report) on stdout'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and not __fish_seen_subcommand_from who-has probe announce scan table help" -l jsonl -d 'Print JSON Lines: one object per event as it happens, then a summary object'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and not __fish_seen_subcommand_from who-has probe announce scan table help" -s q -l quiet -d 'Only the summary'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and not __fish_seen_subcommand_from who-has probe announce scan table help" -s v -l verbose -d 'More detail (repeat for more)'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and not __fish_seen_subcommand_from who-has probe announce scan table help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and not __fish_seen_subcommand_from who-has probe announce scan table help" -f -a "who-has" -d 'Ask who has IP: every MAC that answers, request → reply time on the wire'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and not __fish_seen_subcommand_from who-has probe announce scan table help" -f -a "probe" -d 'RFC 5227 duplicate address detection: is IP free? (sender 0.0.0.0, listens the whole window; exit 0 free, 1 in use)'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and not __fish_seen_subcommand_from who-has probe announce scan table help" -f -a "announce" -d 'Send gratuitous ARP for IP (request form; --reply for the reply form)'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and not __fish_seen_subcommand_from who-has probe announce scan table help" -f -a "scan" -d 'Scan an IPv4 range: who answers, with MAC, vendor and time'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and not __fish_seen_subcommand_from who-has probe announce scan table help" -f -a "table" -d 'The kernel\'s neighbour table (IPv4 ARP and IPv6 ND entries): address, MAC, state'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and not __fish_seen_subcommand_from who-has probe announce scan table help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from who-has" -s I -l interface -d 'Interface to use (default: the one the route to the target leaves by)' -r
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from who-has" -l pcap -d 'Write the captured frames to FILE (pcap, nanosecond timestamps)' -r -F
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from who-has" -s c -l count -d 'Requests to send' -r
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from who-has" -s i -l interval -d 'Time between requests (each request\'s window for replies)' -r
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from who-has" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when stdout is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from who-has" -l timeout -d 'Timeout of each network operation (200ms, 2s); the command\'s default otherwise' -r
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from who-has" -l json -d 'Print one JSON document (the whole report) on stdout'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from who-has" -l jsonl -d 'Print JSON Lines: one object per event as it happens, then a summary object'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from who-has" -s q -l quiet -d 'Only the summary'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from who-has" -s v -l verbose -d 'More detail (repeat for more)'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from who-has" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from probe" -s I -l interface -d 'Interface to use (default: the one the route to the target leaves by)' -r
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from probe" -l pcap -d 'Write the captured frames to FILE (pcap, nanosecond timestamps)' -r -F
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from probe" -s c -l count -d 'Probes (PROBE_NUM)' -r
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from probe" -l interval-min -d 'Least time between probes (PROBE_MIN)' -r
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from probe" -l interval-max -d 'Most time between probes (PROBE_MAX)' -r
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from probe" -l wait -d 'How long to keep listening after the last probe (ANNOUNCE_WAIT)' -r
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from probe" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when stdout is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from probe" -l timeout -d 'Timeout of each network operation (200ms, 2s); the command\'s default otherwise' -r
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from probe" -l json -d 'Print one JSON document (the whole report) on stdout'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from probe" -l jsonl -d 'Print JSON Lines: one object per event as it happens, then a summary object'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from probe" -s q -l quiet -d 'Only the summary'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from probe" -s v -l verbose -d 'More detail (repeat for more)'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from probe" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from announce" -s I -l interface -d 'Interface to use (default: the one the route to the target leaves by)' -r
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from announce" -l pcap -d 'Write the captured frames to FILE (pcap, nanosecond timestamps)' -r -F
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from announce" -s c -l count -d 'Announcements (ANNOUNCE_NUM)' -r
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from announce" -s i -l interval -d 'Time between announcements (ANNOUNCE_INTERVAL)' -r
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from announce" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when stdout is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from announce" -l timeout -d 'Timeout of each network operation (200ms, 2s); the command\'s default otherwise' -r
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from announce" -l reply -d 'Reply form (op 2, target MAC broadcast) instead of request form'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from announce" -l json -d 'Print one JSON document (the whole report) on stdout'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from announce" -l jsonl -d 'Print JSON Lines: one object per event as it happens, then a summary object'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from announce" -s q -l quiet -d 'Only the summary'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from announce" -s v -l verbose -d 'More detail (repeat for more)'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from announce" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from scan" -s I -l interface -d 'Interface to use (default: the one the route to the target leaves by)' -r
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from scan" -l pcap -d 'Write the captured frames to FILE (pcap, nanosecond timestamps)' -r -F
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from scan" -l rate -d 'Requests per second' -r
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from scan" -l retries -d 'Extra attempts for addresses that did not answer' -r
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from scan" -l max-hosts -d 'Most addresses without --force' -r
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from scan" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when stdout is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from scan" -l timeout -d 'Timeout of each network operation (200ms, 2s); the command\'s default otherwise' -r
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from scan" -l localnet -d 'Scan the interface\'s own IPv4 network instead'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from scan" -l force -d 'Scan more than --max-hosts addresses'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from scan" -l json -d 'Print one JSON document (the whole report) on stdout'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from scan" -l jsonl -d 'Print JSON Lines: one object per event as it happens, then a summary object'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from scan" -s q -l quiet -d 'Only the summary'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from scan" -s v -l verbose -d 'More detail (repeat for more)'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from scan" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from table" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when stdout is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from table" -l timeout -d 'Timeout of each network operation (200ms, 2s); the command\'s default otherwise' -r
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from table" -l all -d 'Include NOARP and NONE entries (multicast mappings), like `ip neigh show nud all`'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from table" -l json -d 'Print one JSON document (the whole report) on stdout'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from table" -l jsonl -d 'Print JSON Lines: one object per event as it happens, then a summary object'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from table" -s q -l quiet -d 'Only the summary'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from table" -s v -l verbose -d 'More detail (repeat for more)'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from table" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from help" -f -a "who-has" -d 'Ask who has IP: every MAC that answers, request → reply time on the wire'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from help" -f -a "probe" -d 'RFC 5227 duplicate address detection: is IP free? (sender 0.0.0.0, listens the whole window; exit 0 free, 1 in use)'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from help" -f -a "announce" -d 'Send gratuitous ARP for IP (request form; --reply for the reply form)'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from help" -f -a "scan" -d 'Scan an IPv4 range: who answers, with MAC, vendor and time'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from help" -f -a "table" -d 'The kernel\'s neighbour table (IPv4 ARP and IPv6 ND entries): address, MAC, state'
complete -c netlab -n "__fish_netlab_using_subcommand arp; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netlab -n "__fish_netlab_using_subcommand sockets" -l state -d 'Only these states (comma-separated: established, close-wait, time-wait, listen, ...); the kernel filters' -r
complete -c netlab -n "__fish_netlab_using_subcommand sockets" -l port -d 'Only sockets whose local or remote port is PORT' -r
complete -c netlab -n "__fish_netlab_using_subcommand sockets" -l pid -d 'Only sockets process PID holds' -r
complete -c netlab -n "__fish_netlab_using_subcommand sockets" -l peer -d 'Only sockets whose remote address is IP' -r
complete -c netlab -n "__fish_netlab_using_subcommand sockets" -l close-wait-min -d 'CLOSE_WAIT sockets of one process and port that make a diagnosis (with --unix: peer-closed sockets of one process and path)' -r
complete -c netlab -n "__fish_netlab_using_subcommand sockets" -l time-wait-pct -d 'Share of the ephemeral port range in TIME_WAIT to one destination that warns, %' -r
complete -c netlab -n "__fish_netlab_using_subcommand sockets" -l interval -d 'Read the listen counters twice, this far apart, and report the change' -r
complete -c netlab -n "__fish_netlab_using_subcommand sockets" -l watch -d 'Refresh every SECONDS until Ctrl-C (in place on a terminal; JSON Lines with --jsonl)' -r
complete -c netlab -n "__fish_netlab_using_subcommand sockets" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when stdout is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c netlab -n "__fish_netlab_using_subcommand sockets" -l timeout -d 'Timeout of each network operation (200ms, 2s); the command\'s default otherwise' -r
complete -c netlab -n "__fish_netlab_using_subcommand sockets" -l udp -d 'UDP sockets instead of TCP (states: ESTABLISHED for connected, CLOSE for unconnected)'
complete -c netlab -n "__fish_netlab_using_subcommand sockets" -l unix -d 'Unix-domain sockets instead of TCP (`ss -x`): by type, state, process and path, with peer-closed sockets still held and full accept queues (states: established, listen, unconnected, connecting)'
complete -c netlab -n "__fish_netlab_using_subcommand sockets" -s 4 -d 'IPv4 only'
complete -c netlab -n "__fish_netlab_using_subcommand sockets" -s 6 -d 'IPv6 only'
complete -c netlab -n "__fish_netlab_using_subcommand sockets" -l json -d 'Print one JSON document (the whole report) on stdout'
complete -c netlab -n "__fish_netlab_using_subcommand sockets" -l jsonl -d 'Print JSON Lines: one object per event as it happens, then a summary object'
complete -c netlab -n "__fish_netlab_using_subcommand sockets" -s q -l quiet -d 'Only the summary'
complete -c netlab -n "__fish_netlab_using_subcommand sockets" -s v -l verbose -d 'More detail (repeat for more)'
complete -c netlab -n "__fish_netlab_using_subcommand sockets" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand syscalls" -s p -l pid -d 'Attach to this running process (every thread; detached on exit)' -r
complete -c netlab -n "__fish_netlab_using_subcommand syscalls" -s e -l trace -d 'Calls to show: sets network (all), socket, send, poll, io, or names (accept4,connect), comma-separated' -r
complete -c netlab -n "__fish_netlab_using_subcommand syscalls" -l duration -d 'Stop tracing after this long (attach: detach; spawn: end the command)' -r
complete -c netlab -n "__fish_netlab_using_subcommand syscalls" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when stdout is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c netlab -n "__fish_netlab_using_subcommand syscalls" -l timeout -d 'Timeout of each network operation (200ms, 2s); the command\'s default otherwise' -r
complete -c netlab -n "__fish_netlab_using_subcommand syscalls" -l snapshot -d 'With -p: no tracing, show what each thread is blocked in right now'
complete -c netlab -n "__fish_netlab_using_subcommand syscalls" -l no-results -d 'Stop only at entry: no return values or durations, less overhead'
complete -c netlab -n "__fish_netlab_using_subcommand syscalls" -l no-annotate -d 'Do not resolve descriptors to their sockets (less overhead)'
complete -c netlab -n "__fish_netlab_using_subcommand syscalls" -s c -l summary -d 'Count instead of listing: per call count, errors and time, and per peer'
complete -c netlab -n "__fish_netlab_using_subcommand syscalls" -l json -d 'Print one JSON document (the whole report) on stdout'
complete -c netlab -n "__fish_netlab_using_subcommand syscalls" -l jsonl -d 'Print JSON Lines: one object per event as it happens, then a summary object'
complete -c netlab -n "__fish_netlab_using_subcommand syscalls" -s q -l quiet -d 'Only the summary'
complete -c netlab -n "__fish_netlab_using_subcommand syscalls" -s v -l verbose -d 'More detail (repeat for more)'
complete -c netlab -n "__fish_netlab_using_subcommand syscalls" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l prefix -d 'Namespace name prefix (PREFIX-c, PREFIX-m, PREFIX-s)' -r
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l port-base -d 'First port: open, closed, slow, closes-first, filtered, unreachable follow in order. 0 lets the kernel pick (loopback mode only)' -r
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l bind -d 'Loopback address to serve on (loopback mode)' -r
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l delay -d 'One-way delay the bridge adds in each direction (netns mode)' -r
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l slow -d 'How long the slow server waits before its greeting' -r
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l duration -d 'Stop by itself after this long (default: run until Ctrl-C)' -r
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l dns-port -d 'Port of every DNS server, UDP and TCP (referrals carry no port, so all share one). Below 1024 needs root or CAP_NET_BIND_SERVICE' -r
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l resolver -d 'Also serve a recursive resolver on ADDR, port 53 (what a stub resolver in a test namespace points resolv.conf at). It resolves from the lab root and caches; its cache starts with one stale entry (api.example.test. A 192.0.2.99) for `dns lookup --compare`' -r
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l leak -d 'With --sockets: connections to the leaking server (CLOSE_WAIT on its side)' -r
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l churn -d 'With --sockets: short connections the client closes first (TIME_WAIT)' -r
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l overflow -d 'With --sockets: connections to the never-accepting listener (backlog 2)' -r
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l tls-port-base -d 'With --tls: the first TLS port (0: any free ports)' -r
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l tls-dir -d 'With --tls: where to write the CA, chains, keys and OCSP response [default: the temporary directory\'s netlab-lab-tls]' -r -F
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l io-port-base -d 'With --io-servers: the blocking server\'s port; the epoll server\'s is the next one (0: any free ports)' -r
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when stdout is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l timeout -d 'Timeout of each network operation (200ms, 2s); the command\'s default otherwise' -r
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l netns -d 'Build client / middle / server network namespaces (198.18.0.0/24, 2001:2::/64) with a delay bridge in the middle, and serve from the server namespace (needs root)'
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l dns -d 'Also serve a DNS hierarchy from zone files built into netlab: root 127.0.0.2, test. 127.0.0.3-4, example.test. 127.0.0.5-7 (one lame, one stale), big.test. 127.0.0.8 (truncates over UDP), cdn.test. 127.0.0.9 (glueless), cdnhost.test. 127.0.0.10, signed.test. and broken.test. 127.0.0.11 (DNSSEC-signed at start; the DS test. holds for broken.test. matches no key). Always on this host\'s loopback, in netns mode too'
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l sockets -d 'Also build socket-state scenarios on loopback (for `netlab sockets`): a server leaking CLOSE_WAIT, a client leaving TIME_WAIT, a listener whose accept queue overflows'
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l tls -d 'Also serve a TLS matrix on --bind with a private CA made at start: valid, tls12, expired, not_yet_valid, wrong_host, incomplete_chain, self_signed, hrr, alpn_h2, ocsp (one port each, in that order). Certificates, keys and the CA file go to --tls-dir'
complete -c netlab -n "__fish_netlab_using_subcommand lab" -l io-servers -d 'Also serve two echo servers on --bind, to watch I/O models with a syscall tracer: `blocking` (thread per connection: one thread blocked in accept, one per connection blocked reading) and `epoll` (one thread, non-blocking sockets, epoll_wait)'
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
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from tcp dns tls arp sockets syscalls lab generate help" -f -a "tcp" -d 'TCP: handshake timing and teardown'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from tcp dns tls arp sockets syscalls lab generate help" -f -a "dns" -d 'DNS: resolution from the root, every server, every hop'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from tcp dns tls arp sockets syscalls lab generate help" -f -a "tls" -d 'TLS: timed handshake breakdown, certificate chain and every verification problem'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from tcp dns tls arp sockets syscalls lab generate help" -f -a "arp" -d 'ARP: who-has with wire timing, conflicts, probes, announcements, scans, the neighbour table'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from tcp dns tls arp sockets syscalls lab generate help" -f -a "sockets" -d 'Socket-state summary: CLOSE_WAIT / TIME_WAIT by process, port and peer, and why they pile up'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from tcp dns tls arp sockets syscalls lab generate help" -f -a "syscalls" -d 'strace-style view of a server\'s network system calls: spawn, attach, or a snapshot of what each thread is blocked in'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from tcp dns tls arp sockets syscalls lab generate help" -f -a "lab" -d 'Serve a local mini-internet (loopback or namespaces) for demos and tests'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from tcp dns tls arp sockets syscalls lab generate help" -f -a "generate" -d 'Write man pages and shell completions (for packagers and `make docs`)'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from tcp dns tls arp sockets syscalls lab generate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netlab -n "__fish_netlab_using_subcommand help; and __fish_seen_subcommand_from tcp" -f -a "handshake" -d 'Time the three-way handshake from kernel packet timestamps, like ping for a TCP port'
complete -c netlab -n "__fish_netlab_using_subcommand help; and __fish_seen_subcommand_from dns" -f -a "trace" -d 'Resolve NAME from the root as a resolver does, asking every server of every level'
complete -c netlab -n "__fish_netlab_using_subcommand help; and __fish_seen_subcommand_from dns" -f -a "lookup" -d 'What an application gets for NAME, and why: the hosts file, resolv.conf (servers, search list, ndots, options), the configured resolver\'s answer with TTLs and time, and with --compare the authoritative answer from a trace, flagging stale or different data'
complete -c netlab -n "__fish_netlab_using_subcommand help; and __fish_seen_subcommand_from tls" -f -a "inspect" -d 'Timed TLS handshake breakdown: message timeline, negotiated parameters, certificate chain and every verification problem'
complete -c netlab -n "__fish_netlab_using_subcommand help; and __fish_seen_subcommand_from arp" -f -a "who-has" -d 'Ask who has IP: every MAC that answers, request → reply time on the wire'
complete -c netlab -n "__fish_netlab_using_subcommand help; and __fish_seen_subcommand_from arp" -f -a "probe" -d 'RFC 5227 duplicate address detection: is IP free? (sender 0.0.0.0, listens the whole window; exit 0 free, 1 in use)'
complete -c netlab -n "__fish_netlab_using_subcommand help; and __fish_seen_subcommand_from arp" -f -a "announce" -d 'Send gratuitous ARP for IP (request form; --reply for the reply form)'
complete -c netlab -n "__fish_netlab_using_subcommand help; and __fish_seen_subcommand_from arp" -f -a "scan" -d 'Scan an IPv4 range: who answers, with MAC, vendor and time'
complete -c netlab -n "__fish_netlab_using_subcommand help; and __fish_seen_subcommand_from arp" -f -a "table" -d 'The kernel\'s neighbour table (IPv4 ARP and IPv6 ND entries): address, MAC, state'
