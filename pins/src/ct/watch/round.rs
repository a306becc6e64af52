//! One round on one log: its signed head, checked against what it signed
//! before; every entry up to it read, added to the frontier and scanned;
//! the frontier's root compared with the head's. State is saved after
//! every batch, so a restart resumes where it stopped.

use std::collections::HashMap;

use super::report::Shared;
use super::scan::{Candidate, Read, scan};
use crate::ct::http::FetchError;
use crate::ct::source::{HeadError, SignedHead, Source};
use crate::ct::state::{HeadRecord, LogState, hex};
use crate::ct::verdict::malformed;
use crate::spki::Pin;

/// The most `malformed` events one log may cause in one round (a log
/// that writes garbage naming a watched domain cannot flood the outputs).
pub const MAX_MALFORMED_PER_ROUND: u32 = 100;

/// Where a new log starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// At its current head (nothing older is read).
    End,
    /// At entry 0.
    Beginning,
}

/// Why a round stopped early.
#[derive(Debug)]
pub enum RoundError {
    /// The log could not be read (retried with backoff).
    Fetch(FetchError),
    /// The log misbehaved: kind, what, and the files to keep.
    Misbehaviour {
        /// `rollback`, `fork`, `root_mismatch`, `bad_signature`.
        kind: &'static str,
        /// What was seen.
        message: String,
        /// Evidence files.
        files: Vec<(&'static str, Vec<u8>)>,
    },
    /// The state could not be written or read.
    Local(String),
}

impl From<FetchError> for RoundError {
    fn from(e: FetchError) -> Self {
        RoundError::Fetch(e)
    }
}

/// A small cache of issuers fetched by fingerprint.
#[derive(Default)]
pub struct Issuers(HashMap<[u8; 32], Vec<u8>>);

impl Issuers {
    async fn get(&mut self, source: &Source, fp: &[u8; 32]) -> Result<Vec<u8>, FetchError> {
        if let Some(c) = self.0.get(fp) {
            return Ok(c.clone());
        }
        let der = source.issuer(fp).await?;
        if self.0.len() >= 256 {
            self.0.clear();
        }
        self.0.insert(*fp, der.clone());
        Ok(der)
    }
}

fn misbehaviour(
    kind: &'static str,
    message: String,
    known: Option<&HeadRecord>,
    served: &[u8],
) -> RoundError {
    let mut files = vec![("served", served.to_vec())];
    if let Some(k) = known {
        files.push(("verified", k.raw_bytes()));
    }
    RoundError::Misbehaviour {
        kind,
        message,
        files,
    }
}

fn check_head(st: &LogState, head: &SignedHead) -> Result<(), RoundError> {
    for (what, known) in [("verified", &st.verified), ("announced", &st.target)] {
        let Some(k) = known else { continue };
        if head.size < k.size {
            return Err(misbehaviour(
                "rollback",
                format!(
                    "tree size {} after a {what} head of size {}",
                    head.size, k.size
                ),
                Some(k),
                &head.raw,
            ));
        }
        if head.size == k.size && hex(&head.root) != k.root {
            return Err(misbehaviour(
                "fork",
                format!(
                    "two roots for tree size {} ({what} {}, now {})",
                    head.size,
                    k.root,
                    hex(&head.root)
                ),
                Some(k),
                &head.raw,
            ));
        }
    }
    if head.size < st.position {
        return Err(misbehaviour(
            "rollback",
            format!(
                "tree size {} after {} entries were read",
                head.size, st.position
            ),
            st.verified.as_ref(),
            &head.raw,
        ));
    }
    Ok(())
}

/// Runs one round; `Ok` when the log was read up to a verified head.
pub async fn round(
    shared: &Shared,
    source: &Source,
    st: &mut LogState,
    start: Start,
    prefilter: bool,
    issuers: &mut Issuers,
) -> Result<(), RoundError> {
    let log = &source.log;
    let id = log.id_hex();
    let uri = log.uri().to_owned();
    let m = &shared.metrics;
    let head = match source.head().await {
        Ok(h) => h,
        Err(HeadError::Fetch(e)) => return Err(e.into()),
        Err(HeadError::BadSignature { message, raw }) => {
            return Err(misbehaviour(
                "bad_signature",
                message,
                st.verified.as_ref(),
                &raw,
            ));
        }
    };
    m.tree_size.with_label_values(&[&uri]).set(head.size as i64);
    check_head(st, &head)?;
    if st.verified.is_none() && st.position == 0 && start == Start::End && head.size > 0 {
        let f = source.frontier_at(&head).await?;
        if f.root() != head.root {
            return Err(misbehaviour(
                "root_mismatch",
                format!(
                    "the tree's right edge at size {} does not hash to the signed root",
                    head.size
                ),
                None,
                &head.raw,
            ));
        }
        st.set_frontier(&f);
        st.verified = Some(HeadRecord::of(&head));
        st.target = None;
        save(shared, &id, st).await?;
        m.position.with_label_values(&[&uri]).set(f.size() as i64);
        m.backlog.with_label_values(&[&uri]).set(0);
        return Ok(());
    }
    let mut frontier = st.frontier().ok_or_else(|| {
        RoundError::Local(format!(
            "the state of {} has a broken frontier: delete it",
            log.description
        ))
    })?;
    if head.size > st.position {
        st.target = Some(HeadRecord::of(&head));
        save(shared, &id, st).await?;
    }
    let mut malformed_left = MAX_MALFORMED_PER_ROUND;
    while frontier.size() < head.size {
        m.backlog
            .with_label_values(&[&uri])
            .set((head.size - frontier.size()) as i64);
        let batch = source.batch(frontier.size(), head.size).await?;
        let mut next = frontier.clone();
        let candidates = {
            let items = batch
                .items()
                .map_err(|e| FetchError::parse("entries", e.to_string()))?;
            if items.is_empty() {
                return Err(FetchError::parse("entries", "no new entry").into());
            }
            scan(&items, &mut next, &shared.judge.matcher, prefilter)
                .map_err(|e| FetchError::parse("entries", e))?
        };
        drop(batch);
        for c in candidates {
            if matches!(c.read, Read::Malformed { .. }) {
                if malformed_left == 0 {
                    continue;
                }
                malformed_left -= 1;
                if malformed_left == 0 {
                    tracing::warn!(log = %uri, "{MAX_MALFORMED_PER_ROUND} malformed entries naming watched domains in one round: no more are reported this round");
                }
            }
            judge_one(shared, source, c, issuers).await?;
        }
        frontier = next;
        st.set_frontier(&frontier);
        save(shared, &id, st).await?;
        m.position
            .with_label_values(&[&uri])
            .set(frontier.size() as i64);
    }
    m.backlog.with_label_values(&[&uri]).set(0);
    if frontier.root() != head.root {
        return Err(misbehaviour(
            "root_mismatch",
            format!(
                "the {} entries read hash to {}, the signed root is {}",
                head.size,
                hex(&frontier.root()),
                hex(&head.root)
            ),
            st.verified.as_ref(),
            &head.raw,
        ));
    }
    st.verified = Some(HeadRecord::of(&head));
    st.target = None;
    save(shared, &id, st).await?;
    m.position
        .with_label_values(&[&uri])
        .set(frontier.size() as i64);
    Ok(())
}

async fn save(shared: &Shared, id: &str, st: &LogState) -> Result<(), RoundError> {
    shared
        .state
        .lock()
        .await
        .save_log(id, st)
        .map_err(RoundError::Local)
}

async fn judge_one(
    shared: &Shared,
    source: &Source,
    c: Candidate,
    issuers: &mut Issuers,
) -> Result<(), RoundError> {
    let log = (source.log.description.as_str(), source.log.uri());
    let domains = shared.judge.matcher.domains();
    match c.read {
        Read::Malformed {
            domains: ds,
            key,
            why,
        } => {
            let name = ds
                .first()
                .and_then(|d| domains.get(*d))
                .map(|d| d.name.clone())
                .unwrap_or_default();
            let finding = malformed(&name, &[], why);
            shared
                .report_cert(finding, Default::default(), key, log, c.index, &c.leaf_hash)
                .await
                .map_err(RoundError::Local)
        }
        Read::Cert {
            facts,
            hits,
            first,
            issuers: mut issuers_sent,
            fingerprints,
            issuer_key_hash,
        } => {
            for fp in &fingerprints {
                issuers_sent.push(issuers.get(source, fp).await?);
            }
            let issuer_pin = match issuer_key_hash {
                Some(h) => Some(Pin(h)),
                None => issuers_sent
                    .first()
                    .and_then(|d| crate::spki::describe_cert(d).ok())
                    .map(|(_, spki)| Pin::of_spki(&spki)),
            };
            let mut chain = vec![first];
            chain.extend(issuers_sent);
            let now = crate::clock::now_unix();
            let finding = {
                let st = shared.state.lock().await;
                shared
                    .judge
                    .judge(&facts, &hits, &chain, issuer_pin, now, &|d, p| {
                        st.issuer_seen(d, p)
                    })
            };
            let key = crate::ct::state::tbs_bytes(&facts.tbs_sha256).unwrap_or_default();
            shared
                .report_cert(finding, *facts, key, log, c.index, &c.leaf_hash)
                .await
                .map_err(RoundError::Local)
        }
    }
}
