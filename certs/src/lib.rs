//! Gateway root CA and forged leaf certificates.
