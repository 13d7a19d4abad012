//! The canonical model, with no I/O: member records and code tables (`model`), GB 11643 /
//! GB 32100 identifier checks and masking (`ids`), money in integer fen (`money`), and the
//! purposes an exchange may be made for (`purpose`). Adapters, the node and the auditor's
//! tools all speak it.
#![forbid(unsafe_code)]

pub mod ids;
pub mod model;
pub mod money;
pub mod purpose;
