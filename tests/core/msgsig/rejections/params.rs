//! Rows about the time window, the algorithm and the signature parameters.

use super::*;

pub(crate) fn time_and_params() -> Vec<Row> {
    vec![
        // ------------------------------------------------ time
        signed_as(
            "expires passed",
            Err(Expired),
            format!("{COVER}{};expires={}", params(NOW - 30), NOW - 6),
        ),
        signed_as(
            "expires before created",
            Err(Expired),
            format!("{COVER}{};expires={}", params(NOW), NOW - 1),
        ),
        signed_as(
            "created older than max_age + leeway",
            Err(TooOld),
            format!("{COVER}{}", params(NOW - 65)),
        ),
        signed_as(
            "created long ago",
            Err(TooOld),
            format!("{COVER}{}", params(1744292750)),
        ),
        signed_as(
            "created negative",
            Err(TooOld),
            format!("{COVER}{}", params(-1)),
        ),
        signed_as(
            "created beyond the leeway ahead",
            Err(Future),
            format!("{COVER}{}", params(NOW + 6)),
        ),
        signed_as(
            "created far in the future",
            Err(Future),
            format!("{COVER}{}", params(999_999_999_999_999)),
        ),
        signed_as(
            "no created",
            Err(NoCreated),
            format!("{COVER};alg=\"ecdsa-p256-sha256\""),
        ),
        signed_as(
            "created a string",
            Err(BadParameter),
            format!("{COVER};alg=\"ecdsa-p256-sha256\";created=\"{NOW}\""),
        ),
        signed_as(
            "created a decimal",
            Err(BadParameter),
            format!("{COVER};alg=\"ecdsa-p256-sha256\";created={NOW}.5"),
        ),
        signed_as(
            "expires a token",
            Err(BadParameter),
            format!("{COVER}{};expires=soon", params(NOW)),
        ),
        // ------------------------------------------------ algorithm and parameters
        signed_as("no alg", Err(Algorithm), format!("{COVER};created={NOW}")),
        signed_as(
            "alg p384",
            Err(Algorithm),
            format!("{COVER};alg=\"ecdsa-p384-sha384\";created={NOW}"),
        ),
        signed_as(
            "alg rsa-pss",
            Err(Algorithm),
            format!("{COVER};alg=\"rsa-pss-sha512\";created={NOW}"),
        ),
        signed_as(
            "alg hmac",
            Err(Algorithm),
            format!("{COVER};alg=\"hmac-sha256\";created={NOW}"),
        ),
        signed_as(
            "alg upper case",
            Err(Algorithm),
            format!("{COVER};alg=\"ECDSA-P256-SHA256\";created={NOW}"),
        ),
        signed_as(
            "alg a token",
            Err(BadParameter),
            format!("{COVER};alg=ecdsa-p256-sha256;created={NOW}"),
        ),
        signed_as(
            "alg empty",
            Err(Algorithm),
            format!("{COVER};alg=\"\";created={NOW}"),
        ),
        signed_as(
            "unknown parameter",
            Err(BadParameter),
            format!("{COVER}{};foo=1", params(NOW)),
        ),
        signed_as(
            "keyid not a string",
            Err(BadParameter),
            format!("{COVER}{};keyid=1", params(NOW)),
        ),
        signed_as(
            "alg repeated",
            Err(Syntax),
            format!("{COVER}{};alg=\"ecdsa-p256-sha256\"", params(NOW)),
        ),
    ]
}
