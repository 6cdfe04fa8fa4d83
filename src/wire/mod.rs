//! Checked, panic-free views over the packets the ALG reads.
