//! IQBSH, the Internet access gateway: packet gate and web proxy. Not built yet.
