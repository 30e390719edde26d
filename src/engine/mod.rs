//! engine layer: the scheduler and step state machine, retry and timeout policy, the action
//! registry and built-in actions. So far it holds the action catalog.

pub mod catalog;
