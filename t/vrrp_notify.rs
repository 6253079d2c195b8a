//! vrrp-notify integration tests.
