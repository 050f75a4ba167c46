//! netlab's integration tests: one test binary (like ripgrep's), the real `netlab` binary
//! against servers the tests start themselves — loopback, or namespaces they create (root).

mod arp;
mod bpf;
mod contract;
mod dns;
mod docs;
mod lab;
mod lookup;
mod netns;
mod sockets;
mod syscalls;
mod tcp;
mod tls;
mod util;
