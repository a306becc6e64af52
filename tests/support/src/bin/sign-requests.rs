//! Signed request headers for load tests (benches/load.sh): N distinct
//! Approov installation signatures of `GET PATH` addressed to AUTHORITY,
//! made with Approov's test key over its `ipk` token, `created` = now.
//!
//! `sign-requests AUTHORITY PATH N` prints N lines `SIGNATURE\tSIGNATURE-INPUT`
//! (the token is `ApproovVectors::token()`; `sign-requests --token` prints it,
//! `--secret` its account secret).
#![allow(clippy::expect_used)] // a bench tool: fixture data and stdout

use attestgate::msgsig::{self, RequestParts};
use attestgate_testkit::msgsig::{ApproovVectors, InstallSigner};
use http::HeaderMap;
use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--token") => return println!("{}", ApproovVectors::token()),
        Some("--secret") => return println!("{}", ApproovVectors::secret()),
        _ => {}
    }
    let [authority, path, n] = &args[..] else {
        eprintln!("usage: sign-requests AUTHORITY PATH N | --token | --secret");
        std::process::exit(2);
    };
    let n: usize = n.parse().unwrap_or(0);
    let signer = InstallSigner::approov_test_key();
    let mut headers = HeaderMap::new();
    headers.insert(
        "approov-token",
        ApproovVectors::token().parse().expect("the fixture token"),
    );
    let parts = RequestParts {
        method: "GET",
        scheme: "http",
        authority,
        path_and_query: path,
        headers: &headers,
    };
    let created = attestgate_testkit::now();
    let member = format!(
        "(\"@method\" \"@target-uri\" \"approov-token\");alg=\"{}\";created={created}",
        msgsig::ALG
    );
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    for _ in 0..n {
        let (input, sig) = signer.sign(&parts, &member);
        writeln!(out, "{sig}\t{input}").expect("stdout");
    }
}
