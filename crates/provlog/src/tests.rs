//! Tests of the provenance shell: the store (appends, recovery, crashes, corruption), JCS,
//! EPCIS validation and identifiers, statements, bundles and the service.

mod epcis;
mod jcs;
mod service;
mod store;
