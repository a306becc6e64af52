//! What the sweeper does with a connection, decided from its
//! [`Snapshot`] and the clock alone (a pure function: the table of cases
//! is tested below).

use std::time::Duration;

use attestgate_config::ConnLimits;

use super::ctl::{Phase, Snapshot};

/// Why a connection was closed: the `reason` label of
/// `attestgate_connections_closed_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    /// No complete request head in time (`request_header_timeout`): silent,
    /// partial or trickled heads, slow TLS handshakes, HTTP/2 connections
    /// with no stream.
    Header,
    /// HTTP/1 idle between requests (`keepalive_timeout`).
    Keepalive,
    /// HTTP/2 with no open stream (`h2_idle_timeout`), with a GOAWAY.
    H2Idle,
    /// A write made no progress (`send_timeout`): the client stopped reading.
    Send,
    /// Older than `max_connection_age`.
    MaxAge,
    /// Idle, closed to make room for a new connection at `max_connections`.
    Shed,
}

impl Reason {
    /// Every reason, for pre-registering the label values.
    pub(crate) const ALL: [Reason; 6] = [
        Reason::Header,
        Reason::Keepalive,
        Reason::H2Idle,
        Reason::Send,
        Reason::MaxAge,
        Reason::Shed,
    ];

    /// The metric label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::Header => "header",
            Reason::Keepalive => "keepalive",
            Reason::H2Idle => "h2_idle",
            Reason::Send => "send",
            Reason::MaxAge => "max_age",
            Reason::Shed => "shed",
        }
    }
}

/// The limits in milliseconds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadlines {
    pub(crate) header: u64,
    pub(crate) keepalive: u64,
    pub(crate) h2_idle: u64,
    pub(crate) send: u64,
    pub(crate) max_age: Option<u64>,
    /// How long connections in flight get after their maximum age (HTTP/2
    /// streams to finish): `[server] grace_period`.
    pub(crate) grace: u64,
    /// How often the sweeper looks.
    pub(crate) tick: Duration,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 4)
}

impl Deadlines {
    pub(crate) fn new(l: &ConnLimits, grace: Duration) -> Deadlines {
        let shortest = [
            l.request_header_timeout,
            l.keepalive_timeout,
            l.h2_idle_timeout,
            l.send_timeout,
        ]
        .into_iter()
        .chain(l.max_connection_age)
        .min()
        .unwrap_or(Duration::from_secs(1));
        Deadlines {
            header: ms(l.request_header_timeout),
            keepalive: ms(l.keepalive_timeout),
            h2_idle: ms(l.h2_idle_timeout),
            send: ms(l.send_timeout),
            max_age: l.max_connection_age.map(ms),
            grace: ms(grace),
            // A tenth of the shortest limit: a connection is closed at most
            // that late.
            tick: (shortest / 10).clamp(Duration::from_millis(10), Duration::from_secs(1)),
        }
    }
}

/// The sweeper's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing to do.
    Keep,
    /// Shut the socket down now.
    Kill(Reason),
    /// Close gracefully (HTTP/2: GOAWAY; HTTP/1: `Connection: close` on a
    /// request that comes), shut down for good after `grace` ms.
    Goaway(Reason, u64),
    /// HTTP/1 in the middle of a request: no keep-alive after it.
    NoKeepalive(Reason),
    /// A graceful close ran out of time: shut down (already counted).
    Expire,
}

/// What to do with a connection at `now`.
pub(crate) fn verdict(s: &Snapshot, now: u64, d: &Deadlines) -> Verdict {
    let past = |from: u64, limit: u64| from != 0 && now >= from.saturating_add(limit);
    if past(s.write_blocked, d.send) {
        return Verdict::Kill(Reason::Send);
    }
    let idle = match s.phase {
        Phase::Closing if now >= s.closing_deadline => return Verdict::Expire,
        Phase::Closing | Phase::Active => None,
        Phase::Handshake => past(s.born, d.header).then_some(Verdict::Kill(Reason::Header)),
        Phase::Waiting if s.served == 0 => {
            past(s.born, d.header).then_some(Verdict::Kill(Reason::Header))
        }
        Phase::Waiting if s.first_byte != 0 => {
            past(s.first_byte, d.header).then_some(Verdict::Kill(Reason::Header))
        }
        Phase::Waiting => past(s.since, d.keepalive).then_some(Verdict::Kill(Reason::Keepalive)),
        Phase::H2 if s.streams > 0 => None,
        // An HTTP/2 connection's first stream is its first request head.
        Phase::H2 if s.served == 0 => {
            past(s.born, d.header).then_some(Verdict::Goaway(Reason::Header, d.send))
        }
        Phase::H2 => past(s.since, d.h2_idle).then_some(Verdict::Goaway(Reason::H2Idle, d.send)),
    };
    if let Some(v) = idle {
        return v;
    }
    match d.max_age {
        Some(age) if past(s.born, age) => match s.phase {
            Phase::Handshake => Verdict::Kill(Reason::MaxAge),
            // Between HTTP/1 requests: a request already on its way gets
            // `Connection: close`; an idle connection is closed after a
            // grace no longer than its keep-alive.
            Phase::Waiting => Verdict::Goaway(Reason::MaxAge, d.grace.min(d.keepalive)),
            Phase::Active if !s.graceful => Verdict::NoKeepalive(Reason::MaxAge),
            Phase::H2 => Verdict::Goaway(Reason::MaxAge, d.grace),
            Phase::Active | Phase::Closing => Verdict::Keep,
        },
        _ => Verdict::Keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d() -> Deadlines {
        Deadlines {
            header: 100,
            keepalive: 1000,
            h2_idle: 2000,
            send: 300,
            max_age: Some(10_000),
            grace: 500,
            tick: Duration::from_millis(10),
        }
    }

    fn s(phase: Phase) -> Snapshot {
        Snapshot {
            phase,
            born: 1,
            since: 1,
            first_byte: 0,
            served: 0,
            streams: 0,
            write_blocked: 0,
            closing_deadline: 0,
            graceful: false,
        }
    }

    #[test]
    fn each_phase_at_the_edges_of_its_limit() {
        use Phase::*;
        use Reason::*;
        use Verdict::*;
        let kept = |p: Phase| Snapshot {
            served: 1,
            since: 51,
            ..s(p)
        };
        let cases: Vec<(&str, Snapshot, u64, Verdict)> = vec![
            ("silent, just in time", s(Waiting), 100, Keep),
            ("silent, late", s(Waiting), 101, Kill(Header)),
            ("tls handshake late", s(Handshake), 101, Kill(Header)),
            ("tls handshake in time", s(Handshake), 100, Keep),
            ("keep-alive idle in time", kept(Waiting), 1050, Keep),
            ("keep-alive idle late", kept(Waiting), 1051, Kill(Keepalive)),
            (
                "kept-alive, head begun: the head's deadline, not idle's",
                Snapshot {
                    first_byte: 900,
                    ..kept(Waiting)
                },
                1000,
                Kill(Header),
            ),
            (
                "kept-alive, head begun, in time",
                Snapshot {
                    first_byte: 900,
                    ..kept(Waiting)
                },
                999,
                Keep,
            ),
            (
                "a request in progress has no idle limit",
                kept(Active),
                9999,
                Keep,
            ),
            ("h2 preface, no stream yet", s(H2), 101, Goaway(Header, 300)),
            ("h2 idle after a stream, in time", kept(H2), 2050, Keep),
            (
                "h2 idle after a stream",
                kept(H2),
                2051,
                Goaway(H2Idle, 300),
            ),
            (
                "h2 with a stream open",
                Snapshot {
                    streams: 1,
                    ..kept(H2)
                },
                9999,
                Keep,
            ),
            (
                "a write stalled past send_timeout, in any phase",
                Snapshot {
                    write_blocked: 700,
                    ..kept(Active)
                },
                1000,
                Kill(Send),
            ),
            (
                "a write stalled, in time",
                Snapshot {
                    write_blocked: 700,
                    ..kept(Active)
                },
                999,
                Keep,
            ),
            (
                "graceful close ran out",
                Snapshot {
                    closing_deadline: 500,
                    ..kept(Closing)
                },
                500,
                Expire,
            ),
            (
                "graceful close going on",
                Snapshot {
                    closing_deadline: 500,
                    ..kept(Closing)
                },
                499,
                Keep,
            ),
            (
                "old and busy: no keep-alive",
                kept(Active),
                10_001,
                NoKeepalive(MaxAge),
            ),
            (
                "old and busy, already told",
                Snapshot {
                    graceful: true,
                    ..kept(Active)
                },
                10_001,
                Keep,
            ),
            (
                "old h2 with streams: GOAWAY, grace_period",
                Snapshot {
                    streams: 2,
                    ..kept(H2)
                },
                10_001,
                Goaway(MaxAge, 500),
            ),
            (
                "old and idle: closed",
                kept(Waiting),
                10_001,
                Kill(Keepalive),
            ),
            (
                "old, idle but not yet past keep-alive: graceful, within its keep-alive",
                Snapshot {
                    since: 9_900,
                    ..kept(Waiting)
                },
                10_001,
                Goaway(MaxAge, 500),
            ),
            (
                "old, in its TLS handshake",
                s(Handshake),
                10_001,
                Kill(Header),
            ),
            (
                "old, in its TLS handshake, in time",
                Snapshot {
                    born: 9_950,
                    ..s(Handshake)
                },
                10_001,
                Keep,
            ),
        ];
        for (what, snap, now, want) in cases {
            assert_eq!(verdict(&snap, now, &d()), want, "{what}");
        }
    }

    #[test]
    fn no_max_age_by_default_and_the_tick_follows_the_shortest_limit() {
        let mut l = ConnLimits::default();
        let dl = Deadlines::new(&l, Duration::from_secs(20));
        assert_eq!(dl.max_age, None);
        assert_eq!(dl.tick, Duration::from_secs(1));
        assert_eq!(
            verdict(
                &Snapshot {
                    served: 1,
                    streams: 1,
                    ..s(Phase::H2)
                },
                u64::MAX / 2,
                &dl
            ),
            Verdict::Keep
        );
        l.send_timeout = Duration::from_millis(500);
        assert_eq!(
            Deadlines::new(&l, Duration::ZERO).tick,
            Duration::from_millis(50)
        );
        l.send_timeout = Duration::from_millis(50);
        assert_eq!(
            Deadlines::new(&l, Duration::ZERO).tick,
            Duration::from_millis(10)
        );
    }
}
