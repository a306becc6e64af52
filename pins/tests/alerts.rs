//! The pin monitor's and the CT watch's Prometheus alerting rules are valid and fire as
//! documented: `promtool check rules`, then `promtool test rules` on the
//! unit tests beside them. promtool comes from scripts/ensure-tools; this
//! test fails, never skips, without it.

use std::path::Path;
use std::process::Command;

#[test]
fn promtool_accepts_and_unit_tests_the_alerting_rules() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus");
    for args in [
        ["check", "rules", "pins-alerts.yml"],
        ["test", "rules", "pins-alerts.test.yml"],
    ] {
        let out = Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("promtool is missing: run scripts/ensure-tools");
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
