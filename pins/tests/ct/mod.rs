//! The Certificate Transparency watch through the library: verdicts on a
//! test world's logs, logs that misbehave, hostile input, and real logs'
//! bytes.

mod hostile;
mod misbehaviour;
mod real;
mod verdicts;
mod world;
