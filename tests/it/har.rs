//! `--har FILE`: the run as an HTTP Archive 1.2, read back from what the built binary
//! writes against its embedded server, and validated against npm's `har-schema` (with
//! `har-validator`, as HAR's users do) where node and npm are at hand.

use crate::harness::{assert_exit, command, one_stderr_line, run, scratch, show, text};
use serde_json::Value;
use std::path::Path;

/// The entries of the HAR at `path`, after checking the log's frame.
fn entries(har: &Value) -> &Vec<Value> {
    assert_eq!(har["log"]["version"], "1.2");
    assert_eq!(har["log"]["creator"]["name"], "flags-dl");
    har["log"]["entries"].as_array().expect("entries")
}

/// HAR's rule: an entry's `time` is the sum of its timings that are not -1, `ssl` being
/// counted inside `connect` (and our custom `_save` after the response, not at all).
fn assert_time_is_the_sum(entry: &Value) {
    let timings = &entry["timings"];
    let sum: f64 = ["blocked", "dns", "connect", "send", "wait", "receive"]
        .iter()
        .filter_map(|name| timings[name].as_f64())
        .filter(|t| *t >= 0.0)
        .sum();
    let time = entry["time"].as_f64().unwrap();
    assert!(
        (time - sum).abs() < 0.01,
        "time {time} is not {sum}: {entry}"
    );
    let ssl = timings["ssl"].as_f64().unwrap();
    let connect = timings["connect"].as_f64().unwrap();
    assert!(ssl <= connect, "ssl is inside connect: {entry}");
}

#[test]
fn a_har_has_an_entry_per_exchange_whose_time_is_the_sum_of_its_timings() {
    for mode in ["async", "threads", "sequential"] {
        let dir = scratch();
        let out = run(
            dir.path(),
            &[
                "BR", "CN", "XX", "--mode", mode, "--har", "run.har", "-q", "-o", "out",
            ],
        );
        assert_exit(&out, 0);
        let har: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("run.har")).unwrap()).unwrap();
        let entries = entries(&har);
        assert_eq!(entries.len(), 3, "{mode}: one entry per request");
        for entry in entries {
            assert_time_is_the_sum(entry);
            let status = entry["response"]["status"].as_u64().unwrap();
            assert!([200, 404].contains(&status), "{entry}");
            assert_eq!(entry["serverIPAddress"], "127.0.0.1", "{entry}");
            assert!(entry["connection"].is_string(), "{entry}");
            let headers = entry["response"]["headers"].as_array().unwrap();
            assert!(
                headers.iter().any(|h| h["name"] == "content-type"),
                "the whole head: {entry}"
            );
            if status == 200 {
                assert_eq!(entry["response"]["content"]["mimeType"], "image/gif");
                assert!(entry["timings"]["_save"].as_f64().unwrap() >= 0.0);
            }
        }
    }
}

#[test]
fn under_names_the_metadata_and_the_flag_are_entries_of_their_own_on_one_connection() {
    let dir = scratch();
    let out = run(
        dir.path(),
        &["BR", "--names", "--har", "-", "-q", "-o", "out"],
    );
    assert_exit(&out, 0);
    let har: Value = serde_json::from_slice(&out.stdout).unwrap();
    let entries = entries(&har);
    let urls: Vec<&str> = entries
        .iter()
        .map(|e| e["request"]["url"].as_str().unwrap())
        .collect();
    assert!(
        urls.len() == 2 && urls[0].ends_with("/br/metadata.json") && urls[1].ends_with("/br.gif"),
        "{urls:?}"
    );
    assert_eq!(entries[0]["connection"], entries[1]["connection"]);
    // The second reused the first's connection: no handshake of its own.
    assert_eq!(entries[1]["timings"]["connect"], -1.0);
    assert!(entries[0]["timings"]["connect"].as_f64().unwrap() >= 0.0);
}

#[test]
fn a_har_into_a_missing_folder_or_on_the_reports_stdout_is_refused_before_the_run() {
    let dir = scratch();
    let out = run(dir.path(), &["BR", "--har", "no/such/run.har", "-o", "out"]);
    assert_exit(&out, 2);
    let line = one_stderr_line(&out);
    assert!(line.contains("--har no/such/run.har"), "{line}");
    let out = run(dir.path(), &["BR", "--har", "-", "-o", "out"]);
    assert_exit(&out, 2);
    assert!(one_stderr_line(&out).contains("add -q"), "{}", show(&out));
    assert!(!dir.path().join("out").exists(), "nothing downloaded");
}

/// A folder with npm's `har-validator` installed (`FLAGS_DL_HAR_VALIDATOR` names one
/// already made), or why there is none.
fn har_validator(scratch: &Path) -> Result<std::path::PathBuf, String> {
    if let Some(dir) = std::env::var_os("FLAGS_DL_HAR_VALIDATOR") {
        return Ok(dir.into());
    }
    for tool in ["node", "npm"] {
        if command(tool).arg("--version").output().is_err() {
            return Err(format!("{tool} is not installed"));
        }
    }
    let installed = command("npm")
        .args(["install", "--no-audit", "--no-fund", "--silent"])
        .arg("--prefix")
        .arg(scratch)
        .arg("har-validator@5")
        .output()
        .map_err(|e| format!("npm did not run: {e}"))?;
    if !installed.status.success() {
        return Err(format!(
            "npm could not install har-validator: {}",
            text(&installed.stderr).trim()
        ));
    }
    println!(
        "installed har-validator with npm into {}",
        scratch.display()
    );
    Ok(scratch.to_path_buf())
}

#[test]
fn a_har_validates_against_the_har_1_2_schema() {
    let dir = scratch();
    let validator = match har_validator(&dir.path().join("npm")) {
        Ok(dir) => dir,
        Err(why) => {
            println!("skipping the HAR schema check: {why}");
            return;
        }
    };
    // An error and a redirect-free run of found and missing flags, over TLS and HTTP/2.
    for extra in [&["--tls"][..], &["--mode", "threads", "--tls"], &[]] {
        let mut args = vec!["BR", "CN", "XX", "--har", "run.har", "-q", "-o", "out"];
        args.extend_from_slice(extra);
        let out = run(dir.path(), &args);
        assert_exit(&out, 0);
        let script = "const v = require(process.argv[1] + '/node_modules/har-validator');\n\
                      const har = JSON.parse(require('fs').readFileSync(process.argv[2]));\n\
                      v.har(har).then(() => console.log('valid'))\n\
                      .catch(e => { console.log(JSON.stringify(e.errors || String(e))); process.exit(1); });";
        let checked = command("node")
            .args(["-e", script])
            .arg(&validator)
            .arg(dir.path().join("run.har"))
            .output()
            .unwrap();
        assert!(
            checked.status.success() && text(&checked.stdout).trim() == "valid",
            "{extra:?}: not a valid HAR 1.2: {}{}",
            text(&checked.stdout),
            text(&checked.stderr)
        );
    }
}
