//! What the binary needs at start-up: every run of a one-shot command pays for each shared
//! library it loads.

use std::process::Command;

use crate::util::*;

#[test]
fn loads_no_maths_library() {
    let Ok(out) = Command::new("readelf").args(["-d", BIN]).output() else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIP loads_no_maths_library: readelf (binutils) is not installed"
        );
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let needed: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1)?.split(']').next())
        .collect();
    assert!(
        needed.iter().any(|n| n.starts_with("libc.so")),
        "{needed:?}"
    );
    // pow and exp come from netlab itself (src/sys): a dependency that starts calling another
    // libm function brings libm.so back, and this says so.
    assert!(
        !needed.iter().any(|n| n.starts_with("libm.so")),
        "{needed:?}"
    );
}
