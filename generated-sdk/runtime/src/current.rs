//! [`Current`]: a value many hooks read at once and a few replace, such as
//! the plugin's settings, read without a lock in the plugin's code.
//!
//! Hooks run concurrently, so state a configuration change replaces needs
//! a holder. Go plugins write one by hand each time (a struct behind a
//! `sync.RWMutex` with a getter and a setter); this is that holder, once.
//! A reader gets an `Arc` of the value of the moment and keeps it as long
//! as it likes: a change made meanwhile is seen by the next `get`, never
//! halfway through a hook.

use std::sync::{Arc, RwLock};

/// A value replaced as a whole and read as a whole: [`Current::get`] hands
/// out the value of the moment, [`Current::set`] puts a new one in its
/// place. Neither waits on the other beyond the swap of a pointer, and a
/// panic elsewhere never leaves it unreadable.
///
/// ```
/// use mmplugin_runtime::Current;
///
/// #[derive(Clone, Default)]
/// struct Settings { greeting: String }
///
/// let settings = Current::new(Settings::default());
/// settings.set(Settings { greeting: "hi".into() });
/// assert_eq!(settings.get().greeting, "hi");
/// settings.update(|s| s.greeting.push('!'));
/// assert_eq!(settings.get().greeting, "hi!");
/// ```
pub struct Current<T> {
    value: RwLock<Arc<T>>,
}

impl<T> Current<T> {
    /// A holder of `value`.
    pub fn new(value: T) -> Self {
        Self { value: RwLock::new(Arc::new(value)) }
    }

    /// The value of the moment.
    pub fn get(&self) -> Arc<T> {
        // The lock guards a pointer swap only, which cannot panic halfway:
        // a poisoned lock still holds a whole value.
        Arc::clone(&self.value.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Puts `value` in place of the current one; readers holding the old
    /// one keep it until they drop it.
    pub fn set(&self, value: T) {
        self.replace(Arc::new(value));
    }

    /// Puts `value` in place and returns the one it replaces.
    pub fn replace(&self, value: Arc<T>) -> Arc<T> {
        std::mem::replace(&mut *self.value.write().unwrap_or_else(std::sync::PoisonError::into_inner), value)
    }

    /// Changes a copy of the current value with `change` and puts it in
    /// place. Two `update`s never lose each other's change; a `set`
    /// meanwhile is overwritten by the update that follows it.
    pub fn update(&self, change: impl FnOnce(&mut T))
    where
        T: Clone,
    {
        let mut slot = self.value.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut value = T::clone(&slot);
        change(&mut value);
        *slot = Arc::new(value);
    }
}

impl<T: Default> Default for Current<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Current<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Current").field(&self.get()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_keeps_the_value_it_got_while_the_next_get_sees_the_new_one() {
        let current = Current::new(String::from("old"));
        let held = current.get();
        current.set("new".into());
        assert_eq!(*held, "old");
        assert_eq!(*current.get(), "new");
        assert_eq!(*current.replace(Arc::new("newer".into())), "new");
    }

    #[test]
    fn concurrent_updates_lose_nothing() {
        let current = Arc::new(Current::new(Vec::<u32>::new()));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let current = Arc::clone(&current);
                std::thread::spawn(move || (0..100).for_each(|i| current.update(|v| v.push(t * 100 + i))))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(current.get().len(), 800);
    }

    #[test]
    fn a_panic_while_updating_leaves_the_old_value_readable() {
        let current = Arc::new(Current::new(1));
        let c = Arc::clone(&current);
        let _ = std::thread::spawn(move || c.update(|_| panic!("refused"))).join();
        assert_eq!(*current.get(), 1);
        current.set(2);
        assert_eq!(*current.get(), 2);
    }
}
