/* gateway/store.c: written next. */
