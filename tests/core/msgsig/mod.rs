//! Message signing (RFC 9421 as Approov uses it): published vectors, every
//! alteration of a signed request, and the replay cache.

mod rejections;
mod replay;
mod vectors;
