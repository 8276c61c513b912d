//! The allocator: hierarchical DRF deciding which framework is offered which resources.
pub mod protocol;
