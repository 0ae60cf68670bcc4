/* gateway/config.c: written next. */
