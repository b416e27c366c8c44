//! EPBSH, the e-government mail gateway: SMTP relay, spool, delivery, anomaly detection.
