//! What a token must be to pass, and what a passing one gives back.

mod binding;
mod cache;
mod claims;
mod keys;
mod properties;
mod rejections;
