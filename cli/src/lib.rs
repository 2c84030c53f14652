//! The library behind the `vecinfer` command: calibration, evaluation and KV dumps on a real
//! model. The binary is a thin clap front end over these.

pub mod allocate;
pub mod bench;
pub mod budget;
pub mod calibrate;
pub mod decode_bench;
pub mod dump;
pub mod error;
pub mod evaluate;
pub mod gpu;
pub mod gpu_check;
pub mod outputs;
pub mod plot;
pub mod recording;
pub mod round_books;
pub mod text;
pub mod tune;
pub mod tune_steps;

pub use error::{CliError, Result};
