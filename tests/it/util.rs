//! Helpers: run the real binary, start `netlab lab`, skip root-only tests with a reason.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_netlab");

pub fn netlab(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run netlab")
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|c| c & (1 << 13) != 0 && c & (1 << 12) != 0 && c & (1 << 21) != 0)
}

/// Skip (return true) with a printed reason unless root.
pub fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    // Written to the real stderr (not the test harness's capture) so the reason is seen.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIP {test}: needs root (CAP_NET_RAW, CAP_NET_ADMIN, CAP_SYS_ADMIN); CI runs it as root"
    );
    true
}

/// A running `netlab lab`; SIGTERM on drop (it cleans up its namespaces itself).
pub struct Lab {
    pub child: Child,
    pub ready: serde_json::Value,
    pub prefix: Option<String>,
    /// Lines printed after the `ready` event (the summary, once the lab stopped).
    pub later: Arc<Mutex<Vec<String>>>,
}

impl Lab {
    pub fn loopback() -> Lab {
        Lab::start(
            &["lab", "--jsonl", "--port-base", "0", "--duration", "300s"],
            None,
        )
    }

    /// A loopback lab that also serves the DNS hierarchy on `dns_port`.
    pub fn dns(dns_port: u16) -> Lab {
        Lab::start(
            &[
                "lab",
                "--jsonl",
                "--port-base",
                "0",
                "--dns",
                "--dns-port",
                &dns_port.to_string(),
                "--duration",
                "60s",
            ],
            None,
        )
    }

    /// A loopback lab with its I/O servers (blocking and epoll echo servers).
    pub fn io() -> Lab {
        Lab::start(
            &[
                "lab",
                "--jsonl",
                "--port-base",
                "0",
                "--io-servers",
                "--io-port-base",
                "0",
                "--duration",
                "120s",
            ],
            None,
        )
    }

    pub fn netns(tag: &str) -> Lab {
        let prefix = format!("nlt{}{tag}", std::process::id() % 100000);
        Lab::start(
            &[
                "lab",
                "--netns",
                "--jsonl",
                "--prefix",
                &prefix,
                "--delay",
                "2ms",
                "--duration",
                "300s",
            ],
            Some(prefix.clone()),
        )
    }

    pub fn start(args: &[&str], prefix: Option<String>) -> Lab {
        let mut child = Command::new(BIN)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn lab");
        let out = child.stdout.take().expect("lab stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let later = Arc::new(Mutex::new(Vec::new()));
        let keep = later.clone();
        std::thread::spawn(move || {
            let mut r = BufReader::new(out);
            let mut line = String::new();
            let _ = r.read_line(&mut line);
            let _ = tx.send(line);
            // Keep draining so the lab never blocks on a full pipe (the lab prints only its
            // summary after the ready event, so what is kept stays small).
            let mut rest = String::new();
            while r.read_line(&mut rest).unwrap_or(0) > 0 {
                if let Ok(mut v) = keep.lock() {
                    v.push(std::mem::take(&mut rest));
                }
                rest.clear();
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let ready: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(_) => {
                let _ = child.kill();
                let o = child.wait_with_output().expect("lab output");
                panic!(
                    "lab did not start: {line:?} {}",
                    String::from_utf8_lossy(&o.stderr)
                )
            }
        };
        assert_eq!(ready["type"], "ready");
        // Every lab start (loopback and netns) is also a contract check.
        let _: crate::contract::LabReady = crate::contract::parse_line(&line, "ready");
        Lab {
            child,
            ready,
            prefix,
            later,
        }
    }

    /// Port of a scenario.
    pub fn port(&self, name: &str) -> u16 {
        self.ready["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .and_then(|s| s["port"].as_u64())
            .unwrap_or_else(|| panic!("no scenario {name}")) as u16
    }

    /// Run netlab inside the client namespace.
    pub fn client(&self, args: &[&str]) -> Output {
        let ns = format!("{}-c", self.prefix.as_deref().expect("netns lab"));
        Command::new("ip")
            .args(["netns", "exec", &ns, BIN])
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .expect("ip netns exec")
    }

    /// SIGTERM and wait; returns the exit status code.
    pub fn stop(&mut self) -> i32 {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let end = Instant::now() + Duration::from_secs(15);
        while Instant::now() < end {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        -1
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
        if let Some(p) = &self.prefix {
            for s in ["c", "m", "s"] {
                let _ = Command::new("ip")
                    .args(["netns", "del", &format!("{p}-{s}")])
                    .output();
            }
        }
    }
}
