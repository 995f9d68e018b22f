//! Dead-letter producer.
