/* adapters/normalise.c: written next. */
