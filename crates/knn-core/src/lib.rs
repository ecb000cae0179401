//! Vectors, metrics, top-k selection and the backend trait.
