//! Generated man pages and completions match the code; docs name what the code has.

use crate::util::*;

#[test]
fn generated_docs_do_not_drift() {
    let dir = tempfile::tempdir().unwrap();
    let o = netlab(&["generate", "--out-dir", dir.path().to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["man", "completions"] {
        let mut fresh: Vec<_> = std::fs::read_dir(dir.path().join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        fresh.sort();
        let mut committed: Vec<_> = std::fs::read_dir(root.join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        committed.sort();
        assert_eq!(fresh, committed, "{sub}/: run `make docs` and commit");
        for f in fresh {
            let a = std::fs::read(dir.path().join(sub).join(&f)).unwrap();
            let b = std::fs::read(root.join(sub).join(&f)).unwrap();
            assert!(
                a == b,
                "{sub}/{f:?} drifted from the code: run `make docs` and commit"
            );
        }
    }
}

#[test]
fn man_page_documents_exit_codes() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for page in ["netlab.1", "netlab-tcp-handshake.1", "netlab-lab.1"] {
        let m = std::fs::read_to_string(root.join("man").join(page)).unwrap();
        assert!(m.contains("77") && m.contains("Exit status"), "{page}");
    }
}

#[test]
fn json_doc_names_every_contract_key() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/json.md")).unwrap();
    for key in [
        "schema_version",
        "probes[].outcome",
        "probes[].rtt_us",
        "probes[].timing_source",
        "synack.isn",
        "synack.ttl",
        "synack.window",
        "synack.mss",
        "synack.wscale",
        "synack.sack_perm",
        "summary.sent",
        "summary.open",
        "summary.closed",
        "summary.filtered",
        "summary.loss_pct",
        "rtt_us.p99",
        "teardown.first_fin",
        "neighbour_us",
    ] {
        assert!(doc.contains(key), "docs/json.md does not mention {key}");
    }
}
