//! `sockbench load` against the servers people run, each started here on
//! loopback from the config the repository ships (`configs/`,
//! docs/REAL-SERVERS.md): python's `http.server` (HTTP/1.0, closes after
//! every answer), nginx, Redis and memcached. A server whose binary is
//! missing is skipped with the reason printed (`scripts/real-servers.sh`
//! installs them; CI runs it first). Each server runs in a process group
//! of its own, stopped with everything it started when its guard
//! ([`ExternalServer`]) is dropped, on failure too.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sockbench::external::{ExternalServer, ServerCommand, DEFAULT_GRACE, DEFAULT_READY_TIMEOUT};

/// The repository, where `configs/` is.
fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Whether `binary` is installed (Debian puts daemons in /usr/sbin, which
/// is not on every PATH); if not, say which test is skipped and why.
fn is_installed(binary: &str, test: &str) -> bool {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .any(|dir| Path::new(dir).join(binary).is_file());
    if !found {
        eprintln!(
            "{test}: skipped, {binary} is not installed (./scripts/real-servers.sh installs it)"
        );
    }
    found
}

/// Start `command` (`{port}` filled in) and wait until it accepts.
fn start(command: &str) -> ExternalServer {
    ServerCommand::parse(command)
        .unwrap()
        .start(DEFAULT_READY_TIMEOUT, DEFAULT_GRACE)
        .unwrap_or_else(|err| panic!("{command}: {err}"))
}

/// A fresh scratch directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sockbench-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What one `sockbench load` run printed, and its CSV row.
struct Run {
    output: Output,
    row: HashMap<String, String>,
}

impl Run {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    fn count(&self, column: &str) -> u64 {
        self.row[column].parse().unwrap()
    }

    /// Exit status 0, no error, something answered.
    fn assert_clean(&self) {
        assert!(
            self.output.status.success() && self.count("errors") == 0 && self.count("requests") > 0,
            "{}\n{}",
            self.stdout(),
            String::from_utf8_lossy(&self.output.stderr)
        );
    }
}

/// Run `sockbench load ARGS --duration 1s`, its CSV row in `dir`.
fn load(dir: &Path, args: &[&str]) -> Run {
    let csv = dir.join("load.csv");
    let _ = std::fs::remove_file(&csv);
    let output = Command::new(env!("CARGO_BIN_EXE_sockbench"))
        .arg("load")
        .args(args)
        .args(["--duration", "1s", "--csv"])
        .arg(&csv)
        .output()
        .expect("run the sockbench binary");
    let row = csv::Reader::from_path(&csv)
        .unwrap_or_else(|err| {
            panic!(
                "no CSV ({err}): {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
        .deserialize()
        .next()
        .expect("one row")
        .unwrap();
    Run { output, row }
}

/// python's http.server answers HTTP/1.0 and closes after each answer:
/// every close is a reconnect, counted as such, and none is an error.
#[test]
fn python_http_server_closes_after_each_answer_and_is_reconnected() {
    if !is_installed("python3", "python_http_server") {
        return;
    }
    let dir = scratch("python-http");
    let server = start(&format!(
        "python3 -m http.server {{port}} --bind 127.0.0.1 --directory {}",
        repo().join("configs/www").display()
    ));
    let url = format!("http://{}/static.txt", server.addr());
    let run = load(&dir, &["--url", &url, "--connections", "2"]);
    run.assert_clean();
    let closed = run.count("closed_by_server");
    assert!(closed > 0, "{}", run.stdout());
    // One connection per answer, plus the ones open at the end.
    assert!(
        run.count("connections_established") >= closed,
        "{}",
        run.stdout()
    );
    assert!(run.stdout().contains("closed by server (reconnected)"));
}

/// nginx with the repository's config: `--url` with a path and
/// `--expect-body`; a path it does not have is counted as status 404, its
/// head shown once.
#[test]
fn nginx_serves_a_path_and_its_404s_are_counted_by_code() {
    if !is_installed("nginx", "nginx") {
        return;
    }
    let dir = scratch("nginx");
    // Started as root, nginx serves as nobody, who may not read a clone in
    // a private home: the files are copied to the scratch directory (0755).
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    for file in std::fs::read_dir(repo().join("configs/www")).unwrap() {
        let file = file.unwrap();
        std::fs::copy(file.path(), www.join(file.file_name())).unwrap();
    }
    let config = std::fs::read_to_string(repo().join("configs/nginx.conf"))
        .unwrap()
        .replace("{www}", &www.display().to_string())
        .replace(
            "/tmp/sockbench-nginx.pid",
            &dir.join("nginx.pid").display().to_string(),
        )
        .replace("{port}", "PORT");
    std::fs::write(dir.join("nginx.conf.in"), config).unwrap();
    // The port is known only at start: sh writes it into the config, then
    // becomes nginx (exec), in the foreground.
    let server = start(&format!(
        "sh -c 'sed s/PORT/$1/g $2/nginx.conf.in > $2/nginx.conf && exec nginx -p $2 -e stderr -c $2/nginx.conf -g \"daemon off;\"' sh {{port}} {}",
        dir.display()
    ));
    let base = format!("http://{}", server.addr());
    let run = load(
        &dir,
        &[
            "--url",
            &format!("{base}/"),
            "--expect-body",
            "Hello from sockbench\n",
            "--connections",
            "4",
        ],
    );
    run.assert_clean();
    assert_eq!(run.row["service"], "http1");
    load(&dir, &["--url", &format!("{base}/static.txt")]).assert_clean();
    let missing = load(&dir, &["--url", &format!("{base}/missing.txt")]);
    assert!(!missing.output.status.success());
    assert!(missing.count("errors_failed") > 0);
    assert_eq!(missing.count("errors"), missing.count("errors_failed"));
    assert_eq!(missing.count("requests"), 0);
    let stdout = missing.stdout();
    assert!(stdout.contains("status 404 x"), "{stdout}");
    assert!(stdout.contains("HTTP/1.1 404 Not Found"), "{stdout}");
}

/// Redis with the repository's config: PING, and SET then GET of keys
/// drawn from `--keys`; PING also spread over two generator processes on
/// a fixed rate, with both latencies.
#[test]
fn redis_answers_ping_set_and_get_over_processes_and_rates() {
    if !is_installed("redis-server", "redis") {
        return;
    }
    let dir = scratch("redis");
    let server = start(&format!(
        "redis-server {} --port {{port}}",
        repo().join("configs/redis.conf").display()
    ));
    let addr = server.addr().to_string();
    let redis = |extra: &[&str]| {
        let mut args = vec!["--service", "redis", "--addr", &addr];
        args.extend_from_slice(extra);
        load(&dir, &args)
    };
    redis(&["--connections", "4", "--pipeline", "4"]).assert_clean();
    redis(&["--command", "SET k:{n} v", "--keys", "100"]).assert_clean();
    redis(&["--command", "GET k:{n}", "--keys", "100"]).assert_clean();
    let spread = redis(&["--processes", "2", "--connections", "4", "--rate", "400"]);
    spread.assert_clean();
    assert!(!spread.row["uncorrected_p99_us"].is_empty());
    let unknown = redis(&["--command", "NOSUCHCOMMAND"]);
    assert!(unknown.count("errors_failed") > 0);
    assert!(
        unknown.stdout().contains("error reply x"),
        "{}",
        unknown.stdout()
    );
}

/// memcached from the repository's command line: `get` of keys set before
/// the run (every get finds its value), and `set`.
#[test]
fn memcached_answers_get_of_primed_keys_and_set() {
    if !is_installed("memcached", "memcached") {
        return;
    }
    let dir = scratch("memcached");
    let server = start(&format!(
        "{} {{port}}",
        repo().join("configs/memcached.sh").display()
    ));
    let addr = server.addr().to_string();
    let memcached = |command: &str| {
        load(
            &dir,
            &[
                "--service",
                "memcached",
                "--addr",
                &addr,
                "--command",
                command,
                "--keys",
                "100",
                "--connections",
                "2",
            ],
        )
    };
    memcached("get k:{n}").assert_clean();
    memcached("set k:{n} hello").assert_clean();
}
