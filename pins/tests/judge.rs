//! `check::platform::judge` on hostile and odd chains: it never panics,
//! refuses what no platform accepts, accepts what every platform does,
//! and its work stays bounded however many certificates it is handed.

use std::time::{Duration, Instant};

use attestgate_pins::check::platform::{PinSet, PinSetEntry, Platform, judge};
use attestgate_pins::fetch::Roots;
use attestgate_pins::{Pin, PinKind};
use attestgate_testkit::pki::{Ca, intermediate, p256, root};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, PublicKeyData};

fn ca(cn: &str, parent: Option<&Ca>) -> Ca {
    match parent {
        None => root(cn),
        Some(parent) => intermediate(cn, parent),
    }
}

/// A leaf for `names`, valid from yesterday for 60 days.
fn leaf(names: &[&str], k: &KeyPair, issuer: &Ca) -> Vec<u8> {
    attestgate_testkit::pki::leaf(names, k, issuer, 60).to_vec()
}

fn pins(name: &str, keys: &[&KeyPair]) -> PinSet {
    PinSet {
        name: name.into(),
        include_subdomains: false,
        expires: None,
        pins: keys
            .iter()
            .map(|k| PinSetEntry {
                pin: Pin::of_spki(&k.subject_public_key_info()),
                kind: PinKind::Leaf,
                label: String::new(),
            })
            .collect(),
    }
}

fn letters(j: &attestgate_pins::check::Judgement) -> String {
    Platform::ALL
        .iter()
        .map(|p| if j.of(*p).unwrap().accepts { 'A' } else { 'R' })
        .collect()
}

#[test]
fn hostile_and_odd_chains() {
    let root = ca("judge root", None);
    let inter = ca("judge inter", Some(&root));
    let roots = Roots::from_certificates(&[root.der().to_vec()], "the test root").unwrap();
    let now = attestgate_pins::clock::now_unix();
    let a = p256();
    let set = pins("api.judge.test", &[&a, &p256()]);
    let good = leaf(&["api.judge.test"], &a, &inter);
    let j = |chain: &[Vec<u8>], host: &str| judge(chain, &set, host, &[now], &roots, &[]);

    // the reference: a good chain, accepted
    assert_eq!(
        letters(&j(&[good.clone(), inter.der().to_vec()], "api.judge.test")),
        "AAAAA"
    );
    // empty chain; a leaf of garbage; truncated DER
    for chain in [
        vec![],
        vec![b"not a certificate".to_vec()],
        vec![good[..good.len() / 2].to_vec()],
    ] {
        let v = j(&chain, "api.judge.test");
        assert_eq!(letters(&v), "RRRRR", "{chain:?}");
        assert!(!v.verdicts[0].chain.ok);
    }
    // a CA certificate where the leaf should be
    let v = j(
        &[inter.der().to_vec(), root.der().to_vec()],
        "api.judge.test",
    );
    assert_eq!(letters(&v), "RRRRR");
    assert!(
        v.verdicts[0].chain.detail.contains("CA certificate"),
        "{}",
        v.verdicts[0].chain.detail
    );
    // intermediates out of order, repeated, with strangers among them: the pool's order never matters
    let mut pool = vec![good.clone()];
    for i in 0..7 {
        pool.push(ca(&format!("stranger {i}"), None).der().to_vec());
        pool.push(inter.der().to_vec());
    }
    assert_eq!(letters(&j(&pool, "api.judge.test")), "AAAAA");
    // two CAs that sign each other, neither trusted: refused, and in bounded time
    let x = ca("loop X", None);
    let y = ca("loop Y", Some(&x));
    let x_by_y = {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, "loop X");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.signed_by(x.issuer.key(), &y.issuer)
            .unwrap()
            .der()
            .to_vec()
    };
    // ...as one chain, and padded with repeats and strangers up to the
    // limit of 16; then one past the limit, refused unread
    let mut loop_chain = vec![leaf(&["api.judge.test"], &a, &y), y.der().to_vec(), x_by_y];
    for i in 0..13 {
        loop_chain.push(if i % 2 == 0 {
            loop_chain[1].clone()
        } else {
            ca("loop X", Some(&y)).der().to_vec()
        });
    }
    assert_eq!(loop_chain.len(), 16);
    let started = Instant::now();
    assert_eq!(letters(&j(&loop_chain, "api.judge.test")), "RRRRR");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    loop_chain.push(inter.der().to_vec());
    let v = j(&loop_chain, "api.judge.test");
    assert_eq!(letters(&v), "RRRRR");
    assert!(
        v.verdicts[0].reason.contains("more than 16"),
        "{}",
        v.verdicts[0].reason
    );
    // the host: case and a trailing dot do not matter; an IP address is matched against IP SANs
    assert_eq!(
        letters(&j(&[good.clone(), inter.der().to_vec()], "API.judge.test.")),
        "AAAAA"
    );
    let ip_set = pins("127.0.0.1", &[&a]);
    let ip_leaf = leaf(&["127.0.0.1"], &a, &inter);
    let v = judge(
        &[ip_leaf, inter.der().to_vec()],
        &ip_set,
        "127.0.0.1",
        &[now],
        &roots,
        &[],
    );
    assert!(v.verdicts.iter().all(|x| x.name.ok), "{v:#?}");
    // a host that is not below the pin set: nothing pins it, but the name must still match
    let v = j(&[good.clone(), inter.der().to_vec()], "other.judge.test");
    assert_eq!(letters(&v), "RRRRR");
    assert!(v.verdicts.iter().all(|x| !x.name.ok && x.pins.ok), "{v:#?}");
    // no instants given: judged now
    let v = judge(
        &[good, inter.der().to_vec()],
        &set,
        "api.judge.test",
        &[],
        &roots,
        &[],
    );
    assert_eq!(v.instants.len(), 1);
    assert!(v.accepted());
}
