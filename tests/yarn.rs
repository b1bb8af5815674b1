//! The yarn backend end to end: plugin, stand-in, and real clients.

mod support;
