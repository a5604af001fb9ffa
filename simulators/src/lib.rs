//! The simulator's models as a library: the vitals model and the labelled anomaly scenarios, so
//! services' tests and benchmarks can generate exactly the traces `episante-sim` sends, with the
//! same ground truth.

pub mod scenario;
pub mod vitals;
