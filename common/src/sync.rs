//! Locking that survives a panic elsewhere: a poisoned mutex still holds valid data for every lock in
//! this crate (state is replaced whole, never left half-written), so the guard is taken anyway.

use std::sync::{Mutex, MutexGuard};

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
