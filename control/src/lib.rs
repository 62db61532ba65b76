//! control: identity, networking and compute scheduling (to come), and the
//! `cairn` all-in-one launcher in `src/bin/cairn`.
