//! Bindings of `crate::reward`, one file per core module.

mod math;
mod pipeline;
mod regex;
mod squad;
mod text;
mod token;

use pyo3::prelude::*;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    token::register(m)?;
    pipeline::register(m)?;
    squad::register(m)?;
    regex::register(m)?;
    math::register(m)?;
    Ok(())
}
