//! The fuzz targets, one module each, and the valid values their seeds are built from.

pub mod batch;
pub mod http;
pub mod json;
pub mod protocol;
pub mod provlog;
pub mod records;
pub mod recovery;
pub mod samples;
pub mod snapshot;
