//! For the services' tests: a consumer binary run with one bad setting must exit 2 naming it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `binary` with `env` on top of the test's environment (the ops listener on port 0) and
/// returns its exit code and standard error. A binary still running after 20 s is killed and
/// reported as `None`: it accepted the setting.
pub fn run_with(binary: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(binary);
    cmd.env("OPS_LISTEN_ADDR", "127.0.0.1:0").env("LOG_LEVEL", "off");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = match cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn() {
        Ok(c) => c,
        Err(e) => panic!("cannot run {binary}: {e}"),
    };
    let started = Instant::now();
    let code = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status.code(),
            Ok(None) if started.elapsed() < Duration::from_secs(20) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) | Err(_) => {
                // It runs: the setting was accepted. Killing it is the test's cleanup; a kill
                // that fails means it exited meanwhile.
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        use std::io::Read;
        // A partial read still shows what the binary said; the assertion reports it.
        let _ = err.read_to_string(&mut stderr);
    }
    (code, stderr)
}

/// Asserts that each `(variable, value, setting)` alone, on top of the good settings `base`,
/// makes `binary` exit 2 with a message naming `setting`.
pub fn assert_bad_settings_exit_2(binary: &str, base: &[(&str, &str)], cases: &[(&str, &str, &str)]) {
    for (var, value, setting) in cases {
        let mut env = base.to_vec();
        env.push((var, value));
        let (code, stderr) = run_with(binary, &env);
        assert_eq!(code, Some(2), "{var}={value}: exit code {code:?}, stderr: {stderr}");
        assert!(stderr.contains(setting), "{var}={value}: stderr does not name {setting}: {stderr}");
    }
}
