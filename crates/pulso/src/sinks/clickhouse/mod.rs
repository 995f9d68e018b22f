//! ClickHouse sink: the HTTP client, RowBinary encoding, migrations and the count store.

pub mod client;
pub mod migrate;
pub mod rowbinary;
pub mod store;

pub use client::Client;
pub use store::ClickHouseStore;
