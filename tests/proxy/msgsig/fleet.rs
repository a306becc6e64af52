//! The fleet: three proxies on 127.0.0.1, .2 and .3 sharing one real
//! `redis-server`: a signature seen by one is refused by the others; with
//! Redis stopped, `on_redis_error` refuses or allows; Redis back, replay
//! protection resumes.

use std::time::Duration;

use attestgate_testkit::client::Client;
use attestgate_testkit::msgsig::{ApproovVectors, InstallSigner};
use attestgate_testkit::proxy::{Proxy, Start};
use attestgate_testkit::redis::RedisServer;
use attestgate_testkit::upstream::{Behaviour, RecordingUpstream};

use super::*;

const HOSTS: [&str; 3] = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
/// What a load balancer in front of the fleet is called: the client signs
/// this authority whichever instance gets the request.
const LB: &str = "api.example.com";

fn fleet_config(up: &str, redis: &str) -> String {
    format!(
        r#"[token]
[[token.secret]]
base64 = {{ value = "{secret}" }}

[[route]]
name = "strict"
path_prefix = "/strict"
upstream = "{up}"
[route.policy.message_signing]
replay = "redis"
redis_url = "{redis}"
redis_timeout = "300ms"

[[route]]
name = "lenient"
path_prefix = "/lenient"
upstream = "{up}"
[route.policy.message_signing]
replay = "redis"
redis_url = "{redis}"
redis_timeout = "300ms"
on_redis_error = "allow"
"#,
        secret = ApproovVectors::secret()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fleet_sharing_redis_refuses_a_replay_on_every_instance() {
    let mut redis = RedisServer::start();
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let config = fleet_config(&up.url(), &redis.url());
    let mut fleet = Vec::new();
    for host in HOSTS {
        fleet.push(
            Proxy::start_on_host(
                bin(),
                host,
                Start {
                    config: &config,
                    ..Start::default()
                },
            )
            .await,
        );
    }
    let (c, key) = (Client::new(), InstallSigner::approov_test_key());
    // Each instance sees a fresh signature first, then the ones the others
    // saw.
    let signed: Vec<Signed> = (0..3).map(|_| post(LB, "/strict/x", BODY, &key)).collect();
    for (i, p) in fleet.iter().enumerate() {
        let r = send(&c, &p.url(""), &signed[i], Some(LB)).await;
        assert_eq!(r.status, 200, "{}: {}", p.addr, r.text());
    }
    let mut replays = 0;
    for (i, p) in fleet.iter().enumerate() {
        for (j, s) in signed.iter().enumerate() {
            if i == j {
                continue;
            }
            let r = send(&c, &p.url(""), s, Some(LB)).await;
            assert_eq!(
                r.status, 401,
                "{} accepted a replay from instance {j}",
                p.addr
            );
            replays += 1;
        }
    }
    assert_eq!(up.count(), 3, "only first uses reached the upstream");
    let mut counted = 0.0;
    for p in &fleet {
        counted += rejections(p, "strict", "replay").await;
    }
    assert_eq!(counted, replays as f64);
    eprintln!("fleet: 3 first uses passed, {replays} cross-instance replays refused");

    // Redis goes away mid-test: the strict route refuses, the lenient one
    // lets fresh signatures through; both count the store errors.
    redis.stop();
    for p in &fleet {
        let s = get(LB, "/strict/y", FULL, &key);
        let r = send(&c, &p.url(""), &s, Some(LB)).await;
        assert_eq!(r.status, 401, "{}: refuse without redis", p.addr);
        let s = get(LB, "/lenient/y", FULL, &key);
        let r = send(&c, &p.url(""), &s, Some(LB)).await;
        assert_eq!(r.status, 200, "{}: allow without redis", p.addr);
        let errors = p
            .metric("attestgate_replay_store_errors_total{kind=\"error\"}")
            .await
            .unwrap_or(0.0)
            + p.metric("attestgate_replay_store_errors_total{kind=\"timeout\"}")
                .await
                .unwrap_or(0.0);
        assert!(errors >= 2.0, "{}: {errors} store errors counted", p.addr);
    }
    assert_eq!(up.count(), 6);

    // Redis back on the same port: replay protection resumes.
    let _redis = RedisServer::start_on(redis.port());
    let s = get(LB, "/strict/z", FULL, &key);
    let mut ok = false;
    for _ in 0..50 {
        if send(&c, &fleet[0].url(""), &s, Some(LB)).await.status == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "no recovery after redis came back");
    let r = send(&c, &fleet[1].url(""), &s, Some(LB)).await;
    assert_eq!(r.status, 401, "replay after recovery");
}
