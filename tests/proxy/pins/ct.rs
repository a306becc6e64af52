//! `[pins.ct_watch]` in the real proxy: the same watch in the background,
//! over the test logs; its metrics on the admin `/metrics` and its events
//! in the log.

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_runs_the_watch_and_serves_its_metrics() {
    let w = super::world::World::new("proxy");
    let n = w.logged.len() as f64;
    let proxy = super::kit::start(
        &format!(
            "config = \"{}\"\n\n[pins.ct_watch]\nenabled = true\nstate = \"{}\"\nlogs = [\"{}\"]\nstart = \"beginning\"\ninterval = \"1s\"\n",
            w.pins.display(),
            w.state("proxy-ct").display(),
            w.list.display()
        ),
        "",
    )
    .await;
    let p = &proxy;
    for log in [&w.nginx.url, &w.rfc.url] {
        let series = format!("attestgate_ct_log_position{{log=\"{log}\"}}");
        super::kit::until(Duration::from_secs(20), "the watch read the log", || {
            let s = series.clone();
            async move { p.metric(&s).await == Some(n) }
        })
        .await;
    }
    for (verdict, count) in [
        ("known_leaf", 2.0),
        ("unknown_issuer", 1.0),
        ("known_backup", 1.0),
    ] {
        let s = format!(
            "attestgate_ct_certs_total{{domain=\"api.example.com\",verdict=\"{verdict}\"}}"
        );
        assert_eq!(proxy.metric(&s).await, Some(count), "{s}");
    }
    assert_eq!(
        proxy
            .metric(&format!(
                "attestgate_ct_log_tree_size{{log=\"{}\"}}",
                w.rfc.url
            ))
            .await,
        Some(n)
    );
    let logs = proxy.logs();
    assert!(logs.contains("\"verdict\":\"unknown_issuer\""), "{logs}");
}

#[test]
fn check_config_names_a_ct_watch_problem() {
    let w = super::world::World::new("proxycfg");
    let cfg = w.dir.0.join("attestgate.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[route]]\nname = \"open\"\npath_prefix = \"/\"\nupstream = \"demo\"\ntoken = \"off\"\n\n[pins]\nconfig = \"{}\"\n\n[pins.ct_watch]\nenabled = true\nstate = \"{}\"\nstart = \"sideways\"\n",
            w.pins.display(),
            w.state("x").display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(super::kit::bin())
        .args(["check-config", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pins.ct_watch.start"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
