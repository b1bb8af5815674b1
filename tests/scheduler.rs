//! Scheduler behaviour through the whole stack.

mod support;
