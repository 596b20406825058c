//! HTTP handlers, one module per area; they stay thin and leave storage to `store`.

pub mod admin;
pub mod docs;
pub mod extract;
pub mod health;
pub mod one_time_token;
pub mod pages;
pub mod response;
pub mod secret;
pub mod upload;
