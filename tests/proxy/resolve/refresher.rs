//! Upstream re-resolution on its own (attestgate_proxy::resolve), against
//! real listeners on 127.0.0.2 and 127.0.0.3 named in a hosts file the
//! test rewrites: a changed answer is picked up while connecting, the
//! connections spread over every address, and an address that refuses is
//! skipped until the next resolve.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use attestgate_proxy::resolve::{Addresses, HostsFile, Refresher};
use attestgate_testkit::{TempDir, eventually, eventually_async, holds_for};
use tokio::net::{TcpListener, TcpStream};

const INTERVAL: Duration = Duration::from_millis(150);
/// How long a change may take to be seen, on a loaded machine.
const WAIT: Duration = Duration::from_secs(10);

/// Accepts and counts connections until dropped.
struct Counted {
    addr: SocketAddr,
    count: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Counted {
    fn serve(listener: TcpListener) -> Counted {
        let addr = listener.local_addr().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        let task = tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                drop(s);
            }
        });
        Counted { addr, count, task }
    }
    fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Listeners on 127.0.0.2 and 127.0.0.3 with the same port.
async fn pair() -> (TcpListener, TcpListener) {
    for _ in 0..20 {
        let a = TcpListener::bind("127.0.0.2:0").await.unwrap();
        let port = a.local_addr().unwrap().port();
        if let Ok(b) = TcpListener::bind(("127.0.0.3", port)).await {
            return (a, b);
        }
    }
    panic!("no port free on both 127.0.0.2 and 127.0.0.3");
}

/// One connection through the picker, as the proxy would make it: a
/// refused address is reported. Returns where it connected.
async fn connect(addrs: &Addresses) -> Result<SocketAddr, SocketAddr> {
    let a = addrs.pick().expect("an address");
    match TcpStream::connect(a).await {
        Ok(_) => Ok(a),
        Err(_) => {
            addrs.refused(a);
            Err(a)
        }
    }
}

#[tokio::test]
async fn a_changed_answer_is_picked_up_spread_over_and_refusing_addresses_are_skipped() {
    let dir = TempDir::new("resolve");
    let (l2, l3) = pair().await;
    let port = l2.local_addr().unwrap().port();
    let (s2, s3) = (Counted::serve(l2), Counted::serve(l3));
    let hosts = dir.join("hosts");
    std::fs::write(
        &hosts,
        "# test\n127.0.0.2 api.test api\n10.9.9.9 other.test\n",
    )
    .unwrap();

    let addrs = Addresses::new(Vec::new());
    let refresher = Refresher {
        host: "api.test".into(),
        port,
        interval: INTERVAL,
        resolver: HostsFile(hosts.clone()),
        addrs: addrs.clone(),
    };
    assert_eq!(refresher.resolve_once().await, Ok(true));
    assert_eq!(addrs.all(), [s2.addr]);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(refresher.run(async move {
        let _ = stopped.await;
    }));

    for _ in 0..20 {
        assert_eq!(connect(&addrs).await, Ok(s2.addr));
    }
    assert_eq!(s3.count(), 0);

    // The name now has two addresses: picked up while connecting, and the
    // connections spread over both.
    std::fs::write(&hosts, "127.0.0.2 api.test\n127.0.0.3 api.test\n").unwrap();
    assert!(
        eventually(WAIT, || addrs.all() == [s2.addr, s3.addr]).await,
        "{:?}",
        addrs.all()
    );
    let (b2, b3) = (s2.count(), s3.count());
    for _ in 0..40 {
        connect(&addrs).await.unwrap();
    }
    // (The server counts a connection once it has accepted it.)
    let spread = eventually(Duration::from_secs(2), || {
        (s2.count() - b2, s3.count() - b3) == (20, 20)
    })
    .await;
    assert!(spread, "{:?}", (s2.count() - b2, s3.count() - b3));

    // 127.0.0.3 goes away: one refused connection, then it is skipped...
    let dead = s3.addr;
    drop(s3);
    tokio::task::yield_now().await;
    let mut refused = 0;
    for _ in 0..20 {
        if let Err(a) = connect(&addrs).await {
            assert_eq!(a, dead);
            refused += 1;
        }
    }
    assert!(refused <= 2, "refused {refused} times: not skipped");
    // ...until the next resolve, which tries it again.
    let gen_before = addrs.generation();
    let tried_again = eventually_async(WAIT, || async { connect(&addrs).await == Err(dead) }).await;
    assert!(tried_again, "the next resolve clears the mark");
    assert_eq!(addrs.generation(), gen_before, "same answer, same list");

    // A broken hosts file (gone, or no address for the name) keeps the
    // last good list.
    // (Nothing marks a resolve that changes nothing: the list is watched
    // over a few intervals.)
    std::fs::remove_file(&hosts).unwrap();
    let kept = || addrs.all() == [s2.addr, dead];
    assert!(holds_for(INTERVAL * 3, kept).await, "{:?}", addrs.all());
    std::fs::write(&hosts, "127.0.0.9 someone.else\n").unwrap();
    assert!(holds_for(INTERVAL * 3, kept).await, "{:?}", addrs.all());
    // And a new single answer replaces it.
    std::fs::write(&hosts, "127.0.0.2 API.TEST\n").unwrap();
    assert!(
        eventually(WAIT, || addrs.all() == [s2.addr]).await,
        "{:?}",
        addrs.all()
    );

    drop(stop);
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .unwrap()
        .unwrap();
}
