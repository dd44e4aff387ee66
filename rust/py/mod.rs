//! The PyO3 layer: the `orbiter.train._core` extension module.

pub mod arrays;
pub mod errors;
mod lifecycle;
mod text;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    lifecycle::register(m)?;
    text::register(m)?;
    Ok(())
}
