//! Why a message signature was refused, in detail (for the debug log and
//! tests). Every one of them is the reason `signature` to the outside.

use crate::reason::Reason;

/// The precise cause of a refused message signature. `Copy`, holds no
/// request data; [`SignatureError::as_str`] is the log field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.as_str())]
pub enum SignatureError {
    /// No `Signature` / `Signature-Input` where the policy requires one, or
    /// only one of the two.
    Missing,
    /// `Signature` or `Signature-Input` longer than allowed.
    TooLong,
    /// A header involved is not visible ASCII.
    NotAscii,
    /// `Signature`/`Signature-Input` is not an RFC 8941 dictionary
    /// (includes a repeated label or parameter).
    Syntax,
    /// No `install` label.
    NoInstallLabel,
    /// The two headers do not name the same labels.
    LabelsDiffer,
    /// `install` in `Signature-Input` is not an inner list, or in
    /// `Signature` not a byte sequence.
    WrongType,
    /// A covered component is not a string, unknown, response-only, has
    /// parameters that do not apply, or is a `@query-param` whose name
    /// occurs more than once in the query (RFC 9421 §2.2.8).
    BadComponent,
    /// The same component identifier is covered twice.
    DuplicateComponent,
    /// More components than allowed.
    TooManyComponents,
    /// A component required by `min_components` is not covered.
    MissingComponent,
    /// A covered header field or query parameter is absent from the request
    /// (or a `;key` member from its dictionary, or `;sf` does not parse).
    AbsentComponent,
    /// A signature parameter we do not know, or of the wrong type.
    BadParameter,
    /// `alg` is missing or is not `ecdsa-p256-sha256`.
    Algorithm,
    /// No `created` parameter.
    NoCreated,
    /// `created` is older than `max_age` (plus leeway).
    TooOld,
    /// `created` is in the future (beyond the leeway).
    Future,
    /// `expires` has passed (beyond the leeway), or precedes `created`.
    Expired,
    /// The token has no `ipk` claim.
    NoKey,
    /// The token's `ipk` is not a usable P-256 key.
    BadKey,
    /// The signature is not 64 bytes (`r || s`; a DER signature is refused).
    SignatureLength,
    /// The signature does not verify over the rebuilt signature base.
    BadSignature,
    /// A body is present but `Content-Digest` is absent (policy
    /// `required-with-body`), or present but not covered by the signature.
    DigestMissing,
    /// `Content-Digest` does not parse, names an algorithm other than
    /// sha-256/sha-512, or holds a value of the wrong type or length.
    DigestSyntax,
    /// The body does not match `Content-Digest`.
    DigestMismatch,
    /// The signature covers `@method`, and the request carries a
    /// method-override header (`X-HTTP-Method-Override`, …) that it does
    /// not cover: the upstream would run another method than the one
    /// signed.
    OverrideNotCovered,
}

impl SignatureError {
    /// A short stable name (the `detail` log field).
    pub const fn as_str(self) -> &'static str {
        use SignatureError::*;
        match self {
            Missing => "missing",
            TooLong => "too_long",
            NotAscii => "not_ascii",
            Syntax => "syntax",
            NoInstallLabel => "no_install_label",
            LabelsDiffer => "labels_differ",
            WrongType => "wrong_type",
            BadComponent => "bad_component",
            DuplicateComponent => "duplicate_component",
            TooManyComponents => "too_many_components",
            MissingComponent => "missing_component",
            AbsentComponent => "absent_component",
            BadParameter => "bad_parameter",
            Algorithm => "algorithm",
            NoCreated => "no_created",
            TooOld => "too_old",
            Future => "future",
            Expired => "expired",
            NoKey => "no_key",
            BadKey => "bad_key",
            SignatureLength => "signature_length",
            BadSignature => "bad_signature",
            DigestMissing => "digest_missing",
            DigestSyntax => "digest_syntax",
            DigestMismatch => "digest_mismatch",
            OverrideNotCovered => "override_not_covered",
        }
    }
}

impl From<SignatureError> for Reason {
    fn from(_: SignatureError) -> Reason {
        Reason::Signature
    }
}
