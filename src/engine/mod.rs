//! The ALG core.
