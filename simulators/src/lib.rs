//! The simulator as a library: the vitals model and labelled anomaly scenarios (so services'
//! tests and benchmarks generate exactly the traces `episante-sim` sends, with the same ground
//! truth), and the fleet and benchmark runners (so `episante up --demo` runs a fleet in-process).

pub mod bench;
pub mod device_link;
pub mod edge_driver;
pub mod fleet;
pub mod scenario;
pub mod storm;
pub mod vitals;
