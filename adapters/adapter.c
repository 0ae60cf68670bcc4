/* adapters/adapter.c: written next. */
